package s3store_test

import (
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/s3store"
	"github.com/tarn-lake/tarn/internal/storage/s3store/gatewaytest"
	"github.com/tarn-lake/tarn/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	g := needGateway(t)
	// One external bucket and prefix shared by every subtest, as the
	// suite's buckets are named uniquely.
	cfg := s3store.Config{
		Bucket: g.newExternalBucket(t), Prefix: "lake/", Endpoint: g.Endpoint, PathStyle: true,
		AccessKey: gwAccess, SecretKey: gwSecret,
	}
	// versitygw's POSIX backend keeps objects as files in folders; keys
	// lose the room the prefix "lake/" and the suite's 22-byte bucket
	// names take.
	caps := storagetest.Capabilities{FilesystemKeys: true, MaxKeyLength: storage.MaxKeyLength - len("lake/tarn-test-123456789012/")}
	storagetest.RunWith(t, func(t *testing.T) storage.ObjectStore {
		s, err := s3store.New(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, caps)
}

// The same suite on MinIO, the other S3 server teams run themselves.
func TestConformanceMinIO(t *testing.T) {
	g := gatewaytest.StartMinIO(t)
	cfg := s3store.Config{
		Bucket: g.NewExternalBucket(t), Prefix: "lake/", Endpoint: g.Endpoint, PathStyle: true,
		AccessKey: gwAccess, SecretKey: gwSecret,
	}
	// MinIO keeps objects as folders on its drive: "a" and "a/b" cannot
	// both be objects, and a key's room is 1,024 bytes less the prefix.
	caps := storagetest.Capabilities{FilesystemKeys: true, BackslashIsSlash: true, MaxKeyLength: 1024 - len("lake/tarn-test-123456789012/")}
	storagetest.RunWith(t, func(t *testing.T) storage.ObjectStore {
		s, err := s3store.New(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, caps)
}
