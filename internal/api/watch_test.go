package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/api"
	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// TestWatchWorkflowRun: GET /api/v1/workflow-runs/{id}/events streams the
// run as it changes, ends with "end" once the run has ended, and needs
// glue:GetWorkflowRun on the workflow.
func TestWatchWorkflowRun(t *testing.T) {
	ctx := context.Background()
	l, err := lake.Open(ctx, lakeConfig(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	admin, _, err := l.Auth.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := api.New(api.DefaultConfig(), api.Deps{DB: l.Meta.SQL(), Auth: l.Auth, Queries: l.Query, Catalog: l.Catalog, Crawlers: l.Crawlers,
		Jobs: l.Jobs, Store: l.Store, Workflows: l.Workflows, Events: l.Events, Alarms: l.Alarms})
	t.Cleanup(a.Close)
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	if err := l.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: "two", Steps: []workflow.Step{
		{Name: "first", SQL: "SELECT 1"}, {Name: "second", SQL: "SELECT 2", DependsOn: []string{"first"}}}}); err != nil {
		t.Fatal(err)
	}
	r, err := l.Workflows.Start(ctx, "two", workflow.StartOptions{Own: true})
	if err != nil {
		t.Fatal(err)
	}
	get := func(k auth.Key) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/workflow-runs/"+r.ID+"/events", nil)
		req.Header.Set("Authorization", "Bearer "+auth.Token(k))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// A key that may not read the workflow's runs.
	pol, err := auth.ParsePolicy([]byte(`{"Statement": {"Effect": "Allow", "Action": "glue:GetWorkflowRun", "Resource": "arn:aws:glue:*:*:workflow/other"}}`))
	if err != nil {
		t.Fatal(err)
	}
	other, err := l.Auth.CreateKey(ctx, "other", pol)
	if err != nil {
		t.Fatal(err)
	}
	if resp := get(other); resp.StatusCode != 403 {
		t.Errorf("another workflow's key: %d", resp.StatusCode)
	}
	if resp, err := http.Get(srv.URL + "/api/v1/workflow-runs/" + r.ID + "/events"); err != nil || resp.StatusCode != 403 {
		t.Errorf("unsigned: %v %v", resp.StatusCode, err)
	}

	resp := get(admin)
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The run executes while the stream is open (the scheduler's part).
	done := make(chan error, 1)
	go func() { _, err := l.Workflows.Execute(ctx, r.ID); done <- err }()
	var runs []apitypes.WorkflowRun
	ended := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			event = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok && event == "run" {
			var run apitypes.WorkflowRun
			if err := json.Unmarshal([]byte(v), &run); err != nil {
				t.Fatalf("event data %s: %v", v, err)
			}
			runs = append(runs, run)
		}
		if event == "end" && line == "" {
			ended = true
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !ended || len(runs) < 2 {
		t.Fatalf("ended %v after %d run events", ended, len(runs))
	}
	last := runs[len(runs)-1]
	if last.State != "SUCCEEDED" || len(last.Steps) != 2 || last.Steps[1].State != "SUCCEEDED" {
		t.Errorf("last event: %+v", last)
	}
	if runs[0].State == "SUCCEEDED" {
		t.Errorf("the first event is already the end: %+v", runs[0])
	}
}
