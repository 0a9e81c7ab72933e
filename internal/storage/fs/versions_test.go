package fs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/fs"
)

func enable(t *testing.T, s *fs.Store) {
	t.Helper()
	if err := s.SetVersioning(t.Context(), "lake", storage.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
}

func versionLines(t *testing.T, s *fs.Store, prefix string) []string {
	t.Helper()
	res, err := s.ListVersions(t.Context(), "lake", storage.VersionListOptions{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range res.Versions {
		l := v.Key + " " + v.VersionID
		if v.IsDeleteMarker {
			l += " marker"
		}
		out = append(out, l)
	}
	return out
}

// The current version is the plain file; older ones live under .tarn.
func TestVersionsLayout(t *testing.T) {
	s, root, dir := newBucket(t)
	ctx := t.Context()
	enable(t, s)
	v1 := put(t, s, "t/x.csv", "one")
	v2 := put(t, s, "t/x.csv", "two")
	if got := readFile(t, filepath.Join(dir, "t", "x.csv")); got != "two" {
		t.Errorf("plain file holds %q", got)
	}
	vdirs, _ := filepath.Glob(filepath.Join(root, ".tarn", "versions", "lake", "*"))
	if len(vdirs) != 1 {
		t.Fatalf("version folders: %q", vdirs)
	}
	if got := readFile(t, filepath.Join(vdirs[0], v1.VersionID)); got != "one" {
		t.Errorf("noncurrent version file holds %q", got)
	}
	if _, err := os.Stat(filepath.Join(vdirs[0], v2.VersionID)); !os.IsNotExist(err) {
		t.Errorf("the current version has a copy under .tarn: %v", err)
	}
	// The store reopened sees the same versions.
	s2 := newStore(t, root)
	if st, _ := s2.Versioning(ctx, "lake"); st != storage.VersioningEnabled {
		t.Errorf("reopened state %q", st)
	}
	if got := versionLines(t, s2, ""); strings.Join(got, ",") != "t/x.csv "+v2.VersionID+",t/x.csv "+v1.VersionID {
		t.Errorf("reopened versions: %q", got)
	}
	// A delete marker removes the plain file and its empty folder.
	if err := s.Delete(ctx, "lake", "t/x.csv"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "t")); !os.IsNotExist(err) {
		t.Errorf("folder t kept after the delete: %v", err)
	}
	// Removing the marker puts the file back at its plain path.
	res, _ := s.ListVersions(ctx, "lake", storage.VersionListOptions{})
	if _, err := s.DeleteVersion(ctx, "lake", "t/x.csv", res.Versions[0].VersionID); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "t", "x.csv")); got != "two" {
		t.Errorf("restored plain file holds %q", got)
	}
	if h, err := s.Head(ctx, "lake", "t/x.csv"); err != nil || h.VersionID != v2.VersionID || h.ETag != md5hex("two") {
		t.Errorf("Head after restore: %+v %v", h, err)
	}
	// Deleting every version leaves nothing under .tarn/versions.
	for _, id := range []string{v2.VersionID, v1.VersionID} {
		if _, err := s.DeleteVersion(ctx, "lake", "t/x.csv", id); err != nil {
			t.Fatal(err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(root, ".tarn", "versions", "lake")); len(ents) != 0 {
		t.Errorf("versions left: %v", ents)
	}
	if err := s.DeleteBucket(ctx, "lake"); err != nil {
		t.Errorf("DeleteBucket: %v", err)
	}
}

// Unversioned buckets write nothing under .tarn/versions.
func TestUnversionedWritesNoVersions(t *testing.T) {
	s, root, _ := newBucket(t)
	put(t, s, "a", "1")
	put(t, s, "a", "2")
	if err := s.Delete(t.Context(), "lake", "a"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"versions", "versioning"} {
		if _, err := os.Stat(filepath.Join(root, ".tarn", d, "lake")); !os.IsNotExist(err) {
			t.Errorf(".tarn/%s/lake exists: %v", d, err)
		}
	}
}

// A key whose plain path is a folder keeps its versions in overflow.
func TestVersionsOverflow(t *testing.T) {
	s, _, dir := newBucket(t)
	ctx := t.Context()
	enable(t, s)
	a1 := put(t, s, "a", "a1")
	put(t, s, "a/b", "ab")
	a2 := put(t, s, "a", "a2") // in overflow
	if body, _ := getVersion(t, s, "a", a1.VersionID); body != "a1" {
		t.Errorf("first version of a: %q", body)
	}
	if err := s.Delete(ctx, "lake", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Head(ctx, "lake", "a"); !errors.Is(err, storage.ErrNoSuchKey) {
		t.Errorf("Head(a) after delete: %v", err)
	}
	if got := listKeys(t, s, storage.ListOptions{}); strings.Join(got, ",") != "a/b" {
		t.Errorf("List: %q", got)
	}
	// a/b goes (a delete marker too), the folder a is pruned; restoring a
	// puts it at its plain path.
	if err := s.Delete(ctx, "lake", "a/b"); err != nil {
		t.Fatal(err)
	}
	lines := versionLines(t, s, "a")
	if _, err := s.DeleteVersion(ctx, "lake", "a", strings.Fields(lines[0])[1]); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "a")); got != "a2" {
		t.Errorf("a restored to its plain path holds %q", got)
	}
	if h, err := s.Head(ctx, "lake", "a"); err != nil || h.VersionID != a2.VersionID {
		t.Errorf("Head(a) after restore: %+v %v", h, err)
	}
}

func getVersion(t *testing.T, s *fs.Store, key, id string) (string, storage.ObjectInfo) {
	t.Helper()
	rc, info, err := s.GetVersion(t.Context(), "lake", key, id, nil)
	if err != nil {
		t.Fatalf("GetVersion(%q, %q): %v", key, id, err)
	}
	defer rc.Close()
	var b bytes.Buffer
	b.ReadFrom(rc)
	return b.String(), info
}

// Import (and so completed multipart uploads) keep versions like Put.
func TestVersionsImport(t *testing.T) {
	s, root, _ := newBucket(t)
	ctx := t.Context()
	enable(t, s)
	v1 := put(t, s, "t/part-0.parquet", "old")
	staged := filepath.Join(root, "lake", "t", "_staging", "run1", "part-0.parquet")
	os.MkdirAll(filepath.Dir(staged), 0o755)
	os.WriteFile(staged, []byte("new"), 0o644)
	v2, err := s.Import(ctx, "lake", "t/part-0.parquet", staged, storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v2.VersionID == "" || v2.VersionID == v1.VersionID {
		t.Errorf("imported version %q", v2.VersionID)
	}
	if body, _ := getVersion(t, s, "t/part-0.parquet", v1.VersionID); body != "old" {
		t.Errorf("version before the import: %q", body)
	}

	up, err := storage.NewUploads(filepath.Join(root, "uploads"), s)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := up.Create(ctx, "lake", "t/part-0.parquet", storage.PutOptions{})
	part, err := up.PutPart(ctx, "lake", "t/part-0.parquet", id, 1, strings.NewReader("multipart"), nil)
	if err != nil {
		t.Fatal(err)
	}
	v3, err := up.Complete(ctx, "lake", "t/part-0.parquet", id, []storage.CompletedPart{{PartNumber: 1, ETag: part.ETag}})
	if err != nil {
		t.Fatal(err)
	}
	if v3.VersionID == "" || v3.VersionID == v2.VersionID {
		t.Errorf("multipart version %q", v3.VersionID)
	}
	if got := len(versionLines(t, s, "t/")); got != 3 {
		t.Errorf("%d versions, want 3", got)
	}
}

// A current file changed by hand is hashed when it becomes noncurrent, and
// keeps its version id.
func TestVersionsHandEditedCurrent(t *testing.T) {
	s, _, dir := newBucket(t)
	enable(t, s)
	v1 := put(t, s, "k", "put")
	p := filepath.Join(dir, "k")
	os.WriteFile(p, []byte("by hand"), 0o644)
	os.Chtimes(p, time.Now().Add(-time.Hour), time.Now().Add(-time.Hour))
	put(t, s, "k", "new")
	body, info := getVersion(t, s, "k", v1.VersionID)
	if body != "by hand" || info.ETag != md5hex("by hand") || info.Size != 7 {
		t.Errorf("noncurrent hand-edited version: %q %+v", body, info)
	}
}
