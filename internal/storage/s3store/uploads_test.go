package s3store_test

import (
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
