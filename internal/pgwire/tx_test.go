package pgwire_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tarn-lake/tarn/internal/pgwire"
	"github.com/tarn-lake/tarn/internal/query"
)

// txTable creates the warehouse table txs.t with rows 1, 2, 3.
func txTable(t *testing.T, e *env) {
	t.Helper()
	for _, q := range []string{`CREATE SCHEMA txs`, `CREATE TABLE txs.t (id INTEGER)`, `INSERT INTO txs.t VALUES (1), (2), (3)`} {
		if _, _, err := e.l.Query.Run(t.Context(), q, ""); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// count reads txs.t's rows through the query service (outside any
// connection's transaction).
func count(t *testing.T, e *env) int64 {
	t.Helper()
	res, _, err := e.l.Query.Run(t.Context(), `SELECT count(*) FROM txs.t`, "")
	if err != nil {
		t.Fatal(err)
	}
	return res.Rows[0][0].(int64)
}

func countOn(t *testing.T, c *pgx.Conn) int64 {
	t.Helper()
	var n int64
	if err := c.QueryRow(t.Context(), `SELECT count(*) FROM txs.t`, pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func wantStatus(t *testing.T, c *pgx.Conn, want byte) {
	t.Helper()
	if got := c.PgConn().TxStatus(); got != want {
		t.Fatalf("ReadyForQuery transaction status %q, want %q", got, want)
	}
}

func TestTransactionsPgx(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	txTable(t, e)
	ctx := t.Context()
	c := e.connect(t, e.admin, "")
	other := e.connect(t, e.admin, "")

	t.Run("rollback undoes a delete", func(t *testing.T) {
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, c, 'T')
		if tag, err := tx.Exec(ctx, `DELETE FROM txs.t WHERE id >= 2`); err != nil || tag.String() != "DELETE 2" {
			t.Fatalf("delete: %v %v", tag, err)
		}
		if n := countOn(t, c); n != 1 {
			t.Fatalf("the transaction sees %d rows, want its own delete (1)", n)
		}
		if n := countOn(t, other); n != 3 {
			t.Fatalf("another connection sees %d rows of an uncommitted delete, want 3", n)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, c, 'I')
		if n := count(t, e); n != 3 {
			t.Fatalf("%d rows after ROLLBACK, want 3", n)
		}
	})

	t.Run("commit keeps an insert", func(t *testing.T) {
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO txs.t VALUES (4)`); err != nil {
			t.Fatal(err)
		}
		if n := countOn(t, other); n != 3 {
			t.Fatalf("another connection sees %d rows before COMMIT, want 3", n)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if n := countOn(t, other); n != 4 {
			t.Fatalf("%d rows after COMMIT, want 4", n)
		}
	})

	t.Run("two transactions do not see each other", func(t *testing.T) {
		t1, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t2, err := other.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := t1.Exec(ctx, `INSERT INTO txs.t VALUES (10)`); err != nil {
			t.Fatal(err)
		}
		if _, err := t2.Exec(ctx, `INSERT INTO txs.t VALUES (20), (21)`); err != nil {
			t.Fatal(err)
		}
		if n := countOn(t, c); n != 5 {
			t.Fatalf("transaction 1 sees %d rows, want 4 + its own 1", n)
		}
		if n := countOn(t, other); n != 6 {
			t.Fatalf("transaction 2 sees %d rows, want 4 + its own 2", n)
		}
		if err := t1.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if err := t2.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if n := count(t, e); n != 6 {
			t.Fatalf("%d rows, want 4 + the committed 2", n)
		}
	})

	t.Run("an error aborts the transaction", func(t *testing.T) {
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM txs.t`); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `SELECT * FROM txs.no_such_table`); err == nil {
			t.Fatal("no error for a missing table")
		}
		wantStatus(t, c, 'E')
		_, err = tx.Exec(ctx, `SELECT 1`)
		if sqlState(err) != "25P02" || !strings.Contains(err.Error(), "current transaction is aborted") {
			t.Fatalf("after an error: %v (%s), want 25P02", err, sqlState(err))
		}
		// COMMIT of a failed transaction rolls it back (pgx reports
		// ErrTxCommitRollback, as for PostgreSQL).
		if err := tx.Commit(ctx); err != pgx.ErrTxCommitRollback {
			t.Fatalf("commit of a failed transaction: %v", err)
		}
		wantStatus(t, c, 'I')
		if n := count(t, e); n != 6 {
			t.Fatalf("%d rows, want the 6 the failed transaction deleted", n)
		}
	})

	t.Run("lake writes are refused", func(t *testing.T) {
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			`CREATE TABLE shop.copy_of_orders AS SELECT * FROM shop.orders`,
			`INSERT INTO shop.orders SELECT * FROM shop.orders`,
			`CREATE DATABASE other`,
		} {
			if _, err := c.Exec(ctx, `ROLLBACK`); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Exec(ctx, `BEGIN`); err != nil {
				t.Fatal(err)
			}
			_, err := c.Exec(ctx, q)
			if sqlState(err) != "25001" || !strings.Contains(err.Error(), "outside BEGIN") {
				t.Fatalf("%s in a transaction: %v (%s), want 25001", q, err, sqlState(err))
			}
		}
		_ = tx.Rollback(ctx)
		// Reads of the lake are fine.
		tx, err = c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM shop.orders`).Scan(&n); err != nil || n != 5 {
			t.Fatalf("lake read in a transaction: %d %v", n, err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestTransactionClosedConnection: a connection that goes away in the
// middle of a transaction leaves nothing of it, and no session pinned.
func TestTransactionClosedConnection(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	txTable(t, e)
	ctx := t.Context()
	c := e.connect(t, e.admin, "")
	if _, err := c.Exec(ctx, `BEGIN`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `DELETE FROM txs.t WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Close waits for every connection to end, the closed one included.
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	// An open transaction that deleted row 1 would make this delete a
	// write conflict; a rolled back one leaves the row to delete.
	tx := e.l.Query.Begin()
	req := query.Request{SQL: `DELETE FROM txs.t WHERE id = 1`}
	if _, err := tx.Execute(ctx, req, &query.Collect{}); err != nil {
		t.Fatalf("the closed connection's transaction is still open: %v", err)
	}
	if ok, err := tx.Commit(ctx, req); !ok || err != nil {
		t.Fatalf("commit: %v %v", ok, err)
	}
	if n := count(t, e); n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
	hist, err := e.l.Query.History(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var rollbacks int
	for _, h := range hist {
		if h.SQL == "ROLLBACK" && h.State == query.StateSucceeded {
			rollbacks++
		}
	}
	if rollbacks != 1 {
		t.Fatalf("%d ROLLBACKs in the history, want the closed connection's", rollbacks)
	}
}

func TestPsqlTransactions(t *testing.T) {
	psqlPath(t)
	e := newEnv(t, pgwire.DefaultConfig())
	txTable(t, e)
	run := func(script string) (string, string) {
		t.Helper()
		out, errOut, err := e.psqlStdin(t, script, "-v", "ON_ERROR_STOP=0", "-Atq")
		if err != nil {
			t.Fatalf("psql: %v\n%s%s", err, out, errOut)
		}
		return out, errOut
	}
	out, _ := run("BEGIN;\nDELETE FROM txs.t;\nSELECT count(*) FROM txs.t;\nROLLBACK;\nSELECT count(*) FROM txs.t;\n")
	if got := strings.Fields(out); strings.Join(got, " ") != "0 3" {
		t.Fatalf("BEGIN; DELETE; ROLLBACK: psql printed %q, want the delete seen inside (0), then undone (3)", out)
	}
	out, _ = run("BEGIN;\nINSERT INTO txs.t VALUES (4);\nCOMMIT;\nSELECT count(*) FROM txs.t;\n")
	if strings.TrimSpace(out) != "4" {
		t.Fatalf("BEGIN; INSERT; COMMIT: psql printed %q, want 4", out)
	}
	out, errOut := run("BEGIN;\nDELETE FROM txs.t;\nSELECT * FROM txs.nope;\nSELECT 1;\n\\echo state :LAST_ERROR_SQLSTATE\nCOMMIT;\nSELECT count(*) FROM txs.t;\n")
	if !strings.Contains(errOut, "current transaction is aborted, commands ignored until end of transaction block") ||
		!strings.Contains(out, "state 25P02") || !strings.HasSuffix(strings.TrimSpace(out), "4") {
		t.Fatalf("error mid-transaction:\n%s\n%s", out, errOut)
	}
}

// psqlStdin runs psql as the admin with script on its standard input.
func (e *env) psqlStdin(t *testing.T, script string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(psqlPath(t), append([]string{"-X"}, args...)...)
	cmd.Env = append(os.Environ(), "PGHOST=127.0.0.1", fmt.Sprintf("PGPORT=%d", e.addr.Port), "PGUSER="+e.admin.AccessKeyID,
		"PGPASSWORD="+e.admin.SecretAccessKey, "PGDATABASE=shop", "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10")
	cmd.Stdin = strings.NewReader(script)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// TestIdleInTransactionTimeout: a client that opens a block, changes a row
// and then does nothing is cut off after the idle timeout (FATAL 25P03),
// its block rolled back and its pinned session freed for everyone else.
func TestIdleInTransactionTimeout(t *testing.T) {
	cfg := pgwire.DefaultConfig()
	cfg.IdleInTransactionTimeout = 50 * time.Millisecond
	e := newEnv(t, cfg)
	txTable(t, e)
	ctx := t.Context()
	c := e.connect(t, e.admin, "")
	if _, err := c.Exec(ctx, `BEGIN`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `DELETE FROM txs.t WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	// The client now idles: it only reads, which returns once the server
	// has sent its FATAL and closed the connection.
	got, err := io.ReadAll(c.PgConn().Conn())
	if err != nil && !errors.Is(err, net.ErrClosed) {
		t.Logf("read: %v", err)
	}
	if !bytes.Contains(got, []byte("25P03")) || !bytes.Contains(got, []byte("idle-in-transaction timeout")) {
		t.Fatalf("the server's last words: %q", got)
	}
	// The block was rolled back: another transaction can delete row 1.
	tx := e.l.Query.Begin()
	req := query.Request{SQL: `DELETE FROM txs.t WHERE id = 1`}
	for {
		_, err := tx.Execute(ctx, req, &query.Collect{})
		if err == nil {
			break
		}
		// The server ends the idle connection, then rolls back: until then
		// the row is the idle block's (a write conflict).
		if ctx.Err() != nil {
			t.Fatalf("the idle block was never rolled back: %v", err)
		}
		tx.Rollback(ctx, req)
		tx = e.l.Query.Begin()
		runtime.Gosched()
	}
	if ok, err := tx.Commit(ctx, req); !ok || err != nil {
		t.Fatalf("commit: %v %v", ok, err)
	}
}
