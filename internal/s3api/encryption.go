package s3api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/tarn-lake/tarn/internal/storage"
)

// Server-side encryption is refused, not pretended. tarn keeps every
// object as a plain file that DuckDB and other engines read in place (the
// lake must be readable without tarn running), so it cannot encrypt
// objects itself; a lake that must be encrypted at rest sits on an
// encrypted disk (LUKS, FileVault, BitLocker) or on an S3 backend that
// encrypts. Recording "AES256" without encrypting would tell a client its
// data is protected when it is not, so every request that asks for it is
// answered NotImplemented and changes nothing, and GetBucketEncryption
// says there is no configuration.

// errNoSSE is the answer to every request asking for server-side
// encryption.
var errNoSSE = errCode("NotImplemented", http.StatusNotImplemented,
	"A header you provided implies functionality that is not implemented: tarn does not encrypt objects at rest (engines read the lake's files in place); "+
		"encrypt the disk holding the lake instead and send the request without server-side encryption (see docs/security.md)")

// checkNoSSE refuses a request that carries a server-side encryption
// header (SSE-S3, SSE-KMS or SSE-C), so that `--sse AES256` is never
// dropped silently.
func checkNoSSE(h http.Header) error {
	for name := range h {
		n := strings.ToLower(name)
		if strings.HasPrefix(n, "x-amz-server-side-encryption") || strings.HasPrefix(n, "x-amz-copy-source-server-side-encryption") {
			return errNoSSE
		}
	}
	return nil
}

// bucketEncryption answers Put, Get and DeleteBucketEncryption: the
// bucket is checked and the key's right to the operation, then the
// request is refused, since no bucket can have a configuration to set,
// report or remove.
func (c *call) bucketEncryption() error {
	action := "s3:PutEncryptionConfiguration"
	if c.r.Method == http.MethodGet || c.r.Method == http.MethodHead {
		action = "s3:GetEncryptionConfiguration"
	}
	if err := c.allow(action, c.bucket, ""); err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	return errNoSSE
}

var errMalformedXML = errCode("MalformedXML", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema.")

// Public access block. tarn answers no anonymous request and has no
// public ACL or policy to give, so a bucket's public access is always
// blocked whatever the configuration says; the configuration is kept and
// reported so that tools that set it (and check it) work.

const publicAccessConfig = "publicAccessBlock"

type publicAccessBlock struct {
	XMLName               struct{} `xml:"PublicAccessBlockConfiguration"`
	Xmlns                 string   `xml:"xmlns,attr,omitempty"`
	BlockPublicAcls       bool     `xml:"BlockPublicAcls"`
	IgnorePublicAcls      bool     `xml:"IgnorePublicAcls"`
	BlockPublicPolicy     bool     `xml:"BlockPublicPolicy"`
	RestrictPublicBuckets bool     `xml:"RestrictPublicBuckets"`
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
	req.Xmlns = s3NS
	return c.storeConfig(bc, publicAccessConfig, req, http.StatusOK)
}

func (c *call) getPublicAccessBlock() error {
	if err := c.allow("s3:GetBucketPublicAccessBlock", c.bucket, ""); err != nil {
		return err
	}
	var pab publicAccessBlock
	if err := c.loadConfig(publicAccessConfig, &pab); err != nil {
		if errors.Is(err, storage.ErrNoSuchBucketConfig) {
			return errCode("NoSuchPublicAccessBlockConfiguration", http.StatusNotFound, "The public access block configuration was not found")
		}
		return err
	}
	pab.Xmlns = s3NS
	writeXML(c.w, http.StatusOK, pab)
	return nil
}

func (c *call) deletePublicAccessBlock() error {
	return c.deleteConfig("s3:PutBucketPublicAccessBlock", publicAccessConfig)
}
