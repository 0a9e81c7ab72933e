package s3api_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/crc64nvme"

	"github.com/tarn-lake/tarn/internal/auth"
)

func hmacHex(key []byte, s string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(s))
	return h.Sum(nil)
}

// postForm sends a browser form upload signed with k; conds are the
// policy's conditions besides those on the auth fields, bucket and key.
func postUpload(t *testing.T, e *guideEnv, k auth.Key, bucket, key string, conds []any, extra map[string]string, exp time.Time, body []byte, tamper bool) (int, string, http.Header) {
	t.Helper()
	now := time.Now().UTC()
	cred := k.AccessKeyID + "/" + now.Format("20060102") + "/us-east-1/s3/aws4_request"
	fields := map[string]string{"bucket": bucket, "key": key, "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": cred, "x-amz-date": now.Format("20060102T150405Z")}
	for f, v := range fields {
		conds = append(conds, map[string]string{f: v})
	}
	for f, v := range extra {
		fields[f] = v
	}
	doc, _ := json.Marshal(map[string]any{"expiration": exp.UTC().Format(time.RFC3339), "conditions": conds})
	policy := base64.StdEncoding.EncodeToString(doc)
	sk := []byte("AWS4" + k.SecretAccessKey)
	for _, d := range []string{now.Format("20060102"), "us-east-1", "s3", "aws4_request"} {
		sk = hmacHex(sk, d)
	}
	sig := hex.EncodeToString(hmacHex(sk, policy))
	if tamper {
		sig = hex.EncodeToString(hmacHex([]byte("wrong"), policy))
	}
	fields["policy"], fields["x-amz-signature"] = policy, sig
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for f, v := range fields {
		_ = mw.WriteField(f, v)
	}
	fw, _ := mw.CreateFormFile("file", "up.bin")
	_, _ = fw.Write(body)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, e.url+"/"+bucket, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var er struct{ Code string }
	_ = xml.Unmarshal(b, &er)
	return resp.StatusCode, er.Code, resp.Header
}

func TestPostObjectForm(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	if err := e.store.CreateBucket(ctx, "forms"); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	status, code, h := postUpload(t, e, e.admin, "forms", "up/a.txt", nil, nil, later, []byte("hello"), false)
	if status != http.StatusNoContent || h.Get("ETag") == "" {
		t.Fatalf("form upload: %d %s", status, code)
	}
	rc, info, err := e.store.Get(ctx, "forms", "up/a.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "hello" || info.ContentType != "binary/octet-stream" {
		t.Errorf("stored %q as %q", got, info.ContentType)
	}
	// S3's default checksum, as for PutObject.
	h64 := crc64nvme.New()
	h64.Write([]byte("hello"))
	if want := base64.StdEncoding.EncodeToString(h64.Sum(nil)); info.Checksum.Algorithm != "CRC64NVME" || info.Checksum.Value != want {
		t.Errorf("form upload's checksum %+v, want CRC64NVME %s", info.Checksum, want)
	}
	for what, c := range map[string]struct {
		status int
		code   string
		do     func() (int, string, http.Header)
	}{
		"a forged signature": {http.StatusForbidden, "SignatureDoesNotMatch", func() (int, string, http.Header) {
			return postUpload(t, e, e.admin, "forms", "up/b.txt", nil, nil, later, []byte("x"), true)
		}},
		"an expired policy": {http.StatusForbidden, "AccessDenied", func() (int, string, http.Header) {
			return postUpload(t, e, e.admin, "forms", "up/b.txt", nil, nil, time.Now().Add(-time.Minute), []byte("x"), false)
		}},
		"a field the policy does not name": {http.StatusForbidden, "AccessDenied", func() (int, string, http.Header) {
			return postUpload(t, e, e.admin, "forms", "up/b.txt", nil, map[string]string{"x-amz-meta-who": "me"}, later, []byte("x"), false)
		}},
		"a failed condition": {http.StatusForbidden, "AccessDenied", func() (int, string, http.Header) {
			return postUpload(t, e, e.admin, "forms", "up/b.txt", []any{[]any{"starts-with", "$content-type", "text/"}},
				map[string]string{"content-type": "image/png"}, later, []byte("x"), false)
		}},
		"a content type list with one type outside the prefix": {http.StatusForbidden, "AccessDenied", func() (int, string, http.Header) {
			return postUpload(t, e, e.admin, "forms", "up/b.txt", []any{[]any{"starts-with", "$content-type", "text/"}},
				map[string]string{"content-type": "text/plain, image/jpeg"}, later, []byte("x"), false)
		}},
		"a content type list within the prefix": {http.StatusNoContent, "", func() (int, string, http.Header) {
			return postUpload(t, e, e.admin, "forms", "up/list.txt", []any{[]any{"starts-with", "$content-type", "text/"}},
				map[string]string{"content-type": "text/plain, text/html"}, later, []byte("x"), false)
		}},
		"a file over the length range": {http.StatusBadRequest, "EntityTooLarge", func() (int, string, http.Header) {
			return postUpload(t, e, e.admin, "forms", "up/b.txt", []any{[]any{"content-length-range", 0, 2}}, nil, later, []byte("xyz"), false)
		}},
		"a dot-dot key": {http.StatusBadRequest, "400", func() (int, string, http.Header) {
			return postUpload(t, e, e.admin, "forms", "../../etc/passwd", nil, nil, later, []byte("x"), false)
		}},
		"--sse in the form": {http.StatusNotImplemented, "NotImplemented", func() (int, string, http.Header) {
			return postUpload(t, e, e.admin, "forms", "up/b.txt", []any{map[string]string{"x-amz-server-side-encryption": "AES256"}},
				map[string]string{"x-amz-server-side-encryption": "AES256"}, later, []byte("x"), false)
		}},
	} {
		if status, code, _ := c.do(); status != c.status || code != c.code {
			t.Errorf("%s: %d %s, want %d %s", what, status, code, c.status, c.code)
		}
	}
	// A key may POST no more than it may PUT.
	pol, err := auth.ParsePolicy([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::forms/up/*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.auth.CreateKey(ctx, "uploader", pol)
	if err != nil {
		t.Fatal(err)
	}
	if status, code, _ := postUpload(t, e, k, "forms", "up/c.txt", nil, nil, later, []byte("x"), false); status != http.StatusNoContent {
		t.Errorf("upload within the key's policy: %d %s", status, code)
	}
	if status, code, _ := postUpload(t, e, k, "forms", "elsewhere/c.txt", nil, nil, later, []byte("x"), false); status != http.StatusForbidden || code != "AccessDenied" {
		t.Errorf("upload outside the key's policy: %d %s", status, code)
	}
	if _, err := e.store.Head(ctx, "forms", "up/b.txt"); err == nil {
		t.Error("a refused form upload stored its object")
	}
}

// An unsigned form cannot stream on before it is authenticated.
func TestPostObjectFormBounded(t *testing.T) {
	e := newGuideEnv(t)
	if err := e.store.CreateBucket(context.Background(), "forms"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := range 100 {
		_ = mw.WriteField(fmt.Sprintf("x-ignore-%d", i), strings.Repeat("j", 4096))
	}
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, e.url+"/forms", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("400 KiB of unsigned form fields: %d, want 400", resp.StatusCode)
	}
}
