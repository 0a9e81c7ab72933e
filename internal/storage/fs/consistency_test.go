package fs

// Regression tests for ETag caching (hashing outside the bucket lock, stale
// and racy sidecars) and for the durability of folders. They use the
// package's test hooks, so they are internal tests and must not run in
// parallel.

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/storage"
)

func newTestBucket(t *testing.T, noSync bool) (s *Store, root, dir string) {
	t.Helper()
	root = t.TempDir()
	s, err := New(Config{Root: root, NoSync: noSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateBucket(t.Context(), "bkt"); err != nil {
		t.Fatal(err)
	}
	return s, root, filepath.Join(root, "bkt")
}

func hexMD5(b string) string {
	sum := md5.Sum([]byte(b))
	return hex.EncodeToString(sum[:])
}

// setHook installs a hashing hook for the test.
func setHook(t *testing.T, h func(key string)) {
	t.Helper()
	testHookHashing = h
	t.Cleanup(func() { testHookHashing = nil })
}

// countHashes counts the data files hashed while the test runs.
func countHashes(t *testing.T) *atomic.Int64 {
	var n atomic.Int64
	setHook(t, func(string) { n.Add(1) })
	return &n
}

// dropOld writes a file by hand and, for the rest of the test, moves the
// store's clock past the racy window, so that its hash is cached.
func dropOld(t *testing.T, p, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	setHashClockAhead(t, racyWindowCoarse+time.Millisecond)
}

// A describe that has to hash a hand-dropped file must not hold the bucket
// lock meanwhile: a put to another key goes through while the hash is held
// up. Before the fix the put waited for the whole hash (4s for a 1 GiB file).
func TestHashingDoesNotBlockPuts(t *testing.T) {
	ops := map[string]func(ctx context.Context, s *Store) (string, error){
		"List": func(ctx context.Context, s *Store) (string, error) {
			res, err := s.List(ctx, "bkt", storage.ListOptions{Prefix: "big"})
			if err != nil || len(res.Objects) != 1 {
				return "", err
			}
			return res.Objects[0].ETag, nil
		},
		"Head": func(ctx context.Context, s *Store) (string, error) {
			info, err := s.Head(ctx, "bkt", "big.bin")
			return info.ETag, err
		},
		"RangedGet": func(ctx context.Context, s *Store) (string, error) {
			rc, info, err := s.Get(ctx, "bkt", "big.bin", &storage.Range{Offset: 0, Length: 4})
			if err != nil {
				return "", err
			}
			defer rc.Close()
			if b, err := io.ReadAll(rc); err != nil || string(b) != "big " {
				return "", err
			}
			return info.ETag, nil
		},
	}
	for _, name := range slices.Sorted(maps.Keys(ops)) {
		t.Run(name, func(t *testing.T) {
			s, _, dir := newTestBucket(t, true)
			ctx := t.Context()
			body := "big file dropped by hand"
			dropOld(t, filepath.Join(dir, "big.bin"), body)
			hashing, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			setHook(t, func(key string) {
				if key == "big.bin" {
					once.Do(func() { close(hashing) })
					<-release
				}
			})
			type result struct {
				etag string
				err  error
			}
			done := make(chan result, 1)
			go func() {
				etag, err := ops[name](ctx, s)
				done <- result{etag, err}
			}()
			<-hashing
			putDone := make(chan error, 1)
			go func() {
				_, err := s.Put(ctx, "bkt", "small", strings.NewReader("x"), storage.PutOptions{})
				putDone <- err
			}()
			select {
			case err := <-putDone:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("a put waited for %s hashing a file", name)
			}
			close(release)
			r := <-done
			if r.err != nil || r.etag != hexMD5(body) {
				t.Errorf("%s = %q, %v; want etag %s", name, r.etag, r.err, hexMD5(body))
			}
		})
	}
}

// A hash is cached only if the file did not change meanwhile, and never over
// a put that replaced the file while it was hashed.
func TestHashRacingPut(t *testing.T) {
	s, _, dir := newTestBucket(t, true)
	ctx := t.Context()
	dropOld(t, filepath.Join(dir, "k"), "dropped")
	release := make(chan struct{})
	hashing := make(chan struct{})
	var once sync.Once
	setHook(t, func(string) {
		once.Do(func() { close(hashing); <-release })
	})
	done := make(chan storage.ObjectInfo, 1)
	go func() {
		info, err := s.Head(ctx, "bkt", "k")
		if err != nil {
			t.Error(err)
		}
		done <- info
	}()
	<-hashing
	opts := storage.PutOptions{ContentType: "text/x-put", Metadata: map[string]string{"a": "b"}}
	putDone := make(chan error, 1)
	go func() {
		_, err := s.Put(ctx, "bkt", "k", strings.NewReader("put over it"), opts)
		putDone <- err
	}()
	select {
	case err := <-putDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("the put waited for a hash")
	}
	close(release)
	if info := <-done; info.ETag != hexMD5("dropped") {
		t.Errorf("Head racing a put = %+v; want the version it read", info)
	}
	info, err := s.Head(ctx, "bkt", "k")
	if err != nil || info.ETag != hexMD5("put over it") || info.ContentType != "text/x-put" || info.Metadata["a"] != "b" {
		t.Errorf("Head after the put = %+v, %v: the put's sidecar was overwritten", info, err)
	}
}

func skipWithoutFileID(t *testing.T, p string) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if ino, ctime := fileID(fi); ino == 0 || ctime == 0 {
		t.Skip("no inode numbers or change times on this platform")
	}
}

func headETag(t *testing.T, s *Store, key string) string {
	t.Helper()
	info, err := s.Head(t.Context(), "bkt", key)
	if err != nil {
		t.Fatal(err)
	}
	return info.ETag
}

// A rewrite that keeps the size and restores the mtime (cp -p, rsync -t,
// tar x) is noticed by the inode or the change time.
func TestStaleSidecarSameSizeAndMtime(t *testing.T) {
	s, _, dir := newTestBucket(t, true)
	ctx := t.Context()
	p := filepath.Join(dir, "a.csv")
	put := func(body string) {
		t.Helper()
		if _, err := s.Put(ctx, "bkt", "a.csv", strings.NewReader(body), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put("AAAA")
	skipWithoutFileID(t, p)
	restoreMtime := func(fi fs.FileInfo) {
		t.Helper()
		if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
	}

	// In place, same inode (cp -p over it).
	fi, _ := os.Stat(p)
	time.Sleep(20 * time.Millisecond) // a later clock tick
	if err := os.WriteFile(p, []byte("BBBB"), 0o644); err != nil {
		t.Fatal(err)
	}
	restoreMtime(fi)
	if got := headETag(t, s, "a.csv"); got != hexMD5("BBBB") {
		t.Errorf("after an in-place rewrite with the mtime restored: etag %s, want %s", got, hexMD5("BBBB"))
	}
	rc, info, err := s.Get(ctx, "bkt", "a.csv", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "BBBB" || info.ETag != hexMD5("BBBB") {
		t.Errorf("Get = %q, %+v", b, info)
	}

	// Replaced by a new file renamed over it (rsync -t, tar x).
	put("CCCC")
	fi, _ = os.Stat(p)
	tmp := filepath.Join(dir, ".a.csv.tmp")
	if err := os.WriteFile(tmp, []byte("DDDD"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	res, err := s.List(ctx, "bkt", storage.ListOptions{Prefix: "a.csv"})
	if err != nil || len(res.Objects) != 1 || res.Objects[0].ETag != hexMD5("DDDD") {
		t.Errorf("List after a replacement with the mtime restored = %+v, %v; want etag %s", res.Objects, err, hexMD5("DDDD"))
	}
}

// Two quick same-size writes by hand (same clock tick, so the same mtime and
// ctime) never leave the first one's ETag cached: its hash was racy.
func TestRacyHashIsNotCached(t *testing.T) {
	s, root, dir := newTestBucket(t, true)
	p := filepath.Join(dir, "b.csv")
	for i := range 100 {
		os.WriteFile(p, []byte("X"+strings.Repeat("x", i%7)), 0o644)
		if got, want := headETag(t, s, "b.csv"), hexMD5("X"+strings.Repeat("x", i%7)); got != want {
			t.Fatalf("rewrite %d: etag %s, want %s", i, got, want)
		}
		os.WriteFile(p, []byte("Y"+strings.Repeat("x", i%7)), 0o644)
		if got, want := headETag(t, s, "b.csv"), hexMD5("Y"+strings.Repeat("x", i%7)); got != want {
			t.Fatalf("quick rewrite %d of the same size: stale etag %s, want %s", i, got, want)
		}
	}
	// Once the file is older than the window, its hash is cached.
	sidecar := s.sidecarPath("bkt", "b.csv")
	os.Remove(sidecar)
	headETag(t, s, "b.csv")
	if _, err := os.Stat(sidecar); err == nil {
		t.Errorf("the hash of a file changed just now was cached")
	}
	setHashClockAhead(t, racyWindowCoarse+time.Millisecond)
	n := countHashes(t)
	for range 3 {
		headETag(t, s, "b.csv")
	}
	if n.Load() != 1 {
		t.Errorf("an old file was hashed %d times by 3 heads, want 1 (then cached)", n.Load())
	}
	_ = root
}

// Objects written by tarn are not hashed again when read, even right after
// the put (their data was private until the rename), nor after a move to
// overflow and back. A change of the ctime alone (chmod) makes tarn check
// the content, which keeps the content type and metadata.
func TestPutObjectsAreNotRehashed(t *testing.T) {
	s, _, dir := newTestBucket(t, true)
	ctx := t.Context()
	opts := storage.PutOptions{ContentType: "text/x-mine", Metadata: map[string]string{"k": "v"}}
	if _, err := s.Put(ctx, "bkt", "a", strings.NewReader("file a"), opts); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "staged")
	os.WriteFile(src, []byte("imported"), 0o644)
	if _, err := s.Import(ctx, "bkt", "imp/x", src, opts); err != nil {
		t.Fatal(err)
	}
	n := countHashes(t)
	check := func(what, key, body string) {
		t.Helper()
		info, err := s.Head(ctx, "bkt", key)
		if err != nil || info.ETag != hexMD5(body) || info.ContentType != "text/x-mine" || info.Metadata["k"] != "v" {
			t.Errorf("%s: Head(%s) = %+v, %v", what, key, info, err)
		}
	}
	check("after put", "a", "file a")
	check("after import", "imp/x", "imported")
	if _, err := s.Put(ctx, "bkt", "a/b", strings.NewReader("below"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	check("in overflow", "a", "file a")
	if err := s.Delete(ctx, "bkt", "a/b"); err != nil {
		t.Fatal(err)
	}
	check("back from overflow", "a", "file a")
	if got := n.Load(); got != 0 {
		t.Errorf("objects written by tarn were hashed %d times", got)
	}
	skipWithoutFileID(t, filepath.Join(dir, "a"))
	time.Sleep(20 * time.Millisecond)
	if err := os.Chmod(filepath.Join(dir, "a"), 0o600); err != nil {
		t.Fatal(err)
	}
	check("after chmod", "a", "file a")
	if got := n.Load(); got != 1 {
		t.Errorf("after chmod: %d hashes, want 1", got)
	}
}

// syncedDirs records the folders synced while f runs.
func syncedDirs(t *testing.T, f func()) map[string]bool {
	t.Helper()
	var mu sync.Mutex
	got := map[string]bool{}
	testHookSyncDir = func(dir string) {
		mu.Lock()
		got[dir] = true
		mu.Unlock()
	}
	defer func() { testHookSyncDir = nil }()
	f()
	return got
}

func allDirs(t *testing.T, root string) map[string]bool {
	t.Helper()
	dirs := map[string]bool{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs[p] = true
		}
		return nil
	})
	return dirs
}

// checkDurable runs op and checks that the parent of every folder it created
// or removed was synced, and so were the folders in want.
func checkDurable(t *testing.T, root, what string, op func() error, want ...string) {
	t.Helper()
	before := allDirs(t, root)
	var err error
	synced := syncedDirs(t, func() { err = op() })
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	after := allDirs(t, root)
	for d := range after {
		if !before[d] && !synced[filepath.Dir(d)] {
			t.Errorf("%s: created %s but did not sync %s", what, d, filepath.Dir(d))
		}
	}
	for d := range before {
		if !after[d] && after[filepath.Dir(d)] && !synced[filepath.Dir(d)] {
			t.Errorf("%s: removed %s but did not sync %s", what, d, filepath.Dir(d))
		}
	}
	for _, d := range want {
		if !synced[d] {
			t.Errorf("%s: did not sync %s (synced %v)", what, d, slices.Sorted(maps.Keys(synced)))
		}
	}
}

// A put that returned is not lost in a crash: the folders it created are
// synced into their parents, up to the first one that existed. A delete
// syncs the folder it removed the object from, so the object does not come
// back.
func TestFoldersAreSynced(t *testing.T) {
	s, root, dir := newTestBucket(t, false)
	ctx := t.Context()
	put := func(key string) func() error {
		return func() error {
			_, err := s.Put(ctx, "bkt", key, strings.NewReader("v"), storage.PutOptions{})
			return err
		}
	}
	del := func(key string) func() error {
		return func() error { return s.Delete(ctx, "bkt", key) }
	}
	scDir := func(key string) string { return filepath.Dir(s.sidecarPath("bkt", key)) }
	// The sidecar of a plain put only caches the file's MD5 and the
	// content type its key gives: it is rebuilt if lost, so its folder
	// need not be synced.
	checkDurable(t, root, "first put", put("t/year=2025/month=01/p0"),
		filepath.Join(dir, "t", "year=2025", "month=01"))
	checkDurable(t, root, "put into an existing folder", put("t/year=2025/month=01/p1"),
		filepath.Join(dir, "t", "year=2025", "month=01"))
	// One that says more is made durable, and so is one that replaces
	// another (whose metadata could come back).
	checkDurable(t, root, "put with metadata", func() error {
		_, err := s.Put(ctx, "bkt", "other/meta", strings.NewReader("v"), storage.PutOptions{Metadata: map[string]string{"a": "b"}})
		return err
	}, filepath.Join(dir, "other"), scDir("other/meta"))
	checkDurable(t, root, "put replacing an object", put("t/year=2025/month=01/p1"),
		filepath.Join(dir, "t", "year=2025", "month=01"), scDir("t/year=2025/month=01/p1"))
	checkDurable(t, root, "put beside", put("t/year=2025/month=02/p0"))
	checkDurable(t, root, "delete", del("t/year=2025/month=01/p1"), filepath.Join(dir, "t", "year=2025", "month=01"))
	checkDurable(t, root, "delete pruning folders", del("t/year=2025/month=01/p0"), filepath.Join(dir, "t", "year=2025"))
	checkDurable(t, root, "folder object", func() error {
		_, err := s.Put(ctx, "bkt", "m/n/", strings.NewReader(""), storage.PutOptions{})
		return err
	}, scDir("m/n/"))
	checkDurable(t, root, "delete folder object", del("m/n/"), scDir("m/n/"), dir)
	checkDurable(t, root, "overflow", put("t/year=2025/month=02/p0/x"))
	checkDurable(t, root, "staging", func() error {
		_, err := s.StagingDir(ctx, "bkt", "u/_staging/run1/")
		return err
	})
	staged := filepath.Join(dir, "u", "_staging", "run1", "part-0")
	os.WriteFile(staged, []byte("data"), 0o644)
	checkDurable(t, root, "import", func() error {
		_, err := s.Import(ctx, "bkt", "u/year=1/part-0", staged, storage.PutOptions{})
		return err
	}, filepath.Join(dir, "u", "year=1"))

	// NoSync syncs nothing.
	s2, _, _ := newTestBucket(t, true)
	if got := syncedDirs(t, func() { s2.Put(ctx, "bkt", "a/b/c", strings.NewReader("x"), storage.PutOptions{}) }); len(got) != 0 {
		t.Errorf("NoSync synced %v", got)
	}
}
