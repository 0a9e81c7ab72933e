package query_test

import (
	"context"
	"testing"
)

// TestRouteAthenaSyntax: statements whose first words the warehouse also
// has (CREATE SCHEMA, CREATE TABLE) go to the catalog when they are in
// Athena's form, and to the warehouse when they are in Redshift's; the
// router alone decides (the warehouse parser knows no Athena).
func TestRouteAthenaSyntax(t *testing.T) {
	l := openLake(t)
	ctx := context.Background()
	if l.Query.Warehouse() == nil {
		t.Fatal("the lake has no warehouse: nothing to route between")
	}
	for _, c := range []struct {
		sql, typ string
	}{
		{"CREATE SCHEMA athena_db LOCATION 's3://lake/athena_db/'", "DDL"},
		{"CREATE SCHEMA athena_db2 COMMENT 'c'", "DDL"},
		{"CREATE DATABASE athena_db3 WITH DBPROPERTIES ('k' = 'v')", "DDL"},
		{"CREATE TABLE athena_db.hive_t (a int) STORED AS PARQUET LOCATION 's3://lake/athena_db/hive_t/'", "DDL"},
		{"CREATE EXTERNAL TABLE athena_db.ext_t (a int) ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\'' LOCATION 's3://lake/athena_db/ext_t/'", "DDL"},
		{"CREATE TABLE athena_db.ctas_t WITH (format = 'PARQUET') AS SELECT 1 AS a", "DML"},
		{"CREATE SCHEMA staging", "DDL"},
		// dbt-athena's create_schema: Hive's backticks make it Athena's.
		{"create schema if not exists `athena_db4`", "DDL"},
		{"CREATE SCHEMA s2 AUTHORIZATION bob", "DDL"},
		{"CREATE TABLE staging.t AS SELECT 1 AS a", "DDL"},
		{"CREATE TABLE staging.u (a, b) DISTSTYLE ALL AS SELECT 1, 2", "DDL"},
	} {
		if _, ex, err := l.Query.Run(ctx, c.sql, ""); err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		} else if ex.StatementType != c.typ {
			t.Errorf("%s: statement type %s, want %s", c.sql, ex.StatementType, c.typ)
		}
	}
	// Athena's forms made catalog databases and tables...
	for _, db := range []string{"athena_db", "athena_db2", "athena_db3", "athena_db4"} {
		if _, err := l.Catalog.GetDatabase(ctx, db); err != nil {
			t.Errorf("catalog database %s: %v", db, err)
		}
	}
	for _, tb := range []string{"hive_t", "ext_t", "ctas_t"} {
		if _, err := l.Catalog.GetTable(ctx, "athena_db", tb); err != nil {
			t.Errorf("catalog table athena_db.%s: %v", tb, err)
		}
	}
	// ... and Redshift's warehouse schemas and tables, not catalog ones.
	for _, db := range []string{"staging", "s2"} {
		if _, err := l.Catalog.GetDatabase(ctx, db); err == nil {
			t.Errorf("%s is a catalog database; want a warehouse schema", db)
		}
	}
	c, _, err := l.Query.Run(ctx, "SELECT (SELECT count(*) FROM staging.t) + (SELECT count(*) FROM staging.u) AS n", "")
	if err != nil || len(c.Rows) != 1 || c.Rows[0][0].(int64) != 2 {
		t.Errorf("warehouse tables: %v, %v", c, err)
	}
}
