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
		{"Effect":"Allow","Principal":%q,"Action":"s3:PutObject","Resource":"arn:aws:s3:::shared/*","Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}},
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
	// An allow under a condition that does not hold grants nothing.
	_, err = reader.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("shared"), Key: aws.String("pub/new"), Body: strings.NewReader("x")})
	wantCode(t, "an allow with a condition that does not hold", err, "AccessDenied")
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

// A bucket policy statement applies only when its Condition holds for the
// request, with the condition keys S3 supplies for the action.
func TestBucketPolicyConditions(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	admin := e.client(e.admin)
	bucket := "conds"
	if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"pub/a", "secret/b"} {
		if _, err := admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	// A key whose own policy allows nothing on the bucket.
	pol, err := auth.ParsePolicy([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.auth.CreateKey(ctx, "user", pol)
	if err != nil {
		t.Fatal(err)
	}
	user := e.client(k)
	setPolicy := func(statements ...string) {
		t.Helper()
		for i, st := range statements {
			statements[i] = strings.ReplaceAll(strings.ReplaceAll(st, "KEY", k.AccessKeyID), "BUCKET", bucket)
		}
		doc := `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
		if _, err := admin.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(doc)}); err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
	}
	put := func(key string) error {
		_, err := user.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("x")})
		return err
	}
	get := func(key string) error {
		out, err := user.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err == nil {
			_, _ = io.Copy(io.Discard, out.Body)
			out.Body.Close()
		}
		return err
	}
	list := func(prefix *string, maxKeys *int32) error {
		_, err := user.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: prefix, MaxKeys: maxKeys})
		return err
	}
	ok := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	putAllow := `{"Effect":"Allow","Principal":"KEY","Action":"s3:PutObject","Resource":"arn:aws:s3:::BUCKET/*","Condition":%s}`
	getAllow := `{"Effect":"Allow","Principal":"KEY","Action":"s3:GetObject","Resource":"arn:aws:s3:::BUCKET/*"}`

	// aws:SourceIp: the connection's address (127.0.0.1 here).
	setPolicy(fmt.Sprintf(putAllow, `{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}`))
	ok("IpAddress that holds", put("p1"))
	setPolicy(fmt.Sprintf(putAllow, `{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","198.51.100.7"]}}`))
	wantCode(t, "IpAddress that does not hold", put("p2"), "AccessDenied")
	setPolicy(fmt.Sprintf(putAllow, `{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`))
	ok("NotIpAddress that holds", put("p3"))
	// Hostile: a deny under a condition that holds denies, over an
	// unconditional allow; under one that does not, it does not.
	setPolicy(getAllow, `{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::BUCKET/secret/*","Condition":{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}`)
	wantCode(t, "a deny whose condition holds", get("secret/b"), "AccessDenied")
	ok("outside the deny's resource", get("pub/a"))
	wantCode(t, "the admin under the deny", func() error {
		_, err := admin.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("secret/b")})
		return err
	}(), "AccessDenied")
	setPolicy(getAllow, `{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::BUCKET/secret/*","Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}`)
	ok("a deny whose condition does not hold", get("secret/b"))
	// aws:SecureTransport: this server is plain HTTP.
	setPolicy(getAllow, `{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::BUCKET","arn:aws:s3:::BUCKET/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}`)
	wantCode(t, "deny without TLS", get("pub/a"), "AccessDenied")
	setPolicy(getAllow, `{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::BUCKET","arn:aws:s3:::BUCKET/*"],"Condition":{"Bool":{"aws:SecureTransport":"true"}}}`)
	ok("deny over TLS only", get("pub/a"))

	// s3:prefix and s3:max-keys on listings.
	setPolicy(`{"Effect":"Allow","Principal":"KEY","Action":"s3:ListBucket","Resource":"arn:aws:s3:::BUCKET","Condition":{"StringLike":{"s3:prefix":"pub/*"}}}`)
	ok("a listing under the prefix", list(aws.String("pub/"), nil))
	wantCode(t, "a listing under another prefix", list(aws.String("secret/"), nil), "AccessDenied")
	wantCode(t, "a listing of everything", list(nil, nil), "AccessDenied")
	setPolicy(`{"Effect":"Allow","Principal":"KEY","Action":"s3:ListBucket","Resource":"arn:aws:s3:::BUCKET","Condition":{"StringEquals":{"s3:prefix":["","pub/"]},"NumericLessThanEquals":{"s3:max-keys":"10"}}}`)
	ok("both conditions hold", list(aws.String("pub/"), aws.Int32(5)))
	wantCode(t, "max-keys over the bound", list(aws.String("pub/"), aws.Int32(50)), "AccessDenied")
	wantCode(t, "max-keys defaulting to 1000", list(aws.String("pub/"), nil), "AccessDenied")
	wantCode(t, "the prefix not listed", list(aws.String("secret/"), aws.Int32(5)), "AccessDenied")

	// Dates, Null, IfExists, string operators.
	setPolicy(fmt.Sprintf(putAllow, `{"DateGreaterThan":{"aws:CurrentTime":"2000-01-01T00:00:00Z"}}`))
	ok("DateGreaterThan that holds", put("p4"))
	setPolicy(fmt.Sprintf(putAllow, `{"DateLessThan":{"aws:CurrentTime":"2000-01-01T00:00:00Z"}}`))
	wantCode(t, "DateLessThan that does not hold", put("p5"), "AccessDenied")
	setPolicy(getAllow, `{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::BUCKET/*","Condition":{"Null":{"aws:Referer":"true"}}}`)
	wantCode(t, "Null on a key the request lacks", get("pub/a"), "AccessDenied")
	setPolicy(fmt.Sprintf(putAllow, `{"StringEquals":{"s3:x-amz-acl":"public-read"}}`))
	wantCode(t, "StringEquals on a header not sent", put("p6"), "AccessDenied")
	setPolicy(fmt.Sprintf(putAllow, `{"StringEqualsIfExists":{"s3:x-amz-acl":"public-read"}}`))
	ok("StringEqualsIfExists on a header not sent", put("p7"))
	setPolicy(fmt.Sprintf(putAllow, `{"StringNotEquals":{"aws:username":"someone-else"},"StringLike":{"aws:userid":"TK*"}}`))
	ok("StringNotEquals and StringLike that hold", put("p8"))
	setPolicy(fmt.Sprintf(putAllow, `{"StringEqualsIgnoreCase":{"aws:username":"USER"},"StringNotLike":{"aws:userid":"TK*"}}`))
	wantCode(t, "one of two conditions fails", put("p9"), "AccessDenied")
	// The tags a request puts (s3:RequestObjectTag/<key>).
	setPolicy(fmt.Sprintf(putAllow, `{"StringEquals":{"s3:RequestObjectTag/team":"data"}}`))
	_, err = user.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("tagged"), Body: strings.NewReader("x"), Tagging: aws.String("team=data")})
	ok("a put with the tag", err)
	_, err = user.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("tagged2"), Body: strings.NewReader("x"), Tagging: aws.String("team=ops")})
	wantCode(t, "a put with another tag", err, "AccessDenied")
	// s3:ExistingObjectTag/<key>: the tags of the object read.
	setPolicy(`{"Effect":"Allow","Principal":"KEY","Action":"s3:GetObject","Resource":"arn:aws:s3:::BUCKET/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/team":"data"}}}`)
	ok("reading an object with the tag", get("tagged"))
	wantCode(t, "reading an object without it", get("pub/a"), "AccessDenied")
	for _, key := range []string{"p2", "p5", "p6", "p9", "tagged2"} {
		if _, err := e.store.Head(ctx, bucket, key); err == nil {
			t.Errorf("a denied put stored %s", key)
		}
	}
}
