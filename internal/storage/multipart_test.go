package storage_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/fs"
)

func TestMultipartUploads(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	store, err := fs.New(fs.DefaultConfig(filepath.Join(root, "objects")))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	store.CreateBucket(ctx, "bkt")
	up, err := storage.NewUploads(filepath.Join(root, "uploads"), store)
	if err != nil {
		t.Fatal(err)
	}
	id, err := up.Create(ctx, "bkt", "big/obj.bin", storage.PutOptions{ContentType: "application/x-test"})
	if err != nil {
		t.Fatal(err)
	}
	p1 := bytes.Repeat([]byte("a"), storage.MinPartSize)
	p2 := []byte("tail")
	i1, err := up.PutPart(ctx, "bkt", "big/obj.bin", id, 1, bytes.NewReader(p1), nil)
	if err != nil {
		t.Fatal(err)
	}
	i2, err := up.PutPart(ctx, "bkt", "big/obj.bin", id, 2, bytes.NewReader(p2), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing is visible before completion.
	if _, err := store.Head(ctx, "bkt", "big/obj.bin"); !errors.Is(err, storage.ErrNoSuchKey) {
		t.Errorf("object visible before complete: %v", err)
	}
	parts, _ := up.Parts(ctx, "bkt", "big/obj.bin", id)
	if len(parts) != 2 || parts[1].Size != 4 {
		t.Errorf("parts: %+v", parts)
	}
	for _, c := range []struct {
		parts []storage.CompletedPart
		want  error
	}{
		{[]storage.CompletedPart{{2, i2.ETag}, {1, i1.ETag}}, storage.ErrInvalidPartOrder},
		{[]storage.CompletedPart{{1, "deadbeef"}}, storage.ErrInvalidPart},
		{[]storage.CompletedPart{{2, i2.ETag}, {3, i2.ETag}}, storage.ErrInvalidPart},
	} {
		if _, err := up.Complete(ctx, "bkt", "big/obj.bin", id, c.parts); !errors.Is(err, c.want) {
			t.Errorf("complete %v: %v, want %v", c.parts, err, c.want)
		}
	}
	// A small part that is not the last is refused.
	id2, _ := up.Create(ctx, "bkt", "x", storage.PutOptions{})
	a, _ := up.PutPart(ctx, "bkt", "x", id2, 1, strings.NewReader("small"), nil)
	b, _ := up.PutPart(ctx, "bkt", "x", id2, 2, strings.NewReader("small"), nil)
	if _, err := up.Complete(ctx, "bkt", "x", id2, []storage.CompletedPart{{1, a.ETag}, {2, b.ETag}}); !errors.Is(err, storage.ErrEntityTooSmall) {
		t.Errorf("small part: %v", err)
	}
	if err := up.Abort(ctx, "bkt", "x", id2); err != nil {
		t.Fatal(err)
	}
	if _, err := up.Parts(ctx, "bkt", "x", id2); !errors.Is(err, storage.ErrNoSuchUpload) {
		t.Errorf("aborted upload: %v", err)
	}
	if _, err := up.PutPart(ctx, "bkt", "big/obj.bin", id, 1, bytes.NewReader(p1), []byte("0123456789abcdef")); !errors.Is(err, storage.ErrBadDigest) {
		t.Errorf("bad part MD5: %v", err)
	}

	info, err := up.Complete(ctx, "bkt", "big/obj.bin", id, []storage.CompletedPart{{1, `"` + i1.ETag + `"`}, {2, i2.ETag}})
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := md5.Sum(p1), md5.Sum(p2)
	sum := md5.Sum(append(s1[:], s2[:]...))
	if want := hex.EncodeToString(sum[:]) + "-2"; info.ETag != want {
		t.Errorf("etag %s, want %s", info.ETag, want)
	}
	rc, got, err := store.Get(ctx, "bkt", "big/obj.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(body, append(p1, p2...)) || got.ETag != info.ETag || got.ContentType != "application/x-test" {
		t.Errorf("completed object: %d bytes, %+v", len(body), got)
	}
	if list, _ := up.List(ctx, "bkt", ""); len(list) != 0 {
		t.Errorf("uploads left: %+v", list)
	}
	if _, err := up.Create(ctx, "nope", "k", storage.PutOptions{}); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Errorf("upload to a missing bucket: %v", err)
	}
}

// TestMultipartInPlace covers the shapes of uploads whose parts are written
// to their slots of the upload's data file: completed in place (the data
// file becomes the object) or, for any other shape, assembled by copies.
func TestMultipartInPlace(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	store, err := fs.New(fs.DefaultConfig(filepath.Join(root, "objects")))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	store.CreateBucket(ctx, "bkt")
	up, err := storage.NewUploads(filepath.Join(root, "uploads"), store)
	if err != nil {
		t.Fatal(err)
	}
	const mib = 1 << 20
	data := func(seed byte, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i*7)
		}
		return b
	}
	type put struct {
		n    int
		body []byte
	}
	check := func(t *testing.T, key string, puts []put, complete []int, wantInPlace bool) {
		t.Helper()
		id, err := up.Create(ctx, "bkt", key, storage.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		etags := map[int]string{}
		bodies := map[int][]byte{}
		for _, p := range puts {
			info, err := up.PutPartSize(ctx, "bkt", key, id, p.n, bytes.NewReader(p.body), int64(len(p.body)), nil)
			if err != nil {
				t.Fatalf("part %d: %v", p.n, err)
			}
			etags[p.n], bodies[p.n] = info.ETag, p.body
		}
		var cps []storage.CompletedPart
		var want, sums []byte
		for _, n := range complete {
			cps = append(cps, storage.CompletedPart{PartNumber: n, ETag: etags[n]})
			want = append(want, bodies[n]...)
			s := md5.Sum(bodies[n])
			sums = append(sums, s[:]...)
		}
		dataFile := filepath.Join(root, "uploads", id, "data")
		before, _ := os.Stat(dataFile)
		info, err := up.Complete(ctx, "bkt", key, id, cps)
		if err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(sums)
		if w := fmt.Sprintf("%x-%d", sum, len(complete)); info.ETag != w {
			t.Errorf("etag %s, want %s", info.ETag, w)
		}
		p, _ := store.LocalPath("bkt", key)
		after, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if inPlace := before != nil && os.SameFile(before, after); inPlace != wantInPlace {
			t.Errorf("completed in place: %v, want %v", inPlace, wantInPlace)
		}
		rc, got, err := store.Get(ctx, "bkt", key, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(body, want) || got.Size != int64(len(want)) {
			t.Errorf("object has %d bytes (equal: %v), want %d", len(body), bytes.Equal(body, want), len(want))
		}
	}
	p5a, p5b, p5c := data(1, 5*mib), data(2, 5*mib), data(3, 5*mib)
	tail := data(4, 1000)
	t.Run("uniform", func(t *testing.T) {
		check(t, "uniform", []put{{1, p5a}, {2, p5b}, {3, tail}}, []int{1, 2, 3}, true)
	})
	t.Run("last part first", func(t *testing.T) {
		// The tail is too small to set the stride: it goes to a file of
		// its own, and is copied in.
		check(t, "lastfirst", []put{{3, tail}, {2, p5b}, {1, p5a}}, []int{1, 2, 3}, true)
	})
	t.Run("large last part first", func(t *testing.T) {
		// The stride is wrong (the last part's size): the others go to
		// files of their own and are assembled.
		p6a, p6b := data(5, 6*mib), data(6, 6*mib)
		check(t, "largelast", []put{{3, p5c}, {1, p6a}, {2, p6b}}, []int{1, 2, 3}, false)
	})
	t.Run("part replaced", func(t *testing.T) {
		check(t, "replaced", []put{{1, p5a}, {2, p5b}, {2, p5c}, {3, tail}}, []int{1, 2, 3}, false)
	})
	t.Run("part left out", func(t *testing.T) {
		check(t, "gap", []put{{1, p5a}, {2, p5b}, {3, p5c}, {4, tail}}, []int{1, 3, 4}, false)
	})
	t.Run("unused parts after the last", func(t *testing.T) {
		check(t, "unused", []put{{1, p5a}, {2, p5b}, {3, p5c}}, []int{1, 2}, true)
	})
	t.Run("one part", func(t *testing.T) {
		check(t, "one", []put{{1, p5a}}, []int{1}, true)
	})

	t.Run("wrong size", func(t *testing.T) {
		id, _ := up.Create(ctx, "bkt", "size", storage.PutOptions{})
		if _, err := up.PutPartSize(ctx, "bkt", "size", id, 1, bytes.NewReader(p5a), 5*mib, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := up.PutPartSize(ctx, "bkt", "size", id, 2, bytes.NewReader(p5b), 5*mib-1, nil); !errors.Is(err, storage.ErrInvalidPart) {
			t.Errorf("longer body: %v", err)
		}
		if _, err := up.PutPartSize(ctx, "bkt", "size", id, 3, bytes.NewReader(tail), 2000, nil); !errors.Is(err, storage.ErrInvalidPart) {
			t.Errorf("shorter body: %v", err)
		}
		parts, _ := up.Parts(ctx, "bkt", "size", id)
		if len(parts) != 1 {
			t.Errorf("parts after failed uploads: %+v", parts)
		}
		up.Abort(ctx, "bkt", "size", id)
	})

	t.Run("slot writer in flight", func(t *testing.T) {
		// A part still arriving in its slot when the upload completes must
		// not write into the published object.
		id, _ := up.Create(ctx, "bkt", "inflight", storage.PutOptions{})
		i1, err := up.PutPartSize(ctx, "bkt", "inflight", id, 1, bytes.NewReader(p5a), 5*mib, nil)
		if err != nil {
			t.Fatal(err)
		}
		i2, err := up.PutPartSize(ctx, "bkt", "inflight", id, 2, bytes.NewReader(tail), int64(len(tail)), nil)
		if err != nil {
			t.Fatal(err)
		}
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			_, err := up.PutPartSize(ctx, "bkt", "inflight", id, 3, pr, 5*mib, nil)
			done <- err
		}()
		if _, err := pw.Write(data(9, mib)); err != nil { // the writer is in its slot
			t.Fatal(err)
		}
		if _, err := up.Complete(ctx, "bkt", "inflight", id, []storage.CompletedPart{{1, i1.ETag}, {2, i2.ETag}}); err != nil {
			t.Fatal(err)
		}
		pw.Write(data(9, 4*mib))
		pw.Close()
		if err := <-done; !errors.Is(err, storage.ErrNoSuchUpload) {
			t.Errorf("part after complete: %v", err)
		}
		rc, _, err := store.Get(ctx, "bkt", "inflight", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(body, append(append([]byte{}, p5a...), tail...)) {
			t.Errorf("object changed by a part written after completion (%d bytes)", len(body))
		}
	})
}

// cutReader returns data, then io.ErrUnexpectedEOF: an HTTP body whose
// client disconnected.
type cutReader struct{ data []byte }

func (r *cutReader) Read(p []byte) (int, error) {
	n := copy(p, r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 {
		return n, io.ErrUnexpectedEOF
	}
	return n, nil
}

// A part whose body is cut is not stored as complete, whether its size was
// announced (slot or file of its own) or not, and the part it would have
// replaced stays.
func TestPutPartCutBody(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	store, err := fs.New(fs.DefaultConfig(filepath.Join(root, "objects")))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	store.CreateBucket(ctx, "bkt")
	up, err := storage.NewUploads(filepath.Join(root, "uploads"), store)
	if err != nil {
		t.Fatal(err)
	}
	id, err := up.Create(ctx, "bkt", "k", storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p1 := bytes.Repeat([]byte("a"), storage.MinPartSize) // sets the stride: later parts go to slots
	if _, err := up.PutPartSize(ctx, "bkt", "k", id, 1, bytes.NewReader(p1), int64(len(p1)), nil); err != nil {
		t.Fatal(err)
	}
	cut := bytes.Repeat([]byte("x"), 3000)
	for _, c := range []struct {
		n    int
		size int64
	}{{1, -1}, {1, storage.MinPartSize}, {2, -1}, {2, storage.MinPartSize}, {3, 1 << 20}} {
		if _, err := up.PutPartSize(ctx, "bkt", "k", id, c.n, &cutReader{data: cut}, c.size, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("part %d of size %d cut after %d bytes: %v, want %v", c.n, c.size, len(cut), err, io.ErrUnexpectedEOF)
		}
	}
	parts, err := up.Parts(ctx, "bkt", "k", id)
	if err != nil || len(parts) != 1 || parts[0].PartNumber != 1 || parts[0].Size != int64(len(p1)) {
		t.Errorf("parts after cut bodies: %v %+v, want part 1 of %d bytes only", err, parts, len(p1))
	}
}
