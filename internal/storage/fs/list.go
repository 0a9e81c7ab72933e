package fs

import (
	"context"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tarn-lake/tarn/internal/storage"
)

const (
	defaultMaxKeys = 1000
	// readDirBatch is how many entries hasObject reads at a time: it stops at
	// the first object, so big folders are not read whole.
	readDirBatch = 64
)

// List lists objects like ListObjectsV2. It walks only the folder the prefix
// points into, visits each folder's entries in byte order of the keys they
// hold, and with a delimiter proves a common prefix by finding one object in
// it rather than walking it all.
func (s *Store) List(ctx context.Context, bucket string, opts storage.ListOptions) (storage.ListResult, error) {
	res, err := s.listLocked(ctx, bucket, opts)
	if err != nil {
		return storage.ListResult{}, opErr("list", bucket, opts.Prefix, err)
	}
	return res, nil
}

func (s *Store) listLocked(ctx context.Context, bucket string, opts storage.ListOptions) (storage.ListResult, error) {
	if err := s.checkOpen(); err != nil {
		return storage.ListResult{}, err
	}
	if err := s.checkBucket(bucket); err != nil {
		return storage.ListResult{}, err
	}
	l := s.lock(bucket)
	l.RLock()
	res, pending, err := s.listPage(ctx, bucket, opts)
	l.RUnlock()
	if err != nil || len(pending) == 0 {
		return res, err
	}
	// Objects without a fresh sidecar are hashed without the lock, so a big
	// file dropped by hand does not hold up puts.
	keep := make([]bool, len(res.Objects))
	for i := range keep {
		keep[i] = true
	}
	for _, i := range pending {
		info, err := s.describe(ctx, bucket, res.Objects[i].Key)
		switch {
		case errors.Is(err, storage.ErrNoSuchKey), errors.Is(err, iofs.ErrNotExist):
			keep[i] = false // deleted meanwhile
		case err != nil:
			return storage.ListResult{}, err
		default:
			res.Objects[i] = info
		}
	}
	objs := res.Objects[:0]
	for i, o := range res.Objects {
		if keep[i] {
			objs = append(objs, o)
		}
	}
	res.Objects = objs
	return res, nil
}

// listPage is List without locking or hashing; callers hold the bucket lock.
// Objects without a fresh sidecar are returned with only a key, and their
// indexes in pending.
func (s *Store) listPage(ctx context.Context, bucket string, opts storage.ListOptions) (res storage.ListResult, pending []int, err error) {
	l := &lister{
		ctx:    ctx,
		s:      s,
		bucket: bucket,
		prefix: opts.Prefix,
		delim:  opts.Delimiter,
		max:    opts.MaxKeys,
	}
	// The continuation token is the last key or prefix of the page
	// before, read as StartAfter (storage.ListOptions).
	l.after, l.afterIsPrefix = opts.ResumeAfter()
	if l.max <= 0 || l.max > defaultMaxKeys {
		l.max = defaultMaxKeys
	}
	// Every key with the prefix lies in the folder the prefix ends in.
	if !storage.PrefixOfKeys(l.prefix) {
		return storage.ListResult{}, nil, nil // no stored key can have this prefix
	}
	start := l.prefix[:strings.LastIndexByte(l.prefix, '/')+1]
	switch err := s.checkDirs(bucket, start); {
	case errors.Is(err, errMissing), errors.Is(err, errSymlink):
		return storage.ListResult{}, nil, nil
	case err != nil:
		return storage.ListResult{}, nil, err
	}
	l.hasOverflow = dirNonEmpty(s.internal("overflow", bucket))
	l.hasMarkers = dirNonEmpty(s.internal("markers", bucket))
	l.walkDir(start)
	if l.err != nil {
		return storage.ListResult{}, nil, l.err
	}
	return l.res, l.pending, nil
}

func dirNonEmpty(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) > 0
}

// lister is one page of a listing in progress.
type lister struct {
	ctx    context.Context
	s      *Store
	bucket string
	prefix string
	delim  string
	// Keys up to after are skipped, and so are all keys under it if
	// afterIsPrefix (resuming after a common prefix).
	after         string
	afterIsPrefix bool
	max           int
	// Whether the bucket has overflow objects and folder objects at all; if
	// not, folders need not be checked for them.
	hasOverflow, hasMarkers bool

	res     storage.ListResult
	pending []int // indexes in res.Objects of objects to hash
	n       int
	lastCP  string // last common prefix returned
	last    string // last key or prefix returned: the continuation token
	done    bool
	err     error
}

// entryKind orders a folder's entries: files and overflow objects sort by
// name, folders by name+"/" (so "a-c" < "a/b", as '-' < '/').
type entryKind uint8

const (
	kindFile entryKind = iota
	kindOverflow
	kindDir
)

type entry struct {
	sortKey string
	kind    entryKind
	de      iofs.DirEntry
	fi      iofs.FileInfo // overflow file
}

func (l *lister) fail(err error) {
	if l.err == nil {
		l.err = err
	}
	l.done = true
}

// afterStart reports whether key k comes after the listing's start position.
func (l *lister) afterStart(k string) bool {
	if l.afterIsPrefix && strings.HasPrefix(k, l.after) {
		return false
	}
	return k > l.after
}

// wantKey reports whether key k may be returned (before rolling up).
func (l *lister) wantKey(k string) bool {
	return len(k) <= storage.MaxKeyLength && strings.HasPrefix(k, l.prefix) && l.afterStart(k) &&
		(l.lastCP == "" || !strings.HasPrefix(k, l.lastCP))
}

// wantDir reports whether folder d (ending in "/") may hold keys to return.
// All keys under d have d as prefix and are greater than d.
func (l *lister) wantDir(d string) bool {
	if len(d) > storage.MaxKeyLength {
		return false
	}
	if !strings.HasPrefix(d, l.prefix) && !strings.HasPrefix(l.prefix, d) {
		return false
	}
	if l.afterIsPrefix && strings.HasPrefix(d, l.after) {
		return false
	}
	if l.after > d && !strings.HasPrefix(l.after, d) {
		return false // every key under d sorts before after
	}
	return l.lastCP == "" || !strings.HasPrefix(d, l.lastCP)
}

// validName reports whether a file name can be a key segment.
func validName(name string) bool {
	return utf8.ValidString(name) && (filepath.Separator == '/' || !strings.ContainsRune(name, filepath.Separator))
}

func (l *lister) dirPath(dirKey string) string {
	return filepath.Join(l.s.bucketPath(l.bucket), filepath.FromSlash(dirKey))
}

// walkDir returns the keys under folder dirKey ("" or ending in "/") in byte
// order: its folder object first, then its entries.
func (l *lister) walkDir(dirKey string) {
	if l.done {
		return
	}
	if err := l.ctx.Err(); err != nil {
		l.fail(err)
		return
	}
	if dirKey != "" && l.hasMarkers && l.wantKey(dirKey) && l.s.markerExists(l.bucket, dirKey) {
		l.emitKey(dirKey, entry{kind: kindDir})
		if l.done {
			return
		}
	}
	f, err := os.Open(l.dirPath(dirKey))
	if err != nil {
		if !errors.Is(err, iofs.ErrNotExist) {
			l.fail(err)
		}
		return
	}
	des, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		l.fail(err)
		return
	}
	ents := make([]entry, 0, len(des))
	for _, de := range des {
		name := de.Name()
		if !validName(name) {
			continue
		}
		switch t := de.Type(); {
		case t.IsRegular():
			if l.wantKey(dirKey + name) {
				ents = append(ents, entry{sortKey: name, kind: kindFile, de: de})
			}
		case t.IsDir():
			d := dirKey + name + "/"
			if l.wantDir(d) {
				ents = append(ents, entry{sortKey: name + "/", kind: kindDir, de: de})
			}
			if l.hasOverflow && l.wantKey(d[:len(d)-1]) {
				if fi, err := os.Lstat(l.s.overflowPath(l.bucket, d[:len(d)-1])); err == nil && fi.Mode().IsRegular() {
					ents = append(ents, entry{sortKey: name, kind: kindOverflow, fi: fi})
				}
			}
		default:
			// Links and special files are not objects.
		}
	}
	slices.SortFunc(ents, func(a, b entry) int { return strings.Compare(a.sortKey, b.sortKey) })
	for _, e := range ents {
		if l.done {
			return
		}
		if e.kind != kindDir {
			if k := dirKey + e.sortKey; l.wantKey(k) {
				l.emitKey(k, e)
			}
			continue
		}
		d := dirKey + e.sortKey
		if !l.wantDir(d) {
			continue
		}
		// With a delimiter, all keys under d may roll up into one common
		// prefix: then one object proves it.
		if l.delim != "" && strings.HasPrefix(d, l.prefix) && !strings.HasPrefix(l.after, d) {
			if i := strings.Index(d[len(l.prefix):], l.delim); i >= 0 {
				cp := d[:len(l.prefix)+i+len(l.delim)]
				if ok := l.hasObject(d); ok && !l.done {
					l.emitPrefix(cp)
				}
				continue
			}
		}
		l.walkDir(d)
	}
}

// hasObject reports whether folder d (ending in "/") holds an object.
func (l *lister) hasObject(d string) bool {
	if err := l.ctx.Err(); err != nil {
		l.fail(err)
		return false
	}
	if l.hasMarkers && l.s.markerExists(l.bucket, d) {
		return true
	}
	f, err := os.Open(l.dirPath(d))
	if err != nil {
		if !errors.Is(err, iofs.ErrNotExist) {
			l.fail(err)
		}
		return false
	}
	defer f.Close()
	for {
		des, err := f.ReadDir(readDirBatch)
		for _, de := range des {
			name := de.Name()
			if !validName(name) || len(d)+len(name) > storage.MaxKeyLength {
				continue
			}
			switch t := de.Type(); {
			case t.IsRegular():
				return true
			case t.IsDir():
				if l.hasOverflow {
					if fi, err := os.Lstat(l.s.overflowPath(l.bucket, d+name)); err == nil && fi.Mode().IsRegular() {
						return true
					}
				}
				// Depth first: in a partitioned table the first folder
				// usually holds a file.
				if l.hasObject(d + name + "/") {
					return true
				}
				if l.done {
					return false
				}
			}
		}
		if err == io.EOF {
			return false
		}
		if err != nil {
			l.fail(err)
			return false
		}
	}
}

// emitKey returns key k (wanted, in order) as an object or rolls it up into a
// common prefix.
func (l *lister) emitKey(k string, e entry) {
	if l.delim != "" {
		if i := strings.Index(k[len(l.prefix):], l.delim); i >= 0 {
			l.emitPrefix(k[:len(l.prefix)+i+len(l.delim)])
			return
		}
	}
	if l.n == l.max {
		l.truncate()
		return
	}
	info, ok, fresh := l.objectInfo(k, e)
	if !ok {
		return
	}
	if !fresh {
		l.pending = append(l.pending, len(l.res.Objects))
	}
	l.res.Objects = append(l.res.Objects, info)
	l.n++
	l.last = k
}

func (l *lister) emitPrefix(cp string) {
	if cp == l.lastCP {
		return
	}
	if l.n == l.max {
		l.truncate()
		return
	}
	l.res.CommonPrefixes = append(l.res.CommonPrefixes, cp)
	l.n++
	l.lastCP = cp
	l.last = cp
}

func (l *lister) truncate() {
	l.res.IsTruncated = true
	l.res.NextContinuationToken = l.last
	l.done = true
}

// objectInfo describes a listed object; ok is false if it vanished meanwhile
// (changed by hand), fresh is false if it has no fresh sidecar and info holds
// only its key.
func (l *lister) objectInfo(k string, e entry) (info storage.ObjectInfo, ok, fresh bool) {
	var lc loc
	switch e.kind {
	case kindDir: // folder object
		info, err := l.s.markerInfo(l.bucket, k)
		if err != nil {
			if !errors.Is(err, storage.ErrNoSuchKey) {
				l.fail(err)
			}
			return storage.ObjectInfo{}, false, false
		}
		return info, true, true
	case kindOverflow:
		lc = loc{path: l.s.overflowPath(l.bucket, k), fi: e.fi, overflow: true}
	default:
		fi, err := e.de.Info()
		if err != nil || !fi.Mode().IsRegular() {
			return storage.ObjectInfo{}, false, false
		}
		lc = loc{path: l.dirPath(k), fi: fi}
	}
	info, _, fresh, err := l.s.cachedInfo(l.bucket, k, lc)
	if err != nil {
		l.fail(err)
		return storage.ObjectInfo{}, false, false
	}
	if !fresh {
		info = storage.ObjectInfo{Bucket: l.bucket, Key: k}
	}
	return info, true, fresh
}
