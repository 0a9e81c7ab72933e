package deploy

import (
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// kv is one flattened field.
type kv struct{ key, val string }

// flatten lists a view's non-empty fields as "path: value", in field
// order. Lists of named things are keyed by name ("steps[load].job"), other
// lists by index; lists of text are one value ("[a, b]").
func flatten(v any) []kv {
	var out []kv
	flattenValue(reflect.ValueOf(v), "", &out)
	return out
}

func flattenValue(v reflect.Value, path string, out *[]kv) {
	if !v.IsValid() {
		return
	}
	switch x := v.Interface().(type) {
	case Duration:
		if x != 0 {
			*out = append(*out, kv{path, x.String()})
		}
		return
	case Bytes:
		if x != 0 {
			*out = append(*out, kv{path, strconv.FormatInt(int64(x), 10)})
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			flattenValue(v.Elem(), path, out)
		}
	case reflect.Struct:
		for _, fi := range structFields(v.Type()) {
			fv := v.Field(fi.index)
			if fv.IsZero() {
				continue
			}
			flattenValue(fv, join(path, fi.name), out)
		}
	case reflect.Slice:
		if v.Len() == 0 {
			return
		}
		if v.Type().Elem().Kind() == reflect.String {
			var items []string
			for i := 0; i < v.Len(); i++ {
				items = append(items, v.Index(i).String())
			}
			*out = append(*out, kv{path, "[" + strings.Join(items, ", ") + "]"})
			return
		}
		for i := 0; i < v.Len(); i++ {
			item := v.Index(i)
			key := strconv.Itoa(i)
			if item.Kind() == reflect.Struct {
				if n := item.FieldByName("Name"); n.IsValid() && n.String() != "" {
					key = n.String()
				}
			}
			flattenValue(item, fmt.Sprintf("%s[%s]", path, key), out)
		}
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			flattenValue(v.MapIndex(k), join(path, k.String()), out)
		}
	case reflect.String:
		*out = append(*out, kv{path, v.String()})
	case reflect.Bool:
		*out = append(*out, kv{path, strconv.FormatBool(v.Bool())})
	case reflect.Int, reflect.Int64:
		*out = append(*out, kv{path, strconv.FormatInt(v.Int(), 10)})
	case reflect.Float64:
		*out = append(*out, kv{path, strconv.FormatFloat(v.Float(), 'g', -1, 64)})
	}
}

// diff compares two views field by field: From is the lake's, To the file's.
func diff(cur, want any) []FieldDiff {
	a, b := flatten(cur), flatten(want)
	am := map[string]string{}
	for _, x := range a {
		am[x.key] = x.val
	}
	bm := map[string]bool{}
	var out []FieldDiff
	for _, x := range b {
		bm[x.key] = true
		if from, ok := am[x.key]; !ok || from != x.val {
			out = append(out, FieldDiff{Field: x.key, From: from, To: x.val})
		}
	}
	for _, x := range a {
		if !bm[x.key] {
			out = append(out, FieldDiff{Field: x.key, From: x.val})
		}
	}
	return out
}

// Write renders the plan for people.
func (p *Plan) Write(w io.Writer) {
	var params []string
	for k, v := range p.Params {
		params = append(params, k+"="+v)
	}
	sort.Strings(params)
	fmt.Fprintf(w, "stack %s (%s)", p.Stack, p.File)
	if len(params) > 0 {
		fmt.Fprintf(w, ", parameters %s", strings.Join(params, " "))
	}
	fmt.Fprintln(w)
	for _, c := range p.Changes {
		switch c.Action {
		case ActionNone, ActionForget:
			continue
		case ActionCreate:
			fmt.Fprintf(w, "  + %s %s\n", c.Kind, c.Name)
		case ActionDelete:
			fmt.Fprintf(w, "  - %s %s", c.Kind, c.Name)
			if c.Note != "" {
				fmt.Fprintf(w, " (%s)", c.Note)
			}
			fmt.Fprintln(w)
		case ActionAdopt:
			fmt.Fprintf(w, "  = %s %s (exists as declared: will be recorded as managed by stack %s)\n", c.Kind, c.Name, p.Stack)
		case ActionUpdate, ActionReplace, ActionKeep:
			mark := map[string]string{ActionUpdate: "~", ActionReplace: "-/+", ActionKeep: "!"}[c.Action]
			fmt.Fprintf(w, "  %s %s %s", mark, c.Kind, c.Name)
			var tags []string
			if c.Note != "" {
				tags = append(tags, c.Note)
			}
			if c.Adopt {
				tags = append(tags, "adopted into stack "+p.Stack)
			}
			if len(tags) > 0 {
				fmt.Fprintf(w, " (%s)", strings.Join(tags, "; "))
			}
			fmt.Fprintln(w)
			for _, d := range c.Diffs {
				writeDiff(w, d)
			}
		}
	}
	create, change, del := p.Counts()
	if create+change+del == 0 {
		fmt.Fprintf(w, "No changes: the lake matches %s.\n", p.File)
		return
	}
	fmt.Fprintf(w, "Plan: %d to create, %d to change, %d to delete.\n", create, change, del)
}

func writeDiff(w io.Writer, d FieldDiff) {
	if strings.Contains(d.From, "\n") || strings.Contains(d.To, "\n") {
		fmt.Fprintf(w, "      %s:\n", d.Field)
		for _, l := range lineDiff(d.From, d.To) {
			fmt.Fprintf(w, "        %s\n", l)
		}
		return
	}
	fmt.Fprintf(w, "      %s: %s -> %s\n", d.Field, show(d.From), show(d.To))
}

func show(s string) string {
	if s == "" {
		return "(none)"
	}
	return strconv.Quote(s)
}

// lineDiff is a line diff of two texts ("- old", "+ new", "  same"), with
// unchanged runs longer than two lines elided.
func lineDiff(a, b string) []string {
	x, y := strings.Split(strings.TrimRight(a, "\n"), "\n"), strings.Split(strings.TrimRight(b, "\n"), "\n")
	if a == "" {
		x = nil
	}
	if b == "" {
		y = nil
	}
	// Longest common subsequence, by dynamic programming (specs are small).
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []string
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			ops = append(ops, "  "+x[i])
			i++
			j++
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			ops = append(ops, "+ "+y[j])
			j++
		default:
			ops = append(ops, "- "+x[i])
			i++
		}
	}
	// Keep one line of context around changes.
	var out []string
	for k, op := range ops {
		if op[0] != ' ' {
			out = append(out, op)
			continue
		}
		near := k > 0 && ops[k-1][0] != ' ' || k+1 < len(ops) && ops[k+1][0] != ' '
		if near {
			out = append(out, op)
		} else if len(out) == 0 || out[len(out)-1] != "  ..." {
			out = append(out, "  ...")
		}
	}
	return out
}
