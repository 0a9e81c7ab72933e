package pgwire_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tarn-lake/tarn/internal/pgwire"
)

// dbtSetup is a warehouse as a dbt-postgres project sees it: a schema with
// a table, a view, a late-binding view, a materialized view, and the lake
// reached through an external schema.
var dbtSetup = []string{
	`CREATE SCHEMA analytics`,
	`CREATE EXTERNAL SCHEMA raw FROM DATA CATALOG DATABASE 'shop'`,
	`CREATE TABLE analytics.t (id BIGINT IDENTITY(1,1), customer VARCHAR, amount DECIMAL(10,2)) SORTKEY(customer)`,
	`INSERT INTO analytics.t (customer, amount) SELECT customer, amount FROM raw.orders`,
	`CREATE VIEW analytics.v AS SELECT customer FROM analytics.t`,
	`CREATE VIEW analytics.lv AS SELECT id, amount FROM shop.orders WITH NO SCHEMA BINDING`,
	`CREATE MATERIALIZED VIEW analytics.mv AS SELECT count(*) AS n FROM analytics.t`,
}

// dbtListRelations is dbt-postgres 1.11's postgres__list_relations_without_caching
// for schema analytics, as it sends it.
const dbtListRelations = `/* {"app": "dbt", "dbt_version": "1.11.16", "node_id": "model.x.y"} */
    select
      'warehouse' as database,
      tablename as name,
      schemaname as schema,
      'table' as type
    from pg_tables
    where schemaname ilike 'analytics'
    union all
    select
      'warehouse' as database,
      viewname as name,
      schemaname as schema,
      'view' as type
    from pg_views
    where schemaname ilike 'analytics'
    union all
    select
      'warehouse' as database,
      matviewname as name,
      schemaname as schema,
      'materialized_view' as type
    from pg_matviews
    where schemaname ilike 'analytics'
    union all
    select distinct
     'warehouse' as database,
     proname as name,
     ns.nspname as schema,
     'function' as type
    from pg_proc
     join pg_namespace as ns on pronamespace = ns.oid
    where ns.nspname ilike 'analytics'`

// dbtColumns is postgres__get_columns_in_relation.
const dbtColumns = `select
          column_name,
          data_type,
          character_maximum_length,
          numeric_precision,
          numeric_scale

      from "warehouse".INFORMATION_SCHEMA.columns
      where table_name = '%s'
        and table_schema = 'analytics'
      order by ordinal_position`

func TestDbtPostgresStatements(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	ctx := t.Context()
	url := fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/warehouse?sslmode=disable", e.admin.AccessKeyID, pgURLEscape(e.admin.SecretAccessKey), e.addr.Port)
	c, err := pgxConnect(t, url)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range dbtSetup {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rowsOf := func(q string) []string {
		t.Helper()
		rows, err := c.Query(ctx, q, pgx.QueryExecModeSimpleProtocol)
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
	listed := func() []string {
		t.Helper()
		got := rowsOf(dbtListRelations)
		slices.Sort(got)
		return got
	}

	// Each relation once, with its kind: the materialized view is not also
	// a table, tarn's shims are not views.
	want := []string{
		"warehouse|lv|analytics|view",
		"warehouse|mv|analytics|materialized_view",
		"warehouse|t|analytics|table",
		"warehouse|v|analytics|view",
	}
	if got := listed(); !slices.Equal(got, want) {
		t.Fatalf("list relations:\n got %q\nwant %q", got, want)
	}
	if got := rowsOf(`select count(*) from pg_views where schemaname = 'pg_tarn'`); !slices.Equal(got, []string{"0"}) {
		t.Fatalf("pg_views lists tarn's shims: %v", got)
	}
	if got := rowsOf(`select matviewname, ispopulated from pg_catalog.pg_matviews`); !slices.Equal(got, []string{"mv|true"}) {
		t.Fatalf("pg_matviews: %v", got)
	}

	// information_schema qualified with the database connected to, in
	// any case; another database's is not this one's.
	if got := rowsOf(fmt.Sprintf(dbtColumns, "t")); !slices.Equal(got, []string{"id|bigint|<nil>|64|0", "customer|character varying|<nil>|<nil>|<nil>", "amount|numeric|<nil>|10|2"}) &&
		!slices.Equal(got, []string{"id|BIGINT|<nil>|64|0", "customer|VARCHAR|<nil>|<nil>|<nil>", "amount|DECIMAL(10,2)|<nil>|10|2"}) {
		t.Fatalf("columns of t: %q", got)
	}
	if got := rowsOf(`select count(*) from WAREHOUSE.information_schema.tables where table_schema = 'analytics' and table_name = 'mv'`); !slices.Equal(got, []string{"1"}) {
		t.Fatalf("WAREHOUSE.information_schema.tables: %v", got)
	}
	if got := rowsOf(`select count(*) from "warehouse"."pg_catalog".pg_namespace where nspname = 'analytics'`); !slices.Equal(got, []string{"1"}) {
		t.Fatalf(`"warehouse"."pg_catalog".pg_namespace: %v`, got)
	}
	// Not inside string literals.
	if got := rowsOf(`select 'warehouse.information_schema.x', 'it''s "warehouse".pg_catalog.y' from information_schema.schemata where schema_name = 'analytics'`); !slices.Equal(got, []string{`warehouse.information_schema.x|it's "warehouse".pg_catalog.y`}) {
		t.Fatalf("literals: %q", got)
	}
	if _, err := c.Exec(ctx, `select * from "other".information_schema.tables`); err == nil {
		t.Fatal(`"other".information_schema.tables: no error`)
	}

	// The lake through the external schema, qualified with the database
	// as dbt-postgres qualifies every name.
	if got := rowsOf(`select count(*), cast(sum(amount) as varchar) from "warehouse"."raw"."orders"`); !slices.Equal(got, []string{"5|137.75"}) {
		t.Fatalf(`"warehouse"."raw"."orders": %v`, got)
	}

	// dbt's view and table materializations: build under a temporary name,
	// move the old relation aside, rename, drop the backup (CASCADE), in
	// one transaction.
	for _, q := range []string{
		`BEGIN`,
		`create view "warehouse"."analytics"."stg__dbt_tmp" as (select customer, amount from "warehouse"."raw"."orders")`,
		`alter table "warehouse"."analytics"."stg__dbt_tmp" rename to "stg"`,
		`create  table "warehouse"."analytics"."t__dbt_tmp" as (select customer, count(*) as n from "warehouse"."analytics"."stg" group by customer)`,
		`alter table "warehouse"."analytics"."t" rename to "t__dbt_backup"`,
		`alter table "warehouse"."analytics"."t__dbt_tmp" rename to "t"`,
		`alter table "warehouse"."analytics"."v" rename to "v__dbt_backup"`,
		`alter materialized view "warehouse"."analytics"."mv" rename to "mv2"`,
		`alter view analytics.lv rename to lv2`,
		`COMMIT`,
		`drop table if exists "warehouse"."analytics"."t__dbt_backup" cascade`,
		`drop view if exists "warehouse"."analytics"."v__dbt_backup" cascade`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	want = []string{
		"warehouse|lv2|analytics|view",
		"warehouse|mv2|analytics|materialized_view",
		"warehouse|stg|analytics|view",
		"warehouse|t|analytics|table",
	}
	if got := listed(); !slices.Equal(got, want) {
		t.Fatalf("after renames:\n got %q\nwant %q", got, want)
	}
	if got := rowsOf(`select count(*) from "warehouse"."analytics"."t"`); !slices.Equal(got, []string{"5"}) {
		t.Fatalf("renamed table: %v", got)
	}
	if got := rowsOf(`select count(*) from analytics.lv2 where amount > 10`); !slices.Equal(got, []string{"3"}) {
		t.Fatalf("renamed late-binding view: %v", got)
	}
	if _, err := c.Exec(ctx, `select * from analytics.lv`); err == nil {
		t.Fatal("the late-binding view's old name still reads")
	}
	// The renamed materialized view still refreshes (its bookkeeping moved).
	for _, q := range []string{`REFRESH MATERIALIZED VIEW analytics.mv2`, `ALTER TABLE analytics.mv2 RENAME TO mv3`} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// The old table's bookkeeping (sort key, identity sequence) went with
	// it: a new table may take a dropped one's name with its own.
	for _, q := range []string{
		`CREATE TABLE analytics.keyed (id BIGINT IDENTITY(1,1), k VARCHAR) SORTKEY(k)`,
		`INSERT INTO analytics.keyed (k) VALUES ('a')`,
		`ALTER TABLE analytics.keyed RENAME TO keyed_old`,
		`INSERT INTO analytics.keyed_old (k) VALUES ('b')`,
		`CREATE TABLE analytics.keyed (id BIGINT IDENTITY(1,1), k VARCHAR) SORTKEY(id)`,
		`INSERT INTO analytics.keyed (k) VALUES ('z')`,
		`INSERT INTO analytics.keyed_old (k) VALUES ('c')`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if got := rowsOf(`select id, k from analytics.keyed_old order by id`); !slices.Equal(got, []string{"1|a", "2|b", "3|c"}) {
		t.Fatalf("renamed identity table: %v", got)
	}
	if got := rowsOf(`select id, k from analytics.keyed`); !slices.Equal(got, []string{"1|z"}) {
		t.Fatalf("new table of the old name: %v", got)
	}

	// A rolled back rename leaves the old name.
	for _, q := range []string{`BEGIN`, `ALTER TABLE analytics.keyed_old RENAME TO gone`, `ROLLBACK`} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if got := rowsOf(`select count(*) from analytics.keyed_old`); !slices.Equal(got, []string{"3"}) {
		t.Fatalf("after rolled back rename: %v", got)
	}

	// Hostile and wrong renames.
	for _, bad := range []struct{ sql, want string }{
		{`ALTER TABLE analytics.keyed_old RENAME TO keyed`, "already exists"},
		{`ALTER TABLE analytics.nope RENAME TO nope2`, "no such"},
		{`ALTER VIEW analytics.keyed_old RENAME TO x`, "not a view"},
		{`ALTER MATERIALIZED VIEW analytics.t RENAME TO x`, "not a materialized view"},
		{`ALTER TABLE analytics.keyed_old RENAME TO other.x`, "without a schema"},
		{`ALTER TABLE tarn.tables RENAME TO x`, ""},
	} {
		_, err := c.Exec(ctx, bad.sql)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want an error with %q", bad.sql, err, bad.want)
		}
	}
	if _, err := c.Exec(ctx, `ALTER TABLE IF EXISTS analytics.nope RENAME TO nope2`); err != nil {
		t.Fatalf("rename if exists of nothing: %v", err)
	}
	// RENAME COLUMN still goes to DuckDB as written.
	if _, err := c.Exec(ctx, `ALTER TABLE analytics.keyed_old RENAME COLUMN k TO key`); err != nil {
		t.Fatalf("rename column: %v", err)
	}
	if got := rowsOf(`select key from analytics.keyed_old order by key`); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("renamed column: %v", got)
	}

	// A key that may only read the warehouse cannot rename.
	ro := whKey(t, e)
	rc, err := pgxConnect(t, fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/warehouse?sslmode=disable", ro.AccessKeyID, pgURLEscape(ro.SecretAccessKey), e.addr.Port))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Exec(ctx, `ALTER TABLE analytics.keyed_old RENAME TO stolen`); err == nil || sqlState(err) != "42501" {
		t.Fatalf("rename without the rights: %v (%s)", err, sqlState(err))
	}
}

// TestDbtTemporaryTables: dbt-postgres's incremental models and snapshots
// build their rows in a temporary table inside the model's transaction,
// describe it through information_schema, and read it from DELETE, UPDATE
// ... FROM and INSERT ... SELECT.
func TestDbtTemporaryTables(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	ctx := t.Context()
	url := fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/warehouse?sslmode=disable", e.admin.AccessKeyID, pgURLEscape(e.admin.SecretAccessKey), e.addr.Port)
	c, err := pgxConnect(t, url)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := pgxConnect(t, url)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(c *pgx.Conn, qs ...string) {
		t.Helper()
		for _, q := range qs {
			if _, err := c.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	one := func(c *pgx.Conn, q string) string {
		t.Helper()
		var s string
		if err := c.QueryRow(ctx, q, pgx.QueryExecModeSimpleProtocol).Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return s
	}
	exec(c, `CREATE SCHEMA analytics`,
		`CREATE EXTERNAL SCHEMA raw FROM DATA CATALOG DATABASE 'shop'`,
		`CREATE TABLE analytics.daily (day DATE, n BIGINT, amount DECIMAL(12,2))`,
		`INSERT INTO analytics.daily SELECT day, 1, 0 FROM raw.orders`)

	// Outside a block there is no session to keep one on.
	if _, err := c.Exec(ctx, `create temporary table "tmp" as (select 1 as x)`); err == nil || sqlState(err) != "0A000" {
		t.Fatalf("temp table outside a block: %v (%s)", err, sqlState(err))
	}

	// dbt's delete+insert, as it sends it.
	exec(c, `BEGIN`,
		`create temporary table "daily__dbt_tmp1"
    as
  (select day, count(*) as n, sum(amount) as amount from "warehouse"."raw"."orders" where day >= '2025-01-02' group by day)`)
	rows, err := c.Query(ctx, `select column_name, data_type from "warehouse".INFORMATION_SCHEMA.columns where table_name = 'daily__dbt_tmp1' order by ordinal_position`, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for rows.Next() {
		var n, typ string
		if err := rows.Scan(&n, &typ); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, n+" "+typ)
	}
	if err := rows.Err(); err != nil || !slices.Equal(cols, []string{"day DATE", "n BIGINT", "amount DECIMAL(38,2)"}) {
		t.Fatalf("temp table's columns: %q %v", cols, err)
	}
	// Another connection sees neither the table nor its description.
	if _, err := c2.Exec(ctx, `select * from "daily__dbt_tmp1"`); err == nil {
		t.Fatal("another connection reads the temporary table")
	}
	if got := one(c2, `select count(*) from information_schema.columns where table_name = 'daily__dbt_tmp1'`); got != "0" {
		t.Fatalf("another connection describes the temporary table: %s", got)
	}
	exec(c, `delete from "warehouse"."analytics"."daily" as DBT_INTERNAL_DEST
        where (day) in (
            select distinct day
            from "daily__dbt_tmp1" as DBT_INTERNAL_SOURCE
        );
    insert into "warehouse"."analytics"."daily" ("day", "n", "amount")
    (
        select "day", "n", "amount"
        from "daily__dbt_tmp1"
    )`,
		`update "warehouse"."analytics"."daily" set n = s.n * 10 from "daily__dbt_tmp1" as s where s.day = "warehouse"."analytics"."daily".day and s.n = 2`,
		`COMMIT`)
	if got := one(c, `select string_agg(cast(day as varchar) || '=' || n || '/' || amount, ',' order by day) from analytics.daily`); got != "2025-01-01=1/0.00,2025-01-02=20/27.25,2025-01-03=1/100.00,2025-01-04=1/0.00" {
		t.Fatalf("after delete+insert: %s", got)
	}
	// Gone with the block, from the session and from introspection.
	if _, err := c.Exec(ctx, `select * from "daily__dbt_tmp1"`); err == nil {
		t.Fatal("the temporary table outlives its block")
	}
	if got := one(c, `select count(*) from information_schema.columns where table_name = 'daily__dbt_tmp1'`); got != "0" {
		t.Fatalf("introspection still shows the temporary table: %s", got)
	}

	// A temporary table hides a warehouse table of its name (PostgreSQL's
	// pg_temp first), is gone after ROLLBACK, and tarn's names are refused.
	exec(c, `CREATE TABLE public.dup (x INTEGER)`, `INSERT INTO public.dup VALUES (1)`,
		`BEGIN`, `CREATE TEMP TABLE dup AS SELECT 2 AS x UNION ALL SELECT 3`)
	if got := one(c, `select count(*) from dup`); got != "2" {
		t.Fatalf("the temporary table does not hide the warehouse's: %s", got)
	}
	if got := one(c, `select count(*) from public.dup`); got != "1" {
		t.Fatalf("public.dup: %s", got)
	}
	for _, bad := range []string{`CREATE TEMP TABLE dup (y INTEGER)`} {
		if _, err := c.Exec(ctx, bad); err == nil {
			t.Fatalf("%s: no error", bad)
		}
	}
	exec(c, `ROLLBACK`, `BEGIN`)
	for _, bad := range []string{`CREATE TEMP TABLE __tarn_x AS SELECT 1 AS x`, `CREATE TEMP TABLE analytics.x AS SELECT 1 AS x`,
		`CREATE TEMP TABLE ids (id BIGINT IDENTITY(1,1))`} {
		if _, err := c.Exec(ctx, bad); err == nil {
			t.Fatalf("%s: no error", bad)
		}
		exec(c, `ROLLBACK`, `BEGIN`)
	}
	exec(c, `ROLLBACK`)
	if got := one(c, `select count(*) from dup`); got != "1" {
		t.Fatalf("after ROLLBACK, dup is the warehouse's: %s", got)
	}
	// The engine's sessions carry nothing over: a new block on any session
	// may create the same name again.
	for i := 0; i < 3; i++ {
		exec(c2, `BEGIN`, `CREATE TEMP TABLE dup AS SELECT 5 AS x`, `COMMIT`)
	}
	if got := one(c2, `select count(*) from dup`); got != "1" {
		t.Fatalf("after the blocks, dup is the warehouse's: %s", got)
	}
}
