package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"testing"
	"time"
)

// TestAuthenticateJavaChecksumHeader signs as the AWS SDK for Java 2 does
// for Iceberg's REST catalog clients (Spark, Trino): x-amz-content-sha256
// carries the body's SHA-256 in base64 (and is a signed header), the
// canonical request the hex SHA-256.
func TestAuthenticateJavaChecksumHeader(t *testing.T) {
	s := newService(t, Config{})
	admin, _, err := s.EnsureAdmin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, s)
	sign := func(body []byte, header []byte, service string) *http.Request {
		t.Helper()
		req, err := http.NewRequest("POST", srv.URL+"/iceberg/v1/namespaces", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(header)
		req.Header.Set("X-Amz-Content-Sha256", base64.StdEncoding.EncodeToString(sum[:]))
		if err := genericSigner().SignHTTP(context.Background(), creds(admin), req, sha256Hex(header), service, "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		return req
	}
	body := []byte(`{"namespace":["sales"]}`)
	if res, code := do(t, sign(body, body, "execute-api")); code != "" || res.Body != string(body) {
		t.Fatalf("code %q, result %+v", code, res)
	}
	// The body must be the one hashed.
	if _, code := do(t, sign([]byte(`{"namespace":["other"]}`), body, "execute-api")); code != "XAmzContentSHA256Mismatch" {
		t.Fatalf("another body: code %q, want XAmzContentSHA256Mismatch", code)
	}
	// S3 keeps its own rule: x-amz-content-sha256 is hex.
	if _, code := do(t, sign(body, body, "s3")); code != "InvalidArgument" {
		t.Fatalf("base64 for s3: code %q, want InvalidArgument", code)
	}
}
