package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSkippedFilesShown: a file the crawler could not read is listed under
// the table by `tarn catalog table`, the same with and without a server,
// and queries read the other files.
func TestSkippedFilesShown(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	for name, body := range map[string]string{"good.json": `{"a": 1}` + "\n", "bad.json": `{"a": 2` + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) result {
		t.Helper()
		return tarn(t, dir, append([]string{"--data", data}, args...)...)
	}
	ok(t, run("mb", "s3://lake"))
	ok(t, run("cp", "good.json", "s3://lake/raw/t/good.json"))
	ok(t, run("cp", "bad.json", "s3://lake/raw/t/bad.json"))
	ok(t, run("crawler", "create", "c", "--database", "db", "--path", "s3://lake/raw/"))
	ok(t, run("crawler", "start", "c"))
	local := ok(t, run("catalog", "table", "db.t")).stdout
	if !strings.Contains(local, "-- 1 file(s) under the location are not read") || !strings.Contains(local, "--   s3://lake/raw/t/bad.json: ") {
		t.Fatalf("catalog table does not show the skipped file:\n%s", local)
	}
	if got := ok(t, run("query", "--format", "csv", "SELECT sum(a) FROM db.t")).stdout; strings.TrimSpace(got) != "sum(a)\n1" && !strings.HasSuffix(strings.TrimSpace(got), "\n1") {
		t.Fatalf("query over the readable file: %q", got)
	}
	_, api := startServe(t, dir, data)
	remote := run("catalog", "table", "db.t")
	for i := 0; i < 100 && !strings.Contains(remote.stderr, "via "+api); i++ {
		// serve.json is written just after the address is printed.
		remote = run("catalog", "table", "db.t")
	}
	if !strings.Contains(remote.stderr, "via "+api) {
		t.Fatalf("the CLI did not go through the server: %q", remote.stderr)
	}
	if remote.stdout != local {
		t.Fatalf("through the server:\n%s\nwithout:\n%s", remote.stdout, local)
	}
}
