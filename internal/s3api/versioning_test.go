package s3api_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type versionsOut struct {
	Versions []struct {
		Key       string
		VersionId string
		IsLatest  bool
		ETag      string
		Size      int64
	}
	DeleteMarkers []struct {
		Key       string
		VersionId string
		IsLatest  bool
	}
	CommonPrefixes []struct{ Prefix string }
}

func (e *env) listVersions(args ...string) versionsOut {
	e.t.Helper()
	out := e.mustAWS(e.admin, append([]string{"s3api", "list-object-versions", "--bucket", "vlake"}, args...)...)
	var v versionsOut
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		e.t.Fatalf("list-object-versions: %v\n%s", err, out)
	}
	return v
}

func (e *env) putVersion(key, body string) string {
	e.t.Helper()
	f := filepath.Join(e.t.TempDir(), "body")
	os.WriteFile(f, []byte(body), 0o644)
	out := e.mustAWS(e.admin, "s3api", "put-object", "--bucket", "vlake", "--key", key, "--body", f)
	var res struct{ VersionId string }
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		e.t.Fatalf("put-object: %v\n%s", err, out)
	}
	return res.VersionId
}

func (e *env) getVersion(key, id string) (string, string, error) {
	e.t.Helper()
	f := filepath.Join(e.t.TempDir(), "out")
	args := []string{"s3api", "get-object", "--bucket", "vlake", "--key", key}
	if id != "" {
		args = append(args, "--version-id", id)
	}
	out, errOut, err := e.aws(e.admin, append(args, f)...)
	if err != nil {
		return "", errOut, err
	}
	b, _ := os.ReadFile(f)
	var res struct{ VersionId string }
	json.Unmarshal([]byte(out), &res)
	return string(b), res.VersionId, nil
}

func TestVersioningAWSCLI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustAWS(e.admin, "s3", "mb", "s3://vlake")
	if out := e.mustAWS(e.admin, "s3api", "get-bucket-versioning", "--bucket", "vlake"); strings.Contains(out, "Status") {
		t.Errorf("versioning of a new bucket: %s", out)
	}
	e.mustAWS(e.admin, "s3api", "put-bucket-versioning", "--bucket", "vlake", "--versioning-configuration", "Status=Enabled")
	if out := e.mustAWS(e.admin, "s3api", "get-bucket-versioning", "--bucket", "vlake"); !strings.Contains(out, `"Status": "Enabled"`) {
		t.Errorf("get-bucket-versioning: %s", out)
	}

	// Versioned overwrite.
	v1 := e.putVersion("raw/x.csv", "a\n1\n")
	v2 := e.putVersion("raw/x.csv", "a\n2\n")
	if v1 == "" || v2 == "" || v1 == v2 {
		t.Fatalf("version ids %q %q", v1, v2)
	}
	vs := e.listVersions()
	if len(vs.Versions) != 2 || vs.Versions[0].VersionId != v2 || !vs.Versions[0].IsLatest ||
		vs.Versions[1].VersionId != v1 || vs.Versions[1].IsLatest || vs.Versions[1].Size != 4 {
		t.Errorf("list-object-versions: %+v", vs)
	}
	if body, id, err := e.getVersion("raw/x.csv", v1); err != nil || body != "a\n1\n" || id != v1 {
		t.Errorf("get-object --version-id first: %q %q %v", body, id, err)
	}
	if body, id, err := e.getVersion("raw/x.csv", ""); err != nil || body != "a\n2\n" || id != v2 {
		t.Errorf("get-object: %q %q %v", body, id, err)
	}
	if out := e.mustAWS(e.admin, "s3api", "head-object", "--bucket", "vlake", "--key", "raw/x.csv", "--version-id", v1); !strings.Contains(out, v1) {
		t.Errorf("head-object --version-id: %s", out)
	}

	// aws s3 rm adds a delete marker: the key is gone, its versions are not.
	e.mustAWS(e.admin, "s3", "rm", "s3://vlake/raw/x.csv")
	if _, errOut, err := e.getVersion("raw/x.csv", ""); err == nil || !strings.Contains(errOut, "NoSuchKey") {
		t.Errorf("get-object after rm: %v %s", err, errOut)
	}
	if ls := e.mustAWS(e.admin, "s3", "ls", "--recursive", "s3://vlake/"); strings.Contains(ls, "x.csv") {
		t.Errorf("ls after rm: %s", ls)
	}
	vs = e.listVersions("--prefix", "raw/")
	if len(vs.DeleteMarkers) != 1 || !vs.DeleteMarkers[0].IsLatest || len(vs.Versions) != 2 || vs.Versions[0].IsLatest {
		t.Fatalf("versions after rm: %+v", vs)
	}
	marker := vs.DeleteMarkers[0].VersionId
	// GET of a key hidden by a delete marker says so in its headers.
	url := strings.TrimSpace(e.mustAWS(e.admin, "s3", "presign", "s3://vlake/raw/x.csv"))
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("x-amz-delete-marker") != "true" || resp.Header.Get("x-amz-version-id") != marker {
		t.Errorf("GET of a deleted key: %d %v", resp.StatusCode, resp.Header)
	}
	if _, errOut, err := e.getVersion("raw/x.csv", marker); err == nil || !strings.Contains(errOut, "405") && !strings.Contains(errOut, "MethodNotAllowed") {
		t.Errorf("get-object of a delete marker: %v %s", err, errOut)
	}
	if body, _, err := e.getVersion("raw/x.csv", v2); err != nil || body != "a\n2\n" {
		t.Errorf("get-object of a version behind a delete marker: %q %v", body, err)
	}

	// Deleting the delete marker restores the object, as a plain file again.
	out := e.mustAWS(e.admin, "s3api", "delete-object", "--bucket", "vlake", "--key", "raw/x.csv", "--version-id", marker)
	if !strings.Contains(out, `"DeleteMarker": true`) || !strings.Contains(out, marker) {
		t.Errorf("delete-object of the marker: %s", out)
	}
	if body, id, err := e.getVersion("raw/x.csv", ""); err != nil || body != "a\n2\n" || id != v2 {
		t.Errorf("get-object after restore: %q %q %v", body, id, err)
	}
	if p, err := e.store.(interface {
		LocalPath(bucket, key string) (string, error)
	}).LocalPath("vlake", "raw/x.csv"); err != nil || !strings.HasSuffix(p, filepath.Join("vlake", "raw", "x.csv")) {
		t.Errorf("LocalPath after restore: %s %v", p, err)
	} else if b, _ := os.ReadFile(p); string(b) != "a\n2\n" {
		t.Errorf("plain file after restore: %q", b)
	}

	// Copying an old version over the key restores it as a new version.
	out = e.mustAWS(e.admin, "s3api", "copy-object", "--bucket", "vlake", "--key", "raw/x.csv", "--copy-source", "vlake/raw/x.csv?versionId="+v1)
	if !strings.Contains(out, v1) {
		t.Errorf("copy-object of a version: %s", out)
	}
	if body, id, err := e.getVersion("raw/x.csv", ""); err != nil || body != "a\n1\n" || id == v1 || id == v2 {
		t.Errorf("after copying the first version: %q %q %v", body, id, err)
	}
	if vs := e.listVersions(); len(vs.Versions) != 3 {
		t.Errorf("versions after copy: %+v", vs)
	}

	// Errors.
	for _, c := range []struct{ id, want string }{
		{"not-a-version", "InvalidArgument"},
		{strings.Repeat("0", 32), "NoSuchVersion"},
	} {
		if _, errOut, err := e.getVersion("raw/x.csv", c.id); err == nil || !strings.Contains(errOut, c.want) {
			t.Errorf("get-object --version-id %s: %v %s", c.id, err, errOut)
		}
	}

	// Deleting one version removes it for good.
	e.mustAWS(e.admin, "s3api", "delete-object", "--bucket", "vlake", "--key", "raw/x.csv", "--version-id", v1)
	if _, errOut, err := e.getVersion("raw/x.csv", v1); err == nil || !strings.Contains(errOut, "NoSuchVersion") {
		t.Errorf("get-object of a deleted version: %v %s", err, errOut)
	}

	// delete-object and delete-objects report the markers they add and the
	// versions they remove.
	e.putVersion("tmp/a", "a")
	out = e.mustAWS(e.admin, "s3api", "delete-object", "--bucket", "vlake", "--key", "tmp/a")
	var del struct {
		DeleteMarker bool
		VersionId    string
	}
	if json.Unmarshal([]byte(out), &del); !del.DeleteMarker || del.VersionId == "" {
		t.Errorf("delete-object: %s", out)
	}
	out = e.mustAWS(e.admin, "s3api", "delete-objects", "--bucket", "vlake", "--delete", `{"Objects": [{"Key": "tmp/a", "VersionId": "`+del.VersionId+`"}]}`)
	if !strings.Contains(out, `"DeleteMarkerVersionId": "`+del.VersionId+`"`) {
		t.Errorf("delete-objects of a marker: %s", out)
	}
	if body, _, err := e.getVersion("tmp/a", ""); err != nil || body != "a" {
		t.Errorf("restored by delete-objects: %q %v", body, err)
	}
	e.mustAWS(e.admin, "s3api", "delete-object", "--bucket", "vlake", "--key", "tmp/a", "--version-id", e.listVersions("--prefix", "tmp/").Versions[0].VersionId)

	// Listing with a delimiter and pages of one.
	e.putVersion("top.txt", "t")
	vs = e.listVersions("--delimiter", "/")
	if len(vs.CommonPrefixes) != 1 || vs.CommonPrefixes[0].Prefix != "raw/" || len(vs.Versions) != 1 || vs.Versions[0].Key != "top.txt" {
		t.Errorf("list-object-versions with a delimiter: %+v", vs)
	}
	all := e.listVersions()
	paged := e.listVersions("--page-size", "1")
	if len(paged.Versions) != len(all.Versions) || len(all.Versions) != 3 {
		t.Errorf("paged listing: %d versions, unpaged %d", len(paged.Versions), len(all.Versions))
	}

	// Suspended: new versions are "null".
	e.mustAWS(e.admin, "s3api", "put-bucket-versioning", "--bucket", "vlake", "--versioning-configuration", "Status=Suspended")
	if out := e.mustAWS(e.admin, "s3api", "get-bucket-versioning", "--bucket", "vlake"); !strings.Contains(out, `"Status": "Suspended"`) {
		t.Errorf("get-bucket-versioning: %s", out)
	}
	if id := e.putVersion("raw/x.csv", "suspended"); id != "null" {
		t.Errorf("version id while suspended: %q", id)
	}
	if _, errOut, err := e.aws(e.admin, "s3api", "put-bucket-versioning", "--bucket", "vlake", "--versioning-configuration", "Status=Sometimes"); err == nil || !strings.Contains(errOut, "IllegalVersioningConfiguration") {
		t.Errorf("bad versioning status: %v %s", err, errOut)
	}
	// A bucket with versions is not empty.
	e.mustAWS(e.admin, "s3", "rm", "--recursive", "s3://vlake/")
	if _, errOut, err := e.aws(e.admin, "s3", "rb", "s3://vlake"); err == nil || !strings.Contains(errOut, "BucketNotEmpty") {
		t.Errorf("rb of a bucket with versions: %v %s", err, errOut)
	}
}
