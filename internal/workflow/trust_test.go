package workflow_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// TestObjectKeysAreValuesNotSQL: an uploaded object's key reaches a step's
// SQL through ${objects} as a literal. The key x' OR 'a'='a, pasted as
// text, made the DELETE below delete every row of the table.
func TestObjectKeysAreValuesNotSQL(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, nil)
	for _, q := range []string{"CREATE SCHEMA ops", "CREATE TABLE ops.files (uri VARCHAR, n INT)",
		"INSERT INTO ops.files VALUES ('s3://lake/incoming/a.csv', 1), ('s3://lake/incoming/b.csv', 2), ('s3://lake/incoming/ok.csv', 3)"} {
		if _, _, err := l.Query.Run(ctx, q, ""); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// A job that sees the objects as a list argument.
	if err := l.Jobs.Create(ctx, jobs.Spec{Name: "seen", SQL: "SELECT count(*) AS n FROM (VALUES ('s3://lake/incoming/ok.csv'), ('x')) t(u) WHERE u IN (${objects})",
		Args: map[string]string{"objects": ""}, Target: "s3://lake/out/seen/", Table: "out.seen"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: "ingest", Steps: []workflow.Step{
		{Name: "forget", SQL: "DELETE FROM ops.files WHERE uri = '${objects}'"},
		{Name: "forget_in", SQL: "DELETE FROM ops.files WHERE uri IN (${objects})", DependsOn: []string{"forget"}},
		{Name: "seen", Job: "seen", Args: map[string]string{"objects": "${objects}"}, DependsOn: []string{"forget_in"}},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Workflows.CreateTrigger(ctx, workflow.Trigger{Name: "on_upload", Workflow: "ingest", Prefix: "s3://lake/incoming/", BatchSize: 2, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"incoming/ok.csv", "incoming/x' OR 'a'='a"} {
		info := put(t, l, k, "a\n1\n")
		if _, _, err := l.Events.Record(ctx, info, events.ViaS3); err != nil {
			t.Fatal(err)
		}
	}
	startScheduler(t, l)
	r := waitRun(t, l, waitRuns(t, l, "ingest", 1)[0].ID)
	// Pasted as text, "uri = '${objects}'" would end in OR 'a'='a'.
	if want := "s3://lake/incoming/ok.csv,s3://lake/incoming/x' OR 'a'='a"; r.Properties["objects"] != want {
		t.Fatalf("objects = %q, want %q", r.Properties["objects"], want)
	}
	if r.State != workflow.RunSucceeded {
		t.Fatalf("run %s: %s (%v)", r.State, r.Error, r.Steps)
	}
	c, _, err := l.Query.Run(ctx, "SELECT string_agg(n::VARCHAR, ',' ORDER BY n) FROM ops.files", "")
	if err != nil {
		t.Fatal(err)
	}
	// Only ok.csv, one of the two objects, was a row of the table.
	if got := c.Rows[0][0]; got != "1,2" {
		t.Errorf("rows left: %v, want 1,2", got)
	}
	if got := r.Properties["seen.rows_written"]; got != "1" {
		t.Errorf("the job wrote %s rows, want 1 (the list argument matched ok.csv)", got)
	}
	c, _, err = l.Query.Run(ctx, "SELECT n FROM out.seen", "")
	if err != nil || len(c.Rows) != 1 || c.Rows[0][0] != int64(1) {
		t.Errorf("out.seen: %v %v", c.Rows, err)
	}
}

// TestSQLStepsRunWithTheWorkflowsIdentity: a workflow's sql steps run with
// the rights of the key that defined it, checked on every step.
func TestSQLStepsRunWithTheWorkflowsIdentity(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, nil)
	for _, q := range []string{"CREATE SCHEMA ops", "CREATE TABLE ops.files (uri VARCHAR, n INT)", "INSERT INTO ops.files VALUES ('a', 1), ('b', 2), ('c', 3)"} {
		if _, _, err := l.Query.Run(ctx, q, ""); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	pol, err := auth.ParsePolicy([]byte(`{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": ["glue:*Workflow*", "athena:*"], "Resource": "*"},
		{"Effect": "Allow", "Action": "redshift:ReadData", "Resource": "arn:aws:glue:*:*:table/ops/files"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	reader, err := l.Auth.CreateKey(ctx, "reader", pol)
	if err != nil {
		t.Fatal(err)
	}
	reader.SecretAccessKey = ""
	if err := l.Workflows.CreateWorkflowBy(ctx, workflow.Workflow{Name: "other", RunAs: jobs.RunAsAdmin,
		Steps: []workflow.Step{{Name: "a", SQL: "SELECT 1"}}}, &reader); !errors.Is(err, auth.ErrAccessDenied) {
		t.Errorf("a key naming the admin as its workflow's identity: %v", err)
	}
	if err := l.Workflows.CreateWorkflowBy(ctx, workflow.Workflow{Name: "w", Steps: []workflow.Step{
		{Name: "count", SQL: "SELECT count(*) AS n FROM ops.files"},
		{Name: "wipe", SQL: "DELETE FROM ops.files", DependsOn: []string{"count"}},
	}}, &reader); err != nil {
		t.Fatal(err)
	}
	w, err := l.Workflows.GetWorkflow(ctx, "w")
	if err != nil || w.RunAs != reader.AccessKeyID {
		t.Fatalf("workflow runs as %q %v", w.RunAs, err)
	}
	execute := func() workflow.Run {
		t.Helper()
		r, err := l.Workflows.Start(ctx, "w", workflow.StartOptions{Own: true})
		if err != nil {
			t.Fatal(err)
		}
		r, err = l.Workflows.Execute(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := execute()
	if st := stepStates(r); st["count"] != workflow.StepSucceeded || st["wipe"] != workflow.StepFailed || !strings.Contains(r.Error, "redshift:WriteData") {
		t.Errorf("run: %v %q", st, r.Error)
	}
	if r.Properties["count.n"] != "3" {
		t.Errorf("count.n = %q", r.Properties["count.n"])
	}
	c, _, err := l.Query.Run(ctx, "SELECT count(*) FROM ops.files", "")
	if err != nil || c.Rows[0][0] != int64(3) {
		t.Errorf("ops.files: %v %v", c.Rows, err)
	}
	if err := l.Auth.DeleteKey(ctx, reader.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if r := execute(); r.State != workflow.RunFailed || !strings.Contains(r.Error, "does not exist") {
		t.Errorf("after the key was deleted: %s %q", r.State, r.Error)
	}
	// Workflows of the lake's owner run as the admin.
	if err := l.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: "local", Steps: []workflow.Step{{Name: "a", SQL: "SELECT 1"}}}); err != nil {
		t.Fatal(err)
	}
	if w, _ := l.Workflows.GetWorkflow(ctx, "local"); w.RunAs != jobs.RunAsAdmin {
		t.Errorf("local workflow runs as %q", w.RunAs)
	}
}
