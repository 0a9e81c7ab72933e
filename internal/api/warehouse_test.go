package api_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/tarn-lake/tarn/internal/api"
	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/lake"
)

// TestWarehouseListing: GET /api/v1/warehouse lists tables, views and
// materialized views with their columns and refresh state, only those the
// key may read (redshift:ReadData).
func TestWarehouseListing(t *testing.T) {
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
		"CREATE SCHEMA analytics",
		"CREATE TABLE analytics.sales (id INT, region VARCHAR(20), amount DECIMAL(10,2))",
		"INSERT INTO analytics.sales VALUES (1, 'north', 10), (2, 'south', 20), (3, 'north', 5)",
		"CREATE VIEW analytics.north AS SELECT * FROM analytics.sales WHERE region = 'north'",
		"CREATE MATERIALIZED VIEW analytics.by_region AS SELECT region, sum(amount) AS total FROM analytics.sales GROUP BY region",
	} {
		if _, _, err := l.Query.Run(ctx, q, ""); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	admin, _, err := l.Auth.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := api.New(api.DefaultConfig(), api.Deps{DB: l.Meta.SQL(), Auth: l.Auth, Queries: l.Query, Catalog: l.Catalog, Crawlers: l.Crawlers,
		Jobs: l.Jobs, Store: l.Store, Warehouse: l.Warehouse})
	t.Cleanup(a.Close)
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)

	list := func(k auth.Key) (int, apitypes.Warehouse) {
		t.Helper()
		st, body := bearer(t, srv.URL, "GET", "/api/v1/warehouse", k, "")
		var w apitypes.Warehouse
		if st == 200 {
			if err := json.Unmarshal([]byte(body), &w); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
		}
		return st, w
	}
	st, w := list(admin)
	if st != 200 || len(w.Schemas) != 1 || w.Schemas[0] != "analytics" || len(w.Relations) != 3 {
		t.Fatalf("admin: %d %+v", st, w)
	}
	by := map[string]apitypes.WarehouseRelation{}
	for _, r := range w.Relations {
		by[r.Name] = r
	}
	if r := by["sales"]; r.Kind != "table" || len(r.Columns) != 3 || r.Columns[2].Name != "amount" || r.Columns[2].Type != "DECIMAL(10,2)" {
		t.Errorf("sales: %+v", r)
	}
	if r := by["north"]; r.Kind != "view" || r.Definition == "" {
		t.Errorf("north: %+v", r)
	}
	if r := by["by_region"]; r.Kind != "materialized view" || r.RefreshedAt.IsZero() || r.RefreshRows != 2 || len(r.BaseTables) == 0 {
		t.Errorf("by_region: %+v", r)
	}
	// A key that may read the materialized view only.
	pol, err := auth.ParsePolicy([]byte(`{"Statement": {"Effect": "Allow", "Action": "redshift:ReadData", "Resource": "arn:aws:glue:*:*:table/analytics/by_region"}}`))
	if err != nil {
		t.Fatal(err)
	}
	k, err := l.Auth.CreateKey(ctx, "bi", pol)
	if err != nil {
		t.Fatal(err)
	}
	if st, w := list(k); st != 200 || len(w.Relations) != 1 || w.Relations[0].Name != "by_region" {
		t.Errorf("bi key: %d %+v", st, w)
	}
	// One that may read nothing there sees nothing.
	pol, _ = auth.ParsePolicy([]byte(`{"Statement": {"Effect": "Allow", "Action": "glue:GetDatabases", "Resource": "*"}}`))
	none, err := l.Auth.CreateKey(ctx, "none", pol)
	if err != nil {
		t.Fatal(err)
	}
	if st, w := list(none); st != 200 || len(w.Relations) != 0 || len(w.Schemas) != 0 {
		t.Errorf("a key without redshift:ReadData: %d %+v", st, w)
	}
}
