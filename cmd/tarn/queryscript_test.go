package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQueryScriptSplitsAsDuckDB runs the scripts issue 13 found split
// wrongly by `tarn query -f`: a backslash ends no string, and a
// dollar-quoted string hides its ';'.
func TestQueryScriptSplitsAsDuckDB(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	script := filepath.Join(dir, "q.sql")
	os.WriteFile(script, []byte("SELECT 'C:\\' AS p; SELECT $$a;b$$ AS s;\n-- done\n"), 0o644)
	r := ok(t, tarn(t, dir, "--data", data, "query", "-f", script, "--format", "csv"))
	if r.stdout != "p\nC:\\\ns\na;b\n" {
		t.Errorf("script output: %q", r.stdout)
	}
	if n := strings.Count(r.stderr, "SUCCEEDED"); n != 2 {
		t.Errorf("%d statements succeeded, want 2: %s", n, r.stderr)
	}
}
