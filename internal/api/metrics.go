package api

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// runsCollector reads run and query figures from the metadata database at
// scrape time, so they cover every process that shares the lake (the CLI
// too) and survive restarts.
type runsCollector struct {
	db *sql.DB

	jobRuns      *prometheus.Desc
	crawlerRuns  *prometheus.Desc
	queries      *prometheus.Desc
	scanned      *prometheus.Desc
	rowsRejected *prometheus.Desc
	jobSeconds   *prometheus.Desc
	queryLatency *prometheus.Desc
}

// latencyBuckets are the query latency histogram's upper bounds, in seconds.
var latencyBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

func newRunsCollector(db *sql.DB) *runsCollector {
	return &runsCollector{
		db:           db,
		jobRuns:      prometheus.NewDesc("tarn_job_runs", "Job runs by state.", []string{"state"}, nil),
		crawlerRuns:  prometheus.NewDesc("tarn_crawler_runs", "Crawler runs by state.", []string{"state"}, nil),
		queries:      prometheus.NewDesc("tarn_query_executions", "Query executions by state.", []string{"state"}, nil),
		scanned:      prometheus.NewDesc("tarn_query_data_scanned_bytes_total", "Data scanned by queries, as Athena bills it.", nil, nil),
		rowsRejected: prometheus.NewDesc("tarn_job_rows_rejected_total", "Rows jobs rejected to dead letters.", nil, nil),
		jobSeconds:   prometheus.NewDesc("tarn_job_run_seconds_total", "Time spent in finished job runs.", nil, nil),
		queryLatency: prometheus.NewDesc("tarn_query_duration_seconds", "Latency of finished query executions (submitted to ended).", nil, nil),
	}
}

func (c *runsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.jobRuns, c.crawlerRuns, c.queries, c.scanned, c.rowsRejected, c.jobSeconds, c.queryLatency} {
		ch <- d
	}
}

func (c *runsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	byState := func(d *prometheus.Desc, table string) {
		rows, err := c.db.QueryContext(ctx, `SELECT state, count(*) FROM `+table+` GROUP BY state`)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(d, err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			var state string
			var n float64
			if rows.Scan(&state, &n) == nil {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, n, state)
			}
		}
	}
	byState(c.jobRuns, "job_runs")
	byState(c.crawlerRuns, "crawler_runs")
	byState(c.queries, "query_executions")
	scalar := func(d *prometheus.Desc, q string) {
		var v sql.NullFloat64
		if err := c.db.QueryRowContext(ctx, q).Scan(&v); err != nil {
			ch <- prometheus.NewInvalidMetric(d, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v.Float64)
	}
	scalar(c.scanned, `SELECT sum(bytes_scanned) FROM query_executions`)
	scalar(c.rowsRejected, `SELECT sum(json_extract(stats, '$.rows_rejected')) FROM job_runs`)
	scalar(c.jobSeconds, `SELECT sum((julianday(ended_at) - julianday(started_at)) * 86400) FROM job_runs WHERE ended_at <> ''`)
	c.latency(ctx, ch)
}

// latency builds the query latency histogram from the history; SQLite
// counts the buckets, so a scrape transfers one row whatever the history's
// size.
func (c *runsCollector) latency(ctx context.Context, ch chan<- prometheus.Metric) {
	var cols []string
	for _, b := range latencyBuckets {
		cols = append(cols, fmt.Sprintf("coalesce(sum(d <= %g), 0)", b))
	}
	q := `SELECT count(*), coalesce(sum(d), 0), ` + strings.Join(cols, ", ") +
		` FROM (SELECT (julianday(ended_at) - julianday(submitted_at)) * 86400 AS d FROM query_executions WHERE ended_at <> '')`
	vals := make([]float64, 2+len(latencyBuckets))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := c.db.QueryRowContext(ctx, q).Scan(ptrs...); err != nil {
		ch <- prometheus.NewInvalidMetric(c.queryLatency, err)
		return
	}
	buckets := make(map[float64]uint64, len(latencyBuckets))
	for i, b := range latencyBuckets {
		buckets[b] = uint64(vals[2+i])
	}
	ch <- prometheus.MustNewConstHistogram(c.queryLatency, uint64(vals[0]), vals[1], buckets)
}
