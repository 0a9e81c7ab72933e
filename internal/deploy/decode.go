package deploy

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FieldError is a problem at one field of a tarn.yaml: "file:line: field:
// message". Field is the path from the top of the file, with list indexes:
// "jobs[0].partition_by[1]".
type FieldError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	switch {
	case e.Field == "":
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	case e.Line == 0:
		return fmt.Sprintf("%s: %s: %s", e.File, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

// Errors is every problem found in a file, in file order. Its Error has one
// line per problem.
type Errors []*FieldError

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap lets errors.As find each FieldError.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// maxErrors bounds the problems reported for one file.
const maxErrors = 20

// decoder decodes a yaml.Node tree into Go values strictly: unknown and
// duplicate fields are errors, scalars must parse as the field's type, and
// ${parameter} references are substituted. It remembers the line of every
// field path, so that later checks can point at the field.
type decoder struct {
	file   string
	params map[string]string // nil: no substitution (the parameters section itself)
	lines  map[string]int
	errs   Errors
	nodes  int // decoded so far: aliases can expand a small file a lot
}

// maxNodes bounds the values decoded from one file (alias expansion).
const maxNodes = 200000

// nodeDecoder is implemented by types that decode themselves.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string, runtime bool)
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
		if l, ok := d.lines[path]; ok && (n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode) {
			line = l // the field's line, not its value's first line
		}
	}
	d.errs = append(d.errs, &FieldError{File: d.file, Line: line, Field: path, Msg: fmt.Sprintf(format, args...)})
}

// line returns the line of a field path, or of its nearest parent that has
// one.
func (d *decoder) line(path string) int {
	for p := path; p != ""; {
		if l, ok := d.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// fieldInfo is one decodable field of a struct.
type fieldInfo struct {
	name    string
	index   int
	runtime bool // ${...} of undeclared names are left for run time
}

func structFields(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, fieldInfo{name: name, index: i, runtime: f.Tag.Get("deploy") == "runtime"})
	}
	return out
}

// decode decodes n into v (settable), at path. runtime marks values that
// are templates expanded again when a run starts.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, runtime bool) {
	n = resolve(n)
	if n == nil {
		return
	}
	if d.nodes++; d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.errorf(n, path, "the file expands to more than %d values (aliases?)", maxNodes)
		}
		return
	}
	if v.CanAddr() {
		if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
			nd.decodeNode(d, n, path, runtime)
			return
		}
	}
	if v.Kind() == reflect.Pointer {
		if isNull(n) {
			v.SetZero()
			return
		}
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), path, runtime)
		v.Set(p)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if isNull(n) {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.errorf(n, path, "want a mapping of fields, not %s", kindName(n))
			return
		}
		fields := structFields(v.Type())
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				d.errorf(k, path, "a field name must be text")
				continue
			}
			if k.Value == "<<" {
				d.errorf(k, path, "merge keys (<<) are not supported")
				continue
			}
			fp := join(path, k.Value)
			var fi *fieldInfo
			for j := range fields {
				if fields[j].name == k.Value {
					fi = &fields[j]
				}
			}
			if fi == nil {
				var names []string
				for _, f := range fields {
					names = append(names, f.name)
				}
				d.errorf(k, fp, "unknown field (this section takes %s)", strings.Join(names, ", "))
				continue
			}
			if seen[k.Value] {
				d.errorf(k, fp, "field given twice")
				continue
			}
			seen[k.Value] = true
			d.lines[fp] = k.Line
			d.decode(val, v.Field(fi.index), fp, runtime || fi.runtime)
		}
	case reflect.Slice:
		if isNull(n) {
			v.SetZero()
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "want a list, not %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			ip := fmt.Sprintf("%s[%d]", path, i)
			d.lines[ip] = item.Line
			d.decode(item, s.Index(i), ip, runtime)
		}
		v.Set(s)
	case reflect.Map:
		if isNull(n) {
			v.SetZero()
			return
		}
		if n.Kind != yaml.MappingNode {
			d.errorf(n, path, "want a mapping, not %s", kindName(n))
			return
		}
		m := reflect.MakeMap(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := resolve(n.Content[i]), n.Content[i+1]
			if k.Kind != yaml.ScalarNode || isNull(k) {
				d.errorf(k, path, "a key must be text")
				continue
			}
			key := d.subst(k, join(path, k.Value), k.Value, false)
			kp := join(path, key)
			if m.MapIndex(reflect.ValueOf(key)).IsValid() {
				d.errorf(k, kp, "key given twice")
				continue
			}
			d.lines[kp] = k.Line
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, ev, kp, runtime)
			m.SetMapIndex(reflect.ValueOf(key), ev)
		}
		v.Set(m)
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Float64:
		s, ok := d.scalar(n, path, runtime)
		if !ok {
			return
		}
		d.setScalar(n, v, path, s)
	default:
		panic(fmt.Sprintf("deploy: cannot decode into %s", v.Type()))
	}
}

// scalar returns a scalar node's text with parameters substituted; null is "".
func (d *decoder) scalar(n *yaml.Node, path string, runtime bool) (string, bool) {
	if isNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "want a single value, not %s", kindName(n))
		return "", false
	}
	return d.subst(n, path, n.Value, runtime), true
}

func (d *decoder) setScalar(n *yaml.Node, v reflect.Value, path, s string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		switch s {
		case "true":
			v.SetBool(true)
		case "false", "":
			v.SetBool(false)
		default:
			d.errorf(n, path, "%q is not true or false", s)
		}
	case reflect.Int, reflect.Int64:
		if s == "" {
			v.SetInt(0)
			return
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
		if err != nil {
			d.errorf(n, path, "%q is not a whole number", s)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		if s == "" {
			v.SetFloat(0)
			return
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			d.errorf(n, path, "%q is not a number", s)
			return
		}
		v.SetFloat(f)
	}
}

// subst replaces ${name} with the parameter's value. "$${" writes a
// literal "${". An undeclared name is an error, except in runtime fields
// (job SQL, step SQL and arguments, run properties), where it is left for
// the run to fill in (a job argument or a run property such as ${objects}).
func (d *decoder) subst(n *yaml.Node, path, s string, runtime bool) string {
	if d.params == nil || !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			if !runtime {
				d.errorf(n, path, "unterminated ${ (write $${ for a literal ${)")
			}
			b.WriteString(s[i:])
			return b.String()
		}
		name := s[i+2 : i+end]
		if val, ok := d.params[name]; ok {
			b.WriteString(val)
		} else if runtime {
			b.WriteString(s[i : i+end+1])
		} else {
			d.errorf(n, path, "undefined parameter ${%s} (%s; write $${ for a literal ${)", name, declared(d.params))
		}
		s = s[i+end+1:]
	}
}

func declared(params map[string]string) string {
	if len(params) == 0 {
		return "the file declares no parameters"
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, "${"+k+"}")
	}
	sort.Strings(names)
	return "declared: " + strings.Join(names, ", ")
}
