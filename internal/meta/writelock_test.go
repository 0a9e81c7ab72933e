package meta

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func openLocked(t *testing.T, busy time.Duration) *DB {
	t.Helper()
	cfg := DefaultConfig(filepath.Join(t.TempDir(), "tarn.db"))
	cfg.BusyTimeout = busy
	db, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.SQL().Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// Every way a write ends (commit, rollback, a RETURNING query's rows
// closed, a plain statement) gives the lock back: the next write gets it.
func TestWriteLockReleasedOnEveryPath(t *testing.T) {
	db := openLocked(t, 5*time.Second)
	ctx := context.Background()
	sqlDB := db.SQL()
	next := func(step string) {
		t.Helper()
		// A short deadline turns a lock never given back into a failure
		// (context deadline exceeded) instead of a hang.
		c, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if _, err := sqlDB.ExecContext(c, `INSERT INTO t (v) VALUES (?)`, step); err != nil {
			t.Fatalf("write after %s: %v", step, err)
		}
	}
	if err := db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO t (v) VALUES ('in tx')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	next("commit")
	boom := errors.New("boom")
	if err := db.Tx(ctx, func(tx *sql.Tx) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("rolled back tx: %v", err)
	}
	next("rollback")
	var id int64
	if err := sqlDB.QueryRowContext(ctx, `INSERT INTO t (v) VALUES ('r') RETURNING id`).Scan(&id); err != nil || id == 0 {
		t.Fatalf("RETURNING: %d %v", id, err)
	}
	next("returning")
	var n int
	if err := sqlDB.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != 5 {
		t.Fatalf("rows: %d %v, want 5", n, err)
	}
}

// A write that waits longer than the busy timeout fails with SQLite's own
// busy error, and a cancelled one with its context's error; both leave
// the lock with its holder, whose commit still lands.
func TestWriteLockTimeoutAndCancel(t *testing.T) {
	db := openLocked(t, 200*time.Millisecond)
	ctx := context.Background()
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO t (v) VALUES ('held')`); err != nil {
		t.Fatal(err)
	}
	_, err = db.SQL().ExecContext(ctx, `INSERT INTO t (v) VALUES ('late')`)
	if !errors.Is(err, errWriteLockTimeout) {
		t.Fatalf("write behind a held transaction: %v, want the busy error", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := db.SQL().ExecContext(cctx, `INSERT INTO t (v) VALUES ('cancelled')`); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled write: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var got []string
	rows, err := db.SQL().Query(`SELECT v FROM t ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v string
		rows.Scan(&v)
		got = append(got, v)
	}
	rows.Close()
	if len(got) != 1 || got[0] != "held" {
		t.Fatalf("rows %v, want only the held transaction's", got)
	}
}

// Many writers at once all land, none failing busy, each transaction whole.
func TestWriteLockConcurrentWriters(t *testing.T) {
	db := openLocked(t, 10*time.Second)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16*20)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				err := db.Tx(ctx, func(tx *sql.Tx) error {
					for range 2 {
						if _, err := tx.Exec(`INSERT INTO t (v) VALUES (?)`, w*100+i); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					errs <- err
				}
				if _, err := db.SQL().Exec(`UPDATE t SET v = v WHERE id = 1`); err != nil {
					errs <- err
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
	if err := db.SQL().QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != 16*20*2 {
		t.Fatalf("rows %d %v, want %d", n, err, 16*20*2)
	}
}

func TestWritesClassifiesStatements(t *testing.T) {
	for q, want := range map[string]bool{
		"INSERT INTO t VALUES (1)":              true,
		"  -- note\n update t set v = 1":        true,
		"/* x */ DELETE FROM t":                 true,
		"replace into t values (1)":             true,
		"SELECT * FROM t":                       false,
		"WITH x AS (SELECT 1) SELECT * FROM x":  false,
		"":                                      false,
		"/* unterminated":                       false,
		"PRAGMA table_info(t)":                  false,
		"insert/*c*/into t values (1)":          true,
		"SELECT 'INSERT INTO t VALUES (1)'":     false,
		"create table u (a int)":                true,
		"\t\nDROP TABLE u":                      true,
		"ALTER TABLE t ADD COLUMN w TEXT":       true,
		"EXPLAIN INSERT INTO t VALUES (1)":      false,
		"select 1; insert into t values (2)":    false,
		"-- only a comment":                     false,
		"-- c\n/* d */ -- e\nINSERT INTO t (v)": true,
	} {
		if got := writes(q); got != want {
			t.Errorf("writes(%q) = %v, want %v", q, got, want)
		}
	}
}
