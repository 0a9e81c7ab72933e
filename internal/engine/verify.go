package engine

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// The binder proves what a SELECT reads by reading DuckDB's parse tree, but
// DuckDB serializes only SELECTs: the warehouse's UPDATE, DELETE, MERGE,
// TRUNCATE and ALTER statements run as written. Any tokenizer that tries to
// spot file reads in them (a quoted function name, a file after a join
// condition, a replacement scan under a new spelling) loses to DuckDB's own
// grammar. So such a statement is first run by DuckDB itself, inside a
// transaction that is rolled back, on a verifier: a separate in-memory
// instance with no file access at all (not even the lake's folders), whose
// only relations are empty copies of the warehouse's user tables and views.
// If the statement names a file, a table function that reads one, a lake
// table, tarn's own schema or anything else outside the warehouse, DuckDB's
// binder fails there, and the statement never reaches the real instance.

// verifier is the engine's file-less DuckDB instance. One statement at a
// time is checked on it.
type verifier struct {
	mu     sync.Mutex
	db     *sql.DB
	conn   *sql.Conn
	shape  [32]byte // hash of the warehouse shape the mirror holds
	broken error
}

func (v *verifier) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.conn != nil {
		v.conn.Close()
		v.db.Close()
		v.conn, v.db = nil, nil
	}
}

// open creates the instance on first use.
func (v *verifier) open(ctx context.Context) error {
	if v.conn != nil {
		return nil
	}
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return fmt.Errorf("cannot open the statement verifier: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return fmt.Errorf("cannot open the statement verifier: %w", err)
	}
	stmts := append([]string{}, compatMacros...)
	stmts = append(stmts,
		`SET autoinstall_known_extensions = false`,
		`SET autoload_known_extensions = false`,
		`SET enable_external_access = false`,
		`SET allow_community_extensions = false`,
		`SET lock_configuration = true`)
	for _, st := range stmts {
		if _, err := conn.ExecContext(ctx, st); err != nil {
			conn.Close()
			db.Close()
			return fmt.Errorf("cannot set up the statement verifier (%s): %w", st, err)
		}
	}
	v.db, v.conn = db, conn
	return nil
}

// warehouseShape is the DDL that recreates the warehouse's user schemas,
// sequences and relations (views as tables of their columns) without data.
func (s *Session) warehouseShape(ctx context.Context) ([]string, error) {
	ddl := []string{"CREATE SCHEMA IF NOT EXISTS warehouse." + PublicSchema}
	rows, err := s.conn.QueryContext(ctx, `
		SELECT 's', schema_name, '', '', '', 0 FROM duckdb_schemas()
			WHERE database_name = 'warehouse' AND NOT internal AND schema_name NOT IN ('tarn', 'public')
		UNION ALL SELECT 'q', schema_name, sequence_name, '', '', 0 FROM duckdb_sequences() WHERE database_name = 'warehouse' AND schema_name <> 'tarn'
		UNION ALL SELECT 'c', schema_name, table_name, column_name, data_type, column_index FROM duckdb_columns()
			WHERE database_name = 'warehouse' AND schema_name <> 'tarn'
		UNION ALL SELECT 't', '', table_name, column_name, data_type, column_index FROM duckdb_columns()
			WHERE database_name = 'temp' AND NOT starts_with(table_name, '`+TempPrefix+`')
		ORDER BY 1 DESC, 2, 3, 6`)
	if err != nil {
		return nil, fmt.Errorf("cannot read the warehouse's shape: %w", err)
	}
	defer rows.Close()
	var table string
	var cols []string
	flush := func() {
		if table != "" {
			create := "CREATE TABLE "
			if strings.HasPrefix(table, "temp.main.") {
				create = "CREATE TEMP TABLE "
			}
			ddl = append(ddl, create+table+" ("+strings.Join(cols, ", ")+")")
		}
		table, cols = "", nil
	}
	for rows.Next() {
		// Column names may hold spaces: name and type come apart.
		var kind, sch, name, col, typ string
		var idx int
		if err := rows.Scan(&kind, &sch, &name, &col, &typ, &idx); err != nil {
			return nil, err
		}
		qn := "warehouse." + QuoteIdent(sch) + "." + QuoteIdent(name)
		if kind == "t" {
			// The session's temporary tables (a client's transaction's).
			kind, qn = "c", "temp.main."+QuoteIdent(name)
		}
		switch kind {
		case "s":
			ddl = append(ddl, "CREATE SCHEMA warehouse."+QuoteIdent(sch))
		case "q":
			ddl = append(ddl, "CREATE SEQUENCE "+qn)
		case "c":
			if qn != table {
				flush()
				table = qn
			}
			cols = append(cols, QuoteIdent(col)+" "+typ)
		}
	}
	flush()
	return ddl, rows.Err()
}

// VerifyWarehouseStatement checks that a statement DuckDB would run as
// written (UPDATE, DELETE, MERGE, TRUNCATE, ALTER on warehouse tables)
// touches nothing but warehouse relations: it runs it, rolled back, on the
// file-less verifier (see above). The error wraps ErrPermission when the
// statement reads files or names something outside the warehouse, and
// ErrSyntax when DuckDB cannot parse it.
func (s *Session) VerifyWarehouseStatement(ctx context.Context, stmt string) error {
	if err := s.e.HasWarehouse(); err != nil {
		return err
	}
	ddl, err := s.warehouseShape(ctx)
	if err != nil {
		return err
	}
	shape := sha256.Sum256([]byte(strings.Join(ddl, ";\n")))
	v := &s.e.verify
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.broken != nil {
		return v.broken
	}
	if err := v.open(ctx); err != nil {
		return err
	}
	if shape != v.shape {
		if err := v.mirror(ctx, ddl); err != nil {
			return err
		}
		v.shape = shape
	}
	if _, err := v.conn.ExecContext(ctx, "BEGIN"); err != nil {
		return fmt.Errorf("cannot verify statement: %w", err)
	}
	_, runErr := v.conn.ExecContext(ctx, stmt)
	if _, err := v.conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		// A verifier whose transaction state is unknown cannot be trusted
		// with the next statement's check.
		v.broken = fmt.Errorf("statement verifier unusable after a failed rollback: %w", err)
		return v.broken
	}
	if runErr == nil {
		return nil
	}
	var de *duckdb.Error
	if errors.As(runErr, &de) {
		switch de.Type {
		case duckdb.ErrorTypeParser:
			return fmt.Errorf("%w: %s", ErrSyntax, de.Msg)
		case duckdb.ErrorTypePermission, duckdb.ErrorTypeCatalog, duckdb.ErrorTypeIO:
			return fmt.Errorf("%w: the statement reads something outside the warehouse (files are read through catalog tables or COPY; lake tables through INSERT ... SELECT): %s",
				ErrPermission, firstLine(de.Msg))
		}
	}
	// Fail closed: a statement the verifier cannot run is not run at all.
	return fmt.Errorf("cannot run the statement: %s", firstLine(runErr.Error()))
}

// mirror rebuilds the verifier's warehouse from ddl.
func (v *verifier) mirror(ctx context.Context, ddl []string) error {
	v.conn.ExecContext(ctx, "USE memory")
	v.conn.ExecContext(ctx, "DETACH DATABASE IF EXISTS warehouse")
	// The last shape's temporary tables (another session's) go too.
	var temps []string
	if rows, err := v.conn.QueryContext(ctx, `SELECT table_name FROM duckdb_tables() WHERE database_name = 'temp'`); err == nil {
		for rows.Next() {
			var n string
			if rows.Scan(&n) == nil {
				temps = append(temps, n)
			}
		}
		rows.Close()
	}
	for _, n := range temps {
		if _, err := v.conn.ExecContext(ctx, "DROP TABLE temp.main."+QuoteIdent(n)); err != nil {
			v.shape = [32]byte{}
			return fmt.Errorf("cannot mirror the warehouse for checking a statement: %w", err)
		}
	}
	stmts := append(append([]string{"ATTACH ':memory:' AS warehouse"}, ddl...), "SET search_path = 'warehouse.public,memory.main'")
	for _, st := range stmts {
		if _, err := v.conn.ExecContext(ctx, st); err != nil {
			v.shape = [32]byte{}
			return fmt.Errorf("cannot mirror the warehouse for checking a statement (%s): %w", st, err)
		}
	}
	return nil
}

// firstLine is a DuckDB message's first line without its "<Type> Error: "
// prefix (the caller says what kind of error it is).
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if i := strings.Index(line, " Error: "); i > 0 && !strings.Contains(line[:i], " ") {
		line = line[i+len(" Error: "):]
	}
	return line
}
