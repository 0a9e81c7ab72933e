package query_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/query"
)

func cells(c *query.Collect) string {
	var rows []string
	for _, r := range c.Rows {
		var f []string
		for _, v := range r {
			if v == nil {
				f = append(f, "NULL")
			} else {
				f = append(f, fmt.Sprint(v))
			}
		}
		rows = append(rows, strings.Join(f, ","))
	}
	return strings.Join(rows, ";")
}

// ALTER TABLE ... ADD COLUMNS / REPLACE COLUMNS on Hive tables (Athena's,
// and what dbt-athena sends for on_schema_change on an incremental model):
// files written before read the new column as NULL, later ones carry it.
func TestHiveAddAndReplaceColumns(t *testing.T) {
	l := openLake(t)
	mustRun(t, l.Query, "CREATE DATABASE IF NOT EXISTS testdb")
	mustRun(t, l.Query, `CREATE TABLE grows WITH (format = 'PARQUET', external_location = 's3://lake/curated/grows/') AS SELECT 'north' AS region, 2 AS n`)
	mustRun(t, l.Query, "ALTER TABLE grows ADD COLUMNS (q bigint COMMENT 'quantity')")
	mustRun(t, l.Query, "INSERT INTO grows SELECT 'south', 3, 7")
	c, _ := mustRun(t, l.Query, "SELECT region, n, q FROM grows ORDER BY region")
	if got := cells(c); got != "north,2,NULL;south,3,7" {
		t.Fatalf("after ADD COLUMNS: %s", got)
	}
	tbl, err := l.Catalog.GetTable(context.Background(), "testdb", "grows")
	if err != nil {
		t.Fatal(err)
	}
	if len(tbl.Columns) != 3 || tbl.Columns[2] != (catalog.Column{Name: "q", Type: "bigint", Comment: "quantity"}) || tbl.Version != 2 {
		t.Fatalf("columns %+v version %d", tbl.Columns, tbl.Version)
	}

	// Refused: an existing column, a bad type, a view, a missing table.
	for q, want := range map[string]string{
		"ALTER TABLE grows ADD COLUMNS (N int)":          "already exists",
		"ALTER TABLE grows ADD COLUMNS (z notatype)":     "unknown type",
		"ALTER TABLE grows ADD COLUMNS ()":               "at least one column",
		"ALTER TABLE missing_t ADD COLUMNS (z int)":      "missing_t",
		"ALTER TABLE grows ADD COLUMNS (z int) nonsense": "nonsense",
	} {
		if _, _, err := l.Query.Run(context.Background(), q, "testdb"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want one saying %q", q, err, want)
		}
	}
	// REPLACE COLUMNS keeps the columns it names (read by name from the
	// files) and drops the others.
	mustRun(t, l.Query, "ALTER TABLE grows REPLACE COLUMNS (region string, q bigint) CASCADE")
	c, _ = mustRun(t, l.Query, "SELECT * FROM grows ORDER BY region")
	if got := cells(c); got != "north,NULL;south,7" {
		t.Fatalf("after REPLACE COLUMNS: %s", got)
	}
}
