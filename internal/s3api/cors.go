package s3api

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tarn-lake/tarn/internal/storage"
)

// Bucket CORS configuration (Put/Get/DeleteBucketCors) and the browsers'
// preflight requests (OPTIONS) it answers. A preflight is not signed — a
// browser sends it before the signed request, without credentials — so
// it is answered before authentication, as S3 does; it reads only the
// bucket's CORS rules and says whether a request from that origin may be
// made. The request itself is then signed and authorized by key policy
// as any other: CORS never grants access.

const corsConfig = "cors"

var corsMethods = []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodHead}

type corsRule struct {
	ID             string   `xml:"ID,omitempty"`
	AllowedHeaders []string `xml:"AllowedHeader"`
	AllowedMethods []string `xml:"AllowedMethod"`
	AllowedOrigins []string `xml:"AllowedOrigin"`
	ExposeHeaders  []string `xml:"ExposeHeader"`
	MaxAgeSeconds  *int     `xml:"MaxAgeSeconds,omitempty"`
}

type corsConfiguration struct {
	XMLName xml.Name   `xml:"CORSConfiguration"`
	Xmlns   string     `xml:"xmlns,attr,omitempty"`
	Rules   []corsRule `xml:"CORSRule"`
}

// validHeaderName reports whether h is an HTTP token (RFC 9110), with
// '*' allowed as a wildcard.
func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}

func (cfg *corsConfiguration) validate() error {
	if len(cfg.Rules) == 0 || len(cfg.Rules) > 100 {
		return errMalformedXML
	}
	for _, r := range cfg.Rules {
		if len(r.AllowedOrigins) == 0 || len(r.AllowedMethods) == 0 {
			return errMalformedXML
		}
		for _, o := range r.AllowedOrigins {
			if strings.Count(o, "*") > 1 {
				return errCode("InvalidRequest", http.StatusBadRequest, "AllowedOrigin \"%s\" can not have more than one wildcard.", o)
			}
		}
		for _, m := range r.AllowedMethods {
			if !slices.Contains(corsMethods, m) {
				return errCode("InvalidRequest", http.StatusBadRequest, "Found unsupported HTTP method in CORS config. Unsupported method is %s", m)
			}
		}
		for _, h := range append(slices.Clone(r.AllowedHeaders), r.ExposeHeaders...) {
			if !validHeaderName(h) {
				return errCode("InvalidRequest", http.StatusBadRequest, "AllowedHeader \"%s\" contains invalid character.", h)
			}
		}
	}
	return nil
}

func (c *call) putBucketCors() error {
	if err := c.allow("s3:PutBucketCORS", c.bucket, ""); err != nil {
		return err
	}
	bc, err := c.s.bucketConfigs()
	if err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxBucketConfigBody+1))
	if err != nil {
		return err
	}
	if len(body) > maxBucketConfigBody {
		return errCode("MaxMessageLengthExceeded", http.StatusBadRequest, "Your request was too big.")
	}
	if m := c.r.Header.Get("Content-MD5"); m != "" {
		sum, err := base64.StdEncoding.DecodeString(m)
		if err != nil || len(sum) != md5.Size {
			return errCode("InvalidDigest", http.StatusBadRequest, "The Content-Md5 you specified is not valid.")
		}
		if got := md5.Sum(body); !bytes.Equal(got[:], sum) {
			return storage.ErrBadDigest
		}
	}
	var cfg corsConfiguration
	if xml.Unmarshal(body, &cfg) != nil {
		return errMalformedXML
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	cfg.Xmlns = s3NS
	return c.storeConfig(bc, corsConfig, cfg, http.StatusOK)
}

func (c *call) getBucketCors() error {
	if err := c.allow("s3:GetBucketCORS", c.bucket, ""); err != nil {
		return err
	}
	var cfg corsConfiguration
	if err := c.loadConfig(corsConfig, &cfg); err != nil {
		if errors.Is(err, storage.ErrNoSuchBucketConfig) {
			return errCode("NoSuchCORSConfiguration", http.StatusNotFound, "The CORS configuration does not exist")
		}
		return err
	}
	cfg.Xmlns = s3NS
	writeXML(c.w, http.StatusOK, cfg)
	return nil
}

func (c *call) deleteBucketCors() error {
	return c.deleteConfig("s3:PutBucketCORS", corsConfig)
}

// wildcardMatch matches s against a pattern with at most one '*'
// (any run of characters), case-insensitively as for header names when
// fold is set.
func wildcardMatch(pattern, s string, fold bool) bool {
	if fold {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	before, after, star := strings.Cut(pattern, "*")
	if !star {
		return pattern == s
	}
	return len(s) >= len(before)+len(after) && strings.HasPrefix(s, before) && strings.HasSuffix(s, after)
}

// preflight answers a browser's OPTIONS request from the bucket's CORS
// rules: the first rule that allows the origin, the method and every
// requested header.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request, bucket string) error {
	if bucket == "" {
		return errCode("BadRequest", http.StatusBadRequest, "Insufficient information. Origin request header needed.")
	}
	ctx := r.Context()
	if _, err := s.store.HeadBucket(ctx, bucket); err != nil {
		return err
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return errCode("BadRequest", http.StatusBadRequest, "Insufficient information. Origin request header needed.")
	}
	method := r.Header.Get("Access-Control-Request-Method")
	if !slices.Contains(corsMethods, method) {
		return errCode("BadRequest", http.StatusBadRequest, "Invalid Access-Control-Request-Method: %s", method)
	}
	var asked []string
	if hs := r.Header.Get("Access-Control-Request-Headers"); hs != "" {
		for h := range strings.SplitSeq(hs, ",") {
			if !validHeaderName(h) || strings.Contains(h, "*") {
				return errCode("BadRequest", http.StatusBadRequest, "Access-Control-Request-Headers \"%s\" contains invalid character.", h)
			}
			asked = append(asked, strings.ToLower(h))
		}
	}
	bc, ok := s.store.(storage.BucketConfigs)
	var data []byte
	var err error
	if ok {
		data, err = bc.BucketConfig(ctx, bucket, corsConfig)
	}
	if !ok || errors.Is(err, storage.ErrNoSuchBucketConfig) || err == nil && len(data) == 0 {
		return errCode("AccessForbidden", http.StatusForbidden, "CORSResponse: CORS is not enabled for this bucket.")
	}
	if err != nil {
		return err
	}
	var cfg corsConfiguration
	if err := xml.Unmarshal(data, &cfg); err != nil {
		return err
	}
	for _, rule := range cfg.Rules {
		matched := ""
		for _, o := range rule.AllowedOrigins {
			if wildcardMatch(o, origin, false) {
				matched = o
				break
			}
		}
		if matched == "" || !slices.Contains(rule.AllowedMethods, method) {
			continue
		}
		allowed := true
		for _, h := range asked {
			if !slices.ContainsFunc(rule.AllowedHeaders, func(p string) bool { return wildcardMatch(p, h, true) }) {
				allowed = false
				break
			}
		}
		if !allowed {
			continue
		}
		hd := w.Header()
		if matched == "*" {
			hd.Set("Access-Control-Allow-Origin", "*")
			hd.Set("Access-Control-Allow-Credentials", "false")
		} else {
			hd.Set("Access-Control-Allow-Origin", origin)
			hd.Set("Access-Control-Allow-Credentials", "true")
		}
		hd.Set("Access-Control-Allow-Methods", strings.Join(rule.AllowedMethods, ", "))
		if len(asked) > 0 {
			hd.Set("Access-Control-Allow-Headers", strings.Join(asked, ", "))
		}
		// The ETag is always readable: clients need it for multipart uploads.
		hd.Set("Access-Control-Expose-Headers", strings.Join(append(slices.Clone(rule.ExposeHeaders), "ETag"), ", "))
		if rule.MaxAgeSeconds != nil {
			hd.Set("Access-Control-Max-Age", strconv.Itoa(*rule.MaxAgeSeconds))
		}
		hd.Set("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	return errCode("AccessForbidden", http.StatusForbidden, "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.")
}
