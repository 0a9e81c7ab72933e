package s3api

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/tarn-lake/tarn/internal/auth"
)

// subresources are the query parameters that name an S3 operation rather
// than qualify one: every one S3 defines, implemented or not. A request
// carrying one is routed on it and nothing else, so that an operation tarn
// does not implement can never fall through to the plain object or bucket
// operation of the same method (a PUT ?retention that replaced the
// object's body, a DELETE ?cors that deleted the bucket).
var subresources = map[string]bool{
	"abac": true, "accelerate": true, "acl": true, "analytics": true, "attributes": true,
	"cors": true, "delete": true, "encryption": true, "intelligent-tiering": true,
	"inventory": true, "journalTable": true, "legal-hold": true, "lifecycle": true,
	"location": true, "logging": true, "metadataConfiguration": true,
	"metadataInventoryTable": true, "metadataJournalTable": true, "metadataTable": true,
	"metrics": true, "notification": true, "object-lock": true, "ownershipControls": true,
	"partNumber": true, "policy": true, "policyStatus": true, "publicAccessBlock": true,
	"renameObject": true, "replication": true, "requestPayment": true, "restore": true,
	"retention": true, "select": true, "select-type": true, "session": true,
	"tagging": true, "torrent": true, "uploadId": true, "uploads": true,
	"versionId": true, "versioning": true, "versions": true, "website": true,
}

// qualifiers are sub-resources that select what another operation acts on
// (a version, a part of an upload) instead of naming one of their own.
var qualifiers = map[string]bool{"versionId": true}

// target is what a request's path names.
type target int

const (
	onService target = iota
	onBucket
	onObject
)

// String names the target in messages.
func (t target) String() string {
	return [...]string{"the service", "a bucket", "an object"}[t]
}

// call is one request being answered.
type call struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	p      *auth.Principal
	bucket string
	key    string
	q      url.Values
}

func (c *call) allow(action, bucket, key string) error {
	return c.s.authorize(c.r.Context(), c.p, action, bucket, key)
}

type opKey struct {
	target target
	method string
	sub    string // the sub-resource, "" for none
}

// handler answers one operation.
type handler func(c *call) error

// operations is the routing table: every operation tarn answers, by what
// the path names, the method and the sub-resource. HEAD goes where GET
// goes. Anything else is answered NotImplemented (a sub-resource S3
// defines) or MethodNotAllowed, and changes nothing.
var operations = map[opKey]handler{
	{onService, http.MethodGet, ""}: (*call).listBuckets,

	{onBucket, http.MethodPut, ""}:                     (*call).createBucket,
	{onBucket, http.MethodDelete, ""}:                  (*call).deleteBucket,
	{onBucket, http.MethodHead, ""}:                    (*call).headBucket,
	{onBucket, http.MethodGet, ""}:                     (*call).listObjects,
	{onBucket, http.MethodGet, "location"}:             (*call).getBucketLocation,
	{onBucket, http.MethodGet, "uploads"}:              (*call).listUploads,
	{onBucket, http.MethodGet, "versioning"}:           (*call).getBucketVersioning,
	{onBucket, http.MethodPut, "versioning"}:           (*call).putBucketVersioning,
	{onBucket, http.MethodGet, "versions"}:             (*call).listObjectVersions,
	{onBucket, http.MethodPost, "delete"}:              (*call).deleteObjects,
	{onBucket, http.MethodGet, "acl"}:                  (*call).getBucketACL,
	{onBucket, http.MethodPut, "acl"}:                  (*call).putBucketACL,
	{onBucket, http.MethodGet, "tagging"}:              (*call).getBucketTagging,
	{onBucket, http.MethodPut, "tagging"}:              (*call).putBucketTagging,
	{onBucket, http.MethodDelete, "tagging"}:           (*call).deleteBucketTagging,
	{onBucket, http.MethodGet, "ownershipControls"}:    (*call).getBucketOwnershipControls,
	{onBucket, http.MethodPut, "ownershipControls"}:    (*call).putBucketOwnershipControls,
	{onBucket, http.MethodDelete, "ownershipControls"}: (*call).deleteBucketOwnershipControls,
	{onBucket, http.MethodGet, "cors"}:                 (*call).getBucketCors,
	{onBucket, http.MethodPut, "cors"}:                 (*call).putBucketCors,
	{onBucket, http.MethodDelete, "cors"}:              (*call).deleteBucketCors,
	{onBucket, http.MethodGet, "policy"}:               (*call).getBucketPolicy,
	{onBucket, http.MethodPut, "policy"}:               (*call).putBucketPolicy,
	{onBucket, http.MethodDelete, "policy"}:            (*call).deleteBucketPolicy,
	{onBucket, http.MethodGet, "website"}:              (*call).getBucketWebsite,
	{onBucket, http.MethodPut, "website"}:              (*call).putBucketWebsite,
	{onBucket, http.MethodDelete, "website"}:           (*call).deleteBucketWebsite,
	{onBucket, http.MethodGet, "object-lock"}:          (*call).getObjectLockConfiguration,
	{onBucket, http.MethodPut, "object-lock"}:          (*call).putObjectLockConfiguration,
	{onBucket, http.MethodGet, "encryption"}:           (*call).bucketEncryption,
	{onBucket, http.MethodPut, "encryption"}:           (*call).bucketEncryption,
	{onBucket, http.MethodDelete, "encryption"}:        (*call).bucketEncryption,
	{onBucket, http.MethodGet, "publicAccessBlock"}:    (*call).getPublicAccessBlock,
	{onBucket, http.MethodPut, "publicAccessBlock"}:    (*call).putPublicAccessBlock,
	{onBucket, http.MethodDelete, "publicAccessBlock"}: (*call).deletePublicAccessBlock,
	{onBucket, http.MethodGet, "lifecycle"}:            (*call).getBucketLifecycle,
	{onBucket, http.MethodPut, "lifecycle"}:            (*call).putBucketLifecycle,
	{onBucket, http.MethodDelete, "lifecycle"}:         (*call).deleteBucketLifecycle,
	{onBucket, http.MethodGet, "notification"}:         (*call).getBucketNotification,
	{onBucket, http.MethodPut, "notification"}:         (*call).putBucketNotification,

	{onObject, http.MethodPut, ""}:            (*call).putOrCopyObject,
	{onObject, http.MethodGet, ""}:            (*call).getObject,
	{onObject, http.MethodHead, ""}:           (*call).getObject,
	{onObject, http.MethodGet, "partNumber"}:  (*call).getObject,
	{onObject, http.MethodHead, "partNumber"}: (*call).getObject,
	{onObject, http.MethodDelete, ""}:         (*call).deleteObject,
	{onObject, http.MethodPost, "uploads"}:    (*call).createMultipartUpload,
	{onObject, http.MethodPut, "uploadId"}:    (*call).uploadPart,
	{onObject, http.MethodPost, "uploadId"}:   (*call).completeMultipartUpload,
	{onObject, http.MethodDelete, "uploadId"}: (*call).abortMultipartUpload,
	{onObject, http.MethodGet, "uploadId"}:    (*call).listParts,
	{onObject, http.MethodGet, "tagging"}:     (*call).getObjectTagging,
	{onObject, http.MethodPut, "tagging"}:     (*call).putObjectTagging,
	{onObject, http.MethodDelete, "tagging"}:  (*call).deleteObjectTagging,
	{onObject, http.MethodGet, "retention"}:   (*call).getObjectRetention,
	{onObject, http.MethodPut, "retention"}:   (*call).putObjectRetention,
	{onObject, http.MethodGet, "legal-hold"}:  (*call).getObjectLegalHold,
	{onObject, http.MethodPut, "legal-hold"}:  (*call).putObjectLegalHold,
	{onObject, http.MethodGet, "attributes"}:  (*call).getObjectAttributes,
}

// subresourceOf returns the sub-resource a request names ("" for none),
// or an error if it names more than one. partNumber qualifies an upload
// (UploadPart) when uploadId is given; alone it is GetObject's part
// selector, which is a sub-resource of its own here.
func subresourceOf(q url.Values) (string, error) {
	var subs []string
	for k := range q {
		if !subresources[k] || qualifiers[k] {
			continue
		}
		if k == "partNumber" && q.Has("uploadId") {
			continue
		}
		subs = append(subs, k)
	}
	switch len(subs) {
	case 0:
		return "", nil
	case 1:
		return subs[0], nil
	}
	sort.Strings(subs)
	return "", errCode("InvalidRequest", http.StatusBadRequest, "A request names one sub-resource; this one names %s", strings.Join(subs, ", "))
}

// route answers a request from the routing table.
func (s *Server) route(w http.ResponseWriter, r *http.Request, p *auth.Principal, bucket, key string, q url.Values) error {
	c := &call{s: s, w: w, r: r, p: p, bucket: bucket, key: key, q: q}
	t := onObject
	switch {
	case bucket == "":
		t = onService
	case key == "":
		t = onBucket
	}
	sub, err := subresourceOf(q)
	if err != nil {
		return err
	}
	// The caller's check that the bucket is the one it means: a lake has
	// one owner, whom each key acts for and is reported as (ListBuckets'
	// Owner), so the expected owner must be the asking key.
	for _, h := range []string{"X-Amz-Expected-Bucket-Owner", "X-Amz-Source-Expected-Bucket-Owner"} {
		if v := r.Header.Get(h); v != "" && v != p.Key.AccessKeyID {
			return errCode("AccessDenied", http.StatusForbidden, "Access Denied.")
		}
	}
	if h, ok := operations[opKey{t, r.Method, sub}]; ok {
		if t == onObject {
			if err := checkNoSSE(r.Header); err != nil {
				return err
			}
		}
		return h(c)
	}
	if sub != "" {
		if isAnonymous(p) {
			// What tarn does not implement is NotImplemented only to
			// an anonymous caller the bucket's policy would let do it.
			if err := s.authorizeAnonymous(r.Context(), unimplementedAction[opKey{t, r.Method, sub}], bucket, key); err != nil {
				return err
			}
		}
		if t != onService {
			// As S3: a missing bucket is said first. Nothing changes
			// either way.
			if _, err := s.store.HeadBucket(r.Context(), bucket); err != nil {
				return err
			}
		}
		return notImplemented(t, r.Method, sub)
	}
	return errCode("MethodNotAllowed", http.StatusMethodNotAllowed, "The specified method is not allowed against this resource.")
}

// unimplementedAction names the policy action of the operations tarn does
// not implement that a public bucket's policy may grant; the others are
// never granted to an anonymous caller.
var unimplementedAction = map[opKey]string{
	{onObject, http.MethodGet, "acl"}:      "s3:GetObjectAcl",
	{onObject, http.MethodPut, "acl"}:      "s3:PutObjectAcl",
	{onObject, http.MethodPost, "restore"}: "s3:RestoreObject",
}

func notImplemented(t target, method, sub string) error {
	return errCode("NotImplemented", http.StatusNotImplemented,
		"A header or query you provided implies functionality that is not implemented: %s ?%s of %s is not supported by tarn", method, sub, t)
}

// misrouted answers the requests no S3 operation has the shape of, as S3
// does, before authentication: they name nothing, so the answer gives
// nothing away, and a client learns what is wrong instead of AccessDenied.
func misrouted(r *http.Request, bucket, key string, q url.Values) error {
	method := r.Method
	if src := r.Header.Get("X-Amz-Copy-Source"); src != "" && method != http.MethodPut {
		return withFields(errCode("InvalidArgument", http.StatusBadRequest, "You can only specify a copy source header for copy requests."),
			errorFields{ArgumentName: "x-amz-copy-source", ArgumentValue: src})
	}
	notAllowed := func(resource string) error {
		return withFields(errCode("MethodNotAllowed", http.StatusMethodNotAllowed, "The specified method is not allowed against this resource."),
			errorFields{Method: method, ResourceType: resource})
	}
	switch {
	case bucket == "" && method == http.MethodPost:
		return notAllowed("SERVICE")
	case key == "":
		return nil
	case method == http.MethodGet && q.Has("uploads"):
		return errCode("InvalidRequest", http.StatusBadRequest, "Key is not expected for the GET method ?uploads subresource")
	case method == http.MethodGet && q.Has("versions"):
		return errCode("InvalidRequest", http.StatusBadRequest, "There is no such thing as the ?versions sub-resource for a key")
	case method == http.MethodPut && q.Has("partNumber") && !q.Has("uploadId"):
		return withFields(errCode("InvalidArgument", http.StatusBadRequest, "This operation does not accept partNumber without uploadId"),
			errorFields{ArgumentName: "partNumber", ArgumentValue: "partNumber"})
	case method == http.MethodPut && q.Has("uploadId") && !q.Has("partNumber"):
		return notAllowed("UPLOAD")
	case method == http.MethodPost && r.URL.RawQuery == "":
		return notAllowed("SERVICE") // S3's word for it
	}
	return nil
}
