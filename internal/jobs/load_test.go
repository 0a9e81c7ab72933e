package jobs_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/storage"
)

// newWarehouseEnv is newEnv plus the warehouse table analytics.sales.
func newWarehouseEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.sql("CREATE SCHEMA analytics")
	e.sql(`CREATE TABLE analytics.sales (id BIGINT NOT NULL, amount DECIMAL(12,2), region VARCHAR(20),
		day DATE, loaded_at TIMESTAMP DEFAULT GETDATE())`)
	return e
}

// table returns the warehouse table's rows as "id:amount:region" sorted by id.
func (e *env) table() string {
	e.t.Helper()
	var out []string
	for _, r := range e.sql("SELECT id, amount, region FROM analytics.sales ORDER BY id") {
		out = append(out, fmt.Sprintf("%v:%v:%v", r[0], r[1], r[2]))
	}
	return strings.Join(out, " ")
}

func (e *env) bookmarks(job string) int {
	e.t.Helper()
	b, err := e.l.Jobs.Bookmarks(e.ctx, job)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(b)
}

const loadSQL = "SELECT id, amount, region, day FROM raw_db.sales WHERE amount >= 1"

func TestWarehouseAppendWithBookmarks(t *testing.T) {
	e := newWarehouseEnv(t)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n2,20,South,2025-01-02\n3,0.5,North,2025-02-01\n")
	e.create(jobs.Spec{Name: "load", SQL: loadSQL, Target: "warehouse://Analytics.Sales", Bookmarks: true})
	spec, err := e.l.Jobs.Get(e.ctx, "load")
	if err != nil || spec.Target != "warehouse://analytics.sales" || spec.Mode != jobs.ModeAppend || spec.Format != "" || spec.FileSize != 0 {
		t.Fatalf("stored spec: %+v %v", spec, err)
	}

	r1 := e.start("load", nil)
	if st := r1.Stats; st.RowsRead != 3 || st.RowsWritten != 2 || st.RowsFiltered != 1 || st.FilesRead != 1 || st.FilesWritten != 0 {
		t.Fatalf("first run: %+v", st)
	}
	if got := e.table(); got != "1:10:North 2:20:South" {
		t.Errorf("after run 1: %s", got)
	}
	// Nothing new: nothing read, nothing inserted.
	if r := e.start("load", nil); r.Stats.FilesRead != 0 || r.Stats.RowsWritten != 0 {
		t.Errorf("second run: %+v", r.Stats)
	}
	// A new file: only its rows are inserted.
	e.put("raw/sales/b.csv", "id,amount,region,day\n4,40,West,2025-02-03\n")
	r3 := e.start("load", nil)
	if r3.Stats.FilesRead != 1 || r3.Stats.RowsWritten != 1 || r3.Stats.RowsRead != 1 {
		t.Errorf("third run: %+v", r3.Stats)
	}
	if got := e.table(); got != "1:10:North 2:20:South 4:40:West" {
		t.Errorf("after run 3: %s", got)
	}
	if n := e.bookmarks("load"); n != 2 {
		t.Errorf("%d bookmarks, want 2", n)
	}
	// Column defaults of columns the SQL does not produce apply.
	if got := e.one("SELECT count(*) FROM analytics.sales WHERE loaded_at IS NOT NULL"); got != "3" {
		t.Errorf("loaded_at set on %s rows", got)
	}
	// Every load is recorded in the warehouse with its run.
	if got := e.internal("SELECT count(*) FROM warehouse.tarn.job_loads WHERE job = 'load' AND recorded_at IS NOT NULL"); got != "3" {
		t.Errorf("%s recorded loads, want 3", got)
	}
	for _, line := range []string{"inserted 1 rows into warehouse table analytics.sales", "rows read 1 = written 1"} {
		if !strings.Contains(strings.Join(r3.Log, "\n"), line) {
			t.Errorf("log lacks %q:\n%s", line, strings.Join(r3.Log, "\n"))
		}
	}
}

func TestWarehouseOverwrite(t *testing.T) {
	e := newWarehouseEnv(t)
	e.sql("INSERT INTO analytics.sales (id, amount, region) VALUES (100, 1, 'Old'), (101, 2, 'Old')")
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n2,20,South,2025-01-02\n9,abc,East,2025-01-03\n")
	e.create(jobs.Spec{Name: "ow", SQL: "SELECT id, amount, region FROM raw_db.sales", Target: "warehouse://analytics.sales", Mode: jobs.ModeOverwrite})
	for range 2 {
		r := e.start("ow", nil)
		if r.Stats.RowsWritten != 2 || r.Stats.RowsRejected != 1 || r.Stats.RowsRead != 3 {
			t.Errorf("overwrite: %+v", r.Stats)
		}
		if got := e.table(); got != "1:10:North 2:20:South" {
			t.Errorf("after overwrite: %s", got)
		}
	}
	// An overwrite that reads the table it replaces sees the old rows.
	e.create(jobs.Spec{Name: "self", SQL: "SELECT id + 10 AS id, amount, region FROM analytics.sales UNION ALL SELECT id, amount, region FROM raw_db.sales",
		Target: "warehouse://analytics.sales", Mode: jobs.ModeOverwrite})
	r := e.start("self", nil)
	// (Rows read count the lake files' rows; warehouse rows are not input.)
	if got := e.table(); got != "1:10:North 2:20:South 11:10:North 12:20:South" || r.Stats.RowsWritten != 4 || r.Stats.RowsRead != 3 || r.Stats.RowsRejected != 1 || r.Stats.RowsFiltered != 0 {
		t.Errorf("self overwrite: %s (%+v)", got, r.Stats)
	}
}

func TestWarehouseFailedRunLeavesTableUnchanged(t *testing.T) {
	e := newWarehouseEnv(t)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n")
	e.create(jobs.Spec{Name: "ok", SQL: loadSQL, Target: "warehouse://analytics.sales", Bookmarks: true})
	e.start("ok", nil)
	before := e.table()

	// A value that does not convert fails the INSERT midway: nothing of
	// the overwrite's DELETE or of the run is kept, the bookmark stays.
	e.put("raw/sales/b.csv", "id,amount,region,day\n2,20,7,2025-01-02\n3,30,South,2025-01-03\n")
	e.create(jobs.Spec{Name: "bad", SQL: "SELECT id, CAST(region AS INTEGER) AS amount FROM raw_db.sales",
		Target: "warehouse://analytics.sales", Mode: jobs.ModeOverwrite, Bookmarks: true})
	run, err := e.l.Jobs.Start(e.ctx, "bad", jobs.StartOptions{})
	if err == nil || run.State != jobs.StateFailed || !strings.Contains(err.Error(), "Conversion Error") {
		t.Fatalf("bad run: %v %+v", err, run)
	}
	if got := e.table(); got != before {
		t.Errorf("after a failed overwrite: %s, want %s", got, before)
	}
	if n := e.bookmarks("bad"); n != 0 {
		t.Errorf("a failed run left %d bookmarks", n)
	}

	// Too many rejected rows: the run fails after its INSERT, which is
	// rolled back; the dead letters stay next to the source.
	e.put("raw/sales/c.csv", "id,amount,region,day\n5,abc,North,2025-01-01\n6,60,East,2025-01-06\n")
	e.create(jobs.Spec{Name: "strict", SQL: loadSQL, Target: "warehouse://analytics.sales", Bookmarks: true, MaxRejected: "0"})
	run, err = e.l.Jobs.Start(e.ctx, "strict", jobs.StartOptions{})
	if !errors.Is(err, jobs.ErrTooManyRejected) || run.State != jobs.StateFailed {
		t.Fatalf("strict run: %v %+v", err, run)
	}
	if got := e.table(); got != before {
		t.Errorf("after too many rejected: %s, want %s", got, before)
	}
	if n := e.bookmarks("strict"); n != 0 {
		t.Errorf("a failed run left %d bookmarks", n)
	}
	if got := e.internal("SELECT count(*) FROM warehouse.tarn.job_loads WHERE job = 'strict'"); got != "0" {
		t.Errorf("a failed run left %s load records", got)
	}
	if !strings.HasPrefix(run.Stats.RejectedURI, "s3://lake/raw/sales/_rejected/"+run.ID+"/") {
		t.Errorf("rejected rows at %q", run.Stats.RejectedURI)
	}
	if st := run.Stats; st.RowsWritten != 0 || st.RowsDiscarded != 4 || st.RowsRejected != 1 ||
		!strings.Contains(strings.Join(run.Log, "\n"), "discarded 4 rows: the insert into analytics.sales was rolled back") {
		t.Errorf("rolled back run: %+v\n%s", st, strings.Join(run.Log, "\n"))
	}
}

func TestWarehouseRejectedRows(t *testing.T) {
	e := newWarehouseEnv(t)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n2,abc,South,2025-01-02\n3,30,North,not-a-date\n4,40\n5,50,West,2025-01-05\n")
	e.create(jobs.Spec{Name: "rj", SQL: "SELECT id, amount, region, day FROM raw_db.sales", Target: "warehouse://analytics.sales"})
	r := e.start("rj", nil)
	if st := r.Stats; st.RowsRead != 5 || st.RowsWritten != 2 || st.RowsRejected != 3 || st.RowsFiltered != 0 {
		t.Fatalf("stats: %+v", st)
	}
	u, err := storage.ParseURI(r.Stats.RejectedURI)
	if err != nil || !strings.HasPrefix(r.Stats.RejectedURI, "s3://lake/raw/sales/_rejected/"+r.ID+"/") {
		t.Fatalf("rejected rows at %q: %v", r.Stats.RejectedURI, err)
	}
	rc, _, err := e.l.Store.Get(e.ctx, u.Bucket, u.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	for _, want := range []string{`"file":"s3://lake/raw/sales/a.csv"`, `"line":3`, `"column":"amount"`, "MISSING COLUMNS"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("rejected rows lack %s:\n%s", want, body)
		}
	}
	if got := e.table(); got != "1:10:North 5:50:West" {
		t.Errorf("table: %s", got)
	}
	// The dead letters are not data of the source table.
	if got := e.one("SELECT count(*) FROM raw_db.sales"); got != "5" {
		t.Errorf("raw_db.sales has %s rows", got)
	}
}

func TestWarehouseTargetValidation(t *testing.T) {
	e := newWarehouseEnv(t)
	e.sql("CREATE VIEW analytics.v AS SELECT id FROM analytics.sales")
	base := jobs.Spec{SQL: loadSQL, Target: "warehouse://analytics.sales"}
	for _, c := range []struct {
		name string
		edit func(*jobs.Spec)
		want string
	}{
		{"no-table", func(s *jobs.Spec) { s.Target = "warehouse://analytics.nope" }, "no warehouse table analytics.nope (CREATE TABLE analytics.nope"},
		{"no-schema", func(s *jobs.Spec) { s.Target = "warehouse://mart.sales" }, `no schema "mart"`},
		{"view", func(s *jobs.Spec) { s.Target = "warehouse://analytics.v" }, "is a view"},
		{"bad-name", func(s *jobs.Spec) { s.Target = "warehouse://a.b.c" }, "target: \"warehouse://a.b.c\" must be warehouse://schema.table"},
		{"reserved", func(s *jobs.Spec) { s.Target = "warehouse://tarn.job_loads" }, `schema "tarn" is reserved`},
		{"missing-column", func(s *jobs.Spec) { s.SQL = "SELECT id, amount AS total, region AS area FROM raw_db.sales" },
			`the table has no column "total", "area" (it has id, amount, region, day, loaded_at)`},
		{"mismatch", func(s *jobs.Spec) { s.SQL = "SELECT id, region AS amount FROM raw_db.sales" },
			`column "amount" is DECIMAL(12,2) in the table but VARCHAR in the SQL (CAST it in the SQL)`},
		{"not-null", func(s *jobs.Spec) { s.SQL = "SELECT amount, region FROM raw_db.sales" }, `column "id" is NOT NULL without a default`},
		{"duplicate", func(s *jobs.Spec) { s.SQL = "SELECT id, id AS ID FROM raw_db.sales" }, "two columns named"},
		{"partition_by", func(s *jobs.Spec) { s.PartitionBy = []string{"region"} }, "partition_by: a warehouse target is a table, not files"},
		{"format", func(s *jobs.Spec) { s.Format = "csv" }, "format: a warehouse target"},
		{"compression", func(s *jobs.Spec) { s.Compression = "zstd" }, "compression: a warehouse target"},
		{"file_size", func(s *jobs.Spec) { s.FileSize = 64 << 20 }, "file_size: a warehouse target"},
		{"table", func(s *jobs.Spec) { s.Table = "curated.sales" }, "table: warehouse://analytics.sales is already a table"},
		{"mode", func(s *jobs.Spec) { s.Mode = jobs.ModeOverwritePartitions }, "mode: overwrite-partitions is for partitioned s3:// output"},
	} {
		spec := base
		spec.Name = c.name
		c.edit(&spec)
		err := e.l.Jobs.Create(e.ctx, spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
	// Fitting types convert (BIGINT into INTEGER, DATE into TIMESTAMP,
	// anything into VARCHAR); the CLI's defaults (parquet, 128 MiB) count
	// as not set; a table in public needs no schema.
	e.sql("CREATE TABLE public.events (n INTEGER, ts TIMESTAMP, label VARCHAR)")
	e.create(jobs.Spec{Name: "fits", SQL: "SELECT id AS n, day AS ts, amount AS label FROM raw_db.sales", Target: "warehouse://events",
		Format: "parquet", FileSize: 128 << 20})
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10.5,North,2025-01-01\n")
	e.start("fits", nil)
	if got := fmt.Sprint(e.sql("SELECT n, CAST(ts AS VARCHAR), label FROM events")); got != "[[1 2025-01-01 00:00:00 10.5]]" {
		t.Errorf("events: %s", got)
	}
	// A job whose argument is missing is still checked for its table.
	err := e.l.Jobs.Create(e.ctx, jobs.Spec{Name: "args", SQL: "SELECT * FROM raw_db.sales WHERE region = '${r}'", Target: "warehouse://analytics.gone"})
	if !errors.Is(err, jobs.ErrInvalidTarget) {
		t.Errorf("missing table with a missing argument: %v", err)
	}
	// The table changed after Create: the run fails with the same message,
	// not retried.
	e.create(jobs.Spec{Name: "later", SQL: loadSQL, Target: "warehouse://analytics.sales", MaxRetries: 2})
	e.sql("ALTER TABLE analytics.sales RENAME COLUMN region TO area")
	run, err := e.l.Jobs.Start(e.ctx, "later", jobs.StartOptions{})
	if !errors.Is(err, jobs.ErrInvalidTarget) || run.Attempt != 1 || !strings.Contains(err.Error(), `no column "region"`) {
		t.Errorf("run after the table changed: %v (attempt %d)", err, run.Attempt)
	}
}

// TestWarehouseCrashBetweenCommits: the rows commit in the warehouse, then
// the process dies before the run and bookmark are recorded. Reopening the
// lake records them from warehouse.tarn.job_loads, and the next run does
// not load the same file again.
func TestWarehouseCrashBetweenCommits(t *testing.T) {
	home := t.TempDir()
	l, err := lake.Open(t.Context(), lakeConfig(t, home))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: t.Context(), l: l}
	if err := l.Store.CreateBucket(e.ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	e.sql("CREATE DATABASE raw_db")
	e.sql(`CREATE EXTERNAL TABLE raw_db.sales (id bigint, amount double, region string, day date)
		ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/sales/' TBLPROPERTIES ('skip.header.line.count'='1')`)
	e.sql("CREATE SCHEMA analytics")
	e.sql("CREATE TABLE analytics.sales (id BIGINT, amount DOUBLE, region VARCHAR)")
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n2,20,South,2025-01-02\n")
	e.create(jobs.Spec{Name: "load", SQL: "SELECT id, amount, region FROM raw_db.sales", Target: "warehouse://analytics.sales", Bookmarks: true})

	// The process "dies" right after the warehouse commit.
	var crashed string
	restore := jobs.SetAfterWarehouseCommit(func(runID string) error {
		crashed = runID
		runtime.Goexit()
		return nil
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = l.Jobs.Start(e.ctx, "load", jobs.StartOptions{})
	}()
	<-done
	restore()
	if crashed == "" {
		t.Fatal("the hook did not run")
	}
	if got := e.table(); got != "1:10:North 2:20:South" {
		t.Fatalf("warehouse after the crash: %s", got)
	}
	if n := e.bookmarks("load"); n != 0 {
		t.Fatalf("bookmark advanced before the metadata commit: %d", n)
	}
	r, _ := l.Jobs.GetRun(e.ctx, crashed)
	if r.State != jobs.StateRunning {
		t.Fatalf("crashed run is %s", r.State)
	}
	// Its process is gone.
	host, _ := os.Hostname()
	if _, err := l.Meta.SQL().ExecContext(e.ctx, `UPDATE job_runs SET owner = ? WHERE id = ?`, host+":999999999:1", crashed); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l, err = lake.Open(e.ctx, lakeConfig(t, home))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	e.l = l
	r, err = l.Jobs.GetRun(e.ctx, crashed)
	if err != nil || r.State != jobs.StateSucceeded || r.Stats.RowsWritten != 2 || r.Error != "" ||
		!strings.Contains(strings.Join(r.Log, "\n"), "recovered: the load into warehouse://analytics.sales committed") {
		t.Fatalf("recovered run: %v %+v", err, r)
	}
	if n := e.bookmarks("load"); n != 1 {
		t.Errorf("%d bookmarks after recovery, want 1", n)
	}
	// The retry loads nothing twice; a new file loads once.
	e.put("raw/sales/b.csv", "id,amount,region,day\n3,30,West,2025-01-03\n")
	r2 := e.start("load", nil)
	if r2.Stats.FilesRead != 1 || r2.Stats.RowsWritten != 1 {
		t.Errorf("run after recovery: %+v", r2.Stats)
	}
	if got := e.table(); got != "1:10:North 2:20:South 3:30:West" {
		t.Errorf("table: %s", got)
	}
}

// TestWarehouseMetadataFailureAfterCommit: the metadata commit fails after
// the warehouse commit. The run fails without a retry (the rows are in),
// and the job's next run records it before reading: no double load.
func TestWarehouseMetadataFailureAfterCommit(t *testing.T) {
	e := newWarehouseEnv(t)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n")
	e.create(jobs.Spec{Name: "load", SQL: loadSQL, Target: "warehouse://analytics.sales", Bookmarks: true, MaxRetries: 3})
	restore := jobs.SetAfterWarehouseCommit(func(string) error { return errors.New("metadata database unavailable") })
	run, err := e.l.Jobs.Start(e.ctx, "load", jobs.StartOptions{})
	restore()
	if !errors.Is(err, jobs.ErrLoadNotRecorded) || run.Attempt != 1 || run.State != jobs.StateFailed {
		t.Fatalf("run: %v %+v", err, run)
	}
	if got := e.table(); got != "1:10:North" {
		t.Fatalf("table: %s", got)
	}
	r2 := e.start("load", nil)
	if r2.Stats.FilesRead != 0 || r2.Stats.RowsWritten != 0 {
		t.Errorf("next run read %d files, wrote %d rows", r2.Stats.FilesRead, r2.Stats.RowsWritten)
	}
	if got := e.table(); got != "1:10:North" {
		t.Errorf("table after the next run: %s", got)
	}
	first, _ := e.l.Jobs.GetRun(e.ctx, run.ID)
	if first.State != jobs.StateSucceeded || first.Stats.RowsWritten != 1 {
		t.Errorf("first run after reconciliation: %+v", first)
	}
}

// internal reads one value of tarn's own bookkeeping on an engine session:
// queries may not read the warehouse's tarn schema.
func (e *env) internal(q string) string {
	e.t.Helper()
	s, err := e.l.Engine.Acquire(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	defer s.Release()
	var v any
	if err := s.Conn().QueryRowContext(e.ctx, q).Scan(&v); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return fmt.Sprint(v)
}
