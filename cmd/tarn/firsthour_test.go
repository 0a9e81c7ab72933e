package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFirstHourSchemaAndFigures: the first hour through the CLI. A
// file with an extra column, a re-crawl, and the job's output table grows
// a column (a new version in `catalog versions`) instead of refusing; a
// failed run prints nothing as written; CTAS prints one row count.
func TestFirstHourSchemaAndFigures(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	run := func(args ...string) result { return tarn(t, dir, append([]string{"--data", data}, args...)...) }
	put := func(name, body, to string) {
		t.Helper()
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		ok(t, run("cp", f, to))
	}
	const header = "order_id,customer_id,product,quantity,unit_price,order_date,region,channel"
	ok(t, run("mb", "s3://lake"))
	put("a.csv", header+"\n1,10,pen,2,1.50,2025-01-03,East,web\n2,11,ink,1,4.00,2025-01-04,West,store\n", "s3://lake/raw/orders/2025-01.csv")
	ok(t, run("crawler", "create", "raw", "--database", "etl", "--path", "s3://lake/raw/"))
	ok(t, run("crawler", "start", "raw"))
	ok(t, run("job", "create", "orders", "--sql", "SELECT * FROM etl.orders",
		"--target", "s3://lake/curated/orders/", "--table", "curated.orders", "--bookmarks"))
	ok(t, run("job", "start", "orders"))

	put("b.csv", header+",campaign\n3,12,pen,5,1.50,2025-02-01,East,web,spring\n", "s3://lake/raw/orders/2025-02.csv")
	ok(t, run("crawler", "start", "raw"))
	r := ok(t, run("job", "start", "orders"))
	if !strings.Contains(r.stdout, "SUCCEEDED") || !strings.Contains(r.stdout, "rows: read 1 = written 1 + rejected 0") {
		t.Errorf("run after the new column:\n%s", r.stdout)
	}
	r = ok(t, run("query", "--format", "csv", "SELECT order_id, campaign FROM curated.orders ORDER BY order_id"))
	if r.stdout != "order_id,campaign\n1,\n2,\n3,spring\n" {
		t.Errorf("curated rows: %q", r.stdout)
	}
	if r = ok(t, run("catalog", "versions", "curated.orders")); !strings.Contains(r.stdout, "campaign") || !strings.Contains(r.stdout, "job orders added or widened columns") {
		t.Errorf("catalog versions:\n%s", r.stdout)
	}

	// A run over the limit of rejected rows wrote files, then removed them:
	// its figures say so, not "written".
	ok(t, run("job", "create", "strict", "--sql", "SELECT order_id, CAST(quantity AS INT) AS quantity FROM etl.orders",
		"--target", "s3://lake/curated/strict/", "--table", "curated.strict", "--max-rejected", "0"))
	put("c.csv", header+",campaign\n4,12,pen,x,1.50,2025-02-01,East,web,spring\n", "s3://lake/raw/orders/2025-03.csv")
	r = run("job", "start", "strict")
	if r.code == 0 || !strings.Contains(r.stdout, "FAILED") ||
		!strings.Contains(r.stdout, "rows: read 4 = written 0 + rejected 1 + removed by the SQL 0 + discarded 3") ||
		!strings.Contains(r.stdout, "published 0 (0 B)") {
		t.Errorf("failed run:\n%s\n%s", r.stdout, r.stderr)
	}

	// CTAS: the row count on stdout and on stderr agree.
	r = ok(t, run("query", "--format", "csv", "CREATE TABLE curated.by_region WITH (external_location = 's3://lake/curated/by_region/') AS SELECT region, count(*) AS n FROM etl.orders GROUP BY region"))
	if r.stdout != "rows\n2\n" || !strings.Contains(r.stderr, "SUCCEEDED: 2 rows") {
		t.Errorf("CTAS: stdout %q, stderr %q", r.stdout, r.stderr)
	}
}
