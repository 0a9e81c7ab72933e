package s3api

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"slices"

	"github.com/tarn-lake/tarn/internal/storage"
)

// Bucket sub-resources kept as documents by the store
// (storage.BucketConfigs): the bucket's tags and its ownership controls.

const (
	maxBucketTags       = 50
	maxBucketConfigBody = 64 << 10
	tagsConfig          = "tagging"
	ownershipConfig     = "ownershipControls"
)

func (s *Server) bucketConfigs() (storage.BucketConfigs, error) {
	bc, ok := s.store.(storage.BucketConfigs)
	if !ok {
		return nil, errCode("NotImplemented", http.StatusNotImplemented, "This object store keeps no bucket configuration")
	}
	return bc, nil
}

// readConfigBody reads a sub-resource's XML document into v.
func (c *call) readConfigBody(v any) error {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxBucketConfigBody+1))
	if err != nil {
		return err
	}
	if len(body) > maxBucketConfigBody {
		return errCode("MaxMessageLengthExceeded", http.StatusBadRequest, "Your request was too big.")
	}
	if xml.Unmarshal(body, v) != nil {
		return errCode("MalformedXML", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema.")
	}
	return nil
}

func (c *call) putBucketTagging() error {
	if err := c.allow("s3:PutBucketTagging", c.bucket, ""); err != nil {
		return err
	}
	bc, err := c.s.bucketConfigs()
	if err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	var req tagging
	if err := c.readConfigBody(&req); err != nil {
		return err
	}
	keys, values := make([]string, len(req.TagSet)), make([]string, len(req.TagSet))
	for i, t := range req.TagSet {
		keys[i], values[i] = t.Key, t.Value
	}
	if _, err := checkTags(keys, values, maxBucketTags, "Bucket tag count cannot be greater than 50"); err != nil {
		return err
	}
	out := tagging{Xmlns: s3NS, TagSet: req.TagSet}
	data, err := xml.Marshal(out)
	if err != nil {
		return err
	}
	if err := bc.SetBucketConfig(c.r.Context(), c.bucket, tagsConfig, data); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *call) getBucketTagging() error {
	if err := c.allow("s3:GetBucketTagging", c.bucket, ""); err != nil {
		return err
	}
	bc, err := c.s.bucketConfigs()
	if err != nil {
		return err
	}
	data, err := bc.BucketConfig(c.r.Context(), c.bucket, tagsConfig)
	if errors.Is(err, storage.ErrNoSuchBucketConfig) {
		return errCode("NoSuchTagSet", http.StatusNotFound, "The TagSet does not exist.")
	}
	if err != nil {
		return err
	}
	var t tagging
	if err := xml.Unmarshal(data, &t); err != nil {
		return err
	}
	if t.TagSet == nil {
		t.TagSet = []tag{}
	}
	t.Xmlns = s3NS
	writeXML(c.w, http.StatusOK, t)
	return nil
}

func (c *call) deleteBucketTagging() error {
	if err := c.allow("s3:PutBucketTagging", c.bucket, ""); err != nil {
		return err
	}
	bc, err := c.s.bucketConfigs()
	if err != nil {
		return err
	}
	if err := bc.SetBucketConfig(c.r.Context(), c.bucket, tagsConfig, nil); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

type ownershipControls struct {
	XMLName xml.Name `xml:"OwnershipControls"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Rules   []struct {
		ObjectOwnership string `xml:"ObjectOwnership"`
	} `xml:"Rule"`
}

var objectOwnerships = []string{"BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"}

// putBucketOwnershipControls records the bucket's ownership setting. It
// changes nothing else: a lake has one owner, and access is decided by
// key policies whatever it says.
func (c *call) putBucketOwnershipControls() error {
	if err := c.allow("s3:PutBucketOwnershipControls", c.bucket, ""); err != nil {
		return err
	}
	bc, err := c.s.bucketConfigs()
	if err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	var req ownershipControls
	if err := c.readConfigBody(&req); err != nil {
		return err
	}
	if len(req.Rules) != 1 || !slices.Contains(objectOwnerships, req.Rules[0].ObjectOwnership) {
		return errCode("MalformedXML", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema.")
	}
	req.Xmlns = s3NS
	data, err := xml.Marshal(req)
	if err != nil {
		return err
	}
	if err := bc.SetBucketConfig(c.r.Context(), c.bucket, ownershipConfig, data); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// getBucketOwnershipControls answers the recorded setting; a bucket that
// never had one has S3's default, BucketOwnerEnforced, until it is
// deleted (recorded as an empty document).
func (c *call) getBucketOwnershipControls() error {
	if err := c.allow("s3:GetBucketOwnershipControls", c.bucket, ""); err != nil {
		return err
	}
	bc, err := c.s.bucketConfigs()
	if err != nil {
		return err
	}
	data, err := bc.BucketConfig(c.r.Context(), c.bucket, ownershipConfig)
	switch {
	case errors.Is(err, storage.ErrNoSuchBucketConfig):
		data = []byte(`<OwnershipControls><Rule><ObjectOwnership>BucketOwnerEnforced</ObjectOwnership></Rule></OwnershipControls>`)
	case err != nil:
		return err
	case len(data) == 0:
		return errCode("OwnershipControlsNotFoundError", http.StatusNotFound, "The bucket ownership controls were not found.")
	}
	var oc ownershipControls
	if err := xml.Unmarshal(data, &oc); err != nil {
		return err
	}
	oc.Xmlns = s3NS
	writeXML(c.w, http.StatusOK, oc)
	return nil
}

func (c *call) deleteBucketOwnershipControls() error {
	if err := c.allow("s3:PutBucketOwnershipControls", c.bucket, ""); err != nil {
		return err
	}
	bc, err := c.s.bucketConfigs()
	if err != nil {
		return err
	}
	if err := bc.SetBucketConfig(c.r.Context(), c.bucket, ownershipConfig, []byte{}); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// createBucketConfiguration reads CreateBucket's optional body: a
// location constraint, which must name the endpoint's region (but never
// us-east-1, which S3 takes only by saying nothing), and tags,
// returned as the bucket's tagging document.
func (c *call) createBucketConfiguration() ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxBucketConfigBody+1))
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	if len(body) > maxBucketConfigBody {
		return nil, errCode("MaxMessageLengthExceeded", http.StatusBadRequest, "Your request was too big.")
	}
	var cfg struct {
		LocationConstraint *string `xml:"LocationConstraint"`
		Tags               []tag   `xml:"Tags>Tag"`
	}
	if xml.Unmarshal(body, &cfg) != nil {
		return nil, errMalformedXML
	}
	if lc := cfg.LocationConstraint; lc != nil && *lc != "" && (*lc != c.s.cfg.Region || *lc == "us-east-1") {
		return nil, errCode("InvalidLocationConstraint", http.StatusBadRequest, "The specified location-constraint is not valid")
	}
	if len(cfg.Tags) == 0 {
		return nil, nil
	}
	keys, values := make([]string, len(cfg.Tags)), make([]string, len(cfg.Tags))
	for i, t := range cfg.Tags {
		keys[i], values[i] = t.Key, t.Value
	}
	if _, err := checkTags(keys, values, maxBucketTags, "Bucket tag count cannot be greater than 50"); err != nil {
		return nil, err
	}
	return xml.Marshal(tagging{Xmlns: s3NS, TagSet: cfg.Tags})
}
