package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SigV4 constants.
const (
	// Algorithm is the only signing algorithm accepted.
	Algorithm = "AWS4-HMAC-SHA256"
	// UnsignedPayload in x-amz-content-sha256: the body is not signed.
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	// StreamingPayload: an aws-chunked body whose chunks are signed in a chain.
	StreamingPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	// StreamingPayloadTrailer: signed chunks followed by a signed trailer
	// (x-amz-checksum-*).
	StreamingPayloadTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	// StreamingUnsignedPayloadTrailer: unsigned chunks followed by an
	// unsigned trailer carrying a checksum of the body (what recent AWS SDKs
	// send over HTTPS).
	StreamingUnsignedPayloadTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	// EmptySHA256 is the hex SHA-256 of no bytes.
	EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	// AmzDateFormat is the format of X-Amz-Date.
	AmzDateFormat = "20060102T150405Z"
	// MaxPresignExpiry is the longest X-Amz-Expires (7 days), as in S3.
	MaxPresignExpiry = 7 * 24 * time.Hour
)

// Principal is an authenticated caller.
type Principal struct {
	// Key is the caller's access key, without its secret.
	Key Key
	// Region and Service are those of the request's credential scope.
	Region  string
	Service string
	// Presigned is true for requests authenticated by a presigned URL.
	Presigned bool
}

// Authorize returns nil if the principal may perform action on resource,
// else an error wrapping ErrAccessDenied that names the key, the action and
// the resource. A nil principal is denied everything.
func (p *Principal) Authorize(action, resource string) error {
	if p == nil {
		return fmt.Errorf("unauthenticated request may not %s on %s: %w", action, resource, ErrAccessDenied)
	}
	if p.Key.Allowed(action, resource) {
		return nil
	}
	return fmt.Errorf("access key %q may not %s on %s: %w", p.Key.AccessKeyID, action, resource, ErrAccessDenied)
}

// credential is a parsed Credential: id/date/region/service/aws4_request.
type credential struct {
	AccessKeyID, Date, Region, Service string
}

func (c credential) scope() string {
	return c.Date + "/" + c.Region + "/" + c.Service + "/aws4_request"
}

// messageError is an error with the words S3 answers it with, and the
// extra elements S3 adds to some errors.
type messageError struct {
	err    error
	msg    string
	fields map[string]string
}

func (e *messageError) Error() string { return e.err.Error() }
func (e *messageError) Unwrap() error { return e.err }

// S3Message is the message S3 answers the error with.
func (e *messageError) S3Message() string { return e.msg }

// S3Fields are the elements S3 adds to the error (ArgumentName,
// ArgumentValue, HeadersNotSigned, S3ComputedContentSHA256, Chunk,
// BadChunkSize), by element name; nil for none.
func (e *messageError) S3Fields() map[string]string { return e.fields }

func withMessage(err error, format string, args ...any) error {
	return &messageError{err: err, msg: fmt.Sprintf(format, args...)}
}

// withFields is withMessage with S3's extra elements.
func withFields(err error, fields map[string]string, format string, args ...any) error {
	return &messageError{err: err, msg: fmt.Sprintf(format, args...), fields: fields}
}

// invalidArgument is S3's InvalidArgument for an argument of the request.
func invalidArgument(detail, msg, name, value string) error {
	return withFields(fmt.Errorf("cannot authenticate request: %w: %s", ErrInvalidArgument, detail),
		map[string]string{"ArgumentName": name, "ArgumentValue": value}, "%s", msg)
}

const missingDateMessage = "AWS authentication requires a valid Date or x-amz-date header."

// credentialError says what is wrong with a credential scope, in S3's
// words (without the prefix that says where the credential was).
type credentialError struct{ detail, s3 string }

func (e *credentialError) Error() string { return e.detail }

// Services whose requests tarn verifies: S3, tarn's REST API, and Glue's,
// Athena's, CloudWatch's ("monitoring"), IAM's and STS's APIs (served on
// the S3 endpoint by awsapi, which checks that the scope's service is the
// one the request is for).
var knownServices = map[string]bool{"s3": true, "execute-api": true, "glue": true, "athena": true, "monitoring": true, "iam": true, "sts": true}

func parseCredential(s string) (credential, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 5 {
		return credential{}, &credentialError{fmt.Sprintf("credential %q is not access-key-id/YYYYMMDD/region/service/aws4_request", s),
			`the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`}
	}
	c := credential{parts[0], parts[1], parts[2], parts[3]}
	// Checked in S3's order.
	if !knownServices[c.Service] {
		return credential{}, &credentialError{fmt.Sprintf("credential %q: service %q is not one tarn serves (s3, execute-api, glue, athena, monitoring, iam, sts)", s, c.Service),
			fmt.Sprintf(`incorrect service %q. This endpoint belongs to "s3".`, c.Service)}
	}
	if parts[4] != "aws4_request" {
		return credential{}, &credentialError{fmt.Sprintf("credential %q does not end in aws4_request", s),
			fmt.Sprintf(`incorrect terminal %q. This endpoint uses "aws4_request".`, parts[4])}
	}
	if _, err := time.Parse("20060102", c.Date); err != nil || len(c.Date) != 8 {
		return credential{}, &credentialError{fmt.Sprintf("credential %q: date %q is not YYYYMMDD", s, c.Date),
			fmt.Sprintf(`incorrect date format %q. This date in the credential must be in the format "yyyyMMdd".`, c.Date)}
	}
	if c.AccessKeyID == "" || c.Region == "" {
		return credential{}, &credentialError{fmt.Sprintf("credential %q has no access key id or region", s),
			`the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`}
	}
	return c, nil
}

// authorization is a parsed Authorization header.
type authorization struct {
	Credential    credential
	SignedHeaders []string
	Signature     string
}

// maxAuthorizationLen bounds the Authorization header that is parsed.
const maxAuthorizationLen = 16 << 10

const unsupportedAuthMessage = "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."

// parseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request,
//	SignedHeaders=host;x-amz-date, Signature=<64 hex>
//
// Errors wrap ErrAuthorizationHeaderMalformed or ErrUnsupportedAuth, and
// carry S3's message for each (what is missing is said before what is
// malformed, as S3 does).
func parseAuthorization(h string) (authorization, error) {
	malformed := func(detail, format string, args ...any) (authorization, error) {
		return authorization{}, withMessage(fmt.Errorf("%w: %s", ErrAuthorizationHeaderMalformed, detail),
			"The authorization header is malformed; "+format, args...)
	}
	if len(h) > maxAuthorizationLen {
		return malformed(fmt.Sprintf("header is longer than %d bytes", maxAuthorizationLen), "the header is longer than %d bytes.", maxAuthorizationLen)
	}
	alg, rest, hasSpace := strings.Cut(strings.TrimSpace(h), " ")
	if !hasSpace {
		return authorization{}, invalidArgument("the Authorization header has no scheme", "Authorization header is invalid -- one and only one ' ' (space) required.",
			"Authorization", truncate(h, 256))
	}
	if alg != Algorithm {
		if alg == "AWS" {
			return authorization{}, withMessage(fmt.Errorf("%w: signature version 2 (AWS) is not supported", ErrUnsupportedAuth), unsupportedAuthMessage)
		}
		return authorization{}, invalidArgument(fmt.Sprintf("scheme %q is not %s", truncate(alg, 32), Algorithm), "Unsupported Authorization Type",
			"Authorization", truncate(alg, 64))
	}
	var parts []string
	for part := range strings.SplitSeq(rest, ",") {
		if part = strings.TrimSpace(part); part != "" {
			parts = append(parts, part)
		}
	}
	if len(parts) < 3 {
		return malformed("it needs Credential, SignedHeaders and Signature",
			"the authorization header requires three components: Credential, SignedHeaders, and Signature.")
	}
	values := map[string]string{}
	for _, part := range parts {
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return malformed(fmt.Sprintf("%q is not name=value", truncate(part, 64)), "the authorization component %q is malformed.", truncate(part, 64))
		}
		if _, dup := values[name]; dup {
			return malformed(name+" is given twice", "%s is given twice.", truncate(name, 32))
		}
		values[name] = value
	}
	for _, name := range []string{"Credential", "SignedHeaders", "Signature"} {
		if _, ok := values[name]; !ok {
			return malformed(name+" is missing", "missing %s.", name)
		}
	}
	var a authorization
	var err error
	if a.Credential, err = parseCredential(values["Credential"]); err != nil {
		ce := err.(*credentialError)
		return malformed(ce.detail, "%s", ce.s3)
	}
	if a.SignedHeaders, err = parseSignedHeaders(values["SignedHeaders"]); err != nil {
		return malformed(err.Error(), "%s.", err.Error())
	}
	if err := checkSignatureHex(values["Signature"]); err != nil {
		return malformed(err.Error(), "%s.", err.Error())
	}
	a.Signature = values["Signature"]
	return a, nil
}

func parseSignedHeaders(s string) ([]string, error) {
	if s == "" {
		return nil, errors.New("SignedHeaders is empty")
	}
	hs := strings.Split(s, ";")
	host := false
	for i, h := range hs {
		if h == "" {
			return nil, fmt.Errorf("SignedHeaders %q has an empty name", truncate(s, 64))
		}
		for j := 0; j < len(h); j++ {
			if c := h[j]; c <= ' ' || c >= 0x7f || c == ':' || c >= 'A' && c <= 'Z' {
				return nil, fmt.Errorf("SignedHeaders %q: %q is not a lower-case header name", truncate(s, 64), truncate(h, 64))
			}
		}
		if i > 0 && hs[i-1] >= h {
			return nil, fmt.Errorf("SignedHeaders %q is not sorted or has duplicates", truncate(s, 64))
		}
		host = host || h == "host"
	}
	if !host {
		return nil, fmt.Errorf("SignedHeaders %q does not include host", truncate(s, 64))
	}
	return hs, nil
}

func checkSignatureHex(s string) error {
	if len(s) != 64 {
		return fmt.Errorf("signature %q is not 64 hex digits", truncate(s, 80))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("signature %q is not 64 lower-case hex digits", truncate(s, 80))
		}
	}
	return nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Authenticate verifies the request's AWS Signature Version 4, given in the
// Authorization header or as presigned URL query parameters, and returns the
// principal. It never lets an unsigned request through (ErrMissingAuth).
//
// Any region is accepted (the signature must use the one in the credential
// scope), and any service: "s3" gets S3's rules (single-encoded path,
// x-amz-content-sha256 required), others ("execute-api" for the REST API)
// the generic ones (double-encoded path, payload hashed when the header is
// absent).
//
// On success the body is replaced, when needed, by a reader that verifies
// it as it is read:
//   - a hex x-amz-content-sha256: the read that reaches the end fails with
//     ErrContentSHA256Mismatch if the body does not hash to it;
//   - aws-chunked (STREAMING-*): the chunks are decoded, each is verified
//     before any of its bytes is returned (ErrSignatureDoesNotMatch), the
//     length must equal x-amz-decoded-content-length (ErrIncompleteBody)
//     and a trailing x-amz-checksum-* must match (ErrBadDigest; the value
//     is then in r.Trailer). r.ContentLength becomes the decoded length and
//     "aws-chunked" is removed from Content-Encoding.
//
// Otherwise x-amz-decoded-content-length is removed: it may be unsigned.
//
// A handler must therefore read the body to its end (not only
// r.ContentLength bytes: the aws-chunked decoder checks the final chunk and
// trailer after the last byte), and treat a read error as a failed
// request, before it commits what it wrote.
//
// Errors wrap the sentinels of this package; S3ErrorCode maps them.
func (s *Service) Authenticate(r *http.Request) (*Principal, error) {
	authz := r.Header.Get("Authorization")
	q := r.URL.Query()
	presigned := q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Credential") || q.Has("X-Amz-Signature")
	switch {
	case authz != "" && presigned:
		return nil, fmt.Errorf("cannot authenticate request: %w", ErrMultipleAuth)
	case authz != "":
		return s.authenticateHeader(r, authz)
	case presigned:
		return s.authenticatePresigned(r, q)
	case q.Has("AWSAccessKeyId") && q.Has("Signature"):
		return nil, withMessage(fmt.Errorf("cannot authenticate presigned request: %w: this URL is signed with signature version 2; "+
			"presign with SigV4 (aws CLI v1: set s3.signature_version = s3v4 in the config)", ErrUnsupportedAuth), unsupportedAuthMessage)
	}
	return nil, fmt.Errorf("cannot authenticate request: %w", ErrMissingAuth)
}

// signed is what both ways of signing verify.
type signed struct {
	cred          credential
	amzDate       string
	signedHeaders []string
	signature     string
	payload       string // x-amz-content-sha256 or its stand-in
	presigned     bool
}

func (s *Service) authenticateHeader(r *http.Request, authz string) (*Principal, error) {
	a, err := parseAuthorization(authz)
	if err != nil {
		return nil, fmt.Errorf("cannot authenticate request: %w", err)
	}
	sg := signed{cred: a.Credential, signedHeaders: a.SignedHeaders, signature: a.Signature}
	var t time.Time
	if v := r.Header.Get("X-Amz-Date"); v != "" {
		if t, err = time.Parse(AmzDateFormat, v); err != nil {
			return nil, withMessage(fmt.Errorf("cannot authenticate request: %w: x-amz-date %q is not %s", ErrMissingDate, truncate(v, 32), AmzDateFormat), missingDateMessage)
		}
		sg.amzDate = v
	} else if v := r.Header.Get("Date"); v != "" {
		if t, err = http.ParseTime(v); err != nil {
			return nil, withMessage(fmt.Errorf("cannot authenticate request: %w: Date %q is not an HTTP date", ErrMissingDate, truncate(v, 40)), missingDateMessage)
		}
		sg.amzDate = t.UTC().Format(AmzDateFormat)
	} else {
		return nil, withMessage(fmt.Errorf("cannot authenticate request: %w: x-amz-date (or Date)", ErrMissingDate), missingDateMessage)
	}
	if sg.amzDate[:8] != sg.cred.Date {
		return nil, fmt.Errorf("cannot authenticate request: %w: credential date %s is not the date of x-amz-date %s", ErrAuthorizationHeaderMalformed, sg.cred.Date, sg.amzDate)
	}
	if d := s.cfg.Now().Sub(t); d > s.cfg.MaxSkew || d < -s.cfg.MaxSkew {
		return nil, fmt.Errorf("cannot authenticate request: %w: request time %s differs from server time by %s (at most %s)",
			ErrRequestTimeTooSkewed, t.UTC().Format(time.RFC3339), d.Round(time.Second), s.cfg.MaxSkew)
	}
	sg.payload = r.Header.Get("X-Amz-Content-Sha256")
	return s.verify(r, sg)
}

func (s *Service) authenticatePresigned(r *http.Request, q url.Values) (*Principal, error) {
	// fail fails with S3's message s3msg (tarn's own words in the error).
	fail := func(s3msg, format string, args ...any) (*Principal, error) {
		return nil, withMessage(fmt.Errorf("cannot authenticate presigned request: %w: "+format, append([]any{ErrAuthorizationQueryParametersError}, args...)...), "%s", s3msg)
	}
	const required = "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
	for _, name := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		if len(q[name]) != 1 {
			return fail(required, "%s must be given once", name)
		}
	}
	if alg := q.Get("X-Amz-Algorithm"); alg != Algorithm {
		msg := `X-Amz-Algorithm only supports "AWS4-HMAC-SHA256 and AWS4-ECDSA-P256-SHA256"`
		if alg == "AWS4-ECDSA-P256-SHA256" {
			msg = `X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`
		}
		return fail(msg, "X-Amz-Algorithm %q is not %s", truncate(alg, 32), Algorithm)
	}
	var sg signed
	var err error
	sg.presigned = true
	if sg.cred, err = parseCredential(q.Get("X-Amz-Credential")); err != nil {
		return fail("Error parsing the X-Amz-Credential parameter; "+err.(*credentialError).s3, "%v", err)
	}
	if sg.signedHeaders, err = parseSignedHeaders(q.Get("X-Amz-SignedHeaders")); err != nil {
		return fail(err.Error(), "%v", err)
	}
	sg.signature = q.Get("X-Amz-Signature")
	if err := checkSignatureHex(sg.signature); err != nil {
		return fail(err.Error(), "%v", err)
	}
	sg.amzDate = q.Get("X-Amz-Date")
	t, err := time.Parse(AmzDateFormat, sg.amzDate)
	if err != nil {
		return fail("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"", "X-Amz-Date %q is not %s", truncate(sg.amzDate, 32), AmzDateFormat)
	}
	if sg.amzDate[:8] != sg.cred.Date {
		return fail(fmt.Sprintf("Invalid credential date %q. This date is not the same as X-Amz-Date: %q.", sg.cred.Date, sg.amzDate[:8]),
			"credential date %s is not the date of X-Amz-Date %s", sg.cred.Date, sg.amzDate)
	}
	exp := q.Get("X-Amz-Expires")
	secs, err := strconv.ParseInt(exp, 10, 64)
	switch {
	case err != nil:
		return fail("X-Amz-Expires should be a number", "X-Amz-Expires %q is not a number", truncate(exp, 32))
	case secs < 0:
		return fail("X-Amz-Expires must be non-negative", "X-Amz-Expires %q is negative", truncate(exp, 32))
	case secs > int64(MaxPresignExpiry/time.Second):
		return fail("X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds",
			"X-Amz-Expires %q is more than %d seconds", truncate(exp, 32), int64(MaxPresignExpiry/time.Second))
	case secs < 1:
		return fail("X-Amz-Expires must be at least 1 second", "X-Amz-Expires %q is not a number of seconds from 1 to %d", truncate(exp, 32), int64(MaxPresignExpiry/time.Second))
	}
	now := s.cfg.Now()
	if t.Sub(now) > s.cfg.MaxSkew {
		return nil, fmt.Errorf("cannot authenticate presigned request: %w: X-Amz-Date %s is in the future", ErrPresignNotYetValid, sg.amzDate)
	}
	if exp := t.Add(time.Duration(secs) * time.Second); now.After(exp) {
		return nil, fmt.Errorf("cannot authenticate presigned request: %w: it expired at %s", ErrExpiredPresign, exp.UTC().Format(time.RFC3339))
	}
	sg.payload = q.Get("X-Amz-Content-Sha256")
	if sg.payload == "" {
		sg.payload = r.Header.Get("X-Amz-Content-Sha256")
	}
	if sg.payload == "" && sg.cred.Service == "s3" {
		sg.payload = UnsignedPayload
	}
	return s.verify(r, sg)
}

// verify checks the signature with the key's secret and installs the body
// verifiers.
func (s *Service) verify(r *http.Request, sg signed) (*Principal, error) {
	what := "request"
	if sg.presigned {
		what = "presigned request"
	}
	key, sk, err := s.keys.lookup(r.Context(), sg.cred, s.activeKey)
	if errors.Is(err, ErrNoSuchKey) {
		return nil, fmt.Errorf("cannot authenticate %s: %w: %q", what, ErrInvalidAccessKeyID, truncate(sg.cred.AccessKeyID, 128))
	}
	if err != nil {
		return nil, fmt.Errorf("cannot authenticate %s: %w", what, err)
	}

	var bodyCheck func() error
	switch p := sg.payload; {
	case p == UnsignedPayload:
	case p == StreamingPayload || p == StreamingPayloadTrailer || p == StreamingUnsignedPayloadTrailer:
		if sg.presigned {
			return nil, fmt.Errorf("cannot authenticate %s: %w: x-amz-content-sha256 %s in a presigned URL", what, ErrUnsupportedAuth, p)
		}
	case isHexSHA256(p):
		want, _ := hex.DecodeString(p)
		bodyCheck = checkBodySHA256(r, want)
	case sg.cred.Service != "s3" && isBase64SHA256(p):
		// The AWS SDK for Java 2's signer, asked for a SHA-256 checksum
		// header named x-amz-content-sha256 (Iceberg's RESTSigV4Signer:
		// Spark, Trino), sends the body's SHA-256 there in base64 and signs
		// its hex form as the payload.
		want, _ := base64.StdEncoding.DecodeString(p)
		sg.payload = hex.EncodeToString(want)
		bodyCheck = checkBodySHA256(r, want)
	case p == "" && sg.cred.Service == "s3":
		return nil, fmt.Errorf("cannot authenticate %s: %w: x-amz-content-sha256", what, ErrMissingSecurityHeader)
	case p == "":
		// Generic SigV4 (the REST API): the signer hashed the body.
		h, err := s.hashBody(r)
		if err != nil {
			return nil, fmt.Errorf("cannot authenticate %s: %w", what, err)
		}
		sg.payload = h
	case sg.cred.Service == "s3":
		return nil, invalidArgument(fmt.Sprintf("x-amz-content-sha256 %q is not a SHA-256 or a known payload type", truncate(p, 80)),
			"x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
			"x-amz-content-sha256", truncate(p, 256))
	default:
		return nil, fmt.Errorf("cannot authenticate %s: %w: x-amz-content-sha256 %q is not a SHA-256 or a known payload type", what, ErrAuthorizationHeaderMalformed, truncate(p, 80))
	}
	if sg.cred.Service == "s3" {
		if err := checkSignedAmzHeaders(r, sg.signedHeaders); err != nil {
			return nil, err
		}
		if r.Header.Get("X-Amz-Security-Token") != "" || r.URL.Query().Has("X-Amz-Security-Token") {
			return nil, withMessage(fmt.Errorf("cannot authenticate %s: %w: tarn's access keys are permanent credentials and take no session token", what, ErrInvalidToken),
				"The provided token is malformed or otherwise invalid.")
		}
	}

	headers := canonicalHeaders(r, sg.signedHeaders)
	query, err := canonicalQuery(r.URL.RawQuery, sg.presigned)
	if err != nil {
		return nil, fmt.Errorf("cannot authenticate %s: %w: %v", what, ErrSignatureDoesNotMatch, err)
	}
	signedList := strings.Join(sg.signedHeaders, ";")
	ok := false
	for _, uri := range canonicalURIs(r, sg.cred.Service) {
		creq := r.Method + "\n" + uri + "\n" + query + "\n" + headers + "\n" + signedList + "\n" + sg.payload
		sts := Algorithm + "\n" + sg.amzDate + "\n" + sg.cred.scope() + "\n" + hexSHA256([]byte(creq))
		if hmac.Equal([]byte(hex.EncodeToString(hmacSHA256(sk, sts))), []byte(sg.signature)) {
			ok = true
			break
		}
	}
	if !ok {
		return nil, fmt.Errorf("cannot authenticate %s with access key %q: %w", what, key.AccessKeyID, ErrSignatureDoesNotMatch)
	}

	switch sg.payload {
	case StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer:
		if err := s.installChunkedReader(r, sg, sk); err != nil {
			return nil, fmt.Errorf("cannot authenticate %s: %w", what, err)
		}
	default:
		// The header only means something with an aws-chunked body, whose
		// decoder checks it against the chunks. Anywhere else it may be
		// an unsigned addition to a replayed request: removed, so that no
		// handler reads a body by it.
		r.Header.Del("X-Amz-Decoded-Content-Length")
		if bodyCheck != nil {
			if err := bodyCheck(); err != nil {
				return nil, fmt.Errorf("cannot authenticate %s: %w", what, err)
			}
		}
	}
	key.SecretAccessKey = ""
	return &Principal{Key: key, Region: sg.cred.Region, Service: sg.cred.Service, Presigned: sg.presigned}, nil
}

// sha256Mismatch is ErrContentSHA256Mismatch with the body's SHA-256.
func sha256Mismatch(computed string) error {
	return withFields(ErrContentSHA256Mismatch, map[string]string{"S3ComputedContentSHA256": computed},
		"The provided 'x-amz-content-sha256' header does not match what was computed.")
}

// checkSignedAmzHeaders refuses a request with an x-amz-* header that
// its signature does not cover, as S3 does: such a header (x-amz-copy-source,
// x-amz-tagging, x-amz-acl, ...) could have been added to a replayed
// request.
func checkSignedAmzHeaders(r *http.Request, signedHeaders []string) error {
	var unsigned []string
	for name := range r.Header {
		n := strings.ToLower(name)
		if strings.HasPrefix(n, "x-amz-") && !slices.Contains(signedHeaders, n) {
			unsigned = append(unsigned, n)
		}
	}
	if len(unsigned) == 0 {
		return nil
	}
	slices.Sort(unsigned)
	list := strings.Join(unsigned, ", ")
	return withFields(fmt.Errorf("cannot authenticate request: %w: %s", ErrHeadersNotSigned, truncate(list, 256)),
		map[string]string{"HeadersNotSigned": list}, "There were headers present in the request which were not signed")
}

// checkBodySHA256 returns the check that the body hashes to want: the body
// is verified as it is read, and an absent body must be the empty one.
func checkBodySHA256(r *http.Request, want []byte) func() error {
	return func() error {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &sha256Reader{rc: r.Body, h: sha256.New(), want: want, expect: r.ContentLength}
			return nil
		}
		if hex.EncodeToString(want) != EmptySHA256 {
			return sha256Mismatch(EmptySHA256)
		}
		return nil
	}
}

// isBase64SHA256 reports whether s is a SHA-256 in standard base64.
func isBase64SHA256(s string) bool {
	if len(s) != 44 {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// hashBody reads the body (at most MaxBufferedPayload bytes), puts it back
// and returns its hex SHA-256.
func (s *Service) hashBody(r *http.Request) (string, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return EmptySHA256, nil
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxBufferedPayload+1))
	r.Body.Close()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrIncompleteBody, err)
	}
	if int64(len(data)) > s.cfg.MaxBufferedPayload {
		return "", fmt.Errorf("%w: a body without x-amz-content-sha256 may have at most %d bytes", ErrEntityTooLarge, s.cfg.MaxBufferedPayload)
	}
	r.Body = io.NopCloser(bytes.NewReader(data))
	return hexSHA256(data), nil
}

// canonicalHeaders returns "name:value\n" for each signed header, values
// trimmed, inner runs of spaces collapsed, repeated headers joined by ",".
func canonicalHeaders(r *http.Request, names []string) string {
	var b strings.Builder
	for _, name := range names {
		var values []string
		switch name {
		case "host":
			h := r.Host
			if h == "" {
				h = r.URL.Host
			}
			values = []string{h}
		default:
			values = r.Header[textproto.CanonicalMIMEHeaderKey(name)]
			if len(values) == 0 {
				switch name {
				case "content-length":
					if r.ContentLength >= 0 {
						values = []string{strconv.FormatInt(r.ContentLength, 10)}
					}
				case "transfer-encoding":
					values = []string{strings.Join(r.TransferEncoding, ",")}
				}
			}
		}
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range values {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strings.Join(strings.Fields(v), " "))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// canonicalQuery decodes the raw query and re-encodes it the SigV4 way:
// names and values URI-encoded (RFC 3986 unreserved characters kept, space
// as %20), sorted by name then value. A presigned request's X-Amz-Signature
// is left out.
func canonicalQuery(raw string, presigned bool) (string, error) {
	if raw == "" {
		return "", nil
	}
	type kv struct{ k, v string }
	var pairs []kv
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		var err error
		if k, err = url.QueryUnescape(k); err != nil {
			return "", fmt.Errorf("query: %w", err)
		}
		if v, err = url.QueryUnescape(v); err != nil {
			return "", fmt.Errorf("query: %w", err)
		}
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, kv{uriEncode(k, false), uriEncode(v, false)})
	}
	slices.SortFunc(pairs, func(a, b kv) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String(), nil
}

// canonicalURIs returns the canonical URIs to try. For S3 the path is
// URI-encoded once (the decoded path re-encoded the AWS way, and, if it
// differs, the path exactly as the client sent it, for clients that
// escape a character differently). Other services encode the sent path
// again (double encoding), as the AWS SDKs do.
func canonicalURIs(r *http.Request, service string) []string {
	sent := r.RequestURI
	if i := strings.IndexByte(sent, '?'); i >= 0 {
		sent = sent[:i]
	}
	if sent == "" || sent[0] != '/' {
		sent = r.URL.EscapedPath() // absolute-form or a request built in-process
	}
	if sent == "" {
		sent = "/"
	}
	if service != "s3" {
		return []string{uriEncode(sent, true)}
	}
	p := r.URL.Path
	if p == "" {
		p = "/"
	}
	c := uriEncode(p, true)
	if c == sent {
		return []string{c}
	}
	return []string{c, sent}
}

// uriEncode encodes every byte except A-Z a-z 0-9 - _ . ~ (and / when
// keepSlash) as %XX with upper-case hex.
func uriEncode(s string, keepSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i], keepSlash) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c, keepSlash) {
			b = append(b, c)
		} else {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return string(b)
}

func unreserved(c byte, keepSlash bool) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~' || keepSlash && c == '/'
}

func signingKey(secret string, c credential) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), c.Date)
	k = hmacSHA256(k, c.Region)
	k = hmacSHA256(k, c.Service)
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func hexSHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// sha256Reader passes the body through and checks its SHA-256 when the end
// (EOF or Content-Length bytes) is reached.
type sha256Reader struct {
	rc      io.ReadCloser
	h       hash.Hash
	want    []byte
	expect  int64 // Content-Length, or -1
	n       int64
	checked bool
	err     error
}

func (s *sha256Reader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.rc.Read(p)
	s.h.Write(p[:n])
	s.n += int64(n)
	if !s.checked && (err == io.EOF || s.expect >= 0 && s.n == s.expect) {
		s.checked = true
		if !bytes.Equal(s.h.Sum(nil), s.want) {
			s.err = fmt.Errorf("cannot read body: %w", sha256Mismatch(hex.EncodeToString(s.h.Sum(nil))))
			return n, s.err
		}
	}
	return n, err
}

func (s *sha256Reader) Close() error { return s.rc.Close() }

// bufioReaderSize is the read buffer of the aws-chunked decoder.
const bufioReaderSize = 64 << 10

// activeKey reads a key for authentication: as IAM has it, an inactive key
// is not a valid key, whatever its signature or token.
func (s *Service) activeKey(ctx context.Context, id string) (Key, error) {
	k, err := getKey(ctx, s.db.SQL(), id)
	if err == nil && k.Inactive {
		return Key{}, ErrNoSuchKey
	}
	return k, err
}
