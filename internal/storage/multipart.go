package storage

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Multipart upload errors, as S3 names them.
var (
	ErrNoSuchUpload     = errors.New("no such upload")
	ErrInvalidPart      = errors.New("invalid part")
	ErrInvalidPartOrder = errors.New("parts are not in ascending order")
	ErrEntityTooSmall   = errors.New("part is smaller than the minimum allowed size")
)

// Multipart limits (S3's).
const (
	MaxParts        = 10000
	MinPartSize     = 5 << 20 // every part but the last
	MaxPartSize     = 5 << 30
	DefaultPartsDir = "uploads"
)

// PartInfo describes one uploaded part.
type PartInfo struct {
	PartNumber   int       `json:"part_number"`
	ETag         string    `json:"etag"`
	Size         int64     `json:"size"`
	LastModified time.Time `json:"last_modified"`
}

// UploadInfo describes one multipart upload in progress.
type UploadInfo struct {
	UploadID  string     `json:"upload_id"`
	Bucket    string     `json:"bucket"`
	Key       string     `json:"key"`
	Initiated time.Time  `json:"initiated"`
	Options   PutOptions `json:"options"`
}

// CompletedPart names a part in CompleteMultipartUpload.
type CompletedPart struct {
	PartNumber int
	ETag       string
}

// Uploads keeps multipart uploads in a local folder until they complete:
// parts are files, and completing concatenates them into one file that is
// moved into the store (Importer) or uploaded to it. It works over any
// ObjectStore and is safe for concurrent use.
type Uploads struct {
	dir   string
	store ObjectStore
	mu    sync.Mutex // serialises complete/abort of one upload against part writes
}

// NewUploads keeps uploads in dir (created), which should be on the same
// filesystem as a local store so completing is a rename.
func NewUploads(dir string, store ObjectStore) (*Uploads, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create uploads folder: %w", err)
	}
	return &Uploads{dir: dir, store: store}, nil
}

func (u *Uploads) path(id string, elem ...string) string {
	return filepath.Join(append([]string{u.dir, id}, elem...)...)
}

func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// Create starts an upload of bucket/key.
func (u *Uploads) Create(ctx context.Context, bucket, key string, opts PutOptions) (string, error) {
	if _, err := u.store.HeadBucket(ctx, bucket); err != nil {
		return "", err
	}
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	if err := os.MkdirAll(u.path(id), 0o755); err != nil {
		return "", err
	}
	info := UploadInfo{UploadID: id, Bucket: bucket, Key: key, Initiated: time.Now().UTC(), Options: opts}
	data, _ := json.Marshal(info)
	if err := os.WriteFile(u.path(id, "upload.json"), data, 0o644); err != nil {
		return "", err
	}
	return id, nil
}

// Get returns an upload, checking it belongs to bucket/key.
func (u *Uploads) Get(bucket, key, id string) (UploadInfo, error) {
	if !validUploadID(id) {
		return UploadInfo{}, fmt.Errorf("%w %q", ErrNoSuchUpload, id)
	}
	data, err := os.ReadFile(u.path(id, "upload.json"))
	if err != nil {
		return UploadInfo{}, fmt.Errorf("%w %q", ErrNoSuchUpload, id)
	}
	var info UploadInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return UploadInfo{}, err
	}
	if info.Bucket != bucket || info.Key != key {
		return UploadInfo{}, fmt.Errorf("%w %q for s3://%s/%s", ErrNoSuchUpload, id, bucket, key)
	}
	return info, nil
}

// PutPart stores one part (1..10000), replacing an earlier one with the
// same number, and returns its ETag (hex MD5).
func (u *Uploads) PutPart(ctx context.Context, bucket, key, id string, n int, r io.Reader, contentMD5 []byte) (PartInfo, error) {
	if _, err := u.Get(bucket, key, id); err != nil {
		return PartInfo{}, err
	}
	if n < 1 || n > MaxParts {
		return PartInfo{}, fmt.Errorf("%w: part number %d is not between 1 and %d", ErrInvalidPart, n, MaxParts)
	}
	tmp, err := os.CreateTemp(u.path(id), "part-*.tmp")
	if err != nil {
		return PartInfo{}, fmt.Errorf("%w %q", ErrNoSuchUpload, id)
	}
	defer os.Remove(tmp.Name())
	h := md5.New()
	size, err := io.Copy(io.MultiWriter(tmp, h), &ctxReader{ctx: ctx, r: io.LimitReader(r, MaxPartSize+1)})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return PartInfo{}, err
	}
	if size > MaxPartSize {
		return PartInfo{}, fmt.Errorf("%w: a part is at most %d bytes", ErrInvalidPart, int64(MaxPartSize))
	}
	sum := h.Sum(nil)
	if contentMD5 != nil && !bytes.Equal(sum, contentMD5) {
		return PartInfo{}, fmt.Errorf("%w: got %x, want %x", ErrBadDigest, sum, contentMD5)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, err := os.Stat(u.path(id, "upload.json")); err != nil {
		return PartInfo{}, fmt.Errorf("%w %q (completed or aborted meanwhile)", ErrNoSuchUpload, id)
	}
	etag := hex.EncodeToString(sum)
	// The part's ETag is in its name so listing parts needs no reads.
	for _, old := range u.partFiles(id, n) {
		os.Remove(old)
	}
	final := u.path(id, fmt.Sprintf("%05d.%s.part", n, etag))
	if err := os.Rename(tmp.Name(), final); err != nil {
		return PartInfo{}, err
	}
	return PartInfo{PartNumber: n, ETag: etag, Size: size, LastModified: time.Now().UTC()}, nil
}

func (u *Uploads) partFiles(id string, n int) []string {
	m, _ := filepath.Glob(u.path(id, fmt.Sprintf("%05d.*.part", n)))
	return m
}

// Parts lists an upload's parts in part-number order.
func (u *Uploads) Parts(bucket, key, id string) ([]PartInfo, error) {
	if _, err := u.Get(bucket, key, id); err != nil {
		return nil, err
	}
	files, _ := filepath.Glob(u.path(id, "*.part"))
	var out []PartInfo
	for _, f := range files {
		base := filepath.Base(f)
		fields := strings.Split(base, ".")
		if len(fields) != 3 {
			continue
		}
		n, err := strconv.Atoi(fields[0])
		if err != nil {
			continue
		}
		st, err := os.Stat(f)
		if err != nil {
			continue
		}
		out = append(out, PartInfo{PartNumber: n, ETag: fields[1], Size: st.Size(), LastModified: st.ModTime().UTC()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PartNumber < out[j].PartNumber })
	return out, nil
}

// List returns the uploads in progress in a bucket under a prefix, by key.
func (u *Uploads) List(bucket, prefix string) ([]UploadInfo, error) {
	entries, err := os.ReadDir(u.dir)
	if err != nil {
		return nil, err
	}
	var out []UploadInfo
	for _, e := range entries {
		data, err := os.ReadFile(u.path(e.Name(), "upload.json"))
		if err != nil {
			continue
		}
		var info UploadInfo
		if json.Unmarshal(data, &info) == nil && info.Bucket == bucket && strings.HasPrefix(info.Key, prefix) {
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		return out[i].Initiated.Before(out[j].Initiated)
	})
	return out, nil
}

// Abort discards an upload and its parts.
func (u *Uploads) Abort(bucket, key, id string) error {
	if _, err := u.Get(bucket, key, id); err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return os.RemoveAll(u.path(id))
}

// Complete assembles the named parts into the object, atomically: readers
// see the old object or the whole new one. Every part but the last must be
// at least 5 MiB. The ETag is S3's: the MD5 of the parts' MD5s, "-N".
func (u *Uploads) Complete(ctx context.Context, bucket, key, id string, parts []CompletedPart) (ObjectInfo, error) {
	info, err := u.Get(bucket, key, id)
	if err != nil {
		return ObjectInfo{}, err
	}
	if len(parts) == 0 {
		return ObjectInfo{}, fmt.Errorf("%w: no parts given", ErrInvalidPart)
	}
	have, err := u.Parts(bucket, key, id)
	if err != nil {
		return ObjectInfo{}, err
	}
	byNum := map[int]PartInfo{}
	for _, p := range have {
		byNum[p.PartNumber] = p
	}
	for i := 1; i < len(parts); i++ {
		if parts[i].PartNumber <= parts[i-1].PartNumber {
			return ObjectInfo{}, ErrInvalidPartOrder
		}
	}
	h := md5.New()
	files := make([]string, len(parts))
	for i, p := range parts {
		got, ok := byNum[p.PartNumber]
		if !ok || strings.Trim(p.ETag, `"`) != got.ETag {
			return ObjectInfo{}, fmt.Errorf("%w: part %d was not uploaded or its ETag %s does not match", ErrInvalidPart, p.PartNumber, p.ETag)
		}
		sum, _ := hex.DecodeString(got.ETag)
		h.Write(sum)
		files[i] = u.path(id, fmt.Sprintf("%05d.%s.part", p.PartNumber, got.ETag))
	}
	for i, p := range parts[:len(parts)-1] {
		if got := byNum[p.PartNumber]; got.Size < MinPartSize {
			return ObjectInfo{}, fmt.Errorf("%w: part %d is %d bytes, every part but the last must be at least %d", ErrEntityTooSmall, parts[i].PartNumber, got.Size, MinPartSize)
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	whole, err := os.CreateTemp(u.path(id), "whole-*.tmp")
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("%w %q", ErrNoSuchUpload, id)
	}
	defer os.Remove(whole.Name())
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			whole.Close()
			return ObjectInfo{}, err
		}
		pf, err := os.Open(f)
		if err != nil {
			whole.Close()
			return ObjectInfo{}, err
		}
		// File to file, so the kernel copies (copy_file_range); the context
		// is checked between parts.
		_, err = io.Copy(whole, pf)
		pf.Close()
		if err != nil {
			whole.Close()
			return ObjectInfo{}, err
		}
	}
	if err := whole.Close(); err != nil {
		return ObjectInfo{}, err
	}
	opts := info.Options
	opts.ETag = hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
	opts.ContentMD5 = nil
	var obj ObjectInfo
	if imp, ok := u.store.(Importer); ok {
		obj, err = imp.Import(ctx, bucket, key, whole.Name(), opts)
	} else {
		f, ferr := os.Open(whole.Name())
		if ferr != nil {
			return ObjectInfo{}, ferr
		}
		obj, err = u.store.Put(ctx, bucket, key, f, opts)
		f.Close()
	}
	if err != nil {
		return ObjectInfo{}, err
	}
	os.RemoveAll(u.path(id))
	return obj, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
