package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tarn-lake/tarn/internal/api"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/query"
)

// TestRunMetricsValues checks the run figures /metrics reports against runs
// with known states, times and stats, written straight into a real SQLite (or PostgreSQL)
// metadata database. The durations are powers of two so that their sums
// print exactly.
func TestRunMetricsValues(t *testing.T) {
	ctx := context.Background()
	db, err := meta.Open(ctx, metatest.Config(t, filepath.Join(t.TempDir(), "meta.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for comp, m := range map[string][]meta.Migration{"jobs": jobs.Migrations, "crawler": crawler.Migrations, "query": query.Migrations} {
		if err := db.Migrate(ctx, comp, m); err != nil {
			t.Fatal(err)
		}
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.SQL().ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	const t0 = "2026-01-01T00:00:00.000000000Z"
	job := `INSERT INTO job_runs (id, job, attempt, state, started_at, ended_at, stats) VALUES (?, 'j', 1, ?, ?, ?, ?)`
	exec(job, "jr-1", "SUCCEEDED", t0, "2026-01-01T00:00:01.500000000Z", `{"rows_read":10,"rows_rejected":3}`)
	exec(job, "jr-2", "FAILED", t0, "2026-01-01T00:00:02.000000000Z", `{"rows_rejected":4}`)
	exec(job, "jr-3", "SUCCEEDED", "2026-01-01T23:59:59.000000000Z", "2026-01-02T00:00:01.000000000Z", `{"rows_read":5}`)
	exec(job, "jr-4", "RUNNING", t0, "", `{}`)
	crawl := `INSERT INTO crawler_runs (id, crawler, state, started_at) VALUES (?, 'c', ?, ?)`
	exec(crawl, "cr-1", "SUCCEEDED", t0)
	exec(crawl, "cr-2", "SUCCEEDED", t0)
	exec(crawl, "cr-3", "FAILED", t0)
	q := `INSERT INTO query_executions (id, sql, state, submitted_at, ended_at, bytes_scanned) VALUES (?, 'SELECT 1', ?, ?, ?, ?)`
	exec(q, "q1", "SUCCEEDED", t0, "2026-01-01T00:00:00.007812500Z", 100)
	exec(q, "q2", "FAILED", t0, "2026-01-01T00:00:00.250000000Z", 50)
	exec(q, "q3", "CANCELLED", t0, "2026-01-01T00:01:01.000000000Z", 0)
	exec(q, "q4", "RUNNING", t0, "", 7)

	a := api.New(api.DefaultConfig(), api.Deps{DB: db.SQL()})
	defer a.Close()
	srv := httptest.NewServer(promhttp.HandlerFor(a.Registry(), promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d %s", resp.StatusCode, body)
	}
	got := string(body)
	for _, want := range []string{
		`tarn_job_runs{state="SUCCEEDED"} 2`,
		`tarn_job_runs{state="FAILED"} 1`,
		`tarn_job_runs{state="RUNNING"} 1`,
		`tarn_job_rows_rejected_total 7`,
		// 1.5 + 2 + 2 (across midnight); the running run is not counted.
		`tarn_job_run_seconds_total 5.5`,
		`tarn_crawler_runs{state="SUCCEEDED"} 2`,
		`tarn_crawler_runs{state="FAILED"} 1`,
		`tarn_query_executions{state="SUCCEEDED"} 1`,
		`tarn_query_executions{state="FAILED"} 1`,
		`tarn_query_executions{state="CANCELLED"} 1`,
		`tarn_query_executions{state="RUNNING"} 1`,
		`tarn_query_data_scanned_bytes_total 157`,
		`tarn_query_duration_seconds_bucket{le="0.01"} 1`,
		`tarn_query_duration_seconds_bucket{le="0.1"} 1`,
		`tarn_query_duration_seconds_bucket{le="0.25"} 2`,
		`tarn_query_duration_seconds_bucket{le="60"} 2`,
		`tarn_query_duration_seconds_bucket{le="300"} 3`,
		`tarn_query_duration_seconds_bucket{le="+Inf"} 3`,
		`tarn_query_duration_seconds_sum 61.2578125`,
		`tarn_query_duration_seconds_count 3`,
	} {
		if !strings.Contains(got, "\n"+want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, got)
		}
	}
}
