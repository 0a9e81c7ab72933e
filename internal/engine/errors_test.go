package engine_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/tarn-lake/tarn/internal/engine"
)

// TestClassify runs statements that fail in real DuckDB and checks the
// engine error kinds each error gets, classified and also after a caller
// turned it into text.
func TestClassify(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range []string{"CREATE TABLE t (a INT NOT NULL)", "CREATE SCHEMA s"} {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	all := []error{engine.ErrParser, engine.ErrCatalog, engine.ErrNotFound, engine.ErrExists, engine.ErrNoSuchFunction,
		engine.ErrNoSuchSchema, engine.ErrBinder, engine.ErrNoSuchColumn, engine.ErrConversion, engine.ErrOutOfRange,
		engine.ErrInvalidInput, engine.ErrConstraint, engine.ErrNotImplemented, engine.ErrInterrupt, engine.ErrTxAborted,
		engine.ErrConflict, engine.ErrOutOfMemory, engine.ErrIO, engine.ErrPermission}
	for _, c := range []struct {
		sql  string
		want []error
	}{
		{"SELEC 1", []error{engine.ErrParser}},
		{"SELECT * FROM nope", []error{engine.ErrCatalog, engine.ErrNotFound}},
		{"CREATE TABLE t (a INT)", []error{engine.ErrCatalog, engine.ErrExists}},
		{"SELECT * FROM nope.x", []error{engine.ErrCatalog, engine.ErrNotFound}},
		{"SELECT no_such_function(1)", []error{engine.ErrCatalog, engine.ErrNoSuchFunction, engine.ErrNotFound}},
		{"SELECT * FROM no_such_table_function(1)", []error{engine.ErrCatalog, engine.ErrNoSuchFunction, engine.ErrNotFound}},
		{"CREATE SCHEMA s", []error{engine.ErrCatalog, engine.ErrNoSuchSchema, engine.ErrExists}},
		{"SELECT b FROM t", []error{engine.ErrBinder, engine.ErrNoSuchColumn}},
		{"SELECT 'x'::INT", []error{engine.ErrConversion}},
		{"SELECT 300::TINYINT + 0", []error{engine.ErrConversion}},
		{"SELECT 100::TINYINT * 100::TINYINT", []error{engine.ErrOutOfRange}},
		{"INSERT INTO t VALUES (NULL)", []error{engine.ErrConstraint}},
		{"SELECT * FROM read_csv('/nonexistent/file.csv')", []error{engine.ErrIO}},
	} {
		_, err := conn.ExecContext(ctx, c.sql)
		if err == nil {
			t.Errorf("%s: succeeded", c.sql)
			continue
		}
		var de *duckdb.Error
		if !errors.As(err, &de) {
			t.Fatalf("%s: %T is not a *duckdb.Error", c.sql, err)
		}
		for name, e := range map[string]error{"classified": engine.Classify(err), "as text": fmt.Errorf("cannot run: %v", err)} {
			for _, k := range all {
				want := false
				for _, w := range c.want {
					want = want || w == k
				}
				if got := engine.Is(e, k); got != want {
					t.Errorf("%s (%s): Is(%v) = %v, want %v; error %v", c.sql, name, k, got, want, err)
				}
			}
		}
		if ce := engine.Classify(err); !errors.As(ce, &de) || ce.Error() != err.Error() {
			t.Errorf("%s: classified error lost DuckDB's error or message", c.sql)
		}
	}
	// A message that merely says "does not exist" is not a missing object.
	plain := errors.New("IO Error: file s3://b/x.csv does not exist")
	if engine.Is(plain, engine.ErrNotFound) || !engine.Is(plain, engine.ErrIO) {
		t.Errorf("an I/O error taken for a missing object")
	}
	if engine.Classify(nil) != nil || engine.Classify(context.Canceled) != context.Canceled {
		t.Error("Classify changed a non-DuckDB error")
	}
	// An error aborts the transaction; the next statement says so.
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	conn.ExecContext(ctx, "INSERT INTO t VALUES (NULL)")
	_, err = conn.ExecContext(ctx, "SELECT 1")
	if !engine.Is(err, engine.ErrTxAborted) {
		t.Errorf("after a failed statement in a transaction: %v, want ErrTxAborted", err)
	}
}
