package s3api_test

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		{trailer: "x-amz-checksum-crc32:AAAAAA==", unannounced: true},
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
