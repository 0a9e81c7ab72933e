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

	"github.com/tarn-lake/tarn/internal/storage/internal/hashcopy"
	"github.com/tarn-lake/tarn/internal/storage/internal/tmpdir"
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
	// MaxObjectSize is S3's limit on an object's size, and so on where a
	// part can be placed in an upload's data file.
	MaxObjectSize = 5 << 40
)

// PartInfo describes one uploaded part.
type PartInfo struct {
	PartNumber   int       `json:"part_number"`
	ETag         string    `json:"etag"`
	Size         int64     `json:"size"`
	LastModified time.Time `json:"last_modified"`
	// Checksums are the checksums the part was stored with
	// (PartOptions), if any.
	Checksums []Checksum `json:"checksums,omitempty"`
	// StoreETag is the ETag an UploadStore's own store gave the part
	// ("" for parts kept by Uploads in its folder).
	StoreETag string `json:"-"`
}

// PartOptions are optional attributes of a part.
type PartOptions struct {
	// ContentMD5, when set, is checked against the received bytes
	// (ErrBadDigest).
	ContentMD5 []byte
	// ChecksumsFrom, when set, is called once the body has been read to
	// its end, before the part is committed, and its result is kept with
	// the part (PartInfo.Checksums): the front end's readers computed and
	// verified them.
	ChecksumsFrom func() []Checksum
}

// UploadInfo describes one multipart upload in progress.
type UploadInfo struct {
	UploadID  string     `json:"upload_id"`
	Bucket    string     `json:"bucket"`
	Key       string     `json:"key"`
	Initiated time.Time  `json:"initiated"`
	Options   PutOptions `json:"options"`
	// Checksum is the checksum algorithm and type the upload was created
	// with (CreateChecked; no value), which its parts are held to.
	Checksum Checksum `json:"checksum,omitzero"`
	// StoreID is an UploadStore's own id of the upload (its external
	// upload id), as it returned it; "" for uploads kept in a folder.
	StoreID string `json:"-"`
}

// CompletedPart names a part in CompleteMultipartUpload.
type CompletedPart struct {
	PartNumber int
	ETag       string
}

// Uploads keeps multipart uploads in a local folder until they complete,
// then moves the object into the store (Importer) or uploads it. It works
// over any ObjectStore and is safe for concurrent use.
//
// Parts are written, where they can be, straight to their place in one
// data file per upload, so that completing an upload is a truncate, an
// fsync and a rename instead of a second write of every byte (which took
// as long as receiving the parts). Clients send every part but the last
// with one size (the aws CLI and SDKs' transfer managers do), so the first
// part of at least MinPartSize sets the upload's stride and part n of at
// most stride bytes goes to offset (n-1)*stride of the data file: its
// slot. A part that does not fit, or whose slot is in use (a committed
// part, or another upload of the same part in flight), goes to a file of
// its own. Completing with parts 1..N that lie end to end in the data file
// (the last one may be in a file of its own: it is copied in, in the
// kernel) publishes the data file itself; any other shape is assembled
// into a new file by kernel copies (copy_file_range), as before.
//
// Files of upload <id> under the folder:
//
//	<id>/upload.json                    the upload (UploadInfo)
//	<id>/stride                         the stride, once set (decimal)
//	<id>/data                           the data file with the parts' slots
//	<id>/<n>.<etag>.<offset>.<size>.slot part n, in its slot of data
//	<id>/<n>.<etag>.part                part n, in a file of its own
type Uploads struct {
	dir   string
	store ObjectStore
	// tmp holds the temp files of this Uploads' part writes and
	// completions in flight (<dir>/.tmp/run-<n>/); NewUploads removes
	// those of processes that are gone, never those of one still open.
	tmp *tmpdir.Dir
	mu  sync.Mutex // serialises complete/abort of one upload against part writes
	// slots are the uploads' strides and slot writers in flight, by
	// upload id; guarded by mu.
	slots map[string]*slotState
	// shared, when set, keeps the uploads instead of dir (NewUploads
	// over an UploadStore): every server on the store sees them.
	shared UploadStore
}

type slotState struct {
	stride   int64       // 0 until set
	inflight map[int]int // slot writers in flight by part number
}

// slotState returns (loading it) the slot state of upload id. Callers hold mu.
func (u *Uploads) slotState(id string) *slotState {
	st := u.slots[id]
	if st == nil {
		st = &slotState{inflight: map[int]int{}}
		if b, err := os.ReadFile(u.path(id, "stride")); err == nil {
			st.stride, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		}
		u.slots[id] = st
	}
	return st
}

func (st *slotState) busy() bool {
	for _, n := range st.inflight {
		if n > 0 {
			return true
		}
	}
	return false
}

// NewUploads keeps uploads in dir (created), which should be on the same
// filesystem as a local store so completing is a rename. A store that is
// an UploadStore (an external S3 store, shared by several servers) keeps
// the uploads itself and dir is not used: an upload created through one
// server takes parts, is listed, completed and aborted through any other.
func NewUploads(dir string, store ObjectStore) (*Uploads, error) {
	if us, ok := store.(UploadStore); ok {
		return &Uploads{store: store, shared: us}, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create uploads folder: %w", err)
	}
	tmp, err := tmpdir.Open(filepath.Join(dir, ".tmp"))
	if err != nil {
		return nil, fmt.Errorf("cannot open uploads folder: %w", err)
	}
	return &Uploads{dir: dir, store: store, tmp: tmp, slots: map[string]*slotState{}}, nil
}

// Close releases the folder of temp files. Uploads in progress stay (they
// are files); writes still in flight fail or leave temp files that the
// next NewUploads removes. It is idempotent.
func (u *Uploads) Close() error {
	if u.shared != nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.tmp.Close()
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
	return u.CreateChecked(ctx, bucket, key, opts, Checksum{})
}

// CreateChecked starts an upload of bucket/key whose parts are held to a
// checksum algorithm and type (kept with the upload: UploadInfo.Checksum).
func (u *Uploads) CreateChecked(ctx context.Context, bucket, key string, opts PutOptions, ck Checksum) (string, error) {
	ck.Value = ""
	if u.shared != nil {
		return u.createShared(ctx, bucket, key, opts, ck)
	}
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
	info := UploadInfo{UploadID: id, Bucket: bucket, Key: key, Initiated: time.Now().UTC(), Options: opts, Checksum: ck}
	data, _ := json.Marshal(info)
	if err := os.WriteFile(u.path(id, "upload.json"), data, 0o644); err != nil {
		return "", err
	}
	return id, nil
}

// Get returns an upload, checking it belongs to bucket/key.
func (u *Uploads) Get(ctx context.Context, bucket, key, id string) (UploadInfo, error) {
	if !validUploadID(id) {
		return UploadInfo{}, fmt.Errorf("%w %q", ErrNoSuchUpload, id)
	}
	if u.shared != nil {
		return u.getShared(ctx, bucket, key, id)
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
// same number, and returns its ETag (hex MD5). It is PutPartSize with an
// unknown size, which always writes the part to a file of its own.
func (u *Uploads) PutPart(ctx context.Context, bucket, key, id string, n int, r io.Reader, contentMD5 []byte) (PartInfo, error) {
	return u.PutPartSize(ctx, bucket, key, id, n, r, -1, contentMD5)
}

// PutPartSize stores one part of size bytes (-1 if unknown), replacing an
// earlier one with the same number, and returns its ETag (hex MD5). A body
// of another size than announced fails with ErrInvalidPart.
func (u *Uploads) PutPartSize(ctx context.Context, bucket, key, id string, n int, r io.Reader, size int64, contentMD5 []byte) (PartInfo, error) {
	return u.PutPartOpts(ctx, bucket, key, id, n, r, size, PartOptions{ContentMD5: contentMD5})
}

// PutPartOpts is PutPartSize with options: the part's checksum is kept
// with it, replaced and removed with it.
func (u *Uploads) PutPartOpts(ctx context.Context, bucket, key, id string, n int, r io.Reader, size int64, po PartOptions) (PartInfo, error) {
	contentMD5 := po.ContentMD5
	up, err := u.Get(ctx, bucket, key, id)
	if err != nil {
		return PartInfo{}, err
	}
	if n < 1 || n > MaxParts {
		return PartInfo{}, fmt.Errorf("%w: part number %d is not between 1 and %d", ErrInvalidPart, n, MaxParts)
	}
	if size > MaxPartSize {
		return PartInfo{}, fmt.Errorf("%w: a part is at most %d bytes", ErrInvalidPart, int64(MaxPartSize))
	}
	if u.shared != nil {
		return u.shared.PutUploadPart(ctx, up, n, &ctxReader{ctx: ctx, r: r}, size, po)
	}
	off, slot := u.claimSlot(id, n, size)
	var f *os.File
	if slot {
		f, err = os.OpenFile(u.path(id, "data"), os.O_RDWR|os.O_CREATE, 0o644)
	} else {
		f, err = os.CreateTemp(u.tmp.Path(), id+"-part-*.tmp")
	}
	if err != nil {
		if slot {
			u.releaseSlot(id, n)
			return PartInfo{}, fmt.Errorf("%w %q", ErrNoSuchUpload, id)
		}
		return PartInfo{}, err
	}
	if !slot {
		defer os.Remove(f.Name())
	}
	h := md5.New()
	opts := hashcopy.Options{Size: size, Max: MaxPartSize, WriteBack: true}
	if slot {
		opts.Max = size // never into the next slot
	}
	got, err := hashcopy.Copy(ctx, f, off, &ctxReader{ctx: ctx, r: r}, h, opts)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if slot {
		defer u.releaseSlot(id, n) // after the commit below, under mu
	}
	switch {
	case errors.Is(err, hashcopy.ErrTooLarge) && !slot:
		return PartInfo{}, fmt.Errorf("%w: a part is at most %d bytes", ErrInvalidPart, int64(MaxPartSize))
	case errors.Is(err, hashcopy.ErrTooLarge):
		return PartInfo{}, fmt.Errorf("%w: part %d has more than the %d bytes announced", ErrInvalidPart, n, size)
	case err != nil:
		return PartInfo{}, err
	case size >= 0 && got != size:
		return PartInfo{}, fmt.Errorf("%w: part %d has %d bytes, %d were announced", ErrInvalidPart, n, got, size)
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
	var ck []Checksum
	if po.ChecksumsFrom != nil {
		ck = po.ChecksumsFrom()
	}
	// The part's ETag (and place) is in its name so listing parts needs
	// no reads.
	for _, old := range u.partFiles(id, n) {
		os.Remove(old)
	}
	for _, old := range u.checksumFiles(id, n) {
		os.Remove(old)
	}
	if len(ck) > 0 {
		// Written before the part's own file: a part is never listed
		// without the checksum it was stored with.
		data, _ := json.Marshal(ck)
		if err := os.WriteFile(u.path(id, fmt.Sprintf("%05d.%s.checksum", n, etag)), data, 0o644); err != nil {
			return PartInfo{}, err
		}
	}
	if slot {
		marker := u.path(id, fmt.Sprintf("%05d.%s.%d.%d.slot", n, etag, off, got))
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			return PartInfo{}, err
		}
	} else if err := os.Rename(f.Name(), u.path(id, fmt.Sprintf("%05d.%s.part", n, etag))); err != nil {
		return PartInfo{}, err
	}
	return PartInfo{PartNumber: n, ETag: etag, Size: got, LastModified: time.Now().UTC(), Checksums: ck}, nil
}

// checksumFiles returns the checksum files of part n.
func (u *Uploads) checksumFiles(id string, n int) []string {
	m, _ := filepath.Glob(u.path(id, fmt.Sprintf("%05d.*.checksum", n)))
	return m
}

// claimSlot decides where part n of size bytes goes: ok is true if it
// goes to its slot at offset off of the data file, which is then the
// caller's until releaseSlot. The first part of at least MinPartSize sets
// the stride.
func (u *Uploads) claimSlot(id string, n int, size int64) (off int64, ok bool) {
	if size < 0 {
		return 0, false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, err := os.Stat(u.path(id, "upload.json")); err != nil {
		return 0, false // completed or aborted: the write fails later
	}
	st := u.slotState(id)
	if st.stride == 0 && size >= MinPartSize {
		// Not synced: if lost, later parts go to files of their own.
		tmp := u.path(id, "stride.tmp")
		if os.WriteFile(tmp, []byte(strconv.FormatInt(size, 10)), 0o644) == nil && os.Rename(tmp, u.path(id, "stride")) == nil {
			st.stride = size
		}
	}
	off = int64(n-1) * st.stride
	if st.stride == 0 || size > st.stride || off+size > MaxObjectSize || st.inflight[n] > 0 || len(u.slotFiles(id, n)) > 0 {
		return 0, false
	}
	st.inflight[n]++
	return off, true
}

func (u *Uploads) releaseSlot(id string, n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if st := u.slots[id]; st != nil {
		if st.inflight[n]--; st.inflight[n] <= 0 {
			delete(st.inflight, n)
		}
	}
}

func (u *Uploads) slotFiles(id string, n int) []string {
	m, _ := filepath.Glob(u.path(id, fmt.Sprintf("%05d.*.slot", n)))
	return m
}

// partFiles returns the files (own files and slot markers) of part n.
func (u *Uploads) partFiles(id string, n int) []string {
	m, _ := filepath.Glob(u.path(id, fmt.Sprintf("%05d.*.part", n)))
	return append(m, u.slotFiles(id, n)...)
}

// storedPart is a part and where its bytes are.
type storedPart struct {
	PartInfo
	file string // its own file, or the data file
	off  int64  // offset in file
	slot bool
}

// Parts lists an upload's parts in part-number order.
func (u *Uploads) Parts(ctx context.Context, bucket, key, id string) ([]PartInfo, error) {
	if u.shared != nil {
		up, err := u.Get(ctx, bucket, key, id)
		if err != nil {
			return nil, err
		}
		return u.shared.UploadParts(ctx, up)
	}
	sp, err := u.storedParts(ctx, bucket, key, id)
	if err != nil {
		return nil, err
	}
	out := make([]PartInfo, len(sp))
	for i, p := range sp {
		out[i] = p.PartInfo
	}
	return out, nil
}

func (u *Uploads) storedParts(ctx context.Context, bucket, key, id string) ([]storedPart, error) {
	if _, err := u.Get(ctx, bucket, key, id); err != nil {
		return nil, err
	}
	files, _ := filepath.Glob(u.path(id, "*.part"))
	slots, _ := filepath.Glob(u.path(id, "*.slot"))
	var out []storedPart
	for _, f := range append(files, slots...) {
		fields := strings.Split(filepath.Base(f), ".")
		n, err := strconv.Atoi(fields[0])
		if err != nil {
			continue
		}
		st, err := os.Stat(f)
		if err != nil {
			continue
		}
		p := storedPart{PartInfo: PartInfo{PartNumber: n, ETag: fields[1], Size: st.Size(), LastModified: st.ModTime().UTC()}, file: f}
		switch {
		case len(fields) == 3 && fields[2] == "part":
		case len(fields) == 5 && fields[4] == "slot":
			off, err1 := strconv.ParseInt(fields[2], 10, 64)
			size, err2 := strconv.ParseInt(fields[3], 10, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			p.Size, p.off, p.slot, p.file = size, off, true, u.path(id, "data")
		default:
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PartNumber < out[j].PartNumber })
	for i := range out {
		p := &out[i]
		if data, err := os.ReadFile(u.path(id, fmt.Sprintf("%05d.%s.checksum", p.PartNumber, p.ETag))); err == nil {
			_ = json.Unmarshal(data, &p.Checksums)
		}
	}
	return out, nil
}

// List returns the uploads in progress in a bucket under a prefix, by key.
func (u *Uploads) List(ctx context.Context, bucket, prefix string) ([]UploadInfo, error) {
	if u.shared != nil {
		out, err := u.shared.ListUploads(ctx, bucket, prefix)
		if err != nil {
			return nil, err
		}
		sortUploads(out)
		return out, nil
	}
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
	sortUploads(out)
	return out, nil
}

// sortUploads sorts uploads by key, then by initiation (S3's order).
func sortUploads(out []UploadInfo) {
	sort.Slice(out, func(i, j int) bool {
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		if !out[i].Initiated.Equal(out[j].Initiated) {
			return out[i].Initiated.Before(out[j].Initiated)
		}
		return out[i].UploadID < out[j].UploadID
	})
}

// Abort discards an upload and its parts.
func (u *Uploads) Abort(ctx context.Context, bucket, key, id string) error {
	up, err := u.Get(ctx, bucket, key, id)
	if err != nil {
		return err
	}
	if u.shared != nil {
		return u.shared.AbortUpload(ctx, up)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.slots, id)
	return os.RemoveAll(u.path(id))
}

// Complete assembles the named parts into the object, atomically: readers
// see the old object or the whole new one. Every part but the last must be
// at least 5 MiB. The ETag is S3's: the MD5 of the parts' MD5s, "-N".
func (u *Uploads) Complete(ctx context.Context, bucket, key, id string, parts []CompletedPart) (ObjectInfo, error) {
	return u.CompleteOpts(ctx, bucket, key, id, parts, CompleteOptions{})
}

// CompleteOptions are optional attributes of a completion.
type CompleteOptions struct {
	// Checksum, when set, is recorded with the object (the front end
	// computed it from the parts' checksums).
	Checksum Checksum
	// IfMatch and IfNoneMatch are PutOptions': checked at the commit,
	// atomically with it.
	IfMatch     string
	IfNoneMatch bool
}

// CompleteOpts is Complete with options.
func (u *Uploads) CompleteOpts(ctx context.Context, bucket, key, id string, parts []CompletedPart, co CompleteOptions) (ObjectInfo, error) {
	info, err := u.Get(ctx, bucket, key, id)
	if err != nil {
		return ObjectInfo{}, err
	}
	if u.shared != nil {
		return u.completeShared(ctx, info, parts, co)
	}
	if len(parts) == 0 {
		return ObjectInfo{}, fmt.Errorf("%w: no parts given", ErrInvalidPart)
	}
	for i := 1; i < len(parts); i++ {
		if parts[i].PartNumber <= parts[i-1].PartNumber {
			return ObjectInfo{}, ErrInvalidPartOrder
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	// Listed under the lock: no part commits meanwhile.
	have, err := u.storedParts(ctx, bucket, key, id)
	if err != nil {
		return ObjectInfo{}, err
	}
	byNum := map[int]storedPart{}
	for _, p := range have {
		byNum[p.PartNumber] = p
	}
	h := md5.New()
	use := make([]storedPart, len(parts))
	for i, p := range parts {
		got, ok := byNum[p.PartNumber]
		if !ok || strings.Trim(p.ETag, `"`) != got.ETag {
			return ObjectInfo{}, fmt.Errorf("%w: part %d was not uploaded or its ETag %s does not match", ErrInvalidPart, p.PartNumber, p.ETag)
		}
		sum, _ := hex.DecodeString(got.ETag)
		h.Write(sum)
		use[i] = got
	}
	for _, p := range use[:len(use)-1] {
		if p.Size < MinPartSize {
			return ObjectInfo{}, fmt.Errorf("%w: part %d is %d bytes, every part but the last must be at least %d", ErrEntityTooSmall, p.PartNumber, p.Size, MinPartSize)
		}
	}
	var whole string
	if u.inPlace(id, use) {
		// On failure the parts stay where they are, for a retry.
		whole, err = u.finishInPlace(id, use)
	} else {
		whole, err = u.assemble(ctx, id, use)
		defer os.Remove(whole) // a no-op once imported
	}
	if err != nil {
		return ObjectInfo{}, err
	}
	opts := info.Options
	opts.ETag = hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
	opts.PartSizes = make([]int64, len(use))
	for i, p := range use {
		opts.PartSizes[i] = p.Size
	}
	opts.ContentMD5 = nil
	if co.Checksum.Algorithm != "" {
		opts.Checksum = co.Checksum
	}
	opts.IfMatch, opts.IfNoneMatch = co.IfMatch, co.IfNoneMatch
	var obj ObjectInfo
	if imp, ok := u.store.(Importer); ok {
		obj, err = imp.Import(ctx, bucket, key, whole, opts)
	} else {
		f, ferr := os.Open(whole)
		if ferr != nil {
			return ObjectInfo{}, ferr
		}
		obj, err = u.store.Put(ctx, bucket, key, f, opts)
		f.Close()
	}
	if err != nil {
		return ObjectInfo{}, err
	}
	delete(u.slots, id)
	os.RemoveAll(u.path(id))
	return obj, nil
}

// inPlace reports whether the parts lie end to end from the start of the
// data file (the last one may be in a file of its own) and no slot writer
// is in flight, so the data file can become the object. Callers hold mu.
func (u *Uploads) inPlace(id string, use []storedPart) bool {
	if u.slotState(id).busy() {
		return false // it could write into the object after its publication
	}
	var off int64
	for i, p := range use {
		if p.slot && p.off != off || !p.slot && i < len(use)-1 {
			return false
		}
		off += p.Size
	}
	return true
}

// finishInPlace copies a last part kept in its own file into place and
// cuts the data file at the object's end (slots beyond it may hold parts
// that are not used). Callers hold mu.
func (u *Uploads) finishInPlace(id string, use []storedPart) (string, error) {
	data := use[0].file
	if !use[0].slot { // one part, in a file of its own: that file is the object
		return data, nil
	}
	// Parts left out (S3 drops them when the upload completes) may be
	// overwritten or cut below: forget them first, so that a retry after
	// a failure cannot use them.
	used := map[string]bool{}
	for _, p := range use {
		used[fmt.Sprintf("%05d.%s.%d.%d.slot", p.PartNumber, p.ETag, p.off, p.Size)] = true
	}
	slots, _ := filepath.Glob(u.path(id, "*.slot"))
	for _, m := range slots {
		if !used[filepath.Base(m)] {
			if err := os.Remove(m); err != nil {
				return "", err
			}
		}
	}
	f, err := os.OpenFile(data, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var end int64
	for _, p := range use[:len(use)-1] {
		end += p.Size
	}
	last := use[len(use)-1]
	if !last.slot {
		if err := copyPart(f, end, last); err != nil {
			return "", err
		}
	}
	end += last.Size
	if err := f.Truncate(end); err != nil {
		return "", err
	}
	return data, f.Close()
}

// assemble copies the parts into a new file. Callers hold mu.
func (u *Uploads) assemble(ctx context.Context, id string, use []storedPart) (string, error) {
	whole, err := os.CreateTemp(u.tmp.Path(), id+"-whole-*.tmp")
	if err != nil {
		return "", err
	}
	var off int64
	for _, p := range use {
		if err = ctx.Err(); err != nil {
			break
		}
		if err = copyPart(whole, off, p); err != nil {
			break
		}
		off += p.Size
	}
	if cerr := whole.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(whole.Name())
		return "", err
	}
	return whole.Name(), nil
}

// copyPart copies part p to offset off of dst, file to file so that the
// kernel copies (copy_file_range).
func copyPart(dst *os.File, off int64, p storedPart) error {
	src, err := os.Open(p.file)
	if err != nil {
		return err
	}
	defer src.Close()
	if _, err := src.Seek(p.off, io.SeekStart); err != nil {
		return err
	}
	if _, err := dst.Seek(off, io.SeekStart); err != nil {
		return err
	}
	n, err := io.Copy(dst, &io.LimitedReader{R: src, N: p.Size})
	if err == nil && n != p.Size {
		err = fmt.Errorf("part %d has %d bytes, %d were expected", p.PartNumber, n, p.Size)
	}
	return err
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
