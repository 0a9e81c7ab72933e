package storagetest

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
)

// RunUploads runs the conformance suite of multipart uploads
// (storage.Uploads) over a store. open returns the store and a function
// that opens Uploads over it; the suite opens it twice, as two servers
// sharing the store would (for the local folder: the same folder), and
// drives one upload through both. Uploads over an external S3 store
// (storage.UploadStore) and in a local folder must agree.
func RunUploads(t *testing.T, open func(t *testing.T) (storage.ObjectStore, func() *storage.Uploads)) {
	part := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
	md5hex := func(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }
	setup := func(t *testing.T) (storage.ObjectStore, *storage.Uploads, *storage.Uploads, string) {
		t.Helper()
		store, newUploads := open(t)
		bucket := newBucket(t, store)
		a, b := newUploads(), newUploads()
		t.Cleanup(func() { a.Close(); b.Close() })
		return store, a, b, bucket
	}

	t.Run("AcrossInstances", func(t *testing.T) {
		store, a, b, bucket := setup(t)
		ctx := t.Context()
		ck := storage.Checksum{Algorithm: "CRC32", Type: "COMPOSITE"}
		id, err := a.CreateChecked(ctx, bucket, "dir/big.bin", storage.PutOptions{ContentType: "application/x-test", Metadata: map[string]string{"who": "a"}}, ck)
		if err != nil {
			t.Fatal(err)
		}
		// Parts go through b, one of unknown size.
		p1, p2, p3 := part('a', storage.MinPartSize), part('b', storage.MinPartSize), part('c', 1234)
		var done []storage.CompletedPart
		for i, p := range [][]byte{p1, p2, p3} {
			size := int64(len(p))
			if i == 1 {
				size = -1
			}
			got, err := b.PutPartSize(ctx, bucket, "dir/big.bin", id, i+1, bytes.NewReader(p), size, nil)
			if err != nil {
				t.Fatalf("part %d: %v", i+1, err)
			}
			if got.ETag != md5hex(p) || got.Size != int64(len(p)) {
				t.Errorf("part %d: %+v", i+1, got)
			}
			done = append(done, storage.CompletedPart{PartNumber: i + 1, ETag: `"` + got.ETag + `"`})
		}
		parts, err := a.Parts(ctx, bucket, "dir/big.bin", id)
		if err != nil || len(parts) != 3 || parts[1].ETag != md5hex(p2) || parts[2].Size != 1234 {
			t.Fatalf("Parts through a = %+v, %v", parts, err)
		}
		ups, err := b.List(ctx, bucket, "dir/")
		if err != nil || len(ups) != 1 || ups[0].UploadID != id || ups[0].Key != "dir/big.bin" || ups[0].Options.Metadata["who"] != "a" || ups[0].Checksum != ck {
			t.Fatalf("List through b = %+v, %v", ups, err)
		}
		if up, err := b.Get(ctx, bucket, "dir/big.bin", id); err != nil || up.Checksum != ck {
			t.Fatalf("Get through b = %+v, %v", up, err)
		}
		if ups, err := b.List(ctx, bucket, "other/"); err != nil || len(ups) != 0 {
			t.Errorf("List other/ = %+v, %v", ups, err)
		}
		info, err := a.Complete(ctx, bucket, "dir/big.bin", id, done)
		if err != nil {
			t.Fatal(err)
		}
		h := md5.New()
		for _, p := range [][]byte{p1, p2, p3} {
			s := md5.Sum(p)
			h.Write(s[:])
		}
		wantETag := hex.EncodeToString(h.Sum(nil)) + "-3"
		if info.ETag != wantETag || info.Size != int64(2*storage.MinPartSize+1234) {
			t.Errorf("Complete = %+v, want ETag %s", info, wantETag)
		}
		rc, got, err := store.Get(ctx, bucket, "dir/big.bin", &storage.Range{Offset: storage.MinPartSize - 2, Length: 4})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		if string(data) != "aabb" || got.ETag != wantETag || got.Metadata["who"] != "a" || got.ContentType != "application/x-test" ||
			fmt.Sprint(got.PartSizes) != fmt.Sprint([]int64{storage.MinPartSize, storage.MinPartSize, 1234}) {
			t.Errorf("Get = %q, %+v", data, got)
		}
		// The upload is gone for both.
		for _, u := range []*storage.Uploads{a, b} {
			if _, err := u.Parts(ctx, bucket, "dir/big.bin", id); !errors.Is(err, storage.ErrNoSuchUpload) {
				t.Errorf("Parts after Complete: %v", err)
			}
			if ups, err := u.List(ctx, bucket, ""); err != nil || len(ups) != 0 {
				t.Errorf("List after Complete = %+v, %v", ups, err)
			}
		}
	})

	t.Run("AbortElsewhere", func(t *testing.T) {
		_, a, b, bucket := setup(t)
		ctx := t.Context()
		id, err := a.Create(ctx, bucket, "k", storage.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.PutPartSize(ctx, bucket, "k", id, 1, strings.NewReader("x"), 1, nil); err != nil {
			t.Fatal(err)
		}
		if err := b.Abort(ctx, bucket, "k", id); err != nil {
			t.Fatal(err)
		}
		if _, err := a.PutPartSize(ctx, bucket, "k", id, 2, strings.NewReader("y"), 1, nil); !errors.Is(err, storage.ErrNoSuchUpload) {
			t.Errorf("PutPart after Abort: %v", err)
		}
		if _, err := a.Complete(ctx, bucket, "k", id, []storage.CompletedPart{{PartNumber: 1, ETag: md5hex([]byte("x"))}}); !errors.Is(err, storage.ErrNoSuchUpload) {
			t.Errorf("Complete after Abort: %v", err)
		}
		if err := a.Abort(ctx, bucket, "k", id); !errors.Is(err, storage.ErrNoSuchUpload) {
			t.Errorf("second Abort: %v", err)
		}
		if ups, err := a.List(ctx, bucket, ""); err != nil || len(ups) != 0 {
			t.Errorf("List after Abort = %+v, %v", ups, err)
		}
	})

	t.Run("Hostile", func(t *testing.T) {
		store, a, b, bucket := setup(t)
		ctx := t.Context()
		id, err := a.Create(ctx, bucket, "h", storage.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Ids and keys that name no upload.
		for _, c := range []struct{ key, id string }{{"other", id}, {"h", "../../x"}, {"h", strings.Repeat("0", 32)}, {"h", ""}, {"h", strings.ToUpper(id) + "/"}} {
			if _, err := b.Parts(ctx, bucket, c.key, c.id); !errors.Is(err, storage.ErrNoSuchUpload) {
				t.Errorf("Parts(%q, %q): %v", c.key, c.id, err)
			}
			if _, err := b.PutPartSize(ctx, bucket, c.key, c.id, 1, strings.NewReader("x"), 1, nil); !errors.Is(err, storage.ErrNoSuchUpload) {
				t.Errorf("PutPart(%q, %q): %v", c.key, c.id, err)
			}
		}
		if _, err := b.Create(ctx, "tarn-test-no-such-bucket", "k", storage.PutOptions{}); !errors.Is(err, storage.ErrNoSuchBucket) {
			t.Errorf("Create in a missing bucket: %v", err)
		}
		// Bodies longer or shorter than announced, a wrong Content-MD5,
		// part numbers out of range: no part is kept.
		if _, err := b.PutPartSize(ctx, bucket, "h", id, 1, strings.NewReader("abcdef"), 3, nil); !errors.Is(err, storage.ErrInvalidPart) {
			t.Errorf("longer body: %v", err)
		}
		if _, err := b.PutPartSize(ctx, bucket, "h", id, 1, strings.NewReader("ab"), 3, nil); err == nil {
			t.Errorf("shorter body: no error")
		}
		bad := md5.Sum([]byte("other"))
		if _, err := b.PutPartSize(ctx, bucket, "h", id, 1, strings.NewReader("abc"), 3, bad[:]); !errors.Is(err, storage.ErrBadDigest) {
			t.Errorf("wrong Content-MD5: %v", err)
		}
		for _, n := range []int{0, storage.MaxParts + 1} {
			if _, err := b.PutPartSize(ctx, bucket, "h", id, n, strings.NewReader("abc"), 3, nil); !errors.Is(err, storage.ErrInvalidPart) {
				t.Errorf("part %d: %v", n, err)
			}
		}
		if parts, err := a.Parts(ctx, bucket, "h", id); err != nil || len(parts) != 0 {
			t.Errorf("parts kept after failed writes: %+v, %v", parts, err)
		}
		// A part replaced through the other instance; its checksum goes
		// with it.
		small := func(u *storage.Uploads, n int, s string, ck []storage.Checksum) storage.PartInfo {
			t.Helper()
			p, err := u.PutPartOpts(ctx, bucket, "h", id, n, strings.NewReader(s), int64(len(s)),
				storage.PartOptions{ChecksumsFrom: func() []storage.Checksum { return ck }})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		small(a, 1, "first", []storage.Checksum{{Algorithm: "CRC32", Value: "AAAAAA=="}})
		p1 := small(b, 1, "second", []storage.Checksum{{Algorithm: "CRC32", Value: "BBBBBB=="}})
		p2 := small(a, 2, "tail", nil)
		parts, err := b.Parts(ctx, bucket, "h", id)
		if err != nil || len(parts) != 2 || parts[0].ETag != p1.ETag || len(parts[0].Checksums) != 1 || parts[0].Checksums[0].Value != "BBBBBB==" ||
			parts[1].ETag != p2.ETag || len(parts[1].Checksums) != 0 {
			t.Fatalf("Parts = %+v, %v", parts, err)
		}
		// Completions S3 refuses leave the upload as it was.
		for _, c := range []struct {
			parts []storage.CompletedPart
			want  error
		}{
			{nil, storage.ErrInvalidPart},
			{[]storage.CompletedPart{{PartNumber: 2, ETag: p2.ETag}, {PartNumber: 1, ETag: p1.ETag}}, storage.ErrInvalidPartOrder},
			{[]storage.CompletedPart{{PartNumber: 1, ETag: md5hex([]byte("first"))}}, storage.ErrInvalidPart},
			{[]storage.CompletedPart{{PartNumber: 3, ETag: p2.ETag}}, storage.ErrInvalidPart},
			{[]storage.CompletedPart{{PartNumber: 1, ETag: p1.ETag}, {PartNumber: 2, ETag: p2.ETag}}, storage.ErrEntityTooSmall},
		} {
			if _, err := a.Complete(ctx, bucket, "h", id, c.parts); !errors.Is(err, c.want) {
				t.Errorf("Complete(%+v) = %v, want %v", c.parts, err, c.want)
			}
		}
		// A precondition that fails leaves the upload for a retry.
		if _, err := store.Put(ctx, bucket, "h", strings.NewReader("old"), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		one := []storage.CompletedPart{{PartNumber: 2, ETag: p2.ETag}}
		if _, err := b.CompleteOpts(ctx, bucket, "h", id, one, storage.CompleteOptions{IfNoneMatch: true}); !errors.Is(err, storage.ErrPreconditionFailed) {
			t.Errorf("Complete If-None-Match over an object: %v", err)
		}
		info, err := b.CompleteOpts(ctx, bucket, "h", id, one, storage.CompleteOptions{Checksum: storage.Checksum{Algorithm: "CRC32", Value: "CCCCCC==-1"}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := store.Head(ctx, bucket, "h")
		if err != nil || got.ETag != info.ETag || got.Size != 4 || got.Checksum.Value != "CCCCCC==-1" || !strings.HasSuffix(got.ETag, "-1") {
			t.Errorf("Head = %+v, %v (completed %+v)", got, err, info)
		}
	})

	t.Run("CopyPart", func(t *testing.T) {
		store, a, b, bucket := setup(t)
		ctx := t.Context()
		src := append(part('s', storage.MinPartSize), []byte("0123456789")...)
		srcInfo, err := store.Put(ctx, bucket, "src/big", bytes.NewReader(src), storage.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Put(ctx, bucket, "src/small", strings.NewReader("tail"), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		id, err := a.Create(ctx, bucket, "dst", storage.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p1, err := b.CopyPart(ctx, bucket, "dst", id, 1, bucket, "src/big", &storage.Range{Offset: 0, Length: storage.MinPartSize}, srcInfo.ETag)
		if err != nil {
			t.Fatal(err)
		}
		if p1.ETag != md5hex(src[:storage.MinPartSize]) || p1.Size != storage.MinPartSize {
			t.Errorf("copied part 1: %+v", p1)
		}
		p2, err := a.CopyPart(ctx, bucket, "dst", id, 2, bucket, "src/small", nil, "")
		if err != nil || p2.ETag != md5hex([]byte("tail")) || p2.Size != 4 {
			t.Fatalf("copied part 2: %+v, %v", p2, err)
		}
		if _, err := a.CopyPart(ctx, bucket, "dst", id, 3, bucket, "src/small", nil, md5hex([]byte("other"))); !errors.Is(err, storage.ErrPreconditionFailed) {
			t.Errorf("copy from a source that changed: %v", err)
		}
		if _, err := a.CopyPart(ctx, bucket, "dst", id, 3, bucket, "src/none", nil, ""); !errors.Is(err, storage.ErrNoSuchKey) {
			t.Errorf("copy from a missing source: %v", err)
		}
		if _, err := a.CopyPart(ctx, bucket, "dst", strings.Repeat("0", 32), 3, bucket, "src/small", nil, ""); !errors.Is(err, storage.ErrNoSuchUpload) {
			t.Errorf("copy into a missing upload: %v", err)
		}
		if _, err := b.Complete(ctx, bucket, "dst", id, []storage.CompletedPart{{PartNumber: 1, ETag: p1.ETag}, {PartNumber: 2, ETag: p2.ETag}}); err != nil {
			t.Fatal(err)
		}
		rc, _, err := store.Get(ctx, bucket, "dst", &storage.Range{Offset: storage.MinPartSize - 2, Length: 6})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if string(got) != "sstail" {
			t.Errorf("completed from copied parts: %q", got)
		}
	})

	t.Run("ManyUploadsListed", func(t *testing.T) {
		_, a, b, bucket := setup(t)
		ctx := t.Context()
		want := map[string]bool{}
		for i := range 5 {
			var r [4]byte
			_, _ = rand.Read(r[:])
			key := fmt.Sprintf("p/%d-%x", i%2, r)
			u := a
			if i%2 == 1 {
				u = b
			}
			id, err := u.Create(ctx, bucket, key, storage.PutOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want[id] = true
		}
		ups, err := a.List(ctx, bucket, "p/")
		if err != nil || len(ups) != 5 {
			t.Fatalf("List = %+v, %v", ups, err)
		}
		for i, u := range ups {
			if !want[u.UploadID] || i > 0 && ups[i-1].Key > u.Key {
				t.Errorf("List = %+v", ups)
			}
		}
		if ups, err := b.List(ctx, bucket, "p/1"); err != nil || len(ups) != 2 {
			t.Errorf("List p/1 = %+v, %v", ups, err)
		}
	})
}
