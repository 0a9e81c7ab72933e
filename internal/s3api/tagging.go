package s3api

import (
	"encoding/xml"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tarn-lake/tarn/internal/storage"
)

// S3's limits on object tags.
const (
	maxObjectTags   = 10
	maxTagKeyLen    = 128
	maxTagValueLen  = 256
	maxTaggingBody  = 64 << 10
	tagCountHeader  = "x-amz-tagging-count"
	invalidTagCode  = "InvalidTag"
	tagLimitMessage = "Object tags cannot be greater than 10"
)

// tagChar reports whether r may appear in a tag key or value: letters,
// digits, white space and + - = . _ : / @ (S3's rule).
func tagChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsSpace(r) || strings.ContainsRune("+-=._:/@", r)
}

func validTagText(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if !tagChar(r) {
			return false
		}
	}
	return true
}

// checkTags applies S3's rules to a tag set given as pairs.
func checkTags(keys, values []string, max int, limitMessage string) (map[string]string, error) {
	if len(keys) > max {
		return nil, errCode("BadRequest", http.StatusBadRequest, "%s", limitMessage)
	}
	tags := map[string]string{}
	for i, k := range keys {
		if k == "" || !validTagText(k, maxTagKeyLen) {
			return nil, errCode(invalidTagCode, http.StatusBadRequest, "The TagKey you have provided is invalid")
		}
		if !validTagText(values[i], maxTagValueLen) {
			return nil, errCode(invalidTagCode, http.StatusBadRequest, "The TagValue you have provided is invalid")
		}
		if _, dup := tags[k]; dup {
			return nil, errCode(invalidTagCode, http.StatusBadRequest, "Cannot provide multiple Tags with the same key")
		}
		tags[k] = values[i]
	}
	if len(tags) == 0 {
		return nil, nil
	}
	return tags, nil
}

// tagsFromHeader parses x-amz-tagging (k1=v1&k2=v2, URL-encoded), the
// tags of PutObject, CopyObject (REPLACE) and CreateMultipartUpload.
func tagsFromHeader(h http.Header) (map[string]string, error) {
	v := h.Get("X-Amz-Tagging")
	if v == "" {
		return nil, nil
	}
	bad := errCode("InvalidArgument", http.StatusBadRequest, "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
	var keys, values []string
	seen := map[string]bool{}
	for pair := range strings.SplitSeq(v, "&") {
		if pair == "" {
			continue
		}
		k, val, _ := strings.Cut(pair, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(val)
		if err1 != nil || err2 != nil || dk == "" || seen[dk] {
			return nil, bad
		}
		seen[dk] = true
		keys, values = append(keys, dk), append(values, dv)
	}
	return checkTags(keys, values, maxObjectTags, tagLimitMessage)
}

// tagger returns the store's tagging, or NotImplemented.
func (s *Server) tagger() (storage.Tagger, error) {
	t, ok := s.store.(storage.Tagger)
	if !ok {
		return nil, errCode("NotImplemented", http.StatusNotImplemented, "This object store does not keep tags")
	}
	return t, nil
}

func (c *call) headVersion(vid string) (storage.ObjectInfo, error) {
	if vid == "" {
		return c.s.store.Head(c.r.Context(), c.bucket, c.key)
	}
	v, err := c.s.versioned()
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	return v.HeadVersion(c.r.Context(), c.bucket, c.key, vid)
}

// getObjectTagging answers GetObjectTagging: the tags in key order.
func (c *call) getObjectTagging() error {
	vid, err := c.versionID()
	if err != nil {
		return err
	}
	action := "s3:GetObjectTagging"
	if vid != "" {
		action = "s3:GetObjectVersionTagging"
	}
	if err := c.allow(action, c.bucket, c.key); err != nil {
		return err
	}
	info, err := c.headVersion(vid)
	if err != nil {
		return err
	}
	out := tagging{Xmlns: s3NS, TagSet: []tag{}}
	for _, k := range slices.Sorted(maps.Keys(info.Tags)) {
		out.TagSet = append(out.TagSet, tag{Key: k, Value: info.Tags[k]})
	}
	setVersionHeader(c.w, info.VersionID)
	writeXML(c.w, http.StatusOK, out)
	return nil
}

// putObjectTagging answers PutObjectTagging: the tags replace the
// object's (or version's); nothing else of it changes.
func (c *call) putObjectTagging() error {
	return c.setTagging(true)
}

// deleteObjectTagging answers DeleteObjectTagging.
func (c *call) deleteObjectTagging() error {
	return c.setTagging(false)
}

func (c *call) setTagging(put bool) error {
	vid, err := c.versionID()
	if err != nil {
		return err
	}
	action := map[bool]string{true: "s3:PutObjectTagging", false: "s3:DeleteObjectTagging"}[put]
	if vid != "" {
		action = map[bool]string{true: "s3:PutObjectVersionTagging", false: "s3:DeleteObjectVersionTagging"}[put]
	}
	if err := c.allow(action, c.bucket, c.key); err != nil {
		return err
	}
	t, err := c.s.tagger()
	if err != nil {
		return err
	}
	var tags map[string]string
	if put {
		body, err := io.ReadAll(io.LimitReader(c.r.Body, maxTaggingBody+1))
		if err != nil {
			return err
		}
		var req tagging
		if len(body) > maxTaggingBody || xml.Unmarshal(body, &req) != nil {
			return errCode("MalformedXML", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema.")
		}
		keys, values := make([]string, len(req.TagSet)), make([]string, len(req.TagSet))
		for i, tg := range req.TagSet {
			keys[i], values[i] = tg.Key, tg.Value
		}
		if tags, err = checkTags(keys, values, maxObjectTags, tagLimitMessage); err != nil {
			return err
		}
	}
	id, err := t.SetTags(c.r.Context(), c.bucket, c.key, vid, tags)
	if err != nil {
		return err
	}
	setVersionHeader(c.w, id)
	if put {
		c.w.WriteHeader(http.StatusOK)
	} else {
		c.w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

// setTagCount answers how many tags an object has, on GET and HEAD.
func setTagCount(w http.ResponseWriter, info storage.ObjectInfo) {
	if n := len(info.Tags); n > 0 {
		w.Header().Set(tagCountHeader, strconv.Itoa(n))
	}
}
