package s3store

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/tarn-lake/tarn/internal/storage"
)

// Put writes an object. The body is read by tarn (never handed to the SDK),
// so a body that fails or a context canceled mid-way leaves no object and
// keeps the one it would have replaced:
//
//   - a body of at most PartSize bytes is sent in one PutObject with its
//     Content-MD5 and attributes;
//   - a longer body is sent as a parallel multipart upload (parts of
//     PartSize bytes, Concurrency at once) to a staging key under
//     .tarn/tmp/, then copied into place inside the external store with
//     its attributes (its MD5 is only known at the end, and S3 cannot set
//     metadata on a completed upload), and the staging object removed;
//   - a file with the part sizes of a completed client multipart upload
//     (PutOptions.ETag and PartSizes, as storage.Uploads gives it) is sent
//     as a multipart upload with those very parts, straight to its key, so
//     the external store's ETag is the one tarn reports.
//
// An aborted upload whose abort also failed leaves parts that the external
// store's lifecycle rule (AbortIncompleteMultipartUpload) removes; a crash
// between staging and copying leaves an object under .tarn/tmp/ (expire it
// with a lifecycle rule on that prefix).
func (s *Store) Put(ctx context.Context, bucket, key string, r io.Reader, opts storage.PutOptions) (storage.ObjectInfo, error) {
	if err := s.checkKey(bucket, key); err != nil {
		return storage.ObjectInfo{}, opErr("write", objName(bucket, key), err)
	}
	info, err := s.put(ctx, bucket, key, r, opts)
	if err != nil {
		return storage.ObjectInfo{}, opErr("write", objName(bucket, key), err)
	}
	return info, nil
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

// fill reads until buf is full or the body ends (eof); a body error other
// than io.EOF is returned as it is, even io.ErrUnexpectedEOF.
func fill(r io.Reader, buf []byte) (n int, eof bool, err error) {
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			return n, true, nil
		}
		if err != nil {
			return n, false, err
		}
	}
	return n, false, nil
}

func (s *Store) getBuf() *[]byte  { return s.bufs.Get().(*[]byte) }
func (s *Store) putBuf(b *[]byte) { s.bufs.Put(b) }

func (s *Store) put(ctx context.Context, bucket, key string, r io.Reader, opts storage.PutOptions) (storage.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := s.bucketExists(ctx, bucket); err != nil {
		return storage.ObjectInfo{}, err
	}
	c, err := s.preconditions(ctx, bucket, key, opts)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	w := &write{s: s, bucket: bucket, key: key, opts: opts, cond: c, contentType: opts.ContentType}
	if w.contentType == "" {
		w.contentType = guessContentType(key)
	}
	if f, size, ok := fileOf(r); ok && opts.ETag != "" && opts.ContentMD5 == nil && opts.ChecksumFrom == nil && partsFit(opts.PartSizes, size) {
		return w.fileParts(ctx, f)
	}
	body := &ctxReader{ctx: ctx, r: r}
	// Most bodies are small: they take a small buffer, and only longer
	// ones a part-sized one.
	head := s.smallBufs.Get().(*[]byte)
	defer s.smallBufs.Put(head)
	n, eof, err := fill(body, *head)
	if err != nil {
		return storage.ObjectInfo{}, ctxErr(ctx, err)
	}
	if eof {
		return w.small(ctx, (*head)[:n])
	}
	first := s.getBuf()
	defer s.putBuf(first)
	copy(*first, (*head)[:n])
	m, eof, err := fill(body, (*first)[n:])
	if err != nil {
		return storage.ObjectInfo{}, ctxErr(ctx, err)
	}
	if eof {
		return w.small(ctx, (*first)[:n+m])
	}
	return w.staged(ctx, *first, body)
}

// smallBufSize is the buffer a put reads first.
const smallBufSize = 256 << 10

// preconditions checks IfMatch against tarn's ETag and turns the
// preconditions into the external store's, pinned to the external ETag of
// the object checked, so that the check and the write are atomic.
func (s *Store) preconditions(ctx context.Context, bucket, key string, opts storage.PutOptions) (cond, error) {
	var c cond
	if opts.IfNoneMatch {
		c.ifNoneMatch = aws.String("*")
	}
	if opts.IfMatch == "" {
		return c, nil
	}
	r, info, err := s.stat(ctx, bucket, key)
	if err != nil {
		return c, err
	}
	if want := strings.Trim(opts.IfMatch, `"`); want != "*" && want != info.ETag {
		return c, fmt.Errorf("%w: the object's ETag is %s, not %s", storage.ErrPreconditionFailed, info.ETag, want)
	}
	c.ifMatch = quoted(r.extETag)
	return c, nil
}

// write is one Put in progress.
type write struct {
	s           *Store
	bucket, key string
	opts        storage.PutOptions
	cond        cond
	contentType string
}

func (w *write) dst() string { return w.s.objKey(w.bucket, w.key) }

func (w *write) result(size int64, a attrs, lastMod time.Time) storage.ObjectInfo {
	return storage.ObjectInfo{
		Bucket: w.bucket, Key: w.key, Size: size, ETag: a.ETag, LastModified: lastMod, ContentType: w.contentType,
		Metadata: a.Metadata, Checksum: a.Checksum, Headers: a.Headers, Tags: a.Tags, PartSizes: a.PartSizes,
	}
}

// small sends a body held in memory in one PutObject.
func (w *write) small(ctx context.Context, data []byte) (storage.ObjectInfo, error) {
	sum := md5.Sum(data)
	if w.opts.ContentMD5 != nil && !bytes.Equal(sum[:], w.opts.ContentMD5) {
		return storage.ObjectInfo{}, fmt.Errorf("%w: got %x, want %x", storage.ErrBadDigest, sum, w.opts.ContentMD5)
	}
	etag := w.opts.ETag
	if etag == "" {
		etag = hex.EncodeToString(sum[:])
	}
	a := attrsOf(w.opts, etag, int64(len(data)))
	md, err := w.s.encodeAttrs(ctx, a)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	b, k := w.s.ext(w.dst())
	_, err = w.s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: b, Key: k, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:])), ContentType: aws.String(w.contentType),
		Metadata: md, IfMatch: w.cond.ifMatch, IfNoneMatch: w.cond.ifNoneMatch,
	})
	if err != nil {
		return storage.ObjectInfo{}, mapErr(ctxErr(ctx, err))
	}
	return w.result(int64(len(data)), a, time.Now().UTC()), nil
}

// staged sends a long body as a multipart upload to a staging key, then
// copies it into place with its attributes.
func (w *write) staged(ctx context.Context, first []byte, body io.Reader) (storage.ObjectInfo, error) {
	s := w.s
	second := s.getBuf()
	n2, eof, err := fill(body, *second)
	if err != nil {
		s.putBuf(second)
		return storage.ObjectInfo{}, ctxErr(ctx, err)
	}
	if n2 == 0 && eof { // exactly one part long
		s.putBuf(second)
		return w.small(ctx, first)
	}
	whole := md5.New()
	whole.Write(first)
	tmp := s.tmpKey(randomID())
	up, err := s.startUpload(ctx, tmp, nil, "application/octet-stream")
	if err != nil {
		s.putBuf(second)
		return storage.ObjectInfo{}, err
	}
	defer up.abortUnlessDone(ctx)
	size := int64(len(first))
	up.sendBytes(ctx, 1, first, nil)
	whole.Write((*second)[:n2])
	size += int64(n2)
	up.sendBytes(ctx, 2, (*second)[:n2], func() { s.putBuf(second) })
	for n := 3; !eof; n++ {
		if n > storage.MaxParts {
			return storage.ObjectInfo{}, fmt.Errorf("%w: the body is longer than %d parts of %d bytes", storage.ErrInvalidPart, storage.MaxParts, s.cfg.PartSize)
		}
		if !up.acquire(ctx) {
			break // a part failed or ctx ended: wait reports it
		}
		// Beyond its first two parts a put takes buffers from the store's
		// budget (MaxBufferedParts), released as parts are sent.
		if !up.acquireBuffer(ctx) {
			up.release()
			break
		}
		buf := s.getBuf()
		var m int
		m, eof, err = fill(body, *buf)
		if err != nil {
			up.release()
			s.releaseBuffer(buf)
			up.wait()
			return storage.ObjectInfo{}, ctxErr(ctx, err)
		}
		if m == 0 {
			up.release()
			s.releaseBuffer(buf)
			break
		}
		whole.Write((*buf)[:m])
		size += int64(m)
		up.sendAcquired(ctx, n, (*buf)[:m], func() { s.releaseBuffer(buf) })
	}
	if err := up.wait(); err != nil {
		return storage.ObjectInfo{}, ctxErr(ctx, err)
	}
	if err := w.checkMD5(whole); err != nil {
		return storage.ObjectInfo{}, err
	}
	tmpETag, err := up.complete(ctx, cond{})
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	defer s.deleteQuietly(ctx, tmp)
	etag := w.opts.ETag
	if etag == "" {
		etag = hex.EncodeToString(whole.Sum(nil))
	}
	a := attrsOf(w.opts, etag, size)
	md, err := s.encodeAttrs(ctx, a)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	lastMod, err := s.copyExternal(ctx, tmp, raw{extETag: tmpETag, size: size}, w.dst(), md, w.contentType, w.cond)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	return w.result(size, a, lastMod), nil
}

func (w *write) checkMD5(h hash.Hash) error {
	if w.opts.ContentMD5 == nil {
		return nil
	}
	if sum := h.Sum(nil); !bytes.Equal(sum, w.opts.ContentMD5) {
		return fmt.Errorf("%w: got %x, want %x", storage.ErrBadDigest, sum, w.opts.ContentMD5)
	}
	return nil
}

// fileParts sends a local file as a multipart upload with the part sizes
// it was uploaded with, straight to its key.
func (w *write) fileParts(ctx context.Context, f io.ReaderAt) (storage.ObjectInfo, error) {
	s := w.s
	var total int64
	for _, ps := range w.opts.PartSizes {
		total += ps
	}
	a := attrsOf(w.opts, w.opts.ETag, total)
	md, err := s.encodeAttrs(ctx, a)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	up, err := s.startUpload(ctx, w.dst(), md, w.contentType)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	defer up.abortUnlessDone(ctx)
	var off, size int64
	for i, ps := range w.opts.PartSizes {
		if !up.acquire(ctx) {
			break
		}
		up.sendSection(ctx, i+1, io.NewSectionReader(f, off, ps))
		off += ps
	}
	size = off
	if err := up.wait(); err != nil {
		return storage.ObjectInfo{}, ctxErr(ctx, err)
	}
	if _, err := up.complete(ctx, w.cond); err != nil {
		return storage.ObjectInfo{}, err
	}
	return w.result(size, a, time.Now().UTC()), nil
}

// fileOf returns a regular file read from its start, and its size.
func fileOf(r io.Reader) (*os.File, int64, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return nil, 0, false
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, 0, false
	}
	if pos, err := f.Seek(0, io.SeekCurrent); err != nil || pos != 0 {
		return nil, 0, false
	}
	return f, st.Size(), true
}

// partsFit reports whether parts are valid S3 part sizes adding up to size.
func partsFit(parts []int64, size int64) bool {
	if len(parts) == 0 || len(parts) > storage.MaxParts {
		return false
	}
	var sum int64
	for i, p := range parts {
		if p < 0 || p > storage.MaxPartSize || (i < len(parts)-1 && p < storage.MinPartSize) {
			return false
		}
		sum += p
	}
	return sum == size
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// deleteQuietly removes a staging object, even if ctx ended.
func (s *Store) deleteQuietly(ctx context.Context, extKey string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, _ = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: s.externalBucket(), Key: aws.String(extKey)})
}

// --- multipart uploads to the external store -------------------------------------

// upload is one external multipart upload whose parts are sent in
// parallel, at most Concurrency at once.
type upload struct {
	s      *Store
	key    string
	id     string
	sem    chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	parts  []types.CompletedPart
	err    error
	failed chan struct{} // closed at the first error
	done   bool
}

func (s *Store) startUpload(ctx context.Context, extKey string, md map[string]string, contentType string) (*upload, error) {
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: s.externalBucket(), Key: aws.String(extKey), Metadata: md, ContentType: aws.String(contentType),
	})
	if err != nil {
		return nil, mapErr(ctxErr(ctx, err))
	}
	return &upload{s: s, key: extKey, id: aws.ToString(out.UploadId), sem: make(chan struct{}, s.cfg.Concurrency), failed: make(chan struct{})}, nil
}

// acquire waits for a free slot; false if the upload failed or ctx ended.
func (u *upload) acquire(ctx context.Context) bool {
	select {
	case u.sem <- struct{}{}:
		return true
	case <-u.failed:
		return false
	case <-ctx.Done():
		u.fail(ctx.Err())
		return false
	}
}

func (u *upload) release() { <-u.sem }

// acquireBuffer takes a part buffer from the store's budget; false if the
// upload failed or ctx ended.
func (u *upload) acquireBuffer(ctx context.Context) bool {
	select {
	case u.s.buffers <- struct{}{}:
		return true
	case <-u.failed:
		return false
	case <-ctx.Done():
		u.fail(ctx.Err())
		return false
	}
}

// releaseBuffer returns a buffer taken with acquireBuffer.
func (s *Store) releaseBuffer(b *[]byte) {
	s.putBuf(b)
	<-s.buffers
}

func (u *upload) fail(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err == nil {
		u.err = err
		close(u.failed)
	}
}

// sendBytes sends a part (acquiring a slot); done, if set, is called
// once the part's bytes are no longer needed.
func (u *upload) sendBytes(ctx context.Context, n int, data []byte, done func()) {
	if !u.acquire(ctx) {
		if done != nil {
			done()
		}
		return
	}
	u.sendAcquired(ctx, n, data, done)
}

func (u *upload) sendAcquired(ctx context.Context, n int, data []byte, done func()) {
	u.wg.Go(func() {
		defer u.release()
		if done != nil {
			defer done()
		}
		sum := md5.Sum(data)
		out, err := u.s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: u.s.externalBucket(), Key: aws.String(u.key), UploadId: aws.String(u.id), PartNumber: aws.Int32(int32(n)),
			Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
			ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		})
		u.record(ctx, n, out, err)
	})
}

func (u *upload) sendSection(ctx context.Context, n int, r *io.SectionReader) {
	u.wg.Go(func() {
		defer u.release()
		out, err := u.s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: u.s.externalBucket(), Key: aws.String(u.key), UploadId: aws.String(u.id), PartNumber: aws.Int32(int32(n)),
			Body: r, ContentLength: aws.Int64(r.Size()),
		})
		u.record(ctx, n, out, err)
	})
}

func (u *upload) record(ctx context.Context, n int, out *s3.UploadPartOutput, err error) {
	if err != nil {
		u.fail(fmt.Errorf("cannot send part %d: %w", n, mapErr(ctxErr(ctx, err))))
		return
	}
	u.mu.Lock()
	u.parts = append(u.parts, types.CompletedPart{PartNumber: aws.Int32(int32(n)), ETag: out.ETag})
	u.mu.Unlock()
}

// wait waits for the parts in flight and returns the first error.
func (u *upload) wait() error {
	u.wg.Wait()
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

func (u *upload) complete(ctx context.Context, c cond) (string, error) {
	if err := u.wait(); err != nil {
		return "", err
	}
	slices.SortFunc(u.parts, func(a, b types.CompletedPart) int { return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber)) })
	out, err := u.s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: u.s.externalBucket(), Key: aws.String(u.key), UploadId: aws.String(u.id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: u.parts},
		IfMatch:         c.ifMatch, IfNoneMatch: c.ifNoneMatch,
	})
	if err != nil {
		return "", mapErr(ctxErr(ctx, err))
	}
	u.done = true
	return trimETag(out.ETag), nil
}

// abortUnlessDone aborts an upload that did not complete, even if ctx
// ended (the parts would otherwise stay, and be billed, until a lifecycle
// rule removes them).
func (u *upload) abortUnlessDone(ctx context.Context) {
	u.wg.Wait()
	if u.done {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, _ = u.s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: u.s.externalBucket(), Key: aws.String(u.key), UploadId: aws.String(u.id)})
}

// copyMultipart copies src to dst by ranges (UploadPartCopy), for objects
// over 5 GiB and for copies with preconditions (CompleteMultipartUpload
// takes If-Match and If-None-Match where CopyObject's are not understood
// everywhere).
func (s *Store) copyMultipart(ctx context.Context, src string, r raw, dst string, md map[string]string, contentType string, c cond) (time.Time, error) {
	if r.size == 0 {
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: s.externalBucket(), Key: aws.String(dst), Body: bytes.NewReader(nil), ContentLength: aws.Int64(0),
			ContentType: aws.String(contentType), Metadata: md, IfMatch: c.ifMatch, IfNoneMatch: c.ifNoneMatch,
		})
		return time.Now().UTC(), mapErr(ctxErr(ctx, err))
	}
	partSize := s.cfg.PartSize
	for (r.size+partSize-1)/partSize > storage.MaxParts {
		partSize *= 2
	}
	up, err := s.startUpload(ctx, dst, md, contentType)
	if err != nil {
		return time.Time{}, err
	}
	defer up.abortUnlessDone(ctx)
	for n, off := 1, int64(0); off < r.size; n, off = n+1, off+partSize {
		if !up.acquire(ctx) {
			break
		}
		end := min(off+partSize, r.size) - 1
		up.wg.Go(func() {
			defer up.release()
			out, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
				Bucket: s.externalBucket(), Key: aws.String(dst), UploadId: aws.String(up.id), PartNumber: aws.Int32(int32(n)),
				CopySource: s.copySource(src), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, end)),
				CopySourceIfMatch: quoted(r.extETag),
			})
			if err != nil {
				up.fail(fmt.Errorf("cannot copy part %d: %w", n, mapErr(ctxErr(ctx, err))))
				return
			}
			var etag *string
			if out.CopyPartResult != nil {
				etag = out.CopyPartResult.ETag
			}
			up.mu.Lock()
			up.parts = append(up.parts, types.CompletedPart{PartNumber: aws.Int32(int32(n)), ETag: etag})
			up.mu.Unlock()
		})
	}
	if _, err := up.complete(ctx, c); err != nil {
		return time.Time{}, err
	}
	return time.Now().UTC(), nil
}
