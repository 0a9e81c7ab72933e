package s3api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/crc64nvme"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// uploadTwoParts uploads a 5 MiB part and a small one with the client's
// checksum algorithm (none if alg is empty) and returns the parts and
// the whole body.
func uploadTwoParts(t *testing.T, c *s3.Client, bucket, key string, id *string, alg types.ChecksumAlgorithm) ([]types.CompletedPart, []byte) {
	t.Helper()
	ctx := context.Background()
	p1 := bytes.Repeat([]byte("0123456789abcdef"), 5<<20/16)
	p2 := []byte("the last part")
	var parts []types.CompletedPart
	for i, body := range [][]byte{p1, p2} {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: id, PartNumber: aws.Int32(int32(i + 1)),
			Body: bytes.NewReader(body), ChecksumAlgorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag,
			ChecksumCRC32: out.ChecksumCRC32, ChecksumCRC32C: out.ChecksumCRC32C, ChecksumCRC64NVME: out.ChecksumCRC64NVME,
			ChecksumSHA1: out.ChecksumSHA1, ChecksumSHA256: out.ChecksumSHA256})
	}
	return parts, append(append([]byte{}, p1...), p2...)
}

// CompleteMultipartUpload computes the object's checksum from its parts'
// (FULL_OBJECT: the CRC of the whole object; COMPOSITE: the checksum of
// the parts' checksums, -N), checks the parts' and the final checksums a
// client sends, and answers it in HeadObject and GetObjectAttributes.
func TestMultipartFinalChecksums(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)
	bucket := "mpfinal"
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	create := func(key string, alg types.ChecksumAlgorithm, typ types.ChecksumType) *string {
		t.Helper()
		out, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key, ChecksumAlgorithm: alg, ChecksumType: typ})
		if err != nil {
			t.Fatal(err)
		}
		return out.UploadId
	}
	head := func(key string) *s3.HeadObjectOutput {
		t.Helper()
		out, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	// FULL_OBJECT CRC32: the CRC32 of the whole object.
	id := create("full", types.ChecksumAlgorithmCrc32, types.ChecksumTypeFullObject)
	parts, whole := uploadTwoParts(t, c, bucket, "full", id, types.ChecksumAlgorithmCrc32)
	crc := crc32.NewIEEE()
	crc.Write(whole)
	want := b64(crc.Sum(nil))
	// Hostile: a final checksum that is not the object's is refused and
	// creates nothing.
	_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("full"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}, ChecksumCRC32: parts[0].ChecksumCRC32, ChecksumType: types.ChecksumTypeFullObject})
	wantCode(t, "a wrong final checksum", err, "BadDigest")
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("full")}); err == nil {
		t.Error("a refused completion created the object")
	}
	// Hostile: a part's checksum that is not the one it was stored with.
	bad := append([]types.CompletedPart{}, parts...)
	bad[1].ChecksumCRC32 = aws.String("AAAAAA==")
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("full"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: bad}})
	wantCode(t, "a wrong part checksum", err, "InvalidPart")
	bad[1].ChecksumCRC32 = nil
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("full"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: bad}})
	wantCode(t, "a missing part checksum", err, "InvalidRequest")
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("full"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}, ChecksumType: types.ChecksumTypeComposite})
	wantCode(t, "another checksum type", err, "InvalidRequest")
	res, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("full"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}, ChecksumCRC32: &want, ChecksumType: types.ChecksumTypeFullObject})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(res.ChecksumCRC32) != want || res.ChecksumType != types.ChecksumTypeFullObject {
		t.Errorf("complete answered %q %q, want %q FULL_OBJECT", aws.ToString(res.ChecksumCRC32), res.ChecksumType, want)
	}
	if h := head("full"); aws.ToString(h.ChecksumCRC32) != want || h.ChecksumType != types.ChecksumTypeFullObject {
		t.Errorf("head answered %q %q, want %q FULL_OBJECT", aws.ToString(h.ChecksumCRC32), h.ChecksumType, want)
	}

	// COMPOSITE SHA256: the SHA256 of the parts' SHA256s, -2.
	id = create("comp", types.ChecksumAlgorithmSha256, types.ChecksumTypeComposite)
	parts, _ = uploadTwoParts(t, c, bucket, "comp", id, types.ChecksumAlgorithmSha256)
	h := sha256.New()
	for _, p := range parts {
		b, _ := base64.StdEncoding.DecodeString(aws.ToString(p.ChecksumSHA256))
		h.Write(b)
	}
	want = b64(h.Sum(nil)) + "-2"
	res, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("comp"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(res.ChecksumSHA256) != want || res.ChecksumType != types.ChecksumTypeComposite {
		t.Errorf("complete answered %q %q, want %q COMPOSITE", aws.ToString(res.ChecksumSHA256), res.ChecksumType, want)
	}
	attrs, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: &bucket, Key: aws.String("comp"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesChecksum}})
	if err != nil {
		t.Fatal(err)
	}
	if attrs.Checksum == nil || aws.ToString(attrs.Checksum.ChecksumSHA256) != want || attrs.Checksum.ChecksumType != types.ChecksumTypeComposite {
		t.Errorf("attributes answered %+v, want %q COMPOSITE", attrs.Checksum, want)
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("comp")})
	if err != nil || len(list.Contents) != 1 || list.Contents[0].ChecksumType != types.ChecksumTypeComposite ||
		len(list.Contents[0].ChecksumAlgorithm) != 1 || list.Contents[0].ChecksumAlgorithm[0] != types.ChecksumAlgorithmSha256 {
		t.Errorf("listing: %+v, %v", list, err)
	}

	// No checksum asked for: the CRC64NVME S3 gives every object; a
	// final checksum sent is ignored.
	id = create("plain", "", "")
	parts, whole = uploadTwoParts(t, c, bucket, "plain", id, "")
	for i := range parts {
		parts[i].ChecksumCRC32 = nil
	}
	h64 := crc64nvme.New()
	h64.Write(whole)
	want = b64(h64.Sum(nil))
	res, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("plain"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}, ChecksumCRC64NVME: aws.String("vqf3hRLTlJw=")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(res.ChecksumCRC64NVME) != want {
		t.Errorf("default checksum %q, want %q", aws.ToString(res.ChecksumCRC64NVME), want)
	}
	if h := head("plain"); aws.ToString(h.ChecksumCRC64NVME) != want || h.ChecksumType != types.ChecksumTypeFullObject {
		t.Errorf("head answered %q %q, want %q FULL_OBJECT", aws.ToString(h.ChecksumCRC64NVME), h.ChecksumType, want)
	}
}

// CompleteMultipartUpload with If-None-Match: * or If-Match is checked
// atomically with the commit; other forms are NotImplemented.
func TestConditionalCompleteMultipartUpload(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)
	bucket, key := "mpcond", "k"
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader("first")})
	if err != nil {
		t.Fatal(err)
	}
	complete := func(ifMatch, ifNoneMatch *string) error {
		t.Helper()
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("second")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}},
			IfMatch:         ifMatch, IfNoneMatch: ifNoneMatch})
		return err
	}
	wantCode(t, "If-None-Match: * over an object", complete(nil, aws.String("*")), "PreconditionFailed")
	wantCode(t, "If-Match with another ETag", complete(aws.String(`"0123456789abcdef0123456789abcdef"`), nil), "PreconditionFailed")
	wantCode(t, "If-None-Match with an ETag", complete(nil, put.ETag), "NotImplemented")
	wantCode(t, "both", complete(put.ETag, aws.String("*")), "NotImplemented")
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(out.Body)
	out.Body.Close()
	if b.String() != "first" {
		t.Fatalf("refused completions replaced the object: %q", b.String())
	}
	if err := complete(put.ETag, nil); err != nil {
		t.Fatalf("If-Match with the object's ETag: %v", err)
	}
}

// A PutObject without a checksum gets the CRC64NVME S3 computes by
// default, answered by PutObject and HeadObject.
func TestPutObjectDefaultChecksum(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.url), UsePathStyle: true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		Credentials:                e.client(e.admin).Options().Credentials})
	bucket, key := "defck", "k"
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	body := []byte("no checksum sent")
	out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	h := crc64nvme.New()
	h.Write(body)
	want := b64(h.Sum(nil))
	if aws.ToString(out.ChecksumCRC64NVME) != want {
		t.Errorf("PutObject answered %q, want %q", aws.ToString(out.ChecksumCRC64NVME), want)
	}
	hd, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(hd.ChecksumCRC64NVME) != want || hd.ChecksumType != types.ChecksumTypeFullObject {
		t.Errorf("HeadObject answered %q %q, want %q FULL_OBJECT", aws.ToString(hd.ChecksumCRC64NVME), hd.ChecksumType, want)
	}
	// A folder object too (the checksum of no bytes), and one sent with
	// its checksum keeps it; a wrong one is refused.
	out, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("dir/")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ChecksumCRC64NVME) != "AAAAAAAAAAA=" || out.ChecksumType != types.ChecksumTypeFullObject {
		t.Errorf("folder object: %q %q", aws.ToString(out.ChecksumCRC64NVME), out.ChecksumType)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("dir2/"), ChecksumSHA256: aws.String("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")}); err != nil {
		t.Fatal(err)
	}
	hd, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("dir2/"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil || aws.ToString(hd.ChecksumSHA256) != "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" {
		t.Errorf("folder object with SHA256: %v %v", hd, err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("dir3/"), ChecksumCRC32: aws.String("AAAAAQ==")})
	wantCode(t, "a folder object with a wrong checksum", err, "BadDigest")
}

// DeleteObject with If-Match, x-amz-if-match-size or
// x-amz-if-match-last-modified-time deletes only the object they
// describe; anything else is refused and the object stays.
func TestConditionalDeleteObject(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)
	bucket := "conddel"
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("k"), Body: strings.NewReader("12345")})
	if err != nil {
		t.Fatal(err)
	}
	del := func(in *s3.DeleteObjectInput) error {
		in.Bucket, in.Key = &bucket, aws.String("k")
		_, err := c.DeleteObject(ctx, in)
		return err
	}
	wantCode(t, "another ETag", del(&s3.DeleteObjectInput{IfMatch: aws.String(`"0123456789abcdef0123456789abcdef"`)}), "PreconditionFailed")
	wantCode(t, "another size", del(&s3.DeleteObjectInput{IfMatchSize: aws.Int64(4)}), "PreconditionFailed")
	wantCode(t, "the ETag with another size", del(&s3.DeleteObjectInput{IfMatch: put.ETag, IfMatchSize: aws.Int64(6)}), "PreconditionFailed")
	if _, err := e.store.Head(ctx, bucket, "k"); err != nil {
		t.Fatalf("a refused delete removed the object: %v", err)
	}
	wantCode(t, "a missing key", func() error {
		_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("nope"), IfMatch: put.ETag})
		return err
	}(), "NoSuchKey")
	if err := del(&s3.DeleteObjectInput{IfMatch: put.ETag, IfMatchSize: aws.Int64(5)}); err != nil {
		t.Fatalf("the object's ETag and size: %v", err)
	}
	if _, err := e.store.Head(ctx, bucket, "k"); err == nil {
		t.Fatal("a delete whose conditions held left the object")
	}
}

// A request whose headers pass S3's 8 KiB is refused before anything
// else (RequestHeaderSectionTooLarge), and an empty Content-MD5 is an
// invalid digest, not a missing one.
func TestHeaderLimitsAndEmptyMD5(t *testing.T) {
	e := newEnv(t)
	if _, err := http.DefaultClient.Do(e.signed(http.MethodPut, "/lim", emptySHA256, -1, nil)); err != nil {
		t.Fatal(err)
	}
	status := func(req *http.Request, body string) (int, string) {
		t.Helper()
		if body != "" {
			req.Body = io.NopCloser(strings.NewReader(body))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := status(e.signed(http.MethodPut, "/lim/big", emptySHA256, 0, http.Header{"X-Amz-Meta-Big": {strings.Repeat("d", 8<<10)}}), "")
	if code != http.StatusBadRequest || !strings.Contains(body, "<Code>RequestHeaderSectionTooLarge</Code>") || !strings.Contains(body, "<MaxSizeAllowed>8192</MaxSizeAllowed>") {
		t.Errorf("8 KiB header: %d %s", code, body)
	}
	if _, err := e.store.Head(t.Context(), "lim", "big"); err == nil {
		t.Error("a refused put stored the object")
	}
	code, body = status(e.signed(http.MethodPut, "/lim/md5", emptySHA256, 0, http.Header{"Content-Md5": {""}}), "")
	if code != http.StatusBadRequest || !strings.Contains(body, "<Code>InvalidDigest</Code>") {
		t.Errorf("empty Content-MD5: %d %s", code, body)
	}
}

// A page of ListMultipartUploads that ends on a common prefix names, in
// its markers, the prefix and the first upload rolled into it; resuming
// from them lists what follows.
func TestListUploadsDelimiterMarkers(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)
	bucket := "upcp"
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, k := range []string{"abc/something", "foo/bar/baz", "foo/quxx", "xyz/hello", "zzz/bca", "some/very/nested"} {
		out, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		ids[k] = aws.ToString(out.UploadId)
	}
	prefixes := func(out *s3.ListMultipartUploadsOutput) []string {
		var ps []string
		for _, p := range out.CommonPrefixes {
			ps = append(ps, aws.ToString(p.Prefix))
		}
		return ps
	}
	out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket, Delimiter: aws.String("/"), MaxUploads: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(prefixes(out), " "); got != "abc/ foo/" || len(out.Uploads) != 0 || !aws.ToBool(out.IsTruncated) {
		t.Fatalf("first page: %q %v truncated %v", got, out.Uploads, aws.ToBool(out.IsTruncated))
	}
	if aws.ToString(out.NextKeyMarker) != "foo/" || aws.ToString(out.NextUploadIdMarker) != ids["foo/bar/baz"] {
		t.Errorf("markers %q %q, want foo/ %q", aws.ToString(out.NextKeyMarker), aws.ToString(out.NextUploadIdMarker), ids["foo/bar/baz"])
	}
	out, err = c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket, Delimiter: aws.String("/"),
		KeyMarker: out.NextKeyMarker, UploadIdMarker: out.NextUploadIdMarker})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(prefixes(out), " "); got != "foo/ some/ xyz/ zzz/" || aws.ToBool(out.IsTruncated) {
		t.Errorf("second page: %q truncated %v", got, aws.ToBool(out.IsTruncated))
	}
}
