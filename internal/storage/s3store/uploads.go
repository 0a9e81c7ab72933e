package s3store

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/tarn-lake/tarn/internal/storage"
)

// The store keeps clients' multipart uploads (storage.UploadStore) in the
// external store's own multipart uploads, so that every tarn server on
// the store sees them (a load balancer needs no sticky sessions):
//
//	<prefix><bucket>/<key>                   the external upload, started at
//	                                         CreateUpload straight to the
//	                                         object's key; its metadata names
//	                                         the attribute sidecar mpu-<id>
//	<prefix>.tarn/uploads/<bucket>/<id>      the upload (UploadInfo and the
//	                                         external upload id), JSON
//	<prefix>.tarn/upload-parts/<id>/<n>.<x>  a part's tarn ETag and the
//	                                         checksums the front end
//	                                         verified, where the part has
//	                                         any or its external ETag (hex
//	                                         in x) is not its MD5
//	<prefix>.tarn/meta/mpu-<id>              the object's attributes,
//	                                         written before the external
//	                                         upload completes
//
// A part's bytes stream from the client to the external store (nothing is
// held whole, nothing is written locally when its size is known), with
// their MD5 computed on the way. Completing is the external store's
// CompleteMultipartUpload with the object's preconditions: the object
// appears whole, with its attributes, in one step; no byte is copied
// again. Reads of such an object fetch the small sidecar besides the
// object (as for objects whose attributes are too large for headers).
//
// A crash between creating the external upload and writing the upload's
// document leaves an external upload tarn never lists (the external
// bucket's AbortIncompleteMultipartUpload lifecycle rule removes it); a
// crash after completing leaves a document that ListUploads finds without
// an external upload and removes.

func (s *Store) uploadsPrefix(bucket string) string { return s.root + ".tarn/uploads/" + bucket + "/" }
func (s *Store) uploadDocKey(bucket, id string) string {
	return s.uploadsPrefix(bucket) + id
}
func (s *Store) partsPrefix(id string) string { return s.root + ".tarn/upload-parts/" + id + "/" }
func uploadSidecar(id string) string          { return "mpu-" + id }

// uploadDoc is what the store keeps about an upload.
type uploadDoc struct {
	Info  storage.UploadInfo `json:"upload"`
	ExtID string             `json:"external_upload_id"`
}

// partDoc is what the store keeps about a part beside its bytes.
type partDoc struct {
	ETag      string             `json:"etag"`
	Checksums []storage.Checksum `json:"checksums,omitempty"`
}

var _ storage.UploadStore = (*Store)(nil)

// CreateUpload starts the external upload and records the upload.
func (s *Store) CreateUpload(ctx context.Context, info storage.UploadInfo) error {
	bucket, key := info.Bucket, info.Key
	if !uploadIDOK(info.UploadID) {
		return fmt.Errorf("%w: upload id %q is not 32 hex digits", storage.ErrInvalidPart, info.UploadID)
	}
	if err := s.checkKey(bucket, key); err != nil {
		return opErr("start an upload of", objName(bucket, key), err)
	}
	if err := s.bucketExists(ctx, bucket); err != nil {
		return opErr("start an upload of", objName(bucket, key), err)
	}
	contentType := info.Options.ContentType
	if contentType == "" {
		contentType = guessContentType(key)
	}
	b, k := s.ext(s.objKey(bucket, key))
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: b, Key: k, ContentType: aws.String(contentType),
		Metadata: map[string]string{metaRef: uploadSidecar(info.UploadID)},
	})
	if err != nil {
		return opErr("start an upload of", objName(bucket, key), mapErr(ctxErr(ctx, err)))
	}
	doc := uploadDoc{Info: info, ExtID: aws.ToString(out.UploadId)}
	data, err := json.Marshal(doc)
	if err == nil {
		db, dk := s.ext(s.uploadDocKey(bucket, info.UploadID))
		_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: db, Key: dk, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
			ContentType: aws.String("application/json"), IfNoneMatch: aws.String("*"),
		})
		err = mapErr(ctxErr(ctx, err))
	}
	if err != nil {
		s.abortExternal(ctx, doc)
		return opErr("start an upload of", objName(bucket, key), err)
	}
	return nil
}

// abortExternal aborts an external upload, even if ctx ended; it reports
// whether the upload was there to abort.
func (s *Store) abortExternal(ctx context.Context, doc uploadDoc) (bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	b, k := s.ext(s.objKey(doc.Info.Bucket, doc.Info.Key))
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: b, Key: k, UploadId: aws.String(doc.ExtID)})
	err = mapErr(err)
	if errors.Is(err, storage.ErrNoSuchUpload) || errors.Is(err, storage.ErrNoSuchKey) {
		return false, nil
	}
	return err == nil, err
}

// Upload returns an upload's record.
func (s *Store) Upload(ctx context.Context, bucket, id string) (storage.UploadInfo, error) {
	doc, err := s.uploadDoc(ctx, bucket, id)
	doc.Info.StoreID = doc.ExtID
	return doc.Info, err
}

// docOf returns the record of an upload as Upload returned it, reading
// it again only if it does not carry the external id.
func (s *Store) docOf(ctx context.Context, up storage.UploadInfo) (uploadDoc, error) {
	if up.StoreID != "" && uploadIDOK(up.UploadID) {
		return uploadDoc{Info: up, ExtID: up.StoreID}, nil
	}
	return s.uploadDoc(ctx, up.Bucket, up.UploadID)
}

func (s *Store) uploadDoc(ctx context.Context, bucket, id string) (uploadDoc, error) {
	if err := storage.ValidateBucketName(bucket); err != nil {
		return uploadDoc{}, err
	}
	if !uploadIDOK(id) {
		return uploadDoc{}, fmt.Errorf("%w %q", storage.ErrNoSuchUpload, id)
	}
	b, k := s.ext(s.uploadDocKey(bucket, id))
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k})
	if err != nil {
		err = mapErr(ctxErr(ctx, err))
		if errors.Is(err, storage.ErrNoSuchKey) {
			if _, berr := s.headBucket(ctx, bucket); errors.Is(berr, storage.ErrNoSuchBucket) {
				return uploadDoc{}, berr
			}
			return uploadDoc{}, fmt.Errorf("%w %q", storage.ErrNoSuchUpload, id)
		}
		return uploadDoc{}, fmt.Errorf("cannot read upload %q: %w", id, err)
	}
	defer out.Body.Close()
	var doc uploadDoc
	if err := json.NewDecoder(io.LimitReader(out.Body, 1<<20)).Decode(&doc); err != nil {
		return uploadDoc{}, fmt.Errorf("cannot read upload %q: %w", id, ctxErr(ctx, err))
	}
	if doc.Info.UploadID != id || doc.Info.Bucket != bucket || doc.ExtID == "" {
		return uploadDoc{}, fmt.Errorf("%w %q (its record is damaged)", storage.ErrNoSuchUpload, id)
	}
	return doc, nil
}

// PutUploadPart streams part n to the external upload.
func (s *Store) PutUploadPart(ctx context.Context, up storage.UploadInfo, n int, r io.Reader, size int64, po storage.PartOptions) (storage.PartInfo, error) {
	doc, err := s.docOf(ctx, up)
	if err != nil {
		return storage.PartInfo{}, err
	}
	h := md5.New()
	var body io.Reader
	if size < 0 {
		// The size is not known: the part is spooled to a temp file (the
		// external store wants a length).
		f, err := os.CreateTemp("", "tarn-part-*")
		if err != nil {
			return storage.PartInfo{}, err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		got, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, storage.MaxPartSize+1))
		if err != nil {
			return storage.PartInfo{}, ctxErr(ctx, err)
		}
		if got > storage.MaxPartSize {
			return storage.PartInfo{}, fmt.Errorf("%w: a part is at most %d bytes", storage.ErrInvalidPart, int64(storage.MaxPartSize))
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return storage.PartInfo{}, err
		}
		size, body = got, f
		h = nil
	} else {
		body = &exactReader{r: r, left: size, size: size, h: h, n: n}
	}
	var md5Header *string
	if po.ContentMD5 != nil {
		md5Header = aws.String(base64.StdEncoding.EncodeToString(po.ContentMD5))
	}
	b, k := s.ext(s.objKey(up.Bucket, up.Key))
	out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: b, Key: k, UploadId: aws.String(doc.ExtID), PartNumber: aws.Int32(int32(n)),
		Body: body, ContentLength: aws.Int64(size), ContentMD5: md5Header,
	}, streamingBody)
	if err != nil {
		var er *exactError
		if errors.As(err, &er) {
			return storage.PartInfo{}, er.err
		}
		return storage.PartInfo{}, fmt.Errorf("cannot store part %d of upload %q: %w", n, up.UploadID, mapErr(ctxErr(ctx, err)))
	}
	var sum []byte
	if h != nil {
		sum = h.Sum(nil)
	} else {
		sum = spooledSum(body)
	}
	if po.ContentMD5 != nil && !bytes.Equal(sum, po.ContentMD5) {
		return storage.PartInfo{}, fmt.Errorf("%w: got %x, want %x", storage.ErrBadDigest, sum, po.ContentMD5)
	}
	etag, extETag := hex.EncodeToString(sum), trimETag(out.ETag)
	var ck []storage.Checksum
	if po.ChecksumsFrom != nil {
		ck = po.ChecksumsFrom()
	}
	if len(ck) > 0 || extETag != etag {
		data, _ := json.Marshal(partDoc{ETag: etag, Checksums: ck})
		pb, pk := s.ext(s.partsPrefix(up.UploadID) + partDocName(n, extETag))
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: pb, Key: pk, Body: bytes.NewReader(data),
			ContentLength: aws.Int64(int64(len(data))), ContentType: aws.String("application/json")})
		if err != nil {
			return storage.PartInfo{}, fmt.Errorf("cannot store part %d of upload %q: %w", n, up.UploadID, mapErr(ctxErr(ctx, err)))
		}
	}
	return storage.PartInfo{PartNumber: n, ETag: etag, Size: size, LastModified: time.Now().UTC(), Checksums: ck, StoreETag: extETag}, nil
}

// streamingBody sends a body that cannot be rewound: its payload is not
// signed (its MD5 is checked by tarn, and by the store when the client
// sent one) and a failed request is not retried.
func streamingBody(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	o.Retryer = aws.NopRetryer{}
}

// spooledSum returns the MD5 of a spooled part (read again: it is in the
// page cache).
func spooledSum(body io.Reader) []byte {
	f := body.(*os.File)
	h := md5.New()
	if _, err := f.Seek(0, io.SeekStart); err == nil {
		_, _ = io.Copy(h, f)
	}
	return h.Sum(nil)
}

func partDocName(n int, extETag string) string {
	return fmt.Sprintf("%05d.%s", n, hex.EncodeToString([]byte(extETag)))
}

// exactReader passes exactly left bytes of r on, hashing them. Before it
// hands on the last ones it checks that r ends there, so that a body that
// is longer than announced, or whose trailing check fails at its end (the
// front end's checksum readers), never reaches the store whole: the
// store then keeps no part.
type exactReader struct {
	r    io.Reader
	left int64
	size int64
	h    hash.Hash
	n    int
}

type exactError struct{ err error }

func (e *exactError) Error() string { return e.err.Error() }
func (e *exactError) Unwrap() error { return e.err }

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	m, err := e.r.Read(p)
	if m > 0 {
		e.h.Write(p[:m])
		e.left -= int64(m)
	}
	if e.left == 0 {
		var probe [1]byte
		k, perr := io.ReadFull(e.r, probe[:])
		switch {
		case k > 0:
			return 0, &exactError{fmt.Errorf("%w: part %d has more bytes than the %d announced", storage.ErrInvalidPart, e.n, e.size)}
		case perr != nil && perr != io.EOF && perr != io.ErrUnexpectedEOF:
			return 0, &exactError{perr}
		}
		return m, nil
	}
	if err == io.EOF {
		return m, &exactError{fmt.Errorf("%w: part %d has %d bytes fewer than announced", storage.ErrInvalidPart, e.n, e.left)}
	}
	if err != nil {
		return m, &exactError{err}
	}
	return m, nil
}

var _ storage.UploadPartCopier = (*Store)(nil)

// CopyUploadPart copies part n from another object inside the external
// store (UploadPartCopy), pinned to the source's external ETag.
func (s *Store) CopyUploadPart(ctx context.Context, up storage.UploadInfo, n int, srcBucket, srcKey string, rng *storage.Range, srcETag string) (storage.PartInfo, error) {
	doc, err := s.docOf(ctx, up)
	if err != nil {
		return storage.PartInfo{}, err
	}
	if err := s.checkKey(srcBucket, srcKey); err != nil {
		return storage.PartInfo{}, err
	}
	r, info, err := s.stat(ctx, srcBucket, srcKey)
	if err != nil {
		return storage.PartInfo{}, err
	}
	if srcETag != "" && info.ETag != srcETag {
		return storage.PartInfo{}, fmt.Errorf("%w: the source's ETag is %s, not %s", storage.ErrPreconditionFailed, info.ETag, srcETag)
	}
	first, size := int64(0), r.size
	if rng != nil {
		if rng.Offset < 0 || rng.Offset > r.size || rng.Length >= 0 && rng.Offset+rng.Length > r.size {
			return storage.PartInfo{}, fmt.Errorf("%w: bytes %d+%d of %d", storage.ErrInvalidRange, rng.Offset, rng.Length, r.size)
		}
		first = rng.Offset
		size = r.size - first
		if rng.Length >= 0 {
			size = rng.Length
		}
	}
	if size == 0 {
		// S3 cannot copy an empty range.
		return s.PutUploadPart(ctx, up, n, bytes.NewReader(nil), 0, storage.PartOptions{})
	}
	b, k := s.ext(s.objKey(up.Bucket, up.Key))
	out, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
		Bucket: b, Key: k, UploadId: aws.String(doc.ExtID), PartNumber: aws.Int32(int32(n)),
		CopySource: s.copySource(s.objKey(srcBucket, srcKey)), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", first, first+size-1)),
		CopySourceIfMatch: quoted(r.extETag),
	})
	if err != nil {
		return storage.PartInfo{}, fmt.Errorf("cannot copy part %d of upload %q: %w", n, up.UploadID, mapErr(ctxErr(ctx, err)))
	}
	var extETag string
	if out.CopyPartResult != nil {
		extETag = trimETag(out.CopyPartResult.ETag)
	}
	etag := extETag
	if sum, err := hex.DecodeString(extETag); err != nil || len(sum) != md5.Size {
		// Not an MD5 (an encrypted store): the part's MD5 is read, and
		// kept beside it.
		rc, _, err := s.get(ctx, srcBucket, srcKey, &storage.Range{Offset: first, Length: size})
		if err != nil {
			return storage.PartInfo{}, err
		}
		h := md5.New()
		_, err = io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return storage.PartInfo{}, ctxErr(ctx, err)
		}
		etag = hex.EncodeToString(h.Sum(nil))
		data, _ := json.Marshal(partDoc{ETag: etag})
		pb, pk := s.ext(s.partsPrefix(up.UploadID) + partDocName(n, extETag))
		if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: pb, Key: pk, Body: bytes.NewReader(data),
			ContentLength: aws.Int64(int64(len(data))), ContentType: aws.String("application/json")}); err != nil {
			return storage.PartInfo{}, fmt.Errorf("cannot store part %d of upload %q: %w", n, up.UploadID, mapErr(ctxErr(ctx, err)))
		}
	}
	return storage.PartInfo{PartNumber: n, ETag: etag, Size: size, LastModified: time.Now().UTC(), StoreETag: extETag}, nil
}

// UploadParts lists the external upload's parts with what tarn keeps
// about them.
func (s *Store) UploadParts(ctx context.Context, up storage.UploadInfo) ([]storage.PartInfo, error) {
	doc, err := s.docOf(ctx, up)
	if err != nil {
		return nil, err
	}
	return s.uploadParts(ctx, doc)
}

func (s *Store) uploadParts(ctx context.Context, doc uploadDoc) ([]storage.PartInfo, error) {
	// Part documents are listed first: one written for a part that is
	// then listed below is there.
	docs := map[string]bool{}
	if err := s.listKeys(ctx, s.partsPrefix(doc.Info.UploadID), func(k string, _ types.Object) {
		docs[strings.TrimPrefix(k, s.partsPrefix(doc.Info.UploadID))] = true
	}); err != nil {
		return nil, err
	}
	b, k := s.ext(s.objKey(doc.Info.Bucket, doc.Info.Key))
	var out []storage.PartInfo
	p := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{Bucket: b, Key: k, UploadId: aws.String(doc.ExtID)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("cannot list the parts of upload %q: %w", doc.Info.UploadID, mapErr(ctxErr(ctx, err)))
		}
		for _, pt := range page.Parts {
			n, extETag := int(aws.ToInt32(pt.PartNumber)), trimETag(pt.ETag)
			pi := storage.PartInfo{PartNumber: n, ETag: extETag, Size: aws.ToInt64(pt.Size), LastModified: utc(pt.LastModified), StoreETag: extETag}
			if name := partDocName(n, extETag); docs[name] {
				pd, err := s.readPartDoc(ctx, doc.Info.UploadID, name)
				if err != nil {
					return nil, err
				}
				pi.ETag, pi.Checksums = pd.ETag, pd.Checksums
			} else if sum, err := hex.DecodeString(extETag); err != nil || len(sum) != md5.Size {
				continue // a part whose document is still being written
			}
			out = append(out, pi)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PartNumber < out[j].PartNumber })
	return out, nil
}

func (s *Store) readPartDoc(ctx context.Context, id, name string) (partDoc, error) {
	b, k := s.ext(s.partsPrefix(id) + name)
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k})
	if err != nil {
		return partDoc{}, fmt.Errorf("cannot read a part of upload %q: %w", id, mapErr(ctxErr(ctx, err)))
	}
	defer out.Body.Close()
	var pd partDoc
	if err := json.NewDecoder(io.LimitReader(out.Body, 1<<20)).Decode(&pd); err != nil {
		return partDoc{}, fmt.Errorf("cannot read a part of upload %q: %w", id, ctxErr(ctx, err))
	}
	return pd, nil
}

// listKeys calls fn for every external key under prefix.
func (s *Store) listKeys(ctx context.Context, prefix string, fn func(key string, o types.Object)) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: s.externalBucket(), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return mapErr(ctxErr(ctx, err))
		}
		for _, o := range page.Contents {
			fn(aws.ToString(o.Key), o)
		}
	}
	return nil
}

// ListUploads lists the uploads recorded in bucket whose external upload
// is still there.
func (s *Store) ListUploads(ctx context.Context, bucket, prefix string) ([]storage.UploadInfo, error) {
	if err := s.bucketExists(ctx, bucket); err != nil {
		return nil, err
	}
	// Documents first, then the external uploads: an upload's external
	// upload is started before its document is written.
	var ids []string
	if err := s.listKeys(ctx, s.uploadsPrefix(bucket), func(k string, _ types.Object) {
		ids = append(ids, strings.TrimPrefix(k, s.uploadsPrefix(bucket)))
	}); err != nil {
		return nil, fmt.Errorf("cannot list the uploads of %s: %w", bucketName(bucket), err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	live := map[string]bool{}
	p := s3.NewListMultipartUploadsPaginator(s.client, &s3.ListMultipartUploadsInput{Bucket: s.externalBucket(), Prefix: aws.String(s.objKey(bucket, prefix))})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("cannot list the uploads of %s: %w", bucketName(bucket), mapErr(ctxErr(ctx, err)))
		}
		for _, u := range page.Uploads {
			live[aws.ToString(u.UploadId)] = true
		}
	}
	var out []storage.UploadInfo
	for _, id := range ids {
		doc, err := s.uploadDoc(ctx, bucket, id)
		if errors.Is(err, storage.ErrNoSuchUpload) {
			continue // completed or aborted meanwhile
		}
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(doc.Info.Key, prefix) {
			continue
		}
		if !live[doc.ExtID] {
			// Its external upload ended (a server stopped between
			// completing or aborting it and removing the document).
			s.forgetUpload(ctx, doc)
			continue
		}
		doc.Info.StoreID = doc.ExtID
		out = append(out, doc.Info)
	}
	return out, nil
}

// forgetUpload removes an upload's document and its parts' documents,
// even if ctx ended.
func (s *Store) forgetUpload(ctx context.Context, doc uploadDoc) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_ = s.listKeys(ctx, s.partsPrefix(doc.Info.UploadID), func(k string, _ types.Object) { s.deleteQuietly(ctx, k) })
	s.deleteQuietly(ctx, s.uploadDocKey(doc.Info.Bucket, doc.Info.UploadID))
}

// AbortUpload aborts the external upload and forgets the upload. One
// that another server completed meanwhile is ErrNoSuchUpload (its object
// keeps its attributes).
func (s *Store) AbortUpload(ctx context.Context, up storage.UploadInfo) error {
	doc, err := s.uploadDoc(ctx, up.Bucket, up.UploadID)
	if err != nil {
		return err
	}
	aborted, err := s.abortExternal(ctx, doc)
	if err != nil {
		return fmt.Errorf("cannot abort upload %q: %w", up.UploadID, err)
	}
	s.forgetUpload(ctx, doc)
	if !aborted {
		return fmt.Errorf("%w %q (completed or aborted meanwhile)", storage.ErrNoSuchUpload, up.UploadID)
	}
	// No completion can use the attributes now.
	s.deleteQuietly(ctx, s.sidecarKey(uploadSidecar(up.UploadID)))
	return nil
}

// CompleteUpload writes the object's attributes, then completes the
// external upload with the object's preconditions.
func (s *Store) CompleteUpload(ctx context.Context, up storage.UploadInfo, parts []storage.PartInfo, opts storage.PutOptions) (storage.ObjectInfo, error) {
	bucket, key := up.Bucket, up.Key
	doc, err := s.docOf(ctx, up)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	c, err := s.preconditions(ctx, bucket, key, opts)
	if err != nil {
		return storage.ObjectInfo{}, opErr("write", objName(bucket, key), err)
	}
	var size int64
	done := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		if p.StoreETag == "" {
			return storage.ObjectInfo{}, fmt.Errorf("%w: part %d is not one of this store's", storage.ErrInvalidPart, p.PartNumber)
		}
		size += p.Size
		done[i] = types.CompletedPart{PartNumber: aws.Int32(int32(p.PartNumber)), ETag: quoted(p.StoreETag)}
	}
	a := attrsOf(opts, opts.ETag, size)
	data, err := json.Marshal(a)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	// Written (again, on a retry) before the object exists: readers of the
	// object always find it.
	sb, sk := s.ext(s.sidecarKey(uploadSidecar(up.UploadID)))
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: sb, Key: sk, Body: bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))), ContentType: aws.String("application/json")}); err != nil {
		return storage.ObjectInfo{}, opErr("write", objName(bucket, key), fmt.Errorf("cannot store the object's attributes: %w", mapErr(ctxErr(ctx, err))))
	}
	b, k := s.ext(s.objKey(bucket, key))
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: b, Key: k, UploadId: aws.String(doc.ExtID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
		IfMatch:         c.ifMatch, IfNoneMatch: c.ifNoneMatch,
	})
	if err != nil {
		return storage.ObjectInfo{}, opErr("write", objName(bucket, key), mapErr(ctxErr(ctx, err)))
	}
	s.forgetUpload(ctx, doc)
	contentType := opts.ContentType
	if contentType == "" {
		contentType = guessContentType(key)
	}
	w := &write{s: s, bucket: bucket, key: key, opts: opts, contentType: contentType}
	return w.result(size, a, time.Now().UTC()), nil
}

// uploadIDOK reports whether id can name an upload (tarn's ids are 32
// hex digits), so that no id reaches an external key unchecked.
func uploadIDOK(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := strconv.ParseUint(id[:16], 16, 64)
	_, err2 := strconv.ParseUint(id[16:], 16, 64)
	return err == nil && err2 == nil
}
