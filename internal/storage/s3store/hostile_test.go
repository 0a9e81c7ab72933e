package s3store_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/s3store"
)

func TestParseURL(t *testing.T) {
	good := []struct {
		url  string
		want s3store.Config
	}{
		{"s3://lake", s3store.Config{Bucket: "lake", PartSize: s3store.DefaultPartSize, Concurrency: s3store.DefaultConcurrency, MaxBufferedParts: 4 * s3store.DefaultConcurrency}},
		{"s3://lake/tarn/prod?endpoint=http://127.0.0.1:7070&region=eu-west-1&path_style=true&part_size=16777216&concurrency=8",
			s3store.Config{Bucket: "lake", Prefix: "tarn/prod/", Endpoint: "http://127.0.0.1:7070", Region: "eu-west-1", PathStyle: true, PartSize: 16 << 20, Concurrency: 8, MaxBufferedParts: 32}},
		{"s3://lake/p/?profile=analytics", s3store.Config{Bucket: "lake", Prefix: "p/", Profile: "analytics", PartSize: s3store.DefaultPartSize, Concurrency: s3store.DefaultConcurrency, MaxBufferedParts: 4 * s3store.DefaultConcurrency}},
	}
	for _, tc := range good {
		tc.want.BucketCacheTTL = s3store.DefaultBucketCacheTTL
		got, err := s3store.ParseURL(tc.url)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.url, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("ParseURL(%q) =\n %+v, want\n %+v", tc.url, got, tc.want)
		}
	}
	bad := map[string]string{
		"file:///tmp/lake":                      "want s3://",
		"s3://":                                 "want s3://",
		"s3://Lake_Bucket":                      "external bucket",
		"s3://key:secret@lake":                  "credentials do not go into the URL",
		"s3://lake?path_style=maybe":            "path_style",
		"s3://lake?part_size=1024":              "part_size",
		"s3://lake?concurrency=0":               "concurrency",
		"s3://lake?endpoint=ftp://host":         "endpoint",
		"s3://lake?secret_key=x":                "unknown parameter",
		"s3://lake/../escape":                   "prefix",
		"s3://lake/a//b":                        "prefix",
		"s3://lake/" + strings.Repeat("p", 600): "prefix",
	}
	for url, want := range bad {
		_, err := s3store.ParseURL(url)
		if !errors.Is(err, s3store.ErrInvalidConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURL(%.60q) = %v, want ErrInvalidConfig saying %q", url, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") && strings.Contains(url, ":secret@") {
			t.Errorf("ParseURL error shows the secret: %v", err)
		}
	}
}

func TestWrongCredentials(t *testing.T) {
	g := needGateway(t)
	ext := g.newExternalBucket(t)
	cfg := s3store.Config{Bucket: ext, Endpoint: g.Endpoint, PathStyle: true, AccessKey: gwAccess, SecretKey: "not-the-secret"}
	_, err := s3store.New(t.Context(), cfg)
	if !errors.Is(err, s3store.ErrAccessDenied) || !strings.Contains(err.Error(), "denied access") || !strings.Contains(err.Error(), g.Endpoint) {
		t.Errorf("New with a wrong secret = %v, want ErrAccessDenied naming the endpoint", err)
	}
	if err != nil && strings.Contains(err.Error(), "not-the-secret") {
		t.Errorf("the error shows the secret: %v", err)
	}
	cfg.AccessKey, cfg.SecretKey = "nobody", "nothing"
	if _, err := s3store.New(t.Context(), cfg); !errors.Is(err, s3store.ErrAccessDenied) {
		t.Errorf("New with an unknown key = %v, want ErrAccessDenied", err)
	}
	cfg.AccessKey, cfg.SecretKey = gwAccess, gwSecret
	cfg.Bucket = "no-such-external-bucket"
	if _, err := s3store.New(t.Context(), cfg); !errors.Is(err, s3store.ErrNoExternalBucket) {
		t.Errorf("New on a missing bucket = %v, want ErrNoExternalBucket", err)
	}
	cfg.Bucket, cfg.SecretKey = ext, ""
	if _, err := s3store.New(t.Context(), cfg); !errors.Is(err, s3store.ErrInvalidConfig) {
		t.Errorf("New with an access key and no secret = %v, want ErrInvalidConfig", err)
	}
}

// TestLayout: what the store writes where in the external bucket, read
// back behind its back.
func TestLayout(t *testing.T) {
	g := needGateway(t)
	s := newStore(t, "tenants/acme/")
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "raw"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "raw", "orders/2025/a.csv", strings.NewReader("id\n1\n"), storage.PutOptions{ContentType: "text/csv"}); err != nil {
		t.Fatal(err)
	}
	ext := s.Config().Bucket
	if body, err := g.readAll(t, ext, "tenants/acme/raw/orders/2025/a.csv"); err != nil || body != "id\n1\n" {
		t.Errorf("external object = %q, %v", body, err)
	}
	if got := s.ExternalURI("raw", "orders/2025/a.csv"); got != "s3://"+ext+"/tenants/acme/raw/orders/2025/a.csv" {
		t.Errorf("ExternalURI = %q", got)
	}
	if _, err := g.readAll(t, ext, "tenants/acme/.tarn/buckets/raw"); err != nil {
		t.Errorf("bucket marker: %v", err)
	}
	// A second store on the same prefix (a second server) sees it all.
	s2 := newStoreOn(t, ext, "tenants/acme/")
	if _, err := s2.HeadBucket(ctx, "raw"); err != nil {
		t.Errorf("second store: HeadBucket: %v", err)
	}
	if err := s2.CreateBucket(ctx, "raw"); !errors.Is(err, storage.ErrBucketExists) {
		t.Errorf("second store: CreateBucket(existing) = %v", err)
	}
	// ...and a store on another prefix sees nothing of it.
	s3s := newStoreOn(t, ext, "tenants/other/")
	if _, err := s3s.HeadBucket(ctx, "raw"); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Errorf("other prefix: HeadBucket = %v", err)
	}

	// Objects written behind tarn's back are served with the store's
	// attributes; names tarn cannot address are not listed.
	admin := g.admin()
	for _, k := range []string{"tenants/acme/raw/orders/2025/b.csv", "tenants/acme/raw/orders/x/../../escape.csv"} {
		if _, err := admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(ext), Key: aws.String(k), Body: strings.NewReader("behind"), Metadata: map[string]string{"origin": "spark"}}); err != nil {
			t.Logf("PutObject(%q) behind tarn's back: %v", k, err)
		}
	}
	h, err := s.Head(ctx, "raw", "orders/2025/b.csv")
	if err != nil || h.ETag != md5hex("behind") || h.Metadata["origin"] != "spark" || h.Size != 6 {
		t.Errorf("Head(object written behind tarn's back) = %+v, %v", h, err)
	}
	res, err := s.List(ctx, "raw", storage.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Objects {
		if strings.Contains(o.Key, "..") {
			t.Errorf("List shows an object tarn cannot address: %q", o.Key)
		}
	}
	// Keys that would leave the bucket's prefix are refused before any
	// request.
	for _, key := range []string{"../other/x", "a/../../raw2/x", "..", "a/./b"} {
		if _, err := s.Put(ctx, "raw", key, strings.NewReader("x"), storage.PutOptions{}); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, _, err := s.Get(ctx, "raw", key, nil); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Get(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	// A bucket another server deletes: a store that trusts nothing it
	// saw notices at once.
	strict := newStoreOn(t, ext, "tenants/acme/", func(c *s3store.Config) { c.BucketCacheTTL = -1 })
	if err := s2.CreateBucket(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := strict.Put(ctx, "gone", "k", strings.NewReader("x"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := strict.Delete(ctx, "gone", "k"); err != nil {
		t.Fatal(err)
	}
	if err := s2.DeleteBucket(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := strict.Put(ctx, "gone", "k", strings.NewReader("x"), storage.PutOptions{}); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Errorf("Put into a bucket another store deleted = %v", err)
	}
	// The reserved ".tarn" is no bucket.
	if err := s.CreateBucket(ctx, ".tarn"); !errors.Is(err, storage.ErrInvalidBucketName) {
		t.Errorf("CreateBucket(.tarn) = %v", err)
	}
}

func newStoreOn(t testing.TB, ext, prefix string, edit ...func(*s3store.Config)) *s3store.Store {
	t.Helper()
	g := needGateway(t)
	cfg := s3store.Config{Bucket: ext, Prefix: prefix, Endpoint: g.Endpoint, PathStyle: true, AccessKey: gwAccess, SecretKey: gwSecret}
	for _, e := range edit {
		e(&cfg)
	}
	s, err := s3store.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestHugeKeys: the prefix takes room from S3's 1024-byte keys; the store
// says so before sending anything.
func TestHugeKeys(t *testing.T) {
	prefix := strings.Repeat("p", 150) + "/" + strings.Repeat("q", 150) + "/"
	s := newStore(t, prefix)
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "keys"); err != nil {
		t.Fatal(err)
	}
	max := s.MaxKeyLength("keys")
	if max != 1024-len(prefix)-len("keys/") {
		t.Fatalf("MaxKeyLength = %d", max)
	}
	fits := strings.Repeat(strings.Repeat("k", 200)+"/", 3)
	fits += strings.Repeat("z", max-len(fits))
	if _, err := s.Put(ctx, "keys", fits, strings.NewReader("v"), storage.PutOptions{}); err != nil {
		t.Fatalf("Put(%d-byte key): %v", len(fits), err)
	}
	if h, err := s.Head(ctx, "keys", fits); err != nil || h.Size != 1 {
		t.Errorf("Head(%d-byte key) = %+v, %v", len(fits), h, err)
	}
	_, err := s.Put(ctx, "keys", fits+"z", strings.NewReader("v"), storage.PutOptions{})
	if !errors.Is(err, storage.ErrKeyTooLong) || !strings.Contains(err.Error(), fmt.Sprint(max)) {
		t.Errorf("Put(%d-byte key) = %v, want ErrKeyTooLong naming the limit %d", len(fits)+1, err, max)
	}
	for _, key := range []string{strings.Repeat("k", 5000), strings.Repeat("k", 256)} {
		if _, err := s.Put(ctx, "keys", key, strings.NewReader("v"), storage.PutOptions{}); !errors.Is(err, storage.ErrKeyTooLong) {
			t.Errorf("Put(%d-byte key) = %v, want ErrKeyTooLong", len(key), err)
		}
	}
	// A listing prefix longer than any key lists nothing.
	res, err := s.List(ctx, "keys", storage.ListOptions{Prefix: strings.Repeat("k", 2000)})
	if err != nil || len(res.Objects) != 0 {
		t.Errorf("List(huge prefix) = %+v, %v", res, err)
	}
}

// failAfter returns n bytes of a pattern, then err.
type failAfter struct {
	n, i int64
	err  error
}

func (r *failAfter) Read(p []byte) (int, error) {
	if r.i >= r.n {
		return 0, r.err
	}
	p = p[:min(int64(len(p)), r.n-r.i)]
	for j := range p {
		p[j] = byte(r.i + int64(j))
	}
	r.i += int64(len(p))
	return len(p), nil
}

// TestInterruptedUpload: a body that fails after several parts went out
// leaves no object, keeps the old one, and no upload or staging object
// behind in the external store.
func TestInterruptedUpload(t *testing.T) {
	g := needGateway(t)
	s := newStore(t, "lake/", func(c *s3store.Config) { c.PartSize = 5 << 20; c.Concurrency = 2 })
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "bkt", "k", strings.NewReader("old"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("client went away")
	for _, n := range []int64{5 << 20, 5<<20 + 1, 17 << 20} {
		before := g.count("POST uploads")
		_, err := s.Put(ctx, "bkt", "k", &failAfter{n: n, err: boom}, storage.PutOptions{})
		if !errors.Is(err, boom) {
			t.Errorf("Put(body failing after %d bytes) = %v, want %v", n, err, boom)
		}
		if n > 10<<20 && g.count("POST uploads") == before {
			t.Errorf("a body of %d bytes did not go as a multipart upload", n)
		}
		for _, key := range []string{"k", "k2"} {
			_, err := s.Put(ctx, "bkt", key+"-new", &failAfter{n: n, err: io.ErrUnexpectedEOF}, storage.PutOptions{})
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("Put(new key, truncated body) = %v", err)
			}
		}
		rc, info, err := s.Get(ctx, "bkt", "k", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		if string(body) != "old" || info.ETag != md5hex("old") {
			t.Errorf("after an interrupted put the object is %d bytes (etag %s)", len(body), info.ETag)
		}
	}
	res, err := s.List(ctx, "bkt", storage.ListOptions{})
	if err != nil || len(res.Objects) != 1 {
		t.Errorf("List after interrupted puts = %+v, %v", res.Objects, err)
	}
	ext := s.Config().Bucket
	ups, err := g.admin().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(ext)})
	if err != nil || len(ups.Uploads) != 0 {
		t.Errorf("uploads left in the external store: %d, %v", len(ups.Uploads), err)
	}
	objs, err := g.admin().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(ext), Prefix: aws.String("lake/.tarn/tmp/")})
	if err != nil || len(objs.Contents) != 0 {
		t.Errorf("staging objects left: %d, %v", len(objs.Contents), err)
	}
}

// TestMultipart: long bodies go in parallel parts of PartSize and end up
// with tarn's ETag (the MD5 of the content), in listings too; a file with
// a client's part sizes goes with those parts, straight to its key.
func TestMultipart(t *testing.T) {
	g := needGateway(t)
	s := newStore(t, "", func(c *s3store.Config) { c.PartSize = 5 << 20; c.Concurrency = 3 })
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "mpu"); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 17<<20+3)
	for i := range data {
		data[i] = byte(i * 7 / 3)
	}
	sum := md5.Sum(data)
	parts := g.count("PUT partNumber")
	info, err := s.Put(ctx, "mpu", "big.bin", bytes.NewReader(data), storage.PutOptions{ContentMD5: sum[:], Metadata: map[string]string{"run": "7"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := g.count("PUT partNumber") - parts; got != 4 {
		t.Errorf("%d parts sent, want 4", got)
	}
	if info.ETag != hex.EncodeToString(sum[:]) || info.Size != int64(len(data)) {
		t.Errorf("Put = %+v", info)
	}
	h, err := s.Head(ctx, "mpu", "big.bin")
	if err != nil || h.ETag != info.ETag || h.Metadata["run"] != "7" {
		t.Errorf("Head = %+v, %v", h, err)
	}
	res, _ := s.List(ctx, "mpu", storage.ListOptions{})
	if len(res.Objects) != 1 || res.Objects[0].ETag != info.ETag {
		t.Errorf("List = %+v, want the ETag %s", res.Objects, info.ETag)
	}
	// A wrong Content-MD5 on a long body fails at the end, before
	// anything is published.
	bad := md5.Sum([]byte("other"))
	if _, err := s.Put(ctx, "mpu", "big.bin", bytes.NewReader(make([]byte, 11<<20)), storage.PutOptions{ContentMD5: bad[:]}); !errors.Is(err, storage.ErrBadDigest) {
		t.Errorf("Put(long body, wrong MD5) = %v", err)
	}
	// Ranged reads of the long object.
	rc, ginfo, err := s.Get(ctx, "mpu", "big.bin", &storage.Range{Offset: 6 << 20, Length: 100})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data[6<<20:6<<20+100]) || ginfo.Size != int64(len(data)) {
		t.Errorf("ranged Get = %d bytes, size %d", len(got), ginfo.Size)
	}

	// A completed client upload: parts of 6, 5 and 1 MiB, from a file.
	path := filepath.Join(t.TempDir(), "whole")
	if err := os.WriteFile(path, data[:12<<20], 0o644); err != nil {
		t.Fatal(err)
	}
	sizes := []int64{6 << 20, 5 << 20, 1 << 20}
	h5 := md5.New()
	var off int64
	for _, n := range sizes {
		p := md5.Sum(data[off : off+n])
		h5.Write(p[:])
		off += n
	}
	etag := hex.EncodeToString(h5.Sum(nil)) + "-3"
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	copies := g.count("PUT")
	info, err = s.Put(ctx, "mpu", "client.bin", f, storage.PutOptions{ETag: etag, PartSizes: sizes})
	if err != nil {
		t.Fatal(err)
	}
	if info.ETag != etag || fmt.Sprint(info.PartSizes) != fmt.Sprint(sizes) {
		t.Errorf("Put(client parts) = %+v", info)
	}
	if n := g.count("PUT") - copies; n != 0 {
		t.Errorf("%d plain PUTs (copies) for a put with the client's parts, want none", n)
	}
	out, err := g.admin().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.Config().Bucket), Key: aws.String("mpu/client.bin")})
	if err != nil || strings.Trim(aws.ToString(out.ETag), `"`) != etag {
		t.Errorf("the external ETag is %v (%v), want %s", aws.ToString(out.ETag), err, etag)
	}
}

// TestConditionalPuts: If-None-Match and If-Match are checked at the
// commit by the external store: of concurrent creators exactly one wins.
func TestConditionalPuts(t *testing.T) {
	s := newStore(t, "c/", func(c *s3store.Config) { c.PartSize = 5 << 20 })
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "cond"); err != nil {
		t.Fatal(err)
	}
	put := func(key, body string, opts storage.PutOptions) (storage.ObjectInfo, error) {
		return s.Put(ctx, "cond", key, strings.NewReader(body), opts)
	}
	if _, err := put("k", "v1", storage.PutOptions{IfMatch: md5hex("v1")}); !errors.Is(err, storage.ErrNoSuchKey) {
		t.Errorf("IfMatch on a missing key = %v, want ErrNoSuchKey", err)
	}
	if _, err := put("k", "v1", storage.PutOptions{IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := put("k", "v2", storage.PutOptions{IfNoneMatch: true}); !errors.Is(err, storage.ErrPreconditionFailed) {
		t.Errorf("IfNoneMatch on an existing key = %v", err)
	}
	if _, err := put("k", "v2", storage.PutOptions{IfMatch: md5hex("other")}); !errors.Is(err, storage.ErrPreconditionFailed) {
		t.Errorf("IfMatch with another ETag = %v", err)
	}
	if _, err := put("k", "v2", storage.PutOptions{IfMatch: `"` + md5hex("v1") + `"`}); err != nil {
		t.Errorf("IfMatch with the ETag = %v", err)
	}
	// A long body (staged, then published with the precondition).
	long := strings.Repeat("L", 6<<20)
	if _, err := put("k", long, storage.PutOptions{IfMatch: md5hex("v1")}); !errors.Is(err, storage.ErrPreconditionFailed) {
		t.Errorf("IfMatch (stale) with a long body = %v", err)
	}
	if info, err := put("k", long, storage.PutOptions{IfMatch: md5hex("v2")}); err != nil || info.ETag != md5hex(long) {
		t.Errorf("IfMatch with a long body = %+v, %v", info.ETag, err)
	}
	if h, err := s.Head(ctx, "cond", "k"); err != nil || h.ETag != md5hex(long) {
		t.Errorf("Head after a conditional long put = %s, %v", h.ETag, err)
	}
	if _, err := put("k", long, storage.PutOptions{IfNoneMatch: true}); !errors.Is(err, storage.ErrPreconditionFailed) {
		t.Errorf("IfNoneMatch with a long body = %v", err)
	}
	// Racing creators.
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, lost := 0, 0
	for i := range 8 {
		wg.Go(func() {
			_, err := put("race", fmt.Sprint("writer ", i), storage.PutOptions{IfNoneMatch: true})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, storage.ErrPreconditionFailed):
				lost++
			default:
				t.Errorf("racing creator: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 || lost != 7 {
		t.Errorf("racing creators: %d won, %d lost; want 1 and 7", won, lost)
	}
}

// TestLargeAttributes: attributes too large for the object's headers go
// to a sidecar, and come back whole; tags replaced later too.
func TestLargeAttributes(t *testing.T) {
	s := newStore(t, "")
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "attrs"); err != nil {
		t.Fatal(err)
	}
	md := map[string]string{}
	for i := range 40 {
		md[fmt.Sprintf("key-%02d", i)] = strings.Repeat("é", 40)
	}
	opts := storage.PutOptions{
		ContentType: "application/x-parquet", Metadata: md, Headers: map[string]string{"Cache-Control": "no-cache"},
		Tags: map[string]string{"team": "sales"}, Checksum: storage.Checksum{Algorithm: "CRC32", Value: "AAAAAA=="},
	}
	if _, err := s.Put(ctx, "attrs", "big-meta", strings.NewReader("x"), opts); err != nil {
		t.Fatal(err)
	}
	h, err := s.Head(ctx, "attrs", "big-meta")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(h.Metadata) != fmt.Sprint(md) || h.Headers["Cache-Control"] != "no-cache" || h.Tags["team"] != "sales" ||
		h.Checksum.Value != "AAAAAA==" || h.ContentType != "application/x-parquet" || h.ETag != md5hex("x") {
		t.Errorf("Head = %+v", h)
	}
	if _, err := s.SetTags(ctx, "attrs", "big-meta", "", map[string]string{"team": "ops"}); err != nil {
		t.Fatal(err)
	}
	rc, h, err := s.Get(ctx, "attrs", "big-meta", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	if string(body) != "x" || h.Tags["team"] != "ops" || len(h.Metadata) != 40 || h.ETag != md5hex("x") {
		t.Errorf("after SetTags: %q %+v", body, h)
	}
	if _, err := s.SetTags(ctx, "attrs", "big-meta", "3HL4kqtJlcpXroDTDmJ", nil); !errors.Is(err, storage.ErrNoSuchVersion) {
		t.Errorf("SetTags of a version = %v", err)
	}
}

// TestBodySizes: bodies around the buffer and part boundaries come back
// whole, with the MD5 as ETag, whichever path they took.
func TestBodySizes(t *testing.T) {
	s := newStore(t, "", func(c *s3store.Config) { c.PartSize = 5 << 20; c.Concurrency = 2 })
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "sizes"); err != nil {
		t.Fatal(err)
	}
	const k, p = 256 << 10, 5 << 20
	for _, n := range []int{0, 1, k - 1, k, k + 1, p - 1, p, p + 1, 2 * p, 2*p + 1} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i ^ n)
		}
		// An io.Reader that is no bytes.Reader: nothing may be read by size.
		info, err := s.Put(ctx, "sizes", fmt.Sprint("o", n), io.MultiReader(bytes.NewReader(data)), storage.PutOptions{})
		if err != nil {
			t.Fatalf("Put(%d bytes): %v", n, err)
		}
		sum := md5.Sum(data)
		if info.Size != int64(n) || info.ETag != hex.EncodeToString(sum[:]) {
			t.Errorf("Put(%d bytes) = size %d etag %s", n, info.Size, info.ETag)
		}
		rc, ginfo, err := s.Get(ctx, "sizes", fmt.Sprint("o", n), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) || ginfo.ETag != info.ETag {
			t.Errorf("Get(%d bytes) = %d bytes, etag %s, %v", n, len(got), ginfo.ETag, err)
		}
	}
}

// TestBufferBudget: long puts at once share a small budget of part
// buffers without waiting on each other for ever.
func TestBufferBudget(t *testing.T) {
	s := newStore(t, "", func(c *s3store.Config) { c.PartSize = 5 << 20; c.Concurrency = 3; c.MaxBufferedParts = 1 })
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "budget"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			data := bytes.Repeat([]byte{byte(i)}, 4*(5<<20)+i)
			info, err := s.Put(ctx, "budget", fmt.Sprint("o", i), bytes.NewReader(data), storage.PutOptions{})
			sum := md5.Sum(data)
			if err != nil || info.ETag != hex.EncodeToString(sum[:]) {
				t.Errorf("put %d: %+v, %v", i, info.ETag, err)
			}
		})
	}
	wg.Wait()
}

// TestUploadsOnS3: a client's multipart upload through storage.Uploads
// (what the S3 endpoint uses) is a multipart upload of the same parts in
// the external store, each part sent as it arrives and none again at the
// completion, with the client's ETag there too.
func TestUploadsOnS3(t *testing.T) {
	g := needGateway(t)
	s := newStore(t, "lake/")
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "uploads"); err != nil {
		t.Fatal(err)
	}
	ups, err := storage.NewUploads(t.TempDir(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer ups.Close()
	id, err := ups.Create(ctx, "uploads", "out/big.parquet", storage.PutOptions{ContentType: "application/vnd.apache.parquet", Metadata: map[string]string{"job": "j1"}})
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{5 << 20, 5 << 20, 1234}
	partsBefore := g.count("PUT partNumber")
	var all []byte
	var done []storage.CompletedPart
	for i, n := range sizes {
		part := bytes.Repeat([]byte{byte('a' + i)}, n)
		all = append(all, part...)
		p, err := ups.PutPartSize(ctx, "uploads", "out/big.parquet", id, i+1, bytes.NewReader(part), int64(n), nil)
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, storage.CompletedPart{PartNumber: i + 1, ETag: p.ETag})
	}
	if n := g.count("PUT partNumber") - partsBefore; n != 3 {
		t.Errorf("%d parts sent to the external store, want 3", n)
	}
	info, err := ups.Complete(ctx, "uploads", "out/big.parquet", id, done)
	if err != nil {
		t.Fatal(err)
	}
	if n := g.count("PUT partNumber") - partsBefore; n != 3 {
		t.Errorf("%d parts sent to the external store after the completion, want 3", n)
	}
	if !strings.HasSuffix(info.ETag, "-3") {
		t.Errorf("ETag = %s", info.ETag)
	}
	out, err := g.admin().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.Config().Bucket), Key: aws.String("lake/uploads/out/big.parquet")})
	if err != nil || strings.Trim(aws.ToString(out.ETag), `"`) != info.ETag || aws.ToString(out.ContentType) != "application/vnd.apache.parquet" {
		t.Errorf("external object: etag %s type %s, %v; want %s", aws.ToString(out.ETag), aws.ToString(out.ContentType), err, info.ETag)
	}
	rc, h, err := s.Get(ctx, "uploads", "out/big.parquet", &storage.Range{Offset: 5<<20 - 2, Length: 4})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "aabb" || h.ETag != info.ETag || h.Metadata["job"] != "j1" || fmt.Sprint(h.PartSizes) != "[5242880 5242880 1234]" {
		t.Errorf("Get = %q, %+v", got, h)
	}
}

// cancelAfter cancels its context once n bytes were read.
type cancelAfter struct {
	n      int64
	cancel func()
}

func (r *cancelAfter) Read(p []byte) (int, error) {
	if r.n <= 0 {
		r.cancel()
	}
	m := min(int64(len(p)), max(r.n, 1))
	r.n -= m
	return int(m), nil
}

// TestCanceledMultipart: a put canceled while its parts are on the way
// fails with the context's error and leaves nothing behind.
func TestCanceledMultipart(t *testing.T) {
	g := needGateway(t)
	s := newStore(t, "lake/", func(c *s3store.Config) { c.PartSize = 5 << 20; c.Concurrency = 2 })
	if err := s.CreateBucket(t.Context(), "cancel"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	before := g.count("POST uploads")
	_, err := s.Put(ctx, "cancel", "k", &cancelAfter{n: 16 << 20, cancel: cancel}, storage.PutOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Put canceled mid-way = %v, want context.Canceled", err)
	}
	if g.count("POST uploads") == before {
		t.Errorf("the put did not get to a multipart upload")
	}
	if _, err := s.Head(t.Context(), "cancel", "k"); !errors.Is(err, storage.ErrNoSuchKey) {
		t.Errorf("Head after a canceled put = %v", err)
	}
	ext := s.Config().Bucket
	ups, err := g.admin().ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(ext)})
	if err != nil || len(ups.Uploads) != 0 {
		t.Errorf("uploads left: %d, %v", len(ups.Uploads), err)
	}
	objs, err := g.admin().ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(ext), Prefix: aws.String("lake/.tarn/tmp/")})
	if err != nil || len(objs.Contents) != 0 {
		t.Errorf("staging objects left: %d, %v", len(objs.Contents), err)
	}
}

// TestRequestsPerWrite: a small put into a bucket seen lately is one
// request; a read is one.
func TestRequestsPerWrite(t *testing.T) {
	g := needGateway(t)
	s := newStore(t, "")
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "reqs"); err != nil {
		t.Fatal(err)
	}
	total := func() int {
		n := 0
		for _, k := range []string{"GET", "HEAD", "PUT", "POST", "DELETE", "GET list-type"} {
			n += g.count(k)
		}
		return n
	}
	before := total()
	if _, err := s.Put(ctx, "reqs", "k", strings.NewReader("v"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := total() - before; n != 1 {
		t.Errorf("a small put took %d requests, want 1", n)
	}
	before = total()
	rc, _, err := s.Get(ctx, "reqs", "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if n := total() - before; n != 1 {
		t.Errorf("a get took %d requests, want 1", n)
	}
}
