package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
)

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// s3Signer returns a signer that signs the way the AWS SDK's S3 client does
// (no double encoding). It is new for every request because the SDK caches
// signing keys by access key id, which would hide a wrong secret.
func s3Signer() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
}

// genericSigner signs the way other AWS services' clients do.
func genericSigner() *v4.Signer { return v4.NewSigner() }

func creds(k Key) aws.Credentials {
	return aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}
}

// signS3 builds a request to srv and signs it with the AWS SDK's signer.
// payload is the x-amz-content-sha256 value ("" = SHA-256 of body).
func signS3(t *testing.T, k Key, method, url string, body []byte, payload, region string, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	if payload == "" {
		payload = sha256Hex(body)
	}
	req.Header.Set("X-Amz-Content-Sha256", payload)
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("X-Amz-Meta-Note", "  two   spaces  ")
	if err := s3Signer().SignHTTP(context.Background(), creds(k), req, payload, "s3", region, at); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestAuthenticateHeader(t *testing.T) {
	s := newService(t, Config{})
	admin, _, err := s.EnsureAdmin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, s)
	now := time.Now()
	wrong := admin
	wrong.SecretAccessKey = NewSecretAccessKey()
	unknown := Key{AccessKeyID: NewAccessKeyID(), SecretAccessKey: admin.SecretAccessKey}
	body := []byte("id,amount\n1,2.50\n")

	tests := []struct {
		name    string
		key     Key
		method  string
		path    string
		body    []byte
		payload string
		region  string
		at      time.Time
		code    string
	}{
		{name: "put with sha256 payload", key: admin, method: "PUT", path: "/lake/raw/sales.csv", body: body},
		{name: "put unsigned payload", key: admin, method: "PUT", path: "/lake/raw/sales.csv", body: body, payload: UnsignedPayload},
		{name: "get empty body", key: admin, method: "GET", path: "/lake/raw/sales.csv"},
		{name: "special characters in key", key: admin, method: "PUT", path: "/lake/raw/a%20b%2Bc%3D%C3%BC%21%27%28%29%2A.csv", body: body},
		{name: "query string", key: admin, method: "GET", path: "/lake?list-type=2&prefix=raw%2Fa%20b&delimiter=%2F&max-keys=10&encoding-type=url"},
		{name: "query flag without value", key: admin, method: "GET", path: "/lake?versioning"},
		{name: "other region", key: admin, method: "GET", path: "/lake/", region: "eu-west-3"},
		{name: "wrong secret", key: wrong, method: "PUT", path: "/lake/raw/x", body: body, code: "SignatureDoesNotMatch"},
		{name: "unknown key", key: unknown, method: "GET", path: "/lake/x", code: "InvalidAccessKeyId"},
		{name: "skewed back", key: admin, method: "GET", path: "/lake/x", at: now.Add(-20 * time.Minute), code: "RequestTimeTooSkewed"},
		{name: "skewed ahead", key: admin, method: "GET", path: "/lake/x", at: now.Add(16 * time.Minute), code: "RequestTimeTooSkewed"},
		{name: "skew within limit", key: admin, method: "GET", path: "/lake/x", at: now.Add(-14 * time.Minute)},
		{name: "body does not match sha256", key: admin, method: "PUT", path: "/lake/raw/x", body: body, payload: sha256Hex([]byte("other")), code: "XAmzContentSHA256Mismatch"},
		{name: "bad payload value", key: admin, method: "PUT", path: "/lake/raw/x", body: body, payload: "SOMETHING", code: "InvalidArgument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			region, at := tc.region, tc.at
			if region == "" {
				region = "us-east-1"
			}
			if at.IsZero() {
				at = now
			}
			req := signS3(t, tc.key, tc.method, srv.URL+tc.path, tc.body, tc.payload, region, at)
			res, code := do(t, req)
			if code != tc.code {
				t.Fatalf("code %q, want %q", code, tc.code)
			}
			if code != "" {
				return
			}
			if res.AccessKeyID != admin.AccessKeyID || res.Region != region || res.Service != "s3" || res.Presigned {
				t.Errorf("principal %+v", res)
			}
			if res.Body != string(tc.body) {
				t.Errorf("body %q, want %q", res.Body, tc.body)
			}
		})
	}
}

func TestAuthenticateTampered(t *testing.T) {
	s := newService(t, Config{})
	admin, _, err := s.EnsureAdmin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, s)
	f := func(name string, change func(r *http.Request), code string) {
		t.Helper()
		req := signS3(t, admin, "PUT", srv.URL+"/lake/raw/a.csv?x-id=PutObject", []byte("abc"), "", "us-east-1", time.Now())
		change(req)
		if _, got := do(t, req); got != code {
			t.Errorf("%s: code %q, want %q", name, got, code)
		}
	}
	f("path", func(r *http.Request) { r.URL.Path = "/lake/curated/a.csv" }, "SignatureDoesNotMatch")
	f("query", func(r *http.Request) { r.URL.RawQuery = "x-id=DeleteObject" }, "SignatureDoesNotMatch")
	f("method", func(r *http.Request) { r.Method = "POST" }, "SignatureDoesNotMatch")
	f("signed header", func(r *http.Request) { r.Header.Set("X-Amz-Meta-Note", "changed") }, "SignatureDoesNotMatch")
	f("host", func(r *http.Request) { r.Host = "evil.example:80" }, "SignatureDoesNotMatch")
	f("unsigned header", func(r *http.Request) { r.Header.Set("User-Agent", "changed") }, "")
	f("no auth", func(r *http.Request) { r.Header.Del("Authorization") }, "AccessDenied")
	f("sigv2", func(r *http.Request) { r.Header.Set("Authorization", "AWS AKID:sig") }, "InvalidRequest")
	f("malformed", func(r *http.Request) {
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=", "Signed=", 1))
	}, "AuthorizationHeaderMalformed")
	f("no content sha", func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }, "MissingSecurityHeader")
	f("no date", func(r *http.Request) { r.Header.Del("X-Amz-Date") }, "AccessDenied")
	f("bad date", func(r *http.Request) { r.Header.Set("X-Amz-Date", "03032006") }, "AccessDenied")
	f("unsigned x-amz header", func(r *http.Request) { r.Header.Set("X-Amz-Tagging", "a=b") }, "AccessDenied")
	f("security token", func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Security-Token=t" }, "InvalidToken")
	f("no scheme", func(r *http.Request) { r.Header.Set("Authorization", "invalid_header") }, "InvalidArgument")
	f("other scheme", func(r *http.Request) {
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS2-HMAC-SHA1", 1))
	}, "InvalidArgument")
	f("scope date differs", func(r *http.Request) {
		d := time.Now().UTC()
		h := r.Header.Get("Authorization")
		r.Header.Set("Authorization", strings.Replace(h, "/"+d.Format("20060102")+"/", "/"+d.AddDate(0, 0, -1).Format("20060102")+"/", 1))
	}, "AuthorizationHeaderMalformed")
	f("sigv2 presigned", func(r *http.Request) {
		r.Header.Del("Authorization")
		r.URL.RawQuery = "AWSAccessKeyId=AKID&Signature=abc%3D&Expires=1795577777"
	}, "InvalidRequest")
	f("header and presign", func(r *http.Request) { r.URL.RawQuery = "X-Amz-Signature=00" }, "InvalidArgument")
}

// TestAuthenticateGenericService signs like a non-S3 AWS client (the REST
// API): the path is double-encoded and the payload hash is not sent.
func TestAuthenticateGenericService(t *testing.T) {
	s := newService(t, Config{})
	admin, _, err := s.EnsureAdmin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, s)
	body := []byte(`{"sql": "SELECT 1", "database": "sales"}`)
	req, err := http.NewRequest("POST", srv.URL+"/api/v1/queries/a%20b?workgroup=primary", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := genericSigner().SignHTTP(context.Background(), creds(admin), req, sha256Hex(body), "execute-api", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	res, code := do(t, req)
	if code != "" || res.Service != "execute-api" || res.Body != string(body) {
		t.Fatalf("code %q, result %+v", code, res)
	}

	// The body is part of the signature when no x-amz-content-sha256 is sent.
	req, _ = http.NewRequest("POST", srv.URL+"/api/v1/queries", bytes.NewReader(body))
	if err := genericSigner().SignHTTP(context.Background(), creds(admin), req, sha256Hex([]byte("other")), "execute-api", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, code := do(t, req); code != "SignatureDoesNotMatch" {
		t.Fatalf("code %q, want SignatureDoesNotMatch", code)
	}
}

func presign(t *testing.T, k Key, method, rawURL string, expires time.Duration, at time.Time) string {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := req.URL.Query()
	q.Set("X-Amz-Expires", strconv.FormatInt(int64(expires/time.Second), 10))
	req.URL.RawQuery = q.Encode()
	u, _, err := s3Signer().PresignHTTP(context.Background(), creds(k), req, UnsignedPayload, "s3", "us-east-1", at)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestAuthenticatePresigned(t *testing.T) {
	now := time.Now()
	clock := now
	s := newService(t, Config{Now: func() time.Time { return clock }})
	admin, _, err := s.EnsureAdmin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, s)
	get := func(u string) (result, string) {
		t.Helper()
		req, err := http.NewRequest("GET", u, nil)
		if err != nil {
			t.Fatal(err)
		}
		return do(t, req)
	}

	u := presign(t, admin, "GET", srv.URL+"/lake/curated/report%20v1.csv?versionId=3", time.Minute, now)
	res, code := get(u)
	if code != "" || !res.Presigned || res.AccessKeyID != admin.AccessKeyID {
		t.Fatalf("code %q, result %+v", code, res)
	}

	clock = now.Add(61 * time.Second)
	if _, code := get(u); code != "AccessDenied" {
		t.Fatalf("expired: code %q, want AccessDenied", code)
	}
	clock = now

	// Signed in the future beyond the skew: not valid yet.
	if _, code := get(presign(t, admin, "GET", srv.URL+"/lake/x", time.Hour, now.Add(time.Hour))); code != "AccessDenied" {
		t.Fatalf("future: code %q, want AccessDenied", code)
	}

	tampered := strings.Replace(u, "versionId=3", "versionId=4", 1)
	if _, code := get(tampered); code != "SignatureDoesNotMatch" {
		t.Fatalf("tampered: code %q", code)
	}
	pu, _ := url.Parse(u)
	q := pu.Query()
	q.Del("X-Amz-Date")
	pu.RawQuery = q.Encode()
	if _, code := get(pu.String()); code != "AuthorizationQueryParametersError" {
		t.Fatalf("no date: code %q", code)
	}
	q = pu.Query()
	q.Set("X-Amz-Date", now.UTC().Format(AmzDateFormat))
	q.Set("X-Amz-Expires", "604801")
	pu.RawQuery = q.Encode()
	if _, code := get(pu.String()); code != "AuthorizationQueryParametersError" {
		t.Fatalf("expires too long: code %q", code)
	}

	wrong := admin
	wrong.SecretAccessKey = NewSecretAccessKey()
	if _, code := get(presign(t, wrong, "GET", srv.URL+"/lake/x", time.Minute, now)); code != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret: code %q", code)
	}

	// A presigned PUT carries a body that is not signed.
	pu2 := presign(t, admin, "PUT", srv.URL+"/lake/raw/upload.bin", time.Minute, now)
	req, _ := http.NewRequest("PUT", pu2, strings.NewReader("payload"))
	if res, code := do(t, req); code != "" || res.Body != "payload" {
		t.Fatalf("presigned put: code %q, result %+v", code, res)
	}
}

func TestDeletedKeyIsRefused(t *testing.T) {
	ctx := context.Background()
	s := newService(t, Config{})
	if _, _, err := s.EnsureAdmin(ctx); err != nil {
		t.Fatal(err)
	}
	k, err := s.CreateKey(ctx, "loader", mustPolicy(t, `{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, s)
	if _, code := do(t, signS3(t, k, "GET", srv.URL+"/lake/x", nil, "", "us-east-1", time.Now())); code != "" {
		t.Fatalf("code %q", code)
	}
	if err := s.DeleteKey(ctx, k.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if _, code := do(t, signS3(t, k, "GET", srv.URL+"/lake/x", nil, "", "us-east-1", time.Now())); code != "InvalidAccessKeyId" {
		t.Fatalf("code %q, want InvalidAccessKeyId", code)
	}
}

func TestPrincipalAuthorize(t *testing.T) {
	p := &Principal{Key: Key{AccessKeyID: "TKLOADER", Policy: mustPolicy(t, `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "arn:aws:s3:::lake/raw/*"}]}`)}}
	if err := p.Authorize("s3:PutObject", S3Resource("lake", "raw/a.csv")); err != nil {
		t.Fatal(err)
	}
	err := p.Authorize("s3:GetObject", S3Resource("lake", "curated/a.parquet"))
	if !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("err %v, want ErrAccessDenied", err)
	}
	for _, want := range []string{"TKLOADER", "s3:GetObject", "arn:aws:s3:::lake/curated/a.parquet"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if code, status := S3ErrorCode(err); code != "AccessDenied" || status != 403 {
		t.Errorf("S3ErrorCode = %s %d", code, status)
	}
	admin := &Principal{Key: Key{Admin: true}}
	if err := admin.Authorize("glue:DeleteTable", TableResource("sales", "orders")); err != nil {
		t.Fatal(err)
	}
	var nobody *Principal
	if err := nobody.Authorize("s3:GetObject", "*"); !errors.Is(err, ErrAccessDenied) {
		t.Fatal(err)
	}
}

func TestS3ErrorCode(t *testing.T) {
	tests := []struct {
		err    error
		code   string
		status int
	}{
		{ErrSignatureDoesNotMatch, "SignatureDoesNotMatch", 403},
		{ErrInvalidAccessKeyID, "InvalidAccessKeyId", 403},
		{ErrRequestTimeTooSkewed, "RequestTimeTooSkewed", 403},
		{ErrMissingAuth, "AccessDenied", 403},
		{ErrExpiredPresign, "AccessDenied", 403},
		{ErrMissingSecurityHeader, "MissingSecurityHeader", 400},
		{ErrAuthorizationHeaderMalformed, "AuthorizationHeaderMalformed", 400},
		{ErrContentSHA256Mismatch, "XAmzContentSHA256Mismatch", 400},
		{ErrIncompleteBody, "IncompleteBody", 400},
		{ErrBadDigest, "BadDigest", 400},
		{io.ErrUnexpectedEOF, "InternalError", 500},
	}
	for _, tc := range tests {
		code, status := S3ErrorCode(errWrap(tc.err))
		if code != tc.code || status != tc.status {
			t.Errorf("%v: %s %d, want %s %d", tc.err, code, status, tc.code, tc.status)
		}
	}
}

func errWrap(err error) error { return errors.Join(errors.New("context"), err) }

func FuzzParseAuthorization(f *testing.F) {
	for _, seed := range []string{
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-date,Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=",
		"AWS4-HMAC-SHA256 ,,,=",
		"AWS AKID:sig", "", "Bearer x",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuthorization(h)
		if err != nil {
			if !errors.Is(err, ErrAuthorizationHeaderMalformed) && !errors.Is(err, ErrUnsupportedAuth) && !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if len(a.Signature) != 64 || len(a.SignedHeaders) == 0 || a.Credential.AccessKeyID == "" || a.Credential.scope() == "" {
			t.Fatalf("accepted %q as %+v", h, a)
		}
	})
}

// A key deleted by another process sharing the database (which cannot
// empty this Service's cache) stops working once the cache's TTL passes.
func TestKeyCacheBound(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	db, err := meta.Open(ctx, metatest.Config(t, filepath.Join(home, "tarn.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const ttl = 300 * time.Millisecond
	s, err := New(ctx, db, Config{Home: home, KeyCacheTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	// The cache's clock runs ahead of the real one when the test says so,
	// rather than the test sleeping past the TTL.
	var ahead atomic.Int64
	s.keys.now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	other, err := New(ctx, db, Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.EnsureAdmin(ctx); err != nil {
		t.Fatal(err)
	}
	k, err := s.CreateKey(ctx, "loader", mustPolicy(t, `{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, s)
	if _, code := do(t, signS3(t, k, "GET", srv.URL+"/lake/x", nil, "", "us-east-1", time.Now())); code != "" {
		t.Fatalf("code %q", code)
	}
	if err := other.DeleteKey(ctx, k.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	ahead.Store(int64(ttl + time.Millisecond))
	if _, code := do(t, signS3(t, k, "GET", srv.URL+"/lake/x", nil, "", "us-east-1", time.Now())); code != "InvalidAccessKeyId" {
		t.Fatalf("after the cache TTL: code %q, want InvalidAccessKeyId", code)
	}
}

// An x-amz-decoded-content-length that is not part of an aws-chunked body
// cannot choose which bytes of the body are read: added, unsigned, to a
// replayed request it is refused (every x-amz-* header must be signed),
// and signed with a body that is not aws-chunked it is removed before the
// handler runs, the payload hash still checked against the whole body.
func TestDecodedLengthOnlyWithChunkedBody(t *testing.T) {
	s := newService(t, Config{})
	admin, _, err := s.EnsureAdmin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	srv := newServerWith(t, s, func(r *http.Request, res result) {
		seen = append(seen, r.Header.Get("X-Amz-Decoded-Content-Length"))
	})
	for _, c := range []struct {
		body, decoded, code string
		signed              bool
	}{
		{"hello", "3", "AccessDenied", false},
		{"EVIL-BODY!!tail", "11", "AccessDenied", false},
		{"hello", "3", "", true},
		{"EVIL-BODY!!tail", "11", "XAmzContentSHA256Mismatch", true},
	} {
		// Content-Length is not signed: the replay may send any body.
		req := signS3(t, admin, "PUT", srv.URL+"/lake/k", nil, sha256Hex([]byte("hello")), "us-east-1", time.Now())
		req.Header.Set("X-Amz-Decoded-Content-Length", c.decoded)
		if c.signed {
			if err := s3Signer().SignHTTP(context.Background(), creds(admin), req, sha256Hex([]byte("hello")), "s3", "us-east-1", time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		req.Body, req.ContentLength = io.NopCloser(strings.NewReader(c.body)), int64(len(c.body))
		res, code := do(t, req)
		if code != c.code || code == "" && res.Body != "hello" {
			t.Errorf("body %q, decoded length %s, signed %v: %q %+v, want %q", c.body, c.decoded, c.signed, code, res, c.code)
		}
	}
	if len(seen) != 1 || seen[0] != "" {
		t.Errorf("the handler saw x-amz-decoded-content-length %q, want it removed", seen)
	}
}
