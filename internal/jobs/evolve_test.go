package jobs_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/jobs"
)

// crawl runs (creating it the first time) a crawler over s3://lake/raw/
// into database etl.
func (e *env) crawl() crawler.Run {
	e.t.Helper()
	if _, err := e.l.Crawlers.Get(e.ctx, "raw"); err != nil {
		if err := e.l.Crawlers.Create(e.ctx, crawler.Spec{Name: "raw", Database: "etl", Targets: []string{"s3://lake/raw/"}}); err != nil {
			e.t.Fatal(err)
		}
	}
	run, err := e.l.Crawlers.Start(e.ctx, "raw", crawler.StartOptions{})
	if err != nil {
		e.t.Fatalf("crawl: %v (%+v)", err, run)
	}
	return run
}

const evolveHeader = "order_id,customer_id,product,quantity,unit_price,order_date,region,channel"

// The first hour: a file with an extra column, a re-crawl, the
// column added to the job's SQL. The job evolves its output table (a new
// schema version) instead of refusing, old rows read NULL for the column,
// and the old CSV files still parse although the crawled table grew.
func TestJobAppendsNewColumn(t *testing.T) {
	e := newEnv(t)
	e.put("raw/orders/2025-01.csv", evolveHeader+"\n1,10,pen,2,1.50,2025-01-03,East,web\n2,11,ink,1,4.00,2025-01-04,West,store\n")
	e.crawl()
	e.create(jobs.Spec{Name: "orders", Target: "s3://lake/curated/orders/", Table: "curated.orders", Bookmarks: true,
		SQL: "SELECT order_id, product, quantity * unit_price AS total, region FROM etl.orders"})
	e.start("orders", nil)

	e.put("raw/orders/2025-02.csv", evolveHeader+",campaign\n3,12,pen,5,1.50,2025-02-01,East,web,spring\n")
	e.crawl()
	tab, err := e.l.Catalog.GetTable(e.ctx, "etl", "orders")
	if err != nil || len(tab.Columns) != 9 || tab.Columns[8].Name != "campaign" {
		t.Fatalf("crawled table: %+v, %v", tab.Columns, err)
	}

	spec, err := e.l.Jobs.Get(e.ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	spec.SQL = "SELECT order_id, product, quantity * unit_price AS total, region, campaign FROM etl.orders"
	if err := e.l.Jobs.Update(e.ctx, spec); err != nil {
		t.Fatal(err)
	}
	r := e.start("orders", nil)
	if r.Stats.RowsWritten != 1 || r.Stats.RowsRejected != 0 {
		t.Fatalf("run after the new column: %+v", r.Stats)
	}
	if got := e.one("SELECT string_agg(order_id || ':' || coalesce(campaign, 'NULL'), ',' ORDER BY order_id) FROM curated.orders"); got != "1:NULL,2:NULL,3:spring" {
		t.Errorf("curated rows: %s", got)
	}
	versions, err := e.l.Catalog.SchemaVersions(e.ctx, "curated", "orders")
	if err != nil {
		t.Fatal(err)
	}
	last := versions[len(versions)-1]
	if len(versions) != 2 || len(last.Changes) != 1 || last.Changes[0].Kind != catalog.ChangeColumnAdded || last.Changes[0].Column != "campaign" ||
		!strings.Contains(last.Reason, "job orders") {
		t.Errorf("schema versions: %+v", versions)
	}

	// Reading everything again (the reset-bookmark + overwrite)
	// parses the old file by its header: no row is rejected.
	spec.Mode = jobs.ModeOverwrite
	if err := e.l.Jobs.Update(e.ctx, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.Jobs.ResetBookmark(e.ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	r = e.start("orders", nil)
	if r.Stats.RowsRead != 3 || r.Stats.RowsWritten != 3 || r.Stats.RowsRejected != 0 {
		t.Fatalf("overwrite run: %+v", r.Stats)
	}
	if got := e.one("SELECT string_agg(order_id || ':' || coalesce(campaign, 'NULL'), ',' ORDER BY order_id) FROM curated.orders"); got != "1:NULL,2:NULL,3:spring" {
		t.Errorf("curated rows after overwrite: %s", got)
	}
}

// A job whose output narrows a column's type or drops a column fails,
// publishes nothing, and its error names the ways out.
func TestJobSchemaNarrowingFails(t *testing.T) {
	e := newEnv(t)
	e.put("raw/orders/2025-01.csv", evolveHeader+"\n1,10,pen,2,1.50,2025-01-03,East,web\n")
	e.crawl()
	e.create(jobs.Spec{Name: "orders", Target: "s3://lake/curated/orders/", Table: "curated.orders",
		SQL: "SELECT order_id, unit_price, region FROM etl.orders"})
	e.start("orders", nil)

	f := func(sqlText string, want ...string) {
		t.Helper()
		spec, err := e.l.Jobs.Get(e.ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		spec.SQL = sqlText
		spec.MaxRetries = 2
		if err := e.l.Jobs.Update(e.ctx, spec); err != nil {
			t.Fatal(err)
		}
		run, err := e.l.Jobs.Start(e.ctx, "orders", jobs.StartOptions{})
		if !errors.Is(err, jobs.ErrRunFailed) || run.State != jobs.StateFailed {
			t.Fatalf("%s: %v (%s)", sqlText, err, run.State)
		}
		if run.Attempt != 1 {
			t.Errorf("%s: a schema that does not fit was retried (attempt %d)", sqlText, run.Attempt)
		}
		for _, w := range want {
			if !strings.Contains(run.Error, w) {
				t.Errorf("%s: error %q lacks %q", sqlText, run.Error, w)
			}
		}
		if run.Stats.RowsWritten != 0 || run.Stats.FilesWritten != 0 || run.Stats.RowsDiscarded != 0 {
			t.Errorf("%s: failed run reports %+v (it should fail before writing)", sqlText, run.Stats)
		}
		if got := e.one("SELECT count(*) FROM curated.orders"); got != "1" {
			t.Errorf("%s: table has %s rows", sqlText, got)
		}
	}
	// double -> bigint narrows the table's column.
	f("SELECT order_id, CAST(unit_price AS BIGINT) AS unit_price, region FROM etl.orders",
		"unit_price", "CAST(unit_price AS DOUBLE)", "mode overwrite")
	// region dropped from the SQL.
	f("SELECT order_id, unit_price FROM etl.orders",
		"region", "NULL::VARCHAR AS region", "mode overwrite")
	versions, err := e.l.Catalog.SchemaVersions(e.ctx, "curated", "orders")
	if err != nil || len(versions) != 1 {
		t.Errorf("versions: %+v, %v", versions, err)
	}

	// A widening (double -> string by the catalog's rules; bigint ->
	// double here) is a new version, and old files read with the wider type.
	spec, _ := e.l.Jobs.Get(e.ctx, "orders")
	spec.SQL = "SELECT CAST(order_id AS DOUBLE) + 0.5 AS order_id, unit_price, region FROM etl.orders"
	if err := e.l.Jobs.Update(e.ctx, spec); err != nil {
		t.Fatal(err)
	}
	e.start("orders", nil)
	if got := e.one("SELECT string_agg(CAST(order_id AS VARCHAR), ',' ORDER BY order_id) FROM curated.orders"); got != "1.0,1.5" {
		t.Errorf("widened rows: %s", got)
	}
	tab, _ := e.l.Catalog.GetTable(e.ctx, "curated", "orders")
	if tab.Columns[0].Type != "double" || tab.Version != 2 {
		t.Errorf("widened table: %+v v%d", tab.Columns, tab.Version)
	}
}

// A crawled CSV table whose schema grew reads each file by its header:
// old files have NULL for the new column, and a file with the column in
// the middle is not read shifted. A job reads them the same way, strictly.
func TestCrawledCSVReadsByHeader(t *testing.T) {
	e := newEnv(t)
	e.put("raw/orders/2025-01.csv", evolveHeader+"\n1,10,pen,2,1.50,2025-01-03,East,web\n2,11,ink,1,4.00,2025-01-04,West,store\n")
	e.crawl()
	e.put("raw/orders/2025-02.csv", "order_id,campaign,customer_id,product,quantity,unit_price,order_date,region,channel\n3,spring,12,pen,5,1.50,2025-02-01,East,web\n")
	e.put("raw/orders/2025-03.csv", "region,order_id\nNorth,4\n")
	e.crawl()
	const q = "SELECT string_agg(concat_ws(':', order_id, coalesce(campaign, '-'), coalesce(region, '-'), coalesce(CAST(quantity AS VARCHAR), '-')), ',' ORDER BY order_id) FROM etl.orders"
	if got := e.one(q); got != "1:-:East:2,2:-:West:1,3:spring:East:5,4:-:North:-" {
		t.Errorf("query: %s", got)
	}
	e.create(jobs.Spec{Name: "copy", Target: "s3://lake/curated/copy/", Table: "curated.copy", PartitionBy: []string{"region"},
		SQL: "SELECT order_id, campaign, quantity, region FROM etl.orders"})
	r := e.start("copy", nil)
	if r.Stats.RowsRead != 4 || r.Stats.RowsWritten != 4 || r.Stats.RowsRejected != 0 {
		t.Fatalf("job: %+v", r.Stats)
	}
	if got := e.one("SELECT string_agg(concat_ws(':', order_id, coalesce(campaign, '-'), region), ',' ORDER BY order_id) FROM curated.copy"); got != "1:-:East,2:-:West,3:spring:East,4:-:North" {
		t.Errorf("job output: %s", got)
	}
}

// A Parquet table whose later files have a column the earlier ones lack
// reads it as NULL, also when the files a query reads all lack it.
func TestParquetColumnMissingFromReadFiles(t *testing.T) {
	e := newEnv(t)
	e.put("raw/orders/2025-01.csv", evolveHeader+"\n1,10,pen,2,1.50,2025-01-03,East,web\n2,11,ink,1,4.00,2025-01-04,West,store\n")
	e.crawl()
	e.create(jobs.Spec{Name: "orders", Target: "s3://lake/curated/orders/", Table: "curated.orders", Bookmarks: true, PartitionBy: []string{"region"},
		SQL: "SELECT order_id, region FROM etl.orders"})
	e.start("orders", nil)
	e.put("raw/orders/2025-02.csv", evolveHeader+",campaign\n3,12,pen,5,1.50,2025-02-01,East,web,spring\n")
	e.crawl()
	spec, _ := e.l.Jobs.Get(e.ctx, "orders")
	spec.SQL = "SELECT order_id, campaign, region FROM etl.orders"
	if err := e.l.Jobs.Update(e.ctx, spec); err != nil {
		t.Fatal(err)
	}
	e.start("orders", nil)
	if got := e.one("SELECT string_agg(order_id || ':' || coalesce(campaign, '-'), ',') FROM curated.orders WHERE region = 'West'"); got != "2:-" {
		t.Errorf("old partition: %s", got)
	}
	if got := e.one("SELECT count(campaign) FROM curated.orders"); got != "1" {
		t.Errorf("all: %s", got)
	}
}

// A job writing CSV evolves its table too: its older files, without the
// new column in their header, are read by name.
func TestJobCSVOutputAppendsNewColumn(t *testing.T) {
	e := newEnv(t)
	e.put("raw/orders/2025-01.csv", evolveHeader+"\n1,10,pen,2,1.50,2025-01-03,East,web\n")
	e.crawl()
	e.create(jobs.Spec{Name: "orders", Target: "s3://lake/curated/orders/", Table: "curated.orders", Bookmarks: true, Format: "csv", Compression: "gzip",
		SQL: "SELECT order_id, region FROM etl.orders"})
	e.start("orders", nil)
	e.put("raw/orders/2025-02.csv", evolveHeader+",campaign\n3,12,pen,5,1.50,2025-02-01,East,web,spring\n")
	e.crawl()
	spec, _ := e.l.Jobs.Get(e.ctx, "orders")
	spec.SQL = "SELECT order_id, campaign, region FROM etl.orders"
	if err := e.l.Jobs.Update(e.ctx, spec); err != nil {
		t.Fatal(err)
	}
	e.start("orders", nil)
	if got := e.one("SELECT string_agg(concat_ws(':', order_id, coalesce(campaign, '-'), region), ',' ORDER BY order_id) FROM curated.orders"); got != "1:-:East,3:spring:East" {
		t.Errorf("rows: %s", got)
	}
}
