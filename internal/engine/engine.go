// Package engine owns DuckDB: one embedded database instance, a fixed pool of
// sandboxed sessions, binding of catalog tables to the files that hold their
// data (with partition pruning), and scan statistics.
//
// The sandbox is set up once per instance and then locked: external access is
// off except for the lake's own folders, extensions cannot be installed or
// loaded, and no setting can change afterwards. Because a locked instance
// cannot configure new connections, the pool's connections are all opened and
// configured before the lock and are never closed until Close.
package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Sentinel errors.
var (
	ErrClosed     = errors.New("engine is closed")
	ErrPermission = errors.New("permission denied")
	ErrNotSelect  = errors.New("not a SELECT statement")
	ErrSyntax     = errors.New("syntax error")
)

// Config configures the engine.
type Config struct {
	// TempDir is where DuckDB spills to disk and where remote objects are
	// fetched for reading. It must be inside the lake home.
	TempDir string
	// AllowedDirs are the folders SQL may read through tarn's bindings (the
	// objects folder of a local store). TempDir is always allowed.
	AllowedDirs []string
	// Sessions is the number of pooled DuckDB connections (concurrent queries).
	Sessions int
	// WriterSessions is the number of connections for writers (jobs, CTAS);
	// they profile their statements to count the rows they read.
	WriterSessions int
	// Threads caps DuckDB's worker threads; 0 means all cores.
	Threads int
	// MemoryLimit is DuckDB's memory_limit ("" keeps DuckDB's default of 80% of RAM).
	MemoryLimit string
	// Warehouse is the DuckDB database file of the warehouse's managed
	// tables, attached to the instance as catalog "warehouse" so that one
	// statement can read lake and warehouse tables; "" means no warehouse.
	// If another process holds the file, the engine opens without it and
	// WarehouseError says why.
	Warehouse string
	// NoWarehouse, when Warehouse is "", is why (HasWarehouse returns it):
	// another server of the lake owns the warehouse, say.
	NoWarehouse error `json:"-"`
	// GarbageGrace is how long files replaced by a publish stay readable
	// before CollectGarbage deletes them (DefaultGarbageGrace).
	GarbageGrace time.Duration
	// NoCompatMacros leaves out the Athena, Spark and Redshift function
	// names (compatMacros): for a one-shot statement that calls no function.
	NoCompatMacros bool
	// Cache gives local copies of the objects of a store that has no local
	// files (storage/s3store); nil fetches each read into TempDir. See
	// remote.go.
	Cache ObjectCache
}

// DefaultConfig returns a configuration for a lake home folder.
func DefaultConfig(home string) Config {
	return Config{
		TempDir:     filepath.Join(home, "duckdb", "tmp"),
		AllowedDirs: []string{filepath.Join(home, "objects")},
		// Enough sessions that a few long queries leave room for others;
		// an idle DuckDB connection costs little, and DuckDB's threads are
		// shared by all of them.
		Sessions:       max(8, 4*runtime.NumCPU()),
		WriterSessions: max(2, runtime.NumCPU()),
		MemoryLimit:    DefaultMemoryLimit(),
		Warehouse:      filepath.Join(home, "warehouse", "warehouse.duckdb"),
		GarbageGrace:   DefaultGarbageGrace,
	}
}

// Engine is an embedded DuckDB instance with a pool of sandboxed sessions.
// It is safe for concurrent use.
type Engine struct {
	cfg   Config
	db    *sql.DB
	store storage.ObjectStore
	cat   *catalog.Catalog
	pool  chan *Session
	wpool chan *Session

	mu       sync.Mutex
	closed   bool
	sessions []*Session
	pqCache  parquetCache
	ice      icebergCache
	checked  fileChecks
	// files are the data files bound statements of live sessions may read:
	// CollectGarbage keeps them.
	files holds

	// whErr is why the warehouse is not attached (nil when it is, or when
	// none is configured).
	whErr error

	// verify checks warehouse statements that DuckDB runs as written.
	verify verifier

	// ready is closed when open has finished, with openErr its result.
	ready   chan struct{}
	openErr error
	// readers counts the reader sessions opened so far (under mu).
	readers int
}

// New opens DuckDB in memory, configures the sandbox and opens the pool.
func New(ctx context.Context, cfg Config, store storage.ObjectStore, cat *catalog.Catalog) (*Engine, error) {
	e := Start(ctx, cfg, store, cat)
	<-e.ready
	if e.openErr != nil {
		return nil, e.openErr
	}
	return e, nil
}

// open opens DuckDB, its first sessions and the warehouse, and locks the
// sandbox (see Start). Reader sessions past the first open on demand.
func (e *Engine) open(ctx context.Context) error {
	cfg := e.cfg
	if err := os.MkdirAll(cfg.TempDir, 0o755); err != nil {
		return fmt.Errorf("cannot create engine temp folder: %w", err)
	}
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return fmt.Errorf("cannot open DuckDB: %w", err)
	}
	db := sql.OpenDB(connector)
	// The pool below owns every connection; database/sql must not close or
	// open any behind its back, since a connection opened after the lock
	// cannot be configured.
	total := cfg.Sessions + cfg.WriterSessions
	db.SetMaxOpenConns(total)
	db.SetMaxIdleConns(total)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	e.db = db

	// One reader and the writers open before the lock: writers set
	// profiling, which a locked instance refuses; the other readers need
	// no setting that the lock forbids, so acquire opens them on demand.
	eager := 1 + cfg.WriterSessions
	conns := make([]*sql.Conn, 0, eager)
	fail := func(err error) error {
		for _, c := range conns {
			c.Close()
		}
		db.Close()
		return err
	}
	for range eager {
		c, err := db.Conn(ctx)
		if err != nil {
			return fail(fmt.Errorf("cannot open DuckDB connection: %w", err))
		}
		conns = append(conns, c)
	}
	// DuckDB spends a fixed fraction of a millisecond on every statement,
	// and opening takes some forty: each connection runs its share at once.
	// The writers set their profiling and define the macros (in the
	// in-memory catalog); the reader makes the settings and attaches the
	// warehouse (its own file). The sandbox closes once all are done.
	writers := conns[1:]
	done := make(chan error, len(writers))
	for i, c := range writers {
		go func() {
			// Writers profile their statements: the scans' cardinalities are the
			// rows read, which a job reports next to rows written and rejected.
			for _, stmt := range []string{
				`PRAGMA enable_profiling = 'no_output'`,
				`PRAGMA custom_profiling_settings = '{"OPERATOR_CARDINALITY": "true", "OPERATOR_NAME": "true", "OPERATOR_TYPE": "true"}'`,
			} {
				if _, err := c.ExecContext(ctx, stmt); err != nil {
					done <- fmt.Errorf("cannot configure DuckDB writer session: %w", err)
					return
				}
			}
			for j := i; j < len(compatMacros) && !cfg.NoCompatMacros; j += len(writers) {
				if _, err := c.ExecContext(ctx, compatMacros[j]); err != nil {
					done <- fmt.Errorf("cannot define SQL function (%s): %w", compatMacros[j], err)
					return
				}
			}
			done <- nil
		}()
	}
	global := []string{
		`SET autoinstall_known_extensions = false`,
		`SET autoload_known_extensions = false`,
		fmt.Sprintf(`SET temp_directory = %s`, quoteString(cfg.TempDir)),
	}
	if cfg.Threads > 0 {
		global = append(global, fmt.Sprintf(`SET threads = %d`, cfg.Threads))
	}
	if cfg.MemoryLimit != "" {
		global = append(global, fmt.Sprintf(`SET memory_limit = %s`, quoteString(cfg.MemoryLimit)))
	}
	global = append(global, `SET allow_community_extensions = false`)
	sandbox := func(stmts []string) error {
		for _, stmt := range stmts {
			if _, err := conns[0].ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("cannot configure DuckDB sandbox (%s): %w", stmt, err)
			}
		}
		return nil
	}
	err = sandbox(global)
	if err == nil && cfg.Warehouse != "" {
		err = e.attachWarehouse(ctx, conns[:1])
	}
	for range writers {
		if werr := <-done; err == nil {
			err = werr
		}
	}
	if err != nil {
		return fail(err)
	}
	if cfg.Warehouse != "" && e.whErr == nil {
		for _, c := range writers {
			if _, err := c.ExecContext(ctx, warehouseSearchPath); err != nil {
				return fail(fmt.Errorf("cannot set the warehouse search path: %w", err))
			}
		}
	}
	allowed := []string{quoteString(withSlash(cfg.TempDir))}
	for _, d := range append(cfg.AllowedDirs, e.cacheDirs()...) {
		allowed = append(allowed, quoteString(withSlash(d)))
	}
	if err := sandbox([]string{
		fmt.Sprintf(`SET allowed_directories = [%s]`, strings.Join(allowed, ", ")),
		`SET enable_external_access = false`,
		`SET lock_configuration = true`,
	}); err != nil {
		return fail(err)
	}
	for i, c := range conns {
		s := &Session{e: e, conn: c, home: e.pool}
		if i > 0 {
			s.home, s.writer = e.wpool, true
		}
		e.sessions = append(e.sessions, s)
		s.home <- s
	}
	e.readers = 1
	return nil
}

// Close closes every session and the database. It is idempotent. Sessions
// still acquired are closed too; their users get errors.
func (e *Engine) Close() error {
	<-e.ready
	if e.openErr != nil {
		return nil // open closed what it had opened
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.verify.close()
	for _, s := range e.sessions {
		s.conn.Close()
	}
	return e.db.Close()
}

// Store returns the object store the engine reads.
func (e *Engine) Store() storage.ObjectStore { return e.store }

// TempDir is the folder DuckDB spills to; the engine's sessions may read
// and write files in it.
func (e *Engine) TempDir() string { return e.cfg.TempDir }

// Catalog returns the catalog the engine binds.
func (e *Engine) Catalog() *catalog.Catalog { return e.cat }

// Acquire takes a session from the pool, waiting until one is free or ctx
// ends. The caller must Release it.
func (e *Engine) Acquire(ctx context.Context) (*Session, error) { return e.acquire(ctx, e.pool) }

// AcquireWriter takes a writer session (one that profiles its statements so
// ScanRows works), waiting until one is free or ctx ends.
func (e *Engine) AcquireWriter(ctx context.Context) (*Session, error) { return e.acquire(ctx, e.wpool) }

func (e *Engine) acquire(ctx context.Context, pool chan *Session) (*Session, error) {
	if err := e.Ready(ctx); err != nil {
		return nil, err
	}
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	select {
	case s := <-pool:
		return s, nil
	default:
	}
	if pool == e.pool {
		if s, err := e.openReader(ctx); s != nil || err != nil {
			return s, err
		}
	}
	select {
	case s := <-pool:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Session is one DuckDB connection from the pool. It is not safe for
// concurrent use; one goroutine uses it between Acquire and Release.
type Session struct {
	e     *Engine
	conn  *sql.Conn
	temps []string // temp views and tables to drop on Release
	// txTemps drop the temporary tables a client's transaction created
	// (DropAtRelease): they live until the session is released.
	txTemps  []string
	cleanups []func()          // fetched remote objects to remove on Release
	fetched  map[string]string // URI → cached copy held for the statement (remote.go)
	held     []string          // file URIs held for the bound statement (see holds)
	home     chan *Session
	writer   bool
	// inTx is set between Begin and Commit or Rollback: the holder keeps
	// the session across statements (a client's transaction).
	inTx bool
}

// Conn returns the session's connection.
func (s *Session) Conn() *sql.Conn { return s.conn }

// Release drops the session's temporary objects and returns it to the pool.
// A transaction still open is rolled back first: the next holder must not
// inherit it.
func (s *Session) Release() {
	if s.inTx {
		_ = s.Rollback(context.Background())
	}
	for i := len(s.txTemps) - 1; i >= 0; i-- {
		_, _ = s.conn.ExecContext(context.Background(), s.txTemps[i])
	}
	s.txTemps = s.txTemps[:0]
	s.Reset()
	s.home <- s
}

// Reset drops what the last statement left on the session (temporary
// objects, fetched files, held files) without returning it to the pool:
// a pinned session is reset between the statements of its transaction.
func (s *Session) Reset() {
	ctx := context.Background() // cleanup must run even when the query's ctx is done
	for i := len(s.temps) - 1; i >= 0; i-- {
		_, _ = s.conn.ExecContext(ctx, s.temps[i])
	}
	s.temps = s.temps[:0]
	for _, c := range s.cleanups {
		c()
	}
	s.cleanups = s.cleanups[:0]
	clear(s.fetched)
	if len(s.held) > 0 {
		s.e.files.drop(s.held)
		s.held = s.held[:0]
	}
}

// Begin opens a DuckDB transaction on the session: the statements run on it
// until Commit or Rollback are one transaction, which other sessions do not
// see until it commits.
func (s *Session) Begin(ctx context.Context) error {
	if s.inTx {
		return errors.New("cannot begin a transaction: one is already open on this session")
	}
	if _, err := s.conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return err
	}
	s.inTx = true
	return nil
}

// InTransaction reports whether Begin opened a transaction that is still
// open; statements that would open their own then run inside it.
func (s *Session) InTransaction() bool { return s.inTx }

// Commit commits the transaction Begin opened. If DuckDB refuses (a write
// conflict with a transaction that committed first), the transaction is
// rolled back and the error returned.
func (s *Session) Commit(ctx context.Context) error {
	if !s.inTx {
		return errors.New("cannot commit: no transaction is open on this session")
	}
	s.inTx = false
	if _, err := s.conn.ExecContext(ctx, "COMMIT"); err != nil {
		_, _ = s.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	return nil
}

// Rollback undoes the transaction Begin opened. It runs even when ctx is
// done: a transaction must not outlive its holder.
func (s *Session) Rollback(ctx context.Context) error {
	if !s.inTx {
		return nil
	}
	s.inTx = false
	_, err := s.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	return err
}

// DropAtRelease registers a statement that drops a temporary table a
// client's transaction created on this (pinned) session; it runs when the
// session is released, after the transaction's COMMIT or ROLLBACK, so the
// next holder never sees the table.
func (s *Session) DropAtRelease(stmt string) { s.txTemps = append(s.txTemps, stmt) }

// dropLater registers a statement that undoes a temporary object.
func (s *Session) dropLater(stmt string) { s.temps = append(s.temps, stmt) }

// ScanRows returns, by operator name (READ_CSV, READ_JSON, READ_PARQUET,
// ...), the rows the file scans of the session's last statement produced.
// Only writer sessions profile their statements.
func (s *Session) ScanRows() (map[string]int64, error) {
	if !s.writer {
		return nil, errors.New("cannot count scanned rows: not a writer session")
	}
	info, err := duckdb.GetProfilingInfo(s.conn)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	var visit func(p duckdb.ProfilingInfo)
	visit = func(p duckdb.ProfilingInfo) {
		if name := p.Metrics["OPERATOR_NAME"]; p.Metrics["OPERATOR_TYPE"] == "TABLE_SCAN" && strings.HasPrefix(name, "READ_") {
			var c int64
			fmt.Sscan(p.Metrics["OPERATOR_CARDINALITY"], &c)
			out[name] += c
		}
		for _, ch := range p.Children {
			visit(ch)
		}
	}
	visit(info)
	return out, nil
}

// LocalPath returns a local file path DuckDB can read for an object. For a
// local store it is the object's own file; otherwise the object comes
// from the cache (Config.Cache; cleanup releases it) or is fetched into the
// engine's temp folder (cleanup removes it).
func (e *Engine) LocalPath(ctx context.Context, bucket, key string) (path string, cleanup func(), err error) {
	if lp, ok := e.store.(storage.LocalPather); ok {
		p, err := lp.LocalPath(bucket, key)
		if err == nil {
			return p, func() {}, nil
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			return "", nil, err
		}
	}
	if e.cfg.Cache != nil {
		return e.cfg.Cache.LocalPath(ctx, bucket, key)
	}
	rc, _, err := e.store.Get(ctx, bucket, key, nil)
	if err != nil {
		return "", nil, err
	}
	defer rc.Close()
	dir, err := os.MkdirTemp(e.cfg.TempDir, "fetch-")
	if err != nil {
		return "", nil, fmt.Errorf("cannot fetch s3://%s/%s: %w", bucket, key, err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	f, err := os.Create(filepath.Join(dir, filepath.Base(key)))
	if err == nil {
		_, err = io.Copy(f, rc)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("cannot fetch s3://%s/%s: %w", bucket, key, err)
	}
	return f.Name(), cleanup, nil
}

func withSlash(p string) string {
	if strings.HasSuffix(p, string(filepath.Separator)) {
		return p
	}
	return p + string(filepath.Separator)
}

// quoteString quotes s as a SQL string literal.
func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// QuoteString quotes s as a SQL string literal.
func QuoteString(s string) string { return quoteString(s) }

// QuoteIdent quotes s as a SQL identifier.
func QuoteIdent(s string) string { return catalog.QuoteDuckDBIdent(s) }

// compatMacros give DuckDB the names Athena (Trino) and Spark SQL use for
// functions DuckDB has under other names, so queries and job SQL from the
// guides run as written. docs/sql.md lists them.
var compatMacros = []string{
	`CREATE MACRO to_date(s) AS CAST(s AS DATE), (s, fmt) AS CAST(strptime(CAST(s AS VARCHAR), fmt) AS DATE)`,
	`CREATE MACRO date_parse(s, fmt) AS strptime(s, fmt)`,
	`CREATE MACRO date_format(ts, fmt) AS strftime(ts, fmt)`,
	`CREATE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)`,
	`CREATE MACRO from_iso8601_date(s) AS CAST(s AS DATE)`,
	`CREATE MACRO approx_distinct(x) AS approx_count_distinct(x)`,
	`CREATE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)`,
	`CREATE MACRO regexp_like(s, p) AS regexp_matches(s, p)`,
	`CREATE MACRO cardinality(x) AS len(x)`,
	`CREATE MACRO element_at(c, k) AS c[k]`,
	`CREATE MACRO array_join(a, sep) AS array_to_string(a, sep)`,
	`CREATE MACRO from_unixtime(s) AS to_timestamp(s)`,
	`CREATE MACRO to_unixtime(ts) AS epoch(ts)`,
	// Trino's UTF-8 conversions to and from varbinary (md5(to_utf8(s)):
	// rewriteTrinoHashes).
	`CREATE MACRO to_utf8(s) AS encode(s)`,
	`CREATE MACRO from_utf8(b) AS decode(b)`,
	// Trino's date_add(unit, n, ts) next to DuckDB's date_add(date, interval).
	`CREATE MACRO date_add(d, i) AS d + i, (unit, n, ts) AS ts + n * CAST('1 ' || unit AS INTERVAL)`,
	// Redshift's names (the warehouse's dialect). DATEADD/DATEDIFF's bare
	// date part (DATEADD(day, 1, ts)) is quoted by the warehouse's rewrite.
	`CREATE MACRO getdate() AS current_localtimestamp()`,
	`CREATE MACRO nvl(a, b) AS coalesce(a, b)`,
	`CREATE MACRO nvl2(e, a, b) AS CASE WHEN e IS NOT NULL THEN a ELSE b END`,
	`CREATE MACRO dateadd(part, n, ts) AS ts + n * CAST('1 ' || part AS INTERVAL)`,
}

// parquetCache remembers the compressed size of each column of Parquet files,
// keyed by path, size and modification time, so that data-scanned figures do
// not re-read footers on every query.
type parquetCache struct {
	mu      sync.Mutex
	entries map[string]parquetEntry
}

type parquetEntry struct {
	stamp   string
	columns map[string]int64 // top-level column name (lower case) → compressed bytes
	total   int64
	footer  int64
}
