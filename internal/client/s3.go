package client

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/tarn-lake/tarn/internal/storage"
)

// PartSize is the part size of multipart uploads: objects of at least this
// size go up in parts.
const PartSize = 64 << 20

// Objects is the server's S3 endpoint as a storage.ObjectStore, so that
// code written for the lake's store works through the server (which then
// sees every write: metrics, object-created events). Puts of PartSize or
// more are multipart uploads.
type Objects struct {
	c        *s3.Client
	endpoint string
	partSize int64
}

var _ storage.ObjectStore = (*Objects)(nil)

// Objects returns the S3 endpoint's client. It needs Config.S3 and an access
// key with its secret (a bearer token is not enough to sign S3 requests).
func (c *Client) Objects() (*Objects, error) {
	if c.cfg.S3 == "" {
		return nil, fmt.Errorf("cannot use the S3 endpoint of the server at %s: its address is not known", c.base)
	}
	if c.cfg.Key.AccessKeyID == "" || c.cfg.Key.SecretAccessKey == "" {
		return nil, fmt.Errorf("cannot use the S3 endpoint at %s: %w (S3 requests are signed with an access key id and secret; a token does not do)", c.cfg.S3, ErrNoCredentials)
	}
	key := c.cfg.Key
	cl := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(c.cfg.S3),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}, nil
		}),
		HTTPClient: c.hc,
		// Content-MD5 protects each body; no extra CRC trailers.
		RequestChecksumCalculation:                aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation:                aws.ResponseChecksumValidationWhenRequired,
		DisableLogOutputChecksumValidationSkipped: true,
	})
	return &Objects{c: cl, endpoint: c.cfg.S3, partSize: PartSize}, nil
}

// s3Error turns an SDK error into an *Error with the storage sentinel its
// code stands for. notFound is the sentinel of a bare 404 (HEAD requests
// have no body, so no code).
func (o *Objects) s3Error(err error, notFound error) error {
	if err == nil {
		return nil
	}
	var api interface {
		ErrorCode() string
		ErrorMessage() string
	}
	if !errors.As(err, &api) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return fmt.Errorf("cannot reach the S3 endpoint at %s: %w", o.endpoint, err)
	}
	e := &Error{Server: o.endpoint, Code: api.ErrorCode(), Message: api.ErrorMessage()}
	var st interface{ HTTPStatusCode() int }
	if errors.As(err, &st) {
		e.Status = st.HTTPStatusCode()
	}
	switch e.Code {
	case "NoSuchBucket":
		e.Err = storage.ErrNoSuchBucket
	case "NoSuchKey":
		e.Err = storage.ErrNoSuchKey
	case "NotFound":
		e.Err = notFound
	case "BucketAlreadyOwnedByYou", "BucketAlreadyExists":
		e.Err = storage.ErrBucketExists
	case "BucketNotEmpty":
		e.Err = storage.ErrBucketNotEmpty
	case "InvalidBucketName":
		e.Err = storage.ErrInvalidBucketName
	case "KeyTooLongError":
		e.Err = storage.ErrKeyTooLong
	case "InvalidRange":
		e.Err = storage.ErrInvalidRange
	case "BadDigest":
		e.Err = storage.ErrBadDigest
	}
	if e.Message == "" && e.Err != nil {
		e.Message = http404Message(e.Status)
	}
	return e
}

// objectError is s3Error for an operation on one object: the error names
// it, as the lake's store does, and a bare 404 (HEAD) says whether the
// bucket or the key is missing.
func (o *Objects) objectError(ctx context.Context, err error, bucket, key string) error {
	err = o.s3Error(err, storage.ErrNoSuchKey)
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	if e.Code == "NotFound" {
		if _, herr := o.c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); herr != nil {
			if he := o.s3Error(herr, storage.ErrNoSuchBucket); errors.Is(he, storage.ErrNoSuchBucket) {
				e.Err = storage.ErrNoSuchBucket
			}
		}
	}
	e.Resource = "s3://" + bucket + "/" + key
	if errors.Is(e.Err, storage.ErrNoSuchBucket) {
		e.Resource = "s3://" + bucket
	}
	return e
}

// checkObject refuses, before any request, what the lake's store refuses:
// so that a command fails the same way on the files and through a server.
func checkObject(bucket, key string) error {
	if err := storage.ValidateBucketName(bucket); err != nil {
		return err
	}
	return storage.ValidateKey(key)
}

// served returns when the server answered: the Date of its answer (what
// it stored as the object's modification time, to the second).
func served(md middleware.Metadata) time.Time {
	if t, ok := awsmiddleware.GetServerTime(md); ok {
		return t
	}
	return time.Now()
}

func http404Message(status int) string {
	if status == 404 {
		return "not found"
	}
	return fmt.Sprintf("HTTP %d", status)
}

func etag(s *string) string { return strings.Trim(aws.ToString(s), `"`) }

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func (o *Objects) CreateBucket(ctx context.Context, bucket string) error {
	if err := storage.ValidateBucketName(bucket); err != nil {
		return err
	}
	_, err := o.c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	return o.s3Error(err, storage.ErrNoSuchBucket)
}

func (o *Objects) DeleteBucket(ctx context.Context, bucket string) error {
	if err := storage.ValidateBucketName(bucket); err != nil {
		return err
	}
	_, err := o.c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	return o.s3Error(err, storage.ErrNoSuchBucket)
}

func (o *Objects) HeadBucket(ctx context.Context, bucket string) (storage.BucketInfo, error) {
	if err := storage.ValidateBucketName(bucket); err != nil {
		return storage.BucketInfo{}, err
	}
	if _, err := o.c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return storage.BucketInfo{}, o.s3Error(err, storage.ErrNoSuchBucket)
	}
	bs, err := o.ListBuckets(ctx)
	if err != nil {
		return storage.BucketInfo{}, err
	}
	for _, b := range bs {
		if b.Name == bucket {
			return b, nil
		}
	}
	return storage.BucketInfo{Name: bucket}, nil
}

func (o *Objects) ListBuckets(ctx context.Context) ([]storage.BucketInfo, error) {
	var out []storage.BucketInfo
	in := &s3.ListBucketsInput{}
	for {
		res, err := o.c.ListBuckets(ctx, in)
		if err != nil {
			return nil, o.s3Error(err, storage.ErrNoSuchBucket)
		}
		for _, b := range res.Buckets {
			out = append(out, storage.BucketInfo{Name: aws.ToString(b.Name), CreatedAt: aws.ToTime(b.CreationDate)})
		}
		if aws.ToString(res.ContinuationToken) == "" {
			return out, nil
		}
		in.ContinuationToken = res.ContinuationToken
	}
}

// Put uploads r: in one PutObject below PartSize, else as a multipart
// upload of PartSize parts (one part in memory at a time), aborted if it
// fails.
func (o *Objects) Put(ctx context.Context, bucket, key string, r io.Reader, opts storage.PutOptions) (storage.ObjectInfo, error) {
	if err := checkObject(bucket, key); err != nil {
		return storage.ObjectInfo{}, err
	}
	if opts.ContentType == "" {
		// As the lake's store types an object it is given no type for.
		opts.ContentType = mime.TypeByExtension(path.Ext(key))
	}
	// Small objects need no part-sized buffer.
	buf := make([]byte, min(o.partSize, 1<<20))
	n, err := fill(r, buf)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	if int64(n) == int64(len(buf)) && int64(n) < o.partSize {
		big := make([]byte, o.partSize)
		copy(big, buf)
		m, err := fill(r, big[n:])
		if err != nil {
			return storage.ObjectInfo{}, err
		}
		buf, n = big, n+m
	}
	info := storage.ObjectInfo{Bucket: bucket, Key: key, ContentType: opts.ContentType, Metadata: opts.Metadata}
	if int64(n) < o.partSize {
		sum := opts.ContentMD5
		if sum == nil {
			s := md5.Sum(buf[:n])
			sum = s[:]
		}
		out, err := o.c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(buf[:n]),
			ContentLength: aws.Int64(int64(n)), ContentType: optional(opts.ContentType), Metadata: opts.Metadata,
			ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum))})
		if err != nil {
			return storage.ObjectInfo{}, o.s3Error(err, storage.ErrNoSuchBucket)
		}
		info.Size, info.ETag, info.LastModified, info.VersionID = int64(n), etag(out.ETag), served(out.ResultMetadata), aws.ToString(out.VersionId)
		return info, nil
	}
	up, err := o.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
		ContentType: optional(opts.ContentType), Metadata: opts.Metadata})
	if err != nil {
		return storage.ObjectInfo{}, o.s3Error(err, storage.ErrNoSuchBucket)
	}
	abort := func(err error) (storage.ObjectInfo, error) {
		_, _ = o.c.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId})
		return storage.ObjectInfo{}, err
	}
	var parts []types.CompletedPart
	for num := int32(1); n > 0; num++ {
		part := buf[:n]
		sum := md5.Sum(part)
		out, err := o.c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(num), Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(n)),
			ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:]))})
		if err != nil {
			return abort(o.s3Error(err, storage.ErrNoSuchBucket))
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		info.Size += int64(n)
		if n, err = fill(r, buf); err != nil {
			return abort(err)
		}
	}
	out, err := o.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		return abort(o.s3Error(err, storage.ErrNoSuchBucket))
	}
	info.ETag, info.LastModified, info.VersionID = etag(out.ETag), served(out.ResultMetadata), aws.ToString(out.VersionId)
	return info, nil
}

// fill reads into p until it is full or r ends. An error of r is
// returned, even io.ErrUnexpectedEOF: a body cut short must not be stored
// as a whole object.
func fill(r io.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (o *Objects) Get(ctx context.Context, bucket, key string, rng *storage.Range) (io.ReadCloser, storage.ObjectInfo, error) {
	if err := checkObject(bucket, key); err != nil {
		return nil, storage.ObjectInfo{}, err
	}
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if rng != nil {
		switch {
		case rng.Offset < 0:
			in.Range = aws.String(fmt.Sprintf("bytes=%d", rng.Offset))
		case rng.Length < 0:
			in.Range = aws.String(fmt.Sprintf("bytes=%d-", rng.Offset))
		default:
			in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", rng.Offset, rng.Offset+rng.Length-1))
		}
	}
	out, err := o.c.GetObject(ctx, in)
	if err != nil {
		return nil, storage.ObjectInfo{}, o.objectError(ctx, err, bucket, key)
	}
	size := aws.ToInt64(out.ContentLength)
	// The info is the whole object's, as the lake's store gives it: a
	// range's answer says the whole size after the slash of Content-Range.
	if cr := aws.ToString(out.ContentRange); cr != "" {
		if _, total, ok := strings.Cut(cr, "/"); ok {
			if n, err := strconv.ParseInt(total, 10, 64); err == nil {
				size = n
			}
		}
	}
	return out.Body, storage.ObjectInfo{Bucket: bucket, Key: key, Size: size, ETag: etag(out.ETag),
		LastModified: aws.ToTime(out.LastModified), ContentType: aws.ToString(out.ContentType), Metadata: out.Metadata,
		VersionID: aws.ToString(out.VersionId)}, nil
}

func (o *Objects) Head(ctx context.Context, bucket, key string) (storage.ObjectInfo, error) {
	if err := checkObject(bucket, key); err != nil {
		return storage.ObjectInfo{}, err
	}
	out, err := o.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return storage.ObjectInfo{}, o.objectError(ctx, err, bucket, key)
	}
	return storage.ObjectInfo{Bucket: bucket, Key: key, Size: aws.ToInt64(out.ContentLength), ETag: etag(out.ETag),
		LastModified: aws.ToTime(out.LastModified), ContentType: aws.ToString(out.ContentType), Metadata: out.Metadata,
		VersionID: aws.ToString(out.VersionId)}, nil
}

func (o *Objects) Delete(ctx context.Context, bucket, key string) error {
	if err := checkObject(bucket, key); err != nil {
		return err
	}
	_, err := o.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return o.objectError(ctx, err, bucket, key)
	}
	return nil
}

// Copy copies in the server (CopyObject) and returns the new object.
func (o *Objects) Copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) (storage.ObjectInfo, error) {
	if err := checkObject(srcBucket, srcKey); err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := checkObject(dstBucket, dstKey); err != nil {
		return storage.ObjectInfo{}, err
	}
	src := url.PathEscape(srcBucket) + "/" + strings.ReplaceAll(url.PathEscape(srcKey), "%2F", "/")
	in := &s3.CopyObjectInput{Bucket: aws.String(dstBucket), Key: aws.String(dstKey), CopySource: aws.String(src)}
	if srcBucket == dstBucket && srcKey == dstKey {
		// The lake's store copies an object onto itself (a new
		// modification time); S3 does only when the metadata is replaced,
		// so it is replaced by itself.
		h, err := o.Head(ctx, srcBucket, srcKey)
		if err != nil {
			return storage.ObjectInfo{}, err
		}
		in.MetadataDirective, in.ContentType, in.Metadata = types.MetadataDirectiveReplace, optional(h.ContentType), h.Metadata
	}
	if _, err := o.c.CopyObject(ctx, in); err != nil {
		return storage.ObjectInfo{}, o.objectError(ctx, err, srcBucket, srcKey)
	}
	return o.Head(ctx, dstBucket, dstKey)
}

func (o *Objects) List(ctx context.Context, bucket string, opts storage.ListOptions) (storage.ListResult, error) {
	if err := storage.ValidateBucketName(bucket); err != nil {
		return storage.ListResult{}, err
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: optional(opts.Prefix), Delimiter: optional(opts.Delimiter),
		StartAfter: optional(opts.StartAfter), ContinuationToken: optional(opts.ContinuationToken)}
	if opts.MaxKeys > 0 {
		in.MaxKeys = aws.Int32(int32(opts.MaxKeys))
	}
	out, err := o.c.ListObjectsV2(ctx, in)
	if err != nil {
		return storage.ListResult{}, o.s3Error(err, storage.ErrNoSuchBucket)
	}
	res := storage.ListResult{IsTruncated: aws.ToBool(out.IsTruncated), NextContinuationToken: aws.ToString(out.NextContinuationToken)}
	for _, obj := range out.Contents {
		res.Objects = append(res.Objects, storage.ObjectInfo{Bucket: bucket, Key: aws.ToString(obj.Key), Size: aws.ToInt64(obj.Size),
			ETag: etag(obj.ETag), LastModified: aws.ToTime(obj.LastModified)})
	}
	for _, p := range out.CommonPrefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, aws.ToString(p.Prefix))
	}
	return res, nil
}

// Close releases nothing: the HTTP client is shared.
func (o *Objects) Close() error { return nil }

// Endpoint returns the S3 endpoint's URL.
func (o *Objects) Endpoint() string { return o.endpoint }
