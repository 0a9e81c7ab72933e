package deploy

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// exportFile is the shape Export writes (File without parameters).
type exportFile struct {
	Name       string      `yaml:"name"`
	Buckets    []Bucket    `yaml:"buckets,omitempty"`
	Databases  []Database  `yaml:"databases,omitempty"`
	Workgroups []Workgroup `yaml:"workgroups,omitempty"`
	AccessKeys []AccessKey `yaml:"access_keys,omitempty"`
	Crawlers   []Crawler   `yaml:"crawlers,omitempty"`
	Jobs       []Job       `yaml:"jobs,omitempty"`
	Workflows  []Workflow  `yaml:"workflows,omitempty"`
	Triggers   []Trigger   `yaml:"triggers,omitempty"`
	Alarms     []Alarm     `yaml:"alarms,omitempty"`
}

// Export writes the lake's resources as a tarn.yaml of stack name that
// Apply accepts: applying it to the same lake changes nothing (resources
// managed by no stack are adopted into it). Resources managed by another
// stack are left out and returned as "kind name (stack)". Fields equal to
// their defaults are left out; job SQL is written inline; access keys are
// written with their policies, never their ids or secrets; tables belong to
// crawlers and jobs and are not written.
func (d *Deployer) Export(ctx context.Context, name string) (out []byte, skipped []string, err error) {
	if !stackNameRE.MatchString(name) {
		return nil, nil, fmt.Errorf("cannot export: stack name %q must be 1-128 letters, digits, '_', '-' or '.'", name)
	}
	owners, err := d.owners(ctx)
	if err != nil {
		return nil, nil, err
	}
	st, err := d.state(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	ef := exportFile{Name: name}
	for _, kind := range Kinds {
		names := make([]string, 0, len(st[kind]))
		for n := range st[kind] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if o := owners[[2]string{kind, n}]; o != "" && o != name {
				skipped = append(skipped, fmt.Sprintf("%s %s (stack %s)", kind, n, o))
				continue
			}
			v := minimize(kind, st[kind][n].view)
			v = escapeParams(v)
			switch x := v.(type) {
			case Bucket:
				ef.Buckets = append(ef.Buckets, x)
			case Database:
				ef.Databases = append(ef.Databases, x)
			case Workgroup:
				ef.Workgroups = append(ef.Workgroups, x)
			case AccessKey:
				ef.AccessKeys = append(ef.AccessKeys, x)
			case Crawler:
				ef.Crawlers = append(ef.Crawlers, x)
			case Job:
				ef.Jobs = append(ef.Jobs, x)
			case Workflow:
				ef.Workflows = append(ef.Workflows, x)
			case Trigger:
				ef.Triggers = append(ef.Triggers, x)
			case Alarm:
				ef.Alarms = append(ef.Alarms, x)
			}
		}
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Written by tarn export. Apply it with: tarn apply -f FILE\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(ef); err != nil {
		return nil, nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), skipped, nil
}

// keepFields are never left out as defaults: they say what a resource is.
var keepFields = map[string]bool{"name": true, "type": true, "rule": true, "Version": true}

// minimize leaves out the fields of a view that equal their defaults: a
// field is left out when the view without it normalizes to the same value.
func minimize(kind string, view any) any {
	_, base, err := normalize(kind, view)
	if err != nil {
		return view
	}
	want := fmt.Sprint(flatten(base))
	same := func(v any) bool {
		_, n, err := normalize(kind, v)
		return err == nil && fmt.Sprint(flatten(n)) == want
	}
	rv := reflect.New(reflect.TypeOf(view)).Elem()
	rv.Set(reflect.ValueOf(view))
	trim := func(sv reflect.Value) {
		for _, fi := range structFields(sv.Type()) {
			fv := sv.Field(fi.index)
			if keepFields[fi.name] || fv.IsZero() {
				continue
			}
			saved := reflect.New(fv.Type()).Elem()
			saved.Set(fv)
			fv.SetZero()
			if !same(rv.Interface()) {
				fv.Set(saved)
			}
		}
	}
	trim(rv)
	if w, ok := rv.Interface().(Workflow); ok {
		steps := append([]Step(nil), w.Steps...)
		rv.FieldByName("Steps").Set(reflect.ValueOf(steps))
		for i := range steps {
			trim(rv.FieldByName("Steps").Index(i))
		}
	}
	return rv.Interface()
}

// escapeParams escapes "${" so that applying the export substitutes
// nothing: "$${" in fixed fields; in run-time fields (SQL, arguments,
// properties) "${name}" is kept for the run and only "$${" is escaped.
func escapeParams(view any) any {
	rv := reflect.New(reflect.TypeOf(view)).Elem()
	rv.Set(reflect.ValueOf(view))
	escapeValue(rv, false)
	return rv.Interface()
}

func escapeValue(v reflect.Value, runtime bool) {
	esc := func(s string) string {
		if runtime {
			return strings.ReplaceAll(s, "$${", "$$${")
		}
		return strings.ReplaceAll(s, "${", "$${")
	}
	switch v.Kind() {
	case reflect.String:
		if s := v.String(); strings.Contains(s, "${") {
			v.SetString(esc(s))
		}
	case reflect.Struct:
		for _, fi := range structFields(v.Type()) {
			escapeValue(v.Field(fi.index), runtime || fi.runtime)
		}
	case reflect.Slice:
		if v.Len() == 0 {
			return
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		v.Set(c)
		for i := 0; i < v.Len(); i++ {
			escapeValue(v.Index(i), runtime)
		}
	case reflect.Map:
		if v.Len() == 0 {
			return
		}
		c := reflect.MakeMap(v.Type())
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			escapeValue(e, runtime)
			c.SetMapIndex(reflect.ValueOf(strings.ReplaceAll(k.String(), "${", "$${")), e)
		}
		v.Set(c)
	}
}
