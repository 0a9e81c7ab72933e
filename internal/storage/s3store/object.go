package s3store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/tarn-lake/tarn/internal/storage"
)

// Names of the external object's user metadata that hold tarn's
// attributes (x-amz-meta-tarn, x-amz-meta-tarn-ref).
const (
	metaAttrs = "tarn"
	metaRef   = "tarn-ref"
)

// attrs is what tarn keeps about an object besides its bytes, size, time
// and content type.
type attrs struct {
	ETag      string            `json:"etag,omitempty"`
	Metadata  map[string]string `json:"meta,omitempty"`
	Checksum  storage.Checksum  `json:"checksum,omitzero"`
	Headers   map[string]string `json:"headers,omitempty"`
	Tags      map[string]string `json:"tags,omitempty"`
	PartSizes []int64           `json:"parts,omitempty"`
	// Size is the size of the bytes these attributes go with: a store
	// that answers with the attributes of one version and the size of
	// another (versitygw's POSIX backend reads a file's attributes and
	// its size apart, while an overwrite renames a new file into place)
	// is caught, and asked again.
	Size *int64 `json:"size,omitempty"`
}

func attrsOf(opts storage.PutOptions, etag string, size int64) attrs {
	a := attrs{
		ETag: etag, Size: &size, Metadata: maps.Clone(opts.Metadata), Checksum: opts.Checksum,
		Headers: maps.Clone(opts.Headers), Tags: maps.Clone(opts.Tags), PartSizes: opts.PartSizes,
	}
	if opts.ChecksumFrom != nil {
		a.Checksum = opts.ChecksumFrom()
	}
	return a
}

func attrsOfInfo(info storage.ObjectInfo) attrs {
	size := info.Size
	return attrs{ETag: info.ETag, Size: &size, Metadata: info.Metadata, Checksum: info.Checksum, Headers: info.Headers, Tags: info.Tags, PartSizes: info.PartSizes}
}

// encodeAttrs returns the user metadata of an external object carrying a;
// a document too large for headers is written to a sidecar first.
func (s *Store) encodeAttrs(ctx context.Context, a attrs) (map[string]string, error) {
	data, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	enc := base64.RawURLEncoding.EncodeToString(data)
	if len(enc) <= MaxInlineMetadata {
		return map[string]string{metaAttrs: enc}, nil
	}
	sum := sha256.Sum256(data)
	name := hex.EncodeToString(sum[:])
	b, k := s.ext(s.sidecarKey(name))
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: b, Key: k, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
		ContentType: aws.String("application/json"), IfNoneMatch: aws.String("*"),
	})
	if err = mapErr(ctxErr(ctx, err)); err != nil && !errors.Is(err, storage.ErrPreconditionFailed) {
		return nil, fmt.Errorf("cannot store the object's attributes: %w", err)
	}
	return map[string]string{metaRef: name}, nil
}

func lookup(md map[string]string, name string) (string, bool) {
	if v, ok := md[name]; ok {
		return v, true
	}
	for k, v := range md {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// errTorn: the store answered with the attributes of another version
// than the bytes' (see attrs.Size).
var errTorn = errors.New("the store answered with the attributes of another version of the object")

// tornRetries bounds the questions asked again after a torn answer.
const tornRetries = 20

// stat describes an object: its external description and tarn's.
func (s *Store) stat(ctx context.Context, bucket, key string) (raw, storage.ObjectInfo, error) {
	for i := 0; ; i++ {
		r, err := s.headRaw(ctx, bucket, key)
		if err != nil {
			return raw{}, storage.ObjectInfo{}, err
		}
		info, err := s.info(ctx, bucket, key, r)
		if errors.Is(err, errTorn) && i < tornRetries {
			continue
		}
		return r, info, err
	}
}

// raw is what the external store says about an object.
type raw struct {
	extETag     string
	size        int64
	lastMod     time.Time
	contentType string
	metadata    map[string]string
}

// info decodes the object's attributes.
func (s *Store) info(ctx context.Context, bucket, key string, r raw) (storage.ObjectInfo, error) {
	info := storage.ObjectInfo{Bucket: bucket, Key: key, Size: r.size, LastModified: r.lastMod, ContentType: r.contentType, ETag: r.extETag}
	if info.ContentType == "" {
		info.ContentType = "application/octet-stream"
	}
	var data []byte
	if enc, ok := lookup(r.metadata, metaAttrs); ok {
		d, err := base64.RawURLEncoding.DecodeString(enc)
		if err != nil {
			return info, fmt.Errorf("the object's attributes are damaged: %w", err)
		}
		data = d
	} else if ref, ok := lookup(r.metadata, metaRef); ok {
		b, k := s.ext(s.sidecarKey(ref))
		out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k})
		if err != nil {
			return info, fmt.Errorf("cannot read the object's attributes: %w", mapErr(ctxErr(ctx, err)))
		}
		data, err = io.ReadAll(io.LimitReader(out.Body, 1<<20))
		out.Body.Close()
		if err != nil {
			return info, fmt.Errorf("cannot read the object's attributes: %w", ctxErr(ctx, err))
		}
	} else {
		// Written behind tarn's back: the store's own attributes.
		if len(r.metadata) > 0 {
			info.Metadata = maps.Clone(r.metadata)
		}
		return info, nil
	}
	var a attrs
	if err := json.Unmarshal(data, &a); err != nil {
		return info, fmt.Errorf("the object's attributes are damaged: %w", err)
	}
	if a.Size != nil && *a.Size != r.size {
		return info, errTorn
	}
	if a.ETag != "" {
		info.ETag = a.ETag
	}
	info.Metadata, info.Checksum, info.Headers, info.Tags, info.PartSizes = a.Metadata, a.Checksum, a.Headers, a.Tags, a.PartSizes
	return info, nil
}

func guessContentType(key string) string {
	if t := mime.TypeByExtension(path.Ext(key)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// missing turns an external "no such key" into ErrNoSuchBucket when the
// bucket is gone.
func (s *Store) missing(ctx context.Context, bucket string, err error) error {
	if errors.Is(err, storage.ErrNoSuchKey) {
		if _, berr := s.headBucket(ctx, bucket); errors.Is(berr, storage.ErrNoSuchBucket) {
			return berr
		}
	}
	return err
}

// --- reads -------------------------------------------------------------------

// Head describes an object.
func (s *Store) Head(ctx context.Context, bucket, key string) (storage.ObjectInfo, error) {
	if err := s.checkKey(bucket, key); err != nil {
		return storage.ObjectInfo{}, opErr("find", objName(bucket, key), err)
	}
	_, info, err := s.stat(ctx, bucket, key)
	if err != nil {
		return storage.ObjectInfo{}, opErr("find", objName(bucket, key), err)
	}
	return info, nil
}

func (s *Store) headRaw(ctx context.Context, bucket, key string) (raw, error) {
	b, k := s.ext(s.objKey(bucket, key))
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k})
	if err != nil {
		return raw{}, s.missing(ctx, bucket, mapErr(ctxErr(ctx, err)))
	}
	return raw{extETag: trimETag(out.ETag), size: toInt64(out.ContentLength), lastMod: utc(out.LastModified), contentType: aws.ToString(out.ContentType), metadata: out.Metadata}, nil
}

// Get streams an object or a range of it straight from the external store;
// nothing is buffered.
func (s *Store) Get(ctx context.Context, bucket, key string, rng *storage.Range) (io.ReadCloser, storage.ObjectInfo, error) {
	if err := s.checkKey(bucket, key); err != nil {
		return nil, storage.ObjectInfo{}, opErr("read", objName(bucket, key), err)
	}
	rc, info, err := s.get(ctx, bucket, key, rng)
	if err != nil {
		return nil, storage.ObjectInfo{}, opErr("read", objName(bucket, key), err)
	}
	return rc, info, nil
}

func (s *Store) get(ctx context.Context, bucket, key string, rng *storage.Range) (io.ReadCloser, storage.ObjectInfo, error) {
	in := &s3.GetObjectInput{}
	in.Bucket, in.Key = s.ext(s.objKey(bucket, key))
	if rng != nil {
		switch {
		case rng.Offset < 0:
			in.Range = aws.String("bytes=" + strconv.FormatInt(rng.Offset, 10))
		case rng.Length == 0:
			// An empty range: S3 has no way to ask for one.
			r, info, err := s.stat(ctx, bucket, key)
			if err != nil {
				return nil, storage.ObjectInfo{}, err
			}
			if rng.Offset >= r.size {
				return nil, storage.ObjectInfo{}, fmt.Errorf("%w: offset %d of %d bytes", storage.ErrInvalidRange, rng.Offset, r.size)
			}
			return io.NopCloser(strings.NewReader("")), info, nil
		case rng.Length < 0 && rng.Offset == 0:
		case rng.Length < 0:
			in.Range = aws.String(fmt.Sprintf("bytes=%d-", rng.Offset))
		default:
			in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", rng.Offset, rng.Offset+rng.Length-1))
		}
	}
	for i := 0; ; i++ {
		rc, info, err := s.getOnce(ctx, bucket, key, rng, in)
		if errors.Is(err, errTorn) && i < tornRetries {
			continue
		}
		return rc, info, err
	}
}

func (s *Store) getOnce(ctx context.Context, bucket, key string, rng *storage.Range, in *s3.GetObjectInput) (io.ReadCloser, storage.ObjectInfo, error) {
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		err = s.missing(ctx, bucket, mapErr(ctxErr(ctx, err)))
		if errors.Is(err, storage.ErrInvalidRange) && rng != nil && rng.Offset < 0 {
			// A suffix range of an empty object.
			if r, info, herr := s.stat(ctx, bucket, key); herr == nil && r.size == 0 {
				return io.NopCloser(strings.NewReader("")), info, nil
			}
		}
		return nil, storage.ObjectInfo{}, err
	}
	size := toInt64(out.ContentLength)
	if cr := aws.ToString(out.ContentRange); cr != "" {
		if _, total, ok := strings.Cut(cr, "/"); ok {
			if n, err := strconv.ParseInt(total, 10, 64); err == nil {
				size = n
			}
		}
	}
	info, err := s.info(ctx, bucket, key, raw{extETag: trimETag(out.ETag), size: size, lastMod: utc(out.LastModified), contentType: aws.ToString(out.ContentType), metadata: out.Metadata})
	if err != nil {
		out.Body.Close()
		return nil, storage.ObjectInfo{}, err
	}
	return out.Body, info, nil
}

// List lists one page with ListObjectsV2. Continuation tokens are the
// last key or common prefix of the page (storage.ListOptions), read as a
// StartAfter of the external store.
func (s *Store) List(ctx context.Context, bucket string, opts storage.ListOptions) (storage.ListResult, error) {
	if err := storage.ValidateBucketName(bucket); err != nil {
		return storage.ListResult{}, err
	}
	res, err := s.list(ctx, bucket, opts)
	if err != nil {
		return storage.ListResult{}, opErr("list", bucketName(bucket)+"/"+opts.Prefix, err)
	}
	return res, nil
}

// externalPage is the max-keys of every listing request to the external
// store (S3's largest page).
const externalPage = 1000

// maxKeyChar sorts after every key but those that continue with it: a
// StartAfter of prefix+maxKeyChar skips every key under the prefix.
const maxKeyChar = "\U0010FFFF"

func (s *Store) list(ctx context.Context, bucket string, opts storage.ListOptions) (storage.ListResult, error) {
	if err := ctx.Err(); err != nil {
		return storage.ListResult{}, err
	}
	max := opts.MaxKeys
	if max <= 0 || max > 1000 {
		max = 1000
	}
	bp := s.bucketPrefix(bucket)
	if !utf8.ValidString(opts.Prefix) || strings.ContainsRune(opts.Prefix, 0) || len(bp+opts.Prefix) > storage.MaxKeyLength || !storage.PrefixOfKeys(opts.Prefix) {
		// No key has such a prefix.
		_, err := s.headBucket(ctx, bucket)
		return storage.ListResult{}, err
	}
	after, afterIsPrefix := opts.ResumeAfter()
	startAfter := after
	var res storage.ListResult
	switch {
	case afterIsPrefix:
		// After a common prefix: past every key under it.
		startAfter = after + maxKeyChar
	case opts.Delimiter != "" && strings.HasPrefix(after, opts.Prefix):
		// StartAfter inside a common prefix: the prefix is listed if keys
		// after StartAfter roll up into it (S3 stores differ here, so the
		// store asks), then the listing goes on past all of it.
		rest := after[len(opts.Prefix):]
		if i := strings.Index(rest, opts.Delimiter); i >= 0 {
			cp := opts.Prefix + rest[:i+len(opts.Delimiter)]
			out, err := listV2(ctx, s.client, &s3.ListObjectsV2Input{
				Bucket: s.externalBucket(), Prefix: aws.String(bp + cp), StartAfter: aws.String(bp + after), MaxKeys: aws.Int32(externalPage),
			})
			if err != nil {
				return storage.ListResult{}, mapErr(ctxErr(ctx, err))
			}
			startAfter = cp + maxKeyChar
			if len(out.Contents) > 0 {
				res.CommonPrefixes = append(res.CommonPrefixes, cp)
				if max--; max == 0 {
					res.IsTruncated = true
					res.NextContinuationToken = cp
					return res, nil
				}
			}
		}
	}
	// Always a whole page from the external store, cut here: MinIO
	// answers a small max-keys resumed inside a folder with keys from past
	// it and IsTruncated false (keys lost), and a whole page costs the
	// same round trip.
	in := &s3.ListObjectsV2Input{
		Bucket: s.externalBucket(), Prefix: aws.String(bp + opts.Prefix), MaxKeys: aws.Int32(externalPage),
		Delimiter: nonEmpty(opts.Delimiter),
	}
	if startAfter != "" {
		in.StartAfter = aws.String(bp + startAfter)
	}
	out, err := listV2(ctx, s.client, in)
	if err != nil {
		return storage.ListResult{}, mapErr(ctxErr(ctx, err))
	}
	// The page's keys and common prefixes in byte order; a key tarn cannot
	// address is passed over, not returned.
	type entry struct {
		name   string
		obj    *storage.ObjectInfo
		prefix bool
	}
	entries := make([]entry, 0, len(out.Contents)+len(out.CommonPrefixes))
	for _, o := range out.Contents {
		key := strings.TrimPrefix(aws.ToString(o.Key), bp)
		e := entry{name: key}
		if storage.ValidateKey(key) == nil && !transient(key) {
			e.obj = &storage.ObjectInfo{Bucket: bucket, Key: key, Size: toInt64(o.Size), ETag: trimETag(o.ETag), LastModified: utc(o.LastModified)}
		}
		entries = append(entries, e)
	}
	for _, p := range out.CommonPrefixes {
		entries = append(entries, entry{name: strings.TrimPrefix(aws.ToString(p.Prefix), bp), prefix: true})
	}
	slices.SortStableFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	last := "" // the last key or prefix passed, returned or not
	i := 0
	for ; i < len(entries) && max > 0; i++ {
		e := entries[i]
		last = max2(last, e.name)
		switch {
		case e.prefix:
			res.CommonPrefixes = append(res.CommonPrefixes, e.name)
		case e.obj != nil:
			res.Objects = append(res.Objects, *e.obj)
		default:
			continue // written behind tarn's back under a name tarn cannot address
		}
		max--
	}
	res.IsTruncated = i < len(entries) || aws.ToBool(out.IsTruncated)
	if res.IsTruncated {
		if last == "" {
			return storage.ListResult{}, fmt.Errorf("the external store truncated a page of nothing")
		}
		res.NextContinuationToken = last
	}
	if len(res.Objects) == 0 && len(res.CommonPrefixes) == 0 && !res.IsTruncated {
		if _, err := s.headBucket(ctx, bucket); err != nil {
			return storage.ListResult{}, err
		}
	}
	return res, nil
}

// listV2 is ListObjectsV2 with keys url-encoded on the wire
// (encoding-type=url, as S3's own clients ask): a key with a control
// character is not valid XML 1.0 otherwise, and MinIO sends it raw. The
// keys and prefixes of the answer are decoded here.
func listV2(ctx context.Context, client *s3.Client, in *s3.ListObjectsV2Input) (*s3.ListObjectsV2Output, error) {
	in.EncodingType = types.EncodingTypeUrl
	out, err := client.ListObjectsV2(ctx, in)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(string(out.EncodingType), string(types.EncodingTypeUrl)) {
		return out, nil // a store that ignores the parameter sends keys as they are
	}
	dec := func(p *string) error {
		if p == nil {
			return nil
		}
		// S3 writes a space as '+' and a '+' as %2B.
		v, err := url.QueryUnescape(*p)
		if err != nil {
			return fmt.Errorf("the external store sent a key that is not url-encoded: %q", *p)
		}
		*p = v
		return nil
	}
	for i := range out.Contents {
		if err := dec(out.Contents[i].Key); err != nil {
			return nil, err
		}
	}
	for i := range out.CommonPrefixes {
		if err := dec(out.CommonPrefixes[i].Prefix); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func max2(a, b string) string {
	if b > a {
		return b
	}
	return a
}

// --- writes ------------------------------------------------------------------

// Delete removes an object; a missing one is not an error.
func (s *Store) Delete(ctx context.Context, bucket, key string) error {
	if err := s.checkKey(bucket, key); err != nil {
		return opErr("delete", objName(bucket, key), err)
	}
	if err := s.bucketExists(ctx, bucket); err != nil {
		return opErr("delete", objName(bucket, key), err)
	}
	b, k := s.ext(s.objKey(bucket, key))
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: k})
	err = mapErr(ctxErr(ctx, err))
	if errors.Is(err, ErrKeyConflict) {
		// A folder with keys below it: fine if it is no folder object.
		if _, herr := s.headRaw(ctx, bucket, key); errors.Is(herr, storage.ErrNoSuchKey) {
			err = nil
		}
	}
	if err != nil && !errors.Is(err, storage.ErrNoSuchKey) {
		return opErr("delete", objName(bucket, key), err)
	}
	return nil
}

// transient reports keys that are not objects but an S3 gateway's files
// in flight: versitygw's POSIX backend links an overwrite's new file as
// ".<name>.sgwtmp.<n>" next to the object for a moment before renaming
// it into place, and lists it meanwhile.
func transient(key string) bool {
	name := key[strings.LastIndexByte(key, '/')+1:]
	i := strings.LastIndex(name, ".sgwtmp.")
	if !strings.HasPrefix(name, ".") || i < 1 {
		return false
	}
	for _, c := range name[i+len(".sgwtmp."):] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Copy copies an object with its attributes, in the external store (no
// bytes pass through tarn).
func (s *Store) Copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) (storage.ObjectInfo, error) {
	info, err := s.copy(ctx, srcBucket, srcKey, dstBucket, dstKey)
	if err != nil {
		return storage.ObjectInfo{}, fmt.Errorf("cannot copy %s to %s: %w", objName(srcBucket, srcKey), objName(dstBucket, dstKey), err)
	}
	return info, nil
}

func (s *Store) copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) (storage.ObjectInfo, error) {
	if err := s.checkKey(srcBucket, srcKey); err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := s.checkKey(dstBucket, dstKey); err != nil {
		return storage.ObjectInfo{}, err
	}
	if err := s.bucketExists(ctx, dstBucket); err != nil {
		return storage.ObjectInfo{}, err
	}
	r, info, err := s.stat(ctx, srcBucket, srcKey)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	md := r.metadata
	if _, ok := lookup(md, metaAttrs); !ok {
		if _, ok := lookup(md, metaRef); !ok {
			// Keep the ETag the source is known by.
			if md, err = s.encodeAttrs(ctx, attrsOfInfo(info)); err != nil {
				return storage.ObjectInfo{}, err
			}
		}
	}
	lastMod, err := s.copyExternal(ctx, s.objKey(srcBucket, srcKey), r, s.objKey(dstBucket, dstKey), md, info.ContentType, cond{})
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	info.Bucket, info.Key, info.LastModified = dstBucket, dstKey, lastMod
	return info, nil
}

// cond are the preconditions of a write, as sent to the external store.
type cond struct {
	ifMatch, ifNoneMatch *string
}

func (c cond) any() bool { return c.ifMatch != nil || c.ifNoneMatch != nil }

// copyExternal copies src (described by r) to dst with metadata md,
// pinned to the source's ETag: one CopyObject up to 5 GiB without
// preconditions (CopyObject's own are not understood by every store), a
// multipart copy otherwise; an empty object is put anew (filesystem-backed
// stores refuse to copy onto a folder object's key).
func (s *Store) copyExternal(ctx context.Context, src string, r raw, dst string, md map[string]string, contentType string, c cond) (time.Time, error) {
	if r.size > 0 && r.size <= maxCopySize && !c.any() {
		out, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: s.externalBucket(), Key: aws.String(dst), CopySource: s.copySource(src),
			CopySourceIfMatch: quoted(r.extETag),
			MetadataDirective: types.MetadataDirectiveReplace, Metadata: md, ContentType: aws.String(contentType),
		})
		if err != nil {
			return time.Time{}, mapErr(ctxErr(ctx, err))
		}
		if out.CopyObjectResult != nil && out.CopyObjectResult.LastModified != nil {
			return utc(out.CopyObjectResult.LastModified), nil
		}
		return time.Now().UTC(), nil
	}
	return s.copyMultipart(ctx, src, r, dst, md, contentType, c)
}

// SetTags replaces an object's tags by copying it onto itself with new
// attributes (in the external store), pinned to its ETag.
func (s *Store) SetTags(ctx context.Context, bucket, key, versionID string, tags map[string]string) (string, error) {
	if err := s.checkKey(bucket, key); err != nil {
		return "", opErr("tag", objName(bucket, key), err)
	}
	if versionID != "" && versionID != storage.NullVersionID {
		return "", opErr("tag", objName(bucket, key), fmt.Errorf("%w %q (the store is not versioned)", storage.ErrNoSuchVersion, versionID))
	}
	r, info, err := s.stat(ctx, bucket, key)
	if err != nil {
		return "", opErr("tag", objName(bucket, key), err)
	}
	a := attrsOfInfo(info)
	a.Tags = maps.Clone(tags)
	if len(a.Tags) == 0 {
		a.Tags = nil
	}
	md, err := s.encodeAttrs(ctx, a)
	if err != nil {
		return "", opErr("tag", objName(bucket, key), err)
	}
	ek := s.objKey(bucket, key)
	if _, err := s.copyExternal(ctx, ek, r, ek, md, info.ContentType, cond{}); err != nil {
		return "", opErr("tag", objName(bucket, key), err)
	}
	return "", nil
}
