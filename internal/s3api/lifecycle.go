package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/storage"
)

// Bucket lifecycle configuration (S3's PutBucketLifecycleConfiguration).
// Expiration, NoncurrentVersionExpiration, ExpiredObjectDeleteMarker and
// AbortIncompleteMultipartUpload are carried out by ApplyLifecycle, which
// `tarn serve` runs in the background (RunLifecycle). Transitions are
// validated and kept, and have no effect: tarn has one storage class.
// The actions are done as the lake, not as a key: the key that set the
// configuration was allowed s3:PutLifecycleConfiguration on the bucket,
// which is what S3 requires too.

const (
	lifecycleConfig = "lifecycle"
	maxLifecycle    = 1000
)

type lcTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type lcAnd struct {
	Prefix                *string `xml:"Prefix,omitempty"`
	Tags                  []lcTag `xml:"Tag,omitempty"`
	ObjectSizeGreaterThan *int64  `xml:"ObjectSizeGreaterThan,omitempty"`
	ObjectSizeLessThan    *int64  `xml:"ObjectSizeLessThan,omitempty"`
}

type lcFilter struct {
	Prefix                *string `xml:"Prefix,omitempty"`
	Tag                   *lcTag  `xml:"Tag,omitempty"`
	And                   *lcAnd  `xml:"And,omitempty"`
	ObjectSizeGreaterThan *int64  `xml:"ObjectSizeGreaterThan,omitempty"`
	ObjectSizeLessThan    *int64  `xml:"ObjectSizeLessThan,omitempty"`
}

type lcExpiration struct {
	Days                      *int    `xml:"Days,omitempty"`
	Date                      *string `xml:"Date,omitempty"`
	ExpiredObjectDeleteMarker *bool   `xml:"ExpiredObjectDeleteMarker,omitempty"`
}

type lcTransition struct {
	Days         *int    `xml:"Days,omitempty"`
	Date         *string `xml:"Date,omitempty"`
	StorageClass string  `xml:"StorageClass"`
}

type lcNoncurrentTransition struct {
	NoncurrentDays          *int   `xml:"NoncurrentDays,omitempty"`
	NewerNoncurrentVersions *int   `xml:"NewerNoncurrentVersions,omitempty"`
	StorageClass            string `xml:"StorageClass"`
}

type lcNoncurrentExpiration struct {
	NoncurrentDays          *int `xml:"NoncurrentDays,omitempty"`
	NewerNoncurrentVersions *int `xml:"NewerNoncurrentVersions,omitempty"`
}

type lcAbort struct {
	DaysAfterInitiation *int `xml:"DaysAfterInitiation,omitempty"`
}

type lcRule struct {
	ID                           string                   `xml:"ID,omitempty"`
	Filter                       *lcFilter                `xml:"Filter,omitempty"`
	Prefix                       *string                  `xml:"Prefix,omitempty"`
	Status                       string                   `xml:"Status"`
	Expiration                   *lcExpiration            `xml:"Expiration,omitempty"`
	Transitions                  []lcTransition           `xml:"Transition,omitempty"`
	NoncurrentVersionTransitions []lcNoncurrentTransition `xml:"NoncurrentVersionTransition,omitempty"`
	NoncurrentVersionExpiration  *lcNoncurrentExpiration  `xml:"NoncurrentVersionExpiration,omitempty"`
	AbortIncompleteMultipart     *lcAbort                 `xml:"AbortIncompleteMultipartUpload,omitempty"`
}

type lifecycleConfiguration struct {
	XMLName xml.Name `xml:"LifecycleConfiguration"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Rules   []lcRule `xml:"Rule"`
}

var storageClasses = []string{"STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "GLACIER_IR", "DEEP_ARCHIVE"}

func lcInvalid(format string, args ...any) error {
	return errCode("InvalidArgument", http.StatusBadRequest, format, args...)
}

// parseLCDate reads an Expiration or Transition date: S3 takes ISO 8601
// at midnight UTC only.
func parseLCDate(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil {
		if t, err = time.Parse("2006-01-02T15:04:05.000Z", strings.TrimSpace(s)); err != nil {
			return time.Time{}, lcInvalid("'Date' must be in ISO 8601 format")
		}
	}
	t = t.UTC()
	if !t.Equal(t.Truncate(24 * time.Hour)) {
		return time.Time{}, lcInvalid("'Date' must be at midnight GMT")
	}
	return t, nil
}

func positive(p *int, what string) error {
	if p != nil && *p <= 0 {
		return lcInvalid("'%s' must be a positive integer", what)
	}
	return nil
}

// validate checks a configuration as S3 does, naming what is wrong.
func (lc *lifecycleConfiguration) validate() error {
	if len(lc.Rules) == 0 {
		return errMalformedXML
	}
	if len(lc.Rules) > maxLifecycle {
		return lcInvalid("A lifecycle configuration can have at most %d rules", maxLifecycle)
	}
	ids := map[string]bool{}
	for _, r := range lc.Rules {
		if len(r.ID) > 255 {
			return lcInvalid("ID length should not exceed allowed limit of 255")
		}
		if r.ID != "" {
			if ids[r.ID] {
				return lcInvalid("Rule ID must be unique. Found same ID for more than one rule")
			}
			ids[r.ID] = true
		}
		if r.Status != "Enabled" && r.Status != "Disabled" {
			return errMalformedXML
		}
		if r.Filter != nil && r.Prefix != nil {
			return errMalformedXML
		}
		if f := r.Filter; f != nil {
			n := 0
			for _, set := range []bool{f.Prefix != nil, f.Tag != nil, f.And != nil, f.ObjectSizeGreaterThan != nil, f.ObjectSizeLessThan != nil} {
				if set {
					n++
				}
			}
			if n > 1 {
				return errMalformedXML
			}
		}
		if r.Expiration == nil && len(r.Transitions) == 0 && len(r.NoncurrentVersionTransitions) == 0 &&
			r.NoncurrentVersionExpiration == nil && r.AbortIncompleteMultipart == nil {
			return lcInvalid("At least one action needs to be specified in a rule")
		}
		if e := r.Expiration; e != nil {
			n := 0
			for _, set := range []bool{e.Days != nil, e.Date != nil, e.ExpiredObjectDeleteMarker != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				return errMalformedXML
			}
			if err := positive(e.Days, "Days' for Expiration action"); err != nil {
				return err
			}
			if e.Date != nil {
				if _, err := parseLCDate(*e.Date); err != nil {
					return err
				}
			}
			if e.ExpiredObjectDeleteMarker != nil && r.Filter != nil && (r.Filter.Tag != nil || r.Filter.And != nil && len(r.Filter.And.Tags) > 0) {
				return lcInvalid("ExpiredObjectDeleteMarker cannot be specified with tags")
			}
		}
		for _, t := range r.Transitions {
			if !slices.Contains(storageClasses, t.StorageClass) {
				return errMalformedXML
			}
			if (t.Days == nil) == (t.Date == nil) {
				return errMalformedXML
			}
			if t.Days != nil && *t.Days < 0 {
				return lcInvalid("'Days' in Transition action must be nonnegative")
			}
			if t.Date != nil {
				if _, err := parseLCDate(*t.Date); err != nil {
					return err
				}
			}
		}
		for _, t := range r.NoncurrentVersionTransitions {
			if !slices.Contains(storageClasses, t.StorageClass) || t.NoncurrentDays == nil {
				return errMalformedXML
			}
			if *t.NoncurrentDays < 0 {
				return lcInvalid("'NoncurrentDays' in NoncurrentVersionTransition action must be nonnegative")
			}
		}
		if e := r.NoncurrentVersionExpiration; e != nil {
			if e.NoncurrentDays == nil {
				return errMalformedXML
			}
			if err := positive(e.NoncurrentDays, "NoncurrentDays' for NoncurrentVersionExpiration action"); err != nil {
				return err
			}
			if err := positive(e.NewerNoncurrentVersions, "NewerNoncurrentVersions"); err != nil {
				return err
			}
		}
		if a := r.AbortIncompleteMultipart; a != nil {
			if a.DaysAfterInitiation == nil {
				return errMalformedXML
			}
			if err := positive(a.DaysAfterInitiation, "DaysAfterInitiation"); err != nil {
				return err
			}
		}
	}
	return nil
}

// storeConfig records a sub-resource's document and answers status.
func (c *call) storeConfig(bc storage.BucketConfigs, name string, v any, status int) error {
	data, err := xml.Marshal(v)
	if err != nil {
		return err
	}
	if err := bc.SetBucketConfig(c.r.Context(), c.bucket, name, data); err != nil {
		return err
	}
	c.w.WriteHeader(status)
	return nil
}

// loadConfig reads a sub-resource's document into v; a missing bucket
// fails as NoSuchBucket, a missing document with ErrNoSuchBucketConfig.
func (c *call) loadConfig(name string, v any) error {
	bc, err := c.s.bucketConfigs()
	if err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	data, err := bc.BucketConfig(c.r.Context(), c.bucket, name)
	if err != nil {
		return err
	}
	if len(data) == 0 {
		return storage.ErrNoSuchBucketConfig
	}
	return xml.Unmarshal(data, v)
}

// deleteConfig removes a sub-resource's document (204 whether or not
// there was one, as S3).
func (c *call) deleteConfig(action, name string) error {
	if err := c.allow(action, c.bucket, ""); err != nil {
		return err
	}
	bc, err := c.s.bucketConfigs()
	if err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	if err := bc.SetBucketConfig(c.r.Context(), c.bucket, name, nil); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *call) putBucketLifecycle() error {
	if err := c.allow("s3:PutLifecycleConfiguration", c.bucket, ""); err != nil {
		return err
	}
	bc, err := c.s.bucketConfigs()
	if err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	var lc lifecycleConfiguration
	if err := c.readConfigBody(&lc); err != nil {
		return err
	}
	if err := lc.validate(); err != nil {
		return err
	}
	lc.Xmlns = s3NS
	return c.storeConfig(bc, lifecycleConfig, lc, http.StatusOK)
}

func (c *call) getBucketLifecycle() error {
	if err := c.allow("s3:GetLifecycleConfiguration", c.bucket, ""); err != nil {
		return err
	}
	var lc lifecycleConfiguration
	if err := c.loadConfig(lifecycleConfig, &lc); err != nil {
		if errors.Is(err, storage.ErrNoSuchBucketConfig) {
			return errCode("NoSuchLifecycleConfiguration", http.StatusNotFound, "The lifecycle configuration does not exist")
		}
		return err
	}
	lc.Xmlns = s3NS
	writeXML(c.w, http.StatusOK, lc)
	return nil
}

func (c *call) deleteBucketLifecycle() error {
	return c.deleteConfig("s3:PutLifecycleConfiguration", lifecycleConfig)
}

// LifecycleResult counts what one pass of ApplyLifecycle did.
type LifecycleResult struct {
	Expired              int // current objects deleted (or hidden by a delete marker)
	NoncurrentExpired    int // noncurrent versions removed
	DeleteMarkersRemoved int // expired object delete markers removed
	UploadsAborted       int // incomplete multipart uploads aborted
}

// dueAfter is when an action of days days on something dated t is due:
// S3 adds the days and rounds up to the next midnight UTC.
func dueAfter(t time.Time, days int) time.Time {
	d := t.UTC().AddDate(0, 0, days)
	if m := d.Truncate(24 * time.Hour); !m.Equal(d) {
		return m.Add(24 * time.Hour)
	}
	return d
}

// matches reports whether an object falls under a rule's filter. Tags
// are read only for rules that filter on them.
func (r *lcRule) matches(ctx context.Context, s *Server, info storage.ObjectInfo) bool {
	prefix := ""
	var tags []lcTag
	var gt, lt *int64
	switch f := r.Filter; {
	case r.Prefix != nil:
		prefix = *r.Prefix
	case f == nil:
	case f.Prefix != nil:
		prefix = *f.Prefix
	case f.Tag != nil:
		tags = []lcTag{*f.Tag}
	case f.And != nil:
		if f.And.Prefix != nil {
			prefix = *f.And.Prefix
		}
		tags, gt, lt = f.And.Tags, f.And.ObjectSizeGreaterThan, f.And.ObjectSizeLessThan
	default:
		gt, lt = f.ObjectSizeGreaterThan, f.ObjectSizeLessThan
	}
	if !strings.HasPrefix(info.Key, prefix) || gt != nil && info.Size <= *gt || lt != nil && info.Size >= *lt {
		return false
	}
	if len(tags) == 0 {
		return true
	}
	have := info.Tags
	if have == nil {
		var err error
		if v, ok := s.store.(storage.Versioned); ok && info.VersionID != "" {
			info, err = v.HeadVersion(ctx, info.Bucket, info.Key, info.VersionID)
		} else {
			info, err = s.store.Head(ctx, info.Bucket, info.Key)
		}
		if err != nil {
			return false
		}
		have = info.Tags
	}
	for _, t := range tags {
		if v, ok := have[t.Key]; !ok || v != t.Value {
			return false
		}
	}
	return true
}

// expires reports whether a rule's Expiration (by days or date) is due
// for a current object.
func (r *lcRule) expires(info storage.ObjectInfo, now time.Time) bool {
	e := r.Expiration
	switch {
	case e == nil:
		return false
	case e.Days != nil:
		return !now.Before(dueAfter(info.LastModified, *e.Days))
	case e.Date != nil:
		d, err := parseLCDate(*e.Date)
		return err == nil && !now.Before(d)
	}
	return false
}

// ApplyLifecycle carries out every bucket's enabled lifecycle rules as of
// now, once. A bucket that fails is logged and the others still run; the
// first error is returned.
func (s *Server) ApplyLifecycle(ctx context.Context, now time.Time) (LifecycleResult, error) {
	var res LifecycleResult
	bc, ok := s.store.(storage.BucketConfigs)
	if !ok {
		return res, nil
	}
	buckets, err := s.store.ListBuckets(ctx)
	if err != nil {
		return res, err
	}
	var first error
	for _, b := range buckets {
		data, err := bc.BucketConfig(ctx, b.Name, lifecycleConfig)
		if errors.Is(err, storage.ErrNoSuchBucketConfig) || errors.Is(err, storage.ErrNoSuchBucket) || err == nil && len(data) == 0 {
			continue
		}
		if err == nil {
			var lc lifecycleConfiguration
			if err = xml.Unmarshal(data, &lc); err == nil {
				var rules []lcRule
				for _, r := range lc.Rules {
					if r.Status == "Enabled" {
						rules = append(rules, r)
					}
				}
				err = s.applyBucketLifecycle(ctx, b.Name, rules, now, &res)
			}
		}
		if err != nil {
			s.log.Error("lifecycle rules of a bucket failed; they are tried again at the next pass", "bucket", b.Name, "err", err)
			if first == nil {
				first = fmt.Errorf("lifecycle of bucket %q: %w", b.Name, err)
			}
		}
	}
	return res, first
}

func (s *Server) applyBucketLifecycle(ctx context.Context, bucket string, rules []lcRule, now time.Time, res *LifecycleResult) error {
	if len(rules) == 0 {
		return nil
	}
	if s.uploads != nil {
		ups, err := s.uploads.List(ctx, bucket, "")
		if err != nil {
			return err
		}
		for _, u := range ups {
			for i := range rules {
				a := rules[i].AbortIncompleteMultipart
				if a == nil || a.DaysAfterInitiation == nil || now.Before(dueAfter(u.Initiated, *a.DaysAfterInitiation)) ||
					!rules[i].matches(ctx, s, storage.ObjectInfo{Bucket: bucket, Key: u.Key, Tags: map[string]string{}}) {
					continue
				}
				if err := s.uploads.Abort(ctx, bucket, u.Key, u.UploadID); err != nil && !errors.Is(err, storage.ErrNoSuchUpload) {
					return err
				}
				res.UploadsAborted++
				break
			}
		}
	}
	v, versioned := s.store.(storage.Versioned)
	state := storage.VersioningUnversioned
	if versioned {
		var err error
		if state, err = v.Versioning(ctx, bucket); err != nil {
			return err
		}
	}
	if state == storage.VersioningUnversioned {
		for info, err := range storage.Walk(ctx, s.store, bucket, "") {
			if err != nil {
				return err
			}
			for i := range rules {
				if rules[i].expires(info, now) && rules[i].matches(ctx, s, info) && !s.lockedForLifecycle(ctx, info) {
					if err := s.store.Delete(ctx, bucket, info.Key); err != nil {
						return err
					}
					res.Expired++
					break
				}
			}
		}
		return nil
	}
	// A key's versions may straddle pages: they are acted on once the
	// listing has moved past the key (deleting them then does not move
	// the listing's markers).
	var pending []storage.ObjectVersion
	opts := storage.VersionListOptions{MaxKeys: 1000}
	for {
		page, err := v.ListVersions(ctx, bucket, opts)
		if err != nil {
			return err
		}
		for _, ov := range page.Versions {
			if len(pending) > 0 && pending[0].Key != ov.Key {
				if err := s.applyKeyLifecycle(ctx, v, bucket, pending, rules, now, res); err != nil {
					return err
				}
				pending = nil
			}
			pending = append(pending, ov)
		}
		if !page.IsTruncated {
			break
		}
		opts.KeyMarker, opts.VersionIDMarker = page.NextKeyMarker, page.NextVersionIDMarker
	}
	if len(pending) > 0 {
		return s.applyKeyLifecycle(ctx, v, bucket, pending, rules, now, res)
	}
	return nil
}

// applyKeyLifecycle applies the rules to one key's versions, newest
// first. A version became noncurrent when the next newer one was made.
func (s *Server) applyKeyLifecycle(ctx context.Context, v storage.Versioned, bucket string, versions []storage.ObjectVersion, rules []lcRule, now time.Time, res *LifecycleResult) error {
	remaining := len(versions)
	cur := versions[0]
	if cur.IsLatest && !cur.IsDeleteMarker {
		for i := range rules {
			if rules[i].expires(cur.ObjectInfo, now) && rules[i].matches(ctx, s, cur.ObjectInfo) {
				// As a DELETE without a version: a delete marker hides it.
				if _, err := v.DeleteVersion(ctx, bucket, cur.Key, ""); err != nil {
					return err
				}
				res.Expired++
				break
			}
		}
	}
	newer := 0 // noncurrent versions newer than the one looked at
	for i := 1; i < len(versions); i++ {
		ov := versions[i]
		since := versions[i-1].LastModified
		for j := range rules {
			e := rules[j].NoncurrentVersionExpiration
			if e == nil || e.NoncurrentDays == nil || now.Before(dueAfter(since, *e.NoncurrentDays)) ||
				e.NewerNoncurrentVersions != nil && newer < *e.NewerNoncurrentVersions || !rules[j].matches(ctx, s, ov.ObjectInfo) ||
				s.lockedForLifecycle(ctx, ov.ObjectInfo) {
				continue
			}
			if _, err := v.DeleteVersion(ctx, bucket, ov.Key, ov.VersionID); err != nil {
				return err
			}
			res.NoncurrentExpired++
			remaining--
			break
		}
		newer++
	}
	if remaining == 1 && cur.IsLatest && cur.IsDeleteMarker {
		for i := range rules {
			e := rules[i].Expiration
			if e != nil && e.ExpiredObjectDeleteMarker != nil && *e.ExpiredObjectDeleteMarker && rules[i].matches(ctx, s, cur.ObjectInfo) {
				if _, err := v.DeleteVersion(ctx, bucket, cur.Key, cur.VersionID); err != nil {
					return err
				}
				res.DeleteMarkersRemoved++
				break
			}
		}
	}
	return nil
}

// RunLifecycle applies the lifecycle rules at once and then every
// interval, until ctx ends. S3 runs them about daily; an hour keeps a
// small lake tidy without listing it often.
func (s *Server) RunLifecycle(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.ApplyLifecycle(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("lifecycle pass incomplete", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
