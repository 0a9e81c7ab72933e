package s3store_test

import (
	"bytes"
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/s3store"
	"github.com/tarn-lake/tarn/internal/storage/storagetest"
)

// TestUploadsConformance: uploads kept in the external store's own
// multipart uploads; each Uploads is over a store of its own on the same
// external bucket and prefix, as two tarn servers are.
func TestUploadsConformance(t *testing.T) {
	g := needGateway(t)
	ext := g.newExternalBucket(t)
	storagetest.RunUploads(t, func(t *testing.T) (storage.ObjectStore, func() *storage.Uploads) {
		store := newStoreOn(t, ext, "lake/")
		return store, func() *storage.Uploads {
			up, err := storage.NewUploads(t.TempDir(), newStoreOn(t, ext, "lake/"))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := any(store).(storage.UploadStore); !ok {
				t.Fatal("s3store.Store is not a storage.UploadStore")
			}
			return up
		}
	})
}

var _ storage.UploadStore = (*s3store.Store)(nil)

// TestCopyPartInsideStore: UploadPartCopy between objects of the store is
// the external store's own: tarn reads the upload's record, never the
// source's bytes.
func TestCopyPartInsideStore(t *testing.T) {
	g := needGateway(t)
	s := newStore(t, "lake/")
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "copies"); err != nil {
		t.Fatal(err)
	}
	src, err := s.Put(ctx, "copies", "src", bytes.NewReader(bytes.Repeat([]byte("x"), 6<<20)), storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ups, err := storage.NewUploads(t.TempDir(), s)
	if err != nil {
		t.Fatal(err)
	}
	if !ups.CopiesParts() {
		t.Fatal("uploads on an external store do not copy parts inside it")
	}
	id, err := ups.Create(ctx, "copies", "dst", storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gets := g.count("GET")
	p, err := ups.CopyPart(ctx, "copies", "dst", id, 1, "copies", "src", nil, src.ETag)
	if err != nil || p.Size != 6<<20 {
		t.Fatalf("CopyPart: %+v, %v", p, err)
	}
	if n := g.count("GET") - gets; n > 1 {
		t.Errorf("%d GETs for a part copied inside the store, want at most 1 (the upload's record)", n)
	}
}
