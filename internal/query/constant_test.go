package query

import "testing"

func TestNamesNothing(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want bool
	}{
		{"SELECT 1", true},
		{"select 1 + 2 * 3 AS n, 'a' AS s;", true},
		{"SELECT NULL IS NULL, 1 BETWEEN 0 AND 2, CASE WHEN 1 IN (1, 2) THEN 'y' ELSE 'n' END AS c", true},
		{`SELECT 1 AS "from"`, true},
		{"SELECT 1 -- FROM t", true},
		// Anything that names something opens the whole lake.
		{"SELECT * FROM t", false},
		{"SELECT x", false},
		{"SELECT 1 AS x FROM warehouse.public.t", false},
		{"SELECT nvl(NULL, 1)", false},
		{"SELECT current_schema()", false},
		{"SELECT current_database", false},
		{"SELECT 1::VARCHAR", false},
		{"SELECT CAST(1 AS VARCHAR)", false},
		{"SELECT (SELECT 1)", false},
		{"SELECT getvariable('x')", false},
		{"SELECT 1 UNION SELECT 2", false},
		{"VALUES (1)", false},
		{"WITH t AS (SELECT 1) SELECT 1", false},
		{"INSERT INTO t VALUES (1)", false},
		{"SET threads = 1", false},
		// Hostile: a backslash makes the tokenizer (Hive's escapes) and
		// DuckDB (none) disagree on where the string ends.
		{`SELECT 'a\' FROM secret_table --'`, false},
		{`SELECT 'it''s'`, true},
		{"SELECT $$x$$", false},
		{"SELECT 1 /* unterminated", false},
		{"", false},
	} {
		if got := NamesNothing(c.sql); got != c.want {
			t.Errorf("NamesNothing(%q) = %v, want %v", c.sql, got, c.want)
		}
	}
}
