package storage

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// UploadStore is an ObjectStore that keeps multipart uploads itself, where
// every server using the same store sees them (an external S3 store: its
// own multipart uploads). NewUploads hands an UploadStore's uploads to it,
// so that a load balancer in front of several servers needs no sticky
// sessions: an upload created through one server takes parts, is listed,
// completed or aborted through any other.
//
// Uploads checks what S3 checks (ids, part numbers and sizes, order, ETags,
// the minimum part size) and computes the object's ETag and part sizes
// before it calls the store; the store keeps the upload's attributes, its
// parts' bytes (streamed, never held whole), their ETags (hex MD5) and the
// checksums the front end verified (PartOptions.ChecksumsFrom).
//
// Methods are safe for concurrent use by several processes; an upload
// that another server completed or aborted is ErrNoSuchUpload.
type UploadStore interface {
	ObjectStore
	// CreateUpload starts an upload with the id Uploads chose (32 hex
	// digits) of info.Bucket/info.Key.
	CreateUpload(ctx context.Context, info UploadInfo) error
	// Upload returns upload id of bucket (ErrNoSuchUpload if there is
	// none); Uploads checks its key.
	Upload(ctx context.Context, bucket, id string) (UploadInfo, error)
	// PutUploadPart stores part n (replacing an earlier one) from r, of
	// size bytes (-1: unknown), checking po.ContentMD5 if set; ETag is the
	// part's hex MD5.
	PutUploadPart(ctx context.Context, up UploadInfo, n int, r io.Reader, size int64, po PartOptions) (PartInfo, error)
	// UploadParts lists an upload's parts in part-number order.
	UploadParts(ctx context.Context, up UploadInfo) ([]PartInfo, error)
	// ListUploads lists the uploads in progress in bucket whose key starts
	// with prefix, in any order.
	ListUploads(ctx context.Context, bucket, prefix string) ([]UploadInfo, error)
	// AbortUpload discards an upload and its parts.
	AbortUpload(ctx context.Context, up UploadInfo) error
	// CompleteUpload makes parts (as UploadParts listed them, checked by
	// Uploads) the object up.Key with opts (ETag, PartSizes, Checksum and
	// conditions set by Uploads), atomically, and ends the upload.
	CompleteUpload(ctx context.Context, up UploadInfo, parts []PartInfo, opts PutOptions) (ObjectInfo, error)
}

// UploadPartCopier is an UploadStore that copies a part from one of its
// objects inside the external store (S3's UploadPartCopy): the bytes
// never pass through tarn.
type UploadPartCopier interface {
	// CopyUploadPart makes part n of up the bytes rng (nil: all) of
	// srcBucket/srcKey, if that object's ETag is still srcETag (""
	// skips the check: ErrPreconditionFailed otherwise).
	CopyUploadPart(ctx context.Context, up UploadInfo, n int, srcBucket, srcKey string, rng *Range, srcETag string) (PartInfo, error)
}

// CopiesParts reports whether CopyPart copies inside the store, without
// the bytes passing through tarn.
func (u *Uploads) CopiesParts() bool {
	_, ok := u.shared.(UploadPartCopier)
	return ok
}

// CopyPart makes part n of an upload the bytes rng (nil: all) of another
// object of the store whose ETag is srcETag, inside the store where it
// can (CopiesParts), else by reading them through tarn. The part keeps no
// checksum: an upload with a checksum mode copies through PutPartOpts.
func (u *Uploads) CopyPart(ctx context.Context, bucket, key, id string, n int, srcBucket, srcKey string, rng *Range, srcETag string) (PartInfo, error) {
	up, err := u.Get(ctx, bucket, key, id)
	if err != nil {
		return PartInfo{}, err
	}
	if n < 1 || n > MaxParts {
		return PartInfo{}, fmt.Errorf("%w: part number %d is not between 1 and %d", ErrInvalidPart, n, MaxParts)
	}
	if c, ok := u.shared.(UploadPartCopier); ok {
		return c.CopyUploadPart(ctx, up, n, srcBucket, srcKey, rng, srcETag)
	}
	rc, info, err := u.store.Get(ctx, srcBucket, srcKey, rng)
	if err != nil {
		return PartInfo{}, err
	}
	defer rc.Close()
	if srcETag != "" && info.ETag != srcETag {
		return PartInfo{}, fmt.Errorf("%w: the source's ETag is %s, not %s", ErrPreconditionFailed, info.ETag, srcETag)
	}
	size := info.Size
	if rng != nil && rng.Length >= 0 {
		size = rng.Length
	}
	return u.PutPartSize(ctx, bucket, key, id, n, rc, size, nil)
}

func (u *Uploads) createShared(ctx context.Context, bucket, key string, opts PutOptions, ck Checksum) (string, error) {
	if _, err := u.store.HeadBucket(ctx, bucket); err != nil {
		return "", err
	}
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	id := newUploadID()
	info := UploadInfo{UploadID: id, Bucket: bucket, Key: key, Initiated: time.Now().UTC().Truncate(time.Millisecond), Options: opts, Checksum: ck}
	if err := u.shared.CreateUpload(ctx, info); err != nil {
		return "", err
	}
	return id, nil
}

func (u *Uploads) getShared(ctx context.Context, bucket, key, id string) (UploadInfo, error) {
	info, err := u.shared.Upload(ctx, bucket, id)
	if err != nil {
		return UploadInfo{}, err
	}
	if info.Bucket != bucket || info.Key != key || info.UploadID != id {
		return UploadInfo{}, fmt.Errorf("%w %q for s3://%s/%s", ErrNoSuchUpload, id, bucket, key)
	}
	return info, nil
}

// completeShared checks the parts named against the ones the store
// lists and hands them, with the object's ETag (S3's: the MD5 of the
// parts' MD5s, "-N") and part sizes, to the store.
func (u *Uploads) completeShared(ctx context.Context, info UploadInfo, parts []CompletedPart, co CompleteOptions) (ObjectInfo, error) {
	if len(parts) == 0 {
		return ObjectInfo{}, fmt.Errorf("%w: no parts given", ErrInvalidPart)
	}
	for i := 1; i < len(parts); i++ {
		if parts[i].PartNumber <= parts[i-1].PartNumber {
			return ObjectInfo{}, ErrInvalidPartOrder
		}
	}
	have, err := u.shared.UploadParts(ctx, info)
	if err != nil {
		return ObjectInfo{}, err
	}
	byNum := map[int]PartInfo{}
	for _, p := range have {
		byNum[p.PartNumber] = p
	}
	h := md5.New()
	use := make([]PartInfo, len(parts))
	for i, p := range parts {
		got, ok := byNum[p.PartNumber]
		if !ok || strings.Trim(p.ETag, `"`) != got.ETag {
			return ObjectInfo{}, fmt.Errorf("%w: part %d was not uploaded or its ETag %s does not match", ErrInvalidPart, p.PartNumber, p.ETag)
		}
		sum, err := hex.DecodeString(got.ETag)
		if err != nil || len(sum) != md5.Size {
			return ObjectInfo{}, fmt.Errorf("%w: part %d has no MD5 ETag", ErrInvalidPart, p.PartNumber)
		}
		h.Write(sum)
		use[i] = got
	}
	for _, p := range use[:len(use)-1] {
		if p.Size < MinPartSize {
			return ObjectInfo{}, fmt.Errorf("%w: part %d is %d bytes, every part but the last must be at least %d", ErrEntityTooSmall, p.PartNumber, p.Size, MinPartSize)
		}
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
	return u.shared.CompleteUpload(ctx, info, use, opts)
}

func newUploadID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
