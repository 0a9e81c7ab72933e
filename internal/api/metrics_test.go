package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/api"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/storage"
)

// gatedStore is the lake's real store whose listings wait while a gate is
// set, so the test can hold a background listing in progress.
type gatedStore struct {
	storage.ObjectStore
	mu      sync.Mutex
	gate    chan struct{}
	entered chan struct{} // receives (without blocking) when a listing waits
}

func (g *gatedStore) List(ctx context.Context, bucket string, opts storage.ListOptions) (storage.ListResult, error) {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		select {
		case g.entered <- struct{}{}:
		default:
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return storage.ListResult{}, ctx.Err()
		}
	}
	return g.ObjectStore.List(ctx, bucket, opts)
}

// TestBucketMetrics scrapes /metrics through the API server over a real fs
// store: per-bucket object and byte counts, refreshed in the background
// without making a scrape wait for a listing.
func TestBucketMetrics(t *testing.T) {
	ctx := context.Background()
	l, err := lake.Open(ctx, lakeConfig(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	admin, _, err := l.Auth.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"alpha", "beta"} {
		if err := l.Store.CreateBucket(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	put := func(bucket, key, body string) {
		t.Helper()
		if _, err := l.Store.Put(ctx, bucket, key, strings.NewReader(body), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put("alpha", "a.csv", "12345")
	put("alpha", "raw/2025/b.csv", "1234567890")
	put("alpha", "raw/2025/c.csv", "x")

	store := &gatedStore{ObjectStore: l.Store, entered: make(chan struct{}, 1)}
	var clock atomic.Int64 // nanoseconds since the epoch; moved by hand
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	bc := api.NewBucketCollector(store, api.BucketMetricsConfig{MaxAge: 100 * time.Millisecond, FirstWait: 10 * time.Second, Now: now})
	defer bc.Close()
	a := api.New(api.DefaultConfig(), api.Deps{DB: l.Meta.SQL(), Auth: l.Auth, Store: l.Store})
	defer a.Close()
	a.Registry().MustRegister(bc)
	srv := httptest.NewServer(a)
	defer srv.Close()

	scrape := func() string {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+auth.Token(admin))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
		}
		return string(body)
	}
	has := func(m string, lines ...string) bool {
		for _, l := range lines {
			if !strings.Contains(m, "\n"+l+"\n") {
				return false
			}
		}
		return true
	}

	// The first scrape waits for the first listing.
	m := scrape()
	if want := []string{`tarn_bucket_objects{bucket="alpha"} 3`, `tarn_bucket_bytes{bucket="alpha"} 16`,
		`tarn_bucket_objects{bucket="beta"} 0`, `tarn_bucket_bytes{bucket="beta"} 0`}; !has(m, want...) {
		t.Fatalf("first scrape lacks %q:\n%s", want, m)
	}
	for _, want := range []string{"# TYPE tarn_bucket_objects gauge", "# HELP tarn_bucket_bytes", "older than 100ms", "tarn_bucket_stats_age_seconds "} {
		if !strings.Contains(m, want) {
			t.Errorf("first scrape lacks %q", want)
		}
	}

	// A scrape with stale counts starts a listing and does not wait for it.
	put("alpha", "d.csv", "1234")
	put("beta", "e.csv", "12")
	store.mu.Lock()
	store.gate = make(chan struct{})
	store.mu.Unlock()
	clock.Add(int64(150 * time.Millisecond)) // the counts are now stale
	// The listing below is blocked by the gate: a scrape that waited for it
	// would hang here (and fail by the test's timeout).
	m = scrape()
	if !has(m, `tarn_bucket_objects{bucket="alpha"} 3`, `tarn_bucket_objects{bucket="beta"} 0`) {
		t.Errorf("scrape during a listing does not report the previous counts:\n%s", m)
	}
	select {
	case <-store.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("a stale scrape started no listing")
	}
	// Scrapes during the listing start no other one and report the old counts.
	if m := scrape(); !has(m, `tarn_bucket_objects{bucket="alpha"} 3`) {
		t.Errorf("second scrape during a listing:\n%s", m)
	}

	// Once the listing ends, scrapes report the new counts.
	store.mu.Lock()
	close(store.gate)
	store.gate = nil
	store.mu.Unlock()
	want := []string{`tarn_bucket_objects{bucket="alpha"} 4`, `tarn_bucket_bytes{bucket="alpha"} 20`,
		`tarn_bucket_objects{bucket="beta"} 1`, `tarn_bucket_bytes{bucket="beta"} 2`}
	deadline := time.Now().Add(10 * time.Second)
	for m = scrape(); !has(m, want...); m = scrape() {
		if time.Now().After(deadline) {
			t.Fatalf("counts never refreshed; want %q:\n%s", want, m)
		}
		clock.Add(int64(150 * time.Millisecond)) // stale again: the next scrape starts a listing
	}

	// A deleted bucket leaves the metrics at a later refresh.
	if err := l.Store.Delete(ctx, "beta", "e.csv"); err != nil {
		t.Fatal(err)
	}
	if err := l.Store.DeleteBucket(ctx, "beta"); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for m = scrape(); strings.Contains(m, `bucket="beta"`); m = scrape() {
		if time.Now().After(deadline) {
			t.Fatalf("deleted bucket still reported:\n%s", m)
		}
		clock.Add(int64(150 * time.Millisecond)) // stale again: the next scrape starts a listing
	}

	// After Close, scrapes keep reporting the last counts and list no more.
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	if m := scrape(); !has(m, `tarn_bucket_objects{bucket="alpha"} 4`) {
		t.Errorf("after Close:\n%s", m)
	}
}
