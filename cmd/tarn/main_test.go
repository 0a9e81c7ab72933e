package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/csv"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
)

var tarnBin string

// TestMain builds the real binary once; the tests run it as users do.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tarn-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tarnBin = filepath.Join(dir, "tarn")
	build := exec.Command("go", "build", "-o", tarnBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot build tarn:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// metaDBs are the PostgreSQL databases of the tests' data folders
// (TARN_TEST_META=postgres), by the folder's absolute path.
var metaDBs sync.Map

// metaEnv is the environment that puts the data folder a tarn command in
// dir with args (and env) opens on its own PostgreSQL database when the
// tests run on PostgreSQL (TARN_TEST_META=postgres, make test-meta-pg):
// TARN_META naming a new database for a new folder (dropped when the test
// ends), the same one for a folder seen before; nothing on SQLite. The
// folder records its database when first opened, as a user's does.
func metaEnv(t *testing.T, dir string, env []string, args ...string) []string {
	t.Helper()
	if !metatest.Postgres() {
		return nil
	}
	data := lake.DefaultHome
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "TARN_DATA="); ok && v != "" {
			data = v
		}
	}
	for i, a := range args {
		if a == "--data" && i+1 < len(args) {
			data = args[i+1]
		} else if v, ok := strings.CutPrefix(a, "--data="); ok {
			data = v
		}
	}
	if !filepath.IsAbs(data) {
		if dir == "" {
			dir, _ = os.Getwd()
		}
		data = filepath.Join(dir, data)
	}
	data = filepath.Clean(data)
	if dsn, ok := metaDBs.Load(data); ok {
		return []string{"TARN_META=" + dsn.(string)}
	}
	dsn := metatest.NewPostgresDatabase(t)
	metaDBs.Store(data, dsn)
	t.Cleanup(func() { metaDBs.Delete(data) })
	return []string{"TARN_META=" + dsn}
}

// withMeta adds metaEnv to a command of the binary, after its Dir and
// Env are set.
func withMeta(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, metaEnv(t, cmd.Dir, cmd.Env, cmd.Args[1:]...)...)
}

// tarn runs the binary with args in dir and returns its output and exit code.
func tarn(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(tarnBin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "TARN_DATA="), metaEnv(t, dir, nil, args...)...)
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

func ok(t *testing.T, r result) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	return r
}

func TestQuickstartTwice(t *testing.T) {
	dir := t.TempDir()
	first := ok(t, tarn(t, dir, "quickstart"))
	for _, want := range []string{"table orders: create", "table sales: create", "etl_pipeline_db.orders", "partitions 28 of 90", "North",
		"rows: read 1000 = written 1000 + rejected 0", "job run", "removed by the SQL 135", "unique_orders"} {
		if !strings.Contains(first.stdout+first.stderr, want) {
			t.Errorf("first quickstart output lacks %q:\n%s\n%s", want, first.stdout, first.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "tarn-data", "objects", "lake", "raw", "sales", "sales_data.csv")); err != nil {
		t.Errorf("default lake home not used: %v", err)
	}
	second := ok(t, tarn(t, dir, "quickstart"))
	if !strings.Contains(second.stdout, "table orders: unchanged") || !strings.Contains(second.stdout, "table sales: unchanged") {
		t.Errorf("second quickstart changed tables:\n%s", second.stdout)
	}
	// The jobs' bookmarks: the second run reads nothing new, and the curated
	// tables hold each row once.
	if strings.Count(second.stdout, "rows: read 0 = written 0") != 2 {
		t.Errorf("second quickstart re-processed data:\n%s", second.stdout)
	}
	if c := ok(t, tarn(t, dir, "query", "--format", "csv", "SELECT count(*) AS n, count(DISTINCT order_id) AS d FROM curated_db.orders")).stdout; c != "n,d\n1665,1665\n" {
		t.Errorf("curated orders: %q", c)
	}
	// Same answers both times.
	q := func() string {
		return ok(t, tarn(t, dir, "query", "--format", "csv", "SELECT region, count(*) AS n FROM etl_pipeline_db.sales GROUP BY region ORDER BY region")).stdout
	}
	if a := q(); a != q() || !strings.HasPrefix(a, "region,n\nCentral,") {
		t.Errorf("csv output: %q", a)
	}
}

func TestQueryCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	ok(t, tarn(t, dir, "--data", data, "quickstart"))

	// Global flags before or after the subcommand; csv is a header and rows only.
	for _, args := range [][]string{
		{"--data", data, "query", "--format", "csv", "SELECT count(*) AS n FROM etl_pipeline_db.orders WHERE month = 1"},
		{"query", "--data", data, "--format", "csv", "--database", "etl_pipeline_db", "SELECT count(*) AS n FROM orders WHERE month = 1"},
	} {
		r := ok(t, tarn(t, dir, args...))
		recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
		if err != nil || len(recs) != 2 || recs[0][0] != "n" || recs[1][0] != "620" {
			t.Errorf("%v: stdout %q (%v)", args, r.stdout, err)
		}
		if !strings.Contains(r.stderr, "SUCCEEDED: 1 rows") || !strings.Contains(r.stderr, "data scanned") || !strings.Contains(r.stderr, "partitions 31 of 90") {
			t.Errorf("%v: statistics on stderr: %q", args, r.stderr)
		}
	}
	r := ok(t, tarn(t, dir, "--data", data, "query", "--format", "json", "SELECT order_id, customer.zip_code AS zip FROM etl_pipeline_db.orders WHERE year = 2025 AND month = 1 AND day = 1 ORDER BY order_id LIMIT 2"))
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 || !strings.Contains(lines[0], `"zip":"0`) && !strings.Contains(lines[0], `"zip":"`) {
		t.Errorf("json output: %q", r.stdout)
	}

	// -f with several statements.
	script := filepath.Join(dir, "q.sql")
	os.WriteFile(script, []byte("CREATE DATABASE IF NOT EXISTS scratch;\nSHOW DATABASES;\n"), 0o644)
	r = ok(t, tarn(t, dir, "--data", data, "query", "-f", script, "--format", "csv"))
	if !strings.Contains(r.stdout, "etl_pipeline_db") || !strings.Contains(r.stdout, "scratch") {
		t.Errorf("script output: %q", r.stdout)
	}

	// Failures exit non-zero with the engine's message.
	for _, c := range []struct{ sql, want string }{
		{"SELECT nope FROM etl_pipeline_db.sales", "nope"},
		{"SELECT * FROM read_csv('/etc/passwd')", "permission denied"},
		{"SELEC 1", "syntax error"},
	} {
		r := tarn(t, dir, "--data", data, "query", c.sql)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q", c.sql, r.code, r.stderr)
		}
	}

	hist := ok(t, tarn(t, dir, "--data", data, "query", "history", "--limit", "3"))
	if !strings.Contains(hist.stdout, "FAILED") || !strings.Contains(hist.stdout, "SELEC 1") {
		t.Errorf("history: %s", hist.stdout)
	}

	for _, args := range [][]string{
		{"catalog", "databases"},
		{"catalog", "tables", "etl_pipeline_db"},
		{"catalog", "table", "etl_pipeline_db.sales"},
		{"catalog", "partitions", "etl_pipeline_db.orders"},
		{"catalog", "versions", "etl_pipeline_db.orders"},
		{"crawler", "list"},
		{"crawler", "runs", "raw_crawler"},
		{"crawler", "get", "raw_crawler"},
	} {
		r := ok(t, tarn(t, dir, append([]string{"--data", data}, args...)...))
		if strings.TrimSpace(r.stdout) == "" {
			t.Errorf("%v printed nothing", args)
		}
	}
	// Glue's GetCrawler shape: the state and the last crawl.
	if r := ok(t, tarn(t, dir, "--data", data, "crawler", "get", "raw_crawler")); !strings.Contains(r.stdout, `"State": "READY"`) || !strings.Contains(r.stdout, `"Status": "SUCCEEDED"`) {
		t.Errorf("crawler get: %s", r.stdout)
	}
	if r := tarn(t, dir, "--data", data, "catalog", "table", "etl_pipeline_db.nope"); r.code == 0 || !strings.Contains(r.stderr, "no such table") {
		t.Errorf("missing table: %+v", r)
	}
}

func TestObjectsCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "a.csv"), []byte("x,y\n1,2\n"), 0o644)
	os.WriteFile(filepath.Join(src, "sub", "b.json"), []byte(`{"x": 1}`+"\n"), 0o644)

	ok(t, tarn(t, dir, "--data", data, "mb", "s3://bkt"))
	if r := tarn(t, dir, "--data", data, "mb", "s3://bkt"); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("second mb: %+v", r)
	}
	if r := tarn(t, dir, "--data", data, "mb", "s3://Bad_Name"); r.code == 0 || !strings.Contains(r.stderr, "bucket name") {
		t.Errorf("bad bucket: %+v", r)
	}
	ok(t, tarn(t, dir, "--data", data, "cp", filepath.Join(src, "a.csv"), "s3://bkt/raw/"))
	ok(t, tarn(t, dir, "--data", data, "cp", "--recursive", src, "s3://bkt/copy/"))
	r := ok(t, tarn(t, dir, "--data", data, "ls", "--recursive", "s3://bkt/"))
	for _, want := range []string{"raw/a.csv", "copy/a.csv", "copy/sub/b.json"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ls lacks %s:\n%s", want, r.stdout)
		}
	}
	r = ok(t, tarn(t, dir, "--data", data, "ls", "s3://bkt/copy/"))
	if !strings.Contains(r.stdout, "PRE sub/") || !strings.Contains(r.stdout, " a.csv") {
		t.Errorf("ls with delimiter:\n%s", r.stdout)
	}
	out := filepath.Join(dir, "out")
	ok(t, tarn(t, dir, "--data", data, "cp", "--recursive", "s3://bkt/copy/", out))
	if b, err := os.ReadFile(filepath.Join(out, "sub", "b.json")); err != nil || string(b) != `{"x": 1}`+"\n" {
		t.Errorf("downloaded %q, %v", b, err)
	}
	if r := tarn(t, dir, "--data", data, "cp", filepath.Join(src, "a.csv"), "s3://bkt/../etc/x"); r.code == 0 || !strings.Contains(r.stderr, "invalid") {
		t.Errorf("path traversal accepted: %+v", r)
	}
	ok(t, tarn(t, dir, "--data", data, "rm", "s3://bkt/raw/a.csv"))
	if r := tarn(t, dir, "--data", data, "rm", "s3://bkt/raw/a.csv"); r.code == 0 || !strings.Contains(r.stderr, "no such key") {
		t.Errorf("rm of a missing key: %+v", r)
	}
	ok(t, tarn(t, dir, "--data", data, "rm", "--recursive", "s3://bkt/copy/"))
	if r := ok(t, tarn(t, dir, "--data", data, "ls", "--recursive", "s3://bkt/")); strings.TrimSpace(r.stdout) != "" {
		t.Errorf("bucket not empty after rm: %q", r.stdout)
	}
}

func TestCrawlerCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	ok(t, tarn(t, dir, "--data", data, "mb", "s3://lake"))
	f := filepath.Join(dir, "p.csv")
	os.WriteFile(f, []byte("id,zip\n1,02134\n2,10001\n"), 0o644)
	ok(t, tarn(t, dir, "--data", data, "cp", f, "s3://lake/raw/people/p.csv"))
	ok(t, tarn(t, dir, "--data", data, "crawler", "create", "c1", "--database", "db1", "--path", "s3://lake/raw/", "--exclude", "**/_temporary/**"))
	if r := tarn(t, dir, "--data", data, "crawler", "create", "c2", "--database", "db1", "--path", "/not/s3"); r.code == 0 {
		t.Errorf("crawler with a bad path accepted: %+v", r)
	}
	dry := ok(t, tarn(t, dir, "--data", data, "crawler", "start", "c1", "--dry-run"))
	if !strings.Contains(dry.stdout, "dry run") || !strings.Contains(dry.stdout, "people") {
		t.Errorf("dry run: %s", dry.stdout)
	}
	if r := tarn(t, dir, "--data", data, "catalog", "table", "db1.people"); r.code == 0 {
		t.Errorf("dry run created the table")
	}
	ok(t, tarn(t, dir, "--data", data, "crawler", "start", "c1"))
	r := ok(t, tarn(t, dir, "--data", data, "query", "--format", "csv", "SELECT zip FROM db1.people ORDER BY id"))
	if r.stdout != "zip\n02134\n10001\n" {
		t.Errorf("leading zeros lost: %q", r.stdout)
	}
}

// TestJobKilledMidWrite kills a job's process while DuckDB is writing its
// output: the table must be as it was, and the retry must produce exactly
// the expected rows.
func TestJobKilledMidWrite(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	run := func(args ...string) result { return ok(t, tarn(t, dir, append([]string{"--data", data}, args...)...)) }
	run("mb", "s3://lake")
	small := filepath.Join(dir, "small.csv")
	big := filepath.Join(dir, "big.csv")
	run("gen", "sales", "--rows", "1000", "--seed", "1", "--out", small)
	run("gen", "sales", "--rows", "3000000", "--seed", "2", "--out", big)
	run("cp", small, "s3://lake/raw/sales/small.csv")
	run("query", `CREATE DATABASE raw_db`)
	run("query", `CREATE EXTERNAL TABLE raw_db.sales (transaction_id string, customer_id string, product_id string, quantity int,
		unit_price double, transaction_date date, region string) ROW FORMAT DELIMITED FIELDS TERMINATED BY ','
		LOCATION 's3://lake/raw/sales/' TBLPROPERTIES ('skip.header.line.count'='1')`)
	run("job", "create", "curate", "--sql", "SELECT *, round(quantity * unit_price, 2) AS total_amount FROM raw_db.sales",
		"--target", "s3://lake/curated/sales/", "--partition-by", "region", "--table", "curated.sales", "--bookmarks")
	run("job", "start", "curate")
	count := func() string {
		return strings.TrimSpace(run("query", "--format", "csv", "SELECT count(*) AS n FROM curated.sales").stdout)
	}
	if c := count(); c != "n\n1000" {
		t.Fatalf("after the first run: %q", c)
	}

	run("cp", big, "s3://lake/raw/sales/big.csv")
	cmd := exec.Command(tarnBin, "--data", data, "job", "start", "curate")
	cmd.Dir = dir
	withMeta(t, cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	staging := filepath.Join(data, "objects", "lake", "curated", "sales", "_staging")
	deadline := time.Now().Add(60 * time.Second)
	for {
		var files int
		filepath.WalkDir(staging, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files++
			}
			return nil
		})
		if files > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the job never started writing")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	// The table is as it was: the killed run published nothing.
	if c := count(); c != "n\n1000" {
		t.Fatalf("after the kill: %q", c)
	}
	runs := run("job", "runs", "curate").stdout
	if !strings.Contains(runs, "FAILED") || !strings.Contains(runs, "interrupted") {
		t.Errorf("the killed run is not FAILED/interrupted:\n%s", runs)
	}
	// Its staging files are gone.
	filepath.WalkDir(staging, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("staging garbage left: %s", p)
		}
		return nil
	})

	// The retry processes the new file exactly once.
	run("job", "start", "curate")
	if c := count(); c != "n\n3001000" {
		t.Fatalf("after the retry: %q", c)
	}
	if c := strings.TrimSpace(run("query", "--format", "csv", "SELECT count(*) AS n FROM curated.sales WHERE total_amount <> round(quantity * unit_price, 2)").stdout); c != "n\n0" {
		t.Errorf("computed column wrong in %q rows", c)
	}
}

// TestServeS3 starts `tarn serve`, uploads with the real aws CLI, crawls and
// queries what arrived from the CLI while the server runs, and stops it with
// SIGTERM.
func TestServeS3(t *testing.T) {
	awsPath := "/usr/bin/aws"
	if _, err := os.Stat(awsPath); err != nil {
		if p, err := exec.LookPath("aws"); err == nil {
			awsPath = p
		} else if os.Getenv("CI") != "" {
			t.Fatal("the aws CLI is not installed (.ci/run installs Debian's awscli)")
		} else {
			t.Skip("the aws CLI is not installed")
		}
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	cmd := exec.Command(tarnBin, "--data", data, "serve", "--s3-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "TARN_ACCESS_KEY_ID=TKSERVETEST000000001", "TARN_SECRET_ACCESS_KEY=servetestsecretservetestsecretservetest1")
	withMeta(t, cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	endpoint, apiURL := "", ""
	buf := make([]byte, 4096)
	var seen string
	deadline := time.Now().Add(30 * time.Second)
	find := func(prefix string) string {
		if i := strings.Index(seen, prefix); i >= 0 {
			rest := seen[i+len(prefix):]
			if j := strings.IndexAny(rest, " \n"); j > 0 {
				return rest[:j]
			}
		}
		return ""
	}
	for (endpoint == "" || apiURL == "") && time.Now().Before(deadline) {
		n, err := stdout.Read(buf)
		seen += string(buf[:n])
		endpoint, apiURL = find("S3 endpoint on "), find("REST API on ")
		if err != nil {
			break
		}
	}
	if endpoint == "" {
		t.Fatalf("no endpoint announced: %q %s", seen, stderr.String())
	}
	awsCfg := filepath.Join(dir, "aws-config")
	os.WriteFile(awsCfg, []byte("[default]\nregion = us-east-1\ns3 =\n  signature_version = s3v4\n"), 0o600)
	aws := func(args ...string) result {
		c := exec.Command(awsPath, append([]string{"--endpoint-url", endpoint}, args...)...)
		c.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=TKSERVETEST000000001", "AWS_SECRET_ACCESS_KEY=servetestsecretservetestsecretservetest1",
			"AWS_CONFIG_FILE="+awsCfg, "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"), "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=")
		var o, e bytes.Buffer
		c.Stdout, c.Stderr = &o, &e
		err := c.Run()
		code := 0
		if err != nil {
			code = 1
		}
		return result{o.String(), e.String(), code}
	}
	f := filepath.Join(dir, "people.csv")
	os.WriteFile(f, []byte("id,zip\n1,02134\n2,10001\n"), 0o644)
	ok(t, aws("s3", "mb", "s3://lake"))
	ok(t, aws("s3", "cp", f, "s3://lake/raw/people/people.csv"))
	if r := ok(t, aws("s3", "ls", "s3://lake/raw/people/")); !strings.Contains(r.stdout, "people.csv") {
		t.Errorf("ls: %s", r.stdout)
	}
	// The CLI works on the same lake while the server runs.
	ok(t, tarn(t, dir, "--data", data, "crawler", "create", "c", "--database", "db", "--path", "s3://lake/raw/"))
	ok(t, tarn(t, dir, "--data", data, "crawler", "start", "c"))
	// tarn query finds the running server and goes through its REST API.
	if r := ok(t, tarn(t, dir, "--data", data, "query", "--format", "csv", "SELECT zip FROM db.people ORDER BY id")); r.stdout != "zip\n02134\n10001\n" || !strings.Contains(r.stderr, "via "+apiURL) {
		t.Errorf("query: %q %q", r.stdout, r.stderr)
	}
	if r := tarn(t, dir, "--data", data, "query", "SELECT * FROM db.nope"); r.code == 0 || !strings.Contains(r.stderr, "no such table") {
		t.Errorf("failing remote query: %+v", r)
	}
	// A wrong secret is refused.
	bad := exec.Command(awsPath, "--endpoint-url", endpoint, "s3", "ls", "s3://lake/")
	bad.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=TKSERVETEST000000001", "AWS_SECRET_ACCESS_KEY=wrongwrongwrongwrongwrongwrongwrongwrong",
		"AWS_CONFIG_FILE="+awsCfg, "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"), "AWS_EC2_METADATA_DISABLED=true")
	if out, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(out), "SignatureDoesNotMatch") {
		t.Errorf("wrong secret: %v %s", err, out)
	}
	// /metrics with the key's bearer token shows the S3 traffic.
	token := strings.TrimSpace(ok(t, tarn(t, dir, "--data", data, "keys", "token", "TKSERVETEST000000001")).stdout)
	mreq, _ := http.NewRequest("GET", apiURL+"/metrics", nil)
	mreq.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(mreq)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(metrics), `tarn_s3_requests_total{method="PUT",status="200"}`) || !strings.Contains(string(metrics), "tarn_s3_received_bytes_total") {
		t.Errorf("metrics: %d\n%.2000s", resp.StatusCode, metrics)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve exited with %v: %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGINT")
	}
}

func TestKeysCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	pol := filepath.Join(dir, "p.json")
	os.WriteFile(pol, []byte(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/raw/*"}]}`), 0o644)
	r := ok(t, tarn(t, dir, "--data", data, "keys", "create", "ingest", "--policy", pol))
	if !strings.Contains(r.stdout, "AWS_ACCESS_KEY_ID=TK") || !strings.Contains(r.stdout, "AWS_SECRET_ACCESS_KEY=") {
		t.Fatalf("create: %s", r.stdout)
	}
	id := strings.TrimSpace(strings.SplitN(strings.SplitN(r.stdout, "AWS_ACCESS_KEY_ID=", 2)[1], "\n", 2)[0])
	list := ok(t, tarn(t, dir, "--data", data, "keys", "list")).stdout
	if !strings.Contains(list, id) || !strings.Contains(list, "s3:PutObject") || strings.Contains(list, "SECRET") {
		t.Errorf("list: %s", list)
	}
	os.WriteFile(pol, []byte(`{"Statement": [{"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}]}`), 0o644)
	if r := tarn(t, dir, "--data", data, "keys", "create", "bad", "--policy", pol); r.code == 0 || !strings.Contains(r.stderr, "Effect") {
		t.Errorf("bad policy: %+v", r)
	}
	ok(t, tarn(t, dir, "--data", data, "keys", "delete", id))
	if list := ok(t, tarn(t, dir, "--data", data, "keys", "list")).stdout; strings.Contains(list, id) {
		t.Errorf("deleted key still listed: %s", list)
	}
	// The keys' hashes are in the metadata: its file is the owner's only
	// (on PostgreSQL the server guards them).
	if !metatest.Postgres() {
		if st, err := os.Stat(filepath.Join(data, "tarn.db")); err != nil {
			t.Errorf("tarn.db: %v", err)
		} else if st.Mode().Perm() != 0o600 {
			t.Errorf("tarn.db mode: %v", st.Mode())
		}
	}
}

func TestWorkgroupCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	ok(t, tarn(t, dir, "--data", data, "quickstart"))
	ok(t, tarn(t, dir, "--data", data, "workgroup", "create", "careful", "--require-partition-filter", "etl_pipeline_db.orders", "--bytes-scanned-cutoff-mb", "1"))
	if r := ok(t, tarn(t, dir, "--data", data, "workgroup", "list")).stdout; !strings.Contains(r, "careful") || !strings.Contains(r, "primary") {
		t.Errorf("list: %s", r)
	}
	r := tarn(t, dir, "--data", data, "query", "--workgroup", "careful", "SELECT count(*) FROM etl_pipeline_db.orders")
	if r.code == 0 || !strings.Contains(r.stderr, "partition filter required") || !strings.Contains(r.stderr, "etl_pipeline_db.orders") {
		t.Errorf("unfiltered query in a strict workgroup: %+v", r)
	}
	ok(t, tarn(t, dir, "--data", data, "query", "--workgroup", "careful", "SELECT count(*) FROM etl_pipeline_db.orders WHERE day = 1"))
	sum := ok(t, tarn(t, dir, "--data", data, "query", "history", "--summary")).stdout
	if !strings.Contains(sum, "careful") || !strings.Contains(sum, "(local CLI)") {
		t.Errorf("summary: %s", sum)
	}
	// Updated in place: the rule goes, the cutoff (not given) stays.
	ok(t, tarn(t, dir, "--data", data, "workgroup", "update", "careful", "--require-partition-filter", "etl_pipeline_db.sales"))
	ok(t, tarn(t, dir, "--data", data, "query", "--workgroup", "careful", "SELECT count(*) FROM etl_pipeline_db.orders WHERE day = 1"))
	if r := ok(t, tarn(t, dir, "--data", data, "workgroup", "list")).stdout; !strings.Contains(r, "1048576") || !strings.Contains(r, "etl_pipeline_db.sales") {
		t.Errorf("after update: %s", r)
	}
	if r := tarn(t, dir, "--data", data, "workgroup", "update", "nope", "--max-concurrent", "2"); r.code == 0 || !strings.Contains(r.stderr, "no such workgroup") {
		t.Errorf("update of a missing workgroup: %+v", r)
	}
}

// startServe starts `tarn serve` on free ports and returns its API URL.
func startServe(t *testing.T, dir, data string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(tarnBin, "--data", data, "serve", "--s3-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "TARN_ACCESS_KEY_ID=TKSERVETEST000000001", "TARN_SECRET_ACCESS_KEY=servetestsecretservetestsecretservetest1")
	withMeta(t, cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var seen string
	buf := make([]byte, 4096)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		n, err := stdout.Read(buf)
		seen += string(buf[:n])
		if i := strings.Index(seen, "REST API on "); i >= 0 {
			rest := seen[i+len("REST API on "):]
			if j := strings.IndexAny(rest, " \n"); j > 0 {
				go io.Copy(io.Discard, stdout)
				return cmd, rest[:j]
			}
		}
		if err != nil {
			break
		}
	}
	t.Fatalf("serve did not start: %q", seen)
	return nil, ""
}

// TestServeKilledMidQuery kills the server while a query runs: after a
// restart the query shows FAILED with the reason, not RUNNING forever.
func TestServeKilledMidQuery(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	ok(t, tarn(t, dir, "--data", data, "mb", "s3://lake"))
	cmd, api := startServe(t, dir, data)
	token := strings.TrimSpace(ok(t, tarn(t, dir, "--data", data, "keys", "token", "TKSERVETEST000000001")).stdout)
	post := func(path, body string) string {
		req, _ := http.NewRequest("POST", api+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	out := post("/api/v1/queries", `{"sql": "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 1"}`)
	id := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(out), `{"id":"`), `"}`)
	if len(id) != 36 {
		t.Fatalf("start query: %s", out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if h := ok(t, tarn(t, dir, "--data", data, "query", "history")).stdout; strings.Contains(h, "RUNNING") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the query never ran")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	// The next process to open the lake records the interruption.
	h := ok(t, tarn(t, dir, "--data", data, "query", "history")).stdout
	if !strings.Contains(h, id) || !strings.Contains(h, "FAILED") || strings.Contains(h, "RUNNING") {
		t.Errorf("after the kill:\n%s", h)
	}
}

// TestServeTLS serves both listeners over HTTPS with a certificate given on
// the command line.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)

	cmd := exec.Command(tarnBin, "--data", data, "serve", "--s3-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile)
	cmd.Env = append(os.Environ(), "TARN_ACCESS_KEY_ID=TKSERVETEST000000001", "TARN_SECRET_ACCESS_KEY=servetestsecretservetestsecretservetest1")
	withMeta(t, cmd)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var seen string
	buf := make([]byte, 4096)
	for !strings.Contains(seen, "REST API on ") {
		n, err := out.Read(buf)
		seen += string(buf[:n])
		if err != nil {
			t.Fatalf("serve: %q %v", seen, err)
		}
	}
	i := strings.Index(seen, "REST API on ") + len("REST API on ")
	api := seen[i : i+strings.IndexAny(seen[i:], " \n")]
	if !strings.HasPrefix(api, "https://") || !strings.Contains(seen, "S3 endpoint on https://") {
		t.Fatalf("not HTTPS: %q", seen)
	}
	pool := x509.NewCertPool()
	pool.AddCert(must(x509.ParseCertificate(der)))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(api + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("HTTPS request: %d %v", resp.StatusCode, resp.TLS)
	}
	if r := tarn(t, dir, "--data", data, "serve", "--tls-cert", certFile); r.code == 0 || !strings.Contains(r.stderr, "--tls-key") {
		t.Errorf("--tls-cert without --tls-key: %+v", r)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestCrawlerKilledMidPublish kills a crawl inside the transaction that
// publishes its new table (after the table and its partitions are written,
// before the commit): the table is not there at all after the kill, never
// there without its partitions, and the next crawl publishes it whole.
func TestCrawlerKilledMidPublish(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	run := func(args ...string) result { return ok(t, tarn(t, dir, append([]string{"--data", data}, args...)...)) }
	run("mb", "s3://lake")
	src := filepath.Join(dir, "part.csv")
	if err := os.WriteFile(src, []byte("id,name\n1,a\n2,b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const days = 40
	for d := range days {
		run("cp", src, fmt.Sprintf("s3://lake/raw/events/day=%02d/part.csv", d+1))
	}
	run("query", "CREATE DATABASE raw_db")
	run("crawler", "create", "events", "--database", "raw_db", "--path", "s3://lake/raw/events/")

	cmd := exec.Command(tarnBin, "--data", data, "crawler", "start", "events")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TARN_DATA=", "TARN_TEST_KILL_AT=crawler-publish")
	withMeta(t, cmd)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the crawl was not killed at its publish: %v\n%s", err, out)
	}
	if r := tarn(t, dir, "--data", data, "catalog", "table", "raw_db.events"); r.code == 0 {
		t.Fatalf("after the kill the table is there:\n%s", r.stdout)
	}
	run("crawler", "start", "events")
	got := strings.TrimSpace(run("query", "--format", "csv", "SELECT count(DISTINCT day) AS d, count(*) AS n FROM raw_db.events").stdout)
	if got != fmt.Sprintf("d,n\n%d,%d", days, 2*days) {
		t.Fatalf("after the second crawl: %q", got)
	}
}
