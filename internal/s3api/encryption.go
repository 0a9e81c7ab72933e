package s3api

import (
	"net/http"
	"strings"
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
