package s3api

import (
	"encoding/base64"
	"math/rand/v2"
	"testing"
)

// The CRC of two byte runs combined from theirs equals the CRC of both,
// for each CRC S3 combines, at lengths around the byte and word edges.
func TestCRCCombine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 70000)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	sum := func(alg string, b []byte) string {
		h := checksumAlgorithms[alg]()
		h.Write(b)
		return base64.StdEncoding.EncodeToString(h.Sum(nil))
	}
	for alg := range crcPolys {
		for _, cut := range []int{0, 1, 7, 8, 9, 4096, 65537, len(data) - 1, len(data)} {
			a, b := data[:cut], data[cut:]
			got, ok := combineChecksums(alg, sum(alg, a), sum(alg, b), int64(len(b)))
			if !ok || got != sum(alg, data) {
				t.Errorf("%s cut at %d: combined %q, want %q", alg, cut, got, sum(alg, data))
			}
		}
		// Three runs, as three parts.
		x, _ := combineChecksums(alg, sum(alg, data[:100]), sum(alg, data[100:5000]), 4900)
		x, _ = combineChecksums(alg, x, sum(alg, data[5000:]), int64(len(data)-5000))
		if x != sum(alg, data) {
			t.Errorf("%s: three runs combined %q, want %q", alg, x, sum(alg, data))
		}
	}
	if _, ok := combineChecksums("SHA256", "AAAA", "AAAA", 1); ok {
		t.Error("SHA256 combined")
	}
	if _, ok := combineChecksums("CRC32", "AAAA", "AAAAAAAAAAA=", 1); ok {
		t.Error("checksums of two widths combined")
	}
}
