package s3api

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"slices"

	"github.com/tarn-lake/tarn/internal/storage"
)

// Bucket ACLs: a bucket is private — its owner has full control, and
// access is decided by key and bucket policies only. The private canned
// ACL is accepted and reported; the public ones are refused
// (NotImplemented): tarn keeps no ACLs, and a bucket is made public with
// a policy once its public access block is off (publicaccess.go). As in S3, ACLs other than
// private are refused first while the ownership controls are
// BucketOwnerEnforced (the default).

var cannedACLs = []string{"private", "public-read", "public-read-write", "authenticated-read"}

// aclsEnforcedOff reports whether the bucket's ownership controls allow
// ACLs (anything but BucketOwnerEnforced, which buckets have until set).
func (c *call) aclsAllowed(bc storage.BucketConfigs) (bool, error) {
	data, err := bc.BucketConfig(c.r.Context(), c.bucket, ownershipConfig)
	switch {
	case errors.Is(err, storage.ErrNoSuchBucketConfig):
		return false, nil
	case err != nil:
		return false, err
	case len(data) == 0:
		return true, nil
	}
	var oc ownershipControls
	if err := xml.Unmarshal(data, &oc); err != nil {
		return false, err
	}
	return len(oc.Rules) != 1 || oc.Rules[0].ObjectOwnership != "BucketOwnerEnforced", nil
}

// checkCreateBucketACL applies x-amz-object-ownership and x-amz-acl of a
// CreateBucket before the bucket is made; it returns the documents to
// record once it exists.
func checkCreateBucketACL(h http.Header) (ownership, acl string, err error) {
	ownership, acl = h.Get("X-Amz-Object-Ownership"), h.Get("X-Amz-Acl")
	if ownership != "" && !slices.Contains(objectOwnerships, ownership) {
		return "", "", errCode("InvalidArgument", http.StatusBadRequest, "Invalid x-amz-object-ownership header: %s", ownership)
	}
	if acl != "" && !slices.Contains(cannedACLs, acl) {
		return "", "", errCode("InvalidArgument", http.StatusBadRequest, "")
	}
	if acl != "" && acl != "private" && (ownership == "" || ownership == "BucketOwnerEnforced") {
		return "", "", errCode("InvalidBucketAclWithObjectOwnership", http.StatusBadRequest, "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
	}
	if acl != "" && acl != "private" {
		return "", "", errPublicACL
	}
	for _, g := range []string{"X-Amz-Grant-Full-Control", "X-Amz-Grant-Read", "X-Amz-Grant-Read-Acp", "X-Amz-Grant-Write", "X-Amz-Grant-Write-Acp"} {
		if h.Get(g) != "" {
			return "", "", errCode("NotImplemented", http.StatusNotImplemented, "A header you provided implies functionality that is not implemented.")
		}
	}
	return ownership, acl, nil
}

func (c *call) putBucketACL() error {
	if err := c.allow("s3:PutBucketAcl", c.bucket, ""); err != nil {
		return err
	}
	bc, err := c.s.bucketConfigs()
	if err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	acl := c.r.Header.Get("X-Amz-Acl")
	grants := false
	for _, g := range []string{"X-Amz-Grant-Full-Control", "X-Amz-Grant-Read", "X-Amz-Grant-Read-Acp", "X-Amz-Grant-Write", "X-Amz-Grant-Write-Acp"} {
		grants = grants || c.r.Header.Get(g) != ""
	}
	data, err := io.ReadAll(io.LimitReader(c.r.Body, maxBucketConfigBody+1))
	if err != nil {
		return err
	}
	body := len(bytes.TrimSpace(data)) > 0
	if body && (acl != "" || grants) {
		return errCode("UnexpectedContent", http.StatusBadRequest, "This request does not support content.")
	}
	if body {
		if err := checkACLBody(data); err != nil {
			return err
		}
	}
	allowed, err := c.aclsAllowed(bc)
	if err != nil {
		return err
	}
	switch {
	case !allowed && acl != "private" && acl != "bucket-owner-full-control":
		return errCode("AccessControlListNotSupported", http.StatusBadRequest, "The bucket does not allow ACLs.")
	case acl != "" && grants:
		return errCode("InvalidRequest", http.StatusBadRequest, "Specifying both Canned ACLs and Header Grants is not allowed.")
	case grants || body:
		// Grants to other accounts mean nothing in a lake of one owner.
		return errCode("NotImplemented", http.StatusNotImplemented, "A header you provided implies functionality that is not implemented.")
	case acl == "":
		return errCode("MissingSecurityHeader", http.StatusBadRequest, "Your request was missing a required header.")
	case acl == "bucket-owner-full-control":
		acl = "private"
	case !slices.Contains(cannedACLs, acl):
		return errCode("InvalidArgument", http.StatusBadRequest, "")
	case acl != "private":
		return errPublicACL
	}
	// Private is what every bucket is: nothing to record.
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// checkACLBody refuses an AccessControlPolicy S3 would call malformed:
// no owner, a grant without a known permission or grantee type, or a
// canonical user grantee without an id.
func checkACLBody(data []byte) error {
	malformed := errCode("MalformedACLError", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema.")
	var acp struct {
		Owner *struct {
			ID string `xml:"ID"`
		} `xml:"Owner"`
		Grants []struct {
			Grantee struct {
				Type  string `xml:"type,attr"`
				ID    string `xml:"ID"`
				URI   string `xml:"URI"`
				Email string `xml:"EmailAddress"`
			} `xml:"Grantee"`
			Permission string `xml:"Permission"`
		} `xml:"AccessControlList>Grant"`
	}
	if xml.Unmarshal(data, &acp) != nil || acp.Owner == nil || acp.Owner.ID == "" {
		return malformed
	}
	for _, g := range acp.Grants {
		if !slices.Contains([]string{"FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP"}, g.Permission) {
			return malformed
		}
		switch g.Grantee.Type {
		case "CanonicalUser":
			if g.Grantee.ID == "" {
				return malformed
			}
		case "Group":
			if g.Grantee.URI == "" {
				return malformed
			}
		case "AmazonCustomerByEmail":
			if g.Grantee.Email == "" {
				return malformed
			}
		default:
			return malformed
		}
	}
	return nil
}

var errPublicACL = errCode("NotImplemented", http.StatusNotImplemented,
	"A header you provided implies functionality that is not implemented: tarn keeps no ACLs; to make a bucket public, turn off its public access block and give Principal \"*\" a bucket policy")

type grantee struct {
	XSI         string `xml:"xmlns:xsi,attr"`
	Type        string `xml:"xsi:type,attr"`
	ID          string `xml:"ID,omitempty"`
	DisplayName string `xml:"DisplayName,omitempty"`
}

type grant struct {
	Grantee    grantee `xml:"Grantee"`
	Permission string  `xml:"Permission"`
}

type accessControlPolicy struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	Xmlns   string   `xml:"xmlns,attr"`
	Owner   owner    `xml:"Owner"`
	Grants  []grant  `xml:"AccessControlList>Grant"`
}

// getBucketACL reports the private ACL as S3's grants: the owner (the
// key that asks: a lake has one owner) has full control.
func (c *call) getBucketACL() error {
	if err := c.allow("s3:GetBucketAcl", c.bucket, ""); err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	const xsi = "http://www.w3.org/2001/XMLSchema-instance"
	id := c.p.Key.AccessKeyID
	if isAnonymous(c.p) {
		id = "tarn" // the owner, as objects' owners are listed
	}
	out := accessControlPolicy{Xmlns: s3NS, Owner: owner{ID: id, DisplayName: id},
		Grants: []grant{{Grantee: grantee{XSI: xsi, Type: "CanonicalUser", ID: id, DisplayName: id}, Permission: "FULL_CONTROL"}}}
	writeXML(c.w, http.StatusOK, out)
	return nil
}

// objectACLGrants are the headers that grant object permissions.
var objectACLGrants = []string{"X-Amz-Grant-Full-Control", "X-Amz-Grant-Read", "X-Amz-Grant-Read-Acp", "X-Amz-Grant-Write-Acp"}

// checkObjectACL applies an object write's x-amz-acl and x-amz-grant-*
// (PutObject, CopyObject, CreateMultipartUpload, a POST form's acl): the
// canned ACLs that give the owner alone full control (private,
// bucket-owner-full-control) are what every tarn object has, and are
// accepted; anything else is refused before a byte is stored —
// AccessControlListNotSupported while the bucket's ownership is
// BucketOwnerEnforced (the default), as in S3, and NotImplemented
// otherwise (tarn keeps no object ACLs).
func (s *Server) checkObjectACL(ctx context.Context, bucket, acl string, grants bool) error {
	if !grants && (acl == "" || acl == "private" || acl == "bucket-owner-full-control") {
		return nil
	}
	if bc, ok := s.store.(storage.BucketConfigs); ok {
		c := &call{s: s, bucket: bucket, r: (&http.Request{}).WithContext(ctx)}
		allowed, err := c.aclsAllowed(bc)
		if err != nil {
			return err
		}
		if !allowed {
			return errCode("AccessControlListNotSupported", http.StatusBadRequest, "The bucket does not allow ACLs.")
		}
	}
	return errCode("NotImplemented", http.StatusNotImplemented, "A header you provided implies functionality that is not implemented: object ACLs (tarn decides access by policies)")
}

// headerObjectACL reads an object write's ACL headers.
func headerObjectACL(h http.Header) (acl string, grants bool) {
	for _, g := range objectACLGrants {
		grants = grants || h.Get(g) != ""
	}
	return h.Get("X-Amz-Acl"), grants
}
