package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/storage"
)

// TestLogSharedWhileRunning: on a lake whose metadata is in PostgreSQL
// (several servers may share it) a running job's log so far is in its
// row, so another server shows it; the finished run's log is whole.
func TestLogSharedWhileRunning(t *testing.T) {
	ctx := context.Background()
	cfg := lake.DefaultConfig(t.TempDir())
	cfg.Meta = meta.ConfigFor(metatest.NewPostgresDatabase(t))
	l, err := lake.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	l.Jobs.Backoff = 10 * time.Millisecond
	if err := l.Store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Store.Put(ctx, "lake", "raw/sales/a.csv", strings.NewReader("id,amount\n1,2.5\n"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"CREATE DATABASE raw_db", `CREATE EXTERNAL TABLE raw_db.sales (id bigint, amount double)
		ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/sales/' TBLPROPERTIES ('skip.header.line.count'='1')`} {
		if _, _, err := l.Query.Run(ctx, q, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Jobs.Create(ctx, jobs.Spec{Name: "copy", SQL: "SELECT id, amount FROM raw_db.sales", Target: "s3://lake/curated/copy/"}); err != nil {
		t.Fatal(err)
	}
	seen := 0
	run, err := l.Jobs.Start(ctx, "copy", jobs.StartOptions{Progress: func(line string) {
		if !strings.HasPrefix(line, "source ") {
			return
		}
		// What another server reads of the run while it runs.
		runs, err := l.Jobs.Runs(ctx, "copy")
		if err != nil || len(runs) != 1 {
			t.Errorf("runs: %+v, %v", runs, err)
			return
		}
		stored := strings.Join(runs[0].Log, "\n")
		if runs[0].State != jobs.StateRunning && runs[0].State != jobs.StateStarting || !strings.Contains(stored, "attempt 1 of job copy started") || !strings.Contains(stored, line) {
			t.Errorf("run while it runs: %s, log:\n%s", runs[0].State, stored)
		}
		seen++
	}})
	if err != nil || run.State != jobs.StateSucceeded || seen != 1 {
		t.Fatalf("run: %+v, %v (source line seen %d times)", run, err, seen)
	}
	saved, err := l.Jobs.GetRun(ctx, run.ID)
	if err != nil || strings.Join(saved.Log, "\n") != strings.Join(run.Log, "\n") {
		t.Errorf("stored log %q, want %q (%v)", saved.Log, run.Log, err)
	}
}

// TestRetryPending: a failed attempt whose stored log ends with the retry
// line awaits another attempt until its delay and the grace have passed.
func TestRetryPending(t *testing.T) {
	end := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	run := jobs.Run{State: jobs.StateFailed, EndedAt: end, Log: []string{"03:04:05.000 failed", "03:04:05.001 " + jobs.RetryLine + "2s"}}
	for _, c := range []struct {
		run  jobs.Run
		now  time.Time
		want bool
	}{
		{run, end.Add(time.Second), true},
		{run, end.Add(2*time.Second + 59*time.Second), true},
		{run, end.Add(2*time.Second + time.Minute), false},
		{jobs.Run{State: jobs.StateFailed, EndedAt: end, Log: []string{"03:04:05.000 failed"}}, end, false},
		{jobs.Run{State: jobs.StateFailed, EndedAt: end, Log: []string{"03:04:05.001 " + jobs.RetryLine + "soon"}}, end, false},
		{jobs.Run{State: jobs.StateRunning, EndedAt: end, Log: run.Log}, end, false},
		{jobs.Run{State: jobs.StateFailed}, end, false},
	} {
		if got := jobs.RetryPending(c.run, c.now, time.Minute); got != c.want {
			t.Errorf("RetryPending(%+v, %s) = %v", c.run, c.now, got)
		}
	}
}
