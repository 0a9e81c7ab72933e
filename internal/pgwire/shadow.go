package pgwire

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/query"
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
	cat string // the DuckDB database (catalog) holding the mirror, quoted
	// defaultDB is the schema unqualified names resolve in ("" for none).
	defaultDB string
	db        *sql.DB
	conn      *sql.Conn
	built     time.Time
	dirty     bool
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
	s := &shadow{cat: quoteIdent("memory"), defaultDB: defaultDB, db: db, conn: conn, dirty: true}
	stmts := []string{}
	// current_database() answers the database the client connected to.
	if d := strings.ToLower(database); d != "" && d != "memory" && d != "system" && d != "temp" {
		s.cat = quoteIdent(database)
		stmts = append(stmts, "ATTACH ':memory:' AS "+s.cat, "USE "+s.cat)
	}
	stmts = append(stmts, shadowMacros...)
	stmts = append(stmts, "CREATE SCHEMA "+s.cat+"."+shimSchema)
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
}{
	{"pg_class", []string{"relforcerowsecurity BOOLEAN false", "relispartition BOOLEAN false", "relreplident VARCHAR 'd'",
		"relpersistence VARCHAR 'p'", "reltablespace BIGINT 0", "reloftype BIGINT 0", "reltoastrelid BIGINT 0", "relam BIGINT 0",
		"relrowsecurity BOOLEAN false", "relhastriggers BOOLEAN false", "relhasrules BOOLEAN false", "relhasindex BOOLEAN false",
		"relchecks INTEGER 0", "relacl VARCHAR NULL", "!reloptions VARCHAR[] NULL", "relpartbound VARCHAR NULL", "relhassubclass BOOLEAN false"}},
	{"pg_attribute", []string{"attidentity VARCHAR ''", "attgenerated VARCHAR ''", "atthasdef BOOLEAN false", "attnotnull BOOLEAN false",
		"attcollation BIGINT 0", "attisdropped BOOLEAN false", "attstattarget INTEGER -1", "attcompression VARCHAR ''", "attacl VARCHAR NULL",
		"attoptions VARCHAR[] NULL", "attfdwoptions VARCHAR[] NULL", "attmissingval VARCHAR NULL"}},
	{"pg_attrdef", []string{"oid BIGINT NULL", "adrelid BIGINT NULL", "adnum INTEGER NULL", "adbin VARCHAR NULL"}},
	{"pg_collation", []string{"oid BIGINT NULL", "collname VARCHAR NULL", "collnamespace BIGINT NULL"}},
	{"pg_policy", []string{"oid BIGINT NULL", "polname VARCHAR NULL", "polrelid BIGINT NULL", "polcmd VARCHAR NULL", "polpermissive BOOLEAN NULL",
		"polroles BIGINT[] NULL", "polqual VARCHAR NULL", "polwithcheck VARCHAR NULL"}},
	{"pg_statistic_ext", []string{"oid BIGINT NULL", "stxrelid BIGINT NULL", "stxname VARCHAR NULL", "stxnamespace BIGINT NULL",
		"stxowner BIGINT NULL", "stxkeys INTEGER[] NULL", "stxkind VARCHAR[] NULL", "stxstattarget INTEGER NULL"}},
	{"pg_publication", []string{"oid BIGINT NULL", "pubname VARCHAR NULL", "puballtables BOOLEAN NULL", "pubinsert BOOLEAN NULL",
		"pubupdate BOOLEAN NULL", "pubdelete BOOLEAN NULL", "pubtruncate BOOLEAN NULL", "pubviaroot BOOLEAN NULL"}},
	{"pg_publication_rel", []string{"oid BIGINT NULL", "prpubid BIGINT NULL", "prrelid BIGINT NULL", "prqual VARCHAR NULL", "prattrs INTEGER[] NULL"}},
	{"pg_publication_namespace", []string{"oid BIGINT NULL", "pnpubid BIGINT NULL", "pnnspid BIGINT NULL"}},
	{"pg_inherits", []string{"inhrelid BIGINT NULL", "inhparent BIGINT NULL", "inhseqno INTEGER NULL", "inhdetachpending BOOLEAN NULL"}},
	{"pg_trigger", []string{"oid BIGINT NULL", "tgrelid BIGINT NULL", "tgname VARCHAR NULL", "tgisinternal BOOLEAN NULL",
		"tgenabled VARCHAR NULL", "tgparentid BIGINT NULL"}},
	{"pg_rewrite", []string{"oid BIGINT NULL", "rulename VARCHAR NULL", "ev_class BIGINT NULL", "ev_type VARCHAR NULL", "is_instead BOOLEAN NULL"}},
	{"pg_foreign_table", []string{"ftrelid BIGINT NULL", "ftserver BIGINT NULL", "ftoptions VARCHAR[] NULL"}},
	{"pg_roles", []string{"oid BIGINT NULL", "rolname VARCHAR NULL", "rolsuper BOOLEAN NULL", "rolcanlogin BOOLEAN NULL"}},
	{"pg_namespace", []string{"nspacl VARCHAR NULL"}},
	{"pg_partitioned_table", []string{"partrelid BIGINT NULL", "partstrat VARCHAR NULL", "partnatts INTEGER NULL"}},
}

// createShims creates the views of shims in shimSchema.
func (s *shadow) createShims(ctx context.Context) error {
	for _, sh := range shims {
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

// refresh rebuilds the mirror if it is stale: every schema and table the
// principal may see (glue:GetTables on the database, glue:GetTable on the
// table).
func (s *shadow) refresh(ctx context.Context, cat *catalog.Catalog, authorize func(string, query.Target) error) error {
	if !s.dirty && time.Since(s.built) < shadowMaxAge {
		return nil
	}
	dbs, err := cat.ListDatabases(ctx)
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
	canList := authorize("glue:GetDatabases", query.Target{}) == nil
	for _, d := range dbs {
		if reserved[d.Name] {
			continue
		}
		tables, err := cat.ListTables(ctx, d.Name)
		if err != nil {
			return err
		}
		listed := canList || authorize("glue:GetTables", query.Target{Database: d.Name}) == nil
		var creates []string
		for _, t := range tables {
			if authorize("glue:GetTable", query.Target{Database: d.Name, Table: t.Name}) != nil {
				continue
			}
			var cols []string
			for _, c := range append(append([]catalog.Column(nil), t.Columns...), t.PartitionKeys...) {
				typ := "VARCHAR"
				if ct, err := catalog.ParseType(c.Type); err == nil {
					typ = ct.DuckDB()
				}
				cols = append(cols, quoteIdent(c.Name)+" "+typ)
			}
			if len(cols) == 0 {
				continue
			}
			creates = append(creates, "CREATE TABLE "+s.cat+"."+quoteIdent(d.Name)+"."+quoteIdent(t.Name)+" ("+strings.Join(cols, ", ")+")")
			if t.Description != "" {
				creates = append(creates, "COMMENT ON TABLE "+s.cat+"."+quoteIdent(d.Name)+"."+quoteIdent(t.Name)+" IS "+quoteLiteral(t.Description))
			}
			for _, c := range append(append([]catalog.Column(nil), t.Columns...), t.PartitionKeys...) {
				if c.Comment != "" {
					creates = append(creates, "COMMENT ON COLUMN "+s.cat+"."+quoteIdent(d.Name)+"."+quoteIdent(t.Name)+"."+quoteIdent(c.Name)+" IS "+quoteLiteral(c.Comment))
				}
			}
		}
		if !listed && len(creates) == 0 {
			continue
		}
		stmts = append(stmts, "CREATE SCHEMA "+s.cat+"."+quoteIdent(d.Name))
		stmts = append(stmts, creates...)
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
	if err := s.setSearchPath(ctx); err != nil {
		return err
	}
	s.built, s.dirty = time.Now(), false
	return nil
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
