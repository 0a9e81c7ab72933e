package s3api_test

// Hostile and broken requests that no client sends: replays with unsigned
// additions, bodies whose verification fails at their end, and clients
// that disconnect halfway. Each is sent raw to a real server, and each
// must fail with S3's error code and leave the object as it was.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/storage"
)

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// signer signs as the AWS SDK's S3 client does. It is new for every
// request: the SDK caches signing keys.
func signer() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
}

// signed returns a request to path signed by the admin key with payload as
// x-amz-content-sha256. The body is not part of it: callers send what they
// like. contentLength >= 0 is signed as Content-Length.
func (e *env) signed(method, path, payload string, contentLength int64, header http.Header) *http.Request {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("X-Amz-Content-Sha256", payload)
	req.ContentLength = 0
	if contentLength >= 0 {
		req.ContentLength = contentLength
	}
	creds := aws.Credentials{AccessKeyID: e.admin.AccessKeyID, SecretAccessKey: e.admin.SecretAccessKey}
	if err := signer().SignHTTP(context.Background(), creds, req, payload, "s3", "us-east-1", time.Now()); err != nil {
		e.t.Fatal(err)
	}
	return req
}

// presigned returns a presigned URL for method on path.
func (e *env) presigned(method, path string) *url.URL {
	e.t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	req, err := http.NewRequest(method, e.url+path+sep+"X-Amz-Expires=300", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: e.admin.AccessKeyID, SecretAccessKey: e.admin.SecretAccessKey}
	u, _, err := signer().PresignHTTP(context.Background(), creds, req, auth.UnsignedPayload, "s3", "us-east-1", time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	pu, err := url.Parse(u)
	if err != nil {
		e.t.Fatal(err)
	}
	return pu
}

// send sends req with body as it is (Content-Length as req says) and
// returns the status and S3 error code.
func send(t *testing.T, req *http.Request, body []byte) (int, string) {
	t.Helper()
	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, errorCode(t, resp)
}

func errorCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode < 300 {
		return ""
	}
	var e struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if err := xml.Unmarshal(data, &e); err != nil {
		t.Fatalf("status %d, body %q", resp.StatusCode, data)
	}
	t.Logf("%d %s: %s", resp.StatusCode, e.Code, e.Message)
	return e.Code
}

// rawCut writes req's request line and headers, with Content-Length
// declared (or Transfer-Encoding: chunked if declared < 0), then body, then
// closes its side of the connection as a client that disconnects does, and
// returns the server's answer.
func rawCut(t *testing.T, req *http.Request, declared int64, body []byte) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", req.URL.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", req.Method, req.URL.RequestURI(), req.URL.Host)
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if declared >= 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", declared)
	} else {
		b.WriteString("Transfer-Encoding: chunked\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	if _, err := conn.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("no answer to a cut request: %v", err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, errorCode(t, resp)
}

// content returns the object's bytes ("" and false if it does not exist).
func (e *env) content(bucket, key string) (string, bool) {
	e.t.Helper()
	rc, _, err := e.store.Get(context.Background(), bucket, key, nil)
	if err != nil {
		return "", false
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b), true
}

func (e *env) mustPut(bucket, key string, body []byte) {
	e.t.Helper()
	if _, err := e.store.Put(context.Background(), bucket, key, bytes.NewReader(body), storage.PutOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// chunked builds an aws-chunked body of data in chunks of size n, signed
// in a chain from seed (if key is set), with trailer lines (if any) after
// the last chunk. badFinal corrupts the final chunk's signature; noFinal
// leaves the final chunk (and trailers) out.
type chunked struct {
	key      []byte // signing key (set by streaming); nil for unsigned chunks
	prefix   string // "<amz date>\n<scope>\n"
	seed     string
	trailer  string // "name:value", or ""
	badFinal bool
	noFinal  bool
	// unannounced sends the trailer without naming it in x-amz-trailer.
	unannounced bool
	// size is the chunk size streaming uses (0: 64 KiB).
	size int
}

func (c chunked) encode(data []byte, n int) []byte {
	var b bytes.Buffer
	prev := c.seed
	chunk := func(p []byte, bad bool) {
		if c.key == nil {
			fmt.Fprintf(&b, "%x\r\n", len(p))
		} else {
			sig := hex.EncodeToString(hmacSHA256(c.key, "AWS4-HMAC-SHA256-PAYLOAD\n"+c.prefix+prev+"\n"+emptySHA256+"\n"+sha256Hex(p)))
			prev = sig
			if bad {
				sig = strings.Repeat("0", 64)
			}
			fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", len(p), sig)
		}
		b.Write(p)
		if len(p) > 0 || c.trailer == "" {
			b.WriteString("\r\n")
		}
	}
	for i := 0; i < len(data); i += n {
		chunk(data[i:min(i+n, len(data))], false)
	}
	if c.noFinal {
		return b.Bytes()
	}
	chunk(nil, c.badFinal)
	if c.trailer != "" {
		b.WriteString(c.trailer + "\r\n")
		if c.key != nil {
			sig := hex.EncodeToString(hmacSHA256(c.key, "AWS4-HMAC-SHA256-TRAILER\n"+c.prefix+prev+"\n"+sha256Hex([]byte(c.trailer+"\n"))))
			b.WriteString("x-amz-trailer-signature:" + sig + "\r\n")
		}
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// streaming returns a signed aws-chunked PUT of data to path (payload one
// of auth's STREAMING-* values) and its encoded body.
func (e *env) streaming(path, payload string, data []byte, c chunked) (*http.Request, []byte) {
	e.t.Helper()
	h := http.Header{}
	h.Set("Content-Encoding", "aws-chunked")
	h.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
	if c.trailer != "" && !c.unannounced {
		h.Set("X-Amz-Trailer", strings.SplitN(c.trailer, ":", 2)[0])
	}
	// The encoded length depends only on the sizes: sign with a first
	// encoding, then encode again with the seed signature.
	signed := payload != auth.StreamingUnsignedPayloadTrailer
	probe := c
	if signed {
		probe.key, probe.seed = []byte("k"), strings.Repeat("0", 64)
	}
	size := c.size
	if size == 0 {
		size = 64 << 10
	}
	encodedLen := len(probe.encode(data, size))
	req := e.signed(http.MethodPut, path, payload, int64(encodedLen), h)
	if signed {
		authz := req.Header.Get("Authorization")
		amzDate := req.Header.Get("X-Amz-Date")
		c.seed = authz[strings.LastIndex(authz, "Signature=")+len("Signature="):]
		c.key = e.signingKey(amzDate)
		c.prefix = amzDate + "\n" + amzDate[:8] + "/us-east-1/s3/aws4_request\n"
	}
	body := c.encode(data, size)
	if len(body) != encodedLen {
		e.t.Fatalf("encoded %d bytes, signed %d", len(body), encodedLen)
	}
	return req, body
}

// signingKey is the admin key's SigV4 key for the date of amzDate in
// us-east-1 (s3).
func (e *env) signingKey(amzDate string) []byte {
	k := hmacSHA256([]byte("AWS4"+e.admin.SecretAccessKey), amzDate[:8])
	k = hmacSHA256(k, "us-east-1")
	k = hmacSHA256(k, "s3")
	return hmacSHA256(k, "aws4_request")
}

// TestPayloadVerifiedAgainstStoredBytes: every signed payload hash, chunk
// signature, trailer signature and trailer checksum is checked against the
// bytes stored before the object is replaced, and an unsigned
// x-amz-decoded-content-length added to a replayed request changes nothing.
func TestPayloadVerifiedAgainstStoredBytes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustAWS(e.admin, "s3", "mb", "s3://lake")
	const old = "the committed object"
	reset := func() { t.Helper(); e.mustPut("lake", "k", []byte(old)) }
	check := func(name string, status int, code string, wantStatus int, wantCode, wantBody string) {
		t.Helper()
		if status != wantStatus || code != wantCode {
			t.Errorf("%s: %d %s, want %d %s", name, status, code, wantStatus, wantCode)
		}
		if got, _ := e.content("lake", "k"); got != wantBody {
			t.Errorf("%s: object is %d bytes %q, want %d bytes %q", name, len(got), truncate(got), len(wantBody), truncate(wantBody))
		}
	}

	// A PUT of "hello" whose signature covers its payload hash but not
	// Content-Length, replayed with another body and an unsigned
	// x-amz-decoded-content-length that selects a prefix of it.
	hello := []byte("hello")
	signedHello := func(extra string) *http.Request {
		req := e.signed(http.MethodPut, "/lake/k", sha256Hex(hello), -1, nil)
		if extra != "" {
			req.Header.Set("X-Amz-Decoded-Content-Length", extra)
		}
		return req
	}
	if strings.Contains(signedHello("").Header.Get("Authorization"), "content-length") {
		t.Fatal("the replayed request must not sign Content-Length")
	}
	reset()
	req := signedHello("11")
	req.ContentLength = int64(len("EVIL-BODY!!tail"))
	status, code := send(t, req, []byte("EVIL-BODY!!tail"))
	// The unsigned x-amz-* header alone refuses the replay, as in S3.
	check("replay with a longer body", status, code, http.StatusForbidden, "AccessDenied", old)

	reset()
	req = signedHello("3")
	req.ContentLength = 5
	status, code = send(t, req, hello)
	check("replay with a shorter decoded length", status, code, http.StatusForbidden, "AccessDenied", old)

	reset()
	req = signedHello("")
	req.ContentLength = 5
	status, code = send(t, req, hello)
	// A plain replay is valid SigV4.
	check("plain replay", status, code, http.StatusOK, "", "hello")

	reset()
	req = signedHello("")
	req.ContentLength = 5
	status, code = send(t, req, []byte("EVIL!"))
	check("same length, other bytes", status, code, http.StatusBadRequest, "XAmzContentSHA256Mismatch", old)

	reset()
	req = signedHello("")
	req.ContentLength = int64(len("EVIL-BODY!!tail"))
	status, code = send(t, req, []byte("EVIL-BODY!!tail"))
	check("longer body", status, code, http.StatusBadRequest, "XAmzContentSHA256Mismatch", old)

	// The same replay as an UploadPart stores no part.
	req = e.signed(http.MethodPost, "/lake/k?uploads", emptySHA256, -1, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var up struct {
		UploadID string `xml:"UploadId"`
	}
	err = xml.NewDecoder(resp.Body).Decode(&up)
	resp.Body.Close()
	if err != nil || up.UploadID == "" {
		t.Fatalf("create upload: %v %+v", err, up)
	}
	partPath := "/lake/k?partNumber=1&uploadId=" + up.UploadID
	req = e.signed(http.MethodPut, partPath, sha256Hex(hello), -1, nil)
	req.ContentLength = int64(len("EVIL-BODY!!tail"))
	if status, code := send(t, req, []byte("EVIL-BODY!!tail")); status != http.StatusBadRequest || code != "XAmzContentSHA256Mismatch" {
		t.Errorf("replayed part with a longer body: %d %s, want 400 XAmzContentSHA256Mismatch", status, code)
	}
	req = e.signed(http.MethodGet, "/lake/k?uploadId="+up.UploadID, emptySHA256, -1, nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	listed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || bytes.Contains(listed, []byte("<Part>")) {
		t.Errorf("parts after a replayed part with another body: %d %s", resp.StatusCode, listed)
	}

	// aws-chunked bodies whose data chunks are right but whose end is not.
	data := bytes.Repeat([]byte("0123456789abcdef"), 10000) // 160,000 bytes: three chunks
	for _, c := range []struct {
		name     string
		payload  string
		chunks   chunked
		status   int
		code     string
		wantBody string
	}{
		{"signed chunks, good", auth.StreamingPayload, chunked{}, 200, "", string(data)},
		{"signed chunks, bad final chunk signature", auth.StreamingPayload, chunked{badFinal: true}, 403, "SignatureDoesNotMatch", old},
		{"signed chunks, no final chunk", auth.StreamingPayload, chunked{noFinal: true}, 400, "IncompleteBody", old},
		{"signed trailer, bad checksum", auth.StreamingPayloadTrailer, chunked{trailer: "x-amz-checksum-crc32:AAAAAA=="}, 400, "BadDigest", old},
		{"unsigned trailer, good checksum", auth.StreamingUnsignedPayloadTrailer, chunked{trailer: "x-amz-checksum-crc32:" + crc32B64(data)}, 200, "", string(data)},
		{"unsigned trailer, bad checksum", auth.StreamingUnsignedPayloadTrailer, chunked{trailer: "x-amz-checksum-crc32:AAAAAA=="}, 400, "BadDigest", old},
		{"unsigned trailer, no final chunk", auth.StreamingUnsignedPayloadTrailer, chunked{trailer: "x-amz-checksum-crc32:" + crc32B64(data), noFinal: true}, 400, "IncompleteBody", old},
	} {
		reset()
		req, body := e.streaming("/lake/k", c.payload, data, c.chunks)
		status, code := send(t, req, body)
		check(c.name, status, code, c.status, c.code, c.wantBody)
	}
}

func crc32B64(b []byte) string {
	s := crc32.ChecksumIEEE(b)
	return base64.StdEncoding.EncodeToString([]byte{byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)})
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// TestInterruptedPutKeepsObject: a client that disconnects halfway through
// a body (raw TCP: headers saying 1 MiB, then 3,000 bytes, then the
// connection closes) gets IncompleteBody, and the object, or the upload's
// part, stays as it was.
func TestInterruptedPutKeepsObject(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustAWS(e.admin, "s3", "mb", "s3://lake")
	old := bytes.Repeat([]byte("committed object "), (1<<20)/17)
	const declared = 1 << 20
	cut := make([]byte, 3000)
	for i := range cut {
		cut[i] = 'x'
	}
	// An HTTP-chunked body cut in its first chunk, without the final one.
	chunkedCut := append([]byte(fmt.Sprintf("%x\r\n", len(cut))), cut...)
	chunkedCut = append(chunkedCut, "\r\n"+fmt.Sprintf("%x\r\n", len(cut))+"xx"...)

	for _, c := range []struct {
		name     string
		req      func() *http.Request
		declared int64 // -1: Transfer-Encoding: chunked
		body     []byte
		code     string
	}{
		{"unsigned payload", func() *http.Request {
			return e.signed(http.MethodPut, "/lake/k", auth.UnsignedPayload, -1, nil)
		}, declared, cut, "IncompleteBody"},
		{"presigned", func() *http.Request {
			return &http.Request{Method: http.MethodPut, URL: e.presigned(http.MethodPut, "/lake/k"), Header: http.Header{}}
		}, declared, cut, "IncompleteBody"},
		{"presigned, chunked without its final chunk", func() *http.Request {
			return &http.Request{Method: http.MethodPut, URL: e.presigned(http.MethodPut, "/lake/k"), Header: http.Header{}}
		}, -1, chunkedCut, "MissingContentLength"},
	} {
		e.mustPut("lake", "k", old)
		status, code := rawCut(t, c.req(), c.declared, c.body)
		if status < 400 || code != c.code {
			t.Errorf("%s: %d %s, want %s", c.name, status, code, c.code)
		}
		if got, _ := e.content("lake", "k"); got != string(old) {
			t.Errorf("%s: the object is now %d bytes %q, want the %d bytes committed", c.name, len(got), truncate(got), len(old))
		}
	}

	// UploadPart: a cut part is not stored, and the part it would have
	// replaced is kept.
	req := e.signed(http.MethodPost, "/lake/big?uploads", emptySHA256, -1, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var up struct {
		UploadID string `xml:"UploadId"`
	}
	err = xml.NewDecoder(resp.Body).Decode(&up)
	resp.Body.Close()
	if err != nil || up.UploadID == "" {
		t.Fatalf("create upload: %v %+v", err, up)
	}
	part := func(n int) string { return fmt.Sprintf("/lake/big?partNumber=%d&uploadId=%s", n, up.UploadID) }
	req = e.signed(http.MethodPut, part(1), auth.UnsignedPayload, int64(len(old)), nil)
	if status, code := send(t, req, old); status != 200 {
		t.Fatalf("part 1: %d %s", status, code)
	}
	for _, c := range []struct {
		name     string
		n        int
		declared int64
		body     []byte
	}{
		{"replacing part 1", 1, declared, cut},
		{"part 2", 2, declared, cut},
		{"part 2, chunked without its final chunk", 2, -1, chunkedCut},
		{"part 3, presigned", 3, declared, cut},
	} {
		var req *http.Request
		if c.n == 3 {
			req = &http.Request{Method: http.MethodPut, URL: e.presigned(http.MethodPut, part(3)), Header: http.Header{}}
		} else {
			req = e.signed(http.MethodPut, part(c.n), auth.UnsignedPayload, -1, nil)
		}
		if status, code := rawCut(t, req, c.declared, c.body); status != http.StatusBadRequest || code != "IncompleteBody" {
			t.Errorf("%s: %d %s, want 400 IncompleteBody", c.name, status, code)
		}
	}
	req = e.signed(http.MethodGet, "/lake/big?uploadId="+up.UploadID, emptySHA256, -1, nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var parts struct {
		Parts []struct {
			PartNumber int   `xml:"PartNumber"`
			Size       int64 `xml:"Size"`
		} `xml:"Part"`
	}
	err = xml.NewDecoder(resp.Body).Decode(&parts)
	resp.Body.Close()
	if err != nil || len(parts.Parts) != 1 || parts.Parts[0].PartNumber != 1 || parts.Parts[0].Size != int64(len(old)) {
		t.Errorf("parts after cut uploads: %v %+v, want part 1 of %d bytes only", err, parts.Parts, len(old))
	}
}

// TestKeyTooLong: a key with a segment over 255 bytes, or over 1024 bytes
// in all, gets S3's KeyTooLongError (400), for a PUT and for a multipart
// upload, before any byte is stored.
func TestKeyTooLong(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustAWS(e.admin, "s3", "mb", "s3://lake")
	seg := strings.Repeat("s", 256)
	for _, key := range []string{seg, "raw/" + seg + "/x.csv", strings.Repeat("abcdefgh/", 114) + "abc"} {
		body := []byte("x")
		req := e.signed(http.MethodPut, "/lake/"+key, sha256Hex(body), int64(len(body)), nil)
		if status, code := send(t, req, body); status != http.StatusBadRequest || code != "KeyTooLongError" {
			t.Errorf("PUT of a %d-byte key: %d %s, want 400 KeyTooLongError", len(key), status, code)
		}
		req = e.signed(http.MethodPost, "/lake/"+key+"?uploads", emptySHA256, -1, nil)
		if status, code := send(t, req, nil); status != http.StatusBadRequest || code != "KeyTooLongError" {
			t.Errorf("CreateMultipartUpload of a %d-byte key: %d %s, want 400 KeyTooLongError", len(key), status, code)
		}
	}
	// 255 bytes is fine.
	body := []byte("x")
	req := e.signed(http.MethodPut, "/lake/raw/"+seg[1:], sha256Hex(body), int64(len(body)), nil)
	if status, code := send(t, req, body); status != http.StatusOK {
		t.Errorf("PUT of a 255-byte segment: %d %s", status, code)
	}
}
