// Package cache is a local read-through cache of objects of a remote
// store (storage/s3store), so that DuckDB, which reads local files, can
// read them: LocalPath returns a local file holding an object's bytes,
// downloading it once.
//
// Files are content-addressed: an object's file is named by the SHA-256
// of its ETag and size (and keeps the key's extension, which DuckDB's
// readers go by), so an object overwritten in the store gets a new file
// and the old one ages out, and objects with the same content share one.
// Every LocalPath asks the store for the object's current ETag (one HEAD),
// so a reader never gets stale bytes from a store with read-after-write
// consistency.
//
// The cache holds at most Config.MaxBytes; past it, files that no reader
// holds are removed, least recently used first (files in use are not:
// the cache may exceed the cap while they are held). Concurrent readers
// of one object wait for one download. The folder survives restarts
// (New indexes what is there, using the files' modification times as
// their last use) and is safe to delete at any time, also while the
// cache runs: a missing file is downloaded again.
//
// Layout of Config.Dir:
//
//	objects/<aa>/<sha256><ext>   cached objects
//	tmp/                         downloads in flight (emptied by New)
package cache

import (
	"container/list"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tarn-lake/tarn/internal/storage"
)

// DefaultMaxBytes is the size cap when Config.MaxBytes is 0.
const DefaultMaxBytes = 10 << 30

// ErrCorrupt: a download did not give the bytes the store described.
var ErrCorrupt = errors.New("downloaded object does not match its ETag or size")

// Config of a cache.
type Config struct {
	// Dir is the cache's folder (created).
	Dir string
	// MaxBytes caps the bytes of cached files; 0 means DefaultMaxBytes.
	MaxBytes int64
	// Prefetch is how many objects Prefetch downloads at once; 0 means 4.
	Prefetch int
	// ChunkSize and Parallel: objects of at least two chunks are
	// downloaded as ranges of ChunkSize bytes, Parallel at once; 0 means
	// 8 MiB and 4 (the aws CLI's figures); Parallel 1 downloads whole.
	ChunkSize int64
	Parallel  int
}

// Store is what the cache reads: any storage.ObjectStore.
type Store interface {
	Head(ctx context.Context, bucket, key string) (storage.ObjectInfo, error)
	Get(ctx context.Context, bucket, key string, rng *storage.Range) (io.ReadCloser, storage.ObjectInfo, error)
}

// Stats are the cache's counters since New.
type Stats struct {
	Hits, Misses, Downloads, Evictions int64
	// DownloadedBytes counts the bytes downloaded.
	DownloadedBytes int64
	// Bytes and Files are what the cache holds now.
	Bytes int64
	Files int
}

// Cache is safe for concurrent use.
type Cache struct {
	cfg   Config
	store Store

	mu      sync.Mutex
	entries map[string]*entry // by file name
	lru     *list.List        // of *entry, most recently used at the front
	flights map[string]*flight
	bytes   int64
	stats   Stats
}

type entry struct {
	name string
	size int64
	refs int
	elem *list.Element
	// touched is when the file's time last recorded a use (touchEvery).
	touched time.Time
}

// touchEvery is how often a hit records its use in the file's time, for
// the next process's LRU order: not on every hit, since readers that
// remember facts about a file by its modification time (DuckDB's footer
// cache in the engine) would read it again each time.
const touchEvery = 10 * time.Minute

// flight is one download in progress; waiters are the readers waiting for
// it, whose references the downloader takes for them.
type flight struct {
	done    chan struct{}
	waiters int
	err     error
	entry   *entry // on success, holding the waiters' references
}

// New opens the cache in cfg.Dir, indexing the files already there and
// removing downloads a previous process left unfinished.
func New(cfg Config, store Store) (*Cache, error) {
	if cfg.Dir == "" {
		return nil, errors.New("cannot open the object cache: no folder given")
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = 4
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = 8 << 20
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	c := &Cache{cfg: cfg, store: store, entries: map[string]*entry{}, lru: list.New(), flights: map[string]*flight{}}
	if err := os.RemoveAll(c.tmpDir()); err != nil {
		return nil, fmt.Errorf("cannot open the object cache in %s: %w", cfg.Dir, err)
	}
	for _, d := range []string{c.tmpDir(), c.objectsDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("cannot open the object cache in %s: %w", cfg.Dir, err)
		}
	}
	type found struct {
		name string
		size int64
		used time.Time
	}
	var files []found
	err := filepath.WalkDir(c.objectsDir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		files = append(files, found{name: d.Name(), size: info.Size(), used: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot index the object cache in %s: %w", cfg.Dir, err)
	}
	// Oldest at the back.
	slices.SortFunc(files, func(a, b found) int { return b.used.Compare(a.used) })
	for _, f := range files {
		e := &entry{name: f.name, size: f.size, touched: f.used}
		e.elem = c.lru.PushBack(e)
		c.entries[f.name] = e
		c.bytes += f.size
	}
	c.mu.Lock()
	c.evictLocked()
	c.mu.Unlock()
	return c, nil
}

// ObjectsDir is the folder holding the files LocalPath returns (a
// sandboxed reader allows this folder and nothing else of the cache).
func (c *Cache) ObjectsDir() string { return c.objectsDir() }

func (c *Cache) tmpDir() string     { return filepath.Join(c.cfg.Dir, "tmp") }
func (c *Cache) objectsDir() string { return filepath.Join(c.cfg.Dir, "objects") }
func (c *Cache) file(name string) string {
	return filepath.Join(c.objectsDir(), name[:2], name)
}

// fileName is the content address of an object with the key's extension.
func fileName(key string, info storage.ObjectInfo) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", info.ETag, info.Size)))
	return hex.EncodeToString(sum[:]) + extension(key)
}

// extension returns the key's last one or two extensions (".parquet",
// ".csv.gz") if they are short and plain.
func extension(key string) string {
	base := path.Base(key)
	ext := path.Ext(base)
	if inner := path.Ext(strings.TrimSuffix(base, ext)); inner != "" && len(ext) <= 5 {
		ext = inner + ext
	}
	if len(ext) > 16 || len(ext) == len(base) {
		return ""
	}
	for _, r := range ext {
		if !(r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return ""
		}
	}
	return ext
}

// LocalPath returns a local file holding the object's current bytes, and
// release, which the caller calls once done with the file (the file may
// be removed after). The file must only be read.
func (c *Cache) LocalPath(ctx context.Context, bucket, key string) (string, func(), error) {
	for tries := 0; ; tries++ {
		info, err := c.store.Head(ctx, bucket, key)
		if err != nil {
			return "", nil, err
		}
		p, release, err := c.localPath(ctx, bucket, key, info)
		if errors.Is(err, errChanged) && tries < 5 {
			continue // overwritten between the HEAD and the GET: look again
		}
		return p, release, err
	}
}

// LocalPathOf is LocalPath for an object whose current ETag and size the
// caller has just listed: a cached copy of that version is returned
// without asking the store (no HEAD), a miss downloads it, and if the
// object has changed since the listing (or the listing gave another ETag
// than a HEAD does) it is looked up again as LocalPath does.
func (c *Cache) LocalPathOf(ctx context.Context, bucket, key, etag string, size int64) (string, func(), error) {
	if etag == "" {
		return c.LocalPath(ctx, bucket, key)
	}
	p, release, err := c.localPath(ctx, bucket, key, storage.ObjectInfo{Bucket: bucket, Key: key, ETag: etag, Size: size})
	if errors.Is(err, errChanged) {
		return c.LocalPath(ctx, bucket, key)
	}
	return p, release, err
}

// errChanged: the object changed between its HEAD and its GET.
var errChanged = errors.New("the object changed while it was read")

func (c *Cache) localPath(ctx context.Context, bucket, key string, info storage.ObjectInfo) (string, func(), error) {
	name := fileName(key, info)
	for {
		c.mu.Lock()
		if e, ok := c.entries[name]; ok {
			if _, err := os.Stat(c.file(name)); err == nil {
				e.refs++
				c.lru.MoveToFront(e.elem)
				c.stats.Hits++
				now := time.Now()
				touch := now.Sub(e.touched) >= touchEvery
				if touch {
					e.touched = now
				}
				c.mu.Unlock()
				if touch {
					_ = os.Chtimes(c.file(name), now, now) // the last use, for the next process
				}
				return c.file(name), c.releaser(e), nil
			}
			c.dropLocked(e) // the folder was cleaned behind the cache's back
		}
		if f, ok := c.flights[name]; ok {
			f.waiters++
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				c.mu.Lock()
				if c.flights[name] == f {
					f.waiters-- // still downloading: no reference taken for this reader
				} else if f.err == nil {
					c.releaseLocked(f.entry) // the one the downloader took for it
				}
				c.mu.Unlock()
				return "", nil, ctx.Err()
			}
			if f.err == nil {
				return c.file(name), c.releaser(f.entry), nil
			}
			if ctx.Err() == nil && (errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) {
				continue // the downloader's reader went away, not this one
			}
			return "", nil, f.err
		}
		f := &flight{done: make(chan struct{})}
		c.flights[name] = f
		c.stats.Misses++
		c.mu.Unlock()

		n, err := c.download(ctx, bucket, key, info, name)
		c.mu.Lock()
		delete(c.flights, name)
		f.err = err
		var e *entry
		if err == nil {
			e = &entry{name: name, size: n, refs: 1 + f.waiters, touched: time.Now()}
			e.elem = c.lru.PushFront(e)
			if old := c.entries[name]; old != nil {
				c.dropLocked(old)
			}
			c.entries[name] = e
			c.bytes += n
			c.stats.Downloads++
			c.stats.DownloadedBytes += n
			f.entry = e
			c.evictLocked()
		}
		c.mu.Unlock()
		close(f.done)
		if err != nil {
			return "", nil, err
		}
		return c.file(name), c.releaser(e), nil
	}
}

func (c *Cache) releaser(e *entry) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.releaseLocked(e)
			c.mu.Unlock()
		})
	}
}

func (c *Cache) releaseLocked(e *entry) {
	e.refs--
	c.evictLocked()
}

// dropLocked forgets an entry (its file is gone or replaced).
func (c *Cache) dropLocked(e *entry) {
	if c.entries[e.name] == e {
		delete(c.entries, e.name)
		c.lru.Remove(e.elem)
		c.bytes -= e.size
	}
}

// evictLocked removes unused files, least recently used first, until the
// cache is under its cap.
func (c *Cache) evictLocked() {
	for el := c.lru.Back(); el != nil && c.bytes > c.cfg.MaxBytes; {
		e := el.Value.(*entry)
		prev := el.Prev()
		if e.refs <= 0 {
			if err := os.Remove(c.file(e.name)); err == nil || errors.Is(err, fs.ErrNotExist) {
				c.dropLocked(e)
				c.stats.Evictions++
			}
		}
		el = prev
	}
}

// download writes the object to a temp file, checks it against the
// description it was asked for (size, and the MD5 for single-part ETags),
// and renames it into place. Objects of at least two chunks are fetched
// as ranges, Parallel at once, as the aws CLI does.
func (c *Cache) download(ctx context.Context, bucket, key string, info storage.ObjectInfo, name string) (int64, error) {
	fail := func(err error) (int64, error) {
		if errors.Is(err, errChanged) {
			return 0, err
		}
		return 0, fmt.Errorf("cannot cache s3://%s/%s: %w", bucket, key, err)
	}
	if err := os.MkdirAll(c.tmpDir(), 0o755); err != nil {
		return fail(err)
	}
	tmp, err := os.CreateTemp(c.tmpDir(), "get-*")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name())
	var h hash.Hash
	if len(info.ETag) == 32 && !strings.Contains(info.ETag, "-") {
		h = md5.New()
	}
	var n int64
	if info.Size >= 2*c.cfg.ChunkSize && c.cfg.Parallel > 1 {
		n, err = c.fetchRanges(ctx, bucket, key, info, tmp)
		if err == nil && h != nil {
			// Hashed from the page cache, once every range is in.
			if _, err = tmp.Seek(0, io.SeekStart); err == nil {
				_, err = io.Copy(h, tmp)
			}
		}
	} else {
		n, err = c.fetchWhole(ctx, bucket, key, info, tmp, h)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return fail(err)
	}
	if n != info.Size {
		return fail(fmt.Errorf("%w: %d bytes, want %d", ErrCorrupt, n, info.Size))
	}
	if h != nil {
		if sum := hex.EncodeToString(h.Sum(nil)); sum != info.ETag {
			return fail(fmt.Errorf("%w: MD5 %s, ETag %s", ErrCorrupt, sum, info.ETag))
		}
	}
	dst := c.file(name)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fail(err)
	}
	return n, nil
}

// same reports whether a read answered for the version asked for.
func same(got, want storage.ObjectInfo) bool {
	return got.ETag == want.ETag && got.Size == want.Size
}

func (c *Cache) fetchWhole(ctx context.Context, bucket, key string, info storage.ObjectInfo, tmp *os.File, h hash.Hash) (int64, error) {
	rc, got, err := c.store.Get(ctx, bucket, key, nil)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	if !same(got, info) {
		return 0, errChanged
	}
	var w io.Writer = tmp
	if h != nil {
		w = io.MultiWriter(tmp, h)
	}
	return io.Copy(w, rc)
}

// fetchRanges reads the object as ranges of ChunkSize into tmp, Parallel
// at once; every range must come from the version asked for.
func (c *Cache) fetchRanges(ctx context.Context, bucket, key string, info storage.ObjectInfo, tmp *os.File) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		total int64
	)
	failed := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		cancel()
	}
	sem := make(chan struct{}, c.cfg.Parallel)
	for off := int64(0); off < info.Size; off += c.cfg.ChunkSize {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		length := min(c.cfg.ChunkSize, info.Size-off)
		wg.Go(func() {
			defer func() { <-sem }()
			rc, got, err := c.store.Get(ctx, bucket, key, &storage.Range{Offset: off, Length: length})
			if err != nil {
				failed(err)
				return
			}
			defer rc.Close()
			if !same(got, info) {
				failed(errChanged)
				return
			}
			n, err := io.Copy(io.NewOffsetWriter(tmp, off), io.LimitReader(rc, length))
			if err == nil && n != length {
				err = fmt.Errorf("%w: range at %d has %d bytes, want %d", ErrCorrupt, off, n, length)
			}
			if err != nil {
				failed(err)
				return
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	return total, ctx.Err()
}

// Prefetch downloads objects (the files a query planner selected) in
// parallel, cfg.Prefetch at once, so that the reads that follow hit. It
// returns the first error.
func (c *Cache) Prefetch(ctx context.Context, objs []storage.URI) error {
	sem := make(chan struct{}, c.cfg.Prefetch)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, o := range objs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Go(func() {
			defer func() { <-sem }()
			_, release, err := c.LocalPath(ctx, o.Bucket, o.Key)
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				return
			}
			release()
		})
	}
	wg.Wait()
	return first
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Bytes, s.Files = c.bytes, len(c.entries)
	return s
}

// Close does nothing yet: files stay for the next process. It is
// idempotent.
func (c *Cache) Close() error { return nil }
