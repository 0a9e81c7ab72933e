package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestWorkgroupLimitFlags: the query timeout and result cap the REST API
// takes are set, kept by updates that do not name them, and applied.
func TestWorkgroupLimitFlags(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	ok(t, tarn(t, dir, "--data", data, "quickstart"))
	ok(t, tarn(t, dir, "--data", data, "workgroup", "create", "capped", "--max-result-rows", "2", "--query-timeout-seconds", "600"))
	r := tarn(t, dir, "--data", data, "query", "--workgroup", "capped", "SELECT * FROM etl_pipeline_db.orders")
	if r.code == 0 || !strings.Contains(r.stderr, `max_result_rows of workgroup "capped"`) {
		t.Fatalf("a result over the cap: %+v", r)
	}
	ok(t, tarn(t, dir, "--data", data, "workgroup", "update", "capped", "--query-timeout-seconds", "1"))
	if r := ok(t, tarn(t, dir, "--data", data, "workgroup", "list")).stdout; !strings.Contains(r, "query_timeout_seconds") || !strings.Contains(r, "capped") {
		t.Fatalf("list: %s", r)
	} else {
		for _, line := range strings.Split(r, "\n") {
			f := strings.Split(line, "|")
			if strings.TrimSpace(f[0]) == "capped" && (strings.TrimSpace(f[len(f)-2]) != "1" || strings.TrimSpace(f[len(f)-1]) != "2") {
				t.Fatalf("capped listed as %q, want timeout 1 and the cap 2 kept", line)
			}
		}
	}
	r = tarn(t, dir, "--data", data, "query", "--workgroup", "capped", "SELECT count(*) FROM range(10000000000) a, range(1000) b")
	if r.code == 0 || !strings.Contains(r.stderr, `query timeout of workgroup "capped"`) {
		t.Fatalf("a query over the timeout: %+v", r)
	}
}
