package console

import (
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// S3Path is where the console reaches the S3 endpoint: a request to
// /console/s3/BUCKET/KEY?… is the S3 request /BUCKET/KEY?… of the
// session's key.
const S3Path = "/console/s3"

// s3Region is the region the S3 endpoint signs for.
const s3Region = "us-east-1"

// proxiedHeaders are the request headers a page may send through to S3;
// every other header (cookies, x-amz-*, Authorization) is dropped, so a
// page cannot add what it was not meant to sign.
var proxiedHeaders = []string{"Content-Type", "Content-Length", "Content-MD5", "Range",
	"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"}

// SetS3 gives the console the S3 endpoint's handler (call it before
// serving). The console's Objects page then goes through it: each request
// of a signed-in page is signed, in the server, with the session's key
// (Signature V4, unsigned payload) and handed to the S3 endpoint in the
// same process, which authenticates and authorizes it as any S3 request:
// the key's policy, bucket policies, object locks, checksums, multipart
// uploads and object-created events (triggers) all apply unchanged. The
// secret never reaches the browser.
func (c *Console) SetS3(h http.Handler) { c.s3 = h }

var signer = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })

func (c *Console) serveS3(w http.ResponseWriter, r *http.Request) {
	if c.s3 == nil {
		writeError(w, http.StatusNotFound, "NotFound", "this server has no S3 endpoint")
		return
	}
	id := c.sessionID(r)
	k, _, err := c.session(r.Context(), id)
	if err == nil && !safeMethod(r.Method) {
		err = checkCSRF(r, id)
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = strings.TrimPrefix(r.URL.Path, S3Path)
	if r2.URL.RawPath != "" {
		r2.URL.RawPath = strings.TrimPrefix(r.URL.RawPath, S3Path)
	}
	if r2.URL.Path == "" {
		r2.URL.Path, r2.URL.RawPath = "/", ""
	}
	r2.RequestURI = r2.URL.RequestURI()
	// Path style, whatever host the page was loaded from.
	r2.Host = "127.0.0.1"
	r2.Header = http.Header{}
	for _, h := range proxiedHeaders {
		if v := r.Header.Values(h); len(v) > 0 {
			r2.Header[h] = v
		}
	}
	r2.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	creds := aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}
	if err := signer.SignHTTP(r.Context(), creds, r2, "UNSIGNED-PAYLOAD", "s3", s3Region, time.Now()); err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", "cannot sign the S3 request: "+err.Error())
		return
	}
	c.s3.ServeHTTP(w, r2)
}
