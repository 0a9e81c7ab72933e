package s3api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// CORS rules are kept and answer browsers' preflights; they never let
// an unsigned request through.
func TestBucketCorsAndPreflight(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("web")}); err != nil {
		t.Fatal(err)
	}
	preflight := func(origin, method, headers string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodOptions, e.url+"/web/obj", nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		req.Header.Set("Access-Control-Request-Method", method)
		if headers != "" {
			req.Header.Set("Access-Control-Request-Headers", headers)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := preflight("http://app.example", "GET", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("preflight without CORS rules: %d", resp.StatusCode)
	}
	_, err := c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("web")})
	wantCode(t, "GetBucketCors unset", err, "NoSuchCORSConfiguration")
	_, err = c.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String("web"), CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
		AllowedOrigins: []string{"http://*"}, AllowedMethods: []string{"PATCH"}}}}})
	wantCode(t, "unsupported method", err, "InvalidRequest")
	_, err = c.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String("web"), CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
		AllowedOrigins: []string{"http://*.example"}, AllowedMethods: []string{"GET"}, AllowedHeaders: []string{"Bad Header"}}}}})
	wantCode(t, "invalid header", err, "InvalidRequest")
	if _, err := c.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String("web"), CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
		AllowedOrigins: []string{"http://*.example"}, AllowedMethods: []string{"GET", "PUT"}, AllowedHeaders: []string{"x-amz-*"},
		ExposeHeaders: []string{"x-amz-version-id"}, MaxAgeSeconds: aws.Int32(600)}}}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("web")})
	if err != nil || len(got.CORSRules) != 1 || got.CORSRules[0].AllowedOrigins[0] != "http://*.example" || aws.ToInt32(got.CORSRules[0].MaxAgeSeconds) != 600 {
		t.Fatalf("GetBucketCors = %+v, %v", got, err)
	}
	resp := preflight("http://app.example", "PUT", "X-Amz-Date")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "http://app.example" ||
		resp.Header.Get("Access-Control-Allow-Methods") != "GET, PUT" || resp.Header.Get("Access-Control-Allow-Headers") != "x-amz-date" ||
		resp.Header.Get("Access-Control-Max-Age") != "600" {
		t.Errorf("allowed preflight: %d %v", resp.StatusCode, resp.Header)
	}
	for what, r := range map[string]*http.Response{
		"another origin":     preflight("http://evil.test", "GET", ""),
		"a method not given": preflight("http://app.example", "DELETE", ""),
		"a header not given": preflight("http://app.example", "GET", "Authorization"),
	} {
		if r.StatusCode != http.StatusForbidden || r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from %s: %d %v", what, r.StatusCode, r.Header)
		}
	}
	if r := preflight("", "GET", ""); r.StatusCode != http.StatusBadRequest {
		t.Errorf("preflight without Origin: %d", r.StatusCode)
	}
	// CORS grants nothing: an unsigned GET is still refused.
	req, _ := http.NewRequest(http.MethodGet, e.url+"/web/obj", nil)
	req.Header.Set("Origin", "http://app.example")
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned GET with an allowed Origin: %v %v", r, err)
	}
	if _, err := c.DeleteBucketCors(ctx, &s3.DeleteBucketCorsInput{Bucket: aws.String("web")}); err != nil {
		t.Fatal(err)
	}
	if resp := preflight("http://app.example", "GET", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("preflight after DeleteBucketCors: %d", resp.StatusCode)
	}
}

// A website configuration is validated, kept and reported (tarn serves
// no website from it).
func TestBucketWebsiteKept(t *testing.T) {
	e := newGuideEnv(t)
	ctx := context.Background()
	c := e.client(e.admin)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("site")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetBucketWebsite(ctx, &s3.GetBucketWebsiteInput{Bucket: aws.String("site")})
	wantCode(t, "GetBucketWebsite unset", err, "NoSuchWebsiteConfiguration")
	_, err = c.PutBucketWebsite(ctx, &s3.PutBucketWebsiteInput{Bucket: aws.String("site"), WebsiteConfiguration: &types.WebsiteConfiguration{
		IndexDocument: &types.IndexDocument{Suffix: aws.String("/index.html")}}})
	wantCode(t, "suffix with a slash", err, "InvalidArgument")
	_, err = c.PutBucketWebsite(ctx, &s3.PutBucketWebsiteInput{Bucket: aws.String("site"), WebsiteConfiguration: &types.WebsiteConfiguration{
		IndexDocument: &types.IndexDocument{Suffix: aws.String("index.html")},
		RoutingRules:  []types.RoutingRule{{Redirect: &types.Redirect{HttpRedirectCode: aws.String("300")}}}}})
	wantCode(t, "redirect code 300", err, "InvalidRequest")
	_, err = c.PutBucketWebsite(ctx, &s3.PutBucketWebsiteInput{Bucket: aws.String("nosuch"), WebsiteConfiguration: &types.WebsiteConfiguration{
		IndexDocument: &types.IndexDocument{Suffix: aws.String("index.html")}}})
	wantCode(t, "PutBucketWebsite on a missing bucket", err, "NoSuchBucket")
	if _, err := c.PutBucketWebsite(ctx, &s3.PutBucketWebsiteInput{Bucket: aws.String("site"), WebsiteConfiguration: &types.WebsiteConfiguration{
		IndexDocument: &types.IndexDocument{Suffix: aws.String("index.html")}, ErrorDocument: &types.ErrorDocument{Key: aws.String("error.html")}}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetBucketWebsite(ctx, &s3.GetBucketWebsiteInput{Bucket: aws.String("site")})
	if err != nil || aws.ToString(got.IndexDocument.Suffix) != "index.html" || aws.ToString(got.ErrorDocument.Key) != "error.html" {
		t.Fatalf("GetBucketWebsite = %+v, %v", got, err)
	}
	if _, err := c.DeleteBucketWebsite(ctx, &s3.DeleteBucketWebsiteInput{Bucket: aws.String("site")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetBucketWebsite(ctx, &s3.GetBucketWebsiteInput{Bucket: aws.String("site")})
	wantCode(t, "GetBucketWebsite after delete", err, "NoSuchWebsiteConfiguration")
}
