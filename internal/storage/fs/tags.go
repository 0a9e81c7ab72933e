package fs

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"

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
				Metadata: info.Metadata, VersionID: info.VersionID, Checksum: info.Checksum, Headers: info.Headers}
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
