package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/iceberg"
	"github.com/tarn-lake/tarn/internal/storage"
)

// ObjectCache gives DuckDB local copies of a remote store's objects
// (storage/cache.Cache): DuckDB here reads only local files.
//
// LocalPath returns a file holding the object's current bytes and release,
// which the caller calls once done with the file (the cache may remove it
// after); it is safe for concurrent use. ObjectsDir is the folder those
// files are in: the engine's sandbox allows it and nothing else of the
// cache.
//
// LocalPathOf is LocalPath for an object whose ETag and size were just
// listed: a copy of that version needs no request to the store.
type ObjectCache interface {
	LocalPath(ctx context.Context, bucket, key string) (path string, release func(), err error)
	LocalPathOf(ctx context.Context, bucket, key, etag string, size int64) (path string, release func(), err error)
	ObjectsDir() string
}

// FetchParallel is how many objects a statement's scan fetches into the
// cache at once (the files a scan selected after pruning).
const FetchParallel = 8

// remote reports whether the engine reads a remote store through a cache.
func (e *Engine) remote() bool {
	if _, ok := e.store.(storage.LocalPather); ok {
		return false
	}
	return e.cfg.Cache != nil
}

// cacheDirs are the folders of cached objects DuckDB may read.
func (e *Engine) cacheDirs() []string {
	if !e.remote() {
		return nil
	}
	return []string{e.cfg.Cache.ObjectsDir()}
}

// fetch makes local copies of the objects a scan selected (after pruning),
// FetchParallel at once, held until the session's Reset, so that the
// statement reads them from local files and no object it read can be
// evicted meanwhile. For a local store it does nothing. The first error
// (a store that is down, an object gone) stops the others; what was
// fetched stays held until Reset.
//
// Files with an ETag (listed by the scan, or recorded at publish) are
// looked up by it, with no request to the store when the cache has them.
func (s *Session) fetch(ctx context.Context, files []FileRef) error {
	if !s.e.remote() || len(files) == 0 {
		return nil
	}
	if s.fetched == nil {
		s.fetched = map[string]string{}
	}
	type item struct {
		u    storage.URI
		etag string
		size int64
	}
	var todo []item
	seen := map[string]bool{}
	for _, f := range files {
		if _, ok := s.fetched[f.URI]; ok || seen[f.URI] {
			continue
		}
		seen[f.URI] = true
		p, err := storage.ParseURI(f.URI)
		if err != nil {
			return fmt.Errorf("cannot read %s: %w", f.URI, err)
		}
		todo = append(todo, item{p, f.ETag, f.Size})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, FetchParallel)
	for _, it := range todo {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			u := it.u
			p, release, err := s.e.cfg.Cache.LocalPathOf(ctx, u.Bucket, u.Key, it.etag, it.size)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = fmt.Errorf("cannot read %s: %w", u, err)
					cancel()
				}
				return
			}
			s.fetched[u.String()] = p
			s.cleanups = append(s.cleanups, release)
		})
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// fetchedPath returns a local file of an object: the copy fetch holds for
// the statement, else one from LocalPath, whose cleanup the caller runs.
func (s *Session) fetchedPath(ctx context.Context, uri string) (string, func(), error) {
	if p, ok := s.fetched[uri]; ok {
		return p, func() {}, nil
	}
	return s.e.LocalPath(ctx, bucketOf(uri), keyOf(uri))
}

// fetchIceberg fetches, as fetch does, the data files of an Iceberg scan
// that lie under the table's location (the others fail the scan when it
// reads them).
func (s *Session) fetchIceberg(ctx context.Context, t catalog.Table, files []string) error {
	if !s.e.remote() {
		return nil
	}
	var refs []FileRef
	for _, f := range files {
		if uri, err := icebergURI(f); err == nil && underLocation(t.Location, uri) {
			refs = append(refs, FileRef{URI: uri})
		}
	}
	if err := s.fetch(ctx, refs); err != nil {
		return fmt.Errorf("cannot read table %s: %w", t.FullName(), err)
	}
	return nil
}

// icebergURI is a data file's location as an s3:// URI of the store.
func icebergURI(loc string) (string, error) {
	bucket, key, err := iceberg.ParseLocation(loc)
	if err != nil {
		return "", err
	}
	return "s3://" + bucket + "/" + key, nil
}
