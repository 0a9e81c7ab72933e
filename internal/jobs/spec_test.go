package jobs_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tarn-lake/tarn/internal/jobs"
)

// parseSpec reads a job spec written in YAML, strictly: an unknown field is
// an error.
func parseSpec(data []byte) (jobs.Spec, error) {
	var v map[string]any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return jobs.Spec{}, err
	}
	j, err := json.Marshal(v)
	if err != nil {
		return jobs.Spec{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	var s jobs.Spec
	if err := dec.Decode(&s); err != nil {
		return jobs.Spec{}, err
	}
	return s, s.Validate()
}

func TestSpecFiles(t *testing.T) {
	good, _ := filepath.Glob("testdata/specs/*.good.yaml")
	bad, _ := filepath.Glob("testdata/specs/*.bad.yaml")
	if len(good) < 3 || len(bad) < 10 {
		t.Fatalf("%d good and %d bad files", len(good), len(bad))
	}
	for _, path := range good {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := parseSpec(data)
			if err != nil {
				t.Fatal(err)
			}
			// Validating a validated spec changes nothing (stored specs are
			// validated again).
			again := s
			if err := again.Validate(); err != nil || again.Target != s.Target || again.Mode != s.Mode || again.Format != s.Format {
				t.Errorf("validated twice: %+v %v", again, err)
			}
			if strings.HasPrefix(s.Target, "iceberg") && (s.Target != strings.ToLower(s.Target) || s.Format != "" || s.FileSize != 0) {
				t.Errorf("iceberg target not normalized: %+v", s)
			}
		})
	}
	for _, path := range bad {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# want: ")
			if !ok {
				t.Fatal("no # want: line")
			}
			_, err = parseSpec(data)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want one containing %q", err, want)
			}
			if !strings.Contains(want, "unknown field") && !errors.Is(err, jobs.ErrInvalidSpec) {
				t.Errorf("error does not wrap ErrInvalidSpec: %v", err)
			}
		})
	}
}
