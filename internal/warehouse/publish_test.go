package warehouse_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/warehouse"
)

// TestPublish builds relations in a staging schema and publishes them in
// one transaction: tables replaced, views re-created over the published
// names (also when their SQL names the staging schema quoted or in upper
// case), a materialized view with its definition, the staging schema gone.
func TestPublish(t *testing.T) {
	l := openLake(t, t.TempDir())
	defer l.Close()
	ctx := context.Background()
	w := l.Query.Warehouse()
	for _, s := range []string{
		"CREATE SCHEMA analytics",
		"CREATE TABLE analytics.daily (d DATE, n INT)",
		"INSERT INTO analytics.daily VALUES ('2025-01-01', 1)",
		"CREATE VIEW analytics.keep AS SELECT 1 AS k",
		"CREATE TABLE analytics.old_view_target (x INT)",
		// The staging schema, as a dbt run with publish builds it.
		`CREATE SCHEMA "analytics__tarn_wap_abc"`,
		`CREATE TABLE "analytics__tarn_wap_abc".daily AS SELECT DATE '2025-01-01' AS d, 5 AS n UNION ALL SELECT DATE '2025-01-02', 7`,
		`CREATE VIEW "analytics__tarn_wap_abc".recent AS SELECT d, n, 'analytics__tarn_wap_abc' AS label FROM "warehouse"."analytics__tarn_wap_abc"."daily" WHERE n > 5`,
		`CREATE VIEW analytics__tarn_wap_abc.total AS SELECT sum(n) AS n FROM ANALYTICS__TARN_WAP_ABC.recent`,
		`CREATE MATERIALIZED VIEW analytics__tarn_wap_abc.mv AS SELECT count(*) AS c FROM analytics__tarn_wap_abc.daily`,
	} {
		run(t, l, s)
	}
	// A reader's view of the published table before.
	if got := fmt.Sprint(run(t, l, "SELECT count(*) FROM analytics.daily")); got != "[[1]]" {
		t.Fatalf("before: %v", got)
	}
	var asked []string
	pub, err := w.Publish(ctx, warehouse.Publish{
		Schemas: map[string]string{"analytics__tarn_wap_abc": "analytics"},
		Order:   []string{"analytics__tarn_wap_abc.daily", "analytics__tarn_wap_abc.recent", "analytics__tarn_wap_abc.total"},
		Authorize: func(action, schema, name, _ string) error {
			asked = append(asked, action+" "+schema+"."+name)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pub {
		names = append(names, fmt.Sprintf("%s.%s:%s:%d", p.Schema, p.Name, p.Kind, p.Rows))
	}
	if got := strings.Join(names, " "); got != "analytics.daily:table:2 analytics.recent:view:0 analytics.total:view:0 analytics.mv:materialized_view:1" {
		t.Errorf("published %s", got)
	}
	for q, want := range map[string]string{
		"SELECT count(*), sum(n) FROM analytics.daily": "[[2 12]]",
		"SELECT d, n, label FROM analytics.recent":     "[[2025-01-02 00:00:00 +0000 UTC 7 analytics__tarn_wap_abc]]",
		"SELECT n FROM analytics.total":                "[[7]]",
		"SELECT c FROM analytics.mv":                   "[[2]]",
		"SELECT k FROM analytics.keep":                 "[[1]]",
	} {
		if got := fmt.Sprint(run(t, l, q)); got != want {
			t.Errorf("%s = %s, want %s", q, got, want)
		}
	}
	if list, err := w.Schemas(ctx, "analytics__"); err != nil || len(list) != 0 {
		t.Errorf("staging schemas left: %v %v", list, err)
	}
	// The published view reads the published table, not a copy: the
	// staging schema is gone, and new rows show.
	run(t, l, "INSERT INTO analytics.daily VALUES ('2025-01-03', 9)")
	if got := fmt.Sprint(run(t, l, "SELECT n FROM analytics.total")); got != "[[16]]" {
		t.Errorf("view after an insert: %v", got)
	}
	// REFRESH works on the published materialized view.
	run(t, l, "REFRESH MATERIALIZED VIEW analytics.mv")
	if got := fmt.Sprint(run(t, l, "SELECT c FROM analytics.mv")); got != "[[3]]" {
		t.Errorf("refreshed mv: %v", got)
	}
	if !strings.Contains(strings.Join(asked, ","), "redshift:DropTable analytics.daily") {
		t.Errorf("authorizer asked %v", asked)
	}
}

// TestPublishAllOrNothing: a publish the key may not complete changes
// nothing (the first relation already replaced is rolled back), and the
// staging schema is still there for inspection.
func TestPublishAllOrNothing(t *testing.T) {
	l := openLake(t, t.TempDir())
	defer l.Close()
	ctx := context.Background()
	w := l.Query.Warehouse()
	for _, s := range []string{
		"CREATE SCHEMA analytics",
		"CREATE TABLE analytics.a AS SELECT 1 AS x",
		"CREATE TABLE analytics.b AS SELECT 1 AS x",
		"CREATE SCHEMA stage_1",
		"CREATE TABLE stage_1.a AS SELECT 2 AS x",
		"CREATE TABLE stage_1.b AS SELECT 2 AS x",
	} {
		run(t, l, s)
	}
	denied := errors.New("denied")
	_, err := w.Publish(ctx, warehouse.Publish{Schemas: map[string]string{"stage_1": "analytics"}, Order: []string{"stage_1.a", "stage_1.b"},
		Authorize: func(action, schema, name, _ string) error {
			if name == "b" {
				return denied
			}
			return nil
		}})
	if !errors.Is(err, denied) {
		t.Fatalf("publish: %v", err)
	}
	if got := fmt.Sprint(run(t, l, "SELECT (SELECT x FROM analytics.a), (SELECT x FROM analytics.b), (SELECT x FROM stage_1.a)")); got != "[[1 1 2]]" {
		t.Errorf("after a refused publish: %v", got)
	}
	// Hostile: tarn's own schema and a schema onto itself are refused.
	for _, m := range []map[string]string{{"tarn": "analytics"}, {"stage_1": "tarn"}, {"stage_1": "stage_1"}, {"stage_1": "main"}} {
		if _, err := w.Publish(ctx, warehouse.Publish{Schemas: m}); !errors.Is(err, warehouse.ErrPermission) {
			t.Errorf("publish %v: %v", m, err)
		}
	}
	if err := w.DropSchemas(ctx, []string{"tarn"}); !errors.Is(err, warehouse.ErrPermission) {
		t.Errorf("drop tarn: %v", err)
	}
	// StageTables copies the published rows for incremental models; a
	// name that is not a table is skipped.
	got, err := w.StageTables(ctx, "analytics", "stage_2", []string{"a", "nope"}, nil)
	if err != nil || fmt.Sprint(got) != "[a]" {
		t.Fatalf("stage: %v %v", got, err)
	}
	if got := fmt.Sprint(run(t, l, "SELECT x FROM stage_2.a")); got != "[[1]]" {
		t.Errorf("staged copy: %v", got)
	}
	list, err := w.Schemas(ctx, "STAGE_")
	if err != nil || fmt.Sprint(list) != "[stage_1 stage_2]" {
		t.Errorf("schemas: %v %v", list, err)
	}
	if err := w.DropSchemas(ctx, list); err != nil {
		t.Fatal(err)
	}
	if list, _ := w.Schemas(ctx, "stage_"); len(list) != 0 {
		t.Errorf("after drop: %v", list)
	}
}
