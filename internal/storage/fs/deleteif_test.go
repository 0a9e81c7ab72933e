package fs_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
)

// DeleteIf checks its condition and deletes under the bucket lock: a put
// started while the condition is checked commits after the delete, never
// between the check and the delete (which would delete the new object).
func TestDeleteIfAtomic(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newBucket(t)
	old, err := s.Put(ctx, "lake", "k", strings.NewReader("old"), storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	started, done := make(chan struct{}), make(chan error, 1)
	_, err = s.DeleteIf(ctx, "lake", "k", "", func(info storage.ObjectInfo, ok bool) error {
		if !ok || info.ETag != old.ETag {
			t.Errorf("condition saw %+v, %v", info, ok)
		}
		go func() {
			close(started)
			_, err := s.Put(ctx, "lake", "k", strings.NewReader("new"), storage.PutOptions{})
			done <- err
		}()
		<-started
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	info, err := s.Head(ctx, "lake", "k")
	if err != nil || info.Size != 3 || info.ETag == old.ETag {
		t.Fatalf("after the delete and the put: %+v, %v (the put's object must stay)", info, err)
	}

	// A condition that fails changes nothing and is answered as is.
	_, err = s.DeleteIf(ctx, "lake", "k", "", func(storage.ObjectInfo, bool) error { return storage.ErrPreconditionFailed })
	if !errors.Is(err, storage.ErrPreconditionFailed) {
		t.Fatalf("failed condition: %v", err)
	}
	if _, err := s.Head(ctx, "lake", "k"); err != nil {
		t.Fatalf("a failed condition deleted the object: %v", err)
	}
	// A missing key is passed as such.
	_, err = s.DeleteIf(ctx, "lake", "missing", "", func(_ storage.ObjectInfo, ok bool) error {
		if ok {
			t.Error("a missing key passed as present")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A version of a versioned bucket: the condition sees that version.
	if err := s.SetVersioning(ctx, "lake", storage.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	v1, err := s.Put(ctx, "lake", "v", strings.NewReader("one"), storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "lake", "v", strings.NewReader("two!"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := s.DeleteIf(ctx, "lake", "v", v1.VersionID, func(info storage.ObjectInfo, ok bool) error {
		if !ok || info.ETag != v1.ETag || info.Size != 3 {
			t.Errorf("condition on version %s saw %+v, %v", v1.VersionID, info, ok)
		}
		return nil
	})
	if err != nil || res.VersionID != v1.VersionID {
		t.Fatalf("delete of version: %+v, %v", res, err)
	}
	if _, err := s.HeadVersion(ctx, "lake", "v", v1.VersionID); err == nil {
		t.Error("the version is still there")
	}
	if info, err := s.Head(ctx, "lake", "v"); err != nil || info.Size != 4 {
		t.Errorf("current version after deleting the older one: %+v, %v", info, err)
	}
}
