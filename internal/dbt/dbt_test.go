package dbt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The artifacts in testdata were written by dbt-core 1.11 with
// dbt-postgres against tarn (.ci/dbt-workflow.sh with TARN_DBT_TESTDATA):
// a write-audit-publish run of the guides' merge model after a
// duplicate-key replay, whose unique test failed.
func TestParseArtifacts(t *testing.T) {
	a, err := ReadArtifacts("testdata/wap_fail")
	if err == nil {
		t.Fatal("a folder without run_results.json must fail")
	}
	rr, err := os.ReadFile("testdata/wap_fail_run_results.json")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := os.ReadFile("testdata/wap_fail_manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	a, err = ParseArtifacts(rr, mf)
	if err != nil {
		t.Fatal(err)
	}
	if a.DBTVersion == "" || a.Command != "build" || a.InvocationID == "" {
		t.Errorf("metadata: %q %q %q", a.DBTVersion, a.Command, a.InvocationID)
	}
	var got []string
	for _, n := range a.Nodes {
		got = append(got, fmt.Sprintf("%s %s %s rows=%d failures=%d failed=%v rel=%s msg=%q", n.ResourceType, n.Name, n.Status, n.RowsAffected, n.Failures, n.Failed(), n.Relation, n.Message))
		if n.ExecutionTime <= 0 {
			t.Errorf("%s: execution time %v", n.UniqueID, n.ExecutionTime)
		}
	}
	want := []string{
		`model orders_by_day success rows=2 failures=0 failed=false rel="warehouse"."marts__tarn_wap_e6c7c774daab"."orders_by_day" msg="MERGE 2"`,
		`test not_null_orders_by_day_order_date pass rows=1 failures=0 failed=false rel="warehouse"."marts__tarn_wap_e6c7c774daab"."orders_by_day" msg=""`,
		`test unique_orders_by_day_order_date fail rows=1 failures=1 failed=true rel="warehouse"."marts__tarn_wap_e6c7c774daab"."orders_by_day" msg="Got 1 result, configured to fail if != 0"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("nodes:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if f := a.Failed(); len(f) != 1 || f[0].Name != "unique_orders_by_day_order_date" {
		t.Errorf("failed: %v", f)
	}
	if c := a.Compiled("test.tarn_wap.unique_orders_by_day_order_date.9b005626aa"); !strings.Contains(c, "having count(*) > 1") {
		t.Errorf("compiled test: %q", c)
	}
	src, refs := a.Inputs("model.tarn_wap.orders_by_day")
	if fmt.Sprint(src, refs) != "[landing.orders] []" {
		t.Errorf("inputs: %v %v", src, refs)
	}
	if s, n, ok := a.Relation("model.tarn_wap.orders_by_day"); !ok || s != "marts__tarn_wap_e6c7c774daab" || n != "orders_by_day" {
		t.Errorf("relation: %s %s %v", s, n, ok)
	}
	if Summary(a.Nodes) != "model success 1, test fail 1, test pass 1" {
		t.Errorf("summary: %s", Summary(a.Nodes))
	}
	// Without a manifest: names from the ids.
	a, err = ParseArtifacts(rr, nil)
	if err != nil || a.Nodes[2].Name != "unique_orders_by_day_order_date" || a.Nodes[2].ResourceType != "test" {
		t.Errorf("without manifest: %+v %v", a.Nodes, err)
	}
	// Hostile: not JSON, a result without id.
	for _, bad := range []string{`{`, `{"results": [{"status": "pass"}]}`, `[]`} {
		if _, err := ParseArtifacts([]byte(bad), nil); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if _, err := ParseArtifacts(rr, []byte(`{"nodes": 3}`)); err == nil {
		t.Error("bad manifest: no error")
	}
}

func TestValidate(t *testing.T) {
	good := Step{Project: "p"}
	if err := good.Validate(); err != nil || good.Command != "build" || good.Schema != "public" || good.Threads != 1 || good.Target != "tarn" {
		t.Errorf("defaults: %+v %v", good, err)
	}
	for name, s := range map[string]Step{
		"no project":          {},
		"command":             {Project: "p", Command: "run-operation"},
		"select option":       {Project: "p", Select: "--profiles-dir /etc"},
		"select quote":        {Project: "p", Select: "a'b"},
		"select newline":      {Project: "p", Select: "a\nb"},
		"exclude":             {Project: "p", Exclude: "$(x)"},
		"schema quote":        {Project: "p", Schema: `a"b`},
		"schema newline":      {Project: "p", Schema: "a\nb: c"},
		"schema staging":      {Project: "p", Schema: "x__tarn_wap_1"},
		"target":              {Project: "p", Target: "a: b"},
		"threads":             {Project: "p", Threads: 99},
		"publish value":       {Project: "p", Publish: "always"},
		"publish needs tests": {Project: "p", Command: "run", Publish: PublishOnTestsPass},
		"var name":            {Project: "p", Vars: map[string]string{"a b": "c"}},
	} {
		if err := s.Validate(); !errors.Is(err, ErrInvalidStep) {
			t.Errorf("%s: %v", name, err)
		}
	}
	s := Step{Project: "p", Select: "tag:nightly +orders_by_day path:models/marts", Exclude: "x", Vars: map[string]string{"day": "2025-01-01"}, FullRefresh: true}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.args(`{"day":"2025-01-01"}`), " "); got != `build --select tag:nightly +orders_by_day path:models/marts --exclude x --vars {"day":"2025-01-01"} --full-refresh` {
		t.Errorf("args: %s", got)
	}
}

func TestStaging(t *testing.T) {
	if got := StagingSchema("Marts", "wr-20250101T060000-0123456789ab"); got != "marts__tarn_wap_0123456789ab" {
		t.Errorf("staging: %s", got)
	}
	if got := StagingSchema("m", "x'; drop"); got != "m__tarn_wap_xdrop" {
		t.Errorf("hostile run id: %s", got)
	}
	for _, c := range [][3]string{
		{"m__tarn_wap_1", "m", "true"},
		{"m__tarn_wap_1_custom", "m_custom", "true"},
		{"M__TARN_WAP_1", "m", "true"},
		{"snapshots", "", "false"},
		{"m__tarn_wap_10", "", "false"},
	} {
		real, ok := realSchema(c[0], "m__tarn_wap_1", "m")
		if real != c[1] || fmt.Sprint(ok) != c[2] {
			t.Errorf("%s: %s %v", c[0], real, ok)
		}
	}
	out := []byte("noise\n" +
		`{"unique_id": "model.p.a", "resource_type": "model", "name": "a", "schema": "m__tarn_wap_1", "alias": "a", "config": {"materialized": "incremental"}}` + "\n" +
		`{"unique_id": "model.p.b", "resource_type": "model", "name": "b", "schema": "m__tarn_wap_1_x", "alias": "bb", "config": {"materialized": "table"}}` + "\n" +
		`{"unique_id": "model.p.e", "resource_type": "model", "name": "e", "schema": "elsewhere", "config": {"materialized": "ephemeral"}}` + "\n")
	nodes, err := parseLs(out)
	if err != nil || len(nodes) != 3 {
		t.Fatalf("ls: %v %v", nodes, err)
	}
	p, err := planStaging(nodes, "m__tarn_wap_1", "m")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(p.schemas, p.incremental) != "map[m__tarn_wap_1:m m__tarn_wap_1_x:m_x] map[m__tarn_wap_1:[a]]" {
		t.Errorf("plan: %v %v", p.schemas, p.incremental)
	}
	nodes = append(nodes, lsNode{UniqueID: "snapshot.p.s", ResourceType: "snapshot", Name: "s", Schema: "snapshots"})
	if _, err := planStaging(nodes, "m__tarn_wap_1", "m"); err == nil || !strings.Contains(err.Error(), `snapshot s writes to schema "snapshots"`) {
		t.Errorf("snapshot outside: %v", err)
	}
	if _, err := parseLs([]byte("{not json\n")); err == nil {
		t.Error("bad ls line: no error")
	}
}

// fakeDBT writes a program standing in for dbt: it records its arguments
// and environment, writes run_results.json into --target-path and exits
// with the given status.
func fakeDBT(t *testing.T, dir, results string, exit int) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "results.json"), []byte(results), 0o600); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`#!/bin/sh
echo "$@" > %[1]s/args
env > %[1]s/env
cp "$TARN_PROFILES/profiles.yml" %[1]s/profiles.yml 2>/dev/null
while [ $# -gt 0 ]; do
  case "$1" in
    --target-path) target="$2"; shift ;;
    --profiles-dir) cp "$2/profiles.yml" %[1]s/profiles.yml ;;
  esac
  shift
done
mkdir -p "$target"
cp %[1]s/results.json "$target/run_results.json"
echo "line one"
echo "dbt says: done" >&2
exit %[2]d
`, dir, exit)
	exe := filepath.Join(dir, "dbt")
	if err := os.WriteFile(exe, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return exe
}

func project(t *testing.T) string {
	t.Helper()
	p := t.TempDir()
	if err := os.WriteFile(filepath.Join(p, "dbt_project.yml"), []byte("name: p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunWithProgram runs the step's whole path with a stand-in program:
// its arguments and folders, the profile (no secret in it), a clean
// environment (the server's own secrets do not reach the project's
// env_var()), the results read back, a failed test failing the step.
func TestRunWithProgram(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TARN_SECRET_ACCESS_KEY", "the-servers-admin-secret")
	t.Setenv("TARN_CANARY", "server-only")
	rr, err := os.ReadFile("testdata/wap_fail_run_results.json")
	if err != nil {
		t.Fatal(err)
	}
	exe := fakeDBT(t, dir, string(rr), 1)
	work := t.TempDir()
	r := New(Config{Executable: exe, WorkDir: work}, nil, nil)
	st := Step{Project: project(t), Schema: "marts", Select: "orders_by_day", Vars: map[string]string{"day": "x"}}
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	req := Request{Step: st, Vars: map[string]string{"day": "2025-03-01"}, RunID: "wr-1-abc", StepName: "models", Attempt: 2,
		Endpoint: "[::]:5433", AccessKeyID: "TKSTEPKEY", Secret: "step-secret-123"}
	// A non-admin key's project must be in the projects folder.
	if _, err := r.Run(context.Background(), req); !errors.Is(err, ErrInvalidStep) || !strings.Contains(err.Error(), "TARN_DBT_PROJECTS") {
		t.Fatalf("no projects folder: %v", err)
	}
	other := t.TempDir()
	if _, err := New(Config{Executable: exe, WorkDir: work, Projects: other}, nil, nil).Run(context.Background(), req); err == nil || !strings.Contains(err.Error(), "is not in the dbt projects folder") {
		t.Fatalf("outside the projects folder: %v", err)
	}
	// ... also through a symbolic link inside it.
	link := filepath.Join(other, "link")
	if err := os.Symlink(st.Project, link); err != nil {
		t.Fatal(err)
	}
	q := req
	q.Step.Project = link
	if _, err := New(Config{Executable: exe, WorkDir: work, Projects: other}, nil, nil).Run(context.Background(), q); err == nil || !strings.Contains(err.Error(), "is not in the dbt projects folder") {
		t.Fatalf("a link out of the projects folder: %v", err)
	}
	r = New(Config{Executable: exe, WorkDir: work, Projects: filepath.Dir(st.Project)}, nil, nil)
	res, err := r.Run(context.Background(), req)
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "test unique_orders_by_day_order_date failed (Got 1 result, configured to fail if != 0)") {
		t.Fatalf("run: %v", err)
	}
	if len(res.Nodes) != 3 || res.Dir == "" {
		t.Errorf("result: %+v", res)
	}
	if _, err := os.Stat(res.Dir); err != nil {
		t.Errorf("a failed attempt's folder is kept: %v", err)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	for _, want := range []string{"build --select orders_by_day --vars {\"day\":\"2025-03-01\"}", "--profile tarn --target tarn", "--target-path " + res.Dir + "/target"} {
		if !strings.Contains(string(args), want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	env, _ := os.ReadFile(filepath.Join(dir, "env"))
	if !strings.Contains(string(env), "TARN_SECRET_ACCESS_KEY=step-secret-123") || !strings.Contains(string(env), "TARN_ACCESS_KEY_ID=TKSTEPKEY") ||
		strings.Contains(string(env), "the-servers-admin-secret") || strings.Contains(string(env), "TARN_CANARY") {
		t.Errorf("environment:\n%s", env)
	}
	prof, _ := os.ReadFile(filepath.Join(dir, "profiles.yml"))
	if strings.Contains(string(prof), "step-secret") || !strings.Contains(string(prof), `host: "127.0.0.1"`) || !strings.Contains(string(prof), "port: 5433") ||
		!strings.Contains(string(prof), `schema: "marts"`) || !strings.Contains(string(prof), "dbname: warehouse") {
		t.Errorf("profile:\n%s", prof)
	}
	if strings.Contains(err.Error(), "step-secret") {
		t.Errorf("the error holds the secret: %v", err)
	}

	// ... until it is older than KeepFailed: the next step removes it.
	old := filepath.Dir(res.Dir)
	long := time.Now().Add(-8 * 24 * time.Hour)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	req2 := req
	req2.RunID = "wr-2-def"
	if _, err := r.Run(context.Background(), req2); !errors.Is(err, ErrFailed) {
		t.Fatalf("second run: %v", err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("an old run's folder is kept: %v", err)
	}
	// dbt that writes no results: its output's last lines say why.
	exe = fakeDBT(t, dir, "", 2)
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho 'Encountered an error: Runtime Error'\necho 'Could not find profile named tarn' >&2\nexit 2\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{Executable: exe, WorkDir: work, Projects: filepath.Dir(st.Project)}, nil, nil).Run(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "exited with status 2") || !strings.Contains(err.Error(), "Could not find profile named tarn") {
		t.Errorf("no results: %v", err)
	}

	// Clear errors before dbt runs.
	for name, c := range map[string]struct {
		cfg  Config
		req  func(*Request)
		want string
	}{
		"no endpoint":    {Config{Executable: exe}, func(r *Request) { r.Endpoint = "" }, "this process has none"},
		"no project":     {Config{Executable: exe}, func(r *Request) { r.Step.Project = filepath.Join(dir, "nope") }, "no dbt project at"},
		"no dbt program": {Config{Executable: filepath.Join(dir, "no-dbt")}, func(*Request) {}, "cannot start dbt"},
		"no warehouse":   {Config{Executable: exe}, func(r *Request) { r.Step.Publish = PublishOnTestsPass }, "needs the warehouse"},
	} {
		q := req
		q.Admin = true
		c.req(&q)
		if _, err := New(c.cfg, nil, nil).Run(context.Background(), q); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
