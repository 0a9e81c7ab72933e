package s3api

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/storage"
)

// maxCompleteBody bounds a CompleteMultipartUpload request (10,000 parts).
const maxCompleteBody = 4 << 20

// multipartOn checks that uploads are enabled and the bucket exists: a
// multipart call on a missing bucket is NoSuchBucket, as in S3, not
// NoSuchUpload.
func (c *call) multipartOn() error {
	if c.s.uploads == nil {
		return errCode("NotImplemented", http.StatusNotImplemented, "multipart uploads are not enabled")
	}
	_, err := c.s.store.HeadBucket(c.r.Context(), c.bucket)
	return err
}

func (c *call) createMultipartUpload() error {
	if err := c.allow("s3:PutObject", c.bucket, c.key); err != nil {
		return err
	}
	if err := c.multipartOn(); err != nil {
		return err
	}
	if err := storage.ValidateKey(c.key); err != nil {
		return err
	}
	if err := checkObjectHeaders(c.r.Header); err != nil {
		return err
	}
	if acl, grants := headerObjectACL(c.r.Header); acl != "" || grants {
		if err := c.s.checkObjectACL(c.r.Context(), c.bucket, acl, grants); err != nil {
			return err
		}
	}
	opts := putOptions(c.r.Header)
	var err error
	if opts.Tags, err = tagsFromHeader(c.r.Header); err != nil {
		return err
	}
	cfg, err := c.s.bucketLock(c.r.Context(), c.bucket)
	if err != nil {
		return err
	}
	lock, err := lockFromHeaders(c.r.Header, cfg)
	if err != nil {
		return err
	}
	uc, err := createChecksum(c.r.Header)
	if err != nil {
		return err
	}
	// The checksum is kept with the upload, where every server sees it.
	id, err := c.s.uploads.CreateChecked(c.r.Context(), c.bucket, c.key, opts, storage.Checksum{Algorithm: uc.Algorithm, Type: uc.Type})
	if err != nil {
		return err
	}
	if uc.Algorithm != "" {
		c.w.Header().Set("x-amz-checksum-algorithm", uc.Algorithm)
		c.w.Header().Set("x-amz-checksum-type", uc.Type)
	}
	if !lock.empty() {
		if err := c.s.setObjectLock(c.r.Context(), c.bucket, c.key, uploadLockKey(id), lock); err != nil {
			return err
		}
	}
	writeXML(c.w, http.StatusOK, initiateMultipartUploadResult{Xmlns: s3NS, Bucket: c.bucket, Key: c.key, UploadID: id})
	return nil
}

func (c *call) uploadPart() error {
	r, w := c.r, c.w
	if err := c.allow("s3:PutObject", c.bucket, c.key); err != nil {
		return err
	}
	if err := c.multipartOn(); err != nil {
		return err
	}
	n, err := strconv.Atoi(c.q.Get("partNumber"))
	if err != nil || n < 1 || n > storage.MaxParts {
		return errCode("InvalidArgument", http.StatusBadRequest, "Part number must be an integer between 1 and 10000, inclusive.")
	}
	if src := r.Header.Get("x-amz-copy-source"); src != "" {
		return c.uploadPartCopy(n, src)
	}
	var md5sum []byte
	if _, sent := r.Header["Content-Md5"]; sent {
		if md5sum, err = base64.StdEncoding.DecodeString(r.Header.Get("Content-MD5")); err != nil || len(md5sum) != 16 {
			return errCode("InvalidDigest", http.StatusBadRequest, "The Content-MD5 you specified is not valid.")
		}
	}
	// As in putObject: the length auth verified, never the
	// (possibly unsigned) x-amz-decoded-content-length header.
	size := r.ContentLength
	if size > storage.MaxPartSize {
		return errCode("EntityTooLarge", http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed size")
	}
	alg, want, err := requestChecksum(r)
	if err != nil {
		return err
	}
	if alg, err = c.s.partChecksum(r.Context(), c.bucket, c.key, c.q.Get("uploadId"), alg); err != nil {
		return err
	}
	ph, body := newPartHashes(newExactReader(r.Body, size), r, alg, want)
	part, err := c.s.uploads.PutPartOpts(r.Context(), c.bucket, c.key, c.q.Get("uploadId"), n, body, size,
		storage.PartOptions{ContentMD5: md5sum, ChecksumsFrom: ph.checksums})
	if err != nil {
		return err
	}
	if ph.cr != nil {
		w.Header().Set(checksumHeader(alg), ph.cr.got)
	}
	w.Header().Set("ETag", `"`+part.ETag+`"`)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (c *call) completeMultipartUpload() error {
	ctx := c.r.Context()
	if err := c.allow("s3:PutObject", c.bucket, c.key); err != nil {
		return err
	}
	if err := c.multipartOn(); err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxCompleteBody+1))
	if err != nil {
		return err
	}
	var req completeMultipartUpload
	malformed := errCode("MalformedXML", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema.")
	if len(body) > maxCompleteBody || xml.Unmarshal(body, &req) != nil || len(req.Parts) == 0 {
		return malformed
	}
	var co storage.CompleteOptions
	if co.IfMatch, co.IfNoneMatch, err = writeConditions(c.r); err != nil {
		return err
	}
	typ, finalAlg, finalValue, err := completeChecksumHeaders(c.r.Header)
	if err != nil {
		return err
	}
	var mpSize int64 = -1
	if v := c.r.Header.Get("X-Amz-Mp-Object-Size"); v != "" {
		if mpSize, err = strconv.ParseInt(v, 10, 64); err != nil {
			return errCode("InvalidRequest", http.StatusBadRequest, "Value for x-amz-mp-object-size header is invalid: '%s'", v)
		}
		if mpSize < 0 {
			return errCode("InvalidRequest", http.StatusBadRequest, "Value for x-amz-mp-object-size header is less than zero: '%s'", v)
		}
	}
	parts := make([]storage.CompletedPart, len(req.Parts))
	for i, pt := range req.Parts {
		if pt.PartNumber == nil || pt.ETag == "" {
			return malformed
		}
		if *pt.PartNumber < 1 {
			return errCode("InvalidArgument", http.StatusBadRequest, "PartNumber must be >= 1")
		}
		if *pt.PartNumber > storage.MaxParts {
			return errCode("InvalidArgument", http.StatusBadRequest, "Part number must be an integer between 1 and 10000, inclusive.")
		}
		parts[i] = storage.CompletedPart{PartNumber: *pt.PartNumber, ETag: pt.ETag}
	}
	uploadID := c.q.Get("uploadId")
	uc, err := c.s.uploadChecksumOf(ctx, c.bucket, c.key, uploadID)
	if err != nil && !errors.Is(err, storage.ErrNoSuchUpload) {
		return err
	}
	stored, err := c.s.uploads.Parts(ctx, c.bucket, c.key, uploadID)
	if err != nil && !errors.Is(err, storage.ErrNoSuchUpload) {
		return err
	}
	if err == nil {
		// (A missing upload may be one completed already: see below.)
		if typ != "" && typ != uc.Type {
			mode := uc.Type
			if mode == "" {
				mode = "null"
			}
			return errCode("InvalidRequest", http.StatusBadRequest, "The upload was created using the %s checksum mode. The complete request must use the same checksum mode.", mode)
		}
		if co.Checksum, err = finalChecksum(uc, req, stored); err != nil {
			return err
		}
		if mpSize >= 0 {
			var total int64
			for _, p := range stored {
				for _, pt := range parts {
					if pt.PartNumber == p.PartNumber {
						total += p.Size
					}
				}
			}
			if total != mpSize {
				return errCode("InvalidRequest", http.StatusBadRequest, "The provided 'x-amz-mp-object-size' header value %d does not match what was computed: %d", mpSize, total)
			}
		}
		// A final checksum given is checked against the one computed
		// (an upload created without a checksum ignores it, as S3 does).
		if uc.Algorithm != "" && finalAlg != "" {
			got := finalValue
			if uc.Type == "COMPOSITE" && !strings.Contains(got, "-") {
				got += "-" + strconv.Itoa(len(parts))
			}
			if finalAlg != uc.Algorithm || got != co.Checksum.Value {
				return errCode("BadDigest", http.StatusBadRequest, "The %s you specified did not match the calculated checksum.", finalAlg)
			}
		}
	}
	info, err := c.s.lockedWrite(ctx, c.p, c.r.Header, c.bucket, c.key, uploadID, func() (storage.ObjectInfo, error) {
		return c.s.uploads.CompleteOpts(ctx, c.bucket, c.key, uploadID, parts, co)
	})
	if errors.Is(err, storage.ErrNoSuchUpload) {
		// A retried Complete (its answer was lost) finds the upload
		// gone: S3 answers it again if the object is the one those
		// parts made, which its ETag tells.
		if cur, herr := c.s.store.Head(ctx, c.bucket, c.key); herr == nil && len(parts) > 0 && cur.ETag == multipartETag(parts) {
			info, err = cur, nil
		}
	}
	if err != nil {
		return err
	}
	_ = c.s.setUploadChecksum(context.WithoutCancel(ctx), c.bucket, c.q.Get("uploadId"), uploadChecksum{})
	setVersionHeader(c.w, info.VersionID)
	res := completeMultipartUploadResult{Xmlns: s3NS, Location: c.s.location(c.r, c.bucket, c.key), Bucket: c.bucket, Key: c.key, ETag: `"` + info.ETag + `"`}
	if ck := info.Checksum; ck.Algorithm != "" {
		res.Checksums, res.ChecksumType = []checksumValue{checksumElem(ck.Algorithm, ck.Value)}, checksumType(ck)
	}
	writeXML(c.w, http.StatusOK, res)
	if c.s.created != nil {
		c.s.created(ctx, info, "CompleteMultipartUpload")
	}
	return nil
}

func (c *call) abortMultipartUpload() error {
	if err := c.allow("s3:AbortMultipartUpload", c.bucket, c.key); err != nil {
		return err
	}
	if err := c.multipartOn(); err != nil {
		return err
	}
	if v := c.r.Header.Get("X-Amz-If-Match-Initiated-Time"); v != "" {
		// A date before the upload began is another upload's: refused.
		// Later dates are ignored, as S3 does.
		t, err := http.ParseTime(v)
		if err != nil {
			return errCode("InvalidArgument", http.StatusBadRequest, "x-amz-if-match-initiated-time %q is not an HTTP date", v)
		}
		up, err := c.s.uploads.Get(c.r.Context(), c.bucket, c.key, c.q.Get("uploadId"))
		if err != nil {
			return err
		}
		if t.Unix() < up.Initiated.Unix() {
			return storage.ErrPreconditionFailed
		}
	}
	if err := c.s.uploads.Abort(c.r.Context(), c.bucket, c.key, c.q.Get("uploadId")); err != nil {
		return err
	}
	_ = c.s.setUploadChecksum(context.WithoutCancel(c.r.Context()), c.bucket, c.q.Get("uploadId"), uploadChecksum{})
	_ = c.s.setObjectLock(context.WithoutCancel(c.r.Context()), c.bucket, c.key, uploadLockKey(c.q.Get("uploadId")), objLock{})
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *call) listParts() error {
	if err := c.allow("s3:ListMultipartUploadParts", c.bucket, c.key); err != nil {
		return err
	}
	if err := c.multipartOn(); err != nil {
		return err
	}
	id := c.q.Get("uploadId")
	maxParts, err := intParam(c.q, "max-parts", 1000)
	if err != nil {
		return err
	}
	marker, err := intParam(c.q, "part-number-marker", 0)
	if err != nil {
		return err
	}
	parts, err := c.s.uploads.Parts(c.r.Context(), c.bucket, c.key, id)
	if err != nil {
		return err
	}
	// S3 says "null" for an upload created without a checksum.
	out := listPartsResult{Xmlns: s3NS, Bucket: c.bucket, Key: c.key, UploadID: id, MaxParts: maxParts,
		PartNumberMarker: marker, StorageClass: "STANDARD", ChecksumAlgorithm: "null", ChecksumType: "null"}
	uc, _ := c.s.uploadChecksumOf(c.r.Context(), c.bucket, c.key, id)
	if uc.Algorithm != "" {
		out.ChecksumAlgorithm, out.ChecksumType = uc.Algorithm, uc.Type
	}
	for _, pt := range parts {
		if pt.PartNumber <= marker {
			continue
		}
		if len(out.Parts) == min(maxParts, 1000) {
			out.IsTruncated = true
			break
		}
		px := partXML{PartNumber: pt.PartNumber, LastModified: isoTime(pt.LastModified), ETag: `"` + pt.ETag + `"`, Size: pt.Size}
		if v := partChecksumOf(pt, uc.Algorithm); uc.Algorithm != "" && v != "" {
			px.Checksums = []checksumValue{checksumElem(uc.Algorithm, v)}
		}
		out.Parts = append(out.Parts, px)
		out.NextPartNumberMarker = pt.PartNumber
	}
	writeXML(c.w, http.StatusOK, out)
	return nil
}

// multipartETag is the ETag of the object completed from parts: the MD5
// of the parts' MD5s, "-" and their number.
func multipartETag(parts []storage.CompletedPart) string {
	h := md5.New()
	for _, p := range parts {
		sum, err := hex.DecodeString(strings.Trim(p.ETag, `"`))
		if err != nil || len(sum) != md5.Size {
			return ""
		}
		h.Write(sum)
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
}

// intParam reads a non-negative integer query parameter (def if absent).
func intParam(q url.Values, name string, def int) (int, error) {
	if !q.Has(name) {
		return def, nil
	}
	v := q.Get(name)
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, errCode("InvalidArgument", http.StatusBadRequest, "Provided %s not an integer or within integer range", v)
	}
	if n < 0 {
		return 0, errCode("InvalidArgument", http.StatusBadRequest, "Argument %s must be an integer between 0 and 2147483647", v)
	}
	return int(n), nil
}

func (s *Server) listUploads(w http.ResponseWriter, r *http.Request, p *auth.Principal, bucket string, q url.Values) error {
	if err := s.authorize(r.Context(), p, "s3:ListBucketMultipartUploads", bucket, ""); err != nil {
		return err
	}
	if _, err := s.store.HeadBucket(r.Context(), bucket); err != nil {
		return err
	}
	if s.uploads == nil {
		return errCode("NotImplemented", http.StatusNotImplemented, "multipart uploads are not enabled")
	}
	maxUploads, err := intParam(q, "max-uploads", 1000)
	if err != nil {
		return err
	}
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	keyMarker, idMarker := q.Get("key-marker"), q.Get("upload-id-marker")
	if keyMarker == "" {
		idMarker = "" // S3 reads it only after a key marker
	}
	if idMarker != "" {
		// tarn's upload ids are 32 hex digits: anything else names no upload.
		if _, err := hex.DecodeString(idMarker); err != nil || len(idMarker) != 32 {
			return withFields(errCode("InvalidArgument", http.StatusBadRequest, "Invalid uploadId marker"),
				errorFields{ArgumentName: "upload-id-marker", ArgumentValue: idMarker})
		}
	}
	ups, err := s.uploads.List(r.Context(), bucket, prefix)
	if err != nil {
		return err
	}
	maxUploads = min(maxUploads, 1000)
	out := listMultipartUploadsResult{Xmlns: s3NS, Bucket: bucket, Prefix: prefix, Delimiter: delim, MaxUploads: maxUploads,
		KeyMarker: keyMarker, UploadIDMarker: idMarker}
	own := &owner{ID: "tarn", DisplayName: "tarn"}
	ucs, err := s.uploadChecksums(r.Context(), bucket)
	if err != nil {
		return err
	}
	// An upload id marker resumes after that upload of the key marker,
	// in the listing's order (by key, then by initiation).
	passed := idMarker == ""
	n := 0
	for _, u := range ups {
		if u.Key < keyMarker || u.Key == keyMarker && idMarker == "" {
			continue
		}
		if u.Key == keyMarker && !passed {
			passed = u.UploadID == idMarker
			continue
		}
		entry, isPrefix := u.Key, false
		if delim != "" {
			if i := strings.Index(u.Key[len(prefix):], delim); i >= 0 {
				entry, isPrefix = u.Key[:len(prefix)+i+len(delim)], true
			}
		}
		if isPrefix && len(out.CommonPrefixes) > 0 && out.CommonPrefixes[len(out.CommonPrefixes)-1].Prefix == entry {
			continue
		}
		if n == min(maxUploads, 1000) {
			out.IsTruncated = true
			break
		}
		n++
		if isPrefix {
			// The markers name the first upload rolled into the prefix.
			out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: entry})
			out.NextKeyMarker, out.NextUploadIDMarker = entry, u.UploadID
			continue
		}
		uc := ucs[u.UploadID]
		if u.Checksum.Algorithm != "" {
			uc = uploadChecksum{Algorithm: u.Checksum.Algorithm, Type: u.Checksum.Type}
		}
		out.Uploads = append(out.Uploads, uploadXML{Key: u.Key, UploadID: u.UploadID, Initiated: isoTime(u.Initiated), StorageClass: "STANDARD",
			Initiator: own, Owner: own, ChecksumAlgorithm: uc.Algorithm, ChecksumType: uc.Type})
		out.NextKeyMarker, out.NextUploadIDMarker = u.Key, u.UploadID
	}
	if !out.IsTruncated {
		out.NextKeyMarker, out.NextUploadIDMarker = "", ""
	}
	writeXML(w, http.StatusOK, out)
	return nil
}

// uploadPartCopy answers UploadPartCopy: part n is the source object, or
// the bytes x-amz-copy-source-range selects of it.
func (c *call) uploadPartCopy(n int, src string) error {
	ctx := c.r.Context()
	id := c.q.Get("uploadId")
	sb, sk, srcVID, err := parseCopySource(src)
	if err != nil {
		return err
	}
	getAction := "s3:GetObject"
	if srcVID != "" {
		getAction = "s3:GetObjectVersion"
	}
	if err := c.allow(getAction, sb, sk); err != nil {
		return err
	}
	// The upload is checked before the source is read.
	if _, err := c.s.uploads.Get(c.r.Context(), c.bucket, c.key, id); err != nil {
		return err
	}
	var v storage.Versioned
	if srcVID != "" {
		if v, err = c.s.versioned(); err != nil {
			return err
		}
	}
	var srcInfo storage.ObjectInfo
	if v != nil {
		srcInfo, err = v.HeadVersion(ctx, sb, sk, srcVID)
	} else {
		srcInfo, err = c.s.store.Head(ctx, sb, sk)
	}
	if err != nil {
		return err
	}
	if err := copySourceConditions(c.r, srcInfo); err != nil {
		return err
	}
	var rng *storage.Range
	size := srcInfo.Size
	if h := c.r.Header.Get("x-amz-copy-source-range"); h != "" {
		first, last, ok := parseCopyRange(h)
		if !ok {
			return errCode("InvalidArgument", http.StatusBadRequest, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
		}
		if last >= srcInfo.Size {
			return errCode("InvalidArgument", http.StatusBadRequest, "Range specified is not valid for source object of size: %d", srcInfo.Size)
		}
		rng = &storage.Range{Offset: first, Length: last - first + 1}
		size = last - first + 1
	}
	if size > storage.MaxPartSize {
		return errCode("EntityTooLarge", http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed size")
	}
	// A part copied into an upload with a checksum gets one computed.
	uc, err := c.s.uploadChecksumOf(ctx, c.bucket, c.key, id)
	if err != nil {
		return err
	}
	alg := uc.Algorithm
	var part storage.PartInfo
	var ph *partHashes
	if v == nil && alg == "" && c.s.uploads.CopiesParts() {
		// Inside the external store: the bytes do not pass through tarn
		// (pinned to the source checked above).
		if part, err = c.s.uploads.CopyPart(ctx, c.bucket, c.key, id, n, sb, sk, rng, srcInfo.ETag); err != nil {
			return err
		}
	} else {
		var rc io.ReadCloser
		if v != nil {
			rc, _, err = v.GetVersion(ctx, sb, sk, srcVID, rng)
		} else if size == 0 {
			rc = io.NopCloser(strings.NewReader(""))
		} else {
			rc, _, err = c.s.store.Get(ctx, sb, sk, rng)
		}
		if err != nil {
			return err
		}
		defer rc.Close()
		var body io.Reader
		ph, body = newPartHashes(rc, &http.Request{Header: http.Header{}}, alg, "")
		if part, err = c.s.uploads.PutPartOpts(ctx, c.bucket, c.key, id, n, body, size, storage.PartOptions{ChecksumsFrom: ph.checksums}); err != nil {
			return err
		}
	}
	if srcInfo.VersionID != "" {
		c.w.Header().Set("x-amz-copy-source-version-id", srcInfo.VersionID)
	}
	res := copyPartResult{Xmlns: s3NS, LastModified: isoTime(part.LastModified), ETag: `"` + part.ETag + `"`}
	if ph != nil && ph.cr != nil {
		res.Checksums = []checksumValue{checksumElem(alg, ph.cr.got)}
	}
	writeXML(c.w, http.StatusOK, res)
	return nil
}

// parseCopyRange parses x-amz-copy-source-range: bytes=first-last, both
// given, first <= last.
func parseCopyRange(h string) (first, last int64, ok bool) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, false
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first < 0 || last < first {
		return 0, 0, false
	}
	return first, last, true
}

// location is the URL of an object, as this request reached the server.
func (s *Server) location(r *http.Request, bucket, key string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if strings.HasPrefix(r.Host, bucket+".") { // virtual-host style
		return scheme + "://" + r.Host + "/" + key
	}
	return scheme + "://" + r.Host + "/" + bucket + "/" + key
}
