package deploy

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
)

// testConfig is a lake in a temp folder with its metadata on the backend
// TARN_TEST_META names (metatest).
func testConfig(t *testing.T) lake.Config {
	cfg := lake.DefaultConfig(t.TempDir())
	cfg.Meta = metatest.Config(t, cfg.Meta.Path)
	return cfg
}

// testLake opens a real lake (SQLite, DuckDB, local objects) in a temp dir.
func testLake(t *testing.T) (*lake.Lake, *Deployer) {
	t.Helper()
	ctx := context.Background()
	l, err := lake.Open(ctx, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	d, err := New(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	return l, d
}

const pipelineYAML = `name: sales-${env}
parameters:
  env: dev
buckets:
  - name: lake
databases:
  - name: raw
    tables:
      - name: sales
        location: s3://lake/raw/sales/
        format: csv
        format_options: {header: "true", delimiter: ","}
        columns:
          - {name: id, type: string}
          - {name: region, type: string}
          - {name: amount, type: double}
  - name: curated
workgroups:
  - name: analysts
    bytes_scanned_cutoff: 1GiB
access_keys:
  - name: loader-${env}
    policy:
      Statement:
        - {Effect: Allow, Action: "s3:PutObject", Resource: "arn:aws:s3:::lake/raw/*"}
crawlers:
  - name: raw_crawler
    database: raw
    targets: ["s3://lake/raw/sales/"]
jobs:
  - name: sales_etl
    sql_file: etl.sql
    target: s3://lake/curated/sales/
    partition_by: [region]
    table: curated.sales
    bookmarks: true
workflows:
  - name: pipeline
    steps:
      - crawler: raw_crawler
      - job: sales_etl
        depends_on: [raw_crawler]
triggers:
  - name: on_upload
    workflow: pipeline
    prefix: s3://lake/raw/sales/
  - name: daily
    workflow: pipeline
    schedule: cron(0 6 * * ? *)
alarms:
  - name: pipeline_failed
    rule: workflow_failed
    target: pipeline
`

func writeStack(t *testing.T, dir, yaml, sql string) string {
	t.Helper()
	path := filepath.Join(dir, "tarn.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etl.sql"), []byte(sql), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func plan(t *testing.T, d *Deployer, path string, params map[string]string, opts Options) *Plan {
	t.Helper()
	f, err := Load(path, params)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Plan(context.Background(), f, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func apply(t *testing.T, d *Deployer, p *Plan) (Result, string) {
	t.Helper()
	var out bytes.Buffer
	res, err := d.Apply(context.Background(), p, &out)
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, out.String())
	}
	return res, out.String()
}

func render(p *Plan) string {
	var b bytes.Buffer
	p.Write(&b)
	return b.String()
}

const etlSQL = "SELECT id, region, amount FROM raw.sales\n"

func TestPlanApplyIdempotentUpdateInPlace(t *testing.T) {
	ctx := context.Background()
	l, d := testLake(t)
	dir := t.TempDir()
	path := writeStack(t, dir, pipelineYAML, etlSQL)

	p := plan(t, d, path, nil, Options{})
	if c, u, del := p.Counts(); c != 12 || u != 0 || del != 0 {
		t.Fatalf("first plan %d/%d/%d:\n%s", c, u, del, render(p))
	}
	res, out := apply(t, d, p)
	if res.Created != 12 || len(res.Keys) != 1 || res.Keys[0].Name != "loader-dev" || len(res.Keys[0].SecretAccessKey) != 40 {
		t.Fatalf("first apply %+v\n%s", res, out)
	}

	// A second plan and apply change nothing.
	p = plan(t, d, path, nil, Options{})
	if !p.Empty() || !strings.Contains(render(p), "No changes") {
		t.Fatalf("second plan:\n%s", render(p))
	}
	if res, _ := apply(t, d, p); res.Created+res.Updated+res.Replaced+res.Deleted != 0 || len(res.Keys) != 0 {
		t.Fatalf("second apply %+v", res)
	}

	// Data arrives and the job runs: it has a run and a bookmark.
	csv := "id,region,amount\n1,North,10.5\n2,South,3\n"
	if _, err := l.Store.Put(ctx, "lake", "raw/sales/a.csv", strings.NewReader(csv), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	run, err := l.Jobs.Start(ctx, "sales_etl", jobs.StartOptions{})
	if err != nil || run.State != jobs.StateSucceeded {
		t.Fatalf("job run %+v %v", run, err)
	}

	// A changed SQL (and description) is an update in place.
	path = writeStack(t, dir, strings.Replace(pipelineYAML, "bookmarks: true", "bookmarks: true\n    description: with amounts", 1),
		"SELECT id, region, amount * 2 AS amount FROM raw.sales\n")
	p = plan(t, d, path, nil, Options{})
	text := render(p)
	for _, want := range []string{"~ job sales_etl", "- SELECT id, region, amount FROM raw.sales", "+ SELECT id, region, amount * 2 AS amount FROM raw.sales",
		`description: (none) -> "with amounts"`, "Plan: 0 to create, 1 to change, 0 to delete."} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q:\n%s", want, text)
		}
	}
	if res, out := apply(t, d, p); res.Updated != 1 || !strings.Contains(out, "~ job sales_etl (updated in place)") {
		t.Fatalf("update %+v\n%s", res, out)
	}
	spec, _ := l.Jobs.Get(ctx, "sales_etl")
	if !strings.Contains(spec.SQL, "amount * 2") || spec.SQLFile != "etl.sql" {
		t.Errorf("job not updated: %+v", spec)
	}
	if runs, _ := l.Jobs.Runs(ctx, "sales_etl"); len(runs) != 1 {
		t.Errorf("runs lost: %d", len(runs))
	}
	if bms, _ := l.Jobs.Bookmarks(ctx, "sales_etl"); len(bms) == 0 {
		t.Error("bookmarks lost")
	}
	if !plan(t, d, path, nil, Options{}).Empty() {
		t.Error("not converged after update")
	}

	// A trigger disabled in the file is disabled; the key's policy changes in place.
	y := strings.Replace(pipelineYAML, "    schedule: cron(0 6 * * ? *)", "    schedule: cron(0 7 * * ? *)\n    enabled: false", 1)
	y = strings.Replace(y, `"arn:aws:s3:::lake/raw/*"`, `"arn:aws:s3:::lake/raw/sales/*"`, 1)
	path = writeStack(t, dir, y, etlSQL)
	p = plan(t, d, path, nil, Options{})
	text = render(p)
	for _, want := range []string{"~ trigger daily", `enabled: "true" -> "false"`, `schedule: "cron(0 6 * * ? *)" -> "cron(0 7 * * ? *)"`,
		"~ access_key loader-dev", `policy.Statement[0].Resource: "[arn:aws:s3:::lake/raw/*]" -> "[arn:aws:s3:::lake/raw/sales/*]"`} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q:\n%s", want, text)
		}
	}
	keysBefore, _ := l.Auth.ListKeys(ctx)
	apply(t, d, p)
	tr, _ := l.Workflows.GetTrigger(ctx, "daily")
	if tr.Enabled || tr.Schedule != "cron(0 7 * * ? *)" {
		t.Errorf("trigger %+v", tr)
	}
	keysAfter, _ := l.Auth.ListKeys(ctx)
	if len(keysAfter) != len(keysBefore) || keysAfter[len(keysAfter)-1].AccessKeyID != keysBefore[len(keysBefore)-1].AccessKeyID {
		t.Errorf("key re-created instead of updated: %+v -> %+v", keysBefore, keysAfter)
	}
	if !plan(t, d, path, nil, Options{}).Empty() {
		t.Error("not converged")
	}

	// A workgroup is changed in place.
	y = strings.Replace(y, "bytes_scanned_cutoff: 1GiB", "bytes_scanned_cutoff: 2GiB", 1)
	path = writeStack(t, dir, y, etlSQL)
	p = plan(t, d, path, nil, Options{})
	if text := render(p); !strings.Contains(text, "~ workgroup analysts") || !strings.Contains(text, `bytes_scanned_cutoff: "1073741824" -> "2147483648"`) {
		t.Errorf("workgroup plan:\n%s", text)
	}
	before, _ := l.Query.Workgroup(ctx, "analysts")
	apply(t, d, p)
	if w, _ := l.Query.Workgroup(ctx, "analysts"); w.BytesScannedCutoff != 2<<30 || !w.CreatedAt.Equal(before.CreatedAt) {
		t.Errorf("workgroup %+v (before %+v)", w, before)
	}
}

func TestExportRoundTrip(t *testing.T) {
	ctx := context.Background()
	l, d := testLake(t)
	dir := t.TempDir()
	apply(t, d, plan(t, d, writeStack(t, dir, pipelineYAML, etlSQL), nil, Options{}))
	// Something made by hand, outside any stack, with a "${" in it.
	if err := l.Query.CreateWorkgroup(ctx, query.Workgroup{Name: "adhoc", Description: "costs ${dollars}"}); err != nil {
		t.Fatal(err)
	}

	out, skipped, err := d.Export(ctx, "sales-dev")
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 0 {
		t.Errorf("skipped %v", skipped)
	}
	text := string(out)
	for _, want := range []string{"name: sales-dev", "sql: |", "partition_by: [region]", "bytes_scanned_cutoff: 1GiB",
		"schedule: cron(0 6 * * ? *)", "costs $${dollars}", "- name: loader-dev"} {
		if !strings.Contains(text, want) {
			t.Errorf("export lacks %q:\n%s", want, text)
		}
	}
	for _, bad := range []string{"secret", "TK", "format: parquet", "timeout:", "enabled:", "created_at"} {
		if strings.Contains(text, bad) {
			t.Errorf("export has %q:\n%s", bad, text)
		}
	}
	path := filepath.Join(t.TempDir(), "exported.yaml")
	os.WriteFile(path, out, 0o644)
	p := plan(t, d, path, nil, Options{})
	if !p.Empty() {
		t.Fatalf("export -> plan is not a no-op:\n%s", render(p))
	}
	if text := render(p); !strings.Contains(text, "= workgroup adhoc") {
		t.Errorf("the hand-made workgroup is not adopted:\n%s", text)
	}
	apply(t, d, p)
	// Exported again: the same file.
	again, _, _ := d.Export(ctx, "sales-dev")
	if string(again) != string(out) {
		t.Errorf("second export differs:\n%s\n---\n%s", out, again)
	}
	// Another stack name leaves this stack's resources out.
	other, skipped, _ := d.Export(ctx, "other")
	if strings.Contains(string(other), "sales_etl") || len(skipped) < 10 {
		t.Errorf("other stack export:\n%s\nskipped %v", other, skipped)
	}
}

func TestDeletionRule(t *testing.T) {
	ctx := context.Background()
	l, d := testLake(t)
	dir := t.TempDir()
	apply(t, d, plan(t, d, writeStack(t, dir, pipelineYAML, etlSQL), nil, Options{}))
	// Made by hand: never deleted by apply.
	if err := l.Catalog.CreateDatabase(ctx, catalog.Database{Name: "scratch"}, false); err != nil {
		t.Fatal(err)
	}
	if err := l.Store.CreateBucket(ctx, "handmade"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Store.Put(ctx, "lake", "raw/sales/a.csv", strings.NewReader("id,region,amount\n1,N,1\n"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}

	// Everything but the name: the stack's resources are deleted in reverse
	// order, except the bucket with objects and the database with tables.
	path := writeStack(t, dir, "name: sales-${env}\nparameters:\n  env: dev\n", etlSQL)
	p := plan(t, d, path, nil, Options{})
	text := render(p)
	order := []string{"- alarm pipeline_failed", "- trigger daily", "- trigger on_upload", "- workflow pipeline", "- job sales_etl",
		"- crawler raw_crawler", "- access_key loader-dev", "- workgroup analysts", "- database curated", "! database raw", "! bucket lake"}
	last := -1
	for _, want := range order {
		i := strings.Index(text, want)
		if i < 0 || i < last {
			t.Errorf("plan lacks %q in order:\n%s", want, text)
		}
		last = i
	}
	if strings.Contains(text, "scratch") || strings.Contains(text, "handmade") {
		t.Errorf("plan deletes unmanaged resources:\n%s", text)
	}
	res, out := apply(t, d, p)
	if res.Deleted != 9 || res.Kept != 2 {
		t.Fatalf("apply %+v\n%s", res, out)
	}
	if _, err := l.Jobs.Get(ctx, "sales_etl"); !errors.Is(err, jobs.ErrNoSuchJob) {
		t.Errorf("job not deleted: %v", err)
	}
	if _, err := l.Catalog.GetDatabase(ctx, "scratch"); err != nil {
		t.Errorf("unmanaged database deleted: %v", err)
	}
	if _, err := l.Store.HeadBucket(ctx, "lake"); err != nil {
		t.Errorf("bucket with objects deleted: %v", err)
	}
	// With --delete-data they go, data and all.
	p = plan(t, d, path, nil, Options{DeleteData: true})
	if res, out := apply(t, d, p); res.Deleted != 2 {
		t.Fatalf("apply --delete-data %+v\n%s", res, out)
	}
	if _, err := l.Store.HeadBucket(ctx, "lake"); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Errorf("bucket kept: %v", err)
	}
	if m, _ := d.Managed(ctx); len(m) != 0 {
		t.Errorf("still managed: %+v", m)
	}
	if _, err := l.Store.HeadBucket(ctx, "handmade"); err != nil {
		t.Errorf("unmanaged bucket deleted: %v", err)
	}
}

func TestConflictsAndReferences(t *testing.T) {
	_, d := testLake(t)
	dir := t.TempDir()
	path := writeStack(t, dir, pipelineYAML, etlSQL)
	apply(t, d, plan(t, d, path, nil, Options{}))

	// The same resources under another stack name: a conflict at each name.
	f, err := Load(path, map[string]string{"env": "prod"})
	if err == nil {
		f.Name = "sales-prod"
		_, err = d.Plan(context.Background(), f, Options{})
	}
	if err == nil || !strings.Contains(err.Error(), path+":5: buckets[0].name: bucket \"lake\" is managed by another stack \"sales-dev\"") {
		t.Errorf("conflict: %v", err)
	}

	// A step naming a job that exists nowhere.
	other := filepath.Join(dir, "other.yaml")
	os.WriteFile(other, []byte("name: other\nworkflows:\n  - name: w\n    steps:\n      - job: nope\n"), 0o644)
	f, err = Load(other, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Plan(context.Background(), f, Options{})
	if err == nil || !strings.Contains(err.Error(), other+":5: workflows[0].steps[0].job: no job \"nope\" in this file or the lake") {
		t.Errorf("reference: %v", err)
	}
}

func TestApplyErrorPointsAtField(t *testing.T) {
	_, d := testLake(t)
	dir := t.TempDir()
	y := strings.Replace(pipelineYAML, "partition_by: [region]", "partition_by: [regio]", 1)
	path := writeStack(t, dir, y, etlSQL)
	var out bytes.Buffer
	_, err := d.Apply(context.Background(), plan(t, d, path, nil, Options{}), &out)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "jobs[0].partition_by" || fe.Line != 34 || !strings.Contains(fe.Msg, `no column "regio"`) {
		t.Fatalf("error %#v %v", fe, err)
	}
	// What was created before stays and is managed: the next apply goes on.
	y = strings.Replace(y, "[regio]", "[region]", 1)
	path = writeStack(t, dir, y, etlSQL)
	p := plan(t, d, path, nil, Options{})
	if c, _, _ := p.Counts(); c != 5 {
		t.Errorf("resume plan:\n%s", render(p))
	}
	apply(t, d, p)
}
