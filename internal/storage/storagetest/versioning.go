package storagetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
)

// Versioning tests run for stores that implement storage.Versioned.

func versioned(t *testing.T, s storage.ObjectStore) storage.Versioned {
	t.Helper()
	v, ok := s.(storage.Versioned)
	if !ok {
		t.Skip("the store does not implement storage.Versioned")
	}
	return v
}

// removeVersions deletes every version of every key in bucket.
func removeVersions(ctx context.Context, v storage.Versioned, bucket string) {
	for range 100 {
		res, err := v.ListVersions(ctx, bucket, storage.VersionListOptions{})
		if err != nil || len(res.Versions) == 0 {
			return
		}
		for _, o := range res.Versions {
			_, _ = v.DeleteVersion(ctx, bucket, o.Key, o.VersionID)
		}
	}
}

func newVersionedBucket(t *testing.T, s storage.ObjectStore) (storage.Versioned, string) {
	t.Helper()
	v := versioned(t, s)
	b := newBucket(t, s)
	if st, err := v.Versioning(t.Context(), b); err != nil || st != storage.VersioningUnversioned {
		t.Fatalf("Versioning of a new bucket: %q, %v", st, err)
	}
	if err := v.SetVersioning(t.Context(), b, storage.VersioningEnabled); err != nil {
		t.Fatalf("SetVersioning: %v", err)
	}
	if st, err := v.Versioning(t.Context(), b); err != nil || st != storage.VersioningEnabled {
		t.Fatalf("Versioning after enabling: %q, %v", st, err)
	}
	return v, b
}

func getVersion(t *testing.T, v storage.Versioned, bucket, key, id string) (string, storage.ObjectInfo) {
	t.Helper()
	rc, info, err := v.GetVersion(t.Context(), bucket, key, id, nil)
	if err != nil {
		t.Fatalf("GetVersion(%q, %q): %v", key, id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("GetVersion(%q, %q): read: %v", key, id, err)
	}
	return string(b), info
}

// listVersions pages through ListVersions with max entries per page and
// returns "key id [latest] [marker]" lines and the common prefixes.
func listVersions(t *testing.T, v storage.Versioned, bucket string, opts storage.VersionListOptions) (lines, prefixes []string) {
	t.Helper()
	max := opts.MaxKeys
	if max <= 0 {
		max = 1000
	}
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatalf("ListVersions(%+v): listing does not end", opts)
		}
		res, err := v.ListVersions(t.Context(), bucket, opts)
		if err != nil {
			t.Fatalf("ListVersions(%+v): %v", opts, err)
		}
		n := len(res.Versions) + len(res.CommonPrefixes)
		if n > max {
			t.Fatalf("ListVersions(%+v): page of %d entries", opts, n)
		}
		for _, o := range res.Versions {
			line := o.Key + " " + o.VersionID
			if o.IsLatest {
				line += " latest"
			}
			if o.IsDeleteMarker {
				line += " marker"
			}
			lines = append(lines, line)
		}
		prefixes = append(prefixes, res.CommonPrefixes...)
		if !res.IsTruncated {
			return lines, prefixes
		}
		if n == 0 || res.NextKeyMarker == "" {
			t.Fatalf("ListVersions(%+v): truncated page of %d entries, next key marker %q", opts, n, res.NextKeyMarker)
		}
		opts.KeyMarker, opts.VersionIDMarker = res.NextKeyMarker, res.NextVersionIDMarker
	}
}

func wantLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !equal(got, want) {
		t.Errorf("%s:\ngot  %q\nwant %q", what, got, want)
	}
}

func testVersioningOverwrite(t *testing.T, s storage.ObjectStore) {
	v, b := newVersionedBucket(t, s)
	i1 := put(t, s, b, "data/x.csv", "one")
	i2 := put(t, s, b, "data/x.csv", "two!")
	if i1.VersionID == "" || i2.VersionID == "" || i1.VersionID == i2.VersionID || i1.VersionID == storage.NullVersionID {
		t.Fatalf("version ids %q and %q", i1.VersionID, i2.VersionID)
	}
	body, info := get(t, s, b, "data/x.csv", nil)
	if body != "two!" || info.VersionID != i2.VersionID {
		t.Errorf("Get: %q version %q, want %q version %q", body, info.VersionID, "two!", i2.VersionID)
	}
	if h, err := s.Head(t.Context(), b, "data/x.csv"); err != nil || h.VersionID != i2.VersionID {
		t.Errorf("Head: %+v %v", h, err)
	}
	body, info = getVersion(t, v, b, "data/x.csv", i1.VersionID)
	checkInfo(t, "GetVersion of the first version", info, b, "data/x.csv", "one")
	if body != "one" || info.VersionID != i1.VersionID {
		t.Errorf("GetVersion(first): %q version %q", body, info.VersionID)
	}
	if body, info = getVersion(t, v, b, "data/x.csv", i2.VersionID); body != "two!" || info.VersionID != i2.VersionID {
		t.Errorf("GetVersion(current): %q version %q", body, info.VersionID)
	}
	rc, _, err := v.GetVersion(t.Context(), b, "data/x.csv", i1.VersionID, &storage.Range{Offset: 1, Length: 1})
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(rc)
	rc.Close()
	if string(part) != "n" {
		t.Errorf("ranged GetVersion: %q", part)
	}
	if h, err := v.HeadVersion(t.Context(), b, "data/x.csv", i1.VersionID); err != nil || h.ETag != md5hex("one") || h.Size != 3 {
		t.Errorf("HeadVersion: %+v %v", h, err)
	}
	// The listing of objects shows the key once.
	if keys, _ := listKeys(t, s, b, storage.ListOptions{}); !equal(keys, []string{"data/x.csv"}) {
		t.Errorf("List: %q", keys)
	}
	lines, _ := listVersions(t, v, b, storage.VersionListOptions{})
	wantLines(t, "ListVersions", lines, []string{"data/x.csv " + i2.VersionID + " latest", "data/x.csv " + i1.VersionID})
	_, _, err = v.GetVersion(t.Context(), b, "data/x.csv", strings.Repeat("0", 32), nil)
	wantErr(t, "GetVersion of an unknown version", err, storage.ErrNoSuchVersion)
	_, err = v.HeadVersion(t.Context(), b, "data/x.csv", "not a version")
	wantErr(t, "HeadVersion of a malformed version", err, storage.ErrInvalidVersionID)
	_, _, err = v.GetVersion(t.Context(), b, "data/other", i1.VersionID, nil)
	wantErr(t, "GetVersion of another key", err, storage.ErrNoSuchVersion)
}

func testVersioningDeleteMarker(t *testing.T, s storage.ObjectStore) {
	v, b := newVersionedBucket(t, s)
	i1 := put(t, s, b, "k", "one")
	i2 := put(t, s, b, "k", "two")
	other := put(t, s, b, "other", "x")
	if err := s.Delete(t.Context(), b, "k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, _, err := s.Get(t.Context(), b, "k", nil)
	wantErr(t, "Get after delete", err, storage.ErrNoSuchKey)
	var dm *storage.DeleteMarkerError
	if !errors.As(err, &dm) || dm.VersionID == "" {
		t.Fatalf("Get after delete: %v is no DeleteMarkerError", err)
	}
	marker := dm.VersionID
	_, err = s.Head(t.Context(), b, "k")
	wantErr(t, "Head after delete", err, storage.ErrNoSuchKey)
	if keys, _ := listKeys(t, s, b, storage.ListOptions{}); !equal(keys, []string{"other"}) {
		t.Errorf("List after delete: %q", keys)
	}
	lines, _ := listVersions(t, v, b, storage.VersionListOptions{})
	wantLines(t, "ListVersions after delete", lines, []string{
		"k " + marker + " latest marker", "k " + i2.VersionID, "k " + i1.VersionID, "other " + other.VersionID + " latest"})
	_, _, err = v.GetVersion(t.Context(), b, "k", marker, nil)
	wantErr(t, "GetVersion of a delete marker", err, storage.ErrDeleteMarker)
	if body, _ := getVersion(t, v, b, "k", i2.VersionID); body != "two" {
		t.Errorf("GetVersion of a deleted key's version: %q", body)
	}
	// Deleting the marker restores the version below it.
	res, err := v.DeleteVersion(t.Context(), b, "k", marker)
	if err != nil || res.VersionID != marker || !res.DeleteMarker {
		t.Fatalf("DeleteVersion(marker): %+v %v", res, err)
	}
	body, info := get(t, s, b, "k", nil)
	if body != "two" || info.VersionID != i2.VersionID {
		t.Errorf("Get after removing the marker: %q version %q", body, info.VersionID)
	}
	lines, _ = listVersions(t, v, b, storage.VersionListOptions{Prefix: "k"})
	wantLines(t, "ListVersions after removing the marker", lines, []string{"k " + i2.VersionID + " latest", "k " + i1.VersionID})
	// DeleteVersion with no id deletes as Delete does.
	res, err = v.DeleteVersion(t.Context(), b, "k", "")
	if err != nil || !res.DeleteMarker || res.VersionID == "" || res.VersionID == marker {
		t.Fatalf("DeleteVersion(\"\"): %+v %v", res, err)
	}
	// A delete marker is made even for a key that never existed (S3).
	if res, err := v.DeleteVersion(t.Context(), b, "never", ""); err != nil || !res.DeleteMarker {
		t.Errorf("delete of a missing key: %+v %v", res, err)
	}
	// A bucket with versions is not empty.
	for _, k := range []string{"other"} {
		if err := s.Delete(t.Context(), b, k); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, "DeleteBucket with versions", s.DeleteBucket(t.Context(), b), storage.ErrBucketNotEmpty)
	removeVersions(t.Context(), v, b)
	if lines, _ := listVersions(t, v, b, storage.VersionListOptions{}); len(lines) != 0 {
		t.Errorf("after removing all versions: %q", lines)
	}
}

func testVersioningDeleteVersion(t *testing.T, s storage.ObjectStore) {
	v, b := newVersionedBucket(t, s)
	var ids []string
	for i := range 4 {
		ids = append(ids, put(t, s, b, "a/k", fmt.Sprint("v", i)).VersionID)
	}
	// A noncurrent version goes for good.
	if res, err := v.DeleteVersion(t.Context(), b, "a/k", ids[1]); err != nil || res.VersionID != ids[1] || res.DeleteMarker {
		t.Fatalf("DeleteVersion(noncurrent): %+v %v", res, err)
	}
	_, _, err := v.GetVersion(t.Context(), b, "a/k", ids[1], nil)
	wantErr(t, "GetVersion of a deleted version", err, storage.ErrNoSuchVersion)
	// The current version goes: the one before becomes current.
	if _, err := v.DeleteVersion(t.Context(), b, "a/k", ids[3]); err != nil {
		t.Fatalf("DeleteVersion(current): %v", err)
	}
	if body, info := get(t, s, b, "a/k", nil); body != "v2" || info.VersionID != ids[2] {
		t.Errorf("after deleting the current version: %q %q", body, info.VersionID)
	}
	lines, _ := listVersions(t, v, b, storage.VersionListOptions{})
	wantLines(t, "ListVersions", lines, []string{"a/k " + ids[2] + " latest", "a/k " + ids[0]})
	// Deleting a version that is not there is not an error; a malformed id is.
	if _, err := v.DeleteVersion(t.Context(), b, "a/k", ids[1]); err != nil {
		t.Errorf("DeleteVersion of a missing version: %v", err)
	}
	_, err = v.DeleteVersion(t.Context(), b, "a/k", "bad/id")
	wantErr(t, "DeleteVersion of a malformed id", err, storage.ErrInvalidVersionID)
	// Deleting every version removes the key.
	for _, id := range []string{ids[2], ids[0]} {
		if _, err := v.DeleteVersion(t.Context(), b, "a/k", id); err != nil {
			t.Fatal(err)
		}
	}
	_, err = s.Head(t.Context(), b, "a/k")
	wantErr(t, "Head after deleting every version", err, storage.ErrNoSuchKey)
	if lines, _ := listVersions(t, v, b, storage.VersionListOptions{}); len(lines) != 0 {
		t.Errorf("versions left: %q", lines)
	}
	if err := s.DeleteBucket(t.Context(), b); err != nil {
		t.Errorf("DeleteBucket after removing every version: %v", err)
	}
}

func testVersioningSuspended(t *testing.T, s storage.ObjectStore) {
	v, b := newVersionedBucket(t, s)
	i1 := put(t, s, b, "k", "enabled")
	if err := v.SetVersioning(t.Context(), b, storage.VersioningSuspended); err != nil {
		t.Fatal(err)
	}
	if st, _ := v.Versioning(t.Context(), b); st != storage.VersioningSuspended {
		t.Errorf("Versioning: %q", st)
	}
	i2 := put(t, s, b, "k", "suspended 1")
	i3 := put(t, s, b, "k", "suspended 2")
	if i2.VersionID != storage.NullVersionID || i3.VersionID != storage.NullVersionID {
		t.Errorf("suspended version ids: %q %q", i2.VersionID, i3.VersionID)
	}
	// The null version is replaced; the enabled one is kept.
	lines, _ := listVersions(t, v, b, storage.VersionListOptions{})
	wantLines(t, "ListVersions", lines, []string{"k null latest", "k " + i1.VersionID})
	if body, _ := getVersion(t, v, b, "k", storage.NullVersionID); body != "suspended 2" {
		t.Errorf("GetVersion(null): %q", body)
	}
	// A delete adds a null delete marker, replacing the null version.
	if res, err := v.DeleteVersion(t.Context(), b, "k", ""); err != nil || res.VersionID != storage.NullVersionID || !res.DeleteMarker {
		t.Fatalf("delete: %+v %v", res, err)
	}
	lines, _ = listVersions(t, v, b, storage.VersionListOptions{})
	wantLines(t, "ListVersions after delete", lines, []string{"k null latest marker", "k " + i1.VersionID})
	// Enabled again: the null marker becomes an ordinary noncurrent entry.
	if err := v.SetVersioning(t.Context(), b, storage.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	i4 := put(t, s, b, "k", "enabled again")
	lines, _ = listVersions(t, v, b, storage.VersionListOptions{})
	wantLines(t, "ListVersions after enabling again", lines, []string{"k " + i4.VersionID + " latest", "k null marker", "k " + i1.VersionID})
	err := v.SetVersioning(t.Context(), b, storage.VersioningUnversioned)
	wantErr(t, "turning versioning off", err, storage.ErrVersioningNotAllowed)
	err = v.SetVersioning(t.Context(), b, "Sometimes")
	wantErr(t, "an unknown state", err, storage.ErrInvalidVersioning)
}

func testVersioningUnversioned(t *testing.T, s storage.ObjectStore) {
	v := versioned(t, s)
	b := newBucket(t, s)
	i1 := put(t, s, b, "k", "one")
	i2 := put(t, s, b, "k", "two")
	if i1.VersionID != "" || i2.VersionID != "" {
		t.Errorf("version ids in an unversioned bucket: %q %q", i1.VersionID, i2.VersionID)
	}
	lines, _ := listVersions(t, v, b, storage.VersionListOptions{})
	wantLines(t, "ListVersions", lines, []string{"k null latest"})
	if body, info := getVersion(t, v, b, "k", storage.NullVersionID); body != "two" || info.VersionID != "" {
		t.Errorf("GetVersion(null): %q %+v", body, info)
	}
	if err := s.Delete(t.Context(), b, "k"); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Get(t.Context(), b, "k", nil)
	var dm *storage.DeleteMarkerError
	if !errors.Is(err, storage.ErrNoSuchKey) || errors.As(err, &dm) {
		t.Errorf("Get after delete: %v", err)
	}
	if lines, _ := listVersions(t, v, b, storage.VersionListOptions{}); len(lines) != 0 {
		t.Errorf("ListVersions after delete: %q", lines)
	}
	// Setting "unversioned" on an unversioned bucket is allowed.
	if err := v.SetVersioning(t.Context(), b, storage.VersioningUnversioned); err != nil {
		t.Error(err)
	}
	// Objects put before versioning are the null version.
	put(t, s, b, "old", "before")
	if err := v.SetVersioning(t.Context(), b, storage.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	i3 := put(t, s, b, "old", "after")
	lines, _ = listVersions(t, v, b, storage.VersionListOptions{})
	wantLines(t, "ListVersions after enabling", lines, []string{"old " + i3.VersionID + " latest", "old null"})
	if body, _ := getVersion(t, v, b, "old", storage.NullVersionID); body != "before" {
		t.Errorf("GetVersion(null): %q", body)
	}
	_, err = v.Versioning(t.Context(), "tarn-test-missing")
	wantErr(t, "Versioning of a missing bucket", err, storage.ErrNoSuchBucket)
}

func testVersioningList(t *testing.T, s storage.ObjectStore) {
	v, b := newVersionedBucket(t, s)
	ids := map[string][]string{} // newest first
	add := func(key, body string) {
		ids[key] = append([]string{put(t, s, b, key, body).VersionID}, ids[key]...)
	}
	for _, k := range []string{"a", "b/c", "b/d", "c-", "c/x/y", "d"} {
		add(k, "1")
	}
	add("a", "2")
	add("b/c", "2")
	add("b/c", "3")
	add("d", "2")
	res, err := v.DeleteVersion(t.Context(), b, "d", "")
	if err != nil {
		t.Fatal(err)
	}
	ids["d"] = append([]string{res.VersionID}, ids["d"]...)
	var want []string
	for _, k := range []string{"a", "b/c", "b/d", "c-", "c/x/y", "d"} {
		for i, id := range ids[k] {
			line := k + " " + id
			if i == 0 {
				line += " latest"
			}
			if k == "d" && i == 0 {
				line += " marker"
			}
			want = append(want, line)
		}
	}
	all, _ := listVersions(t, v, b, storage.VersionListOptions{})
	wantLines(t, "ListVersions", all, want)
	for _, max := range []int{1, 2, 3, 5} {
		got, _ := listVersions(t, v, b, storage.VersionListOptions{MaxKeys: max})
		wantLines(t, fmt.Sprintf("ListVersions by %d", max), got, want)
	}
	got, prefixes := listVersions(t, v, b, storage.VersionListOptions{Delimiter: "/"})
	var top []string
	for _, l := range want {
		if !strings.Contains(strings.Fields(l)[0], "/") {
			top = append(top, l)
		}
	}
	wantLines(t, "ListVersions with a delimiter", got, top)
	wantLines(t, "common prefixes", prefixes, []string{"b/", "c/"})
	for _, max := range []int{1, 2} {
		got2, prefixes2 := listVersions(t, v, b, storage.VersionListOptions{Delimiter: "/", MaxKeys: max})
		wantLines(t, fmt.Sprintf("ListVersions with a delimiter by %d", max), got2, top)
		wantLines(t, fmt.Sprintf("common prefixes by %d", max), prefixes2, []string{"b/", "c/"})
	}
	got, _ = listVersions(t, v, b, storage.VersionListOptions{Prefix: "b/"})
	wantLines(t, "ListVersions under b/", got, slices.DeleteFunc(slices.Clone(want), func(l string) bool { return !strings.HasPrefix(l, "b/") }))
	// Resuming after a key, and after a version of a key.
	got, _ = listVersions(t, v, b, storage.VersionListOptions{KeyMarker: "b/c"})
	wantLines(t, "after key b/c", got, want[5:])
	got, _ = listVersions(t, v, b, storage.VersionListOptions{KeyMarker: "b/c", VersionIDMarker: ids["b/c"][0]})
	wantLines(t, "after the newest version of b/c", got, want[3:])
}

func testVersioningCopyAndFolders(t *testing.T, s storage.ObjectStore) {
	v, b := newVersionedBucket(t, s)
	src1 := put(t, s, b, "src", "source 1")
	put(t, s, b, "src", "source 2")
	put(t, s, b, "dst", "old dst")
	c, err := s.Copy(t.Context(), b, "src", b, "dst")
	if err != nil {
		t.Fatal(err)
	}
	if c.VersionID == "" || c.VersionID == src1.VersionID {
		t.Errorf("Copy version id %q", c.VersionID)
	}
	lines, _ := listVersions(t, v, b, storage.VersionListOptions{Prefix: "dst"})
	if len(lines) != 2 {
		t.Errorf("versions of the copy's target: %q", lines)
	}
	if body, _ := get(t, s, b, "dst", nil); body != "source 2" {
		t.Errorf("copy: %q", body)
	}
	// Folder objects are versioned too.
	f1, err := s.Put(t.Context(), b, "dir/", strings.NewReader(""), storage.PutOptions{Metadata: map[string]string{"n": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(t.Context(), b, "dir/", strings.NewReader(""), storage.PutOptions{Metadata: map[string]string{"n": "2"}}); err != nil {
		t.Fatal(err)
	}
	if h, err := v.HeadVersion(t.Context(), b, "dir/", f1.VersionID); err != nil || h.Metadata["n"] != "1" {
		t.Errorf("HeadVersion of a folder object: %+v %v", h, err)
	}
	if err := s.Delete(t.Context(), b, "dir/"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Head(t.Context(), b, "dir/")
	wantErr(t, "Head of a deleted folder object", err, storage.ErrNoSuchKey)
	lines, _ = listVersions(t, v, b, storage.VersionListOptions{Prefix: "dir/"})
	if len(lines) != 3 || !strings.HasSuffix(lines[0], "latest marker") {
		t.Fatalf("versions of a folder object: %q", lines)
	}
	if _, err := v.DeleteVersion(t.Context(), b, "dir/", strings.Fields(lines[0])[1]); err != nil {
		t.Fatal(err)
	}
	if h, err := s.Head(t.Context(), b, "dir/"); err != nil || h.Metadata["n"] != "2" {
		t.Errorf("Head of a restored folder object: %+v %v", h, err)
	}
}

// Concurrent overwrites and deletes of one key lose no version.
func testVersioningConcurrent(t *testing.T, s storage.ObjectStore) {
	v, b := newVersionedBucket(t, s)
	const writers, each = 6, 5
	var mu sync.Mutex
	bodies := map[string]string{} // version id -> body
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body := fmt.Sprintf("writer %d put %d", w, i)
				info, err := s.Put(context.Background(), b, "k", strings.NewReader(body), storage.PutOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				bodies[info.VersionID] = body
				mu.Unlock()
				if i%2 == 1 {
					if _, err := v.DeleteVersion(context.Background(), b, "k", ""); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	lines, _ := listVersions(t, v, b, storage.VersionListOptions{})
	objects := 0
	for _, l := range lines {
		f := strings.Fields(l)
		if strings.HasSuffix(l, "marker") {
			continue
		}
		objects++
		if got, _ := getVersion(t, v, b, "k", f[1]); got != bodies[f[1]] {
			t.Errorf("version %s holds %q, want %q", f[1], got, bodies[f[1]])
		}
	}
	if objects != writers*each || len(lines) != writers*each+writers*(each/2) {
		t.Errorf("%d versions and %d entries, want %d and %d", objects, len(lines), writers*each, writers*each+writers*(each/2))
	}
}

// testVersioningDeleteEveryOrder deletes every version of a key, in each
// order a client may (oldest first, as ListObjectVersions lists them
// newest first and a client deletes in the listing's order or its
// reverse; with a delete marker on top), then puts the key again and
// deletes the bucket: nothing of the versions gone may stay in the way.
func testVersioningDeleteEveryOrder(t *testing.T, s storage.ObjectStore) {
	for _, c := range []struct {
		name   string
		marker bool
		oldest bool
	}{
		{"newest first", false, false},
		{"oldest first", false, true},
		{"marker, newest first", true, false},
		{"marker, oldest first", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, b := newVersionedBucket(t, s)
			var ids []string
			for i := range 3 {
				ids = append(ids, put(t, s, b, "d/k", fmt.Sprint("v", i)).VersionID)
			}
			if c.marker {
				res, err := v.DeleteVersion(t.Context(), b, "d/k", "")
				if err != nil || !res.DeleteMarker {
					t.Fatalf("Delete: %+v %v", res, err)
				}
				ids = append(ids, res.VersionID)
			}
			if !c.oldest {
				slices.Reverse(ids)
			}
			for _, id := range ids {
				if _, err := v.DeleteVersion(t.Context(), b, "d/k", id); err != nil {
					t.Fatalf("DeleteVersion(%s): %v", id, err)
				}
			}
			if lines, _ := listVersions(t, v, b, storage.VersionListOptions{}); len(lines) != 0 {
				t.Fatalf("versions left: %q", lines)
			}
			info := put(t, s, b, "d/k", "again")
			if body, _ := get(t, s, b, "d/k", nil); body != "again" {
				t.Errorf("Get after putting again: %q", body)
			}
			lines, _ := listVersions(t, v, b, storage.VersionListOptions{})
			wantLines(t, "ListVersions after putting again", lines, []string{"d/k " + info.VersionID + " latest"})
			err := s.DeleteBucket(t.Context(), b)
			wantErr(t, "DeleteBucket with a version", err, storage.ErrBucketNotEmpty)
			if _, err := v.DeleteVersion(t.Context(), b, "d/k", info.VersionID); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteBucket(t.Context(), b); err != nil {
				t.Errorf("DeleteBucket after removing every version: %v", err)
			}
		})
	}
}

// testTags: tags given at a put, replaced by SetTags without touching the
// content, on the current object and on a noncurrent version.
func testTags(t *testing.T, s storage.ObjectStore) {
	tg, ok := s.(storage.Tagger)
	if !ok {
		t.Skip("the store does not implement storage.Tagger")
	}
	ctx := t.Context()
	b := newBucket(t, s)
	info, err := s.Put(ctx, b, "t/k", strings.NewReader("body"), storage.PutOptions{Tags: map[string]string{"a": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := s.Head(ctx, b, "t/k"); err != nil || h.Tags["a"] != "1" || len(h.Tags) != 1 {
		t.Fatalf("Head after a put with tags: %v %v", h.Tags, err)
	}
	if _, err := tg.SetTags(ctx, b, "t/k", "", map[string]string{"b": "2", "c": "3"}); err != nil {
		t.Fatal(err)
	}
	body, h := get(t, s, b, "t/k", nil)
	if body != "body" || h.ETag != info.ETag || len(h.Tags) != 2 || h.Tags["b"] != "2" {
		t.Errorf("after SetTags: %q %s %v", body, h.ETag, h.Tags)
	}
	if _, err := tg.SetTags(ctx, b, "t/k", "", nil); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.Head(ctx, b, "t/k"); len(h.Tags) != 0 {
		t.Errorf("after removing the tags: %v", h.Tags)
	}
	_, err = tg.SetTags(ctx, b, "t/missing", "", map[string]string{"a": "1"})
	wantErr(t, "SetTags of a missing key", err, storage.ErrNoSuchKey)

	v, ok := s.(storage.Versioned)
	if !ok {
		return
	}
	if err := v.SetVersioning(ctx, b, storage.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	v1 := put(t, s, b, "t/v", "one").VersionID
	v2 := put(t, s, b, "t/v", "two").VersionID
	if id, err := tg.SetTags(ctx, b, "t/v", v1, map[string]string{"old": "yes"}); err != nil || id != v1 {
		t.Fatalf("SetTags of a noncurrent version: %q %v", id, err)
	}
	if h, err := v.HeadVersion(ctx, b, "t/v", v1); err != nil || h.Tags["old"] != "yes" {
		t.Errorf("noncurrent version's tags: %v %v", h.Tags, err)
	}
	if h, _ := v.HeadVersion(ctx, b, "t/v", v2); len(h.Tags) != 0 {
		t.Errorf("current version tagged too: %v", h.Tags)
	}
	_, err = tg.SetTags(ctx, b, "t/v", "00000000000000000000000000000000", nil)
	wantErr(t, "SetTags of a missing version", err, storage.ErrNoSuchVersion)
	removeVersions(ctx, v, b)
}

// testBucketConfigs: documents about a bucket are kept as given, removed
// on request, and go with the bucket.
func testBucketConfigs(t *testing.T, s storage.ObjectStore) {
	bc, ok := s.(storage.BucketConfigs)
	if !ok {
		t.Skip("the store does not implement storage.BucketConfigs")
	}
	ctx := t.Context()
	b := newBucket(t, s)
	_, err := bc.BucketConfig(ctx, b, "tagging")
	wantErr(t, "BucketConfig never set", err, storage.ErrNoSuchBucketConfig)
	if err := bc.SetBucketConfig(ctx, b, "tagging", nil); err != nil {
		t.Errorf("removing a missing document: %v", err)
	}
	if err := bc.SetBucketConfig(ctx, b, "tagging", []byte("<Tagging/>")); err != nil {
		t.Fatal(err)
	}
	if got, err := bc.BucketConfig(ctx, b, "tagging"); err != nil || string(got) != "<Tagging/>" {
		t.Errorf("BucketConfig = %q, %v", got, err)
	}
	if err := bc.SetBucketConfig(ctx, b, "tagging", nil); err != nil {
		t.Fatal(err)
	}
	_, err = bc.BucketConfig(ctx, b, "tagging")
	wantErr(t, "BucketConfig removed", err, storage.ErrNoSuchBucketConfig)
	err = bc.SetBucketConfig(ctx, "tarn-missing-bucket", "tagging", []byte("x"))
	wantErr(t, "SetBucketConfig of a missing bucket", err, storage.ErrNoSuchBucket)
	if err := bc.SetBucketConfig(ctx, b, "tagging", []byte("<Tagging/>")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	_, err = bc.BucketConfig(ctx, b, "tagging")
	wantErr(t, "BucketConfig of a bucket created again", err, storage.ErrNoSuchBucketConfig)
}
