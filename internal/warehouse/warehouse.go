// Package warehouse is tarn's Redshift: managed schemas and tables in a
// persistent DuckDB database inside the lake home (attached to the engine's
// instance as catalog "warehouse"), COPY from storage and from catalog
// tables with rejected rows kept, SQL transforms (INSERT ... SELECT, UPDATE,
// DELETE, MERGE), views, materialized views refreshed by an atomic swap, and
// Spectrum's external schemas that map a schema name to a catalog database.
//
// The query service routes statements here (see Parse and Owns) and records
// them in its history; SELECTs over warehouse tables need nothing from this
// package: the engine's binder resolves warehouse names.
package warehouse

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
)

// Sentinel errors.
var (
	ErrSyntax          = engine.ErrSyntax
	ErrPermission      = engine.ErrPermission
	ErrUnsupported     = errors.New("statement not supported")
	ErrNoSuchObject    = errors.New("no such warehouse object")
	ErrObjectExists    = errors.New("warehouse object already exists")
	ErrLoadFailed      = errors.New("load failed")
	ErrNoSuchWarehouse = engine.ErrNoWarehouse
)

// Actions the warehouse asks Env.Authorize about, IAM style. The target is
// the schema (Target.Database) and object (Target.Table).
const (
	ActionCreateSchema = "redshift:CreateSchema" // CREATE SCHEMA, CREATE EXTERNAL SCHEMA
	ActionDropSchema   = "redshift:DropSchema"
	ActionCreateTable  = "redshift:CreateTable" // tables, views, materialized views
	ActionDropTable    = "redshift:DropTable"
	ActionWriteData    = "redshift:WriteData" // INSERT, UPDATE, DELETE, MERGE, TRUNCATE, COPY, REFRESH, ALTER
	ActionReadData     = "redshift:ReadData"  // SELECT (asked by the query service)
)

// Config configures the warehouse.
type Config struct {
	// AutoRefresh refreshes materialized views created with AUTO REFRESH
	// YES after each statement that changes one of their warehouse base
	// tables (before the statement returns).
	AutoRefresh bool
	// SortOnLoad makes COPY insert rows in the order of the table's SORTKEY
	// (better min/max pruning for range filters on it). Off by default: it
	// adds a sort of the whole load to every COPY.
	SortOnLoad bool
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config { return Config{AutoRefresh: true} }

// Service runs warehouse statements. It is safe for concurrent use; DuckDB
// serialises conflicting writes (a conflict is an error, not a wait).
type Service struct {
	cfg Config
	eng *engine.Engine
	cat *catalog.Catalog
	// fileFuncs are DuckDB's table functions that read files or run SQL,
	// refused in statements DuckDB runs as written. Listing them costs
	// ~50 ms (duckdb_functions()), so it is done at the first such
	// statement, not in every process that opens the lake.
	fileFuncsOnce sync.Once
	fileFuncs     map[string]bool
	fileFuncsErr  error
	err           error // why there is no warehouse
}

// Env is what a statement runs with, given by the query service.
type Env struct {
	// Bind binds a query: catalog tables to their files, warehouse names
	// qualified. It authorizes the reads and applies the workgroup's limits.
	Bind func(ctx context.Context, query, defaultDB string, opts engine.BindOptions) (*engine.Bound, error)
	// Authorize, if set, is asked before a statement acts on a warehouse
	// object (schema, name) or reads storage (location).
	Authorize func(action, schema, name, location string) error
	// Database is the default catalog database of unqualified lake names.
	Database string
	// QueryID identifies the statement (load errors, rejected rows).
	QueryID string
}

func (e Env) allow(action, schema, name, location string) error {
	if e.Authorize == nil {
		return nil
	}
	return e.Authorize(action, schema, name, location)
}

// Result is what a statement did.
type Result struct {
	// Rows affected (loaded, inserted, updated, deleted); HasRows is false
	// for DDL.
	Rows    int64
	HasRows bool
	// Rejected rows of a COPY, stored at RejectedURI and in stl_load_errors.
	Rejected    int64
	RejectedURI string
	Copy        bool
}

// New prepares the warehouse's system tables. Without an attached warehouse
// (engine.HasWarehouse) the service still opens, and every statement fails
// with the reason.
func New(ctx context.Context, cfg Config, eng *engine.Engine) (*Service, error) {
	w := &Service{cfg: cfg, eng: eng, cat: eng.Catalog()}
	if err := eng.HasWarehouse(); err != nil {
		w.err = err
		return w, nil
	}
	sess, err := eng.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	for _, stmt := range systemTables {
		if _, err := sess.Conn().ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("cannot prepare the warehouse: %w", err)
		}
	}
	return w, nil
}

// loadFileFuncs lists DuckDB's table functions that are not also scalar
// functions, less the ones the binder allows.
func (w *Service) loadFileFuncs(ctx context.Context, conn *sql.Conn) (map[string]bool, error) {
	w.fileFuncsOnce.Do(func() {
		funcs := map[string]bool{}
		rows, err := conn.QueryContext(ctx, `SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type = 'table'
			AND function_name NOT IN (SELECT function_name FROM duckdb_functions() WHERE function_type <> 'table')`)
		if err != nil {
			w.fileFuncsErr = err
			return
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				w.fileFuncsErr = err
				return
			}
			funcs[strings.ToLower(n)] = true
		}
		for _, ok := range []string{"range", "generate_series", "unnest", "json_each", "json_tree", "generate_subscripts"} {
			delete(funcs, ok)
		}
		w.fileFuncs, w.fileFuncsErr = funcs, rows.Err()
	})
	return w.fileFuncs, w.fileFuncsErr
}

// Close is a no-op: the engine owns the database file. It is idempotent.
func (w *Service) Close() error { return nil }

// systemTables are tarn's bookkeeping in the warehouse's "tarn" schema.
var systemTables = []string{
	`CREATE TABLE IF NOT EXISTS warehouse.tarn.tables (
		schema_name VARCHAR, table_name VARCHAR, sort_key VARCHAR[], dist_key VARCHAR,
		sequences VARCHAR[], ignored VARCHAR[], created_at TIMESTAMP DEFAULT current_localtimestamp(),
		PRIMARY KEY (schema_name, table_name))`,
	`CREATE TABLE IF NOT EXISTS warehouse.tarn.materialized_views (
		schema_name VARCHAR, view_name VARCHAR, definition VARCHAR NOT NULL, database_name VARCHAR,
		auto_refresh BOOLEAN NOT NULL, sort_key VARCHAR[], base_tables VARCHAR[],
		created_at TIMESTAMP DEFAULT current_localtimestamp(), refreshed_at TIMESTAMP, refresh_rows BIGINT,
		PRIMARY KEY (schema_name, view_name))`,
	// Redshift's STL_LOAD_ERRORS, one row per rejected row of a COPY.
	`CREATE TABLE IF NOT EXISTS warehouse.tarn.stl_load_errors (
		query VARCHAR, starttime TIMESTAMP, tbl VARCHAR, filename VARCHAR, line_number BIGINT,
		colname VARCHAR, type VARCHAR, raw_line VARCHAR, raw_field_value VARCHAR, err_code INTEGER, err_reason VARCHAR)`,
}

// reserved schema names users cannot create.
var reserved = map[string]bool{engine.SystemSchema: true, "pg_catalog": true, "information_schema": true, "main": true, "temp": true}

// target resolves a name a statement writes to: [warehouse.][schema.]name,
// schema public by default.
func target(n name) (name, error) {
	if n.Catalog != "" && !strings.EqualFold(n.Catalog, engine.WarehouseCatalog) {
		return n, fmt.Errorf("%w: %s.%s.%s: warehouse objects are [warehouse.]schema.name", ErrUnsupported, n.Catalog, n.Schema, n.Name)
	}
	if n.Schema == "" {
		n.Schema = engine.PublicSchema
	}
	n.Catalog = ""
	return n, nil
}

// sqlName is the DuckDB name of a warehouse object.
func sqlName(n name) string {
	return engine.WarehouseCatalog + "." + quoteIdent(n.Schema) + "." + quoteIdent(n.Name)
}

// seqName is the sequence behind an IDENTITY column, as nextval() takes it.
func seqName(t name, col string) string { return seqNameN(t, col, 0) }

// seqNameN is seqName with PostgreSQL's suffix n (none for 0) that keeps
// it free of a renamed table's sequence.
func seqNameN(t name, col string, n int) string {
	schema := t.Schema
	if schema == "" {
		schema = engine.PublicSchema
	}
	return engine.WarehouseCatalog + "." + quoteIdent(schema) + "." + quoteIdent(seqBase(t, col, n))
}

func seqBase(t name, col string, n int) string {
	if n == 0 {
		return t.Name + "_" + col + "_seq"
	}
	return fmt.Sprintf("%s_%s_seq%d", t.Name, col, n)
}

// Owns decides whether a parsed statement is the warehouse's: a statement
// that could also be Athena's (DROP TABLE, DROP SCHEMA, INSERT INTO,
// CREATE TABLE AS) is when its target is a warehouse object or schema.
//
// On a server that does not own the warehouse (ErrElsewhere) a statement
// whose target is not a lake table is the warehouse's too: Exec answers it
// with the error that names the owner (owner.go).
func (w *Service) Owns(ctx context.Context, sess *engine.Session, st Statement, defaultDB string) (bool, error) {
	owns, err := w.owns(ctx, sess, st, defaultDB)
	if err == nil && !owns && errors.Is(w.err, ErrElsewhere) {
		return w.notLakeTarget(ctx, st, defaultDB), nil
	}
	return owns, err
}

func (w *Service) owns(ctx context.Context, sess *engine.Session, st Statement, defaultDB string) (bool, error) {
	needRels := func() (*engine.Relations, error) { return sess.WarehouseRelations(ctx) }
	switch s := st.(type) {
	case dropSchema:
		rels, err := needRels()
		if err != nil {
			return false, err
		}
		for _, n := range s.Names {
			if rels.Schemas[n] || rels.External[n] != "" {
				return true, nil
			}
		}
		return false, nil
	case createTable:
		if s.Temp || s.Select == "" || s.Def.DistKey != "" || len(s.Def.SortKey) > 0 || len(s.Def.Dropped) > 0 || strings.EqualFold(s.Target.Catalog, engine.WarehouseCatalog) {
			return true, nil
		}
		if s.Target.Catalog != "" {
			return false, nil
		}
		if s.Target.Schema == "" {
			return defaultDB == "", nil
		}
		rels, err := needRels()
		if err != nil {
			return false, err
		}
		return rels.Schemas[s.Target.Schema], nil
	case dropRelation:
		if s.Kind != "TABLE" {
			return true, nil
		}
		rels, err := needRels()
		if err != nil {
			return false, err
		}
		n := s.Targets[0]
		r, err := rels.Resolve(n.Catalog, n.Schema, n.Name, defaultDB)
		if err != nil {
			return false, nil
		}
		if r.Warehouse || (n.Schema != "" && rels.Schemas[n.Schema] && rels.External[n.Schema] == "") {
			return true, nil
		}
		// DROP TABLE IF EXISTS s.t where s is neither a warehouse schema nor
		// a catalog database: Redshift's no-op (scripts start with these).
		if s.IfExists && n.Schema != "" && rels.External[n.Schema] == "" {
			if _, err := w.eng.Catalog().GetDatabase(ctx, n.Schema); errors.Is(err, catalog.ErrNoSuchDatabase) {
				return true, nil
			}
		}
		return false, nil
	case renameRelation:
		// A warehouse relation's rename; a lake table's is Athena's.
		rels, err := needRels()
		if err != nil {
			return false, err
		}
		n := s.Target
		r, err := rels.Resolve(n.Catalog, n.Schema, n.Name, defaultDB)
		if err != nil {
			return false, nil
		}
		if r.Warehouse || strings.EqualFold(n.Catalog, engine.WarehouseCatalog) || (n.Schema != "" && rels.Schemas[n.Schema] && rels.External[n.Schema] == "") {
			return true, nil
		}
		return false, nil
	case commentOn:
		rels, err := needRels()
		if err != nil {
			return false, err
		}
		return w.ownsComment(ctx, rels, s, defaultDB)
	case insertStmt:
		rels, err := needRels()
		if err != nil {
			return false, err
		}
		n := s.Target
		r, err := rels.Resolve(n.Catalog, n.Schema, n.Name, defaultDB)
		if err != nil {
			return false, nil
		}
		return r.Warehouse, nil
	}
	return true, nil
}

// Exec runs a statement Owns accepted on a session.
func (w *Service) Exec(ctx context.Context, sess *engine.Session, st Statement, env Env) (Result, error) {
	if w.err != nil {
		return Result{}, w.err
	}
	x := &execution{w: w, ctx: ctx, sess: sess, conn: sess.Conn(), env: env}
	switch s := st.(type) {
	case createSchema:
		return Result{}, x.createSchema(s)
	case createExternalSchema:
		return Result{}, x.createExternalSchema(s)
	case dropSchema:
		return Result{}, x.dropSchema(s)
	case createTable:
		return x.createTable(s)
	case createView:
		return Result{}, x.createView(s)
	case createMatView:
		return x.createMatView(s)
	case refreshMatView:
		return x.refresh(s.Target, true)
	case dropRelation:
		return Result{}, x.drop(s)
	case renameRelation:
		return Result{}, x.rename(s)
	case commentOn:
		return Result{}, x.comment(s)
	case insertStmt:
		return x.insert(s)
	case passThrough:
		return x.passThrough(s)
	case copyStmt:
		return x.copy(s)
	case noop:
		return Result{}, nil
	}
	return Result{}, fmt.Errorf("%w: %T", ErrUnsupported, st)
}

// execution is one statement's state.
type execution struct {
	w    *Service
	ctx  context.Context
	sess *engine.Session
	conn *sql.Conn
	env  Env
}

func (x *execution) exec(q string, args ...any) (int64, error) {
	res, err := x.conn.ExecContext(x.ctx, q, args...)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// tx runs fn in one DuckDB transaction on the session's connection. In a
// client's transaction (the session is pinned, engine.Session.Begin) fn
// runs inside it: DuckDB has no nested transactions, and the client's
// COMMIT or ROLLBACK decides for the whole (a failed fn fails the
// client's transaction, which then can only roll back).
func (x *execution) tx(fn func() error) error {
	if x.sess.InTransaction() {
		return fn()
	}
	if _, err := x.conn.ExecContext(x.ctx, "BEGIN TRANSACTION"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		_, _ = x.conn.ExecContext(context.WithoutCancel(x.ctx), "ROLLBACK")
		return err
	}
	if _, err := x.conn.ExecContext(x.ctx, "COMMIT"); err != nil {
		_, _ = x.conn.ExecContext(context.WithoutCancel(x.ctx), "ROLLBACK")
		return err
	}
	return nil
}

func (x *execution) rels() (*engine.Relations, error) { return x.sess.WarehouseRelations(x.ctx) }

func (x *execution) createSchema(s createSchema) error {
	if reserved[s.Name] {
		return fmt.Errorf("%w: schema name %q is reserved", ErrPermission, s.Name)
	}
	if err := x.env.allow(ActionCreateSchema, s.Name, "", ""); err != nil {
		return err
	}
	rels, err := x.rels()
	if err != nil {
		return err
	}
	if rels.External[s.Name] != "" {
		if s.IfNotExists {
			return nil
		}
		return fmt.Errorf("cannot create schema %q: %w (an external schema)", s.Name, ErrObjectExists)
	}
	q := "CREATE SCHEMA "
	if s.IfNotExists {
		q += "IF NOT EXISTS "
	}
	_, err = x.exec(q + engine.WarehouseCatalog + "." + quoteIdent(s.Name))
	return wrapDuck(err)
}

func (x *execution) createExternalSchema(s createExternalSchema) error {
	if reserved[s.Name] || s.Name == engine.PublicSchema {
		return fmt.Errorf("%w: schema name %q is reserved", ErrPermission, s.Name)
	}
	if err := x.env.allow(ActionCreateSchema, s.Name, "", ""); err != nil {
		return err
	}
	rels, err := x.rels()
	if err != nil {
		return err
	}
	if rels.Schemas[s.Name] {
		return fmt.Errorf("cannot create external schema %q: %w (a warehouse schema)", s.Name, ErrObjectExists)
	}
	if db, ok := rels.External[s.Name]; ok {
		if s.IfNotExists {
			return nil
		}
		return fmt.Errorf("cannot create external schema %q: %w (it maps to database %q)", s.Name, ErrObjectExists, db)
	}
	if _, err := x.w.cat.GetDatabase(x.ctx, s.Database); err != nil {
		if !s.CreateDB || !errors.Is(err, catalog.ErrNoSuchDatabase) {
			return fmt.Errorf("cannot create external schema %q: %w", s.Name, err)
		}
		if x.sess.InTransaction() {
			// The catalog is not in DuckDB: its database would stay after a
			// ROLLBACK.
			return fmt.Errorf("%w: CREATE EXTERNAL DATABASE in a transaction (the catalog database %q would outlive a ROLLBACK); create the schema outside BEGIN ... COMMIT", ErrUnsupported, s.Database)
		}
		if err := x.env.allow("glue:CreateDatabase", s.Database, "", ""); err != nil {
			return err
		}
		if err := x.w.cat.CreateDatabase(x.ctx, catalog.Database{Name: s.Database}, true); err != nil {
			return err
		}
	}
	_, err = x.exec(`INSERT INTO warehouse.tarn.external_schemas (schema_name, database_name) VALUES (?, ?)`, s.Name, s.Database)
	return wrapDuck(err)
}

func (x *execution) dropSchema(s dropSchema) error {
	rels, err := x.rels()
	if err != nil {
		return err
	}
	for _, n := range s.Names {
		if err := x.env.allow(ActionDropSchema, n, "", ""); err != nil {
			return err
		}
		if n == engine.PublicSchema || reserved[n] {
			return fmt.Errorf("%w: schema %q cannot be dropped", ErrPermission, n)
		}
		if !rels.Schemas[n] && rels.External[n] == "" && !s.IfExists {
			return fmt.Errorf("cannot drop schema %q: %w", n, ErrNoSuchObject)
		}
	}
	return x.tx(func() error {
		for _, n := range s.Names {
			if rels.External[n] != "" {
				if _, err := x.exec(`DELETE FROM warehouse.tarn.external_schemas WHERE schema_name = ?`, n); err != nil {
					return err
				}
				continue
			}
			if !rels.Schemas[n] {
				continue
			}
			q := "DROP SCHEMA " + engine.WarehouseCatalog + "." + quoteIdent(n)
			if s.Cascade {
				q += " CASCADE"
			}
			if _, err := x.exec(q); err != nil {
				return wrapDuck(err)
			}
			for _, t := range []string{"tables", "materialized_views", "late_views"} {
				if _, err := x.exec(`DELETE FROM warehouse.tarn.`+t+` WHERE schema_name = ?`, n); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// checkTarget refuses objects in tarn's own schema.
func checkTarget(n name) error {
	if reserved[n.Schema] {
		return fmt.Errorf("%w: schema %q is tarn's", ErrPermission, n.Schema)
	}
	return nil
}

func (x *execution) createTable(s createTable) (Result, error) {
	if s.Temp {
		return x.createTempTable(s)
	}
	t, err := target(s.Target)
	if err != nil {
		return Result{}, err
	}
	if err := checkTarget(t); err != nil {
		return Result{}, err
	}
	if err := x.env.allow(ActionCreateTable, t.Schema, t.Name, ""); err != nil {
		return Result{}, err
	}
	rels, err := x.rels()
	if err != nil {
		return Result{}, err
	}
	if rels.Kind(t.Schema, t.Name) != "" {
		if s.IfNotExists {
			return Result{}, nil
		}
		return Result{}, fmt.Errorf("cannot create table %s: %w", t, ErrObjectExists)
	}
	if !rels.Schemas[t.Schema] {
		return Result{}, fmt.Errorf("cannot create table %s: %w: schema %q (CREATE SCHEMA %s first)", t, ErrNoSuchObject, t.Schema, t.Schema)
	}
	var seqs []string
	for _, c := range s.Def.Identity {
		seq := seqName(t, c.Name)
		// A renamed table keeps its sequences' names (PostgreSQL's rule):
		// a new table of its old name takes the next free one, as
		// PostgreSQL names it (t_id_seq1, t_id_seq2, ...).
		for n := 1; s.Select == ""; n++ {
			var used int
			if err := x.conn.QueryRowContext(x.ctx, `SELECT count(*) FROM duckdb_sequences() WHERE database_name = ? AND schema_name = ? AND sequence_name = ?`,
				engine.WarehouseCatalog, t.Schema, seqBase(t, c.Name, n-1)).Scan(&used); err != nil {
				return Result{}, err
			}
			if used == 0 {
				if n > 1 {
					free := seqNameN(t, c.Name, n-1)
					s.Def.SQL = strings.ReplaceAll(s.Def.SQL, "nextval("+quoteString(seq)+")", "nextval("+quoteString(free)+")")
					seq = free
				}
				break
			}
		}
		seqs = append(seqs, seq)
	}
	var rows int64
	var b *engine.Bound
	if s.Select != "" {
		if b, err = x.env.Bind(x.ctx, s.Select, x.env.Database, engine.BindOptions{}); err != nil {
			return Result{}, err
		}
	}
	err = x.tx(func() error {
		if s.Select != "" {
			q := b.SQL
			if len(s.Columns) > 0 {
				var cols []string
				for _, c := range s.Columns {
					cols = append(cols, quoteIdent(c))
				}
				q = fmt.Sprintf("SELECT * FROM (%s) AS q(%s)", q, strings.Join(cols, ", "))
			}
			if len(s.Def.SortKey) > 0 {
				q = fmt.Sprintf("SELECT * FROM (%s) ORDER BY %s", q, identList(s.Def.SortKey))
			}
			if _, err := x.exec("CREATE TABLE " + sqlName(t) + " AS " + q); err != nil {
				return wrapDuck(err)
			}
			if err := x.conn.QueryRowContext(x.ctx, "SELECT count(*) FROM "+sqlName(t)).Scan(&rows); err != nil {
				return err
			}
		} else {
			for i, c := range s.Def.Identity {
				if _, err := x.exec(fmt.Sprintf("CREATE SEQUENCE %s START %d INCREMENT %d", seqs[i], c.Seed, c.Step)); err != nil {
					return wrapDuck(err)
				}
			}
			if _, err := x.exec("CREATE TABLE " + sqlName(t) + " (" + s.Def.SQL + ")"); err != nil {
				return wrapDuck(err)
			}
		}
		_, err := x.exec(`INSERT INTO warehouse.tarn.tables (schema_name, table_name, sort_key, dist_key, sequences, ignored) VALUES (?, ?, `+
			listLiteral(s.Def.SortKey)+`, ?, `+listLiteral(seqs)+`, `+listLiteral(s.Def.Dropped)+`)`, t.Schema, t.Name, s.Def.DistKey)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	if s.Select != "" {
		return Result{Rows: rows, HasRows: true}, nil
	}
	return Result{}, nil
}

func (x *execution) createView(s createView) error {
	t, err := target(s.Target)
	if err != nil {
		return err
	}
	if err := checkTarget(t); err != nil {
		return err
	}
	if err := x.env.allow(ActionCreateTable, t.Schema, t.Name, ""); err != nil {
		return err
	}
	rels, err := x.rels()
	if err != nil {
		return err
	}
	if !rels.Schemas[t.Schema] {
		return fmt.Errorf("cannot create view %s: %w: schema %q", t, ErrNoSuchObject, t.Schema)
	}
	kind := rels.Kind(t.Schema, t.Name)
	if kind == engine.KindTable || (kind != "" && !s.OrReplace) {
		return fmt.Errorf("cannot create view %s: %w", t, ErrObjectExists)
	}
	b, err := x.env.Bind(x.ctx, s.Select, x.env.Database, engine.BindOptions{})
	if err != nil {
		return err
	}
	cols := ""
	if len(s.Columns) > 0 {
		cols = " (" + identList(s.Columns) + ")"
	}
	return x.tx(func() error {
		if kind == engine.KindLateView || kind == engine.KindView {
			if _, err := x.exec(`DELETE FROM warehouse.tarn.late_views WHERE schema_name = ? AND view_name = ?`, t.Schema, t.Name); err != nil {
				return err
			}
			if kind == engine.KindView {
				if _, err := x.exec("DROP VIEW " + sqlName(t)); err != nil {
					return wrapDuck(err)
				}
			}
		}
		if len(b.Scans) > 0 || s.NoSchemaBinding {
			// A late-binding view: it reads lake tables, whose files are
			// found when a query uses it; the binder expands it.
			def := s.Select
			if len(s.Columns) > 0 {
				def = fmt.Sprintf("SELECT * FROM (%s) AS q(%s)", s.Select, identList(s.Columns))
			}
			_, err := x.exec(`INSERT INTO warehouse.tarn.late_views (schema_name, view_name, definition, database_name) VALUES (?, ?, ?, ?)`,
				t.Schema, t.Name, def, strings.ToLower(x.env.Database))
			return err
		}
		_, err := x.exec("CREATE VIEW " + sqlName(t) + cols + " AS " + b.SQL)
		return wrapDuck(err)
	})
}

func (x *execution) drop(s dropRelation) error {
	rels, err := x.rels()
	if err != nil {
		return err
	}
	return x.tx(func() error {
		for _, n := range s.Targets {
			t, err := target(n)
			if err != nil {
				return err
			}
			if err := checkTarget(t); err != nil {
				return err
			}
			if err := x.env.allow(ActionDropTable, t.Schema, t.Name, ""); err != nil {
				return err
			}
			kind := rels.Kind(t.Schema, t.Name)
			isMV, err := x.isMatView(t)
			if err != nil {
				return err
			}
			switch {
			case kind == "":
				if s.IfExists {
					continue
				}
				return fmt.Errorf("cannot drop %s %s: %w", strings.ToLower(s.Kind), t, ErrNoSuchObject)
			case s.Kind == "TABLE" && (kind != engine.KindTable || isMV):
				return fmt.Errorf("%w: %s is not a table (use DROP VIEW or DROP MATERIALIZED VIEW)", ErrUnsupported, t)
			case s.Kind == "VIEW" && kind == engine.KindTable:
				return fmt.Errorf("%w: %s is not a view", ErrUnsupported, t)
			case s.Kind == "MATERIALIZED VIEW" && !isMV:
				return fmt.Errorf("%w: %s is not a materialized view", ErrUnsupported, t)
			}
			cascade := ""
			if s.Cascade {
				cascade = " CASCADE"
			}
			switch kind {
			case engine.KindLateView:
				if _, err := x.exec(`DELETE FROM warehouse.tarn.late_views WHERE schema_name = ? AND view_name = ?`, t.Schema, t.Name); err != nil {
					return err
				}
			case engine.KindView:
				if _, err := x.exec("DROP VIEW " + sqlName(t) + cascade); err != nil {
					return wrapDuck(err)
				}
			default:
				var seqs []string
				rows, err := x.conn.QueryContext(x.ctx, `SELECT unnest(sequences) FROM warehouse.tarn.tables WHERE schema_name = ? AND table_name = ?`, t.Schema, t.Name)
				if err != nil {
					return err
				}
				for rows.Next() {
					var q string
					if err := rows.Scan(&q); err != nil {
						rows.Close()
						return err
					}
					seqs = append(seqs, q)
				}
				rows.Close()
				if _, err := x.exec("DROP TABLE " + sqlName(t) + cascade); err != nil {
					return wrapDuck(err)
				}
				for _, q := range seqs {
					if _, err := x.exec("DROP SEQUENCE IF EXISTS " + q); err != nil {
						return wrapDuck(err)
					}
				}
				for _, tbl := range []string{"tables", "materialized_views"} {
					col := "table_name"
					if tbl == "materialized_views" {
						col = "view_name"
					}
					if _, err := x.exec(`DELETE FROM warehouse.tarn.`+tbl+` WHERE schema_name = ? AND `+col+` = ?`, t.Schema, t.Name); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// createTempTable creates a temporary table of the client's transaction
// block (dbt-postgres builds an incremental model's new rows and a
// snapshot's changes in one): it lives on the block's pinned session,
// unqualified names in the block find it first, and it is dropped when the
// block ends. Outside a block there is no session to keep it on.
func (x *execution) createTempTable(s createTable) (Result, error) {
	if !x.sess.InTransaction() {
		return Result{}, fmt.Errorf("%w: temporary tables outside a transaction block (sessions are not kept between statements): run BEGIN first, or create the table in a staging schema", ErrUnsupported)
	}
	n := s.Target.Name
	if strings.HasPrefix(strings.ToLower(n), engine.TempPrefix) {
		return Result{}, fmt.Errorf("%w: names starting with %s are tarn's", ErrPermission, engine.TempPrefix)
	}
	if len(s.Def.Identity) > 0 {
		return Result{}, fmt.Errorf("%w: IDENTITY columns in a temporary table", ErrUnsupported)
	}
	rels, err := x.rels()
	if err != nil {
		return Result{}, err
	}
	if rels.Temp[strings.ToLower(n)] {
		if s.IfNotExists {
			return Result{}, nil
		}
		return Result{}, fmt.Errorf("cannot create temporary table %s: %w", n, ErrObjectExists)
	}
	qn := "temp.main." + quoteIdent(n)
	var q string
	if s.Select != "" {
		b, err := x.env.Bind(x.ctx, s.Select, x.env.Database, engine.BindOptions{})
		if err != nil {
			return Result{}, err
		}
		sel := b.SQL
		if len(s.Columns) > 0 {
			sel = fmt.Sprintf("SELECT * FROM (%s) AS q(%s)", sel, identList(s.Columns))
		}
		q = "CREATE TEMP TABLE " + qn + " AS " + sel
	} else {
		q = "CREATE TEMP TABLE " + qn + " (" + s.Def.SQL + ")"
	}
	if _, err := x.exec(q); err != nil {
		return Result{}, wrapDuck(err)
	}
	x.sess.DropAtRelease("DROP TABLE IF EXISTS " + qn)
	if s.Select == "" {
		return Result{}, nil
	}
	var rows int64
	if err := x.conn.QueryRowContext(x.ctx, "SELECT count(*) FROM "+qn).Scan(&rows); err != nil {
		return Result{}, err
	}
	return Result{Rows: rows, HasRows: true}, nil
}

// rename renames a warehouse table, view, late-binding view or
// materialized view within its schema, with tarn's bookkeeping of it (sort
// and dist keys, identity sequences, the materialized view's definition),
// in one DuckDB transaction. It needs redshift:DropTable on the old name and
// redshift:CreateTable on the new one.
func (x *execution) rename(s renameRelation) error {
	t, err := target(s.Target)
	if err != nil {
		return err
	}
	rels, err := x.rels()
	if err != nil {
		return err
	}
	kind := rels.Kind(t.Schema, t.Name)
	if kind == "" {
		if s.IfExists {
			return nil
		}
		return fmt.Errorf("cannot rename %s: %w", t, ErrNoSuchObject)
	}
	if err := checkTarget(t); err != nil {
		return err
	}
	to := name{Schema: t.Schema, Name: s.To}
	isMV, err := x.isMatView(t)
	if err != nil {
		return err
	}
	switch {
	case s.Kind == "VIEW" && (kind == engine.KindTable):
		return fmt.Errorf("%w: %s is not a view", ErrUnsupported, t)
	case s.Kind == "MATERIALIZED VIEW" && !isMV:
		return fmt.Errorf("%w: %s is not a materialized view", ErrUnsupported, t)
	}
	if err := x.env.allow(ActionDropTable, t.Schema, t.Name, ""); err != nil {
		return err
	}
	if err := x.env.allow(ActionCreateTable, to.Schema, to.Name, ""); err != nil {
		return err
	}
	if rels.Kind(to.Schema, to.Name) != "" {
		return fmt.Errorf("cannot rename %s to %s: %w", t, to.Name, ErrObjectExists)
	}
	return x.tx(func() error {
		switch kind {
		case engine.KindLateView:
			_, err := x.exec(`UPDATE warehouse.tarn.late_views SET view_name = ? WHERE schema_name = ? AND view_name = ?`, to.Name, t.Schema, t.Name)
			return err
		case engine.KindView:
			_, err := x.exec("ALTER VIEW " + sqlName(t) + " RENAME TO " + quoteIdent(to.Name))
			return wrapDuck(err)
		}
		if _, err := x.exec("ALTER TABLE " + sqlName(t) + " RENAME TO " + quoteIdent(to.Name)); err != nil {
			return wrapDuck(err)
		}
		if _, err := x.exec(`UPDATE warehouse.tarn.tables SET table_name = ? WHERE schema_name = ? AND table_name = ?`, to.Name, t.Schema, t.Name); err != nil {
			return err
		}
		_, err := x.exec(`UPDATE warehouse.tarn.materialized_views SET view_name = ? WHERE schema_name = ? AND view_name = ?`, to.Name, t.Schema, t.Name)
		return err
	})
}

// writable resolves the target of a write: an existing warehouse table that
// is not a materialized view.
func (x *execution) writable(n name) (name, error) {
	rels, err := x.rels()
	if err != nil {
		return n, err
	}
	r, err := rels.Resolve(n.Catalog, n.Schema, n.Name, "")
	if err != nil || !r.Warehouse {
		return n, fmt.Errorf("cannot write %s: %w: no such warehouse table", n, ErrNoSuchObject)
	}
	t := name{Schema: r.Schema, Name: r.Name}
	if err := checkTarget(t); err != nil {
		return t, err
	}
	if rels.Kind(t.Schema, t.Name) != engine.KindTable {
		return t, fmt.Errorf("cannot write %s: %w: it is a view", t, ErrUnsupported)
	}
	if mv, err := x.isMatView(t); err != nil {
		return t, err
	} else if mv {
		return t, fmt.Errorf("cannot write %s: %w: it is a materialized view (REFRESH MATERIALIZED VIEW %s)", t, ErrUnsupported, t)
	}
	return t, x.env.allow(ActionWriteData, t.Schema, t.Name, "")
}

func (x *execution) insert(s insertStmt) (Result, error) {
	t, err := x.writable(s.Target)
	if err != nil {
		return Result{}, err
	}
	q, err := RewriteExpressions(s.Query)
	if err != nil {
		return Result{}, err
	}
	b, err := x.env.Bind(x.ctx, q, x.env.Database, engine.BindOptions{})
	if err != nil {
		return Result{}, err
	}
	cols := ""
	if len(s.Columns) > 0 {
		cols = " (" + identList(s.Columns) + ")"
	}
	n, err := x.exec("INSERT INTO " + sqlName(t) + cols + " " + b.SQL)
	if err != nil {
		return Result{}, wrapDuck(err)
	}
	if err := x.autoRefresh(t); err != nil {
		return Result{}, err
	}
	return Result{Rows: n, HasRows: true}, nil
}

func (x *execution) passThrough(s passThrough) (Result, error) {
	t, err := x.writable(s.Target)
	if err != nil {
		return Result{}, err
	}
	stmts := append([]string{s.SQL}, s.More...)
	for _, q := range stmts {
		if err := x.w.checkText(x.ctx, x.conn, q); err != nil {
			return Result{}, err
		}
		// checkText gives clear errors for the common cases; the verifier is
		// what keeps files out (DuckDB's own binder on a file-less instance).
		if err := x.sess.VerifyWarehouseStatement(x.ctx, q); err != nil {
			return Result{}, err
		}
	}
	var n int64
	if len(stmts) == 1 {
		if n, err = x.exec(s.SQL); err != nil {
			return Result{}, wrapDuck(err)
		}
	} else if err := x.tx(func() error {
		// An ALTER TABLE of several actions: all of them or none.
		for _, q := range stmts {
			if _, err := x.exec(q); err != nil {
				return wrapDuck(err)
			}
		}
		return nil
	}); err != nil {
		return Result{}, err
	}
	if s.Verb != "ALTER" {
		if err := x.autoRefresh(t); err != nil {
			return Result{}, err
		}
	}
	return Result{Rows: n, HasRows: s.Verb != "ALTER"}, nil
}

// checkText refuses, in a statement DuckDB runs as written, what the binder
// refuses in a SELECT: table functions that read files or run SQL, files
// named in FROM ('file.csv'), and tarn's own schema. Lake tables are not
// reachable from such statements (DuckDB does not know them).
func (w *Service) checkText(ctx context.Context, conn *sql.Conn, sql string) error {
	fileFuncs, err := w.loadFileFuncs(ctx, conn)
	if err != nil {
		return err
	}
	toks, err := lex(sql)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	fromDepth, depth := -1, 0
	for i, t := range toks {
		prev := token{kind: tEOF}
		if i > 0 {
			prev = toks[i-1]
		}
		next := toks[min(i+1, len(toks)-1)]
		switch {
		case t.punct("("):
			depth++
		case t.punct(")"):
			depth--
			if depth < fromDepth {
				fromDepth = -1
			}
		case t.punct(";") && next.kind != tEOF:
			return fmt.Errorf("%w: one statement at a time", ErrSyntax)
		case (t.kind == tIdent || t.kind == tQuoted) && next.punct("(") && fileFuncs[strings.ToLower(t.val)]:
			return fmt.Errorf("%w: %s() reads outside the catalog and the warehouse", ErrPermission, t.val)
		case (t.kind == tIdent || t.kind == tQuoted) && strings.EqualFold(t.val, engine.SystemSchema) && next.punct("."):
			return fmt.Errorf("%w: schema %q is tarn's", ErrPermission, engine.SystemSchema)
		case t.is("FROM") || t.is("JOIN") || t.is("USING"):
			fromDepth = depth
		case fromDepth == depth && t.kind == tIdent && fromEnd[strings.ToUpper(t.val)]:
			fromDepth = -1
		}
		if (t.kind == tString || t.kind == tQuoted) && fromDepth >= 0 && depth == fromDepth &&
			(prev.is("FROM") || prev.is("JOIN") || prev.is("USING") || prev.punct(",")) && !next.punct(".") {
			if t.kind == tString || strings.ContainsAny(t.val, "./\\") {
				return fmt.Errorf("%w: %q: files are read through catalog tables or COPY", ErrPermission, t.val)
			}
		}
	}
	return nil
}

var fromEnd = map[string]bool{"WHERE": true, "ON": true, "SET": true, "WHEN": true, "GROUP": true, "ORDER": true, "HAVING": true,
	"LIMIT": true, "RETURNING": true, "UNION": true, "EXCEPT": true, "INTERSECT": true, "QUALIFY": true, "WINDOW": true}

func (x *execution) isMatView(t name) (bool, error) {
	var n int
	err := x.conn.QueryRowContext(x.ctx, `SELECT count(*) FROM warehouse.tarn.materialized_views WHERE schema_name = ? AND view_name = ?`, t.Schema, t.Name).Scan(&n)
	return n > 0, err
}

func identList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = quoteIdent(c)
	}
	return strings.Join(q, ", ")
}

// listLiteral is a VARCHAR[] literal of strs.
func listLiteral(strs []string) string {
	if len(strs) == 0 {
		return "[]::VARCHAR[]"
	}
	q := make([]string, len(strs))
	for i, s := range strs {
		q[i] = quoteString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// wrapDuck turns DuckDB's errors into the warehouse's sentinels by their
// engine error kind, keeping DuckDB's message. Only a catalog error is a
// missing or clashing object: a file or column that "does not exist" is not.
func wrapDuck(err error) error {
	if err == nil {
		return nil
	}
	err = engine.Classify(err)
	switch {
	case engine.Is(err, engine.ErrParser):
		return fmt.Errorf("%w: %w", ErrSyntax, err)
	case engine.Is(err, engine.ErrExists):
		return fmt.Errorf("%w: %w", ErrObjectExists, err)
	case engine.Is(err, engine.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNoSuchObject, err)
	case engine.Is(err, engine.ErrPermission):
		return fmt.Errorf("%w: %w", ErrPermission, err)
	}
	return err
}

func logRefreshError(t name, err error) {
	slog.Warn("warehouse: automatic refresh of a materialized view failed", "view", t.String(), "error", err)
}
