// Package s3store keeps tarn's buckets and objects in an external S3 store
// (AWS S3, MinIO, Ceph, R2, versitygw…) through aws-sdk-go-v2. It
// implements storage.ObjectStore, storage.Tagger and storage.BucketConfigs
// and passes the storage conformance suite (storagetest).
//
// # Layout
//
// The store is given one external bucket and a prefix in it (what an
// operator can usually grant) and keeps everything below that prefix:
//
//	<prefix><bucket>/<key>              the object <key> of tarn bucket <bucket>
//	<prefix>.tarn/buckets/<bucket>      a tarn bucket exists (empty marker)
//	<prefix>.tarn/config/<bucket>/<name> a bucket's documents (BucketConfigs)
//	<prefix>.tarn/tmp/<random>          large puts being staged (see Put)
//	<prefix>.tarn/meta/<sha256>         metadata too large for an object's headers
//
// Objects are stored byte for byte under their own key, so other engines
// (Spark, Trino, DuckDB with httpfs, the aws CLI) read the lake in place at
// s3://<external bucket>/<prefix><bucket>/<key>. Tarn bucket names cannot
// start with ".", so ".tarn/" never collides with a bucket.
//
// # Object attributes
//
// What tarn keeps about an object besides its bytes (its ETag as tarn
// computed it, user metadata, checksum, response headers, tags, part
// sizes) is one JSON document, base64url-encoded into the external
// object's user metadata "x-amz-meta-tarn"; the content type is the
// object's own Content-Type. Keeping it on the object, not in a sidecar
// object, makes a put, overwrite, copy or delete one atomic operation of
// the external store: a reader never sees the bytes of one version with
// the attributes of another. Only a document over MaxInlineMetadata bytes
// (S3 caps user metadata at 2 KB) goes to an immutable sidecar object
// named by its SHA-256 (.tarn/meta/), which the object's metadata names
// ("x-amz-meta-tarn-ref"); sidecars are never rewritten, so the pointer
// and the document cannot disagree either (sidecars of overwritten
// objects are left behind: they are small and rare).
//
// Objects written behind tarn's back (no document) are served with the
// external store's ETag, Content-Type and user metadata.
//
// # Consistency
//
// The store relies on strong read-after-write consistency for puts,
// deletes and listings, which AWS S3 has had since December 2020 (and
// MinIO, Ceph RGW, R2 and versitygw have too), and on conditional writes
// (If-None-Match / If-Match on PutObject and CompleteMultipartUpload,
// AWS since 2024) for conditional puts and for creating buckets.
//
// # Limits
//
// The external key is <prefix><bucket>/<key>, and S3 caps keys at 1024
// bytes: a tarn key may have at most 1024-len(prefix)-len(bucket)-1 bytes
// (ErrKeyTooLong beyond). The external store's own rules also apply: on a
// filesystem-backed store (versitygw's POSIX backend) "a" and "a/b" cannot
// both be objects. Bucket versioning is not offered (storage.Versioned is
// not implemented): an external bucket's versioning covers all of tarn's
// buckets at once.
package s3store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tarn-lake/tarn/internal/storage"
)

// Errors of the external store that tarn's storage errors do not cover.
var (
	// ErrAccessDenied: the external store refused the credentials or the
	// request (wrong keys, a signature that does not match, no right on
	// the bucket or prefix).
	ErrAccessDenied = errors.New("the external S3 store denied access")
	// ErrNoExternalBucket: the external bucket the store was given does
	// not exist.
	ErrNoExternalBucket = errors.New("the external S3 bucket does not exist")
	// ErrInvalidConfig: the store's URL or Config is wrong.
	ErrInvalidConfig = errors.New("invalid S3 storage configuration")
	// ErrKeyConflict: the external store keeps objects as files in
	// folders (versitygw's POSIX backend) and cannot keep a key both as an
	// object and as a folder of objects ("a" and "a/b"), or delete a
	// folder object ("a/") while keys below it exist.
	ErrKeyConflict = errors.New("the external store cannot keep a key both as an object and as a folder of objects")
)

// Defaults.
const (
	DefaultPartSize    = 8 << 20
	DefaultConcurrency = 4
	// DefaultBucketCacheTTL: see Config.BucketCacheTTL.
	DefaultBucketCacheTTL = 5 * time.Second
	// MaxInlineMetadata bounds the encoded attribute document kept in the
	// object's own metadata; larger ones go to a sidecar object.
	MaxInlineMetadata = 1800
	// maxCopySize is S3's limit for a single CopyObject.
	maxCopySize = 5 << 30
)

// Config says which external store and where in it.
type Config struct {
	// Bucket is the external bucket; it must exist.
	Bucket string
	// Prefix is where in Bucket tarn keeps everything: "" or a path
	// ending in "/" (one is added if missing).
	Prefix string
	// Endpoint is the store's URL (http://127.0.0.1:7070); empty means
	// AWS S3 in Region.
	Endpoint string
	// Region of the store; empty means the AWS chain's (AWS_REGION, the
	// profile), else us-east-1.
	Region string
	// PathStyle addresses the bucket in the URL path (http://host/bucket/key)
	// instead of the host name, as MinIO, Ceph and versitygw want.
	PathStyle bool
	// AccessKey and SecretKey (and SessionToken) are explicit credentials;
	// empty means the standard AWS chain (environment, shared files,
	// profile, web identity, container and instance roles).
	AccessKey    string
	SecretKey    string
	SessionToken string `json:"-"`
	// Profile names a shared-config profile for the AWS chain.
	Profile string
	// PartSize is the size of the parts of multipart uploads (at least
	// 5 MiB, the S3 minimum); bodies up to PartSize are sent in one
	// PutObject. 0 means DefaultPartSize.
	PartSize int64
	// Concurrency is how many parts of one upload are sent at once; 0
	// means DefaultConcurrency. Memory used by one put is at most
	// (Concurrency+1)*PartSize.
	Concurrency int
	// MaxBufferedParts bounds the part buffers all puts of the store hold
	// beyond the first two of each (which every long put has, so that
	// puts cannot wait on each other); 0 means 4*Concurrency.
	MaxBufferedParts int
	// BucketCacheTTL is how long a put, delete or copy trusts that a
	// bucket it saw exists without asking the store again (one HEAD
	// fewer per write); a bucket this store deletes is forgotten at once,
	// one another server deletes after at most this long. 0 means
	// DefaultBucketCacheTTL; negative means always ask.
	BucketCacheTTL time.Duration
	// HTTPClient, if set, sends the requests (tests count them).
	HTTPClient *http.Client `json:"-"`
}

// ParseURL parses an s3:// storage URL:
//
//	s3://bucket[/prefix/][?endpoint=URL][&region=R][&path_style=true]
//	                     [&profile=P][&part_size=BYTES][&concurrency=N]
//
// Credentials are not taken from URLs (they would end up in logs and
// process lists): they come from the standard AWS chain (AWS_ACCESS_KEY_ID
// and AWS_SECRET_ACCESS_KEY, shared files, roles) or from Config.AccessKey
// and SecretKey set by the caller.
func ParseURL(s string) (Config, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if u.Scheme != "s3" || u.Host == "" {
		return Config{}, fmt.Errorf("%w %q: want s3://bucket/prefix?endpoint=...", ErrInvalidConfig, s)
	}
	if u.User != nil {
		return Config{}, fmt.Errorf("%w %q: credentials do not go into the URL; use the AWS environment or flags", ErrInvalidConfig, redact(u))
	}
	cfg := Config{Bucket: u.Host, Prefix: strings.TrimPrefix(u.Path, "/")}
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "endpoint":
			cfg.Endpoint = v
		case "region":
			cfg.Region = v
		case "profile":
			cfg.Profile = v
		case "path_style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Config{}, fmt.Errorf("%w: path_style=%q is not true or false", ErrInvalidConfig, v)
			}
			cfg.PathStyle = b
		case "part_size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < storage.MinPartSize || n > storage.MaxPartSize {
				return Config{}, fmt.Errorf("%w: part_size=%q must be a number of bytes between %d and %d", ErrInvalidConfig, v, storage.MinPartSize, int64(storage.MaxPartSize))
			}
			cfg.PartSize = n
		case "concurrency":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 64 {
				return Config{}, fmt.Errorf("%w: concurrency=%q must be between 1 and 64", ErrInvalidConfig, v)
			}
			cfg.Concurrency = n
		default:
			return Config{}, fmt.Errorf("%w: unknown parameter %q (want endpoint, region, path_style, profile, part_size, concurrency)", ErrInvalidConfig, k)
		}
	}
	return cfg, cfg.validate()
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

func (c *Config) validate() error {
	if err := storage.ValidateBucketName(c.Bucket); err != nil {
		return fmt.Errorf("%w: external bucket: %w", ErrInvalidConfig, err)
	}
	if c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	if c.Prefix != "" {
		if err := storage.ValidateKey(c.Prefix); err != nil {
			return fmt.Errorf("%w: prefix: %w", ErrInvalidConfig, err)
		}
		if len(c.Prefix) > 512 {
			return fmt.Errorf("%w: prefix %q is over 512 bytes, which leaves too little for keys", ErrInvalidConfig, c.Prefix)
		}
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: endpoint %q is not an http(s) URL", ErrInvalidConfig, c.Endpoint)
		}
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.PartSize < storage.MinPartSize || c.PartSize > storage.MaxPartSize {
		return fmt.Errorf("%w: part size %d is not between %d and %d", ErrInvalidConfig, c.PartSize, storage.MinPartSize, int64(storage.MaxPartSize))
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Concurrency < 1 {
		return fmt.Errorf("%w: concurrency %d", ErrInvalidConfig, c.Concurrency)
	}
	if c.BucketCacheTTL == 0 {
		c.BucketCacheTTL = DefaultBucketCacheTTL
	}
	if c.MaxBufferedParts == 0 {
		c.MaxBufferedParts = 4 * c.Concurrency
	}
	if c.MaxBufferedParts < 1 {
		return fmt.Errorf("%w: max buffered parts %d", ErrInvalidConfig, c.MaxBufferedParts)
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return fmt.Errorf("%w: give both the access key and the secret key, or neither", ErrInvalidConfig)
	}
	return nil
}

// Store is an ObjectStore over an external S3 bucket and prefix. It is
// safe for concurrent use.
type Store struct {
	cfg    Config
	client *s3.Client
	root   string    // cfg.Prefix
	bufs   sync.Pool // of PartSize buffers
	// smallBufs are the buffers a put reads first (smallBufSize).
	smallBufs sync.Pool
	// buffers is the budget of MaxBufferedParts.
	buffers chan struct{}
	// seen are the buckets known to exist, and when (BucketCacheTTL).
	seenMu sync.Mutex
	seen   map[string]time.Time
	closed sync.Once
}

var (
	_ storage.ObjectStore   = (*Store)(nil)
	_ storage.Tagger        = (*Store)(nil)
	_ storage.BucketConfigs = (*Store)(nil)
)

// Open parses url (see ParseURL) and opens the store. Credentials come
// from the AWS chain.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg)
}

// New opens the store and checks that the external bucket exists and the
// credentials are accepted (one HeadBucket), so a wrong configuration
// fails here with ErrAccessDenied or ErrNoExternalBucket rather than at
// the first request.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var opts []func(*awsconfig.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	if cfg.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(cfg.Profile))
	}
	if cfg.AccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot load AWS configuration: %w", ErrInvalidConfig, err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		if cfg.HTTPClient != nil {
			o.HTTPClient = cfg.HTTPClient
		}
		// Bodies are hashed by tarn (Content-MD5 on every put and part);
		// the SDK's extra CRC32 trailers are not needed, and not every
		// S3 store understands them.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	s := &Store{cfg: cfg, client: client, root: cfg.Prefix, buffers: make(chan struct{}, cfg.MaxBufferedParts), seen: map[string]time.Time{}}
	s.bufs.New = func() any { b := make([]byte, cfg.PartSize); return &b }
	s.smallBufs.New = func() any { b := make([]byte, smallBufSize); return &b }
	// A listing, not HeadBucket: its errors have a body that says what is
	// wrong (a HEAD's 404 or 403 does not), and the store needs the right.
	if _, err := listV2(ctx, client, &s3.ListObjectsV2Input{Bucket: aws.String(cfg.Bucket), Prefix: aws.String(cfg.Prefix), MaxKeys: aws.Int32(1)}); err != nil {
		return nil, fmt.Errorf("cannot open S3 storage s3://%s/%s at %s: %w", cfg.Bucket, cfg.Prefix, endpointName(cfg), mapErr(ctxErr(ctx, err)))
	}
	return s, nil
}

func endpointName(cfg Config) string {
	if cfg.Endpoint != "" {
		return cfg.Endpoint
	}
	return "AWS S3"
}

// Config returns the store's configuration (without the secret key).
func (s *Store) Config() Config {
	c := s.cfg
	c.SecretKey, c.SessionToken = "", ""
	return c
}

// Client returns the store's S3 client (for tools such as the cache that
// read the same store).
func (s *Store) Client() *s3.Client { return s.client }

// ExternalURI returns where an object lives in the external store, for
// engines that read it in place.
func (s *Store) ExternalURI(bucket, key string) string {
	return "s3://" + s.cfg.Bucket + "/" + s.objKey(bucket, key)
}

// Close releases nothing the SDK holds open beyond idle connections; it is
// idempotent.
func (s *Store) Close() error {
	s.closed.Do(func() {
		if s.cfg.HTTPClient != nil {
			s.cfg.HTTPClient.CloseIdleConnections()
		}
	})
	return nil
}

// --- keys --------------------------------------------------------------------

func (s *Store) objKey(bucket, key string) string  { return s.root + bucket + "/" + key }
func (s *Store) bucketPrefix(bucket string) string { return s.root + bucket + "/" }
func (s *Store) markerKey(bucket string) string    { return s.root + ".tarn/buckets/" + bucket }
func (s *Store) configPrefix(bucket string) string { return s.root + ".tarn/config/" + bucket + "/" }
func (s *Store) tmpKey(id string) string           { return s.root + ".tarn/tmp/" + id }
func (s *Store) sidecarKey(sum string) string      { return s.root + ".tarn/meta/" + sum }
func (s *Store) maxKeyLength(bucket string) int {
	return storage.MaxKeyLength - len(s.bucketPrefix(bucket))
}
func (s *Store) bucketsPrefix() string           { return s.root + ".tarn/buckets/" }
func (s *Store) externalBucket() *string         { return aws.String(s.cfg.Bucket) }
func (s *Store) ext(k string) (*string, *string) { return s.externalBucket(), aws.String(k) }
func (s *Store) copySource(extKey string) *string {
	return aws.String(s.cfg.Bucket + "/" + url.PathEscape(extKey))
}
func objName(bucket, key string) string { return "s3://" + bucket + "/" + key }
func bucketName(bucket string) string   { return "s3://" + bucket }
func opErr(verb, what string, err error) error {
	return fmt.Errorf("cannot %s %s: %w", verb, what, err)
}
func trimETag(e *string) string  { return strings.Trim(aws.ToString(e), `"`) }
func quoted(e string) *string    { return aws.String(`"` + e + `"`) }
func utc(t *time.Time) time.Time { return aws.ToTime(t).UTC() }
func toInt64(p *int64) int64     { return aws.ToInt64(p) }

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// MaxKeyLength returns the longest key bucket can hold here: S3's 1024
// bytes less the prefix, the bucket's name and a "/".
func (s *Store) MaxKeyLength(bucket string) int {
	return storage.MaxKeyLength - len(s.bucketPrefix(bucket))
}

// checkKey validates a bucket name and key and that the external key fits
// S3's limit.
func (s *Store) checkKey(bucket, key string) error {
	if err := storage.ValidateBucketName(bucket); err != nil {
		return err
	}
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	if max := s.MaxKeyLength(bucket); len(key) > max {
		return fmt.Errorf("%w: key is %d bytes; in this store (prefix %q, bucket %q) keys may have at most %d", storage.ErrKeyTooLong, len(key), s.root, bucket, max)
	}
	return nil
}
