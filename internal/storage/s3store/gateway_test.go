package s3store_test

import (
	"context"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tarn-lake/tarn/internal/storage/s3store"
	"github.com/tarn-lake/tarn/internal/storage/s3store/gatewaytest"
)

// The tests run against versitygw, a real S3 gateway, with its POSIX
// backend in a temp folder: one gateway for the package (gatewaytest),
// each test in external buckets of its own.

const (
	gwAccess = gatewaytest.Access
	gwSecret = gatewaytest.Secret
)

func TestMain(m *testing.M) { gatewaytest.Main(m) }

type gateway struct{ *gatewaytest.Gateway }

func needGateway(t testing.TB) gateway { return gateway{gatewaytest.Need(t)} }

func (g gateway) count(what string) int                 { return g.Count(what) }
func (g gateway) admin() *s3.Client                     { return g.Admin() }
func (g gateway) newExternalBucket(t testing.TB) string { return g.NewExternalBucket(t) }

// readAll reads what the external store holds under key.
func (g gateway) readAll(t testing.TB, bucket, key string) (string, error) {
	t.Helper()
	out, err := g.Admin().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

// newStore opens a store on a new external bucket, under prefix.
func newStore(t testing.TB, prefix string, edit ...func(*s3store.Config)) *s3store.Store {
	t.Helper()
	return needGateway(t).NewStore(t, prefix, edit...)
}
