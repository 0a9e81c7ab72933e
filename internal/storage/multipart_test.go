package storage_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
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
	parts, _ := up.Parts("bkt", "big/obj.bin", id)
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
	if err := up.Abort("bkt", "x", id2); err != nil {
		t.Fatal(err)
	}
	if _, err := up.Parts("bkt", "x", id2); !errors.Is(err, storage.ErrNoSuchUpload) {
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
	if list, _ := up.List("bkt", ""); len(list) != 0 {
		t.Errorf("uploads left: %+v", list)
	}
	if _, err := up.Create(ctx, "nope", "k", storage.PutOptions{}); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Errorf("upload to a missing bucket: %v", err)
	}
}
