package query_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
)

// TestSandboxEscapes runs statements that name the lake's files directly,
// disguised so that a binder that resolves CTE names by spelling rather than
// by scope would leave them to DuckDB's replacement scans. Each must fail
// without returning a row: a file is read only as a catalog table's file.
func TestSandboxEscapes(t *testing.T) {
	l := openLake(t)
	ctx := context.Background()
	for _, stmt := range []string{
		"CREATE DATABASE testdb LOCATION 's3://lake/testdb/'",
		"CREATE TABLE public.sinkw (x INT)",
		"CREATE TABLE testdb.sink WITH (external_location = 's3://lake/sink/') AS SELECT 1 AS x",
	} {
		if _, _, err := l.Query.Run(ctx, stmt, ""); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	home := l.Home
	file := filepath.Join(home, "objects", "lake", "raw", "sales", "sales_2025_01.csv")
	glob := filepath.Join(home, "objects", "lake", "raw", "*", "*.csv")
	tarnFiles := filepath.Join(home, "objects", "**")
	for _, p := range []string{file, glob, tarnFiles} {
		q := `"` + p + `"`
		// A CTE in scope named like the path (in another ASCII case) is the
		// CTE for DuckDB too: its one row, never the file's. The same name
		// with a letter Go folds to ASCII but DuckDB does not (the Kelvin
		// sign, U+212A, for k) is no CTE for DuckDB: the binder must see
		// the path as a table and refuse it.
		for _, stmt := range []string{
			`WITH ` + strings.ToUpper(q) + ` AS (SELECT 42 AS x) SELECT * FROM ` + q,
			`WITH ` + q + ` AS (SELECT 42 AS x) SELECT * FROM ` + q,
		} {
			c := &query.Collect{}
			if _, err := l.Query.Execute(ctx, query.Request{SQL: stmt, Database: "testdb"}, c); err != nil {
				t.Errorf("%s: %v", stmt, err)
			} else if len(c.Rows) != 1 || len(c.Rows[0]) != 1 || fmt.Sprint(c.Rows[0][0]) != "42" {
				t.Errorf("%s\nreturned %v, not the CTE's row", stmt, c.Rows)
			}
		}
		stmts := []string{}
		if strings.Contains(p, "lake") {
			kelvin := `"` + strings.Replace(p, "lake", "la\u212ae", 1) + `"`
			stmts = append(stmts, `WITH `+kelvin+` AS (SELECT 1) SELECT * FROM `+q)
		}
		for _, stmt := range append(stmts,
			// The CTE is defined in a sibling subquery: out of scope.
			`SELECT * FROM (WITH `+q+` AS (SELECT 1) SELECT 1) a, `+q+` b`,
			`SELECT * FROM `+q+` WHERE 1 IN (WITH `+q+` AS (SELECT 1) SELECT 1)`,
			// A CTE cannot see itself or the CTEs after it.
			`WITH a AS (SELECT * FROM `+q+`), `+q+` AS (SELECT 1) SELECT * FROM a`,
			`WITH x AS (SELECT * FROM `+q+`) SELECT * FROM x`,
			// A recursive CTE's anchor binds before the CTE exists.
			`WITH RECURSIVE `+q+` AS (SELECT * FROM `+q+` UNION ALL SELECT * FROM `+q+` WHERE false) SELECT * FROM `+q,
			`FROM `+q,
			`SELECT * FROM `+q+` AT (VERSION => 1)`,
			// Writes and views with the same disguise.
			`CREATE TABLE testdb.leak AS SELECT * FROM (WITH `+q+` AS (SELECT 1) SELECT 1) a, `+q+` b`,
			`CREATE VIEW public.leakv AS SELECT * FROM (WITH `+q+` AS (SELECT 1) SELECT 1) a, `+q+` b`,
			`INSERT INTO testdb.sink SELECT 1 FROM (WITH `+q+` AS (SELECT 1) SELECT 1) a, `+q+` b`,
			`CREATE TABLE public.leakw AS SELECT * FROM (WITH `+q+` AS (SELECT 1) SELECT 1) a, `+q+` b`,
			`INSERT INTO public.sinkw SELECT 1 FROM (WITH `+q+` AS (SELECT 1) SELECT 1) a, `+q+` b`,
			`SUMMARIZE `+q,
			`DESCRIBE `+q,
			`SELECT * FROM (DESCRIBE `+q+`)`,
			`PIVOT `+q+` ON region`,
		) {
			c := &query.Collect{}
			_, err := l.Query.Execute(ctx, query.Request{SQL: stmt, Database: "testdb"}, c)
			if err == nil {
				t.Errorf("%s\nsucceeded with %d rows; want an error", stmt, len(c.Rows))
				continue
			}
			t.Logf("%s\n  -> %v", stmt, err)
			if len(c.Rows) > 0 {
				t.Errorf("%s\nreturned %d rows before failing", stmt, len(c.Rows))
			}
			// The error may quote the statement, never another server path.
			if msg := strings.ReplaceAll(err.Error(), p, ""); strings.Contains(msg, home) {
				t.Errorf("%s\nerror shows a server path: %v", stmt, err)
			}
		}
	}
	// CTEs in scope still work, recursive ones included.
	for stmt, want := range map[string]int{
		`WITH s AS (SELECT 1 AS x) SELECT * FROM s`:                                                     1,
		`SELECT * FROM (WITH s AS (SELECT 1 AS x UNION ALL SELECT 2) SELECT * FROM s) t`:                2,
		`WITH a AS (SELECT 1 AS x), b AS (SELECT x + 1 AS x FROM a) SELECT * FROM b`:                    1,
		`WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r`: 5,
		`WITH s AS (SELECT 1 AS x) SELECT * FROM s WHERE x IN (SELECT x FROM s)`:                        1,
		`WITH s AS (SELECT 1 AS x) SELECT (SELECT count(*) FROM (SELECT * FROM s) q) AS n`:              1,
	} {
		c := &query.Collect{}
		if _, err := l.Query.Execute(ctx, query.Request{SQL: stmt, Database: "testdb"}, c); err != nil {
			t.Errorf("%s: %v", stmt, err)
		} else if len(c.Rows) != want {
			t.Errorf("%s: %d rows, want %d", stmt, len(c.Rows), want)
		}
	}
}

// TestErrorsNameURIs: DuckDB's messages name the local files it read; what
// reaches the client and the history names the objects by URI.
func TestErrorsNameURIs(t *testing.T) {
	l := openLake(t)
	ctx := context.Background()
	if _, err := l.Store.Put(ctx, "lake", "raw/broken/x.json", strings.NewReader(`{"a": 1}`+"\n"+`{"a": oops}`+"\n"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"CREATE DATABASE testdb",
		`CREATE EXTERNAL TABLE testdb.broken (a bigint) ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' LOCATION 's3://lake/raw/broken/'`,
	} {
		if _, _, err := l.Query.Run(ctx, stmt, ""); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	ex, err := l.Query.Execute(ctx, query.Request{SQL: "SELECT sum(a) FROM testdb.broken"}, &query.Collect{})
	if err == nil {
		t.Fatal("a malformed file read without error")
	}
	for _, msg := range []string{err.Error(), ex.Error} {
		if strings.Contains(msg, l.Home) || !strings.Contains(msg, "s3://lake/raw/broken/x.json") {
			t.Errorf("error names a local path, or not the object: %s", msg)
		}
	}
}

// TestTruncatedGzipQueryFails: DuckDB stops without an error where a cut
// gzip stream ends; a query over such a file must fail, not count half.
func TestTruncatedGzipQueryFails(t *testing.T) {
	l := openLake(t)
	ctx := context.Background()
	var raw bytes.Buffer
	raw.WriteString("id,v\n")
	for i := range 50000 {
		fmt.Fprintf(&raw, "%d,%d\n", i, i*7)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	cut := gz.Bytes()[:gz.Len()/2]
	if _, err := l.Store.Put(ctx, "lake", "raw/cut/part.csv.gz", bytes.NewReader(cut), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"CREATE DATABASE testdb",
		`CREATE EXTERNAL TABLE testdb.cut (id bigint, v bigint) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/cut/' TBLPROPERTIES ('skip.header.line.count'='1')`,
	} {
		if _, _, err := l.Query.Run(ctx, stmt, ""); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	c := &query.Collect{}
	_, err := l.Query.Execute(ctx, query.Request{SQL: "SELECT count(*) FROM testdb.cut"}, c)
	if err == nil || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), "s3://lake/raw/cut/part.csv.gz") {
		t.Fatalf("query over a cut gzip: rows %v, error %v", c.Rows, err)
	}
}
