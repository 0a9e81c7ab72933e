// Package meta is tarn's metadata database: SQLite (WAL) by default, or
// PostgreSQL (through pgx) behind the same code: services write SQLite's SQL
// with ? placeholders and meta rewrites its few mechanical differences for
// PostgreSQL (dialect.go, postgres.go). Each service owns its
// tables and registers its migrations under its own component name; meta only
// applies them in order, each in one transaction, and remembers what it applied.
package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/sqlscan"

	"modernc.org/sqlite"
)

// ErrNotFound is returned (wrapped) by helpers that expect exactly one row.
var ErrNotFound = errors.New("not found")

// ErrEmptyDatabase is returned by Open for a database file of 0 bytes,
// which it refuses to treat as a new database.
var ErrEmptyDatabase = errors.New("the metadata database file is empty (0 bytes)")

// Config selects and locates the metadata database.
type Config struct {
	// Driver is "sqlite" (the default) or "postgres".
	Driver string
	// Path is the SQLite database file. A postgres:// URL here (with no
	// Driver) selects PostgreSQL, as DSN does.
	Path string
	// DSN is PostgreSQL's connection string (a postgres:// URL or
	// key=value pairs), for Driver "postgres".
	DSN string
	// MaxConns caps PostgreSQL connections (0: no cap, as on SQLite). A
	// transaction waiting for the write lock holds its connection, so a cap
	// below the number of concurrent writers plus the reads their holder
	// makes outside its transaction waits out the busy timeout.
	MaxConns int
	// BusyTimeout is how long a writer waits for the database lock.
	BusyTimeout time.Duration
}

// DefaultConfig returns the embedded default: SQLite at path.
func DefaultConfig(path string) Config {
	return Config{Driver: "sqlite", Path: path, BusyTimeout: 10 * time.Second}
}

// Migration is one schema change of a component. Versions start at 1 and
// increase by one; a migration is never edited once released.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// DB is an open metadata database. It is safe for concurrent use.
type DB struct {
	sql    *sql.DB
	driver string
}

// Open opens (creating if needed) the metadata database.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.Driver == "" && isPostgresURL(cfg.Path) {
		cfg.Driver, cfg.DSN, cfg.Path = "postgres", cfg.Path, ""
	}
	if cfg.Driver == "" {
		cfg.Driver = "sqlite"
	}
	if cfg.BusyTimeout == 0 {
		cfg.BusyTimeout = 10 * time.Second
	}
	switch cfg.Driver {
	case "sqlite":
	case "postgres", "postgresql", "pgx":
		return openPostgres(ctx, cfg)
	default:
		return nil, fmt.Errorf("cannot open metadata database: driver %q is not supported (use sqlite or postgres)", cfg.Driver)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o755); err != nil {
		return nil, fmt.Errorf("cannot create metadata folder: %w", err)
	}
	// SQLite treats an empty file as a new database and would quietly start
	// an empty lake over it: catalog, keys and bookmarks gone. Any file it
	// ever wrote is at least one page long, so 0 bytes means it was lost
	// (truncated, a failed copy, a full disk) and only a person can decide.
	if fi, err := os.Stat(cfg.Path); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
		return nil, fmt.Errorf("cannot open metadata database %q: %w: restore it from a backup, or move it (and any %s-wal file) away to start a new, empty lake",
			cfg.Path, ErrEmptyDatabase, filepath.Base(cfg.Path))
	}
	// _txlock=immediate makes every transaction take the write lock up front,
	// so two writers wait on busy_timeout instead of failing with SQLITE_BUSY
	// when a read transaction tries to upgrade.
	dsn := fmt.Sprintf("file:%s?_pragma=journal_mode(WAL)&_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate",
		cfg.Path, cfg.BusyTimeout.Milliseconds())
	lockKey, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("cannot open metadata database %q: %w", cfg.Path, err)
	}
	db := sql.OpenDB(&lockingConnector{drv: &sqlite.Driver{}, dsn: dsn, lock: writeLockFor(lockKey, cfg.BusyTimeout)})
	// Every request reads keys, tables and runs here: connections are
	// kept, not opened per burst (a new SQLite connection parses the
	// whole schema before its first statement).
	db.SetMaxIdleConns(16)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot open metadata database %q: %w", cfg.Path, err)
	}
	// The database holds access keys' secrets (SigV4 needs them): owner only.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Chmod(cfg.Path+suffix, 0o600); err != nil && !os.IsNotExist(err) {
			db.Close()
			return nil, fmt.Errorf("cannot protect metadata database %q: %w", cfg.Path, err)
		}
	}
	m := &DB{sql: db, driver: cfg.Driver}
	if _, err := db.ExecContext(ctx, schemaMigrationsDDL); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot initialise metadata database %q: %w", cfg.Path, err)
	}
	return m, nil
}

const schemaMigrationsDDL = `CREATE TABLE IF NOT EXISTS schema_migrations (
		component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL,
		PRIMARY KEY (component, version))`

// SQL returns the underlying handle for queries. On PostgreSQL it takes
// the same SQL as on SQLite (? placeholders; see docs/architecture.md,
// "Portable metadata SQL").
func (m *DB) SQL() *sql.DB { return m.sql }

// Driver names the backend ("sqlite" or "postgres").
func (m *DB) Driver() string { return m.driver }

// Close closes the database. It is idempotent.
func (m *DB) Close() error {
	if m == nil || m.sql == nil {
		return nil
	}
	err := m.sql.Close()
	m.sql = nil
	return err
}

// Tx runs fn in one transaction, committing if fn returns nil.
func (m *DB) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := m.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cannot begin metadata transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot commit metadata transaction: %w", err)
	}
	return nil
}

// Migrate applies the component's migrations that are not applied yet.
func (m *DB) Migrate(ctx context.Context, component string, migs []Migration) error {
	applied := map[int]bool{}
	rows, err := m.sql.QueryContext(ctx, `SELECT version FROM schema_migrations WHERE component = ?`, component)
	if err != nil {
		return fmt.Errorf("cannot read migrations of %q: %w", component, err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied[v] = true
	}
	rows.Close()
	for i, mig := range migs {
		if mig.Version != i+1 {
			return fmt.Errorf("cannot migrate %q: migration %q has version %d, want %d", component, mig.Name, mig.Version, i+1)
		}
		if applied[mig.Version] {
			continue
		}
		stmts, err := splitStatements(mig.SQL)
		if err != nil {
			return fmt.Errorf("cannot read migration %s/%d %q: %w", component, mig.Version, mig.Name, err)
		}
		err = m.Tx(ctx, func(tx *sql.Tx) error {
			// Another process (a second server) may have applied it
			// since the list was read: the transaction holds the write
			// lock, so this answer stands until it commits.
			var done int
			err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE component = ? AND version = ?`, component, mig.Version).Scan(&done)
			if err != nil || done > 0 {
				return err
			}
			for _, stmt := range stmts {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("cannot apply migration %s/%d %q: %w", component, mig.Version, mig.Name, err)
				}
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)`,
				component, mig.Version, mig.Name, Now())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// splitStatements splits a migration into its statements with tarn's one
// SQL scanner (a leaf package), so a ';' in a string or comment of a
// migration does not end a statement.
func splitStatements(s string) ([]string, error) {
	st, err := sqlscan.Split(s, sqlscan.DuckDB)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(st))
	for i, x := range st {
		out[i] = x.Text
	}
	return out, nil
}

// TimeFormat is how times are stored: RFC 3339 in UTC with nanoseconds, so
// text order is time order in both SQLite and PostgreSQL.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// Now returns the current time formatted for storage.
func Now() string { return FormatTime(time.Now()) }

// FormatTime formats t for storage; the zero time is stored as "".
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeFormat)
}

// ParseTime parses a stored time; "" is the zero time.
func ParseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(TimeFormat, s)
	if err != nil {
		t, _ = time.Parse(time.RFC3339Nano, s)
	}
	return t
}

// IsUniqueViolation reports whether err is a unique-constraint failure
// (SQLite's, or PostgreSQL's SQLSTATE 23505).
func IsUniqueViolation(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "UNIQUE constraint failed") || pgCode(err) == "23505")
}
