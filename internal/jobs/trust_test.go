package jobs_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/storage"
)

// TestArgumentsAreValuesNotSQL: an argument that carries SQL reaches the
// job's SQL as one literal, so it cannot add a UNION over a table the job
// was not written to read, nor widen a WHERE.
func TestArgumentsAreValuesNotSQL(t *testing.T) {
	e := newEnv(t)
	e.sql(`CREATE EXTERNAL TABLE raw_db.orders (id bigint, amount double, region string, day date)
		ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/orders/' TBLPROPERTIES ('skip.header.line.count'='1')`)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n2,20,South,2025-01-02\n")
	e.put("raw/orders/a.csv", "id,amount,region,day\n900,9999,Secret,2025-01-01\n")

	e.create(jobs.Spec{Name: "minimum", SQL: "SELECT id, amount FROM raw_db.sales WHERE amount >= ${min}", Args: map[string]string{"min": "1"},
		Target: "s3://lake/curated/minimum/", Table: "curated.minimum"})
	run, err := e.l.Jobs.Start(e.ctx, "minimum", jobs.StartOptions{Args: map[string]string{"min": "1e9 UNION ALL SELECT id, amount FROM raw_db.orders"}})
	if err == nil || run.State != jobs.StateFailed || !strings.Contains(run.Error, "Conversion Error") {
		t.Errorf("injected UNION: %v %+v", err, run)
	}
	if n := e.one("SELECT count(*) FROM raw_db.sales"); n != "2" {
		t.Fatal(n)
	}
	if _, err := e.l.Catalog.GetTable(e.ctx, "curated", "minimum"); err == nil {
		if got := e.one("SELECT count(*) FROM curated.minimum WHERE id = 900"); got != "0" {
			t.Errorf("the argument read raw_db.orders: %s rows", got)
		}
	}
	// A number is still a number.
	if r := e.start("minimum", map[string]string{"min": "1.5e1"}); r.Stats.RowsWritten != 1 {
		t.Errorf("min=1.5e1 wrote %d rows, want 1", r.Stats.RowsWritten)
	}

	e.create(jobs.Spec{Name: "region", SQL: "SELECT id, region FROM raw_db.sales WHERE region = '${region}'", Target: "s3://lake/curated/region/", Table: "curated.region"})
	for _, v := range hostileArgs(t) {
		r, err := e.l.Jobs.Start(e.ctx, "region", jobs.StartOptions{Args: map[string]string{"region": v}})
		if err != nil || r.Stats.RowsWritten != 0 {
			t.Errorf("region %q: wrote %d rows, err %v", v, r.Stats.RowsWritten, err)
		}
	}
	if r := e.start("region", map[string]string{"region": "North"}); r.Stats.RowsWritten != 1 {
		t.Errorf("region North wrote %d rows", r.Stats.RowsWritten)
	}
}

// salesGzip is a gzip CSV of raw_db.sales with a header and n rows.
func salesGzip(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	fmt.Fprintln(zw, "id,amount,region,day")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(zw, "%d,%d.5,region%d,2025-01-%02d\n", i, i%1000, i%7, 1+i%28)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (e *env) putBytes(key string, body []byte) {
	e.t.Helper()
	if _, err := e.l.Store.Put(e.ctx, "lake", key, bytes.NewReader(body), storage.PutOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// TestTruncatedGzipFailsRun: DuckDB reads a gzip file cut in half as its
// first ~26,000 rows without an error; the run must fail, publish nothing
// and leave the bookmark, and COPY must fail the same way.
func TestTruncatedGzipFailsRun(t *testing.T) {
	e := newWarehouseEnv(t)
	full := salesGzip(t, 50000)
	e.putBytes("raw/sales/big.csv.gz", full[:len(full)/2])
	e.create(jobs.Spec{Name: "gz", SQL: "SELECT id, amount, region FROM raw_db.sales", Target: "s3://lake/curated/gz/", Table: "curated.gz", Bookmarks: true})
	run, err := e.l.Jobs.Start(e.ctx, "gz", jobs.StartOptions{})
	if !errors.Is(err, engine.ErrCorruptCompressed) || run.State != jobs.StateFailed ||
		!strings.Contains(run.Error, "s3://lake/raw/sales/big.csv.gz") || !strings.Contains(run.Error, "upload the complete file again") {
		t.Fatalf("truncated gzip: %v %+v", err, run)
	}
	if runs, _ := e.l.Jobs.Runs(e.ctx, "gz"); len(runs) != 1 {
		t.Errorf("a corrupt file was retried: %d runs", len(runs))
	}
	if _, err := e.l.Catalog.GetTable(e.ctx, "curated", "gz"); err == nil {
		t.Error("the failed run published its output table")
	}
	if n := e.bookmarks("gz"); n != 0 {
		t.Errorf("the failed run bookmarked %d files", n)
	}
	// The same COPY into the warehouse fails too, loading nothing.
	copySQL := "COPY analytics.sales (id, amount, region, day) FROM 's3://lake/raw/sales/big.csv.gz' CSV GZIP IGNOREHEADER 1"
	if _, _, err := e.l.Query.Run(e.ctx, copySQL, ""); err == nil || !strings.Contains(err.Error(), "truncated or corrupt") {
		t.Errorf("COPY of a truncated gzip: %v", err)
	}
	if got := e.one("SELECT count(*) FROM analytics.sales"); got != "0" {
		t.Errorf("COPY loaded %s rows of a truncated file", got)
	}
	// The complete file: every row, in the job and in COPY.
	e.putBytes("raw/sales/big.csv.gz", full)
	if r := e.start("gz", nil); r.Stats.RowsWritten != 50000 || r.Stats.RowsRejected != 0 {
		t.Errorf("complete file: %+v", r.Stats)
	}
	e.sql(copySQL)
	if got := e.one("SELECT count(*) FROM analytics.sales"); got != "50000" {
		t.Errorf("COPY of the complete file loaded %s rows", got)
	}
}

// TestTruncatedGzipJSONFailsRun: the same for a JSON source.
func TestTruncatedGzipJSONFailsRun(t *testing.T) {
	e := newEnv(t)
	e.sql(`CREATE EXTERNAL TABLE raw_db.events (id bigint, name string)
		ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' LOCATION 's3://lake/raw/events/'`)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for i := 1; i <= 50000; i++ {
		fmt.Fprintf(zw, "{\"id\": %d, \"name\": \"n%d\"}\n", i, i)
	}
	zw.Close()
	full := buf.Bytes()
	e.create(jobs.Spec{Name: "ev", SQL: "SELECT id, name FROM raw_db.events", Target: "s3://lake/curated/ev/", Table: "curated.ev"})
	e.putBytes("raw/events/e.json.gz", full[:len(full)/2])
	if run, err := e.l.Jobs.Start(e.ctx, "ev", jobs.StartOptions{}); err == nil || run.State != jobs.StateFailed || !strings.Contains(run.Error, "truncated") {
		t.Fatalf("truncated gzip JSON: %v %+v", err, run)
	}
	e.putBytes("raw/events/e.json.gz", full)
	if r := e.start("ev", nil); r.Stats.RowsWritten != 50000 {
		t.Errorf("complete file: %+v", r.Stats)
	}
}

// TestExtraFieldsAreRejected: a CSV row with more fields than the table has
// columns is a rejected row with its reason, not a row written truncated.
func TestExtraFieldsAreRejected(t *testing.T) {
	e := newEnv(t)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n2,20,South,2025-01-02,4,5\n3,30,West,2025-01-03\n")
	e.create(jobs.Spec{Name: "extra", SQL: "SELECT id, amount, region, day FROM raw_db.sales", Target: "s3://lake/curated/extra/", Table: "curated.extra"})
	r := e.start("extra", nil)
	if st := r.Stats; st.RowsRead != 3 || st.RowsWritten != 2 || st.RowsRejected != 1 {
		t.Fatalf("stats: %+v", st)
	}
	if got := e.one("SELECT string_agg(id::VARCHAR, ',' ORDER BY id) FROM curated.extra"); got != "1,3" {
		t.Errorf("output ids %s, want 1,3", got)
	}
	u, _ := storage.ParseURI(r.Stats.RejectedURI)
	rc, _, err := e.l.Store.Get(e.ctx, u.Bucket, u.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	for _, want := range []string{"TOO MANY COLUMNS", `"original":"2,20,South,2025-01-02,4,5"`, `"line":3`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("rejected rows lack %s:\n%s", want, body)
		}
	}
	// Athena's reading of the table is unchanged: extra fields are ignored.
	if got := e.one("SELECT count(*) FROM raw_db.sales"); got != "3" {
		t.Errorf("a query reads %s rows, want 3", got)
	}
}
