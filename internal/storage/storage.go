// Package storage defines tarn's object store: an S3-shaped interface over
// buckets and keys, addressed by s3://bucket/key URIs. The filesystem backend
// (storage/fs) is the default; an S3/MinIO backend can sit behind the same
// interface. Backends prove they agree by passing storagetest.Run.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors. Backends wrap them with %w so callers test with errors.Is and
// front ends map them to S3 error codes in one place.
var (
	ErrNoSuchBucket      = errors.New("no such bucket")
	ErrNoSuchKey         = errors.New("no such key")
	ErrBucketExists      = errors.New("bucket already exists")
	ErrBucketNotEmpty    = errors.New("bucket is not empty")
	ErrInvalidBucketName = errors.New("invalid bucket name")
	ErrInvalidKey        = errors.New("invalid object key")
	ErrInvalidRange      = errors.New("invalid range")
	ErrInvalidURI        = errors.New("invalid s3 URI")
	ErrBadDigest         = errors.New("content MD5 does not match")
	// ErrPreconditionFailed: a put's IfMatch or IfNoneMatch did not hold.
	ErrPreconditionFailed = errors.New("precondition failed")

	// ErrKeyTooLong is an ErrInvalidKey: a key over MaxKeyLength bytes, or
	// one with a segment over MaxKeySegmentLength bytes (S3's
	// KeyTooLongError).
	ErrKeyTooLong = fmt.Errorf("%w: key too long", ErrInvalidKey)

	// Versioning (see Versioned).
	ErrNoSuchVersion        = errors.New("no such version")
	ErrInvalidVersionID     = errors.New("invalid version id")
	ErrDeleteMarker         = errors.New("the version is a delete marker")
	ErrInvalidVersioning    = errors.New("invalid versioning state")
	ErrVersioningNotAllowed = errors.New("versioning cannot be turned off once enabled")
)

// MaxKeyLength is S3's limit on a key's length in bytes.
const MaxKeyLength = 1024

// MaxKeySegmentLength bounds each "/"-separated segment of a key, in bytes.
// S3 has no such limit, but the lake keeps each object as a file at the
// path its key names, so that other engines read it in place, and
// filesystems cap a file or folder name at 255 bytes (NAME_MAX). Every
// backend applies it, so that a lake can move between them.
const MaxKeySegmentLength = 255

// BucketInfo describes one bucket.
type BucketInfo struct {
	Name      string
	CreatedAt time.Time
}

// ObjectInfo describes one object. ETag is the hex MD5 of the content for
// objects written in one piece (without quotes).
type ObjectInfo struct {
	Bucket       string
	Key          string
	Size         int64
	ETag         string
	LastModified time.Time
	ContentType  string
	Metadata     map[string]string
	// VersionID is the object's version in a bucket that is or was versioned
	// ("null" for versions written while versioning was suspended); empty for
	// objects written while the bucket was unversioned.
	VersionID string
	// IsDeleteMarker is set for the delete markers of ListVersions.
	IsDeleteMarker bool
	// Checksum is the additional checksum the object was written with,
	// if any (S3's x-amz-checksum-*).
	Checksum Checksum
	// Headers are the HTTP headers the object is served with besides its
	// content type (Cache-Control, Content-Disposition, Content-Encoding,
	// Content-Language, Expires), by canonical name.
	Headers map[string]string
	// Tags are the object's tags (S3 object tagging).
	Tags map[string]string
	// PartSizes are the sizes of the parts of an object completed from a
	// multipart upload, in order; nil for other objects.
	PartSizes []int64
}

// ErrNoSuchBucketConfig: a bucket has no document of that name.
var ErrNoSuchBucketConfig = errors.New("no such bucket configuration")

// BucketConfigs is implemented by stores that keep documents about a
// bucket (its tags, its ownership controls: S3 sub-resources) as they
// were given. They go with the bucket.
type BucketConfigs interface {
	// BucketConfig returns the document stored under name (letters
	// only), or ErrNoSuchBucketConfig.
	BucketConfig(ctx context.Context, bucket, name string) ([]byte, error)
	// SetBucketConfig stores data under name, or removes the document
	// if data is nil (removing a missing one is not an error).
	SetBucketConfig(ctx context.Context, bucket, name string, data []byte) error
}

// Tagger is implemented by stores that keep object tags (S3 object
// tagging) besides those given at a put (PutOptions.Tags).
type Tagger interface {
	// SetTags replaces the tags of an object, or of one of its versions
	// (versionID "" is the current object), and returns the version id
	// tagged. It changes nothing else of the object. A missing object or
	// version fails as Head or HeadVersion does.
	SetTags(ctx context.Context, bucket, key, versionID string, tags map[string]string) (string, error)
}

// Checksum is an S3 additional checksum of a whole object: Algorithm is
// one of CRC32, CRC32C, CRC64NVME, SHA1, SHA256 (as S3 names them) and
// Value the checksum's bytes in base64. The store keeps it as given; the
// front end that received the bytes verified it.
type Checksum struct {
	Algorithm string `json:"algorithm,omitempty"`
	Value     string `json:"value,omitempty"`
	// Type is S3's checksum type: FULL_OBJECT (a checksum of the bytes;
	// "" means that too) or COMPOSITE (a completed multipart upload's
	// checksum of its parts' checksums, the value ending in -N).
	Type string `json:"type,omitempty"`
}

// URI returns the object's s3:// address.
func (o ObjectInfo) URI() string { return URI{Bucket: o.Bucket, Key: o.Key}.String() }

// PutOptions are optional attributes of a new object.
type PutOptions struct {
	ContentType string
	Metadata    map[string]string
	// ContentMD5, when set, is checked against the received bytes; a mismatch
	// fails the put with ErrBadDigest and leaves any previous object in place.
	ContentMD5 []byte
	// ETag, when set, is recorded instead of the content's MD5: a completed
	// multipart upload's "md5-of-md5s-N". The content is then not hashed.
	ETag string
	// Checksum, when set, is recorded with the object (it is not checked
	// here).
	Checksum Checksum
	// Headers are recorded with the object (see ObjectInfo.Headers).
	Headers map[string]string `json:",omitempty"`
	// Tags are recorded with the object (see ObjectInfo.Tags).
	Tags map[string]string `json:",omitempty"`
	// PartSizes are recorded with the object (see ObjectInfo.PartSizes).
	PartSizes []int64 `json:",omitempty"`
	// IfMatch, when set, is the ETag the current object must have for the
	// put to replace it (ErrPreconditionFailed if another, ErrNoSuchKey
	// if there is none); IfNoneMatch makes the put fail with
	// ErrPreconditionFailed if the key has a current object. Both are
	// checked at the commit, atomically with it.
	IfMatch     string `json:"-"`
	IfNoneMatch bool   `json:"-"`
	// ChecksumFrom, when set, is called by Put once the body has been
	// read to its end, before the object is committed, and its result is
	// recorded instead of Checksum: the checksum of a body is known only
	// once the body is read (the reader verified it).
	ChecksumFrom func() Checksum `json:"-"`
}

// Range selects bytes [Offset, Offset+Length) of an object; Length < 0 means
// "to the end". A Range with Offset < 0 selects the last -Offset bytes (a
// suffix range, bytes=-N in HTTP).
type Range struct {
	Offset int64
	Length int64
}

// ListOptions mirror ListObjectsV2.
type ListOptions struct {
	Prefix    string
	Delimiter string
	// StartAfter lists keys strictly after this key. If it is a common
	// prefix of this listing (Prefix, then anything up to and including
	// the first Delimiter), every key under it is skipped too: the prefix
	// is not listed again.
	StartAfter string
	// ContinuationToken resumes a previous truncated listing: it is the
	// NextContinuationToken of that page, which is the last key or common
	// prefix it returned (or passed over), and is read as StartAfter is.
	// With both, the listing starts after the later of the two.
	ContinuationToken string
	// MaxKeys bounds Objects+CommonPrefixes; 0 means 1000.
	MaxKeys int
}

// IsCommonPrefix reports whether s is a common prefix of a listing with
// these options: Prefix, then anything up to and including the first
// Delimiter after it.
func (o ListOptions) IsCommonPrefix(s string) bool {
	if o.Delimiter == "" || !strings.HasPrefix(s, o.Prefix) {
		return false
	}
	rest := s[len(o.Prefix):]
	i := strings.Index(rest, o.Delimiter)
	return i >= 0 && i+len(o.Delimiter) == len(rest)
}

// ResumeAfter returns where a listing starts: strictly after after, and
// after every key under it as well if isPrefix (it is a common prefix of
// the listing). It is the later of StartAfter and ContinuationToken.
func (o ListOptions) ResumeAfter() (after string, isPrefix bool) {
	a, ap := o.StartAfter, o.IsCommonPrefix(o.StartAfter)
	t, tp := o.ContinuationToken, o.IsCommonPrefix(o.ContinuationToken)
	switch {
	case t == "":
		return a, ap
	case tp && strings.HasPrefix(a, t):
		return t, true // a lies under the prefix t skips
	case ap && strings.HasPrefix(t, a):
		return a, true
	case t > a:
		return t, tp
	}
	return a, ap
}

// ListResult is one page of a listing. Objects and CommonPrefixes are each in
// byte order of keys. NextContinuationToken, set when IsTruncated, is the
// last key or common prefix the page returned or passed over (a store may
// skip keys it cannot address), so that a client may read it as a key.
type ListResult struct {
	Objects               []ObjectInfo
	CommonPrefixes        []string
	IsTruncated           bool
	NextContinuationToken string
}

// ObjectStore is an S3-shaped object store. Implementations are safe for
// concurrent use. A Put is atomic: readers see the old object or the new one,
// never part of one. Get's reader must be closed by the caller.
type ObjectStore interface {
	CreateBucket(ctx context.Context, bucket string) error
	// DeleteBucket removes an empty bucket; ErrBucketNotEmpty otherwise.
	DeleteBucket(ctx context.Context, bucket string) error
	HeadBucket(ctx context.Context, bucket string) (BucketInfo, error)
	ListBuckets(ctx context.Context) ([]BucketInfo, error)

	Put(ctx context.Context, bucket, key string, r io.Reader, opts PutOptions) (ObjectInfo, error)
	// Get returns the object's content (or the requested range of it).
	Get(ctx context.Context, bucket, key string, rng *Range) (io.ReadCloser, ObjectInfo, error)
	Head(ctx context.Context, bucket, key string) (ObjectInfo, error)
	// Delete removes an object; deleting a missing key is not an error (S3).
	Delete(ctx context.Context, bucket, key string) error
	Copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) (ObjectInfo, error)
	List(ctx context.Context, bucket string, opts ListOptions) (ListResult, error)

	Close() error
}

// LocalPather is implemented by stores whose objects are plain local files, so
// the engine can read them in place. The path must only be read.
type LocalPather interface {
	LocalPath(bucket, key string) (string, error)
}

// Importer is implemented by stores that can take over a local file as an
// object without copying it (a rename on the same filesystem). The file is
// consumed: on success it no longer exists at path.
type Importer interface {
	Import(ctx context.Context, bucket, key, path string, opts PutOptions) (ObjectInfo, error)
}

// Stager is implemented by local stores that can give a writer a folder for
// a prefix (such as <target>/_staging/<run>/) on the store's own filesystem,
// so files written there are Imported with a rename. The folder is created;
// the caller removes it when done.
type Stager interface {
	StagingDir(ctx context.Context, bucket, prefix string) (string, error)
}

// Bucket versioning states, as S3 names them.
const (
	VersioningUnversioned = "" // never enabled (S3 omits the status)
	VersioningEnabled     = "Enabled"
	VersioningSuspended   = "Suspended"
)

// NullVersionID is the version id of objects written while a bucket was
// unversioned or had versioning suspended.
const NullVersionID = "null"

// Versioned is implemented by stores that keep S3 bucket versioning. With
// versioning Enabled, every Put, Copy, Import (and so completed multipart
// upload) keeps the object it replaces as a noncurrent version and returns the
// new version's id in ObjectInfo.VersionID; Delete adds a delete marker, after
// which Get and Head fail with ErrNoSuchKey (wrapped in a *DeleteMarkerError)
// and List hides the key. With versioning Suspended, new versions and delete
// markers get the id "null" and replace an earlier "null" version. Unversioned
// buckets behave as if Versioned did not exist.
//
// Version ids are opaque strings: "null" or what the store generated.
// Malformed ids fail with ErrInvalidVersionID, unknown ones with
// ErrNoSuchVersion. Get's reader must be closed by the caller.
type Versioned interface {
	// SetVersioning sets a bucket's state to VersioningEnabled or
	// VersioningSuspended; a versioned bucket cannot become unversioned again
	// (ErrVersioningNotAllowed).
	SetVersioning(ctx context.Context, bucket, state string) error
	// Versioning returns the bucket's state (VersioningUnversioned if never set).
	Versioning(ctx context.Context, bucket string) (string, error)
	// ListVersions lists the versions and delete markers of keys in key
	// order, each key's newest first (ListObjectVersions).
	ListVersions(ctx context.Context, bucket string, opts VersionListOptions) (VersionListResult, error)
	// GetVersion reads one version ("" means the current object, as Get).
	// A delete marker fails with a *DeleteMarkerError wrapping ErrDeleteMarker.
	GetVersion(ctx context.Context, bucket, key, versionID string, rng *Range) (io.ReadCloser, ObjectInfo, error)
	// HeadVersion describes one version, failing as GetVersion does.
	HeadVersion(ctx context.Context, bucket, key, versionID string) (ObjectInfo, error)
	// DeleteVersion removes one version for good. Removing the current
	// version or the delete marker at the top makes the next newest version
	// current again (restores it), if it is an object. With versionID "",
	// it deletes the key as Delete does and reports the delete marker
	// created, if any. A version that does not exist is not an error.
	DeleteVersion(ctx context.Context, bucket, key, versionID string) (DeleteResult, error)
}

// ConditionalDeleter is implemented by stores that can check a condition
// on what a delete removes atomically with the delete (S3's conditional
// DeleteObject: If-Match, x-amz-if-match-size, …).
type ConditionalDeleter interface {
	// DeleteIf deletes as Versioned.DeleteVersion (or Delete, for
	// versionID "") does, if cond, called with the object or version the
	// delete names (ok false if there is none, or it is a delete
	// marker), returns nil; cond's error is returned and nothing
	// changes otherwise. No write to the key comes between the call of
	// cond and the delete.
	DeleteIf(ctx context.Context, bucket, key, versionID string, cond func(info ObjectInfo, ok bool) error) (DeleteResult, error)
}

// DeleteMarkerError says that a key's newest version, or the version asked
// for, is a delete marker. It wraps ErrNoSuchKey (Get or Head of the key) or
// ErrDeleteMarker (GetVersion or HeadVersion of the marker).
type DeleteMarkerError struct {
	VersionID string
	Err       error
}

func (e *DeleteMarkerError) Error() string {
	return fmt.Sprintf("%v (delete marker %s)", e.Err, e.VersionID)
}

func (e *DeleteMarkerError) Unwrap() error { return e.Err }

// DeleteResult is what a Versioned delete did: VersionID is the version
// removed or the delete marker created; DeleteMarker is set if that version
// is a delete marker.
type DeleteResult struct {
	VersionID    string
	DeleteMarker bool
}

// VersionListOptions mirror ListObjectVersions.
type VersionListOptions struct {
	Prefix    string
	Delimiter string
	// KeyMarker lists keys after this one; with VersionIDMarker, the listing
	// resumes after that version of KeyMarker instead.
	KeyMarker       string
	VersionIDMarker string
	// MaxKeys bounds Versions+CommonPrefixes; 0 means 1000.
	MaxKeys int
}

// ObjectVersion is one version or delete marker of a key.
type ObjectVersion struct {
	ObjectInfo
	IsLatest bool
}

// VersionListResult is one page of ListVersions. When IsTruncated, the next
// page starts at NextKeyMarker and NextVersionIDMarker.
type VersionListResult struct {
	Versions            []ObjectVersion
	CommonPrefixes      []string
	IsTruncated         bool
	NextKeyMarker       string
	NextVersionIDMarker string
}

// Walk lists every object under prefix (no delimiter), paging through List.
func Walk(ctx context.Context, s ObjectStore, bucket, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		opts := ListOptions{Prefix: prefix, MaxKeys: 1000}
		for {
			res, err := s.List(ctx, bucket, opts)
			if err != nil {
				yield(ObjectInfo{}, err)
				return
			}
			for _, o := range res.Objects {
				if !yield(o, nil) {
					return
				}
			}
			if !res.IsTruncated {
				return
			}
			opts.ContinuationToken = res.NextContinuationToken
		}
	}
}

// URI is an s3://bucket/key address. Key may be empty (the bucket) or end in
// "/" (a prefix).
type URI struct {
	Bucket string
	Key    string
}

func (u URI) String() string { return "s3://" + u.Bucket + "/" + u.Key }

// Join appends a path below the URI's key, adding one "/" between them.
func (u URI) Join(elem string) URI {
	k := u.Key
	if k != "" && !strings.HasSuffix(k, "/") {
		k += "/"
	}
	return URI{Bucket: u.Bucket, Key: k + strings.TrimPrefix(elem, "/")}
}

// Dir returns the URI as a prefix: its key ends in "/" unless it is empty.
func (u URI) Dir() URI {
	if u.Key != "" && !strings.HasSuffix(u.Key, "/") {
		return URI{Bucket: u.Bucket, Key: u.Key + "/"}
	}
	return u
}

// ParseURI parses s3://bucket/key (s3a:// and s3n:// are accepted as Hadoop
// tools write them). The bucket name and key are validated.
func ParseURI(s string) (URI, error) {
	rest, ok := "", false
	for _, scheme := range []string{"s3://", "s3a://", "s3n://"} {
		if strings.HasPrefix(s, scheme) {
			rest, ok = strings.TrimPrefix(s, scheme), true
			break
		}
	}
	if !ok {
		return URI{}, fmt.Errorf("%w %q: want s3://bucket/key", ErrInvalidURI, s)
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if err := ValidateBucketName(bucket); err != nil {
		return URI{}, fmt.Errorf("%w %q: %w", ErrInvalidURI, s, err)
	}
	if key != "" {
		if err := ValidateKey(key); err != nil {
			return URI{}, fmt.Errorf("%w %q: %w", ErrInvalidURI, s, err)
		}
	}
	return URI{Bucket: bucket, Key: key}, nil
}

// ValidateBucketName applies S3's bucket naming rules: 3-63 characters of
// lowercase letters, digits, '.', '-', starting and ending with a letter or digit.
func ValidateBucketName(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("%w %q: must be 3 to 63 characters long", ErrInvalidBucketName, b)
	}
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.'
		if !ok {
			return fmt.Errorf("%w %q: only lowercase letters, digits, '.' and '-' are allowed", ErrInvalidBucketName, b)
		}
		if (i == 0 || i == len(b)-1) && (c == '-' || c == '.') {
			return fmt.Errorf("%w %q: must start and end with a letter or digit", ErrInvalidBucketName, b)
		}
	}
	if strings.Contains(b, "..") {
		return fmt.Errorf("%w %q: must not contain \"..\"", ErrInvalidBucketName, b)
	}
	if ip := net.ParseIP(b); ip != nil && ip.To4() != nil {
		// S3 refuses names that look like an IP address: a host name
		// bucket.endpoint could not be told from an address.
		return fmt.Errorf("%w %q: must not be formatted as an IP address", ErrInvalidBucketName, b)
	}
	return nil
}

// PrefixOfKeys reports whether a valid key can start with prefix: the
// folder it ends in (up to its last "/") must be a valid key itself, so a
// prefix starting with "/" or with an empty, "." or ".." segment matches
// nothing (a store's listing of it is empty, whatever its backend says).
func PrefixOfKeys(prefix string) bool {
	folder := prefix[:strings.LastIndexByte(prefix, '/')+1]
	return folder == "" || ValidateKey(folder) == nil
}

// ValidateKey refuses keys that S3 allows but that could escape a bucket on a
// filesystem or cannot be stored as a path: empty keys, keys over 1024 bytes
// or with a segment over 255 bytes (ErrKeyTooLong), invalid UTF-8, NUL,
// absolute paths, empty, "." and ".." segments. A backslash is a character
// like any other, as in S3 (a store on a system where it separates paths
// must keep such keys some other way or refuse them).
func ValidateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: key is empty", ErrInvalidKey)
	case len(key) > MaxKeyLength:
		return fmt.Errorf("%w: key is %d bytes, the limit is %d", ErrKeyTooLong, len(key), MaxKeyLength)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w %q: key is not valid UTF-8", ErrInvalidKey, key)
	case strings.ContainsRune(key, 0):
		return fmt.Errorf("%w %q: key contains a NUL byte", ErrInvalidKey, key)
	case strings.HasPrefix(key, "/"):
		return fmt.Errorf("%w %q: key must not start with \"/\"", ErrInvalidKey, key)
	}
	segs := strings.Split(strings.TrimSuffix(key, "/"), "/")
	for _, s := range segs {
		switch s {
		case "":
			return fmt.Errorf("%w %q: key has an empty path segment (\"//\")", ErrInvalidKey, key)
		case ".", "..":
			return fmt.Errorf("%w %q: key has a %q path segment", ErrInvalidKey, key, s)
		}
		if len(s) > MaxKeySegmentLength {
			return fmt.Errorf("%w: a segment of the key (between slashes) is %d bytes, the limit is %d", ErrKeyTooLong, len(s), MaxKeySegmentLength)
		}
	}
	return nil
}
