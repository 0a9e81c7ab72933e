package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAWSChunkedExample replays the example of AWS's "Transferring Payload
// in Multiple Chunks" documentation (PUT of 66,560 bytes of 'a' in a 64 KiB
// and a 1 KiB chunk), with its published seed and chunk signatures.
func TestAWSChunkedExample(t *testing.T) {
	at := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	s := newService(t, Config{
		AdminAccessKeyID: "AKIAIOSFODNN7EXAMPLE", AdminSecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		Now: func() time.Time { return at },
	})
	if _, _, err := s.EnsureAdmin(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, s)

	body := func(lastSig string) []byte {
		var b bytes.Buffer
		b.WriteString("10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n")
		b.Write(bytes.Repeat([]byte("a"), 65536))
		b.WriteString("\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n")
		b.Write(bytes.Repeat([]byte("a"), 1024))
		b.WriteString("\r\n0;chunk-signature=" + lastSig + "\r\n\r\n")
		return b.Bytes()
	}
	send := func(data []byte) (result, string) {
		req, err := http.NewRequest("PUT", srv.URL+"/examplebucket/chunkObject.txt", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "s3.amazonaws.com"
		req.Header.Set("X-Amz-Date", "20130524T000000Z")
		req.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
		req.Header.Set("X-Amz-Content-Sha256", StreamingPayload)
		req.Header.Set("Content-Encoding", "aws-chunked")
		req.Header.Set("X-Amz-Decoded-Content-Length", "66560")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"+
			"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"+
			"Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
		return do(t, req)
	}
	good := body("b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9")
	if len(good) != 66824 {
		t.Fatalf("example body has %d bytes, the documentation says 66824", len(good))
	}
	res, code := send(good)
	if code != "" || res.Body != strings.Repeat("a", 66560) {
		t.Fatalf("code %q, body of %d bytes", code, len(res.Body))
	}
	if _, code := send(body(strings.Repeat("0", 64))); code != "SignatureDoesNotMatch" {
		t.Fatalf("bad final chunk signature: code %q", code)
	}
}

// chunkSigner writes aws-chunked bodies the way AWS documents it: each
// chunk's signature is an HMAC, with the request's signing key, of
// "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<previous signature>\n
// <sha256 of "">\n<sha256 of chunk>", the first previous signature being the
// request's (the seed).
type chunkSigner struct {
	key            []byte
	amzDate, scope string
	prev           string
}

func newChunkSigner(secret, amzDate, region, seed string) *chunkSigner {
	mac := func(k []byte, s string) []byte {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	date := amzDate[:8]
	k := mac(mac(mac(mac([]byte("AWS4"+secret), date), region), "s3"), "aws4_request")
	return &chunkSigner{key: k, amzDate: amzDate, scope: date + "/" + region + "/s3/aws4_request", prev: seed}
}

func (c *chunkSigner) sign(prefix, hashLine string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(prefix + "\n" + c.amzDate + "\n" + c.scope + "\n" + c.prev + "\n" + hashLine))
	c.prev = hex.EncodeToString(m.Sum(nil))
	return c.prev
}

func (c *chunkSigner) chunk(b *bytes.Buffer, data []byte) {
	sig := c.sign("AWS4-HMAC-SHA256-PAYLOAD", EmptySHA256+"\n"+sha256Hex(data))
	fmt.Fprintf(b, "%x;chunk-signature=%s\r\n", len(data), sig)
	b.Write(data)
	b.WriteString("\r\n")
}

// encode writes data in chunks of size n, the final empty chunk and, if
// trailer is not "", the signed trailer.
func (c *chunkSigner) encode(data []byte, n int, trailer string) []byte {
	var b bytes.Buffer
	for off := 0; off < len(data); off += n {
		c.chunk(&b, data[off:min(off+n, len(data))])
	}
	sig := c.sign("AWS4-HMAC-SHA256-PAYLOAD", EmptySHA256+"\n"+EmptySHA256)
	fmt.Fprintf(&b, "0;chunk-signature=%s\r\n", sig)
	if trailer != "" {
		tsig := c.sign("AWS4-HMAC-SHA256-TRAILER", sha256Hex([]byte(trailer+"\n")))
		b.WriteString(trailer + "\r\nx-amz-trailer-signature:" + tsig + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

var signatureRe = regexp.MustCompile(`Signature=([0-9a-f]{64})`)

// streamingRequest signs the headers of an aws-chunked PUT with the AWS SDK
// and returns it with its seed signature; the caller sets the body.
func streamingRequest(t *testing.T, k Key, url, payload string, decodedLen, encodedLen int, trailer string, at time.Time) (*http.Request, string) {
	t.Helper()
	req, err := http.NewRequest("PUT", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(encodedLen)
	req.Header.Set("Content-Encoding", "aws-chunked,gzip")
	req.Header.Set("X-Amz-Content-Sha256", payload)
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(decodedLen))
	if trailer != "" {
		req.Header.Set("X-Amz-Trailer", trailer)
	}
	if err := s3Signer().SignHTTP(context.Background(), creds(k), req, payload, "s3", "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	m := signatureRe.FindStringSubmatch(req.Header.Get("Authorization"))
	if m == nil {
		t.Fatalf("no signature in %q", req.Header.Get("Authorization"))
	}
	return req, m[1]
}

func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

func TestStreamingSignedPayload(t *testing.T) {
	s := newService(t, Config{})
	admin, _, err := s.EnsureAdmin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, s)
	data := randomBytes(200_000)
	send := func(t *testing.T, mutate func(enc []byte) []byte, decodedLen int) (result, string) {
		t.Helper()
		at := time.Now()
		amzDate := at.UTC().Format(AmzDateFormat)
		// The encoded length must be known before signing: encode once with
		// a dummy seed to measure (signatures have a fixed length).
		if mutate == nil {
			mutate = func(enc []byte) []byte { return enc }
		}
		n := len(mutate(newChunkSigner(admin.SecretAccessKey, amzDate, "us-east-1", "").encode(data, 64<<10, "")))
		req, seed := streamingRequest(t, admin, srv.URL+"/lake/raw/big.bin", StreamingPayload, decodedLen, n, "", at)
		enc := mutate(newChunkSigner(admin.SecretAccessKey, amzDate, "us-east-1", seed).encode(data, 64<<10, ""))
		req.Body = io.NopCloser(bytes.NewReader(enc))
		return do(t, req)
	}

	t.Run("good", func(t *testing.T) {
		res, code := send(t, nil, len(data))
		if code != "" || res.BodySHA256 != sha256Hex(data) {
			t.Fatalf("code %q, body of %d bytes", code, len(res.Body))
		}
	})
	t.Run("tampered chunk", func(t *testing.T) {
		_, code := send(t, func(enc []byte) []byte {
			enc = bytes.Clone(enc)
			enc[100_000] ^= 1 // inside the second chunk
			return enc
		}, len(data))
		if code != "SignatureDoesNotMatch" {
			t.Fatalf("code %q", code)
		}
	})
	t.Run("chunks reordered", func(t *testing.T) {
		_, code := send(t, func(enc []byte) []byte {
			// Swap the first two (equal-sized) chunks with their signatures.
			first := bytes.Index(enc[1:], []byte("10000;")) + 1
			second := first + bytes.Index(enc[first+1:], []byte("10000;")) + 1
			out := append([]byte{}, enc[first:second]...)
			out = append(out, enc[:first]...)
			return append(out, enc[second:]...)
		}, len(data))
		if code != "SignatureDoesNotMatch" {
			t.Fatalf("code %q", code)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		_, code := send(t, func(enc []byte) []byte { return enc[:len(enc)-100] }, len(data))
		if code != "IncompleteBody" {
			t.Fatalf("code %q", code)
		}
	})
	t.Run("decoded length wrong", func(t *testing.T) {
		if _, code := send(t, nil, len(data)+1); code != "IncompleteBody" {
			t.Fatalf("code %q", code)
		}
		if _, code := send(t, nil, len(data)-1); code != "IncompleteBody" {
			t.Fatalf("code %q", code)
		}
	})
}

// TestChunkedReaderNeverReturnsUnverifiedBytes reads a body whose third
// chunk is tampered with directly and checks that exactly the first two
// chunks come out before the error.
func TestChunkedReaderNeverReturnsUnverifiedBytes(t *testing.T) {
	s := newService(t, Config{})
	admin, _, err := s.EnsureAdmin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	const chunk = 8192
	data := randomBytes(5 * chunk)
	req, seed := streamingRequest(t, admin, "http://127.0.0.1/lake/raw/x", StreamingPayload, len(data), 0, "", at)
	enc := newChunkSigner(admin.SecretAccessKey, at.UTC().Format(AmzDateFormat), "us-east-1", seed).encode(data, chunk, "")
	i := bytes.Index(enc, data[2*chunk:2*chunk+10])
	enc[i] ^= 0xff
	req.Body = io.NopCloser(bytes.NewReader(enc))
	req.ContentLength = int64(len(enc))
	req.RequestURI = "/lake/raw/x"
	if _, err := s.Authenticate(req); err != nil {
		t.Fatal(err)
	}
	if req.ContentLength != int64(len(data)) || req.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("content length %d, encoding %q", req.ContentLength, req.Header.Get("Content-Encoding"))
	}
	got, err := io.ReadAll(req.Body)
	if !errors.Is(err, ErrSignatureDoesNotMatch) {
		t.Fatalf("err %v", err)
	}
	if !bytes.Equal(got, data[:2*chunk]) {
		t.Fatalf("read %d bytes before the error, want the %d verified ones", len(got), 2*chunk)
	}
	if _, err := req.Body.Read(make([]byte, 10)); !errors.Is(err, ErrSignatureDoesNotMatch) {
		t.Fatalf("error is not sticky: %v", err)
	}
}

func TestStreamingTrailers(t *testing.T) {
	s := newService(t, Config{})
	admin, _, err := s.EnsureAdmin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, s)
	data := randomBytes(100_000)
	crc := func(b []byte) string {
		h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
		h.Write(b)
		return base64.StdEncoding.EncodeToString(h.Sum(nil))
	}

	signedSend := func(t *testing.T, checksum string) (result, string) {
		t.Helper()
		at := time.Now()
		amzDate := at.UTC().Format(AmzDateFormat)
		trailer := "x-amz-checksum-crc32c:" + checksum
		n := len(newChunkSigner(admin.SecretAccessKey, amzDate, "us-east-1", "").encode(data, 64<<10, trailer))
		req, seed := streamingRequest(t, admin, srv.URL+"/lake/raw/t.bin", StreamingPayloadTrailer, len(data), n, "x-amz-checksum-crc32c", at)
		enc := newChunkSigner(admin.SecretAccessKey, amzDate, "us-east-1", seed).encode(data, 64<<10, trailer)
		req.Body = io.NopCloser(bytes.NewReader(enc))
		return do(t, req)
	}
	t.Run("signed trailer", func(t *testing.T) {
		res, code := signedSend(t, crc(data))
		if code != "" || res.BodySHA256 != sha256Hex(data) || res.Trailer["X-Amz-Checksum-Crc32c"] != crc(data) {
			t.Fatalf("code %q, trailer %v", code, res.Trailer)
		}
	})
	t.Run("signed trailer bad checksum", func(t *testing.T) {
		if _, code := signedSend(t, crc([]byte("other"))); code != "BadDigest" {
			t.Fatalf("code %q", code)
		}
	})

	unsignedSend := func(t *testing.T, body func(checksum string) string, checksum string) (result, string) {
		t.Helper()
		enc := body(checksum)
		req, _ := streamingRequest(t, admin, srv.URL+"/lake/raw/u.bin", StreamingUnsignedPayloadTrailer, len(data), len(enc), "x-amz-checksum-crc32c", time.Now())
		req.Body = io.NopCloser(strings.NewReader(enc))
		return do(t, req)
	}
	unsigned := func(checksum string) string {
		var b strings.Builder
		for off := 0; off < len(data); off += 30_000 {
			part := data[off:min(off+30_000, len(data))]
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(part), part)
		}
		b.WriteString("0\r\nx-amz-checksum-crc32c:" + checksum + "\r\n\r\n")
		return b.String()
	}
	t.Run("unsigned trailer", func(t *testing.T) {
		res, code := unsignedSend(t, unsigned, crc(data))
		if code != "" || res.BodySHA256 != sha256Hex(data) || res.Trailer["X-Amz-Checksum-Crc32c"] != crc(data) {
			t.Fatalf("code %q, trailer %v", code, res.Trailer)
		}
	})
	t.Run("unsigned trailer bad checksum", func(t *testing.T) {
		if _, code := unsignedSend(t, unsigned, crc([]byte("x"))); code != "BadDigest" {
			t.Fatalf("code %q", code)
		}
	})
	t.Run("unsigned trailer missing", func(t *testing.T) {
		noTrailer := func(string) string {
			return strings.TrimSuffix(unsigned(""), "x-amz-checksum-crc32c:\r\n\r\n") + "\r\n"
		}
		if _, code := unsignedSend(t, noTrailer, ""); code != "MalformedTrailerError" {
			t.Fatalf("code %q", code)
		}
	})
}

func FuzzChunkedReader(f *testing.F) {
	c := newChunkSigner("secret", "20250101T000000Z", "us-east-1", strings.Repeat("0", 64))
	f.Add(c.encode([]byte("hello world, this is a body"), 8, ""), true, true)
	f.Add([]byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n"), false, true)
	f.Add([]byte("ffffffffffffffff;chunk-signature=00\r\n"), true, false)
	f.Add([]byte("0;chunk-signature=\r\n\r\n"), true, false)
	f.Fuzz(func(t *testing.T, body []byte, signed, trailers bool) {
		r := &chunkedReader{
			rc: io.NopCloser(nil), src: bufioReader(body), signed: signed, trailers: trailers,
			key: []byte("k"), prefix: "20250101T000000Z\n20250101/us-east-1/s3/aws4_request\n",
			prevSig: strings.Repeat("0", 64), maxChunk: 1 << 16, decodedLen: 1 << 20,
			checksumName: "x-amz-checksum-crc32", checksum: crc32.NewIEEE(),
			req: &http.Request{},
		}
		n, err := io.Copy(io.Discard, r)
		if n > int64(len(body)) {
			t.Fatalf("decoded %d bytes from %d", n, len(body))
		}
		if err != nil && !errors.Is(err, ErrIncompleteBody) && !errors.Is(err, ErrSignatureDoesNotMatch) &&
			!errors.Is(err, ErrBadDigest) && !errors.Is(err, ErrEntityTooLarge) && !errors.Is(err, ErrMalformedTrailer) && !errors.Is(err, ErrInvalidChecksum) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func bufioReader(b []byte) *bufio.Reader {
	return bufio.NewReaderSize(bytes.NewReader(b), bufioReaderSize)
}
