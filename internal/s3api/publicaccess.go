package s3api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/storage"
)

// S3 Block Public Access, bucket level, the AWS way. Every bucket has its
// public access blocked — all four settings on — until its owner turns
// them off (PutPublicAccessBlock with false, or DeletePublicAccessBlock):
// buckets made before tarn kept the setting too, so an upgrade opens
// nothing. While RestrictPublicBuckets or BlockPublicPolicy is on, a
// bucket policy's Principal "*" means every tarn key, as it always has.
// With both off, the bucket is public: its Principal "*" statements also
// grant requests without credentials (anonymous) exactly the actions and
// resources they allow, under their conditions, and a Deny for "*" binds
// them too. Nothing else is ever granted to an anonymous request: no key
// policy names one, the other buckets stay closed, and what S3 keeps from
// anonymous callers (creating buckets, ACLs, multipart uploads, copies,
// the bucket policy and public access operations) is refused whatever the
// policy says. Like any grant, s3:BypassGovernanceRetention (or s3:*) in a
// Principal "*" statement lets anonymous callers that ask for it pass
// GOVERNANCE retention, as in S3. Each request reads the
// bucket's setting and policy as they are then, so a change takes effect
// at once. tarn keeps no ACLs, so BlockPublicAcls and IgnorePublicAcls
// change nothing: public canned ACLs are refused whatever they say.

// publicAccessConfig is the name the setting is kept under. (Before tarn
// enforced it, "publicAccessBlock" held documents accepted with no effect;
// they are not read, so none opens a bucket.)
const publicAccessConfig = "publicAccess"

type publicAccessBlock struct {
	XMLName               struct{} `xml:"PublicAccessBlockConfiguration"`
	Xmlns                 string   `xml:"xmlns,attr,omitempty"`
	BlockPublicAcls       bool     `xml:"BlockPublicAcls"`
	IgnorePublicAcls      bool     `xml:"IgnorePublicAcls"`
	BlockPublicPolicy     bool     `xml:"BlockPublicPolicy"`
	RestrictPublicBuckets bool     `xml:"RestrictPublicBuckets"`
}

// storedPublicAccess is the document kept for a bucket whose owner set or
// removed its public access block; a bucket without one is blocked.
type storedPublicAccess struct {
	XMLName struct{} `xml:"PublicAccess"`
	// Removed: DeletePublicAccessBlock removed the configuration (no
	// setting blocks; GetPublicAccessBlock answers
	// NoSuchPublicAccessBlockConfiguration).
	Removed               bool `xml:"Removed,omitempty"`
	BlockPublicAcls       bool `xml:"BlockPublicAcls"`
	IgnorePublicAcls      bool `xml:"IgnorePublicAcls"`
	BlockPublicPolicy     bool `xml:"BlockPublicPolicy"`
	RestrictPublicBuckets bool `xml:"RestrictPublicBuckets"`
}

var blockAll = storedPublicAccess{BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true}

// publicAccess returns a bucket's public access setting: all blocked for a
// bucket that has none (or a missing bucket, or a store that keeps no
// bucket configuration).
func (s *Server) publicAccess(ctx context.Context, bucket string) (storedPublicAccess, error) {
	bc, ok := s.store.(storage.BucketConfigs)
	if !ok || storage.ValidateBucketName(bucket) != nil {
		return blockAll, nil
	}
	data, err := bc.BucketConfig(ctx, bucket, publicAccessConfig)
	switch {
	case errors.Is(err, storage.ErrNoSuchBucketConfig), errors.Is(err, storage.ErrNoSuchBucket), err == nil && len(data) == 0:
		return blockAll, nil
	case err != nil:
		return blockAll, err
	}
	var pa storedPublicAccess
	if err := xml.Unmarshal(data, &pa); err != nil {
		return blockAll, fmt.Errorf("bucket %q has an unreadable public access setting: %w", bucket, err)
	}
	return pa, nil
}

// policyPublic reports whether a bucket's policy may grant anonymous
// requests: neither RestrictPublicBuckets nor BlockPublicPolicy is on.
func (pa storedPublicAccess) policyPublic() bool {
	return !pa.RestrictPublicBuckets && !pa.BlockPublicPolicy
}

func (c *call) putPublicAccessBlock() error {
	if err := c.allow("s3:PutBucketPublicAccessBlock", c.bucket, ""); err != nil {
		return err
	}
	bc, err := c.s.bucketConfigs()
	if err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	var req publicAccessBlock
	if err := c.readConfigBody(&req); err != nil {
		return err
	}
	// As in S3, a setting left out is off.
	return c.storeConfig(bc, publicAccessConfig, storedPublicAccess{
		BlockPublicAcls: req.BlockPublicAcls, IgnorePublicAcls: req.IgnorePublicAcls,
		BlockPublicPolicy: req.BlockPublicPolicy, RestrictPublicBuckets: req.RestrictPublicBuckets,
	}, http.StatusOK)
}

func (c *call) getPublicAccessBlock() error {
	if err := c.allow("s3:GetBucketPublicAccessBlock", c.bucket, ""); err != nil {
		return err
	}
	if _, err := c.s.bucketConfigs(); err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	pa, err := c.s.publicAccess(c.r.Context(), c.bucket)
	if err != nil {
		return err
	}
	if pa.Removed {
		return errCode("NoSuchPublicAccessBlockConfiguration", http.StatusNotFound, "The public access block configuration was not found")
	}
	writeXML(c.w, http.StatusOK, publicAccessBlock{Xmlns: s3NS,
		BlockPublicAcls: pa.BlockPublicAcls, IgnorePublicAcls: pa.IgnorePublicAcls,
		BlockPublicPolicy: pa.BlockPublicPolicy, RestrictPublicBuckets: pa.RestrictPublicBuckets})
	return nil
}

// deletePublicAccessBlock removes the configuration, which unblocks the
// bucket as in S3 (tarn has no account-level setting above it).
func (c *call) deletePublicAccessBlock() error {
	if err := c.allow("s3:PutBucketPublicAccessBlock", c.bucket, ""); err != nil {
		return err
	}
	bc, err := c.s.bucketConfigs()
	if err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	return c.storeConfig(bc, publicAccessConfig, storedPublicAccess{Removed: true}, http.StatusNoContent)
}

// anonymous is the principal of a request without credentials that a
// public bucket's policy may grant. Its key has no policy and no id, so
// every key policy denies it; authorize looks only at the bucket policy's
// Principal "*" statements for it.
var anonymous = &auth.Principal{Key: auth.Key{Name: "anonymous"}, Service: "s3"}

func isAnonymous(p *auth.Principal) bool { return p == anonymous }

// ownerOnly are the actions S3 gives only to the bucket owner's account,
// whatever a policy says: an anonymous request granted them by a public
// policy is answered MethodNotAllowed, as S3 does.
var ownerOnly = map[string]bool{
	"s3:PutBucketPolicy": true, "s3:GetBucketPolicy": true, "s3:DeleteBucketPolicy": true,
	"s3:PutBucketPublicAccessBlock": true, "s3:GetBucketPublicAccessBlock": true,
}

// authorizeAnonymous decides an anonymous request: the bucket must be
// public (policyPublic) and a Principal "*" statement of its policy must
// allow the action on the resource, and none deny it.
func (s *Server) authorizeAnonymous(ctx context.Context, action, bucket, key string) error {
	res := auth.S3Resource(bucket, key)
	denied := fmt.Errorf("an anonymous request may not %s on %s: %w", action, res, auth.ErrAccessDenied)
	if bucket == "" || bucket == "*" {
		return denied
	}
	pa, err := s.publicAccess(ctx, bucket)
	if err != nil {
		return err
	}
	if !pa.policyPublic() {
		return denied
	}
	sts, err := s.bucketPolicyFor(ctx, bucket)
	if err != nil {
		return err
	}
	allowed := false
	var cc *condContext
	for i := range sts {
		st := &sts[i]
		if len(st.principals) != 1 || st.principals[0] != "*" || !st.matches(action, res) {
			continue
		}
		if len(st.Condition) > 0 {
			if cc == nil {
				cc = s.requestConditions(ctx, anonymous, action, bucket, key)
			}
			holds, ok := evalCondition(st.Condition, cc)
			if !ok {
				holds = st.Effect == "Deny"
			}
			if !holds {
				continue
			}
		}
		switch st.Effect {
		case "Deny":
			return denied
		case "Allow":
			allowed = true
		}
	}
	if !allowed {
		return denied
	}
	if ownerOnly[action] {
		return errCode("MethodNotAllowed", http.StatusMethodNotAllowed, "The specified method is not allowed against this resource.")
	}
	return nil
}

// publicBucket reports whether anonymous requests on bucket may be
// granted anything: it is public and its policy has a Principal "*"
// Allow. A missing bucket is not public (its absence is not told).
func (s *Server) publicBucket(ctx context.Context, bucket string) (bool, error) {
	if bucket == "" {
		return false, nil
	}
	pa, err := s.publicAccess(ctx, bucket)
	if err != nil || !pa.policyPublic() {
		return false, err
	}
	sts, err := s.bucketPolicyFor(ctx, bucket)
	if err != nil {
		return false, err
	}
	for _, st := range sts {
		if st.Effect == "Allow" && len(st.principals) == 1 && st.principals[0] == "*" {
			return true, nil
		}
	}
	return false, nil
}

// anonymousBody prepares the body of an anonymous request that a public
// bucket may take, as Authenticate does for signed ones: a hex
// x-amz-content-sha256 is checked as the body is read (any other value
// but UNSIGNED-PAYLOAD can never match, and fails the same way), and an
// unsigned x-amz-decoded-content-length is dropped.
func anonymousBody(r *http.Request) error {
	r.Header.Del("X-Amz-Decoded-Content-Length")
	switch p := r.Header.Get("X-Amz-Content-Sha256"); p {
	case "", auth.UnsignedPayload:
		return nil
	case auth.StreamingUnsignedPayloadTrailer:
		return errCode("NotImplemented", http.StatusNotImplemented,
			"A header you provided implies functionality that is not implemented: tarn takes no anonymous aws-chunked body; send it with UNSIGNED-PAYLOAD")
	default:
		if r.Body == nil || r.Body == http.NoBody {
			if p != auth.EmptySHA256 {
				return sha256Mismatch(auth.EmptySHA256)
			}
			return nil
		}
		r.Body = &anonSHA256Reader{rc: r.Body, h: sha256.New(), want: strings.ToLower(p)}
		return nil
	}
}

func sha256Mismatch(computed string) error {
	return withFields(errCode("XAmzContentSHA256Mismatch", http.StatusBadRequest,
		"The provided 'x-amz-content-sha256' header does not match what was computed."),
		errorFields{S3ComputedContentSHA256: computed})
}

// anonSHA256Reader fails the read that reaches the end of a body that does
// not hash to want.
type anonSHA256Reader struct {
	rc   io.ReadCloser
	h    hash.Hash
	want string
}

func (a *anonSHA256Reader) Read(p []byte) (int, error) {
	n, err := a.rc.Read(p)
	a.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(a.h.Sum(nil)); got != a.want {
			return n, sha256Mismatch(got)
		}
	}
	return n, err
}

func (a *anonSHA256Reader) Close() error { return a.rc.Close() }
