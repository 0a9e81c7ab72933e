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
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/storage"
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

// info describes the object at l, from its sidecar if that is fresh, else by
// hashing the data (through f if open) and caching a new sidecar. Callers hold
// the bucket lock (shared is enough: only identical sidecars race).
func (s *Store) info(bucket, key string, l loc, f *os.File) (storage.ObjectInfo, error) {
	scPath := s.sidecarPath(bucket, key)
	sc, err := readSidecar(scPath)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	if sc.fresh(l.fi) {
		return sc.info(bucket, key, l.fi.Size(), l.fi.ModTime()), nil
	}
	sc, err = s.hashFile(key, l.path, f)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	if b, err := json.Marshal(sc); err == nil {
		_ = s.writeAtomic(scPath, b, false) // a cache: recomputed if lost
	}
	return sc.info(bucket, key, sc.Size, time.Unix(0, sc.MTime)), nil
}

// hashFile builds a sidecar for a data file that has none (or a stale one).
func (s *Store) hashFile(key, p string, f *os.File) (*sidecar, error) {
	if f == nil {
		var err error
		if f, err = openRead(p); err != nil {
			return nil, err
		}
		defer f.Close()
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	h := md5.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, fi.Size())); err != nil {
		return nil, err
	}
	return &sidecar{
		Key:         key,
		Size:        fi.Size(),
		MTime:       fi.ModTime().UnixNano(),
		ETag:        hex.EncodeToString(h.Sum(nil)),
		ContentType: guessContentType(key),
	}, nil
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
		return storage.ObjectInfo{}, opErr("head", bucket, key, err)
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
	l := s.lock(bucket)
	l.RLock()
	defer l.RUnlock()
	if isMarker(key) {
		return s.markerInfo(bucket, key)
	}
	lc, err := s.resolve(bucket, key)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	return s.info(bucket, key, lc, nil)
}

// Get opens an object, or the requested range of it. The returned ObjectInfo
// describes the whole object (Size is the object's size, not the range's).
func (s *Store) Get(ctx context.Context, bucket, key string, rng *storage.Range) (io.ReadCloser, storage.ObjectInfo, error) {
	rc, info, err := s.get(ctx, bucket, key, rng)
	if err != nil {
		return nil, storage.ObjectInfo{}, opErr("get", bucket, key, err)
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
	f, info, err := s.open(bucket, key)
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

// open resolves and opens a (non-folder) object under the shared lock. The
// open file keeps the version it opened even if the object is replaced.
func (s *Store) open(bucket, key string) (*os.File, storage.ObjectInfo, error) {
	l := s.lock(bucket)
	l.RLock()
	defer l.RUnlock()
	lc, err := s.resolve(bucket, key)
	if err != nil {
		return nil, storage.ObjectInfo{}, err
	}
	f, err := openRead(lc.path)
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) {
			err = storage.ErrNoSuchKey
		}
		return nil, storage.ObjectInfo{}, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = storage.ErrNoSuchKey
	}
	if err != nil {
		f.Close()
		return nil, storage.ObjectInfo{}, err
	}
	lc.fi = fi
	info, err := s.info(bucket, key, lc, f)
	if err != nil {
		f.Close()
		return nil, storage.ObjectInfo{}, err
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
	info, err := s.put(ctx, bucket, key, r, opts, "")
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
	tmp, err := os.CreateTemp(s.internal("tmp"), "put-*")
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
		bp := bufPool.Get().(*[]byte)
		_, err = io.CopyBuffer(io.MultiWriter(tmp, h), ctxReader{ctx, r}, *bp)
		bufPool.Put(bp)
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
		Size:        fi.Size(),
		MTime:       fi.ModTime().UnixNano(),
		ETag:        etag,
		ContentType: opts.ContentType,
		Metadata:    maps.Clone(opts.Metadata),
	}
	if sc.ContentType == "" {
		sc.ContentType = guessContentType(key)
	}
	scb, err := json.Marshal(sc)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	scTmp, err := s.writeTemp("meta-*", scb, true)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	dest, err := s.commit(ctx, bucket, key, tmpName, scTmp)
	if err != nil {
		_ = os.Remove(scTmp)
		return storage.ObjectInfo{}, err
	}
	committed = true
	if err := s.syncDir(filepath.Dir(dest)); err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := s.syncDir(filepath.Dir(s.sidecarPath(bucket, key))); err != nil {
		return storage.ObjectInfo{}, err
	}
	return sc.info(bucket, key, fi.Size(), fi.ModTime()), nil
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
	h := md5.New()
	bp := bufPool.Get().(*[]byte)
	_, err = io.CopyBuffer(h, ctxReader{ctx, f}, *bp)
	bufPool.Put(bp)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	if !s.noSync {
		if err := f.Sync(); err != nil {
			return storage.ObjectInfo{}, err
		}
	}
	sc := &sidecar{
		Key:         key,
		Size:        fi.Size(),
		MTime:       fi.ModTime().UnixNano(),
		ETag:        hex.EncodeToString(h.Sum(nil)),
		ContentType: opts.ContentType,
		Metadata:    maps.Clone(opts.Metadata),
	}
	if sc.ContentType == "" {
		sc.ContentType = guessContentType(key)
	}
	scb, err := json.Marshal(sc)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	scTmp, err := s.writeTemp("meta-*", scb, true)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	dest, err := s.commit(ctx, bucket, key, path, scTmp)
	if err != nil {
		_ = os.Remove(scTmp)
		return storage.ObjectInfo{}, err
	}
	if err := s.syncDir(filepath.Dir(dest)); err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := s.syncDir(filepath.Dir(s.sidecarPath(bucket, key))); err != nil {
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

// commit renames a put's data and sidecar into place under the bucket lock and
// returns where the data went.
func (s *Store) commit(ctx context.Context, bucket, key, dataTmp, scTmp string) (string, error) {
	l := s.lock(bucket)
	l.Lock()
	defer l.Unlock()
	if err := s.checkBucket(bucket); err != nil { // deleted meanwhile
		return "", err
	}
	if err := s.ensureDirs(ctx, bucket, parentDirKey(key)); err != nil {
		return "", err
	}
	dest := s.objPath(bucket, key)
	overflow := false
	if fi, err := os.Lstat(dest); err == nil && fi.IsDir() {
		// The key's path is a folder: keys below it exist (or it is a folder
		// object). An empty folder that is no object is just removed.
		if s.markerExists(bucket, key+"/") || os.Remove(dest) != nil {
			overflow = true
			dest = s.overflowPath(bucket, key)
		}
	}
	if err := s.renameInto(dataTmp, dest); err != nil {
		return "", err
	}
	if !overflow {
		// A stale overflow copy (its folder was removed by hand).
		_ = os.Remove(s.overflowPath(bucket, key))
	}
	if err := s.renameInto(scTmp, s.sidecarPath(bucket, key)); err != nil {
		return "", err
	}
	return dest, nil
}

func (s *Store) markerExists(bucket, key string) bool {
	_, err := os.Lstat(s.sidecarPath(bucket, key))
	return err == nil
}

// ensureDirs creates the folders of dirKey ("" or ending in "/") below the
// bucket. A file in the way is an object whose name is now also a folder: it
// moves to overflow. Links are refused. Callers hold the bucket lock.
func (s *Store) ensureDirs(ctx context.Context, bucket, dirKey string) error {
	p := s.bucketPath(bucket)
	for i := 0; i < len(dirKey); {
		j := strings.IndexByte(dirKey[i:], '/')
		seg := dirKey[:i+j] // the folder's key, without "/"
		p += string(filepath.Separator) + dirKey[i:i+j]
		i += j + 1
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, iofs.ErrNotExist):
			if err := os.Mkdir(p, 0o755); err != nil {
				return err
			}
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
		default:
			return fmt.Errorf("%q is neither a file nor a folder", seg)
		}
	}
	return nil
}

// moveToOverflow moves the data file of key (at p) to overflow, making sure
// its sidecar exists first so the object keeps its ETag and key. Callers hold
// the bucket lock exclusively.
func (s *Store) moveToOverflow(ctx context.Context, bucket, key, p string, fi iofs.FileInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	scPath := s.sidecarPath(bucket, key)
	sc, err := readSidecar(scPath)
	if err != nil {
		return err
	}
	if !sc.fresh(fi) {
		if sc, err = s.hashFile(key, p, nil); err != nil {
			return err
		}
		b, _ := json.Marshal(sc)
		if err := s.writeAtomic(scPath, b, true); err != nil {
			return err
		}
	}
	op := s.overflowPath(bucket, key)
	if err := s.renameInto(p, op); err != nil {
		return fmt.Errorf("cannot move %q to overflow: %w", key, err)
	}
	return s.syncDir(filepath.Dir(op))
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
		MTime:       now.UnixNano(),
		ETag:        emptyETag,
		ContentType: opts.ContentType,
		Metadata:    maps.Clone(opts.Metadata),
	}
	if sc.ContentType == "" {
		sc.ContentType = "application/octet-stream"
	}
	b, err := json.Marshal(sc)
	if err != nil {
		return storage.ObjectInfo{}, err
	}

	l := s.lock(bucket)
	l.Lock()
	defer l.Unlock()
	if err := s.checkBucket(bucket); err != nil {
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
	scPath := s.sidecarPath(bucket, key)
	if isMarker(key) {
		if err := os.Remove(scPath); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return err
		}
		if s.checkDirs(bucket, key) == nil {
			s.pruneDirs(bucket, key)
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
	if !lc.overflow {
		s.pruneDirs(bucket, parentDirKey(key))
	}
	return nil
}

// pruneDirs removes the empty folders dirKey ("" or ending in "/") and its
// parents, stopping at the bucket, at a folder object or at a non-empty
// folder. When a folder goes, an object of the same name kept in overflow
// moves back to its plain path. Callers hold the bucket lock exclusively and
// have checked that dirKey's folders are real folders.
func (s *Store) pruneDirs(bucket, dirKey string) {
	for dirKey != "" {
		if s.markerExists(bucket, dirKey) {
			return
		}
		p := s.objPath(bucket, dirKey)
		if os.Remove(p) != nil {
			return // not empty
		}
		name := strings.TrimSuffix(dirKey, "/")
		op := s.overflowPath(bucket, name)
		if fi, err := os.Lstat(op); err == nil && fi.Mode().IsRegular() {
			if os.Rename(op, p) == nil {
				_ = s.syncDir(filepath.Dir(p))
			}
			return
		}
		dirKey = parentDirKey(name)
	}
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
		opts := storage.PutOptions{ContentType: info.ContentType, Metadata: info.Metadata}
		return s.put(ctx, dstBucket, dstKey, strings.NewReader(""), opts, emptyETag)
	}
	f, info, err := s.open(srcBucket, srcKey)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	defer f.Close()
	opts := storage.PutOptions{ContentType: info.ContentType, Metadata: info.Metadata}
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
