package fs_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/fs"
	"github.com/tarn-lake/tarn/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.ObjectStore {
		return newStore(t, t.TempDir())
	})
}

func newStore(t testing.TB, root string) *fs.Store {
	t.Helper()
	s, err := fs.New(fs.DefaultConfig(root))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newBucket returns a store under a temp root with one bucket "lake".
func newBucket(t *testing.T) (s *fs.Store, root, bucketDir string) {
	t.Helper()
	root = t.TempDir()
	s = newStore(t, root)
	if err := s.CreateBucket(t.Context(), "lake"); err != nil {
		t.Fatal(err)
	}
	return s, root, filepath.Join(root, "lake")
}

func put(t *testing.T, s storage.ObjectStore, key, body string) storage.ObjectInfo {
	t.Helper()
	info, err := s.Put(t.Context(), "lake", key, strings.NewReader(body), storage.PutOptions{})
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return info
}

func listKeys(t *testing.T, s storage.ObjectStore, opts storage.ListOptions) []string {
	t.Helper()
	var keys []string
	for {
		res, err := s.List(t.Context(), "lake", opts)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for _, o := range res.Objects {
			keys = append(keys, o.Key)
		}
		keys = append(keys, res.CommonPrefixes...)
		if !res.IsTruncated {
			return keys
		}
		opts.ContinuationToken = res.NextContinuationToken
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPlainFiles(t *testing.T) {
	s, _, dir := newBucket(t)
	put(t, s, "raw/orders/year=2025/part-0.csv", "id\n1\n")
	want := filepath.Join(dir, "raw", "orders", "year=2025", "part-0.csv")
	if got := readFile(t, want); got != "id\n1\n" {
		t.Errorf("plain file holds %q", got)
	}
	p, err := s.LocalPath("lake", "raw/orders/year=2025/part-0.csv")
	if err != nil || p != want {
		t.Errorf("LocalPath = %q, %v; want %q", p, err, want)
	}
	if p, err := s.LocalPath("lake", "raw/orders/"); err != nil || p != filepath.Join(dir, "raw", "orders") {
		t.Errorf("LocalPath(prefix) = %q, %v", p, err)
	}
	_, err = s.LocalPath("lake", "raw/nope")
	if !errors.Is(err, storage.ErrNoSuchKey) {
		t.Errorf("LocalPath(missing) = %v", err)
	}
	_, err = s.LocalPath("lake", "../x")
	if !errors.Is(err, storage.ErrInvalidKey) {
		t.Errorf("LocalPath(../x) = %v", err)
	}
	// No temp files stay behind, and nothing but the bucket and .tarn is in Root.
	if tmp := tempFiles(t, filepath.Dir(dir)); len(tmp) != 0 {
		t.Errorf("temp files left: %v", tmp)
	}
	ents, _ := os.ReadDir(filepath.Dir(dir))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{".tarn", "lake"}) {
		t.Errorf("Root holds %v", names)
	}
}

func TestErrorMessages(t *testing.T) {
	s, _, _ := newBucket(t)
	_, _, err := s.Get(t.Context(), "lake", "a/b", nil)
	if err == nil || !strings.HasPrefix(err.Error(), "cannot get s3://lake/a/b: ") {
		t.Errorf("Get(missing) error = %v", err)
	}
	_, err = s.Put(t.Context(), "nope-bucket", "k", strings.NewReader(""), storage.PutOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), "cannot put s3://nope-bucket/k: ") {
		t.Errorf("Put(missing bucket) error = %v", err)
	}
}

func TestHandDroppedFiles(t *testing.T) {
	s, root, dir := newBucket(t)
	ctx := t.Context()
	if err := os.MkdirAll(filepath.Join(dir, "drop", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "drop", "sub", "x.csv"), []byte("dropped"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A hash of a file changed just now is not cached ("racy"); the store's
	// clock is moved past the window so this one is.
	restore := fs.PastRacyWindow(t)
	res, err := s.List(ctx, "lake", storage.ListOptions{Prefix: "drop/"})
	if err != nil || len(res.Objects) != 1 {
		t.Fatalf("List = %+v, %v", res, err)
	}
	o := res.Objects[0]
	if o.Key != "drop/sub/x.csv" || o.Size != 7 || o.ETag != md5hex("dropped") || !strings.HasPrefix(o.ContentType, "text/csv") {
		t.Errorf("listed hand-dropped file = %+v", o)
	}
	// The ETag is cached in a sidecar.
	metas := 0
	filepath.WalkDir(filepath.Join(root, ".tarn", "meta", "lake"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
			metas++
		}
		return nil
	})
	if metas != 1 {
		t.Errorf("%d sidecars cached, want 1", metas)
	}
	restore()
	// Changed by hand (same size too): the stale sidecar is noticed.
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(dir, "drop", "sub", "x.csv"), []byte("DROPPED"), 0o644); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(dir, "drop", "sub", "x.csv"), future, future)
	h, err := s.Head(ctx, "lake", "drop/sub/x.csv")
	if err != nil || h.ETag != md5hex("DROPPED") {
		t.Errorf("Head after a change by hand = %+v, %v; want etag %s", h, err, md5hex("DROPPED"))
	}
	rc, info, err := s.Get(ctx, "lake", "drop/sub/x.csv", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	if string(body) != "DROPPED" || info.ETag != md5hex("DROPPED") {
		t.Errorf("Get = %q %+v", body, info)
	}
	// A put over a hand-dropped file, and a key below it (overflow).
	put(t, s, "drop/sub/x.csv/below", "below")
	if h, err := s.Head(ctx, "lake", "drop/sub/x.csv"); err != nil || h.ETag != md5hex("DROPPED") {
		t.Errorf("Head of a hand-dropped file moved to overflow = %+v, %v", h, err)
	}
	// Empty folders made by hand are no objects and do not block a put.
	os.MkdirAll(filepath.Join(dir, "empty", "deeper"), 0o755)
	if keys := listKeys(t, s, storage.ListOptions{Prefix: "empty", Delimiter: "/"}); len(keys) != 0 {
		t.Errorf("empty folders listed as %q", keys)
	}
	put(t, s, "empty/deeper", "now a file")
	if got := readFile(t, filepath.Join(dir, "empty", "deeper")); got != "now a file" {
		t.Errorf("put over an empty folder left %q", got)
	}
	// Files with names that are no valid keys are skipped; a backslash
	// is a character of a key like any other (as in S3).
	os.WriteFile(filepath.Join(dir, "back\\slash"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad\xffutf8"), []byte("x"), 0o644)
	keys := listKeys(t, s, storage.ListOptions{})
	if !slices.Equal(keys, []string{"back\\slash", "drop/sub/x.csv", "drop/sub/x.csv/below", "empty/deeper"}) {
		t.Errorf("List = %q", keys)
	}
}

func TestSymlinksAreNotFollowed(t *testing.T) {
	s, root, dir := newBucket(t)
	ctx := t.Context()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"linkdir": outside, "linkfile": secret, "inside": filepath.Join(dir, "real")} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Skipf("cannot make symlinks: %v", err)
		}
	}
	put(t, s, "real/x", "x")
	// A bucket that is a link is no bucket.
	if err := os.Symlink(outside, filepath.Join(root, "evil")); err != nil {
		t.Fatal(err)
	}

	if keys := listKeys(t, s, storage.ListOptions{}); !slices.Equal(keys, []string{"real/x"}) {
		t.Errorf("List = %q, want [real/x]", keys)
	}
	if keys := listKeys(t, s, storage.ListOptions{Prefix: "linkdir/"}); len(keys) != 0 {
		t.Errorf("List(linkdir/) = %q", keys)
	}
	if keys := listKeys(t, s, storage.ListOptions{Delimiter: "/"}); !slices.Equal(keys, []string{"real/"}) {
		t.Errorf("List(/) = %q", keys)
	}
	for _, key := range []string{"linkdir/secret", "linkfile", "inside/x"} {
		if _, _, err := s.Get(ctx, "lake", key, nil); !errors.Is(err, storage.ErrNoSuchKey) {
			t.Errorf("Get(%q) = %v, want ErrNoSuchKey", key, err)
		}
		if _, err := s.Head(ctx, "lake", key); !errors.Is(err, storage.ErrNoSuchKey) {
			t.Errorf("Head(%q) = %v, want ErrNoSuchKey", key, err)
		}
		if _, err := s.LocalPath("lake", key); !errors.Is(err, storage.ErrNoSuchKey) {
			t.Errorf("LocalPath(%q) = %v, want ErrNoSuchKey", key, err)
		}
		if err := s.Delete(ctx, "lake", key); err != nil {
			t.Errorf("Delete(%q) = %v", key, err)
		}
	}
	if _, err := s.Put(ctx, "lake", "linkdir/planted", strings.NewReader("x"), storage.PutOptions{}); err == nil {
		t.Errorf("Put through a linked folder succeeded")
	}
	if _, err := s.Copy(ctx, "lake", "real/x", "lake", "linkdir/sub/planted"); err == nil {
		t.Errorf("Copy through a linked folder succeeded")
	}
	if got := readFile(t, secret); got != "secret" {
		t.Errorf("outside file changed: %q", got)
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 {
		t.Errorf("files written outside the bucket: %v", ents)
	}
	// Putting a key whose path is a link replaces the link, not its target.
	put(t, s, "linkfile", "replaced")
	if got := readFile(t, secret); got != "secret" {
		t.Errorf("outside file changed through a link: %q", got)
	}
	if _, err := s.HeadBucket(ctx, "evil"); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Errorf("HeadBucket(link) = %v", err)
	}
	bs, _ := s.ListBuckets(ctx)
	if len(bs) != 1 || bs[0].Name != "lake" {
		t.Errorf("ListBuckets = %+v", bs)
	}
}

func TestInternalFolderIsNoBucket(t *testing.T) {
	s, root, _ := newBucket(t)
	ctx := t.Context()
	put(t, s, "k", "v")
	if _, err := os.Stat(filepath.Join(root, ".tarn")); err != nil {
		t.Fatal(err)
	}
	bs, err := s.ListBuckets(ctx)
	if err != nil || len(bs) != 1 || bs[0].Name != "lake" {
		t.Errorf("ListBuckets = %+v, %v", bs, err)
	}
	if _, err := s.HeadBucket(ctx, ".tarn"); !errors.Is(err, storage.ErrInvalidBucketName) {
		t.Errorf("HeadBucket(.tarn) = %v", err)
	}
	if _, err := s.List(ctx, ".tarn", storage.ListOptions{}); !errors.Is(err, storage.ErrInvalidBucketName) {
		t.Errorf("List(.tarn) = %v", err)
	}
	// A folder made by hand with a valid name is a bucket.
	os.Mkdir(filepath.Join(root, "handmade"), 0o755)
	os.WriteFile(filepath.Join(root, "handmade", "f"), []byte("f"), 0o644)
	if _, err := s.HeadBucket(ctx, "handmade"); err != nil {
		t.Errorf("HeadBucket(handmade) = %v", err)
	}
	if h, err := s.Head(ctx, "handmade", "f"); err != nil || h.ETag != md5hex("f") {
		t.Errorf("Head(handmade/f) = %+v, %v", h, err)
	}
}

func TestFolderObjectWithBodyIsRefused(t *testing.T) {
	s, _, _ := newBucket(t)
	_, err := s.Put(t.Context(), "lake", "raw/", strings.NewReader("x"), storage.PutOptions{})
	if !errors.Is(err, storage.ErrInvalidKey) {
		t.Errorf("Put(raw/ with a body) = %v, want ErrInvalidKey", err)
	}
	if keys := listKeys(t, s, storage.ListOptions{}); len(keys) != 0 {
		t.Errorf("List = %q", keys)
	}
}

func TestOverflowLayout(t *testing.T) {
	s, root, dir := newBucket(t)
	ctx := t.Context()
	put(t, s, "a", "file a")
	put(t, s, "a/b", "file a/b")
	p, err := s.LocalPath("lake", "a")
	if err != nil || !strings.HasPrefix(p, filepath.Join(root, ".tarn", "overflow", "lake")+string(filepath.Separator)) {
		t.Errorf("LocalPath(a) = %q, %v; want a path in overflow", p, err)
	}
	if got := readFile(t, p); got != "file a" {
		t.Errorf("overflow file holds %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "a", "b")); got != "file a/b" {
		t.Errorf("a/b holds %q", got)
	}
	// The store reopened sees the same.
	s2 := newStore(t, root)
	if h, err := s2.Head(ctx, "lake", "a"); err != nil || h.ETag != md5hex("file a") {
		t.Errorf("reopened Head(a) = %+v, %v", h, err)
	}
	// When a/ empties, a comes back to its plain path.
	if err := s.Delete(ctx, "lake", "a/b"); err != nil {
		t.Fatal(err)
	}
	if p, err := s.LocalPath("lake", "a"); err != nil || p != filepath.Join(dir, "a") {
		t.Errorf("LocalPath(a) after deleting a/b = %q, %v", p, err)
	}
	if got := readFile(t, filepath.Join(dir, "a")); got != "file a" {
		t.Errorf("a holds %q", got)
	}
	ents, _ := os.ReadDir(filepath.Join(root, ".tarn", "overflow", "lake"))
	if len(ents) != 0 {
		t.Errorf("overflow not empty: %v", ents)
	}
	// Deleting the last key removes the folders, but not a folder object.
	put(t, s, "m/", "")
	put(t, s, "m/n/o/p", "p")
	if err := s.Delete(ctx, "lake", "m/n/o/p"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "m", "n")); !os.IsNotExist(err) {
		t.Errorf("empty folder m/n kept: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "m")); err != nil || !fi.IsDir() {
		t.Errorf("folder object m/ removed: %v", err)
	}
}

func TestRangeEdges(t *testing.T) {
	s, _, _ := newBucket(t)
	put(t, s, "empty", "")
	put(t, s, "ten", "0123456789")
	for _, tc := range []struct {
		key string
		rng storage.Range
	}{
		{"empty", storage.Range{Offset: 0, Length: -1}},
		{"empty", storage.Range{Offset: -1}},
		{"ten", storage.Range{Offset: 3, Length: 0}},
	} {
		if _, _, err := s.Get(t.Context(), "lake", tc.key, &tc.rng); !errors.Is(err, storage.ErrInvalidRange) {
			t.Errorf("Get(%s, %+v) = %v, want ErrInvalidRange", tc.key, tc.rng, err)
		}
	}
}

func TestBadDigestLeavesNoTemp(t *testing.T) {
	s, root, _ := newBucket(t)
	_, err := s.Put(t.Context(), "lake", "k", strings.NewReader("x"), storage.PutOptions{ContentMD5: make([]byte, 16)})
	if !errors.Is(err, storage.ErrBadDigest) {
		t.Fatalf("Put = %v", err)
	}
	if tmp := tempFiles(t, root); len(tmp) != 0 {
		t.Errorf("temp files left: %v", tmp)
	}
}

func TestClose(t *testing.T) {
	s, _, _ := newBucket(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := s.Head(t.Context(), "lake", "k"); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Head after Close = %v", err)
	}
}

func TestNew(t *testing.T) {
	if _, err := fs.New(fs.Config{}); err == nil {
		t.Errorf("New with no root succeeded")
	}
	root := filepath.Join(t.TempDir(), "does", "not", "exist")
	s := newStore(t, root)
	if bs, err := s.ListBuckets(t.Context()); err != nil || len(bs) != 0 {
		t.Errorf("ListBuckets of a new root = %v, %v", bs, err)
	}
}

func TestDeleteBucketWithStrayLink(t *testing.T) {
	s, _, dir := newBucket(t)
	if err := os.Symlink(t.TempDir(), filepath.Join(dir, "link")); err != nil {
		t.Skip(err)
	}
	if err := s.DeleteBucket(t.Context(), "lake"); !errors.Is(err, storage.ErrBucketNotEmpty) {
		t.Errorf("DeleteBucket with a stray link = %v, want ErrBucketNotEmpty", err)
	}
	os.Remove(filepath.Join(dir, "link"))
	os.MkdirAll(filepath.Join(dir, "left", "over"), 0o755)
	if err := s.DeleteBucket(t.Context(), "lake"); err != nil {
		t.Errorf("DeleteBucket with empty folders = %v", err)
	}
}

// TestContinuationTokenIsAKey: a token is the last key of the page before,
// and any string resumes a listing as StartAfter does.
func TestContinuationTokenIsAKey(t *testing.T) {
	s, _, _ := newBucket(t)
	for _, k := range []string{"a", "b", "c"} {
		if _, err := s.Put(t.Context(), "lake", k, strings.NewReader(k), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.List(t.Context(), "lake", storage.ListOptions{MaxKeys: 1})
	if err != nil || res.NextContinuationToken != "a" {
		t.Fatalf("List(MaxKeys 1) = %+v, %v; want token \"a\"", res, err)
	}
	res, err = s.List(t.Context(), "lake", storage.ListOptions{ContinuationToken: "!!"})
	if err != nil || len(res.Objects) != 3 {
		t.Errorf("List(token \"!!\") = %+v, %v; want a, b, c", res, err)
	}
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := fs.New(fs.DefaultConfig(root))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(root, "bkt", "t", "_staging", "run1", "part-0.parquet")
	if err := os.MkdirAll(filepath.Dir(staged), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(staged, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := s.Import(ctx, "bkt", "t/year=2025/part-0.parquet", staged, storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.ETag != "5d41402abc4b2a76b9719d911017c592" || info.Size != 5 {
		t.Errorf("imported %+v", info)
	}
	if _, err := os.Stat(staged); !os.IsNotExist(err) {
		t.Errorf("staged file still there: %v", err)
	}
	h, err := s.Head(ctx, "bkt", "t/year=2025/part-0.parquet")
	if err != nil || h.ETag != info.ETag {
		t.Errorf("head after import: %+v %v", h, err)
	}
	if _, err := s.Import(ctx, "bkt", "../x", staged, storage.PutOptions{}); !errors.Is(err, storage.ErrInvalidKey) {
		t.Errorf("import to a bad key: %v", err)
	}
}

// tempFiles lists the files under root's temp folder, but for the run
// folders and lock files of open stores.
func tempFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	tmp := filepath.Join(root, ".tarn", "tmp")
	err := filepath.WalkDir(tmp, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, ".lock") {
			return nil
		}
		rel, _ := filepath.Rel(tmp, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
