package s3api

import (
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/storage"
)

// maxCompleteBody bounds a CompleteMultipartUpload request (10,000 parts).
const maxCompleteBody = 4 << 20

func (s *Server) multipart(w http.ResponseWriter, r *http.Request, p *auth.Principal, bucket, key string, q url.Values) error {
	ctx := r.Context()
	res := auth.S3Resource(bucket, key)
	if s.uploads == nil {
		return errCode("NotImplemented", http.StatusNotImplemented, "multipart uploads are not enabled")
	}
	id := q.Get("uploadId")
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		if err := p.Authorize("s3:PutObject", res); err != nil {
			return err
		}
		if err := storage.ValidateKey(key); err != nil {
			return err
		}
		id, err := s.uploads.Create(ctx, bucket, key, storage.PutOptions{ContentType: r.Header.Get("Content-Type"), Metadata: metadataFrom(r.Header)})
		if err != nil {
			return err
		}
		writeXML(w, http.StatusOK, initiateMultipartUploadResult{Xmlns: s3NS, Bucket: bucket, Key: key, UploadID: id})
		return nil
	case r.Method == http.MethodPut && id != "":
		if err := p.Authorize("s3:PutObject", res); err != nil {
			return err
		}
		n, err := strconv.Atoi(q.Get("partNumber"))
		if err != nil {
			return errCode("InvalidArgument", http.StatusBadRequest, "Part number must be an integer between 1 and 10000, inclusive")
		}
		var md5sum []byte
		if m := r.Header.Get("Content-MD5"); m != "" {
			if md5sum, err = base64.StdEncoding.DecodeString(m); err != nil || len(md5sum) != 16 {
				return errCode("InvalidDigest", http.StatusBadRequest, "The Content-MD5 you specified is not valid.")
			}
		}
		// As in putObject: the length auth verified, never the
		// (possibly unsigned) x-amz-decoded-content-length header.
		size := r.ContentLength
		if size > storage.MaxPartSize {
			return errCode("EntityTooLarge", http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed size")
		}
		part, err := s.uploads.PutPartSize(ctx, bucket, key, id, n, newExactReader(r.Body, size), size, md5sum)
		if err != nil {
			return err
		}
		w.Header().Set("ETag", `"`+part.ETag+`"`)
		w.WriteHeader(http.StatusOK)
		return nil
	case r.Method == http.MethodPost && id != "":
		if err := p.Authorize("s3:PutObject", res); err != nil {
			return err
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxCompleteBody+1))
		if err != nil {
			return err
		}
		var req completeMultipartUpload
		if len(body) > maxCompleteBody || xml.Unmarshal(body, &req) != nil {
			return errCode("MalformedXML", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema")
		}
		parts := make([]storage.CompletedPart, len(req.Parts))
		for i, pt := range req.Parts {
			parts[i] = storage.CompletedPart{PartNumber: pt.PartNumber, ETag: pt.ETag}
		}
		info, err := s.uploads.Complete(ctx, bucket, key, id, parts)
		if err != nil {
			return err
		}
		setVersionHeader(w, info.VersionID)
		writeXML(w, http.StatusOK, completeMultipartUploadResult{Xmlns: s3NS, Location: "/" + bucket + "/" + key, Bucket: bucket, Key: key, ETag: `"` + info.ETag + `"`})
		if s.created != nil {
			s.created(ctx, info, "CompleteMultipartUpload")
		}
		return nil
	case r.Method == http.MethodDelete && id != "":
		if err := p.Authorize("s3:AbortMultipartUpload", res); err != nil {
			return err
		}
		if err := s.uploads.Abort(bucket, key, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case r.Method == http.MethodGet && id != "":
		if err := p.Authorize("s3:ListMultipartUploadParts", res); err != nil {
			return err
		}
		parts, err := s.uploads.Parts(bucket, key, id)
		if err != nil {
			return err
		}
		out := listPartsResult{Xmlns: s3NS, Bucket: bucket, Key: key, UploadID: id, MaxParts: storage.MaxParts}
		for _, pt := range parts {
			out.Parts = append(out.Parts, partXML{PartNumber: pt.PartNumber, LastModified: isoTime(pt.LastModified), ETag: `"` + pt.ETag + `"`, Size: pt.Size})
		}
		writeXML(w, http.StatusOK, out)
		return nil
	}
	return errCode("MethodNotAllowed", http.StatusMethodNotAllowed, "The specified method is not allowed against this resource.")
}

func (s *Server) listUploads(w http.ResponseWriter, r *http.Request, p *auth.Principal, bucket string, q url.Values) error {
	if err := p.Authorize("s3:ListBucketMultipartUploads", auth.S3Resource(bucket, "")); err != nil {
		return err
	}
	if _, err := s.store.HeadBucket(r.Context(), bucket); err != nil {
		return err
	}
	if s.uploads == nil {
		return errCode("NotImplemented", http.StatusNotImplemented, "multipart uploads are not enabled")
	}
	ups, err := s.uploads.List(bucket, q.Get("prefix"))
	if err != nil {
		return err
	}
	out := listMultipartUploadsResult{Xmlns: s3NS, Bucket: bucket, Prefix: q.Get("prefix"), MaxUploads: 1000}
	for _, u := range ups {
		out.Uploads = append(out.Uploads, uploadXML{Key: u.Key, UploadID: u.UploadID, Initiated: isoTime(u.Initiated), StorageClass: "STANDARD"})
	}
	writeXML(w, http.StatusOK, out)
	return nil
}
