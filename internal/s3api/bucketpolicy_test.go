package s3api_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tarn-lake/tarn/internal/auth"
)

// Bucket policies are enforced with the key policies: either may allow,
// and a deny in either wins.
func TestBucketPolicyWithKeyPolicies(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	admin := e.client(e.admin)
	if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("shared")}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"pub/a", "secret/b"} {
		if _, err := admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("shared"), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	newKey := func(name, doc string) (auth.Key, *s3.Client) {
		pol, err := auth.ParsePolicy([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		k, err := e.auth.CreateKey(ctx, name, pol)
		if err != nil {
			t.Fatal(err)
		}
		return k, e.client(k)
	}
	readerKey, reader := newKey("reader", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}`)
	deniedKey, denied := newKey("denied", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/secret/*"}]}`)
	get := func(c *s3.Client, key string) error {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("shared"), Key: aws.String(key)})
		if err == nil {
			_, _ = io.Copy(io.Discard, out.Body)
			out.Body.Close()
		}
		return err
	}
	wantCode(t, "reader before any bucket policy", get(reader, "pub/a"), "AccessDenied")

	for what, c := range map[string]struct{ doc, msg string }{
		"not JSON":                       {`Statement`, "Policies must be valid JSON and the first byte must be '{'"},
		"no statement":                   {`{"Version":"2012-10-17"}`, "Missing required field Statement"},
		"an unknown key":                 {`{"Statement":[{"Effect":"Allow","Principal":"TKNOSUCHKEY","Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*"}]}`, "Invalid principal in policy"},
		"another bucket":                 {`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}`, "Policy has invalid resource"},
		"an object action on the bucket": {`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::shared"}]}`, "Action does not apply to any resource(s) in statement"},
		"a non-S3 action":                {`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"iam:CreateUser","Resource":"arn:aws:s3:::shared/*"}]}`, "Policy has invalid action"},
		"a bad condition IP":             {`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*","Condition":{"IpAddress":{"aws:SourceIp":"300.1.1.1/40"}}}]}`, "Invalid IP address in Conditions"},
	} {
		_, err := admin.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("shared"), Policy: aws.String(c.doc)})
		wantCode(t, what, err, "MalformedPolicy")
		if err != nil && !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %q", what, err, c.msg)
		}
	}
	_, err := admin.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("shared")})
	wantCode(t, "GetBucketPolicy unset", err, "NoSuchBucketPolicy")

	doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":[%q,%q]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*"},
		{"Effect":"Allow","Principal":%q,"Action":"s3:PutObject","Resource":"arn:aws:s3:::shared/*","Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.1/32"}}},
		{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::shared/pub/*"}]}`,
		readerKey.AccessKeyID, deniedKey.AccessKeyID, readerKey.AccessKeyID)
	if _, err := admin.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("shared"), Policy: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	got, err := admin.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("shared")})
	if err != nil || aws.ToString(got.Policy) != doc {
		t.Fatalf("GetBucketPolicy = %q, %v", aws.ToString(got.Policy), err)
	}
	// The bucket policy grants what the key policy does not.
	if err := get(reader, "secret/b"); err != nil {
		t.Errorf("reader granted by the bucket policy: %v", err)
	}
	// A key policy's deny wins over the bucket's allow.
	wantCode(t, "a key that denies itself", get(denied, "secret/b"), "AccessDenied")
	if err := get(denied, "pub/a"); err != nil {
		t.Errorf("denied key outside its deny: %v", err)
	}
	// An allow under a condition grants nothing (conditions are not evaluated).
	_, err = reader.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("shared"), Key: aws.String("pub/new"), Body: strings.NewReader("x")})
	wantCode(t, "an allow with a condition", err, "AccessDenied")
	// The bucket's deny binds even the admin, who can still remove the policy.
	_, err = admin.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("shared"), Key: aws.String("pub/a")})
	wantCode(t, "admin delete under the bucket's deny", err, "AccessDenied")
	if _, err := e.store.Head(ctx, "shared", "pub/a"); err != nil {
		t.Fatalf("a denied delete removed the object: %v", err)
	}
	// A key without s3:PutBucketPolicy cannot change it.
	_, err = reader.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("shared")})
	wantCode(t, "reader deleting the policy", err, "AccessDenied")
	if _, err := admin.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("shared")}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "reader after the policy is gone", get(reader, "secret/b"), "AccessDenied")
	if _, err := admin.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("shared"), Key: aws.String("pub/a")}); err != nil {
		t.Errorf("admin delete once the policy is gone: %v", err)
	}
}
