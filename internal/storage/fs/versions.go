package fs

// Bucket versioning.
//
// The current version of an object stays what it is in an unversioned
// bucket: the plain file (or overflow file) with its sidecar, which also
// records its version id. Other engines keep reading the lake in place and
// List, Get and Head cost what they cost without versioning.
//
// Everything else of a key lives in .tarn/versions/<bucket>/<h>/, h = hex
// sha256(key): index.json lists its noncurrent versions and delete markers,
// newest first, with what describes them (ETag, size, time, content type,
// metadata), and each noncurrent version's data is a file named by its id.
// Folder objects (keys ending in "/") are empty and keep no data files.
//
// A put to a versioned bucket hard-links the current data file into the
// versions folder (a rename where links are not supported), writes the index
// and then renames the new data over the plain path, all under the bucket's
// exclusive lock: readers in place see the old object or the new one, and a
// crash in between leaves a version recorded twice (shown once), never one
// lost. A delete moves the current data file into the versions folder and
// records a delete marker. Deleting the current version or the delete marker
// on top renames the next version's data back to the plain path.
//
// The versioning state is the file .tarn/versioning/<bucket> ("Enabled" or
// "Suspended"), read under the bucket lock by each put and delete: a missing
// file (one failed open) means unversioned.
//
// ListVersions reads every index of the bucket (noncurrent versions are not
// in key order on disk) and merges them with List. It is not a snapshot:
// versions written while it runs may be missed or shown twice.

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/minio/crc64nvme"

	"github.com/tarn-lake/tarn/internal/storage"
)

// --- state -------------------------------------------------------------------

func (s *Store) versioningPath(bucket string) string { return s.internal("versioning", bucket) }

// versioningState returns the bucket's versioning state; storage.
// VersioningUnversioned if it was never set.
func (s *Store) versioningState(bucket string) (string, error) {
	b, err := readSmallFile(s.versioningPath(bucket))
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) {
			return storage.VersioningUnversioned, nil
		}
		return "", err
	}
	switch st := strings.TrimSpace(string(b)); st {
	case storage.VersioningEnabled, storage.VersioningSuspended:
		return st, nil
	default:
		return "", fmt.Errorf("%w %q in %s", storage.ErrInvalidVersioning, st, s.versioningPath(bucket))
	}
}

// SetVersioning enables or suspends versioning of a bucket.
func (s *Store) SetVersioning(ctx context.Context, bucket, state string) error {
	if err := s.setVersioning(ctx, bucket, state); err != nil {
		return fmt.Errorf("cannot set versioning of bucket %q: %w", bucket, err)
	}
	return nil
}

func (s *Store) setVersioning(ctx context.Context, bucket, state string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := s.checkBucket(bucket); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch state {
	case storage.VersioningEnabled, storage.VersioningSuspended, storage.VersioningUnversioned:
	default:
		return fmt.Errorf("%w %q: want %q or %q", storage.ErrInvalidVersioning, state, storage.VersioningEnabled, storage.VersioningSuspended)
	}
	l := s.lock(bucket)
	l.Lock()
	defer l.Unlock()
	cur, err := s.versioningState(bucket)
	if err != nil {
		return err
	}
	if state == storage.VersioningUnversioned {
		if cur != storage.VersioningUnversioned {
			return storage.ErrVersioningNotAllowed
		}
		return nil
	}
	if cur == state {
		return nil
	}
	p := s.versioningPath(bucket)
	if err := s.writeAtomic(p, []byte(state+"\n"), true); err != nil {
		return err
	}
	return s.syncDir(filepath.Dir(p))
}

// Versioning returns a bucket's versioning state.
func (s *Store) Versioning(ctx context.Context, bucket string) (string, error) {
	if err := s.checkOpen(); err != nil {
		return "", fmt.Errorf("cannot get versioning of bucket %q: %w", bucket, err)
	}
	if err := s.checkBucket(bucket); err != nil {
		return "", fmt.Errorf("cannot get versioning of bucket %q: %w", bucket, err)
	}
	st, err := s.versioningState(bucket)
	if err != nil {
		return "", fmt.Errorf("cannot get versioning of bucket %q: %w", bucket, err)
	}
	return st, nil
}

// --- ids and index -----------------------------------------------------------

// newVersionID returns a fresh version id: 32 hex digits, the time in
// nanoseconds then random bits.
func newVersionID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixNano()))
	_, _ = rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

func validVersionID(id string) bool {
	if id == storage.NullVersionID {
		return true
	}
	if len(id) != 32 {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func checkVersionID(id string) error {
	if !validVersionID(id) {
		return fmt.Errorf("%w %q", storage.ErrInvalidVersionID, id)
	}
	return nil
}

// idOf returns the version id of a current object: "null" if it was written
// while the bucket was unversioned.
func idOf(info storage.ObjectInfo) string {
	if info.VersionID == "" {
		return storage.NullVersionID
	}
	return info.VersionID
}

// verEntry is a noncurrent version or a delete marker.
type verEntry struct {
	ID           string            `json:"id"`
	DeleteMarker bool              `json:"delete_marker,omitempty"`
	ETag         string            `json:"etag,omitempty"`
	Size         int64             `json:"size"`
	MTime        int64             `json:"mtime"` // Unix ns
	ContentType  string            `json:"content_type,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	Checksum     storage.Checksum  `json:"checksum,omitzero"`
	Headers      map[string]string `json:"headers,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
	PartSizes    []int64           `json:"part_sizes,omitempty"`
}

func (e verEntry) info(bucket, key string) storage.ObjectInfo {
	return storage.ObjectInfo{
		Bucket:         bucket,
		Key:            key,
		Size:           e.Size,
		ETag:           e.ETag,
		LastModified:   time.Unix(0, e.MTime).UTC(),
		ContentType:    e.ContentType,
		Metadata:       e.Metadata,
		VersionID:      e.ID,
		IsDeleteMarker: e.DeleteMarker,
		Checksum:       e.Checksum,
		Headers:        e.Headers,
		Tags:           e.Tags,
		PartSizes:      e.PartSizes,
	}
}

// verIndex is the index of one key's noncurrent versions and delete markers.
type verIndex struct {
	Key      string     `json:"key"`
	Versions []verEntry `json:"versions"` // newest first
}

func (x *verIndex) find(id string) int {
	return slices.IndexFunc(x.Versions, func(e verEntry) bool { return e.ID == id })
}

func (s *Store) versionDir(bucket, key string) string {
	return s.internal("versions", bucket, keyHash(key))
}

// versionData is the data file of a noncurrent version ("" for folder objects,
// which have none).
func (s *Store) versionData(bucket, key, id string) string {
	if isMarker(key) {
		return ""
	}
	return filepath.Join(s.versionDir(bucket, key), id)
}

// readIndex returns key's index, empty if it has none.
func (s *Store) readIndex(bucket, key string) (*verIndex, error) {
	return s.readIndexAt(filepath.Join(s.versionDir(bucket, key), "index.json"), key)
}

func (s *Store) readIndexAt(p, key string) (*verIndex, error) {
	b, err := readSmallFile(p)
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) {
			return &verIndex{Key: key}, nil
		}
		return nil, err
	}
	x := new(verIndex)
	if err := json.Unmarshal(b, x); err != nil {
		return nil, fmt.Errorf("cannot read version index %s: %w", p, err)
	}
	if key != "" && x.Key != key {
		return nil, fmt.Errorf("version index %s is of key %q, not %q", p, x.Key, key)
	}
	return x, nil
}

// writeIndex writes (synced) or, when it is empty, removes key's index and
// folder. Callers hold the bucket lock exclusively.
func (s *Store) writeIndex(bucket, key string, x *verIndex) error {
	dir := s.versionDir(bucket, key)
	if len(x.Versions) == 0 {
		if err := os.Remove(filepath.Join(dir, "index.json")); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return err
		}
		// With the index gone no file left in the folder is a version:
		// data of versions just dropped (which callers would remove next)
		// or of a crash. They go with the folder, which must not outlive
		// the key's last version: a folder left behind kept later puts of
		// the key and the bucket's deletion failing.
		return os.RemoveAll(dir)
	}
	b, err := json.Marshal(x)
	if err != nil {
		return err
	}
	if err := s.writeAtomic(filepath.Join(dir, "index.json"), b, true); err != nil {
		return err
	}
	return s.syncDir(dir)
}

// --- writes ------------------------------------------------------------------

// current describes the current object of key, if any, for keepCurrent and
// DeleteVersion. Its ETag is computed under the lock if its sidecar is stale
// (only after a change by hand). Callers hold the bucket lock.
func (s *Store) current(ctx context.Context, bucket, key string) (lc loc, info storage.ObjectInfo, ok bool, err error) {
	if isMarker(key) {
		info, err := s.markerInfo(bucket, key)
		if errors.Is(err, storage.ErrNoSuchKey) {
			return loc{}, storage.ObjectInfo{}, false, nil
		}
		return loc{}, info, err == nil, err
	}
	lc, err = s.resolve(bucket, key)
	if errors.Is(err, storage.ErrNoSuchKey) {
		return loc{}, storage.ObjectInfo{}, false, nil
	}
	if err != nil {
		return loc{}, storage.ObjectInfo{}, false, err
	}
	info, old, fresh, err := s.cachedInfo(bucket, key, lc)
	if err != nil || fresh {
		return lc, info, err == nil, err
	}
	info, err = s.hashLocked(ctx, bucket, key, lc, old)
	return lc, info, err == nil, err
}

// hashLocked describes the data file at lc whose sidecar (old, maybe nil) is
// stale, without caching the result.
func (s *Store) hashLocked(ctx context.Context, bucket, key string, lc loc, old *sidecar) (storage.ObjectInfo, error) {
	f, err := openRead(lc.path)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	defer f.Close()
	h, h64 := md5.New(), crc64nvme.New()
	if _, err := io.Copy(io.MultiWriter(h, h64), ctxReader{ctx, f}); err != nil {
		return storage.ObjectInfo{}, err
	}
	sc := &sidecar{Key: key, ETag: hex.EncodeToString(h.Sum(nil)), ContentType: guessContentType(key), Checksum: defaultChecksum(h64.Sum(nil))}
	if old != nil && old.Key == key {
		sc.VersionID = old.VersionID
		if old.ETag == sc.ETag {
			sc.ContentType, sc.Metadata, sc.Headers, sc.Tags, sc.PartSizes = old.ContentType, old.Metadata, old.Headers, old.Tags, old.PartSizes
			if old.Checksum.Algorithm != "" {
				sc.Checksum = old.Checksum
			}
		}
	}
	return sc.info(bucket, key, lc.fi.Size(), lc.fi.ModTime()), nil
}

// keepCurrent prepares a new version of key in a versioned bucket: it picks
// the new version's id ("null" when suspended) and keeps the current object
// as a noncurrent version, hard-linking its data into the versions folder
// (moving it where links are not supported), unless both are the "null"
// version (the new one replaces it). A noncurrent "null" version is dropped
// when the new one is "null". The index is written before it returns; the
// returned garbage are data files of dropped versions, for the caller to
// remove once the new version is in place. Callers hold the bucket lock
// exclusively.
func (s *Store) keepCurrent(ctx context.Context, bucket, key, state string) (newID string, garbage []string, err error) {
	x, err := s.prepareNew(ctx, bucket, key, state)
	if err != nil {
		return "", nil, err
	}
	if err := s.writeIndex(bucket, key, x.idx); err != nil {
		return "", nil, err
	}
	return x.newID, x.garbage, nil
}

type newVersion struct {
	newID   string
	idx     *verIndex
	garbage []string
	// moved is set if the current data file was renamed (not linked) into
	// the versions folder, from lc.
	moved bool
	lc    loc
}

func (s *Store) prepareNew(ctx context.Context, bucket, key, state string) (newVersion, error) {
	nv := newVersion{newID: storage.NullVersionID}
	if state == storage.VersioningEnabled {
		nv.newID = newVersionID()
	}
	idx, err := s.readIndex(bucket, key)
	if err != nil {
		return nv, err
	}
	nv.idx = idx
	lc, info, ok, err := s.current(ctx, bucket, key)
	if err != nil {
		return nv, err
	}
	dropNull := func() {
		if i := idx.find(storage.NullVersionID); i >= 0 {
			if p := s.versionData(bucket, key, storage.NullVersionID); p != "" && !idx.Versions[i].DeleteMarker {
				nv.garbage = append(nv.garbage, p)
			}
			idx.Versions = slices.Delete(idx.Versions, i, i+1)
		}
	}
	if ok && (idOf(info) != storage.NullVersionID || nv.newID != storage.NullVersionID) {
		id := idOf(info)
		if id == storage.NullVersionID {
			dropNull() // a leftover of a crash; the current one is newer
		}
		if dst := s.versionData(bucket, key, id); dst != "" {
			if err := s.mkdirAll(filepath.Dir(dst)); err != nil {
				return nv, err
			}
			_ = os.Remove(dst) // a leftover of a crash
			if err := os.Link(lc.path, dst); err != nil {
				if err := os.Rename(lc.path, dst); err != nil {
					return nv, err
				}
				nv.moved, nv.lc = true, lc
			}
		}
		if i := idx.find(id); i >= 0 { // a leftover of a crash
			idx.Versions = slices.Delete(idx.Versions, i, i+1)
		}
		e := verEntry{ID: id, ETag: info.ETag, Size: info.Size, MTime: info.LastModified.UnixNano(),
			ContentType: info.ContentType, Metadata: maps.Clone(info.Metadata), Checksum: info.Checksum, Headers: maps.Clone(info.Headers), Tags: maps.Clone(info.Tags), PartSizes: info.PartSizes}
		idx.Versions = slices.Insert(idx.Versions, 0, e)
	}
	if nv.newID == storage.NullVersionID {
		dropNull()
	}
	return nv, nil
}

// deleteVersioned hides key behind a new delete marker, keeping its current
// object as a noncurrent version. Callers hold the bucket lock exclusively.
func (s *Store) deleteVersioned(ctx context.Context, bucket, key, state string) (storage.DeleteResult, error) {
	nv, err := s.prepareNew(ctx, bucket, key, state)
	if err != nil {
		return storage.DeleteResult{}, err
	}
	nv.idx.Versions = slices.Insert(nv.idx.Versions, 0, verEntry{ID: nv.newID, DeleteMarker: true, MTime: time.Now().UnixNano()})
	if err := s.writeIndex(bucket, key, nv.idx); err != nil {
		return storage.DeleteResult{}, err
	}
	// The data file is linked into the versions folder (or is the "null"
	// version, replaced by the marker): it goes as in an unversioned delete.
	if err := s.removeCurrent(bucket, key); err != nil {
		return storage.DeleteResult{}, err
	}
	if nv.moved && !nv.lc.overflow {
		if err := s.syncDir(s.pruneDirs(bucket, parentDirKey(key))); err != nil {
			return storage.DeleteResult{}, err
		}
	}
	for _, g := range nv.garbage {
		_ = os.Remove(g)
	}
	return storage.DeleteResult{VersionID: nv.newID, DeleteMarker: true}, nil
}

// DeleteVersion removes one version of key for good (versionID "" deletes
// the key as Delete does). See storage.Versioned.
func (s *Store) DeleteVersion(ctx context.Context, bucket, key, versionID string) (storage.DeleteResult, error) {
	res, err := s.deleteVersion(ctx, bucket, key, versionID)
	if err != nil {
		return storage.DeleteResult{}, opErr("delete", bucket, key, err)
	}
	return res, nil
}

func (s *Store) deleteVersion(ctx context.Context, bucket, key, id string) (storage.DeleteResult, error) {
	if err := s.checkKey(bucket, key); err != nil {
		return storage.DeleteResult{}, err
	}
	if id != "" {
		if err := checkVersionID(id); err != nil {
			return storage.DeleteResult{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return storage.DeleteResult{}, err
	}
	l := s.lock(bucket)
	l.Lock()
	defer l.Unlock()
	return s.deleteVersionLocked(ctx, bucket, key, id)
}

// DeleteIf deletes as DeleteVersion does if cond holds for the object (or
// version) the delete names, checked under the bucket lock, so that no
// write comes between the check and the delete. See
// storage.ConditionalDeleter.
func (s *Store) DeleteIf(ctx context.Context, bucket, key, versionID string, cond func(info storage.ObjectInfo, ok bool) error) (storage.DeleteResult, error) {
	res, err := s.deleteIf(ctx, bucket, key, versionID, cond)
	if err != nil {
		return storage.DeleteResult{}, opErr("delete", bucket, key, err)
	}
	return res, nil
}

func (s *Store) deleteIf(ctx context.Context, bucket, key, id string, cond func(storage.ObjectInfo, bool) error) (storage.DeleteResult, error) {
	if err := s.checkKey(bucket, key); err != nil {
		return storage.DeleteResult{}, err
	}
	if id != "" {
		if err := checkVersionID(id); err != nil {
			return storage.DeleteResult{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return storage.DeleteResult{}, err
	}
	l := s.lock(bucket)
	l.Lock()
	defer l.Unlock()
	if err := s.checkBucket(bucket); err != nil {
		return storage.DeleteResult{}, err
	}
	_, info, ok, err := s.current(ctx, bucket, key)
	if err != nil {
		return storage.DeleteResult{}, err
	}
	if id != "" && !(ok && idOf(info) == id) {
		idx, err := s.readIndex(bucket, key)
		if err != nil {
			return storage.DeleteResult{}, err
		}
		info, ok = storage.ObjectInfo{}, false
		if i := idx.find(id); i >= 0 && !idx.Versions[i].DeleteMarker {
			info, ok = idx.Versions[i].info(bucket, key), true
		}
	}
	if err := cond(info, ok); err != nil {
		return storage.DeleteResult{}, err
	}
	return s.deleteVersionLocked(ctx, bucket, key, id)
}

// deleteVersionLocked is deleteVersion under the bucket lock, held
// exclusively.
func (s *Store) deleteVersionLocked(ctx context.Context, bucket, key, id string) (storage.DeleteResult, error) {
	state, err := s.versioningState(bucket)
	if err != nil {
		return storage.DeleteResult{}, err
	}
	if id == "" {
		if state == storage.VersioningUnversioned {
			return storage.DeleteResult{}, s.removeCurrent(bucket, key)
		}
		return s.deleteVersioned(ctx, bucket, key, state)
	}
	idx, err := s.readIndex(bucket, key)
	if err != nil {
		return storage.DeleteResult{}, err
	}
	_, info, ok, err := s.current(ctx, bucket, key)
	if err != nil {
		return storage.DeleteResult{}, err
	}
	res := storage.DeleteResult{VersionID: id}
	var garbage []string
	if ok && idOf(info) == id {
		// The current version goes; the next one, if an object, replaces it.
		if len(idx.Versions) > 0 && !idx.Versions[0].DeleteMarker {
			if err := s.promote(ctx, bucket, key, idx); err != nil {
				return storage.DeleteResult{}, err
			}
			return res, nil
		}
		if err := s.removeCurrent(bucket, key); err != nil {
			return storage.DeleteResult{}, err
		}
		return res, nil
	}
	i := idx.find(id)
	if i < 0 {
		return res, nil // as deleting a missing key
	}
	e := idx.Versions[i]
	res.DeleteMarker = e.DeleteMarker
	if p := s.versionData(bucket, key, id); p != "" && !e.DeleteMarker {
		garbage = append(garbage, p)
	}
	idx.Versions = slices.Delete(idx.Versions, i, i+1)
	if !ok && len(idx.Versions) > 0 && !idx.Versions[0].DeleteMarker {
		// The delete marker on top is gone: the version below it is current again.
		err = s.promote(ctx, bucket, key, idx)
	} else {
		err = s.writeIndex(bucket, key, idx)
	}
	if err != nil {
		return storage.DeleteResult{}, err
	}
	for _, g := range garbage {
		_ = os.Remove(g)
	}
	return res, nil
}

// promote makes idx.Versions[0] (an object) the current version of key: its
// data is renamed over the plain path (replacing the current object, if any)
// and it leaves the index, which is written. Callers hold the bucket lock
// exclusively.
func (s *Store) promote(ctx context.Context, bucket, key string, idx *verIndex) error {
	e := idx.Versions[0]
	sc := &sidecar{Key: key, ETag: e.ETag, ContentType: e.ContentType, Metadata: e.Metadata, VersionID: e.ID, Checksum: e.Checksum, Headers: e.Headers, Tags: e.Tags, PartSizes: e.PartSizes}
	scPath := s.sidecarPath(bucket, key)
	if isMarker(key) {
		if err := s.ensureDirs(ctx, bucket, key); err != nil {
			return err
		}
		sc.stamp = stamp{MTime: e.MTime}
		b, err := json.Marshal(sc)
		if err != nil {
			return err
		}
		if err := s.writeAtomic(scPath, b, true); err != nil {
			return err
		}
		if err := s.syncDir(filepath.Dir(scPath)); err != nil {
			return err
		}
	} else {
		src := s.versionData(bucket, key, e.ID)
		old, oldErr := s.resolve(bucket, key)
		dest, overflow, err := s.destFor(ctx, bucket, key)
		if err != nil {
			return err
		}
		if err := os.Rename(src, dest); err != nil {
			return err
		}
		if oldErr == nil && old.path != dest {
			_ = os.Remove(old.path)
		}
		if !overflow {
			_ = os.Remove(s.overflowPath(bucket, key))
		}
		fi, err := os.Lstat(dest)
		if err != nil {
			return err
		}
		sc.stamp = stampOf(fi)
		b, err := json.Marshal(sc)
		if err != nil {
			return err
		}
		if err := s.writeAtomic(scPath, b, true); err != nil {
			return err
		}
		for _, d := range []string{filepath.Dir(dest), filepath.Dir(scPath)} {
			if err := s.syncDir(d); err != nil {
				return err
			}
		}
	}
	idx.Versions = idx.Versions[1:]
	return s.writeIndex(bucket, key, idx)
}

// --- reads -------------------------------------------------------------------

// noSuchKey adds the delete marker that hides key, if any, to err (an error
// of Get or Head).
func (s *Store) noSuchKey(bucket, key string, err error) error {
	if !errors.Is(err, storage.ErrNoSuchKey) {
		return err
	}
	idx, ierr := s.readIndex(bucket, key)
	if ierr != nil || len(idx.Versions) == 0 || !idx.Versions[0].DeleteMarker {
		return err
	}
	return &storage.DeleteMarkerError{VersionID: idx.Versions[0].ID, Err: err}
}

// GetVersion reads one version of an object, or a range of it ("" reads the
// current object, as Get).
func (s *Store) GetVersion(ctx context.Context, bucket, key, versionID string, rng *storage.Range) (io.ReadCloser, storage.ObjectInfo, error) {
	if versionID == "" {
		return s.Get(ctx, bucket, key, rng)
	}
	rc, info, err := s.getVersion(ctx, bucket, key, versionID, rng, true)
	if err != nil {
		return nil, storage.ObjectInfo{}, opErr("get", bucket, key, err)
	}
	return rc, info, nil
}

// HeadVersion describes one version of an object ("" describes the current
// object, as Head).
func (s *Store) HeadVersion(ctx context.Context, bucket, key, versionID string) (storage.ObjectInfo, error) {
	if versionID == "" {
		return s.Head(ctx, bucket, key)
	}
	_, info, err := s.getVersion(ctx, bucket, key, versionID, nil, false)
	if err != nil {
		return storage.ObjectInfo{}, opErr("head", bucket, key, err)
	}
	return info, nil
}

func (s *Store) getVersion(ctx context.Context, bucket, key, id string, rng *storage.Range, body bool) (io.ReadCloser, storage.ObjectInfo, error) {
	if err := s.checkKey(bucket, key); err != nil {
		return nil, storage.ObjectInfo{}, err
	}
	if err := checkVersionID(id); err != nil {
		return nil, storage.ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, storage.ObjectInfo{}, err
	}
	f, p, info, old, fresh, isCurrent, err := s.openVersion(bucket, key, id)
	if err != nil {
		return nil, storage.ObjectInfo{}, err
	}
	if isCurrent && !fresh {
		if info, err = s.hashInfo(ctx, bucket, key, p, f, old); err != nil {
			f.Close()
			return nil, storage.ObjectInfo{}, err
		}
	}
	if !body {
		if f != nil {
			f.Close()
		}
		return nil, info, nil
	}
	off, n, err := applyRange(rng, info.Size)
	if err == nil && off > 0 {
		_, err = f.Seek(off, io.SeekStart)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, storage.ObjectInfo{}, err
	}
	if f == nil { // a folder object
		return io.NopCloser(strings.NewReader("")), info, nil
	}
	return &fileReader{f: f, lr: io.LimitedReader{R: f, N: n}}, info, nil
}

// openVersion finds version id of key under the shared lock and opens its
// data (f is nil for folder objects). If it is the current object and its
// sidecar is stale, fresh is false and old is that sidecar, for hashInfo.
func (s *Store) openVersion(bucket, key, id string) (f *os.File, p string, info storage.ObjectInfo, old *sidecar, fresh, isCurrent bool, err error) {
	l := s.lock(bucket)
	l.RLock()
	defer l.RUnlock()
	if isMarker(key) {
		info, err := s.markerInfo(bucket, key)
		if err == nil && idOf(info) == id {
			return nil, "", info, nil, true, true, nil
		}
		if err != nil && !errors.Is(err, storage.ErrNoSuchKey) {
			return nil, "", storage.ObjectInfo{}, nil, false, false, err
		}
	} else {
		lc, err := s.resolve(bucket, key)
		switch {
		case err == nil:
			cf, err := openRead(lc.path)
			if err != nil {
				return nil, "", storage.ObjectInfo{}, nil, false, false, err
			}
			fi, err := cf.Stat()
			if err != nil {
				cf.Close()
				return nil, "", storage.ObjectInfo{}, nil, false, false, err
			}
			lc.fi = fi
			info, old, fresh, err := s.cachedInfo(bucket, key, lc)
			if err != nil {
				cf.Close()
				return nil, "", storage.ObjectInfo{}, nil, false, false, err
			}
			cur := info
			if !fresh && old != nil && old.Key == key {
				cur.VersionID = old.VersionID // kept when it is hashed
			}
			if idOf(cur) == id {
				return cf, lc.path, info, old, fresh, true, nil
			}
			cf.Close()
		case !errors.Is(err, storage.ErrNoSuchKey):
			return nil, "", storage.ObjectInfo{}, nil, false, false, err
		}
	}
	idx, err := s.readIndex(bucket, key)
	if err != nil {
		return nil, "", storage.ObjectInfo{}, nil, false, false, err
	}
	i := idx.find(id)
	if i < 0 {
		return nil, "", storage.ObjectInfo{}, nil, false, false, fmt.Errorf("%w %q", storage.ErrNoSuchVersion, id)
	}
	e := idx.Versions[i]
	if e.DeleteMarker {
		return nil, "", storage.ObjectInfo{}, nil, false, false, &storage.DeleteMarkerError{VersionID: id, Err: storage.ErrDeleteMarker}
	}
	info = e.info(bucket, key)
	if p = s.versionData(bucket, key, id); p != "" {
		if f, err = openRead(p); err != nil {
			return nil, "", storage.ObjectInfo{}, nil, false, false, fmt.Errorf("cannot open version %q: %w", id, err)
		}
	}
	return f, p, info, nil, true, false, nil
}

// ListVersions lists versions and delete markers like ListObjectVersions.
func (s *Store) ListVersions(ctx context.Context, bucket string, opts storage.VersionListOptions) (storage.VersionListResult, error) {
	res, err := s.listVersions(ctx, bucket, opts)
	if err != nil {
		return storage.VersionListResult{}, opErr("list versions of", bucket, opts.Prefix, err)
	}
	return res, nil
}

// vitem is a key or a common prefix of a version listing.
type vitem struct {
	key     string
	prefix  bool
	cur     *storage.ObjectInfo // the current object of a key, if any
	history *verIndex           // noncurrent versions of a key, if any
}

func (s *Store) listVersions(ctx context.Context, bucket string, opts storage.VersionListOptions) (storage.VersionListResult, error) {
	if err := s.checkOpen(); err != nil {
		return storage.VersionListResult{}, err
	}
	if err := s.checkBucket(bucket); err != nil {
		return storage.VersionListResult{}, err
	}
	if opts.VersionIDMarker != "" {
		if opts.KeyMarker == "" {
			return storage.VersionListResult{}, fmt.Errorf("%w: a version id marker needs a key marker", storage.ErrInvalidVersionID)
		}
		if err := checkVersionID(opts.VersionIDMarker); err != nil {
			return storage.VersionListResult{}, err
		}
	}
	max := opts.MaxKeys
	if max <= 0 || max > defaultMaxKeys {
		max = defaultMaxKeys
	}
	km, vm := opts.KeyMarker, opts.VersionIDMarker
	rollup := func(k string) (string, bool) {
		if opts.Delimiter != "" {
			if i := strings.Index(k[len(opts.Prefix):], opts.Delimiter); i >= 0 {
				return k[:len(opts.Prefix)+i+len(opts.Delimiter)], true
			}
		}
		return k, false
	}
	// A key is listed if it is after the key marker, or is the key marker
	// resumed after one of its versions; a prefix if it is after the marker.
	wanted := func(it vitem) bool {
		if it.prefix {
			return it.key > km
		}
		return it.key > km || it.key == km && vm != ""
	}

	// The histories, under the shared lock.
	hist, err := s.readIndexes(ctx, bucket, opts.Prefix)
	if err != nil {
		return storage.VersionListResult{}, err
	}
	var fromHist []vitem
	for _, k := range slices.Sorted(maps.Keys(hist)) {
		it := vitem{key: k, history: hist[k]}
		if p, ok := rollup(k); ok {
			it = vitem{key: p, prefix: true}
		}
		if wanted(it) && (len(fromHist) == 0 || fromHist[len(fromHist)-1].key != it.key) {
			fromHist = append(fromHist, it)
		}
	}

	// The current objects, through List.
	cur := &curIter{s: s, ctx: ctx, bucket: bucket, opts: storage.ListOptions{Prefix: opts.Prefix, Delimiter: opts.Delimiter, StartAfter: km, MaxKeys: min(max+1, defaultMaxKeys)}}
	if vm != "" && strings.HasPrefix(km, opts.Prefix) {
		if _, rolled := rollup(km); !rolled {
			info, err := s.head(ctx, bucket, km)
			switch {
			case err == nil:
				cur.page = []vitem{{key: km, cur: &info}}
			case !errors.Is(err, storage.ErrNoSuchKey):
				return storage.VersionListResult{}, err
			}
		}
	}

	var res storage.VersionListResult
	n := 0
	lastKey, lastVersion := "", ""
	full := func() bool {
		if n < max {
			return false
		}
		res.IsTruncated = true
		res.NextKeyMarker, res.NextVersionIDMarker = lastKey, lastVersion
		return true
	}
	for {
		c, okc, err := cur.peek()
		if err != nil {
			return storage.VersionListResult{}, err
		}
		for okc && !wanted(c) {
			cur.next()
			if c, okc, err = cur.peek(); err != nil {
				return storage.VersionListResult{}, err
			}
		}
		var it vitem
		switch {
		case !okc && len(fromHist) == 0:
			return res, nil
		case !okc || len(fromHist) > 0 && fromHist[0].key < c.key:
			it, fromHist = fromHist[0], fromHist[1:]
		case len(fromHist) > 0 && fromHist[0].key == c.key:
			it = c
			it.history = fromHist[0].history
			fromHist = fromHist[1:]
			cur.next()
		default:
			it = c
			cur.next()
		}
		if it.prefix {
			if full() {
				return res, nil
			}
			res.CommonPrefixes = append(res.CommonPrefixes, it.key)
			n++
			lastKey, lastVersion = it.key, ""
			continue
		}
		vs := versionsOf(bucket, it)
		if it.key == km && vm != "" {
			if i := slices.IndexFunc(vs, func(v storage.ObjectVersion) bool { return v.VersionID == vm }); i >= 0 {
				vs = vs[i+1:]
			}
		}
		for _, v := range vs {
			if full() {
				return res, nil
			}
			res.Versions = append(res.Versions, v)
			n++
			lastKey, lastVersion = it.key, v.VersionID
		}
	}
}

// versionsOf returns the versions of a listed key, newest first.
func versionsOf(bucket string, it vitem) []storage.ObjectVersion {
	var vs []storage.ObjectVersion
	curID := ""
	if it.cur != nil {
		info := *it.cur
		info.VersionID = idOf(info)
		curID = info.VersionID
		vs = append(vs, storage.ObjectVersion{ObjectInfo: info, IsLatest: true})
	}
	if it.history != nil {
		for _, e := range it.history.Versions {
			if e.ID != curID { // recorded twice by a crash
				vs = append(vs, storage.ObjectVersion{ObjectInfo: e.info(bucket, it.key)})
			}
		}
	}
	if len(vs) > 0 {
		vs[0].IsLatest = true
	}
	return vs
}

// readIndexes reads the version indexes of the keys under prefix.
func (s *Store) readIndexes(ctx context.Context, bucket, prefix string) (map[string]*verIndex, error) {
	l := s.lock(bucket)
	l.RLock()
	defer l.RUnlock()
	return s.readIndexesLocked(ctx, bucket, prefix)
}

// readIndexesLocked is readIndexes for callers that hold the bucket lock.
func (s *Store) readIndexesLocked(ctx context.Context, bucket, prefix string) (map[string]*verIndex, error) {
	dir := s.internal("versions", bucket)
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	out := map[string]*verIndex{}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		x, err := s.readIndexAt(filepath.Join(dir, e.Name(), "index.json"), "")
		if err != nil {
			return nil, err
		}
		if x.Key != "" && len(x.Versions) > 0 && strings.HasPrefix(x.Key, prefix) {
			out[x.Key] = x
		}
	}
	return out, nil
}

// curIter walks the current objects and common prefixes of a listing, in
// order, page by page.
type curIter struct {
	s      *Store
	ctx    context.Context
	bucket string
	opts   storage.ListOptions
	page   []vitem
	done   bool
}

func (c *curIter) peek() (vitem, bool, error) {
	for len(c.page) == 0 && !c.done {
		res, err := c.s.List(c.ctx, c.bucket, c.opts)
		if err != nil {
			return vitem{}, false, err
		}
		objs, cps := res.Objects, res.CommonPrefixes
		for len(objs) > 0 || len(cps) > 0 {
			if len(cps) == 0 || len(objs) > 0 && objs[0].Key < cps[0] {
				c.page = append(c.page, vitem{key: objs[0].Key, cur: &objs[0]})
				objs = objs[1:]
			} else {
				c.page = append(c.page, vitem{key: cps[0], prefix: true})
				cps = cps[1:]
			}
		}
		c.done = !res.IsTruncated
		c.opts.ContinuationToken = res.NextContinuationToken
	}
	if len(c.page) == 0 {
		return vitem{}, false, nil
	}
	return c.page[0], true, nil
}

func (c *curIter) next() { c.page = c.page[1:] }
