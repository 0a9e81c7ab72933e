package fs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	iofs "io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/tarn-lake/tarn/internal/storage"
)

// SetTags replaces the tags of an object or of one of its versions. The
// current object's tags are in its sidecar, a noncurrent version's in its
// key's version index; the data is not touched.
func (s *Store) SetTags(ctx context.Context, bucket, key, versionID string, tags map[string]string) (string, error) {
	id, err := s.setTags(ctx, bucket, key, versionID, tags)
	if err != nil {
		return "", opErr("tag", bucket, key, err)
	}
	return id, nil
}

func (s *Store) setTags(ctx context.Context, bucket, key, versionID string, tags map[string]string) (string, error) {
	if err := s.checkKey(bucket, key); err != nil {
		return "", err
	}
	if versionID != "" {
		if err := checkVersionID(versionID); err != nil {
			return "", err
		}
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if len(tags) == 0 {
		tags = nil
	}
	l := s.lock(bucket)
	l.Lock()
	defer l.Unlock()
	lc, info, ok, err := s.current(ctx, bucket, key)
	if err != nil {
		return "", err
	}
	if ok && (versionID == "" || idOf(info) == versionID) {
		scPath := s.sidecarPath(bucket, key)
		sc, err := readSidecar(scPath)
		if err != nil {
			return "", err
		}
		if isMarker(key) {
			if sc == nil {
				return "", storage.ErrNoSuchKey
			}
		} else if !sc.fresh(stampOf(lc.fi)) {
			// Described afresh (the data changed by hand): the sidecar
			// written below must describe the file as it is.
			sc = &sidecar{Key: key, stamp: stampOf(lc.fi), ETag: info.ETag, ContentType: info.ContentType,
				Metadata: info.Metadata, VersionID: info.VersionID, Checksum: info.Checksum, Headers: info.Headers, PartSizes: info.PartSizes}
		}
		sc.Tags = maps.Clone(tags)
		b, err := json.Marshal(sc)
		if err != nil {
			return "", err
		}
		if err := s.writeAtomic(scPath, b, true); err != nil {
			return "", err
		}
		return info.VersionID, s.syncDir(filepath.Dir(scPath))
	}
	if versionID == "" {
		return "", s.noSuchKey(bucket, key, storage.ErrNoSuchKey)
	}
	idx, err := s.readIndex(bucket, key)
	if err != nil {
		return "", err
	}
	i := idx.find(versionID)
	if i < 0 {
		return "", fmt.Errorf("%w %q", storage.ErrNoSuchVersion, versionID)
	}
	if idx.Versions[i].DeleteMarker {
		return "", &storage.DeleteMarkerError{VersionID: versionID, Err: storage.ErrDeleteMarker}
	}
	idx.Versions[i].Tags = maps.Clone(tags)
	return versionID, s.writeIndex(bucket, key, idx)
}

// bucketConfigPath is where the bucket document name is kept:
// .tarn/bucketconfig/<bucket>/<name>.
func (s *Store) bucketConfigPath(bucket, name string) (string, error) {
	if name == "" || strings.IndexFunc(name, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') }) >= 0 {
		return "", fmt.Errorf("bucket configuration name %q is not letters only", name)
	}
	return s.internal("bucketconfig", bucket, name), nil
}

// BucketConfig returns a bucket's document name.
func (s *Store) BucketConfig(ctx context.Context, bucket, name string) ([]byte, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := s.checkBucket(bucket); err != nil {
		return nil, fmt.Errorf("cannot read %s of bucket %q: %w", name, bucket, err)
	}
	p, err := s.bucketConfigPath(bucket, name)
	if err != nil {
		return nil, err
	}
	l := s.lock(bucket)
	l.RLock()
	defer l.RUnlock()
	b, err := readSmallFile(p)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, fmt.Errorf("bucket %q: %w %s", bucket, storage.ErrNoSuchBucketConfig, name)
	}
	return b, err
}

// SetBucketConfig stores or removes a bucket's document name.
func (s *Store) SetBucketConfig(ctx context.Context, bucket, name string, data []byte) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	p, err := s.bucketConfigPath(bucket, name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	l := s.lock(bucket)
	l.Lock()
	defer l.Unlock()
	if err := s.checkBucket(bucket); err != nil { // under the lock: not deleted meanwhile
		return fmt.Errorf("cannot set %s of bucket %q: %w", name, bucket, err)
	}
	if data == nil {
		switch err := os.Remove(p); {
		case errors.Is(err, iofs.ErrNotExist):
			return nil
		case err != nil:
			return err
		}
		return s.syncDir(filepath.Dir(p))
	}
	if err := s.mkdirAll(filepath.Dir(p)); err != nil {
		return err
	}
	if err := s.writeAtomic(p, data, true); err != nil {
		return err
	}
	return s.syncDir(filepath.Dir(p))
}
