package s3api

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"

	"github.com/tarn-lake/tarn/internal/storage"
)

// versioned returns the store's versioning, or NotImplemented.
func (s *Server) versioned() (storage.Versioned, error) {
	v, ok := s.store.(storage.Versioned)
	if !ok {
		return nil, errCode("NotImplemented", http.StatusNotImplemented, "This object store does not keep versions")
	}
	return v, nil
}

// maxVersioningBody bounds a PutBucketVersioning request.
const maxVersioningBody = 64 << 10

func (s *Server) putBucketVersioning(w http.ResponseWriter, r *http.Request, bucket string) error {
	v, err := s.versioned()
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxVersioningBody+1))
	if err != nil {
		return err
	}
	var cfg versioningConfiguration
	if len(body) > maxVersioningBody || xml.Unmarshal(body, &cfg) != nil {
		return errCode("MalformedXML", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema.")
	}
	if cfg.MfaDelete == "Enabled" {
		return errCode("NotImplemented", http.StatusNotImplemented, "MFA delete is not supported")
	}
	switch cfg.Status {
	case storage.VersioningEnabled, storage.VersioningSuspended:
	default:
		return errCode("IllegalVersioningConfigurationException", http.StatusBadRequest, "The versioning status must be Enabled or Suspended")
	}
	if err := v.SetVersioning(r.Context(), bucket, cfg.Status); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getBucketVersioning(w http.ResponseWriter, r *http.Request, bucket string) error {
	var status string
	if v, ok := s.store.(storage.Versioned); ok {
		var err error
		if status, err = v.Versioning(r.Context(), bucket); err != nil {
			return err
		}
	} else if _, err := s.store.HeadBucket(r.Context(), bucket); err != nil {
		return err
	}
	// A bucket that was never versioned has no Status, as in S3.
	writeXML(w, http.StatusOK, versioningConfiguration{Xmlns: s3NS, Status: status})
	return nil
}

func (s *Server) listObjectVersions(w http.ResponseWriter, r *http.Request, bucket string, q url.Values) error {
	v, err := s.versioned()
	if err != nil {
		return err
	}
	mk, err := maxKeys(q)
	if err != nil {
		return err
	}
	enc := q.Get("encoding-type")
	opts := storage.VersionListOptions{Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"),
		KeyMarker: q.Get("key-marker"), VersionIDMarker: q.Get("version-id-marker"), MaxKeys: mk}
	if opts.VersionIDMarker != "" && opts.KeyMarker == "" {
		return errCode("InvalidArgument", http.StatusBadRequest, "A version-id marker cannot be specified without a key marker.")
	}
	var res storage.VersionListResult
	if mk == 0 {
		_, err = s.store.HeadBucket(r.Context(), bucket)
	} else {
		res, err = v.ListVersions(r.Context(), bucket, opts)
	}
	if err != nil {
		return err
	}
	out := listVersionsResult{
		Xmlns: s3NS, Name: bucket, Prefix: encodeKey(opts.Prefix, enc), KeyMarker: encodeKey(opts.KeyMarker, enc),
		VersionIDMarker: opts.VersionIDMarker, MaxKeys: mk, Delimiter: encodeKey(opts.Delimiter, enc),
		IsTruncated: res.IsTruncated, EncodingType: enc, CommonPrefixes: prefixesXML(res.CommonPrefixes, enc),
	}
	if res.IsTruncated {
		out.NextKeyMarker, out.NextVersionIDMarker = encodeKey(res.NextKeyMarker, enc), res.NextVersionIDMarker
	}
	own := owner{ID: "tarn", DisplayName: "tarn"}
	for _, o := range res.Versions {
		x := versionXML{Key: encodeKey(o.Key, enc), VersionID: o.VersionID, IsLatest: o.IsLatest,
			LastModified: isoTime(o.LastModified), Owner: own}
		if o.IsDeleteMarker {
			x.XMLName.Local = "DeleteMarker"
		} else {
			size := o.Size
			x.XMLName.Local = "Version"
			x.ETag, x.Size, x.StorageClass = `"`+o.ETag+`"`, &size, "STANDARD"
		}
		out.Versions = append(out.Versions, x)
	}
	writeXML(w, http.StatusOK, out)
	return nil
}

// deleteObject deletes a key (vid "") or one of its versions. In a
// versioned bucket deleting a key adds a delete marker.
func (s *Server) deleteObject(ctx context.Context, bucket, key, vid string) (storage.DeleteResult, error) {
	v, ok := s.store.(storage.Versioned)
	if !ok {
		if vid != "" && vid != storage.NullVersionID {
			return storage.DeleteResult{}, nil // no such version: nothing to delete
		}
		return storage.DeleteResult{}, s.store.Delete(ctx, bucket, key)
	}
	return v.DeleteVersion(ctx, bucket, key, vid)
}

func setDeleteHeaders(w http.ResponseWriter, res storage.DeleteResult) {
	setVersionHeader(w, res.VersionID)
	if res.DeleteMarker {
		w.Header().Set("x-amz-delete-marker", "true")
	}
}
