package pgwire_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/pgwire"
)

// 'schema.name'::regclass names a relation (tools write
// pg_total_relation_size('s.t'::regclass) and attrelid = 's.t'::regclass):
// it is the relation's oid, not the text cast to a number.
func TestRegclassLiteral(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	c, rowsOf, exec := dbtAdapterConn(t, e, e.admin)
	exec(`CREATE SCHEMA rc`, `CREATE TABLE rc.t (id INTEGER, "it's" VARCHAR)`)
	want := rowsOf(`SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'rc' AND c.relname = 't'`)
	if len(want) != 1 {
		t.Fatalf("pg_class has %q for rc.t", want)
	}
	for _, q := range []string{`SELECT 'rc.t'::regclass::oid`, `SELECT 'rc.t'::pg_catalog.regclass::bigint`, `SELECT '"rc"."t"'::regclass::oid`} {
		if got := rowsOf(q); !slices.Equal(got, want) {
			t.Errorf("%s = %q, want %q", q, got, want)
		}
	}
	if got := rowsOf(`SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = 'rc.t'::regclass AND attnum > 0 ORDER BY attnum`); !slices.Equal(got, []string{"id", "it's"}) {
		t.Errorf("columns by regclass = %q", got)
	}
	// A relation that does not exist is PostgreSQL's error, not a NULL;
	// a hostile name stays a name.
	for _, q := range []string{`SELECT 'rc.nope'::regclass`, `SELECT 'rc.t'' OR ''a''=''a'::regclass`, `SELECT 'rc.t); DROP TABLE rc.t; --'::regclass`} {
		rows, err := c.Query(t.Context(), q)
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
			rows.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("%s: %v, want relation does not exist", q, err)
		}
	}
	if got := rowsOf(`SELECT count(*) FROM rc.t`); !slices.Equal(got, []string{"0"}) {
		t.Errorf("rc.t after the hostile names: %q", got)
	}
}

// A system catalog's regclass is PostgreSQL's fixed oid, and names in
// string literals stay data: dbt-postgres lists view dependencies with
// pg_depend.classid = 'pg_rewrite'::regclass, in a query whose comments
// hold quotes ("don't").
func TestRegclassSystemCatalogs(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	_, rowsOf, exec := dbtAdapterConn(t, e, e.admin)
	exec(`CREATE SCHEMA dep`, `CREATE TABLE dep.t (id INTEGER)`, `CREATE VIEW dep.v AS SELECT id FROM dep.t`)
	for q, want := range map[string]string{
		`SELECT 'pg_rewrite'::regclass::oid FROM pg_namespace LIMIT 1`:           "2618",
		`SELECT 'pg_catalog.pg_class'::regclass::oid FROM pg_namespace LIMIT 1`:  "1259",
		`SELECT '"pg_namespace"'::pg_catalog.regclass FROM pg_namespace LIMIT 1`: "2615",
		`SELECT 'pg_class' AS name FROM pg_class LIMIT 1`:                        "pg_class",
	} {
		if got := rowsOf(q); !slices.Equal(got, []string{want}) {
			t.Errorf("%s = %q, want %s", q, got, want)
		}
	}
	relations := `select distinct
        dependent_namespace.nspname as dependent_schema,
        dependent_class.relname as dependent_name,
        referenced_namespace.nspname as referenced_schema,
        referenced_class.relname as referenced_name
    -- ... we can find the tables they query from in pg_class, but we don't need
    -- to exclude _dependent_ system tables
    from pg_class as dependent_class
    join pg_namespace as dependent_namespace on dependent_namespace.oid = dependent_class.relnamespace
    join pg_depend as dependent_depend on dependent_depend.refobjid = dependent_class.oid
        and dependent_depend.classid = 'pg_rewrite'::regclass
        and dependent_depend.refclassid = 'pg_class'::regclass
        and dependent_depend.deptype = 'i'
    join pg_depend as joining_depend on joining_depend.objid = dependent_depend.objid
        and joining_depend.classid = 'pg_rewrite'::regclass
        and joining_depend.refclassid = 'pg_class'::regclass
        and joining_depend.refobjid != dependent_depend.refobjid
    join pg_class as referenced_class on referenced_class.oid = joining_depend.refobjid
    join pg_namespace as referenced_namespace on referenced_namespace.oid = referenced_class.relnamespace
        and referenced_namespace.nspname != 'information_schema'
        and referenced_namespace.nspname not like 'pg\_%'
    order by
        dependent_schema, dependent_name, referenced_schema, referenced_name`
	rowsOf(relations)
}
