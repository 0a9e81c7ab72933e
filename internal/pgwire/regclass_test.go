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
