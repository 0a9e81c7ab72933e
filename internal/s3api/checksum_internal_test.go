package s3api

import (
	"fmt"
	"testing"
)

// The catalogue's check values (the checksum of "123456789"): a table
// typed wrong would make every client's checksum BadDigest.
func TestChecksumCheckValues(t *testing.T) {
	for alg, want := range map[string]string{
		"CRC32": "cbf43926", "CRC32C": "e3069283", "CRC64NVME": "ae8b14860a799888",
		"SHA1": "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
	} {
		h := checksumAlgorithms[alg]()
		h.Write([]byte("123456789"))
		if got := fmt.Sprintf("%x", h.Sum(nil)); got != want {
			t.Errorf("%s(123456789) = %s, want %s", alg, got, want)
		}
	}
}
