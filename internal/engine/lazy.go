package engine

import (
	"context"
	"fmt"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Start returns at once an engine whose DuckDB instance opens in the
// background: opening DuckDB is the longest step of a one-shot CLI command,
// and the caller's own start-up (metadata, history) can run meanwhile.
// Acquire waits for the opening; Ready waits and reports its error, which
// Acquire returns too. Close waits for the opening before closing.
func Start(ctx context.Context, cfg Config, store storage.ObjectStore, cat *catalog.Catalog) *Engine {
	if cfg.Sessions <= 0 {
		cfg.Sessions = 4
	}
	if cfg.WriterSessions <= 0 {
		cfg.WriterSessions = 2
	}
	e := &Engine{cfg: cfg, store: store, cat: cat, pool: make(chan *Session, cfg.Sessions), wpool: make(chan *Session, cfg.WriterSessions),
		ready: make(chan struct{})}
	e.pqCache.entries = map[string]parquetEntry{}
	go func() {
		defer close(e.ready)
		e.openErr = e.open(ctx)
	}()
	return e
}

// Ready waits until the engine has opened (or ctx ends) and returns why it
// could not open, if it could not.
func (e *Engine) Ready(ctx context.Context) error {
	select {
	case <-e.ready:
		return e.openErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// openReader opens one more reader session if the pool has not reached its
// size, handing it to the caller. A one-shot command then opens one DuckDB
// connection instead of the whole pool. It returns nil, nil when the pool is
// full (the caller waits for a release).
func (e *Engine) openReader(ctx context.Context) (*Session, error) {
	e.mu.Lock()
	if e.readers >= e.cfg.Sessions {
		e.mu.Unlock()
		return nil, nil
	}
	e.readers++
	e.mu.Unlock()
	c, err := e.db.Conn(ctx)
	if err == nil && e.cfg.Warehouse != "" && e.whErr == nil {
		// The search path is the session's own setting: a locked instance
		// still takes it (see attachWarehouse).
		if _, err = c.ExecContext(ctx, warehouseSearchPath); err != nil {
			c.Close()
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.readers--
		return nil, fmt.Errorf("cannot open DuckDB connection: %w", err)
	}
	if e.closed {
		c.Close()
		return nil, ErrClosed
	}
	s := &Session{e: e, conn: c, home: e.pool}
	e.sessions = append(e.sessions, s)
	return s, nil
}

// Without returns an engine that never opens DuckDB: for a command that
// reads and writes only metadata, whose lake still wires the services
// that keep the engine's address. Every use fails with why; it has no
// warehouse.
func Without(cfg Config, store storage.ObjectStore, cat *catalog.Catalog, why error) *Engine {
	cfg.Warehouse = ""
	e := &Engine{cfg: cfg, store: store, cat: cat, ready: make(chan struct{}), openErr: why}
	close(e.ready)
	return e
}
