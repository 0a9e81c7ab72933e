package api_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/api"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
)

type trustLake struct {
	l     *lake.Lake
	async *query.Async
	url   string
	admin *client
}

// openTrustLake serves the quickstart lake (crawled) through the REST API.
func openTrustLake(t *testing.T) *trustLake {
	t.Helper()
	ctx := context.Background()
	l, err := lake.Open(ctx, lakeConfig(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if _, _, err := l.SeedQuickstart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Crawlers.Start(ctx, lake.QuickstartCrawler, crawler.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	admin, _, err := l.Auth.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	async := l.Query.NewAsync(query.AsyncConfig{MaxConcurrent: 2, ResultLocation: storage.URI{Bucket: "lake", Key: "athena-results/"}})
	t.Cleanup(async.Close)
	a := api.New(api.DefaultConfig(), api.Deps{DB: l.Meta.SQL(), Auth: l.Auth, Queries: l.Query, Async: async, Catalog: l.Catalog, Crawlers: l.Crawlers, Jobs: l.Jobs, Store: l.Store})
	t.Cleanup(a.Close)
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return &trustLake{l: l, async: async, url: srv.URL, admin: &client{t: t, url: srv.URL, key: admin}}
}

func (tl *trustLake) key(t *testing.T, name, policy string) *client {
	t.Helper()
	pol, err := auth.ParsePolicy([]byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	k, err := tl.l.Auth.CreateKey(context.Background(), name, pol)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, url: tl.url, key: k}
}

// start submits a query and returns its id.
func start(t *testing.T, c *client, body map[string]any) string {
	t.Helper()
	var out map[string]any
	if code := c.do("POST", "/api/v1/queries", body, &out); code != 200 {
		t.Fatalf("start %v: %d %v", body, code, out)
	}
	return out["id"].(string)
}

// waitFor polls an execution until it is in one of states, for as long as
// the test may run.
func waitFor(t *testing.T, c *client, id string, states ...string) query.Execution {
	t.Helper()
	ctx := t.Context()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var ex query.Execution
		if code := c.do("GET", "/api/v1/queries/"+id, nil, &ex); code != 200 {
			t.Fatalf("get query %s: %d", id, code)
		}
		for _, st := range states {
			if ex.State == st {
				return ex
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("query %s is %s, want one of %v", id, ex.State, states)
		case <-tick.C:
		}
	}
}

const readSales = `
  {"Effect": "Allow", "Action": ["glue:GetTable"], "Resource": "arn:aws:glue:*:*:table/etl_pipeline_db/sales"},
  {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::lake/raw/sales/*"}`

// TestStartQueryUnknownField: the body of POST /api/v1/queries is strict,
// as the docs promise: a misspelt field is a 400 that names it.
func TestStartQueryUnknownField(t *testing.T) {
	tl := openTrustLake(t)
	var e map[string]map[string]string
	code := tl.admin.do("POST", "/api/v1/queries", map[string]any{"sql": "SELECT 1", "work_group": "primary"}, &e)
	if code != 400 || !strings.Contains(e["error"]["message"], "work_group") {
		t.Errorf("unknown field: %d %v", code, e)
	}
}

// TestWorkgroupResultLocation: results are written as the key's
// s3:PutObject on the workgroup's result location, checked when a key sets
// the location and when a query writes its result.
func TestWorkgroupResultLocation(t *testing.T) {
	tl := openTrustLake(t)
	ctx := context.Background()
	// May manage workgroups and run queries, write results only under
	// athena-results/.
	k := tl.key(t, "wgadmin", `{"Statement": [
  {"Effect": "Allow", "Action": ["athena:*"], "Resource": "*"},
  {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "arn:aws:s3:::lake/athena-results/*"},`+readSales+`]}`)
	var e map[string]map[string]string
	if code := k.do("POST", "/api/v1/workgroups", map[string]any{"name": "bad", "result_location": "s3://lake/raw/sales/"}, &e); code != 403 || e["error"]["code"] != "AccessDenied" {
		t.Errorf("create with a table's folder as result location: %d %v", code, e)
	}
	if code := k.do("PUT", "/api/v1/workgroups/primary", map[string]any{"result_location": "s3://lake/raw/sales/"}, &e); code != 403 {
		t.Errorf("update primary to a table's folder: %d %v", code, e)
	}
	if code := k.do("POST", "/api/v1/workgroups", map[string]any{"name": "good", "result_location": "s3://lake/athena-results/good/"}, nil); code != 200 {
		t.Errorf("create with an allowed location: %d", code)
	}
	// Not even the admin may put results in a table's folder.
	if code := tl.admin.do("POST", "/api/v1/workgroups", map[string]any{"name": "rawwg", "result_location": "s3://lake/raw/"}, &e); code != 400 || !strings.Contains(e["error"]["message"], "etl_pipeline_db.") {
		t.Errorf("admin putting results over tables: %d %v", code, e)
	}
	// The admin may point a workgroup where the key may not write; a query
	// of the key there fails before it writes anything.
	if code := tl.admin.do("POST", "/api/v1/workgroups", map[string]any{"name": "otherwg", "result_location": "s3://lake/other-results/"}, nil); code != 200 {
		t.Fatalf("admin create: %d", code)
	}
	id := start(t, k, map[string]any{"sql": "SELECT count(*) FROM sales", "database": "etl_pipeline_db", "workgroup": "otherwg"})
	ex := waitFor(t, k, id, query.StateSucceeded, query.StateFailed)
	if ex.State != query.StateFailed || !strings.Contains(ex.Error, "s3:PutObject") {
		t.Errorf("query writing where its key may not: %+v", ex)
	}
	for o, err := range storage.Walk(ctx, tl.l.Store, "lake", "other-results/") {
		if err == nil {
			t.Errorf("result written without s3:PutObject: %s", o.Key)
		}
	}
	id = start(t, k, map[string]any{"sql": "SELECT count(*) FROM sales", "database": "etl_pipeline_db", "workgroup": "good"})
	if ex := waitFor(t, k, id, query.StateSucceeded, query.StateFailed); ex.State != query.StateSucceeded {
		t.Errorf("query with an allowed result location: %+v", ex)
	}
}

// TestQueryExecutionsPerKey: a key sees, reads and cancels its own
// executions; another key's only with the Athena action on its workgroup.
func TestQueryExecutionsPerKey(t *testing.T) {
	tl := openTrustLake(t)
	own := `{"Effect": "Allow", "Action": ["athena:StartQueryExecution"], "Resource": "arn:aws:athena:*:*:workgroup/primary"},
  {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "arn:aws:s3:::lake/athena-results/*"},` + readSales
	a := tl.key(t, "alice", `{"Statement": [`+own+`]}`)
	b := tl.key(t, "bob", `{"Statement": [`+own+`]}`)
	auditor := tl.key(t, "auditor", `{"Statement": [
  {"Effect": "Allow", "Action": ["athena:GetQueryExecution", "athena:GetQueryResults"], "Resource": "arn:aws:athena:*:*:workgroup/primary"}]}`)

	id := start(t, a, map[string]any{"sql": "SELECT 'secret' AS s, count(*) FROM sales", "database": "etl_pipeline_db"})
	if ex := waitFor(t, a, id, query.StateSucceeded, query.StateFailed); ex.State != query.StateSucceeded {
		t.Fatalf("alice's query: %+v", ex)
	}
	var page query.ResultPage
	if code := a.do("GET", "/api/v1/queries/"+id+"/results", nil, &page); code != 200 || len(page.Values) != 1 {
		t.Errorf("alice's own results: %d %+v", code, page)
	}
	var e map[string]map[string]string
	for _, req := range [][2]string{{"GET", "/api/v1/queries/" + id}, {"GET", "/api/v1/queries/" + id + "/results"}, {"DELETE", "/api/v1/queries/" + id}} {
		if code := b.do(req[0], req[1], nil, &e); code != 403 || e["error"]["code"] != "AccessDenied" {
			t.Errorf("bob %s %s: %d %v", req[0], req[1], code, e)
		}
	}
	var list []query.Execution
	if code := b.do("GET", "/api/v1/queries", nil, &list); code != 200 || len(list) != 0 {
		t.Errorf("bob's listing shows others' executions: %d %+v", code, list)
	}
	if code := a.do("GET", "/api/v1/queries", nil, &list); code != 200 || len(list) != 1 || list[0].ID != id {
		t.Errorf("alice's listing: %d %+v", code, list)
	}
	// Downloads: the whole result as CSV or Parquet, hers only.
	code, h, csv := a.fetch("GET", "/api/v1/queries/"+id+"/download", nil)
	if code != 200 || h.Get("Content-Disposition") != `attachment; filename="`+id+`.csv"` || !strings.HasPrefix(string(csv), "\"s\",") || !strings.Contains(string(csv), "\"secret\",") {
		t.Errorf("alice's CSV download: %d %v %q", code, h, csv)
	}
	code, h, pq := a.fetch("GET", "/api/v1/queries/"+id+"/download?format=parquet", nil)
	if code != 200 || h.Get("Content-Type") != "application/vnd.apache.parquet" || !bytes.HasPrefix(pq, []byte("PAR1")) || !bytes.HasSuffix(pq, []byte("PAR1")) {
		t.Errorf("alice's Parquet download: %d %v %d bytes", code, h, len(pq))
	}
	if code := a.do("GET", "/api/v1/queries/"+id+"/download?format=xlsx", nil, &e); code != 400 || !strings.Contains(e["error"]["message"], "want csv or parquet") {
		t.Errorf("unknown format: %d %v", code, e)
	}
	for _, f := range []string{"csv", "parquet"} {
		if code := b.do("GET", "/api/v1/queries/"+id+"/download?format="+f, nil, &e); code != 403 || e["error"]["code"] != "AccessDenied" {
			t.Errorf("bob downloading alice's result as %s: %d %v", f, code, e)
		}
	}
	// Allowed by policy on the workgroup: the auditor and the admin.
	if code := auditor.do("GET", "/api/v1/queries/"+id+"/results", nil, &page); code != 200 || len(page.Values) != 1 {
		t.Errorf("auditor reading alice's results: %d %+v", code, page)
	}
	if code, _, pq := auditor.fetch("GET", "/api/v1/queries/"+id+"/download?format=parquet", nil); code != 200 || !bytes.HasPrefix(pq, []byte("PAR1")) {
		t.Errorf("auditor downloading alice's result: %d", code)
	}
	if code := auditor.do("DELETE", "/api/v1/queries/"+id, nil, &e); code != 403 {
		t.Errorf("auditor cancelling without athena:StopQueryExecution: %d", code)
	}
	if code := tl.admin.do("GET", "/api/v1/queries", nil, &list); code != 200 || len(list) != 1 {
		t.Errorf("admin's listing: %d %+v", code, list)
	}
}

// runaway runs for as long as nobody stops it: a cross join of a million
// rows by a million, its whole result kept.
const runaway = "SELECT * FROM range(1000000) a CROSS JOIN range(1000000) b"

// TestCancelRunaway: DELETE interrupts DuckDB; the query ends CANCELLED and
// the sessions it held serve the next queries.
func TestCancelRunaway(t *testing.T) {
	tl := openTrustLake(t)
	id := start(t, tl.admin, map[string]any{"sql": runaway})
	waitFor(t, tl.admin, id, query.StateRunning)
	var ex query.Execution
	if code := tl.admin.do("DELETE", "/api/v1/queries/"+id, nil, &ex); code != 200 {
		t.Fatalf("cancel: %d", code)
	}
	if ex = waitFor(t, tl.admin, id, query.StateCancelled, query.StateFailed, query.StateSucceeded); ex.State != query.StateCancelled {
		t.Fatalf("runaway after DELETE: %+v", ex)
	}
	// Every session is free again: as many queries as the engine has
	// sessions, at once, all succeed.
	var ids []string
	for range tl.l.Engine.Sessions() {
		ids = append(ids, start(t, tl.admin, map[string]any{"sql": "SELECT count(*) FROM etl_pipeline_db.sales"}))
	}
	for _, id := range ids {
		if ex := waitFor(t, tl.admin, id, query.StateSucceeded, query.StateFailed, query.StateCancelled); ex.State != query.StateSucceeded {
			t.Errorf("query after the cancel: %+v", ex)
		}
	}
}

// TestQueryTimeout: a query running longer than its workgroup's timeout
// ends FAILED, saying which limit stopped it.
func TestQueryTimeout(t *testing.T) {
	tl := openTrustLake(t)
	if code := tl.admin.do("POST", "/api/v1/workgroups", map[string]any{"name": "short", "query_timeout_seconds": 1}, nil); code != 200 {
		t.Fatalf("create workgroup: %d", code)
	}
	var wg query.Workgroup
	if tl.admin.do("GET", "/api/v1/workgroups/primary", nil, &wg); wg.QueryTimeout() != query.DefaultQueryTimeout {
		t.Errorf("primary's timeout: %v", wg.QueryTimeout())
	}
	id := start(t, tl.admin, map[string]any{"sql": runaway, "workgroup": "short"})
	ex := waitFor(t, tl.admin, id, query.StateCancelled, query.StateFailed, query.StateSucceeded)
	if ex.State != query.StateFailed || !strings.Contains(ex.Error, "query timeout of workgroup \"short\"") {
		t.Errorf("runaway in a workgroup with a 1 s timeout: %+v", ex)
	}
	id = start(t, tl.admin, map[string]any{"sql": "SELECT 1", "workgroup": "short"})
	if ex := waitFor(t, tl.admin, id, query.StateSucceeded, query.StateFailed); ex.State != query.StateSucceeded {
		t.Errorf("a short query after the timeout: %+v", ex)
	}
}

// TestResultCap: DuckDB materialises a result outside its memory_limit, so
// a query returning more rows than its workgroup allows is stopped by DuckDB
// at the cap and ends FAILED, instead of growing the server without bound.
// Duplicate column names survive the capping.
func TestResultCap(t *testing.T) {
	tl := openTrustLake(t)
	if code := tl.admin.do("POST", "/api/v1/workgroups", map[string]any{"name": "capped", "max_result_rows": 1000}, nil); code != 200 {
		t.Fatalf("create workgroup: %d", code)
	}
	// Without the cap this returns 10^12 rows: only the cap ends it.
	id := start(t, tl.admin, map[string]any{"sql": runaway, "workgroup": "capped"})
	ex := waitFor(t, tl.admin, id, query.StateCancelled, query.StateFailed, query.StateSucceeded)
	if ex.State != query.StateFailed || !strings.Contains(ex.Error, "more than 1000 rows") || !strings.Contains(ex.Error, "UNLOAD") {
		t.Errorf("runaway result: %+v", ex)
	}
	id = start(t, tl.admin, map[string]any{"sql": "SELECT range AS a, range + 1 AS a FROM range(1000) ORDER BY range DESC", "workgroup": "capped"})
	if ex := waitFor(t, tl.admin, id, query.StateSucceeded, query.StateFailed); ex.State != query.StateSucceeded || ex.Stats.Rows != 1000 {
		t.Fatalf("a result at the cap: %+v", ex)
	}
	var page query.ResultPage
	tl.admin.do("GET", "/api/v1/queries/"+id+"/results?max_results=1", nil, &page)
	if len(page.Columns) != 2 || page.Columns[0].Name != "a" || page.Columns[1].Name != "a" || len(page.Values) != 1 || page.Values[0][0] != 999.0 {
		t.Errorf("capped result: %+v", page)
	}
}
