package s3api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/storage"
)

// TestPublicAccessBlock: anonymous requests, the AWS way. Every bucket's
// public access is blocked until its owner turns the block off; until
// then a policy's Principal "*" means every tarn key and no anonymous
// request is served. With the block off, Principal "*" statements grant
// anonymous requests exactly what they allow, on their bucket only, and
// every change of the policy or the block applies to the next request.
func TestPublicAccessBlock(t *testing.T) {
	t.Parallel()
	e := newGuideEnv(t)
	ctx := context.Background()
	admin := e.client(e.admin)
	anon := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.url), UsePathStyle: true, Credentials: aws.AnonymousCredentials{}})
	for _, b := range []string{"pub", "priv"} {
		if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"data/a.csv", "secret/b.csv"} {
			if _, err := admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(k), Body: strings.NewReader(b + "/" + k)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	pol, err := auth.ParsePolicy([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.auth.CreateKey(ctx, "someone", pol)
	if err != nil {
		t.Fatal(err)
	}
	someone := e.client(k)

	get := func(c *s3.Client, bucket, key string) error {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return err
		}
		body, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err == nil && string(body) != bucket+"/"+key {
			return fmt.Errorf("GetObject(%s/%s) = %q", bucket, key, body)
		}
		return err
	}
	ok := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	putPolicy := func(bucket, statements string) {
		t.Helper()
		doc := `{"Version":"2012-10-17","Statement":[` + statements + `]}`
		if _, err := admin.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(doc)}); err != nil {
			t.Fatalf("PutBucketPolicy(%s): %v", bucket, err)
		}
	}
	block := func(bucket string, flags ...bool) {
		t.Helper()
		if _, err := admin.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(bucket),
			PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(flags[0]),
				IgnorePublicAcls: aws.Bool(flags[1]), BlockPublicPolicy: aws.Bool(flags[2]), RestrictPublicBuckets: aws.Bool(flags[3])}}); err != nil {
			t.Fatalf("PutPublicAccessBlock(%s): %v", bucket, err)
		}
	}
	readData := `{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/data/*"}`

	// By default: a policy for "*" opens the bucket to every tarn key,
	// and to no anonymous request.
	putPolicy("pub", fmt.Sprintf(readData, "pub"))
	putPolicy("priv", fmt.Sprintf(readData, "priv"))
	ok("a key through Principal *", get(someone, "pub", "data/a.csv"))
	wantCode(t, "anonymous GetObject, block on", get(anon, "pub", "data/a.csv"), "AccessDenied")
	wantCode(t, "anonymous GetObject of a missing key, block on", get(anon, "pub", "data/nosuch"), "AccessDenied")
	wantCode(t, "anonymous GetObject in a missing bucket", get(anon, "nosuch", "data/a.csv"), "AccessDenied")

	// Half off is still blocked: either policy setting keeps it closed.
	block("pub", false, false, true, false)
	wantCode(t, "anonymous GetObject, BlockPublicPolicy on", get(anon, "pub", "data/a.csv"), "AccessDenied")
	block("pub", false, false, false, true)
	wantCode(t, "anonymous GetObject, RestrictPublicBuckets on", get(anon, "pub", "data/a.csv"), "AccessDenied")

	// Off: exactly what the policy allows, on this bucket only.
	block("pub", true, true, false, false)
	ok("anonymous GetObject, block off", get(anon, "pub", "data/a.csv"))
	wantCode(t, "anonymous GetObject outside the policy's resource", get(anon, "pub", "secret/b.csv"), "AccessDenied")
	wantCode(t, "anonymous GetObject on the other bucket", get(anon, "priv", "data/a.csv"), "AccessDenied")
	_, err = anon.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pub"), Key: aws.String("data/new.csv"), Body: strings.NewReader("x")})
	wantCode(t, "anonymous PutObject (not in the policy)", err, "AccessDenied")
	_, err = anon.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("pub"), Key: aws.String("data/a.csv")})
	wantCode(t, "anonymous DeleteObject (not in the policy)", err, "AccessDenied")
	_, err = anon.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("pub")})
	wantCode(t, "anonymous ListObjectsV2 (not in the policy)", err, "AccessDenied")
	_, err = anon.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("pub")})
	wantCode(t, "anonymous GetBucketPolicy", err, "AccessDenied")
	_, err = anon.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("pub"),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{}})
	wantCode(t, "anonymous PutPublicAccessBlock", err, "AccessDenied")
	_, err = anon.ListBuckets(ctx, &s3.ListBucketsInput{})
	wantCode(t, "anonymous ListBuckets", err, "AccessDenied")
	// A presigned-looking request with a wrong signature is not anonymous.
	_, err = e.client(auth.Key{AccessKeyID: k.AccessKeyID, SecretAccessKey: "wrong"}).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pub"), Key: aws.String("data/a.csv")})
	wantCode(t, "a wrong signature on a public bucket", err, "SignatureDoesNotMatch")

	// A policy change applies to the next request: a Deny for "*" ...
	putPolicy("pub", fmt.Sprintf(readData, "pub")+`,{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/data/a.csv"}`)
	wantCode(t, "anonymous GetObject denied by a new statement", get(anon, "pub", "data/a.csv"), "AccessDenied")
	// ... a condition that does not hold ...
	putPolicy("pub", `{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/data/*","Condition":{"NotIpAddress":{"aws:SourceIp":"127.0.0.0/8"}}}`)
	wantCode(t, "anonymous GetObject under a condition that fails", get(anon, "pub", "data/a.csv"), "AccessDenied")
	// ... a statement that names a key rather than "*" ...
	putPolicy("pub", fmt.Sprintf(`{"Effect":"Allow","Principal":{"AWS":[%q]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/data/*"}`, k.AccessKeyID))
	wantCode(t, "anonymous GetObject, policy for one key", get(anon, "pub", "data/a.csv"), "AccessDenied")
	ok("the key the policy names", get(someone, "pub", "data/a.csv"))
	// ... and no policy at all.
	if _, err := admin.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("pub")}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "anonymous GetObject, no policy", get(anon, "pub", "data/a.csv"), "AccessDenied")

	// Blocking again closes at once; DeletePublicAccessBlock opens as in S3.
	putPolicy("pub", fmt.Sprintf(readData, "pub"))
	ok("anonymous GetObject, policy back", get(anon, "pub", "data/a.csv"))
	block("pub", true, true, true, true)
	wantCode(t, "anonymous GetObject, blocked again", get(anon, "pub", "data/a.csv"), "AccessDenied")
	if _, err := admin.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String("pub")}); err != nil {
		t.Fatal(err)
	}
	_, err = admin.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("pub")})
	wantCode(t, "GetPublicAccessBlock after delete", err, "NoSuchPublicAccessBlockConfiguration")
	ok("anonymous GetObject, block deleted", get(anon, "pub", "data/a.csv"))

	// A bucket deleted and made again is blocked again.
	if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("again")}); err != nil {
		t.Fatal(err)
	}
	block("again", false, false, false, false)
	if _, err := admin.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("again")}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("again")}); err != nil {
		t.Fatal(err)
	}
	out, err := admin.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("again")})
	if err != nil || !*out.PublicAccessBlockConfiguration.RestrictPublicBuckets {
		t.Errorf("GetPublicAccessBlock of a bucket made again = %+v, %v; want blocked", out, err)
	}

	// A setting kept before tarn enforced it (accepted with no effect)
	// opens nothing after an upgrade.
	bc := e.store.(storage.BucketConfigs)
	legacy := `<PublicAccessBlockConfiguration><BlockPublicAcls>false</BlockPublicAcls><IgnorePublicAcls>false</IgnorePublicAcls>` +
		`<BlockPublicPolicy>false</BlockPublicPolicy><RestrictPublicBuckets>false</RestrictPublicBuckets></PublicAccessBlockConfiguration>`
	if err := bc.SetBucketConfig(ctx, "priv", "publicAccessBlock", []byte(legacy)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "anonymous GetObject, legacy unblocked setting", get(anon, "priv", "data/a.csv"), "AccessDenied")
}

// TestPublicBucketAnonymousWrites: a public bucket whose policy allows
// everything on it still refuses what S3 keeps from anonymous callers, and
// checks an anonymous body's x-amz-content-sha256 before storing it.
func TestPublicBucketAnonymousWrites(t *testing.T) {
	t.Parallel()
	e := newGuideEnv(t)
	ctx := context.Background()
	admin := e.client(e.admin)
	anon := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.url), UsePathStyle: true, Credentials: aws.AnonymousCredentials{}})
	if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("drop")}); err != nil {
		t.Fatal(err)
	}
	doc := `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::drop"},` +
		`{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::drop/*"}]}`
	if _, err := admin.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("drop"), Policy: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String("drop")}); err != nil {
		t.Fatal(err)
	}
	if _, err := anon.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("drop"), Key: aws.String("in/a"), Body: strings.NewReader("hello")}); err != nil {
		t.Fatalf("anonymous PutObject on a public bucket: %v", err)
	}
	out, err := anon.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("drop")})
	if err != nil || len(out.Contents) != 1 {
		t.Fatalf("anonymous ListObjectsV2 = %+v, %v", out, err)
	}
	_, err = anon.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("drop"), Policy: aws.String(doc)})
	wantCode(t, "anonymous PutBucketPolicy", err, "MethodNotAllowed")
	_, err = anon.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("drop")})
	wantCode(t, "anonymous DeleteBucketPolicy", err, "MethodNotAllowed")
	_, err = anon.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String("drop")})
	wantCode(t, "anonymous DeletePublicAccessBlock", err, "AccessDenied")
	_, err = anon.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("drop"), Key: aws.String("mp")})
	wantCode(t, "anonymous CreateMultipartUpload", err, "AccessDenied")
	_, err = anon.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("drop"), Key: aws.String("copy"), CopySource: aws.String("drop/in/a")})
	wantCode(t, "anonymous CopyObject", err, "AccessDenied")
	_, err = anon.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("drop"), ACL: types.BucketCannedACLPublicReadWrite})
	wantCode(t, "anonymous PutBucketAcl", err, "AccessDenied")
	_, err = anon.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("drop2")})
	wantCode(t, "anonymous CreateBucket", err, "AccessDenied")

	// A body that does not hash to its x-amz-content-sha256 is not stored.
	for _, sum := range []string{strings.Repeat("0", 64), "incorrect_hash"} {
		req, _ := http.NewRequest(http.MethodPut, e.url+"/drop/in/bad", bytes.NewReader([]byte("some bytes")))
		req.Header.Set("X-Amz-Content-Sha256", sum)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "XAmzContentSHA256Mismatch") {
			t.Errorf("anonymous PUT with sha256 %q = %d %s", sum, resp.StatusCode, body)
		}
	}
	if _, err := e.store.Head(ctx, "drop", "in/bad"); err == nil {
		t.Error("an anonymous body with a wrong hash was stored")
	}
	// GOVERNANCE retention yields to an anonymous caller only if the
	// policy grants s3:BypassGovernanceRetention (here through s3:*), as
	// in S3.
	if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("worm"), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	wormPolicy := func(actions string) {
		t.Helper()
		doc := `{"Statement":[{"Effect":"Allow","Principal":"*","Action":[` + actions + `],"Resource":"arn:aws:s3:::worm/*"}]}`
		if _, err := admin.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("worm"), Policy: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
	}
	wormPolicy(`"s3:GetObject","s3:DeleteObject","s3:DeleteObjectVersion"`)
	if _, err := admin.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String("worm")}); err != nil {
		t.Fatal(err)
	}
	put, err := admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("worm"), Key: aws.String("kept"), Body: strings.NewReader("kept"),
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(time.Now().Add(24 * time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	del := &s3.DeleteObjectInput{Bucket: aws.String("worm"), Key: aws.String("kept"), VersionId: put.VersionId, BypassGovernanceRetention: aws.Bool(true)}
	_, err = anon.DeleteObject(ctx, del)
	wantCode(t, "anonymous delete bypassing GOVERNANCE, not granted", err, "AccessDenied")
	if _, err := e.store.Head(ctx, "worm", "kept"); err != nil {
		t.Fatalf("the locked object is gone: %v", err)
	}
	wormPolicy(`"s3:*"`)
	if _, err := anon.DeleteObject(ctx, del); err != nil {
		t.Errorf("anonymous delete bypassing GOVERNANCE, granted by s3:*: %v", err)
	}
}

// TestPublicBucketUnimplemented: an operation tarn does not implement is
// NotImplemented only to an anonymous caller the policy would let do it;
// the others are denied, and learn nothing.
func TestPublicBucketUnimplemented(t *testing.T) {
	t.Parallel()
	e := newGuideEnv(t)
	ctx := context.Background()
	admin := e.client(e.admin)
	anon := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.url), UsePathStyle: true, Credentials: aws.AnonymousCredentials{}})
	if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("half")}); err != nil {
		t.Fatal(err)
	}
	doc := `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::half/open/*"}]}`
	if _, err := admin.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("half"), Policy: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String("half")}); err != nil {
		t.Fatal(err)
	}
	_, err := anon.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("half"), Key: aws.String("open/a")})
	wantCode(t, "anonymous GetObjectAcl allowed by the policy", err, "NotImplemented")
	_, err = anon.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("half"), Key: aws.String("closed/a")})
	wantCode(t, "anonymous GetObjectAcl outside the policy", err, "AccessDenied")
	_, err = anon.GetBucketLogging(ctx, &s3.GetBucketLoggingInput{Bucket: aws.String("half")})
	wantCode(t, "anonymous GetBucketLogging", err, "AccessDenied")
}
