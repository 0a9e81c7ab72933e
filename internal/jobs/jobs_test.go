package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/storage"
)

type env struct {
	t   *testing.T
	ctx context.Context
	l   *lake.Lake
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvIn(t, t.TempDir())
}

// newEnvIn is newEnv with the lake in dir.
func newEnvIn(t *testing.T, dir string) *env {
	t.Helper()
	ctx := context.Background()
	l, err := lake.Open(ctx, lakeConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	l.Jobs.Backoff = 10 * time.Millisecond
	e := &env{t: t, ctx: ctx, l: l}
	if err := l.Store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	e.sql("CREATE DATABASE raw_db")
	e.sql(`CREATE EXTERNAL TABLE raw_db.sales (id bigint, amount double, region string, day date)
		ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/sales/' TBLPROPERTIES ('skip.header.line.count'='1')`)
	return e
}

func (e *env) put(key, body string) {
	e.t.Helper()
	if _, err := e.l.Store.Put(e.ctx, "lake", key, strings.NewReader(body), storage.PutOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) sql(q string) [][]any {
	e.t.Helper()
	c, _, err := e.l.Query.Run(e.ctx, q, "")
	if err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return c.Rows
}

// one returns the single value of a query, formatted.
func (e *env) one(q string) string {
	e.t.Helper()
	rows := e.sql(q)
	if len(rows) != 1 || len(rows[0]) != 1 {
		e.t.Fatalf("%s: %v", q, rows)
	}
	return fmt.Sprint(rows[0][0])
}

func (e *env) create(spec jobs.Spec) {
	e.t.Helper()
	if err := e.l.Jobs.Create(e.ctx, spec); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) start(name string, args map[string]string) jobs.Run {
	e.t.Helper()
	run, err := e.l.Jobs.Start(e.ctx, name, jobs.StartOptions{Args: args})
	if err != nil {
		e.t.Fatalf("start %s: %v (%+v)", name, err, run)
	}
	return run
}

const salesSQL = `SELECT id, round(amount * 2, 2) AS doubled, region, year(day) AS year, month(day) AS month
FROM raw_db.sales WHERE amount >= ${min_amount}`

func TestIncrementalBookmarks(t *testing.T) {
	e := newEnv(t)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n2,20,South,2025-01-02\n3,0.5,North,2025-02-01\n")
	e.create(jobs.Spec{Name: "curate", SQL: salesSQL, Args: map[string]string{"min_amount": "1"}, Target: "s3://lake/curated/sales/",
		PartitionBy: []string{"year", "month"}, Table: "curated.sales", Bookmarks: true})

	r1 := e.start("curate", nil)
	if r1.State != jobs.StateSucceeded || r1.Stats.RowsRead != 3 || r1.Stats.RowsWritten != 2 || r1.Stats.RowsFiltered != 1 || r1.Stats.FilesRead != 1 {
		t.Fatalf("first run: %+v", r1)
	}
	if got := e.one("SELECT count(*) FROM curated.sales"); got != "2" {
		t.Errorf("after run 1: %s rows", got)
	}
	// Nothing new: nothing read.
	r2 := e.start("curate", nil)
	if r2.Stats.FilesRead != 0 || r2.Stats.RowsWritten != 0 {
		t.Errorf("second run read %d files, wrote %d rows", r2.Stats.FilesRead, r2.Stats.RowsWritten)
	}
	// A new file: only it is read.
	e.put("raw/sales/b.csv", "id,amount,region,day\n4,40,West,2025-02-03\n")
	r3 := e.start("curate", nil)
	if r3.Stats.FilesRead != 1 || r3.Stats.RowsWritten != 1 {
		t.Errorf("third run read %d files, wrote %d rows", r3.Stats.FilesRead, r3.Stats.RowsWritten)
	}
	// A rewritten file counts as new (its ETag changed).
	e.put("raw/sales/a.csv", "id,amount,region,day\n5,50,East,2025-03-01\n")
	r4 := e.start("curate", map[string]string{"min_amount": "0"})
	if r4.Stats.FilesRead != 1 || r4.Stats.RowsWritten != 1 || r4.Args["min_amount"] != "0" {
		t.Errorf("fourth run: %+v", r4.Stats)
	}
	if got := e.one("SELECT count(*) FROM curated.sales"); got != "4" {
		t.Errorf("after run 4: %s rows", got)
	}
	if got := e.one("SELECT string_agg(DISTINCT year || '-' || month, ',' ORDER BY year || '-' || month) FROM curated.sales"); got != "2025-1,2025-2,2025-3" {
		t.Errorf("partitions: %s", got)
	}
	n, err := e.l.Jobs.ResetBookmark(e.ctx, "curate")
	if err != nil || n != 2 {
		t.Errorf("reset bookmark: %d %v", n, err)
	}
	r5 := e.start("curate", nil)
	if r5.Stats.FilesRead != 2 {
		t.Errorf("after reset read %d files", r5.Stats.FilesRead)
	}
	// Output is Parquet in Hive folders under the target, registered with partitions.
	parts := e.sql("SHOW PARTITIONS curated.sales")
	if len(parts) != 3 || fmt.Sprint(parts[0][0]) != "year=2025/month=1" {
		t.Errorf("partitions: %v", parts)
	}
	found := 0
	for o, err := range storage.Walk(e.ctx, e.l.Store, "lake", "curated/sales/year=2025/month=1/") {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(o.Key, ".parquet") && strings.Contains(o.Key, "/part-jr-") {
			found++
		}
	}
	if found == 0 {
		t.Error("no part-*.parquet files under curated/sales/year=2025/month=1/")
	}
}

func TestOverwritePartitionsIdempotent(t *testing.T) {
	e := newEnv(t)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n2,20,South,2025-01-02\n3,30,North,2025-02-01\n")
	e.create(jobs.Spec{Name: "op", SQL: "SELECT id, amount, region FROM raw_db.sales WHERE region = '${region}'", Target: "s3://lake/curated/op/",
		PartitionBy: []string{"region"}, Mode: jobs.ModeOverwritePartitions, Table: "curated.op"})
	for range 3 {
		e.start("op", map[string]string{"region": "North"})
	}
	if got := e.one("SELECT count(*) FROM curated.op"); got != "2" {
		t.Errorf("after three identical runs: %s rows, want 2", got)
	}
	e.start("op", map[string]string{"region": "South"})
	e.start("op", map[string]string{"region": "South"})
	if got := e.one("SELECT count(*) || '/' || count(DISTINCT region) FROM curated.op"); got != "3/2" {
		t.Errorf("rows/regions: %s, want 3/2", got)
	}
	// Replaced files stay readable for the grace period (readers may hold
	// them), then are gone from storage too.
	files := func() int {
		n := 0
		for o, err := range storage.Walk(e.ctx, e.l.Store, "lake", "curated/op/") {
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(o.Key, ".parquet") {
				n++
			}
		}
		return n
	}
	if n := files(); n != 5 {
		t.Errorf("%d Parquet files under the target before collection, want 2 live and 3 replaced", n)
	}
	if n, err := e.l.Engine.CollectAllGarbage(e.ctx); err != nil || n != 3 {
		t.Errorf("collected %d replaced files, want 3: %v", n, err)
	}
	if n := files(); n != 2 {
		t.Errorf("%d Parquet files under the target, want 2", n)
	}
	// Overwrite replaces everything.
	if err := e.l.Jobs.Create(e.ctx, jobs.Spec{Name: "ow", SQL: "SELECT id, amount, region FROM raw_db.sales WHERE id = 1", Target: "s3://lake/curated/op/",
		PartitionBy: []string{"region"}, Mode: jobs.ModeOverwrite, Table: "curated.op"}); err != nil {
		t.Fatal(err)
	}
	e.start("ow", nil)
	if got := e.one("SELECT count(*) FROM curated.op"); got != "1" {
		t.Errorf("after overwrite: %s rows", got)
	}
}

func TestRejectedRows(t *testing.T) {
	e := newEnv(t)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n2,abc,South,2025-01-02\n3,30,North,not-a-date\n4,40\n5,50,West,2025-01-05\n")
	e.create(jobs.Spec{Name: "rj", SQL: "SELECT id, amount, region, day FROM raw_db.sales", Target: "s3://lake/curated/rj/", Table: "curated.rj"})
	r := e.start("rj", nil)
	st := r.Stats
	if st.RowsRead != 5 || st.RowsWritten != 2 || st.RowsRejected != 3 || st.RowsFiltered != 0 {
		t.Fatalf("stats: %+v", st)
	}
	if !strings.HasPrefix(st.RejectedURI, "s3://lake/curated/rj/_rejected/"+r.ID+"/") {
		t.Fatalf("rejected stored at %q", st.RejectedURI)
	}
	u, _ := storage.ParseURI(st.RejectedURI)
	rc, _, err := e.l.Store.Get(e.ctx, u.Bucket, u.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	text := string(body)
	for _, want := range []string{`"file":"s3://lake/raw/sales/a.csv"`, `"line":3`, `"column":"amount"`, `"original":"2,abc,South,2025-01-02"`, `"line":4`, `"column":"day"`, `"line":5`, "MISSING COLUMNS"} {
		if !strings.Contains(text, want) {
			t.Errorf("rejected rows lack %s:\n%s", want, text)
		}
	}
	// The rejected rows are not data of the output table.
	if got := e.one("SELECT count(*) FROM curated.rj"); got != "2" {
		t.Errorf("output has %s rows", got)
	}

	// Over the threshold: the run fails and publishes nothing.
	e.create(jobs.Spec{Name: "strict", SQL: "SELECT id, amount FROM raw_db.sales", Target: "s3://lake/curated/strict/", Table: "curated.strict", MaxRejected: "10%"})
	run, err := e.l.Jobs.Start(e.ctx, "strict", jobs.StartOptions{})
	if !errors.Is(err, jobs.ErrTooManyRejected) || run.State != jobs.StateFailed {
		t.Fatalf("strict run: %v %+v", err, run)
	}
	if _, err := e.l.Catalog.GetTable(e.ctx, "curated", "strict"); err == nil {
		t.Error("a failed run created its output table")
	}
	for o, err := range storage.Walk(e.ctx, e.l.Store, "lake", "curated/strict/") {
		if err == nil && strings.HasSuffix(o.Key, ".parquet") {
			t.Errorf("a failed run left %s", o.Key)
		}
	}
	e.create(jobs.Spec{Name: "lenient", SQL: "SELECT id, amount FROM raw_db.sales", Target: "s3://lake/curated/lenient/", MaxRejected: "1"})
	if _, err := e.l.Jobs.Start(e.ctx, "lenient", jobs.StartOptions{}); !errors.Is(err, jobs.ErrTooManyRejected) {
		t.Errorf("max-rejected 1 with 1 amount rejection + 1 short row: %v", err)
	}
}

func TestCreateChecksSQL(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		spec jobs.Spec
		want string
	}{
		{jobs.Spec{Name: "a", SQL: "SELEC id FROM raw_db.sales", Target: "s3://lake/x/"}, "syntax error"},
		{jobs.Spec{Name: "b", SQL: "SELECT nope FROM raw_db.sales", Target: "s3://lake/x/"}, "nope"},
		{jobs.Spec{Name: "c", SQL: "SELECT id FROM raw_db.missing", Target: "s3://lake/x/"}, "no such table"},
		{jobs.Spec{Name: "d", SQL: "SELECT id FROM raw_db.sales", Target: "/tmp/x"}, "target"},
		{jobs.Spec{Name: "e", SQL: "SELECT id FROM raw_db.sales", Target: "s3://lake/x/", PartitionBy: []string{"region"}}, `no column "region"`},
		{jobs.Spec{Name: "f", SQL: "SELECT id FROM raw_db.sales", Target: "s3://lake/x/", Mode: "upsert"}, "mode"},
		{jobs.Spec{Name: "g", SQL: "SELECT id FROM raw_db.sales", Target: "s3://lake/x/", MaxRejected: "lots"}, "max_rejected"},
		{jobs.Spec{Name: "h", SQL: "SELECT * FROM read_csv('/etc/passwd')", Target: "s3://lake/x/"}, "permission denied"},
		{jobs.Spec{Name: "i", SQL: "SELECT id FROM raw_db.sales", Target: "s3://lake/x/", Format: "parquet", Compression: "lz4"}, "compression"},
	} {
		err := e.l.Jobs.Create(e.ctx, c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.spec.Name, err, c.want)
		}
	}
	e.create(jobs.Spec{Name: "ok", SQL: "SELECT id FROM raw_db.sales WHERE region = '${r}'", Target: "s3://lake/x/"})
	if err := e.l.Jobs.Create(e.ctx, jobs.Spec{Name: "ok", SQL: "SELECT 1", Target: "s3://lake/x/"}); !errors.Is(err, jobs.ErrJobExists) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := e.l.Jobs.Start(e.ctx, "ok", jobs.StartOptions{}); !errors.Is(err, jobs.ErrMissingArgument) {
		t.Errorf("missing argument: %v", err)
	}
	if _, err := e.l.Jobs.Start(e.ctx, "nope", jobs.StartOptions{}); !errors.Is(err, jobs.ErrNoSuchJob) {
		t.Errorf("missing job: %v", err)
	}
}

// slowSQL keeps DuckDB busy for many seconds.
const slowSQL = "SELECT count(*) AS n FROM range(3000000000) a WHERE a.range % 7 = 3"

func TestTimeoutStopAndConcurrency(t *testing.T) {
	e := newEnv(t)
	e.create(jobs.Spec{Name: "slow", SQL: slowSQL, Target: "s3://lake/slow/", Timeout: 300 * time.Millisecond})
	start := time.Now()
	run, err := e.l.Jobs.Start(e.ctx, "slow", jobs.StartOptions{})
	if !errors.Is(err, jobs.ErrTimeout) || run.State != jobs.StateTimeout {
		t.Fatalf("timeout: %v %+v", err, run)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("timeout took %s", d)
	}

	e.create(jobs.Spec{Name: "long", SQL: slowSQL, Target: "s3://lake/long/"})
	done := make(chan jobs.Run, 1)
	go func() {
		r, _ := e.l.Jobs.Start(e.ctx, "long", jobs.StartOptions{})
		done <- r
	}()
	var running jobs.Run
	for i := 0; i < 200; i++ {
		runs, _ := e.l.Jobs.Runs(e.ctx, "long")
		if len(runs) == 1 && runs[0].State == jobs.StateRunning {
			running = runs[0]
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if running.ID == "" {
		t.Fatal("the run never showed as RUNNING")
	}
	// A second start beyond max concurrent runs (1) is refused.
	if _, err := e.l.Jobs.Start(e.ctx, "long", jobs.StartOptions{}); !errors.Is(err, jobs.ErrConcurrentRuns) || !strings.Contains(err.Error(), "concurrent runs exceeded") {
		t.Errorf("second start: %v", err)
	}
	if err := e.l.Jobs.Stop(e.ctx, running.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.State != jobs.StateStopped {
			t.Errorf("stopped run is %s: %s", r.State, r.Error)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("stop did not stop the run")
	}
	got, _ := e.l.Jobs.GetRun(e.ctx, running.ID)
	if got.State != jobs.StateStopped || got.EndedAt.IsZero() {
		t.Errorf("persisted: %+v", got)
	}
	if err := e.l.Jobs.Stop(e.ctx, running.ID); !errors.Is(err, jobs.ErrRunNotActive) {
		t.Errorf("stopping a stopped run: %v", err)
	}
}

func TestRetries(t *testing.T) {
	e := newEnv(t)
	// A Conversion Error fails every attempt the same way: it is not retried.
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n")
	e.create(jobs.Spec{Name: "bad", SQL: "SELECT CAST(region AS INTEGER) AS r FROM raw_db.sales", Target: "s3://lake/bad/", MaxRetries: 2})
	_, err := e.l.Jobs.Start(e.ctx, "bad", jobs.StartOptions{})
	if err == nil {
		t.Fatal("cast error succeeded")
	}
	runs, _ := e.l.Jobs.Runs(e.ctx, "bad")
	if len(runs) != 1 || runs[0].State != jobs.StateFailed || !strings.Contains(runs[0].Error, "Conversion Error") {
		t.Errorf("a permanent error was retried or misreported: %+v", runs)
	}
}

// lakeMeta remembers each home's metadata database, so that a lake opened
// again on the same home (or by a child process, told by
// TARN_TEST_LAKE_META) finds it.
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
	if dsn := os.Getenv("TARN_TEST_LAKE_META"); dsn != "" {
		cfg.Meta = meta.ConfigFor(dsn)
		return cfg
	}
	cfg.Meta = metatest.Config(t, cfg.Meta.Path)
	lakeMeta.Store(home, cfg.Meta)
	return cfg
}

// childMetaEnv is the environment a child process needs to open home's
// lake on the same metadata database.
func childMetaEnv(home string) []string {
	if m, ok := lakeMeta.Load(home); ok && m.(meta.Config).DSN != "" {
		return []string{"TARN_TEST_LAKE_META=" + m.(meta.Config).DSN}
	}
	return nil
}
