package s3store_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The tests run against versitygw (github.com/versity/versitygw), a real S3
// gateway, with its POSIX backend in a temp folder: one gateway for the
// package, started by TestMain, each test in buckets of its own.

const (
	gwAccess = "tarntestaccess"
	gwSecret = "tarntestsecret0123456789"
)

type gateway struct {
	endpoint string
	dir      string
	// requests counts the requests sent through countingClient, by
	// method and first query parameter name ("GET", "GET uploads"...).
	mu       sync.Mutex
	requests map[string]int
	gets     atomic.Int64
}

var (
	gw    *gateway
	gwErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tarn-s3store-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stop := func() {}
	gw, stop, gwErr = startGateway(dir)
	code := m.Run()
	stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

func versitygwPath() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("versitygw is not installed; install it with\n\tgo install github.com/versity/versitygw/cmd/versitygw@v1.8.0\n(.ci/run does this before make test)")
}

// startGateway starts versitygw on a free port of 127.0.0.1 and waits until
// it accepts connections (or exits).
func startGateway(dir string) (*gateway, func(), error) {
	bin, err := versitygwPath()
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
	cmd := exec.Command(bin, "--access", gwAccess, "--secret", gwSecret, "--port", addr, "--quiet", "posix", data)
	logf, err := os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		return nil, func() {}, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
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
			log, _ := os.ReadFile(logf.Name())
			return nil, func() {}, fmt.Errorf("versitygw exited before it listened (%v):\n%s", err, log)
		case <-tick.C:
		}
	}
	g := &gateway{endpoint: "http://" + addr, dir: data, requests: map[string]int{}}
	return g, stop, nil
}

func needGateway(t testing.TB) *gateway {
	t.Helper()
	if gwErr != nil {
		t.Fatalf("the S3 store tests need versitygw: %v", gwErr)
	}
	return gw
}

// countingTransport counts the requests that reach the gateway.
type countingTransport struct {
	g    *gateway
	next http.RoundTripper
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
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
	if r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "" {
		c.g.gets.Add(1)
	}
	return c.next.RoundTrip(r)
}

func (g *gateway) count(what string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests[what]
}

// admin is a plain S3 client of the gateway, for what tarn's store does
// not do (creating the external bucket, looking behind the store's back).
func (g *gateway) admin() *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(g.endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(gwAccess, gwSecret, ""),
	})
}

// newExternalBucket creates a bucket of the gateway.
func (g *gateway) newExternalBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("ext-%d-%s", os.Getpid(), randName())
	if _, err := g.admin().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("CreateBucket(%s) on versitygw: %v", name, err)
	}
	return name
}

// readAll reads what the external store holds under key.
func (g *gateway) readAll(t testing.TB, bucket, key string) (string, error) {
	t.Helper()
	out, err := g.admin().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}
