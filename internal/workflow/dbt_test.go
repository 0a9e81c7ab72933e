package workflow_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/dbt"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// TestDBTStep runs dbt steps in a real lake with a program standing in
// for dbt (the real one runs in .ci/dbt-workflow.sh) that writes dbt's
// real run_results.json of a failed test: the step fails naming the test,
// the run records every node and GetRun returns them; a server without a
// PostgreSQL endpoint and a workflow whose key was deleted fail clearly.
func TestDBTStep(t *testing.T) {
	ctx := context.Background()
	results, err := filepath.Abs("../dbt/testdata/wap_fail_run_results.json")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	exe := filepath.Join(bin, "dbt")
	script := fmt.Sprintf(`#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in --target-path) target="$2"; shift ;; esac
  shift
done
mkdir -p "$target" && cp %q "$target/run_results.json"
exit 1
`, results)
	if err := os.WriteFile(exe, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := lake.DefaultConfig(t.TempDir())
	cfg.Meta = metatest.Config(t, cfg.Meta.Path)
	cfg.Workflow.Tick = 20 * time.Millisecond
	cfg.Workflow.DBT.Executable = exe
	l, err := lake.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	proj := t.TempDir()
	if err := os.WriteFile(filepath.Join(proj, "dbt_project.yml"), []byte("name: p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := workflow.Workflow{Name: "models", Steps: []workflow.Step{{Name: "build", DBT: &dbt.Step{Project: proj, Schema: "marts", Vars: map[string]string{"day": "${day}"}}}},
		Properties: map[string]string{"day": "2025-03-01"}}
	if err := l.Workflows.CreateWorkflow(ctx, w); err != nil {
		t.Fatal(err)
	}
	got, err := l.Workflows.GetWorkflow(ctx, "models")
	if err != nil || got.Steps[0].DBT == nil || got.Steps[0].DBT.Command != "build" || !strings.HasPrefix(got.Steps[0].Target(), "dbt build ") {
		t.Fatalf("stored: %+v %v", got.Steps, err)
	}
	start := func() workflow.Run {
		t.Helper()
		r, err := l.Workflows.Start(ctx, "models", workflow.StartOptions{Own: true})
		if err != nil {
			t.Fatal(err)
		}
		run, err := l.Workflows.Execute(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	// No endpoint (a CLI without a server).
	run := start()
	if run.State != workflow.RunFailed || !strings.Contains(run.Error, "this process has none") {
		t.Errorf("without endpoint: %s %s", run.State, run.Error)
	}
	admin, _, err := l.Auth.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l.Workflows.SetPGEndpoint("127.0.0.1:1", admin.AccessKeyID)
	run = start()
	if run.State != workflow.RunFailed || !strings.Contains(run.Error, "test unique_orders_by_day_order_date failed (Got 1 result, configured to fail if != 0)") {
		t.Fatalf("failed test: %s %s", run.State, run.Error)
	}
	nodes := run.Steps[0].DBT
	if len(nodes) != 3 || nodes[0].Name != "orders_by_day" || nodes[0].RowsAffected != 2 || nodes[2].Status != "fail" || nodes[2].Failures != 1 {
		t.Errorf("nodes: %+v", nodes)
	}
	if run.Properties["build.failed"] != "" {
		t.Errorf("a failed step has no outputs: %v", run.Properties)
	}
	runs, err := l.Workflows.Runs(ctx, "models", 10)
	if err != nil || len(runs) != 2 || len(runs[0].Steps[0].DBT) != 3 || len(runs[1].Steps[0].DBT) != 0 {
		t.Errorf("runs: %v %v", runs, err)
	}
	// A workflow of a key that was deleted since.
	pol, err := auth.ParsePolicy([]byte(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "redshift:*", "Resource": "*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	k, err := l.Auth.CreateKey(ctx, "modeler", pol)
	if err != nil {
		t.Fatal(err)
	}
	w.RunAs = k.AccessKeyID
	if err := l.Workflows.UpdateWorkflow(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := l.Auth.DeleteKey(ctx, k.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	run = start()
	if run.State != workflow.RunFailed || !strings.Contains(run.Error, "which does not exist") {
		t.Errorf("deleted key: %s %s", run.State, run.Error)
	}
	// Hostile specs are refused when defined.
	for _, st := range []dbt.Step{{}, {Project: proj, Select: "--profiles-dir=/"}, {Project: proj, Schema: "a;b"}, {Project: proj, Command: "run", Publish: "on_tests_pass"}} {
		bad := workflow.Workflow{Name: "bad", Steps: []workflow.Step{{Name: "s", DBT: &st}}}
		if err := l.Workflows.CreateWorkflow(ctx, bad); err == nil {
			t.Errorf("%+v: accepted", st)
		}
	}
	two := workflow.Workflow{Name: "two", Steps: []workflow.Step{{Name: "s", SQL: "SELECT 1", DBT: &dbt.Step{Project: proj}}}}
	if err := two.Validate(); err == nil {
		t.Error("sql and dbt in one step: accepted")
	}
}
