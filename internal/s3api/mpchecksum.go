package s3api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/tarn-lake/tarn/internal/storage"
)

// The checksum a multipart upload is created with (x-amz-checksum-algorithm
// and x-amz-checksum-type): checked as S3 checks it, answered back, and
// kept with the upload (storage.UploadInfo.Checksum, seen by every server
// of a lake on an external store), so that each part is held to it.
// Uploads created before that kept it in a document of the bucket, still
// read for them and emptied as they end.

const uploadChecksumsDoc = "uploadChecksums"

type uploadChecksum struct {
	Algorithm string `json:"algorithm"`
	Type      string `json:"type"`
}

// fullObjectAlgorithms are the checksums S3 can combine into a checksum
// of the whole object.
var fullObjectAlgorithms = map[string]bool{"CRC32": true, "CRC32C": true, "CRC64NVME": true}

// createChecksum reads CreateMultipartUpload's checksum headers.
func createChecksum(h http.Header) (uploadChecksum, error) {
	alg := strings.ToUpper(strings.TrimSpace(h.Get("X-Amz-Checksum-Algorithm")))
	typ := strings.ToUpper(strings.TrimSpace(h.Get("X-Amz-Checksum-Type")))
	if alg != "" {
		if _, ok := checksumAlgorithms[alg]; !ok {
			return uploadChecksum{}, errCode("InvalidRequest", http.StatusBadRequest, "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, MD5, SHA1, SHA256, SHA512, XXHASH128, XXHASH3, XXHASH64]")
		}
	}
	if typ != "" && typ != "COMPOSITE" && typ != "FULL_OBJECT" {
		return uploadChecksum{}, errCode("InvalidRequest", http.StatusBadRequest, "Value for x-amz-checksum-type header is invalid.")
	}
	if typ != "" && alg == "" {
		return uploadChecksum{}, errCode("InvalidRequest", http.StatusBadRequest, "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
	}
	if alg == "" {
		return uploadChecksum{}, nil
	}
	if typ == "" {
		typ = "COMPOSITE"
		if alg == "CRC64NVME" {
			typ = "FULL_OBJECT"
		}
	}
	if typ == "FULL_OBJECT" && !fullObjectAlgorithms[alg] || typ == "COMPOSITE" && alg == "CRC64NVME" {
		return uploadChecksum{}, errCode("InvalidRequest", http.StatusBadRequest, "The %s checksum type cannot be used with the %s checksum algorithm.", typ, strings.ToLower(alg))
	}
	return uploadChecksum{Algorithm: alg, Type: typ}, nil
}

func (s *Server) uploadChecksums(ctx context.Context, bucket string) (map[string]uploadChecksum, error) {
	m := map[string]uploadChecksum{}
	bc, ok := s.store.(storage.BucketConfigs)
	if !ok {
		return m, nil
	}
	data, err := bc.BucketConfig(ctx, bucket, uploadChecksumsDoc)
	if errors.Is(err, storage.ErrNoSuchBucketConfig) || err == nil && len(data) == 0 {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	return m, json.Unmarshal(data, &m)
}

// setUploadChecksum records (or, zero, forgets) an upload's checksum.
func (s *Server) setUploadChecksum(ctx context.Context, bucket, uploadID string, uc uploadChecksum) error {
	bc, ok := s.store.(storage.BucketConfigs)
	if !ok {
		return nil
	}
	s.locks.up.Lock()
	defer s.locks.up.Unlock()
	m, err := s.uploadChecksums(ctx, bucket)
	if err != nil {
		return err
	}
	if _, had := m[uploadID]; !had && uc == (uploadChecksum{}) {
		return nil
	}
	if uc == (uploadChecksum{}) {
		delete(m, uploadID)
	} else {
		m[uploadID] = uc
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return bc.SetBucketConfig(ctx, bucket, uploadChecksumsDoc, data)
}

// uploadChecksumOf returns the checksum upload id was created with (zero
// for none).
func (s *Server) uploadChecksumOf(ctx context.Context, bucket, key, id string) (uploadChecksum, error) {
	up, err := s.uploads.Get(ctx, bucket, key, id)
	if err != nil {
		return uploadChecksum{}, err
	}
	if up.Checksum.Algorithm != "" {
		return uploadChecksum{Algorithm: up.Checksum.Algorithm, Type: up.Checksum.Type}, nil
	}
	m, err := s.uploadChecksums(ctx, bucket)
	if err != nil {
		return uploadChecksum{}, err
	}
	return m[id], nil
}

// partChecksum holds a part's checksum algorithm (alg, "" for none) to
// its upload's, and returns the algorithm the part is to be checked and
// answered with: a FULL_OBJECT upload's parts get theirs computed when
// they come without one; a COMPOSITE upload's must bring theirs.
func (s *Server) partChecksum(ctx context.Context, bucket, key, uploadID, alg string) (string, error) {
	uc, err := s.uploadChecksumOf(ctx, bucket, key, uploadID)
	if errors.Is(err, storage.ErrNoSuchUpload) {
		return alg, nil // the part's write answers NoSuchUpload
	}
	if err != nil {
		return "", err
	}
	switch {
	case uc.Algorithm == "" || uc.Algorithm == alg:
		return alg, nil
	case alg == "" && uc.Type == "FULL_OBJECT":
		return uc.Algorithm, nil
	case alg == "":
		alg = "null"
	}
	return "", errCode("InvalidRequest", http.StatusBadRequest, "Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s", uc.Algorithm, alg)
}

// checksumElem is the Checksum<ALGORITHM> element of a value.
func checksumElem(alg, value string) checksumValue {
	return checksumValue{XMLName: xml.Name{Local: "Checksum" + alg}, Value: value}
}

// partHashes computes what a part is kept with: the checksum of the
// algorithm it is checked with (alg, verified by cr) and, always, its
// CRC64NVME, from which the default checksum of the object an upload
// without a checksum completes is combined (S3 gives every object one).
type partHashes struct {
	cr  *checksumReader
	h64 hash.Hash
}

// wrap returns body read through the part's hashes.
func newPartHashes(body io.Reader, r *http.Request, alg, want string) (*partHashes, io.Reader) {
	ph := &partHashes{}
	if alg != "" {
		ph.cr = newChecksumReader(body, r, alg, want)
		body = ph.cr
	}
	if alg != "CRC64NVME" {
		ph.h64 = checksumAlgorithms["CRC64NVME"]()
		body = io.TeeReader(body, ph.h64)
	}
	return ph, body
}

// checksums are the part's checksums, once its body is read.
func (ph *partHashes) checksums() []storage.Checksum {
	var out []storage.Checksum
	if ph.cr != nil {
		out = append(out, ph.cr.checksum())
	}
	if ph.h64 != nil {
		out = append(out, storage.Checksum{Algorithm: "CRC64NVME", Value: base64.StdEncoding.EncodeToString(ph.h64.Sum(nil))})
	}
	return out
}

// partChecksumOf returns a part's stored checksum of algorithm alg.
func partChecksumOf(p storage.PartInfo, alg string) string {
	for _, c := range p.Checksums {
		if c.Algorithm == alg {
			return c.Value
		}
	}
	return ""
}

// validChecksumValue reports whether v is a base64 checksum of alg.
func validChecksumValue(alg, v string) bool {
	newHash, ok := checksumAlgorithms[alg]
	if !ok {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(v)
	return err == nil && len(b) == newHash().Size()
}

// completeChecksumHeaders reads CompleteMultipartUpload's headers of the
// whole object's checksum: x-amz-checksum-type and at most one
// x-amz-checksum-<algorithm> (alg and value, "" if none).
func completeChecksumHeaders(h http.Header) (typ, alg, value string, err error) {
	if vs, ok := h[http.CanonicalHeaderKey("X-Amz-Checksum-Type")]; ok {
		typ = strings.ToUpper(strings.TrimSpace(vs[0]))
		if typ != "COMPOSITE" && typ != "FULL_OBJECT" {
			return "", "", "", errCode("InvalidRequest", http.StatusBadRequest, "Value for x-amz-checksum-type header is invalid.")
		}
	}
	n := 0
	for name, vs := range h {
		lower := strings.ToLower(name)
		a, ok := strings.CutPrefix(lower, "x-amz-checksum-")
		if !ok || a == "type" || a == "algorithm" || a == "mode" {
			continue
		}
		if _, known := checksumAlgorithms[strings.ToUpper(a)]; !known {
			return "", "", "", errCode("InvalidRequest", http.StatusBadRequest, "The algorithm type you specified in x-amz-checksum- header is invalid.")
		}
		n++
		alg, value = strings.ToUpper(a), vs[0]
	}
	if n > 1 {
		return "", "", "", errCode("InvalidRequest", http.StatusBadRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
	}
	if alg != "" {
		v := value
		if i := strings.IndexByte(v, '-'); i >= 0 {
			// A composite checksum's part count.
			if k, err := strconv.Atoi(v[i+1:]); err != nil || k < 1 || strconv.Itoa(k) != v[i+1:] {
				return "", "", "", errCode("InvalidRequest", http.StatusBadRequest, "Value for %s header is invalid.", checksumHeader(alg))
			}
			v = v[:i]
		}
		if !validChecksumValue(alg, v) {
			return "", "", "", errCode("InvalidRequest", http.StatusBadRequest, "Value for %s header is invalid.", checksumHeader(alg))
		}
	}
	return typ, alg, value, nil
}

// finalChecksum checks the parts' checksums a CompleteMultipartUpload
// names against those the parts were stored with, and returns the
// checksum of the object they make: for an upload created with a
// checksum, the COMPOSITE checksum of the parts' checksums ("-N") or
// the FULL_OBJECT CRC combined from theirs; for one created without,
// the CRC64NVME S3 gives every object (none if a part has no CRC64NVME,
// such as one stored before tarn kept them). Parts that are missing or
// whose ETag does not match are left for the completion to refuse.
func finalChecksum(uc uploadChecksum, req completeMultipartUpload, stored []storage.PartInfo) (storage.Checksum, error) {
	byNum := map[int]storage.PartInfo{}
	for _, p := range stored {
		byNum[p.PartNumber] = p
	}
	var use []storage.PartInfo
	for _, pt := range req.Parts {
		n := *pt.PartNumber
		var given []string
		for _, c := range pt.Checksums {
			if a, ok := strings.CutPrefix(c.XMLName.Local, "Checksum"); ok && a != "" {
				if _, known := checksumAlgorithms[a]; known {
					given = append(given, a+":"+strings.TrimSpace(c.Value))
				}
			}
		}
		if len(given) > 1 {
			return storage.Checksum{}, withFields(errCode("InvalidArgument", http.StatusBadRequest, "Invalid Base64 or multiple checksums present in request"),
				errorFields{ArgumentName: "Checksum", ArgumentValue: strings.Join(given, ";") + ";"})
		}
		p, ok := byNum[n]
		if !ok || strings.Trim(pt.ETag, `"`) != p.ETag {
			return storage.Checksum{}, nil // the completion answers InvalidPart
		}
		use = append(use, p)
		if len(given) == 0 {
			if uc.Algorithm != "" {
				return storage.Checksum{}, errCode("InvalidRequest", http.StatusBadRequest, "The upload was created using a %s checksum. The complete request must include the checksum for each part. It was missing for part %d in the request.", strings.ToLower(uc.Algorithm), n)
			}
			continue
		}
		alg, value, _ := strings.Cut(given[0], ":")
		if !validChecksumValue(alg, value) {
			return storage.Checksum{}, withFields(errCode("InvalidArgument", http.StatusBadRequest, "Invalid Base64 or multiple checksums present in request"),
				errorFields{ArgumentName: "Checksum", ArgumentValue: value})
		}
		if value != partChecksumOf(p, alg) {
			if alg == uc.Algorithm || uc.Algorithm == "" {
				return storage.Checksum{}, errCode("InvalidPart", http.StatusBadRequest, "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
			}
			return storage.Checksum{}, errCode("BadDigest", http.StatusBadRequest, "The %s you specified for part %d did not match what we received.", strings.ToLower(alg), n)
		}
	}
	alg, typ := uc.Algorithm, uc.Type
	if alg == "" {
		alg, typ = "CRC64NVME", "FULL_OBJECT"
	}
	switch typ {
	case "COMPOSITE":
		h := checksumAlgorithms[alg]()
		for _, p := range use {
			b, err := base64.StdEncoding.DecodeString(partChecksumOf(p, alg))
			if err != nil || len(b) == 0 {
				return storage.Checksum{}, nil
			}
			h.Write(b)
		}
		return storage.Checksum{Algorithm: alg, Type: typ,
			Value: base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(use))}, nil
	default:
		var sum string
		for i, p := range use {
			v := partChecksumOf(p, alg)
			if v == "" {
				return storage.Checksum{}, nil
			}
			if i == 0 {
				sum = v
				continue
			}
			var ok bool
			if sum, ok = combineChecksums(alg, sum, v, p.Size); !ok {
				return storage.Checksum{}, nil
			}
		}
		return storage.Checksum{Algorithm: alg, Type: "FULL_OBJECT", Value: sum}, nil
	}
}
