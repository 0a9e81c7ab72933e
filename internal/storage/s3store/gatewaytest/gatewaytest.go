// Package gatewaytest starts versitygw (github.com/versity/versitygw), a
// real S3 gateway, with its POSIX backend in a temp folder, for the tests
// of the S3 storage backend and of what sits on it (the read-through
// cache). One gateway serves a test binary; tests take external buckets
// of their own. CI installs the binary (.ci/run):
//
//	go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
package gatewaytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tarn-lake/tarn/internal/storage/s3store"
)

// The gateway's root credentials.
const (
	Access = "tarntestaccess"
	Secret = "tarntestsecret0123456789"
)

// Gateway is a running versitygw (or MinIO, StartMinIO).
type Gateway struct {
	Name     string // "versitygw" or "MinIO"
	Endpoint string
	Dir      string
	mu       sync.Mutex
	requests map[string]int
}

// Main starts a gateway for a test binary and runs its tests: call it
// from TestMain. If the gateway cannot start, the tests that ask for it
// (Need) fail with the reason.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "tarn-versitygw-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stop := func() {}
	gw, stop, gwErr = start(dir)
	code := m.Run()
	stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	gw    *Gateway
	gwErr error = fmt.Errorf("gatewaytest.Main was not called from TestMain")
)

// Need returns the gateway, failing the test if it could not start.
func Need(t testing.TB) *Gateway {
	t.Helper()
	if gwErr != nil {
		t.Fatalf("the S3 storage tests need versitygw: %v", gwErr)
	}
	return gw
}

func binary() (string, error) {
	return find("versitygw", "github.com/versity/versitygw/cmd/versitygw@v1.8.0")
}

// find looks for a Go-installed program on PATH and in GOPATH/bin.
func find(name, module string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not installed; install it with\n\tgo install %s\n(.ci/run does this before make test)", name, module)
}

// MinIOModule is the MinIO server tested against: MinIO tags releases
// by date, not semver, so the Go module proxy serves it by pseudo-version.
const MinIOModule = "github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"

// StartMinIO starts a MinIO server (one drive in a temp folder) on a free
// port of 127.0.0.1 for one test, with the same root credentials as the
// gateway's, and waits until it answers its readiness check. It is
// stopped when the test ends.
func StartMinIO(t testing.TB) *Gateway {
	t.Helper()
	bin, err := find("minio", MinIOModule)
	if err != nil {
		t.Fatalf("the MinIO tests need the MinIO server: %v", err)
	}
	dir := t.TempDir()
	addrs := make([]string, 2)
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = l.Addr().String()
		l.Close()
	}
	logf, err := os.Create(filepath.Join(dir, "minio.log"))
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(bin, "server", data, "--address", addrs[0], "--console-address", addrs[1], "--quiet")
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+Access, "MINIO_ROOT_PASSWORD="+Secret,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "HOME="+dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start MinIO: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		logf.Close()
	})
	endpoint := "http://" + addrs[0]
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// Listening is not ready: MinIO answers 503 until its drive is set up.
		if resp, err := http.Get(endpoint + "/minio/health/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("MinIO exited before it was ready (%v):\n%s", err, log)
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatal("the test ended while MinIO started")
		}
	}
	return &Gateway{Name: "MinIO", Endpoint: endpoint, Dir: data, requests: map[string]int{}}
}

// start starts versitygw on a free port of 127.0.0.1 and polls the port
// until it accepts connections (or the process exits).
func start(dir string) (*Gateway, func(), error) {
	bin, err := binary()
	if err != nil {
		return nil, func() {}, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, func() {}, err
	}
	addr := l.Addr().String()
	l.Close()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, func() {}, err
	}
	logf, err := os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		return nil, func() {}, err
	}
	cmd := exec.Command(bin, "--access", Access, "--secret", Secret, "--port", addr, "--quiet", "posix", data)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, func() {}, fmt.Errorf("cannot start versitygw: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
		logf.Close()
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			logf.Close()
			log, _ := os.ReadFile(logf.Name())
			return nil, func() {}, fmt.Errorf("versitygw exited before it listened (%v):\n%s", err, log)
		case <-tick.C:
		}
	}
	return &Gateway{Name: "versitygw", Endpoint: "http://" + addr, Dir: data, requests: map[string]int{}}, stop, nil
}

// Count returns how many requests of a kind the stores of NewStore sent:
// the method, then the first of the query parameters "uploads",
// "partNumber", "uploadId", "list-type" present ("GET", "GET list-type",
// "POST uploads", "PUT partNumber"...).
func (g *Gateway) Count(what string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests[what]
}

type counting struct {
	g    *Gateway
	next http.RoundTripper
}

func (c counting) RoundTrip(r *http.Request) (*http.Response, error) {
	what := r.Method
	q := r.URL.Query()
	for _, k := range []string{"uploads", "partNumber", "uploadId", "list-type"} {
		if q.Has(k) {
			what += " " + k
			break
		}
	}
	c.g.mu.Lock()
	c.g.requests[what]++
	c.g.mu.Unlock()
	return c.next.RoundTrip(r)
}

// Admin is a plain S3 client of the gateway, for what tarn's store does
// not do (creating external buckets, looking behind the store's back).
func (g *Gateway) Admin() *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(g.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(Access, Secret, ""),
	})
}

func randName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NewExternalBucket creates a bucket of the gateway.
func (g *Gateway) NewExternalBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("ext-%d-%s", os.Getpid(), randName())
	if _, err := g.Admin().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("CreateBucket(%s) on %s: %v", name, g.Name, err)
	}
	return name
}

// Config is a store configuration on a new external bucket, under prefix,
// whose requests Count counts.
func (g *Gateway) Config(t testing.TB, prefix string) s3store.Config {
	return s3store.Config{
		Bucket: g.NewExternalBucket(t), Prefix: prefix, Endpoint: g.Endpoint, Region: "us-east-1", PathStyle: true,
		AccessKey: Access, SecretKey: Secret,
		HTTPClient: &http.Client{Transport: counting{g: g, next: http.DefaultTransport}},
	}
}

// NewStore opens a store on a new external bucket, under prefix; edit
// changes its configuration first. It is closed when the test ends.
func (g *Gateway) NewStore(t testing.TB, prefix string, edit ...func(*s3store.Config)) *s3store.Store {
	t.Helper()
	cfg := g.Config(t, prefix)
	for _, e := range edit {
		e(&cfg)
	}
	s, err := s3store.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("s3store.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
