package s3store_test

import (
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/s3store"
	"github.com/tarn-lake/tarn/internal/storage/s3store/gatewaytest"
	"github.com/tarn-lake/tarn/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	// versitygw's POSIX backend keeps objects as files in folders; keys
	// lose the room the prefix "lake/" and the suite's 22-byte bucket
	// names take.
	runConformance(t, needGateway(t).Gateway, storagetest.Capabilities{FilesystemKeys: true,
		MaxKeyLength: storage.MaxKeyLength - len("lake/tarn-test-123456789012/")})
}

// The same suite on MinIO, the other S3 server teams run themselves.
func TestConformanceMinIO(t *testing.T) {
	// MinIO keeps objects as folders on its drive too, reads a backslash
	// as a slash, and a key's room is 1,024 bytes less the prefix.
	runConformance(t, gatewaytest.StartMinIO(t), storagetest.Capabilities{FilesystemKeys: true, BackslashIsSlash: true,
		MaxKeyLength: 1024 - len("lake/tarn-test-123456789012/")})
}

// runConformance runs storagetest on stores of one external bucket and
// prefix of g, shared by every subtest (the suite's buckets are named
// uniquely).
func runConformance(t *testing.T, g *gatewaytest.Gateway, caps storagetest.Capabilities) {
	cfg := s3store.Config{
		Bucket: g.NewExternalBucket(t), Prefix: "lake/", Endpoint: g.Endpoint, PathStyle: true,
		AccessKey: gwAccess, SecretKey: gwSecret,
	}
	storagetest.RunWith(t, func(t *testing.T) storage.ObjectStore {
		s, err := s3store.New(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, caps)
}
