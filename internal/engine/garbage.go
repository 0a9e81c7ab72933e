package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tarn-lake/tarn/internal/storage"
)

// Files a publish replaces (an overwrite job, INSERT OVERWRITE) are not
// deleted by the writer: a query that planned on the old manifest a moment
// before may still open them. The catalog keeps them as garbage, and
// CollectGarbage deletes them once they are older than the grace period and
// no session of this engine holds them. Readers in other processes (a CLI
// next to the server) are covered by the grace period alone, which is why
// it is longer than any query may run.

// DefaultGarbageGrace is how long replaced files stay readable.
const DefaultGarbageGrace = time.Hour

// holds counts, per file URI, the sessions whose bound statement may read it.
type holds struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *holds) add(uris []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[string]int{}
	}
	for _, u := range uris {
		h.n[u]++
	}
}

func (h *holds) drop(uris []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, u := range uris {
		if h.n[u]--; h.n[u] <= 0 {
			delete(h.n, u)
		}
	}
}

func (h *holds) held(u string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[u] > 0
}

// CollectGarbage deletes replaced files older than the configured grace
// (Config.GarbageGrace) that no session of this engine holds, and forgets
// them. It returns how many it forgot: deleted, already gone, or found
// rewritten since (another ETag: someone's new object, kept). Other errors
// leave a file for the next collection.
func (e *Engine) CollectGarbage(ctx context.Context) (int, error) {
	return e.collect(ctx, time.Now().Add(-e.cfg.GarbageGrace))
}

// CollectAllGarbage is CollectGarbage without the grace period: only files
// held by this engine's sessions stay. Other processes' readers are not
// protected; it is for tests and for a lake no other process reads.
func (e *Engine) CollectAllGarbage(ctx context.Context) (int, error) {
	return e.collect(ctx, time.Now().Add(time.Second))
}

func (e *Engine) collect(ctx context.Context, cutoff time.Time) (int, error) {
	deleted := 0
	for {
		uris, err := e.cat.Garbage(ctx, cutoff, 500)
		if err != nil || len(uris) == 0 {
			return deleted, err
		}
		var done []string
		var errs []error
		for _, g := range uris {
			u := g.URI
			if e.files.held(u) {
				continue
			}
			loc, err := storage.ParseURI(u)
			if err != nil {
				done = append(done, u) // not a location: nothing to delete
				continue
			}
			// An object written at the key since it was replaced (another
			// ETag) is someone's new data, not the garbage: forget it.
			info, err := e.store.Head(ctx, loc.Bucket, loc.Key)
			switch {
			case errors.Is(err, storage.ErrNoSuchKey) || errors.Is(err, storage.ErrNoSuchBucket):
				done = append(done, u)
				continue
			case err != nil:
				errs = append(errs, fmt.Errorf("cannot delete replaced file %s: %w", u, err))
				continue
			case g.ETag != "" && info.ETag != g.ETag:
				done = append(done, u)
				continue
			}
			if err := e.store.Delete(ctx, loc.Bucket, loc.Key); err != nil && !errors.Is(err, storage.ErrNoSuchKey) {
				errs = append(errs, fmt.Errorf("cannot delete replaced file %s: %w", u, err))
				continue
			}
			done = append(done, u)
		}
		if err := e.cat.ForgetGarbage(ctx, done); err != nil {
			return deleted, err
		}
		deleted += len(done)
		if len(errs) > 0 || len(done) < len(uris) {
			// Held or failing files stay for the next collection.
			return deleted, errors.Join(errs...)
		}
	}
}
