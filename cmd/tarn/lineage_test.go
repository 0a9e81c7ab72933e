package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `tarn catalog lineage` prints what the quickstart's crawler and job wrote,
// the same on the files and through a server, and a key that may not read
// a table learns nothing of its lineage.
func TestCatalogLineage(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	run := func(env []string, args ...string) result {
		t.Helper()
		return tarnEnv(t, dir, env, append([]string{"--data", data}, args...)...)
	}
	ok(t, run(nil, "quickstart"))
	local := ok(t, run(nil, "catalog", "lineage", "curated_db.sales"))
	for _, want := range []string{
		"curated_db.sales\n  written by job.sales_to_curated (job), run jr-",
		"upstream (written from):\n  └─ etl_pipeline_db.sales\n       written by crawler.raw_crawler (crawler), run cr-",
		"\n     └─ s3://lake/raw/sales/\ndownstream",
		"downstream (written from it): nothing recorded",
	} {
		if !strings.Contains(local.stdout, want) {
			t.Errorf("lineage lacks %q:\n%s", want, local.stdout)
		}
	}
	up := ok(t, run(nil, "catalog", "lineage", "etl_pipeline_db.sales", "--downstream", "--depth", "1"))
	if !strings.Contains(up.stdout, "downstream (written from it):\n  └─ curated_db.sales\n") || strings.Contains(up.stdout, "upstream") {
		t.Errorf("--downstream:\n%s", up.stdout)
	}
	var g struct {
		Nodes []struct {
			Dataset struct{ Namespace, Name string }
			Write   *struct {
				RunID string `json:"run_id"`
				Rows  int64
			}
		}
		Events []json.RawMessage
	}
	js := ok(t, run(nil, "catalog", "lineage", "curated_db.sales", "--upstream", "--json", "--events", "3"))
	if err := json.Unmarshal([]byte(js.stdout), &g); err != nil || len(g.Nodes) != 3 || g.Nodes[2].Write == nil || g.Nodes[2].Write.Rows <= 0 || len(g.Events) != 1 {
		t.Fatalf("--json: %v\n%s", err, js.stdout)
	}
	if r := run(nil, "catalog", "lineage", "curated_db"); r.code == 0 || !strings.Contains(r.stderr, "DATABASE.TABLE") {
		t.Errorf("no table: %+v", r)
	}

	_, api := startServe(t, dir, data)
	remote := ok(t, run(nil, "catalog", "lineage", "curated_db.sales"))
	if !strings.Contains(remote.stderr, "via "+api) || remote.stdout != local.stdout {
		t.Errorf("through the server:\n%s\n%s\nwant\n%s", remote.stderr, remote.stdout, local.stdout)
	}
	remoteJS := ok(t, run(nil, "catalog", "lineage", "curated_db.sales", "--upstream", "--json", "--events", "3"))
	if remoteJS.stdout != js.stdout {
		t.Errorf("--json through the server:\n%s\nwant\n%s", remoteJS.stdout, js.stdout)
	}

	// A key that may read curated_db but not the raw tables: the source is
	// hidden; the raw table's own lineage is refused.
	pol := filepath.Join(dir, "p.json")
	os.WriteFile(pol, []byte(`{"Statement": [{"Effect": "Allow", "Action": "glue:GetTable", "Resource": "arn:aws:glue:*:*:table/curated_db/*"}]}`), 0o644)
	r := ok(t, run(nil, "keys", "create", "curated-reader", "--policy", pol))
	id := strings.TrimSpace(strings.SplitN(strings.SplitN(r.stdout, "AWS_ACCESS_KEY_ID=", 2)[1], "\n", 2)[0])
	secret := strings.TrimSpace(strings.SplitN(strings.SplitN(r.stdout, "AWS_SECRET_ACCESS_KEY=", 2)[1], "\n", 2)[0])
	env := []string{"TARN_ACCESS_KEY_ID=" + id, "TARN_SECRET_ACCESS_KEY=" + secret}
	other := filepath.Join(dir, "elsewhere")
	limited := ok(t, tarnEnv(t, dir, env, "--data", other, "--server", api, "catalog", "lineage", "curated_db.sales"))
	if !strings.Contains(limited.stdout, "└─ (a dataset you may not read)\n") || strings.Contains(limited.stdout, "etl_pipeline_db") || strings.Contains(limited.stdout, "raw_crawler") {
		t.Errorf("limited key sees:\n%s", limited.stdout)
	}
	if r := tarnEnv(t, dir, env, "--data", other, "--server", api, "catalog", "lineage", "etl_pipeline_db.sales"); r.code == 0 || !strings.Contains(r.stderr, "AccessDenied") || strings.Contains(r.stdout, "curated") {
		t.Errorf("limited key on the raw table: %+v", r)
	}
}
