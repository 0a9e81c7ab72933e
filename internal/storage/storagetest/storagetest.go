// Package storagetest is the conformance suite of storage.ObjectStore
// backends: each backend's tests call Run, as iceberg-go's catalogtest does
// for catalogs.
package storagetest

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/storage"
)

// Run runs the suite. Each subtest gets a store from newStore and closes it
// when done. Buckets are named "tarn-test-<random>" and removed (with their
// objects) at the end of the subtest, so newStore may return stores over a
// shared backend. Subtests run in parallel, so newStore must be safe to call
// from several goroutines.
func Run(t *testing.T, newStore func(t *testing.T) storage.ObjectStore) {
	RunWith(t, newStore, Capabilities{})
}

// Capabilities say what a store over another system cannot do that the
// full contract (the zero value, which the fs store keeps) asks. A case
// that meets a limit leaves out, or shortens, only what the limit rules
// out.
type Capabilities struct {
	// MaxKeyLength, if not 0, is the longest key the store takes, when it
	// is under storage.MaxKeyLength (a store that keeps tarn's keys under
	// a prefix of an external store's 1024-byte keys). Longer keys must
	// fail with storage.ErrKeyTooLong.
	MaxKeyLength int
	// FilesystemKeys: the store's objects are files in folders of a
	// filesystem behind it (an S3 gateway over POSIX, as versitygw's), so
	// a key cannot be an object while keys below it are ("a" and "a/b",
	// "a" and "a/"), and a folder object ("a/") cannot be deleted while
	// keys below it exist.
	FilesystemKeys bool
	// BackslashIsSlash: the store reads a backslash in a key as a slash
	// (MinIO), so a key or listing prefix whose segments, split at both,
	// include "." or ".." is refused: its operations must fail with
	// storage.ErrInvalidKey, never store or list something else.
	BackslashIsSlash bool
}

// backslashDotSegments reports whether k has a "." or ".." segment when a
// backslash separates segments too.
func backslashDotSegments(k string) bool {
	for _, seg := range strings.FieldsFunc(k, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// refusedDotPrefix reports whether a store that reads a backslash as a
// slash refused a listing with the prefix ".." (MinIO refuses it, though
// "..x" is a key), checking that the refusal is ErrInvalidKey; a listing it
// answers is for the caller to check.
func refusedDotPrefix(t *testing.T, s storage.ObjectStore, bucket string, opts storage.ListOptions, caps Capabilities) bool {
	t.Helper()
	if !caps.BackslashIsSlash || !strings.HasPrefix(opts.Prefix, "..") {
		return false
	}
	_, err := s.List(t.Context(), bucket, opts)
	if err == nil {
		return false
	}
	wantErr(t, fmt.Sprintf("List(%+v)", opts), err, storage.ErrInvalidKey)
	return true
}

// withoutFolderConflicts drops the keys "k" that are also folders of other
// keys ("k/..."), for stores with FilesystemKeys.
func withoutFolderConflicts(keys []string) []string {
	var out []string
	for _, k := range keys {
		conflict := false
		for _, o := range keys {
			if !strings.HasSuffix(k, "/") && strings.HasPrefix(o, k+"/") {
				conflict = true
				break
			}
		}
		if !conflict {
			out = append(out, k)
		}
	}
	return out
}

// fitKey shortens key to max bytes (0: no limit), keeping it a file key.
func fitKey(key string, max int) string {
	if max <= 0 || len(key) <= max {
		return key
	}
	key = key[:max]
	if strings.HasSuffix(key, "/") {
		key = key[:max-1] + "x"
	}
	return key
}

// RunWith runs the suite for a store with the given limits.
func RunWith(t *testing.T, newStore func(t *testing.T) storage.ObjectStore, caps Capabilities) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.ObjectStore)
	}{
		{"Buckets", testBuckets},
		{"MissingBucket", testMissingBucket},
		{"PutGetHead", func(t *testing.T, s storage.ObjectStore) { testPutGetHead(t, s, caps) }},
		{"Overwrite", testOverwrite},
		{"LargeObject", testLargeObject},
		{"Metadata", testMetadata},
		{"RangeGet", testRangeGet},
		{"ContentMD5", testContentMD5},
		{"InvalidKeys", func(t *testing.T, s storage.ObjectStore) { testInvalidKeys(t, s, caps) }},
		{"LongKeys", func(t *testing.T, s storage.ObjectStore) { testLongKeys(t, s, caps) }},
		{"MissingKeys", testMissingKeys},
		{"Copy", testCopy},
		{"Delete", func(t *testing.T, s storage.ObjectStore) { testDelete(t, s, caps) }},
		{"FolderObjects", func(t *testing.T, s storage.ObjectStore) { testFolderObjects(t, s, caps) }},
		{"FileAndFolderSameName", func(t *testing.T, s storage.ObjectStore) { testFileAndFolderSameName(t, s, caps) }},
		{"ListOrder", func(t *testing.T, s storage.ObjectStore) { testListOrder(t, s, caps) }},
		{"ListPagination", testListPagination},
		{"ListStartAfter", func(t *testing.T, s storage.ObjectStore) { testListStartAfter(t, s, caps) }},
		{"ListContinuationToken", testListContinuationToken},
		{"BackslashKeys", func(t *testing.T, s storage.ObjectStore) { testBackslashKeys(t, s, caps) }},
		{"ConcurrentOverwrite", testConcurrentOverwrite},
		{"ConcurrentWriters", func(t *testing.T, s storage.ObjectStore) { testConcurrentWriters(t, s, caps) }},
		{"Context", testContext},
		{"FailedBody", testFailedBody},
		{"VersioningOverwrite", testVersioningOverwrite},
		{"VersioningDeleteMarker", testVersioningDeleteMarker},
		{"VersioningDeleteVersion", testVersioningDeleteVersion},
		{"VersioningDeleteEveryOrder", testVersioningDeleteEveryOrder},
		{"Tags", testTags},
		{"BucketConfigs", testBucketConfigs},
		{"VersioningSuspended", testVersioningSuspended},
		{"VersioningUnversioned", testVersioningUnversioned},
		{"VersioningList", testVersioningList},
		{"VersioningCopyAndFolders", testVersioningCopyAndFolders},
		{"VersioningConcurrent", testVersioningConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// --- helpers -----------------------------------------------------------------

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newBucket creates a uniquely named bucket, emptied and removed at cleanup.
func newBucket(t *testing.T, s storage.ObjectStore) string {
	t.Helper()
	b := "tarn-test-" + randHex(6)
	if err := s.CreateBucket(t.Context(), b); err != nil {
		t.Fatalf("CreateBucket(%q): %v", b, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if v, ok := s.(storage.Versioned); ok {
			removeVersions(ctx, v, b)
		}
		for o, err := range storage.Walk(ctx, s, b, "") {
			if err != nil {
				break
			}
			_ = s.Delete(ctx, b, o.Key)
		}
		if err := s.DeleteBucket(ctx, b); err != nil && !errors.Is(err, storage.ErrNoSuchBucket) {
			t.Logf("cleanup: DeleteBucket(%q): %v", b, err)
		}
	})
	return b
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func put(t *testing.T, s storage.ObjectStore, bucket, key, body string) storage.ObjectInfo {
	t.Helper()
	info, err := s.Put(t.Context(), bucket, key, strings.NewReader(body), storage.PutOptions{})
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return info
}

func get(t *testing.T, s storage.ObjectStore, bucket, key string, rng *storage.Range) (string, storage.ObjectInfo) {
	t.Helper()
	rc, info, err := s.Get(t.Context(), bucket, key, rng)
	if err != nil {
		t.Fatalf("Get(%q, %+v): %v", key, rng, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q): read: %v", key, err)
	}
	return string(b), info
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

func checkInfo(t *testing.T, what string, got storage.ObjectInfo, bucket, key, body string) {
	t.Helper()
	if got.Bucket != bucket || got.Key != key || got.Size != int64(len(body)) || got.ETag != md5hex(body) {
		t.Errorf("%s: got {bucket %q key %q size %d etag %s}, want {%q %q %d %s}",
			what, got.Bucket, got.Key, got.Size, got.ETag, bucket, key, len(body), md5hex(body))
	}
	if got.LastModified.IsZero() {
		t.Errorf("%s: LastModified is zero", what)
	}
}

// listAll pages through a listing with opts.MaxKeys per page, checking the
// page invariants, and returns all objects and common prefixes.
func listAll(t *testing.T, s storage.ObjectStore, bucket string, opts storage.ListOptions) (objs []storage.ObjectInfo, prefixes []string) {
	t.Helper()
	max := opts.MaxKeys
	if max <= 0 || max > 1000 {
		max = 1000
	}
	for page := 0; ; page++ {
		if page > 10000 {
			t.Fatalf("List(%+v): listing does not end", opts)
		}
		res, err := s.List(t.Context(), bucket, opts)
		if err != nil {
			t.Fatalf("List(%+v): %v", opts, err)
		}
		n := len(res.Objects) + len(res.CommonPrefixes)
		if n > max {
			t.Fatalf("List(%+v): page of %d entries, MaxKeys %d", opts, n, max)
		}
		objs = append(objs, res.Objects...)
		prefixes = append(prefixes, res.CommonPrefixes...)
		if !res.IsTruncated {
			return objs, prefixes
		}
		if n == 0 || res.NextContinuationToken == "" {
			t.Fatalf("List(%+v): truncated page with %d entries and token %q", opts, n, res.NextContinuationToken)
		}
		opts.ContinuationToken = res.NextContinuationToken
	}
}

func keysOf(objs []storage.ObjectInfo) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.Key)
	}
	return out
}

func listKeys(t *testing.T, s storage.ObjectStore, bucket string, opts storage.ListOptions) (keys, prefixes []string) {
	t.Helper()
	objs, prefixes := listAll(t, s, bucket, opts)
	return keysOf(objs), prefixes
}

func equal(a, b []string) bool { return len(a) == len(b) && (len(a) == 0 || slices.Equal(a, b)) }

// refList is ListObjectsV2 over a sorted key set. An after that is a
// common prefix of the listing skips every key under it.
func refList(sorted []string, prefix, delim, after string) (objs, prefixes []string) {
	afterIsPrefix := false
	if rest, ok := strings.CutPrefix(after, prefix); ok && delim != "" {
		i := strings.Index(rest, delim)
		afterIsPrefix = i >= 0 && i+len(delim) == len(rest)
	}
	for _, k := range sorted {
		if !strings.HasPrefix(k, prefix) || k <= after || afterIsPrefix && strings.HasPrefix(k, after) {
			continue
		}
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				cp := k[:len(prefix)+i+len(delim)]
				if len(prefixes) == 0 || prefixes[len(prefixes)-1] != cp {
					prefixes = append(prefixes, cp)
				}
				continue
			}
		}
		objs = append(objs, k)
	}
	return objs, prefixes
}

// --- buckets -----------------------------------------------------------------

func testBuckets(t *testing.T, s storage.ObjectStore) {
	ctx := t.Context()
	before := time.Now().Add(-2 * time.Second)
	b := newBucket(t, s)
	b2 := newBucket(t, s)

	bi, err := s.HeadBucket(ctx, b)
	if err != nil {
		t.Fatalf("HeadBucket: %v", err)
	}
	if bi.Name != b || bi.CreatedAt.Before(before) || bi.CreatedAt.After(time.Now().Add(2*time.Second)) {
		t.Errorf("HeadBucket = %+v, want name %q created now", bi, b)
	}
	all, err := s.ListBuckets(ctx)
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	var names []string
	for _, x := range all {
		names = append(names, x.Name)
	}
	if !slices.Contains(names, b) || !slices.Contains(names, b2) {
		t.Errorf("ListBuckets = %v, want it to hold %q and %q", names, b, b2)
	}
	if !slices.IsSorted(names) {
		t.Errorf("ListBuckets = %v, not sorted", names)
	}
	wantErr(t, "CreateBucket(existing)", s.CreateBucket(ctx, b), storage.ErrBucketExists)

	for _, name := range []string{"", "ab", "Abc", "a_b", "-ab", "ab-", ".ab", "a..b", "ab/c", strings.Repeat("a", 64), ".tarn", "192.168.5.4"} {
		wantErr(t, fmt.Sprintf("CreateBucket(%q)", name), s.CreateBucket(ctx, name), storage.ErrInvalidBucketName)
		_, err := s.HeadBucket(ctx, name)
		wantErr(t, fmt.Sprintf("HeadBucket(%q)", name), err, storage.ErrInvalidBucketName)
	}

	// Not empty: an object, or only a folder object.
	put(t, s, b, "x/y", "data")
	wantErr(t, "DeleteBucket(non-empty)", s.DeleteBucket(ctx, b), storage.ErrBucketNotEmpty)
	if err := s.Delete(ctx, b, "x/y"); err != nil {
		t.Fatal(err)
	}
	put(t, s, b, "folder/", "")
	wantErr(t, "DeleteBucket(folder object)", s.DeleteBucket(ctx, b), storage.ErrBucketNotEmpty)
	if err := s.Delete(ctx, b, "folder/"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, b); err != nil {
		t.Fatalf("DeleteBucket(empty): %v", err)
	}
	_, err = s.HeadBucket(ctx, b)
	wantErr(t, "HeadBucket(deleted)", err, storage.ErrNoSuchBucket)
	wantErr(t, "DeleteBucket(deleted)", s.DeleteBucket(ctx, b), storage.ErrNoSuchBucket)
	all, _ = s.ListBuckets(ctx)
	for _, x := range all {
		if x.Name == b {
			t.Errorf("ListBuckets still lists deleted bucket %q", b)
		}
	}
	// The name can be used again, and the new bucket is empty.
	if err := s.CreateBucket(ctx, b); err != nil {
		t.Fatalf("CreateBucket(again): %v", err)
	}
	if keys, _ := listKeys(t, s, b, storage.ListOptions{}); len(keys) != 0 {
		t.Errorf("re-created bucket lists %v", keys)
	}
}

func testMissingBucket(t *testing.T, s storage.ObjectStore) {
	ctx := t.Context()
	b := "tarn-test-missing-" + randHex(4)
	other := newBucket(t, s)
	put(t, s, other, "k", "v")
	_, err := s.HeadBucket(ctx, b)
	wantErr(t, "HeadBucket", err, storage.ErrNoSuchBucket)
	_, err = s.Put(ctx, b, "k", strings.NewReader("v"), storage.PutOptions{})
	wantErr(t, "Put", err, storage.ErrNoSuchBucket)
	_, _, err = s.Get(ctx, b, "k", nil)
	wantErr(t, "Get", err, storage.ErrNoSuchBucket)
	_, err = s.Head(ctx, b, "k")
	wantErr(t, "Head", err, storage.ErrNoSuchBucket)
	wantErr(t, "Delete", s.Delete(ctx, b, "k"), storage.ErrNoSuchBucket)
	_, err = s.List(ctx, b, storage.ListOptions{})
	wantErr(t, "List", err, storage.ErrNoSuchBucket)
	_, err = s.Copy(ctx, other, "k", b, "k")
	wantErr(t, "Copy(to missing)", err, storage.ErrNoSuchBucket)
	_, err = s.Copy(ctx, b, "k", other, "k2")
	wantErr(t, "Copy(from missing)", err, storage.ErrNoSuchBucket)
	wantErr(t, "DeleteBucket", s.DeleteBucket(ctx, b), storage.ErrNoSuchBucket)
}

// --- objects -----------------------------------------------------------------

func testPutGetHead(t *testing.T, s storage.ObjectStore, caps Capabilities) {
	b := newBucket(t, s)
	tests := []struct {
		key, body, contentType, wantType string
	}{
		{"plain", "hello", "", "application/octet-stream"},
		{"empty", "", "", "application/octet-stream"},
		{"data/file.json", `{"a":1}`, "", "application/json"},
		{"raw/orders/year=2025/month=01/part-0.csv", "id,amount\n1,2\n", "text/csv", "text/csv"},
		{"with space/and+plus=eq,comma;semi", "x", "", ""},
		{"unicodé/日本語/ключ", "ü", "", ""},
		{".hidden/.dot", "dot", "", ""},
		{"a.b/c-d/e_f/~g", "sym", "", ""},
		{fitKey(strings.Repeat("s", 200)+"/"+strings.Repeat("t", 200)+"/"+strings.Repeat("u", 200)+"/"+
			strings.Repeat("v", 200)+"/"+strings.Repeat("w", 220), caps.MaxKeyLength), "max length key", "", ""},
	}
	for _, tc := range tests {
		before := time.Now().Add(-2 * time.Second)
		info, err := s.Put(t.Context(), b, tc.key, strings.NewReader(tc.body), storage.PutOptions{ContentType: tc.contentType})
		if err != nil {
			t.Errorf("Put(%q): %v", tc.key, err)
			continue
		}
		checkInfo(t, "Put("+tc.key+")", info, b, tc.key, tc.body)
		if info.LastModified.Before(before) || info.LastModified.After(time.Now().Add(2*time.Second)) {
			t.Errorf("Put(%q): LastModified %v is not now", tc.key, info.LastModified)
		}
		if info.URI() != "s3://"+b+"/"+tc.key {
			t.Errorf("URI() = %q", info.URI())
		}
		body, ginfo := get(t, s, b, tc.key, nil)
		if body != tc.body {
			t.Errorf("Get(%q) = %q, want %q", tc.key, body, tc.body)
		}
		checkInfo(t, "Get("+tc.key+")", ginfo, b, tc.key, tc.body)
		hinfo, err := s.Head(t.Context(), b, tc.key)
		if err != nil {
			t.Errorf("Head(%q): %v", tc.key, err)
			continue
		}
		checkInfo(t, "Head("+tc.key+")", hinfo, b, tc.key, tc.body)
		if tc.wantType != "" && !strings.HasPrefix(hinfo.ContentType, tc.wantType) {
			t.Errorf("Head(%q).ContentType = %q, want %q", tc.key, hinfo.ContentType, tc.wantType)
		}
		if hinfo.ContentType == "" {
			t.Errorf("Head(%q).ContentType is empty", tc.key)
		}
		if !hinfo.LastModified.Equal(ginfo.LastModified) || hinfo.ContentType != ginfo.ContentType {
			t.Errorf("Head(%q) = %+v, Get gave %+v", tc.key, hinfo, ginfo)
		}
	}
	var want []string
	for _, tc := range tests {
		want = append(want, tc.key)
	}
	slices.Sort(want)
	objs, _ := listAll(t, s, b, storage.ListOptions{})
	if got := keysOf(objs); !equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	for _, o := range objs {
		for _, tc := range tests {
			if tc.key == o.Key {
				checkInfo(t, "List", o, b, tc.key, tc.body)
			}
		}
	}
}

func testOverwrite(t *testing.T, s storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, s)
	if _, err := s.Put(ctx, b, "k", strings.NewReader("first version"), storage.PutOptions{
		ContentType: "text/plain", Metadata: map[string]string{"v": "1", "old": "x"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, b, "k", strings.NewReader("second"), storage.PutOptions{
		Metadata: map[string]string{"v": "2"},
	}); err != nil {
		t.Fatal(err)
	}
	body, info := get(t, s, b, "k", nil)
	if body != "second" {
		t.Errorf("Get after overwrite = %q", body)
	}
	checkInfo(t, "Get after overwrite", info, b, "k", "second")
	if info.ContentType == "text/plain" || !equalMap(info.Metadata, map[string]string{"v": "2"}) {
		t.Errorf("overwrite kept old attributes: %+v", info)
	}
	objs, _ := listAll(t, s, b, storage.ListOptions{})
	if len(objs) != 1 || objs[0].ETag != md5hex("second") || objs[0].Size != 6 {
		t.Errorf("List after overwrite = %+v", objs)
	}
}

func equalMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// endless is an io.Reader of pseudo-random bytes, n of them.
type patternReader struct{ n, i int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.i >= r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-r.i)]
	for j := range p {
		x := r.i + int64(j)
		p[j] = byte(x*31 + x>>9)
	}
	r.i += int64(len(p))
	return len(p), nil
}

func testLargeObject(t *testing.T, s storage.ObjectStore) {
	const size = 9<<20 + 12345
	b := newBucket(t, s)
	h := md5.New()
	if _, err := io.Copy(h, &patternReader{n: size}); err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(h.Sum(nil))
	info, err := s.Put(t.Context(), b, "big/object.bin", &patternReader{n: size}, storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != size || info.ETag != want {
		t.Errorf("Put = size %d etag %s, want %d %s", info.Size, info.ETag, size, want)
	}
	rc, _, err := s.Get(t.Context(), b, "big/object.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h.Reset()
	n, err := io.Copy(h, rc)
	if err != nil || n != size || hex.EncodeToString(h.Sum(nil)) != want {
		t.Errorf("Get = %d bytes, md5 %x, err %v", n, h.Sum(nil), err)
	}
	// A range in the middle.
	got, _ := get(t, s, b, "big/object.bin", &storage.Range{Offset: 5 << 20, Length: 1000})
	wantRange := make([]byte, 1000)
	r := &patternReader{n: size, i: 5 << 20}
	_, _ = io.ReadFull(r, wantRange)
	if got != string(wantRange) {
		t.Errorf("range get in a large object returned other bytes")
	}
}

func testMetadata(t *testing.T, s storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, s)
	md := map[string]string{"owner": "sales", "source": "crm export", "unicode": "é"}
	info, err := s.Put(ctx, b, "m", strings.NewReader("x"), storage.PutOptions{ContentType: "text/x-custom", Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	md["owner"] = "changed after put"
	if info.Metadata != nil {
		info.Metadata["source"] = "changed in returned info"
	}
	h, err := s.Head(ctx, b, "m")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"owner": "sales", "source": "crm export", "unicode": "é"}
	if h.ContentType != "text/x-custom" || !equalMap(h.Metadata, want) {
		t.Errorf("Head = type %q metadata %v, want text/x-custom %v", h.ContentType, h.Metadata, want)
	}
	h.Metadata["owner"] = "changed in head info"
	if _, info, err := s.Get(ctx, b, "m", nil); err != nil || !equalMap(info.Metadata, want) {
		t.Errorf("Get metadata = %v, %v; want %v", info.Metadata, err, want)
	}
	put(t, s, b, "none", "x")
	if h, _ := s.Head(ctx, b, "none"); len(h.Metadata) != 0 {
		t.Errorf("object put without metadata has %v", h.Metadata)
	}
}

func testRangeGet(t *testing.T, s storage.ObjectStore) {
	b := newBucket(t, s)
	const body = "0123456789"
	put(t, s, b, "r", body)
	tests := []struct {
		rng     *storage.Range
		want    string
		invalid bool
	}{
		{rng: nil, want: body},
		{rng: &storage.Range{Offset: 0, Length: -1}, want: body},
		{rng: &storage.Range{Offset: 2, Length: 3}, want: "234"},
		{rng: &storage.Range{Offset: 0, Length: 1}, want: "0"},
		{rng: &storage.Range{Offset: 9, Length: 1}, want: "9"},
		{rng: &storage.Range{Offset: 7, Length: -1}, want: "789"},
		{rng: &storage.Range{Offset: 7, Length: 100}, want: "789"},
		{rng: &storage.Range{Offset: 0, Length: 10}, want: body},
		{rng: &storage.Range{Offset: -3}, want: "789"},
		{rng: &storage.Range{Offset: -3, Length: -1}, want: "789"},
		{rng: &storage.Range{Offset: -1}, want: "9"},
		{rng: &storage.Range{Offset: -10}, want: body},
		{rng: &storage.Range{Offset: -25}, want: body},
		{rng: &storage.Range{Offset: 10, Length: -1}, invalid: true},
		{rng: &storage.Range{Offset: 10, Length: 1}, invalid: true},
		{rng: &storage.Range{Offset: 1000, Length: 5}, invalid: true},
	}
	for _, tc := range tests {
		rc, info, err := s.Get(t.Context(), b, "r", tc.rng)
		if tc.invalid {
			wantErr(t, fmt.Sprintf("Get(%+v)", *tc.rng), err, storage.ErrInvalidRange)
			if err == nil {
				rc.Close()
			}
			continue
		}
		if err != nil {
			t.Errorf("Get(%+v): %v", tc.rng, err)
			continue
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != tc.want {
			t.Errorf("Get(%+v) = %q, %v; want %q", tc.rng, got, err, tc.want)
		}
		if info.Size != int64(len(body)) || info.ETag != md5hex(body) {
			t.Errorf("Get(%+v) info = size %d etag %s, want the whole object's", tc.rng, info.Size, info.ETag)
		}
	}
}

func testContentMD5(t *testing.T, s storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, s)
	sum := md5.Sum([]byte("good"))
	info, err := s.Put(ctx, b, "k", strings.NewReader("good"), storage.PutOptions{ContentMD5: sum[:]})
	if err != nil {
		t.Fatalf("Put with right MD5: %v", err)
	}
	checkInfo(t, "Put with right MD5", info, b, "k", "good")

	_, err = s.Put(ctx, b, "k", strings.NewReader("evil"), storage.PutOptions{ContentMD5: sum[:]})
	wantErr(t, "Put with wrong MD5", err, storage.ErrBadDigest)
	if body, info := get(t, s, b, "k", nil); body != "good" || info.ETag != md5hex("good") {
		t.Errorf("after a bad digest the object is %q (etag %s), want the old one", body, info.ETag)
	}
	_, err = s.Put(ctx, b, "new/k", strings.NewReader("evil"), storage.PutOptions{ContentMD5: sum[:]})
	wantErr(t, "Put(new key) with wrong MD5", err, storage.ErrBadDigest)
	_, err = s.Head(ctx, b, "new/k")
	wantErr(t, "Head after a bad digest", err, storage.ErrNoSuchKey)
	if keys, _ := listKeys(t, s, b, storage.ListOptions{}); !equal(keys, []string{"k"}) {
		t.Errorf("List after bad digests = %q, want [k]", keys)
	}
}

var invalidKeys = []string{
	"",
	"../x",
	"..",
	"a/../../x",
	"a/..",
	"./a",
	"a/./b",
	"/abs",
	"a//b",
	"a\x00b",
	"\xff\xfe",
	strings.Repeat("k", 1025),
	strings.Repeat("abcdefgh/", 114) + "abc", // 1029 bytes
	strings.Repeat("s", 256),
	"raw/" + strings.Repeat("s", 256) + "/x.csv",
	"raw/" + strings.Repeat("é", 128) + "/", // 256 bytes in UTF-8
}

func testInvalidKeys(t *testing.T, s storage.ObjectStore, caps Capabilities) {
	ctx := t.Context()
	b := newBucket(t, s)
	put(t, s, b, "valid", "v")
	for _, key := range invalidKeys {
		name := fmt.Sprintf("%.40q", key)
		_, err := s.Put(ctx, b, key, strings.NewReader("x"), storage.PutOptions{})
		wantErr(t, "Put("+name+")", err, storage.ErrInvalidKey)
		_, _, err = s.Get(ctx, b, key, nil)
		wantErr(t, "Get("+name+")", err, storage.ErrInvalidKey)
		_, err = s.Head(ctx, b, key)
		wantErr(t, "Head("+name+")", err, storage.ErrInvalidKey)
		wantErr(t, "Delete("+name+")", s.Delete(ctx, b, key), storage.ErrInvalidKey)
		_, err = s.Copy(ctx, b, "valid", b, key)
		wantErr(t, "Copy(to "+name+")", err, storage.ErrInvalidKey)
		_, err = s.Copy(ctx, b, key, b, "valid2")
		wantErr(t, "Copy(from "+name+")", err, storage.ErrInvalidKey)
	}
	// Prefixes are not keys: odd ones match nothing.
	for _, prefix := range []string{"../", "..", "/", "a//", "\xff", "valid/../"} {
		if refusedDotPrefix(t, s, b, storage.ListOptions{Prefix: prefix, Delimiter: "/"}, caps) {
			continue
		}
		keys, cps := listKeys(t, s, b, storage.ListOptions{Prefix: prefix, Delimiter: "/"})
		if len(keys)+len(cps) != 0 {
			t.Errorf("List(prefix %q) = %q %q, want nothing", prefix, keys, cps)
		}
	}
	if keys, _ := listKeys(t, s, b, storage.ListOptions{}); !equal(keys, []string{"valid"}) {
		t.Errorf("List = %q, want [valid]", keys)
	}
}

func testMissingKeys(t *testing.T, s storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, s)
	put(t, s, b, "dir/file", "x")
	for _, key := range []string{"nope", "dir", "dir/", "dir/file/", "dir/file/below", "dir/fil", "dir/nope"} {
		_, _, err := s.Get(ctx, b, key, nil)
		wantErr(t, fmt.Sprintf("Get(%q)", key), err, storage.ErrNoSuchKey)
		if err != nil && !strings.Contains(err.Error(), "s3://"+b+"/"+key) {
			t.Errorf("Get(%q) error %q does not name the object", key, err)
		}
		_, err = s.Head(ctx, b, key)
		wantErr(t, fmt.Sprintf("Head(%q)", key), err, storage.ErrNoSuchKey)
		_, err = s.Copy(ctx, b, key, b, "copy")
		wantErr(t, fmt.Sprintf("Copy(%q)", key), err, storage.ErrNoSuchKey)
		if err := s.Delete(ctx, b, key); err != nil {
			t.Errorf("Delete(missing %q) = %v, want nil", key, err)
		}
	}
	if body, _ := get(t, s, b, "dir/file", nil); body != "x" {
		t.Errorf("deleting missing keys changed dir/file: %q", body)
	}
}

func testCopy(t *testing.T, s storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, s)
	b2 := newBucket(t, s)
	md := map[string]string{"k": "v"}
	if _, err := s.Put(ctx, b, "src/a.txt", strings.NewReader("copy me"), storage.PutOptions{ContentType: "text/x-src", Metadata: md}); err != nil {
		t.Fatal(err)
	}
	check := func(bucket, key string) {
		t.Helper()
		body, info := get(t, s, bucket, key, nil)
		if body != "copy me" {
			t.Errorf("copy %s/%s = %q", bucket, key, body)
		}
		checkInfo(t, "copy "+key, info, bucket, key, "copy me")
		if info.ContentType != "text/x-src" || !equalMap(info.Metadata, md) {
			t.Errorf("copy %s/%s attributes = %q %v", bucket, key, info.ContentType, info.Metadata)
		}
	}
	for _, dst := range []struct{ bucket, key string }{
		{b, "dst/a.txt"}, {b, "deep/er/and/deeper/copy"}, {b2, "src/a.txt"}, {b, "src/a.txt"},
	} {
		info, err := s.Copy(ctx, b, "src/a.txt", dst.bucket, dst.key)
		if err != nil {
			t.Errorf("Copy to %s/%s: %v", dst.bucket, dst.key, err)
			continue
		}
		checkInfo(t, "Copy", info, dst.bucket, dst.key, "copy me")
		check(dst.bucket, dst.key)
	}
	// Overwrite an existing destination; later changes to the source do not
	// reach the copy.
	put(t, s, b, "dst/b.txt", "old")
	if _, err := s.Copy(ctx, b, "src/a.txt", b, "dst/b.txt"); err != nil {
		t.Fatal(err)
	}
	check(b, "dst/b.txt")
	put(t, s, b, "src/a.txt", "changed")
	check(b, "dst/a.txt")
}

func testDelete(t *testing.T, s storage.ObjectStore, caps Capabilities) {
	ctx := t.Context()
	b := newBucket(t, s)
	for _, k := range []string{"a/b/c", "a/b/d", "a/e", "f"} {
		put(t, s, b, k, k)
	}
	del := func(k string) {
		t.Helper()
		if err := s.Delete(ctx, b, k); err != nil {
			t.Fatalf("Delete(%q): %v", k, err)
		}
	}
	del("a/b/c")
	_, err := s.Head(ctx, b, "a/b/c")
	wantErr(t, "Head(deleted)", err, storage.ErrNoSuchKey)
	if keys, _ := listKeys(t, s, b, storage.ListOptions{}); !equal(keys, []string{"a/b/d", "a/e", "f"}) {
		t.Errorf("List = %q", keys)
	}
	del("a/b/d")
	keys, cps := listKeys(t, s, b, storage.ListOptions{Prefix: "a/", Delimiter: "/"})
	if !equal(keys, []string{"a/e"}) || len(cps) != 0 {
		t.Errorf("List(a/, /) after emptying a/b/ = %q %q, want [a/e] and no prefixes", keys, cps)
	}
	del("a/e")
	del("f")
	if keys, cps := listKeys(t, s, b, storage.ListOptions{Delimiter: "/"}); len(keys)+len(cps) != 0 {
		t.Errorf("List of emptied bucket = %q %q", keys, cps)
	}
	// The names are free again, as files.
	put(t, s, b, "a", "a is a file now")
	if caps.FilesystemKeys {
		del("a")
	}
	put(t, s, b, "a/b", "and a folder")
	if !caps.FilesystemKeys {
		del("a")
	}
	del("a/b")

	// A folder object survives the deletion of what is in it, and the other
	// way round.
	put(t, s, b, "m/", "")
	put(t, s, b, "m/x", "x")
	del("m/x")
	if _, err := s.Head(ctx, b, "m/"); err != nil {
		t.Errorf("folder object m/ is gone after deleting m/x: %v", err)
	}
	put(t, s, b, "m/y", "y")
	if caps.FilesystemKeys {
		// A folder object cannot go while keys are below it.
		del("m/y")
		del("m/")
		if _, err := s.Head(ctx, b, "m/"); !errors.Is(err, storage.ErrNoSuchKey) {
			t.Errorf("Head(deleted folder object) = %v", err)
		}
		if err := s.DeleteBucket(ctx, b); err != nil {
			t.Errorf("DeleteBucket after deleting everything: %v", err)
		}
		return
	}
	del("m/")
	_, err = s.Head(ctx, b, "m/")
	wantErr(t, "Head(deleted folder object)", err, storage.ErrNoSuchKey)
	if body, _ := get(t, s, b, "m/y", nil); body != "y" {
		t.Errorf("m/y = %q after deleting m/", body)
	}
	keys, cps = listKeys(t, s, b, storage.ListOptions{Delimiter: "/"})
	if len(keys) != 0 || !equal(cps, []string{"m/"}) {
		t.Errorf("List(/) = %q %q, want prefix m/ only", keys, cps)
	}
	del("m/y")
	if err := s.DeleteBucket(ctx, b); err != nil {
		t.Errorf("DeleteBucket after deleting everything: %v", err)
	}
}

func testFolderObjects(t *testing.T, s storage.ObjectStore, caps Capabilities) {
	ctx := t.Context()
	b := newBucket(t, s)
	info, err := s.Put(ctx, b, "raw/", strings.NewReader(""), storage.PutOptions{})
	if err != nil {
		t.Fatalf("Put(raw/): %v", err)
	}
	checkInfo(t, "Put(raw/)", info, b, "raw/", "")
	h, err := s.Head(ctx, b, "raw/")
	if err != nil {
		t.Fatalf("Head(raw/): %v", err)
	}
	checkInfo(t, "Head(raw/)", h, b, "raw/", "")
	if body, _ := get(t, s, b, "raw/", nil); body != "" {
		t.Errorf("Get(raw/) = %q", body)
	}
	_, err = s.Head(ctx, b, "raw")
	wantErr(t, "Head(raw)", err, storage.ErrNoSuchKey)

	list := func(prefix, delim string, wantKeys, wantCPs []string) {
		t.Helper()
		objs, cps := listAll(t, s, b, storage.ListOptions{Prefix: prefix, Delimiter: delim})
		if keys := keysOf(objs); !equal(keys, wantKeys) || !equal(cps, wantCPs) {
			t.Errorf("List(%q, %q) = %q %q, want %q %q", prefix, delim, keys, cps, wantKeys, wantCPs)
		}
		for _, o := range objs {
			if strings.HasSuffix(o.Key, "/") && (o.Size != 0 || o.ETag != md5hex("")) {
				t.Errorf("List: folder object %+v", o)
			}
		}
	}
	list("", "", []string{"raw/"}, nil)
	list("", "/", nil, []string{"raw/"})
	list("raw/", "/", []string{"raw/"}, nil)
	list("raw", "/", nil, []string{"raw/"})

	put(t, s, b, "raw/x", "x")
	put(t, s, b, "raw/sub/", "")
	put(t, s, b, "raw/sub/deeper/", "")
	if caps.FilesystemKeys {
		list("", "", []string{"raw/", "raw/sub/", "raw/sub/deeper/", "raw/x"}, nil)
		list("", "/", nil, []string{"raw/"})
	} else {
		put(t, s, b, "raw", "a file named like the folder")
		list("", "", []string{"raw", "raw/", "raw/sub/", "raw/sub/deeper/", "raw/x"}, nil)
		list("", "/", []string{"raw"}, []string{"raw/"})
	}
	list("raw/", "/", []string{"raw/", "raw/x"}, []string{"raw/sub/"})
	list("raw/sub/", "/", []string{"raw/sub/"}, []string{"raw/sub/deeper/"})
	list("raw/sub/deeper/", "/", []string{"raw/sub/deeper/"}, nil)

	// Folder objects copy like others.
	if _, err := s.Copy(ctx, b, "raw/sub/", b, "copied/"); err != nil {
		t.Fatalf("Copy(raw/sub/ -> copied/): %v", err)
	}
	if h, err := s.Head(ctx, b, "copied/"); err != nil || h.Size != 0 {
		t.Errorf("Head(copied/) = %+v, %v", h, err)
	}
	// A folder object can be put again (idempotent), and over a folder that
	// already holds objects.
	put(t, s, b, "raw/", "")
	put(t, s, b, "other/a/b", "x")
	put(t, s, b, "other/", "")
	list("other/", "", []string{"other/", "other/a/b"}, nil)
}

func testFileAndFolderSameName(t *testing.T, s storage.ObjectStore, caps Capabilities) {
	if caps.FilesystemKeys {
		t.Skip("the store keeps objects as files in folders (Capabilities.FilesystemKeys)")
	}
	ctx := t.Context()
	for _, order := range [][]string{
		{"a", "a/b"},
		{"a/b", "a"},
		{"a", "a/b/c", "a/b"},
		{"a/b/c", "a/b", "a"},
		{"a/b", "a/", "a"},
		{"a", "a/"},
	} {
		t.Run(strings.Join(order, ","), func(t *testing.T) {
			b := newBucket(t, s)
			for _, k := range order {
				body := ""
				if !strings.HasSuffix(k, "/") {
					body = "body of " + k
				}
				put(t, s, b, k, body)
			}
			want := slices.Clone(order)
			slices.Sort(want)
			check := func(want []string) {
				t.Helper()
				objs, _ := listAll(t, s, b, storage.ListOptions{})
				if keys := keysOf(objs); !equal(keys, want) {
					t.Fatalf("List = %q, want %q", keys, want)
				}
				for _, o := range objs {
					body := ""
					if !strings.HasSuffix(o.Key, "/") {
						body = "body of " + o.Key
					}
					checkInfo(t, "List", o, b, o.Key, body)
					got, info := get(t, s, b, o.Key, nil)
					if got != body {
						t.Errorf("Get(%q) = %q, want %q", o.Key, got, body)
					}
					checkInfo(t, "Get", info, b, o.Key, body)
				}
			}
			check(want)
			// Overwrite each, delete each (in turn), and see the others stay.
			for _, k := range want {
				if !strings.HasSuffix(k, "/") {
					put(t, s, b, k, "body of "+k)
				}
			}
			check(want)
			for i, k := range want {
				if err := s.Delete(ctx, b, k); err != nil {
					t.Fatalf("Delete(%q): %v", k, err)
				}
				check(want[i+1:])
			}
			// And back, in reverse.
			for _, k := range slices.Backward(want) {
				body := "body of " + k
				if strings.HasSuffix(k, "/") {
					body = ""
				}
				put(t, s, b, k, body)
			}
			check(want)
			for _, k := range slices.Backward(want) {
				if err := s.Delete(ctx, b, k); err != nil {
					t.Fatalf("Delete(%q): %v", k, err)
				}
			}
			check(nil)
		})
	}

	t.Run("Copy", func(t *testing.T) {
		b := newBucket(t, s)
		put(t, s, b, "x", "file x")
		put(t, s, b, "x/y", "file x/y")
		if _, err := s.Copy(ctx, b, "x", b, "c/x"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Copy(ctx, b, "x/y", b, "c"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Copy(ctx, b, "c", b, "x"); err != nil { // onto a file whose name is a folder
			t.Fatal(err)
		}
		for k, want := range map[string]string{"x": "file x/y", "x/y": "file x/y", "c": "file x/y", "c/x": "file x"} {
			if got, _ := get(t, s, b, k, nil); got != want {
				t.Errorf("Get(%q) = %q, want %q", k, got, want)
			}
		}
	})

	t.Run("Delimiter", func(t *testing.T) {
		b := newBucket(t, s)
		for _, k := range []string{"p", "p/q", "p-q", "p.q", "p0"} {
			put(t, s, b, k, "body of "+k)
		}
		keys, cps := listKeys(t, s, b, storage.ListOptions{Delimiter: "/"})
		if !equal(keys, []string{"p", "p-q", "p.q", "p0"}) || !equal(cps, []string{"p/"}) {
			t.Errorf("List(/) = %q %q", keys, cps)
		}
		keys, cps = listKeys(t, s, b, storage.ListOptions{Prefix: "p/", Delimiter: "/"})
		if !equal(keys, []string{"p/q"}) || len(cps) != 0 {
			t.Errorf("List(p/, /) = %q %q", keys, cps)
		}
	})
}

// orderKeys mix characters that sort around '/', so a plain directory walk
// would return them out of byte order.
var orderKeys = []string{
	"a", "a b", "a!", "a-c", "a.b", "a.b/c", "a/b", "a/b/", "a/b/c", "a/b-c", "a/b.c", "a/b0", "a/bb",
	"a0", "a=1/x", "a=1/y", "a=2/x", "A", "B/a", "b", "b/", "é", "é/ü", "z/é/ü", "1", "~",
	"year=2025/month=01/x.parquet", "year=2025/month=02/x.parquet", "year=2025/month=02/y.parquet",
	"year=2025-x", "year=2026/month=01/x.parquet", "ab/cd", "ab-cd", "ab/cd/", "ab/c", "ab/c-d/e",
}

func putAll(t *testing.T, s storage.ObjectStore, bucket string, keys []string) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan error, len(keys))
	for _, k := range keys {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			body := k
			if strings.HasSuffix(k, "/") {
				body = ""
			}
			if _, err := s.Put(t.Context(), bucket, k, strings.NewReader(body), storage.PutOptions{}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func testListOrder(t *testing.T, s storage.ObjectStore, caps Capabilities) {
	b := newBucket(t, s)
	keys := orderKeys
	if caps.FilesystemKeys {
		keys = withoutFolderConflicts(keys)
	}
	putAll(t, s, b, keys)
	sorted := slices.Clone(keys)
	slices.Sort(sorted)

	objs, _ := listAll(t, s, b, storage.ListOptions{})
	if keys := keysOf(objs); !equal(keys, sorted) {
		t.Fatalf("List = %q\nwant   %q", keys, sorted)
	}
	for _, o := range objs {
		body := o.Key
		if strings.HasSuffix(o.Key, "/") {
			body = ""
		}
		checkInfo(t, "List", o, b, o.Key, body)
	}

	for _, prefix := range []string{"", "a", "a/", "a/b", "a/b/", "a.", "year=2025/", "year=", "ab", "ab/", "ab/c", "z/", "é", "nope/", "nope"} {
		for _, delim := range []string{"", "/", "-", "=", "b", "/m"} {
			wantKeys, wantCPs := refList(sorted, prefix, delim, "")
			for _, max := range []int{1, 3, 0} {
				opts := storage.ListOptions{Prefix: prefix, Delimiter: delim, MaxKeys: max}
				objs, cps := listAll(t, s, b, opts)
				if keys := keysOf(objs); !equal(keys, wantKeys) || !equal(cps, wantCPs) {
					t.Errorf("List(%+v) =\n  %q %q\nwant\n  %q %q", opts, keys, cps, wantKeys, wantCPs)
				}
			}
		}
	}
}

func testListStartAfter(t *testing.T, s storage.ObjectStore, caps Capabilities) {
	b := newBucket(t, s)
	keys := orderKeys
	if caps.FilesystemKeys {
		keys = withoutFolderConflicts(keys)
	}
	putAll(t, s, b, keys)
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	for _, after := range []string{"", "a", "a/", "a/b", "a/b/", "a-c", "a/b/c", "a0", "a=1/", "a=1/x", "year=2025/month=01/", "year=2025/", "year", "zz", "~~", "\x01"} {
		for _, delim := range []string{"", "/", "="} {
			for _, prefix := range []string{"", "a", "year=2025/"} {
				wantKeys, wantCPs := refList(sorted, prefix, delim, after)
				for _, max := range []int{2, 0} {
					opts := storage.ListOptions{Prefix: prefix, Delimiter: delim, StartAfter: after, MaxKeys: max}
					objs, cps := listAll(t, s, b, opts)
					if keys := keysOf(objs); !equal(keys, wantKeys) || !equal(cps, wantCPs) {
						t.Errorf("List(%+v) =\n  %q %q\nwant\n  %q %q", opts, keys, cps, wantKeys, wantCPs)
					}
				}
			}
		}
	}
	res, err := s.List(t.Context(), b, storage.ListOptions{StartAfter: "\U0010FFFF"})
	if err != nil || len(res.Objects) != 0 || res.IsTruncated {
		t.Errorf("List(after everything) = %+v, %v", res, err)
	}
}

func testListPagination(t *testing.T, s storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, s)
	var keys []string
	for i := range 1500 {
		keys = append(keys, fmt.Sprintf("p/%04d", i))
	}
	for d := range 10 {
		for f := range 100 {
			keys = append(keys, fmt.Sprintf("q/d=%02d/f%03d", d, f))
		}
	}
	putAll(t, s, b, keys)
	slices.Sort(keys)

	// Default page size: 1000, 1000, 500.
	opts := storage.ListOptions{}
	var got []string
	for i, want := range []int{1000, 1000, 500} {
		res, err := s.List(ctx, b, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Objects) != want || res.IsTruncated != (i < 2) {
			t.Fatalf("page %d: %d objects, truncated %v; want %d, %v", i, len(res.Objects), res.IsTruncated, want, i < 2)
		}
		got = append(got, keysOf(res.Objects)...)
		opts.ContinuationToken = res.NextContinuationToken
	}
	if !equal(got, keys) {
		t.Errorf("paged listing differs from the sorted keys")
	}
	// MaxKeys above 1000 is cut to 1000.
	res, err := s.List(ctx, b, storage.ListOptions{MaxKeys: 5000})
	if err != nil || len(res.Objects) != 1000 || !res.IsTruncated {
		t.Errorf("List(MaxKeys 5000) = %d objects, truncated %v, %v", len(res.Objects), res.IsTruncated, err)
	}
	// Odd page sizes.
	for _, max := range []int{1, 7, 999, 1000} {
		if max == 1 {
			// A page per key is slow for remote backends; do it on a prefix.
			got, _ := listKeys(t, s, b, storage.ListOptions{Prefix: "q/d=07/", MaxKeys: max})
			if want, _ := refList(keys, "q/d=07/", "", ""); !equal(got, want) {
				t.Errorf("List(q/d=07/, MaxKeys 1) = %d keys, want %d", len(got), len(want))
			}
			continue
		}
		if got, _ := listKeys(t, s, b, storage.ListOptions{MaxKeys: max}); !equal(got, keys) {
			t.Errorf("List(MaxKeys %d) = %d keys, want %d in order", max, len(got), len(keys))
		}
	}
	// Common prefixes page too.
	objs, cps := listAll(t, s, b, storage.ListOptions{Prefix: "q/", Delimiter: "/", MaxKeys: 3})
	if _, want := refList(keys, "q/", "/", ""); len(objs) != 0 || !equal(cps, want) || len(want) != 10 {
		t.Errorf("List(q/, /, 3) = %d objects, prefixes %q; want %q", len(objs), cps, want)
	}
	objs, cps = listAll(t, s, b, storage.ListOptions{Delimiter: "/"})
	if len(objs) != 0 || !equal(cps, []string{"p/", "q/"}) {
		t.Errorf("List(/) = %d objects, prefixes %q", len(objs), cps)
	}
	// Mixed pages of objects and prefixes.
	var mixed []string
	for i := range 5 {
		mixed = append(mixed, fmt.Sprintf("q/d=%02d-file", i))
	}
	putAll(t, s, b, mixed)
	all := slices.Sorted(slices.Values(append(slices.Clone(keys), mixed...)))
	wantKeys, wantCPs := refList(all, "q/", "/", "")
	for _, max := range []int{1, 2, 4} {
		gotKeys, gotCPs := listKeys(t, s, b, storage.ListOptions{Prefix: "q/", Delimiter: "/", MaxKeys: max})
		if !equal(gotKeys, wantKeys) || !equal(gotCPs, wantCPs) {
			t.Errorf("List(q/, /, %d) = %q %q, want %q %q", max, gotKeys, gotCPs, wantKeys, wantCPs)
		}
	}
	// Walk pages through everything.
	n := 0
	for o, err := range storage.Walk(ctx, s, b, "p/") {
		if err != nil {
			t.Fatal(err)
		}
		if o.Key != keys[n] {
			t.Fatalf("Walk: key %d is %q, want %q", n, o.Key, keys[n])
		}
		n++
	}
	if n != 1500 {
		t.Errorf("Walk(p/) = %d objects, want 1500", n)
	}
	// StartAfter in the middle.
	res, err = s.List(ctx, b, storage.ListOptions{StartAfter: "p/0999", MaxKeys: 2})
	if err != nil || !equal(keysOf(res.Objects), []string{"p/1000", "p/1001"}) || !res.IsTruncated {
		t.Errorf("List(after p/0999) = %q truncated %v, %v", keysOf(res.Objects), res.IsTruncated, err)
	}
}

// --- concurrency -------------------------------------------------------------

func testConcurrentOverwrite(t *testing.T, s storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, s)
	const size = 256 << 10
	bodies := []string{strings.Repeat("a", size), strings.Repeat("b", size/2), strings.Repeat("c", size+1)}
	put(t, s, b, "dir/k", bodies[0])

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				rc, info, err := s.Get(ctx, b, "dir/k", nil)
				if err != nil {
					report(fmt.Errorf("Get during overwrite: %w", err))
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					report(err)
					return
				}
				if !slices.Contains(bodies, string(got)) {
					report(fmt.Errorf("Get during overwrite read %d bytes that are no version of the object", len(got)))
					return
				}
				if info.Size != int64(len(got)) || info.ETag != md5hex(string(got)) {
					report(fmt.Errorf("Get during overwrite: info (size %d, etag %s) does not describe the %d bytes read", info.Size, info.ETag, len(got)))
					return
				}
				h, err := s.Head(ctx, b, "dir/k")
				if err != nil || !slices.ContainsFunc(bodies, func(b string) bool { return md5hex(b) == h.ETag && int64(len(b)) == h.Size }) {
					report(fmt.Errorf("Head during overwrite = %+v, %v", h, err))
					return
				}
				res, err := s.List(ctx, b, storage.ListOptions{Prefix: "dir/"})
				if err != nil || len(res.Objects) != 1 {
					report(fmt.Errorf("List during overwrite = %+v, %v", res, err))
					return
				}
			}
		})
	}
	for i := range 40 {
		if _, err := s.Put(ctx, b, "dir/k", strings.NewReader(bodies[i%len(bodies)]), storage.PutOptions{}); err != nil {
			t.Error(err)
			break
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testConcurrentWriters(t *testing.T, s storage.ObjectStore, caps Capabilities) {
	ctx := t.Context()
	b := newBucket(t, s)
	const workers, rounds = 6, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*4)
	for g := range workers {
		wg.Go(func() {
			for i := range rounds {
				// Keys of this worker share folders with the others', and
				// "c/g<g>" is both a file and a folder.
				steps := []func() error{
					func() error {
						_, err := s.Put(ctx, b, fmt.Sprintf("c/g%d/k%d", g, i), strings.NewReader("v"), storage.PutOptions{})
						return err
					},
					func() error {
						if caps.FilesystemKeys {
							return nil // "c/g<g>" is a folder here
						}
						_, err := s.Put(ctx, b, fmt.Sprintf("c/g%d", g), strings.NewReader(fmt.Sprint(i)), storage.PutOptions{})
						return err
					},
					func() error { return s.Delete(ctx, b, fmt.Sprintf("c/g%d/k%d", g, i-1)) },
					func() error {
						_, err := s.List(ctx, b, storage.ListOptions{Prefix: "c/", Delimiter: "/"})
						return err
					},
				}
				for _, step := range steps {
					if err := step(); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var want []string
	for g := range workers {
		if !caps.FilesystemKeys {
			want = append(want, fmt.Sprintf("c/g%d", g))
		}
		want = append(want, fmt.Sprintf("c/g%d/k%d", g, rounds-1))
	}
	slices.Sort(want)
	objs, _ := listAll(t, s, b, storage.ListOptions{})
	if keys := keysOf(objs); !equal(keys, want) {
		t.Errorf("after concurrent writers List = %q, want %q", keys, want)
	}
	for _, o := range objs {
		if !strings.Contains(o.Key, "/k") {
			checkInfo(t, "List", o, b, o.Key, fmt.Sprint(rounds-1))
		}
	}
}

// cancelReader cancels its context after the first read.
type cancelReader struct {
	cancel context.CancelFunc
	n      int
}

func (r *cancelReader) Read(p []byte) (int, error) {
	r.n++
	if r.n > 1 {
		r.cancel()
	}
	return copy(p, bytes.Repeat([]byte("x"), len(p))), nil
}

func testContext(t *testing.T, s storage.ObjectStore) {
	b := newBucket(t, s)
	put(t, s, b, "old", "old")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Put(ctx, b, "k", strings.NewReader("x"), storage.PutOptions{})
	wantErr(t, "Put(canceled)", err, context.Canceled)
	_, err = s.List(ctx, b, storage.ListOptions{})
	wantErr(t, "List(canceled)", err, context.Canceled)

	// Canceled while streaming an endless body: the put fails, nothing is stored.
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	_, err = s.Put(ctx, b, "old", &cancelReader{cancel: cancel}, storage.PutOptions{})
	wantErr(t, "Put(canceled while streaming)", err, context.Canceled)
	if body, _ := get(t, s, b, "old", nil); body != "old" {
		t.Errorf("a canceled put changed the object to %d bytes", len(body))
	}
}

// failingBody returns n bytes, then err with its last ones. Len reports
// size, the length its sender declared, as a store's size hint.
type failingBody struct {
	n, size int
	err     error
}

func (r *failingBody) Len() int { return r.size }

func (r *failingBody) Read(p []byte) (int, error) {
	m := min(len(p), r.n)
	for i := range p[:m] {
		p[i] = 'x'
	}
	r.n -= m
	if r.n == 0 {
		return m, r.err
	}
	return m, nil
}

// testFailedBody: a body whose read fails, whatever the error, is not
// stored, and the object it would have replaced stays. io.ErrUnexpectedEOF
// is what an HTTP body returns when the client disconnects early.
func testFailedBody(t *testing.T, s storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, s)
	errVerify := errors.New("the body does not match its signature")
	for _, n := range []int{0, 3000, 300 << 10, 1<<20 + 1} {
		for _, want := range []error{io.ErrUnexpectedEOF, errVerify} {
			for _, size := range []int{-1, 2 * n} {
				put(t, s, b, "k", "old")
				_, err := s.Put(ctx, b, "k", &failingBody{n: n, size: size, err: want}, storage.PutOptions{})
				what := fmt.Sprintf("Put(body of %d bytes failing with %q, size hint %d)", n, want, size)
				wantErr(t, what, err, want)
				if body, _ := get(t, s, b, "k", nil); body != "old" {
					t.Errorf("%s replaced the object with %d bytes", what, len(body))
				}
			}
		}
	}
}

// testLongKeys: keys up to 1024 bytes with segments up to 255 bytes are
// stored; longer ones fail with ErrKeyTooLong before anything is written.
func testLongKeys(t *testing.T, s storage.ObjectStore, caps Capabilities) {
	ctx := t.Context()
	b := newBucket(t, s)
	seg := strings.Repeat("s", storage.MaxKeySegmentLength)
	longest := fitKey(strings.Repeat(seg[:254]+"/", 4)+"abcd", caps.MaxKeyLength) // 1024 bytes
	for _, key := range []string{seg, seg + "/" + strings.Repeat("é", storage.MaxKeySegmentLength/2) + "/x", longest} {
		put(t, s, b, key, "v")
		if body, _ := get(t, s, b, key, nil); body != "v" {
			t.Errorf("Get(%.40q...) = %q", key, body)
		}
		if caps.FilesystemKeys {
			if err := s.Delete(ctx, b, key); err != nil { // the next key has it as a folder
				t.Fatal(err)
			}
		}
	}
	for _, key := range []string{seg + "s", "a/" + seg + "s/b", "a/" + seg + "é", longest + "e"} {
		_, err := s.Put(ctx, b, key, strings.NewReader("x"), storage.PutOptions{})
		wantErr(t, fmt.Sprintf("Put(%d-byte key %.40q...)", len(key), key), err, storage.ErrKeyTooLong)
	}
}

// testListContinuationToken: a page's NextContinuationToken is the last key
// or common prefix it returned, and a token is read as StartAfter is: any
// string resumes a listing, a common prefix is not listed again, and with
// both the listing starts after the later of the two.
func testListContinuationToken(t *testing.T, s storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, s)
	putAll(t, s, b, []string{"foo", "bar", "baz", "quxx", "asdf", "boo/bar", "boo/baz/xyzzy", "cquux/thud", "cquux/bla"})
	page := func(opts storage.ListOptions) (keys, cps []string, token string) {
		t.Helper()
		res, err := s.List(ctx, b, opts)
		if err != nil {
			t.Fatalf("List(%+v): %v", opts, err)
		}
		if res.IsTruncated != (res.NextContinuationToken != "") {
			t.Errorf("List(%+v): truncated %v with token %q", opts, res.IsTruncated, res.NextContinuationToken)
		}
		return keysOf(res.Objects), res.CommonPrefixes, res.NextContinuationToken
	}
	check := func(opts storage.ListOptions, wantKeys, wantCPs []string, wantToken string) {
		t.Helper()
		keys, cps, token := page(opts)
		if !equal(keys, wantKeys) || !equal(cps, wantCPs) || token != wantToken {
			t.Errorf("List(%+v) = %q %q token %q; want %q %q token %q", opts, keys, cps, token, wantKeys, wantCPs, wantToken)
		}
	}
	all := []string{"asdf", "bar", "baz", "boo/bar", "boo/baz/xyzzy", "cquux/bla", "cquux/thud", "foo", "quxx"}
	// The token is the last key returned.
	check(storage.ListOptions{MaxKeys: 2}, all[:2], nil, "bar")
	check(storage.ListOptions{MaxKeys: 2, ContinuationToken: "bar"}, all[2:4], nil, "boo/bar")
	// Any key, stored or not, resumes after it.
	check(storage.ListOptions{ContinuationToken: "b"}, all[1:], nil, "")
	check(storage.ListOptions{ContinuationToken: "zzz"}, nil, nil, "")
	// Both: after the later one, whichever it is.
	check(storage.ListOptions{ContinuationToken: "bar", StartAfter: "cquux/thud"}, all[7:], nil, "")
	check(storage.ListOptions{ContinuationToken: "cquux/thud", StartAfter: "bar"}, all[7:], nil, "")
	// A page that ends on a common prefix: the token is the prefix, and
	// the next page goes on past every key under it.
	opts := storage.ListOptions{Delimiter: "/", MaxKeys: 4}
	check(opts, []string{"asdf", "bar", "baz"}, []string{"boo/"}, "boo/")
	opts.ContinuationToken = "boo/"
	check(opts, []string{"foo", "quxx"}, []string{"cquux/"}, "")
	// The same for StartAfter (versitygw's
	// ListObjectsV2_non_truncated_common_prefixes, as S3 answers).
	check(storage.ListOptions{Delimiter: "/", StartAfter: "boo/", MaxKeys: 3}, []string{"foo", "quxx"}, []string{"cquux/"}, "")
	check(storage.ListOptions{Prefix: "c", Delimiter: "/", StartAfter: "boo/"}, nil, []string{"cquux/"}, "")
	// A prefix token covers a StartAfter under it, and the reverse.
	check(storage.ListOptions{Delimiter: "/", ContinuationToken: "boo/", StartAfter: "boo/baz/xyzzy"}, []string{"foo", "quxx"}, []string{"cquux/"}, "")
	check(storage.ListOptions{Delimiter: "/", ContinuationToken: "boo/baz/xyzzy", StartAfter: "boo/"}, []string{"foo", "quxx"}, []string{"cquux/"}, "")
	// Without a delimiter "boo/" is a key like any other.
	check(storage.ListOptions{StartAfter: "boo/", MaxKeys: 2}, []string{"boo/bar", "boo/baz/xyzzy"}, nil, "boo/baz/xyzzy")
	// Under a prefix, the common prefixes are the prefix's.
	check(storage.ListOptions{Prefix: "boo/", Delimiter: "/", MaxKeys: 1}, []string{"boo/bar"}, nil, "boo/bar")
	check(storage.ListOptions{Prefix: "boo/", Delimiter: "/", ContinuationToken: "boo/bar"}, nil, []string{"boo/baz/"}, "")
	check(storage.ListOptions{Prefix: "boo/", Delimiter: "/", ContinuationToken: "boo/baz/"}, nil, nil, "")
}

// backslashKeys are keys with a backslash, which S3 takes as a character
// like any other (versitygw's PutObject_special_chars and
// PutObject_false_negative_object_names).
var backslashKeys = []string{`my\key`, `\`, `a\..\b`, `..\u2215..\u2215etc/passwd`, `dir\/x`, `\\srv\share\f.csv`, `x\`}

func testBackslashKeys(t *testing.T, s storage.ObjectStore, caps Capabilities) {
	ctx := t.Context()
	b := newBucket(t, s)
	keys := backslashKeys
	if caps.BackslashIsSlash {
		keys = nil
		for _, k := range backslashKeys {
			if !backslashDotSegments(k) {
				keys = append(keys, k)
				continue
			}
			_, err := s.Put(ctx, b, k, strings.NewReader(k), storage.PutOptions{})
			wantErr(t, fmt.Sprintf("Put(%q) on a store that reads \\ as /", k), err, storage.ErrInvalidKey)
		}
	}
	putAll(t, s, b, keys)
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	for _, k := range sorted {
		body, info := get(t, s, b, k, nil)
		if body != k {
			t.Errorf("Get(%q) = %q", k, body)
		}
		checkInfo(t, "Get", info, b, k, k)
	}
	if keys, _ := listKeys(t, s, b, storage.ListOptions{}); !equal(keys, sorted) {
		t.Errorf("List = %q, want %q", keys, sorted)
	}
	for _, opts := range []storage.ListOptions{{Delimiter: `\`}, {Delimiter: "/"}, {Prefix: `\`}, {Prefix: "..", Delimiter: "/"}, {StartAfter: `\`, MaxKeys: 1}} {
		if refusedDotPrefix(t, s, b, opts, caps) {
			continue
		}
		wantKeys, wantCPs := refList(sorted, opts.Prefix, opts.Delimiter, opts.StartAfter)
		if keys, cps := listKeys(t, s, b, opts); !equal(keys, wantKeys) || !equal(cps, wantCPs) {
			t.Errorf("List(%+v) = %q %q, want %q %q", opts, keys, cps, wantKeys, wantCPs)
		}
	}
	if _, err := s.Copy(ctx, b, `my\key`, b, `copy\of`); err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if body, _ := get(t, s, b, `copy\of`, nil); body != `my\key` {
		t.Errorf("copy = %q", body)
	}
	for _, k := range append(sorted, `copy\of`) {
		if err := s.Delete(ctx, b, k); err != nil {
			t.Errorf("Delete(%q): %v", k, err)
		}
	}
	if keys, cps := listKeys(t, s, b, storage.ListOptions{}); len(keys)+len(cps) != 0 {
		t.Errorf("List after deletes = %q %q", keys, cps)
	}
}
