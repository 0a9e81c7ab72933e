package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWorkflowRunsThroughServer: tarn workflow runs without a name (as the
// README shows it) lists every workflow's runs, and prints the same through
// a server as on the files; so does tarn trigger list, whose "last fired"
// is the time an on-demand trigger fired.
func TestWorkflowRunsThroughServer(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	run := func(args ...string) result {
		t.Helper()
		return tarnEnv(t, dir, nil, append([]string{"--data", data}, args...)...)
	}
	stack := filepath.Join(dir, "tarn.yaml")
	if err := os.WriteFile(stack, []byte(`name: runs
buckets:
  - name: lake
workflows:
  - name: hello
    steps:
      - {name: one, sql: "SELECT 1 AS n"}
  - name: runs
    steps:
      - {name: two, sql: "SELECT 2 AS n"}
triggers:
  - {name: by_hand, type: ON_DEMAND, workflow: hello}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	ok(t, run("apply", "-f", stack))
	if r := ok(t, run("trigger", "list")); cell(t, r.stdout, "by_hand", "last fired") != "-" {
		t.Errorf("a trigger that never fired shows a last firing:\n%s", r.stdout)
	}
	ok(t, run("workflow", "start", "runs"))
	ok(t, run("trigger", "start", "by_hand"))
	local := ok(t, run("workflow", "runs"))
	if strings.Count(local.stdout, "| SUCCEEDED |") != 2 || !strings.Contains(local.stdout, "hello") || !strings.Contains(local.stdout, "by_hand") {
		t.Fatalf("workflow runs on the files:\n%s", local.stdout)
	}
	triggers := ok(t, run("trigger", "list"))
	if cell(t, triggers.stdout, "by_hand", "last fired") == "-" {
		t.Errorf("trigger list after trigger start shows no last firing:\n%s", triggers.stdout)
	}
	named := ok(t, run("workflow", "runs", "runs"))

	startServe(t, dir, data)
	waitServeJSON(t, data)
	for _, c := range []struct {
		args []string
		want result
	}{{[]string{"workflow", "runs"}, local}, {[]string{"workflow", "runs", "runs"}, named}, {[]string{"trigger", "list"}, triggers}} {
		r := ok(t, run(c.args...))
		if !strings.Contains(r.stderr, "via http://127.0.0.1:") {
			t.Errorf("%v did not go through the server: %q", c.args, r.stderr)
		}
		if r.stdout != c.want.stdout {
			t.Errorf("%v prints differently through the server:\n%s\nthan on the files:\n%s", c.args, r.stdout, c.want.stdout)
		}
	}
}

// waitServeJSON waits for the serve.json a starting server writes just after
// it prints its addresses.
func waitServeJSON(t *testing.T, data string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(data, "serve.json")); err == nil {
			return
		}
	}
	t.Fatal("the server wrote no serve.json")
}

// cell returns a column of the row of a printed table whose first cell is
// row.
func cell(t *testing.T, table, row, column string) string {
	t.Helper()
	lines := strings.Split(table, "\n")
	var header []string
	for i, l := range lines {
		cells := strings.Split(l, "|")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		if i == 0 {
			header = cells
			continue
		}
		if cells[0] == row {
			for j, h := range header {
				if h == column && j < len(cells) {
					return cells[j]
				}
			}
		}
	}
	t.Fatalf("no column %q of row %q in\n%s", column, row, table)
	return ""
}

// TestJobCrawlerUpdateCLI: tarn job update and tarn crawler update change
// only the fields given, on the files and through a server; the job keeps
// its runs and bookmarks and its SQL is checked as at create.
func TestJobCrawlerUpdateCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	run := func(args ...string) result {
		t.Helper()
		return tarnEnv(t, dir, nil, append([]string{"--data", data}, args...)...)
	}
	for _, args := range [][]string{{"job", "updte", "x"}, {"crawler", "updat", "x"}} {
		if r := run(args...); r.code == 0 || !strings.Contains(r.stderr, "did you mean update?") {
			t.Errorf("tarn %v: %+v", args, r)
		}
	}
	ok(t, run("quickstart"))
	before := ok(t, run("job", "get", "sales_to_curated")).stdout
	r := ok(t, run("job", "update", "sales_to_curated", "--max-retries", "2", "--description", "sales, curated"))
	if !strings.Contains(r.stdout, "job sales_to_curated updated (description, max-retries)") {
		t.Errorf("job update: %q", r.stdout)
	}
	after := ok(t, run("job", "get", "sales_to_curated")).stdout
	for _, want := range []string{`"max_retries": 2`, `"description": "sales, curated"`, `"bookmarks": true`, `"partition_by": [`, `"run_as": "(admin)"`} {
		if !strings.Contains(after, want) {
			t.Errorf("after update, job get lacks %s:\n%s", want, after)
		}
	}
	if sqlOf := func(s string) string { return s[strings.Index(s, `"sql"`):strings.Index(s, `"target"`)] }; sqlOf(before) != sqlOf(after) {
		t.Errorf("the SQL changed:\n%s\n%s", before, after)
	}
	// The bookmark stayed: a new run reads nothing; the first run stayed.
	if r := ok(t, run("job", "start", "sales_to_curated")); !strings.Contains(r.stdout, "rows: read 0 = written 0") {
		t.Errorf("run after update re-read the files:\n%s", r.stdout)
	}
	if r := ok(t, run("job", "runs", "sales_to_curated")); strings.Count(r.stdout, "SUCCEEDED") != 2 {
		t.Errorf("runs after update:\n%s", r.stdout)
	}
	// Checked as at create: a bad column fails, and changes nothing.
	if r := run("job", "update", "sales_to_curated", "--sql", "SELECT nope FROM etl_pipeline_db.sales"); r.code == 0 || !strings.Contains(r.stderr, "nope") {
		t.Errorf("update with bad SQL: %+v", r)
	}
	if r := run("job", "update", "sales_to_curated"); r.code == 0 || !strings.Contains(r.stderr, "give the fields to change") {
		t.Errorf("update without flags: %+v", r)
	}
	if r := run("job", "update", "nope", "--max-retries", "1"); r.code == 0 || !strings.Contains(r.stderr, "no such job") {
		t.Errorf("update of a missing job: %+v", r)
	}
	if r := run("job", "update", "sales_to_curated", "--max-retris", "1"); r.code == 0 || !strings.Contains(r.stderr, "did you mean --max-retries?") {
		t.Errorf("a mistyped flag: %+v", r)
	}
	ok(t, run("crawler", "update", "raw_crawler", "--description", "raw zone", "--schema-change", "log"))
	if r := ok(t, run("crawler", "get", "raw_crawler")); !strings.Contains(r.stdout, `"Description": "raw zone"`) || !strings.Contains(r.stdout, `"SchemaChangePolicy": "log"`) ||
		!strings.Contains(r.stdout, `"s3://lake/raw/"`) {
		t.Errorf("crawler after update:\n%s", r.stdout)
	}

	// Through a server: the same commands, through PUT.
	startServe(t, dir, data)
	waitServeJSON(t, data)
	r = ok(t, run("job", "update", "sales_to_curated", "--arg", "day=2025-01-02", "--max-retries", "1"))
	if !strings.Contains(r.stderr, "via http://127.0.0.1:") {
		t.Errorf("job update did not go through the server: %q", r.stderr)
	}
	if after := ok(t, run("job", "get", "sales_to_curated")).stdout; !strings.Contains(after, `"max_retries": 1`) || !strings.Contains(after, `"day": "2025-01-02"`) ||
		!strings.Contains(after, `"description": "sales, curated"`) {
		t.Errorf("job after an update through the server:\n%s", after)
	}
	if r := run("job", "update", "sales_to_curated", "--sql", "SELECT nope FROM etl_pipeline_db.sales"); r.code == 0 || !strings.Contains(r.stderr, "nope") {
		t.Errorf("update with bad SQL through the server: %+v", r)
	}
	ok(t, run("crawler", "update", "raw_crawler", "--schema-change", "update"))
	if r := ok(t, run("crawler", "get", "raw_crawler")); !strings.Contains(r.stdout, `"Description": "raw zone"`) || !strings.Contains(r.stdout, `"SchemaChangePolicy": "update"`) {
		t.Errorf("crawler after an update through the server:\n%s", r.stdout)
	}
}
