package api_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/api"
	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/auth"
	tclient "github.com/tarn-lake/tarn/internal/client"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// updateLake is a lake with a raw table, a crawler and a job of the admin,
// served by the REST API; key makes keys with a policy's statements.
func updateLake(t *testing.T) (l *lake.Lake, srvURL string, admin auth.Key, key func(name, statements string) auth.Key) {
	t.Helper()
	ctx := context.Background()
	l, err := lake.Open(ctx, lakeConfig(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"CREATE DATABASE raw_db", `CREATE EXTERNAL TABLE raw_db.sales (id bigint, amount double)
		ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/sales/'`} {
		if _, _, err := l.Query.Run(ctx, q, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Store.Put(ctx, "lake", "raw/sales/a.csv", strings.NewReader("1,10\n2,20\n"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	admin, _, err = l.Auth.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := api.New(api.DefaultConfig(), api.Deps{DB: l.Meta.SQL(), Auth: l.Auth, Queries: l.Query, Catalog: l.Catalog, Crawlers: l.Crawlers,
		Jobs: l.Jobs, Store: l.Store, Workflows: l.Workflows, Events: l.Events, Alarms: l.Alarms})
	t.Cleanup(a.Close)
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	key = func(name, statements string) auth.Key {
		t.Helper()
		p, err := auth.ParsePolicy([]byte(`{"Version": "2012-10-17", "Statement": ` + statements + `}`))
		if err != nil {
			t.Fatal(err)
		}
		k, err := l.Auth.CreateKey(ctx, name, p)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	return l, srv.URL, admin, key
}

func errCode(err error) string {
	var e *tclient.Error
	if !errors.As(err, &e) {
		if err == nil {
			return "no error"
		}
		return "not a server error: " + err.Error()
	}
	return e.Code
}

// TestUpdateJobThroughAPI: PUT /api/v1/jobs/{name} changes only the fields
// the body has, keeps the job's runs and bookmarks, checks the SQL as at
// create, needs glue:UpdateJob on the job, and lets a key change a job only
// if it could have given the job its identity (not the admin's).
func TestUpdateJobThroughAPI(t *testing.T) {
	ctx := context.Background()
	l, url, admin, key := updateLake(t)
	if err := l.Jobs.Create(ctx, jobs.Spec{Name: "load", SQL: "SELECT id, amount FROM raw_db.sales", Target: "s3://lake/curated/load/",
		Bookmarks: true, Args: map[string]string{"a": "1", "b": "2"}, Description: "old"}); err != nil {
		t.Fatal(err)
	}
	first, err := l.Jobs.Start(ctx, "load", jobs.StartOptions{})
	if err != nil || first.Stats.RowsWritten != 2 {
		t.Fatalf("first run: %+v %v", first, err)
	}
	raw := &client{t: t, url: url, key: admin}
	var got jobs.Spec
	if st := raw.do("PUT", "/api/v1/jobs/load", map[string]any{"max_retries": 3, "timeout": "90m", "args": map[string]string{"c": "3"}}, &got); st != 200 {
		t.Fatalf("PUT: %d %+v", st, got)
	}
	if got.MaxRetries != 3 || got.Timeout.Minutes() != 90 || got.Description != "old" || !got.Bookmarks || got.SQL != "SELECT id, amount FROM raw_db.sales" ||
		len(got.Args) != 1 || got.Args["c"] != "3" || got.RunAs != jobs.RunAsAdmin {
		t.Errorf("after PUT: %+v", got)
	}
	// The bookmark stayed: the next run reads nothing new; the runs stayed.
	if second, err := l.Jobs.Start(ctx, "load", jobs.StartOptions{}); err != nil || second.Stats.RowsRead != 0 {
		t.Errorf("run after update: %+v %v", second, err)
	}
	if runs, err := l.Jobs.Runs(ctx, "load"); err != nil || len(runs) != 2 {
		t.Errorf("runs after update: %d %v", len(runs), err)
	}
	var e map[string]map[string]string
	for _, tc := range []struct {
		body       map[string]any
		status     int
		code, want string
	}{
		{map[string]any{"sql": "SELECT nope FROM raw_db.sales"}, 400, "InvalidRequest", "nope"},
		{map[string]any{"max_retris": 1}, 400, "InvalidRequest", "max_retris"},
		{map[string]any{"name": "other"}, 400, "InvalidRequest", `names job "other"`},
	} {
		e = nil
		if st := raw.do("PUT", "/api/v1/jobs/load", tc.body, &e); st != tc.status || e["error"]["code"] != tc.code || !strings.Contains(e["error"]["message"], tc.want) {
			t.Errorf("PUT %v: %d %v, want %d %s %q", tc.body, st, e, tc.status, tc.code, tc.want)
		}
	}
	if st := raw.do("PUT", "/api/v1/jobs/nope", map[string]any{"max_retries": 1}, &e); st != 404 {
		t.Errorf("PUT of a missing job: %d %v", st, e)
	}
	if cur, _ := l.Jobs.Get(ctx, "load"); cur.SQL != "SELECT id, amount FROM raw_db.sales" {
		t.Errorf("a refused update changed the SQL: %q", cur.SQL)
	}

	// Keys: without glue:UpdateJob; with it, on the admin's job; on its own.
	reader := `{"Effect": "Allow", "Action": ["glue:GetTable"], "Resource": "arn:aws:glue:*:*:table/raw_db/sales"},
		{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lake/raw/sales/*"},
		{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/curated/mine/*"}`
	creator := key("creator", `[{"Effect": "Allow", "Action": ["glue:CreateJob", "glue:GetJob"], "Resource": "*"}, `+reader+`]`)
	updater := key("updater", `[{"Effect": "Allow", "Action": ["glue:CreateJob", "glue:GetJob", "glue:UpdateJob"], "Resource": "*"}, `+reader+`]`)
	forKey := func(k auth.Key) *tclient.Client {
		c, err := tclient.New(tclient.Config{API: url, Key: creds(k)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cur, err := forKey(admin).Jobs().Get(ctx, "load")
	if err != nil {
		t.Fatal(err)
	}
	cur.Description = "changed by a key"
	if err := forKey(creator).Jobs().Update(ctx, cur); errCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "glue:UpdateJob") {
		t.Errorf("update without glue:UpdateJob: %v", err)
	}
	if err := forKey(updater).Jobs().Update(ctx, cur); errCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "cannot update job") {
		t.Errorf("a key changing a job that runs as the admin: %v", err)
	}
	if err := forKey(updater).Jobs().Create(ctx, apitypes.JobSpec{Name: "mine", SQL: "SELECT id FROM raw_db.sales", Target: "s3://lake/curated/mine/"}); err != nil {
		t.Fatal(err)
	}
	mine, err := forKey(updater).Jobs().Get(ctx, "mine")
	if err != nil {
		t.Fatal(err)
	}
	mine.Description = "mine, described"
	if err := forKey(updater).Jobs().Update(ctx, mine); err != nil {
		t.Errorf("a key changing its own job: %v", err)
	}
	// Its own job, pointed at a target it may not write: refused.
	mine.Target = "s3://lake/curated/load/"
	if err := forKey(updater).Jobs().Update(ctx, mine); errCode(err) != "AccessDenied" {
		t.Errorf("a key retargeting its job where it may not write: %v", err)
	}
	// Its own job, given a wider key as its role: refused, as at create.
	wide := key("wide", `[{"Effect": "Allow", "Action": "*", "Resource": "*"}]`)
	mine.Target, mine.RunAs = "s3://lake/curated/mine/", wide.AccessKeyID
	if err := forKey(updater).Jobs().Update(ctx, mine); errCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "may not pass key") {
		t.Errorf("a key passing a wider role at update: %v", err)
	}
	if got, _ := l.Jobs.Get(ctx, "mine"); got.Description != "mine, described" || got.Target != "s3://lake/curated/mine/" || got.RunAs != updater.AccessKeyID {
		t.Errorf("job mine: %+v", got)
	}
	if got, _ := l.Jobs.Get(ctx, "load"); got.Description != "old" {
		t.Errorf("a refused update changed job load: %+v", got)
	}
	// An admin may give a job any identity: the admin's job now runs as
	// the updater's key.
	if st := raw.do("PUT", "/api/v1/jobs/load", map[string]any{"run_as": updater.AccessKeyID, "target": "s3://lake/curated/mine/load/"}, &got); st != 200 || got.RunAs != updater.AccessKeyID {
		t.Errorf("admin changing the identity: %d %+v", st, got)
	}
}

// TestUpdateCrawlerThroughAPI: PUT /api/v1/crawlers/{name} changes only the
// fields the body has, keeps the crawler's runs, and needs
// glue:UpdateCrawler on the crawler.
func TestUpdateCrawlerThroughAPI(t *testing.T) {
	ctx := context.Background()
	l, url, admin, key := updateLake(t)
	if err := l.Crawlers.Create(ctx, crawler.Spec{Name: "c1", Database: "db1", Targets: []string{"s3://lake/raw/"}, Exclusions: []string{"*.tmp"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Crawlers.Start(ctx, "c1", crawler.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	raw := &client{t: t, url: url, key: admin}
	var out map[string]any
	if st := raw.do("PUT", "/api/v1/crawlers/c1", map[string]any{"description": "the raw zone", "schema_change_policy": "log"}, &out); st != 200 {
		t.Fatalf("PUT: %d %v", st, out)
	}
	var e map[string]map[string]string
	got, err := l.Crawlers.Get(ctx, "c1")
	if err != nil || got.Description != "the raw zone" || got.SchemaChangePolicy != crawler.SchemaChangeLog || got.Database != "db1" ||
		len(got.Targets) != 1 || len(got.Exclusions) != 1 || got.Exclusions[0] != "*.tmp" {
		t.Errorf("after PUT: %+v %v", got, err)
	}
	if runs, err := l.Crawlers.Runs(ctx, "c1"); err != nil || len(runs) != 1 {
		t.Errorf("runs after update: %d %v", len(runs), err)
	}
	if st := raw.do("PUT", "/api/v1/crawlers/c1", map[string]any{"targets": []string{"/not/s3"}}, &e); st != 400 || !strings.Contains(e["error"]["message"], "targets[0]") {
		t.Errorf("bad target: %d %v", st, e)
	}
	if st := raw.do("PUT", "/api/v1/crawlers/nope", map[string]any{"description": "x"}, &e); st != 404 {
		t.Errorf("missing crawler: %d %v", st, e)
	}
	denied := key("nocrawlerupdate", `[{"Effect": "Allow", "Action": ["glue:GetCrawler", "glue:CreateCrawler"], "Resource": "*"}]`)
	allowed := key("crawlerupdate", `[{"Effect": "Allow", "Action": "glue:UpdateCrawler", "Resource": "arn:aws:glue:*:*:crawler/c1"}]`)
	spec := apitypes.CrawlerSpec{Name: got.Name, Database: got.Database, Description: "by a key", Targets: got.Targets, Exclusions: got.Exclusions,
		SchemaChangePolicy: got.SchemaChangePolicy, DeleteBehavior: got.DeleteBehavior, RecrawlPolicy: got.RecrawlPolicy}
	for _, tc := range []struct {
		k    auth.Key
		name string
		want string
	}{{denied, "c1", "AccessDenied"}, {allowed, "c2", "AccessDenied"}, {allowed, "c1", "no error"}} {
		c, err := tclient.New(tclient.Config{API: url, Key: creds(tc.k)})
		if err != nil {
			t.Fatal(err)
		}
		spec.Name = tc.name
		if err := c.Crawlers().Update(ctx, spec); errCode(err) != tc.want {
			t.Errorf("%s updating crawler %s: %v, want %s", tc.k.Name, tc.name, err, tc.want)
		}
	}
	if got, _ := l.Crawlers.Get(ctx, "c1"); got.Description != "by a key" {
		t.Errorf("description after the allowed key's update: %q", got.Description)
	}
}

// TestAllWorkflowRuns: GET /api/v1/workflow-runs lists the runs of every
// workflow (what tarn workflow runs without a name shows), only those of
// workflows the key may read runs of.
func TestAllWorkflowRuns(t *testing.T) {
	ctx := context.Background()
	l, url, admin, key := updateLake(t)
	for _, name := range []string{"runs", "w1", "w2"} {
		if err := l.Workflows.CreateWorkflow(ctx, workflow.Workflow{Name: name, MaxConcurrentRuns: 5, Steps: []workflow.Step{{Name: "a", SQL: "SELECT 1"}}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"w1", "w2", "w1", "runs"} {
		if _, err := l.Workflows.Start(ctx, name, workflow.StartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := tclient.New(tclient.Config{API: url, Key: creds(admin)})
	if err != nil {
		t.Fatal(err)
	}
	names := func(rs []apitypes.WorkflowRun) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Workflow)
		}
		return strings.Join(out, ",")
	}
	local, err := l.Workflows.Runs(ctx, "", 20)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range local {
		want = append(want, r.Workflow)
	}
	got, err := c.Workflows().Runs(ctx, "", 20)
	if err != nil || names(got) != strings.Join(want, ",") || len(got) != 4 {
		t.Errorf("all runs through the API: %q %v, want %q", names(got), err, want)
	}
	// A workflow named "runs" is still a workflow, not the list.
	if got, err := c.Workflows().Runs(ctx, "runs", 20); err != nil || names(got) != "runs" {
		t.Errorf("runs of workflow runs: %q %v", names(got), err)
	}
	if got, err := c.Workflows().Runs(ctx, "", 2); err != nil || len(got) != 2 {
		t.Errorf("limit 2: %d %v", len(got), err)
	}
	w1 := key("w1reader", `[{"Effect": "Allow", "Action": "glue:GetWorkflowRuns", "Resource": "arn:aws:glue:*:*:workflow/w1"}]`)
	kc, err := tclient.New(tclient.Config{API: url, Key: creds(w1)})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := kc.Workflows().Runs(ctx, "", 20); err != nil || names(got) != "w1,w1" {
		t.Errorf("runs a key allowed on w1 sees: %q %v", names(got), err)
	}
	if got, err := kc.Workflows().Runs(ctx, "", 1); err != nil || names(got) != "w1" {
		t.Errorf("limit 1 for a key allowed on w1: %q %v", names(got), err)
	}
	none := key("noreader", `[{"Effect": "Allow", "Action": "glue:GetJob", "Resource": "*"}]`)
	nc, err := tclient.New(tclient.Config{API: url, Key: creds(none)})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := nc.Workflows().Runs(ctx, "", 20); err != nil || len(got) != 0 {
		t.Errorf("a key allowed on no workflow: %q %v", names(got), err)
	}
}
