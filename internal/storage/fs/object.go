package fs

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
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
	"github.com/tarn-lake/tarn/internal/storage/internal/hashcopy"
)

// loc is where an object's data lives.
type loc struct {
	path     string
	fi       iofs.FileInfo
	overflow bool
}

// resolve finds the data file of a (non-folder) key: its plain path if that is
// a regular file reached through real folders, else its overflow file. Callers
// hold the bucket lock.
func (s *Store) resolve(bucket, key string) (loc, error) {
	err := s.checkDirs(bucket, parentDirKey(key))
	switch {
	case err == nil:
		p := s.objPath(bucket, key)
		fi, err := os.Lstat(p)
		if err == nil && fi.Mode().IsRegular() {
			return loc{path: p, fi: fi}, nil
		}
		if err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return loc{}, err
		}
	case errors.Is(err, errSymlink):
		return loc{}, fmt.Errorf("%w (%w)", storage.ErrNoSuchKey, err)
	case !errors.Is(err, errMissing):
		return loc{}, err
	}
	op := s.overflowPath(bucket, key)
	fi, err := os.Lstat(op)
	if err == nil && fi.Mode().IsRegular() {
		return loc{path: op, fi: fi, overflow: true}, nil
	}
	if err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return loc{}, err
	}
	return loc{}, storage.ErrNoSuchKey
}

// cachedInfo describes the object at l from its sidecar if that is fresh;
// else ok is false and sc is the stale sidecar, if any. Callers hold the
// bucket lock.
func (s *Store) cachedInfo(bucket, key string, l loc) (info storage.ObjectInfo, sc *sidecar, ok bool, err error) {
	sc, err = readSidecar(s.sidecarPath(bucket, key))
	if err != nil {
		return storage.ObjectInfo{}, nil, false, err
	}
	if sc.fresh(stampOf(l.fi)) {
		return sc.info(bucket, key, l.fi.Size(), l.fi.ModTime()), sc, true, nil
	}
	return storage.ObjectInfo{}, sc, false, nil
}

// testHookHashing, if set, is called when hashing of a data file starts.
var testHookHashing func(key string)

// hashClock gives the time a hash starts; tests set it ahead instead of
// sleeping past the racy window.
var hashClock = time.Now

// hashInfo describes the object whose data file was opened as f from path p
// and whose sidecar (old, maybe nil) was stale. It hashes f without holding
// the bucket lock, then caches the result under the shared lock if p still
// holds the file that was hashed and the hash is not racy. old's content type
// and metadata are kept if the content is unchanged (the file was only
// touched, renamed or chmod-ed). Callers must not hold the bucket lock.
func (s *Store) hashInfo(ctx context.Context, bucket, key, p string, f *os.File, old *sidecar) (storage.ObjectInfo, error) {
	start := hashClock()
	fi, err := f.Stat()
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	st := stampOf(fi)
	if testHookHashing != nil {
		testHookHashing(key)
	}
	h, h64 := md5.New(), crc64nvme.New()
	bp := bufPool.Get().(*[]byte)
	_, err = io.CopyBuffer(io.MultiWriter(h, h64), ctxReader{ctx, io.NewSectionReader(f, 0, st.Size)}, *bp)
	bufPool.Put(bp)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	// Every object has a checksum, as in S3: a file that came without
	// one gets the CRC64NVME S3 computes by default.
	sc := &sidecar{Key: key, stamp: st, ETag: hex.EncodeToString(h.Sum(nil)), ContentType: guessContentType(key),
		Checksum: defaultChecksum(h64.Sum(nil))}
	if old != nil && old.Key == key && old.ETag == sc.ETag && old.Checksum.Algorithm != "" {
		sc.Checksum = old.Checksum
	}
	if old != nil && old.Key == key && old.ETag == sc.ETag {
		sc.ContentType, sc.Metadata, sc.Headers, sc.Tags, sc.PartSizes = old.ContentType, old.Metadata, old.Headers, old.Tags, old.PartSizes
	}
	if old != nil && old.Key == key {
		sc.VersionID = old.VersionID
	}
	info := sc.info(bucket, key, fi.Size(), fi.ModTime())
	// Not cached if the file changed while it was hashed, or may change
	// unnoticed (racy).
	fi2, err := f.Stat()
	if err != nil || stampOf(fi2) != st || racy(st, start) {
		return info, nil
	}
	b, err := json.Marshal(sc)
	if err != nil {
		return info, nil
	}
	l := s.lock(bucket)
	l.RLock()
	defer l.RUnlock()
	// The path must still hold the version hashed (not moved to or from
	// overflow, replaced by a put, or deleted meanwhile) ...
	if cur, err := os.Lstat(p); err != nil || !cur.Mode().IsRegular() || stampOf(cur) != st {
		return info, nil
	}
	// ... and only stale sidecars are replaced: concurrent hashers of one
	// version write the same bytes.
	scPath := s.sidecarPath(bucket, key)
	if cur, err := readSidecar(scPath); err == nil && cur.fresh(st) {
		return cur.info(bucket, key, fi.Size(), fi.ModTime()), nil
	}
	_ = s.writeAtomic(scPath, b, false) // a cache: recomputed if lost
	return info, nil
}

// openObject resolves a (non-folder) key and describes it under the shared
// lock. If its sidecar is fresh it returns the info with fresh set, and f is
// nil unless wantFile. Else it returns the data file opened (f, at path p) and
// the stale sidecar, for hashInfo to hash after the lock is released. The open
// file keeps the version it opened even if the object is replaced.
func (s *Store) openObject(bucket, key string, wantFile bool) (f *os.File, p string, info storage.ObjectInfo, old *sidecar, fresh bool, err error) {
	l := s.lock(bucket)
	l.RLock()
	defer l.RUnlock()
	lc, err := s.resolve(bucket, key)
	if err != nil {
		return nil, "", storage.ObjectInfo{}, nil, false, err
	}
	if !wantFile {
		info, old, fresh, err = s.cachedInfo(bucket, key, lc)
		if err != nil || fresh {
			return nil, "", info, nil, fresh, err
		}
	}
	f, err = openRead(lc.path)
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) {
			err = storage.ErrNoSuchKey
		}
		return nil, "", storage.ObjectInfo{}, nil, false, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = storage.ErrNoSuchKey
	}
	if err == nil && wantFile {
		lc.fi = fi
		info, old, fresh, err = s.cachedInfo(bucket, key, lc)
	}
	if err != nil {
		f.Close()
		return nil, "", storage.ObjectInfo{}, nil, false, err
	}
	if fresh && !wantFile {
		f.Close()
		f = nil
	}
	return f, lc.path, info, old, fresh, nil
}

// describe returns the info of a (non-folder) object, hashing its data
// outside the lock if its sidecar is missing or stale.
func (s *Store) describe(ctx context.Context, bucket, key string) (storage.ObjectInfo, error) {
	f, p, info, old, fresh, err := s.openObject(bucket, key, false)
	if err != nil || fresh {
		return info, err
	}
	defer f.Close()
	return s.hashInfo(ctx, bucket, key, p, f, old)
}

// markerInfo describes the folder object key (ending in "/"). Callers hold the
// bucket lock.
func (s *Store) markerInfo(bucket, key string) (storage.ObjectInfo, error) {
	switch err := s.checkDirs(bucket, key); {
	case errors.Is(err, errMissing):
		return storage.ObjectInfo{}, storage.ErrNoSuchKey
	case errors.Is(err, errSymlink):
		return storage.ObjectInfo{}, fmt.Errorf("%w (%w)", storage.ErrNoSuchKey, err)
	case err != nil:
		return storage.ObjectInfo{}, err
	}
	sc, err := readSidecar(s.sidecarPath(bucket, key))
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	if sc == nil {
		return storage.ObjectInfo{}, storage.ErrNoSuchKey
	}
	return sc.info(bucket, key, 0, time.Unix(0, sc.MTime)), nil
}

// Head describes an object.
func (s *Store) Head(ctx context.Context, bucket, key string) (storage.ObjectInfo, error) {
	info, err := s.head(ctx, bucket, key)
	if err != nil {
		return storage.ObjectInfo{}, opErr("head", bucket, key, s.noSuchKey(bucket, key, err))
	}
	return info, nil
}

func (s *Store) head(ctx context.Context, bucket, key string) (storage.ObjectInfo, error) {
	if err := s.checkKey(bucket, key); err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.ObjectInfo{}, err
	}
	if isMarker(key) {
		l := s.lock(bucket)
		l.RLock()
		defer l.RUnlock()
		return s.markerInfo(bucket, key)
	}
	return s.describe(ctx, bucket, key)
}

// Get opens an object, or the requested range of it. The returned ObjectInfo
// describes the whole object (Size is the object's size, not the range's).
func (s *Store) Get(ctx context.Context, bucket, key string, rng *storage.Range) (io.ReadCloser, storage.ObjectInfo, error) {
	rc, info, err := s.get(ctx, bucket, key, rng)
	if err != nil {
		return nil, storage.ObjectInfo{}, opErr("get", bucket, key, s.noSuchKey(bucket, key, err))
	}
	return rc, info, nil
}

func (s *Store) get(ctx context.Context, bucket, key string, rng *storage.Range) (io.ReadCloser, storage.ObjectInfo, error) {
	if err := s.checkKey(bucket, key); err != nil {
		return nil, storage.ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, storage.ObjectInfo{}, err
	}
	if isMarker(key) {
		info, err := s.head(ctx, bucket, key)
		if err != nil {
			return nil, storage.ObjectInfo{}, err
		}
		if _, _, err := applyRange(rng, 0); err != nil {
			return nil, storage.ObjectInfo{}, err
		}
		return io.NopCloser(strings.NewReader("")), info, nil
	}
	f, info, err := s.open(ctx, bucket, key)
	if err != nil {
		return nil, storage.ObjectInfo{}, err
	}
	off, n, err := applyRange(rng, info.Size)
	if err == nil && off > 0 {
		_, err = f.Seek(off, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, storage.ObjectInfo{}, err
	}
	return &fileReader{f: f, lr: io.LimitedReader{R: f, N: n}}, info, nil
}

// open opens a (non-folder) object and describes it. The open file keeps the
// version it opened even if the object is replaced; a missing or stale ETag is
// computed from it, without holding the bucket lock.
func (s *Store) open(ctx context.Context, bucket, key string) (*os.File, storage.ObjectInfo, error) {
	f, p, info, old, fresh, err := s.openObject(bucket, key, true)
	if err != nil {
		return nil, storage.ObjectInfo{}, err
	}
	if !fresh {
		if info, err = s.hashInfo(ctx, bucket, key, p, f, old); err != nil {
			f.Close()
			return nil, storage.ObjectInfo{}, err
		}
	}
	return f, info, nil
}

// applyRange returns the offset and length selected by rng in an object of
// size bytes. A range starting at or past the end, or of zero length, is
// invalid; one running past the end is cut at the end (as HTTP does).
func applyRange(rng *storage.Range, size int64) (off, n int64, err error) {
	if rng == nil {
		return 0, size, nil
	}
	if rng.Offset < 0 {
		if size == 0 {
			return 0, 0, fmt.Errorf("%w: suffix of %d bytes of an empty object", storage.ErrInvalidRange, -rng.Offset)
		}
		n = min(-rng.Offset, size)
		return size - n, n, nil
	}
	if rng.Offset >= size {
		return 0, 0, fmt.Errorf("%w: offset %d is not below the size %d", storage.ErrInvalidRange, rng.Offset, size)
	}
	if rng.Length == 0 {
		return 0, 0, fmt.Errorf("%w: zero length (use a negative length for \"to the end\")", storage.ErrInvalidRange)
	}
	n = size - rng.Offset
	if rng.Length > 0 && rng.Length < n {
		n = rng.Length
	}
	return rng.Offset, n, nil
}

// Put stores an object atomically. The body is streamed into a temp file next
// to the lake, hashed on the way, synced, and renamed into place.
func (s *Store) Put(ctx context.Context, bucket, key string, r io.Reader, opts storage.PutOptions) (storage.ObjectInfo, error) {
	info, err := s.put(ctx, bucket, key, r, opts, opts.ETag)
	if err != nil {
		return storage.ObjectInfo{}, opErr("put", bucket, key, err)
	}
	return info, nil
}

// put stores r under key. knownETag, when set, is r's MD5 (a copy), which
// skips hashing and lets the kernel copy file to file.
func (s *Store) put(ctx context.Context, bucket, key string, r io.Reader, opts storage.PutOptions, knownETag string) (storage.ObjectInfo, error) {
	if err := s.checkKey(bucket, key); err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.ObjectInfo{}, err
	}
	if isMarker(key) {
		return s.putMarker(ctx, bucket, key, r, opts)
	}
	tmp, err := os.CreateTemp(s.tempDir(), "put-*")
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	tmpName := tmp.Name()
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			_ = os.Remove(tmpName)
		}
	}()

	var h hash.Hash
	if knownETag == "" || opts.ContentMD5 != nil {
		h = md5.New()
		_, err = hashcopy.Copy(ctx, tmp, 0, r, h, hashcopy.Options{Size: sizeHint(r), WriteBack: !s.noSync})
	} else {
		_, err = io.Copy(tmp, r)
		if err == nil {
			err = ctx.Err()
		}
	}
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	etag := knownETag
	if h != nil {
		sum := h.Sum(nil)
		if opts.ContentMD5 != nil && !bytes.Equal(sum, opts.ContentMD5) {
			return storage.ObjectInfo{}, fmt.Errorf("%w: got %x, want %x", storage.ErrBadDigest, sum, opts.ContentMD5)
		}
		etag = hex.EncodeToString(sum)
	}
	if !s.noSync {
		if err := tmp.Sync(); err != nil {
			return storage.ObjectInfo{}, err
		}
	}
	fi, err := tmp.Stat()
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := tmp.Close(); err != nil {
		return storage.ObjectInfo{}, err
	}
	sc := &sidecar{
		Key:         key,
		stamp:       stampOf(fi),
		ETag:        etag,
		ContentType: opts.ContentType,
		Metadata:    maps.Clone(opts.Metadata),
		Checksum:    opts.Checksum,
		Headers:     maps.Clone(opts.Headers),
		Tags:        maps.Clone(opts.Tags),
		PartSizes:   slices.Clone(opts.PartSizes),
	}
	if opts.ChecksumFrom != nil {
		sc.Checksum = opts.ChecksumFrom()
	}
	if sc.ContentType == "" {
		sc.ContentType = guessContentType(key)
	}
	err = s.commit(ctx, bucket, key, tmpName, sc, opts)
	committed = err == nil || !fileExists(tmpName)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	return sc.info(bucket, key, fi.Size(), fi.ModTime()), nil
}

// sizeHint returns the size of in-memory readers, else -1.
func sizeHint(r io.Reader) int64 {
	if l, ok := r.(interface{ Len() int }); ok {
		return int64(l.Len())
	}
	return -1
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// Import moves a local file into the store as an object: it is hashed,
// synced and renamed into place, so the object appears whole or not at all.
// The file must be on the same filesystem as the store (a staging folder
// inside it, such as a job's _staging/ prefix).
func (s *Store) Import(ctx context.Context, bucket, key, path string, opts storage.PutOptions) (storage.ObjectInfo, error) {
	info, err := s.importFile(ctx, bucket, key, path, opts)
	if err != nil {
		return storage.ObjectInfo{}, opErr("import", bucket, key, err)
	}
	return info, nil
}

func (s *Store) importFile(ctx context.Context, bucket, key, path string, opts storage.PutOptions) (storage.ObjectInfo, error) {
	if err := s.checkKey(bucket, key); err != nil {
		return storage.ObjectInfo{}, err
	}
	if isMarker(key) {
		return storage.ObjectInfo{}, fmt.Errorf("%w: cannot import a file as folder object %q", storage.ErrInvalidKey, key)
	}
	f, err := os.Open(path)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	if !fi.Mode().IsRegular() {
		return storage.ObjectInfo{}, fmt.Errorf("cannot import %s: not a regular file", path)
	}
	etag := opts.ETag // a completed multipart upload's ETag: no hashing
	if etag == "" {
		h := md5.New()
		bp := bufPool.Get().(*[]byte)
		_, err = io.CopyBuffer(h, ctxReader{ctx, f}, *bp)
		bufPool.Put(bp)
		if err != nil {
			return storage.ObjectInfo{}, err
		}
		etag = hex.EncodeToString(h.Sum(nil))
	}
	if !s.noSync {
		if err := f.Sync(); err != nil {
			return storage.ObjectInfo{}, err
		}
	}
	sc := &sidecar{
		Key:         key,
		stamp:       stampOf(fi),
		ETag:        etag,
		ContentType: opts.ContentType,
		Metadata:    maps.Clone(opts.Metadata),
		Checksum:    opts.Checksum,
		Headers:     maps.Clone(opts.Headers),
		Tags:        maps.Clone(opts.Tags),
		PartSizes:   slices.Clone(opts.PartSizes),
	}
	if sc.ContentType == "" {
		sc.ContentType = guessContentType(key)
	}
	// The staging folder is the writer's: the file leaving it need not be
	// synced away from it.
	if err := s.commit(ctx, bucket, key, path, sc, opts); err != nil {
		return storage.ObjectInfo{}, err
	}
	return sc.info(bucket, key, fi.Size(), fi.ModTime()), nil
}

// StagingDir creates and returns the folder of prefix (a key ending in "/")
// for a writer's staging files.
func (s *Store) StagingDir(ctx context.Context, bucket, prefix string) (string, error) {
	if !isMarker(prefix) {
		return "", opErr("stage", bucket, prefix, fmt.Errorf("%w: a staging prefix must end in \"/\"", storage.ErrInvalidKey))
	}
	if err := s.checkKey(bucket, prefix); err != nil {
		return "", opErr("stage", bucket, prefix, err)
	}
	l := s.lock(bucket)
	l.Lock()
	defer l.Unlock()
	if err := s.checkBucket(bucket); err != nil {
		return "", opErr("stage", bucket, prefix, err)
	}
	if err := s.ensureDirs(ctx, bucket, prefix); err != nil {
		return "", opErr("stage", bucket, prefix, err)
	}
	return s.objPath(bucket, prefix), nil
}

// commit renames a put's data file dataTmp (synced, described by sc) into
// place under the bucket lock, then writes its sidecar with the stamp the
// data has after the rename (a rename changes the ctime). The sidecar is
// written under the lock but synced after it, with the folders of both.
func (s *Store) commit(ctx context.Context, bucket, key, dataTmp string, sc *sidecar, pre storage.PutOptions) error {
	scTmp, err := os.CreateTemp(s.tempDir(), "meta-*")
	if err != nil {
		return err
	}
	defer func() {
		if scTmp != nil {
			scTmp.Close()
			_ = os.Remove(scTmp.Name())
		}
	}()
	dest, replaced, err := s.commitLocked(ctx, bucket, key, dataTmp, sc, scTmp, pre)
	if err != nil {
		return err
	}
	f := scTmp
	scTmp = nil // renamed into place
	// A sidecar that only caches what the data file says (its MD5, the
	// content type guessed from the key) is rebuilt from the file if a
	// crash loses it, as for files dropped in by hand, so it need not be
	// durable: that saves two of a small put's four fsyncs (the sidecar
	// and its folder), which profiles showed as the largest cost of 4 KiB
	// PUTs. It must be durable if it says more, or if it replaced another
	// sidecar whose content type or metadata could come back in a crash.
	durable := replaced || !sc.derivable()
	if !s.noSync && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	dirs := []string{filepath.Dir(dest)}
	if durable {
		dirs = append(dirs, filepath.Dir(s.sidecarPath(bucket, key)))
	}
	// A folder that is gone was pruned by a delete of this key meanwhile.
	for _, d := range dirs {
		if err := s.syncDir(d); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// It reports whether the sidecar replaced an earlier one.
func (s *Store) commitLocked(ctx context.Context, bucket, key, dataTmp string, sc *sidecar, scTmp *os.File, pre storage.PutOptions) (dest string, replaced bool, err error) {
	l := s.lock(bucket)
	l.Lock()
	defer l.Unlock()
	if err := s.checkBucket(bucket); err != nil { // deleted meanwhile
		return "", false, err
	}
	if err := s.checkPreconditions(ctx, bucket, key, pre); err != nil {
		return "", false, err
	}
	state, err := s.versioningState(bucket)
	if err != nil {
		return "", false, err
	}
	dest, overflow, err := s.destFor(ctx, bucket, key)
	if err != nil {
		return "", false, err
	}
	var garbage []string
	if state != storage.VersioningUnversioned {
		// The object replaced becomes a noncurrent version (a hard link, so
		// the plain path never lacks an object), recorded before the rename.
		if sc.VersionID, garbage, err = s.keepCurrent(ctx, bucket, key, state); err != nil {
			return "", false, err
		}
	}
	if err := s.renameInto(dataTmp, dest); err != nil {
		return "", false, err
	}
	for _, g := range garbage {
		_ = os.Remove(g)
	}
	if !overflow {
		// A stale overflow copy (its folder was removed by hand).
		_ = os.Remove(s.overflowPath(bucket, key))
	}
	// If the file is not the one described (replaced by hand already), the
	// sidecar keeps the old stamp and so is stale.
	if fi, err := os.Lstat(dest); err == nil && stampOf(fi).sameData(sc.stamp) {
		sc.stamp = stampOf(fi)
	}
	b, err := json.Marshal(sc)
	if err != nil {
		return "", false, err
	}
	if _, err := scTmp.Write(b); err != nil {
		return "", false, err
	}
	scPath := s.sidecarPath(bucket, key)
	_, serr := os.Lstat(scPath)
	replaced = serr == nil
	if err := s.renameInto(scTmp.Name(), scPath); err != nil {
		return "", false, err
	}
	return dest, replaced, nil
}

// destFor creates the folders of a (non-folder) key and returns the path its
// data goes to: the plain path, or its overflow path if the plain path is a
// folder that holds keys or is a folder object. Callers hold the bucket lock
// exclusively.
func (s *Store) destFor(ctx context.Context, bucket, key string) (dest string, overflow bool, err error) {
	if err := s.ensureDirs(ctx, bucket, parentDirKey(key)); err != nil {
		return "", false, err
	}
	dest = s.objPath(bucket, key)
	if fi, err := os.Lstat(dest); err == nil && fi.IsDir() {
		// The key's path is a folder: keys below it exist (or it is a folder
		// object). An empty folder that is no object is just removed.
		if s.markerExists(bucket, key+"/") || os.Remove(dest) != nil {
			return s.overflowPath(bucket, key), true, nil
		}
	}
	return dest, false, nil
}

func (s *Store) markerExists(bucket, key string) bool {
	_, err := os.Lstat(s.sidecarPath(bucket, key))
	return err == nil
}

// ensureDirs creates the folders of dirKey ("" or ending in "/") below the
// bucket. A file in the way is an object whose name is now also a folder: it
// moves to overflow. Links are refused. The parent of each folder created is
// synced, so the folders are durable when this returns (the last one's own
// entries are the caller's). Callers hold the bucket lock exclusively: a
// folder that exists was made durable by whoever created it.
func (s *Store) ensureDirs(ctx context.Context, bucket, dirKey string) (err error) {
	p := s.bucketPath(bucket)
	var changed []string // folders whose entries changed
	defer func() {
		for _, d := range changed {
			if serr := s.syncDir(d); err == nil {
				err = serr
			}
		}
	}()
	for i := 0; i < len(dirKey); {
		j := strings.IndexByte(dirKey[i:], '/')
		seg := dirKey[:i+j] // the folder's key, without "/"
		parent := p
		p += string(filepath.Separator) + dirKey[i:i+j]
		i += j + 1
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, iofs.ErrNotExist):
			if err := os.Mkdir(p, 0o755); err != nil {
				return err
			}
			changed = append(changed, parent)
		case err != nil:
			return err
		case fi.Mode()&iofs.ModeSymlink != 0:
			return fmt.Errorf("%q is a symbolic link, which tarn does not follow", seg)
		case fi.IsDir():
		case fi.Mode().IsRegular():
			if err := s.moveToOverflow(ctx, bucket, seg, p, fi); err != nil {
				return err
			}
			if err := os.Mkdir(p, 0o755); err != nil {
				return err
			}
			changed = append(changed, parent)
		default:
			return fmt.Errorf("%q is neither a file nor a folder", seg)
		}
	}
	return nil
}

// moveToOverflow moves the data file of key (at p) to overflow. Callers hold
// the bucket lock exclusively.
func (s *Store) moveToOverflow(ctx context.Context, bucket, key, p string, fi iofs.FileInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := s.overflowPath(bucket, key)
	if err := s.moveData(bucket, key, p, op, fi); err != nil {
		return fmt.Errorf("cannot move %q to overflow: %w", key, err)
	}
	return s.syncDir(filepath.Dir(op))
}

// moveData renames the data file of key (with info fi) from p to dest and
// keeps a fresh sidecar fresh (a rename changes the ctime). A missing or
// stale one stays so: the file is hashed when next described, not under the
// exclusive lock. Callers hold the bucket lock exclusively and sync dest's
// folder.
func (s *Store) moveData(bucket, key, p, dest string, fi iofs.FileInfo) error {
	scPath := s.sidecarPath(bucket, key)
	sc, err := readSidecar(scPath)
	if err != nil {
		return err
	}
	// Not renameInto: on failure the data must stay where it is.
	err = os.Rename(p, dest)
	if errors.Is(err, iofs.ErrNotExist) {
		if err = s.mkdirAll(filepath.Dir(dest)); err == nil {
			err = os.Rename(p, dest)
		}
	}
	if err != nil {
		return err
	}
	if !sc.fresh(stampOf(fi)) {
		return nil
	}
	nfi, err := os.Lstat(dest)
	if err != nil || !stampOf(nfi).sameData(sc.stamp) {
		return nil
	}
	sc.stamp = stampOf(nfi)
	b, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	// Unsynced: if lost, the object is hashed again and keeps its metadata.
	return s.writeAtomic(scPath, b, false)
}

// putMarker stores the folder object key (ending in "/"), which must be empty.
func (s *Store) putMarker(ctx context.Context, bucket, key string, r io.Reader, opts storage.PutOptions) (storage.ObjectInfo, error) {
	n, err := io.CopyN(io.Discard, ctxReader{ctx, r}, 1)
	if err != nil && !errors.Is(err, io.EOF) {
		return storage.ObjectInfo{}, err
	}
	if n > 0 {
		return storage.ObjectInfo{}, fmt.Errorf("%w: a folder object (key ending in \"/\") must be empty", storage.ErrInvalidKey)
	}
	if opts.ContentMD5 != nil && hex.EncodeToString(opts.ContentMD5) != emptyETag {
		return storage.ObjectInfo{}, fmt.Errorf("%w: got %s, want %x", storage.ErrBadDigest, emptyETag, opts.ContentMD5)
	}
	now := time.Now()
	sc := &sidecar{
		Key:         key,
		stamp:       stamp{MTime: now.UnixNano()},
		ETag:        emptyETag,
		ContentType: opts.ContentType,
		Metadata:    maps.Clone(opts.Metadata),
		Checksum:    opts.Checksum,
		Headers:     maps.Clone(opts.Headers),
		Tags:        maps.Clone(opts.Tags),
		PartSizes:   slices.Clone(opts.PartSizes),
	}
	if sc.ContentType == "" {
		sc.ContentType = "application/octet-stream"
	}
	if opts.ChecksumFrom != nil {
		sc.Checksum = opts.ChecksumFrom() // the body was read to its end
	}

	l := s.lock(bucket)
	l.Lock()
	defer l.Unlock()
	if err := s.checkBucket(bucket); err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := s.checkPreconditions(ctx, bucket, key, opts); err != nil {
		return storage.ObjectInfo{}, err
	}
	state, err := s.versioningState(bucket)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	if state != storage.VersioningUnversioned {
		if sc.VersionID, _, err = s.keepCurrent(ctx, bucket, key, state); err != nil {
			return storage.ObjectInfo{}, err
		}
	}
	b, err := json.Marshal(sc)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := s.ensureDirs(ctx, bucket, key); err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := s.writeAtomic(s.sidecarPath(bucket, key), b, true); err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := s.syncDir(filepath.Dir(s.sidecarPath(bucket, key))); err != nil {
		return storage.ObjectInfo{}, err
	}
	return sc.info(bucket, key, 0, now), nil
}

// Delete removes an object; a missing key is not an error. Folders left empty
// are removed up to the bucket, except folder objects.
func (s *Store) Delete(ctx context.Context, bucket, key string) error {
	if err := s.delete(ctx, bucket, key); err != nil {
		return opErr("delete", bucket, key, err)
	}
	return nil
}

func (s *Store) delete(ctx context.Context, bucket, key string) error {
	if err := s.checkKey(bucket, key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	l := s.lock(bucket)
	l.Lock()
	defer l.Unlock()
	state, err := s.versioningState(bucket)
	if err != nil {
		return err
	}
	if state != storage.VersioningUnversioned {
		_, err := s.deleteVersioned(ctx, bucket, key, state)
		return err
	}
	return s.removeCurrent(bucket, key)
}

// removeCurrent removes the current object of key (data and sidecar), if
// any, and prunes the folders it leaves empty. Callers hold the bucket lock
// exclusively.
func (s *Store) removeCurrent(bucket, key string) error {
	scPath := s.sidecarPath(bucket, key)
	if isMarker(key) {
		switch err := os.Remove(scPath); {
		case err == nil:
			if err := s.syncDir(filepath.Dir(scPath)); err != nil {
				return err
			}
		case !errors.Is(err, iofs.ErrNotExist):
			return err
		}
		if s.checkDirs(bucket, key) == nil {
			return s.syncDir(s.pruneDirs(bucket, key))
		}
		return nil
	}
	lc, err := s.resolve(bucket, key)
	if errors.Is(err, storage.ErrNoSuchKey) {
		_ = os.Remove(scPath) // a stale sidecar, if any
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.Remove(lc.path); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return err
	}
	if err := os.Remove(scPath); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return err
	}
	// Synced under the lock, so that no later put or delete can return
	// before this removal is durable. A stale sidecar left by a crash is
	// harmless; the data file coming back is not.
	changed := filepath.Dir(lc.path)
	if !lc.overflow {
		changed = s.pruneDirs(bucket, parentDirKey(key))
	}
	return s.syncDir(changed)
}

// pruneDirs removes the empty folders dirKey ("" or ending in "/") and its
// parents, stopping at the bucket, at a folder object or at a non-empty
// folder. When a folder goes, an object of the same name kept in overflow
// moves back to its plain path. Callers hold the bucket lock exclusively and
// have checked that dirKey's folders are real folders. It returns the
// deepest folder left whose entries changed, for the caller to sync.
func (s *Store) pruneDirs(bucket, dirKey string) string {
	for dirKey != "" {
		p := s.objPath(bucket, dirKey)
		if s.markerExists(bucket, dirKey) || os.Remove(p) != nil {
			return p // a folder object, or not empty
		}
		name := strings.TrimSuffix(dirKey, "/")
		op := s.overflowPath(bucket, name)
		if fi, err := os.Lstat(op); err == nil && fi.Mode().IsRegular() {
			_ = s.moveData(bucket, name, op, p, fi)
			return filepath.Dir(p)
		}
		dirKey = parentDirKey(name)
	}
	return s.bucketPath(bucket)
}

// Copy copies an object with its content type and metadata. The copy is
// atomic like a put; copying an object onto itself is allowed.
func (s *Store) Copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) (storage.ObjectInfo, error) {
	info, err := s.copy(ctx, srcBucket, srcKey, dstBucket, dstKey)
	if err != nil {
		return storage.ObjectInfo{}, fmt.Errorf("cannot copy s3://%s/%s to s3://%s/%s: %w", srcBucket, srcKey, dstBucket, dstKey, err)
	}
	return info, nil
}

func (s *Store) copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) (storage.ObjectInfo, error) {
	if err := s.checkKey(srcBucket, srcKey); err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := s.checkKey(dstBucket, dstKey); err != nil {
		return storage.ObjectInfo{}, err
	}
	if isMarker(srcKey) {
		info, err := s.head(ctx, srcBucket, srcKey)
		if err != nil {
			return storage.ObjectInfo{}, err
		}
		opts := storage.PutOptions{ContentType: info.ContentType, Metadata: info.Metadata, Checksum: info.Checksum, Headers: info.Headers, Tags: info.Tags, PartSizes: info.PartSizes}
		return s.put(ctx, dstBucket, dstKey, strings.NewReader(""), opts, emptyETag)
	}
	f, info, err := s.open(ctx, srcBucket, srcKey)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	defer f.Close()
	opts := storage.PutOptions{ContentType: info.ContentType, Metadata: info.Metadata, Checksum: info.Checksum, Headers: info.Headers, Tags: info.Tags, PartSizes: info.PartSizes}
	// A LimitedReader over the file lets the kernel copy (copy_file_range).
	return s.put(ctx, dstBucket, dstKey, &io.LimitedReader{R: f, N: info.Size}, opts, info.ETag)
}

// LocalPath returns the file holding an object's data, to be read in place:
// <Root>/<bucket>/<key>, or the overflow file. For a key ending in "/" it
// returns the folder of that prefix if it exists (objects kept in overflow
// are not in it).
func (s *Store) LocalPath(bucket, key string) (string, error) {
	p, err := s.localPath(bucket, key)
	if err != nil {
		return "", opErr("locate", bucket, key, err)
	}
	return p, nil
}

func (s *Store) localPath(bucket, key string) (string, error) {
	if err := s.checkKey(bucket, key); err != nil {
		return "", err
	}
	l := s.lock(bucket)
	l.RLock()
	defer l.RUnlock()
	if isMarker(key) {
		switch err := s.checkDirs(bucket, key); {
		case errors.Is(err, errMissing):
			return "", storage.ErrNoSuchKey
		case errors.Is(err, errSymlink):
			return "", fmt.Errorf("%w (%w)", storage.ErrNoSuchKey, err)
		case err != nil:
			return "", err
		}
		return s.objPath(bucket, key), nil
	}
	lc, err := s.resolve(bucket, key)
	if err != nil {
		return "", err
	}
	return lc.path, nil
}

// checkPreconditions applies a put's IfMatch and IfNoneMatch to the
// current object of key. Callers hold the bucket lock exclusively, so the
// answer holds until their commit.
func (s *Store) checkPreconditions(ctx context.Context, bucket, key string, pre storage.PutOptions) error {
	if pre.IfMatch == "" && !pre.IfNoneMatch {
		return nil
	}
	_, info, ok, err := s.current(ctx, bucket, key)
	switch {
	case err != nil:
		return err
	case pre.IfNoneMatch && ok:
		return fmt.Errorf("%w: the key has an object", storage.ErrPreconditionFailed)
	case pre.IfMatch != "" && !ok:
		return fmt.Errorf("%w: If-Match of a key without an object", storage.ErrNoSuchKey)
	case pre.IfMatch != "" && pre.IfMatch != info.ETag:
		return fmt.Errorf("%w: the object's ETag is %s, not %s", storage.ErrPreconditionFailed, info.ETag, pre.IfMatch)
	}
	return nil
}
