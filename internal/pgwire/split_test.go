package pgwire_test

import (
	"context"
	"testing"

	"github.com/tarn-lake/tarn/internal/pgwire"
)

// TestSimpleQuerySplitsAsTheQueryService: a simple query holding several
// statements is split as `tarn query -f` splits a script: Hive DDL with
// Hive's escapes (a backslash escapes a quote), other statements as DuckDB reads them ('C:\' is a
// string, $$ hides a ';').
func TestSimpleQuerySplitsAsTheQueryService(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	ctx := context.Background()
	c := e.connect(t, e.admin, "")
	res, err := c.PgConn().Exec(ctx, `CREATE EXTERNAL TABLE shop.quoted (a string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '\'' LOCATION 's3://lake/quoted/'; SELECT 'C:\' AS p; SELECT $$a;b$$ AS s`).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("%d results, want 3", len(res))
	}
	if got := string(res[1].Rows[0][0]); got != `C:\` {
		t.Errorf("SELECT 'C:\\' = %q", got)
	}
	if got := string(res[2].Rows[0][0]); got != "a;b" {
		t.Errorf("SELECT $$a;b$$ = %q", got)
	}
	if _, err := e.l.Catalog.GetTable(ctx, "shop", "quoted"); err != nil {
		t.Errorf("the Hive DDL statement did not run: %v", err)
	}
}
