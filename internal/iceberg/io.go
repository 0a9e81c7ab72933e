package iceberg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	iceio "github.com/apache/iceberg-go/io"

	"github.com/tarn-lake/tarn/internal/storage"
)

// IO is iceberg-go's file IO over tarn's object store, for full URIs
// s3://bucket/key (s3a:// and s3n:// are accepted as Spark writes them; any
// other scheme is refused with storage.ErrInvalidURI). It implements
// io.IO, io.ReadFileIO, io.WriteFileIO, io.ListableIO, io.BulkRemovableIO
// and io.StatIO.
//
// iceberg-go's IO interface carries no context, so an IO carries the one
// it was bound to with WithContext (as iceberg-go's own blob IO does): every
// store call made through it, including reads of files it opened, uses that
// context. The Catalog binds a fresh IO to each call's context. An IO is safe
// for concurrent use; files and writers it returns are not, and the caller
// closes them.
type IO struct {
	store storage.ObjectStore
	ctx   context.Context
	// rootBucket and rootKey, when rootBucket is set, confine the IO to
	// the objects below rootKey+"/" (see Within).
	rootBucket, rootKey string
}

// Interfaces IO implements (checked at compile time).
var (
	_ iceio.IO              = (*IO)(nil)
	_ iceio.ReadFileIO      = (*IO)(nil)
	_ iceio.WriteFileIO     = (*IO)(nil)
	_ iceio.ListableIO      = (*IO)(nil)
	_ iceio.BulkRemovableIO = (*IO)(nil)
	_ iceio.StatIO          = (*IO)(nil)
)

// NewIO returns an IO over store, not yet bound to a context (see
// WithContext; an unbound IO's calls cannot be cancelled). The store is not
// owned: closing it is the caller's business.
func NewIO(store storage.ObjectStore) *IO { return &IO{store: store} }

// WithContext returns a copy of the IO whose store calls use ctx.
func (f *IO) WithContext(ctx context.Context) *IO {
	g := *f
	g.ctx = ctx
	return &g
}

// ErrOutsideLocation: a file named to an IO confined to a table's location
// (Within) is not below it.
var ErrOutsideLocation = errors.New("outside the table's location")

// Within returns a copy of the IO confined to the objects below location
// (an s3:// URI with a key): every file it opens, writes, lists or removes
// must be below it, else the call fails with an error wrapping
// fs.ErrPermission and ErrOutsideLocation. A table's metadata can name any
// file (another engine wrote it); confining its IO keeps a table from
// reading or deleting another table's objects.
func (f *IO) Within(location string) (*IO, error) {
	bucket, key, err := ParseLocation(strings.TrimRight(location, "/"))
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, fmt.Errorf("%w %q: a table location needs a key below its bucket", storage.ErrInvalidURI, location)
	}
	g := *f
	g.rootBucket, g.rootKey = bucket, key
	return &g, nil
}

// allowed reports whether bucket/key is inside the IO's confinement (or key
// is the root itself, when root is true).
func (f *IO) allowed(bucket, key string, root bool) bool {
	if f.rootBucket == "" {
		return true
	}
	if bucket != f.rootBucket {
		return false
	}
	return strings.HasPrefix(key, f.rootKey+"/") || root && key == f.rootKey
}

func (f *IO) context() context.Context {
	if f.ctx != nil {
		return f.ctx
	}
	// iceberg-go's IO has no context argument; an IO nobody bound to a
	// call's context runs its calls to completion.
	return context.Background()
}

// ParseLocation splits an s3://bucket/key URI (or s3a://, s3n://) into bucket
// and key, validating both. A bucket alone (no key) is accepted with key "".
// Other schemes fail with an error wrapping storage.ErrInvalidURI.
func ParseLocation(uri string) (bucket, key string, err error) {
	if scheme, _, ok := strings.Cut(uri, "://"); ok {
		switch scheme {
		case "s3", "s3a", "s3n":
		default:
			return "", "", fmt.Errorf("%w %q: scheme %q is not supported; tarn's Iceberg tables live in its object store (s3://bucket/key)",
				storage.ErrInvalidURI, uri, scheme)
		}
	}
	u, err := storage.ParseURI(uri)
	if err != nil {
		return "", "", err
	}
	return u.Bucket, u.Key, nil
}

// schemeOf returns the "s3://", "s3a://" or "s3n://" a URI starts with.
func schemeOf(uri string) string {
	if i := strings.Index(uri, "://"); i >= 0 {
		return uri[:i+3]
	}
	return "s3://"
}

// objectKey parses name as a file URI: a bucket and a non-empty key,
// inside the IO's confinement.
func (f *IO) objectKey(op, name string) (bucket, key string, err error) {
	bucket, key, err = ParseLocation(name)
	if err == nil && (key == "" || strings.HasSuffix(key, "/")) {
		err = fmt.Errorf("%w %q: a file needs a key that does not end in \"/\"", storage.ErrInvalidURI, name)
	}
	if err != nil {
		return "", "", &iofs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w (%w)", iofs.ErrInvalid, err)}
	}
	if !f.allowed(bucket, key, false) {
		return "", "", &iofs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: %w s3://%s/%s", iofs.ErrPermission, ErrOutsideLocation, f.rootBucket, f.rootKey)}
	}
	return bucket, key, nil
}

// pathError wraps a store error for IO callers: a missing object or bucket
// reads as fs.ErrNotExist (and still as the store's sentinel).
func pathError(op, name string, err error) error {
	if errors.Is(err, storage.ErrNoSuchKey) || errors.Is(err, storage.ErrNoSuchBucket) {
		err = fmt.Errorf("%w (%w)", iofs.ErrNotExist, err)
	}
	return &iofs.PathError{Op: op, Path: name, Err: err}
}

// Open opens a file for reading. The file reads with ranged Gets, or from
// the object's own local file when the store is local (storage.LocalPather).
// It supports Read, Seek, ReadAt and Stat; the caller closes it.
func (f *IO) Open(name string) (iceio.File, error) {
	bucket, key, err := f.objectKey("open", name)
	if err != nil {
		return nil, err
	}
	ctx := f.context()
	info, err := f.store.Head(ctx, bucket, key)
	if err != nil {
		return nil, pathError("open", name, err)
	}
	fi := fileInfo{name: path.Base(key), size: info.Size, mod: info.LastModified}
	if lp, ok := f.store.(storage.LocalPather); ok {
		p, err := lp.LocalPath(bucket, key)
		if err == nil {
			of, err := os.Open(p)
			if err == nil {
				return &localFile{File: of, info: fi}, nil
			}
			if !errors.Is(err, iofs.ErrNotExist) {
				return nil, &iofs.PathError{Op: "open", Path: name, Err: err}
			}
			// Removed since the Head: read through the store, which answers
			// for what is there now.
		} else if !errors.Is(err, errors.ErrUnsupported) {
			return nil, pathError("open", name, err)
		}
	}
	return &remoteFile{ctx: ctx, store: f.store, bucket: bucket, key: key, uri: name, info: fi}, nil
}

// ReadFile reads a whole file.
func (f *IO) ReadFile(name string) ([]byte, error) {
	bucket, key, err := f.objectKey("read", name)
	if err != nil {
		return nil, err
	}
	rc, _, err := f.store.Get(f.context(), bucket, key, nil)
	if err != nil {
		return nil, pathError("read", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, &iofs.PathError{Op: "read", Path: name, Err: err}
	}
	return b, nil
}

// Stat describes a file.
func (f *IO) Stat(name string) (iofs.FileInfo, error) {
	bucket, key, err := f.objectKey("stat", name)
	if err != nil {
		return nil, err
	}
	info, err := f.store.Head(f.context(), bucket, key)
	if err != nil {
		return nil, pathError("stat", name, err)
	}
	return fileInfo{name: path.Base(key), size: info.Size, mod: info.LastModified}, nil
}

// Remove deletes a file. Removing a missing file is not an error (S3).
func (f *IO) Remove(name string) error {
	bucket, key, err := f.objectKey("remove", name)
	if err != nil {
		return err
	}
	if err := f.store.Delete(f.context(), bucket, key); err != nil {
		return pathError("remove", name, err)
	}
	return nil
}

// DeleteFiles deletes every named file, going on after failures; it returns
// the paths deleted and the failures joined. Missing files count as deleted.
func (f *IO) DeleteFiles(ctx context.Context, paths []string) (deleted []string, err error) {
	var errs []error
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		bucket, key, err := f.objectKey("remove", p)
		if err == nil {
			if err = f.store.Delete(ctx, bucket, key); err != nil {
				err = pathError("remove", p, err)
			}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		deleted = append(deleted, p)
	}
	return deleted, errors.Join(errs...)
}

// WriteFile writes p as the file's content in one atomic Put.
func (f *IO) WriteFile(name string, p []byte) error {
	bucket, key, err := f.objectKey("write", name)
	if err != nil {
		return err
	}
	if _, err := f.store.Put(f.context(), bucket, key, bytes.NewReader(p), storage.PutOptions{}); err != nil {
		return pathError("write", name, err)
	}
	return nil
}

// writeNew stores p as a new file: it fails with an error wrapping
// fs.ErrExist (and storage.ErrPreconditionFailed) if the file exists.
// Metadata files are written so: a commit never replaces one.
func (f *IO) writeNew(name string, p []byte) error {
	bucket, key, err := f.objectKey("write", name)
	if err != nil {
		return err
	}
	_, err = f.store.Put(f.context(), bucket, key, bytes.NewReader(p), storage.PutOptions{IfNoneMatch: true, ContentType: "application/json"})
	if errors.Is(err, storage.ErrPreconditionFailed) {
		err = fmt.Errorf("%w (%w)", iofs.ErrExist, err)
	}
	if err != nil {
		return pathError("write", name, err)
	}
	return nil
}

// Create returns a writer for a file. The content is buffered in a local
// temporary file and stored with one atomic Put when the writer is closed:
// nobody sees part of it, and nothing is stored if Close is never called
// (or fails). The caller closes the writer.
func (f *IO) Create(name string) (iceio.FileWriter, error) {
	bucket, key, err := f.objectKey("create", name)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp("", "tarn-iceberg-*")
	if err != nil {
		return nil, &iofs.PathError{Op: "create", Path: name, Err: err}
	}
	return &fileWriter{ctx: f.context(), store: f.store, bucket: bucket, key: key, uri: name, tmp: tmp}, nil
}

// WalkDir walks the objects under root (a URI naming a prefix, or one file),
// calling fn for root, for every "folder" between root and an object and
// for every object, with full URIs in root's scheme. fs.SkipDir and
// fs.SkipAll are honoured. A root with no objects is reported to fn with an
// error wrapping fs.ErrNotExist.
func (f *IO) WalkDir(root string, fn iofs.WalkDirFunc) error {
	bucket, key, err := ParseLocation(strings.TrimRight(root, "/"))
	if err != nil {
		return fn(root, nil, &iofs.PathError{Op: "walk", Path: root, Err: fmt.Errorf("%w (%w)", iofs.ErrInvalid, err)})
	}
	if !f.allowed(bucket, key, true) {
		return fn(root, nil, &iofs.PathError{Op: "walk", Path: root, Err: fmt.Errorf("%w: %w s3://%s/%s", iofs.ErrPermission, ErrOutsideLocation, f.rootBucket, f.rootKey)})
	}
	ctx := f.context()
	base := schemeOf(root) + bucket
	uriOf := func(k string) string {
		if k == "" {
			return base
		}
		return base + "/" + k
	}
	rootURI := uriOf(key)
	prefix := key
	if prefix != "" {
		prefix += "/"
	}
	seenDirs := map[string]bool{}
	var skip string // a folder prefix being skipped
	rootDone := false
	for obj, err := range storage.Walk(ctx, f.store, bucket, prefix) {
		if err != nil {
			if !rootDone {
				return filterSkip(fn(rootURI, nil, pathError("walk", rootURI, err)))
			}
			return err
		}
		if strings.HasSuffix(obj.Key, "/") {
			continue // a folder object (S3 console's "create folder")
		}
		if !rootDone {
			rootDone = true
			if err := fn(rootURI, dirEntry{fileInfo{name: path.Base(key), dir: true}}, nil); err != nil {
				return filterSkip(err)
			}
		}
		if skip != "" && strings.HasPrefix(obj.Key, skip) {
			continue
		}
		skip = ""
		rel := strings.TrimPrefix(obj.Key, prefix)
		// Report the folders between root and the object once each.
		parts := strings.Split(rel, "/")
		dir := prefix
		skipped := false
		for _, p := range parts[:len(parts)-1] {
			dir += p + "/"
			if seenDirs[dir] {
				continue
			}
			seenDirs[dir] = true
			err := fn(uriOf(strings.TrimSuffix(dir, "/")), dirEntry{fileInfo{name: p, dir: true}}, nil)
			if errors.Is(err, iofs.SkipDir) {
				skip, skipped = dir, true
				break
			}
			if err != nil {
				return filterSkip(err)
			}
		}
		if skipped {
			continue
		}
		err := fn(uriOf(obj.Key), dirEntry{fileInfo{name: path.Base(obj.Key), size: obj.Size, mod: obj.LastModified}}, nil)
		if errors.Is(err, iofs.SkipDir) {
			// SkipDir on a file skips the rest of its folder.
			skip = obj.Key[:strings.LastIndex(obj.Key, "/")+1]
			if skip == prefix {
				return nil
			}
			continue
		}
		if err != nil {
			return filterSkip(err)
		}
	}
	if rootDone {
		return nil
	}
	// No object below root: root may be a file itself.
	if key != "" {
		info, err := f.store.Head(ctx, bucket, key)
		if err == nil {
			return filterSkip(fn(rootURI, dirEntry{fileInfo{name: path.Base(key), size: info.Size, mod: info.LastModified}}, nil))
		}
		return filterSkip(fn(rootURI, nil, pathError("walk", rootURI, err)))
	}
	return filterSkip(fn(rootURI, nil, pathError("walk", rootURI, storage.ErrNoSuchKey)))
}

func filterSkip(err error) error {
	if errors.Is(err, iofs.SkipDir) || errors.Is(err, iofs.SkipAll) {
		return nil
	}
	return err
}

// fileInfo describes an object (or a folder, when dir) as fs.FileInfo.
type fileInfo struct {
	name string
	size int64
	mod  time.Time
	dir  bool
}

func (fi fileInfo) Name() string       { return fi.name }
func (fi fileInfo) Size() int64        { return fi.size }
func (fi fileInfo) ModTime() time.Time { return fi.mod }
func (fi fileInfo) IsDir() bool        { return fi.dir }
func (fi fileInfo) Sys() any           { return nil }
func (fi fileInfo) Mode() iofs.FileMode {
	if fi.dir {
		return iofs.ModeDir | 0o755
	}
	return 0o644
}

type dirEntry struct{ fi fileInfo }

func (d dirEntry) Name() string                 { return d.fi.name }
func (d dirEntry) IsDir() bool                  { return d.fi.dir }
func (d dirEntry) Type() iofs.FileMode          { return d.fi.Mode().Type() }
func (d dirEntry) Info() (iofs.FileInfo, error) { return d.fi, nil }

// localFile is an object read from its own local file; Stat reports the
// object's name, size and time.
type localFile struct {
	*os.File
	info fileInfo
}

func (l *localFile) Stat() (iofs.FileInfo, error) { return l.info, nil }

// remoteFile reads an object with Gets: Read streams from the current
// offset, ReadAt fetches the range asked for. ReadAt may be called
// concurrently with itself; Read and Seek may not.
type remoteFile struct {
	ctx         context.Context
	store       storage.ObjectStore
	bucket, key string
	uri         string
	info        fileInfo

	pos    int64
	body   io.ReadCloser // open stream at pos, or nil
	closed bool
}

func (r *remoteFile) Stat() (iofs.FileInfo, error) { return r.info, nil }

func (r *remoteFile) Read(p []byte) (int, error) {
	if r.closed {
		return 0, iofs.ErrClosed
	}
	if r.pos >= r.info.size {
		return 0, io.EOF
	}
	if r.body == nil {
		rc, _, err := r.store.Get(r.ctx, r.bucket, r.key, &storage.Range{Offset: r.pos, Length: -1})
		if err != nil {
			return 0, pathError("read", r.uri, err)
		}
		r.body = rc
	}
	n, err := r.body.Read(p)
	r.pos += int64(n)
	if err == io.EOF && r.pos < r.info.size {
		err = &iofs.PathError{Op: "read", Path: r.uri, Err: io.ErrUnexpectedEOF}
	}
	return n, err
}

func (r *remoteFile) Seek(offset int64, whence int) (int64, error) {
	if r.closed {
		return 0, iofs.ErrClosed
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.info.size + offset
	default:
		return 0, &iofs.PathError{Op: "seek", Path: r.uri, Err: iofs.ErrInvalid}
	}
	if abs < 0 {
		return 0, &iofs.PathError{Op: "seek", Path: r.uri, Err: iofs.ErrInvalid}
	}
	if abs != r.pos && r.body != nil {
		r.body.Close()
		r.body = nil
	}
	r.pos = abs
	return abs, nil
}

func (r *remoteFile) ReadAt(p []byte, off int64) (int, error) {
	if r.closed {
		return 0, iofs.ErrClosed
	}
	if off < 0 {
		return 0, &iofs.PathError{Op: "readat", Path: r.uri, Err: iofs.ErrInvalid}
	}
	if off >= r.info.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), r.info.size-off)
	rc, _, err := r.store.Get(r.ctx, r.bucket, r.key, &storage.Range{Offset: off, Length: want})
	if err != nil {
		return 0, pathError("readat", r.uri, err)
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p[:want])
	if err != nil {
		return n, &iofs.PathError{Op: "readat", Path: r.uri, Err: err}
	}
	if int64(n) < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

func (r *remoteFile) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.body != nil {
		return r.body.Close()
	}
	return nil
}

// fileWriter buffers a file in a temporary file and Puts it on Close.
type fileWriter struct {
	ctx         context.Context
	store       storage.ObjectStore
	bucket, key string
	uri         string

	mu     sync.Mutex
	tmp    *os.File
	err    error // first write error: Close then stores nothing
	closed bool
}

func (w *fileWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, &iofs.PathError{Op: "write", Path: w.uri, Err: iofs.ErrClosed}
	}
	n, err := w.tmp.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

func (w *fileWriter) ReadFrom(r io.Reader) (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, &iofs.PathError{Op: "write", Path: w.uri, Err: iofs.ErrClosed}
	}
	n, err := io.Copy(w.tmp, r)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// Close stores what was written with one Put and removes the temporary
// file. A second Close does nothing.
func (w *fileWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	defer func() {
		w.tmp.Close()
		os.Remove(w.tmp.Name())
	}()
	if w.err != nil {
		return &iofs.PathError{Op: "write", Path: w.uri, Err: w.err}
	}
	if _, err := w.tmp.Seek(0, io.SeekStart); err != nil {
		return &iofs.PathError{Op: "write", Path: w.uri, Err: err}
	}
	if _, err := w.store.Put(w.ctx, w.bucket, w.key, w.tmp, storage.PutOptions{}); err != nil {
		return pathError("write", w.uri, err)
	}
	return nil
}
