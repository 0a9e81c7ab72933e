package pgwire_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/pgwire"
)

// warehouseSQL creates warehouse objects next to the lake's shop database,
// with the command tag psql prints for each.
var warehouseSQL = []struct{ sql, tag string }{
	{`CREATE SCHEMA analytics`, "CREATE SCHEMA"},
	{`CREATE SCHEMA hidden`, "CREATE SCHEMA"},
	{`CREATE TABLE analytics.fact_sales (sale_id BIGINT IDENTITY(1,1), order_id INTEGER NOT NULL, customer VARCHAR(64),
		amount DECIMAL(12,2), sold_at TIMESTAMP) DISTKEY(order_id) SORTKEY(sold_at)`, "CREATE TABLE"},
	{`CREATE TABLE analytics.staging (id BIGINT, customer VARCHAR, amount DECIMAL(10,2), day DATE, paid BOOLEAN)`, "CREATE TABLE"},
	{`CREATE TABLE hidden.salaries (name VARCHAR, pay INTEGER)`, "CREATE TABLE"},
	// A warehouse table in a schema named like the catalog database.
	{`CREATE SCHEMA shop`, "CREATE SCHEMA"},
	{`CREATE TABLE shop.targets (month DATE, target DECIMAL(12,2))`, "CREATE TABLE"},
	{`INSERT INTO analytics.fact_sales (order_id, customer, amount, sold_at)
		SELECT id, customer, amount, CAST(day AS TIMESTAMP) FROM shop.orders`, "INSERT 0 5"},
	{`UPDATE analytics.fact_sales SET amount = amount + 1 WHERE order_id <= 2`, "UPDATE 2"},
	{`DELETE FROM analytics.fact_sales WHERE order_id = 5`, "DELETE 1"},
	{`COPY analytics.staging FROM 's3://lake/raw/orders/' IAM_ROLE 'arn:aws:iam::123456789012:role/RedshiftCopy' FORMAT AS CSV IGNOREHEADER 1`, "COPY 5"},
	{`CREATE VIEW analytics.big_sales AS SELECT order_id, amount FROM analytics.fact_sales WHERE amount > 10`, "CREATE VIEW"},
	{`CREATE OR REPLACE VIEW analytics.big_sales AS SELECT order_id, customer, amount FROM analytics.fact_sales WHERE amount > 10`, "CREATE VIEW"},
	{`CREATE MATERIALIZED VIEW analytics.sales_by_customer AS SELECT customer, sum(amount) AS total FROM analytics.fact_sales GROUP BY customer`, "CREATE MATERIALIZED VIEW"},
	{`REFRESH MATERIALIZED VIEW analytics.sales_by_customer`, "REFRESH MATERIALIZED VIEW"},
	{`CREATE VIEW analytics.lake_orders AS SELECT id, customer, amount FROM shop.orders WITH NO SCHEMA BINDING`, "CREATE VIEW"},
	{`CREATE TABLE analytics.scratch (x INTEGER)`, "CREATE TABLE"},
	{`TRUNCATE analytics.scratch`, "TRUNCATE TABLE"},
	{`DROP TABLE analytics.scratch`, "DROP TABLE"},
}

// whKey may read the warehouse schema analytics (and shop's orders in the
// lake), not the schema hidden.
func whKey(t *testing.T, e *env) auth.Key {
	t.Helper()
	pol, err := auth.ParsePolicy([]byte(`{"Statement": [
		{"Effect": "Allow", "Action": ["athena:*"], "Resource": "*"},
		{"Effect": "Allow", "Action": ["redshift:ReadData"], "Resource": ["arn:aws:glue:*:*:database/analytics", "arn:aws:glue:*:*:table/analytics/*"]},
		{"Effect": "Allow", "Action": ["glue:GetTable"], "Resource": "arn:aws:glue:*:*:table/shop/orders"},
		{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::lake/raw/orders/*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.l.Auth.CreateKey(t.Context(), "bi", pol)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPsqlWarehouse(t *testing.T) {
	psqlPath(t)
	e := newEnv(t, pgwire.DefaultConfig())
	run := func(k auth.Key, args ...string) (string, string) {
		t.Helper()
		out, errOut, err := e.psql(t, k, k.SecretAccessKey, args...)
		if err != nil {
			t.Fatalf("psql %q: %v\n%s%s", args, err, out, errOut)
		}
		return out, errOut
	}
	want := func(got string, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if !strings.Contains(got, p) {
				t.Fatalf("want %q in:\n%s", p, got)
			}
		}
	}
	wantNot := func(got string, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if strings.Contains(got, p) {
				t.Fatalf("do not want %q in:\n%s", p, got)
			}
		}
	}

	// Each statement in its own psql -c, as users type them: psql prints
	// the command tag.
	for _, st := range warehouseSQL {
		out, errOut := run(e.admin, "-c", st.sql)
		if strings.TrimSpace(out) != st.tag {
			t.Fatalf("%s: psql printed %q, want the tag %q (stderr %q)", st.sql, out, st.tag, errOut)
		}
		if strings.HasPrefix(st.sql, "COPY") {
			want(errOut, "INFO:  Load into table 'analytics.staging' completed, 5 record(s) loaded successfully.")
		}
	}

	t.Run("dt", func(t *testing.T) {
		out, _ := run(e.admin, "-c", `\dt`)
		want(out, "analytics | fact_sales | table", "analytics | staging    | table", "hidden    | salaries   | table",
			"shop      | orders     | table", "shop      | targets    | table")
		wantNot(out, "sales_by_customer", "big_sales", "scratch", " tarn ", "stl_load_errors", "pg_tarn")
		out, _ = run(e.admin, "-c", `\dt analytics.*`)
		want(out, "fact_sales", "(2 rows)")
	})
	t.Run("dv dm", func(t *testing.T) {
		out, _ := run(e.admin, "-c", `\dv`)
		want(out, "analytics | big_sales   | view", "analytics | lake_orders | view")
		out, _ = run(e.admin, "-c", `\dm`)
		want(out, "analytics | sales_by_customer | materialized view", "(1 row)")
	})
	t.Run("dn", func(t *testing.T) {
		out, _ := run(e.admin, "-c", `\dn`)
		want(out, "analytics", "hidden", "public", "shop")
		wantNot(out, "pg_tarn", "\n tarn ")
	})
	t.Run("d table", func(t *testing.T) {
		out, _ := run(e.admin, "-c", `\d analytics.fact_sales`)
		want(out, `Table "analytics.fact_sales"`,
			"sale_id  | int8",
			"order_id | int4          |           | not null",
			"customer | varchar",
			"amount   | numeric(12,2)",
			"sold_at  | timestamp")
		out, _ = run(e.admin, "-c", `\d fact_sales`)
		want(out, `Table "analytics.fact_sales"`)
		out, _ = run(e.admin, "-c", `\d+ analytics.big_sales`)
		want(out, `View "analytics.big_sales"`, "order_id", "customer", "amount", "View definition:", "amount > 10")
		out, _ = run(e.admin, "-c", `\d analytics.sales_by_customer`)
		want(out, `Materialized view "analytics.sales_by_customer"`, "customer", "total")
		out, _ = run(e.admin, "-c", `\d analytics.lake_orders`)
		want(out, `View "analytics.lake_orders"`, "id", "customer", "amount")
		// The schema shop holds the catalog's tables and the warehouse's.
		out, _ = run(e.admin, "-c", `\d shop.targets`)
		want(out, `Table "shop.targets"`, "target")
	})
	t.Run("query", func(t *testing.T) {
		out, _ := run(e.admin, "-A", "-t", "-c", `SELECT order_id, amount FROM analytics.fact_sales ORDER BY order_id`)
		if out != "1|11.50\n2|21.00\n3|7.25\n4|100.00\n" {
			t.Fatalf("got %q", out)
		}
	})
	t.Run("policy", func(t *testing.T) {
		bi := whKey(t, e)
		out, _ := run(bi, "-c", `\dt`)
		want(out, "analytics | fact_sales", "shop      | orders")
		wantNot(out, "hidden", "salaries", "targets", "secrets")
		out, _ = run(bi, "-c", `\dn`)
		want(out, "analytics")
		wantNot(out, "hidden", "public")
		out, _ = run(bi, "-c", `\d analytics.fact_sales`)
		want(out, "order_id")
		out, errOut, _ := e.psql(t, bi, bi.SecretAccessKey, "-c", `\d hidden.salaries`)
		want(out+errOut, "Did not find any relation named")
		wantNot(out, "pay")
	})
}

func TestPgxWarehouse(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	ctx := t.Context()
	c := e.connect(t, e.admin, "")
	for _, st := range warehouseSQL {
		tag, err := c.Exec(ctx, st.sql)
		if err != nil {
			t.Fatalf("%s: %v", st.sql, err)
		}
		if tag.String() != st.tag {
			t.Fatalf("%s: tag %q, want %q", st.sql, tag, st.tag)
		}
	}
	// The extended protocol with parameters: no rows, the count in the tag.
	tag, err := c.Exec(ctx, `INSERT INTO analytics.fact_sales (order_id, customer, amount, sold_at) VALUES ($1, $2, $3, $4)`,
		int32(9), "zoe", "1.25", "2025-02-01 00:00:00")
	if err != nil || tag.String() != "INSERT 0 1" || tag.RowsAffected() != 1 {
		t.Fatalf("insert with parameters: %q %v", tag, err)
	}
	tag, err = c.Exec(ctx, `DELETE FROM analytics.fact_sales WHERE customer = $1`, "zoe")
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("delete with parameters: %q %v", tag, err)
	}

	// Prepared with parameters, named schema.table where the schema is
	// also the database connected to (the mirror's catalog is named shop).
	var n int64
	if err := c.QueryRow(ctx, `SELECT count(*) FROM shop.orders o JOIN analytics.fact_sales f ON f.order_id = o.id WHERE o.id > $1`, 1).Scan(&n); err != nil || n != 3 {
		t.Fatalf("prepared join: %d %v", n, err)
	}

	strs := func(c *pgx.Conn, q string, args ...any) []string {
		t.Helper()
		rows, err := c.Query(ctx, q, args...)
		if err != nil {
			t.Fatal(err)
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
			out = append(out, strings.Join(f, " "))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	t.Run("information_schema", func(t *testing.T) {
		got := strs(c, `SELECT column_name, data_type, is_nullable FROM information_schema.columns
			WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, "analytics", "fact_sales")
		if fmt.Sprint(got) != "[sale_id BIGINT YES order_id INTEGER NO customer VARCHAR YES amount DECIMAL(12,2) YES sold_at TIMESTAMP YES]" {
			t.Fatalf("columns: %v", got)
		}
		got = strs(c, `SELECT table_schema, table_name, table_type FROM information_schema.tables
			WHERE table_schema IN ('analytics', 'shop') ORDER BY 1, 2`)
		if fmt.Sprint(got) != "[analytics big_sales VIEW analytics fact_sales BASE TABLE analytics lake_orders VIEW analytics sales_by_customer BASE TABLE analytics staging BASE TABLE shop orders BASE TABLE shop secrets BASE TABLE shop targets BASE TABLE]" {
			t.Fatalf("tables: %v", got)
		}
		got = strs(c, `SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN ('main', 'pg_catalog', 'information_schema', 'pg_tarn') ORDER BY 1`)
		if fmt.Sprint(got) != "[analytics hidden public shop]" {
			t.Fatalf("schemata: %v", got)
		}
	})
	t.Run("pg_catalog", func(t *testing.T) {
		// What DBeaver-style tools read: namespaces, relations, attributes.
		got := strs(c, `SELECT c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod)
			FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
			WHERE n.nspname = $1 AND c.relname IN ('fact_sales', 'sales_by_customer') AND a.attnum > 0 ORDER BY c.relname, a.attnum`, "analytics")
		if len(got) != 7 || got[0] != "fact_sales r sale_id int8" || got[5] != "sales_by_customer m customer varchar" {
			t.Fatalf("pg_class/pg_attribute: %v", got)
		}
	})
	t.Run("policy", func(t *testing.T) {
		bi := e.connect(t, whKey(t, e), "")
		got := strs(bi, `SELECT table_schema || '.' || table_name FROM information_schema.tables
			WHERE table_schema NOT IN ('main', 'pg_catalog', 'information_schema', 'pg_tarn') ORDER BY 1`)
		if fmt.Sprint(got) != "[analytics.big_sales analytics.fact_sales analytics.lake_orders analytics.sales_by_customer analytics.staging shop.orders]" {
			t.Fatalf("bi sees %v", got)
		}
		if got := strs(bi, `SELECT count(*) FROM information_schema.columns WHERE table_schema = 'hidden'`); fmt.Sprint(got) != "[0]" {
			t.Fatalf("bi sees hidden's columns: %v", got)
		}
		nb := e.connect(t, e.nobody, "")
		if got := strs(nb, `SELECT count(*) FROM information_schema.tables WHERE table_schema IN ('analytics', 'hidden', 'public')`); fmt.Sprint(got) != "[0]" {
			t.Fatalf("nobody sees warehouse tables: %v", got)
		}
	})
	t.Run("ddl refreshes the mirror", func(t *testing.T) {
		if _, err := c.Exec(ctx, `CREATE TABLE analytics.fresh (x INTEGER)`); err != nil {
			t.Fatal(err)
		}
		if got := strs(c, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'analytics' AND table_name = 'fresh'`); fmt.Sprint(got) != "[1]" {
			t.Fatalf("new table: %v", got)
		}
		if _, err := c.Exec(ctx, `DROP TABLE analytics.fresh`); err != nil {
			t.Fatal(err)
		}
		if got := strs(c, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'analytics' AND table_name = 'fresh'`); fmt.Sprint(got) != "[0]" {
			t.Fatalf("dropped table: %v", got)
		}
	})
}
