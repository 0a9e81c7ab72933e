package query_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tarn-lake/tarn/internal/query"
)

func mustRun(t *testing.T, s *query.Service, sqlText string) (*query.Collect, query.Execution) {
	t.Helper()
	c, ex, err := s.Run(context.Background(), sqlText, "testdb")
	if err != nil {
		t.Fatalf("%s: %v", sqlText, err)
	}
	return c, ex
}

// TestParquetBytesScanned checks the data-scanned figure against the
// Parquet metadata read independently: only the referenced columns' chunks
// (and the footers) of the files of matching partitions count.
func TestParquetBytesScanned(t *testing.T) {
	l := openLake(t)
	writeParquetFixtures(t, l)
	mustRun(t, l.Query, "CREATE DATABASE IF NOT EXISTS testdb")
	mustRun(t, l.Query, `CREATE EXTERNAL TABLE sales (id bigint, amount double, note string)
		PARTITIONED BY (region string, year int) STORED AS PARQUET LOCATION 's3://lake/curated/sales/'`)
	mustRun(t, l.Query, "MSCK REPAIR TABLE sales")

	file := filepath.Join(l.Home, "objects", "lake", "curated", "sales", "region=r1", "year=2025")
	matches, _ := filepath.Glob(filepath.Join(file, "*.parquet"))
	if len(matches) != 1 {
		t.Fatalf("want one file in %s, got %v", file, matches)
	}
	colBytes := map[string]int64{}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT path_in_schema, sum(total_compressed_size)::BIGINT FROM parquet_metadata(?) GROUP BY ALL`, matches[0])
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		var n int64
		if err := rows.Scan(&c, &n); err != nil {
			t.Fatal(err)
		}
		colBytes[c] = n
	}
	rows.Close()
	raw, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	footer := int64(binary.LittleEndian.Uint32(raw[len(raw)-8:])) + 8

	_, ex := mustRun(t, l.Query, "SELECT sum(amount) FROM sales WHERE region = 'r1' AND year = 2025")
	if want := footer + colBytes["amount"]; ex.Stats.BytesScanned != want {
		t.Errorf("one column: scanned %d, want %d (footer %d + amount %d)", ex.Stats.BytesScanned, want, footer, colBytes["amount"])
	}
	_, exAll := mustRun(t, l.Query, "SELECT * FROM sales WHERE region = 'r1' AND year = 2025")
	if want := footer + colBytes["amount"] + colBytes["id"] + colBytes["note"]; exAll.Stats.BytesScanned != want {
		t.Errorf("all columns: scanned %d, want %d", exAll.Stats.BytesScanned, want)
	}
	_, exCount := mustRun(t, l.Query, "SELECT count(*) FROM sales WHERE region = 'r1' AND year = 2025")
	if exCount.Stats.BytesScanned != footer {
		t.Errorf("count(*): scanned %d, want the footer only (%d)", exCount.Stats.BytesScanned, footer)
	}
	_, exAllParts := mustRun(t, l.Query, "SELECT sum(amount) FROM sales")
	if exAllParts.Stats.BytesScanned <= ex.Stats.BytesScanned*5 {
		t.Errorf("6 partitions scanned %d, not more than 5x one partition's %d", exAllParts.Stats.BytesScanned, ex.Stats.BytesScanned)
	}
}

// TestManyPartitions registers 1,200 partitions and checks that a filter on
// the keys reads one of them, and that results are right.
func TestManyPartitions(t *testing.T) {
	l := openLake(t)
	mustRun(t, l.Query, "CREATE DATABASE IF NOT EXISTS testdb")
	const days = 1200
	// Files dropped into the objects folder by another tool are objects too;
	// writing them directly skips 1,200 fsyncs.
	for d := 0; d < days; d++ {
		p := filepath.Join(l.Home, "objects", "lake", "raw", "clicks", fmt.Sprintf("day=%d", d), fmt.Sprintf("hour=%02d", d%24), "part.csv")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, fmt.Appendf(nil, "%d,a\n%d,b\n", d, d+1), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustRun(t, l.Query, `CREATE EXTERNAL TABLE clicks (n int, s string) PARTITIONED BY (day int, hour string)
		ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/clicks/'`)
	c, _ := mustRun(t, l.Query, "MSCK REPAIR TABLE clicks")
	if len(c.Rows) != days {
		t.Fatalf("MSCK added %d partitions, want %d", len(c.Rows), days)
	}
	c, ex := mustRun(t, l.Query, "SELECT sum(n), count(*), min(hour) FROM clicks WHERE day = 777")
	if ex.Stats.PartitionsScanned != 1 || ex.Stats.PartitionsTotal != days || ex.Stats.FilesScanned != 1 {
		t.Errorf("pruning read %d of %d partitions (%d files), want 1 of %d", ex.Stats.PartitionsScanned, ex.Stats.PartitionsTotal, ex.Stats.FilesScanned, days)
	}
	if got := fmt.Sprintf("%v|%v|%v", c.Rows[0]...); got != "1555|2|09" {
		t.Errorf("got %q, want sum 1555, count 2, hour 09", got)
	}
	c, ex = mustRun(t, l.Query, "SELECT count(*) FROM clicks")
	if ex.Stats.PartitionsScanned != days || fmt.Sprint(c.Rows[0][0]) != fmt.Sprint(2*days) {
		t.Errorf("full scan: %d partitions, %v rows", ex.Stats.PartitionsScanned, c.Rows[0][0])
	}
	c, ex = mustRun(t, l.Query, "SELECT count(*) FROM clicks WHERE day >= 1100 AND hour = '05'")
	if ex.Stats.PartitionsScanned != 4 || fmt.Sprint(c.Rows[0][0]) != "8" {
		t.Errorf("range filter: %d partitions, %v rows; want 4 partitions, 8 rows", ex.Stats.PartitionsScanned, c.Rows[0][0])
	}
}

func TestHistory(t *testing.T) {
	l := openLake(t)
	ctx := context.Background()
	mustRun(t, l.Query, "CREATE DATABASE IF NOT EXISTS testdb")
	_, ok := mustRun(t, l.Query, "SELECT 42")
	_, bad, err := l.Query.Run(ctx, "SELECT * FROM testdb.nope", "")
	if err == nil {
		t.Fatal("query of a missing table succeeded")
	}
	h, err := l.Query.History(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || h[0].ID != bad.ID || h[1].ID != ok.ID {
		t.Fatalf("history = %+v", h)
	}
	if h[0].State != query.StateFailed || !strings.Contains(h[0].Error, "no such table") {
		t.Errorf("failed query recorded as %s %q", h[0].State, h[0].Error)
	}
	if ok.Stats.CostUSD != 0 {
		t.Errorf("SELECT 42 scanned nothing but costs %v", ok.Stats.CostUSD)
	}
	if h[1].State != query.StateSucceeded || h[1].Stats.Rows != 1 || h[1].StatementType != "DML" {
		t.Errorf("query recorded as %+v", h[1])
	}
	got, err := l.Query.Get(ctx, ok.ID)
	if err != nil || got.SQL != "SELECT 42" {
		t.Errorf("Get = %+v, %v", got, err)
	}
	if _, err := l.Query.Get(ctx, "nope"); !errors.Is(err, query.ErrNoSuchQuery) {
		t.Errorf("Get(nope) = %v", err)
	}
}

// TestConcurrentQueries runs more queries at once than the engine has
// sessions; each waits for a session and all get the right answer.
func TestConcurrentQueries(t *testing.T) {
	l := openLake(t)
	mustRun(t, l.Query, "CREATE DATABASE IF NOT EXISTS testdb")
	mustRun(t, l.Query, `CREATE EXTERNAL TABLE zips (zip string, city string)
		ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/zips/' TBLPROPERTIES ('skip.header.line.count'='1')`)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := l.Query.Run(context.Background(), "SELECT count(*) FROM zips WHERE city <> ''", "testdb")
			if err == nil && fmt.Sprint(c.Rows[0][0]) != "3" {
				err = fmt.Errorf("got %v", c.Rows[0][0])
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCancel stops a long query through its context.
func TestCancel(t *testing.T) {
	l := openLake(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := l.Query.Run(ctx, "SELECT count(*) FROM range(10000000000) a", "")
		done <- err
	}()
	cancel()
	err := <-done
	if err == nil {
		t.Fatal("cancelled query succeeded")
	}
	h, _ := l.Query.History(context.Background(), 1)
	if len(h) != 1 || h[0].State != query.StateCancelled {
		t.Errorf("cancelled query recorded as %+v", h)
	}
	// The session went back to the pool and works.
	if _, _, err := l.Query.Run(context.Background(), "SELECT 1", ""); err != nil {
		t.Fatal(err)
	}
}

func TestSplitStatements(t *testing.T) {
	got, err := query.SplitStatements("SELECT ';' AS a; -- c;omment\nSELECT 2;;\n/* ; */ SELECT \"x;\" FROM t")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"SELECT ';' AS a", "-- c;omment\nSELECT 2", "/* ; */ SELECT \"x;\" FROM t"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestSplitStatementsDialects checks the scripts issue 13 found split
// wrongly: a backslash ends no DuckDB string, a dollar-quoted string hides
// its ';', and Hive DDL still reads '\” as a quote.
func TestSplitStatementsDialects(t *testing.T) {
	for script, want := range map[string][]string{
		`SELECT 'C:\'; SELECT 2`:   {`SELECT 'C:\'`, `SELECT 2`},
		`SELECT $$a;b$$; SELECT 2`: {`SELECT $$a;b$$`, `SELECT 2`},
		`CREATE EXTERNAL TABLE t (a string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '\'' LOCATION 's3://b/t/'; SELECT 'C:\'`: {
			`CREATE EXTERNAL TABLE t (a string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '\'' LOCATION 's3://b/t/'`, `SELECT 'C:\'`},
		"SELECT 1; -- the end": {"SELECT 1"},
		`ALTER TABLE db.t ADD IF NOT EXISTS PARTITION (p = 'it\'s') LOCATION 's3://b/t/p/'; ALTER TABLE s.w ALTER COLUMN c SET DEFAULT 'C:\'; SELECT 2`: {
			`ALTER TABLE db.t ADD IF NOT EXISTS PARTITION (p = 'it\'s') LOCATION 's3://b/t/p/'`, `ALTER TABLE s.w ALTER COLUMN c SET DEFAULT 'C:\'`, `SELECT 2`},
		`CREATE TABLE t (a string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '\'' STORED AS TEXTFILE LOCATION 's3://b/t/'; SELECT 'C:\'`: {
			`CREATE TABLE t (a string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '\'' STORED AS TEXTFILE LOCATION 's3://b/t/'`, `SELECT 'C:\'`},
		`CREATE TABLE t2 WITH (format = 'PARQUET') AS SELECT 'C:\' AS p; SELECT 2`: {`CREATE TABLE t2 WITH (format = 'PARQUET') AS SELECT 'C:\' AS p`, `SELECT 2`},
	} {
		got, err := query.SplitStatements(script)
		if err != nil {
			t.Fatalf("%q: %v", script, err)
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%q: got %q, want %q", script, got, want)
		}
	}
	if _, err := query.SplitStatements("SELECT 'open"); !errors.Is(err, query.ErrSyntax) {
		t.Errorf("unterminated string: got %v, want ErrSyntax", err)
	}
}

// TestAuthorize checks that a front end's authorizer is asked for every
// table a query reads, and that a refusal stops the query.
func TestAuthorize(t *testing.T) {
	l := openLake(t)
	ctx := context.Background()
	mustRun(t, l.Query, "CREATE DATABASE IF NOT EXISTS testdb")
	mustRun(t, l.Query, `CREATE EXTERNAL TABLE zips (zip string, city string)
		ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/zips/'`)
	mustRun(t, l.Query, `CREATE EXTERNAL TABLE tsv (a int, b string)
		ROW FORMAT DELIMITED FIELDS TERMINATED BY '\t' LOCATION 's3://lake/raw/tsv/'`)
	var asked []string
	denied := errors.New("AccessDenied")
	authz := func(action string, tg query.Target) error {
		asked = append(asked, action+" "+tg.Database+"."+tg.Table+" "+tg.Location)
		if tg.Table == "tsv" {
			return denied
		}
		return nil
	}
	c := &query.Collect{}
	if _, err := l.Query.Execute(ctx, query.Request{SQL: "SELECT count(*) FROM testdb.zips", Authorize: authz}, c); err != nil {
		t.Fatal(err)
	}
	want := "glue:GetTable testdb.zips |s3:GetObject testdb.zips s3://lake/raw/zips/"
	if strings.Join(asked, "|") != want {
		t.Errorf("asked %q, want %q", asked, want)
	}
	_, err := l.Query.Execute(ctx, query.Request{SQL: "SELECT * FROM testdb.zips JOIN testdb.tsv ON true", Authorize: authz}, &query.Collect{})
	if !errors.Is(err, denied) {
		t.Errorf("a query over a denied table: %v", err)
	}
}

func TestAuthorizeDDLAndWrites(t *testing.T) {
	l := openLake(t)
	ctx := context.Background()
	mustRun(t, l.Query, "CREATE DATABASE IF NOT EXISTS testdb")
	var asked []string
	authz := func(action string, tg query.Target) error {
		asked = append(asked, action)
		if action == "glue:DeleteTable" || action == "s3:PutObject" {
			return errors.New("AccessDenied: " + action)
		}
		return nil
	}
	run := func(q string) error {
		_, err := l.Query.Execute(ctx, query.Request{SQL: q, Database: "testdb", Authorize: authz}, &query.Collect{})
		return err
	}
	if err := run(`CREATE EXTERNAL TABLE zips (zip string, city string) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/zips/'`); err != nil {
		t.Fatal(err)
	}
	if err := run("DROP TABLE zips"); err == nil || !strings.Contains(err.Error(), "glue:DeleteTable") {
		t.Errorf("drop: %v", err)
	}
	if err := run("UNLOAD (SELECT * FROM zips) TO 's3://lake/out/'"); err == nil || !strings.Contains(err.Error(), "s3:PutObject") {
		t.Errorf("unload: %v", err)
	}
	if _, err := l.Catalog.GetTable(ctx, "testdb", "zips"); err != nil {
		t.Errorf("a refused DROP dropped the table: %v", err)
	}
	if got := strings.Join(asked, ","); !strings.Contains(got, "glue:CreateTable") {
		t.Errorf("asked: %s", got)
	}
}

// TestWorkgroupLimits: the scan cutoff and the partition-filter rule refuse
// a query before it runs, with the table and the estimate in the error.
func TestWorkgroupLimits(t *testing.T) {
	l := openLake(t)
	writeParquetFixtures(t, l)
	ctx := context.Background()
	mustRun(t, l.Query, "CREATE DATABASE IF NOT EXISTS testdb")
	mustRun(t, l.Query, `CREATE EXTERNAL TABLE sales (id bigint, amount double, note string)
		PARTITIONED BY (region string, year int) STORED AS PARQUET LOCATION 's3://lake/curated/sales/'`)
	mustRun(t, l.Query, "MSCK REPAIR TABLE sales")
	_, one := mustRun(t, l.Query, "SELECT sum(amount) FROM sales WHERE region = 'r1' AND year = 2025")
	if err := l.Query.CreateWorkgroup(ctx, query.Workgroup{Name: "analysts", BytesScannedCutoff: one.Stats.BytesScanned * 2,
		RequirePartitionFilter: []string{"testdb.sales"}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Query.CreateWorkgroup(ctx, query.Workgroup{Name: "analysts"}); !errors.Is(err, query.ErrWorkgroupExists) {
		t.Errorf("duplicate workgroup: %v", err)
	}
	run := func(q string) (query.Execution, error) {
		return l.Query.Execute(ctx, query.Request{SQL: q, Database: "testdb", Workgroup: "analysts", AccessKey: "TKANALYST"}, &query.Collect{})
	}
	if _, err := run("SELECT sum(amount) FROM sales WHERE region = 'r1' AND year = 2025"); err != nil {
		t.Errorf("a query under the limits: %v", err)
	}
	_, err := run("SELECT sum(amount) FROM sales")
	if !errors.Is(err, query.ErrPartitionFilter) || !strings.Contains(err.Error(), "testdb.sales") {
		t.Errorf("no partition filter: %v", err)
	}
	_, err = run("SELECT * FROM sales WHERE year > 2000")
	if !errors.Is(err, query.ErrScanLimit) || !strings.Contains(err.Error(), "testdb.sales") || !strings.Contains(err.Error(), "6 of 6 partitions") {
		t.Errorf("over the cutoff: %v", err)
	}
	if _, err := l.Query.Execute(ctx, query.Request{SQL: "SELECT 1", Workgroup: "nope"}, &query.Collect{}); !errors.Is(err, query.ErrNoSuchWorkgroup) {
		t.Errorf("unknown workgroup: %v", err)
	}
	sums, err := l.Query.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range sums {
		if s.AccessKey == "TKANALYST" && s.Workgroup == "analysts" {
			found = true
			if s.Queries != 3 || s.BytesScanned != one.Stats.BytesScanned || s.CostUSD != query.Cost(one.Stats.BytesScanned) {
				t.Errorf("summary: %+v", s)
			}
		}
	}
	if !found {
		t.Errorf("no summary for the analyst: %+v", sums)
	}
	if _, ex := mustRun(t, l.Query, "SELECT count(*) FROM sales WHERE region = 'r0' AND year = 2024"); ex.Stats.CostUSD != query.Cost(ex.Stats.BytesScanned) || ex.Stats.CostUSD == 0 {
		t.Errorf("execution cost %v for %d bytes", ex.Stats.CostUSD, ex.Stats.BytesScanned)
	}
	if c := query.Cost(1e12); c != 5 {
		t.Errorf("1 TB costs %v", c)
	}
	if c := query.Cost(1); c != query.Cost(10<<20) {
		t.Errorf("the 10 MB minimum: %v", c)
	}
}
