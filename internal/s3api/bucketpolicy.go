package s3api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Bucket policies (Put/Get/DeleteBucketPolicy) are enforced together with
// the key policies: a request on a bucket is allowed if the key's policy
// or a bucket policy statement naming the key (or "*": every tarn key, and
// anonymous callers too once the bucket's public access block is off, see
// publicaccess.go) allows it, and refused if
// either denies it; deny wins. A statement with a Condition applies only
// when its condition holds for the request (policycond.go); one whose
// condition cannot be evaluated is taken conservatively: such an Allow
// grants nothing and such a Deny applies. Admin keys are held to a
// bucket policy's Deny too, except for the bucket policy operations
// themselves, so that a policy can always be removed.

const policyConfig = "policy"

func malformedPolicy(format string, args ...any) error {
	return errCode("MalformedPolicy", http.StatusBadRequest, format, args...)
}

// bpStringList is a JSON string or list of strings.
type bpStringList []string

func (l *bpStringList) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*l = bpStringList{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return err
	}
	*l = ss
	return nil
}

type bpStatement struct {
	Sid       string          `json:"Sid,omitempty"`
	Effect    string          `json:"Effect"`
	Principal json.RawMessage `json:"Principal"`
	Action    json.RawMessage `json:"Action"`
	Resource  json.RawMessage `json:"Resource"`
	Condition json.RawMessage `json:"Condition,omitempty"`

	principals, actions, resources []string
}

type bucketPolicy struct {
	Version   *string        `json:"Version"`
	Statement *[]bpStatement `json:"Statement"`
}

// s3Actions are the actions a bucket policy may name; objectActions the
// ones on objects (their resources are bucket/key).
var s3Actions, objectActions = map[string]bool{}, map[string]bool{}

func init() {
	for _, a := range strings.Fields(`GetBucketAcl CreateBucket PutBucketAcl DeleteBucket PutBucketVersioning GetBucketVersioning
		PutBucketPolicy GetBucketPolicy DeleteBucketPolicy ListBucketMultipartUploads GetBucketTagging PutBucketTagging
		ListBucketVersions ListBucket GetBucketObjectLockConfiguration PutBucketObjectLockConfiguration
		PutBucketOwnershipControls GetBucketOwnershipControls PutBucketCORS GetBucketCORS PutAnalyticsConfiguration
		GetAnalyticsConfiguration PutEncryptionConfiguration GetEncryptionConfiguration PutIntelligentTieringConfiguration
		GetIntelligentTieringConfiguration PutInventoryConfiguration GetInventoryConfiguration PutLifecycleConfiguration
		GetLifecycleConfiguration PutBucketLogging GetBucketLogging PutBucketRequestPayment GetBucketRequestPayment
		PutMetricsConfiguration GetMetricsConfiguration PutReplicationConfiguration GetReplicationConfiguration
		PutBucketPublicAccessBlock GetBucketPublicAccessBlock PutBucketNotification GetBucketNotification
		PutAccelerateConfiguration GetAccelerateConfiguration PutBucketWebsite GetBucketWebsite DeleteBucketWebsite
		GetBucketPolicyStatus GetBucketLocation ListAllMyBuckets`) {
		s3Actions["s3:"+a] = true
	}
	for _, a := range strings.Fields(`AbortMultipartUpload ListMultipartUploadParts PutObject GetObject GetObjectVersion
		DeleteObject DeleteObjectVersion GetObjectAcl GetObjectAttributes GetObjectVersionAttributes PutObjectAcl
		RestoreObject GetObjectTagging GetObjectVersionTagging PutObjectTagging PutObjectVersionTagging DeleteObjectTagging
		DeleteObjectVersionTagging GetObjectLegalHold PutObjectLegalHold GetObjectRetention PutObjectRetention
		BypassGovernanceRetention`) {
		s3Actions["s3:"+a] = true
		objectActions["s3:"+a] = true
	}
}

// patternMatch matches s against a pattern with * and ? wildcards.
func patternMatch(p, s string) bool {
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi, mark = star+1, mark+1
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// conditionOperators are the IAM condition operators (without IfExists
// and the ForAllValues:/ForAnyValue: qualifiers).
var conditionOperators = map[string]bool{}

func init() {
	for _, o := range strings.Fields(`StringEquals StringNotEquals StringEqualsIgnoreCase StringNotEqualsIgnoreCase StringLike
		StringNotLike NumericEquals NumericNotEquals NumericLessThan NumericLessThanEquals NumericGreaterThan
		NumericGreaterThanEquals DateEquals DateNotEquals DateLessThan DateLessThanEquals DateGreaterThan
		DateGreaterThanEquals Bool BinaryEquals IpAddress NotIpAddress ArnEquals ArnLike ArnNotEquals ArnNotLike`) {
		conditionOperators[o] = true
	}
}

func validOperator(op string) bool {
	if op == "Null" {
		return true
	}
	for _, q := range []string{"ForAllValues:", "ForAnyValue:"} {
		op = strings.TrimPrefix(op, q)
	}
	return conditionOperators[strings.TrimSuffix(op, "IfExists")]
}

// conditionKeyApplies reports whether a condition key exists and applies
// to action ("" for wildcard actions, which any key may qualify).
func conditionKey(key string) (applies func(action string) bool, ip, ok bool) {
	all := func(string) bool { return true }
	lk := strings.ToLower(key)
	switch lk {
	case "aws:sourceip":
		return all, true, true
	case "aws:useragent", "aws:currenttime", "aws:epochtime", "aws:securetransport", "aws:referer", "aws:username",
		"aws:userid", "aws:principalarn", "aws:principalaccount", "aws:principaltype", "aws:requestedregion",
		"aws:sourcevpc", "aws:sourcevpce", "aws:sourcearn", "aws:sourceaccount", "aws:viaawsservice",
		"s3:signatureversion", "s3:authtype", "s3:signatureage", "s3:x-amz-content-sha256", "s3:tlsversion", "s3:resourceaccount":
		return all, false, true
	case "s3:prefix", "s3:delimiter", "s3:max-keys":
		return func(a string) bool { return a == "s3:ListBucket" || a == "s3:ListBucketVersions" }, false, true
	case "s3:x-amz-acl":
		return func(a string) bool {
			return a == "s3:PutObject" || a == "s3:PutObjectAcl" || a == "s3:PutBucketAcl" || a == "s3:CreateBucket"
		}, false, true
	case "s3:versionid":
		return func(a string) bool { return strings.Contains(a, "Version") && objectActions[a] }, false, true
	case "s3:x-amz-server-side-encryption", "s3:x-amz-copy-source", "s3:x-amz-metadata-directive", "s3:x-amz-storage-class",
		"s3:requestobjecttagkeys", "s3:object-lock-mode", "s3:object-lock-retain-until-date", "s3:object-lock-legal-hold",
		"s3:object-lock-remaining-retention-days":
		return func(a string) bool { return objectActions[a] }, false, true
	}
	if strings.HasPrefix(lk, "s3:existingobjecttag/") || strings.HasPrefix(lk, "s3:requestobjecttag/") {
		return func(a string) bool { return objectActions[a] }, false, true
	}
	return nil, false, false
}

func validIPOrCIDR(v string) bool {
	if _, _, err := net.ParseCIDR(v); err == nil {
		return true
	}
	return net.ParseIP(v) != nil
}

// validateCondition checks a statement's Condition block.
func validateCondition(raw json.RawMessage, actions []string) error {
	if len(raw) == 0 {
		return nil
	}
	var block map[string]map[string]bpStringList
	if err := json.Unmarshal(raw, &block); err != nil {
		var top map[string]json.RawMessage
		if json.Unmarshal(raw, &top) == nil {
			for op := range top {
				if !validOperator(op) {
					return malformedPolicy("Invalid Condition type : %s", op)
				}
			}
		}
		return malformedPolicy("This policy contains invalid Json")
	}
	for op, kvs := range block {
		if !validOperator(op) {
			return malformedPolicy("Invalid Condition type : %s", op)
		}
		for key, values := range kvs {
			applies, ip, ok := conditionKey(key)
			if !ok {
				return malformedPolicy("Policy has an invalid condition key")
			}
			for _, a := range actions {
				if !strings.ContainsAny(a, "*?") && !applies(a) {
					return malformedPolicy("Conditions do not apply to combination of actions and resources in statement")
				}
			}
			if ip {
				for _, v := range values {
					if !validIPOrCIDR(v) {
						return malformedPolicy("Invalid IP address in Conditions")
					}
				}
			}
		}
	}
	return nil
}

// parseBucketPolicy checks a policy document for bucket, as S3 does.
func (s *Server) parseBucketPolicy(ctx context.Context, data []byte, bucket string) ([]bpStatement, error) {
	if len(data) == 0 || data[0] != '{' {
		return nil, malformedPolicy("Policies must be valid JSON and the first byte must be '{'")
	}
	var bp bucketPolicy
	if json.Unmarshal(data, &bp) != nil {
		return nil, malformedPolicy("This policy contains invalid Json")
	}
	if bp.Statement == nil {
		return nil, malformedPolicy("Missing required field Statement")
	}
	if bp.Version != nil && *bp.Version != "2008-10-17" && *bp.Version != "2012-10-17" {
		return nil, malformedPolicy("The policy must contain a valid version string")
	}
	sts := *bp.Statement
	if len(sts) == 0 {
		return nil, malformedPolicy("Could not parse the policy: Statement is empty!")
	}
	for i := range sts {
		st := &sts[i]
		var err error
		if st.principals, err = parsePrincipals(st.Principal); err != nil {
			return nil, err
		}
		var acts bpStringList
		if json.Unmarshal(st.Action, &acts) != nil || len(acts) == 0 {
			return nil, malformedPolicy("Policy has invalid action")
		}
		for _, a := range acts {
			if !validPolicyAction(a) {
				return nil, malformedPolicy("Policy has invalid action")
			}
		}
		st.actions = acts
		var res bpStringList
		if json.Unmarshal(st.Resource, &res) != nil || len(res) == 0 {
			return nil, malformedPolicy("Policy has invalid resource")
		}
		for _, r := range res {
			name, ok := strings.CutPrefix(r, "arn:aws:s3:::")
			if !ok || name == "" || strings.HasPrefix(name, "/") {
				return nil, malformedPolicy("Policy has invalid resource")
			}
		}
		st.resources = res
	}
	for i := range sts {
		st := &sts[i]
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return nil, malformedPolicy("Invalid effect: %s", st.Effect)
		}
		if err := s.checkPrincipals(ctx, st.principals); err != nil {
			return nil, err
		}
		objectRes, bucketRes := false, false
		for _, r := range st.resources {
			name := strings.TrimPrefix(r, "arn:aws:s3:::")
			if name != bucket && !strings.HasPrefix(name, bucket+"/") {
				return nil, malformedPolicy("Policy has invalid resource")
			}
			if name == "*" || strings.Contains(name, "/") {
				objectRes = true
			}
			if name == "*" || !strings.Contains(name, "/") {
				bucketRes = true
			}
		}
		if err := validateCondition(st.Condition, st.actions); err != nil {
			return nil, err
		}
		for _, a := range st.actions {
			if a == "s3:*" {
				continue
			}
			isObject := objectActions[a]
			if !isObject && strings.ContainsAny(a, "*?") {
				for oa := range objectActions {
					if patternMatch(a, oa) {
						isObject = true
						break
					}
				}
			}
			if isObject && !objectRes || !isObject && !bucketRes {
				return nil, malformedPolicy("Action does not apply to any resource(s) in statement")
			}
		}
	}
	return sts, nil
}

func validPolicyAction(a string) bool {
	if !strings.HasPrefix(a, "s3:") {
		return false
	}
	if a == "s3:*" || s3Actions[a] {
		return true
	}
	for known := range s3Actions {
		if patternMatch(a, known) {
			return true
		}
	}
	return false
}

func parsePrincipals(raw json.RawMessage) ([]string, error) {
	bad := malformedPolicy("Invalid principal in policy")
	if len(raw) == 0 {
		return nil, bad
	}
	var l bpStringList
	if json.Unmarshal(raw, &l) == nil {
		if len(l) == 0 || slicesContainEmpty(l) {
			return nil, bad
		}
		return l, nil
	}
	var obj struct {
		AWS bpStringList `json:"AWS"`
	}
	if json.Unmarshal(raw, &obj) != nil || len(obj.AWS) == 0 || slicesContainEmpty(obj.AWS) {
		return nil, bad
	}
	return obj.AWS, nil
}

func slicesContainEmpty(l []string) bool {
	for _, s := range l {
		if s == "" {
			return true
		}
	}
	return false
}

// principalKey is the access key a principal names: the key id itself or
// the last part of an IAM user ARN.
func principalKey(p string) string {
	if i := strings.LastIndexAny(p, "/:"); i >= 0 && strings.HasPrefix(p, "arn:") {
		return p[i+1:]
	}
	return p
}

// checkPrincipals requires "*" alone or keys that exist.
func (s *Server) checkPrincipals(ctx context.Context, ps []string) error {
	for _, p := range ps {
		if p == "*" {
			if len(ps) != 1 {
				return malformedPolicy("Invalid principal in policy")
			}
			continue
		}
		if _, err := s.auth.GetKey(ctx, principalKey(p)); err != nil {
			if errors.Is(err, auth.ErrNoSuchKey) {
				return malformedPolicy("Invalid principal in policy")
			}
			return err
		}
	}
	return nil
}

func (c *call) putBucketPolicy() error {
	if err := c.allow("s3:PutBucketPolicy", c.bucket, ""); err != nil {
		return err
	}
	bc, err := c.s.bucketConfigs()
	if err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(c.r.Body, 20<<10+1))
	if err != nil {
		return err
	}
	if len(body) > 20<<10 {
		return errCode("PolicyTooLarge", http.StatusBadRequest, "Policy exceeds the maximum allowed document size.")
	}
	if _, err := c.s.parseBucketPolicy(c.r.Context(), body, c.bucket); err != nil {
		return err
	}
	if err := bc.SetBucketConfig(c.r.Context(), c.bucket, policyConfig, body); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *call) getBucketPolicy() error {
	if err := c.allow("s3:GetBucketPolicy", c.bucket, ""); err != nil {
		return err
	}
	bc, err := c.s.bucketConfigs()
	if err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	data, err := bc.BucketConfig(c.r.Context(), c.bucket, policyConfig)
	if errors.Is(err, storage.ErrNoSuchBucketConfig) || err == nil && len(data) == 0 {
		return errCode("NoSuchBucketPolicy", http.StatusNotFound, "The bucket policy does not exist.")
	}
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(data)
	return nil
}

func (c *call) deleteBucketPolicy() error {
	return c.deleteConfig("s3:DeleteBucketPolicy", policyConfig)
}

// bucketPolicyFor returns a bucket's policy statements, nil if it has none.
func (s *Server) bucketPolicyFor(ctx context.Context, bucket string) ([]bpStatement, error) {
	bc, ok := s.store.(storage.BucketConfigs)
	// ListAllMyBuckets is authorized on "*": the service, which has no
	// bucket policy (looking one up would fail on the name).
	if !ok || bucket == "" || bucket == "*" {
		return nil, nil
	}
	data, err := bc.BucketConfig(ctx, bucket, policyConfig)
	if errors.Is(err, storage.ErrNoSuchBucketConfig) || errors.Is(err, storage.ErrNoSuchBucket) || err == nil && len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var bp bucketPolicy
	if err := json.Unmarshal(data, &bp); err != nil || bp.Statement == nil {
		return nil, fmt.Errorf("bucket %q has an unreadable policy: %w", bucket, err)
	}
	sts := *bp.Statement
	for i := range sts {
		st := &sts[i]
		st.principals, _ = parsePrincipals(st.Principal)
		var l bpStringList
		_ = json.Unmarshal(st.Action, &l)
		st.actions = l
		l = nil
		_ = json.Unmarshal(st.Resource, &l)
		st.resources = l
	}
	return sts, nil
}

// matches reports whether a statement names action and resource res.
func (st *bpStatement) matches(action, res string) bool {
	actOK := false
	for _, a := range st.actions {
		if patternMatch(strings.ToLower(a), strings.ToLower(action)) {
			actOK = true
			break
		}
	}
	if !actOK {
		return false
	}
	for _, r := range st.resources {
		if patternMatch(r, res) {
			return true
		}
	}
	return false
}

// keyDenies reports whether a key's own policy explicitly denies.
func keyDenies(k auth.Key, action, resource string) bool {
	var denies auth.Policy
	for _, st := range k.Policy.Statements {
		if st.Effect == auth.Deny {
			st.Effect = auth.Allow
			denies.Statements = append(denies.Statements, st)
		}
	}
	return len(denies.Statements) > 0 && denies.Evaluate(action, resource)
}

// authorize decides a request on bucket (and key) from the key's policy
// and the bucket's policy; deny wins.
func (s *Server) authorize(ctx context.Context, p *auth.Principal, action, bucket, key string) error {
	if isAnonymous(p) {
		return s.authorizeAnonymous(ctx, action, bucket, key)
	}
	res := auth.S3Resource(bucket, key)
	keyErr := p.Authorize(action, res)
	sts, err := s.bucketPolicyFor(ctx, bucket)
	if err != nil {
		return err
	}
	if len(sts) == 0 || p == nil {
		return keyErr
	}
	selfManaged := action == "s3:PutBucketPolicy" || action == "s3:GetBucketPolicy" || action == "s3:DeleteBucketPolicy"
	allowed := false
	var cc *condContext // the request's condition keys, gathered once if needed
	for i := range sts {
		st := &sts[i]
		named := false
		for _, pr := range st.principals {
			if pr == "*" || principalKey(pr) == p.Key.AccessKeyID {
				named = true
				break
			}
		}
		if !named || !st.matches(action, res) {
			continue
		}
		if len(st.Condition) > 0 {
			if cc == nil {
				cc = s.requestConditions(ctx, p, action, bucket, key)
			}
			holds, ok := evalCondition(st.Condition, cc)
			if !ok {
				holds = st.Effect == "Deny"
			}
			if !holds {
				continue
			}
		}
		switch {
		case st.Effect == "Deny" && !(selfManaged && p.Key.Admin):
			return fmt.Errorf("the policy of bucket %q denies access key %q %s on %s: %w", bucket, p.Key.AccessKeyID, action, res, auth.ErrAccessDenied)
		case st.Effect == "Allow":
			allowed = true
		}
	}
	if keyErr == nil {
		return nil
	}
	if allowed && !keyDenies(p.Key, action, res) {
		return nil
	}
	return keyErr
}
