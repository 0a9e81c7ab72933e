package meta

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL: the services' SQL runs through pgx's database/sql adapter,
// wrapped so that it reads as written for SQLite (dialect.go) and behaves
// as SQLite does.
//
// Transactions: SQLite lets one writer in at a time and every transaction
// takes the write lock up front (BEGIN IMMEDIATE), so the services'
// transactions read, decide and write without row locks and without
// retries, and some set Go variables as they go. On PostgreSQL every
// transaction, and every write statement made outside one, therefore takes
// one transaction-scoped advisory lock of the database first
// (pg_advisory_xact_lock) at READ COMMITTED: the lock is granted only when
// the previous writer has committed, and each statement's snapshot then
// sees every committed write, which is what SQLite's single writer gives.
// SERIALIZABLE with retries on 40001 would let writers overlap but rerun
// the services' transaction functions, which are not written to be rerun.
// The lock serialises the writes of every tarn server on the database; in
// one process writers still queue on the Go lock first (writelock.go).
// lock_timeout (the busy timeout) bounds the wait, as busy_timeout does.
//
// Migrations run in such transactions too, so two servers starting at once
// apply each migration once (Migrate checks again under the lock).

// pgWriteLockKey is the advisory lock every metadata write takes: an
// arbitrary constant ("tarnmeta" in ASCII), scoped to the database.
const pgWriteLockKey int64 = 0x7461726e6d657461

var pgBegin = "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(" + strconv.FormatInt(pgWriteLockKey, 10) + ")"

// isPostgresURL reports whether s is a PostgreSQL connection URL.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// ConfigFor returns the configuration for a --meta value: a postgres:// or
// postgresql:// URL selects PostgreSQL, anything else is a SQLite file.
func ConfigFor(target string) Config {
	if isPostgresURL(target) {
		cfg := DefaultConfig("")
		cfg.Driver, cfg.DSN = "postgres", target
		return cfg
	}
	return DefaultConfig(target)
}

func openPostgres(ctx context.Context, cfg Config) (*DB, error) {
	pcfg, err := pgx.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("cannot open metadata database: %w", err)
	}
	where := pcfg.Database + " on " + pcfg.Host
	if _, ok := pcfg.RuntimeParams["lock_timeout"]; !ok {
		pcfg.RuntimeParams["lock_timeout"] = strconv.FormatInt(cfg.BusyTimeout.Milliseconds(), 10)
	}
	if _, ok := pcfg.RuntimeParams["application_name"]; !ok {
		pcfg.RuntimeParams["application_name"] = "tarn"
	}
	conn := stdlib.GetConnector(*pcfg)
	db := sql.OpenDB(&lockingConnector{
		drv:  conn.Driver(),
		lock: writeLockFor("postgres\x00"+cfg.DSN, cfg.BusyTimeout),
		connect: func(ctx context.Context) (driver.Conn, error) {
			dc, err := conn.Connect(ctx)
			if err != nil {
				return nil, err
			}
			return &pgConn{inner: dc.(*stdlib.Conn)}, nil
		},
	})
	db.SetMaxIdleConns(16)
	if cfg.MaxConns > 0 {
		db.SetMaxOpenConns(cfg.MaxConns)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot open metadata database %s: %w", where, err)
	}
	m := &DB{sql: db, driver: "postgres"}
	if err := m.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, schemaMigrationsDDL)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot initialise metadata database %s: %w", where, err)
	}
	return m, nil
}

// pgConn is one pgx connection that reads SQLite's SQL and takes the
// write lock for transactions and writes outside them.
type pgConn struct {
	inner *stdlib.Conn
	inTx  bool
}

func (c *pgConn) pgx() *pgx.Conn { return c.inner.Conn() }

// begin opens a transaction holding the write lock.
func (c *pgConn) begin(ctx context.Context) error {
	if c.pgx().IsClosed() {
		return driver.ErrBadConn
	}
	if _, err := c.pgx().Exec(ctx, pgBegin); err != nil {
		if pgconn.SafeToRetry(err) {
			return driver.ErrBadConn
		}
		c.rollback(context.WithoutCancel(ctx))
		return fmt.Errorf("cannot take the metadata write lock: %w", err)
	}
	return nil
}

func (c *pgConn) commit(ctx context.Context) error {
	tag, err := c.pgx().Exec(ctx, "COMMIT")
	if err != nil {
		c.rollback(context.WithoutCancel(ctx))
		return err
	}
	if tag.String() != "COMMIT" {
		return errors.New("the metadata transaction was rolled back: a statement in it failed")
	}
	return nil
}

func (c *pgConn) rollback(ctx context.Context) error {
	if c.pgx().IsClosed() || c.pgx().PgConn().TxStatus() == 'I' {
		return nil
	}
	if _, err := c.pgx().Exec(ctx, "ROLLBACK"); err != nil {
		// A connection whose transaction cannot end is not reused.
		c.pgx().Close(ctx)
		return err
	}
	return nil
}

// pgArgs converts arguments as SQLite takes them: a bool is 1 or 0 (the
// columns are integers on both backends), and an integer also goes into a
// text parameter (as its decimal digits, which is what SQLite stores in a
// TEXT column).
func pgArgs(args []driver.NamedValue) []driver.NamedValue {
	for i, a := range args {
		switch v := a.Value.(type) {
		case bool:
			n := pgInt(0)
			if v {
				n = 1
			}
			args[i].Value = n
		case int64:
			args[i].Value = pgInt(v)
		}
	}
	return args
}

// pgInt is an integer argument that pgx encodes into integer, floating and
// numeric parameters as a number and into text parameters as digits.
type pgInt int64

func (n pgInt) Int64Value() (pgtype.Int8, error) {
	return pgtype.Int8{Int64: int64(n), Valid: true}, nil
}

func (n pgInt) TextValue() (pgtype.Text, error) {
	return pgtype.Text{String: strconv.FormatInt(int64(n), 10), Valid: true}, nil
}

func (c *pgConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	q, err := postgresSQL(query)
	if err != nil {
		return nil, err
	}
	st, err := c.inner.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &pgStmt{inner: st.(*stdlib.Stmt)}, nil
}

func (c *pgConn) Close() error { return c.inner.Close() }

func (c *pgConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	c.inTx = true
	return &pgTx{c: c, ctx: ctx}, nil
}

func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	q, err := postgresSQL(query)
	if err != nil {
		return nil, err
	}
	args = pgArgs(args)
	if c.inTx || !writes(query) {
		return c.inner.ExecContext(ctx, q, args)
	}
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	res, err := c.inner.ExecContext(ctx, q, args)
	if err != nil {
		c.rollback(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := c.commit(ctx); err != nil {
		return nil, err
	}
	return res, nil
}

func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, err := postgresSQL(query)
	if err != nil {
		return nil, err
	}
	args = pgArgs(args)
	if c.inTx || !writes(query) {
		return c.inner.QueryContext(ctx, q, args)
	}
	// A write with RETURNING commits when its rows are closed.
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	rows, err := c.inner.QueryContext(ctx, q, args)
	if err != nil {
		c.rollback(context.WithoutCancel(ctx))
		return nil, err
	}
	return &pgCommitRows{Rows: rows, c: c, ctx: ctx}, nil
}

func (c *pgConn) Ping(ctx context.Context) error { return c.inner.Ping(ctx) }

func (c *pgConn) ResetSession(ctx context.Context) error {
	if c.inTx {
		return driver.ErrBadConn
	}
	return c.inner.ResetSession(ctx)
}

func (c *pgConn) IsValid() bool { return !c.pgx().IsClosed() }

type pgTx struct {
	c   *pgConn
	ctx context.Context
}

func (t *pgTx) Commit() error {
	t.c.inTx = false
	return t.c.commit(t.ctx)
}

func (t *pgTx) Rollback() error {
	t.c.inTx = false
	return t.c.rollback(context.WithoutCancel(t.ctx))
}

// pgCommitRows ends the transaction of a write made outside one when its
// rows are closed: committed if they were read without error.
type pgCommitRows struct {
	driver.Rows
	c      *pgConn
	ctx    context.Context
	failed bool
	done   bool
}

func (r *pgCommitRows) Next(dest []driver.Value) error {
	err := r.Rows.Next(dest)
	if err != nil && err != io.EOF {
		r.failed = true
	}
	return err
}

func (r *pgCommitRows) Close() error {
	err := r.Rows.Close()
	if r.done {
		return err
	}
	r.done = true
	if err != nil || r.failed {
		r.c.rollback(context.WithoutCancel(r.ctx))
		return err
	}
	return r.c.commit(r.ctx)
}

type pgStmt struct{ inner *stdlib.Stmt }

func (s *pgStmt) Close() error  { return s.inner.Close() }
func (s *pgStmt) NumInput() int { return s.inner.NumInput() }

func (s *pgStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), valuesToNamed(args))
}

func (s *pgStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), valuesToNamed(args))
}

func (s *pgStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.inner.ExecContext(ctx, pgArgs(args))
}

func (s *pgStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.inner.QueryContext(ctx, pgArgs(args))
}

func valuesToNamed(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, v := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return out
}

// pgCode returns the SQLSTATE of a PostgreSQL error, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}
