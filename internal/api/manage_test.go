package api_test

import (
	"context"
	"encoding/json"
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
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
)

// TestManage defines, runs and deletes crawlers, jobs, workgroups and keys
// through the API, with the CLI's client and with raw signed requests.
func TestManage(t *testing.T) {
	ctx := context.Background()
	l, err := lake.Open(ctx, lakeConfig(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, _, err := l.SeedQuickstart(ctx); err != nil {
		t.Fatal(err)
	}
	admin, _, err := l.Auth.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	async := l.Query.NewAsync(query.AsyncConfig{MaxConcurrent: 2, ResultLocation: storage.URI{Bucket: "lake", Key: "athena-results/"}})
	defer async.Close()
	a := api.New(api.DefaultConfig(), api.Deps{DB: l.Meta.SQL(), Auth: l.Auth, Queries: l.Query, Async: async, Catalog: l.Catalog, Crawlers: l.Crawlers, Jobs: l.Jobs, Store: l.Store})
	defer a.Close()
	srv := httptest.NewServer(a)
	defer srv.Close()
	c, err := tclient.New(tclient.Config{API: srv.URL, Key: creds(admin)})
	if err != nil {
		t.Fatal(err)
	}
	raw := &client{t: t, url: srv.URL, key: admin}
	code := func(err error) string {
		t.Helper()
		var e *tclient.Error
		if !errors.As(err, &e) {
			t.Fatalf("not a server error: %v", err)
		}
		return e.Code
	}

	// Crawlers: create, a duplicate, a bad spec, start and follow, delete.
	cr := c.Crawlers()
	spec := apitypes.CrawlerSpec{Name: "c1", Database: "db1", Targets: []string{"s3://lake/raw/"}}
	if err := cr.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Crawlers.Get(ctx, "c1"); err != nil || got.Database != "db1" || got.SchemaChangePolicy != crawler.SchemaChangeUpdate {
		t.Errorf("created crawler: %+v %v", got, err)
	}
	if err := cr.Create(ctx, spec); code(err) != "AlreadyExists" {
		t.Errorf("duplicate crawler: %v", err)
	}
	if err := cr.Create(ctx, apitypes.CrawlerSpec{Name: "c2", Database: "db1", Targets: []string{"/not/s3"}}); code(err) != "InvalidRequest" {
		t.Errorf("bad crawler: %v", err)
	}
	var e map[string]map[string]string
	if st := raw.do("POST", "/api/v1/crawlers", map[string]any{"name": "c3", "databse": "x"}, &e); st != 400 || !strings.Contains(e["error"]["message"], "databse") {
		t.Errorf("misspelt field: %d %v", st, e)
	}
	var progress []apitypes.CrawlerProgress
	run, err := cr.Start(ctx, "c1", tclient.CrawlOptions{Progress: func(p apitypes.CrawlerProgress) { progress = append(progress, p) }})
	if err != nil || run.State != crawler.StateSucceeded || len(run.TablesCreated) != 2 || run.FilesScanned == 0 {
		t.Fatalf("crawl through the API: %+v %v", run, err)
	}
	if tbl, err := l.Catalog.GetTable(ctx, "db1", "sales"); err != nil || tbl.Location != "s3://lake/raw/sales/" {
		t.Errorf("crawled table: %+v %v", tbl, err)
	}
	if got, err := cr.GetRun(ctx, run.ID); err != nil || got.State != crawler.StateSucceeded || got.Progress != nil {
		t.Errorf("crawler run: %+v %v", got, err)
	}
	if _, err := cr.Start(ctx, "nope", tclient.CrawlOptions{}); code(err) != "NotFound" {
		t.Errorf("unknown crawler: %v", err)
	}
	if err := cr.Delete(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := cr.Delete(ctx, "c1"); code(err) != "NotFound" {
		t.Errorf("deleting twice: %v", err)
	}

	// Catalog through the client equals the catalog.
	tables, err := c.Catalog().ListTables(ctx, "db1")
	local, _ := l.Catalog.ListTables(ctx, "db1")
	if err != nil || len(tables) != len(local) || tables[0].Name != local[0].Name || !tables[0].UpdatedAt.Equal(local[0].UpdatedAt) {
		t.Errorf("tables: %+v %v", tables, err)
	}
	if _, err := c.Catalog().GetTable(ctx, "db1", "nope"); code(err) != "NotFound" {
		t.Errorf("missing table: %v", err)
	}

	// Jobs: create (SQL checked), start and follow, log, bookmark, delete.
	jb := c.Jobs()
	job := apitypes.JobSpec{Name: "j1", SQL: "SELECT region, count(*) AS n FROM db1.sales GROUP BY region", Target: "s3://lake/curated/j1/", Bookmarks: true}
	if err := jb.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	if err := jb.Create(ctx, apitypes.JobSpec{Name: "j2", SQL: "SELECT nope FROM db1.sales", Target: "s3://lake/x/"}); code(err) != "InvalidRequest" || !strings.Contains(err.Error(), "nope") {
		t.Errorf("job with bad SQL: %v", err)
	}
	if st := raw.do("POST", "/api/v1/jobs", map[string]any{"name": "j3", "sql": "SELECT 1 AS x", "target": "s3://lake/j3/", "timeout": "90m"}, nil); st != 200 {
		t.Errorf("job with a duration timeout: %d", st)
	} else if got, _ := l.Jobs.Get(ctx, "j3"); got.Timeout.Minutes() != 90 {
		t.Errorf("timeout: %v", got.Timeout)
	}
	var lines []string
	jr, err := jb.Start(ctx, "j1", tclient.JobOptions{Progress: func(s string) { lines = append(lines, s) }})
	if err != nil || jr.State != jobs.StateSucceeded || jr.Stats.RowsRead != 1000 {
		t.Fatalf("job through the API: %+v %v", jr, err)
	}
	if got, err := jb.GetRun(ctx, jr.ID); err != nil || len(got.Log) == 0 {
		t.Errorf("job run log: %+v %v", got, err)
	}
	var logBody struct {
		Log []string
	}
	if st := raw.do("GET", "/api/v1/job-runs/"+jr.ID+"/log", nil, &logBody); st != 200 || len(logBody.Log) == 0 || !strings.Contains(logBody.Log[0], "attempt 1 of job j1 started") {
		t.Errorf("log endpoint: %d %v", st, logBody)
	}
	if n, err := jb.ResetBookmark(ctx, "j1"); err != nil || n != 1 {
		t.Errorf("reset bookmark: %d %v", n, err)
	}
	// A run that fails returns its run and ErrRunFailed, as a local run does.
	if err := jb.Create(ctx, apitypes.JobSpec{Name: "bad", SQL: "SELECT error('boom') AS x, region FROM db1.sales", Target: "s3://lake/bad/"}); err != nil {
		t.Fatal(err)
	}
	fr, err := jb.Start(ctx, "bad", tclient.JobOptions{})
	if !errors.Is(err, tclient.ErrJobRunFailed) || fr.State != jobs.StateFailed || !strings.Contains(err.Error(), "boom") {
		t.Errorf("failing job: %+v %v", fr, err)
	}
	if _, err := jb.Start(ctx, "nope", tclient.JobOptions{}); code(err) != "NotFound" {
		t.Errorf("unknown job: %v", err)
	}
	if err := jb.Delete(ctx, "j1"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Jobs.Get(ctx, "j1"); !errors.Is(err, jobs.ErrNoSuchJob) {
		t.Errorf("deleted job: %v", err)
	}

	// Workgroups.
	q := c.Queries()
	if err := q.CreateWorkgroup(ctx, apitypes.Workgroup{Name: "wg", BytesScannedCutoff: 1 << 20, RequirePartitionFilter: []string{"DB1.Sales"}}); err != nil {
		t.Fatal(err)
	}
	if w, err := q.Workgroup(ctx, "wg"); err != nil || w.RequirePartitionFilter[0] != "db1.sales" || w.ResultLocation != query.DefaultResultLocation {
		t.Errorf("workgroup: %+v %v", w, err)
	}
	if err := q.CreateWorkgroup(ctx, apitypes.Workgroup{Name: "wg"}); code(err) != "AlreadyExists" {
		t.Errorf("duplicate workgroup: %v", err)
	}
	if err := q.CreateWorkgroup(ctx, apitypes.Workgroup{Name: "bad name"}); code(err) != "InvalidRequest" {
		t.Errorf("bad workgroup: %v", err)
	}
	if err := q.DeleteWorkgroup(ctx, "wg"); err != nil {
		t.Fatal(err)
	}
	if err := q.DeleteWorkgroup(ctx, "wg"); code(err) != "NotFound" {
		t.Errorf("deleting a workgroup twice: %v", err)
	}

	// Keys: an admin creates, lists and deletes; the secret is shown once.
	ks := c.Keys()
	pol := json.RawMessage(`{"Statement": [{"Effect": "Allow", "Action": "glue:*", "Resource": "*"}]}`)
	k, err := ks.CreateKey(ctx, "gluer", pol)
	if err != nil || k.SecretAccessKey == "" || k.Admin {
		t.Fatalf("create key: %+v %v", k, err)
	}
	list, err := ks.ListKeys(ctx)
	statements := 0
	if len(list) == 2 {
		if p, err := auth.ParsePolicy(list[1].Policy); err == nil {
			statements = len(p.Statements)
		}
	}
	if err != nil || len(list) != 2 || list[1].AccessKeyID != k.AccessKeyID || list[1].SecretAccessKey != "" || statements != 1 {
		t.Errorf("list keys: %+v %v", list, err)
	}
	if _, err := ks.CreateKey(ctx, "gluer", pol); code(err) != "AlreadyExists" {
		t.Errorf("duplicate key name: %v", err)
	}
	if st := raw.do("POST", "/api/v1/keys", map[string]any{"name": "x", "policy": map[string]any{"Statement": []map[string]string{{"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}}}}, &e); st != 400 || e["error"]["code"] != "MalformedPolicy" {
		t.Errorf("bad policy: %d %v", st, e)
	}
	// A key without iam actions may not manage keys, nor learn the others.
	gc, _ := tclient.New(tclient.Config{API: srv.URL, Key: apitypes.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}})
	if _, err := gc.Keys().ListKeys(ctx); code(err) != "AccessDenied" {
		t.Errorf("non-admin listing keys: %v", err)
	}
	if _, err := gc.Keys().CreateKey(ctx, "mine", pol); code(err) != "AccessDenied" {
		t.Errorf("non-admin creating a key: %v", err)
	}
	if _, err := gc.Catalog().ListDatabases(ctx); err != nil {
		t.Errorf("glue key on the catalog: %v", err)
	}
	if err := ks.DeleteKey(ctx, "TKNOSUCHKEY000000000"); code(err) != "NotFound" {
		t.Errorf("deleting an unknown key: %v", err)
	}
	if err := ks.DeleteKey(ctx, k.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	var ce *tclient.Error
	if _, err := gc.Catalog().ListDatabases(ctx); !errors.As(err, &ce) || !ce.Unauthenticated() {
		t.Errorf("deleted key still works: %v", err)
	}
	if err := ks.DeleteKey(ctx, admin.AccessKeyID); code(err) != "InvalidRequest" || !strings.Contains(err.Error(), "last admin") {
		t.Errorf("deleting the last admin key: %v", err)
	}
	// A wrong token is refused with a code that says so.
	bad, _ := tclient.New(tclient.Config{API: srv.URL, Token: "tarn_" + admin.AccessKeyID + "_00"})
	if _, err := bad.Catalog().ListDatabases(ctx); !errors.As(err, &ce) || !ce.Unauthenticated() || ce.Status != 403 {
		t.Errorf("wrong token: %v", err)
	}
}

// creds are a key's credentials, for a client.
func creds(k auth.Key) apitypes.Credentials {
	return apitypes.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}
}
