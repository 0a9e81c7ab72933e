package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/tarn-lake/tarn/internal/api"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
)

type client struct {
	t   *testing.T
	url string
	key auth.Key
}

// do sends a SigV4-signed request (service execute-api) and decodes JSON.
func (c *client) do(method, path string, body any, out any) int {
	c.t.Helper()
	code, _, data := c.fetch(method, path, body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, path, code, data, err)
		}
	}
	return code
}

// fetch sends a signed request and returns the whole answer.
func (c *client) fetch(method, path string, body any) (int, http.Header, []byte) {
	c.t.Helper()
	var payload []byte
	if body != nil {
		payload, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, c.url+path, bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(payload)
	if c.key.AccessKeyID != "" {
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.key.AccessKeyID, SecretAccessKey: c.key.SecretAccessKey},
			req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now())
		if err != nil {
			c.t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: %d: reading the answer: %v", method, path, resp.StatusCode, err)
	}
	return resp.StatusCode, resp.Header, data
}

func TestQueryFlow(t *testing.T) {
	ctx := context.Background()
	l, err := lake.Open(ctx, lakeConfig(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
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
	policy, _ := auth.ParsePolicy([]byte(`{"Statement": [
		{"Effect": "Allow", "Action": ["athena:*"], "Resource": "*"},
		{"Effect": "Allow", "Action": ["glue:GetTable"], "Resource": "arn:aws:glue:*:*:table/etl_pipeline_db/sales"},
		{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::lake/raw/sales/*"},
		{"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "arn:aws:s3:::lake/athena-results/*"}]}`))
	analyst, err := l.Auth.CreateKey(ctx, "analyst", policy)
	if err != nil {
		t.Fatal(err)
	}
	async := l.Query.NewAsync(query.AsyncConfig{MaxConcurrent: 2, ResultLocation: storage.URI{Bucket: "lake", Key: "athena-results/"}})
	defer async.Close()
	a := api.New(api.DefaultConfig(), api.Deps{DB: l.Meta.SQL(), Auth: l.Auth, Queries: l.Query, Async: async, Catalog: l.Catalog, Crawlers: l.Crawlers, Jobs: l.Jobs, Store: l.Store})
	defer a.Close()
	srv := httptest.NewServer(a)
	defer srv.Close()
	c := &client{t: t, url: srv.URL, key: admin}

	wait := func(c *client, id string) query.Execution {
		t.Helper()
		for i := 0; i < 500; i++ {
			var ex query.Execution
			if code := c.do("GET", "/api/v1/queries/"+id, nil, &ex); code != 200 {
				t.Fatalf("get query: %d", code)
			}
			if ex.State != query.StateQueued && ex.State != query.StateRunning {
				return ex
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("query never finished")
		return query.Execution{}
	}
	var started map[string]string
	if code := c.do("POST", "/api/v1/queries", map[string]string{"sql": "SELECT region, count(*) AS n FROM sales GROUP BY region ORDER BY region", "database": "etl_pipeline_db"}, &started); code != 200 || started["id"] == "" {
		t.Fatalf("start: %d %v", code, started)
	}
	ex := wait(c, started["id"])
	if ex.State != query.StateSucceeded || ex.Stats.Rows != 5 || ex.Stats.BytesScanned == 0 {
		t.Fatalf("execution: %+v", ex)
	}
	var page query.ResultPage
	if code := c.do("GET", "/api/v1/queries/"+started["id"]+"/results?max_results=2", nil, &page); code != 200 || len(page.Values) != 2 || page.Values[0][0] != "Central" || page.NextToken == "" {
		t.Errorf("results: %d %+v", code, page)
	}
	// Typed: the count is a JSON number, the columns carry Athena's types.
	if len(page.Values) > 0 && len(page.Columns) == 2 {
		if _, isNum := page.Values[0][1].(float64); !isNum || page.Columns[0].AthenaType != "varchar" || page.Columns[1].AthenaType != "bigint" {
			t.Errorf("result types: %+v %#v", page.Columns, page.Values[0])
		}
	} else {
		t.Errorf("result columns: %+v", page.Columns)
	}
	var tables []map[string]any
	if code := c.do("GET", "/api/v1/databases/etl_pipeline_db/tables", nil, &tables); code != 200 || len(tables) != 2 {
		t.Errorf("tables: %d %v", code, tables)
	}

	// The analyst may read sales but not orders: that query fails AccessDenied.
	an := &client{t: t, url: srv.URL, key: analyst}
	an.do("POST", "/api/v1/queries", map[string]string{"sql": "SELECT count(*) FROM etl_pipeline_db.sales"}, &started)
	if ex := wait(an, started["id"]); ex.State != query.StateSucceeded {
		t.Errorf("analyst on sales: %+v", ex)
	}
	an.do("POST", "/api/v1/queries", map[string]string{"sql": "SELECT count(*) FROM etl_pipeline_db.orders"}, &started)
	if ex := wait(an, started["id"]); ex.State != query.StateFailed || !strings.Contains(ex.Error, "AccessDenied") && !strings.Contains(ex.Error, "access denied") {
		t.Errorf("analyst on orders: %+v", ex)
	}
	if code := an.do("GET", "/api/v1/databases", nil, nil); code != 403 {
		t.Errorf("analyst listing databases: %d", code)
	}

	// No signature, wrong secret, bad body, unknown query.
	if code := (&client{t: t, url: srv.URL}).do("GET", "/api/v1/databases", nil, nil); code != 403 {
		t.Errorf("unsigned: %d", code)
	}
	bad := admin
	bad.SecretAccessKey = strings.Repeat("y", 40)
	var e map[string]map[string]string
	if code := (&client{t: t, url: srv.URL, key: bad}).do("GET", "/api/v1/databases", nil, &e); code != 403 || e["error"]["code"] != "SignatureDoesNotMatch" {
		t.Errorf("wrong secret: %d %v", code, e)
	}
	if code := c.do("POST", "/api/v1/queries", "not an object", &e); code != 400 {
		t.Errorf("bad body: %d %v", code, e)
	}
	if code := c.do("GET", "/api/v1/queries/nope", nil, &e); code != 404 {
		t.Errorf("unknown query: %d", code)
	}

	// Cancel a long query.
	c.do("POST", "/api/v1/queries", map[string]string{"sql": "SELECT count(*) FROM range(10000000000) a WHERE a.range % 7 = 1"}, &started)
	// Cancelled once it runs, not while it waits for its slot.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var ex query.Execution
		if code := c.do("GET", "/api/v1/queries/"+started["id"], nil, &ex); code != 200 || ex.State != query.StateQueued {
			if code != 200 || ex.State != query.StateRunning {
				t.Fatalf("long query before its cancel: %d %+v", code, ex)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the long query never started")
		}
	}
	var cancelled query.Execution
	c.do("DELETE", "/api/v1/queries/"+started["id"], nil, &cancelled)
	if ex := wait(c, started["id"]); ex.State != query.StateCancelled {
		t.Errorf("cancelled query: %+v", ex)
	}

	// Crawlers and jobs: start in the server, then read the runs.
	var st map[string]string
	if code := c.do("POST", "/api/v1/crawlers/"+lake.QuickstartCrawler+"/start", map[string]bool{"dry_run": true}, &st); code != 200 || st["state"] != "RUNNING" {
		t.Errorf("start crawler: %d %v", code, st)
	}
	if err := l.DefineQuickstartJobs(ctx); err != nil {
		t.Fatal(err)
	}
	c.do("POST", "/api/v1/jobs/sales_to_curated/start", map[string]any{}, &st)
	var runs []jobs.Run
	for i := 0; i < 500; i++ {
		c.do("GET", "/api/v1/jobs/sales_to_curated/runs", nil, &runs)
		if len(runs) == 1 && runs[0].State == jobs.StateSucceeded {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(runs) != 1 || runs[0].State != jobs.StateSucceeded || runs[0].Stats.RowsWritten != 1000 {
		t.Fatalf("job runs: %+v", runs)
	}
	var run jobs.Run
	if code := c.do("GET", "/api/v1/job-runs/"+runs[0].ID, nil, &run); code != 200 || len(run.Log) == 0 {
		t.Errorf("job run: %d %+v", code, run)
	}
	if code := c.do("POST", "/api/v1/job-runs/"+runs[0].ID+"/stop", nil, &e); code != 409 {
		t.Errorf("stopping a finished run: %d %v", code, e)
	}
	if code := c.do("GET", "/api/v1/jobs/nope", nil, &e); code != 404 {
		t.Errorf("unknown job: %d", code)
	}
	var listing storage.ListResult
	if code := c.do("GET", "/api/v1/buckets/lake/objects?prefix=raw/&delimiter=/", nil, &listing); code != 200 || len(listing.CommonPrefixes) != 2 {
		t.Errorf("objects: %d %+v", code, listing)
	}
	resp, err := http.Get(srv.URL + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if doc["openapi"] != "3.0.3" || doc["paths"].(map[string]any)["/api/v1/queries/{id}/results"] == nil {
		t.Errorf("openapi document: %v", doc["openapi"])
	}

	resp, err = http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("anonymous /metrics: %d", resp.StatusCode)
	}
	mreq, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
	mreq.Header.Set("Authorization", "Bearer "+auth.Token(admin))
	resp, err = http.DefaultClient.Do(mreq)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The analyst's token works for the API too, within its policy.
	treq, _ := http.NewRequest("GET", srv.URL+"/api/v1/databases", nil)
	treq.Header.Set("Authorization", "Bearer "+auth.Token(analyst))
	if resp, err := http.DefaultClient.Do(treq); err != nil || resp.StatusCode != 403 {
		t.Errorf("analyst token on databases: %v %v", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	for _, want := range []string{`tarn_job_runs{state="SUCCEEDED"} 1`, `tarn_query_executions{state="CANCELLED"} 1`, "tarn_query_data_scanned_bytes_total", "tarn_job_rows_rejected_total 0", `tarn_query_duration_seconds_bucket{le="300"}`, "tarn_query_duration_seconds_count"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !strings.Contains(string(metrics), `tarn_api_requests_total{route="POST /api/v1/queries",status="200"}`) {
		t.Errorf("metrics lack request counts:\n%s", metrics)
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
