package dbt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/dbt"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
)

// TestLineage: a dbt run records one OpenLineage event per model, from
// dbt's real artifacts (the test's failure turned into a pass), in a real
// lake's catalog: its source (a warehouse table here) → its relation.
func TestLineage(t *testing.T) {
	ctx := context.Background()
	l, err := lake.Open(ctx, lakeConfig(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	raw, err := os.ReadFile("testdata/wap_fail_run_results.json")
	if err != nil {
		t.Fatal(err)
	}
	var rr map[string]any
	if err := json.Unmarshal(raw, &rr); err != nil {
		t.Fatal(err)
	}
	for _, r := range rr["results"].([]any) {
		m := r.(map[string]any)
		if m["status"] == "fail" {
			m["status"], m["failures"], m["message"] = "pass", 0, nil
		}
	}
	passed, _ := json.Marshal(rr)
	dir := t.TempDir()
	for name, src := range map[string]string{"run_results.json": "", "manifest.json": "testdata/wap_fail_manifest.json"} {
		b := passed
		if src != "" {
			if b, err = os.ReadFile(src); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	script := fmt.Sprintf(`#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in --target-path) target="$2"; shift ;; esac
  shift
done
mkdir -p "$target" && cp %[1]s/run_results.json %[1]s/manifest.json "$target/"
`, dir)
	exe := filepath.Join(dir, "dbt")
	if err := os.WriteFile(exe, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	proj := t.TempDir()
	if err := os.WriteFile(filepath.Join(proj, "dbt_project.yml"), []byte("name: p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := dbt.Step{Project: proj, Schema: "marts"}
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	r := dbt.New(dbt.Config{Executable: exe, WorkDir: t.TempDir()}, l.Query.Warehouse(), l.Query)
	res, err := r.Run(ctx, dbt.Request{Step: st, Workflow: "models", RunID: "wr-1", StepName: "build", Endpoint: "127.0.0.1:1", Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Dir != "" || len(res.Nodes) != 3 {
		t.Errorf("result: %+v", res)
	}
	out := catalog.WarehouseDataset("marts__tarn_wap_e6c7c774daab", "orders_by_day")
	w, ok, err := l.Catalog.LatestWrite(ctx, out)
	if err != nil || !ok {
		t.Fatalf("latest write of %v: %v %v", out, ok, err)
	}
	if w.JobName != "dbt.model.tarn_wap.orders_by_day" || w.JobType != catalog.LineageJobTypeModel || w.Rows != 2 || !strings.HasPrefix(w.RunID, "wr-1/build/") {
		t.Errorf("write: %+v", w)
	}
	g, err := l.Catalog.Lineage(ctx, out, catalog.LineageQuery{Direction: catalog.Upstream})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Edges) != 1 || g.Edges[0].Input != catalog.WarehouseDataset("landing", "orders") {
		t.Errorf("edges: %+v", g.Edges)
	}
}

// lakeConfig is a lake in home with its metadata on the backend
// TARN_TEST_META names (metatest: SQLite in home, or a fresh PostgreSQL
// database).
func lakeConfig(t testing.TB, home string) lake.Config {
	t.Helper()
	cfg := lake.DefaultConfig(home)
	cfg.Meta = metatest.Config(t, cfg.Meta.Path)
	return cfg
}
