package s3api_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
