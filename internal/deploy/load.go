package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Sentinel errors.
var (
	// ErrInvalidFile wraps every problem of a tarn.yaml (an Errors list).
	ErrInvalidFile = errors.New("invalid tarn.yaml")
	// ErrConflict says that a resource is managed by another stack.
	ErrConflict = errors.New("managed by another stack")
)

var (
	paramNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	stackNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

func reflectValue(p any) reflect.Value { return reflect.ValueOf(p).Elem() }

// Load reads and checks a tarn.yaml. params overrides the declared
// parameters' defaults (tarn apply --param name=value). Every problem is
// reported with its file, line and field, as Errors wrapped in
// ErrInvalidFile; what needs the lake (references to resources outside the
// file) is checked by Plan.
func Load(path string, params map[string]string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return Parse(path, data, params)
}

// Parse is Load of data read from path (sql_file paths are relative to
// path's folder).
func Parse(path string, data []byte, params map[string]string) (*File, error) {
	d := &decoder{file: path, lines: map[string]int{}}
	fail := func() (*File, error) {
		if len(d.errs) > maxErrors {
			d.errs = d.errs[:maxErrors]
		}
		return nil, fmt.Errorf("%w:\n%w", ErrInvalidFile, d.errs)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		d.errs = append(d.errs, yamlError(path, err))
		return fail()
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errorf(&extra, "", "a tarn.yaml holds one document (found a second after ---)")
		return fail()
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || resolve(doc.Content[0]).Kind != yaml.MappingNode {
		d.errorf(&doc, "", "a tarn.yaml is a mapping with name, parameters, buckets, databases, workgroups, access_keys, crawlers, jobs, workflows, triggers and alarms")
		return fail()
	}
	root := resolve(doc.Content[0])

	// Parameters first: their values are substituted everywhere else.
	f := &File{Path: path, dec: d}
	var paramsNode *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "parameters" {
			paramsNode = root.Content[i+1]
			d.lines["parameters"] = root.Content[i].Line
		}
	}
	if paramsNode != nil {
		d.decode(paramsNode, reflectValue(&f.Parameters), "parameters", false)
	}
	f.Values = map[string]string{}
	for name, p := range f.Parameters {
		fp := "parameters." + name
		if !paramNameRE.MatchString(name) {
			d.errorf(nil, fp, "a parameter name is letters, digits and '_', not starting with a digit")
			d.errs[len(d.errs)-1].Line = d.line(fp)
			continue
		}
		v, given := params[name]
		switch {
		case given:
		case p.Default != nil:
			v = *p.Default
		default:
			d.errs = append(d.errs, &FieldError{File: path, Line: d.line(fp), Field: fp, Msg: "has no default: give it with --param " + name + "=VALUE"})
			continue
		}
		if len(p.Allowed) > 0 && !contains(p.Allowed, v) {
			d.errs = append(d.errs, &FieldError{File: path, Line: d.line(fp), Field: fp, Msg: fmt.Sprintf("%q is not one of the allowed values %s", v, strings.Join(p.Allowed, ", "))})
			continue
		}
		f.Values[name] = v
	}
	var unknown []string
	for name := range params {
		if _, ok := f.Parameters[name]; !ok {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		line := d.line("parameters")
		d.errs = append(d.errs, &FieldError{File: path, Line: line, Field: "parameters",
			Msg: fmt.Sprintf("--param %s: the file declares no parameter %q (%s)", name, name, declared(f.Values))})
	}
	if len(d.errs) > 0 {
		return fail()
	}

	d.params = f.Values
	params0 := f.Parameters
	d.decode(root, reflectValue(f), "", false)
	f.Parameters = params0
	if len(d.errs) > 0 {
		return fail()
	}
	f.check()
	if len(d.errs) > 0 {
		sort.SliceStable(d.errs, func(i, j int) bool { return d.errs[i].Line < d.errs[j].Line })
		return fail()
	}
	return f, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlError(path string, err error) *FieldError {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &FieldError{File: path, Line: line, Msg: m[2]}
	}
	return &FieldError{File: path, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// errAt records a problem at a field path.
func (f *File) errAt(path, format string, args ...any) {
	f.dec.errs = append(f.dec.errs, &FieldError{File: f.Path, Line: f.dec.line(path), Field: path, Msg: fmt.Sprintf(format, args...)})
}

var fieldRE = regexp.MustCompile(`^[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*$`)

// specErr records a service's validation error at the field it names
// ("invalid job spec: partition_by[0]: empty column name").
func (f *File) specErr(path string, err error) {
	parts := strings.Split(err.Error(), ": ")
	for i, p := range parts {
		if i == 0 && len(parts) > 1 && !fieldRE.MatchString(p) {
			continue
		}
		if fieldRE.MatchString(p) && i+1 < len(parts) {
			f.errAt(join(path, p), "%s", strings.Join(parts[i+1:], ": "))
			return
		}
		if m := statementRE.FindStringSubmatch(p); m != nil {
			n, _ := strconv.Atoi(m[1])
			sp := fmt.Sprintf("%s.policy.Statement[%d]", path, n-1)
			rest := strings.Join(parts[i+1:], ": ")
			if fm := quotedFieldRE.FindStringSubmatch(rest); fm != nil {
				sp += "." + fm[1]
			}
			f.errAt(sp, "%s", rest)
			return
		}
	}
	f.errAt(path, "%v", err)
}

var (
	statementRE   = regexp.MustCompile(`^statement (\d+)`)
	quotedFieldRE = regexp.MustCompile(`^field "([A-Za-z]+)"`)
)

// sqlFile reads a job's sql_file, relative to the tarn.yaml's folder, and
// substitutes the parameters in it.
func (f *File) sqlFile(path, name string) (string, bool) {
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(f.Path), p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		f.errAt(path, "cannot read the SQL file: %v", err)
		return "", false
	}
	n := &yaml.Node{Line: f.dec.line(path)}
	return f.dec.subst(n, path, string(b), true), true
}
