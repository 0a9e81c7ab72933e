package auth

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
)

// newService opens a real SQLite file in a temp folder and the auth service
// over it.
func newService(t *testing.T, cfg Config) *Service {
	t.Helper()
	ctx := context.Background()
	home := t.TempDir()
	if cfg.Home == "" {
		cfg.Home = home
	}
	db, err := meta.Open(ctx, metatest.Config(t, filepath.Join(home, "tarn.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := New(ctx, db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// result is what the test server answers on success.
type result struct {
	AccessKeyID string
	Region      string
	Service     string
	Presigned   bool
	Body        string // if valid UTF-8
	BodySHA256  string
	Trailer     map[string]string
}

// s3Error is the S3 XML error document the test server answers with.
type s3Error struct {
	XMLName xml.Name `xml:"Error"`
	Code    string   `xml:"Code"`
	Message string   `xml:"Message"`
}

// newServer starts a real HTTP server on 127.0.0.1 whose handler does what
// the S3 endpoint will: Authenticate, read the whole body, and answer with
// an S3 XML error (code from S3ErrorCode) on any failure.
func newServer(t *testing.T, s *Service) *httptest.Server {
	t.Helper()
	return newServerWith(t, s, nil)
}

// newServerWith is newServer with a hook called for each authenticated
// request after its body was read.
func newServerWith(t *testing.T, s *Service, hook func(r *http.Request, res result)) *httptest.Server {
	t.Helper()
	return startServer(t, s, hook, false)
}

// startServer starts the test server, with TLS (a certificate for
// 127.0.0.1 from httptest) when useTLS is set.
func startServer(t *testing.T, s *Service, hook func(r *http.Request, res result), useTLS bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(err error) {
			code, status := S3ErrorCode(err)
			t.Logf("server: %s %s: %s: %v", r.Method, r.URL.Path, code, err)
			// The body may be unread (and a client may wait for "100
			// Continue"): do not reuse the connection.
			w.Header().Set("Connection", "close")
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			_ = xml.NewEncoder(w).Encode(s3Error{Code: code, Message: err.Error()})
		}
		p, err := s.Authenticate(r)
		if err != nil {
			fail(err)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			fail(err)
			return
		}
		res := result{AccessKeyID: p.Key.AccessKeyID, Region: p.Region, Service: p.Service, Presigned: p.Presigned, BodySHA256: sha256Hex(body)}
		if utf8.Valid(body) {
			res.Body = string(body)
		}
		if len(r.Trailer) > 0 {
			res.Trailer = map[string]string{}
			for k := range r.Trailer {
				res.Trailer[k] = r.Trailer.Get(k)
			}
		}
		if p.Key.SecretAccessKey != "" {
			fail(errors.New("principal carries the secret"))
			return
		}
		if hook != nil {
			hook(r, res)
		}
		sum := md5.Sum(body)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		if strings.Contains(r.UserAgent(), "aws-cli") {
			// The aws CLI parses S3 answers as XML: answer like S3 (no body).
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	}))
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}

// do sends req and returns the decoded result, or the S3 error code.
func do(t *testing.T, req *http.Request) (result, string) {
	t.Helper()
	return doWith(t, http.DefaultClient, req)
}

func doWith(t *testing.T, client *http.Client, req *http.Request) (result, string) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		var e s3Error
		if err := xml.Unmarshal(data, &e); err != nil {
			t.Fatalf("status %d, body %q", resp.StatusCode, data)
		}
		t.Logf("%s %s: %d %s: %s", req.Method, req.URL.Path, resp.StatusCode, e.Code, e.Message)
		return result{}, e.Code
	}
	var res result
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatalf("body %q: %v", data, err)
	}
	return res, ""
}
