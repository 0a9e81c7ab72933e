package s3api

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/xml"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/minio/crc64nvme"
	"github.com/zeebo/xxh3"

	"github.com/tarn-lake/tarn/internal/storage"
)

// S3's additional checksums, by the name S3 gives the algorithm.
var checksumAlgorithms = map[string]func() hash.Hash{
	"CRC32":     func() hash.Hash { return crc32.NewIEEE() },
	"CRC32C":    func() hash.Hash { return crc32.New(crc32cTable) },
	"CRC64NVME": func() hash.Hash { return crc64nvme.New() },
	"SHA1":      sha1.New,
	"SHA256":    sha256.New,
	"SHA512":    sha512.New,
	"MD5":       md5.New,
	"XXHASH64":  func() hash.Hash { return xxhash.New() },
	"XXHASH3":   func() hash.Hash { return xxh3.New() },
	"XXHASH128": func() hash.Hash { return xxh3.New128() },
}

var crc32cTable = crc32.MakeTable(crc32.Castagnoli)

// crcPolys are the reflected polynomials of the CRCs S3 can combine into a
// checksum of a whole object (FULL_OBJECT) from its parts' checksums.
var crcPolys = map[string]uint64{"CRC32": crc32.IEEE, "CRC32C": crc32.Castagnoli, "CRC64NVME": 0x9a6c9329ac4bc9b5}

// crcCombine returns the CRC of A followed by B from crcA, crcB and B's
// length, for a reflected CRC of width bits with polynomial poly whose
// register starts and ends inverted (CRC-32, CRC-32C, CRC-64/NVME): zlib's
// crc32_combine, which appends len2 zero bytes to crcA by squaring the
// GF(2) operator of one zero bit.
func crcCombine(poly uint64, width int, crcA, crcB uint64, len2 int64) uint64 {
	if len2 <= 0 {
		return crcA
	}
	times := func(mat []uint64, vec uint64) uint64 {
		var sum uint64
		for i := 0; vec != 0; i, vec = i+1, vec>>1 {
			if vec&1 != 0 {
				sum ^= mat[i]
			}
		}
		return sum
	}
	square := func(dst, mat []uint64) {
		for n := range width {
			dst[n] = times(mat, mat[n])
		}
	}
	odd, even := make([]uint64, width), make([]uint64, width)
	odd[0] = poly // the operator of one zero bit
	for n, row := 1, uint64(1); n < width; n, row = n+1, row<<1 {
		odd[n] = row
	}
	square(even, odd) // two zero bits
	square(odd, even) // four zero bits
	for {
		square(even, odd) // first pass: one zero byte
		if len2&1 != 0 {
			crcA = times(even, crcA)
		}
		if len2 >>= 1; len2 == 0 {
			break
		}
		square(odd, even)
		if len2&1 != 0 {
			crcA = times(odd, crcA)
		}
		if len2 >>= 1; len2 == 0 {
			break
		}
	}
	return crcA ^ crcB
}

// combineChecksums combines the base64 checksums of consecutive byte
// runs (crcA of the first, crcB of the next, lenB bytes long).
func combineChecksums(alg, a, b string, lenB int64) (string, bool) {
	poly, ok := crcPolys[alg]
	if !ok {
		return "", false
	}
	ab, err1 := base64.StdEncoding.DecodeString(a)
	bb, err2 := base64.StdEncoding.DecodeString(b)
	if err1 != nil || err2 != nil || len(ab) != len(bb) || len(ab) != 4 && len(ab) != 8 {
		return "", false
	}
	var x, y uint64
	for i := range ab {
		x, y = x<<8|uint64(ab[i]), y<<8|uint64(bb[i])
	}
	z := crcCombine(poly, len(ab)*8, x, y, lenB)
	out := make([]byte, len(ab))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = byte(z)
		z >>= 8
	}
	return base64.StdEncoding.EncodeToString(out), true
}

// checksumHeader is the header (and trailer) that carries a checksum.
func checksumHeader(alg string) string { return "x-amz-checksum-" + strings.ToLower(alg) }

var errBadChecksumArg = func(format string, args ...any) error {
	return errCode("InvalidRequest", http.StatusBadRequest, format, args...)
}

// requestChecksum reads what a PUT or UploadPart says of its checksum:
// the algorithm and, if given in a header, the value to verify. A value
// sent in an aws-chunked trailer is verified by auth and compared again
// when the body ends. An algorithm without a value (the SDKs'
// x-amz-sdk-checksum-algorithm) is computed and stored.
func requestChecksum(r *http.Request) (alg, want string, err error) {
	fromHeader := false
	for name := range checksumAlgorithms {
		// A header sent empty counts: S3 calls its value invalid.
		if vs, ok := r.Header[http.CanonicalHeaderKey(checksumHeader(name))]; ok {
			if alg != "" {
				return "", "", errBadChecksumArg("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
			}
			alg, want, fromHeader = name, vs[0], true
		}
	}
	if t := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Amz-Trailer"))); t != "" {
		name := strings.ToUpper(strings.TrimPrefix(t, "x-amz-checksum-"))
		if _, ok := checksumAlgorithms[name]; !ok || !strings.HasPrefix(t, "x-amz-checksum-") {
			return "", "", errBadChecksumArg("The value specified in the x-amz-trailer header is not supported")
		}
		if alg != "" {
			// A value in a header and one in the trailer.
			return "", "", errBadChecksumArg("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		alg = name
	}
	if sdk := strings.ToUpper(strings.TrimSpace(r.Header.Get("X-Amz-Sdk-Checksum-Algorithm"))); sdk != "" {
		if _, ok := checksumAlgorithms[sdk]; !ok {
			return "", "", errCode("InvalidRequest", http.StatusBadRequest, "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256, SHA512, MD5, XXHASH64, XXHASH3, XXHASH128]")
		}
		if alg != "" && alg != sdk {
			return "", "", errBadChecksumArg("Value for x-amz-sdk-checksum-algorithm header is invalid.")
		}
		alg = sdk
	}
	if fromHeader || want != "" {
		b, err := base64.StdEncoding.DecodeString(want)
		if err != nil || len(b) != checksumAlgorithms[alg]().Size() {
			return "", "", errCode("InvalidRequest", http.StatusBadRequest, "Value for %s header is invalid.", checksumHeader(alg))
		}
	}
	return alg, want, nil
}

// checksumReader computes a checksum of the body as it is read and, when
// the body ends, compares it with the value expected (a header's, or the
// trailer's that auth left in r.Trailer): a mismatch replaces the EOF by
// BadDigest, so the store never commits the bytes.
type checksumReader struct {
	r    io.Reader
	req  *http.Request
	alg  string
	want string
	h    hash.Hash
	got  string
	// noTrailer: the checksum is computed, not sent (no trailer to
	// compare with).
	noTrailer bool
}

func newChecksumReader(r io.Reader, req *http.Request, alg, want string) *checksumReader {
	return &checksumReader{r: r, req: req, alg: alg, want: want, h: checksumAlgorithms[alg]()}
}

// Len passes on the body's size hint.
func (c *checksumReader) Len() int {
	if l, ok := c.r.(interface{ Len() int }); ok {
		return l.Len()
	}
	return -1
}

func (c *checksumReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	if err == io.EOF {
		c.got = base64.StdEncoding.EncodeToString(c.h.Sum(nil))
		want := c.want
		if want == "" && c.req.Trailer != nil && !c.noTrailer {
			want = c.req.Trailer.Get(checksumHeader(c.alg))
		}
		if want != "" && want != c.got {
			return n, errCode("BadDigest", http.StatusBadRequest, "The %s you specified did not match the calculated checksum.", c.alg)
		}
	}
	return n, err
}

// checksum is the verified checksum, once the body is read.
func (c *checksumReader) checksum() storage.Checksum {
	return storage.Checksum{Algorithm: c.alg, Value: c.got}
}

// setChecksumHeaders answers an object's checksum (PutObject, and GET or
// HEAD with x-amz-checksum-mode: ENABLED).
func setChecksumHeaders(w http.ResponseWriter, c storage.Checksum) {
	if c.Algorithm == "" {
		return
	}
	w.Header().Set(checksumHeader(c.Algorithm), c.Value)
	w.Header().Set("x-amz-checksum-type", checksumType(c))
}

// checksumType is S3's name for the type of a checksum.
func checksumType(c storage.Checksum) string {
	if c.Type == "" {
		return "FULL_OBJECT"
	}
	return c.Type
}

// getObjectAttributes answers GetObjectAttributes: the attributes named in
// x-amz-object-attributes of the object (or a version of it).
func (c *call) getObjectAttributes() error {
	vid, err := c.versionID()
	if err != nil {
		return err
	}
	action := "s3:GetObjectAttributes"
	if vid != "" {
		action = "s3:GetObjectVersionAttributes"
	}
	if err := c.allow(action, c.bucket, c.key); err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, v := range c.r.Header.Values("X-Amz-Object-Attributes") {
		for a := range strings.SplitSeq(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				switch a {
				case "ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize":
					want[a] = true
				default:
					return errCode("InvalidArgument", http.StatusBadRequest, "Invalid attribute name specified.")
				}
			}
		}
	}
	if len(want) == 0 {
		return errCode("InvalidRequest", http.StatusBadRequest, "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty")
	}
	var info storage.ObjectInfo
	if vid != "" {
		v, err := c.s.versioned()
		if err != nil {
			return err
		}
		info, err = v.HeadVersion(c.r.Context(), c.bucket, c.key, vid)
		if err != nil {
			return err
		}
	} else if info, err = c.s.store.Head(c.r.Context(), c.bucket, c.key); err != nil {
		return err
	}
	out := objectAttributes{Xmlns: s3NS}
	if want["ETag"] {
		out.ETag = info.ETag
	}
	if want["StorageClass"] {
		out.StorageClass = "STANDARD"
	}
	if want["ObjectSize"] {
		size := info.Size
		out.ObjectSize = &size
	}
	if want["Checksum"] && info.Checksum.Algorithm != "" {
		out.Checksum = &checksumXML{Values: []checksumValue{{XMLName: xml.Name{Local: "Checksum" + info.Checksum.Algorithm}, Value: info.Checksum.Value}},
			ChecksumType: checksumType(info.Checksum)}
	}
	c.w.Header().Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
	setVersionHeader(c.w, info.VersionID)
	writeXML(c.w, http.StatusOK, out)
	return nil
}
