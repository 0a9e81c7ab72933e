package api

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
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

// Collect asks each service for its figures: the run tables are theirs, and
// their SQL is written to run on SQLite and PostgreSQL alike.
func (c *runsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	byState := func(d *prometheus.Desc, counts map[string]int64) {
		for state, n := range counts {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(n), state)
		}
	}
	if f, err := jobs.RunFigures(ctx, c.db); err != nil {
		for _, d := range []*prometheus.Desc{c.jobRuns, c.rowsRejected, c.jobSeconds} {
			ch <- prometheus.NewInvalidMetric(d, err)
		}
	} else {
		byState(c.jobRuns, f.ByState)
		ch <- prometheus.MustNewConstMetric(c.rowsRejected, prometheus.CounterValue, float64(f.RowsRejected))
		ch <- prometheus.MustNewConstMetric(c.jobSeconds, prometheus.CounterValue, f.Seconds)
	}
	if counts, err := crawler.RunsByState(ctx, c.db); err != nil {
		ch <- prometheus.NewInvalidMetric(c.crawlerRuns, err)
	} else {
		byState(c.crawlerRuns, counts)
	}
	if f, err := query.ExecutionFigures(ctx, c.db, latencyBuckets); err != nil {
		for _, d := range []*prometheus.Desc{c.queries, c.scanned, c.queryLatency} {
			ch <- prometheus.NewInvalidMetric(d, err)
		}
	} else {
		byState(c.queries, f.ByState)
		ch <- prometheus.MustNewConstMetric(c.scanned, prometheus.CounterValue, float64(f.BytesScanned))
		ch <- prometheus.MustNewConstHistogram(c.queryLatency, f.Count, f.Seconds, f.AtMost)
	}
}

// BucketMetricsConfig configures BucketCollector.
type BucketMetricsConfig struct {
	// MaxAge is how old the counts may get before a scrape starts a new
	// listing of the store, in the background.
	MaxAge time.Duration
	// FirstWait bounds how long a scrape waits for counts when there are
	// none yet (the first listing); later scrapes never wait.
	FirstWait time.Duration
	// Timeout bounds one listing of the whole store.
	Timeout time.Duration
	// Now is the clock the counts' age is measured with (time.Now if nil);
	// tests move it instead of sleeping.
	Now func() time.Time
}

// DefaultBucketMetricsConfig returns the defaults: counts at most 30 s old
// when scrapes are frequent, the first scrape waiting up to 5 s.
func DefaultBucketMetricsConfig() BucketMetricsConfig {
	return BucketMetricsConfig{MaxAge: 30 * time.Second, FirstWait: 5 * time.Second, Timeout: 10 * time.Minute}
}

// BucketCollector exports the number of objects and bytes of every bucket
// (tarn_bucket_objects, tarn_bucket_bytes), counted by listing the store.
// A listing walks every key of the lake, so a scrape never waits for one
// (except the first, up to FirstWait): it reports the last counts and, when
// they are older than MaxAge, starts a new listing in the background for the
// next scrape. tarn_bucket_stats_age_seconds is how old the reported counts
// are (since their listing started). At most one listing runs at a time;
// a failed listing keeps the previous counts (and is logged). It is safe for
// concurrent use; Close stops a running listing.
type BucketCollector struct {
	store storage.ObjectStore
	cfg   BucketMetricsConfig

	objects *prometheus.Desc
	bytes   *prometheus.Desc
	age     *prometheus.Desc

	mu        sync.Mutex
	snap      *bucketSnapshot // nil until a listing succeeds
	running   chan struct{}   // closed when the running listing ends; nil if none
	cancel    context.CancelFunc
	lastStart time.Time
	closed    bool
	wg        sync.WaitGroup
}

type bucketSnapshot struct {
	at      time.Time // when the listing started
	buckets []bucketCount
}

type bucketCount struct {
	name           string
	objects, bytes int64
}

// NewBucketCollector returns a collector over store; register it on the
// API's Registry. Zero fields of cfg take their defaults.
func NewBucketCollector(store storage.ObjectStore, cfg BucketMetricsConfig) *BucketCollector {
	def := DefaultBucketMetricsConfig()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = def.MaxAge
	}
	if cfg.FirstWait <= 0 {
		cfg.FirstWait = def.FirstWait
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = def.Timeout
	}
	bound := fmt.Sprintf("Counted by a background listing of the store, started when a scrape finds the counts older than %s; tarn_bucket_stats_age_seconds is their age.", cfg.MaxAge)
	return &BucketCollector{
		store:   store,
		cfg:     cfg,
		objects: prometheus.NewDesc("tarn_bucket_objects", "Objects (current versions) in the bucket. "+bound, []string{"bucket"}, nil),
		bytes:   prometheus.NewDesc("tarn_bucket_bytes", "Bytes of the objects (current versions) in the bucket. "+bound, []string{"bucket"}, nil),
		age:     prometheus.NewDesc("tarn_bucket_stats_age_seconds", "Seconds since the listing that counted tarn_bucket_objects and tarn_bucket_bytes started.", nil, nil),
	}
}

func (c *BucketCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.objects
	ch <- c.bytes
	ch <- c.age
}

func (c *BucketCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if c.running == nil && !c.closed && (c.snap == nil || c.since(c.snap.at) >= c.cfg.MaxAge) &&
		(c.lastStart.IsZero() || c.since(c.lastStart) >= c.cfg.MaxAge) {
		c.startLocked()
	}
	snap, running := c.snap, c.running
	c.mu.Unlock()
	if snap == nil && running != nil {
		t := time.NewTimer(c.cfg.FirstWait)
		select {
		case <-running:
		case <-t.C:
		}
		t.Stop()
		c.mu.Lock()
		snap = c.snap
		c.mu.Unlock()
	}
	if snap == nil {
		return
	}
	for _, b := range snap.buckets {
		ch <- prometheus.MustNewConstMetric(c.objects, prometheus.GaugeValue, float64(b.objects), b.name)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(b.bytes), b.name)
	}
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, c.since(snap.at).Seconds())
}

// startLocked starts a listing in the background; c.mu is held.
func (c *BucketCollector) startLocked() {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	done := make(chan struct{})
	c.running, c.cancel, c.lastStart = done, cancel, c.cfg.Now()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer cancel()
		snap, err := c.count(ctx)
		if err != nil {
			slog.Warn("cannot count the objects of the buckets for /metrics", "err", err)
		}
		c.mu.Lock()
		if err == nil {
			c.snap = snap
		}
		c.running, c.cancel = nil, nil
		close(done)
		c.mu.Unlock()
	}()
}

// count lists every bucket. A bucket deleted during the listing is left out.
func (c *BucketCollector) count(ctx context.Context) (*bucketSnapshot, error) {
	snap := &bucketSnapshot{at: c.cfg.Now()}
	buckets, err := c.store.ListBuckets(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot list buckets: %w", err)
	}
	for _, b := range buckets {
		bc := bucketCount{name: b.Name}
		var walkErr error
		for o, err := range storage.Walk(ctx, c.store, b.Name, "") {
			if err != nil {
				walkErr = err
				break
			}
			bc.objects++
			bc.bytes += o.Size
		}
		if errors.Is(walkErr, storage.ErrNoSuchBucket) {
			continue
		}
		if walkErr != nil {
			return nil, fmt.Errorf("cannot list bucket %q: %w", b.Name, walkErr)
		}
		snap.buckets = append(snap.buckets, bc)
	}
	return snap, nil
}

// Close stops a running listing and waits for it; later scrapes report the
// last counts without listing again. It is idempotent.
func (c *BucketCollector) Close() error {
	c.mu.Lock()
	c.closed = true
	if c.cancel != nil {
		c.cancel()
	}
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}

func (c *BucketCollector) since(t time.Time) time.Duration { return c.cfg.Now().Sub(t) }
