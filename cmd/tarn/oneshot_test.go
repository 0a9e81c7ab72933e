package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQueryOneShot: a CLI query opens only what its statements use (a
// SELECT of constants gets neither the warehouse nor the macros), and every
// statement still runs as it would on the whole lake and is recorded.
func TestQueryOneShot(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	ok(t, tarn(t, dir, "--data", data, "quickstart"))
	ok(t, tarn(t, dir, "--data", data, "query", "CREATE TABLE w1 (v INT)"))
	ok(t, tarn(t, dir, "--data", data, "query", "INSERT INTO w1 VALUES (42)"))

	for _, c := range []struct{ sql, want string }{
		{"SELECT 1 + 1 AS two", "two\n2\n"},
		// Naming a warehouse table, a lake table or a macro opens them.
		{"SELECT v FROM w1", "v\n42\n"},
		{"SELECT count(*) AS n FROM etl_pipeline_db.sales", "n\n1000\n"},
		{"SELECT nvl(NULL, 7) AS n", "n\n7\n"},
		// Hostile: tarn's tokenizer reads Hive's backslash escapes, DuckDB
		// does not; DuckDB's reading (a warehouse table) must win.
		{`SELECT 'a\' AS s FROM w1 --'`, "s\na\\\n"},
	} {
		r := ok(t, tarn(t, dir, "--data", data, "query", "--format", "csv", c.sql))
		if r.stdout != c.want {
			t.Errorf("%s: stdout %q, want %q", c.sql, r.stdout, c.want)
		}
	}
	// A script mixing both opens everything for all its statements.
	script := filepath.Join(dir, "mixed.sql")
	if err := os.WriteFile(script, []byte("SELECT 3 AS three;\nSELECT v + 1 AS w FROM w1;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := ok(t, tarn(t, dir, "--data", data, "query", "--format", "csv", "-f", script)); r.stdout != "three\n3\nw\n43\n" {
		t.Errorf("mixed script: stdout %q", r.stdout)
	}
	hist := ok(t, tarn(t, dir, "--data", data, "query", "history", "--limit", "20"))
	for _, want := range []string{"SELECT 1 + 1 AS two", "SELECT v FROM w1", "SELECT nvl(NULL, 7) AS n", "SELECT 3 AS three"} {
		if !strings.Contains(hist.stdout, want) {
			t.Errorf("history lacks %q:\n%s", want, hist.stdout)
		}
	}
	if strings.Contains(hist.stdout, "RUNNING") || strings.Count(hist.stdout, "SUCCEEDED") < 9 {
		t.Errorf("history states:\n%s", hist.stdout)
	}
}

// TestMetadataOnlyCommandsExist: a misspelt entry would quietly open the
// whole lake again.
func TestMetadataOnlyCommandsExist(t *testing.T) {
	root := newRoot()
	for path := range metadataOnly {
		c, _, err := root.Find(strings.Fields(path)[1:])
		if err != nil || c.CommandPath() != path {
			t.Errorf("%q is not a command (%v)", path, err)
		}
	}
}
