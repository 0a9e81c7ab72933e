package fs_test

import (
	"path/filepath"
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/fs"
	"github.com/tarn-lake/tarn/internal/storage/storagetest"
)

// TestUploadsConformance: uploads kept in a local folder, opened twice
// over the same folder and store.
func TestUploadsConformance(t *testing.T) {
	storagetest.RunUploads(t, func(t *testing.T) (storage.ObjectStore, func() *storage.Uploads) {
		root := t.TempDir()
		store, err := fs.New(fs.DefaultConfig(filepath.Join(root, "objects")))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		return store, func() *storage.Uploads {
			up, err := storage.NewUploads(filepath.Join(root, "uploads"), store)
			if err != nil {
				t.Fatal(err)
			}
			return up
		}
	})
}
