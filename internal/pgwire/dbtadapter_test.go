package pgwire_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/pgwire"
)

// The statements dbt's adapter test suite (dbt-tests-adapter, run by
// .ci/dbt-adapter.sh) sends that the example project does not: persist_docs'
// COMMENT ON, on_schema_change's ALTER TABLE with several actions, the
// materialized view's CREATE ... IF NOT EXISTS, and a block's own new
// relations in its catalog queries.

func dbtAdapterConn(t *testing.T, e *env, k auth.Key) (*pgx.Conn, func(q string) []string, func(qs ...string)) {
	t.Helper()
	url := fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/warehouse?sslmode=disable", k.AccessKeyID, pgURLEscape(k.SecretAccessKey), e.addr.Port)
	c, err := pgxConnect(t, url)
	if err != nil {
		t.Fatal(err)
	}
	rowsOf := func(q string) []string {
		t.Helper()
		rows, err := c.Query(t.Context(), q, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var out []string
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			var f []string
			for _, v := range vals {
				f = append(f, fmt.Sprint(v))
			}
			out = append(out, strings.Join(f, "|"))
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return out
	}
	exec := func(qs ...string) {
		t.Helper()
		for _, q := range qs {
			if _, err := c.Exec(t.Context(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	return c, rowsOf, exec
}

// dbtCatalogComments is the comment part of postgres__get_catalog_relations.
const dbtCatalogComments = `select tbl.relname, tbl_desc.description, col.attname, col_desc.description
    from pg_catalog.pg_namespace sch
    join pg_catalog.pg_class tbl on tbl.relnamespace = sch.oid
    join pg_catalog.pg_attribute col on col.attrelid = tbl.oid
    left outer join pg_catalog.pg_description tbl_desc on (tbl_desc.objoid = tbl.oid and tbl_desc.objsubid = 0)
    left outer join pg_catalog.pg_description col_desc on (col_desc.objoid = tbl.oid and col_desc.objsubid = col.attnum)
    where upper(sch.nspname) = upper('docs') and col.attnum > 0
    order by tbl.relname, col.attnum`

func TestDbtCommentOn(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	ctx := t.Context()
	c, rowsOf, exec := dbtAdapterConn(t, e, e.admin)
	exec(`CREATE SCHEMA docs`,
		`CREATE TABLE docs.t (id INTEGER, name VARCHAR)`,
		`CREATE VIEW docs.v AS SELECT id FROM docs.t`,
		`CREATE MATERIALIZED VIEW docs.mv AS SELECT count(*) AS n FROM docs.t`,
		`CREATE VIEW docs.lv AS SELECT id FROM shop.orders WITH NO SCHEMA BINDING`)

	// As dbt-postgres sends them: dollar-quoted, the relation with its
	// database, one statement per column, in the model's block.
	tag, err := c.Exec(ctx, `comment on table "warehouse"."docs"."t" is $dbt_comment_literal_block$The 't' table; it's "quoted"$dbt_comment_literal_block$;`)
	if err != nil || tag.String() != "COMMENT" {
		t.Fatalf("comment on table: %q %v", tag, err)
	}
	exec(`BEGIN`,
		`comment on column "warehouse"."docs"."t".id is $dbt_comment_literal_block$the id$dbt_comment_literal_block$;`,
		`comment on column "warehouse"."docs"."t"."name" is 'a name''s text'`,
		`comment on view "warehouse"."docs"."v" is $$a view$$`,
		`comment on materialized view docs.mv is 'counted'`,
		`comment on column docs.mv.n is 'how many'`,
		`COMMIT`)
	want := []string{
		"lv|<nil>|id|<nil>",
		"mv|counted|n|how many",
		`t|The 't' table; it's "quoted"|id|the id`,
		"t|The 't' table; it's \"quoted\"|name|a name's text",
		"v|a view|id|<nil>",
	}
	if got := rowsOf(dbtCatalogComments); !slices.Equal(got, want) {
		t.Fatalf("comments:\n got %q\nwant %q", got, want)
	}
	// IS NULL removes a comment; a ROLLBACK undoes one.
	exec(`comment on column docs.t.name is null`, `BEGIN`, `comment on table docs.t is 'not kept'`, `ROLLBACK`)
	want[3] = `t|The 't' table; it's "quoted"|name|<nil>`
	if got := rowsOf(dbtCatalogComments); !slices.Equal(got, want) {
		t.Fatalf("after IS NULL and ROLLBACK: %q", got)
	}

	// PostgreSQL's errors.
	for _, tc := range []struct{ sql, code string }{
		{`comment on view docs.t is 'x'`, "42809"},
		{`comment on table docs.v is 'x'`, "42809"},
		{`comment on materialized view docs.t is 'x'`, "42809"},
		{`comment on table docs.mv is 'x'`, "42809"},
		{`comment on table docs.nope is 'x'`, "42P01"},
		{`comment on column docs.t.nope is 'x'`, "42703"},
		{`comment on column docs.t is 'x'`, "42P01"}, // column t of relation docs
		{`comment on index docs.t is 'x'`, "42601"},
		{`comment on table docs.t is 42`, "42601"},
		{`comment on table docs.t is 'x' extra`, "42601"},
		{`comment on view docs.lv is 'x'`, "0A000"},
		// A lake table's comment is the catalog's (Glue), not COMMENT's.
		{`comment on table shop.orders is 'x'`, "0A000"},
		// tarn's own schema.
		{`comment on table tarn.tables is 'x'`, "42501"},
	} {
		if _, err := c.Exec(ctx, tc.sql); sqlState(err) != tc.code {
			t.Errorf("%s: %v (%s), want %s", tc.sql, err, sqlState(err), tc.code)
		}
	}

	// A key that may only read the schema may not comment.
	exec(`CREATE SCHEMA analytics`, `CREATE TABLE analytics.x (a INTEGER)`)
	bi, _, _ := dbtAdapterConn(t, e, whKey(t, e))
	if _, err := bi.Exec(ctx, `comment on table analytics.x is 'mine'`); sqlState(err) != "42501" {
		t.Fatalf("read-only key comments: %v (%s)", err, sqlState(err))
	}
	if got := rowsOf(`select count(*) from pg_catalog.pg_description d join pg_catalog.pg_class c on c.oid = d.objoid where c.relname = 'x' and d.description is not null`); !slices.Equal(got, []string{"0"}) {
		t.Fatalf("denied comment kept: %q", got)
	}
}

func TestDbtAlterTableActions(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	ctx := t.Context()
	c, rowsOf, exec := dbtAdapterConn(t, e, e.admin)
	exec(`CREATE SCHEMA s`, `CREATE TABLE s.t (id INTEGER, old VARCHAR)`, `INSERT INTO s.t VALUES (1, 'a')`)
	cols := func() []string {
		t.Helper()
		return rowsOf(`select column_name || ' ' || data_type from "warehouse".information_schema.columns where table_schema = 's' and table_name = 't' order by ordinal_position`)
	}

	// on_schema_change='sync_all_columns', as dbt-postgres sends it.
	tag, err := c.Exec(ctx, `alter table "warehouse"."s"."t"
            add column "field3" integer,
            add column "field 4" numeric(10,2),
            drop column "old"`)
	if err != nil || tag.String() != "ALTER TABLE" {
		t.Fatalf("alter with three actions: %q %v", tag, err)
	}
	if got := cols(); !slices.Equal(got, []string{"id INTEGER", "field3 INTEGER", "field 4 DECIMAL(10,2)"}) {
		t.Fatalf("columns: %q", got)
	}
	// All actions or none: the second fails, the first is undone.
	if _, err := c.Exec(ctx, `alter table s.t add column x integer, drop column nope`); err == nil {
		t.Fatal("dropping a missing column succeeded")
	}
	if got := cols(); len(got) != 3 {
		t.Fatalf("a failed ALTER kept an action: %q", got)
	}
	// In a block, ROLLBACK undoes them all.
	exec(`BEGIN`, `alter table s.t add column y integer, add column z integer`)
	if got := cols(); len(got) != 5 {
		t.Fatalf("the block does not see its own columns: %q", got)
	}
	exec(`ROLLBACK`)
	if got := cols(); len(got) != 3 {
		t.Fatalf("rolled back columns kept: %q", got)
	}

	// Hostile: every action is verified as DuckDB would run it, so a
	// second action cannot reach files or other catalogs.
	for _, q := range []string{
		`alter table s.t add column a integer, add column b varchar default (select content from read_text('/etc/passwd'))`,
		`alter table s.t add column a integer, add column b varchar default (select 'x' from 'secret.csv')`,
		`alter table s.t add column a integer, rename to u`,
		`alter table s.t add column a integer, rename column id to x`,
		`alter table s.t add column a integer, set schema public`,
		`alter table s.t add column a integer,`,
		`alter table tarn.tables add column a integer, add column b integer`,
	} {
		if _, err := c.Exec(ctx, q); err == nil {
			t.Errorf("accepted: %s", q)
		}
		if got := cols(); len(got) != 3 {
			t.Fatalf("%s: columns changed: %q", q, got)
		}
	}
	// A key that may only read may not alter.
	exec(`CREATE SCHEMA analytics`, `CREATE TABLE analytics.x (a INTEGER)`)
	bi, _, _ := dbtAdapterConn(t, e, whKey(t, e))
	if _, err := bi.Exec(ctx, `alter table analytics.x add column b integer, add column c integer`); sqlState(err) != "42501" {
		t.Fatalf("read-only key alters: %v (%s)", err, sqlState(err))
	}
}

func TestDbtMaterializedViewIfNotExists(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	ctx := t.Context()
	c, rowsOf, exec := dbtAdapterConn(t, e, e.admin)
	exec(`CREATE SCHEMA s`, `CREATE TABLE s.t (id INTEGER)`, `INSERT INTO s.t VALUES (1), (2)`)
	// postgres__get_create_materialized_view_as_sql.
	q := `create materialized view if not exists "warehouse"."s"."mv" as select count(*) as n from s.t;`
	for i := 0; i < 2; i++ {
		if tag, err := c.Exec(ctx, q); err != nil || tag.String() != "CREATE MATERIALIZED VIEW" {
			t.Fatalf("run %d: %q %v", i, tag, err)
		}
	}
	if got := rowsOf(`select n from s.mv`); !slices.Equal(got, []string{"2"}) {
		t.Fatalf("mv: %q", got)
	}
	// Without IF NOT EXISTS the second is an error; IF NOT EXISTS over a
	// table of the name leaves the table alone.
	if _, err := c.Exec(ctx, `create materialized view s.mv as select 1 as n`); sqlState(err) != "42P07" {
		t.Fatalf("duplicate: %v (%s)", err, sqlState(err))
	}
	exec(`create materialized view if not exists s.t as select 1 as n`)
	if got := rowsOf(`select count(*) from s.t`); !slices.Equal(got, []string{"2"}) {
		t.Fatalf("table replaced: %q", got)
	}
}

// TestDbtBlockSeesItsRelations: dbt-postgres's persist_docs describes a
// table it created in the model's block (information_schema.columns) before
// COMMIT, as PostgreSQL shows a block its own changes; other connections
// see them only after COMMIT, and never after ROLLBACK.
func TestDbtBlockSeesItsRelations(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	_, rowsOf, exec := dbtAdapterConn(t, e, e.admin)
	_, rowsOf2, _ := dbtAdapterConn(t, e, e.admin)
	exec(`CREATE SCHEMA s`)
	cols := `select table_name || '.' || column_name from "warehouse".information_schema.columns where table_schema = 's' order by table_name, ordinal_position`
	exec(`BEGIN`, `create table "warehouse"."s"."m__dbt_tmp" as (select 1 as id, 'Ed' as name)`,
		`alter table "warehouse"."s"."m__dbt_tmp" rename to "m"`)
	if got := rowsOf(cols); !slices.Equal(got, []string{"m.id", "m.name"}) {
		t.Fatalf("the block's own table: %q", got)
	}
	if got := rowsOf2(cols); len(got) != 0 {
		t.Fatalf("another connection sees the open block's table: %q", got)
	}
	exec(`comment on column "warehouse"."s"."m".id is 'kept'`, `COMMIT`)
	_, rowsOf3, _ := dbtAdapterConn(t, e, e.admin)
	if got := rowsOf3(`select d.description from pg_catalog.pg_description d join pg_catalog.pg_class c on c.oid = d.objoid where c.relname = 'm' and d.objsubid = 1`); !slices.Equal(got, []string{"kept"}) {
		t.Fatalf("after COMMIT: %q", got)
	}
	exec(`BEGIN`, `create table s.gone (x integer)`)
	if got := rowsOf(`select count(*) from pg_tables where schemaname = 's'`); !slices.Equal(got, []string{"2"}) {
		t.Fatalf("pg_tables in the block: %q", got)
	}
	exec(`ROLLBACK`)
	if got := rowsOf(cols); !slices.Equal(got, []string{"m.id", "m.name"}) {
		t.Fatalf("after ROLLBACK: %q", got)
	}
}

// TestDbtConstraints: a model's contract (constraints: not_null, check,
// primary_key, unique, foreign_key) as dbt-postgres writes it. CHECK is
// enforced as in PostgreSQL; primary and foreign keys and UNIQUE are
// Redshift's informational constraints (not enforced). Violations get
// PostgreSQL's class 23 codes.
func TestDbtConstraints(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	ctx := t.Context()
	c, rowsOf, exec := dbtAdapterConn(t, e, e.admin)
	exec(`CREATE SCHEMA s`, `create table "warehouse"."s"."fk" (id integer not null primary key)`,
		`create table "warehouse"."s"."m" (
    id integer not null primary key check ((id > 0)) check (id >= 1) references "warehouse"."s"."fk" (id) unique,
    color text,
    date_day text,
    check ((id > 0)),
    constraint positive_len check (length(color) > 0),
    primary key (id),
    constraint strange_uniqueness_requirement unique (color, date_day),
    foreign key (id) references "warehouse"."s"."fk" (id)
)`,
		`insert into s.m (id, color, date_day) values (1, 'blue', '2019-01-01'), (2, null, null)`)
	for _, tc := range []struct{ sql, code string }{
		{`insert into s.m (id, color) values (0, 'red')`, "23514"},
		{`insert into s.m (id, color) values (3, '')`, "23514"},
		{`insert into s.m (id, color) values (null, 'red')`, "23502"},
		{`update s.m set id = -1 where id = 1`, "23514"},
	} {
		if _, err := c.Exec(ctx, tc.sql); sqlState(err) != tc.code {
			t.Errorf("%s: %v (%s), want %s", tc.sql, err, sqlState(err), tc.code)
		}
	}
	if got := rowsOf(`select count(*) from s.m`); !slices.Equal(got, []string{"2"}) {
		t.Fatalf("rows after refused writes: %q", got)
	}
	_, err := c.Exec(ctx, `insert into s.m (id, color) values (null, 'red')`)
	if want := `null value in column "id" of relation "m" violates not-null constraint`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("not-null message: %v, want %s", err, want)
	}
	// Hostile: a CHECK reaches no file and no other table (DuckDB allows
	// no subquery in a CHECK), and is parsed whole.
	for _, q := range []string{
		`create table s.h1 (a varchar check (a <> (select content from read_text('/etc/passwd'))))`,
		`create table s.h2 (a integer check (a in (select id from s.fk)))`,
		`create table s.h3 (a integer, check ((select count(*) from 'secret.csv') > 0))`,
		`create table s.h4 (a integer check a > 0)`,
		`create table s.h5 (a integer check (a > 0) extra)`,
		`create table s.h6 (a integer, check (a > 0) extra)`,
		`create table s.h7 (a integer check ())`,
	} {
		if _, err := c.Exec(ctx, q); err == nil {
			t.Errorf("accepted: %s", q)
		}
	}
	if got := rowsOf(`select count(*) from pg_tables where schemaname = 's'`); !slices.Equal(got, []string{"2"}) {
		t.Fatalf("tables: %q", got)
	}
}

// TestTimestamptzText: a timestamptz in text format is PostgreSQL's
// (2025-01-01 08:00:00.5+00), which psycopg2 parses; pgx reads it back.
func TestTimestamptzText(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	ctx := t.Context()
	for _, tc := range []struct{ sql, want string }{
		{`select timestamptz '2025-01-01 10:00:00.5+02'`, "2025-01-01 08:00:00.5+00"},
		{`select timestamptz '2025-06-30 23:59:59.123456+00'`, "2025-06-30 23:59:59.123456+00"},
		{`select timestamptz '2025-01-01 00:00:00-05:30'`, "2025-01-01 05:30:00+00"},
	} {
		out, stderr, err := e.psql(t, e.admin, e.admin.SecretAccessKey, "-At", "-c", tc.sql)
		if err != nil || strings.TrimSpace(out) != tc.want {
			t.Errorf("%s: %q %s %v, want %q", tc.sql, out, stderr, err, tc.want)
		}
	}
	c, _, _ := dbtAdapterConn(t, e, e.admin)
	var got time.Time
	if err := c.QueryRow(ctx, `select timestamptz '2025-01-01 10:00:00.5+02'`, pgx.QueryExecModeSimpleProtocol).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2025, 1, 1, 8, 0, 0, 5e8, time.UTC); !got.Equal(want) {
		t.Fatalf("pgx reads %v, want %v", got, want)
	}
}
