package s3api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Bucket policy conditions, evaluated as IAM evaluates them: every
// operator of a Condition block and every key under it must hold (AND);
// any of a key's values may match (OR). A key the request does not
// supply makes its condition false, except for the negated operators
// (StringNotEquals, NotIpAddress, …: nothing there to equal), for
// …IfExists (true) and for Null. ForAnyValue:/ForAllValues: compare
// multivalued keys (s3:RequestObjectTagKeys).
//
// The keys a request supplies (requestConditions): aws:SourceIp (the
// connection's address: tarn trusts no forwarding header),
// aws:SecureTransport, aws:CurrentTime, aws:EpochTime, aws:UserAgent,
// aws:Referer, aws:userid and aws:username (the access key and its name),
// aws:PrincipalType; s3:authType, s3:signatureversion,
// s3:x-amz-content-sha256; for listings s3:prefix, s3:delimiter,
// s3:max-keys; for object writes the x-amz-acl, copy source, metadata
// directive, storage class, server-side encryption and object lock
// headers, s3:RequestObjectTag/<key> and s3:RequestObjectTagKeys; and
// s3:VersionId. s3:ExistingObjectTag/<key> is the tags of the object the
// request names, read when a policy asks for them.

type reqCtxKey struct{}

// withRequest keeps the request in its context, for the conditions of
// bucket policies evaluated deeper down.
func withRequest(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), reqCtxKey{}, r))
}

// condContext is what a request says for condition keys (lower-cased).
type condContext struct {
	vals map[string][]string
	// tags returns the tags of the object the request names (for
	// s3:ExistingObjectTag/<key>), nil if it has none or none is named.
	tags func() map[string]string
}

func (cc *condContext) get(key string) ([]string, bool) {
	lk := strings.ToLower(key)
	if tk, ok := strings.CutPrefix(lk, "s3:existingobjecttag/"); ok && cc.tags != nil {
		// Tag keys are case-sensitive: the policy's spelling is used.
		tk = key[len(key)-len(tk):]
		v, ok := cc.tags()[tk]
		if !ok {
			return nil, false
		}
		return []string{v}, true
	}
	v, ok := cc.vals[lk]
	return v, ok
}

// requestConditions gathers the condition keys of the request in ctx
// (none if ctx carries no request) for action by p.
func (s *Server) requestConditions(ctx context.Context, p *auth.Principal, action, bucket, key string) *condContext {
	cc := &condContext{vals: map[string][]string{}}
	set := func(k string, v ...string) { cc.vals[strings.ToLower(k)] = v }
	now := time.Now().UTC()
	set("aws:CurrentTime", now.Format(time.RFC3339))
	set("aws:EpochTime", strconv.FormatInt(now.Unix(), 10))
	if p != nil && !isAnonymous(p) {
		set("aws:userid", p.Key.AccessKeyID)
		set("aws:username", p.Key.Name)
		set("aws:PrincipalType", "User")
		set("s3:signatureversion", "AWS4-HMAC-SHA256")
		if p.Presigned {
			set("s3:authType", "REST-QUERY-STRING")
		} else {
			set("s3:authType", "REST-HEADER")
		}
	}
	r, _ := ctx.Value(reqCtxKey{}).(*http.Request)
	if key != "" {
		cc.tags = func() map[string]string {
			// The version the request names, if it names one.
			vid := ""
			if r != nil {
				vid = r.URL.Query().Get("versionId")
			}
			var info storage.ObjectInfo
			var err error
			if v, ok := s.store.(storage.Versioned); ok && vid != "" {
				info, err = v.HeadVersion(context.WithoutCancel(ctx), bucket, key, vid)
			} else {
				info, err = s.store.Head(context.WithoutCancel(ctx), bucket, key)
			}
			if err != nil {
				return nil
			}
			return info.Tags
		}
	}
	if r == nil {
		return cc
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		set("aws:SourceIp", host)
	} else if r.RemoteAddr != "" {
		set("aws:SourceIp", r.RemoteAddr)
	}
	set("aws:SecureTransport", strconv.FormatBool(r.TLS != nil))
	if v := r.UserAgent(); v != "" {
		set("aws:UserAgent", v)
	}
	if v := r.Referer(); v != "" {
		set("aws:Referer", v)
	}
	if v := r.Header.Get("X-Amz-Content-Sha256"); v != "" {
		set("s3:x-amz-content-sha256", v)
	}
	q := r.URL.Query()
	if action == "s3:ListBucket" || action == "s3:ListBucketVersions" {
		// S3 supplies s3:prefix (empty if none) to every listing.
		set("s3:prefix", q.Get("prefix"))
		if q.Has("delimiter") {
			set("s3:delimiter", q.Get("delimiter"))
		}
		mk := "1000"
		if q.Has("max-keys") {
			mk = q.Get("max-keys")
		}
		set("s3:max-keys", mk)
	}
	if q.Has("versionId") {
		set("s3:VersionId", q.Get("versionId"))
	}
	for h, k := range map[string]string{
		"X-Amz-Acl": "s3:x-amz-acl", "X-Amz-Copy-Source": "s3:x-amz-copy-source",
		"X-Amz-Metadata-Directive": "s3:x-amz-metadata-directive", "X-Amz-Storage-Class": "s3:x-amz-storage-class",
		"X-Amz-Server-Side-Encryption": "s3:x-amz-server-side-encryption",
		"X-Amz-Object-Lock-Mode":       "s3:object-lock-mode", "X-Amz-Object-Lock-Retain-Until-Date": "s3:object-lock-retain-until-date",
		"X-Amz-Object-Lock-Legal-Hold": "s3:object-lock-legal-hold",
	} {
		if v := r.Header.Get(h); v != "" {
			set(k, v)
		}
	}
	if tags, err := tagsFromHeader(r.Header); err == nil && len(tags) > 0 {
		var keys []string
		for k, v := range tags {
			keys = append(keys, k)
			cc.vals["s3:requestobjecttag/"+strings.ToLower(k)] = []string{v}
		}
		set("s3:RequestObjectTagKeys", keys...)
	}
	return cc
}

// evalCondition evaluates a statement's Condition block; ok is false if
// the block cannot be read (the caller then treats the statement
// conservatively).
func evalCondition(raw json.RawMessage, cc *condContext) (holds, ok bool) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return true, true
	}
	var block map[string]map[string]bpStringList
	if err := json.Unmarshal(raw, &block); err != nil {
		return false, false
	}
	for op, kvs := range block {
		for key, want := range kvs {
			h, ok := evalOperator(op, key, want, cc)
			if !ok {
				return false, false
			}
			if !h {
				return false, true
			}
		}
	}
	return true, true
}

// evalOperator evaluates one operator on one key.
func evalOperator(op, key string, want []string, cc *condContext) (holds, ok bool) {
	got, present := cc.get(key)
	if op == "Null" {
		if len(want) != 1 {
			return false, false
		}
		b, err := strconv.ParseBool(want[0])
		if err != nil {
			return false, false
		}
		return b != present, true
	}
	set := ""
	if q, rest, found := strings.Cut(op, ":"); found {
		set, op = q, rest
	}
	ifExists := strings.HasSuffix(op, "IfExists")
	op = strings.TrimSuffix(op, "IfExists")
	negated := strings.Contains(op, "Not")
	match, ok := matcher(op)
	if !ok {
		return false, false
	}
	if !present {
		switch {
		case set == "ForAllValues":
			return true, true // vacuously
		case set == "ForAnyValue":
			return false, true
		case ifExists:
			return true, true
		default:
			return negated, true
		}
	}
	// one reports whether a request value matches any policy value (for
	// a negated operator: matches none of them).
	one := func(g string) (bool, bool) {
		anyMatch := false
		for _, w := range want {
			m, ok := match(w, g)
			if !ok {
				return false, false
			}
			if m {
				anyMatch = true
				break
			}
		}
		if negated {
			return !anyMatch, true
		}
		return anyMatch, true
	}
	switch set {
	case "ForAllValues":
		for _, g := range got {
			m, ok := one(g)
			if !ok || !m {
				return false, ok
			}
		}
		return true, true
	default: // ForAnyValue, or a single-valued key
		for _, g := range got {
			m, ok := one(g)
			if !ok {
				return false, false
			}
			if m {
				return true, true
			}
		}
		return false, true
	}
}

// matcher returns how op compares a policy value with a request value
// (ignoring negation, which evalOperator applies).
func matcher(op string) (func(want, got string) (bool, bool), bool) {
	switch op {
	case "StringEquals", "StringNotEquals":
		return func(w, g string) (bool, bool) { return w == g, true }, true
	case "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase":
		return func(w, g string) (bool, bool) { return strings.EqualFold(w, g), true }, true
	case "StringLike", "StringNotLike", "ArnLike", "ArnNotLike", "ArnEquals", "ArnNotEquals":
		return func(w, g string) (bool, bool) { return patternMatch(w, g), true }, true
	case "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals":
		return func(w, g string) (bool, bool) {
			a, err1 := strconv.ParseFloat(g, 64)
			b, err2 := strconv.ParseFloat(w, 64)
			if err2 != nil {
				return false, false
			}
			if err1 != nil {
				return false, true // a request value that is no number matches nothing
			}
			return compare(op, cmpFloat(a, b)), true
		}, true
	case "DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals":
		return func(w, g string) (bool, bool) {
			b, ok := parsePolicyDate(w)
			if !ok {
				return false, false
			}
			a, ok := parsePolicyDate(g)
			if !ok {
				return false, true
			}
			return compare(op, a.Compare(b)), true
		}, true
	case "Bool":
		return func(w, g string) (bool, bool) {
			b, err := strconv.ParseBool(w)
			if err != nil {
				return false, false
			}
			a, err := strconv.ParseBool(g)
			return err == nil && a == b, true
		}, true
	case "BinaryEquals":
		return func(w, g string) (bool, bool) {
			b, err := base64.StdEncoding.DecodeString(w)
			if err != nil {
				return false, false
			}
			return string(b) == g || w == g, true
		}, true
	case "IpAddress", "NotIpAddress":
		return func(w, g string) (bool, bool) {
			pfx, err := netip.ParsePrefix(w)
			if err != nil {
				a, err := netip.ParseAddr(w)
				if err != nil {
					return false, false
				}
				pfx = netip.PrefixFrom(a, a.BitLen())
			}
			a, err := netip.ParseAddr(g)
			if err != nil {
				return false, true
			}
			return pfx.Contains(a.Unmap()) || pfx.Contains(a), true
		}, true
	}
	return nil, false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compare applies a Numeric or Date operator to c, the comparison of the
// request's value with the policy's.
func compare(op string, c int) bool {
	switch {
	case strings.HasSuffix(op, "NotEquals"), strings.HasSuffix(op, "Equals") && !strings.Contains(op, "Than"):
		return c == 0 // negation is applied by the caller
	case strings.HasSuffix(op, "LessThanEquals"):
		return c <= 0
	case strings.HasSuffix(op, "LessThan"):
		return c < 0
	case strings.HasSuffix(op, "GreaterThanEquals"):
		return c >= 0
	case strings.HasSuffix(op, "GreaterThan"):
		return c > 0
	}
	return false
}

// parsePolicyDate reads an ISO 8601 date (or date-time) or epoch seconds.
func parsePolicyDate(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}
