package s3api_test

// Bucket configuration the AWS guides set (encryption, public access
// block, lifecycle, notifications), driven through aws-sdk-go-v2 against
// a real server on 127.0.0.1 over the filesystem store.

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/s3api"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/fs"
)

// fakeTriggers records the event triggers a server keeps; a job named
// "missing" does not exist.
type fakeTriggers struct {
	mu sync.Mutex
	m  map[string]s3api.EventTrigger
}

func (f *fakeTriggers) CreateEventTrigger(_ context.Context, t s3api.EventTrigger) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.Job == "missing" {
		return errors.New(`job "missing" does not exist`)
	}
	if _, ok := f.m[t.Name]; ok {
		return errors.New("trigger exists")
	}
	f.m[t.Name] = t
	return nil
}

func (f *fakeTriggers) DeleteEventTrigger(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, name)
	return nil
}

func (f *fakeTriggers) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n := range f.m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

type guideEnv struct {
	srv      *s3api.Server
	url      string
	store    storage.ObjectStore
	auth     *auth.Service
	admin    auth.Key
	triggers *fakeTriggers
}

func newGuideEnv(t *testing.T) *guideEnv {
	t.Helper()
	ctx := context.Background()
	home := t.TempDir()
	store, err := fs.New(fs.DefaultConfig(filepath.Join(home, "objects")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	db, err := meta.Open(ctx, metatest.Config(t, filepath.Join(home, "tarn.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := auth.DefaultConfig(home)
	cfg.AdminAccessKeyID, cfg.AdminSecretAccessKey = "TKADMINKEY0000000001", "adminsecretadminsecretadminsecretadminse"
	a, err := auth.New(ctx, db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := a.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	uploads, err := storage.NewUploads(filepath.Join(home, "uploads"), store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uploads.Close() })
	e := &guideEnv{store: store, auth: a, admin: admin, triggers: &fakeTriggers{m: map[string]s3api.EventTrigger{}}}
	e.srv = s3api.New(s3api.DefaultConfig(), store, uploads, a, nil)
	e.srv.SetTriggers(e.triggers)
	hs := httptest.NewServer(e.srv)
	t.Cleanup(hs.Close)
	e.url = hs.URL
	return e
}

func (e *guideEnv) client(k auth.Key) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.url),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}, nil
		}),
	})
}

// wantCode asserts an S3 error code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Errorf("%s: got %v, want %s", what, err, code)
	}
}

func TestGuidesBucketEncryptionRefused(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("enc")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String("enc"),
		ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{{
			ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: types.ServerSideEncryptionAes256}}}}})
	wantCode(t, "PutBucketEncryption AES256", err, "NotImplemented")
	_, err = c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String("enc")})
	wantCode(t, "GetBucketEncryption", err, "NotImplemented")
	_, err = c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String("nosuch")})
	wantCode(t, "GetBucketEncryption of a missing bucket", err, "NoSuchBucket")
	_, err = c.DeleteBucketEncryption(ctx, &s3.DeleteBucketEncryptionInput{Bucket: aws.String("enc")})
	wantCode(t, "DeleteBucketEncryption", err, "NotImplemented")

	// --sse AES256 on an object is refused and stores nothing.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("enc"), Key: aws.String("a"), Body: strings.NewReader("x"),
		ServerSideEncryption: types.ServerSideEncryptionAes256})
	wantCode(t, "PutObject --sse AES256", err, "NotImplemented")
	_, err = c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("enc"), Key: aws.String("m"),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms})
	wantCode(t, "CreateMultipartUpload --sse aws:kms", err, "NotImplemented")
	if _, err := e.store.Head(ctx, "enc", "a"); !errors.Is(err, storage.ErrNoSuchKey) {
		t.Errorf("a refused --sse put left an object: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("enc"), Key: aws.String("a"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("enc"), Key: aws.String("b"), CopySource: aws.String("enc/a"),
		ServerSideEncryption: types.ServerSideEncryptionAes256})
	wantCode(t, "CopyObject --sse AES256", err, "NotImplemented")
}

func TestGuidesPublicAccessBlock(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("pab")}); err != nil {
		t.Fatal(err)
	}
	// Every bucket starts with its public access blocked, as in S3.
	out, err := c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("pab")})
	if err != nil {
		t.Fatal(err)
	}
	if p := out.PublicAccessBlockConfiguration; !*p.BlockPublicAcls || !*p.IgnorePublicAcls || !*p.BlockPublicPolicy || !*p.RestrictPublicBuckets {
		t.Errorf("GetPublicAccessBlock of a new bucket = %+v, want all true", p)
	}
	if _, err := c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("pab"),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true),
			BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(false)}}); err != nil {
		t.Fatal(err)
	}
	out, err = c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("pab")})
	if err != nil {
		t.Fatal(err)
	}
	p := out.PublicAccessBlockConfiguration
	if !*p.BlockPublicAcls || !*p.IgnorePublicAcls || !*p.BlockPublicPolicy || *p.RestrictPublicBuckets {
		t.Errorf("GetPublicAccessBlock = %+v", p)
	}
	// The bucket is still a bucket (the request was once answered as CreateBucket).
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("pab")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String("pab")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("pab")})
	wantCode(t, "GetPublicAccessBlock after delete", err, "NoSuchPublicAccessBlockConfiguration")
	_, err = c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("nosuch"),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true)}})
	wantCode(t, "PutPublicAccessBlock on a missing bucket", err, "NoSuchBucket")
	if _, err := e.store.HeadBucket(ctx, "nosuch"); err == nil {
		t.Error("PutPublicAccessBlock created the bucket")
	}

	// A key allowed only to read objects may not change it.
	pol, err := auth.ParsePolicy([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:GetBucketPublicAccessBlock"],"Resource":"*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.auth.CreateKey(ctx, "reader", pol)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client(k).PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("pab"),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(false)}})
	wantCode(t, "PutPublicAccessBlock by a reader", err, "AccessDenied")
}

func TestGuidesLifecycleRuns(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)
	for _, b := range []string{"plain", "vers"} {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("vers"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	put := func(b, k, body string) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(k), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	put("plain", "tmp/a", "1")
	put("plain", "tmp/big", "0123456789")
	put("plain", "keep/a", "1")
	for _, body := range []string{"v1", "v2", "v3", "v4"} {
		put("vers", "data/x", body)
	}
	put("vers", "gone/y", "1")
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("vers"), Key: aws.String("gone/y")}); err != nil {
		t.Fatal(err)
	}
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("plain"), Key: aws.String("tmp/upload")})
	if err != nil {
		t.Fatal(err)
	}

	// Invalid configurations are refused with S3's codes.
	bad := []struct {
		rule types.LifecycleRule
		code string
	}{
		{types.LifecycleRule{Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")}}, "InvalidArgument"},
		{types.LifecycleRule{Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(0)}}, "InvalidArgument"},
		{types.LifecycleRule{Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")}, Expiration: &types.LifecycleExpiration{Date: aws.Time(time.Date(2030, 1, 1, 5, 0, 0, 0, time.UTC))}}, "InvalidArgument"},
		{types.LifecycleRule{Status: "Maybe", Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}}, "MalformedXML"},
	}
	for i, b := range bad {
		_, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String("plain"),
			LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{b.rule}}})
		wantCode(t, "bad lifecycle "+string(rune('0'+i)), err, b.code)
	}
	_, err = c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("plain")})
	wantCode(t, "GetBucketLifecycleConfiguration before any", err, "NoSuchLifecycleConfiguration")

	if _, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String("plain"),
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{
			{ID: aws.String("tmp"), Status: types.ExpirationStatusEnabled,
				Filter:                         &types.LifecycleRuleFilter{And: &types.LifecycleRuleAndOperator{Prefix: aws.String("tmp/"), ObjectSizeLessThan: aws.Int64(5)}},
				Expiration:                     &types.LifecycleExpiration{Days: aws.Int32(1)},
				AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(2)}},
			{ID: aws.String("archive"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("keep/")},
				Transitions: []types.Transition{{Days: aws.Int32(30), StorageClass: types.TransitionStorageClassGlacier}}},
		}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String("vers"),
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{
			{ID: aws.String("old"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("data/")},
				NoncurrentVersionExpiration: &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1), NewerNoncurrentVersions: aws.Int32(1)}},
			{ID: aws.String("markers"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("gone/")},
				NoncurrentVersionExpiration: &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)},
				Expiration:                  &types.LifecycleExpiration{ExpiredObjectDeleteMarker: aws.Bool(true)}},
		}}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("plain")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rules) != 2 || *got.Rules[1].ID != "archive" || len(got.Rules[1].Transitions) != 1 ||
		got.Rules[1].Transitions[0].StorageClass != types.TransitionStorageClassGlacier || *got.Rules[1].Transitions[0].Days != 30 {
		t.Fatalf("GetBucketLifecycleConfiguration did not keep the transition: %+v", got.Rules)
	}

	// Today nothing is due.
	res, err := e.srv.ApplyLifecycle(ctx, time.Now())
	if err != nil || res != (s3api.LifecycleResult{}) {
		t.Fatalf("a pass before anything is due: %+v, %v", res, err)
	}
	// Three days on: tmp/a (small) expires, tmp/big (10 bytes) and keep/a
	// stay; the upload is aborted; of data/x's three noncurrent versions
	// the newest is kept; gone/y's version goes, then its lone marker.
	res, err = e.srv.ApplyLifecycle(ctx, time.Now().AddDate(0, 0, 3))
	if err != nil {
		t.Fatal(err)
	}
	want := s3api.LifecycleResult{Expired: 1, NoncurrentExpired: 3, DeleteMarkersRemoved: 1, UploadsAborted: 1}
	if res != want {
		t.Errorf("ApplyLifecycle = %+v, want %+v", res, want)
	}
	for k, gone := range map[string]bool{"tmp/a": true, "tmp/big": false, "keep/a": false} {
		if _, err := e.store.Head(ctx, "plain", k); errors.Is(err, storage.ErrNoSuchKey) != gone {
			t.Errorf("%s after the pass: %v", k, err)
		}
	}
	_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("plain"), Key: aws.String("tmp/upload"), UploadId: up.UploadId})
	wantCode(t, "ListParts of an aborted upload", err, "NoSuchUpload")
	vs, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("vers")})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs.DeleteMarkers) != 0 || len(vs.Versions) != 2 {
		t.Fatalf("versions after the pass: %d versions, %d markers; want data/x's current and newest noncurrent", len(vs.Versions), len(vs.DeleteMarkers))
	}
	body, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vers"), Key: aws.String("data/x"), VersionId: vs.Versions[1].VersionId})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := io.ReadAll(body.Body)
	body.Body.Close()
	if err != nil || string(kept) != "v3" {
		t.Errorf("the noncurrent version kept is %q (%v), want v3", kept, err)
	}
	// A second pass has nothing left to do.
	if res, err := e.srv.ApplyLifecycle(ctx, time.Now().AddDate(0, 0, 3)); err != nil || res != (s3api.LifecycleResult{}) {
		t.Errorf("second pass: %+v, %v", res, err)
	}
	// A disabled configuration, once deleted, does nothing more.
	if _, err := c.DeleteBucketLifecycle(ctx, &s3.DeleteBucketLifecycleInput{Bucket: aws.String("plain")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("plain")})
	wantCode(t, "GetBucketLifecycleConfiguration after delete", err, "NoSuchLifecycleConfiguration")
	if res, err := e.srv.ApplyLifecycle(ctx, time.Now().AddDate(1, 0, 0)); err != nil || res.Expired != 0 {
		t.Errorf("a pass after the configuration was deleted: %+v, %v", res, err)
	}
}

func TestGuidesNotificationsBecomeTriggers(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("raw")}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String("raw")})
	if err != nil || len(out.QueueConfigurations)+len(out.TopicConfigurations)+len(out.LambdaFunctionConfigurations) != 0 {
		t.Fatalf("empty notification configuration: %+v, %v", out, err)
	}
	filter := &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: []types.FilterRule{
		{Name: types.FilterRuleNamePrefix, Value: aws.String("incoming/")}, {Name: types.FilterRuleNameSuffix, Value: aws.String(".csv")}}}}
	cfg := &types.NotificationConfiguration{LambdaFunctionConfigurations: []types.LambdaFunctionConfiguration{{
		Id: aws.String("etl"), LambdaFunctionArn: aws.String("arn:aws:glue:us-east-1:123456789012:job/clean_orders"),
		Events: []types.Event{"s3:ObjectCreated:*"}, Filter: filter}},
		QueueConfigurations: []types.QueueConfiguration{{QueueArn: aws.String("arn:aws:glue:us-east-1:123456789012:workflow/nightly"), Events: []types.Event{"s3:ObjectCreated:*"}}}}
	if _, err := c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String("raw"), NotificationConfiguration: cfg}); err != nil {
		t.Fatal(err)
	}
	if got := e.triggers.names(); !slices.Equal(got, []string{"s3-raw-etl", "s3-raw-notification-1"}) {
		t.Fatalf("triggers = %v", got)
	}
	tr := e.triggers.m["s3-raw-etl"]
	if tr.Job != "clean_orders" || tr.Bucket != "raw" || tr.Prefix != "incoming/" || tr.Suffix != ".csv" {
		t.Errorf("trigger = %+v", tr)
	}
	if e.triggers.m["s3-raw-notification-1"].Workflow != "nightly" {
		t.Errorf("queue trigger = %+v", e.triggers.m["s3-raw-notification-1"])
	}
	out, err = c.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String("raw")})
	if err != nil || len(out.LambdaFunctionConfigurations) != 1 || *out.LambdaFunctionConfigurations[0].Id != "etl" ||
		len(out.QueueConfigurations) != 1 || *out.QueueConfigurations[0].Id != "notification-1" {
		t.Fatalf("GetBucketNotificationConfiguration = %+v, %v", out, err)
	}

	// Destinations and events tarn cannot serve are refused, and the
	// configuration in place stays.
	for what, c2 := range map[string]*types.NotificationConfiguration{
		"an SQS queue":    {QueueConfigurations: []types.QueueConfiguration{{QueueArn: aws.String("arn:aws:sqs:us-east-1:1:q"), Events: []types.Event{"s3:ObjectCreated:*"}}}},
		"a removed event": {QueueConfigurations: []types.QueueConfiguration{{QueueArn: aws.String("arn:aws:glue:us-east-1:1:job/x"), Events: []types.Event{"s3:ObjectRemoved:*"}}}},
		"a hostile id":    {QueueConfigurations: []types.QueueConfiguration{{Id: aws.String("../x'; drop"), QueueArn: aws.String("arn:aws:glue:us-east-1:1:job/x"), Events: []types.Event{"s3:ObjectCreated:*"}}}},
	} {
		_, err := c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String("raw"), NotificationConfiguration: c2})
		wantCode(t, what, err, "InvalidArgument")
	}
	if got := e.triggers.names(); len(got) != 2 {
		t.Errorf("a refused configuration changed the triggers: %v", got)
	}
	// A job that does not exist: refused, naming it.
	_, err = c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String("raw"),
		NotificationConfiguration: &types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{{
			QueueArn: aws.String("arn:aws:glue:us-east-1:1:job/missing"), Events: []types.Event{"s3:ObjectCreated:*"}}}}})
	wantCode(t, "a missing job", err, "InvalidArgument")

	// A key with the S3 right but not glue:CreateTrigger is refused.
	pol, err := auth.ParsePolicy([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.auth.CreateKey(ctx, "s3only", pol)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client(k).PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String("raw"), NotificationConfiguration: cfg})
	wantCode(t, "notification by a key without glue:CreateTrigger", err, "AccessDenied")

	// An empty configuration removes the triggers; so does deleting the bucket.
	if _, err := c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String("raw"), NotificationConfiguration: cfg}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String("raw"),
		NotificationConfiguration: &types.NotificationConfiguration{}}); err != nil {
		t.Fatal(err)
	}
	if got := e.triggers.names(); len(got) != 0 {
		t.Errorf("triggers after an empty configuration: %v", got)
	}
	if _, err := c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String("raw"), NotificationConfiguration: cfg}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("raw")}); err != nil {
		t.Fatal(err)
	}
	if got := e.triggers.names(); len(got) != 0 {
		t.Errorf("triggers after the bucket was deleted: %v", got)
	}
}
