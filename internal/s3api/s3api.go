// Package s3api serves tarn's object store over the S3 REST API, so that the
// aws CLI, SDKs and other S3 tools work against tarn unchanged. Every request
// is signed (AWS Signature V4, checked by internal/auth) and authorized
// against the access key's policy and the bucket's; a request without
// credentials is granted only what a public bucket's policy allows
// (publicaccess.go).
package s3api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Config configures the S3 endpoint.
type Config struct {
	// Region is what GetBucketLocation answers ("us-east-1" by default).
	Region string
	// Domains enable virtual-host style: a request to bucket.<domain> names
	// the bucket in its host. Path style always works.
	Domains []string
	// MaxPutSize is the largest single PUT (S3: 5 GiB).
	MaxPutSize int64
}

// DefaultConfig returns S3's defaults.
func DefaultConfig() Config {
	return Config{Region: "us-east-1", Domains: []string{"localhost"}, MaxPutSize: 5 << 30}
}

// ObjectCreated is called once for every new object version (PutObject,
// CopyObject, CompleteMultipartUpload), after it is stored.
type ObjectCreated func(ctx context.Context, info storage.ObjectInfo, via string)

// Server is the S3 endpoint. It is an http.Handler and safe for concurrent use.
type Server struct {
	cfg     Config
	store   storage.ObjectStore
	uploads *storage.Uploads
	auth    *auth.Service
	created ObjectCreated
	// triggers keep bucket notifications (nil: NotImplemented).
	triggers Triggers
	locks    lockState
	log      *slog.Logger
	metrics  *metrics
}

// New returns an S3 endpoint over store. uploads keeps multipart uploads
// (nil disables them); created may be nil.
func New(cfg Config, store storage.ObjectStore, uploads *storage.Uploads, a *auth.Service, created ObjectCreated) *Server {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.MaxPutSize == 0 {
		cfg.MaxPutSize = 5 << 30
	}
	return &Server{cfg: cfg, store: store, uploads: uploads, auth: a, created: created, log: slog.Default(), metrics: newMetrics()}
}

// s3Error is an error with its S3 code and HTTP status.
type s3Error struct {
	code   string
	status int
	msg    string
	fields *errorFields // S3's extra elements, if any
}

func (e *s3Error) Error() string { return e.code + ": " + e.msg }

func errCode(code string, status int, format string, args ...any) error {
	return &s3Error{code: code, status: status, msg: fmt.Sprintf(format, args...)}
}

// toS3 maps tarn's errors to S3's codes, in one place.
func toS3(err error) (code string, status int, msg string) {
	var se *s3Error
	if errors.As(err, &se) {
		return se.code, se.status, se.msg
	}
	var pe *partNumberError
	if errors.As(err, &pe) {
		return "InvalidPartNumber", http.StatusRequestedRangeNotSatisfiable, "The requested partnumber is not satisfiable."
	}
	if code, status := auth.S3ErrorCode(err); code != "" && code != "InternalError" {
		// S3's own words where it has fixed ones; tarn's, which say
		// what was wrong, for the others.
		msg := map[string]string{
			"SignatureDoesNotMatch":     "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
			"InvalidAccessKeyId":        "The AWS Access Key Id you provided does not exist in our records.",
			"RequestTimeTooSkewed":      "The difference between the request time and the current time is too large.",
			"XAmzContentSHA256Mismatch": "The provided 'x-amz-content-sha256' header does not match what was computed.",
			"IncompleteBody":            "The request body terminated unexpectedly",
			"MalformedTrailerError":     "The request contained trailing data that was not well-formed or did not conform to our published schema.",
		}[code]
		switch {
		case errors.Is(err, auth.ErrExpiredPresign):
			msg = "Request has expired."
		case errors.Is(err, auth.ErrPresignNotYetValid):
			msg = "Request is not valid yet."
		case errors.Is(err, auth.ErrAccessDenied):
			msg = "Access Denied."
		case msg == "":
			msg = err.Error()
		}
		var m interface{ S3Message() string }
		if errors.As(err, &m) {
			msg = m.S3Message()
		}
		return code, status, msg
	}
	switch {
	case errors.Is(err, storage.ErrNoSuchBucket):
		return "NoSuchBucket", http.StatusNotFound, "The specified bucket does not exist."
	case errors.Is(err, storage.ErrNoSuchKey):
		return "NoSuchKey", http.StatusNotFound, "The specified key does not exist."
	case errors.Is(err, storage.ErrBucketExists):
		return "BucketAlreadyOwnedByYou", http.StatusConflict, "Your previous request to create the named bucket succeeded and you already own it."
	case errors.Is(err, storage.ErrBucketNotEmpty):
		return "BucketNotEmpty", http.StatusConflict, "The bucket you tried to delete is not empty."
	case errors.Is(err, storage.ErrInvalidBucketName):
		return "InvalidBucketName", http.StatusBadRequest, "The specified bucket is not valid."
	case errors.Is(err, storage.ErrKeyTooLong):
		return "KeyTooLongError", http.StatusBadRequest, "Your key is too long."
	case errors.Is(err, storage.ErrInvalidKey):
		return "InvalidArgument", http.StatusBadRequest, err.Error()
	case errors.Is(err, storage.ErrInvalidRange):
		return "InvalidRange", http.StatusRequestedRangeNotSatisfiable, "The requested range is not satisfiable"
	case errors.Is(err, storage.ErrBadDigest):
		return "BadDigest", http.StatusBadRequest, "The Content-MD5 you specified did not match what we received."
	case errors.Is(err, storage.ErrPreconditionFailed):
		return "PreconditionFailed", http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold."
	case errors.Is(err, storage.ErrNoSuchUpload):
		return "NoSuchUpload", http.StatusNotFound, "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
	case errors.Is(err, storage.ErrInvalidPartOrder):
		return "InvalidPartOrder", http.StatusBadRequest, "The list of parts was not in ascending order. Parts must be ordered by part number."
	case errors.Is(err, storage.ErrInvalidPart):
		return "InvalidPart", http.StatusBadRequest, "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
	case errors.Is(err, storage.ErrEntityTooSmall):
		return "EntityTooSmall", http.StatusBadRequest, "Your proposed upload is smaller than the minimum allowed size"
	case errors.Is(err, storage.ErrNoSuchVersion):
		return "NoSuchVersion", http.StatusNotFound, "The specified version does not exist."
	case errors.Is(err, storage.ErrInvalidVersionID):
		return "InvalidArgument", http.StatusBadRequest, "Invalid version id specified"
	case errors.Is(err, storage.ErrDeleteMarker):
		return "MethodNotAllowed", http.StatusMethodNotAllowed, "The specified method is not allowed against this resource."
	case errors.Is(err, storage.ErrInvalidVersioning), errors.Is(err, storage.ErrVersioningNotAllowed):
		return "IllegalVersioningConfigurationException", http.StatusBadRequest, "The versioning configuration specified in the request is invalid."
	case errors.Is(err, context.Canceled):
		return "RequestTimeout", http.StatusBadRequest, "The request was cancelled"
	}
	return "InternalError", http.StatusInternalServerError, "We encountered an internal error. Please try again."
}

func requestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, status, msg := toS3(err)
	if status >= 500 && status != http.StatusNotImplemented {
		s.log.Error("s3 request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.log.Debug("s3 request refused", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	}
	id := w.Header().Get("x-amz-request-id")
	var dm *storage.DeleteMarkerError
	if errors.As(err, &dm) {
		// A key hidden by a delete marker, or a delete marker asked for.
		w.Header().Set("x-amz-delete-marker", "true")
		w.Header().Set("x-amz-version-id", dm.VersionID)
		if status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", "DELETE")
		}
	}
	if status == http.StatusForbidden || status == http.StatusBadRequest {
		// The body may be unread (a client waiting for 100 Continue): do not
		// reuse the connection.
		w.Header().Set("Connection", "close")
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.WriteString(w, xml.Header)
	e := s.errorDetails(r, errorResponse{Code: code, Message: msg, Resource: r.URL.Path, RequestID: id})
	var se *s3Error
	if errors.As(err, &se) && se.fields != nil {
		f := se.fields
		e.ArgumentName, e.ArgumentValue = f.ArgumentName, f.ArgumentValue
		e.ProposedSize, e.MaxSizeAllowed, e.MinSizeAllowed = f.ProposedSize, f.MaxSizeAllowed, f.MinSizeAllowed
		if f.AWSAccessKeyID != "" {
			e.AWSAccessKeyID = f.AWSAccessKeyID
		}
		e.StringToSign, e.SignatureProvided, e.StringToSignBytes = f.StringToSign, f.SignatureGiven, f.StringToSignBytes
		e.Condition, e.Method, e.ResourceType = f.Condition, f.Method, f.ResourceType
		if f.S3ComputedContentSHA256 != "" {
			e.S3ComputedContentSHA256 = f.S3ComputedContentSHA256
		}
	}
	var af interface{ S3Fields() map[string]string }
	if errors.As(err, &af) {
		for name, v := range af.S3Fields() {
			switch name {
			case "ArgumentName":
				e.ArgumentName = v
			case "ArgumentValue":
				e.ArgumentValue = v
			case "S3ComputedContentSHA256":
				e.S3ComputedContentSHA256 = v
			case "HeadersNotSigned":
				e.HeadersNotSigned = v
			case "Chunk":
				e.Chunk = v
			case "BadChunkSize":
				e.BadChunkSize = v
			}
		}
	}
	_ = xml.NewEncoder(w).Encode(e)
}

// errorDetails adds the fields S3 gives with some errors.
func (s *Server) errorDetails(r *http.Request, e errorResponse) errorResponse {
	q := r.URL.Query()
	switch {
	case e.Code == "InvalidAccessKeyId":
		cred := q.Get("X-Amz-Credential")
		if h := r.Header.Get("Authorization"); h != "" {
			if _, c, ok := strings.Cut(h, "Credential="); ok {
				cred, _, _ = strings.Cut(c, ",")
			}
		}
		e.AWSAccessKeyID, _, _ = strings.Cut(cred, "/")
	case strings.Contains(e.Message, "the region"):
		e.Region = s.cfg.Region
	case e.Code == "XAmzContentSHA256Mismatch":
		e.ClientComputedContentSHA256 = r.Header.Get("X-Amz-Content-Sha256")
	case e.Code == "AccessDenied" && e.Message == "Request has expired.":
		e.ServerTime = time.Now().UTC().Format(time.RFC3339)
		e.XAmzExpires = q.Get("X-Amz-Expires")
		if t, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date")); err == nil {
			if secs, err := strconv.Atoi(e.XAmzExpires); err == nil {
				e.Expires = t.Add(time.Duration(secs) * time.Second).UTC().Format(time.RFC3339)
			}
		}
	}
	return e
}

func writeXML(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, xml.Header)
	_ = xml.NewEncoder(w).Encode(v)
}

// bucketKey splits a request into bucket and key, path style or
// virtual-host style.
func (s *Server) bucketKey(r *http.Request) (string, string) {
	host := r.Host
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	for _, d := range s.cfg.Domains {
		if b, ok := strings.CutSuffix(host, "."+d); ok && b != "" {
			return b, path
		}
	}
	bucket, key, _ := strings.Cut(path, "/")
	return bucket, key
}

// maxHeaderSection is S3's limit on the size of a request's headers (8 KiB).
const maxHeaderSection = 8 << 10

// headerSectionSize is the size of a request's headers as sent: each
// "Name: value" line with its CRLF.
func headerSectionSize(r *http.Request) int {
	n := 0
	for name, vs := range r.Header {
		for _, v := range vs {
			n += len(name) + len(v) + 4
		}
	}
	return n
}

// ServeHTTP authenticates, authorizes and dispatches one S3 request.
func (s *Server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	r = withRequest(r) // for bucket policies' conditions
	w := &countingWriter{ResponseWriter: rw}
	if headerSectionSize(r) > maxHeaderSection {
		// S3's limit on a request's headers, checked before anything else.
		s.writeError(w, r, withFields(errCode("RequestHeaderSectionTooLarge", http.StatusBadRequest, "Your request header section exceeds the maximum allowed size."),
			errorFields{MaxSizeAllowed: strconv.Itoa(maxHeaderSection)}))
		return
	}
	var body *countingBody
	if r.Body != nil {
		body = &countingBody{ReadCloser: r.Body}
		r.Body = body
	}
	defer s.metrics.observe(r.Method, w, body)
	w.Header().Set("x-amz-request-id", requestID())
	w.Header().Set("Server", "tarn")
	if bucket, key := s.bucketKey(r); misrouted(r, bucket, key, r.URL.Query()) != nil {
		s.writeError(w, r, misrouted(r, bucket, key, r.URL.Query()))
		return
	}
	if bucket, key := s.bucketKey(r); r.Method == http.MethodPost && bucket != "" && key == "" && r.URL.RawQuery == "" &&
		r.Header.Get("Authorization") == "" {
		// A browser's form upload: authenticated by its form (post.go).
		if err := s.postObject(w, r, bucket); err != nil {
			s.writeError(w, r, err)
		}
		return
	}
	if r.Method == http.MethodOptions && r.Header.Get("Authorization") == "" {
		// A browser's CORS preflight: unsigned by design (see cors.go).
		bucket, _ := s.bucketKey(r)
		if err := s.preflight(w, r, bucket); err != nil {
			s.writeError(w, r, err)
		}
		return
	}
	p, err := s.auth.Authenticate(r)
	if errors.Is(err, auth.ErrMissingAuth) {
		// No credentials: denied without running any operation unless
		// the bucket is public (anonymous.go, publicaccess.go).
		bucket, key := s.bucketKey(r)
		err = anonymousRefused(r, bucket, key)
		if err == nil {
			var public bool
			if public, err = s.publicBucket(r.Context(), bucket); err == nil && !public {
				err = anonymousDenied(r, bucket, key)
			}
		}
		if err == nil {
			if err = anonymousBody(r); err == nil {
				if err := s.route(w, r, anonymous, bucket, key, r.URL.Query()); err != nil {
					s.writeError(w, r, err)
				}
				return
			}
		}
	}
	if err == nil && p.Region != s.cfg.Region {
		// A signature is for one region: S3 refuses the others.
		err = errCode("AuthorizationHeaderMalformed", http.StatusBadRequest, "The authorization header is malformed; the region %q is wrong; expecting %q", p.Region, s.cfg.Region)
		if p.Presigned {
			err = errCode("AuthorizationQueryParametersError", http.StatusBadRequest, "Error parsing the X-Amz-Credential parameter; the region %q is wrong; expecting %q", p.Region, s.cfg.Region)
		}
	}
	if err == nil && p.Service != "s3" {
		err = errCode("AuthorizationHeaderMalformed", http.StatusBadRequest, "The authorization header is malformed; incorrect service %q. This endpoint belongs to \"s3\".", p.Service)
	}
	if err == nil && r.Header.Get("X-Amz-Content-Sha256") == auth.StreamingUnsignedPayloadTrailer && r.Method == http.MethodPut {
		// S3 takes an unsigned streaming body for objects and parts only.
		if _, key := s.bucketKey(r); key == "" {
			err = errCode("InvalidRequest", http.StatusBadRequest, "The value of x-amz-content-sha256 header is invalid.")
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	bucket, key := s.bucketKey(r)
	q := r.URL.Query()
	if err := s.route(w, r, p, bucket, key, q); err != nil {
		s.writeError(w, r, err)
	}
}

func (c *call) listBuckets() error {
	if err := c.allow("s3:ListAllMyBuckets", "*", ""); err != nil {
		return err
	}
	return c.s.listBuckets(c.w, c.r, c.p, c.q)
}

func (c *call) createBucket() error {
	if err := c.allow("s3:CreateBucket", c.bucket, ""); err != nil {
		return err
	}
	ownership, _, err := checkCreateBucketACL(c.r.Header)
	if err != nil {
		return err
	}
	tags, err := c.createBucketConfiguration()
	if err != nil {
		return err
	}
	if err := c.s.store.CreateBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	if bc, ok := c.s.store.(storage.BucketConfigs); ok {
		if err := c.enableObjectLockOnCreate(bc); err != nil {
			return err
		}
		if tags != nil {
			if err := bc.SetBucketConfig(c.r.Context(), c.bucket, tagsConfig, tags); err != nil {
				return err
			}
		}
	}
	if bc, ok := c.s.store.(storage.BucketConfigs); ok && ownership != "" {
		// The bucket exists: a failure here leaves it with S3's default
		// (BucketOwnerEnforced) and says so.
		doc := `<OwnershipControls><Rule><ObjectOwnership>` + ownership + `</ObjectOwnership></Rule></OwnershipControls>`
		if err := bc.SetBucketConfig(c.r.Context(), c.bucket, ownershipConfig, []byte(doc)); err != nil {
			return err
		}
	}
	c.w.Header().Set("Location", "/"+c.bucket)
	c.w.Header().Set("x-amz-bucket-arn", auth.S3Resource(c.bucket, ""))
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func (c *call) deleteBucket() error {
	if err := c.allow("s3:DeleteBucket", c.bucket, ""); err != nil {
		return err
	}
	triggers := c.s.notificationTriggers(c.r.Context(), c.bucket)
	if err := c.s.store.DeleteBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	c.s.removeTriggers(context.WithoutCancel(c.r.Context()), triggers)
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *call) headBucket() error {
	if err := c.allow("s3:ListBucket", c.bucket, ""); err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	c.w.Header().Set("x-amz-bucket-region", c.s.cfg.Region)
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func (c *call) getBucketLocation() error {
	if err := c.allow("s3:GetBucketLocation", c.bucket, ""); err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	region := c.s.cfg.Region
	if region == "us-east-1" {
		region = "" // as S3 answers for us-east-1
	}
	writeXML(c.w, http.StatusOK, locationConstraint{Xmlns: s3NS, Value: region})
	return nil
}

func (c *call) listUploads() error { return c.s.listUploads(c.w, c.r, c.p, c.bucket, c.q) }

func (c *call) getBucketVersioning() error {
	if err := c.allow("s3:GetBucketVersioning", c.bucket, ""); err != nil {
		return err
	}
	return c.s.getBucketVersioning(c.w, c.r, c.bucket)
}

func (c *call) putBucketVersioning() error {
	if err := c.allow("s3:PutBucketVersioning", c.bucket, ""); err != nil {
		return err
	}
	return c.s.putBucketVersioning(c.w, c.r, c.bucket)
}

func (c *call) listObjectVersions() error {
	if err := c.allow("s3:ListBucketVersions", c.bucket, ""); err != nil {
		return err
	}
	return c.s.listObjectVersions(c.w, c.r, c.bucket, c.q)
}

func (c *call) deleteObjects() error { return c.s.deleteObjects(c.w, c.r, c.p, c.bucket) }

func (c *call) listObjects() error {
	if err := c.allow("s3:ListBucket", c.bucket, ""); err != nil {
		return err
	}
	if c.q.Get("list-type") == "2" {
		return c.s.listObjectsV2(c.w, c.r, c.bucket, c.q)
	}
	return c.s.listObjectsV1(c.w, c.r, c.bucket, c.q)
}

// versionID returns the versionId qualifier ("" if none).
func (c *call) versionID() (string, error) {
	vid := c.q.Get("versionId")
	if c.q.Has("versionId") && vid == "" {
		return "", errCode("InvalidArgument", http.StatusBadRequest, "Version id cannot be the empty string")
	}
	return vid, nil
}

func (c *call) putOrCopyObject() error {
	if c.q.Has("versionId") {
		return notImplemented(onObject, c.r.Method, "versionId")
	}
	if src := c.r.Header.Get("x-amz-copy-source"); src != "" {
		if c.r.Header.Get("If-Match") != "" || c.r.Header.Get("If-None-Match") != "" {
			return errCode("NotImplemented", http.StatusNotImplemented, "A header you provided implies functionality that is not implemented: conditional CopyObject")
		}
		return c.s.copyObject(c.w, c.r, c.p, c.bucket, c.key, src)
	}
	if err := c.allow("s3:PutObject", c.bucket, c.key); err != nil {
		return err
	}
	return c.s.putObject(c.w, c.r, c.p, c.bucket, c.key)
}

func (c *call) getObject() error {
	vid, err := c.versionID()
	if err != nil {
		return err
	}
	action := "s3:GetObject"
	if vid != "" {
		action = "s3:GetObjectVersion"
	}
	if err := c.allow(action, c.bucket, c.key); err != nil {
		return err
	}
	return c.s.getObject(c.w, c.r, c.bucket, c.key, vid)
}

func (c *call) deleteObject() error {
	vid, err := c.versionID()
	if err != nil {
		return err
	}
	action := "s3:DeleteObject"
	if vid != "" {
		action = "s3:DeleteObjectVersion"
	}
	if err := c.allow(action, c.bucket, c.key); err != nil {
		return err
	}
	ctx := c.r.Context()
	if _, err := c.s.store.HeadBucket(ctx, c.bucket); err != nil {
		return err
	}
	im := strings.Trim(strings.TrimSpace(c.r.Header.Get("If-Match")), `"`)
	ims, imt := c.r.Header.Get("X-Amz-If-Match-Size"), c.r.Header.Get("X-Amz-If-Match-Last-Modified-Time")
	var del func() (storage.DeleteResult, error)
	if im != "" || ims != "" || imt != "" {
		// Checked atomically with the delete: no write comes between.
		cd, ok := c.s.store.(storage.ConditionalDeleter)
		if !ok {
			return errCode("NotImplemented", http.StatusNotImplemented, "A header you provided implies functionality that is not implemented: conditional DeleteObject on this store")
		}
		var lmt time.Time
		if imt != "" {
			if lmt, err = http.ParseTime(imt); err != nil {
				return storage.ErrPreconditionFailed
			}
		}
		cond := func(info storage.ObjectInfo, ok bool) error {
			switch {
			case !ok:
				return fmt.Errorf("%w: a conditional delete of a key without an object", storage.ErrNoSuchKey)
			case im != "" && im != "*" && im != info.ETag:
				return fmt.Errorf("%w: the object's ETag is %s", storage.ErrPreconditionFailed, info.ETag)
			case ims != "" && ims != strconv.FormatInt(info.Size, 10):
				return fmt.Errorf("%w: the object has %d bytes", storage.ErrPreconditionFailed, info.Size)
			case imt != "" && lmt.Unix() != info.LastModified.Unix():
				return fmt.Errorf("%w: the object was last modified at %s", storage.ErrPreconditionFailed, info.LastModified.UTC().Format(http.TimeFormat))
			}
			return nil
		}
		del = func() (storage.DeleteResult, error) { return cd.DeleteIf(ctx, c.bucket, c.key, vid, cond) }
	} else {
		del = func() (storage.DeleteResult, error) { return c.s.deleteObject(ctx, c.bucket, c.key, vid) }
	}
	res, err := c.s.lockedDelete(ctx, c.p, c.r.Header, c.bucket, c.key, vid, del)
	if err != nil {
		return err
	}
	setDeleteHeaders(c.w, res)
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// listBuckets answers ListBuckets: the buckets in name order, under
// prefix, max-buckets at a time; the continuation token is the last name
// of the page before. The owner is the key that asks: a lake has one
// owner, whom each key acts for.
func (s *Server) listBuckets(w http.ResponseWriter, r *http.Request, p *auth.Principal, q url.Values) error {
	maxBuckets := 10000
	if q.Has("max-buckets") {
		n, err := strconv.Atoi(q.Get("max-buckets"))
		if err != nil || n < 1 || n > 10000 {
			return errCode("InvalidArgument", http.StatusBadRequest, "Argument max-buckets must be an integer between 1 and 10000.")
		}
		maxBuckets = n
	}
	// The token is the last bucket name of the page before, as is (a
	// bucket name needs no encoding).
	after := q.Get("continuation-token")
	bs, err := s.store.ListBuckets(r.Context())
	if err != nil {
		return err
	}
	prefix := q.Get("prefix")
	res := listAllMyBucketsResult{Xmlns: s3NS, Owner: owner{ID: p.Key.AccessKeyID, DisplayName: p.Key.AccessKeyID}, Prefix: prefix}
	for _, b := range bs {
		if !strings.HasPrefix(b.Name, prefix) || b.Name <= after {
			continue
		}
		if len(res.Buckets) == maxBuckets {
			res.ContinuationToken = res.Buckets[len(res.Buckets)-1].Name
			break
		}
		res.Buckets = append(res.Buckets, bucketInfo{Name: b.Name, CreationDate: isoTime(b.CreatedAt), BucketRegion: s.cfg.Region})
	}
	writeXML(w, http.StatusOK, res)
	return nil
}

func maxKeys(q url.Values) (int, error) {
	v := q.Get("max-keys")
	if v == "" {
		return 1000, nil
	}
	n, err := intParam(q, "max-keys", 1000)
	if err != nil {
		return 0, err
	}
	return min(n, 1000), nil
}

func encodeKey(k string, enc string) string {
	if enc == "url" {
		return strings.ReplaceAll(url.QueryEscape(k), "+", "%20")
	}
	return k
}

func (s *Server) list(r *http.Request, bucket string, opts storage.ListOptions, mk int) (storage.ListResult, error) {
	if mk == 0 {
		if _, err := s.store.HeadBucket(r.Context(), bucket); err != nil {
			return storage.ListResult{}, err
		}
		return storage.ListResult{}, nil
	}
	opts.MaxKeys = mk
	if opts.ContinuationToken != "" {
		tok, err := decodeContinuationToken(opts.ContinuationToken)
		if err != nil {
			return storage.ListResult{}, err
		}
		opts.ContinuationToken = tok
	}
	res, err := s.store.List(r.Context(), bucket, opts)
	if err != nil {
		return res, err
	}
	if res.NextContinuationToken != "" {
		res.NextContinuationToken = encodeContinuationToken(res.NextContinuationToken)
	}
	return res, nil
}

// ListObjectsV2's continuation token is the last key or common prefix of
// the page (storage.ListOptions), sent as it is — clients and versitygw's
// suite read it as a key — unless XML cannot carry it (a control
// character) or it starts with tokenMark: then it is tokenMark and the
// key in base64url.
const tokenMark = "tarn:b64:"

func encodeContinuationToken(key string) string {
	safe := !strings.HasPrefix(key, tokenMark)
	for _, r := range key {
		if !(r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			safe = false
			break
		}
	}
	if safe {
		return key
	}
	return tokenMark + base64.RawURLEncoding.EncodeToString([]byte(key))
}

func decodeContinuationToken(tok string) (string, error) {
	b64, ok := strings.CutPrefix(tok, tokenMark)
	if !ok {
		return tok, nil
	}
	key, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return "", errCode("InvalidArgument", http.StatusBadRequest, "The continuation token provided is incorrect")
	}
	return string(key), nil
}

func objectsXML(objs []storage.ObjectInfo, enc string, withOwner bool) []objectXML {
	out := make([]objectXML, 0, len(objs))
	for _, o := range objs {
		x := objectXML{Key: encodeKey(o.Key, enc), LastModified: isoTime(o.LastModified), ETag: `"` + o.ETag + `"`, Size: o.Size, StorageClass: "STANDARD"}
		if o.Checksum.Algorithm != "" {
			x.ChecksumAlgorithm, x.ChecksumType = o.Checksum.Algorithm, checksumType(o.Checksum)
		}
		if withOwner {
			x.Owner = &owner{ID: "tarn", DisplayName: "tarn"}
		}
		out = append(out, x)
	}
	return out
}

func prefixesXML(ps []string, enc string) []commonPrefix {
	out := make([]commonPrefix, 0, len(ps))
	for _, p := range ps {
		out = append(out, commonPrefix{Prefix: encodeKey(p, enc)})
	}
	return out
}

func (s *Server) listObjectsV2(w http.ResponseWriter, r *http.Request, bucket string, q url.Values) error {
	mk, err := maxKeys(q)
	if err != nil {
		return err
	}
	enc := q.Get("encoding-type")
	res, err := s.list(r, bucket, storage.ListOptions{Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"),
		StartAfter: q.Get("start-after"), ContinuationToken: q.Get("continuation-token")}, mk)
	if err != nil {
		return err
	}
	writeXML(w, http.StatusOK, listBucketResultV2{
		Xmlns: s3NS, Name: bucket, Prefix: encodeKey(q.Get("prefix"), enc), Delimiter: encodeKey(q.Get("delimiter"), enc), MaxKeys: mk,
		KeyCount: len(res.Objects) + len(res.CommonPrefixes), IsTruncated: res.IsTruncated,
		ContinuationToken: q.Get("continuation-token"), NextContinuationToken: res.NextContinuationToken,
		StartAfter: encodeKey(q.Get("start-after"), enc), EncodingType: enc,
		Contents: objectsXML(res.Objects, enc, q.Get("fetch-owner") == "true"), CommonPrefixes: prefixesXML(res.CommonPrefixes, enc),
	})
	return nil
}

func (s *Server) listObjectsV1(w http.ResponseWriter, r *http.Request, bucket string, q url.Values) error {
	mk, err := maxKeys(q)
	if err != nil {
		return err
	}
	enc := q.Get("encoding-type")
	// A marker that is a common prefix (the NextMarker of a page that
	// ended on one) resumes after every key it rolls up: the storage
	// contract's StartAfter.
	prefix, delim, after := q.Get("prefix"), q.Get("delimiter"), q.Get("marker")
	res, err := s.list(r, bucket, storage.ListOptions{Prefix: prefix, Delimiter: delim, StartAfter: after}, mk)
	if err != nil {
		return err
	}
	// V1's Prefix is not encoded (S3 does not, and SDKs do not decode it).
	out := listBucketResultV1{Xmlns: s3NS, Name: bucket, Prefix: q.Get("prefix"), Marker: encodeKey(q.Get("marker"), enc),
		Delimiter: encodeKey(q.Get("delimiter"), enc), MaxKeys: mk, IsTruncated: res.IsTruncated, EncodingType: enc,
		Contents: objectsXML(res.Objects, enc, true), CommonPrefixes: prefixesXML(res.CommonPrefixes, enc)}
	if res.IsTruncated {
		// V1 resumes after the last key or prefix returned.
		last := ""
		if n := len(res.Objects); n > 0 {
			last = res.Objects[n-1].Key
		}
		if n := len(res.CommonPrefixes); n > 0 && res.CommonPrefixes[n-1] > last {
			last = res.CommonPrefixes[n-1]
		}
		out.NextMarker = encodeKey(last, enc)
	}
	writeXML(w, http.StatusOK, out)
	return nil
}

// metadataFrom returns the user metadata of a request, names lowercased
// as S3 keeps them; a repeated header's values are joined with ",".
func metadataFrom(h http.Header) map[string]string {
	var m map[string]string
	for k, v := range h {
		lk := strings.ToLower(k)
		if name, ok := strings.CutPrefix(lk, "x-amz-meta-"); ok && len(v) > 0 {
			if m == nil {
				m = map[string]string{}
			}
			m[name] = strings.Join(v, ",")
		}
	}
	return m
}

// objectHeaders are the headers an object is stored with and served
// with, besides Content-Type.
var objectHeaders = []string{"Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires", "X-Amz-Website-Redirect-Location"}

// maxMetadataSize is S3's limit on an object's user metadata: the bytes
// of the names and values of its x-amz-meta-* headers.
const maxMetadataSize = 2 << 10

// checkObjectHeaders refuses what S3 refuses of the headers an object is
// written with (PutObject, CopyObject with REPLACE, CreateMultipartUpload).
func checkObjectHeaders(h http.Header) error {
	if loc := h.Get("X-Amz-Website-Redirect-Location"); loc != "" &&
		!strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "http://") && !strings.HasPrefix(loc, "https://") {
		return errCode("InvalidRedirectLocation", http.StatusBadRequest, "The website redirect location must have a prefix of 'http://' or 'https://' or '/'.")
	}
	n := 0
	for k, v := range metadataFrom(h) {
		n += len(k) + len(v)
	}
	if n > maxMetadataSize {
		return errCode("MetadataTooLarge", http.StatusBadRequest, "Your metadata headers exceed the maximum allowed metadata size")
	}
	return nil
}

// writeConditions reads the conditions of a conditional write: If-Match
// with an ETag, or If-None-Match: * (the only forms S3 takes on writes).
func writeConditions(r *http.Request) (ifMatch string, ifNoneMatch bool, err error) {
	im, inm := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	if inm != "" && inm != "*" || im != "" && inm != "" {
		return "", false, errCode("NotImplemented", http.StatusNotImplemented, "A header you provided implies functionality that is not implemented.")
	}
	return strings.Trim(strings.TrimSpace(im), `"`), inm == "*", nil
}

// defaultContentType is what S3 records for an object put without a
// Content-Type.
const defaultContentType = "binary/octet-stream"

// putOptions returns what a PutObject, CopyObject (REPLACE) or
// CreateMultipartUpload request says of the object besides its bytes.
func putOptions(h http.Header) storage.PutOptions {
	opts := storage.PutOptions{ContentType: h.Get("Content-Type"), Metadata: metadataFrom(h)}
	if opts.ContentType == "" {
		opts.ContentType = defaultContentType
	}
	for _, name := range objectHeaders {
		if v := h.Get(name); v != "" {
			if opts.Headers == nil {
				opts.Headers = map[string]string{}
			}
			opts.Headers[name] = v
		}
	}
	return opts
}

func (s *Server) putObject(w http.ResponseWriter, r *http.Request, p *auth.Principal, bucket, key string) (err error) {
	ctx := r.Context()
	// r.ContentLength is the length of the body as it is read: the HTTP
	// length, or the decoded length that auth installed with the decoder
	// of an aws-chunked body. The x-amz-decoded-content-length header is
	// not read here: it may be unsigned, and an unsigned header must not
	// change which bytes are stored.
	size := r.ContentLength
	if size > s.cfg.MaxPutSize {
		return errCode("EntityTooLarge", http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed size of %d bytes; use a multipart upload", s.cfg.MaxPutSize)
	}
	if size < 0 {
		return errCode("MissingContentLength", http.StatusLengthRequired, "You must provide the Content-Length HTTP header.")
	}
	if err := checkObjectHeaders(r.Header); err != nil {
		return err
	}
	if acl, grants := headerObjectACL(r.Header); acl != "" || grants {
		if _, err := s.store.HeadBucket(ctx, bucket); err != nil {
			return err
		}
		if err := s.checkObjectACL(ctx, bucket, acl, grants); err != nil {
			return err
		}
	}
	if storage.ValidateKey(key) != nil && hasDotSegment(key) {
		// S3's answer to a path-traversing name.
		return errCode("400", http.StatusBadRequest, "Bad Request")
	}
	opts := putOptions(r.Header)
	if opts.IfMatch, opts.IfNoneMatch, err = writeConditions(r); err != nil {
		return err
	}
	if opts.Tags, err = tagsFromHeader(r.Header); err != nil {
		return err
	}
	if _, sent := r.Header["Content-Md5"]; sent {
		// Sent empty counts: S3 calls it an invalid digest.
		m := r.Header.Get("Content-MD5")
		sum, err := base64.StdEncoding.DecodeString(m)
		if err != nil || len(sum) != 16 {
			return errCode("InvalidDigest", http.StatusBadRequest, "The Content-MD5 you specified is not valid.")
		}
		opts.ContentMD5 = sum
	}
	alg, want, err := requestChecksum(r)
	if err != nil {
		return err
	}
	var body io.Reader = newExactReader(r.Body, size)
	if alg != "" {
		cr := newChecksumReader(body, r, alg, want)
		body, opts.ChecksumFrom = cr, cr.checksum
	} else {
		// S3 gives every object a CRC64NVME when the client sends none.
		cr := newChecksumReader(body, r, "CRC64NVME", "")
		cr.noTrailer = true
		body, opts.ChecksumFrom = cr, cr.checksum
	}
	info, err := s.lockedWrite(ctx, p, r.Header, bucket, key, "", func() (storage.ObjectInfo, error) {
		return s.store.Put(ctx, bucket, key, body, opts)
	})
	if err != nil {
		return err
	}
	setChecksumHeaders(w, info.Checksum)
	w.Header().Set("x-amz-object-size", strconv.FormatInt(info.Size, 10))
	w.Header().Set("ETag", `"`+info.ETag+`"`)
	setVersionHeader(w, info.VersionID)
	w.WriteHeader(http.StatusOK)
	if s.created != nil {
		s.created(ctx, info, "PutObject")
	}
	return nil
}

// exactReader reads a body of exactly n bytes, to its end. A body shorter
// than its declared length (a client that disconnected) fails with
// IncompleteBody, so a cut connection never stores a truncated object.
// Once n bytes are read it reads on until the body's EOF before it
// reports EOF itself: the body verifiers that auth installs (payload
// SHA-256, the aws-chunked decoder's final chunk, trailer and checksum)
// decide at the end of the body, and a store that stops after n bytes
// would otherwise commit bytes nothing verified. Errors are sticky, so a
// caller that reads again after an error cannot take it for a clean end.
// With n < 0 (a length not known in advance) the body is read to its EOF.
type exactReader struct {
	r   io.Reader
	n   int64
	err error
}

func newExactReader(r io.Reader, n int64) *exactReader {
	if r == nil {
		r = http.NoBody
	}
	return &exactReader{r: r, n: n}
}

// Len is the number of bytes still expected (-1 if unknown): the store's
// size hint.
func (e *exactReader) Len() int { return int(max(e.n, -1)) }

var errIncompleteBody = errCode("IncompleteBody", http.StatusBadRequest, "You did not provide the number of bytes specified by the Content-Length HTTP header.")

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.n == 0 {
		e.err = e.atEnd()
		return 0, e.err
	}
	if e.n > 0 && int64(len(p)) > e.n {
		p = p[:e.n]
	}
	n, err := e.r.Read(p)
	if e.n > 0 {
		e.n -= int64(n)
	}
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF && e.n <= 0:
		e.err = io.EOF // the verifiers ran on this read
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		e.err = fmt.Errorf("%w (the body ended %d bytes early)", errIncompleteBody, e.n)
	default:
		e.err = err
	}
	return n, e.err
}

// atEnd reads past the n bytes expected: the body must end there, and its
// verifiers report what they found at the end.
func (e *exactReader) atEnd() error {
	var b [1]byte
	for {
		n, err := e.r.Read(b[:])
		if n > 0 {
			return fmt.Errorf("%w: the body is longer than its declared length", errIncompleteBody)
		}
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return errIncompleteBody
			}
			return err
		}
	}
}

// parseRange parses a Range header as S3 does: a single range
// bytes=first-last, bytes=first- or bytes=-suffix of decimal digits. S3
// ignores (serves the whole object for) any other form, a list of ranges
// or a last byte before the first; bytes=-0 selects nothing.
func parseRange(h string) (*storage.Range, error) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return nil, nil
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return nil, nil
	}
	digits := func(s string) bool {
		for _, c := range []byte(s) {
			if c < '0' || c > '9' {
				return false
			}
		}
		return s != ""
	}
	if a == "" {
		if !digits(b) {
			return nil, nil
		}
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil {
			return nil, nil
		}
		if n == 0 {
			return nil, storage.ErrInvalidRange
		}
		return &storage.Range{Offset: -n, Length: -1}, nil
	}
	if !digits(a) || b != "" && !digits(b) {
		return nil, nil
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return nil, nil
	}
	if b == "" {
		return &storage.Range{Offset: start, Length: -1}, nil
	}
	end, err := strconv.ParseInt(b, 10, 64)
	if err != nil || end < start {
		return nil, nil
	}
	return &storage.Range{Offset: start, Length: end - start + 1}, nil
}

func setObjectHeaders(w http.ResponseWriter, info storage.ObjectInfo) {
	h := w.Header()
	h.Set("ETag", `"`+info.ETag+`"`)
	h.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	ct := info.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	h.Set("Content-Type", ct)
	// tarn has one storage class; saying it spares clients a guess.
	h.Set("x-amz-storage-class", "STANDARD")
	for k, v := range info.Headers {
		h.Set(k, v)
	}
	for k, v := range info.Metadata {
		// Lowercase, as S3 sends them (not canonicalized by Set): SDKs
		// take the name after the prefix as it comes.
		h["x-amz-meta-"+strings.ToLower(k)] = []string{v}
	}
	if info.VersionID != "" {
		h.Set("x-amz-version-id", info.VersionID)
	}
}

func setVersionHeader(w http.ResponseWriter, id string) {
	if id != "" {
		w.Header().Set("x-amz-version-id", id)
	}
}

// conditional applies If-Match, If-None-Match, If-Modified-Since and
// If-Unmodified-Since; done is true when it answered the request.
func conditional(w http.ResponseWriter, r *http.Request, info storage.ObjectInfo) (done bool, err error) {
	etag := `"` + info.ETag + `"`
	matches := func(h string) bool {
		for _, v := range strings.Split(h, ",") {
			v = strings.TrimSpace(v)
			if v == "*" || v == etag || v == info.ETag {
				return true
			}
		}
		return false
	}
	mod := info.LastModified.UTC().Truncate(time.Second)
	if h := r.Header.Get("If-Match"); h != "" && !matches(h) {
		return false, errCode("PreconditionFailed", http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold.")
	}
	if h := r.Header.Get("If-Unmodified-Since"); h != "" && r.Header.Get("If-Match") == "" {
		if t, err := http.ParseTime(h); err == nil && mod.After(t) {
			return false, errCode("PreconditionFailed", http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold.")
		}
	}
	if h := r.Header.Get("If-None-Match"); h != "" {
		if matches(h) {
			setObjectHeaders(w, info)
			w.WriteHeader(http.StatusNotModified)
			return true, nil
		}
	} else if h := r.Header.Get("If-Modified-Since"); h != "" {
		if t, err := http.ParseTime(h); err == nil && !mod.After(t) {
			setObjectHeaders(w, info)
			w.WriteHeader(http.StatusNotModified)
			return true, nil
		}
	}
	return false, nil
}

// getObject answers GET and HEAD of an object, or of one of its versions
// when vid is set.
func (s *Server) getObject(w http.ResponseWriter, r *http.Request, bucket, key, vid string) error {
	ctx := r.Context()
	var v storage.Versioned
	if vid != "" {
		var err error
		if v, err = s.versioned(); err != nil {
			return err
		}
	}
	rng, err := parseRange(r.Header.Get("Range"))
	if err != nil {
		return err
	}
	part := 0
	if q := r.URL.Query(); q.Has("partNumber") {
		if part, err = strconv.Atoi(q.Get("partNumber")); err != nil || part < 1 || part > storage.MaxParts {
			return errCode("InvalidArgument", http.StatusBadRequest, "Part number must be an integer between 1 and 10000, inclusive.")
		}
		if r.Header.Get("Range") != "" {
			return errCode("InvalidRequest", http.StatusBadRequest, "Cannot specify both Range header and partNumber query parameter")
		}
		// The part's bytes are a range of the object, known from its
		// part sizes.
		var head storage.ObjectInfo
		if v != nil {
			head, err = v.HeadVersion(ctx, bucket, key, vid)
		} else {
			head, err = s.store.Head(ctx, bucket, key)
		}
		if err != nil {
			return err
		}
		sizes := head.PartSizes
		if len(sizes) == 0 {
			sizes = []int64{head.Size}
		}
		if part > len(sizes) {
			return &partNumberError{count: len(sizes), asked: part}
		}
		var off int64
		for _, n := range sizes[:part-1] {
			off += n
		}
		if sizes[part-1] > 0 {
			rng = &storage.Range{Offset: off, Length: sizes[part-1]}
		}
		if len(head.PartSizes) > 0 {
			w.Header().Set("x-amz-mp-parts-count", strconv.Itoa(len(sizes)))
		}
	}
	var rc io.ReadCloser
	var info storage.ObjectInfo
	switch {
	case r.Method == http.MethodHead && v != nil:
		info, err = v.HeadVersion(ctx, bucket, key, vid)
	case r.Method == http.MethodHead:
		info, err = s.store.Head(ctx, bucket, key)
	case v != nil:
		rc, info, err = v.GetVersion(ctx, bucket, key, vid, rng)
	default:
		rc, info, err = s.store.Get(ctx, bucket, key, rng)
	}
	if errors.Is(err, storage.ErrInvalidRange) && rng != nil && rng.Offset < 0 {
		// A suffix of an empty object: S3 serves the (empty) object.
		rng = nil
		if v != nil {
			rc, info, err = v.GetVersion(ctx, bucket, key, vid, nil)
		} else {
			rc, info, err = s.store.Get(ctx, bucket, key, nil)
		}
	}
	if err != nil {
		return err
	}
	if rng != nil && rng.Offset < 0 && info.Size == 0 {
		rng = nil
	}
	if rc != nil {
		defer rc.Close()
	}
	if done, err := conditional(w, r, info); done || err != nil {
		return err
	}
	status := http.StatusOK
	length := info.Size
	if rng != nil {
		// HEAD answers for the range as GET does.
		start, end, ok := rangeBounds(rng, info.Size)
		if !ok {
			return storage.ErrInvalidRange
		}
		length = end - start + 1
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, info.Size))
		status = http.StatusPartialContent
	}
	setObjectHeaders(w, info)
	s.setLockHeaders(r.Context(), w, info)
	setTagCount(w, info)
	if rng == nil && strings.EqualFold(r.Header.Get("x-amz-checksum-mode"), "ENABLED") {
		// The checksum is of the whole object: a range gets none.
		setChecksumHeaders(w, info.Checksum)
	}
	responseOverrides(w, r)
	w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
	w.WriteHeader(status)
	if rc != nil {
		copyBody(w, rc)
	}
	return nil
}

// bodyBufs are the buffers copyBody streams bodies through.
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// copyBody sends an object's body. A local file's reader (which hands the
// file to the connection's sendfile) goes as io.Copy sends it; another
// stream (an external store's response) goes through a 256 KiB buffer
// rather than net/http's 32 KiB one: 8 times fewer read and write calls on
// the path that proxies every byte, at a bounded cost per slow reader.
func copyBody(w http.ResponseWriter, rc io.Reader) {
	if _, ok := rc.(io.WriterTo); ok {
		_, _ = io.Copy(w, rc)
		return
	}
	buf := bodyBufs.Get().(*[]byte)
	defer bodyBufs.Put(buf)
	_, _ = io.CopyBuffer(struct{ io.Writer }{w}, rc, *buf)
}

// rangeBounds returns the first and last byte rng selects of an object of
// size bytes, as the store's Get does; ok is false if it selects none.
func rangeBounds(rng *storage.Range, size int64) (first, last int64, ok bool) {
	if rng.Offset < 0 {
		if size == 0 {
			return 0, 0, false
		}
		return max(0, size+rng.Offset), size - 1, true
	}
	if rng.Offset >= size || rng.Length == 0 {
		return 0, 0, false
	}
	last = size - 1
	if rng.Length > 0 {
		last = min(last, rng.Offset+rng.Length-1)
	}
	return rng.Offset, last, true
}

// responseOverrides applies GetObject's response-* query parameters, which
// replace the headers the object is served with.
func responseOverrides(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for param, header := range map[string]string{
		"response-content-type": "Content-Type", "response-content-language": "Content-Language",
		"response-expires": "Expires", "response-cache-control": "Cache-Control",
		"response-content-disposition": "Content-Disposition", "response-content-encoding": "Content-Encoding",
	} {
		if q.Has(param) {
			w.Header().Set(header, q.Get(param))
		}
	}
}

func (s *Server) copyObject(w http.ResponseWriter, r *http.Request, p *auth.Principal, bucket, key, src string) error {
	ctx := r.Context()
	for _, h := range []string{"x-amz-metadata-directive", "x-amz-tagging-directive"} {
		if d := r.Header.Get(h); d != "" && !strings.EqualFold(d, "COPY") && !strings.EqualFold(d, "REPLACE") {
			return errCode("InvalidArgument", http.StatusBadRequest, "Unknown %s directive.", strings.TrimSuffix(strings.TrimPrefix(h, "x-amz-"), "-directive"))
		}
	}
	sb, sk, srcVID, err := parseCopySource(src)
	if err != nil {
		return err
	}
	var v storage.Versioned
	if srcVID != "" {
		if v, err = s.versioned(); err != nil {
			return err
		}
	}
	getAction := "s3:GetObject"
	if srcVID != "" {
		getAction = "s3:GetObjectVersion"
	}
	if err := s.authorize(r.Context(), p, getAction, sb, sk); err != nil {
		return err
	}
	if err := s.authorize(r.Context(), p, "s3:PutObject", bucket, key); err != nil {
		return err
	}
	if acl, grants := headerObjectACL(r.Header); acl != "" || grants {
		if _, err := s.store.HeadBucket(ctx, bucket); err != nil {
			return err
		}
		if err := s.checkObjectACL(ctx, bucket, acl, grants); err != nil {
			return err
		}
	}
	// x-amz-checksum-algorithm: the copy gets a checksum of that algorithm.
	copyAlg := strings.ToUpper(strings.TrimSpace(r.Header.Get("X-Amz-Checksum-Algorithm")))
	if _, ok := checksumAlgorithms[copyAlg]; copyAlg != "" && !ok {
		return errCode("InvalidRequest", http.StatusBadRequest, "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, MD5, SHA1, SHA256, SHA512, XXHASH128, XXHASH3, XXHASH64]")
	}
	if sb == bucket && sk == key && srcVID == "" && copyAlg == "" && !strings.EqualFold(r.Header.Get("x-amz-metadata-directive"), "REPLACE") {
		return errCode("InvalidRequest", http.StatusBadRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	var srcInfo storage.ObjectInfo
	if v != nil {
		srcInfo, err = v.HeadVersion(ctx, sb, sk, srcVID)
	} else {
		srcInfo, err = s.store.Head(ctx, sb, sk)
	}
	if err != nil {
		return err
	}
	if err := copySourceConditions(r, srcInfo); err != nil {
		return err
	}
	if err := checkObjectHeaders(r.Header); err != nil {
		return err
	}
	var info storage.ObjectInfo
	replace := strings.EqualFold(r.Header.Get("x-amz-metadata-directive"), "REPLACE")
	replaceTags := strings.EqualFold(r.Header.Get("x-amz-tagging-directive"), "REPLACE")
	newTags, err := tagsFromHeader(r.Header)
	if err != nil {
		return err
	}
	// S3 copies a website redirect only when it is given again (REPLACE).
	dropRedirect := !replace && srcInfo.Headers["X-Amz-Website-Redirect-Location"] != ""
	if replace || replaceTags || v != nil || dropRedirect || copyAlg != "" {
		var rc io.ReadCloser
		var got storage.ObjectInfo
		if v != nil {
			rc, got, err = v.GetVersion(ctx, sb, sk, srcVID, nil)
		} else {
			rc, got, err = s.store.Get(ctx, sb, sk, nil)
		}
		if err != nil {
			return err
		}
		// The content is the source's: its ETag need not be computed again.
		opts := storage.PutOptions{ContentType: got.ContentType, Metadata: got.Metadata, ETag: got.ETag, Checksum: got.Checksum,
			Headers: got.Headers, Tags: got.Tags}
		if dropRedirect {
			hs := make(map[string]string, len(opts.Headers))
			for k, val := range opts.Headers {
				if k != "X-Amz-Website-Redirect-Location" {
					hs[k] = val
				}
			}
			opts.Headers = hs
		}
		if replace {
			o := putOptions(r.Header)
			opts.ContentType, opts.Metadata, opts.Headers = o.ContentType, o.Metadata, o.Headers
		}
		if replaceTags {
			opts.Tags = newTags
		}
		var body io.Reader = rc
		if copyAlg != "" && copyAlg != got.Checksum.Algorithm {
			cr := newChecksumReader(rc, &http.Request{Header: http.Header{}}, copyAlg, "")
			body, opts.Checksum, opts.ChecksumFrom = cr, storage.Checksum{}, cr.checksum
		}
		info, err = s.lockedWrite(ctx, p, r.Header, bucket, key, "", func() (storage.ObjectInfo, error) {
			return s.store.Put(ctx, bucket, key, body, opts)
		})
		rc.Close()
		if err != nil {
			return err
		}
	} else {
		info, err = s.lockedWrite(ctx, p, r.Header, bucket, key, "", func() (storage.ObjectInfo, error) {
			return s.store.Copy(ctx, sb, sk, bucket, key)
		})
		if err != nil {
			return err
		}
	}
	setVersionHeader(w, info.VersionID)
	if srcVID != "" {
		w.Header().Set("x-amz-copy-source-version-id", srcVID)
	} else {
		if srcInfo.VersionID != "" {
			w.Header().Set("x-amz-copy-source-version-id", srcInfo.VersionID)
		}
	}
	res := copyObjectResult{Xmlns: s3NS, LastModified: isoTime(info.LastModified), ETag: `"` + info.ETag + `"`}
	if c := info.Checksum; c.Algorithm != "" {
		res.ChecksumType = checksumType(c)
		switch c.Algorithm {
		case "CRC32":
			res.ChecksumCRC32 = c.Value
		case "CRC32C":
			res.ChecksumCRC32C = c.Value
		case "CRC64NVME":
			res.ChecksumCRC64NVME = c.Value
		case "SHA1":
			res.ChecksumSHA1 = c.Value
		case "SHA256":
			res.ChecksumSHA256 = c.Value
		default:
			res.ChecksumType = ""
		}
	}
	writeXML(w, http.StatusOK, res)
	if s.created != nil {
		s.created(ctx, info, "CopyObject")
	}
	return nil
}

// copySourceConditions applies the x-amz-copy-source-if-* headers to the
// source of a copy, as S3 does: If-Match with If-Unmodified-Since holds
// if the ETag matches, If-None-Match with If-Modified-Since fails if the
// ETag matches.
func copySourceConditions(r *http.Request, src storage.ObjectInfo) error {
	failed := errCode("PreconditionFailed", http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold.")
	etagIn := func(h string) bool {
		for v := range strings.SplitSeq(h, ",") {
			if v = strings.Trim(strings.TrimSpace(v), `"`); v == "*" || v == src.ETag {
				return true
			}
		}
		return false
	}
	mod := src.LastModified.UTC().Truncate(time.Second)
	match, unmod := r.Header.Get("x-amz-copy-source-if-match"), r.Header.Get("x-amz-copy-source-if-unmodified-since")
	none, modSince := r.Header.Get("x-amz-copy-source-if-none-match"), r.Header.Get("x-amz-copy-source-if-modified-since")
	if match != "" && !etagIn(match) {
		return failed
	}
	if match == "" && unmod != "" {
		if t, err := http.ParseTime(unmod); err == nil && mod.After(t) {
			return failed
		}
	}
	if none != "" && etagIn(none) {
		return failed
	}
	if none == "" && modSince != "" {
		if t, err := http.ParseTime(modSince); err == nil && !mod.After(t) {
			return failed
		}
	}
	return nil
}

// parseCopySource parses x-amz-copy-source: bucket/key or
// bucket/key?versionId=id, URL-encoded, with or without a leading "/".
func parseCopySource(src string) (bucket, key, versionID string, err error) {
	src, query, _ := strings.Cut(src, "?")
	u, err := url.PathUnescape(src)
	if err != nil {
		return "", "", "", errCode("InvalidArgument", http.StatusBadRequest, "Invalid copy source encoding")
	}
	src = u
	if query != "" {
		qv, err := url.ParseQuery(query)
		if err != nil || !qv.Has("versionId") || qv.Get("versionId") == "" {
			return "", "", "", errCode("InvalidArgument", http.StatusBadRequest, "x-amz-copy-source must be bucket/key or bucket/key?versionId=id")
		}
		versionID = qv.Get("versionId")
	}
	bucket, key, _ = strings.Cut(strings.TrimPrefix(src, "/"), "/")
	if storage.ValidateBucketName(bucket) != nil {
		return "", "", "", errCode("InvalidArgument", http.StatusBadRequest, "Invalid copy source bucket name")
	}
	if storage.ValidateKey(key) != nil {
		return "", "", "", errCode("InvalidArgument", http.StatusBadRequest, "Invalid copy source object key")
	}
	return bucket, key, versionID, nil
}

// maxDeleteBody bounds a DeleteObjects request (S3 allows 1,000 keys).
const maxDeleteBody = 2 << 20

func (s *Server) deleteObjects(w http.ResponseWriter, r *http.Request, p *auth.Principal, bucket string) error {
	ctx := r.Context()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxDeleteBody+1))
	if err != nil {
		return err
	}
	if len(body) > maxDeleteBody {
		return errCode("MaxMessageLengthExceeded", http.StatusBadRequest, "Your request was too big.")
	}
	var req deleteRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		return errCode("MalformedXML", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema.")
	}
	if len(req.Objects) > 1000 {
		return errCode("MalformedXML", http.StatusBadRequest, "A DeleteObjects request can name at most 1000 keys")
	}
	if _, err := s.store.HeadBucket(ctx, bucket); err != nil {
		return err
	}
	res := deleteResult{Xmlns: s3NS}
	for _, o := range req.Objects {
		action := "s3:DeleteObject"
		if o.VersionID != "" {
			action = "s3:DeleteObjectVersion"
		}
		err := s.authorize(ctx, p, action, bucket, o.Key)
		var dr storage.DeleteResult
		if err == nil {
			dr, err = s.lockedDelete(ctx, p, r.Header, bucket, o.Key, o.VersionID, func() (storage.DeleteResult, error) {
				return s.deleteObject(ctx, bucket, o.Key, o.VersionID)
			})
		}
		if err != nil {
			code, _, msg := toS3(err)
			res.Errors = append(res.Errors, deleteErrorXML{Key: o.Key, VersionID: o.VersionID, Code: code, Message: msg})
			continue
		}
		if !req.Quiet {
			d := deletedXML{Key: o.Key, VersionID: o.VersionID, DeleteMarker: dr.DeleteMarker}
			if dr.DeleteMarker {
				d.DeleteMarkerVersionID = dr.VersionID
			}
			res.Deleted = append(res.Deleted, d)
		}
	}
	writeXML(w, http.StatusOK, res)
	return nil
}

// partNumberError is S3's InvalidPartNumber, which says how many parts
// the object has.
type partNumberError struct{ count, asked int }

func (e *partNumberError) Error() string {
	return fmt.Sprintf("part %d of an object of %d parts", e.asked, e.count)
}
