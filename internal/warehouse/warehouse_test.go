package warehouse_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/warehouse"
)

// openLake opens the lake at home with the warehouse routed by the query
// service.
func openLake(t testing.TB, home string) *lake.Lake {
	t.Helper()
	ctx := context.Background()
	l, err := lake.Open(ctx, lakeConfig(t, home))
	if err != nil {
		t.Fatal(err)
	}
	if l.Query.Warehouse() == nil {
		w, err := warehouse.New(ctx, warehouse.DefaultConfig(), l.Engine)
		if err != nil {
			t.Fatal(err)
		}
		if l.Query, err = query.New(ctx, l.Meta, l.Engine, query.WithWarehouse(w)); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func run(t testing.TB, l *lake.Lake, sql string) [][]any {
	t.Helper()
	c, _, err := l.Query.Run(context.Background(), sql, "")
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return c.Rows
}

func TestSurvivesReopen(t *testing.T) {
	home := t.TempDir()
	l := openLake(t, home)
	ctx := context.Background()
	if err := l.Store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Store.Put(ctx, "lake", "raw/t/a.csv", strings.NewReader("1,x\n2,y\n"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"CREATE DATABASE raw",
		"CREATE EXTERNAL TABLE raw.t (id int, v string) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/t/'",
		"CREATE SCHEMA mart",
		"CREATE EXTERNAL SCHEMA lakeside FROM DATA CATALOG DATABASE 'raw'",
		"CREATE TABLE mart.t (k BIGINT IDENTITY(1,1), id INT, v VARCHAR, at TIMESTAMP DEFAULT GETDATE()) SORTKEY(id)",
		"COPY mart.t (id, v) FROM 's3://lake/raw/t/' CSV",
		"CREATE MATERIALIZED VIEW mart.mv AS SELECT count(*) AS n FROM mart.t",
		"CREATE VIEW mart.lv AS SELECT id FROM lakeside.t",
	} {
		run(t, l, s)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLake(t, home)
	defer l.Close()
	run(t, l, "INSERT INTO mart.t (id, v) SELECT id + 10, v FROM lakeside.t")
	got := run(t, l, "SELECT k, id, v FROM mart.t ORDER BY k")
	if fmt.Sprint(got) != "[[1 1 x] [2 2 y] [3 11 x] [4 12 y]]" {
		t.Errorf("after reopen: %v", got)
	}
	run(t, l, "REFRESH MATERIALIZED VIEW mart.mv")
	if got := run(t, l, "SELECT n FROM mart.mv"); fmt.Sprint(got) != "[[4]]" {
		t.Errorf("materialized view after reopen: %v", got)
	}
	if got := run(t, l, "SELECT count(*) FROM mart.lv"); fmt.Sprint(got) != "[[2]]" {
		t.Errorf("late-binding view after reopen: %v", got)
	}
}

// TestRefreshIsAtomic reads a materialized view while it is refreshed over
// and over: every read sees a whole result (a multiple of the batch), never
// half of one, and the view never disappears.
func TestRefreshIsAtomic(t *testing.T) {
	l := openLake(t, t.TempDir())
	defer l.Close()
	const batch = 5000
	run(t, l, "CREATE TABLE public.base (i BIGINT)")
	run(t, l, "CREATE MATERIALIZED VIEW public.mv AS SELECT i FROM public.base")
	ctx, cancel := context.WithCancel(context.Background())
	var reads, bad atomic.Int64
	var wg sync.WaitGroup
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, _, err := l.Query.Run(ctx, "SELECT count(*), count(DISTINCT i) FROM mv", "")
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					t.Errorf("read during refresh: %v", err)
					bad.Add(1)
					return
				}
				n, d := c.Rows[0][0].(int64), c.Rows[0][1].(int64)
				if n%batch != 0 || n != d {
					t.Errorf("read %d rows (%d distinct): not a whole refresh", n, d)
					bad.Add(1)
				}
				reads.Add(1)
			}
		}()
	}
	for k := 0; k < 20 && bad.Load() == 0; k++ {
		run(t, l, fmt.Sprintf("INSERT INTO public.base SELECT %d * %d + range FROM range(%d)", k, batch, batch))
		run(t, l, "REFRESH MATERIALIZED VIEW public.mv")
	}
	// The readers go on until one has read the last refresh's view: of the
	// reads that end from now, all but the three in flight began after it.
	after := reads.Load()
	for deadline := time.Now().Add(30 * time.Second); reads.Load() <= after+3 && bad.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no read of the view after its last refresh")
		}
	}
	cancel()
	wg.Wait()
	if reads.Load() == 0 {
		t.Fatal("no reads")
	}
	if got := run(t, l, "SELECT count(*) FROM mv"); fmt.Sprint(got) != fmt.Sprint([][]any{{int64(20 * batch)}}) {
		t.Errorf("final: %v", got)
	}
	t.Logf("%d reads during 20 refreshes", reads.Load())
}

func TestAutoRefresh(t *testing.T) {
	l := openLake(t, t.TempDir())
	defer l.Close()
	run(t, l, "CREATE TABLE base (i INT)")
	run(t, l, "CREATE MATERIALIZED VIEW mv AUTO REFRESH YES AS SELECT count(*) AS n FROM base")
	run(t, l, "CREATE MATERIALIZED VIEW mv2 AUTO REFRESH YES AS SELECT n * 10 AS n10 FROM mv")
	run(t, l, "CREATE MATERIALIZED VIEW manual AS SELECT count(*) AS n FROM base")
	run(t, l, "INSERT INTO base VALUES (1), (2), (3)")
	if got := run(t, l, "SELECT (SELECT n FROM mv), (SELECT n10 FROM mv2), (SELECT n FROM manual)"); fmt.Sprint(got) != "[[3 30 0]]" {
		t.Errorf("after insert: %v", got)
	}
	run(t, l, "DELETE FROM base WHERE i = 1")
	if got := run(t, l, "SELECT (SELECT n FROM mv), (SELECT n10 FROM mv2)"); fmt.Sprint(got) != "[[2 20]]" {
		t.Errorf("after delete: %v", got)
	}
}

// TestAuthorize checks the actions warehouse statements ask for.
func TestAuthorize(t *testing.T) {
	l := openLake(t, t.TempDir())
	defer l.Close()
	var asked []string
	deny := ""
	exec := func(sql string) error {
		_, err := l.Query.Execute(context.Background(), query.Request{SQL: sql, Authorize: func(action string, tg query.Target) error {
			asked = append(asked, action+" "+tg.Database+"."+tg.Table)
			if action == deny {
				return fmt.Errorf("%w: %s", query.ErrPermission, action)
			}
			return nil
		}}, &query.Collect{})
		return err
	}
	for _, s := range []string{"CREATE SCHEMA s", "CREATE TABLE s.t (a INT)", "INSERT INTO s.t VALUES (1)", "SELECT * FROM s.t", "UPDATE s.t SET a = 2", "DROP TABLE s.t"} {
		if err := exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	want := "redshift:CreateSchema s.|redshift:CreateTable s.t|redshift:WriteData s.t|redshift:ReadData s.t|redshift:WriteData s.t|redshift:DropTable s.t"
	if got := strings.Join(asked, "|"); got != want {
		t.Errorf("asked\n%s\nwant\n%s", got, want)
	}
	deny = "redshift:CreateTable"
	if err := exec("CREATE TABLE s.u (a INT)"); err == nil {
		t.Error("denied CREATE TABLE ran")
	}
	h, err := l.Query.History(context.Background(), 1)
	if err != nil || len(h) != 1 || h[0].StatementType != "DDL" || h[0].State != query.StateFailed {
		t.Errorf("history: %+v %v", h, err)
	}
}

// BenchmarkCopyCSV loads a CSV of 1M sales rows with COPY (go test -bench
// CopyCSV -benchtime 1x ./internal/warehouse).
func BenchmarkCopyCSV(b *testing.B) {
	l := openLake(b, b.TempDir())
	defer l.Close()
	ctx := context.Background()
	if err := l.Store.CreateBucket(ctx, "lake"); err != nil {
		b.Fatal(err)
	}
	const rows = 1_000_000
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 1<<20)
		fmt.Fprintln(w, "sale_id,customer_id,product_id,quantity,unit_price,sale_date,region")
		for i := 0; i < rows; i++ {
			fmt.Fprintf(w, "%d,C%d,P%d,%d,%d.%02d,2025-%02d-%02d,r%d\n", i, i%5000, i%300, 1+i%7, 1+i%90, i%100, 1+i%12, 1+i%28, i%5)
		}
		w.Flush()
		pw.Close()
	}()
	info, err := l.Store.Put(ctx, "lake", "raw/sales/sales.csv", pr, storage.PutOptions{})
	if err != nil {
		b.Fatal(err)
	}
	run(b, l, "CREATE SCHEMA staging")
	b.SetBytes(info.Size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		run(b, l, "DROP TABLE IF EXISTS staging.sales")
		run(b, l, `CREATE TABLE staging.sales (sale_id BIGINT, customer_id VARCHAR(20), product_id VARCHAR(20), quantity INT,
			unit_price DECIMAL(10,2), sale_date DATE, region VARCHAR(10)) DISTKEY(customer_id) SORTKEY(sale_date)`)
		b.StartTimer()
		start := time.Now()
		got := run(b, l, "COPY staging.sales FROM 's3://lake/raw/sales/' FORMAT AS CSV IGNOREHEADER 1")
		b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
		if got[0][0].(int64) != rows {
			b.Fatalf("loaded %v", got)
		}
	}
}

// lakeMeta remembers each home's metadata database, so that a lake opened
// again on the same home finds it.
var lakeMeta sync.Map // home → meta.Config

// lakeConfig is a lake in home with its metadata on the backend
// TARN_TEST_META names (metatest: SQLite in home, or a fresh PostgreSQL
// database, the same one each time home is opened).
func lakeConfig(t testing.TB, home string) lake.Config {
	t.Helper()
	cfg := lake.DefaultConfig(home)
	if m, ok := lakeMeta.Load(home); ok {
		cfg.Meta = m.(meta.Config)
		return cfg
	}
	cfg.Meta = metatest.Config(t, cfg.Meta.Path)
	lakeMeta.Store(home, cfg.Meta)
	return cfg
}
