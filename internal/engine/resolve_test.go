package engine_test

import (
	"testing"

	"github.com/tarn-lake/tarn/internal/engine"
)

// TestResolveNames: where [catalog.][schema.]name points, Redshift's way.
func TestResolveNames(t *testing.T) {
	r := &engine.Relations{
		Schemas:  map[string]bool{"public": true, "analytics": true, "shop": true},
		Rels:     map[string]engine.RelationKind{"analytics.t": engine.KindTable, "shop.targets": engine.KindTable, "public.p": engine.KindTable},
		External: map[string]string{"raw": "etl_pipeline_db"},
	}
	for _, c := range []struct {
		cat, schema, name, defaultDB string
		want                         engine.Resolved
		err                          bool
	}{
		{"", "analytics", "t", "", engine.Resolved{Warehouse: true, Schema: "analytics", Name: "t"}, false},
		{"warehouse", "analytics", "T", "", engine.Resolved{Warehouse: true, Schema: "analytics", Name: "t"}, false},
		{"warehouse", "", "p", "", engine.Resolved{Warehouse: true, Schema: "public", Name: "p"}, false},
		// An external schema under the warehouse's name reads the lake
		// (dbt-postgres's "warehouse"."raw"."orders").
		{"warehouse", "raw", "orders", "", engine.Resolved{Schema: "etl_pipeline_db", Name: "orders"}, false},
		{"WAREHOUSE", "RAW", "Orders", "", engine.Resolved{Schema: "etl_pipeline_db", Name: "orders"}, false},
		{"", "raw", "orders", "", engine.Resolved{Schema: "etl_pipeline_db", Name: "orders"}, false},
		// A catalog database is not a warehouse schema under "warehouse".
		{"warehouse", "etl_pipeline_db", "orders", "", engine.Resolved{Warehouse: true, Schema: "etl_pipeline_db", Name: "orders"}, false},
		{"awsdatacatalog", "raw", "orders", "", engine.Resolved{Schema: "raw", Name: "orders"}, false},
		{"", "shop", "orders", "", engine.Resolved{Schema: "shop", Name: "orders"}, false},
		{"other", "raw", "orders", "", engine.Resolved{}, true},
	} {
		got, err := r.Resolve(c.cat, c.schema, c.name, c.defaultDB)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("Resolve(%q, %q, %q) = %+v, %v; want %+v (error %v)", c.cat, c.schema, c.name, got, err, c.want, c.err)
		}
	}
}
