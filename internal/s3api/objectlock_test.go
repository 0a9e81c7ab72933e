package s3api_test

// Object lock (WORM) really refuses to destroy what it protects, driven
// through aws-sdk-go-v2 against a real server.

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/tarn-lake/tarn/internal/auth"
)

func TestObjectLockRefusesDeletesAndOverwrites(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("worm"), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	lc, err := c.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String("worm")})
	if err != nil || lc.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled {
		t.Fatalf("GetObjectLockConfiguration = %+v, %v", lc, err)
	}
	put := func(key, body string) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("worm"), Key: aws.String(key), Body: strings.NewReader(body)})
		return err
	}
	content := func(key string) string {
		t.Helper()
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("worm"), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("GetObject %s: %v", key, err)
		}
		defer out.Body.Close()
		b, _ := io.ReadAll(out.Body)
		return string(b)
	}
	for _, k := range []string{"c", "g", "h"} {
		if err := put(k, "original "+k); err != nil {
			t.Fatal(err)
		}
	}
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	for k, mode := range map[string]types.ObjectLockRetentionMode{"c": types.ObjectLockRetentionModeCompliance, "g": types.ObjectLockRetentionModeGovernance} {
		if _, err := c.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String("worm"), Key: aws.String(k),
			Retention: &types.ObjectLockRetention{Mode: mode, RetainUntilDate: &until}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: aws.String("worm"), Key: aws.String("h"),
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOn}}); err != nil {
		t.Fatal(err)
	}
	ret, err := c.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String("worm"), Key: aws.String("c")})
	if err != nil || ret.Retention.Mode != types.ObjectLockRetentionModeCompliance || !ret.Retention.RetainUntilDate.Equal(until) {
		t.Fatalf("GetObjectRetention = %+v, %v", ret, err)
	}

	for _, k := range []string{"c", "g", "h"} {
		wantCode(t, "overwrite of locked "+k, put(k, "replaced"), "AccessDenied")
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("worm"), Key: aws.String(k), CopySource: aws.String("worm/c"),
			MetadataDirective: types.MetadataDirectiveReplace})
		wantCode(t, "copy over locked "+k, err, "AccessDenied")
		_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("worm"), Key: aws.String(k)})
		wantCode(t, "delete of locked "+k, err, "AccessDenied")
		out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("worm"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String(k)}}}})
		if err != nil || len(out.Errors) != 1 || *out.Errors[0].Code != "AccessDenied" {
			t.Errorf("DeleteObjects of locked %s: %+v, %v", k, out, err)
		}
		if got := content(k); got != "original "+k {
			t.Errorf("locked %s now holds %q", k, got)
		}
	}
	// A multipart upload cannot replace a locked object either.
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("worm"), Key: aws.String("c")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("worm"), Key: aws.String("c"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("mp")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("worm"), Key: aws.String("c"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}})
	wantCode(t, "multipart over a locked object", err, "AccessDenied")

	// COMPLIANCE cannot be shortened or weakened, even by the admin with bypass.
	sooner := until.Add(-time.Minute)
	_, err = c.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String("worm"), Key: aws.String("c"), BypassGovernanceRetention: aws.Bool(true),
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: &sooner}})
	wantCode(t, "shortening COMPLIANCE", err, "AccessDenied")
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("worm"), Key: aws.String("c"), BypassGovernanceRetention: aws.Bool(true)})
	wantCode(t, "delete of COMPLIANCE with bypass", err, "AccessDenied")

	// GOVERNANCE gives way to bypass only from a key allowed it.
	pol, err := auth.ParsePolicy([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:DeleteObject","s3:PutObject","s3:GetObject"],"Resource":"*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.auth.CreateKey(ctx, "writer", pol)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client(k).DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("worm"), Key: aws.String("g"), BypassGovernanceRetention: aws.Bool(true)})
	wantCode(t, "bypass by a key without s3:BypassGovernanceRetention", err, "AccessDenied")
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("worm"), Key: aws.String("g"), BypassGovernanceRetention: aws.Bool(true)}); err != nil {
		t.Errorf("bypass by the admin: %v", err)
	}
	// A legal hold taken off frees the object; one put back on a new
	// object at the key is the new object's own.
	if _, err := c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: aws.String("worm"), Key: aws.String("h"),
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}}); err != nil {
		t.Fatal(err)
	}
	if err := put("h", "second"); err != nil {
		t.Fatalf("overwrite once the hold is off: %v", err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("worm"), Key: aws.String("h")}); err != nil {
		t.Errorf("delete once the hold is off: %v", err)
	}

	// Lock headers on a write: the object is protected from the start.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("worm"), Key: aws.String("hdr"), Body: strings.NewReader("x"),
		ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn})
	if err != nil {
		t.Fatal(err)
	}
	lh, err := c.GetObjectLegalHold(ctx, &s3.GetObjectLegalHoldInput{Bucket: aws.String("worm"), Key: aws.String("hdr")})
	if err != nil || lh.LegalHold.Status != types.ObjectLockLegalHoldStatusOn {
		t.Fatalf("GetObjectLegalHold = %+v, %v", lh, err)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("worm"), Key: aws.String("hdr")})
	if err != nil || head.ObjectLockLegalHoldStatus != types.ObjectLockLegalHoldStatusOn {
		t.Errorf("HeadObject lock headers: %+v, %v", head, err)
	}
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("worm"), Key: aws.String("hdr")})
	wantCode(t, "delete of an object written with a legal hold", err, "AccessDenied")
	// Lifecycle expiration passes over locked objects.
	if _, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String("worm"),
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{ID: aws.String("all"), Status: types.ExpirationStatusEnabled,
			Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.ApplyLifecycle(ctx, time.Now().AddDate(0, 0, 3)); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"c", "hdr"} {
		if got := content(k); got == "" {
			t.Errorf("lifecycle expired locked %s", k)
		}
	}

	// In a bucket without object lock, lock headers and requests are refused.
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("plain")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("plain"), Key: aws.String("x"), Body: strings.NewReader("x"),
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: &until})
	wantCode(t, "lock headers without object lock", err, "InvalidRequest")
	_, err = c.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String("plain")})
	wantCode(t, "GetObjectLockConfiguration unset", err, "ObjectLockConfigurationNotFoundError")
}

func TestObjectLockVersionedAndDefaultRetention(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("vworm"), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("vworm"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: aws.String("vworm"),
		ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled,
			Rule: &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeCompliance, Days: aws.Int32(1)}}}}); err != nil {
		t.Fatal(err)
	}
	v1, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vworm"), Key: aws.String("k"), Body: strings.NewReader("v1")})
	if err != nil {
		t.Fatal(err)
	}
	// A new version and a delete marker destroy nothing: allowed.
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vworm"), Key: aws.String("k"), Body: strings.NewReader("v2")}); err != nil {
		t.Fatalf("new version in a locked versioned bucket: %v", err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("vworm"), Key: aws.String("k")}); err != nil {
		t.Fatalf("delete marker in a locked versioned bucket: %v", err)
	}
	// Removing the version the default retention protects is not.
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("vworm"), Key: aws.String("k"), VersionId: v1.VersionId})
	wantCode(t, "delete of a version under default retention", err, "AccessDenied")
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vworm"), Key: aws.String("k"), VersionId: v1.VersionId})
	if err != nil {
		t.Fatalf("the protected version is gone: %v", err)
	}
	out.Body.Close()
	_, err = c.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String("vworm"), Key: aws.String("k"), VersionId: v1.VersionId})
	wantCode(t, "GetObjectRetention of a version with only the default", err, "NoSuchObjectLockConfiguration")

	// Bad configurations are refused with S3's codes.
	for what, cfg := range map[string]*types.DefaultRetention{
		"negative days":  {Mode: types.ObjectLockRetentionModeCompliance, Days: aws.Int32(-3)},
		"too many years": {Mode: types.ObjectLockRetentionModeCompliance, Years: aws.Int32(101)},
	} {
		_, err := c.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: aws.String("vworm"),
			ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled, Rule: &types.ObjectLockRule{DefaultRetention: cfg}}})
		wantCode(t, what, err, "InvalidArgument")
	}
	_, err = c.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: aws.String("vworm"),
		ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled,
			Rule: &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: "FOREVER", Days: aws.Int32(1)}}}})
	wantCode(t, "unknown mode", err, "MalformedXML")
}
