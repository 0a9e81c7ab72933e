package auth

import (
	"bytes"
	"context"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// awsBinaries returns the aws CLIs on this machine: the one on PATH and
// Debian's /usr/bin/aws if that is another one (for example a pip-installed
// v1 next to Debian's v2).
func awsBinaries() []string {
	var bins []string
	if p, err := exec.LookPath("aws"); err == nil {
		bins = append(bins, p)
	}
	if _, err := os.Stat("/usr/bin/aws"); err == nil && (len(bins) == 0 || bins[0] != "/usr/bin/aws") {
		bins = append(bins, "/usr/bin/aws")
	}
	return bins
}

// TestAWSCLI drives the real aws CLI (Debian's awscli package, which CI
// installs) against a server that authenticates with this package, over
// HTTP and HTTPS (where recent CLIs send aws-chunked bodies with a trailing
// checksum), to prove that what a real client signs verifies here.
func TestAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the aws CLI many times (about 10 s per CLI and scheme)")
	}
	bins := awsBinaries()
	if len(bins) == 0 {
		t.Skip("aws CLI not installed (apt-get install awscli)")
	}
	for _, bin := range bins {
		for _, useTLS := range []bool{false, true} {
			name := strings.ReplaceAll(bin, "/", "_") + map[bool]string{false: "/http", true: "/https"}[useTLS]
			t.Run(name, func(t *testing.T) { testAWSCLI(t, bin, useTLS) })
		}
	}
}

func testAWSCLI(t *testing.T, awsBin string, useTLS bool) {
	ctx := context.Background()
	s := newService(t, Config{})
	admin, _, err := s.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		method, path, payload, sha string
		trailer                    http.Header
	}
	var mu sync.Mutex
	var requests []seen
	srv := startServer(t, s, func(r *http.Request, res result) {
		mu.Lock()
		defer mu.Unlock()
		requests = append(requests, seen{r.Method, r.URL.Path, r.Header.Get("X-Amz-Content-Sha256"), res.BodySHA256, r.Trailer.Clone()})
	}, useTLS)
	home := t.TempDir()
	// Both CLI generations presign with SigV4 only when told so (v1
	// defaults to SigV2 for s3 presign).
	config := filepath.Join(home, "config")
	if err := os.WriteFile(config, []byte("[default]\ns3 =\n  signature_version = s3v4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_CONFIG_FILE=" + config, "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", "AWS_MAX_ATTEMPTS=1",
	}
	client := http.DefaultClient
	if useTLS {
		ca := filepath.Join(home, "ca.pem")
		pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		if err := os.WriteFile(ca, pemData, 0o600); err != nil {
			t.Fatal(err)
		}
		env = append(env, "AWS_CA_BUNDLE="+ca)
		client = srv.Client()
	}
	run := func(k Key, args ...string) (string, error) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, awsBin, append([]string{"--endpoint-url", srv.URL, "--region", "us-east-1"}, args...)...)
		cmd.Env = append(env, "AWS_ACCESS_KEY_ID="+k.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+k.SecretAccessKey)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		start := time.Now()
		err := cmd.Run()
		t.Logf("aws %s: %s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
		return out.String() + errOut.String(), err
	}
	last := func() seen {
		mu.Lock()
		defer mu.Unlock()
		if len(requests) == 0 {
			t.Fatal("the server saw no authenticated request")
		}
		return requests[len(requests)-1]
	}
	for _, size := range []int{0, 3 << 20} {
		data := randomBytes(size)
		file := filepath.Join(home, "upload.bin")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := run(admin, "s3api", "put-object", "--bucket", "lake", "--key", "raw/a b+c.bin", "--body", file)
		if err != nil {
			t.Fatalf("put-object of %d bytes: %v\n%s", size, err, out)
		}
		got := last()
		t.Logf("put-object of %d bytes: x-amz-content-sha256 %s, trailer %v", size, got.payload, got.trailer)
		if got.method != "PUT" || got.path != "/lake/raw/a b+c.bin" || got.sha != sha256Hex(data) {
			t.Fatalf("server saw %+v", got)
		}
	}

	// aws s3 cp takes the high-level transfer path.
	file := filepath.Join(home, "cp.bin")
	data := randomBytes(1 << 20)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(admin, "s3", "cp", file, "s3://lake/raw/cp.bin"); err != nil {
		t.Fatalf("s3 cp: %v\n%s", err, out)
	}
	if got := last(); got.sha != sha256Hex(data) || got.path != "/lake/raw/cp.bin" {
		t.Fatalf("server saw %+v", got)
	} else {
		t.Logf("s3 cp: x-amz-content-sha256 %s, trailer %v", got.payload, got.trailer)
	}

	out, err := run(admin, "s3", "presign", "s3://lake/raw/report 1.csv", "--expires-in", "60")
	if err != nil {
		t.Fatalf("presign: %v\n%s", err, out)
	}
	req, err := http.NewRequest("GET", strings.TrimSpace(out), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res, code := doWith(t, client, req); code != "" || !res.Presigned || res.AccessKeyID != admin.AccessKeyID {
		t.Fatalf("presigned GET: code %q, result %+v", code, res)
	}

	wrong := admin
	wrong.SecretAccessKey = NewSecretAccessKey()
	out, err = run(wrong, "s3api", "put-object", "--bucket", "lake", "--key", "raw/x", "--body", file)
	if err == nil || !strings.Contains(out, "SignatureDoesNotMatch") {
		t.Fatalf("wrong secret: err %v\n%s", err, out)
	}
	unknown := Key{AccessKeyID: NewAccessKeyID(), SecretAccessKey: admin.SecretAccessKey}
	out, err = run(unknown, "s3api", "put-object", "--bucket", "lake", "--key", "raw/x", "--body", file)
	if err == nil || !strings.Contains(out, "InvalidAccessKeyId") {
		t.Fatalf("unknown key: err %v\n%s", err, out)
	}
}
