package meta

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// SQLite lets one writer in at a time. Writers that find the lock taken
// wait in SQLite's busy handler, which sleeps 1, 2, 5 … 25, 50, 100 ms
// between tries: under a mixed load (queries recording their runs, uploads
// recording events, jobs committing tables) a writer that loses a few
// rounds waits hundreds of milliseconds while the lock sits free between
// its naps, and every request's p99 grows with it. Within one process the
// writers therefore queue on a Go lock, first come first served, and take
// SQLite's lock when it is their turn; the busy handler remains only for
// writers in other processes (a CLI command beside `tarn serve`).
type writeLock struct {
	ch      chan struct{}
	timeout time.Duration
}

var (
	writeLocksMu sync.Mutex
	writeLocks   = map[string]*writeLock{}
)

// writeLockFor returns the process's lock for the database file at path:
// two handles on one file in one process (tests, a command opening the
// lake twice) must queue on the same lock.
func writeLockFor(path string, timeout time.Duration) *writeLock {
	writeLocksMu.Lock()
	defer writeLocksMu.Unlock()
	l := writeLocks[path]
	if l == nil {
		l = &writeLock{ch: make(chan struct{}, 1), timeout: timeout}
		writeLocks[path] = l
	}
	return l
}

// errWriteLockTimeout reads as SQLite's own busy error, which callers and
// users already know: the lock was held longer than the busy timeout.
var errWriteLockTimeout = errors.New("database is locked (SQLITE_BUSY): another write held the metadata database longer than its busy timeout")

func (l *writeLock) acquire(ctx context.Context) error {
	select {
	case l.ch <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(l.timeout)
	defer t.Stop()
	select {
	case l.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("%w (%s)", errWriteLockTimeout, l.timeout)
	}
}

func (l *writeLock) release() { <-l.ch }

// lockingConnector opens the driver's connections wrapped so that their
// writes take the process's write lock.
type lockingConnector struct {
	drv  driver.Driver
	dsn  string
	lock *writeLock
	// connect, if set, opens the inner connection instead of drv.Open(dsn).
	connect func(context.Context) (driver.Conn, error)
}

func (c *lockingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	var dc driver.Conn
	var err error
	if c.connect != nil {
		dc, err = c.connect(ctx)
	} else {
		dc, err = c.drv.Open(c.dsn)
	}
	if err != nil {
		return nil, err
	}
	return &lockingConn{inner: dc, lock: c.lock}, nil
}

func (c *lockingConnector) Driver() driver.Driver { return c.drv }

// lockingConn holds the write lock for the whole of a transaction (every
// transaction is BEGIN IMMEDIATE: it takes SQLite's write lock up front)
// and for each write statement made outside one.
type lockingConn struct {
	inner driver.Conn
	lock  *writeLock
	inTx  bool
}

// The driver's connection implements the context interfaces; these
// assertions fail loudly at first use if a driver upgrade drops one.
func (c *lockingConn) ctxConn() interface {
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
} {
	return c.inner.(interface {
		driver.ConnBeginTx
		driver.ConnPrepareContext
		driver.ExecerContext
		driver.QueryerContext
	})
}

func (c *lockingConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *lockingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	// Prepared statements are used inside transactions, which hold the
	// lock already; outside one they fall back on SQLite's busy handler.
	return c.ctxConn().PrepareContext(ctx, query)
}

func (c *lockingConn) Close() error {
	err := c.inner.Close()
	if c.inTx {
		c.inTx = false
		c.lock.release()
	}
	return err
}

func (c *lockingConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *lockingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := c.lock.acquire(ctx); err != nil {
		return nil, err
	}
	tx, err := c.ctxConn().BeginTx(ctx, opts)
	if err != nil {
		c.lock.release()
		return nil, err
	}
	c.inTx = true
	return &lockingTx{inner: tx, conn: c}, nil
}

func (c *lockingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.inTx {
		return c.ctxConn().ExecContext(ctx, query, args)
	}
	if err := c.lock.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.lock.release()
	return c.ctxConn().ExecContext(ctx, query, args)
}

func (c *lockingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.inTx || !writes(query) {
		return c.ctxConn().QueryContext(ctx, query, args)
	}
	// A write with RETURNING finishes when its rows are closed.
	if err := c.lock.acquire(ctx); err != nil {
		return nil, err
	}
	rows, err := c.ctxConn().QueryContext(ctx, query, args)
	if err != nil {
		c.lock.release()
		return nil, err
	}
	return &lockingRows{Rows: rows, lock: c.lock}, nil
}

func (c *lockingConn) Ping(ctx context.Context) error {
	if p, ok := c.inner.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *lockingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.inner.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *lockingConn) IsValid() bool {
	if v, ok := c.inner.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

type lockingTx struct {
	inner driver.Tx
	conn  *lockingConn
}

func (t *lockingTx) Commit() error {
	defer t.end()
	return t.inner.Commit()
}

func (t *lockingTx) Rollback() error {
	defer t.end()
	return t.inner.Rollback()
}

func (t *lockingTx) end() {
	if t.conn.inTx {
		t.conn.inTx = false
		t.conn.lock.release()
	}
}

type lockingRows struct {
	driver.Rows
	lock *writeLock
	once sync.Once
}

func (r *lockingRows) Close() error {
	err := r.Rows.Close()
	r.once.Do(r.lock.release)
	return err
}

// writes reports whether a statement outside a transaction writes: its
// first keyword, past comments and spaces, is one of SQLite's writes.
func writes(query string) bool {
	q := strings.TrimSpace(query)
	for strings.HasPrefix(q, "--") || strings.HasPrefix(q, "/*") {
		if strings.HasPrefix(q, "--") {
			_, q, _ = strings.Cut(q, "\n")
		} else {
			_, q, _ = strings.Cut(q[2:], "*/")
		}
		q = strings.TrimSpace(q)
	}
	end := strings.IndexFunc(q, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') })
	if end < 0 {
		end = len(q)
	}
	switch strings.ToUpper(q[:end]) {
	case "INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER":
		return true
	}
	return false
}
