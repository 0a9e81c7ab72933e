package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	pipeKeyID  = "TKPIPETEST0000000001"
	pipeSecret = "pipetestsecretpipetestsecretpipetest0001"
)

// pipeServer is a running `tarn serve` for the pipeline tests.
type pipeServer struct {
	t       *testing.T
	cmd     *exec.Cmd
	s3, api string
	token   string
	stderr  *bytes.Buffer
}

func startPipeServer(t *testing.T, data string, env ...string) *pipeServer {
	t.Helper()
	cmd := exec.Command(tarnBin, "--data", data, "serve", "--s3-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0")
	cmd.Env = append(append(os.Environ(), "TARN_ACCESS_KEY_ID="+pipeKeyID, "TARN_SECRET_ACCESS_KEY="+pipeSecret), env...)
	withMeta(t, cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &pipeServer{t: t, cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var seen string
	buf := make([]byte, 4096)
	find := func(prefix string) string {
		if i := strings.Index(seen, prefix); i >= 0 {
			rest := seen[i+len(prefix):]
			if j := strings.IndexAny(rest, " \n"); j > 0 {
				return rest[:j]
			}
		}
		return ""
	}
	deadline := time.Now().Add(30 * time.Second)
	for (s.s3 == "" || s.api == "") && time.Now().Before(deadline) {
		n, err := stdout.Read(buf)
		seen += string(buf[:n])
		s.s3, s.api = find("S3 endpoint on "), find("REST API on ")
		if err != nil {
			break
		}
	}
	if s.api == "" || s.s3 == "" {
		t.Fatalf("serve did not start: %q %s", seen, s.stderr)
	}
	go io.Copy(io.Discard, stdout)
	s.token = strings.TrimSpace(ok(t, tarn(t, filepath.Dir(data), "--data", data, "keys", "token", pipeKeyID)).stdout)
	return s
}

// call sends a REST request and decodes a 200 answer into out.
func (s *pipeServer) call(method, path string, body, out any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.api+path, rd)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("%s %s: %s %s", method, path, resp.Status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
}

type apiRun struct {
	ID         string            `json:"id"`
	State      string            `json:"state"`
	Error      string            `json:"error"`
	Properties map[string]string `json:"properties"`
	Steps      []struct {
		Name    string `json:"name"`
		State   string `json:"state"`
		Attempt int    `json:"attempt"`
	} `json:"steps"`
}

func (s *pipeServer) runs(workflow string) []apiRun {
	var runs []apiRun
	s.call("GET", "/api/v1/workflows/"+workflow+"/runs", nil, &runs)
	return runs
}

// waitRuns waits until n runs of the workflow have ended and returns them.
func (s *pipeServer) waitRuns(workflow string, n int, timeout time.Duration) []apiRun {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		runs := s.runs(workflow)
		ended := 0
		for _, r := range runs {
			if r.State != "QUEUED" && r.State != "RUNNING" {
				ended++
			}
		}
		if ended >= n || time.Now().After(deadline) {
			if ended < n {
				s.t.Fatalf("%d of %d runs of %s ended after %s: %+v\n%s", ended, n, workflow, timeout, runs, s.stderr)
			}
			return runs
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func awsCLI(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("aws"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("the aws CLI is not installed (.ci/run installs Debian's awscli)")
	}
	t.Skip("the aws CLI is not installed")
	return ""
}

// TestPipelineOnServe drives the scheduler of a real `tarn serve`: uploads
// through the S3 endpoint (multipart included) start exactly one run per
// object, a cron trigger fires on a controlled clock, and a failing step
// is retried, fails its workflow and fires a webhook alarm.
func TestPipelineOnServe(t *testing.T) {
	awsPath := awsCLI(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	ok(t, tarn(t, dir, "--data", data, "mb", "s3://lake"))
	// The scheduler's clock starts 3 s before 06:00.
	srv := startPipeServer(t, data, "TARN_CLOCK=2026-03-01T05:59:57Z")

	var mu sync.Mutex
	var hooks []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n map[string]any
		_ = json.NewDecoder(r.Body).Decode(&n)
		mu.Lock()
		hooks = append(hooks, n)
		mu.Unlock()
	}))
	defer hook.Close()

	srv.call("POST", "/api/v1/workflows", map[string]any{"name": "ingest", "max_concurrent_runs": 4,
		"steps": []map[string]any{{"name": "count", "sql": "SELECT ${object_count} AS n, '${objects}' AS objects"}}}, nil)
	srv.call("POST", "/api/v1/triggers", map[string]any{"name": "on_upload", "workflow": "ingest", "prefix": "s3://lake/raw/in/", "enabled": true}, nil)
	srv.call("POST", "/api/v1/workflows", map[string]any{"name": "daily", "steps": []map[string]any{{"name": "a", "sql": "SELECT '${scheduled_time}'"}}}, nil)
	srv.call("POST", "/api/v1/triggers", map[string]any{"name": "six", "workflow": "daily", "schedule": "cron(0 6 * * ? *)", "enabled": true}, nil)
	srv.call("POST", "/api/v1/workflows", map[string]any{"name": "flaky", "steps": []map[string]any{
		{"name": "load", "sql": "SELECT CAST('not a number' AS INTEGER)", "retries": 2, "retry_delay": "100ms"}}}, nil)
	srv.call("POST", "/api/v1/alarms", map[string]any{"name": "flaky_failed", "rule": "workflow_failed", "target": "flaky", "webhook": hook.URL}, nil)

	// Uploads: three small files, one of 12 MiB in 5 MiB parts, and the
	// first small file again with the same content (no new version).
	awsCfg := filepath.Join(dir, "aws-config")
	os.WriteFile(awsCfg, []byte("[default]\nregion = us-east-1\ns3 =\n  multipart_threshold = 5MB\n  multipart_chunksize = 5MB\n"), 0o600)
	aws := func(args ...string) {
		t.Helper()
		c := exec.Command(awsPath, append([]string{"--endpoint-url", srv.s3}, args...)...)
		c.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+pipeKeyID, "AWS_SECRET_ACCESS_KEY="+pipeSecret,
			"AWS_CONFIG_FILE="+awsCfg, "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"), "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=")
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, out)
		}
	}
	for i := range 3 {
		p := filepath.Join(dir, fmt.Sprintf("f%d.csv", i))
		os.WriteFile(p, []byte(fmt.Sprintf("id\n%d\n", i)), 0o644)
		aws("s3", "cp", p, fmt.Sprintf("s3://lake/raw/in/f%d.csv", i))
	}
	big := filepath.Join(dir, "big.csv")
	os.WriteFile(big, bytes.Repeat([]byte("1234567890abcdef\n"), 12<<20/17), 0o644)
	aws("s3", "cp", big, "s3://lake/raw/in/big.csv")
	aws("s3", "cp", filepath.Join(dir, "f0.csv"), "s3://lake/raw/in/f0.csv")
	aws("s3", "cp", filepath.Join(dir, "f1.csv"), "s3://lake/elsewhere/f1.csv")

	srv.waitRuns("ingest", 4, 30*time.Second)
	runs := srv.runs("ingest")
	if len(runs) != 4 {
		t.Fatalf("%d runs of ingest, want 4 (one per new object version): %+v", len(runs), runs)
	}
	seen := map[string]bool{}
	for _, r := range runs {
		if r.State != "SUCCEEDED" || r.Properties["object_count"] != "1" {
			t.Errorf("run %+v", r)
		}
		seen[r.Properties["objects"]] = true
	}
	if !seen["s3://lake/raw/in/big.csv"] || !seen["s3://lake/raw/in/f2.csv"] {
		t.Errorf("objects delivered: %v", seen)
	}
	var evs []struct {
		Key        string `json:"key"`
		Checksum   string `json:"checksum"`
		Deliveries []any  `json:"deliveries"`
	}
	srv.call("GET", "/api/v1/events?prefix=s3://lake/raw/in/big.csv", nil, &evs)
	if len(evs) != 1 || !strings.HasPrefix(evs[0].Checksum, "sha256:") || len(evs[0].Deliveries) != 1 {
		t.Errorf("events of the multipart object: %+v", evs)
	}

	// The cron trigger: 06:00 on the server's clock.
	daily := srv.waitRuns("daily", 1, 20*time.Second)
	if daily[0].Properties["scheduled_time"] != "2026-03-01T06:00:00Z" || daily[0].State != "SUCCEEDED" {
		t.Errorf("daily run: %+v", daily[0])
	}

	// A failing step: 3 attempts, the run FAILED, the webhook called.
	var started apiRun
	srv.call("POST", "/api/v1/workflows/flaky/start", map[string]any{}, &started)
	flaky := srv.waitRuns("flaky", 1, 30*time.Second)
	if flaky[0].State != "FAILED" || flaky[0].Steps[0].Attempt != 3 || !strings.Contains(flaky[0].Error, "Conversion Error") {
		t.Fatalf("flaky run: %+v", flaky[0])
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(hooks)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no webhook call within 20 s\n%s", srv.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	if hooks[0]["alarm"] != "flaky_failed" || hooks[0]["state"] != "ALARM" || !strings.Contains(fmt.Sprint(hooks[0]["reason"]), started.ID) {
		t.Errorf("webhook body: %v (run %s)", hooks[0], started.ID)
	}
	mu.Unlock()
	var alarm struct{ State string }
	srv.call("GET", "/api/v1/alarms/flaky_failed", nil, &alarm)
	if alarm.State != "ALARM" {
		t.Errorf("alarm state %q", alarm.State)
	}
	// Each of the scheduler's rounds fires the triggers that are due before
	// it moves runs on, and flaky's three attempts took rounds that began
	// after every upload was in the events ledger: a duplicate run of ingest
	// would show by now.
	if runs := srv.runs("ingest"); len(runs) != 4 {
		t.Fatalf("%d runs of ingest at the end, want 4 (one per new object version): %+v", len(runs), runs)
	}
}

// TestWorkflowSurvivesKill kills the server while a step runs: after a
// restart the step is retried and the run finishes.
func TestWorkflowSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	ok(t, tarn(t, dir, "--data", data, "mb", "s3://lake"))
	srv := startPipeServer(t, data)
	srv.call("POST", "/api/v1/workflows", map[string]any{"name": "slow", "steps": []map[string]any{
		{"name": "crunch", "sql": "SELECT count(*) FROM range(600000000) r WHERE r.range % 7 = 1"},
		{"name": "after", "sql": "SELECT 1", "depends_on": []string{"crunch"}}}}, nil)
	var run apiRun
	srv.call("POST", "/api/v1/workflows/slow/start", nil, &run)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var r apiRun
		srv.call("GET", "/api/v1/workflow-runs/"+run.ID, nil, &r)
		if r.Steps[0].State == "RUNNING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("step never ran: %+v", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.cmd.Process.Kill()
	srv.cmd.Wait()

	srv = startPipeServer(t, data)
	runs := srv.waitRuns("slow", 1, 60*time.Second)
	r := runs[0]
	if r.ID != run.ID || r.State != "SUCCEEDED" || r.Steps[0].Attempt != 2 || r.Steps[1].State != "SUCCEEDED" {
		t.Fatalf("after restart: %+v", r)
	}
}

// TestLocalCpRecordsEvents: `tarn cp` without a server records its objects
// in the ledger once per version, as the S3 endpoint does.
func TestLocalCpRecordsEvents(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	ok(t, tarn(t, dir, "--data", data, "mb", "s3://lake"))
	f := filepath.Join(dir, "a.csv")
	os.WriteFile(f, []byte("id\n1\n"), 0o644)
	ok(t, tarn(t, dir, "--data", data, "cp", f, "s3://lake/raw/a.csv"))
	ok(t, tarn(t, dir, "--data", data, "cp", f, "s3://lake/raw/a.csv"))
	out := ok(t, tarn(t, dir, "--data", data, "events", "list", "--json")).stdout
	var evs []struct {
		Key, Via, Checksum string
	}
	if err := json.Unmarshal([]byte(out), &evs); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(evs) != 1 || evs[0].Key != "raw/a.csv" || evs[0].Via != "cli" || !strings.HasPrefix(evs[0].Checksum, "md5:") {
		t.Fatalf("events = %+v", evs)
	}
	os.WriteFile(f, []byte("id\n2\n"), 0o644)
	ok(t, tarn(t, dir, "--data", data, "cp", f, "s3://lake/raw/a.csv"))
	if out := ok(t, tarn(t, dir, "--data", data, "events", "list")).stdout; strings.Count(out, "s3://lake/raw/a.csv") != 2 {
		t.Fatalf("after new content: %s", out)
	}
	if r := tarn(t, dir, "--data", data, "events", "replay", "1"); r.code == 0 || !strings.Contains(r.stderr, "--trigger") {
		t.Fatalf("replay without trigger: %+v", r)
	}
}

// TestAcceptDriftCLI: a crawler with --schema-change log keeps the table
// until `crawler start --accept-drift`.
func TestAcceptDriftCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	ok(t, tarn(t, dir, "--data", data, "mb", "s3://lake"))
	a, b := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	os.WriteFile(a, []byte("id,amount\n1,2.5\n"), 0o644)
	os.WriteFile(b, []byte("id,amount,region\n2,3.5,EU\n"), 0o644)
	ok(t, tarn(t, dir, "--data", data, "cp", a, "s3://lake/raw/sales/a.csv"))
	ok(t, tarn(t, dir, "--data", data, "crawler", "create", "c", "--database", "db", "--path", "s3://lake/raw/", "--schema-change", "log"))
	ok(t, tarn(t, dir, "--data", data, "crawler", "start", "c"))
	ok(t, tarn(t, dir, "--data", data, "cp", b, "s3://lake/raw/sales/b.csv"))
	ok(t, tarn(t, dir, "--data", data, "crawler", "start", "c"))
	if out := ok(t, tarn(t, dir, "--data", data, "catalog", "table", "db.sales")).stdout; strings.Contains(out, "region") {
		t.Fatalf("the log policy changed the table:\n%s", out)
	}
	ok(t, tarn(t, dir, "--data", data, "crawler", "start", "c", "--accept-drift"))
	if out := ok(t, tarn(t, dir, "--data", data, "catalog", "table", "db.sales")).stdout; !strings.Contains(out, "region") {
		t.Fatalf("accepted drift not applied:\n%s", out)
	}
}
