package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnknownCommandsFail: a mistyped command or flag exits non-zero and
// suggests the right name; a group command alone prints its help.
func TestUnknownCommandsFail(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"crawler", "bogus"}, `unknown command "bogus" for "tarn crawler"`},
		{[]string{"job", "strat", "x"}, "did you mean start?"},
		{[]string{"quey", "SELECT 1"}, "did you mean query?"},
		{[]string{"query", "--formt", "json", "SELECT 1"}, "did you mean --format?"},
	} {
		r := tarn(t, dir, append([]string{"--data", filepath.Join(dir, "lake")}, tc.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("tarn %v: exit %d, stderr %q; want non-zero and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if r := ok(t, tarn(t, dir, "job")); !strings.Contains(r.stdout, "Available Commands") {
		t.Errorf("tarn job: %q", r.stdout)
	}
}

// TestInitStatusVersion: init makes a lake without sample data, status says
// what the CLI talks to, --version names the versions, and a command on a
// missing bucket says how to make one.
func TestInitStatusVersion(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	run := func(args ...string) result {
		t.Helper()
		return tarn(t, dir, append([]string{"--data", data}, args...)...)
	}
	if r := ok(t, run("--version")); !strings.HasPrefix(r.stdout, "tarn ") || !strings.Contains(r.stdout, "DuckDB 1.") {
		t.Errorf("--version: %q", r.stdout)
	}
	if err := os.WriteFile(filepath.Join(dir, "x.csv"), []byte("a\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run("cp", "x.csv", "s3://lake/raw/x/"); r.code == 0 || !strings.Contains(r.stderr, "tarn init") {
		t.Errorf("cp to a missing bucket: exit %d, %q", r.code, r.stderr)
	}
	if r := ok(t, run("status")); !strings.Contains(r.stdout, "server       none") {
		t.Errorf("status without a server: %q", r.stdout)
	}
	ok(t, run("init"))
	if r := ok(t, run("ls", "s3://lake/")); strings.Count(r.stdout, "PRE ") != 4 {
		t.Errorf("zones after init: %q", r.stdout)
	}
	if r := ok(t, run("catalog", "databases")); strings.Contains(r.stdout, "etl_pipeline_db") {
		t.Errorf("init wrote the sample lake: %q", r.stdout)
	}
	ok(t, run("cp", "x.csv", "s3://lake/raw/x/"))
}

// TestOneServerPerDataFolder: a second tarn serve on the same data folder
// refuses to start and says which process serves it; the first keeps its
// serve.json, and status shows its endpoints.
func TestOneServerPerDataFolder(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	ok(t, tarn(t, dir, "--data", data, "init"))
	first, api := startServe(t, dir, data)
	var status result
	for i := 0; i < 200; i++ { // serve.json is written just after the address is printed
		if status = ok(t, tarn(t, dir, "--data", data, "status")); strings.Contains(status.stdout, api) {
			break
		}
	}
	if !strings.Contains(status.stdout, "REST API   "+api) || !strings.Contains(status.stdout, "running, pid") {
		t.Fatalf("status with a server: %q", status.stdout)
	}
	second := exec.Command(tarnBin, "--data", data, "serve", "--s3-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0")
	withMeta(t, second)
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another tarn serve uses this data folder") || !strings.Contains(string(out), api) {
		t.Fatalf("second serve: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(data, "serve.json")); err != nil {
		t.Fatalf("the second serve removed the first's serve.json: %v", err)
	}
	if first.ProcessState != nil {
		t.Fatal("the first server exited")
	}
}
