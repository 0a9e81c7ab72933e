package s3api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Object writes with an ACL: the owner-only canned ACLs are accepted (they
// are what every object has); any other is refused before anything is
// stored — AccessControlListNotSupported under BucketOwnerEnforced, the
// default, and NotImplemented where ACLs are enabled (tarn keeps none).
func TestObjectACLHeaders(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)
	bucket := "objacl"
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("src"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	for _, acl := range []types.ObjectCannedACL{types.ObjectCannedACLPrivate, types.ObjectCannedACLBucketOwnerFullControl} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("ok-" + string(acl)), Body: strings.NewReader("x"), ACL: acl}); err != nil {
			t.Errorf("PutObject with %s: %v", acl, err)
		}
	}
	writes := func(want string) {
		t.Helper()
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("p"), Body: strings.NewReader("x"), ACL: types.ObjectCannedACLPublicRead})
		wantCode(t, "PutObject public-read", err, want)
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("g"), Body: strings.NewReader("x"), GrantRead: aws.String("id=someone")})
		wantCode(t, "PutObject with a grant", err, want)
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String("c"), CopySource: aws.String(bucket + "/src"), ACL: types.ObjectCannedACLPublicReadWrite})
		wantCode(t, "CopyObject public-read-write", err, want)
		_, err = c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("m"), ACL: types.ObjectCannedACLAuthenticatedRead})
		wantCode(t, "CreateMultipartUpload authenticated-read", err, want)
		for _, k := range []string{"p", "g", "c"} {
			if _, err := e.store.Head(ctx, bucket, k); err == nil {
				t.Errorf("a refused write stored %s", k)
			}
		}
	}
	writes("AccessControlListNotSupported")
	if _, err := c.PutBucketOwnershipControls(ctx, &s3.PutBucketOwnershipControlsInput{Bucket: &bucket,
		OwnershipControls: &types.OwnershipControls{Rules: []types.OwnershipControlsRule{{ObjectOwnership: types.ObjectOwnershipObjectWriter}}}}); err != nil {
		t.Fatal(err)
	}
	writes("NotImplemented")
}
