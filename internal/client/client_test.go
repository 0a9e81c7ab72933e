package client

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/s3api"
	"github.com/tarn-lake/tarn/internal/storage"
)

// TestObjects runs the lake's real S3 endpoint and goes through it as the
// CLI does: buckets, small and multipart puts, ranges, listings, copies,
// deletes, and S3's errors as storage's sentinels.
func TestObjects(t *testing.T) {
	ctx := context.Background()
	l, err := lake.Open(ctx, lakeConfig(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	admin, _, err := l.Auth.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	uploads, err := storage.NewUploads(filepath.Join(l.Home, "uploads"), l.Store)
	if err != nil {
		t.Fatal(err)
	}
	var created []string
	srv := httptest.NewServer(s3api.New(s3api.DefaultConfig(), l.Store, uploads, l.Auth, func(_ context.Context, o storage.ObjectInfo, _ string) {
		created = append(created, o.Key)
	}))
	defer srv.Close()
	c, err := New(Config{API: "http://127.0.0.1:1", S3: srv.URL, Key: creds(admin)})
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.Objects()
	if err != nil {
		t.Fatal(err)
	}
	o.partSize = storage.MinPartSize // multipart from 5 MiB

	if err := o.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	if err := o.CreateBucket(ctx, "bkt"); !errors.Is(err, storage.ErrBucketExists) || !strings.Contains(err.Error(), "BucketAlreadyOwnedByYou") {
		t.Errorf("second bucket: %v", err)
	}
	small, err := o.Put(ctx, "bkt", "a/small.csv", strings.NewReader("x,y\n1,2\n"), storage.PutOptions{ContentType: "text/csv"})
	sum := md5.Sum([]byte("x,y\n1,2\n"))
	if err != nil || small.Size != 8 || small.ETag != hex.EncodeToString(sum[:]) {
		t.Errorf("small put: %+v %v", small, err)
	}
	big := make([]byte, 2*storage.MinPartSize+12345)
	for i := range big {
		big[i] = byte(rand.IntN(256))
	}
	info, err := o.Put(ctx, "bkt", "a/big.bin", bytes.NewReader(big), storage.PutOptions{})
	if err != nil || info.Size != int64(len(big)) || !strings.HasSuffix(info.ETag, "-3") {
		t.Fatalf("multipart put: %+v %v", info, err)
	}
	rc, got, err := o.Get(ctx, "bkt", "a/big.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(data, big) || got.ETag != info.ETag {
		t.Errorf("get: %d bytes, %+v", len(data), got)
	}
	rc, _, err = o.Get(ctx, "bkt", "a/big.bin", &storage.Range{Offset: 10, Length: 5})
	if err != nil {
		t.Fatal(err)
	}
	data, _ = io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(data, big[10:15]) {
		t.Errorf("range: %v", data)
	}
	// Empty object, exact part size.
	if i, err := o.Put(ctx, "bkt", "a/empty", bytes.NewReader(nil), storage.PutOptions{}); err != nil || i.Size != 0 {
		t.Errorf("empty put: %+v %v", i, err)
	}
	if i, err := o.Put(ctx, "bkt", "a/exact", bytes.NewReader(big[:storage.MinPartSize]), storage.PutOptions{}); err != nil || i.Size != storage.MinPartSize || !strings.HasSuffix(i.ETag, "-1") {
		t.Errorf("put of one part: %+v %v", i, err)
	}
	cp, err := o.Copy(ctx, "bkt", "a/small.csv", "bkt", "b/copy of small.csv")
	if err != nil || cp.Size != 8 {
		t.Errorf("copy: %+v %v", cp, err)
	}
	res, err := o.List(ctx, "bkt", storage.ListOptions{Delimiter: "/"})
	if err != nil || len(res.CommonPrefixes) != 2 || res.CommonPrefixes[0] != "a/" {
		t.Errorf("list: %+v %v", res, err)
	}
	var keys []string
	for obj, err := range storage.Walk(ctx, o, "bkt", "") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, obj.Key)
	}
	if strings.Join(keys, ",") != "a/big.bin,a/empty,a/exact,a/small.csv,b/copy of small.csv" {
		t.Errorf("walk: %v", keys)
	}
	if strings.Join(created, ",") != "a/small.csv,a/big.bin,a/empty,a/exact,b/copy of small.csv" {
		t.Errorf("object-created events: %v", created)
	}
	bs, err := o.ListBuckets(ctx)
	if err != nil || len(bs) != 1 || bs[0].Name != "bkt" || bs[0].CreatedAt.IsZero() {
		t.Errorf("buckets: %+v %v", bs, err)
	}
	if _, err := o.Head(ctx, "bkt", "nope"); !errors.Is(err, storage.ErrNoSuchKey) {
		t.Errorf("head of a missing key: %v", err)
	}
	if _, _, err := o.Get(ctx, "bkt", "nope", nil); !errors.Is(err, storage.ErrNoSuchKey) {
		t.Errorf("get of a missing key: %v", err)
	}
	if _, err := o.List(ctx, "nope", storage.ListOptions{}); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Errorf("list of a missing bucket: %v", err)
	}
	if err := o.DeleteBucket(ctx, "bkt"); !errors.Is(err, storage.ErrBucketNotEmpty) {
		t.Errorf("delete of a full bucket: %v", err)
	}
	if err := o.Delete(ctx, "bkt", "a/small.csv"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Store.Head(ctx, "bkt", "a/small.csv"); !errors.Is(err, storage.ErrNoSuchKey) {
		t.Errorf("deleted object: %v", err)
	}

	// Wrong secret: an *Error that says the credentials were refused.
	bad := admin
	bad.SecretAccessKey = strings.Repeat("x", 40)
	bc, _ := New(Config{API: "http://127.0.0.1:1", S3: srv.URL, Key: creds(bad)})
	bo, _ := bc.Objects()
	var e *Error
	if _, err := bo.ListBuckets(ctx); !errors.As(err, &e) || !e.Unauthenticated() || e.Code != "SignatureDoesNotMatch" || e.Status != 403 {
		t.Errorf("wrong secret: %v", err)
	}
	// A token alone cannot sign S3 requests.
	tc, _ := New(Config{API: "http://127.0.0.1:1", S3: srv.URL, Token: "tarn_x_y"})
	if _, err := tc.Objects(); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("token only: %v", err)
	}
}
