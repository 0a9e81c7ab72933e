package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeploySalesExample applies examples/sales/tarn.yaml twice, plans it,
// drops a file and runs the workflow it defines, and exports the lake.
func TestDeploySalesExample(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	example, err := filepath.Abs("../../examples/sales/tarn.yaml")
	if err != nil {
		t.Fatal(err)
	}
	first := ok(t, tarn(t, dir, "--data", data, "apply", "-f", example))
	for _, want := range []string{"+ bucket lake (created)", "+ table etl_pipeline_db.sales (created)", "+ job sales_to_curated (created)",
		"+ trigger on_new_sales (created)", "+ alarm sales_pipeline_failed (created)", "access key sales-loader-dev: access_key_id TK",
		"Applied: 12 created"} {
		if !strings.Contains(first.stdout, want) {
			t.Errorf("first apply lacks %q:\n%s", want, first.stdout)
		}
	}
	second := ok(t, tarn(t, dir, "--data", data, "apply", "-f", example))
	if !strings.Contains(second.stdout, "No changes") || strings.Contains(second.stdout, "secret_access_key") {
		t.Errorf("second apply:\n%s", second.stdout)
	}
	if p := ok(t, tarn(t, dir, "--data", data, "plan", "-f", example)); !strings.Contains(p.stdout, "No changes") {
		t.Errorf("plan after apply:\n%s", p.stdout)
	}

	// The pipeline runs: a file arrives, the workflow crawls, transforms, queries.
	sample, _ := filepath.Abs("../../examples/sales/data/sales_2025-01.csv")
	ok(t, tarn(t, dir, "--data", data, "cp", sample, "s3://lake/raw/sales/"))
	ok(t, tarn(t, dir, "--data", data, "workflow", "start", "sales_pipeline"))
	if r := ok(t, tarn(t, dir, "--data", data, "workflow", "runs", "sales_pipeline")); !strings.Contains(r.stdout, "crawl:SUCCEEDED etl:SUCCEEDED revenue_by_region:SUCCEEDED") {
		t.Errorf("runs:\n%s", r.stdout)
	}
	if q := ok(t, tarn(t, dir, "--data", data, "query", "--format", "csv", "SELECT count(*) AS n FROM curated_db.sales")); q.stdout != "n\n20\n" {
		t.Errorf("curated rows: %q", q.stdout)
	}
	// The crawler took the table over; the file still matches the lake.
	if p := ok(t, tarn(t, dir, "--data", data, "plan", "-f", example)); !strings.Contains(p.stdout, "No changes") {
		t.Errorf("plan after a run:\n%s", p.stdout)
	}

	// A parameter that is not allowed, and one that is not declared.
	if r := tarn(t, dir, "--data", data, "plan", "-f", example, "--param", "env=qa"); r.code == 0 || !strings.Contains(r.stderr, `tarn.yaml:17: parameters.env: "qa" is not one of the allowed values dev, staging, prod`) {
		t.Errorf("bad param: %+v", r)
	}
	if r := tarn(t, dir, "--data", data, "plan", "-f", example, "--param", "region=eu"); r.code == 0 || !strings.Contains(r.stderr, `--param region: the file declares no parameter "region"`) {
		t.Errorf("unknown param: %+v", r)
	}

	// Export, then apply the export: nothing changes.
	exported := filepath.Join(dir, "exported.yaml")
	ok(t, tarn(t, dir, "--data", data, "export", "--name", "sales-dev", "-o", exported))
	if r := ok(t, tarn(t, dir, "--data", data, "apply", "-f", exported)); !strings.Contains(r.stdout, "No changes") {
		t.Errorf("apply of the export:\n%s", r.stdout)
	}
	b, _ := os.ReadFile(exported)
	if !strings.Contains(string(b), "FROM etl_pipeline_db.sales") {
		t.Errorf("export:\n%s", b)
	}
}

// TestDeploySalesAfterQuickstart: the sales example applied to the lake
// quickstart made plans no destructive step (no replace, delete, or
// database kept back with a drop suggested): the databases the crawler made
// get their descriptions in place and keep their tables.
func TestDeploySalesAfterQuickstart(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	example, err := filepath.Abs("../../examples/sales/tarn.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ok(t, tarn(t, dir, "--data", data, "quickstart"))
	p := ok(t, tarn(t, dir, "--data", data, "plan", "-f", example))
	for _, want := range []string{"~ database etl_pipeline_db", `description: "created by crawler raw_crawler" -> "Raw zone tables, kept up to date by raw_sales_crawler"`,
		"~ database curated_db", "0 to delete"} {
		if !strings.Contains(p.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, p.stdout)
		}
	}
	for _, line := range strings.Split(p.stdout, "\n") {
		// Resource lines are indented by two spaces (field diffs deeper).
		if strings.HasPrefix(line, "  -/+ ") || strings.HasPrefix(line, "  - ") || strings.HasPrefix(line, "  ! ") || strings.Contains(line, "drop") || strings.Contains(line, "re-create") {
			t.Errorf("destructive step planned: %q\n%s", line, p.stdout)
		}
	}
	a := ok(t, tarn(t, dir, "--data", data, "apply", "-f", example))
	if !strings.Contains(a.stdout, "~ database etl_pipeline_db (updated in place") || !strings.Contains(a.stdout, "0 replaced, 0 deleted") {
		t.Errorf("apply:\n%s", a.stdout)
	}
	if r := ok(t, tarn(t, dir, "--data", data, "catalog", "databases")); !strings.Contains(r.stdout, "Raw zone tables, kept up to date by raw_sales_crawler") {
		t.Errorf("databases after apply:\n%s", r.stdout)
	}
	if r := ok(t, tarn(t, dir, "--data", data, "catalog", "tables", "etl_pipeline_db")); !strings.Contains(r.stdout, "orders") || !strings.Contains(r.stdout, "sales") {
		t.Errorf("the quickstart's tables after apply:\n%s", r.stdout)
	}
	if r := ok(t, tarn(t, dir, "--data", data, "plan", "-f", example)); !strings.Contains(r.stdout, "No changes") {
		t.Errorf("plan after apply:\n%s", r.stdout)
	}
}
