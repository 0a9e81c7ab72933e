package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tarnEnv runs the binary as tarn does, with extra environment variables.
func tarnEnv(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(tarnBin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(append(os.Environ(), "TARN_DATA=", "TARN_TOKEN=", "TARN_SERVER=", "TARN_S3_ENDPOINT="), env...), metaEnv(t, dir, env, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// TestCLIThroughServer runs the CLI against a data folder while `tarn serve`
// runs on it: every command goes through the server (the REST API, or the
// S3 endpoint for objects), says so on stderr, prints what it prints
// without a server, and shows up in the server's request metrics.
func TestCLIThroughServer(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	run := func(env []string, args ...string) result {
		t.Helper()
		return tarnEnv(t, dir, env, append([]string{"--data", data}, args...)...)
	}
	ok(t, run(nil, "quickstart"))
	reads := [][]string{
		{"catalog", "databases"},
		{"catalog", "tables", "etl_pipeline_db"},
		{"catalog", "table", "etl_pipeline_db.sales"},
		{"catalog", "partitions", "etl_pipeline_db.orders"},
		{"catalog", "versions", "etl_pipeline_db.orders"},
		{"crawler", "list"},
		{"crawler", "get", "raw_crawler"},
		{"crawler", "runs", "raw_crawler"},
		{"job", "list"},
		{"job", "get", "sales_to_curated"},
		{"job", "runs", "orders_to_curated"},
		{"workgroup", "list"},
		{"ls"},
		{"ls", "s3://lake/raw/"},
		{"ls", "--recursive", "--human-readable", "s3://lake/raw/orders/year=2025/month=01/"},
	}
	// What the commands print on the files, before a server runs.
	local := map[string]result{}
	for _, args := range reads {
		r := ok(t, run(nil, args...))
		if strings.Contains(r.stderr, "via ") {
			t.Fatalf("%v went through a server that does not run: %s", args, r.stderr)
		}
		local[strings.Join(args, " ")] = r
	}

	srv, api := startServe(t, dir, data)
	// serve.json is written just after the address is printed.
	var b []byte
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err = os.ReadFile(filepath.Join(data, "serve.json")); err == nil {
			break
		}
	}
	var si serveInfo
	if err != nil || json.Unmarshal(b, &si) != nil || si.API != api || !strings.HasPrefix(si.S3, "http://127.0.0.1:") || si.PID != srv.Process.Pid {
		t.Fatalf("serve.json: %s %v", b, err)
	}
	for _, args := range reads {
		r := ok(t, run(nil, args...))
		want := "via " + api
		if args[0] == "ls" {
			want = "via " + si.S3
		}
		if !strings.Contains(r.stderr, want) {
			t.Errorf("%v: no %q on stderr: %q", args, want, r.stderr)
		}
		if l := local[strings.Join(args, " ")]; r.stdout != l.stdout {
			t.Errorf("%v prints differently through the server:\n%s\nthan on the files:\n%s", args, r.stdout, l.stdout)
		}
	}
	// --server with a folder that is not the lake's: credentials from the
	// environment; objects need the S3 endpoint too.
	other := filepath.Join(dir, "elsewhere")
	keyEnv := []string{"TARN_ACCESS_KEY_ID=TKSERVETEST000000001", "TARN_SECRET_ACCESS_KEY=servetestsecretservetestsecretservetest1"}
	if r := ok(t, tarnEnv(t, dir, keyEnv, "--data", other, "--server", api, "catalog", "databases")); r.stdout != local["catalog databases"].stdout {
		t.Errorf("--server: %q", r.stdout)
	}
	if r := tarnEnv(t, dir, keyEnv, "--data", other, "--server", api, "ls"); r.code == 0 || !strings.Contains(r.stderr, "--s3-endpoint") {
		t.Errorf("--server without an S3 endpoint: %+v", r)
	}
	if r := ok(t, tarnEnv(t, dir, keyEnv, "--data", other, "--server", api, "--s3-endpoint", si.S3, "ls")); r.stdout != local["ls"].stdout {
		t.Errorf("--server --s3-endpoint: %q", r.stdout)
	}
	if _, err := os.Stat(other); err == nil {
		t.Errorf("a command through --server created the data folder %s", other)
	}

	// Objects go through the S3 endpoint; a large file in multipart.
	src := filepath.Join(dir, "people.csv")
	os.WriteFile(src, []byte("id,zip\n1,02134\n2,10001\n"), 0o644)
	ok(t, run(nil, "mb", "s3://bkt"))
	if r := run(nil, "mb", "s3://bkt"); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("second mb: %+v", r)
	}
	if r := ok(t, run(nil, "cp", src, "s3://bkt/raw/people/")); !strings.Contains(r.stdout, "upload: "+src+" to s3://bkt/raw/people/people.csv (23 bytes") {
		t.Errorf("cp: %+v", r)
	}
	big := filepath.Join(dir, "big.bin")
	content := make([]byte, 64<<20+4321)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(content); i += 8 {
		v := rnd.Uint64()
		for j := range 8 {
			content[i+j] = byte(v >> (8 * j))
		}
	}
	os.WriteFile(big, content, 0o644)
	if r := ok(t, run(nil, "cp", big, "s3://bkt/big/")); !strings.Contains(r.stdout, "-2)") || !strings.Contains(r.stderr, "copied 1 files, 64.00 MiB") {
		t.Errorf("multipart cp: %+v", r)
	}
	back := filepath.Join(dir, "back.bin")
	ok(t, run(nil, "cp", "s3://bkt/big/big.bin", back))
	if got, err := os.ReadFile(back); err != nil || sha256.Sum256(got) != sha256.Sum256(content) {
		t.Errorf("downloaded copy differs: %v", err)
	}
	if r := ok(t, run(nil, "ls", "--recursive", "s3://bkt/")); !strings.Contains(r.stdout, "67113185 big/big.bin") || !strings.Contains(r.stdout, "23 raw/people/people.csv") {
		t.Errorf("ls: %s", r.stdout)
	}
	ok(t, run(nil, "rm", "s3://bkt/big/big.bin"))
	if r := run(nil, "rm", "s3://bkt/big/big.bin"); r.code == 0 || !strings.Contains(r.stderr, "no such key") {
		t.Errorf("rm of a missing key: %+v", r)
	}

	// Crawlers and jobs run in the server; the CLI follows them.
	ok(t, run(nil, "crawler", "create", "c1", "--database", "db1", "--path", "s3://bkt/raw/"))
	if r := run(nil, "crawler", "create", "c1", "--database", "db1", "--path", "s3://bkt/raw/"); r.code == 0 || !strings.Contains(r.stderr, "AlreadyExists") {
		t.Errorf("duplicate crawler: %+v", r)
	}
	if r := ok(t, run(nil, "crawler", "start", "c1")); !strings.Contains(r.stdout, ": SUCCEEDED") || !strings.Contains(r.stdout, "table people: create (csv, 2 columns") {
		t.Errorf("crawler start: %s", r.stdout)
	}
	if r := ok(t, run(nil, "query", "--format", "csv", "SELECT zip FROM db1.people ORDER BY id")); r.stdout != "zip\n02134\n10001\n" {
		t.Errorf("query: %q", r.stdout)
	}
	ok(t, run(nil, "job", "create", "j1", "--sql", "SELECT id, zip FROM db1.people", "--target", "s3://bkt/curated/people/", "--table", "cur.people", "--bookmarks"))
	r := ok(t, run(nil, "job", "start", "j1"))
	if !strings.Contains(r.stdout, "(j1, attempt 1): SUCCEEDED") || !strings.Contains(r.stdout, "rows: read 2 = written 2 + rejected 0") {
		t.Errorf("job start: %s", r.stdout)
	}
	runID := strings.Fields(r.stdout)[2]
	if r := ok(t, run(nil, "job", "log", runID)); !strings.Contains(r.stdout, "attempt 1 of job j1 started") {
		t.Errorf("job log: %s", r.stdout)
	}
	if r := ok(t, run(nil, "job", "reset-bookmark", "j1")); !strings.Contains(r.stdout, "(1 files forgotten)") {
		t.Errorf("reset-bookmark: %s", r.stdout)
	}
	ok(t, run(nil, "job", "create", "bad", "--sql", "SELECT error('boom') AS x, id FROM db1.people", "--target", "s3://bkt/bad/"))
	if r := run(nil, "job", "start", "bad"); r.code == 0 || !strings.Contains(r.stdout, "FAILED") || !strings.Contains(r.stderr, "job run failed: job bad run") || !strings.Contains(r.stderr, "boom") {
		t.Errorf("failing job: %+v", r)
	}
	ok(t, run(nil, "job", "delete", "bad"))
	if r := run(nil, "job", "get", "bad"); r.code == 0 || !strings.Contains(r.stderr, "NotFound") {
		t.Errorf("deleted job: %+v", r)
	}
	ok(t, run(nil, "crawler", "delete", "c1"))

	// Workgroups and keys.
	ok(t, run(nil, "workgroup", "create", "careful", "--bytes-scanned-cutoff-mb", "1", "--require-partition-filter", "etl_pipeline_db.orders"))
	if r := run(nil, "query", "--workgroup", "careful", "SELECT count(*) FROM etl_pipeline_db.orders"); r.code == 0 || !strings.Contains(r.stderr, "partition filter required") {
		t.Errorf("strict workgroup: %+v", r)
	}
	ok(t, run(nil, "workgroup", "delete", "careful"))
	pol := filepath.Join(dir, "p.json")
	os.WriteFile(pol, []byte(`{"Statement": [{"Effect": "Allow", "Action": "glue:Get*", "Resource": "*"}]}`), 0o644)
	r = ok(t, run(nil, "keys", "create", "reader", "--policy", pol))
	id := strings.TrimSpace(strings.SplitN(strings.SplitN(r.stdout, "AWS_ACCESS_KEY_ID=", 2)[1], "\n", 2)[0])
	secret := strings.TrimSpace(strings.SplitN(strings.SplitN(r.stdout, "AWS_SECRET_ACCESS_KEY=", 2)[1], "\n", 2)[0])
	if r := ok(t, run(nil, "keys", "list")); !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "Allow glue:Get* on *") {
		t.Errorf("keys list: %s", r.stdout)
	}
	readerEnv := []string{"TARN_ACCESS_KEY_ID=" + id, "TARN_SECRET_ACCESS_KEY=" + secret}
	if r := ok(t, run(readerEnv, "catalog", "databases")); !strings.Contains(r.stdout, "db1 ") || !strings.Contains(r.stdout, "etl_pipeline_db") {
		t.Errorf("reader on the catalog: %q", r.stdout)
	}
	if r := run(readerEnv, "keys", "list"); r.code == 0 || !strings.Contains(r.stderr, "AccessDenied") || !strings.Contains(r.stderr, "iam:ListAccessKeys") {
		t.Errorf("reader listing keys: %+v", r)
	}
	ok(t, run(nil, "keys", "delete", id))

	// Wrong credentials say what to do.
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{[]string{"TARN_TOKEN=tarn_TKSERVETEST000000001_0000"}, []string{"catalog", "databases"}},
		{readerEnv, []string{"crawler", "list"}}, // the deleted key
		{[]string{"TARN_ACCESS_KEY_ID=TKSERVETEST000000001", "TARN_SECRET_ACCESS_KEY=wrongwrongwrongwrong"}, []string{"ls", "s3://bkt/"}},
	} {
		r := run(c.env, c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, "refused the credentials") || !strings.Contains(r.stderr, "TARN_TOKEN") || !strings.Contains(r.stderr, "TARN_ACCESS_KEY_ID") {
			t.Errorf("%v with %v: %+v", c.args, c.env, r)
		}
	}
	if r := run([]string{"TARN_TOKEN=" + "tarn_x"}, "ls"); r.code == 0 || !strings.Contains(r.stderr, "TARN_SECRET_ACCESS_KEY") {
		t.Errorf("objects with a token only: %+v", r)
	}

	// The server saw the requests.
	token := strings.TrimSpace(ok(t, run(nil, "keys", "token", "TKSERVETEST000000001")).stdout)
	req, _ := http.NewRequest("GET", api+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`tarn_api_requests_total{route="GET /api/v1/databases",status="200"}`,
		`tarn_api_requests_total{route="POST /api/v1/crawlers",status="200"} 1`,
		`tarn_api_requests_total{route="POST /api/v1/crawlers",status="409"} 1`,
		`tarn_api_requests_total{route="POST /api/v1/crawlers/{name}/start",status="200"} 1`,
		`tarn_api_requests_total{route="POST /api/v1/jobs/{name}/start",status="200"} 2`,
		`tarn_api_requests_total{route="GET /api/v1/job-runs/{id}",status="200"}`,
		`tarn_api_requests_total{route="POST /api/v1/workgroups",status="200"} 1`,
		`tarn_api_requests_total{route="POST /api/v1/keys",status="200"} 1`,
		`tarn_api_requests_total{route="GET /api/v1/keys",status="403"} 1`,
		`tarn_api_requests_total{route="DELETE /api/v1/keys/{id}",status="200"} 1`,
		`tarn_s3_requests_total{method="PUT",status="200"}`,
		`tarn_s3_requests_total{method="POST",status="200"}`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Once the server is gone the CLI works on the files again.
	srv.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	if _, err := os.Stat(filepath.Join(data, "serve.json")); !os.IsNotExist(err) {
		t.Errorf("serve.json left behind: %v", err)
	}
	if r := ok(t, run(nil, "catalog", "databases")); strings.Contains(r.stderr, "via") || !strings.Contains(r.stdout, "db1") {
		t.Errorf("after the server: %+v", r)
	}
}
