// Package fs is tarn's default object store: buckets are folders and objects
// are plain files, so other engines (DuckDB, Spark) read the lake in place.
//
// On-disk layout under Config.Root:
//
//	<bucket>/<key>                              object data, a plain file
//	<bucket>/<key>/                             folder object ("raw/"): a folder plus a marker sidecar
//	.tarn/tmp/run-<n>/                          temp files of puts in flight of one open Store (same
//	                                            filesystem, renamed into place); see tmpdir
//	.tarn/buckets/<bucket>.json                 bucket creation time
//	.tarn/meta/<bucket>/<h[:2]>/<h>.json        sidecar of object <key>, h = hex sha256(key)
//	.tarn/markers/<bucket>/<h>.json             sidecar of folder object <key>/ (presence makes it an object)
//	.tarn/overflow/<bucket>/<h>                 data of object <key> whose path is a folder (see below)
//	.tarn/versioning/<bucket>                   the bucket's versioning state, if it was ever set
//	.tarn/versions/<bucket>/<h>/index.json      noncurrent versions and delete markers of <key>
//	.tarn/versions/<bucket>/<h>/<version-id>    data of a noncurrent version
//
// A sidecar holds the ETag (hex MD5), content type and user metadata of an
// object, plus the stamp of the data file it describes: size, modification
// time and, where the platform has them, inode number and change time (ctime).
// A file dropped in or changed by hand has no sidecar or a stale one; its MD5 is
// computed when it is first listed or read, and cached. The inode and ctime
// catch rewrites that keep the size and restore the mtime (cp -p, rsync -t,
// tar x). Like git's "racy clean" entries, a hash of a file changed within the
// filesystem's timestamp resolution of the hash is not cached: a second write in
// the same tick would leave the stamp unchanged. Puts are exempt: their data is
// a private temp file until the rename and their sidecar records the stamp
// after it. (Residual gap: a hand rewrite of the same size in the same
// timestamp tick as a put's rename is not noticed.)
//
// S3 allows both "a" and "a/b" as keys; a filesystem does not. When "a/b" is put
// while "a" is a file, "a" moves to .tarn/overflow and "a" becomes a folder;
// when the folder empties and is removed, "a" moves back. Overflow objects are
// listed, read and deleted like the others; LocalPath returns their overflow
// path.
//
// Folder objects (keys ending in "/") must be empty: a put with a body fails
// with storage.ErrInvalidKey.
//
// The store never follows symbolic links inside a bucket: they are skipped by
// List, are not objects for Get/Head/Delete, and a put through one fails.
// Buckets are folders named by S3's rules; anything else in Root (.tarn, links,
// files) is not a bucket.
//
// Concurrency: operations on one bucket share a per-bucket read/write lock.
// Bodies are streamed into temp files without holding it; only the final
// renames (and overflow moves) take it exclusively. Reads hold it shared while
// they resolve a key, so they never see a half-finished put or move. Hashing a
// hand-dropped file for its ETag happens without the lock: the file is opened
// under it, hashed, and the sidecar is cached under the shared lock only if
// the path still holds the file with the stamp that was hashed.
//
// Durability (unless NoSync): data files and sidecars are synced before their
// rename, and the folders whose entries a put or delete changed are synced
// before it returns: the folder of the object, and the parent of every folder
// it created (up to the first one that existed).
//
// Versioning (versions.go): the current version of an object is always the
// plain file above, so versioned buckets are read in place like the others;
// only noncurrent versions and delete markers live under .tarn/versions.
//
// Limits: on a case-insensitive filesystem keys that differ only in case
// collide. An object kept in overflow whose folder was removed by hand is
// still readable but no longer listed until it is put or deleted again.
package fs

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"mime"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/internal/tmpdir"
)

// Config configures the filesystem object store.
type Config struct {
	// Root is the folder holding the buckets, e.g. <lakehome>/objects. It is
	// created if missing.
	Root string
	// NoSync skips fsync of data files, sidecars and folders. Puts are still
	// atomic, but a machine crash may lose recent ones. For tests and scratch lakes.
	NoSync bool
}

// DefaultConfig returns the configuration for a store under root.
func DefaultConfig(root string) Config { return Config{Root: root} }

// ErrClosed is returned by a Store's methods after Close.
var ErrClosed = errors.New("object store is closed")

// internalDir holds the backend's own files; bucket names cannot start with '.'.
const internalDir = ".tarn"

// emptyETag is the MD5 of no bytes, the ETag of folder objects.
const emptyETag = "d41d8cd98f00b204e9800998ecf8427e"

// Store is the filesystem object store. It is safe for concurrent use.
type Store struct {
	root   string // absolute
	noSync bool
	closed atomic.Bool
	// tmp holds the temp files of this Store's writes in flight. Opening
	// a Store removes the temp folders of Stores that are gone (a killed
	// process), never those of Stores still open.
	tmp *tmpdir.Dir

	mu    sync.Mutex
	locks map[string]*sync.RWMutex
}

var (
	_ storage.ObjectStore   = (*Store)(nil)
	_ storage.LocalPather   = (*Store)(nil)
	_ storage.Importer      = (*Store)(nil)
	_ storage.Stager        = (*Store)(nil)
	_ storage.Versioned     = (*Store)(nil)
	_ storage.Tagger        = (*Store)(nil)
	_ storage.BucketConfigs = (*Store)(nil)
)

// New opens (creating if needed) the store under cfg.Root.
func New(cfg Config) (*Store, error) {
	if cfg.Root == "" {
		return nil, errors.New("cannot open object store: Root is empty")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("cannot open object store %q: %w", cfg.Root, err)
	}
	s := &Store{root: root, noSync: cfg.NoSync, locks: map[string]*sync.RWMutex{}}
	for _, d := range []string{"tmp", "buckets", "meta", "markers", "overflow"} {
		if err := s.mkdirAll(s.internal(d)); err != nil {
			return nil, fmt.Errorf("cannot open object store %q: %w", cfg.Root, err)
		}
	}
	if s.tmp, err = tmpdir.Open(s.internal("tmp")); err != nil {
		return nil, fmt.Errorf("cannot open object store %q: %w", cfg.Root, err)
	}
	return s, nil
}

// Close releases the store. It is idempotent.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.tmp.Close()
}

// tempDir is the folder for this Store's temp files.
func (s *Store) tempDir() string { return s.tmp.Path() }

// --- paths -------------------------------------------------------------------

func (s *Store) internal(elem ...string) string {
	return filepath.Join(append([]string{s.root, internalDir}, elem...)...)
}

func (s *Store) bucketPath(bucket string) string { return filepath.Join(s.root, bucket) }

// objPath is the plain path of key (a folder for keys ending in "/").
func (s *Store) objPath(bucket, key string) string {
	return filepath.Join(s.root, bucket, filepath.FromSlash(strings.TrimSuffix(key, "/")))
}

func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func isMarker(key string) bool { return strings.HasSuffix(key, "/") }

func (s *Store) sidecarPath(bucket, key string) string {
	h := keyHash(key)
	if isMarker(key) {
		return s.internal("markers", bucket, h+".json")
	}
	return s.internal("meta", bucket, h[:2], h+".json")
}

func (s *Store) overflowPath(bucket, key string) string {
	return s.internal("overflow", bucket, keyHash(key))
}

// --- locks and checks --------------------------------------------------------

func (s *Store) lock(bucket string) *sync.RWMutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.locks[bucket]
	if !ok {
		l = &sync.RWMutex{}
		s.locks[bucket] = l
	}
	return l
}

func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// checkBucket validates the name and checks that the bucket folder exists (a
// real folder, not a link).
func (s *Store) checkBucket(bucket string) error {
	if err := storage.ValidateBucketName(bucket); err != nil {
		return err
	}
	fi, err := os.Lstat(s.bucketPath(bucket))
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) {
			return storage.ErrNoSuchBucket
		}
		return err
	}
	if !fi.IsDir() {
		return storage.ErrNoSuchBucket
	}
	return nil
}

// checkKey validates the bucket name, the key and the bucket's existence.
func (s *Store) checkKey(bucket, key string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := storage.ValidateBucketName(bucket); err != nil {
		return err
	}
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	if filepath.Separator != '/' && strings.ContainsRune(key, filepath.Separator) {
		// A backslash would separate folders here (Windows).
		return fmt.Errorf("%w %q: key contains %q, this system's path separator", storage.ErrInvalidKey, key, filepath.Separator)
	}
	return s.checkBucket(bucket)
}

var (
	errMissing = errors.New("missing")
	errSymlink = errors.New("path crosses a symbolic link, which tarn does not follow")
)

// checkDirs checks that every folder of dirKey ("" or ending in "/") is a real
// folder below the bucket: errMissing if one is missing or a file, errSymlink
// if one is a link.
func (s *Store) checkDirs(bucket, dirKey string) error {
	p := s.bucketPath(bucket)
	for dirKey != "" {
		i := strings.IndexByte(dirKey, '/')
		p += string(filepath.Separator) + dirKey[:i]
		dirKey = dirKey[i+1:]
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, iofs.ErrNotExist):
			return errMissing
		case err != nil:
			return err
		case fi.Mode()&iofs.ModeSymlink != 0:
			return errSymlink
		case !fi.IsDir():
			return errMissing
		}
	}
	return nil
}

// parentDirKey returns the folder part of key ("" or ending in "/").
func parentDirKey(key string) string {
	k := strings.TrimSuffix(key, "/")
	return k[:strings.LastIndexByte(k, '/')+1]
}

func opErr(verb, bucket, key string, err error) error {
	return fmt.Errorf("cannot %s s3://%s/%s: %w", verb, bucket, key, err)
}

// --- sidecars ----------------------------------------------------------------

// stamp identifies one version of a data file. Any write changes the change
// time and a replacement changes the inode, even when the size and mtime are
// kept or restored.
type stamp struct {
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime"`           // Unix ns
	Ino   uint64 `json:"ino,omitempty"`   // 0 where the platform has none
	CTime int64  `json:"ctime,omitempty"` // Unix ns; 0 where the platform has none
}

func stampOf(fi iofs.FileInfo) stamp {
	ino, ctime := fileID(fi)
	return stamp{Size: fi.Size(), MTime: fi.ModTime().UnixNano(), Ino: ino, CTime: ctime}
}

// sameData reports whether a and b are the same file with the same size and
// mtime, ignoring the ctime (which a rename changes).
func (a stamp) sameData(b stamp) bool {
	return a.Size == b.Size && a.MTime == b.MTime && a.Ino == b.Ino
}

// Racy windows: how far before the start of a hash a file's last change must
// lie for the hash to be cached. File timestamps come from a coarse clock (a
// kernel tick, at most 10ms on Linux) or, on some filesystems, whole seconds
// (FAT stores mtimes in 2s steps). A network filesystem whose server clock
// runs behind ours by more than the window is not covered.
const (
	racyWindow       = 100 * time.Millisecond
	racyWindowCoarse = 2 * time.Second
)

// racy reports whether a hash of the file with stamp st, started at start,
// may miss a later write: one in the same timestamp tick as the file's last
// change leaves the stamp as it was. Such hashes are not cached.
func racy(st stamp, start time.Time) bool {
	changed := st.CTime // the time of the last change, whatever the mtime says
	if changed == 0 {
		changed = st.MTime
	}
	window := racyWindow
	if changed%int64(time.Second) == 0 {
		window = racyWindowCoarse
	}
	return changed > start.Add(-window).UnixNano()
}

// sidecar is the stored description of an object.
type sidecar struct {
	Key string `json:"key"`
	// The stamp of the data file when the ETag was computed (or put); a
	// mismatch means the file changed by hand. Folder objects have only an
	// MTime, their put time.
	stamp
	ETag        string            `json:"etag"`
	ContentType string            `json:"content_type,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	// VersionID is the object's version id if it was written to a versioned
	// bucket (see versions.go).
	VersionID string `json:"version_id,omitempty"`
	// Checksum is the additional checksum the object was put with.
	Checksum storage.Checksum `json:"checksum,omitzero"`
	// Headers are the object's HTTP headers (see storage.ObjectInfo).
	Headers map[string]string `json:"headers,omitempty"`
	// Tags are the object's tags.
	Tags map[string]string `json:"tags,omitempty"`
	// PartSizes are the part sizes of a completed multipart upload.
	PartSizes []int64 `json:"part_sizes,omitempty"`
}

// derivable reports whether sc says nothing that cannot be computed again
// from its data file: the MD5 ETag of a single put, the content type
// guessed from the key, no metadata, no version, no checksum but the
// CRC64NVME a rebuilt sidecar gets (hashInfo).
func (sc *sidecar) derivable() bool {
	return sc.VersionID == "" && len(sc.Metadata) == 0 && sc.ContentType == guessContentType(sc.Key) &&
		(sc.Checksum == (storage.Checksum{}) || sc.Checksum.Algorithm == "CRC64NVME" && sc.Checksum.Type == "") &&
		len(sc.Headers) == 0 && len(sc.Tags) == 0 && len(sc.PartSizes) == 0 &&
		len(sc.ETag) == 32 && !strings.Contains(sc.ETag, "-")
}

// defaultChecksum is the checksum of an object that came without one:
// its CRC64NVME (sum), S3's default.
func defaultChecksum(sum []byte) storage.Checksum {
	return storage.Checksum{Algorithm: "CRC64NVME", Value: base64.StdEncoding.EncodeToString(sum)}
}

// fresh reports whether sc describes the data file with stamp st. A sidecar
// written before stamps had an inode and ctime is re-verified once.
func (sc *sidecar) fresh(st stamp) bool {
	return sc != nil && sc.stamp == st
}

func (sc *sidecar) info(bucket, key string, size int64, mtime time.Time) storage.ObjectInfo {
	return storage.ObjectInfo{
		Bucket:       bucket,
		Key:          key,
		Size:         size,
		ETag:         sc.ETag,
		LastModified: mtime.UTC(),
		ContentType:  sc.ContentType,
		Metadata:     sc.Metadata,
		VersionID:    sc.VersionID,
		Checksum:     sc.Checksum,
		Headers:      sc.Headers,
		Tags:         sc.Tags,
		PartSizes:    sc.PartSizes,
	}
}

// readSidecar returns nil (and no error) if the sidecar is missing or unreadable
// as JSON: the object is then described from its data file.
func readSidecar(p string) (*sidecar, error) {
	b, err := readSmallFile(p)
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) || errors.Is(err, iofs.ErrInvalid) || errors.Is(err, syscall.ELOOP) {
			return nil, nil // missing, or a link planted in its place
		}
		return nil, err
	}
	sc := new(sidecar)
	if json.Unmarshal(b, sc) != nil {
		return nil, nil
	}
	return sc, nil
}

// writeTemp writes data to a new temp file, synced unless noSync, and returns
// its name.
func (s *Store) writeTemp(pattern string, data []byte, sync bool) (string, error) {
	f, err := os.CreateTemp(s.tempDir(), pattern)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil && sync && !s.noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// writeAtomic replaces p with data through a temp file and a rename.
func (s *Store) writeAtomic(p string, data []byte, sync bool) error {
	tmp, err := s.writeTemp("meta-*", data, sync)
	if err != nil {
		return err
	}
	return s.renameInto(tmp, p)
}

// renameInto renames tmp to p, creating p's folder if needed (see mkdirAll).
// The caller syncs p's folder if it needs the rename to be durable.
func (s *Store) renameInto(tmp, p string) error {
	err := os.Rename(tmp, p)
	if errors.Is(err, iofs.ErrNotExist) {
		if err = s.mkdirAll(filepath.Dir(p)); err == nil {
			err = os.Rename(tmp, p)
		}
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// mkdirAll creates dir and its missing parents, and syncs the parent of each
// folder it created (unless NoSync), so that what is later put in them does
// not vanish with them in a crash. Internal folders only: links are followed.
func (s *Store) mkdirAll(dir string) error {
	var missing []string
	for p := dir; ; {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return &os.PathError{Op: "mkdir", Path: p, Err: syscall.ENOTDIR}
			}
			break
		}
		if !errors.Is(err, iofs.ErrNotExist) {
			return err
		}
		missing = append(missing, p)
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, iofs.ErrExist) {
			return err
		}
	}
	for _, p := range missing {
		if err := s.syncDir(filepath.Dir(p)); err != nil {
			return err
		}
	}
	return nil
}

// testHookSyncDir, if set, is called with each folder synced.
var testHookSyncDir func(dir string)

func (s *Store) syncDir(dir string) error {
	if s.noSync {
		return nil
	}
	if testHookSyncDir != nil {
		testHookSyncDir(dir)
	}
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, iofs.ErrInvalid) {
		return err
	}
	return nil
}

func guessContentType(key string) string {
	if t := mime.TypeByExtension(path.Ext(key)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// --- buckets -----------------------------------------------------------------

type bucketMeta struct {
	CreatedAt time.Time `json:"created_at"`
}

func (s *Store) bucketInfo(bucket string, fi iofs.FileInfo) storage.BucketInfo {
	bi := storage.BucketInfo{Name: bucket, CreatedAt: fi.ModTime().UTC()}
	if b, err := os.ReadFile(s.internal("buckets", bucket+".json")); err == nil {
		var m bucketMeta
		if json.Unmarshal(b, &m) == nil && !m.CreatedAt.IsZero() {
			bi.CreatedAt = m.CreatedAt.UTC()
		}
	}
	return bi
}

// CreateBucket creates the bucket's folder.
func (s *Store) CreateBucket(ctx context.Context, bucket string) error {
	err := s.createBucket(ctx, bucket)
	if err != nil {
		return fmt.Errorf("cannot create bucket %q: %w", bucket, err)
	}
	return nil
}

func (s *Store) createBucket(ctx context.Context, bucket string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := storage.ValidateBucketName(bucket); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	l := s.lock(bucket)
	l.Lock()
	defer l.Unlock()
	if _, err := os.Lstat(s.bucketPath(bucket)); err == nil {
		return storage.ErrBucketExists
	}
	// Leftovers of a bucket of the same name removed by hand.
	s.removeBucketInternals(bucket)
	if err := os.Mkdir(s.bucketPath(bucket), 0o755); err != nil {
		if errors.Is(err, iofs.ErrExist) {
			return storage.ErrBucketExists
		}
		return err
	}
	b, _ := json.Marshal(bucketMeta{CreatedAt: time.Now().UTC()})
	if err := s.writeAtomic(s.internal("buckets", bucket+".json"), b, true); err != nil {
		return err
	}
	return s.syncDir(s.root)
}

func (s *Store) removeBucketInternals(bucket string) {
	for _, d := range []string{"meta", "markers", "overflow", "versions", "versioning", "bucketconfig"} {
		_ = os.RemoveAll(s.internal(d, bucket))
	}
	_ = os.Remove(s.internal("buckets", bucket+".json"))
}

// DeleteBucket removes an empty bucket. Empty folders left in it are removed;
// a file that is not an object (a link, say) keeps it from being deleted.
func (s *Store) DeleteBucket(ctx context.Context, bucket string) error {
	if err := s.deleteBucket(ctx, bucket); err != nil {
		return fmt.Errorf("cannot delete bucket %q: %w", bucket, err)
	}
	return nil
}

func (s *Store) deleteBucket(ctx context.Context, bucket string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := storage.ValidateBucketName(bucket); err != nil {
		return err
	}
	l := s.lock(bucket)
	l.Lock()
	defer l.Unlock()
	if err := s.checkBucket(bucket); err != nil {
		return err
	}
	res, _, err := s.listPage(ctx, bucket, storage.ListOptions{MaxKeys: 1})
	if err != nil {
		return err
	}
	if len(res.Objects) > 0 || len(res.CommonPrefixes) > 0 {
		return storage.ErrBucketNotEmpty
	}
	// What counts is a version recorded in an index, not a file: what
	// a crash left in the versions folder is no version to keep.
	hist, err := s.readIndexesLocked(ctx, bucket, "")
	if err != nil {
		return err
	}
	if len(hist) > 0 {
		return fmt.Errorf("%w: it holds noncurrent versions or delete markers", storage.ErrBucketNotEmpty)
	}
	if err := removeEmptyTree(ctx, s.bucketPath(bucket)); err != nil {
		return err
	}
	s.removeBucketInternals(bucket)
	return nil
}

// removeEmptyTree removes dir and the empty folders below it; any other file
// makes it fail with ErrBucketNotEmpty.
func removeEmptyTree(ctx context.Context, dir string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.IsDir() {
			return fmt.Errorf("%w: %q is not an object tarn can list (a link or an invalid name)", storage.ErrBucketNotEmpty, filepath.Join(dir, e.Name()))
		}
		if err := removeEmptyTree(ctx, filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return os.Remove(dir)
}

// HeadBucket describes a bucket.
func (s *Store) HeadBucket(ctx context.Context, bucket string) (storage.BucketInfo, error) {
	if err := s.checkOpen(); err != nil {
		return storage.BucketInfo{}, fmt.Errorf("cannot head bucket %q: %w", bucket, err)
	}
	if err := s.checkBucket(bucket); err != nil {
		return storage.BucketInfo{}, fmt.Errorf("cannot head bucket %q: %w", bucket, err)
	}
	fi, err := os.Lstat(s.bucketPath(bucket))
	if err != nil {
		return storage.BucketInfo{}, fmt.Errorf("cannot head bucket %q: %w", bucket, err)
	}
	return s.bucketInfo(bucket, fi), nil
}

// ListBuckets lists the buckets in name order.
func (s *Store) ListBuckets(ctx context.Context) ([]storage.BucketInfo, error) {
	if err := s.checkOpen(); err != nil {
		return nil, fmt.Errorf("cannot list buckets: %w", err)
	}
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("cannot list buckets: %w", err)
	}
	var out []storage.BucketInfo
	for _, e := range ents {
		if !e.IsDir() || storage.ValidateBucketName(e.Name()) != nil {
			continue // .tarn, links, files
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, s.bucketInfo(e.Name(), fi))
	}
	slices.SortFunc(out, func(a, b storage.BucketInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// --- I/O helpers -------------------------------------------------------------

var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// ctxReader fails reads once ctx is done, so long copies stop on cancel.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// fileReader reads a byte range of an open file. WriteTo hands the file to the
// destination's ReadFrom, so a network connection can use sendfile.
type fileReader struct {
	f  *os.File
	lr io.LimitedReader
}

func (r *fileReader) Read(p []byte) (int, error)         { return r.lr.Read(p) }
func (r *fileReader) WriteTo(w io.Writer) (int64, error) { return io.Copy(w, &r.lr) }
func (r *fileReader) Close() error                       { return r.f.Close() }

func openRead(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_RDONLY|oNoFollow, 0)
}
