package storage_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/fs"
)

// A part keeps the checksums it was stored with, a part stored again
// keeps only its new ones, and a completion records the checksum and
// the conditions it is given (checked at the commit).
func TestPartChecksumsAndCompleteOptions(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	store, err := fs.New(fs.DefaultConfig(filepath.Join(root, "objects")))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	up, err := storage.NewUploads(filepath.Join(root, "uploads"), store)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	id, err := up.Create(ctx, "bkt", "k", storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	put := func(n int, body string, cks ...storage.Checksum) storage.PartInfo {
		t.Helper()
		p, err := up.PutPartOpts(ctx, "bkt", "k", id, n, strings.NewReader(body), int64(len(body)),
			storage.PartOptions{ChecksumsFrom: func() []storage.Checksum { return cks }})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := storage.Checksum{Algorithm: "CRC32", Value: "AAAAAA=="}
	b := storage.Checksum{Algorithm: "SHA1", Value: "2jmj7l5rSw0yVb/vlWAYkK/YBwk="}
	put(1, strings.Repeat("x", storage.MinPartSize), a)
	put(2, "first", a, b)
	p2 := put(2, "second", b) // replaces part 2 and its checksums
	parts, err := up.Parts(ctx, "bkt", "k", id)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || !slices.Equal(parts[0].Checksums, []storage.Checksum{a}) || !slices.Equal(parts[1].Checksums, []storage.Checksum{b}) || parts[1].ETag != p2.ETag {
		t.Fatalf("parts: %+v", parts)
	}
	// Hostile: a completion under a condition that fails commits nothing
	// and leaves the upload to retry.
	if _, err := store.Put(ctx, "bkt", "k", bytes.NewReader([]byte("old")), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	done := []storage.CompletedPart{{PartNumber: 1, ETag: parts[0].ETag}, {PartNumber: 2, ETag: parts[1].ETag}}
	ck := storage.Checksum{Algorithm: "CRC32", Value: "AQIDBA==", Type: "FULL_OBJECT"}
	if _, err := up.CompleteOpts(ctx, "bkt", "k", id, done, storage.CompleteOptions{Checksum: ck, IfNoneMatch: true}); !errors.Is(err, storage.ErrPreconditionFailed) {
		t.Fatalf("If-None-Match over an object: %v", err)
	}
	if info, err := store.Head(ctx, "bkt", "k"); err != nil || info.Size != 3 {
		t.Fatalf("the object after a refused completion: %+v %v", info, err)
	}
	info, err := up.CompleteOpts(ctx, "bkt", "k", id, done, storage.CompleteOptions{Checksum: ck})
	if err != nil {
		t.Fatal(err)
	}
	if info.Checksum != ck {
		t.Errorf("completed with checksum %+v, want %+v", info.Checksum, ck)
	}
	if h, err := store.Head(ctx, "bkt", "k"); err != nil || h.Checksum != ck {
		t.Errorf("head: %+v %v", h.Checksum, err)
	}
}
