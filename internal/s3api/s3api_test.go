package s3api_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
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

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/s3api"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/fs"
)

type env struct {
	t      *testing.T
	url    string
	store  storage.ObjectStore
	auth   *auth.Service
	admin  auth.Key
	events []string
	mu     sync.Mutex
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	home := t.TempDir()
	store, err := fs.New(fs.DefaultConfig(filepath.Join(home, "objects")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	db, err := meta.Open(ctx, metatest.Config(t, filepath.Join(home, "tarn.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := auth.DefaultConfig(home)
	cfg.AdminAccessKeyID, cfg.AdminSecretAccessKey = "TKADMINKEY0000000001", "adminsecretadminsecretadminsecretadminse"
	a, err := auth.New(ctx, db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := a.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, auth: a, admin: admin}
	uploads, err := storage.NewUploads(filepath.Join(home, "uploads"), store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uploads.Close() })
	srv := httptest.NewServer(s3api.New(s3api.DefaultConfig(), store, uploads, a, func(_ context.Context, info storage.ObjectInfo, via string) {
		e.mu.Lock()
		e.events = append(e.events, via+" "+info.URI())
		e.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// awsBin finds the aws CLI: Debian's package first (what CI installs).
func awsBin(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/aws", "/usr/local/bin/aws"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the aws CLI is not installed (.ci/run installs Debian's awscli)")
		}
		t.Skip("the aws CLI is not installed: apt-get install awscli")
	}
	return p
}

// aws runs one aws CLI command line against the endpoint with a key, in
// the package's CLI worker.
func (e *env) aws(k auth.Key, args ...string) (string, string, error) {
	e.t.Helper()
	r := e.awsBatch(k, args)[0]
	if r.RC != 0 {
		return r.Out, r.Err, fmt.Errorf("exit status %d", r.RC)
	}
	return r.Out, r.Err, nil
}

// awsExec runs the aws CLI command itself, in its own process, as users do.
func (e *env) awsExec(k auth.Key, args ...string) (string, string, error) {
	e.t.Helper()
	cmd := exec.Command(awsBin(e.t), append([]string{"--endpoint-url", e.url}, args...)...)
	cmd.Env = os.Environ()
	for name, v := range e.awsEnv(k) {
		cmd.Env = append(cmd.Env, name+"="+v)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func (e *env) mustAWS(k auth.Key, args ...string) string {
	e.t.Helper()
	out, errOut, err := e.aws(k, args...)
	if err != nil {
		e.t.Fatalf("aws %v: %v\n%s\n%s", args, err, out, errOut)
	}
	return out
}

// TestAWSCLI runs the CLI's own command, each in its own process, where
// data moves and where an error must come back as the exit status; the
// other command lines run in the CLI worker.
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mustExec := func(args ...string) {
		t.Helper()
		if out, errOut, err := e.awsExec(e.admin, args...); err != nil {
			t.Fatalf("aws %v: %v\n%s\n%s", args, err, out, errOut)
		}
	}
	dir := t.TempDir()
	small := filepath.Join(dir, "small.csv")
	os.WriteFile(small, []byte("id,name\n1,a\n2,b\n"), 0o644)
	big := filepath.Join(dir, "big.bin")
	data := make([]byte, 100<<20) // above the CLI's 8 MiB threshold: a multipart upload
	rand.Read(data)
	os.WriteFile(big, data, 0o644)

	mustExec("s3", "mb", "s3://lake")
	e.mustAWS(e.admin, "s3", "cp", small, "s3://lake/raw/sales/small.csv")
	mustExec("s3", "cp", big, "s3://lake/raw/blobs/big.bin")
	ls := e.mustAWS(e.admin, "s3", "ls", "--recursive", "s3://lake/")
	for _, want := range []string{"raw/sales/small.csv", "raw/blobs/big.bin", "104857600"} {
		if !strings.Contains(ls, want) {
			t.Errorf("ls lacks %s:\n%s", want, ls)
		}
	}
	top := e.mustAWS(e.admin, "s3", "ls", "s3://lake/raw/")
	if !strings.Contains(top, "PRE blobs/") || !strings.Contains(top, "PRE sales/") {
		t.Errorf("ls with delimiter:\n%s", top)
	}
	// A multipart object's ETag is S3's: MD5 of the parts' MD5s, "-N".
	head := e.mustAWS(e.admin, "s3api", "head-object", "--bucket", "lake", "--key", "raw/blobs/big.bin")
	if !strings.Contains(head, `-13\"`) {
		t.Errorf("multipart ETag: %s", head)
	}
	back := filepath.Join(dir, "back.bin")
	mustExec("s3", "cp", "s3://lake/raw/blobs/big.bin", back)
	if got, _ := os.ReadFile(back); !bytes.Equal(got, data) {
		t.Error("downloaded object differs")
	}
	// The object is a plain file in the lake.
	rc, info, err := e.store.Get(context.Background(), "lake", "raw/sales/small.csv", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	if sum := md5.Sum(body); string(body) != "id,name\n1,a\n2,b\n" || info.ETag != hex.EncodeToString(sum[:]) {
		t.Errorf("stored %q etag %s", body, info.ETag)
	}

	// sync uploads a folder, then only what changed.
	syncDir := filepath.Join(dir, "sync")
	os.MkdirAll(filepath.Join(syncDir, "sub"), 0o755)
	os.WriteFile(filepath.Join(syncDir, "a.txt"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(syncDir, "sub", "b.txt"), []byte("b"), 0o644)
	out := e.mustAWS(e.admin, "s3", "sync", syncDir, "s3://lake/synced/")
	if strings.Count(out, "upload:") != 2 {
		t.Errorf("first sync: %s", out)
	}
	if out := e.mustAWS(e.admin, "s3", "sync", syncDir, "s3://lake/synced/"); strings.Contains(out, "upload:") {
		t.Errorf("second sync uploaded again: %s", out)
	}

	// rm, and rm of a prefix.
	e.mustAWS(e.admin, "s3", "rm", "s3://lake/raw/blobs/big.bin")
	e.mustAWS(e.admin, "s3", "rm", "--recursive", "s3://lake/synced/")
	if ls := e.mustAWS(e.admin, "s3", "ls", "--recursive", "s3://lake/"); strings.Contains(ls, "big.bin") || strings.Contains(ls, "synced/") {
		t.Errorf("after rm:\n%s", ls)
	}

	// A presigned URL works with a plain HTTP client, and only for a while.
	url := strings.TrimSpace(e.mustAWS(e.admin, "s3", "presign", "s3://lake/raw/sales/small.csv", "--expires-in", "300"))
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != "id,name\n1,a\n2,b\n" {
		t.Errorf("presigned GET: %d %q", resp.StatusCode, got)
	}
	i := strings.Index(url, "X-Amz-Signature=") + len("X-Amz-Signature=")
	flipped := byte('0')
	if url[i] == '0' {
		flipped = '1'
	}
	resp, err = http.Get(url[:i] + string(flipped) + url[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(got), "SignatureDoesNotMatch") {
		t.Errorf("tampered presigned GET: %d %s", resp.StatusCode, got)
	}

	// Wrong secret.
	bad := e.admin
	bad.SecretAccessKey = strings.Repeat("x", 40)
	if _, errOut, err := e.awsExec(bad, "s3", "ls", "s3://lake/"); err == nil || !strings.Contains(errOut, "SignatureDoesNotMatch") {
		t.Errorf("wrong secret: %v %s", err, errOut)
	}
	if _, errOut, err := e.aws(bad, "s3", "ls", "s3://lake/"); err == nil || !strings.Contains(errOut, "SignatureDoesNotMatch") {
		t.Errorf("wrong secret, in the worker: %v %s", err, errOut)
	}
	// No credentials at all: no anonymous access.
	resp, err = http.Get(e.url + "/lake/raw/sales/small.csv")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("anonymous GET: %d", resp.StatusCode)
	}

	// Events: one per new object version.
	e.mu.Lock()
	events := strings.Join(e.events, "\n")
	e.mu.Unlock()
	if strings.Count(events, "PutObject s3://lake/raw/sales/small.csv") != 1 || strings.Count(events, "PutObject") != 3 ||
		strings.Count(events, "CompleteMultipartUpload s3://lake/raw/blobs/big.bin") != 1 {
		t.Errorf("events:\n%s", events)
	}
}

func TestRestrictedKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.mustAWS(e.admin, "s3", "mb", "s3://lake")
	dir := t.TempDir()
	f := filepath.Join(dir, "x.csv")
	os.WriteFile(f, []byte("a\n1\n"), 0o644)
	e.mustAWS(e.admin, "s3", "cp", f, "s3://lake/curated/secret.csv")
	policy, err := auth.ParsePolicy([]byte(`{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "arn:aws:s3:::lake/raw/*"},
		{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::lake"},
		{"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/raw/forbidden/*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.auth.CreateKey(ctx, "ingest", policy)
	if err != nil {
		t.Fatal(err)
	}
	e.mustAWS(k, "s3", "cp", f, "s3://lake/raw/x.csv")
	for _, args := range [][]string{
		{"s3", "cp", "s3://lake/curated/secret.csv", filepath.Join(dir, "stolen.csv")},
		{"s3", "cp", f, "s3://lake/curated/x.csv"},
		{"s3", "cp", f, "s3://lake/raw/forbidden/x.csv"},
		{"s3", "rm", "s3://lake/raw/x.csv"},
		{"s3", "mb", "s3://other"},
	} {
		if _, errOut, err := e.aws(k, args...); err == nil || !strings.Contains(errOut, "AccessDenied") && !strings.Contains(errOut, "403") {
			t.Errorf("%v by a key limited to raw/: %v %s", args, err, errOut)
		}
	}
	if _, err := e.store.Head(ctx, "lake", "curated/x.csv"); err == nil {
		t.Error("a denied put stored the object")
	}
}

func TestS3Errors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"s3api", "get-object", "--bucket", "nope", "--key", "x", "/dev/null"}, "NoSuchBucket"},
		{[]string{"s3api", "create-bucket", "--bucket", "Bad_Name"}, "InvalidBucketName"},
	} {
		if _, errOut, err := e.aws(e.admin, c.args...); err == nil || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: %v %s", c.args, err, errOut)
		}
	}
	e.mustAWS(e.admin, "s3", "mb", "s3://lake")
	if _, errOut, err := e.aws(e.admin, "s3api", "get-object", "--bucket", "lake", "--key", "missing", filepath.Join(t.TempDir(), "x")); err == nil || !strings.Contains(errOut, "NoSuchKey") {
		t.Errorf("missing key: %v %s", err, errOut)
	}
	f := filepath.Join(t.TempDir(), "x")
	os.WriteFile(f, []byte("x"), 0o644)
	e.mustAWS(e.admin, "s3", "cp", f, "s3://lake/x")
	if _, errOut, err := e.aws(e.admin, "s3", "rb", "s3://lake"); err == nil || !strings.Contains(errOut, "BucketNotEmpty") {
		t.Errorf("rb of a non-empty bucket: %v %s", err, errOut)
	}
	// A wrong Content-MD5 keeps the old object.
	if _, errOut, err := e.aws(e.admin, "s3api", "put-object", "--bucket", "lake", "--key", "x", "--body", f, "--content-md5", "AAAAAAAAAAAAAAAAAAAAAA=="); err == nil || !strings.Contains(errOut, "BadDigest") {
		t.Errorf("bad Content-MD5: %v %s", err, errOut)
	}
	// Ranged get.
	out := filepath.Join(t.TempDir(), "r")
	os.WriteFile(f, []byte("0123456789"), 0o644)
	e.mustAWS(e.admin, "s3", "cp", f, "s3://lake/digits")
	e.mustAWS(e.admin, "s3api", "get-object", "--bucket", "lake", "--key", "digits", "--range", "bytes=2-4", out)
	if b, _ := os.ReadFile(out); string(b) != "234" {
		t.Errorf("range get: %q", b)
	}
	// Copy and delete-objects.
	e.mustAWS(e.admin, "s3api", "copy-object", "--bucket", "lake", "--key", "digits2", "--copy-source", "lake/digits")
	del := e.mustAWS(e.admin, "s3api", "delete-objects", "--bucket", "lake", "--delete", `{"Objects": [{"Key": "digits"}, {"Key": "digits2"}]}`)
	if !strings.Contains(del, "digits2") {
		t.Errorf("delete-objects: %s", del)
	}
}
