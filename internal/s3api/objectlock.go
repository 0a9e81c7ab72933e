package s3api

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Object lock (WORM). A bucket has object lock once it was created with
// x-amz-bucket-object-lock-enabled or given a PutObjectLockConfiguration.
// An object version is protected while it has a legal hold, or a
// retention whose date has not passed: its own (PutObjectRetention, or
// the x-amz-object-lock-* headers it was written with) or else the
// bucket's default retention counted from when it was written. A
// protected version cannot be deleted, and in a bucket that is not
// versioned — where a write replaces the only copy — the key cannot be
// overwritten (PutObject, CopyObject, CompleteMultipartUpload): both are
// refused with AccessDenied. In a versioned bucket a write adds a version
// and a DELETE without a version adds a delete marker, which destroys
// nothing, so only deleting the protected version is refused. GOVERNANCE
// retention gives way to a request with x-amz-bypass-governance-retention
// from a key allowed s3:BypassGovernanceRetention; COMPLIANCE retention
// and legal holds give way to nothing but time and ON→OFF.
//
// Unlike S3, a lock-enabled bucket is not made versioned, and the
// default retention is not copied onto each object (GetObjectRetention
// reports only an object's own). Locks are enforced on the S3 endpoint
// and by lifecycle rules; `tarn cp` and jobs writing into a locked
// bucket's folder are not S3 requests and are not checked.

const (
	objectLockConfig = "objectLock"
	objectLocksDoc   = "objectLocks"
)

var (
	errObjectLocked       = errCode("AccessDenied", http.StatusForbidden, "Access Denied because object protected by object lock.")
	errMissingLockConfig  = errCode("InvalidRequest", http.StatusBadRequest, "Bucket is missing Object Lock Configuration")
	errNoObjectLockConfig = errCode("NoSuchObjectLockConfiguration", http.StatusBadRequest, "The specified object does not have a ObjectLock configuration.")
	errMissingBody        = errCode("MissingRequestBodyError", http.StatusBadRequest, "Request Body is empty")
)

type defaultRetention struct {
	Mode  string `xml:"Mode,omitempty"`
	Days  *int   `xml:"Days,omitempty"`
	Years *int   `xml:"Years,omitempty"`
}

type objectLockConfiguration struct {
	XMLName           xml.Name `xml:"ObjectLockConfiguration"`
	Xmlns             string   `xml:"xmlns,attr,omitempty"`
	ObjectLockEnabled string   `xml:"ObjectLockEnabled,omitempty"`
	Rule              *struct {
		DefaultRetention *defaultRetention `xml:"DefaultRetention"`
	} `xml:"Rule,omitempty"`
}

// objLock is what an object version has of its own.
type objLock struct {
	Mode      string    `json:"mode,omitempty"`
	Until     time.Time `json:"until,omitzero"`
	LegalHold bool      `json:"legal_hold,omitempty"`
	// HoldSet: a legal hold was set (ON or OFF), so GetObjectLegalHold
	// answers it.
	HoldSet bool `json:"hold_set,omitempty"`
}

func (l objLock) empty() bool { return l.Mode == "" && !l.LegalHold && !l.HoldSet }

// lockState serializes, per lock-enabled bucket, the check of a key with
// the write or delete that follows it (writes to other buckets never
// wait), and the read-modify-write of the buckets' documents.
type lockState struct {
	mu      sync.Mutex // guards buckets
	buckets map[string]*sync.Mutex
	doc     sync.Mutex // the objectLocks documents
	up      sync.Mutex // the uploadChecksums documents
}

// bucket returns the mutex of a lock-enabled bucket.
func (l *lockState) bucket(name string) *sync.Mutex {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*sync.Mutex{}
	}
	m := l.buckets[name]
	if m == nil {
		m = &sync.Mutex{}
		l.buckets[name] = m
	}
	return m
}

func lockKey(key, versionID string) string { return key + "\n" + versionID }

func validMode(m string) bool { return m == "GOVERNANCE" || m == "COMPLIANCE" }

// bucketLock returns the bucket's lock configuration, nil if it has none.
func (s *Server) bucketLock(ctx context.Context, bucket string) (*objectLockConfiguration, error) {
	bc, ok := s.store.(storage.BucketConfigs)
	if !ok {
		return nil, nil
	}
	data, err := bc.BucketConfig(ctx, bucket, objectLockConfig)
	if errors.Is(err, storage.ErrNoSuchBucketConfig) || err == nil && len(data) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cfg objectLockConfiguration
	if err := xml.Unmarshal(data, &cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func (s *Server) objectLocks(ctx context.Context, bucket string) (map[string]objLock, error) {
	m := map[string]objLock{}
	bc, ok := s.store.(storage.BucketConfigs)
	if !ok {
		return m, nil
	}
	data, err := bc.BucketConfig(ctx, bucket, objectLocksDoc)
	if errors.Is(err, storage.ErrNoSuchBucketConfig) || err == nil && len(data) == 0 {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	return m, json.Unmarshal(data, &m)
}

// setObjectLock records (or, for an empty lock, forgets) what a version
// has of its own.
func (s *Server) setObjectLock(ctx context.Context, bucket, key, versionID string, l objLock) error {
	s.locks.doc.Lock()
	defer s.locks.doc.Unlock()
	bc, ok := s.store.(storage.BucketConfigs)
	if !ok {
		return errCode("NotImplemented", http.StatusNotImplemented, "This object store keeps no bucket configuration")
	}
	m, err := s.objectLocks(ctx, bucket)
	if err != nil {
		return err
	}
	k := lockKey(key, versionID)
	if _, had := m[k]; !had && l.empty() {
		return nil
	}
	if l.empty() {
		delete(m, k)
	} else {
		m[k] = l
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return bc.SetBucketConfig(ctx, bucket, objectLocksDoc, data)
}

// protection is the retention and legal hold in force on a version.
func protection(cfg *objectLockConfiguration, own objLock, written, now time.Time) (mode string, until time.Time, hold bool) {
	if own.Mode != "" {
		if now.Before(own.Until) {
			return own.Mode, own.Until, own.LegalHold
		}
		return "", time.Time{}, own.LegalHold
	}
	if cfg != nil && cfg.Rule != nil && cfg.Rule.DefaultRetention != nil {
		d := cfg.Rule.DefaultRetention
		u := written
		if d.Days != nil {
			u = u.AddDate(0, 0, *d.Days)
		}
		if d.Years != nil {
			u = u.AddDate(*d.Years, 0, 0)
		}
		if now.Before(u) {
			return d.Mode, u, own.LegalHold
		}
	}
	return "", time.Time{}, own.LegalHold
}

// canBypass reports whether a request may pass GOVERNANCE retention.
func (s *Server) canBypass(ctx context.Context, p *auth.Principal, h http.Header, bucket, key string) bool {
	return strings.EqualFold(h.Get("X-Amz-Bypass-Governance-Retention"), "true") &&
		s.authorize(ctx, p, "s3:BypassGovernanceRetention", bucket, key) == nil
}

// checkUnlocked refuses to destroy a version that object lock protects.
// info is the version; a bucket without object lock passes at once.
func (s *Server) checkUnlocked(ctx context.Context, p *auth.Principal, h http.Header, cfg *objectLockConfiguration, info storage.ObjectInfo) error {
	if cfg == nil || info.IsDeleteMarker {
		return nil
	}
	m, err := s.objectLocks(ctx, info.Bucket)
	if err != nil {
		return err
	}
	mode, _, hold := protection(cfg, m[lockKey(info.Key, info.VersionID)], info.LastModified, time.Now())
	switch {
	case hold, mode == "COMPLIANCE":
		return errObjectLocked
	case mode == "GOVERNANCE" && !s.canBypass(ctx, p, h, info.Bucket, info.Key):
		return errObjectLocked
	}
	return nil
}

// guardDelete checks a delete of key (version vid, "" for the key) in a
// lock-enabled bucket; the returned function, called once the delete is
// done, forgets the lock of what was removed. Callers hold the bucket's mutex
// while they delete.
func (s *Server) guardDelete(ctx context.Context, p *auth.Principal, h http.Header, bucket, key, vid string) error {
	cfg, err := s.bucketLock(ctx, bucket)
	if err != nil || cfg == nil {
		return err
	}
	var info storage.ObjectInfo
	if vid != "" {
		v, ok := s.store.(storage.Versioned)
		if !ok {
			return nil
		}
		info, err = v.HeadVersion(ctx, bucket, key, vid)
	} else {
		if v, ok := s.store.(storage.Versioned); ok {
			state, err := v.Versioning(ctx, bucket)
			if err != nil {
				return err
			}
			if state == storage.VersioningEnabled {
				return nil // a delete marker destroys nothing
			}
		}
		info, err = s.store.Head(ctx, bucket, key)
	}
	if err != nil {
		return nil // nothing there to protect: the delete says what it says
	}
	return s.checkUnlocked(ctx, p, h, cfg, info)
}

// guardOverwrite checks a write to key in a lock-enabled bucket that is
// not versioned (where it replaces the only copy). It returns the
// bucket's lock configuration.
func (s *Server) guardOverwrite(ctx context.Context, p *auth.Principal, h http.Header, bucket, key string) (*objectLockConfiguration, error) {
	cfg, err := s.bucketLock(ctx, bucket)
	if err != nil || cfg == nil {
		return cfg, err
	}
	if v, ok := s.store.(storage.Versioned); ok {
		state, err := v.Versioning(ctx, bucket)
		if err != nil {
			return nil, err
		}
		if state == storage.VersioningEnabled {
			return cfg, nil
		}
	}
	info, err := s.store.Head(ctx, bucket, key)
	if err != nil {
		return cfg, nil
	}
	return cfg, s.checkUnlocked(ctx, p, h, cfg, info)
}

// lockFromHeaders reads the x-amz-object-lock-* headers of a write;
// cfg is the bucket's lock configuration (nil: none).
func lockFromHeaders(h http.Header, cfg *objectLockConfiguration) (objLock, error) {
	mode, date, hold := h.Get("X-Amz-Object-Lock-Mode"), h.Get("X-Amz-Object-Lock-Retain-Until-Date"), h.Get("X-Amz-Object-Lock-Legal-Hold")
	var l objLock
	if mode == "" && date == "" && hold == "" {
		return l, nil
	}
	const dateArg, modeArg, holdArg = "x-amz-object-lock-retain-until-date", "x-amz-object-lock-mode", "x-amz-object-lock-legal-hold"
	if mode != "" && date == "" {
		return l, postInvalidArg(dateArg, "", "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied.")
	}
	if date != "" && mode == "" {
		return l, postInvalidArg(modeArg, "", "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied.")
	}
	if mode != "" {
		if !validMode(mode) {
			return l, postInvalidArg(modeArg, mode, "Unknown wormMode directive.")
		}
		t, err := time.Parse(time.RFC3339, date)
		if err != nil {
			return l, postInvalidArg(dateArg, date, "The retain until date must be provided in ISO 8601 format")
		}
		if !t.After(time.Now()) {
			return l, postInvalidArg(dateArg, date, "The retain until date must be in the future!")
		}
		l.Mode, l.Until = mode, t.UTC()
	}
	switch hold {
	case "", "OFF":
	case "ON":
		l.LegalHold, l.HoldSet = true, true
	default:
		return l, postInvalidArg(holdArg, hold, "Legal Hold must be either of 'ON' or 'OFF'")
	}
	if cfg == nil {
		return l, errCode("InvalidRequest", http.StatusBadRequest, "Bucket is missing ObjectLockConfiguration")
	}
	return l, nil
}

// setLockHeaders answers a version's lock on GET and HEAD.
func (s *Server) setLockHeaders(ctx context.Context, w http.ResponseWriter, info storage.ObjectInfo) {
	cfg, err := s.bucketLock(ctx, info.Bucket)
	if err != nil || cfg == nil {
		return
	}
	m, err := s.objectLocks(ctx, info.Bucket)
	if err != nil {
		return
	}
	own := m[lockKey(info.Key, info.VersionID)]
	if own.Mode != "" {
		w.Header().Set("x-amz-object-lock-mode", own.Mode)
		w.Header().Set("x-amz-object-lock-retain-until-date", own.Until.Format(time.RFC3339))
	}
	if own.LegalHold {
		w.Header().Set("x-amz-object-lock-legal-hold", "ON")
	} else if own.HoldSet {
		w.Header().Set("x-amz-object-lock-legal-hold", "OFF")
	}
}

func (c *call) putObjectLockConfiguration() error {
	if err := c.allow("s3:PutBucketObjectLockConfiguration", c.bucket, ""); err != nil {
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
	if len(body) == 0 {
		return errMissingBody
	}
	var cfg objectLockConfiguration
	if xml.Unmarshal(body, &cfg) != nil || cfg.ObjectLockEnabled != "Enabled" {
		return errMalformedXML
	}
	if cfg.Rule != nil {
		d := cfg.Rule.DefaultRetention
		if d == nil || !validMode(d.Mode) || (d.Days == nil) == (d.Years == nil) {
			return errMalformedXML
		}
		if d.Days != nil && *d.Days <= 0 || d.Years != nil && *d.Years <= 0 {
			return errCode("InvalidArgument", http.StatusBadRequest, "Default retention period must be a positive integer value.")
		}
		if d.Days != nil && *d.Days > 36500 || d.Years != nil && *d.Years > 100 {
			return errCode("InvalidArgument", http.StatusBadRequest, "Default retention period too large.")
		}
	}
	cfg.Xmlns = s3NS
	return c.storeConfig(bc, objectLockConfig, cfg, http.StatusOK)
}

func (c *call) getObjectLockConfiguration() error {
	if err := c.allow("s3:GetBucketObjectLockConfiguration", c.bucket, ""); err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	cfg, err := c.s.bucketLock(c.r.Context(), c.bucket)
	if err != nil {
		return err
	}
	if cfg == nil {
		return errCode("ObjectLockConfigurationNotFoundError", http.StatusNotFound, "Object Lock configuration does not exist for this bucket.")
	}
	cfg.Xmlns = s3NS
	writeXML(c.w, http.StatusOK, cfg)
	return nil
}

// lockTarget finds the version a retention or legal-hold request is
// about, in a bucket that must have object lock; body, if not nil, is
// read first, as S3 checks the request before the object.
func (c *call) lockTarget(action string, body any) (storage.ObjectInfo, *objectLockConfiguration, error) {
	if err := c.allow(action, c.bucket, c.key); err != nil {
		return storage.ObjectInfo{}, nil, err
	}
	ctx := c.r.Context()
	if _, err := c.s.store.HeadBucket(ctx, c.bucket); err != nil {
		return storage.ObjectInfo{}, nil, err
	}
	if body != nil {
		if err := c.readConfigBody(body); err != nil {
			return storage.ObjectInfo{}, nil, err
		}
		if err := validLockBody(body); err != nil {
			return storage.ObjectInfo{}, nil, err
		}
	}
	// SDKs send an empty versionId for "the current version" here.
	vid := c.q.Get("versionId")
	var info storage.ObjectInfo
	var err error
	if vid != "" {
		v, err := c.s.versioned()
		if err != nil {
			return info, nil, err
		}
		info, err = v.HeadVersion(ctx, c.bucket, c.key, vid)
		if err != nil {
			return info, nil, err
		}
	} else if info, err = c.s.store.Head(ctx, c.bucket, c.key); err != nil {
		return info, nil, err
	}
	cfg, err := c.s.bucketLock(ctx, c.bucket)
	if err != nil {
		return info, nil, err
	}
	if cfg == nil {
		return info, nil, errMissingLockConfig
	}
	return info, cfg, nil
}

// validLockBody checks a retention or legal-hold document.
func validLockBody(body any) error {
	switch b := body.(type) {
	case *retentionXML:
		if !validMode(b.Mode) {
			return errMalformedXML
		}
		until, err := time.Parse(time.RFC3339, b.RetainUntilDate)
		if err != nil {
			return errMalformedXML
		}
		if !until.After(time.Now()) {
			return postInvalidArg("x-amz-object-lock-retain-until-date", b.RetainUntilDate, "The retain until date must be in the future!")
		}
	case *legalHoldXML:
		if b.Status != "ON" && b.Status != "OFF" {
			return errMalformedXML
		}
	}
	return nil
}

type retentionXML struct {
	XMLName         xml.Name `xml:"Retention"`
	Xmlns           string   `xml:"xmlns,attr,omitempty"`
	Mode            string   `xml:"Mode"`
	RetainUntilDate string   `xml:"RetainUntilDate"`
}

func (c *call) putObjectRetention() error {
	var req retentionXML
	info, cfg, err := c.lockTarget("s3:PutObjectRetention", &req)
	if err != nil {
		return err
	}
	until, _ := time.Parse(time.RFC3339, req.RetainUntilDate)
	now := time.Now()
	ctx := c.r.Context()
	bm := c.s.locks.bucket(c.bucket)
	bm.Lock()
	defer bm.Unlock()
	m, err := c.s.objectLocks(ctx, c.bucket)
	if err != nil {
		return err
	}
	own := m[lockKey(info.Key, info.VersionID)]
	mode, old, _ := protection(cfg, own, info.LastModified, now)
	weaker := req.Mode != mode || until.Before(old)
	switch {
	case mode == "COMPLIANCE" && weaker:
		return errObjectLocked
	case mode == "GOVERNANCE" && weaker && !c.s.canBypass(ctx, c.p, c.r.Header, c.bucket, c.key):
		return errObjectLocked
	}
	own.Mode, own.Until = req.Mode, until.UTC()
	if err := c.s.setObjectLock(ctx, c.bucket, info.Key, info.VersionID, own); err != nil {
		return err
	}
	setVersionHeader(c.w, info.VersionID)
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func (c *call) getObjectRetention() error {
	info, _, err := c.lockTarget("s3:GetObjectRetention", nil)
	if err != nil {
		return err
	}
	m, err := c.s.objectLocks(c.r.Context(), c.bucket)
	if err != nil {
		return err
	}
	own := m[lockKey(info.Key, info.VersionID)]
	if own.Mode == "" {
		return errNoObjectLockConfig
	}
	writeXML(c.w, http.StatusOK, retentionXML{Xmlns: s3NS, Mode: own.Mode, RetainUntilDate: own.Until.Format(time.RFC3339)})
	return nil
}

type legalHoldXML struct {
	XMLName xml.Name `xml:"LegalHold"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Status  string   `xml:"Status"`
}

func (c *call) putObjectLegalHold() error {
	var req legalHoldXML
	info, _, err := c.lockTarget("s3:PutObjectLegalHold", &req)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	bm := c.s.locks.bucket(c.bucket)
	bm.Lock()
	defer bm.Unlock()
	m, err := c.s.objectLocks(ctx, c.bucket)
	if err != nil {
		return err
	}
	own := m[lockKey(info.Key, info.VersionID)]
	own.LegalHold, own.HoldSet = req.Status == "ON", true
	if err := c.s.setObjectLock(ctx, c.bucket, info.Key, info.VersionID, own); err != nil {
		return err
	}
	setVersionHeader(c.w, info.VersionID)
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func (c *call) getObjectLegalHold() error {
	info, _, err := c.lockTarget("s3:GetObjectLegalHold", nil)
	if err != nil {
		return err
	}
	m, err := c.s.objectLocks(c.r.Context(), c.bucket)
	if err != nil {
		return err
	}
	own := m[lockKey(info.Key, info.VersionID)]
	if !own.HoldSet && !own.LegalHold {
		return errNoObjectLockConfig
	}
	status := "OFF"
	if own.LegalHold {
		status = "ON"
	}
	writeXML(c.w, http.StatusOK, legalHoldXML{Xmlns: s3NS, Status: status})
	return nil
}

// enableObjectLockOnCreate records CreateBucket's
// x-amz-bucket-object-lock-enabled.
func (c *call) enableObjectLockOnCreate(bc storage.BucketConfigs) error {
	v := c.r.Header.Get("X-Amz-Bucket-Object-Lock-Enabled")
	if v == "" {
		return nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil || !on {
		return nil
	}
	return bc.SetBucketConfig(c.r.Context(), c.bucket, objectLockConfig,
		[]byte(`<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>`))
}

// uploadLockKey is where a multipart upload's lock headers wait for the
// object the upload completes.
func uploadLockKey(id string) string { return "\x00upload " + id }

// lockedWrite runs write, which writes key, under object lock. In a
// lock-enabled bucket it is refused if it would replace a protected
// version, and the version it makes gets the lock the request's
// x-amz-object-lock-* headers (or, with uploadID, the upload's) ask for;
// the check, the write and the record are one step for the bucket. In
// other buckets lock headers are refused and write runs as it is.
func (s *Server) lockedWrite(ctx context.Context, p *auth.Principal, h http.Header, bucket, key, uploadID string,
	write func() (storage.ObjectInfo, error)) (storage.ObjectInfo, error) {
	cfg, err := s.bucketLock(ctx, bucket)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	var l objLock
	if uploadID == "" {
		if l, err = lockFromHeaders(h, cfg); err != nil {
			return storage.ObjectInfo{}, err
		}
	}
	if cfg == nil {
		return write()
	}
	bm := s.locks.bucket(bucket)
	bm.Lock()
	defer bm.Unlock()
	if uploadID != "" {
		m, err := s.objectLocks(ctx, bucket)
		if err != nil {
			return storage.ObjectInfo{}, err
		}
		l = m[lockKey(key, uploadLockKey(uploadID))]
	}
	if _, err := s.guardOverwrite(ctx, p, h, bucket, key); err != nil {
		return storage.ObjectInfo{}, err
	}
	info, err := write()
	if err != nil {
		return info, err
	}
	// An object written over an unprotected one does not inherit its lock.
	if err := s.setObjectLock(ctx, bucket, key, info.VersionID, l); err != nil {
		return info, err
	}
	if uploadID != "" {
		err = s.setObjectLock(ctx, bucket, key, uploadLockKey(uploadID), objLock{})
	}
	return info, err
}

// lockedDelete runs del, which deletes key (version vid, "" for the
// key), under object lock: refused if it would remove a protected
// version; the lock of the version removed is forgotten.
func (s *Server) lockedDelete(ctx context.Context, p *auth.Principal, h http.Header, bucket, key, vid string,
	del func() (storage.DeleteResult, error)) (storage.DeleteResult, error) {
	cfg, err := s.bucketLock(ctx, bucket)
	if err != nil {
		return storage.DeleteResult{}, err
	}
	if cfg == nil {
		return del()
	}
	bm := s.locks.bucket(bucket)
	bm.Lock()
	defer bm.Unlock()
	if err := s.guardDelete(ctx, p, h, bucket, key, vid); err != nil {
		return storage.DeleteResult{}, err
	}
	res, err := del()
	if err != nil || res.DeleteMarker {
		return res, err
	}
	gone := vid
	if gone == storage.NullVersionID {
		gone = ""
	}
	if err := s.setObjectLock(ctx, bucket, key, gone, objLock{}); err != nil {
		return res, err
	}
	if vid == storage.NullVersionID {
		err = s.setObjectLock(ctx, bucket, key, vid, objLock{})
	}
	return res, err
}

// lockedForLifecycle reports whether object lock protects a version
// from lifecycle expiration (which never bypasses GOVERNANCE).
func (s *Server) lockedForLifecycle(ctx context.Context, info storage.ObjectInfo) bool {
	cfg, err := s.bucketLock(ctx, info.Bucket)
	if err != nil {
		return true
	}
	if cfg == nil || info.IsDeleteMarker {
		return false
	}
	m, err := s.objectLocks(ctx, info.Bucket)
	if err != nil {
		return true
	}
	mode, _, hold := protection(cfg, m[lockKey(info.Key, info.VersionID)], info.LastModified, time.Now())
	return hold || mode != ""
}
