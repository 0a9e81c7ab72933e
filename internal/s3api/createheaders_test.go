package s3api_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// CreateBucket's configuration body and the object headers S3 checks.
func TestCreateBucketConfigurationAndObjectHeaders(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("cfgb"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintUsWest1}})
	wantCode(t, "another region", err, "InvalidLocationConstraint")
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("cfgb"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("1")}, {Key: aws.String("k"), Value: aws.String("2")}}}})
	wantCode(t, "duplicate tag keys", err, "InvalidTag")
	if _, err := e.store.HeadBucket(ctx, "cfgb"); err == nil {
		t.Fatal("a refused CreateBucket made the bucket")
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("cfgb"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("data")}}}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String("cfgb")})
	if err != nil || len(tags.TagSet) != 1 || *tags.TagSet[0].Key != "team" || *tags.TagSet[0].Value != "data" {
		t.Fatalf("tags given at creation: %+v, %v", tags, err)
	}

	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cfgb"), Key: aws.String("x"), Body: strings.NewReader("x"),
		WebsiteRedirectLocation: aws.String("ftp://elsewhere")})
	wantCode(t, "redirect location without http(s):// or /", err, "InvalidRedirectLocation")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cfgb"), Key: aws.String("x"), Body: strings.NewReader("x"),
		Metadata: map[string]string{"big": strings.Repeat("m", 2100)}})
	wantCode(t, "metadata over 2 KiB", err, "MetadataTooLarge")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cfgb"), Key: aws.String("x"), Body: strings.NewReader("x"),
		WebsiteRedirectLocation: aws.String("/elsewhere")}); err != nil {
		t.Fatal(err)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("cfgb"), Key: aws.String("x")})
	if err != nil || aws.ToString(head.WebsiteRedirectLocation) != "/elsewhere" || head.StorageClass != types.StorageClassStandard {
		t.Errorf("HeadObject: redirect %q, storage class %q, %v", aws.ToString(head.WebsiteRedirectLocation), head.StorageClass, err)
	}
}

// A multipart upload's checksum is checked when it is created and holds
// its parts to it.
func TestMultipartChecksumChosenAtCreate(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("mpck")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mpck"), Key: aws.String("k"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256, ChecksumType: types.ChecksumTypeFullObject})
	wantCode(t, "FULL_OBJECT with SHA256", err, "InvalidRequest")
	_, err = c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mpck"), Key: aws.String("k"), ChecksumType: types.ChecksumTypeComposite})
	wantCode(t, "a type without an algorithm", err, "InvalidRequest")
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mpck"), Key: aws.String("k"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	if up.ChecksumAlgorithm != types.ChecksumAlgorithmCrc32 || up.ChecksumType != types.ChecksumTypeComposite {
		t.Errorf("CreateMultipartUpload answered %q %q", up.ChecksumAlgorithm, up.ChecksumType)
	}
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mpck"), Key: aws.String("k"), UploadId: up.UploadId, PartNumber: aws.Int32(1),
		Body: strings.NewReader("part"), ChecksumAlgorithm: types.ChecksumAlgorithmSha1})
	wantCode(t, "a SHA1 part of a CRC32 upload", err, "InvalidRequest")
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mpck"), Key: aws.String("k"), UploadId: up.UploadId, PartNumber: aws.Int32(1),
		Body: strings.NewReader("part"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32}); err != nil {
		t.Errorf("a CRC32 part: %v", err)
	}
}

// x-amz-expected-bucket-owner names the asking key (the owner every key
// acts for); another owner is refused before anything changes.
func TestExpectedBucketOwner(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("owned")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("owned"), ExpectedBucketOwner: aws.String("someone-else")})
	wantCode(t, "DeleteBucket for another owner", err, "AccessDenied")
	if _, err := e.store.HeadBucket(ctx, "owned"); err != nil {
		t.Fatalf("the bucket went: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("owned"), Key: aws.String("dir/"),
		ExpectedBucketOwner: aws.String(e.admin.AccessKeyID)}); err != nil {
		t.Fatalf("PutObject for the right owner: %v", err)
	}
}

// Requests no S3 operation has the shape of are told so, signed or not.
func TestMisroutedRequests(t *testing.T) {
	e := newGuideEnv(t)
	for _, c := range []struct {
		method, path string
		copySource   bool
		status       int
		code         string
	}{
		{http.MethodPost, "/", false, http.StatusMethodNotAllowed, "MethodNotAllowed"},
		{http.MethodPost, "/b/o", false, http.StatusMethodNotAllowed, "MethodNotAllowed"},
		{http.MethodPut, "/b/o?uploadId=x", false, http.StatusMethodNotAllowed, "MethodNotAllowed"},
		{http.MethodPut, "/b/o?partNumber=1", false, http.StatusBadRequest, "InvalidArgument"},
		{http.MethodGet, "/b/o?uploads", false, http.StatusBadRequest, "InvalidRequest"},
		{http.MethodGet, "/b/o?versions", false, http.StatusBadRequest, "InvalidRequest"},
		{http.MethodDelete, "/b/o", true, http.StatusBadRequest, "InvalidArgument"},
		// Well-formed but unsigned: refused as ever.
		{http.MethodGet, "/b/o", false, http.StatusForbidden, "AccessDenied"},
	} {
		req, _ := http.NewRequest(c.method, e.url+c.path, nil)
		if c.copySource {
			req.Header.Set("X-Amz-Copy-Source", "b/other")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(body), "<Code>"+c.code+"</Code>") {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, resp.StatusCode, body, c.status, c.code)
		}
	}
}

// A PutBucketAcl body is checked as S3 does before tarn says it cannot
// grant to others.
func TestPutBucketACLBody(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("acls"), ObjectOwnership: types.ObjectOwnershipBucketOwnerPreferred}); err != nil {
		t.Fatal(err)
	}
	grantRead := []types.Grant{{Grantee: &types.Grantee{Type: types.TypeCanonicalUser, ID: aws.String("someone")}, Permission: types.PermissionRead}}
	_, err := c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("acls"), ACL: types.BucketCannedACLPrivate,
		AccessControlPolicy: &types.AccessControlPolicy{Grants: grantRead, Owner: &types.Owner{ID: aws.String(e.admin.AccessKeyID)}}})
	wantCode(t, "canned ACL and a body", err, "UnexpectedContent")
	_, err = c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("acls"), AccessControlPolicy: &types.AccessControlPolicy{Grants: grantRead}})
	wantCode(t, "a body without an owner", err, "MalformedACLError")
	_, err = c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("acls"), AccessControlPolicy: &types.AccessControlPolicy{
		Grants: grantRead, Owner: &types.Owner{ID: aws.String(e.admin.AccessKeyID)}}})
	wantCode(t, "a grant to another account", err, "NotImplemented")
}

// An upload-id-marker is read only after a key marker, and must name an
// upload id then.
func TestListUploadsIDMarker(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("mpl")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mpl"), Key: aws.String("obj-1")}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpl"), UploadIdMarker: aws.String("nonsense")})
	if err != nil || len(out.Uploads) != 1 {
		t.Errorf("a lone upload-id-marker: %+v, %v", out, err)
	}
	_, err = c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpl"), KeyMarker: aws.String("obj-0"), UploadIdMarker: aws.String("nonsense")})
	wantCode(t, "an upload-id-marker that is no id", err, "InvalidArgument")
}
