package s3api

import (
	"net/http"
	"strings"

	"github.com/tarn-lake/tarn/internal/auth"
)

// Anonymous requests. A request without credentials is granted nothing
// unless its bucket is public — its public access block turned off by the
// owner and a Principal "*" statement in its policy (publicaccess.go) —
// and then only what that policy allows. Every other such request is
// denied without running any operation — no handler reads its body, looks
// at a bucket or says whether one exists — with S3's words for the
// operation it names, after the checks S3 makes of any anonymous request
// (a signed-streaming payload, response-* overrides, a payload hash that
// an empty body does not have).

// anonymousDenied returns the error an unsigned request is answered with
// when its bucket grants it nothing.
func anonymousDenied(r *http.Request, bucket, key string) error {
	if err := anonymousRefused(r, bucket, key); err != nil {
		return err
	}
	return errCode("AccessDenied", http.StatusForbidden, "Access Denied.")
}

// anonymousRefused returns the error S3 answers an unsigned request with
// whatever the bucket's policy says, nil if a public bucket's policy may
// decide it.
func anonymousRefused(r *http.Request, bucket, key string) error {
	switch p := r.Header.Get("X-Amz-Content-Sha256"); {
	case p == auth.StreamingPayload || p == auth.StreamingPayloadTrailer:
		return errCode("InvalidRequest", http.StatusBadRequest,
			"Anonymous requests don't support this x-amz-content-sha256 value. Please use UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER.")
	case p != "" && p != auth.UnsignedPayload && p != auth.StreamingUnsignedPayloadTrailer && p != auth.EmptySHA256 &&
		r.ContentLength == 0:
		// Known without reading anything: the empty body's hash is
		// not the one given.
		return withFields(errCode("XAmzContentSHA256Mismatch", http.StatusBadRequest,
			"The provided 'x-amz-content-sha256' header does not match what was computed."),
			errorFields{S3ComputedContentSHA256: auth.EmptySHA256})
	}
	q := r.URL.Query()
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && key != "" {
		for name := range q {
			if strings.HasPrefix(name, "response-") {
				return errCode("InvalidRequest", http.StatusBadRequest, "Request specific response headers cannot be used for anonymous GET requests.")
			}
		}
	}
	sub, _ := subresourceOf(q)
	anon := "Anonymous users cannot invoke this API. Please authenticate."
	switch {
	case bucket == "": // the service: ListBuckets
		return errCode("AccessDenied", http.StatusForbidden, "Access Denied.")
	case sub == "ownershipControls" && r.Method == http.MethodGet:
		return errCode("AccessDenied", http.StatusForbidden, "s3:GetBucketOwnershipControls does not support Anonymous requests!")
	case sub == "ownershipControls":
		return errCode("AccessDenied", http.StatusForbidden, "s3:PutBucketOwnershipControls does not support Anonymous requests!")
	case key == "" && sub == "" && r.Method == http.MethodPut, // CreateBucket
		sub == "acl" && r.Method == http.MethodPut, q.Has("select"): // SelectObjectContent: ?select&select-type=2
		return errCode("AccessDenied", http.StatusForbidden, "%s", anon)
	case key != "" && sub == "uploads" && r.Method == http.MethodPost:
		return errCode("AccessDenied", http.StatusForbidden, "Anonymous users cannot initiate multipart uploads. Please authenticate.")
	case key != "" && sub == "" && r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "":
		return errCode("AccessDenied", http.StatusForbidden, "Anonymous users cannot copy objects. Please authenticate.")
	case key != "" && sub == "uploadId" && r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "":
		// UploadPartCopy: the source's access is not checked for an
		// anonymous caller, so it is refused (as versitygw does).
		return errCode("AccessDenied", http.StatusForbidden, "Access Denied.")
	case sub == "publicAccessBlock" || sub == "policyStatus":
		// The public access block is the owner's alone.
		return errCode("AccessDenied", http.StatusForbidden, "Access Denied.")
	}
	return nil
}
