package pgwire

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/warehouse"
)

// A shadow is a connection's private, empty DuckDB database that mirrors
// the lake catalog as the connection's access key may see it: one schema
// per catalog database and one empty table per catalog table, with the
// table's columns and partition keys. It serves two purposes:
//
//   - introspection: DuckDB's own pg_catalog and information_schema then
//     describe the lake, so the queries psql and BI tools send to list
//     schemas, tables and columns run as written (after the few rewrites
//     in rewriteIntrospection);
//   - describing statements for the extended protocol: preparing a query
//     on the shadow gives the types of its parameters and result columns
//     without reading any data.
//
// It holds no data and can read no files (external access is off), so
// nothing run on it can reach the lake.
type shadow struct {
	cat     string // the DuckDB database (catalog) holding the mirror, quoted
	catName string // the same, not quoted
	// defaultDB is the schema unqualified names resolve in ("" for none).
	defaultDB string
	db        *sql.DB
	conn      *sql.Conn
	built     time.Time
	dirty     bool
	// types caches whether the mirror knows a warehouse column's type.
	types map[string]bool
	// temps are the temporary tables mirrored (the connection's transaction
	// block's), and tempsKey what they were made from.
	temps    []string
	tempsKey string
}

// syncTemps mirrors the transaction block's temporary tables as temporary
// tables of the mirror (empty, with their columns), so that
// information_schema.columns and pg_class describe them.
func (s *shadow) syncTemps(ctx context.Context, temps []engine.TempTable) error {
	var key strings.Builder
	for _, t := range temps {
		fmt.Fprintf(&key, "%q", t.Name)
		for _, c := range t.Columns {
			fmt.Fprintf(&key, " %q %q", c[0], c[1])
		}
		key.WriteString(";")
	}
	if key.String() == s.tempsKey {
		return nil
	}
	for _, n := range s.temps {
		if _, err := s.conn.ExecContext(ctx, "DROP TABLE IF EXISTS temp.main."+quoteIdent(n)); err != nil {
			return err
		}
	}
	s.temps, s.tempsKey = nil, ""
	for _, t := range temps {
		var cols []string
		for _, c := range t.Columns {
			cols = append(cols, quoteIdent(c[0])+" "+c[1])
		}
		if _, err := s.conn.ExecContext(ctx, "CREATE TEMP TABLE "+quoteIdent(t.Name)+" ("+strings.Join(cols, ", ")+")"); err != nil {
			return fmt.Errorf("cannot mirror temporary table %s for introspection: %w", t.Name, err)
		}
		s.temps = append(s.temps, t.Name)
	}
	s.tempsKey = key.String()
	return nil
}

// shadowMaxAge bounds how long a shadow is used before the catalog is read
// again (DDL run on the connection rebuilds it at once).
const shadowMaxAge = 2 * time.Second

func openShadow(ctx context.Context, database, defaultDB string) (*shadow, error) {
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, fmt.Errorf("cannot open introspection database: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot open introspection database: %w", err)
	}
	s := &shadow{cat: quoteIdent("memory"), catName: "memory", defaultDB: defaultDB, db: db, conn: conn, dirty: true}
	stmts := []string{}
	// current_database() answers the database the client connected to.
	if d := strings.ToLower(database); d != "" && d != "memory" && d != "system" && d != "temp" {
		s.cat, s.catName = quoteIdent(database), database
		stmts = append(stmts, "ATTACH ':memory:' AS "+s.cat, "USE "+s.cat)
	}
	stmts = append(stmts, shadowMacros...)
	stmts = append(stmts, "CREATE SCHEMA "+s.cat+"."+shimSchema,
		"CREATE TABLE "+s.cat+"."+shimSchema+"."+matviewsTable+" (schema_name VARCHAR, name VARCHAR)",
		"CREATE TABLE "+s.cat+"."+shimSchema+"."+viewdefsTable+" (schema_name VARCHAR, name VARCHAR, definition VARCHAR)",
		// A view's definition is the warehouse's, not the mirror's.
		"CREATE OR REPLACE MACRO pg_get_viewdef(r) AS "+viewdefQuery(s.cat)+", (r, p) AS "+viewdefQuery(s.cat))
	stmts = append(stmts,
		`SET autoinstall_known_extensions = false`,
		`SET autoload_known_extensions = false`,
		`SET enable_external_access = false`)
	for _, st := range stmts {
		if _, err := conn.ExecContext(ctx, st); err != nil {
			s.close()
			return nil, fmt.Errorf("cannot set up introspection database (%s): %w", st, err)
		}
	}
	if err := s.createShims(ctx); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// matviewsTable (schema_name, name) lists the mirror's tables that are
// warehouse materialized views: pg_class shows them with relkind 'm'.
// viewdefsTable (schema_name, name, definition) holds the definitions of
// warehouse views and materialized views, which pg_get_viewdef answers.
// Both are in shimSchema.
const (
	matviewsTable = "tarn_matviews"
	viewdefsTable = "tarn_viewdefs"
)

// viewdefQuery is the body of pg_get_viewdef(r): the warehouse's
// definition of the view with oid r, else DuckDB's.
func viewdefQuery(cat string) string {
	return `coalesce((SELECT d.definition FROM ` + cat + `.` + shimSchema + `.` + viewdefsTable + ` d, pg_catalog.pg_class c, pg_catalog.pg_namespace n
		WHERE c.oid = r AND n.oid = c.relnamespace AND d.schema_name = n.nspname AND d.name = c.relname),
		(SELECT sql FROM duckdb_views() v WHERE v.view_oid = r))`
}

// shimSchema holds views that complete DuckDB's pg_catalog with the
// relations and columns psql's \d and tools' introspection read; queries
// name them through rewriteIntrospection. Its name starts with pg_, so
// psql's \dn hides it.
const shimSchema = "pg_tarn"

// shims are the PostgreSQL catalog relations tarn completes: columns
// DuckDB's pg_catalog lacks are added with constant values, relations it
// lacks are empty.
var shims = []struct {
	name string
	cols []string // "name TYPE default"
	// query, when set, is the whole view (cat is the mirror's catalog,
	// quoted); cols is then unused.
	query func(cat string) string
}{
	{"pg_class", []string{"relforcerowsecurity BOOLEAN false", "relispartition BOOLEAN false", "relreplident VARCHAR 'd'",
		"relpersistence VARCHAR 'p'", "reltablespace BIGINT 0", "reloftype BIGINT 0", "reltoastrelid BIGINT 0", "relam BIGINT 0",
		"relrowsecurity BOOLEAN false", "relhastriggers BOOLEAN false", "relhasrules BOOLEAN false", "relhasindex BOOLEAN false",
		"relchecks INTEGER 0", "relacl VARCHAR NULL", "!reloptions VARCHAR[] NULL", "relpartbound VARCHAR NULL", "relhassubclass BOOLEAN false"}, nil},
	{"pg_attribute", []string{"attidentity VARCHAR ''", "attgenerated VARCHAR ''", "atthasdef BOOLEAN false", "attnotnull BOOLEAN false",
		"attcollation BIGINT 0", "attisdropped BOOLEAN false", "attstattarget INTEGER -1", "attcompression VARCHAR ''", "attacl VARCHAR NULL",
		"attoptions VARCHAR[] NULL", "attfdwoptions VARCHAR[] NULL", "attmissingval VARCHAR NULL"}, nil},
	{"pg_attrdef", []string{"oid BIGINT NULL", "adrelid BIGINT NULL", "adnum INTEGER NULL", "adbin VARCHAR NULL"}, nil},
	{"pg_collation", []string{"oid BIGINT NULL", "collname VARCHAR NULL", "collnamespace BIGINT NULL"}, nil},
	{"pg_policy", []string{"oid BIGINT NULL", "polname VARCHAR NULL", "polrelid BIGINT NULL", "polcmd VARCHAR NULL", "polpermissive BOOLEAN NULL",
		"polroles BIGINT[] NULL", "polqual VARCHAR NULL", "polwithcheck VARCHAR NULL"}, nil},
	{"pg_statistic_ext", []string{"oid BIGINT NULL", "stxrelid BIGINT NULL", "stxname VARCHAR NULL", "stxnamespace BIGINT NULL",
		"stxowner BIGINT NULL", "stxkeys INTEGER[] NULL", "stxkind VARCHAR[] NULL", "stxstattarget INTEGER NULL"}, nil},
	{"pg_publication", []string{"oid BIGINT NULL", "pubname VARCHAR NULL", "puballtables BOOLEAN NULL", "pubinsert BOOLEAN NULL",
		"pubupdate BOOLEAN NULL", "pubdelete BOOLEAN NULL", "pubtruncate BOOLEAN NULL", "pubviaroot BOOLEAN NULL"}, nil},
	{"pg_publication_rel", []string{"oid BIGINT NULL", "prpubid BIGINT NULL", "prrelid BIGINT NULL", "prqual VARCHAR NULL", "prattrs INTEGER[] NULL"}, nil},
	{"pg_publication_namespace", []string{"oid BIGINT NULL", "pnpubid BIGINT NULL", "pnnspid BIGINT NULL"}, nil},
	{"pg_inherits", []string{"inhrelid BIGINT NULL", "inhparent BIGINT NULL", "inhseqno INTEGER NULL", "inhdetachpending BOOLEAN NULL"}, nil},
	{"pg_trigger", []string{"oid BIGINT NULL", "tgrelid BIGINT NULL", "tgname VARCHAR NULL", "tgisinternal BOOLEAN NULL",
		"tgenabled VARCHAR NULL", "tgparentid BIGINT NULL"}, nil},
	{"pg_rewrite", []string{"oid BIGINT NULL", "rulename VARCHAR NULL", "ev_class BIGINT NULL", "ev_type VARCHAR NULL", "is_instead BOOLEAN NULL"}, nil},
	{"pg_foreign_table", []string{"ftrelid BIGINT NULL", "ftserver BIGINT NULL", "ftoptions VARCHAR[] NULL"}, nil},
	{"pg_roles", []string{"oid BIGINT NULL", "rolname VARCHAR NULL", "rolsuper BOOLEAN NULL", "rolcanlogin BOOLEAN NULL"}, nil},
	{"pg_namespace", []string{"nspacl VARCHAR NULL"}, nil},
	{"pg_partitioned_table", []string{"partrelid BIGINT NULL", "partstrat VARCHAR NULL", "partnatts INTEGER NULL"}, nil},
	// pg_tables lists tables only: a warehouse materialized view, a table
	// in the mirror, is in pg_matviews (dbt-postgres's relation listing
	// reads both and must see each relation once).
	{"pg_tables", nil, func(cat string) string {
		return `SELECT t.* FROM pg_catalog.pg_tables t WHERE t.schemaname <> '` + shimSchema + `' AND NOT EXISTS (SELECT 1 FROM ` + cat + `.` + shimSchema + `.` + matviewsTable + ` m
			WHERE m.schema_name = t.schemaname AND m.name = t.tablename)`
	}},
	{"pg_views", nil, func(cat string) string {
		return `SELECT v.schemaname, v.viewname, v.viewowner, coalesce(d.definition, v.definition) AS definition
			FROM pg_catalog.pg_views v LEFT JOIN ` + cat + `.` + shimSchema + `.` + viewdefsTable + ` d ON d.schema_name = v.schemaname AND d.name = v.viewname
			WHERE v.schemaname <> '` + shimSchema + `'`
	}},
	{"pg_matviews", nil, func(cat string) string {
		return `SELECT m.schema_name AS schemaname, m.name AS matviewname, 'tarn' AS matviewowner, CAST(NULL AS VARCHAR) AS tablespace,
			false AS hasindexes, true AS ispopulated, d.definition
			FROM ` + cat + `.` + shimSchema + `.` + matviewsTable + ` m LEFT JOIN ` + cat + `.` + shimSchema + `.` + viewdefsTable + ` d ON d.schema_name = m.schema_name AND d.name = m.name`
	}},
}

// createShims creates the views of shims in shimSchema.
func (s *shadow) createShims(ctx context.Context) error {
	for _, sh := range shims {
		if sh.query != nil {
			if _, err := s.conn.ExecContext(ctx, "CREATE VIEW "+s.cat+"."+shimSchema+"."+sh.name+" AS "+sh.query(s.cat)); err != nil {
				return fmt.Errorf("cannot set up introspection database (%s): %w", sh.name, err)
			}
			continue
		}
		have := map[string]bool{}
		exists := true
		rows, err := s.conn.QueryContext(ctx, "DESCRIBE pg_catalog."+sh.name)
		if err != nil {
			exists = false
		} else {
			for rows.Next() {
				var name string
				var rest [5]any
				if err := rows.Scan(&name, &rest[0], &rest[1], &rest[2], &rest[3], &rest[4]); err != nil {
					rows.Close()
					return err
				}
				have[strings.ToLower(name)] = true
			}
			rows.Close()
		}
		var extra, replace []string
		for _, c := range sh.cols {
			f := strings.SplitN(c, " ", 3)
			name, override := strings.CutPrefix(f[0], "!")
			switch {
			case !have[name]:
				extra = append(extra, "CAST("+f[2]+" AS "+f[1]+") AS "+name)
			case override:
				replace = append(replace, "CAST("+f[2]+" AS "+f[1]+") AS "+name)
			}
		}
		if sh.name == "pg_class" {
			// Warehouse materialized views are tables in the mirror.
			replace = append(replace, `CASE WHEN EXISTS (SELECT 1 FROM `+s.cat+`.`+shimSchema+`.`+matviewsTable+` m, pg_catalog.pg_namespace n
				WHERE n.oid = pg_class.relnamespace AND n.nspname = m.schema_name AND m.name = pg_class.relname) THEN 'm' ELSE relkind END AS relkind`)
		}
		star := "*"
		if len(replace) > 0 {
			star = "* REPLACE (" + strings.Join(replace, ", ") + ")"
		}
		var q string
		switch {
		case exists && len(extra) == 0:
			q = "SELECT " + star + " FROM pg_catalog." + sh.name
		case exists:
			q = "SELECT " + star + ", " + strings.Join(extra, ", ") + " FROM pg_catalog." + sh.name
		default:
			q = "SELECT " + strings.Join(extra, ", ") + " WHERE false"
		}
		// The shims themselves are not the lake's.
		switch sh.name {
		case "pg_class":
			q += " WHERE relnamespace NOT IN (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = '" + shimSchema + "')"
		case "pg_namespace":
			q += " WHERE nspname <> '" + shimSchema + "'"
		}
		if _, err := s.conn.ExecContext(ctx, "CREATE VIEW "+s.cat+"."+shimSchema+"."+sh.name+" AS "+q); err != nil {
			return fmt.Errorf("cannot set up introspection database (%s): %w", sh.name, err)
		}
	}
	return nil
}

// shadowMacros are the PostgreSQL functions tools call that DuckDB lacks
// or answers differently.
var shadowMacros = []string{
	`CREATE OR REPLACE MACRO pg_backend_pid() AS 0`,
	`CREATE OR REPLACE MACRO version() AS 'PostgreSQL 14.0 (tarn data lake; DuckDB engine)'`,
	`CREATE OR REPLACE MACRO pg_postmaster_start_time() AS TIMESTAMPTZ '2000-01-01 00:00:00+00'`,
	`CREATE OR REPLACE MACRO pg_is_in_recovery() AS false`,
	`CREATE OR REPLACE MACRO inet_server_addr() AS NULL`,
	`CREATE OR REPLACE MACRO inet_server_port() AS NULL`,
	`CREATE OR REPLACE MACRO txid_current() AS 1`,
	`CREATE OR REPLACE MACRO pg_encoding_to_char(e) AS 'UTF8'`,
	`CREATE OR REPLACE MACRO pg_get_userbyid(u) AS 'tarn'`,
	`CREATE OR REPLACE MACRO pg_get_expr(e, r) AS NULL, (e, r, p) AS NULL`,
	`CREATE OR REPLACE MACRO pg_get_indexdef(i) AS ''`,
	`CREATE OR REPLACE MACRO pg_get_indexdef(i, c, p) AS ''`,
	`CREATE OR REPLACE MACRO pg_get_constraintdef(c) AS ''`,
	`CREATE OR REPLACE MACRO pg_get_constraintdef(c, p) AS ''`,
	`CREATE OR REPLACE MACRO pg_get_statisticsobjdef_columns(o) AS ''`,
	`CREATE OR REPLACE MACRO pg_relation_size(r) AS 0`,
	`CREATE OR REPLACE MACRO pg_relation_is_publishable(r) AS false`,
	`CREATE OR REPLACE MACRO array_upper(a, d) AS len(a)`,
	`CREATE OR REPLACE MACRO array_lower(a, d) AS CASE WHEN len(a) > 0 THEN 1 END`,
	`CREATE OR REPLACE MACRO pg_get_partkeydef(r) AS NULL`,
	`CREATE OR REPLACE MACRO pg_get_ruledef(r) AS NULL, (r, p) AS NULL`,
	`CREATE OR REPLACE MACRO pg_get_triggerdef(r) AS NULL, (r, p) AS NULL`,
	`CREATE OR REPLACE MACRO pg_total_relation_size(r) AS 0`,
	`CREATE OR REPLACE MACRO pg_table_size(r) AS 0`,
}

// setSearchPath resolves unqualified names in the default database, if
// it is mirrored (it is not when the key may not see it).
func (s *shadow) setSearchPath(ctx context.Context) error {
	path := s.cat + ".main"
	// The warehouse's public schema, where unqualified names resolve
	// first in statements; it comes after the default database here so
	// that current_schema() stays the database the client chose.
	var n int
	if err := s.conn.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_schemas() WHERE database_name = current_database() AND schema_name = ?`, engine.PublicSchema).Scan(&n); err != nil {
		return err
	}
	if n > 0 && s.defaultDB != engine.PublicSchema {
		path = s.cat + "." + engine.PublicSchema + "," + path
	}
	if s.defaultDB != "" {
		var n int
		if err := s.conn.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_schemas() WHERE database_name = current_database() AND schema_name = ?`, s.defaultDB).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			path = s.cat + "." + quoteIdent(s.defaultDB) + "," + path
		}
	}
	_, err := s.conn.ExecContext(ctx, "SET search_path = "+quoteLiteral(path))
	return err
}

func (s *shadow) close() {
	if s.conn != nil {
		s.conn.Close()
	}
	s.db.Close()
}

// refresh rebuilds the mirror if it is stale: every catalog database and
// table the principal may see (glue:GetTables on the database, glue:GetTable
// on the table) and, when wh is set, every warehouse schema and relation it
// may read (redshift:ReadData), merged the way names resolve in statements
// (see mirrorPlan).
func (s *shadow) refresh(ctx context.Context, cat *catalog.Catalog, wh warehouseLister, authorize func(string, query.Target) error) error {
	if !s.dirty && time.Since(s.built) < shadowMaxAge {
		return nil
	}
	plan, err := s.plan(ctx, cat, wh, authorize)
	if err != nil {
		return err
	}
	var stmts []string
	rows, err := s.conn.QueryContext(ctx, `SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database() AND NOT internal AND schema_name NOT IN ('main', '`+shimSchema+`')`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		stmts = append(stmts, "DROP SCHEMA "+s.cat+"."+quoteIdent(name)+" CASCADE")
	}
	rows.Close()
	stmts = append(stmts, "DELETE FROM "+s.cat+"."+shimSchema+"."+matviewsTable, "DELETE FROM "+s.cat+"."+shimSchema+"."+viewdefsTable)
	schemas := map[string]bool{}
	var late []mirrorRel
	for _, sch := range plan.order {
		stmts = append(stmts, "CREATE SCHEMA "+s.cat+"."+quoteIdent(sch))
		schemas[sch] = true
		for _, r := range plan.rels[sch] {
			if r.late != nil {
				late = append(late, r)
				continue
			}
			stmts = append(stmts, s.relStatements(ctx, sch, r)...)
		}
	}
	if _, err := s.conn.ExecContext(ctx, "BEGIN"); err != nil {
		return err
	}
	for _, st := range stmts {
		if _, err := s.conn.ExecContext(ctx, st); err != nil {
			_, _ = s.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			return fmt.Errorf("cannot mirror the catalog for introspection (%s): %w", st, err)
		}
	}
	if _, err := s.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	for _, r := range late {
		s.mirrorLateView(ctx, r, schemas)
	}
	if err := s.setSearchPath(ctx); err != nil {
		return err
	}
	s.built, s.dirty = time.Now(), false
	return nil
}

// warehouseLister lists the warehouse (nil: the server has none).
type warehouseLister func(ctx context.Context) (*engine.WarehouseListing, error)

// mirrorCol is a column of a mirrored relation.
type mirrorCol struct {
	name, typ, comment string // typ: a DuckDB type
	notNull            bool
}

// mirrorRel is one relation of the mirror: an empty table, or a view with
// its columns (warehouse views; late-binding views are described on the
// mirror once the rest of it is built).
type mirrorRel struct {
	name         string
	view         bool
	materialized bool
	cols         []mirrorCol
	comment      string
	definition   string // views and materialized views: shown by pg_get_viewdef
	late         *engine.WarehouseObject
}

// mirrorPlan is what the mirror holds: schemas in order, each with its
// relations in order.
type mirrorPlan struct {
	order []string
	rels  map[string][]mirrorRel
}

func (p *mirrorPlan) schema(name string) {
	if _, ok := p.rels[name]; !ok {
		p.order = append(p.order, name)
		p.rels[name] = nil
	}
}

// put adds r to schema, replacing a relation of the same name.
func (p *mirrorPlan) put(schema string, r mirrorRel) {
	p.schema(schema)
	for i, old := range p.rels[schema] {
		if old.name == r.name {
			p.rels[schema][i] = r
			return
		}
	}
	p.rels[schema] = append(p.rels[schema], r)
}

// plan decides what the mirror holds, as names resolve in statements
// (engine.Relations.Resolve): a catalog database is a schema of its tables;
// an external schema is a schema holding its catalog database's tables (and
// hides a catalog database of its name); a warehouse schema's relations
// join the catalog database of the same name, if any, and a warehouse
// relation hides a catalog table of the same schema and name.
func (s *shadow) plan(ctx context.Context, cat *catalog.Catalog, wh warehouseLister, authorize func(string, query.Target) error) (*mirrorPlan, error) {
	plan := &mirrorPlan{rels: map[string][]mirrorRel{}}
	var listing *engine.WarehouseListing
	if wh != nil {
		var err error
		if listing, err = wh(ctx); err != nil {
			return nil, err
		}
	} else {
		listing = &engine.WarehouseListing{External: map[string]string{}}
	}
	dbs, err := cat.ListDatabases(ctx)
	if err != nil {
		return nil, err
	}
	canList := authorize("glue:GetDatabases", query.Target{}) == nil
	type dbRels struct {
		listed bool
		rels   []mirrorRel
	}
	catalogRels := map[string]*dbRels{}
	var dbOrder []string
	for _, d := range dbs {
		tables, err := cat.ListTables(ctx, d.Name)
		if err != nil {
			return nil, err
		}
		dr := &dbRels{listed: canList || authorize("glue:GetTables", query.Target{Database: d.Name}) == nil}
		for _, t := range tables {
			if authorize("glue:GetTable", query.Target{Database: d.Name, Table: t.Name}) != nil {
				continue
			}
			r := mirrorRel{name: t.Name, comment: t.Description}
			for _, c := range append(append([]catalog.Column(nil), t.Columns...), t.PartitionKeys...) {
				typ := "VARCHAR"
				if ct, err := catalog.ParseType(c.Type); err == nil {
					typ = ct.DuckDB()
				}
				r.cols = append(r.cols, mirrorCol{name: c.Name, typ: typ, comment: c.Comment})
			}
			if len(r.cols) > 0 {
				dr.rels = append(dr.rels, r)
			}
		}
		catalogRels[d.Name] = dr
		dbOrder = append(dbOrder, d.Name)
	}
	for _, name := range dbOrder {
		dr := catalogRels[name]
		if reserved[name] || listing.External[name] != "" || !dr.listed && len(dr.rels) == 0 {
			continue
		}
		plan.schema(name)
		for _, r := range dr.rels {
			plan.put(name, r)
		}
	}
	var external []string
	for sch := range listing.External {
		external = append(external, sch)
	}
	slices.Sort(external)
	for _, sch := range external {
		dr := catalogRels[listing.External[sch]]
		if reserved[sch] || dr == nil || !dr.listed && len(dr.rels) == 0 {
			continue
		}
		plan.schema(sch)
		for _, r := range dr.rels {
			plan.put(sch, r)
		}
	}
	// Warehouse schemas: shown when the key may read the schema or one of
	// its relations.
	whRels := map[string][]engine.WarehouseObject{}
	for _, o := range listing.Objects {
		whRels[o.Schema] = append(whRels[o.Schema], o)
	}
	for _, sch := range listing.Schemas {
		if reserved[sch] || sch == shimSchema || listing.External[sch] != "" {
			continue
		}
		var rels []mirrorRel
		for _, o := range whRels[sch] {
			if authorize(warehouse.ActionReadData, query.Target{Database: sch, Table: o.Name}) != nil {
				continue
			}
			r := mirrorRel{name: o.Name, view: o.Kind != engine.KindTable, materialized: o.Materialized, comment: o.Comment}
			if r.view || r.materialized {
				r.definition = o.Definition
			}
			for _, c := range o.Columns {
				r.cols = append(r.cols, mirrorCol{name: c.Name, typ: c.Type, comment: c.Comment, notNull: !c.Nullable})
			}
			switch {
			case o.Kind == engine.KindLateView:
				r.late = &o
			case len(r.cols) == 0:
				continue
			}
			rels = append(rels, r)
		}
		if len(rels) == 0 && authorize(warehouse.ActionReadData, query.Target{Database: sch}) != nil {
			continue
		}
		plan.schema(sch)
		for _, r := range rels {
			plan.put(sch, r)
		}
	}
	return plan, nil
}

// relStatements creates r in schema, with its comments and its entries
// in the shims' side tables.
func (s *shadow) relStatements(ctx context.Context, schema string, r mirrorRel) []string {
	name := s.cat + "." + quoteIdent(schema) + "." + quoteIdent(r.name)
	var out []string
	if r.view {
		sel := make([]string, len(r.cols))
		for i, c := range r.cols {
			sel[i] = "CAST(NULL AS " + s.checkType(ctx, c.typ) + ") AS " + quoteIdent(c.name)
		}
		out = append(out, "CREATE VIEW "+name+" AS SELECT "+strings.Join(sel, ", ")+" WHERE false")
	} else {
		cols := make([]string, len(r.cols))
		for i, c := range r.cols {
			cols[i] = quoteIdent(c.name) + " " + s.checkType(ctx, c.typ)
			if c.notNull {
				cols[i] += " NOT NULL"
			}
		}
		out = append(out, "CREATE TABLE "+name+" ("+strings.Join(cols, ", ")+")")
	}
	if r.comment != "" {
		what := "TABLE"
		if r.view {
			what = "VIEW"
		}
		out = append(out, "COMMENT ON "+what+" "+name+" IS "+quoteLiteral(r.comment))
	}
	for _, c := range r.cols {
		if c.comment != "" {
			out = append(out, "COMMENT ON COLUMN "+name+"."+quoteIdent(c.name)+" IS "+quoteLiteral(c.comment))
		}
	}
	if r.materialized {
		out = append(out, "INSERT INTO "+s.cat+"."+shimSchema+"."+matviewsTable+" VALUES ("+quoteLiteral(schema)+", "+quoteLiteral(r.name)+")")
	}
	if r.definition != "" {
		out = append(out, "INSERT INTO "+s.cat+"."+shimSchema+"."+viewdefsTable+" VALUES ("+quoteLiteral(schema)+", "+quoteLiteral(r.name)+", "+quoteLiteral(r.definition)+")")
	}
	return out
}

// checkType returns typ if the mirror knows it (a warehouse column may
// have a type of its own, such as an ENUM), else VARCHAR.
func (s *shadow) checkType(ctx context.Context, typ string) string {
	if ok, seen := s.types[typ]; seen {
		if ok {
			return typ
		}
		return "VARCHAR"
	}
	_, err := s.conn.ExecContext(ctx, "SELECT CAST(NULL AS "+typ+")")
	if s.types == nil {
		s.types = map[string]bool{}
	}
	s.types[typ] = err == nil
	if err != nil {
		return "VARCHAR"
	}
	return typ
}

// mirrorLateView mirrors a late-binding view (a warehouse view over lake
// tables, kept as SQL): its definition is described on the mirror, where
// names resolve as in a statement (public, then the view's default
// database), and the view is created with those columns. A definition the
// mirror cannot describe (a function only the engine has, a table the key
// may not see) leaves the view out.
func (s *shadow) mirrorLateView(ctx context.Context, r mirrorRel, schemas map[string]bool) {
	o := r.late
	def := o.Definition
	if rw, err := warehouse.RewriteExpressions(def); err == nil {
		def = rw
	}
	var path []string
	for _, sch := range []string{engine.PublicSchema, o.Database} {
		if sch != "" && schemas[sch] {
			path = append(path, s.cat+"."+quoteIdent(sch))
		}
	}
	path = append(path, s.cat+".main")
	if _, err := s.conn.ExecContext(ctx, "SET search_path = "+quoteLiteral(strings.Join(path, ","))); err != nil {
		return
	}
	if q, err := s.qualify(ctx, def); err == nil {
		def = q
	}
	rows, err := s.conn.QueryContext(ctx, "DESCRIBE "+def)
	if err != nil {
		return
	}
	for rows.Next() {
		var c mirrorCol
		var rest [4]any
		if err := rows.Scan(&c.name, &c.typ, &rest[0], &rest[1], &rest[2], &rest[3]); err != nil {
			rows.Close()
			return
		}
		r.cols = append(r.cols, c)
	}
	if rows.Close(); rows.Err() != nil || len(r.cols) == 0 {
		return
	}
	r.late = nil
	for _, st := range s.relStatements(ctx, o.Schema, r) {
		if _, err := s.conn.ExecContext(ctx, st); err != nil {
			return
		}
	}
}

// qualify puts the mirror's catalog before every schema-qualified table
// name of a query: the mirror's catalog is named after the database the
// client connected to, usually a catalog database that is also a schema,
// and DuckDB finds "db.table" ambiguous then.
func (s *shadow) qualify(ctx context.Context, text string) (string, error) {
	var raw string
	if err := s.conn.QueryRowContext(ctx, `SELECT CAST(json_serialize_sql(?::VARCHAR) AS VARCHAR)`, text).Scan(&raw); err != nil {
		return "", err
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return "", err
	}
	if m, ok := tree.(map[string]any); !ok || m["error"] == true {
		return "", errors.New("cannot parse the query")
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == "BASE_TABLE" && x["schema_name"] != "" && x["catalog_name"] == "" {
				x["catalog_name"] = s.catName
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(tree)
	b, err := json.Marshal(tree)
	if err != nil {
		return "", err
	}
	var out string
	err = s.conn.QueryRowContext(ctx, `SELECT json_deserialize_sql(?::JSON)`, string(b)).Scan(&out)
	return out, err
}

// reserved are schema names of DuckDB and PostgreSQL that a catalog
// database cannot shadow.
var reserved = map[string]bool{"main": true, "pg_catalog": true, "information_schema": true, "temp": true, "system": true}

// systemSchemas hold PostgreSQL's catalog relations.
var systemSchemas = map[string]bool{"pg_catalog": true, "information_schema": true, shimSchema: true}

// sessionFuncs are functions whose answer is the session's or the
// catalog's, not data's: statements calling them run on the shadow.
var sessionFuncs = map[string]bool{
	"version": true, "current_database": true, "current_catalog": true, "current_schema": true, "current_schemas": true,
	"current_user": true, "session_user": true, "user": true, "current_role": true, "pg_backend_pid": true,
	"current_setting": true, "set_config": true, "has_table_privilege": true, "has_schema_privilege": true,
	"has_database_privilege": true, "has_column_privilege": true, "has_any_column_privilege": true, "pg_get_userbyid": true,
	"pg_table_is_visible": true, "pg_type_is_visible": true, "format_type": true, "obj_description": true, "col_description": true,
	"shobj_description": true, "pg_get_expr": true, "pg_encoding_to_char": true, "pg_postmaster_start_time": true,
	"inet_server_addr": true, "inet_server_port": true, "pg_is_in_recovery": true, "txid_current": true,
	"pg_get_keywords": true, "pg_get_indexdef": true, "pg_get_constraintdef": true, "pg_relation_size": true,
	"pg_total_relation_size": true, "pg_table_size": true, "pg_get_viewdef": true,
}

// route says where a SELECT runs.
type route int

const (
	routeLake   route = iota // query.Service.Execute
	routeShadow              // introspection, on the shadow
)

// classify parses a statement with DuckDB's parser (json_serialize_sql)
// and decides where it runs: statements that read PostgreSQL's catalog
// relations or call session functions, and no lake table, run on the
// shadow; everything else goes to the query service. Statements DuckDB
// cannot serialize (DDL, SHOW, ...) go to the query service too.
func (s *shadow) classify(ctx context.Context, text string) (route, error) {
	var raw string
	if err := s.conn.QueryRowContext(ctx, `SELECT CAST(json_serialize_sql(?::VARCHAR) AS VARCHAR)`, text).Scan(&raw); err != nil {
		return routeLake, nil
	}
	var tree any
	if err := json.Unmarshal([]byte(raw), &tree); err != nil {
		return routeLake, nil
	}
	if m, ok := tree.(map[string]any); !ok || m["error"] == true {
		return routeLake, nil
	}
	ctes := map[string]bool{}
	system, lake := false, ""
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if cm, ok := x["cte_map"].(map[string]any); ok {
				if entries, ok := cm["map"].([]any); ok {
					for _, e := range entries {
						if em, ok := e.(map[string]any); ok {
							if k, ok := em["key"].(string); ok {
								ctes[strings.ToLower(k)] = true
							}
						}
					}
				}
			}
			typ, _ := x["type"].(string)
			class, _ := x["class"].(string)
			switch {
			case typ == "BASE_TABLE":
				sch, _ := x["schema_name"].(string)
				tbl, _ := x["table_name"].(string)
				cat, _ := x["catalog_name"].(string)
				sch, tbl = strings.ToLower(sch), strings.ToLower(tbl)
				switch {
				case systemSchemas[sch] || strings.EqualFold(cat, "system"):
					system = true
				case sch == "" && (strings.HasPrefix(tbl, "pg_") || strings.HasPrefix(tbl, "duckdb_")):
					system = true
				case sch == "" && ctes[tbl]:
				default:
					lake = tbl
				}
			case typ == "TABLE_FUNCTION":
				if fn, ok := x["function"].(map[string]any); ok {
					name, _ := fn["function_name"].(string)
					if n := strings.ToLower(name); strings.HasPrefix(n, "duckdb_") || strings.HasPrefix(n, "pg_") || strings.HasPrefix(n, "pragma_") {
						system = true
					}
				}
			case class == "FUNCTION":
				name, _ := x["function_name"].(string)
				if sessionFuncs[strings.ToLower(name)] {
					system = true
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(tree)
	if regclassLiteral.MatchString(text) {
		system = true // a relation's oid, from PostgreSQL's catalog
	}
	switch {
	case system && lake != "":
		return routeLake, newError(codeNotSupported, fmt.Sprintf("a statement cannot read both PostgreSQL's catalog (pg_catalog, information_schema) and the lake table %q", lake),
			"query the catalog and the data in separate statements")
	case system:
		return routeShadow, nil
	}
	return routeLake, nil
}

// describe prepares text on the shadow and returns its parameters' and
// result columns' DuckDB types.
func (s *shadow) describe(ctx context.Context, text string) (params []string, cols []query.Column, err error) {
	err = s.conn.Raw(func(dc any) error {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return errors.New("cannot prepare on the introspection database")
		}
		st, err := pc.PrepareContext(ctx, text)
		if err != nil {
			return err
		}
		defer st.Close()
		ds, ok := st.(*duckdb.Stmt)
		if !ok {
			return errors.New("cannot prepare on the introspection database")
		}
		for i := 1; i <= ds.NumInput(); i++ {
			t, err := ds.ParamType(i)
			if err != nil {
				return err
			}
			params = append(params, duckTypeNames[t])
		}
		n, err := ds.ColumnCount()
		if err != nil {
			return err
		}
		for i := range n {
			name, err := ds.ColumnName(i)
			if err != nil {
				return err
			}
			t, err := ds.ColumnType(i)
			if err != nil {
				return err
			}
			cols = append(cols, query.Column{Name: name, Type: duckTypeNames[t]})
		}
		return nil
	})
	if err == nil {
		// A lake query's columns are named as its execution will name them.
		if r, _ := s.classify(ctx, text); r == routeLake {
			cols = query.AthenaColumns(ctx, s.conn, text, cols)
		}
	}
	return params, cols, err
}

// run runs an introspection statement on the shadow.
func (s *shadow) run(ctx context.Context, text string, sink query.Sink) error {
	rows, err := s.conn.QueryContext(ctx, text)
	if err != nil {
		return err
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		return err
	}
	cols := make([]query.Column, len(cts))
	for i, ct := range cts {
		cols[i] = query.Column{Name: ct.Name(), Type: ct.DatabaseTypeName()}
	}
	if err := sink.Columns(cols); err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		if err := sink.Row(vals); err != nil {
			return err
		}
	}
	return rows.Err()
}
