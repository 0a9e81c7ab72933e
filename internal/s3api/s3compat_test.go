package s3api_test

import (
	"bufio"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/tarn-lake/tarn/internal/auth"
)

// mustBatch runs aws CLI command lines in one process and fails the test
// if any fails; it returns their outputs.
func (e *env) mustBatch(cmds ...[]string) []string {
	e.t.Helper()
	var outs []string
	for i, r := range e.awsBatch(e.admin, cmds...) {
		if r.RC != 0 {
			e.t.Fatalf("aws %s: rc %d\n%s%s", strings.Join(cmds[i], " "), r.RC, r.Out, r.Err)
		}
		outs = append(outs, r.Out)
	}
	return outs
}

func jsonField(t *testing.T, out, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	s, _ := m[field].(string)
	return s
}

// Deleting every version of a key, oldest first, leaves nothing in the way
// of putting it again or of deleting the bucket (issue 11, item 18).
func TestVersionsDeletedThenPutAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := filepath.Join(t.TempDir(), "body")
	os.WriteFile(f, []byte("data"), 0o644)
	outs := e.mustBatch(
		[]string{"s3api", "create-bucket", "--bucket", "vers"},
		[]string{"s3api", "put-bucket-versioning", "--bucket", "vers", "--versioning-configuration", "Status=Enabled"},
		[]string{"s3api", "put-object", "--bucket", "vers", "--key", "k", "--body", f},
		[]string{"s3api", "put-object", "--bucket", "vers", "--key", "k", "--body", f},
	)
	v1, v2 := jsonField(t, outs[2], "VersionId"), jsonField(t, outs[3], "VersionId")
	if v1 == "" || v2 == "" || v1 == v2 {
		t.Fatalf("version ids %q %q", v1, v2)
	}
	outs = e.mustBatch(
		[]string{"s3api", "delete-object", "--bucket", "vers", "--key", "k", "--version-id", v1},
		[]string{"s3api", "delete-object", "--bucket", "vers", "--key", "k", "--version-id", v2},
		[]string{"s3api", "list-object-versions", "--bucket", "vers"},
		[]string{"s3api", "put-object", "--bucket", "vers", "--key", "k", "--body", f},
	)
	if strings.Contains(outs[2], `"Versions"`) || strings.Contains(outs[2], `"DeleteMarkers"`) {
		t.Errorf("versions left after deleting all: %s", outs[2])
	}
	v3 := jsonField(t, outs[3], "VersionId")
	res := e.awsBatch(e.admin,
		[]string{"s3api", "delete-bucket", "--bucket", "vers"},
		[]string{"s3api", "delete-object", "--bucket", "vers", "--key", "k", "--version-id", v3},
		[]string{"s3api", "delete-bucket", "--bucket", "vers"},
	)
	if res[0].RC == 0 || !strings.Contains(res[0].Err, "BucketNotEmpty") {
		t.Errorf("delete-bucket with a version: %+v", res[0])
	}
	if res[1].RC != 0 || res[2].RC != 0 {
		t.Errorf("delete-object, delete-bucket: %+v %+v", res[1], res[2])
	}
}

// UploadPartCopy copies whole objects and ranges into parts, as the aws
// CLI's multipart copy (objects over 8 MiB) does (issue 11, item 19).
func TestUploadPartCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.store.CreateBucket(t.Context(), "lake"); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 20<<20)
	for i := range big {
		big[i] = byte(i*7 + i/4096)
	}
	e.mustPut("lake", "20MB", big)
	e.mustPut("lake", "small", []byte("0123456789"))
	outs := e.mustBatch(
		[]string{"s3", "cp", "s3://lake/20MB", "s3://lake/copy"},
		[]string{"s3api", "create-multipart-upload", "--bucket", "lake", "--key", "ranged"},
	)
	if got, _ := e.content("lake", "copy"); got != string(big) {
		t.Errorf("aws s3 cp of a 20 MiB object: %d bytes, differ", len(got))
	}
	id := jsonField(t, outs[1], "UploadId")
	res := e.awsBatch(e.admin,
		[]string{"s3api", "upload-part-copy", "--bucket", "lake", "--key", "ranged", "--upload-id", id, "--part-number", "1",
			"--copy-source", "lake/20MB", "--copy-source-range", "bytes=0-5242879"},
		[]string{"s3api", "upload-part-copy", "--bucket", "lake", "--key", "ranged", "--upload-id", id, "--part-number", "2",
			"--copy-source", "lake/small", "--copy-source-range", "bytes=2-4"},
		[]string{"s3api", "upload-part-copy", "--bucket", "lake", "--key", "ranged", "--upload-id", id, "--part-number", "3",
			"--copy-source", "lake/missing"},
		[]string{"s3api", "upload-part-copy", "--bucket", "lake", "--key", "ranged", "--upload-id", id, "--part-number", "3",
			"--copy-source", "lake/small", "--copy-source-range", "bytes=5-10"},
		[]string{"s3api", "upload-part-copy", "--bucket", "lake", "--key", "ranged", "--upload-id", id, "--part-number", "3",
			"--copy-source", "lake/small", "--copy-source-if-match", `"nope"`},
	)
	var etags []string
	for i, r := range res[:2] {
		var out struct{ CopyPartResult struct{ ETag string } }
		if r.RC != 0 || json.Unmarshal([]byte(r.Out), &out) != nil || out.CopyPartResult.ETag == "" {
			t.Fatalf("upload-part-copy %d: %+v", i+1, r)
		}
		etags = append(etags, out.CopyPartResult.ETag)
	}
	for i, want := range []string{"NoSuchKey", "InvalidArgument", "PreconditionFailed"} {
		if r := res[2+i]; r.RC == 0 || !strings.Contains(r.Err, want) {
			t.Errorf("upload-part-copy, want %s: %+v", want, r)
		}
	}
	parts := `{"Parts": [{"PartNumber": 1, "ETag": ` + etags[0] + `}, {"PartNumber": 2, "ETag": ` + etags[1] + `}]}`
	e.mustBatch([]string{"s3api", "complete-multipart-upload", "--bucket", "lake", "--key", "ranged", "--upload-id", id, "--multipart-upload", parts})
	if got, _ := e.content("lake", "ranged"); got != string(big[:5<<20])+"234" {
		t.Errorf("ranged copy: %d bytes, differ", len(got))
	}
}

// Additional checksums are verified (BadDigest, and the object stays as it
// was), stored and returned (issue 11, item 20).
func TestChecksums(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.store.CreateBucket(t.Context(), "lake"); err != nil {
		t.Fatal(err)
	}
	const old = "old body"
	data := []byte("the new body, checksummed")
	sums := map[string]string{}
	for alg, newHash := range map[string]func() hash.Hash{
		"crc32": func() hash.Hash { return crc32.NewIEEE() }, "crc32c": func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
		"crc64nvme": func() hash.Hash { return crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5)) }, "sha1": sha1.New, "sha256": sha256.New,
	} {
		h := newHash()
		h.Write(data)
		sums[alg] = base64.StdEncoding.EncodeToString(h.Sum(nil))
		wrong := newHash()
		wrong.Write([]byte("other bytes"))
		key := "obj-" + alg
		e.mustPut("lake", key, []byte(old))
		for _, c := range []struct {
			value  string
			status int
			code   string
		}{
			{base64.StdEncoding.EncodeToString(wrong.Sum(nil)), 400, "BadDigest"},
			{"not base64!", 400, "InvalidRequest"},
			{sums[alg], 200, ""},
		} {
			hd := http.Header{}
			hd.Set("x-amz-checksum-"+alg, c.value)
			req := e.signed(http.MethodPut, "/lake/"+key, sha256Hex(data), int64(len(data)), hd)
			status, code := send(t, req, data)
			if status != c.status || code != c.code {
				t.Errorf("PUT with x-amz-checksum-%s %s: %d %s, want %d %s", alg, c.value, status, code, c.status, c.code)
			}
			want := old
			if c.status == 200 {
				want = string(data)
			}
			if got, _ := e.content("lake", key); got != want {
				t.Errorf("after PUT with x-amz-checksum-%s %s: %q, want %q", alg, c.value, got, want)
			}
		}
	}
	// aws-chunked trailers: a wrong one, and one x-amz-trailer did not announce.
	e.mustPut("lake", "chunked", []byte(old))
	for _, c := range []chunked{
		{trailer: "x-amz-checksum-crc32c:AAAAAA=="},
		{trailer: "x-amz-checksum-crc32:AAAAAA==", unannounced: true}, // MalformedTrailerError
	} {
		req, body := e.streaming("/lake/chunked", auth.StreamingUnsignedPayloadTrailer, data, c)
		if status, _ := send(t, req, body); status != 400 {
			t.Errorf("trailer %s (unannounced %v): %d, want 400", c.trailer, c.unannounced, status)
		}
	}
	if got, _ := e.content("lake", "chunked"); got != old {
		t.Errorf("after bad trailers: %q", got)
	}
	req, body := e.streaming("/lake/chunked", auth.StreamingUnsignedPayloadTrailer, data, chunked{trailer: "x-amz-checksum-crc32c:" + sums["crc32c"]})
	if status, code := send(t, req, body); status != 200 {
		t.Fatalf("good trailer: %d %s", status, code)
	}

	// The checksums come back, as the aws CLI asks for them.
	outs := e.mustBatch(
		[]string{"s3api", "head-object", "--bucket", "lake", "--key", "obj-sha256", "--checksum-mode", "ENABLED"},
		[]string{"s3api", "head-object", "--bucket", "lake", "--key", "chunked", "--checksum-mode", "ENABLED"},
		[]string{"s3api", "get-object-attributes", "--bucket", "lake", "--key", "obj-crc32", "--object-attributes", "Checksum", "ETag", "ObjectSize"},
		[]string{"s3api", "list-objects-v2", "--bucket", "lake", "--prefix", "obj-crc32c"},
		[]string{"s3api", "put-object", "--bucket", "lake", "--key", "by-cli", "--body", writeTemp(t, data), "--checksum-algorithm", "SHA1"},
		[]string{"s3api", "head-object", "--bucket", "lake", "--key", "by-cli", "--checksum-mode", "ENABLED"},
	)
	for i, want := range []string{`"ChecksumSHA256": "` + sums["sha256"], `"ChecksumCRC32C": "` + sums["crc32c"],
		`"ChecksumCRC32": "` + sums["crc32"], `"ChecksumAlgorithm": [`, "", `"ChecksumSHA1": "` + sums["sha1"]} {
		if !strings.Contains(outs[i], want) {
			t.Errorf("command %d lacks %s:\n%s", i, want, outs[i])
		}
	}
	// The CLI is older than CRC64NVME: a raw HEAD.
	hd := http.Header{}
	hd.Set("x-amz-checksum-mode", "ENABLED")
	resp, err := http.DefaultClient.Do(e.signed(http.MethodHead, "/lake/obj-crc64nvme", emptySHA256, 0, hd))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("x-amz-checksum-crc64nvme"); got != sums["crc64nvme"] {
		t.Errorf("HEAD obj-crc64nvme: x-amz-checksum-crc64nvme %q, want %q", got, sums["crc64nvme"])
	}
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// Item 21 of issue 11, as the aws CLI and raw signed requests see it.

func TestListUploadsAndPartsPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.store.CreateBucket(t.Context(), "lake"); err != nil {
		t.Fatal(err)
	}
	var cmds [][]string
	for _, k := range []string{"a/1", "a/2", "b/1", "c"} {
		cmds = append(cmds, []string{"s3api", "create-multipart-upload", "--bucket", "lake", "--key", k})
	}
	outs := e.mustBatch(cmds...)
	id := jsonField(t, outs[0], "UploadId")
	f := writeTemp(t, []byte("part"))
	cmds = nil
	for n := 1; n <= 3; n++ {
		cmds = append(cmds, []string{"s3api", "upload-part", "--bucket", "lake", "--key", "a/1", "--upload-id", id, "--part-number", strconv.Itoa(n), "--body", f})
	}
	cmds = append(cmds,
		[]string{"s3api", "list-parts", "--bucket", "lake", "--key", "a/1", "--upload-id", id, "--max-parts", "2", "--no-paginate"},
		[]string{"s3api", "list-parts", "--bucket", "lake", "--key", "a/1", "--upload-id", id, "--part-number-marker", "2", "--no-paginate"},
		[]string{"s3api", "list-multipart-uploads", "--bucket", "lake", "--max-uploads", "1", "--no-paginate"},
		[]string{"s3api", "list-multipart-uploads", "--bucket", "lake", "--prefix", "a/"},
		[]string{"s3api", "list-multipart-uploads", "--bucket", "lake", "--delimiter", "/"},
		[]string{"s3api", "list-multipart-uploads", "--bucket", "lake", "--page-size", "1"},
	)
	outs = e.mustBatch(cmds...)[3:]
	type listing struct {
		Parts          []struct{ PartNumber int }
		Uploads        []struct{ Key string }
		CommonPrefixes []struct{ Prefix string }
		IsTruncated    bool
	}
	parse := func(s string) (l listing) {
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("%v: %s", err, s)
		}
		return l
	}
	if l := parse(outs[0]); len(l.Parts) != 2 || !l.IsTruncated {
		t.Errorf("list-parts --max-parts 2: %s", outs[0])
	}
	if l := parse(outs[1]); len(l.Parts) != 1 || l.Parts[0].PartNumber != 3 || l.IsTruncated {
		t.Errorf("list-parts --part-number-marker 2: %s", outs[1])
	}
	if l := parse(outs[2]); len(l.Uploads) != 1 || !l.IsTruncated {
		t.Errorf("list-multipart-uploads --max-uploads 1: %s", outs[2])
	}
	if l := parse(outs[3]); len(l.Uploads) != 2 || l.Uploads[0].Key != "a/1" || l.Uploads[1].Key != "a/2" {
		t.Errorf("list-multipart-uploads --prefix a/: %s", outs[3])
	}
	if l := parse(outs[4]); len(l.Uploads) != 1 || l.Uploads[0].Key != "c" || len(l.CommonPrefixes) != 2 {
		t.Errorf("list-multipart-uploads --delimiter /: %s", outs[4])
	}
	// The CLI pages through all of them, one by one.
	if l := parse(outs[5]); len(l.Uploads) != 4 {
		t.Errorf("list-multipart-uploads paged by 1: %s", outs[5])
	}
}

func TestListObjectsV1Pages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.store.CreateBucket(t.Context(), "lake"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"asdf", "boo/bar", "boo/baz/xyzzy", "cquux/thud", "cquux/bla", "a b/c"} {
		e.mustPut("lake", k, []byte("x"))
	}
	outs := e.mustBatch(
		[]string{"s3api", "list-objects", "--bucket", "lake", "--delimiter", "/", "--page-size", "1"},
		[]string{"s3api", "list-objects", "--bucket", "lake", "--prefix", "a b/", "--no-paginate"},
	)
	var l struct {
		Contents       []struct{ Key string }
		CommonPrefixes []struct{ Prefix string }
		Prefix         string
	}
	if err := json.Unmarshal([]byte(outs[0]), &l); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range l.CommonPrefixes {
		got = append(got, p.Prefix)
	}
	if strings.Join(got, " ") != "a b/ boo/ cquux/" || len(l.Contents) != 1 {
		t.Errorf("V1 paged by 1: prefixes %q, %d keys:\n%s", got, len(l.Contents), outs[0])
	}
	if err := json.Unmarshal([]byte(outs[1]), &l); err != nil || l.Prefix != "a b/" {
		t.Errorf("V1 with a prefix to encode: %v %s", err, outs[1])
	}
	// No encoding asked: the prefix comes back as it is.
	resp, err := http.DefaultClient.Do(e.signed(http.MethodGet, "/lake?prefix=a%20b%2F", emptySHA256, 0, nil))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "<Prefix>a b/</Prefix>") {
		t.Errorf("V1 without encoding-type: %s", body)
	}
}

func TestObjectHeadersAndMetadata(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.store.CreateBucket(t.Context(), "lake"); err != nil {
		t.Fatal(err)
	}
	f := writeTemp(t, []byte("0123456789"))
	out := filepath.Join(t.TempDir(), "out")
	outs := e.mustBatch(
		[]string{"s3api", "put-object", "--bucket", "lake", "--key", "h", "--body", f, "--content-disposition", "attachment; filename=x.csv",
			"--content-encoding", "gzip", "--cache-control", "no-cache", "--content-language", "fr", "--expires", "2030-01-01T00:00:00Z",
			"--metadata", "Foo=bar,Other=x"},
		[]string{"s3api", "head-object", "--bucket", "lake", "--key", "h"},
		[]string{"s3api", "get-object", "--bucket", "lake", "--key", "h", "--response-cache-control", "max-age=5",
			"--response-content-type", "text/x-over", "--response-content-disposition", "inline", out},
		[]string{"s3api", "put-object", "--bucket", "lake", "--key", "plain", "--body", f},
		[]string{"s3api", "head-object", "--bucket", "lake", "--key", "plain"},
	)
	for _, want := range []string{`"ContentDisposition": "attachment; filename=x.csv"`, `"ContentEncoding": "gzip"`, `"CacheControl": "no-cache"`,
		`"ContentLanguage": "fr"`, `"Expires": "`, `"foo": "bar"`, `"other": "x"`} {
		if !strings.Contains(outs[1], want) {
			t.Errorf("head-object lacks %s:\n%s", want, outs[1])
		}
	}
	for _, want := range []string{`"CacheControl": "max-age=5"`, `"ContentType": "text/x-over"`, `"ContentDisposition": "inline"`} {
		if !strings.Contains(outs[2], want) {
			t.Errorf("get-object with response-* lacks %s:\n%s", want, outs[2])
		}
	}
	if !strings.Contains(outs[4], `"ContentType": "binary/octet-stream"`) {
		t.Errorf("default content type:\n%s", outs[4])
	}
	// Metadata names come back lowercase on the wire, as S3 sends them.
	// (net/http's client canonicalizes the names it reads: the raw answer.)
	req := e.signed(http.MethodHead, "/lake/h", emptySHA256, 0, nil)
	conn, err := net.Dial("tcp", req.URL.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	raw, err := br.ReadString('\n')
	for err == nil && raw != "\r\n" && !strings.HasPrefix(raw, "x-amz-meta-foo: bar") {
		raw, err = br.ReadString('\n')
	}
	if !strings.HasPrefix(raw, "x-amz-meta-foo: bar") {
		t.Errorf("HEAD: no header line x-amz-meta-foo: bar (%v)", err)
	}
}

func TestRangesAsS3(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.store.CreateBucket(t.Context(), "lake"); err != nil {
		t.Fatal(err)
	}
	e.mustPut("lake", "digits", []byte("0123456789"))
	for _, c := range []struct {
		method, rng string
		status      int
		length      string
		body        string
	}{
		{http.MethodHead, "bytes=0-1", 206, "2", ""},
		{http.MethodHead, "bytes=-3", 206, "3", ""},
		{http.MethodHead, "bytes=10-", 416, "", ""},
		{http.MethodGet, "bytes=2-4", 206, "3", "234"},
		{http.MethodGet, "bytes=10-5", 200, "10", "0123456789"},
		{http.MethodGet, "bytes=0-1,3-4", 200, "10", "0123456789"},
		{http.MethodGet, "bytes=a-b", 200, "10", "0123456789"},
		{http.MethodGet, "bytes=10-", 416, "", ""},
		{http.MethodGet, "bytes=-0", 416, "", ""},
	} {
		h := http.Header{}
		h.Set("Range", c.rng)
		resp, err := http.DefaultClient.Do(e.signed(c.method, "/lake/digits", emptySHA256, 0, h))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || c.length != "" && resp.Header.Get("Content-Length") != c.length || c.status == 200 && string(body) != c.body ||
			c.status == 206 && c.method == http.MethodGet && string(body) != c.body {
			t.Errorf("%s Range %s: %d length %s body %q, want %d %s %q", c.method, c.rng, resp.StatusCode, resp.Header.Get("Content-Length"), body, c.status, c.length, c.body)
		}
	}
}

func TestMultipartRetriesAndMissingBucket(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.store.CreateBucket(t.Context(), "lake"); err != nil {
		t.Fatal(err)
	}
	f := writeTemp(t, []byte("only part"))
	outs := e.mustBatch([]string{"s3api", "create-multipart-upload", "--bucket", "lake", "--key", "k"})
	id := jsonField(t, outs[0], "UploadId")
	outs = e.mustBatch([]string{"s3api", "upload-part", "--bucket", "lake", "--key", "k", "--upload-id", id, "--part-number", "1", "--body", f})
	parts := `{"Parts": [{"PartNumber": 1, "ETag": ` + strconv.Quote(jsonField(t, outs[0], "ETag")) + `}]}`
	complete := []string{"s3api", "complete-multipart-upload", "--bucket", "lake", "--key", "k", "--upload-id", id, "--multipart-upload", parts}
	res := e.awsBatch(e.admin, complete, complete,
		[]string{"s3api", "create-multipart-upload", "--bucket", "missing", "--key", "k"},
		[]string{"s3api", "list-parts", "--bucket", "missing", "--key", "k", "--upload-id", id},
		[]string{"s3api", "abort-multipart-upload", "--bucket", "missing", "--key", "k", "--upload-id", id},
		[]string{"s3api", "create-bucket", "--bucket", "192.168.1.1"},
	)
	if res[0].RC != 0 || res[1].RC != 0 || jsonField(t, res[0].Out, "ETag") != jsonField(t, res[1].Out, "ETag") {
		t.Errorf("complete, then complete again: %+v %+v", res[0], res[1])
	}
	for _, r := range res[2:5] {
		if r.RC == 0 || !strings.Contains(r.Err, "NoSuchBucket") {
			t.Errorf("multipart call on a missing bucket: %+v", r)
		}
	}
	if r := res[5]; r.RC == 0 || !strings.Contains(r.Err, "InvalidBucketName") {
		t.Errorf("create-bucket 192.168.1.1: %+v", r)
	}
}

func TestRegionAndConditionalWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.store.CreateBucket(t.Context(), "lake"); err != nil {
		t.Fatal(err)
	}
	// A signature for another region.
	req, err := http.NewRequest(http.MethodGet, e.url+"/lake", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	creds := aws.Credentials{AccessKeyID: e.admin.AccessKeyID, SecretAccessKey: e.admin.SecretAccessKey}
	if err := signer().SignHTTP(t.Context(), creds, req, emptySHA256, "s3", "eu-west-3", time.Now()); err != nil {
		t.Fatal(err)
	}
	if status, code := send(t, req, nil); status != 400 || code != "AuthorizationHeaderMalformed" {
		t.Errorf("signed for eu-west-3: %d %s", status, code)
	}

	put := func(key, body string, h http.Header) (int, string) {
		return send(t, e.signed(http.MethodPut, "/lake/"+key, sha256Hex([]byte(body)), int64(len(body)), h), []byte(body))
	}
	hdr := func(k, v string) http.Header {
		h := http.Header{}
		h.Set(k, v)
		return h
	}
	if st, code := put("c", "first", hdr("If-None-Match", "*")); st != 200 {
		t.Fatalf("If-None-Match: * on a new key: %d %s", st, code)
	}
	if st, code := put("c", "second", hdr("If-None-Match", "*")); st != 412 || code != "PreconditionFailed" {
		t.Errorf("If-None-Match: * on an object: %d %s", st, code)
	}
	if st, code := put("c", "second", hdr("If-Match", `"`+md5Hex("nope")+`"`)); st != 412 || code != "PreconditionFailed" {
		t.Errorf("If-Match another ETag: %d %s", st, code)
	}
	if st, code := put("new", "x", hdr("If-Match", `"`+md5Hex("first")+`"`)); st != 404 || code != "NoSuchKey" {
		t.Errorf("If-Match on a missing key: %d %s", st, code)
	}
	if st, code := put("c", "third", hdr("If-Match", `"`+md5Hex("first")+`"`)); st != 200 {
		t.Errorf("If-Match the ETag: %d %s", st, code)
	}
	if got, _ := e.content("lake", "c"); got != "third" {
		t.Errorf("after the conditional writes: %q", got)
	}
	if st, code := send(t, e.signed(http.MethodDelete, "/lake/c", emptySHA256, 0, hdr("If-Match", `"`+md5Hex("first")+`"`)), nil); st != 412 || code != "PreconditionFailed" {
		t.Errorf("DELETE If-Match another ETag: %d %s", st, code)
	}
	if got, ok := e.content("lake", "c"); !ok || got != "third" {
		t.Errorf("after a failed conditional delete: %q %v", got, ok)
	}
	if st, code := send(t, e.signed(http.MethodDelete, "/lake/c", emptySHA256, 0, hdr("If-Match", `"`+md5Hex("third")+`"`)), nil); st != 204 {
		t.Errorf("DELETE If-Match the ETag: %d %s", st, code)
	}
	if _, ok := e.content("lake", "c"); ok {
		t.Error("the object is still there after DELETE If-Match its ETag")
	}
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Malformed signatures are answered in S3's words, which SDKs and test
// suites match on.
func TestAuthErrorsInS3Words(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.signed(http.MethodGet, "/", emptySHA256, 0, nil)
	authz := base.Header.Get("Authorization")
	cred := authz[strings.Index(authz, "Credential=")+len("Credential=") : strings.Index(authz, ",")]
	for _, c := range []struct{ authz, code, msg string }{
		{"AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host;x-amz-date", "AuthorizationHeaderMalformed",
			"The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature."},
		{"AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host, Nosig=abc", "AuthorizationHeaderMalformed",
			"The authorization header is malformed; missing Signature."},
		{"AWS4-HMAC-SHA256 Credential=a/b/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=abc", "AuthorizationHeaderMalformed",
			`The authorization header is malformed; incorrect service "ec2". This endpoint belongs to "s3".`},
		{"AWS abc:def", "InvalidRequest", "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."},
	} {
		req := base.Clone(t.Context())
		req.Header.Set("Authorization", c.authz)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "<Code>"+c.code+"</Code>") || !strings.Contains(string(body), "<Message>"+xmlEscape(c.msg)+"</Message>") {
			t.Errorf("Authorization %q: %s, want %s %q", c.authz, body, c.code, c.msg)
		}
	}
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// Object tags: given at a put, replaced, copied, deleted, as the aws CLI
// does it; the object's bytes never change.
func TestObjectTagging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.store.CreateBucket(t.Context(), "lake"); err != nil {
		t.Fatal(err)
	}
	f := writeTemp(t, []byte("tagged body"))
	out := filepath.Join(t.TempDir(), "out")
	res := e.awsBatch(e.admin,
		[]string{"s3api", "put-object", "--bucket", "lake", "--key", "k", "--body", f, "--tagging", "team=data&tier=raw"},
		[]string{"s3api", "get-object-tagging", "--bucket", "lake", "--key", "k"},
		[]string{"s3api", "put-object-tagging", "--bucket", "lake", "--key", "k", "--tagging", `{"TagSet": [{"Key": "only", "Value": "one"}]}`},
		[]string{"s3api", "get-object", "--bucket", "lake", "--key", "k", out},
		[]string{"s3api", "copy-object", "--bucket", "lake", "--key", "copy", "--copy-source", "lake/k"},
		[]string{"s3api", "copy-object", "--bucket", "lake", "--key", "retagged", "--copy-source", "lake/k", "--tagging-directive", "REPLACE", "--tagging", "x=y"},
		[]string{"s3api", "get-object-tagging", "--bucket", "lake", "--key", "copy"},
		[]string{"s3api", "get-object-tagging", "--bucket", "lake", "--key", "retagged"},
		[]string{"s3api", "delete-object-tagging", "--bucket", "lake", "--key", "k"},
		[]string{"s3api", "get-object-tagging", "--bucket", "lake", "--key", "k"},
		[]string{"s3api", "put-object-tagging", "--bucket", "lake", "--key", "k", "--tagging", `{"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}`},
		[]string{"s3api", "put-object-tagging", "--bucket", "lake", "--key", "k", "--tagging", `{"TagSet": [{"Key": "bad#key", "Value": "1"}]}`},
		[]string{"s3api", "put-object-tagging", "--bucket", "lake", "--key", "missing", "--tagging", `{"TagSet": []}`},
	)
	for i, want := range []string{"", `"Key": "team"`, "", `"TagCount": 1`, "", "", `"Key": "only"`, `"Key": "x"`, "", `"TagSet": []`} {
		if res[i].RC != 0 || !strings.Contains(res[i].Out, want) {
			t.Errorf("command %d: rc %d, lacks %s:\n%s%s", i, res[i].RC, want, res[i].Out, res[i].Err)
		}
	}
	for i, want := range []string{"InvalidTag", "InvalidTag", "NoSuchKey"} {
		if r := res[10+i]; r.RC == 0 || !strings.Contains(r.Err, want) {
			t.Errorf("command %d: want %s: %+v", 10+i, want, r)
		}
	}
	if got, _ := e.content("lake", "k"); got != "tagged body" {
		t.Errorf("content after tagging: %q", got)
	}
}

// Bucket tags and ownership controls are kept and answered; deleting them
// deletes nothing else.
func TestBucketTaggingAndOwnership(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.store.CreateBucket(t.Context(), "lake"); err != nil {
		t.Fatal(err)
	}
	e.mustPut("lake", "k", []byte("x"))
	res := e.awsBatch(e.admin,
		[]string{"s3api", "put-bucket-tagging", "--bucket", "lake", "--tagging", `{"TagSet": [{"Key": "team", "Value": "data"}]}`},
		[]string{"s3api", "get-bucket-tagging", "--bucket", "lake"},
		[]string{"s3api", "get-bucket-ownership-controls", "--bucket", "lake"},
		[]string{"s3api", "put-bucket-ownership-controls", "--bucket", "lake", "--ownership-controls", `{"Rules": [{"ObjectOwnership": "ObjectWriter"}]}`},
		[]string{"s3api", "get-bucket-ownership-controls", "--bucket", "lake"},
		[]string{"s3api", "delete-bucket-tagging", "--bucket", "lake"},
		[]string{"s3api", "delete-bucket-ownership-controls", "--bucket", "lake"},
		[]string{"s3api", "get-bucket-tagging", "--bucket", "lake"},
		[]string{"s3api", "get-bucket-ownership-controls", "--bucket", "lake"},
		[]string{"s3api", "put-bucket-tagging", "--bucket", "lake", "--tagging", `{"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}`},
		[]string{"s3api", "get-bucket-tagging", "--bucket", "missing"},
	)
	for i, want := range []string{"", `"Key": "team"`, `"ObjectOwnership": "BucketOwnerEnforced"`, "", `"ObjectOwnership": "ObjectWriter"`, "", ""} {
		if res[i].RC != 0 || !strings.Contains(res[i].Out, want) {
			t.Errorf("command %d: rc %d, lacks %s:\n%s%s", i, res[i].RC, want, res[i].Out, res[i].Err)
		}
	}
	for i, want := range []string{"NoSuchTagSet", "OwnershipControlsNotFoundError", "InvalidTag", "NoSuchBucket"} {
		if r := res[7+i]; r.RC == 0 || !strings.Contains(r.Err, want) {
			t.Errorf("command %d: want %s: %+v", 7+i, want, r)
		}
	}
	if got, ok := e.content("lake", "k"); !ok || got != "x" {
		t.Errorf("object after the bucket calls: %q %v", got, ok)
	}
}

// GET and HEAD ?partNumber answer one part of a multipart object (the
// whole object is part 1 of others).
func TestGetPartNumber(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.store.CreateBucket(t.Context(), "lake"); err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 5<<20)
	for i := range first {
		first[i] = byte(i % 251)
	}
	f1, f2 := writeTemp(t, first), writeTemp(t, []byte("abc"))
	outs := e.mustBatch([]string{"s3api", "create-multipart-upload", "--bucket", "lake", "--key", "mp"})
	id := jsonField(t, outs[0], "UploadId")
	outs = e.mustBatch(
		[]string{"s3api", "upload-part", "--bucket", "lake", "--key", "mp", "--upload-id", id, "--part-number", "1", "--body", f1},
		[]string{"s3api", "upload-part", "--bucket", "lake", "--key", "mp", "--upload-id", id, "--part-number", "2", "--body", f2},
	)
	parts := `{"Parts": [{"PartNumber": 1, "ETag": ` + strconv.Quote(jsonField(t, outs[0], "ETag")) + `}, {"PartNumber": 2, "ETag": ` + strconv.Quote(jsonField(t, outs[1], "ETag")) + `}]}`
	e.mustPut("lake", "single", []byte("whole"))
	out := filepath.Join(t.TempDir(), "out")
	res := e.awsBatch(e.admin,
		[]string{"s3api", "complete-multipart-upload", "--bucket", "lake", "--key", "mp", "--upload-id", id, "--multipart-upload", parts},
		[]string{"s3api", "get-object", "--bucket", "lake", "--key", "mp", "--part-number", "2", out},
		[]string{"s3api", "head-object", "--bucket", "lake", "--key", "mp", "--part-number", "1"},
		[]string{"s3api", "head-object", "--bucket", "lake", "--key", "single", "--part-number", "1"},
		[]string{"s3api", "get-object", "--bucket", "lake", "--key", "mp", "--part-number", "3", out + "3"},
		[]string{"s3api", "get-object", "--bucket", "lake", "--key", "mp", "--part-number", "1", "--range", "bytes=0-1", out + "4"},
	)
	for i, want := range []string{"", `"PartsCount": 2`, `"ContentLength": 5242880`, `"ContentLength": 5`} {
		if res[i].RC != 0 || !strings.Contains(res[i].Out, want) {
			t.Errorf("command %d: rc %d, lacks %s:\n%s%s", i, res[i].RC, want, res[i].Out, res[i].Err)
		}
	}
	if got, _ := os.ReadFile(out); string(got) != "abc" {
		t.Errorf("part 2: %q", got)
	}
	for i, want := range []string{"InvalidPartNumber", "InvalidRequest"} {
		if r := res[4+i]; r.RC == 0 || !strings.Contains(r.Err, want) {
			t.Errorf("command %d: want %s: %+v", 4+i, want, r)
		}
	}
}

// Buckets are private: the private canned ACL is accepted and reported,
// public ones are refused (first, while ownership controls are
// BucketOwnerEnforced, as S3 does).
func TestBucketCannedACL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.awsBatch(e.admin,
		[]string{"s3api", "create-bucket", "--bucket", "lake"},
		[]string{"s3api", "get-bucket-acl", "--bucket", "lake"},
		[]string{"s3api", "put-bucket-acl", "--bucket", "lake", "--acl", "private"},
		[]string{"s3api", "create-bucket", "--bucket", "shared", "--object-ownership", "BucketOwnerPreferred"},
		[]string{"s3api", "get-bucket-ownership-controls", "--bucket", "shared"},
		[]string{"s3api", "put-bucket-acl", "--bucket", "lake", "--acl", "public-read"},
		[]string{"s3api", "create-bucket", "--bucket", "other", "--acl", "public-read"},
		[]string{"s3api", "put-bucket-acl", "--bucket", "shared", "--acl", "public-read"},
		[]string{"s3api", "put-bucket-acl", "--bucket", "shared", "--grant-read", "id=someone"},
	)
	for i, want := range []string{"", `"Permission": "FULL_CONTROL"`, "", "", `"ObjectOwnership": "BucketOwnerPreferred"`} {
		if res[i].RC != 0 || !strings.Contains(res[i].Out, want) {
			t.Errorf("command %d: rc %d, lacks %s:\n%s%s", i, res[i].RC, want, res[i].Out, res[i].Err)
		}
	}
	if !strings.Contains(res[1].Out, `"ID": "`+e.admin.AccessKeyID+`"`) {
		t.Errorf("get-bucket-acl owner:\n%s", res[1].Out)
	}
	for i, want := range []string{"AccessControlListNotSupported", "InvalidBucketAclWithObjectOwnership", "NotImplemented", "NotImplemented"} {
		if r := res[5+i]; r.RC == 0 || !strings.Contains(r.Err, want) {
			t.Errorf("command %d: want %s: %+v", 5+i, want, r)
		}
	}
	if _, err := e.store.HeadBucket(t.Context(), "other"); err == nil {
		t.Error("a refused create-bucket created the bucket")
	}
}
