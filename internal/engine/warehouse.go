package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The warehouse is a DuckDB database file attached to the engine's instance
// as catalog WarehouseCatalog. Sessions resolve names Redshift's way in it:
// their search path is warehouse.public (then memory.main, where tarn's
// SQL functions live), so DDL and DML on warehouse objects run as written.
// SELECTs are bound by tarn: a name that is a warehouse relation is
// qualified with the catalog; any other is a catalog (lake) table.

// WarehouseCatalog is the DuckDB catalog name of the attached warehouse.
const WarehouseCatalog = "warehouse"

// Warehouse schemas tarn reserves.
const (
	// PublicSchema is the default schema of unqualified names.
	PublicSchema = "public"
	// SystemSchema holds tarn's own warehouse tables (external schemas,
	// materialized views, load errors). Users cannot create objects in it.
	SystemSchema = "tarn"
)

// SystemRelations are the relations of SystemSchema that unqualified names
// reach, as Redshift's system tables are on every search path.
var SystemRelations = map[string]bool{"stl_load_errors": true}

// warehouseSearchPath makes a session resolve names in the warehouse first.
const warehouseSearchPath = "SET search_path = 'warehouse.public,memory.main'"

// ErrNoWarehouse means the engine has no warehouse attached.
var ErrNoWarehouse = errors.New("no warehouse")

// attachWarehouse attaches the warehouse file before the sandbox is locked,
// creates the reserved schemas and sets every session's search path. A file
// locked by another process leaves the engine without a warehouse.
func (e *Engine) attachWarehouse(ctx context.Context, conns []*sql.Conn) error {
	path := e.cfg.Warehouse
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("cannot create warehouse folder: %w", err)
	}
	if _, err := conns[0].ExecContext(ctx, fmt.Sprintf("ATTACH %s AS %s", quoteString(path), WarehouseCatalog)); err != nil {
		if strings.Contains(err.Error(), "lock") {
			e.whErr = fmt.Errorf("%w: the warehouse file %s is in use by another process (%v); run warehouse statements through the tarn server that holds it", ErrNoWarehouse, path, err)
			return nil
		}
		return fmt.Errorf("cannot open warehouse %s: %w", path, err)
	}
	for _, stmt := range []string{
		"CREATE SCHEMA IF NOT EXISTS warehouse." + PublicSchema,
		"CREATE SCHEMA IF NOT EXISTS warehouse." + SystemSchema,
		`CREATE TABLE IF NOT EXISTS warehouse.tarn.external_schemas (
			schema_name VARCHAR PRIMARY KEY, database_name VARCHAR NOT NULL, created_at TIMESTAMP DEFAULT current_localtimestamp())`,
		// Late-binding views read lake tables: the binder expands them.
		`CREATE TABLE IF NOT EXISTS warehouse.tarn.late_views (
			schema_name VARCHAR, view_name VARCHAR, definition VARCHAR NOT NULL, database_name VARCHAR,
			created_at TIMESTAMP DEFAULT current_localtimestamp(), PRIMARY KEY (schema_name, view_name))`,
	} {
		if _, err := conns[0].ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("cannot prepare warehouse %s: %w", path, err)
		}
	}
	for _, c := range conns {
		if _, err := c.ExecContext(ctx, warehouseSearchPath); err != nil {
			return fmt.Errorf("cannot set the warehouse search path: %w", err)
		}
	}
	return nil
}

// HasWarehouse reports whether a warehouse is attached; if not, the error
// says why (ErrNoWarehouse).
func (e *Engine) HasWarehouse() error {
	if e.cfg.Warehouse == "" {
		if e.cfg.NoWarehouse != nil {
			return e.cfg.NoWarehouse
		}
		return fmt.Errorf("%w: the engine was configured without one", ErrNoWarehouse)
	}
	<-e.ready // open sets whErr
	if e.openErr != nil {
		return fmt.Errorf("%w: %v", ErrNoWarehouse, e.openErr)
	}
	return e.whErr
}

// RelationKind is what a warehouse name refers to.
type RelationKind string

// Relation kinds.
const (
	KindTable RelationKind = "table"
	KindView  RelationKind = "view"
	// KindLateView is a view over lake tables, kept as SQL and expanded by
	// the binder (Redshift's late-binding view).
	KindLateView RelationKind = "late"
)

// Relations is a snapshot of the warehouse's names: schemas, relations and
// external schemas (Redshift Spectrum's mapping of a schema name to a
// catalog database).
type Relations struct {
	Schemas  map[string]bool
	Rels     map[string]RelationKind // "schema.name" (lower case) → kind
	External map[string]string       // schema → catalog database
	// Late are the definitions (SQL, default database) of late-binding
	// views, by "schema.name".
	Late map[string][2]string
	// Temp are the session's temporary tables (a client's transaction
	// made them, CREATE TEMP TABLE), by name (lower case).
	Temp map[string]bool
}

// TempPrefix starts the names of tarn's own temporary objects on a
// session; users' temporary tables cannot use it.
const TempPrefix = "__tarn"

// Kind returns what schema.name is in the warehouse ("" if nothing).
func (r *Relations) Kind(schema, name string) RelationKind {
	if r == nil {
		return ""
	}
	return r.Rels[strings.ToLower(schema+"."+name)]
}

// WarehouseRelations lists the warehouse's schemas, relations and external
// schemas as this session sees them (its transaction's snapshot). Without
// a warehouse it returns empty maps.
func (s *Session) WarehouseRelations(ctx context.Context) (*Relations, error) {
	r := &Relations{Schemas: map[string]bool{}, Rels: map[string]RelationKind{}, External: map[string]string{}, Late: map[string][2]string{}, Temp: map[string]bool{}}
	if s.e.HasWarehouse() != nil {
		return r, nil
	}
	rows, err := s.conn.QueryContext(ctx, `
		SELECT schema_name, '', '', '', '' FROM duckdb_schemas() WHERE database_name = 'warehouse' AND NOT internal
		UNION ALL SELECT schema_name, table_name, 'table', '', '' FROM duckdb_tables() WHERE database_name = 'warehouse'
		UNION ALL SELECT schema_name, view_name, 'view', '', '' FROM duckdb_views() WHERE database_name = 'warehouse' AND NOT internal
		UNION ALL SELECT schema_name, view_name, 'late', definition, coalesce(database_name, '') FROM warehouse.tarn.late_views
		UNION ALL SELECT schema_name, database_name, 'external', '', '' FROM warehouse.tarn.external_schemas
		UNION ALL SELECT '', table_name, 'temp', '', '' FROM duckdb_tables() WHERE database_name = 'temp' AND NOT starts_with(table_name, '`+TempPrefix+`')`)
	if err != nil {
		return nil, fmt.Errorf("cannot list warehouse relations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sch, name, kind, def, db string
		if err := rows.Scan(&sch, &name, &kind, &def, &db); err != nil {
			return nil, err
		}
		sch = strings.ToLower(sch)
		switch kind {
		case "":
			r.Schemas[sch] = true
		case "external":
			r.External[sch] = strings.ToLower(name)
		case "temp":
			r.Temp[strings.ToLower(name)] = true
		case "late":
			r.Rels[sch+"."+strings.ToLower(name)] = KindLateView
			r.Late[sch+"."+strings.ToLower(name)] = [2]string{def, db}
		default:
			r.Rels[sch+"."+strings.ToLower(name)] = RelationKind(kind)
		}
	}
	return r, rows.Err()
}

// Resolved is where a table name in a statement points.
type Resolved struct {
	// Warehouse is true for a warehouse relation (Schema.Name); otherwise
	// the name is the catalog table Schema.Name (Schema is the database).
	Warehouse bool
	// Temp is true for the session's temporary table Name (temp.main).
	Temp   bool
	Schema string
	Name   string
}

// Resolve decides where [catalog.][schema.]name points, Redshift's way
// first: an explicit "warehouse" catalog is the warehouse (its external
// schemas included) and "awsdatacatalog" the lake catalog; a schema that is
// an external schema maps to its catalog database; a name that is a warehouse relation (in the
// given schema, else in public, else one of tarn's system tables) is that;
// anything else is a catalog table (in the schema taken as a database, or
// in defaultDB).
func (r *Relations) Resolve(cat, schema, name, defaultDB string) (Resolved, error) {
	lname := strings.ToLower(name)
	lsch := strings.ToLower(schema)
	switch {
	case strings.EqualFold(cat, WarehouseCatalog):
		if lsch == "" {
			lsch = PublicSchema
		}
		// An external schema is a schema of the warehouse database too:
		// Redshift's dev.spectrum.t is the external table, and clients
		// that qualify every name with the database they connected to
		// (dbt-postgres: "warehouse"."raw"."orders") read the lake so.
		if db, ok := r.External[lsch]; ok {
			return Resolved{Schema: db, Name: lname}, nil
		}
		return Resolved{Warehouse: true, Schema: lsch, Name: lname}, nil
	case cat != "" && !strings.EqualFold(cat, DefaultCatalogName):
		return Resolved{}, fmt.Errorf("unknown catalog %q in %s.%s.%s (tarn has the lake catalog %q and the warehouse %q)", cat, cat, schema, name, DefaultCatalogName, WarehouseCatalog)
	case cat != "":
		if lsch == "" {
			lsch = strings.ToLower(defaultDB)
		}
		return Resolved{Schema: lsch, Name: lname}, nil
	}
	if lsch == "" && r.Temp[lname] {
		// A temporary table hides other relations of its name, as in
		// PostgreSQL (pg_temp is first on the search path).
		return Resolved{Temp: true, Name: lname}, nil
	}
	if lsch != "" {
		if db, ok := r.External[lsch]; ok {
			return Resolved{Schema: db, Name: lname}, nil
		}
		if r.Kind(lsch, lname) != "" {
			return Resolved{Warehouse: true, Schema: lsch, Name: lname}, nil
		}
		return Resolved{Schema: lsch, Name: lname}, nil
	}
	if r.Kind(PublicSchema, lname) != "" {
		return Resolved{Warehouse: true, Schema: PublicSchema, Name: lname}, nil
	}
	if SystemRelations[lname] && r.Kind(SystemSchema, lname) != "" {
		return Resolved{Warehouse: true, Schema: SystemSchema, Name: lname}, nil
	}
	return Resolved{Schema: strings.ToLower(defaultDB), Name: lname}, nil
}

// WarehouseListing is the warehouse as introspection (pgwire's catalog
// mirror) shows it: schemas, relations with their columns, and external
// schemas.
type WarehouseListing struct {
	// Schemas are the warehouse's schemas, empty ones included, tarn's
	// system schema left out.
	Schemas []string
	// Objects are the relations outside tarn's system schema, in schema
	// and name order.
	Objects []WarehouseObject
	// External maps external schemas to their catalog databases.
	External map[string]string
}

// WarehouseObject is one warehouse relation.
type WarehouseObject struct {
	Schema, Name string // lower case, as stored
	// Kind is KindTable (materialized views included: see Materialized),
	// KindView or KindLateView.
	Kind         RelationKind
	Materialized bool
	// Columns of tables and views, in order; nil for late-binding views,
	// whose columns are only known when their SQL is bound.
	Columns []WarehouseColumn
	// Definition is a view's SQL (as DuckDB keeps it; as written for
	// late-binding and materialized views).
	Definition string
	// Database is the default catalog database of a late-binding or
	// materialized view's unqualified lake names.
	Database string
	Comment  string
}

// WarehouseColumn is a column of a warehouse relation.
type WarehouseColumn struct {
	Name     string
	Type     string // DuckDB's spelling: INTEGER, DECIMAL(12,2), VARCHAR, ...
	Nullable bool
	Comment  string
}

// ListWarehouse lists the warehouse's schemas, relations with their
// columns and external schemas as this session sees them. It reads DuckDB's
// catalog only, no data. Without a warehouse it returns an empty listing.
func (s *Session) ListWarehouse(ctx context.Context) (*WarehouseListing, error) {
	l := &WarehouseListing{External: map[string]string{}}
	if s.e.HasWarehouse() != nil {
		return l, nil
	}
	fail := func(err error) (*WarehouseListing, error) {
		return nil, fmt.Errorf("cannot list warehouse relations: %w", err)
	}
	var hasMV bool
	if err := s.conn.QueryRowContext(ctx, `SELECT count(*) > 0 FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = 'materialized_views'`,
		WarehouseCatalog, SystemSchema).Scan(&hasMV); err != nil {
		return fail(err)
	}
	// warehouse.tarn.materialized_views is the warehouse service's.
	mv := `SELECT NULL::VARCHAR AS schema_name, NULL::VARCHAR AS view_name, NULL::VARCHAR AS definition, NULL::VARCHAR AS database_name WHERE false`
	if hasMV {
		mv = `SELECT schema_name, view_name, definition, coalesce(database_name, '') AS database_name FROM warehouse.tarn.materialized_views`
	}
	rows, err := s.conn.QueryContext(ctx, `
		WITH mv AS (`+mv+`),
		rel AS (
			SELECT schema_name, table_name AS name, 'table' AS kind, coalesce(comment, '') AS comment, '' AS definition, '' AS db
			FROM duckdb_tables() WHERE database_name = 'warehouse'
			UNION ALL SELECT schema_name, view_name, 'view', coalesce(comment, ''), sql, '' FROM duckdb_views() WHERE database_name = 'warehouse' AND NOT internal
			UNION ALL SELECT schema_name, view_name, 'late', '', definition, coalesce(database_name, '') FROM warehouse.tarn.late_views)
		SELECT r.schema_name, r.name, r.kind, mv.view_name IS NOT NULL, r.comment, coalesce(mv.definition, r.definition), coalesce(mv.database_name, r.db),
			coalesce(c.column_name, ''), coalesce(c.data_type, ''), coalesce(c.is_nullable, true), coalesce(c.comment, '')
		FROM rel r
		LEFT JOIN mv ON mv.schema_name = r.schema_name AND mv.view_name = r.name AND r.kind = 'table'
		LEFT JOIN duckdb_columns() c ON c.database_name = 'warehouse' AND c.schema_name = r.schema_name AND c.table_name = r.name AND r.kind <> 'late'
		WHERE r.schema_name <> ?
		ORDER BY r.schema_name, r.name, c.column_index`, SystemSchema)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		var o WarehouseObject
		var kind, col, typ, ccomment string
		var nullable bool
		if err := rows.Scan(&o.Schema, &o.Name, &kind, &o.Materialized, &o.Comment, &o.Definition, &o.Database, &col, &typ, &nullable, &ccomment); err != nil {
			return fail(err)
		}
		o.Kind = RelationKind(kind)
		if n := len(l.Objects); n == 0 || l.Objects[n-1].Schema != o.Schema || l.Objects[n-1].Name != o.Name {
			l.Objects = append(l.Objects, o)
		}
		if col != "" {
			last := &l.Objects[len(l.Objects)-1]
			last.Columns = append(last.Columns, WarehouseColumn{Name: col, Type: typ, Nullable: nullable, Comment: ccomment})
		}
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	rows.Close()
	srows, err := s.conn.QueryContext(ctx, `
		SELECT schema_name, '' FROM duckdb_schemas() WHERE database_name = 'warehouse' AND NOT internal AND schema_name <> ?
		UNION ALL SELECT schema_name, database_name FROM warehouse.tarn.external_schemas
		ORDER BY 1`, SystemSchema)
	if err != nil {
		return fail(err)
	}
	defer srows.Close()
	for srows.Next() {
		var sch, db string
		if err := srows.Scan(&sch, &db); err != nil {
			return fail(err)
		}
		if db == "" {
			l.Schemas = append(l.Schemas, sch)
		} else {
			l.External[strings.ToLower(sch)] = strings.ToLower(db)
		}
	}
	if err := srows.Err(); err != nil {
		return fail(err)
	}
	return l, nil
}

// TempTable is a temporary table of a client's transaction, as
// introspection shows it.
type TempTable struct {
	Name    string
	Columns [][2]string // name, DuckDB type
}

// TempTables lists the session's temporary tables (CREATE TEMP TABLE in a
// client's transaction) with their columns, tarn's own left out.
func (s *Session) TempTables(ctx context.Context) ([]TempTable, error) {
	rows, err := s.conn.QueryContext(ctx, `SELECT table_name, column_name, data_type FROM duckdb_columns()
		WHERE database_name = 'temp' AND NOT starts_with(table_name, '`+TempPrefix+`') ORDER BY table_name, column_index`)
	if err != nil {
		return nil, fmt.Errorf("cannot list temporary tables: %w", err)
	}
	defer rows.Close()
	var out []TempTable
	for rows.Next() {
		var t, c, typ string
		if err := rows.Scan(&t, &c, &typ); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Name != t {
			out = append(out, TempTable{Name: t})
		}
		out[len(out)-1].Columns = append(out[len(out)-1].Columns, [2]string{c, typ})
	}
	return out, rows.Err()
}
