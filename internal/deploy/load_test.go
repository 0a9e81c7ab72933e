package deploy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// header reads the "# want: LINE FIELD: TEXT" and "# params: k=v ..."
// comments at the top of a testdata file.
func header(t *testing.T, path string) (want string, params map[string]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	params = map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		if w, ok := strings.CutPrefix(line, "# want: "); ok {
			want = w
		}
		if p, ok := strings.CutPrefix(line, "# params: "); ok {
			for _, kv := range strings.Fields(p) {
				k, v, _ := strings.Cut(kv, "=")
				params[k] = v
			}
		}
	}
	return want, params
}

func TestLoadGood(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.good.yaml")
	if len(files) == 0 {
		t.Fatal("no good files")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			_, params := header(t, path)
			f, err := Load(path, params)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if f.Name == "" {
				t.Error("no stack name")
			}
		})
	}
}

func TestLoadBad(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.bad.yaml")
	if len(files) < 20 {
		t.Fatalf("only %d bad files", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want, params := header(t, path)
			if want == "" {
				t.Fatal("no # want: line")
			}
			lineText, rest, _ := strings.Cut(want, " ")
			_, err := Load(path, params)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !errors.Is(err, ErrInvalidFile) {
				t.Errorf("error does not wrap ErrInvalidFile: %v", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("no FieldError in %v", err)
			}
			prefix := fmt.Sprintf("%s:%s: ", path, lineText)
			if lineText == "0" {
				prefix = path + ": "
			}
			if !strings.Contains(err.Error(), prefix+rest) {
				t.Errorf("error\n%v\nlacks\n%s%s", err, prefix, rest)
			}
		})
	}
}

func TestParameters(t *testing.T) {
	f, err := Load("testdata/full.good.yaml", map[string]string{"env": "prod", "bucket": "lake2"})
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "full-prod" || f.Buckets[0].Name != "lake2" || f.Buckets[1].Name != "lake2-archive" || f.AccessKeys[0].Name != "reader-prod" {
		t.Errorf("parameters not substituted: %s %+v %+v", f.Name, f.Buckets, f.AccessKeys)
	}
	j := f.find(KindJob, "inline").view.(Job)
	// Job SQL keeps ${day} (a job argument); args take parameters.
	if !strings.Contains(j.SQL, "day = '${day}'") || j.Args["env"] != "prod" {
		t.Errorf("job: %q %v", j.SQL, j.Args)
	}
	w := f.find(KindWorkflow, "daily").view.(Workflow)
	if w.Steps[1].Args["objects"] != "${objects}" || !strings.Contains(w.Steps[2].SQL, "note = '${literal}'") {
		t.Errorf("run-time fields: %+v %q", w.Steps[1].Args, w.Steps[2].SQL)
	}
	if w.Steps[0].Name != "raw_crawler" || w.Steps[1].RetryDelay.String() != "30s" {
		t.Errorf("defaults: %+v", w.Steps[:2])
	}
	js := f.find(KindJob, "from_file").spec
	if s := fmt.Sprint(js); !strings.Contains(s, "SELECT id, amount, day FROM raw.sales") || !strings.Contains(s, "sql/sales.sql") {
		t.Errorf("sql_file: %s", s)
	}
	if tr := f.find(KindTrigger, "new_files").view.(Trigger); *tr.Enabled {
		t.Error("enabled: false lost")
	}
	if tr := f.find(KindTrigger, "six").view.(Trigger); !*tr.Enabled || tr.Type != "SCHEDULED" {
		t.Errorf("trigger defaults: %+v", tr)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "10": 10, "1KiB": 1024, "64MiB": 64 << 20, "10GB": 10e9, "2 TiB": 2 << 40, "5B": 5} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("%q: %d %v", in, got, err)
		}
	}
	for _, in := range []string{"x", "1.5GB", "-1", "MiB", "99999999999999999999"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/full.good.yaml", "testdata/unknown_field.bad.yaml"} {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Parse("fuzz.yaml", data, nil)
	})
}
