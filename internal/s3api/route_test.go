package s3api_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
)

// s3Subresources are the sub-resources S3 defines that tarn does not
// answer as operations of their own: each must get 501 NotImplemented on
// every method, on a bucket, an object and a missing bucket, and change
// nothing.
var s3Subresources = []string{
	"accelerate", "acl", "analytics", "attributes", "cors", "encryption",
	"intelligent-tiering", "inventory", "legal-hold", "lifecycle", "logging",
	"metadataConfiguration", "metadataTable", "metrics", "notification",
	"object-lock", "ownershipControls", "policy", "policyStatus",
	"publicAccessBlock", "renameObject", "replication", "requestPayment",
	"restore", "retention", "select", "session", "tagging", "torrent",
	"website", "partNumber",
}

// answered are the (target, method, sub-resource) that tarn implements.
var answered = []string{
	"bucket GET location", "bucket GET uploads", "bucket GET versioning", "bucket PUT versioning",
	"bucket GET versions", "bucket POST delete", "bucket GET tagging", "bucket PUT tagging", "bucket DELETE tagging",
	"bucket GET ownershipControls", "bucket PUT ownershipControls", "bucket DELETE ownershipControls",
	"bucket GET acl", "bucket PUT acl", "object POST uploads", "object GET tagging", "object PUT tagging", "object DELETE tagging", "object GET attributes",
	"object GET partNumber", "object HEAD partNumber",
	// Bucket configuration the guides set, object lock, policies, CORS
	// and website configuration (encryption stays NotImplemented).
	"bucket GET publicAccessBlock", "bucket PUT publicAccessBlock", "bucket DELETE publicAccessBlock",
	"bucket GET lifecycle", "bucket PUT lifecycle", "bucket DELETE lifecycle",
	"bucket GET cors", "bucket PUT cors", "bucket DELETE cors",
	"bucket GET website", "bucket PUT website", "bucket DELETE website",
	"bucket GET policy", "bucket PUT policy", "bucket DELETE policy",
	"bucket GET notification", "bucket PUT notification",
	"bucket GET object-lock", "bucket PUT object-lock",
	"object GET retention", "object PUT retention", "object GET legal-hold", "object PUT legal-hold",
	// S3 answers these with its own 400 (checked below).
	"object GET uploads", "object GET versions",
}

func TestSubresourcesNotImplemented(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if err := e.store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	const body = "keep me"
	e.mustPut("lake", "obj", []byte(body))
	xmlBody := []byte(`<?xml version="1.0"?><Retention><Mode>GOVERNANCE</Mode></Retention>`)
	all := append(slices.Clone(s3Subresources), "delete", "location", "uploads", "versioning", "versions")
	n := 0
	for _, sub := range all {
		for _, path := range []string{"/lake", "/lake/obj", "/missing", "/missing/obj"} {
			for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete} {
				target := "bucket"
				if strings.Count(path, "/") == 2 {
					target = "object"
				}
				if slices.Contains(answered, target+" "+method+" "+sub) {
					continue
				}
				query := sub
				if sub == "partNumber" {
					query = "partNumber=1"
				}
				var payload []byte
				if method == http.MethodPut || method == http.MethodPost {
					payload = xmlBody
				}
				req := e.signed(method, path+"?"+query, sha256Hex(payload), int64(len(payload)), nil)
				var status int
				var code string
				if method == http.MethodHead {
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					status = resp.StatusCode
				} else {
					status, code = send(t, req, payload)
				}
				// A missing bucket is said first, as S3 does.
				wantStatus, wantCode := http.StatusNotImplemented, "NotImplemented"
				if strings.HasPrefix(path, "/missing") {
					wantStatus, wantCode = http.StatusNotFound, "NoSuchBucket"
				}
				if sub == "partNumber" && method == http.MethodPut && target == "object" {
					// An upload part without its upload id: S3's 400,
					// before the bucket is looked at.
					wantStatus, wantCode = http.StatusBadRequest, "InvalidArgument"
				}
				if status != wantStatus || method != http.MethodHead && code != wantCode {
					t.Errorf("%s %s?%s: %d %s, want %d %s", method, path, query, status, code, wantStatus, wantCode)
				}
				n++
			}
		}
		// A version qualifier does not make it an object operation.
		req := e.signed(http.MethodPut, "/lake/obj?"+sub+"&versionId=null", sha256Hex(xmlBody), int64(len(xmlBody)), nil)
		if status, _ := send(t, req, xmlBody); status != http.StatusNotImplemented && sub != "partNumber" && !slices.Contains(answered, "object PUT "+sub) {
			t.Errorf("PUT /lake/obj?%s&versionId=null: %d, want 501", sub, status)
		}
	}
	// A key cannot be listed for uploads or versions: S3's 400, not an
	// operation on the bucket.
	for _, q := range []string{"uploads", "versions"} {
		req := e.signed(http.MethodGet, "/lake/obj?"+q, emptySHA256, 0, nil)
		if status, code := send(t, req, nil); status != http.StatusBadRequest || code != "InvalidRequest" {
			t.Errorf("GET /lake/obj?%s: %d %s, want 400 InvalidRequest", q, status, code)
		}
	}
	t.Logf("%d requests answered NotImplemented", n)
	if got, ok := e.content("lake", "obj"); !ok || got != body {
		t.Errorf("object after the requests: %q %v, want %q", got, ok, body)
	}
	bs, err := e.store.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 1 || bs[0].Name != "lake" {
		t.Errorf("buckets after the requests: %v, want only lake", bs)
	}
	res, err := e.store.List(ctx, "lake", storage.ListOptions{})
	if err != nil || len(res.Objects) != 1 {
		t.Errorf("objects after the requests: %v %v", res.Objects, err)
	}
}

// Two sub-resources in one request name no operation.
func TestTwoSubresources(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.store.CreateBucket(context.Background(), "lake"); err != nil {
		t.Fatal(err)
	}
	req := e.signed(http.MethodDelete, "/lake?cors&versioning", emptySHA256, 0, nil)
	if status, code := send(t, req, nil); status != http.StatusBadRequest || code != "InvalidRequest" {
		t.Errorf("DELETE ?cors&versioning: %d %s", status, code)
	}
	if _, err := e.store.HeadBucket(context.Background(), "lake"); err != nil {
		t.Errorf("bucket after DELETE ?cors&versioning: %v", err)
	}
}

// The calls of the issue, as the aws CLI sends them.
func TestSubresourcesAWSCLI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if err := e.store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	const body = "keep me"
	e.mustPut("lake", "obj", []byte(body))
	out := filepath.Join(t.TempDir(), "out")
	future := "2099-01-01T00:00:00Z"
	cmds := [][]string{
		{"s3api", "get-bucket-logging", "--bucket", "lake"},
		{"s3api", "put-bucket-website", "--bucket", "newbucket", "--website-configuration", `{"IndexDocument": {"Suffix": "index.html"}}`},
		{"s3api", "put-object-lock-configuration", "--bucket", "newbucket2", "--object-lock-configuration", `{"ObjectLockEnabled": "Enabled"}`},
		{"s3api", "delete-bucket-encryption", "--bucket", "lake"},
		{"s3api", "delete-bucket-replication", "--bucket", "lake"},
		// Answered with S3's errors: the bucket has no lock configuration
		// or website.
		{"s3api", "put-object-retention", "--bucket", "lake", "--key", "obj", "--retention", "Mode=GOVERNANCE,RetainUntilDate=" + future},
		{"s3api", "put-object-legal-hold", "--bucket", "lake", "--key", "obj", "--legal-hold", "Status=ON"},
		{"s3api", "get-object-legal-hold", "--bucket", "lake", "--key", "obj"},
		{"s3api", "get-object-retention", "--bucket", "lake", "--key", "obj"},
		{"s3api", "get-bucket-website", "--bucket", "lake"},
		{"s3api", "get-object-lock-configuration", "--bucket", "lake"},
	}
	wants := []string{"NotImplemented", "NoSuchBucket", "NoSuchBucket", "NotImplemented", "NotImplemented",
		"InvalidRequest", "InvalidRequest", "InvalidRequest", "InvalidRequest", "NoSuchWebsiteConfiguration", "ObjectLockConfigurationNotFoundError"}
	answered := len(cmds)
	// Sub-resources tarn answers change only what they name.
	for _, del := range []string{"delete-bucket-tagging", "delete-bucket-ownership-controls", "delete-bucket-cors", "delete-bucket-policy",
		"delete-bucket-website", "delete-bucket-lifecycle"} {
		cmds = append(cmds, []string{"s3api", del, "--bucket", "lake"})
	}
	for i, r := range e.awsBatch(e.admin, cmds...) {
		if i >= answered {
			if r.RC != 0 {
				t.Errorf("aws %s: rc %d:\n%s%s", strings.Join(cmds[i], " "), r.RC, r.Out, r.Err)
			}
			continue
		}
		if want := wants[i]; r.RC == 0 || !strings.Contains(r.Err, want) {
			t.Errorf("aws %s: rc %d, want %s:\n%s%s", strings.Join(cmds[i], " "), r.RC, want, r.Out, r.Err)
		}
	}
	e.mustAWS(e.admin, "s3api", "get-object", "--bucket", "lake", "--key", "obj", out)
	if got, _ := os.ReadFile(out); string(got) != body {
		t.Errorf("object after the calls: %q, want %q", got, body)
	}
	bs, err := e.store.ListBuckets(ctx)
	if err != nil || len(bs) != 1 {
		t.Errorf("buckets after the calls: %v %v, want only lake", bs, err)
	}
}
