package cache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/cache"
	"github.com/tarn-lake/tarn/internal/storage/s3store"
	"github.com/tarn-lake/tarn/internal/storage/s3store/gatewaytest"
)

// The cache reads a real S3 store: versitygw through storage/s3store. GETs
// are counted on their way to the gateway.

func TestMain(m *testing.M) { gatewaytest.Main(m) }

type fixture struct {
	g     *gatewaytest.Gateway
	store *s3store.Store
	dir   string
}

func newFixture(t *testing.T) *fixture {
	g := gatewaytest.Need(t)
	s := g.NewStore(t, "lake/")
	if err := s.CreateBucket(t.Context(), "data"); err != nil {
		t.Fatal(err)
	}
	return &fixture{g: g, store: s, dir: filepath.Join(t.TempDir(), "cache")}
}

func (f *fixture) open(t *testing.T, max int64) *cache.Cache {
	t.Helper()
	c, err := cache.New(cache.Config{Dir: f.dir, MaxBytes: max}, f.store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (f *fixture) put(t *testing.T, key string, body []byte) {
	t.Helper()
	if _, err := f.store.Put(t.Context(), "data", key, bytes.NewReader(body), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

// gets counts the object GETs the gateway received.
func (f *fixture) gets() int { return f.g.Count("GET") }

// read returns the content of the object's local file, released after.
func read(t *testing.T, c *cache.Cache, key string) (string, string) {
	t.Helper()
	p, release, err := c.LocalPath(t.Context(), "data", key)
	if err != nil {
		t.Fatalf("LocalPath(%q): %v", key, err)
	}
	defer release()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b), p
}

func body(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*13)
	}
	return b
}

func TestReadThrough(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, 0)
	f.put(t, "sales/year=2025/part-0.parquet", []byte("parquet bytes"))
	f.put(t, "raw/a.csv.gz", []byte("gz bytes"))

	before := f.gets()
	got, p := read(t, c, "sales/year=2025/part-0.parquet")
	if got != "parquet bytes" || !strings.HasSuffix(p, ".parquet") || !strings.HasPrefix(p, f.dir) {
		t.Errorf("LocalPath = %s holding %q", p, got)
	}
	if _, p := read(t, c, "raw/a.csv.gz"); !strings.HasSuffix(p, ".csv.gz") {
		t.Errorf("LocalPath(raw/a.csv.gz) = %s, want the .csv.gz extension kept", p)
	}
	for range 3 {
		read(t, c, "sales/year=2025/part-0.parquet")
	}
	if n := f.gets() - before; n != 2 {
		t.Errorf("%d GETs for 2 objects read 5 times, want 2", n)
	}
	if st := c.Stats(); st.Hits != 3 || st.Misses != 2 || st.Downloads != 2 || st.Files != 2 {
		t.Errorf("Stats = %+v", st)
	}

	// An overwrite is seen at once (the HEAD gives the new ETag).
	f.put(t, "sales/year=2025/part-0.parquet", []byte("new parquet bytes"))
	if got, p2 := read(t, c, "sales/year=2025/part-0.parquet"); got != "new parquet bytes" || p2 == p {
		t.Errorf("after an overwrite: %s holding %q", p2, got)
	}
	// A missing object fails as the store does.
	if _, _, err := c.LocalPath(t.Context(), "data", "nope.parquet"); err == nil || !strings.Contains(err.Error(), "no such key") {
		t.Errorf("LocalPath(missing) = %v", err)
	}
}

// TestConcurrentReaders: readers of one object wait for one download.
func TestConcurrentReaders(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, 0)
	want := body(12<<20+5, 1) // a multipart put, a long download
	f.put(t, "big.bin", want)
	before := f.gets()
	var wg sync.WaitGroup
	paths := make([]string, 16)
	for i := range paths {
		wg.Go(func() {
			p, release, err := c.LocalPath(t.Context(), "data", "big.bin")
			if err != nil {
				t.Error(err)
				return
			}
			defer release()
			got, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("reader %d: %d bytes, %v", i, len(got), err)
			}
			paths[i] = p
		})
	}
	wg.Wait()
	if n := f.gets() - before; n != 1 {
		t.Errorf("16 concurrent readers caused %d GETs, want 1", n)
	}
	for _, p := range paths {
		if p != paths[0] {
			t.Errorf("readers got different files: %s and %s", p, paths[0])
		}
	}
	if st := c.Stats(); st.Downloads != 1 || st.DownloadedBytes != int64(len(want)) {
		t.Errorf("Stats = %+v", st)
	}
}

// TestEviction: past the cap, unused files go, least recently used first;
// files in use stay.
func TestEviction(t *testing.T) {
	f := newFixture(t)
	const size = 1 << 20
	c := f.open(t, 3*size)
	for i := range 5 {
		f.put(t, fmt.Sprintf("o%d", i), body(size, byte(i)))
	}
	read(t, c, "o0")
	read(t, c, "o1")
	read(t, c, "o2")
	read(t, c, "o0") // o1 is now the least recently used
	read(t, c, "o3") // evicts o1
	before := f.gets()
	read(t, c, "o0")
	read(t, c, "o2")
	read(t, c, "o3")
	if n := f.gets() - before; n != 0 {
		t.Errorf("%d GETs for files that should still be cached", n)
	}
	read(t, c, "o1")
	if n := f.gets() - before; n != 1 {
		t.Errorf("o1 was not evicted (%d GETs)", n)
	}
	if st := c.Stats(); st.Bytes > 3*size || st.Evictions < 2 {
		t.Errorf("Stats = %+v", st)
	}

	// A file in use is not removed, even past the cap.
	p, release, err := c.LocalPath(t.Context(), "data", "o4")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"o0", "o1", "o2", "o3"} {
		read(t, c, k)
	}
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, body(size, 4)) {
		t.Errorf("a held file was evicted: %v", err)
	}
	release()
	release() // idempotent
	read(t, c, "o0")
	if st := c.Stats(); st.Bytes > 3*size {
		t.Errorf("after release the cache holds %d bytes, cap %d", st.Bytes, 3*size)
	}
}

// TestRestartAndDelete: the cache survives a restart (no new download)
// and its folder can be deleted while it runs.
func TestRestartAndDelete(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, 0)
	f.put(t, "k.json", []byte(`{"a":1}`))
	read(t, c, "k.json")
	// A download a crash left unfinished.
	leftover := filepath.Join(f.dir, "tmp", "get-crashed")
	if err := os.WriteFile(leftover, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}

	c2 := f.open(t, 0)
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("New left the unfinished download: %v", err)
	}
	before := f.gets()
	if got, _ := read(t, c2, "k.json"); got != `{"a":1}` {
		t.Errorf("after a restart: %q", got)
	}
	if n := f.gets() - before; n != 0 {
		t.Errorf("%d GETs after a restart, want 0", n)
	}
	if st := c2.Stats(); st.Files != 1 || st.Hits != 1 {
		t.Errorf("restarted Stats = %+v", st)
	}

	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	if got, _ := read(t, c2, "k.json"); got != `{"a":1}` {
		t.Errorf("after deleting the folder: %q", got)
	}
	if n := f.gets() - before; n != 1 {
		t.Errorf("%d GETs after deleting the folder, want 1", n)
	}
}

func TestPrefetch(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, 0)
	var objs []storage.URI
	for i := range 6 {
		k := fmt.Sprintf("t/part-%d.parquet", i)
		f.put(t, k, body(1000+i, byte(i)))
		objs = append(objs, storage.URI{Bucket: "data", Key: k})
	}
	before := f.gets()
	if err := c.Prefetch(t.Context(), objs); err != nil {
		t.Fatal(err)
	}
	if n := f.gets() - before; n != 6 {
		t.Errorf("Prefetch: %d GETs, want 6", n)
	}
	for _, o := range objs {
		read(t, c, o.Key)
	}
	if n := f.gets() - before; n != 6 {
		t.Errorf("reads after Prefetch: %d more GETs", n-6)
	}
	err := c.Prefetch(t.Context(), append(objs, storage.URI{Bucket: "data", Key: "t/missing.parquet"}))
	if err == nil || !strings.Contains(err.Error(), "missing.parquet") {
		t.Errorf("Prefetch with a missing object = %v", err)
	}
}

// gated holds GETs until open is closed, and says when one started.
type gated struct {
	cache.Store
	started chan struct{}
	open    chan struct{}
}

func (g *gated) Get(ctx context.Context, bucket, key string, rng *storage.Range) (io.ReadCloser, storage.ObjectInfo, error) {
	g.started <- struct{}{}
	select {
	case <-g.open:
	case <-ctx.Done():
		return nil, storage.ObjectInfo{}, ctx.Err()
	}
	return g.Store.Get(ctx, bucket, key, rng)
}

// TestCanceledReaders: a reader that gives up while another downloads
// leaves no reference behind; when the downloading reader gives up, the
// one waiting downloads itself.
func TestCanceledReaders(t *testing.T) {
	f := newFixture(t)
	f.put(t, "k.csv", []byte("a,b\n"))
	g := &gated{Store: f.store, started: make(chan struct{}, 4), open: make(chan struct{})}
	c, err := cache.New(cache.Config{Dir: f.dir, MaxBytes: 1}, g)
	if err != nil {
		t.Fatal(err)
	}

	// A downloads; B waits, then gives up.
	type result struct {
		path    string
		release func()
		err     error
	}
	aDone := make(chan result, 1)
	go func() {
		p, r, err := c.LocalPath(t.Context(), "data", "k.csv")
		aDone <- result{p, r, err}
	}()
	<-g.started
	bctx, bcancel := context.WithCancel(t.Context())
	bDone := make(chan error, 1)
	go func() {
		_, _, err := c.LocalPath(bctx, "data", "k.csv")
		bDone <- err
	}()
	bcancel()
	if err := <-bDone; !errors.Is(err, context.Canceled) {
		t.Errorf("the reader that gave up: %v", err)
	}
	close(g.open)
	a := <-aDone
	if a.err != nil {
		t.Fatal(a.err)
	}
	a.release()
	// Nobody holds the file: over the 1-byte cap it goes.
	if st := c.Stats(); st.Files != 0 || st.Evictions != 1 {
		t.Errorf("after both readers left: %+v (a reference was left behind?)", st)
	}

	// A gives up while downloading; B, waiting, downloads itself.
	g2 := &gated{Store: f.store, started: make(chan struct{}, 4), open: make(chan struct{})}
	c2, err := cache.New(cache.Config{Dir: f.dir + "2"}, g2)
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(t.Context())
	go func() {
		_, _, err := c2.LocalPath(actx, "data", "k.csv")
		aDone <- result{err: err}
	}()
	<-g2.started
	go func() {
		p, r, err := c2.LocalPath(t.Context(), "data", "k.csv")
		if err == nil {
			r()
		}
		aDone <- result{path: p, err: err}
	}()
	acancel()
	<-g2.started // B's own download
	close(g2.open)
	var errs, paths int
	for range 2 {
		r := <-aDone
		if r.err != nil {
			errs++
			if !errors.Is(r.err, context.Canceled) {
				t.Errorf("unexpected error: %v", r.err)
			}
		} else {
			paths++
		}
	}
	if errs != 1 || paths != 1 {
		t.Errorf("%d readers failed and %d succeeded, want 1 and 1", errs, paths)
	}
}

// TestRangedDownload: a large object comes as parallel ranges, checked
// against its MD5, once for all readers.
func TestRangedDownload(t *testing.T) {
	f := newFixture(t)
	c, err := cache.New(cache.Config{Dir: f.dir, ChunkSize: 5 << 20, Parallel: 3}, f.store)
	if err != nil {
		t.Fatal(err)
	}
	want := body(23<<20+7, 9)
	f.put(t, "big.parquet", want)
	before := f.gets()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			p, release, err := c.LocalPath(t.Context(), "data", "big.parquet")
			if err != nil {
				t.Error(err)
				return
			}
			defer release()
			if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
				t.Errorf("ranged download gave %d bytes, %v", len(got), err)
			}
		})
	}
	wg.Wait()
	if n := f.gets() - before; n != 5 {
		t.Errorf("%d GETs for 5 ranges of one object read by 4 readers, want 5", n)
	}
	// Below two chunks: one GET.
	f.put(t, "small.parquet", want[:9<<20])
	before = f.gets()
	if got, _ := read(t, c, "small.parquet"); got != string(want[:9<<20]) {
		t.Errorf("small object differs")
	}
	if n := f.gets() - before; n != 1 {
		t.Errorf("%d GETs for an object under two chunks, want 1", n)
	}
}

// overwriting overwrites the object before the first GET reaches the
// store: the GET then answers for another version than the HEAD.
type overwriting struct {
	cache.Store
	f    *fixture
	t    *testing.T
	once sync.Once
	next []byte
}

func (o *overwriting) Get(ctx context.Context, bucket, key string, rng *storage.Range) (io.ReadCloser, storage.ObjectInfo, error) {
	o.once.Do(func() { o.f.put(o.t, key, o.next) })
	return o.Store.Get(ctx, bucket, key, rng)
}

// TestOverwrittenWhileRead: an object overwritten between the HEAD and the
// GET (whole or ranged) is looked up again; the cache never keeps a file
// mixing versions or filed under another version's name.
func TestOverwrittenWhileRead(t *testing.T) {
	for _, parallel := range []int{1, 3} {
		f := newFixture(t)
		first, second := body(11<<20, 1), body(11<<20+3, 2)
		f.put(t, "k.bin", first)
		o := &overwriting{Store: f.store, f: f, t: t, next: second}
		c, err := cache.New(cache.Config{Dir: f.dir, ChunkSize: 5 << 20, Parallel: parallel}, o)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := read(t, c, "k.bin")
		if got != string(second) {
			t.Errorf("parallel %d: read %d bytes, want the new version's %d", parallel, len(got), len(second))
		}
		if st := c.Stats(); st.Files != 1 || st.Bytes != int64(len(second)) {
			t.Errorf("parallel %d: Stats = %+v", parallel, st)
		}
	}
}
