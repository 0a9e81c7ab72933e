package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tarn-lake/tarn/internal/storage"
)

// mapErr maps an error of the external store onto tarn's storage errors,
// keeping the original in the chain.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var sentinel error
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound":
			sentinel = storage.ErrNoSuchKey
		case "NoSuchBucket":
			sentinel = ErrNoExternalBucket
		case "PreconditionFailed", "ConditionalRequestConflict":
			sentinel = storage.ErrPreconditionFailed
		case "InvalidRange":
			sentinel = storage.ErrInvalidRange
		case "AccessDenied", "InvalidAccessKeyId", "XAdminUserNotFound", "SignatureDoesNotMatch", "Forbidden", "InvalidToken", "ExpiredToken", "AccountProblem":
			sentinel = ErrAccessDenied
		case "KeyTooLongError":
			sentinel = storage.ErrKeyTooLong
		case "BadDigest", "InvalidDigest":
			sentinel = storage.ErrBadDigest
		case "NoSuchUpload":
			sentinel = storage.ErrNoSuchUpload
		case "EntityTooSmall":
			sentinel = storage.ErrEntityTooSmall
		case "ExistingObjectIsDirectory", "ObjectParentIsFile", "ErrDirectoryNotEmpty", "DirectoryObjectContainsData":
			sentinel = ErrKeyConflict
		case "XMinioInvalidResourceName", "XMinioInvalidObjectName":
			// MinIO reads a backslash as a slash and refuses "." and ".."
			// segments that S3 and tarn take as names.
			sentinel = storage.ErrInvalidKey
			err = fmt.Errorf("the external store refuses this name (MinIO reads \\ as / and refuses \".\" and \"..\" segments): %w", err)
		}
	}
	if sentinel == nil {
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) {
			switch re.HTTPStatusCode() {
			case http.StatusNotFound:
				sentinel = storage.ErrNoSuchKey
			case http.StatusPreconditionFailed:
				sentinel = storage.ErrPreconditionFailed
			case http.StatusRequestedRangeNotSatisfiable:
				sentinel = storage.ErrInvalidRange
			case http.StatusForbidden, http.StatusUnauthorized:
				sentinel = ErrAccessDenied
			}
		}
	}
	if sentinel == nil {
		return err
	}
	return fmt.Errorf("%w (%w)", sentinel, err)
}

// ctxErr prefers the context's error: the SDK's wrapping of a canceled
// request does not always keep context.Canceled in the chain.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return err
}

// --- buckets -----------------------------------------------------------------

// CreateBucket writes the bucket's marker if there is none (If-None-Match),
// so two servers creating one name cannot both succeed.
func (s *Store) CreateBucket(ctx context.Context, bucket string) error {
	if err := storage.ValidateBucketName(bucket); err != nil {
		return err
	}
	b, k := s.ext(s.markerKey(bucket))
	var err error
	for range 3 {
		_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: b, Key: k, Body: strings.NewReader(""), ContentLength: aws.Int64(0),
			IfNoneMatch: aws.String("*"),
		})
		// A marker is never a folder: versitygw's POSIX backend answers
		// ExistingObjectIsDirectory for any failure to link the file into
		// place, as when the markers' folder, left empty by a bucket's
		// deletion, is removed while it makes it again. Nothing was
		// stored, so the put is made again.
		if err = mapErr(ctxErr(ctx, err)); !errors.Is(err, ErrKeyConflict) {
			break
		}
	}
	if errors.Is(err, storage.ErrPreconditionFailed) {
		return opErr("create bucket", bucketName(bucket), storage.ErrBucketExists)
	}
	if err != nil {
		return opErr("create bucket", bucketName(bucket), err)
	}
	s.saw(bucket)
	return nil
}

// HeadBucket reads the bucket's marker.
func (s *Store) HeadBucket(ctx context.Context, bucket string) (storage.BucketInfo, error) {
	if err := storage.ValidateBucketName(bucket); err != nil {
		return storage.BucketInfo{}, err
	}
	bi, err := s.headBucket(ctx, bucket)
	if err != nil {
		return storage.BucketInfo{}, opErr("find bucket", bucketName(bucket), err)
	}
	return bi, nil
}

func (s *Store) headBucket(ctx context.Context, bucket string) (storage.BucketInfo, error) {
	b, k := s.ext(s.markerKey(bucket))
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k})
	if err = mapErr(ctxErr(ctx, err)); errors.Is(err, storage.ErrNoSuchKey) {
		s.forget(bucket)
		return storage.BucketInfo{}, storage.ErrNoSuchBucket
	}
	if err != nil {
		return storage.BucketInfo{}, err
	}
	s.saw(bucket)
	return storage.BucketInfo{Name: bucket, CreatedAt: utc(out.LastModified)}, nil
}

// bucketExists checks that a bucket exists before a write, trusting what
// was seen in the last BucketCacheTTL.
func (s *Store) bucketExists(ctx context.Context, bucket string) error {
	if ttl := s.cfg.BucketCacheTTL; ttl > 0 {
		s.seenMu.Lock()
		at, ok := s.seen[bucket]
		s.seenMu.Unlock()
		if ok && time.Since(at) < ttl {
			return nil
		}
	}
	_, err := s.headBucket(ctx, bucket)
	return err
}

func (s *Store) saw(bucket string) {
	if s.cfg.BucketCacheTTL > 0 {
		s.seenMu.Lock()
		s.seen[bucket] = time.Now()
		s.seenMu.Unlock()
	}
}

func (s *Store) forget(bucket string) {
	s.seenMu.Lock()
	delete(s.seen, bucket)
	s.seenMu.Unlock()
}

// ListBuckets lists the markers, which S3 returns in name order.
func (s *Store) ListBuckets(ctx context.Context) ([]storage.BucketInfo, error) {
	var out []storage.BucketInfo
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: s.externalBucket(), Prefix: aws.String(s.bucketsPrefix())})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, opErr("list", "buckets", mapErr(ctxErr(ctx, err)))
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), s.bucketsPrefix())
			if storage.ValidateBucketName(name) == nil {
				out = append(out, storage.BucketInfo{Name: name, CreatedAt: utc(o.LastModified)})
			}
		}
	}
	slices.SortFunc(out, func(a, b storage.BucketInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// DeleteBucket removes an empty bucket: its documents, then its marker.
// (A put racing with it, from another server, can leave an object under a
// deleted bucket's prefix; it shows up again if the name is created anew.)
func (s *Store) DeleteBucket(ctx context.Context, bucket string) error {
	if err := storage.ValidateBucketName(bucket); err != nil {
		return err
	}
	if err := s.deleteBucket(ctx, bucket); err != nil {
		return opErr("delete bucket", bucketName(bucket), err)
	}
	return nil
}

func (s *Store) deleteBucket(ctx context.Context, bucket string) error {
	if _, err := s.headBucket(ctx, bucket); err != nil {
		return err
	}
	res, err := listV2(ctx, s.client, &s3.ListObjectsV2Input{Bucket: s.externalBucket(), Prefix: aws.String(s.bucketPrefix(bucket)), MaxKeys: aws.Int32(1)})
	if err != nil {
		return mapErr(ctxErr(ctx, err))
	}
	if len(res.Contents) > 0 {
		return storage.ErrBucketNotEmpty
	}
	s.forget(bucket)
	if err := s.deletePrefix(ctx, s.configPrefix(bucket)); err != nil {
		return err
	}
	b, k := s.ext(s.markerKey(bucket))
	_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: k})
	return mapErr(ctxErr(ctx, err))
}

// deletePrefix deletes every external object under prefix.
func (s *Store) deletePrefix(ctx context.Context, prefix string) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: s.externalBucket(), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return mapErr(ctxErr(ctx, err))
		}
		for _, o := range page.Contents {
			if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: s.externalBucket(), Key: o.Key}); err != nil {
				return mapErr(ctxErr(ctx, err))
			}
		}
	}
	return nil
}

// --- bucket documents ------------------------------------------------------------

func validConfigName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// BucketConfig returns the document stored under name.
func (s *Store) BucketConfig(ctx context.Context, bucket, name string) ([]byte, error) {
	if err := storage.ValidateBucketName(bucket); err != nil {
		return nil, err
	}
	if !validConfigName(name) {
		return nil, fmt.Errorf("cannot read configuration %q of %s: %w", name, bucketName(bucket), storage.ErrNoSuchBucketConfig)
	}
	b, k := s.ext(s.configPrefix(bucket) + name)
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k})
	if err = mapErr(ctxErr(ctx, err)); errors.Is(err, storage.ErrNoSuchKey) {
		if _, berr := s.headBucket(ctx, bucket); berr != nil {
			err = berr
		} else {
			err = storage.ErrNoSuchBucketConfig
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read configuration %q of %s: %w", name, bucketName(bucket), err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("cannot read configuration %q of %s: %w", name, bucketName(bucket), ctxErr(ctx, err))
	}
	return data, nil
}

// SetBucketConfig stores or (data nil) removes a document.
func (s *Store) SetBucketConfig(ctx context.Context, bucket, name string, data []byte) error {
	if err := storage.ValidateBucketName(bucket); err != nil {
		return err
	}
	if !validConfigName(name) {
		return fmt.Errorf("%w: configuration name %q (letters only)", storage.ErrInvalidKey, name)
	}
	if _, err := s.headBucket(ctx, bucket); err != nil {
		return fmt.Errorf("cannot set configuration %q of %s: %w", name, bucketName(bucket), err)
	}
	b, k := s.ext(s.configPrefix(bucket) + name)
	var err error
	if data == nil {
		_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: k})
	} else {
		_, err = s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))), ContentType: aws.String("application/octet-stream")})
	}
	if err != nil {
		return fmt.Errorf("cannot set configuration %q of %s: %w", name, bucketName(bucket), mapErr(ctxErr(ctx, err)))
	}
	return nil
}
