package s3api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/tarn-lake/tarn/internal/storage"
)

// The checksum a multipart upload is created with (x-amz-checksum-algorithm
// and x-amz-checksum-type): checked as S3 checks it, answered back, and
// kept with the bucket until the upload ends, so that each part is held
// to it.

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

// partChecksum holds a part's checksum algorithm (alg, "" for none) to
// its upload's, and returns the algorithm the part is to be checked and
// answered with: a FULL_OBJECT upload's parts get theirs computed when
// they come without one; a COMPOSITE upload's must bring theirs.
func (s *Server) partChecksum(ctx context.Context, bucket, uploadID, alg string) (string, error) {
	m, err := s.uploadChecksums(ctx, bucket)
	if err != nil {
		return "", err
	}
	uc, ok := m[uploadID]
	switch {
	case !ok || uc.Algorithm == alg:
		return alg, nil
	case alg == "" && uc.Type == "FULL_OBJECT":
		return uc.Algorithm, nil
	case alg == "":
		alg = "null"
	}
	return "", errCode("InvalidRequest", http.StatusBadRequest, "Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s", uc.Algorithm, alg)
}
