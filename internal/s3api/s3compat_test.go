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
