package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/api"
	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/lake"
)

func lineageLake(t *testing.T) (*lake.Lake, string, auth.Key) {
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
	for _, q := range []string{
		"CREATE DATABASE raw", "CREATE DATABASE secret", "CREATE DATABASE curated",
		"CREATE TABLE raw.orders WITH (external_location = 's3://lake/raw/orders/') AS SELECT 1 AS id, 'north' AS region",
		"CREATE TABLE secret.payroll WITH (external_location = 's3://lake/secret/payroll/') AS SELECT 'north' AS region, 100 AS salary",
		"CREATE TABLE curated.daily WITH (external_location = 's3://lake/curated/daily/') AS SELECT o.region, count(*) AS n, sum(p.salary) AS s FROM raw.orders o JOIN secret.payroll p USING (region) GROUP BY 1",
		"CREATE TABLE curated.top WITH (external_location = 's3://lake/curated/top/') AS SELECT region FROM curated.daily",
		"CREATE TABLE secret.audit WITH (external_location = 's3://lake/secret/audit/') AS SELECT region FROM curated.daily",
	} {
		if _, _, err := l.Query.Run(ctx, q, ""); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	admin, _, err := l.Auth.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := api.New(api.DefaultConfig(), api.Deps{DB: l.Meta.SQL(), Auth: l.Auth, Queries: l.Query, Catalog: l.Catalog, Crawlers: l.Crawlers, Jobs: l.Jobs, Store: l.Store})
	t.Cleanup(a.Close)
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return l, srv.URL, admin
}

func lineageKey(t *testing.T, l *lake.Lake, name, statements string) auth.Key {
	t.Helper()
	pol, err := auth.ParsePolicy([]byte(`{"Statement": [` + statements + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	k, err := l.Auth.CreateKey(context.Background(), name, pol)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// raw GETs or POSTs with a bearer token (as openlineage-python's api_key
// auth sends it) and returns the status and body.
func bearer(t *testing.T, url, method, path string, k auth.Key, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+auth.Token(k))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestLineageGraphAPI(t *testing.T) {
	l, url, admin := lineageLake(t)
	c := &client{t: t, url: url, key: admin}
	var g apitypes.LineageGraph
	if code := c.do("GET", "/api/v1/lineage?table=curated.daily", nil, &g); code != 200 {
		t.Fatalf("admin: %d", code)
	}
	var names []string
	for _, n := range g.Nodes {
		names = append(names, n.Dataset.Name)
	}
	if strings.Join(names, ",") != "raw.orders,secret.payroll,curated.daily,curated.top,secret.audit" {
		t.Fatalf("admin sees %q", names)
	}
	if w := g.Nodes[2].Write; w == nil || w.JobName != "query.primary" || w.Rows != 1 || w.RunID == "" {
		t.Fatalf("write of curated.daily = %+v", w)
	}
	if len(g.Events) != 3 {
		t.Fatalf("admin sees %d events", len(g.Events))
	}

	// The analyst may read raw and curated but not secret: payroll and
	// audit are hidden, the graph does not say who wrote audit, and no
	// event that names them is answered.
	analyst := lineageKey(t, l, "analyst", `{"Effect": "Allow", "Action": "glue:GetTable", "Resource": ["arn:aws:glue:*:*:table/raw/*", "arn:aws:glue:*:*:table/curated/*"]}`)
	ca := &client{t: t, url: url, key: analyst}
	code, body := bearer(t, url, "GET", "/api/v1/lineage?table=curated.daily", analyst, "")
	if code != 200 {
		t.Fatalf("analyst: %d %s", code, body)
	}
	for _, leak := range []string{"payroll", "audit", "secret", "salary"} {
		if strings.Contains(body, leak) {
			t.Errorf("the analyst's answer names %q: %s", leak, body)
		}
	}
	g = apitypes.LineageGraph{}
	if err := json.Unmarshal([]byte(body), &g); err != nil {
		t.Fatal(err)
	}
	hidden := 0
	for _, n := range g.Nodes {
		if n.Hidden {
			hidden++
			if n.Write != nil || n.Dataset.Namespace != "" || !strings.HasPrefix(n.Dataset.Name, "hidden-") {
				t.Errorf("hidden node %+v", n)
			}
		}
	}
	if hidden != 2 || len(g.Nodes) != 5 {
		t.Fatalf("analyst nodes = %+v", g.Nodes)
	}
	for _, e := range g.Edges {
		if strings.HasPrefix(e.Output.Name, "hidden-") && (e.JobName != "" || e.RunID != "") {
			t.Errorf("the writer of a hidden table is answered: %+v", e)
		}
	}
	// curated.daily's CTAS read payroll and audit's wrote a secret table:
	// only top's event is answered.
	if len(g.Events) != 1 || g.Events[0].Outputs[0].Name != "curated.top" {
		t.Errorf("analyst events: %+v", g.Events)
	}

	// Hostile: no rights on secret.payroll, no lineage of it, not even
	// whether it has any; a table that does not exist is 404 only to a key
	// that may read it.
	if code := ca.do("GET", "/api/v1/lineage?table=secret.payroll", nil, nil); code != 403 {
		t.Errorf("analyst reads payroll's lineage: %d", code)
	}
	if code := ca.do("GET", "/api/v1/lineage?table=secret.nothing", nil, nil); code != 403 {
		t.Errorf("analyst asks about secret.nothing: %d", code)
	}
	if code := ca.do("GET", "/api/v1/lineage?table=curated.nothing", nil, nil); code != 404 {
		t.Errorf("curated.nothing: %d", code)
	}
	for _, q := range []string{"table=curated", "table=a.b.c", "table=curated.daily&direction=sideways", "table=curated.daily&depth=0", "table=curated.daily&depth=x", "table=curated.daily&events=1000"} {
		if code := ca.do("GET", "/api/v1/lineage?"+q, nil, nil); code != 400 {
			t.Errorf("%s: %d, want 400", q, code)
		}
	}
	g = apitypes.LineageGraph{}
	if code := ca.do("GET", "/api/v1/lineage?table=curated.daily&direction=upstream&depth=1&events=0", nil, &g); code != 200 || len(g.Nodes) != 3 || len(g.Events) != 0 || g.Direction != "upstream" {
		t.Fatalf("upstream depth 1: %d %+v", code, g)
	}
}

const dbtEvent = `{
  "eventType": "COMPLETE",
  "eventTime": "2026-12-05T10:00:00.123456+00:00",
  "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.30.0/integration/dbt",
  "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
  "run": {"runId": "0193a0b4-7c1e-7cc2-9d3e-1f2a3b4c5d6e", "facets": {"parent": {"_producer": "x", "_schemaURL": "y", "run": {"runId": "0193a0b4-0000-7000-8000-000000000000"}, "job": {"namespace": "dbt", "name": "proj"}}}},
  "job": {"namespace": "dbt", "name": "proj.model.report", "facets": {"jobType": {"_producer": "x", "_schemaURL": "y", "processingType": "BATCH", "integration": "DBT", "jobType": "MODEL"}}},
  "inputs": [{"namespace": "awsathena://athena.us-east-1.amazonaws.com", "name": "awsdatacatalog.curated.daily", "facets": {}}],
  "outputs": [{"namespace": "awsathena://athena.us-east-1.amazonaws.com", "name": "awsdatacatalog.curated.report",
    "outputFacets": {"outputStatistics": {"_producer": "x", "_schemaURL": "y", "rowCount": 7}}}]
}`

func TestPostLineage(t *testing.T) {
	l, url, admin := lineageLake(t)
	poster := lineageKey(t, l, "dbt", `{"Effect": "Allow", "Action": "tarn:PutLineage", "Resource": "arn:aws:glue:*:*:table/curated/*"},
		{"Effect": "Allow", "Action": "glue:GetTable", "Resource": ["arn:aws:glue:*:*:table/curated/*", "arn:aws:glue:*:*:table/raw/*"]}`)
	code, body := bearer(t, url, "POST", "/api/v1/lineage", poster, dbtEvent)
	if code != 200 || !strings.Contains(body, `"eventType":"COMPLETE"`) {
		t.Fatalf("post: %d %s", code, body)
	}
	c := &client{t: t, url: url, key: admin}
	var g apitypes.LineageGraph
	if code := c.do("GET", "/api/v1/lineage?table=curated.report&direction=upstream&depth=1", nil, &g); code != 200 {
		t.Fatalf("get: %d", code)
	}
	if len(g.Nodes) != 2 || g.Nodes[0].Dataset.Name != "curated.daily" || g.Nodes[1].Write == nil || g.Nodes[1].Write.Rows != 7 ||
		g.Nodes[1].Write.JobName != "proj.model.report" || g.Nodes[1].Write.JobType != "MODEL" || g.Nodes[1].Write.RunID != "0193a0b4-7c1e-7cc2-9d3e-1f2a3b4c5d6e" {
		t.Fatalf("graph after a dbt-ol event: %+v", g.Nodes)
	}
	if len(g.Events) != 1 || g.Events[0].EventTime != "2026-12-05T10:00:00.123456Z" || string(g.Events[0].Run.Facets["parent"]) == "" {
		t.Fatalf("events: %+v", g.Events)
	}

	// Hostile posts: each refused, nothing recorded.
	for name, ev := range map[string]struct {
		body string
		code int
	}{
		"output the key may not write":      {strings.Replace(dbtEvent, "awsdatacatalog.curated.report", "awsdatacatalog.secret.payroll", 1), 403},
		"input the key may not read":        {strings.Replace(dbtEvent, "awsdatacatalog.curated.daily", "awsdatacatalog.secret.payroll", 1), 403},
		"object input it may not read":      {strings.Replace(dbtEvent, `"namespace": "awsathena://athena.us-east-1.amazonaws.com", "name": "awsdatacatalog.curated.daily"`, `"namespace": "s3://lake", "name": "secret"`, 1), 403},
		"external input":                    {strings.Replace(dbtEvent, `"namespace": "awsathena://athena.us-east-1.amazonaws.com", "name": "awsdatacatalog.curated.daily"`, `"namespace": "postgres://db:5432", "name": "app.public.users"`, 1), 403},
		"tarn's own job namespace":          {strings.Replace(dbtEvent, `"job": {"namespace": "dbt", "name": "proj.model`, `"job": {"namespace": "tarn://lake", "name": "proj.model`, 1), 400},
		"unknown event type":                {strings.Replace(dbtEvent, "COMPLETE", "DONE", 1), 400},
		"no event time":                     {strings.Replace(dbtEvent, `"2026-12-05T10:00:00.123456+00:00"`, `""`, 1), 400},
		"a field OpenLineage does not have": {strings.Replace(dbtEvent, `"eventType"`, `"evil": 1, "eventType"`, 1), 400},
		"no run id":                         {strings.Replace(dbtEvent, `"runId": "0193a0b4-7c1e-7cc2-9d3e-1f2a3b4c5d6e"`, `"runId": ""`, 1), 400},
		"not JSON":                          {`{"eventType": `, 400},
	} {
		code, body := bearer(t, url, "POST", "/api/v1/lineage", poster, ev.body)
		if code != ev.code {
			t.Errorf("%s: %d %s, want %d", name, code, body, ev.code)
		}
	}
	// A key without tarn:PutLineage at all.
	reader := lineageKey(t, l, "reader", `{"Effect": "Allow", "Action": "glue:GetTable", "Resource": "*"}`)
	if code, body := bearer(t, url, "POST", "/api/v1/lineage", reader, dbtEvent); code != 403 {
		t.Errorf("a reader posted: %d %s", code, body)
	}
	var n int
	if err := l.Meta.SQL().QueryRow(`SELECT COUNT(*) FROM catalog_lineage_events WHERE source != ''`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d posted events recorded: %v", n, err)
	}
	// A body over the API's limit is refused before it is read whole.
	big := bytes.Repeat([]byte("x"), 2<<20)
	if code, _ := bearer(t, url, "POST", "/api/v1/lineage", poster, `{"producer": "`+string(big)+`"}`); code != 413 {
		t.Errorf("a 2 MiB event: %d", code)
	}
}
