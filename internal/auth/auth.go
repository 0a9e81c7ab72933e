// Package auth is tarn's access control: access keys stored in the metadata
// database, IAM-like JSON policies that say what a key may do, and AWS
// Signature Version 4 verification of incoming HTTP requests (Authorization
// header, presigned URLs and aws-chunked streaming payloads).
//
// There is no anonymous access: every request to the S3 endpoint or the REST
// API is authenticated with Service.Authenticate and every operation is
// checked with Principal.Authorize before it runs.
//
// # Secrets at rest
//
// SigV4 is a shared-secret scheme: to verify a signature the server must
// compute it, so it needs the secret access key itself, not a hash of it.
// Secrets are therefore stored retrievably in the auth_keys table of the
// metadata database (tarn.db), like MinIO and every other SigV4 server do.
// tarn.db (and its -wal and -shm files) and <home>/admin-key.json must be
// readable by the tarn user only (mode 0600); anyone who can read them can
// act as any key.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tarn-lake/tarn/internal/meta"
)

// Component is the name under which auth registers its migrations.
const Component = "auth"

// Environment variables that define the admin key (as MinIO's
// MINIO_ROOT_USER and MINIO_ROOT_PASSWORD do).
const (
	EnvAccessKeyID     = "TARN_ACCESS_KEY_ID"
	EnvSecretAccessKey = "TARN_SECRET_ACCESS_KEY"
)

// AdminKeyFile is the file, under Config.Home, where a generated admin key is
// written (mode 0600).
const AdminKeyFile = "admin-key.json"

// DefaultMaxSkew is how far a request's signing time may be from the server's
// clock, as in S3.
const DefaultMaxSkew = 15 * time.Minute

// DefaultMaxChunkSize bounds one aws-chunked chunk, which is held in memory
// until its signature is verified.
const DefaultMaxChunkSize = 16 << 20

// DefaultMaxBufferedPayload bounds the body that is read into memory to hash
// it when a non-S3 request (for example the REST API) has no
// x-amz-content-sha256 header.
const DefaultMaxBufferedPayload = 32 << 20

// Config configures the auth service.
type Config struct {
	// Home is tarn's data folder; a generated admin key is written to
	// <Home>/admin-key.json.
	Home string
	// AdminAccessKeyID and AdminSecretAccessKey, when both are set, define
	// the admin key. When both are empty, EnsureAdmin reads them from the
	// environment variables TARN_ACCESS_KEY_ID and TARN_SECRET_ACCESS_KEY.
	AdminAccessKeyID     string
	AdminSecretAccessKey string
	// MaxSkew is the allowed clock skew of signed requests (default 15m).
	MaxSkew time.Duration
	// MaxChunkSize bounds one aws-chunked chunk (default 16 MiB).
	MaxChunkSize int
	// MaxBufferedPayload bounds a body hashed in memory (default 32 MiB).
	MaxBufferedPayload int64
	// Now returns the current time; nil means time.Now. Tests set it to
	// verify requests signed at a fixed time.
	Now func() time.Time
	// KeyCacheTTL bounds how long a key is reused for authentication
	// without reading the database (default DefaultKeyCacheTTL; negative
	// disables the cache). Changes made through the Service apply at once
	// whatever the TTL; see DefaultKeyCacheTTL.
	KeyCacheTTL time.Duration
}

// DefaultConfig returns the configuration for a data folder.
func DefaultConfig(home string) Config {
	return Config{Home: home, MaxSkew: DefaultMaxSkew, MaxChunkSize: DefaultMaxChunkSize, MaxBufferedPayload: DefaultMaxBufferedPayload,
		KeyCacheTTL: DefaultKeyCacheTTL}
}

// Service manages access keys and authenticates requests. It is safe for
// concurrent use; it does not own the database and has nothing to close.
type Service struct {
	db   *meta.DB
	cfg  Config
	keys *keyCache
}

// New applies auth's migrations to db and returns the service.
func New(ctx context.Context, db *meta.DB, cfg Config) (*Service, error) {
	if db == nil {
		return nil, errors.New("cannot open auth: no metadata database")
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = DefaultMaxSkew
	}
	if cfg.MaxChunkSize <= 0 {
		cfg.MaxChunkSize = DefaultMaxChunkSize
	}
	if cfg.MaxBufferedPayload <= 0 {
		cfg.MaxBufferedPayload = DefaultMaxBufferedPayload
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.KeyCacheTTL == 0 {
		cfg.KeyCacheTTL = DefaultKeyCacheTTL
	}
	if err := db.Migrate(ctx, Component, Migrations); err != nil {
		return nil, fmt.Errorf("cannot open auth: %w", err)
	}
	// The cache's clock is the real one: cfg.Now may be frozen by tests,
	// which would make cached keys live for ever.
	return &Service{db: db, cfg: cfg, keys: newKeyCache(cfg.KeyCacheTTL, time.Now)}, nil
}

// Errors of key management.
var (
	// ErrNoSuchKey: no access key has this id.
	ErrNoSuchKey = errors.New("no such access key")
	// ErrKeyExists: an access key with this id or name exists already.
	ErrKeyExists = errors.New("access key exists")
	// ErrInvalidKey: an access key id, secret or name is not acceptable.
	ErrInvalidKey = errors.New("invalid access key")
	// ErrInvalidPolicy: a policy document is malformed; the message points
	// at the statement and field.
	ErrInvalidPolicy = errors.New("invalid policy")
)

// Errors of request authentication and authorization. S3ErrorCode maps each
// to its S3 error code and HTTP status.
var (
	// ErrAccessDenied: the key's policy does not allow the action.
	ErrAccessDenied = errors.New("access denied")
	// ErrMissingAuth: the request carries no credentials (no anonymous access).
	ErrMissingAuth = errors.New("request is not signed")
	// ErrUnsupportedAuth: the request uses another scheme than AWS4-HMAC-SHA256.
	ErrUnsupportedAuth = errors.New("authorization mechanism not supported, use AWS4-HMAC-SHA256")
	// ErrMultipleAuth: both an Authorization header and presign parameters.
	ErrMultipleAuth = errors.New("only one authentication mechanism is allowed")
	// ErrSignatureDoesNotMatch: the signature (of the request, a chunk or
	// the trailer) is not the one computed with the key's secret.
	ErrSignatureDoesNotMatch = errors.New("signature does not match")
	// ErrInvalidAccessKeyID: the credential names an unknown access key.
	ErrInvalidAccessKeyID = errors.New("access key id does not exist")
	// ErrRequestTimeTooSkewed: the signing time is too far from the server's clock.
	ErrRequestTimeTooSkewed = errors.New("request time too skewed")
	// ErrMissingSecurityHeader: a required header (x-amz-date,
	// x-amz-content-sha256, x-amz-decoded-content-length) is missing.
	ErrMissingSecurityHeader = errors.New("missing required header")
	// ErrExpiredPresign: a presigned URL has expired.
	ErrExpiredPresign = errors.New("request has expired")
	// ErrPresignNotYetValid: a presigned URL's X-Amz-Date is in the future.
	ErrPresignNotYetValid = errors.New("request is not valid yet")
	// ErrAuthorizationHeaderMalformed: the Authorization header (or its
	// credential scope) cannot be parsed.
	ErrAuthorizationHeaderMalformed = errors.New("authorization header malformed")
	// ErrAuthorizationQueryParametersError: presign query parameters are
	// missing or malformed.
	ErrAuthorizationQueryParametersError = errors.New("authorization query parameters error")
	// ErrContentSHA256Mismatch: the body does not hash to x-amz-content-sha256.
	ErrContentSHA256Mismatch = errors.New("x-amz-content-sha256 does not match the body")
	// ErrIncompleteBody: an aws-chunked body is truncated, malformed or does
	// not have x-amz-decoded-content-length bytes.
	ErrIncompleteBody = errors.New("incomplete or malformed body")
	// ErrBadDigest: a trailing checksum (x-amz-checksum-*) does not match.
	ErrBadDigest = errors.New("checksum does not match the body")
	// ErrMalformedTrailer: the trailer of an aws-chunked body is not
	// name:value lines, or names a checksum x-amz-trailer did not
	// announce.
	ErrMalformedTrailer = errors.New("malformed trailer")
	// ErrInvalidChecksum: a trailing checksum is not a value of its
	// algorithm (not base64, or of another length).
	ErrInvalidChecksum = errors.New("invalid checksum value")
	// ErrEntityTooLarge: a chunk or a buffered body exceeds the configured bound.
	ErrEntityTooLarge = errors.New("entity too large")
	// ErrInvalidArgument: the Authorization header's scheme or
	// x-amz-content-sha256 is not a value S3 accepts (S3's InvalidArgument,
	// which names the argument).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrMissingDate: the request has no valid x-amz-date or Date header.
	ErrMissingDate = errors.New("no valid x-amz-date or Date header")
	// ErrHeadersNotSigned: x-amz-* headers are present but not signed.
	ErrHeadersNotSigned = errors.New("headers present in the request are not signed")
	// ErrInvalidToken: a security token was given; tarn's keys are
	// permanent credentials and tarn issues no session tokens.
	ErrInvalidToken = errors.New("invalid security token")
	// ErrMissingContentLength: an aws-chunked body without a valid
	// x-amz-decoded-content-length.
	ErrMissingContentLength = errors.New("missing decoded content length")
	// ErrInvalidChunkSize: a chunk other than the last two of an
	// aws-chunked body is smaller than 8 KiB (S3's minimum).
	ErrInvalidChunkSize = errors.New("chunk smaller than 8 KiB before the last")
)

// S3ErrorCode maps an error of this package to the S3 error code and HTTP
// status the S3 endpoint answers with. Unknown errors are InternalError/500.
func S3ErrorCode(err error) (code string, httpStatus int) {
	switch {
	case err == nil:
		return "", http.StatusOK
	case errors.Is(err, ErrSignatureDoesNotMatch):
		return "SignatureDoesNotMatch", http.StatusForbidden
	case errors.Is(err, ErrInvalidAccessKeyID), errors.Is(err, ErrNoSuchKey):
		return "InvalidAccessKeyId", http.StatusForbidden
	case errors.Is(err, ErrRequestTimeTooSkewed):
		return "RequestTimeTooSkewed", http.StatusForbidden
	case errors.Is(err, ErrAccessDenied), errors.Is(err, ErrMissingAuth), errors.Is(err, ErrMissingDate), errors.Is(err, ErrHeadersNotSigned),
		errors.Is(err, ErrExpiredPresign), errors.Is(err, ErrPresignNotYetValid):
		return "AccessDenied", http.StatusForbidden
	case errors.Is(err, ErrMissingSecurityHeader):
		return "MissingSecurityHeader", http.StatusBadRequest
	case errors.Is(err, ErrAuthorizationHeaderMalformed):
		return "AuthorizationHeaderMalformed", http.StatusBadRequest
	case errors.Is(err, ErrAuthorizationQueryParametersError):
		return "AuthorizationQueryParametersError", http.StatusBadRequest
	case errors.Is(err, ErrUnsupportedAuth):
		return "InvalidRequest", http.StatusBadRequest
	case errors.Is(err, ErrMultipleAuth):
		return "InvalidArgument", http.StatusBadRequest
	case errors.Is(err, ErrContentSHA256Mismatch):
		return "XAmzContentSHA256Mismatch", http.StatusBadRequest
	case errors.Is(err, ErrIncompleteBody):
		return "IncompleteBody", http.StatusBadRequest
	case errors.Is(err, ErrBadDigest):
		return "BadDigest", http.StatusBadRequest
	case errors.Is(err, ErrMalformedTrailer):
		return "MalformedTrailerError", http.StatusBadRequest
	case errors.Is(err, ErrInvalidChecksum):
		return "InvalidRequest", http.StatusBadRequest
	case errors.Is(err, ErrEntityTooLarge):
		return "EntityTooLarge", http.StatusBadRequest
	case errors.Is(err, ErrInvalidArgument):
		return "InvalidArgument", http.StatusBadRequest
	case errors.Is(err, ErrInvalidToken):
		return "InvalidToken", http.StatusBadRequest
	case errors.Is(err, ErrMissingContentLength):
		return "MissingContentLength", http.StatusLengthRequired
	case errors.Is(err, ErrInvalidChunkSize):
		return "InvalidChunkSizeError", http.StatusBadRequest
	case errors.Is(err, ErrInvalidPolicy):
		return "MalformedPolicy", http.StatusBadRequest
	}
	return "InternalError", http.StatusInternalServerError
}
