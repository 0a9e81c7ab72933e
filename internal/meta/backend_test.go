package meta_test

// These tests run on the backend TARN_TEST_META names (SQLite by default,
// PostgreSQL with TARN_TEST_META=postgres: make test-meta-pg); the ones
// about PostgreSQL's locks skip on SQLite.

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
)

var kvMigrations = []meta.Migration{{Version: 1, Name: "kv", SQL: `
CREATE TABLE kv (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	name TEXT NOT NULL UNIQUE,
	n INTEGER NOT NULL DEFAULT 0,
	flag INTEGER NOT NULL DEFAULT 0,
	f REAL NOT NULL DEFAULT 0,
	b BLOB
);
-- a ';' in a comment; and one in a string:
INSERT INTO kv (name, n) VALUES ('counter;', 0);`}}

func openKV(t *testing.T) *meta.DB {
	t.Helper()
	db := metatest.Open(t)
	if err := db.Migrate(t.Context(), "kv", kvMigrations); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestPortableSQL(t *testing.T) {
	ctx := t.Context()
	db := openKV(t)
	q := db.SQL()
	// RETURNING gives ids on both backends, outside a transaction too;
	// booleans are stored as 1 and 0; 64-bit integers fit.
	var id1, id2 int64
	if err := q.QueryRowContext(ctx, `INSERT INTO kv (name, n, flag, f, b) VALUES (?, ?, ?, ?, ?) RETURNING id`, "a", int64(1)<<40, true, 2.5, []byte{0, 1, 255}).Scan(&id1); err != nil {
		t.Fatal(err)
	}
	if err := q.QueryRowContext(ctx, `INSERT INTO kv (name, flag) VALUES (?, ?) RETURNING id`, "b", false).Scan(&id2); err != nil || id2 <= id1 {
		t.Fatalf("second id %d %v, want > %d", id2, err, id1)
	}
	var (
		n    int64
		flag bool
		f    float64
		b    []byte
	)
	if err := q.QueryRowContext(ctx, `SELECT n, flag, f, b FROM kv WHERE id = ? AND flag = ?`, id1, true).Scan(&n, &flag, &f, &b); err != nil ||
		n != 1<<40 || !flag || f != 2.5 || !slices.Equal(b, []byte{0, 1, 255}) {
		t.Fatalf("row = %d %v %v %v %v", n, flag, f, b, err)
	}
	// A duplicate is a unique violation, outside a transaction and in one;
	// the connection is usable afterwards.
	if _, err := q.ExecContext(ctx, `INSERT INTO kv (name) VALUES (?)`, "a"); !meta.IsUniqueViolation(err) {
		t.Errorf("duplicate insert: %v", err)
	}
	var dup int64
	if err := q.QueryRowContext(ctx, `INSERT INTO kv (name) VALUES (?) RETURNING id`, "a").Scan(&dup); !meta.IsUniqueViolation(err) {
		t.Errorf("duplicate insert returning: %v", err)
	}
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO kv (name) VALUES (?)`, "a")
		return err
	})
	if !meta.IsUniqueViolation(err) {
		t.Errorf("duplicate insert in a transaction: %v", err)
	}
	// ON CONFLICT with excluded; SQLite's scalar MAX.
	for _, v := range []int{5, 3} {
		if _, err := q.ExecContext(ctx, `INSERT INTO kv (name, n) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET n = MAX(kv.n, excluded.n)`, "b", v); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.QueryRowContext(ctx, `SELECT n FROM kv WHERE name = ?`, "b").Scan(&n); err != nil || n != 5 {
		t.Errorf("upsert with MAX: %d %v, want 5", n, err)
	}
	// An integer argument for a text column is stored as its digits, as
	// SQLite does.
	if _, err := q.ExecContext(ctx, `INSERT INTO kv (name) VALUES (?)`, 42); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := q.QueryRowContext(ctx, `SELECT name FROM kv WHERE name = ?`, "42").Scan(&name); err != nil || name != "42" {
		t.Errorf("integer into text: %q %v", name, err)
	}
	// Text compares byte by byte: upper case, '_', then lower case.
	for _, s := range []string{"Z", "_", "é", "a b"} {
		if _, err := q.ExecContext(ctx, `INSERT INTO kv (name) VALUES (?)`, s); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := q.QueryContext(ctx, `SELECT name FROM kv WHERE name >= ? ORDER BY name`, "A")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		rows.Scan(&name)
		names = append(names, name)
	}
	rows.Close()
	if want := []string{"Z", "_", "a", "a b", "b", "counter;", "é"}; !slices.Equal(names, want) {
		t.Errorf("order = %q, want %q", names, want)
	}
	// A failing transaction leaves nothing.
	boom := errors.New("boom")
	err = db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE kv SET n = 99 WHERE name = ?`, "a"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if err := q.QueryRowContext(ctx, `SELECT n FROM kv WHERE name = ?`, "a").Scan(&n); err != nil || n != 1<<40 {
		t.Errorf("rolled back update left n = %d %v", n, err)
	}
}

// otherHandle opens a second handle on the same database as another
// server would: on PostgreSQL with a different DSN, so that the process's
// Go write lock is not shared and only PostgreSQL's lock can order them.
func otherHandle(t *testing.T, db *meta.DB, cfg meta.Config) *meta.DB {
	t.Helper()
	if cfg.Driver == "postgres" {
		u, err := url.Parse(cfg.DSN)
		if err != nil {
			t.Fatal(err)
		}
		v := u.Query()
		v.Set("application_name", "tarn-other-server")
		u.RawQuery = v.Encode()
		cfg.DSN = u.String()
	}
	o, err := meta.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// Transactions that read, then write what they read, never lose an
// update, across handles (servers) too: SQLite has one writer, and
// PostgreSQL's transactions take the write lock first.
func TestTransactionsSerialise(t *testing.T) {
	ctx := t.Context()
	cfg := metatest.Config(t, t.TempDir()+"/m.db")
	a, err := meta.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.Migrate(ctx, "kv", kvMigrations); err != nil {
		t.Fatal(err)
	}
	b := otherHandle(t, a, cfg)
	const workers, rounds = 6, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		db := a
		if w%2 == 1 {
			db = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				err := db.Tx(ctx, func(tx *sql.Tx) error {
					var n int
					if err := tx.QueryRowContext(ctx, `SELECT n FROM kv WHERE name = 'counter;'`).Scan(&n); err != nil {
						return err
					}
					_, err := tx.ExecContext(ctx, `UPDATE kv SET n = ? WHERE name = 'counter;'`, n+1)
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var n int
	if err := a.SQL().QueryRowContext(ctx, `SELECT n FROM kv WHERE name = 'counter;'`).Scan(&n); err != nil || n != workers*rounds {
		t.Fatalf("counter = %d %v, want %d: updates were lost", n, err, workers*rounds)
	}
}

// Two servers starting at once apply each migration once.
func TestConcurrentMigrations(t *testing.T) {
	ctx := t.Context()
	cfg := metatest.Config(t, t.TempDir()+"/m.db")
	a, err := meta.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b := otherHandle(t, a, cfg)
	migs := []meta.Migration{
		{Version: 1, Name: "t", SQL: `CREATE TABLE once (x INTEGER NOT NULL)`},
		{Version: 2, Name: "row", SQL: `INSERT INTO once VALUES (1)`},
		{Version: 3, Name: "col", SQL: `ALTER TABLE once ADD COLUMN y TEXT NOT NULL DEFAULT ''`},
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		db := a
		if i%2 == 1 {
			db = b
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = db.Migrate(ctx, "once", migs) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := a.SQL().QueryRowContext(ctx, `SELECT count(*) FROM once WHERE y = ''`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows = %d %v, want 1", n, err)
	}
}

// On PostgreSQL a write outside a transaction waits for a transaction of
// another server that holds the write lock, as it waits on SQLite: the
// transaction's read-then-write does not lose the other write.
func TestPostgresWriteWaitsForTransaction(t *testing.T) {
	if !metatest.Postgres() {
		t.Skip("PostgreSQL only (TARN_TEST_META=postgres)")
	}
	ctx := t.Context()
	cfg := metatest.Config(t, "")
	a, err := meta.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.Migrate(ctx, "kv", kvMigrations); err != nil {
		t.Fatal(err)
	}
	b := otherHandle(t, a, cfg)
	done := make(chan error, 1)
	err = a.Tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT n FROM kv WHERE name = 'counter;'`).Scan(&n); err != nil {
			return err
		}
		go func() {
			_, err := b.SQL().ExecContext(ctx, `UPDATE kv SET n = n + 100 WHERE name = 'counter;'`)
			done <- err
		}()
		// Wait until the other write queues on the lock (polling
		// PostgreSQL's lock table, from outside this transaction).
		for {
			var waiting int
			if err := b.SQL().QueryRowContext(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting); err != nil {
				return err
			}
			if waiting > 0 {
				break
			}
			select {
			case err := <-done:
				return errors.Join(errors.New("the other write did not wait for the transaction"), err)
			default:
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE kv SET n = ? WHERE name = 'counter;'`, n+1)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var n int
	if err := a.SQL().QueryRowContext(ctx, `SELECT n FROM kv WHERE name = 'counter;'`).Scan(&n); err != nil || n != 101 {
		t.Fatalf("counter = %d %v, want 101", n, err)
	}
}

// On PostgreSQL a failed statement aborts its transaction: a function that
// ignores the error cannot commit the rest (SQLite would). Services return
// on an error, so this only has to fail loudly.
func TestPostgresAbortedTransactionDoesNotCommit(t *testing.T) {
	if !metatest.Postgres() {
		t.Skip("PostgreSQL only (TARN_TEST_META=postgres)")
	}
	ctx := t.Context()
	db := openKV(t)
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		tx.ExecContext(ctx, `INSERT INTO kv (name) VALUES ('x')`)
		tx.ExecContext(ctx, `INSERT INTO kv (name) VALUES ('x')`) // fails, ignored
		return nil
	})
	if err == nil {
		t.Fatal("a transaction with a failed statement committed")
	}
	var n int
	if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM kv WHERE name = 'x'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows = %d %v, want 0", n, err)
	}
	// The write lock was released: another transaction proceeds.
	if err := db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO kv (name) VALUES ('y')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// A transaction whose context ends while it waits for the lock fails,
// and leaves the lock and the connection pool usable.
func TestLockWaitCancelled(t *testing.T) {
	ctx := t.Context()
	cfg := metatest.Config(t, t.TempDir()+"/m.db")
	a, err := meta.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.Migrate(ctx, "kv", kvMigrations); err != nil {
		t.Fatal(err)
	}
	b := otherHandle(t, a, cfg)
	hold := make(chan struct{})
	held := make(chan struct{})
	go a.Tx(ctx, func(tx *sql.Tx) error {
		close(held)
		<-hold
		return nil
	})
	<-held
	cctx, cancel := context.WithCancel(ctx)
	res := make(chan error, 1)
	go func() {
		res <- b.Tx(cctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(cctx, `UPDATE kv SET n = 7`)
			return err
		})
	}()
	cancel()
	if err := <-res; err == nil {
		t.Fatal("a cancelled transaction committed")
	}
	close(hold)
	if err := b.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE kv SET n = 8`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := a.SQL().QueryRowContext(ctx, `SELECT n FROM kv WHERE name = 'counter;'`).Scan(&n); err != nil || n != 8 {
		t.Fatalf("n = %d %v, want 8", n, err)
	}
}
