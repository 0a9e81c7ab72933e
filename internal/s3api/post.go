package s3api

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/storage"
)

// POST object: the HTML-form upload browsers make (S3's "browser-based
// uploads using POST"). The request is not signed the usual way: the form
// carries a policy document (base64 JSON: an expiration and conditions on
// every other form field), signed with SigV4's signing key. It is
// answered before header authentication; the key it names must exist,
// the signature must match, the policy must hold for every field, and the
// key's own policy must allow s3:PutObject on the object — a POST gets no
// more than a PUT from the same key would.

const (
	maxPostFormFields = 64 << 10 // the form's fields besides the file
	postAlgorithm     = "AWS4-HMAC-SHA256"
)

// errorFields adds S3's extra error elements to an answer.
type errorFields struct {
	ArgumentName, ArgumentValue                  string
	ProposedSize, MaxSizeAllowed, MinSizeAllowed string
	AWSAccessKeyID, StringToSign, SignatureGiven string
	StringToSignBytes, Condition                 string
	Method, ResourceType                         string
	S3ComputedContentSHA256                      string
}

func withFields(err error, f errorFields) error {
	var se *s3Error
	if errors.As(err, &se) {
		c := *se
		c.fields = &f
		return &c
	}
	return err
}

func postInvalidArg(name, value, format string, args ...any) error {
	return withFields(errCode("InvalidArgument", http.StatusBadRequest, format, args...), errorFields{ArgumentName: name, ArgumentValue: value})
}

func postMissingField(field string) error {
	return postInvalidArg(field, "", "Bucket POST must contain a field named '%s'.  If it is specified, please check the order of the fields.", field)
}

func policyDocErr(format string, args ...any) error {
	return errCode("InvalidPolicyDocument", http.StatusBadRequest, "Invalid Policy: "+format, args...)
}

func accordingToPolicy(format string, args ...any) error {
	return errCode("AccessDenied", http.StatusForbidden, "Invalid according to Policy: "+format, args...)
}

// postForm is a parsed form: fields by lowercased name (the first of a
// name wins) in their order, and the file.
type postForm struct {
	names    []string
	values   map[string]string
	orig     map[string]string // lowercased → as sent
	file     io.Reader         // the file part, read only after the form is authenticated
	filename string
	hasFile  bool
}

func (f *postForm) get(name string) (string, bool) {
	v, ok := f.values[strings.ToLower(name)]
	return v, ok
}

// readPostForm reads the form up to and including the file; anything
// after the file is ignored, as S3 does.
func (s *Server) readPostForm(r *http.Request) (*postForm, error) {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/form-data" {
		return nil, withFields(errCode("PreconditionFailed", http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold."),
			errorFields{Condition: "Bucket POST must be of the enclosure-type multipart/form-data"})
	}
	if params["boundary"] == "" {
		return nil, errCode("MalformedPOSTRequest", http.StatusBadRequest, "The body of your POST request is not well-formed multipart/form-data.")
	}
	malformed := errCode("MalformedPOSTRequest", http.StatusBadRequest, "The body of your POST request is not well-formed multipart/form-data.")
	// Until the file part, which comes last, the form is unauthenticated:
	// it may not stream on for ever.
	budget := &budgetReader{r: r.Body, left: 4 * maxPostFormFields}
	mr := multipart.NewReader(budget, params["boundary"])
	f := &postForm{values: map[string]string{}, orig: map[string]string{}}
	size := 0
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, malformed
		}
		name := part.FormName()
		if name == "" {
			continue
		}
		if strings.EqualFold(name, "file") {
			// Not read yet: nothing of an unauthenticated body is buffered.
			f.file, f.filename, f.hasFile = part, part.FileName(), true
			budget.left = -1
			break
		}
		v, err := io.ReadAll(io.LimitReader(part, maxPostFormFields+1))
		size += len(v) + len(name)
		if err != nil || size > maxPostFormFields {
			return nil, errCode("MaxMessageLengthExceeded", http.StatusBadRequest, "Your request was too big.")
		}
		ln := strings.ToLower(name)
		if _, dup := f.values[ln]; !dup {
			f.names = append(f.names, ln)
			f.values[ln], f.orig[ln] = string(v), name
		}
	}
	if !f.hasFile {
		return nil, postInvalidArg("file", "", "POST requires exactly one file upload per request.")
	}
	return f, nil
}

// postPolicy is a decoded policy document.
type postPolicy struct {
	expiration time.Time
	conds      []postCondition
}

// postCondition is one condition: op is eq, starts-with or
// content-length-range; raw is the condition as written, for messages.
type postCondition struct {
	op, field, value string
	min, max         int64
	raw              string
}

func parsePostPolicy(b64 string) (*postPolicy, error) {
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, policyDocErr("invalid Base64 encoding.")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, policyDocErr("Expecting '{' but found End-of-Input")
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(data, &doc) != nil {
		return nil, policyDocErr("Invalid JSON.")
	}
	for k := range doc {
		if k != "expiration" && k != "conditions" {
			return nil, policyDocErr("Unexpected: %q", k)
		}
	}
	rawExp, ok := doc["expiration"]
	if !ok {
		return nil, policyDocErr("Policy missing expiration.")
	}
	var exp string
	if json.Unmarshal(rawExp, &exp) != nil {
		return nil, policyDocErr("Invalid JSON.")
	}
	t, err := time.Parse(time.RFC3339, exp)
	if err != nil {
		return nil, policyDocErr("Invalid 'expiration' value: '%s'", exp)
	}
	rawConds, ok := doc["conditions"]
	if !ok {
		return nil, policyDocErr("Policy missing conditions.")
	}
	var list []json.RawMessage
	if json.Unmarshal(rawConds, &list) != nil {
		return nil, policyDocErr("Invalid 'conditions' value: must be a List.")
	}
	p := &postPolicy{expiration: t}
	for _, raw := range list {
		c, err := parsePostCondition(raw)
		if err != nil {
			return nil, err
		}
		p.conds = append(p.conds, c)
	}
	return p, nil
}

func parsePostCondition(raw json.RawMessage) (postCondition, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return postCondition{}, policyDocErr("Invalid condition test: must be a List or Object.")
		}
		if len(obj) != 1 {
			return postCondition{}, policyDocErr("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
		}
		for k, v := range obj {
			var s string
			if json.Unmarshal(v, &s) != nil {
				return postCondition{}, policyDocErr("Invalid Simple-Condition: value must be a string.")
			}
			field := strings.ToLower(strings.TrimPrefix(k, "$"))
			// S3 spells a failed simple condition this way.
			raw := fmt.Sprintf(`["eq", "$%s", "%s"]`, k, s)
			return postCondition{op: "eq", field: field, value: s, raw: raw}, nil
		}
	}
	var arr []json.RawMessage
	if json.Unmarshal(raw, &arr) != nil {
		return postCondition{}, policyDocErr("Invalid condition test: must be a List or Object.")
	}
	if len(arr) == 0 {
		return postCondition{}, policyDocErr("Invalid Condition: missing operation identifier.")
	}
	var op string
	if json.Unmarshal(arr[0], &op) != nil {
		return postCondition{}, policyDocErr("Invalid Condition: missing operation identifier.")
	}
	c := postCondition{op: strings.ToLower(op), raw: string(raw)}
	switch c.op {
	case "eq", "starts-with":
		if len(arr) != 3 {
			return c, policyDocErr("Invalid %s: wrong number of arguments.", op)
		}
		var field, value string
		if json.Unmarshal(arr[1], &field) != nil || json.Unmarshal(arr[2], &value) != nil {
			return c, policyDocErr("Invalid JSON.")
		}
		if !strings.HasPrefix(field, "$") {
			// Names no field: it can never hold.
			c.op = "never"
		}
		c.field, c.value = strings.ToLower(strings.TrimPrefix(field, "$")), value
	case "content-length-range":
		if len(arr) != 3 {
			return c, policyDocErr("Invalid %s: wrong number of arguments.", op)
		}
		if json.Unmarshal(arr[1], &c.min) != nil || json.Unmarshal(arr[2], &c.max) != nil {
			return c, policyDocErr("Invalid JSON.")
		}
	default:
		return c, policyDocErr("Invalid Condition: unknown operation '%s'.", op)
	}
	return c, nil
}

// postAuth checks the form's credential and signature and returns the
// key's principal.
func (s *Server) postAuth(r *http.Request, f *postForm) (*auth.Principal, error) {
	authFields := []string{"x-amz-algorithm", "x-amz-credential", "x-amz-date", "policy", "x-amz-signature"}
	missing := 0
	for _, n := range authFields {
		if _, ok := f.get(n); !ok {
			missing++
		}
	}
	if missing == len(authFields) {
		// Anonymous: tarn has no public buckets.
		return nil, errCode("AccessDenied", http.StatusForbidden, "Access Denied.")
	}
	for _, n := range authFields {
		if _, ok := f.get(n); !ok {
			return nil, postMissingField(n)
		}
	}
	alg, _ := f.get("x-amz-algorithm")
	if alg != postAlgorithm {
		return nil, postInvalidArg("X-Amz-Algorithm", alg, "Only AWS4-HMAC-SHA256 is supported")
	}
	date, _ := f.get("x-amz-date")
	signedAt, err := time.Parse("20060102T150405Z", date)
	if err != nil {
		return nil, postInvalidArg("X-Amz-Date", date, "X-Amz-Date must be formated via ISO8601 Long format")
	}
	cred, _ := f.get("x-amz-credential")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return nil, postInvalidArg("x-amz-credential", cred, "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
	}
	if _, err := time.Parse("20060102", parts[1]); err != nil {
		return nil, postInvalidArg("x-amz-credential", cred, "incorrect date format %q. This date in the credential must be in the format \"yyyyMMdd\".", parts[1])
	}
	if parts[2] != s.cfg.Region {
		return nil, postInvalidArg("x-amz-credential", cred, "the region %q is wrong; expecting %q", parts[2], s.cfg.Region)
	}
	if parts[3] != "s3" {
		return nil, postInvalidArg("x-amz-credential", cred, "incorrect service %q. This endpoint belongs to \"s3\".", parts[3])
	}
	if parts[4] != "aws4_request" {
		return nil, postInvalidArg("x-amz-credential", cred, "incorrect terminal %q. This endpoint uses \"aws4_request\".", parts[4])
	}
	k, err := s.auth.GetKey(r.Context(), parts[0])
	if errors.Is(err, auth.ErrNoSuchKey) {
		return nil, withFields(errCode("InvalidAccessKeyId", http.StatusForbidden, "The AWS Access Key Id you provided does not exist in our records."), errorFields{AWSAccessKeyID: parts[0]})
	}
	if err != nil {
		return nil, err
	}
	policy, _ := f.get("policy")
	sig, _ := f.get("x-amz-signature")
	key := []byte("AWS4" + k.SecretAccessKey)
	for _, d := range []string{parts[1], parts[2], parts[3], parts[4]} {
		key = hmacSum(key, d)
	}
	want := hex.EncodeToString(hmacSum(key, policy))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(sig))) {
		hexb := make([]string, len(policy))
		for i := range len(policy) {
			hexb[i] = fmt.Sprintf("%02x", policy[i])
		}
		return nil, withFields(errCode("SignatureDoesNotMatch", http.StatusForbidden,
			"The request signature we calculated does not match the signature you provided. Check your key and signing method."),
			errorFields{AWSAccessKeyID: parts[0], StringToSign: policy, SignatureGiven: sig, StringToSignBytes: strings.Join(hexb, " ")})
	}
	if time.Since(signedAt) > time.Hour {
		// A form is good for an hour from its signing, whatever its
		// policy's expiration says.
		return nil, accordingToPolicy("Policy expired.")
	}
	k.SecretAccessKey = ""
	return &auth.Principal{Key: k, Region: parts[2], Service: "s3"}, nil
}

func hmacSum(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// postFieldsExempt are fields a policy need not name.
func postFieldExempt(name string) bool {
	return name == "policy" || name == "x-amz-signature" || name == "file" || strings.HasPrefix(name, "x-ignore-")
}

// postObject answers a form upload to bucket.
func (s *Server) postObject(w http.ResponseWriter, r *http.Request, bucket string) error {
	f, err := s.readPostForm(r)
	if err != nil {
		return err
	}
	p, err := s.postAuth(r, f)
	if err != nil {
		return err
	}
	policyB64, _ := f.get("policy")
	pol, err := parsePostPolicy(policyB64)
	if err != nil {
		return err
	}
	if !time.Now().Before(pol.expiration) {
		return accordingToPolicy("Policy expired.")
	}
	key, ok := f.get("key")
	if !ok {
		return postMissingField("key")
	}
	key = strings.ReplaceAll(key, "${filename}", f.filename)
	if err := s.authorize(r.Context(), p, "s3:PutObject", bucket, key); err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := s.store.HeadBucket(ctx, bucket); err != nil {
		return err
	}
	// The bucket is a field of the form for the policy's conditions.
	vals := func(name string) (string, bool) {
		if name == "bucket" {
			if v, ok := f.get("bucket"); ok {
				return v, true
			}
			return bucket, true
		}
		if name == "key" {
			return key, true
		}
		return f.get(name)
	}
	covered := map[string]bool{}
	sized := &postFileReader{r: f.file, min: 0, max: s.cfg.MaxPutSize, limit: s.cfg.MaxPutSize}
	for _, c := range pol.conds {
		switch c.op {
		case "content-length-range":
			sized.min, sized.max = max(sized.min, c.min), min(sized.max, c.max)
			continue
		}
		covered[c.field] = true
		v, _ := vals(c.field)
		if c.op == "never" || c.op == "eq" && v != c.value || c.op == "starts-with" && !postStartsWith(c.field, v, c.value) {
			return accordingToPolicy("Policy Condition failed: %s", c.raw)
		}
	}
	for _, n := range f.names {
		if !postFieldExempt(n) && !covered[n] && n != "x-amz-algorithm" && n != "x-amz-credential" && n != "x-amz-date" {
			return accordingToPolicy("Extra input fields: %s", f.orig[n])
		}
	}
	if b, ok := f.get("bucket"); ok && b != bucket {
		return accordingToPolicy("Policy Condition failed: [\"eq\",\"$bucket\",%q]", b)
	}
	if hasDotSegment(key) {
		return errCode("400", http.StatusBadRequest, "Bad Request")
	}
	// The object's headers are the form's fields of the same names.
	h := http.Header{}
	for _, n := range f.names {
		switch {
		case strings.HasPrefix(n, "x-amz-meta-"), slices.Contains([]string{"content-type", "cache-control", "content-disposition",
			"content-encoding", "content-language", "expires", "x-amz-website-redirect-location"}, n),
			strings.HasPrefix(n, "x-amz-checksum-"), strings.HasPrefix(n, "x-amz-server-side-encryption"), strings.HasPrefix(n, "x-amz-object-lock-"):
			h.Set(n, f.values[n])
		}
	}
	if err := checkNoSSE(h); err != nil {
		return err
	}
	if acl, ok := f.get("acl"); ok {
		if err := s.checkObjectACL(ctx, bucket, acl, false); err != nil {
			return err
		}
	}
	for name := range h {
		alg, ok := strings.CutPrefix(strings.ToLower(name), "x-amz-checksum-")
		if _, known := checksumAlgorithms[strings.ToUpper(alg)]; ok && !known {
			return errCode("InvalidRequest", http.StatusBadRequest, "The algorithm type you specified in x-amz-checksum- header is invalid.")
		}
	}
	if err := checkObjectHeaders(h); err != nil {
		return err
	}
	opts := putOptions(h)
	if t, ok := f.get("tagging"); ok {
		var tg tagging
		if xml.Unmarshal([]byte(t), &tg) != nil {
			return errMalformedXML
		}
		keys, values := make([]string, len(tg.TagSet)), make([]string, len(tg.TagSet))
		for i, tt := range tg.TagSet {
			keys[i], values[i] = tt.Key, tt.Value
		}
		if opts.Tags, err = checkTags(keys, values, 10, "Object tags cannot be greater than 10"); err != nil {
			return err
		}
	}
	// The checksum fields are checked as the same headers would be.
	fr := &http.Request{Header: h}
	alg, want, err := requestChecksum(fr)
	if err != nil {
		return err
	}
	var body io.Reader = sized
	if alg == "" {
		alg = "CRC64NVME" // S3's default, as for PutObject
	}
	cr := newChecksumReader(body, fr, alg, want)
	cr.noTrailer = true // a form has no trailer
	body, opts.ChecksumFrom = cr, cr.checksum
	info, err := s.lockedWrite(ctx, p, h, bucket, key, "", func() (storage.ObjectInfo, error) {
		return s.store.Put(ctx, bucket, key, body, opts)
	})
	if err != nil {
		return err
	}
	loc := s.location(r, bucket, key)
	w.Header().Set("ETag", `"`+info.ETag+`"`)
	w.Header().Set("Location", loc)
	setVersionHeader(w, info.VersionID)
	setChecksumHeaders(w, info.Checksum)
	status, _ := f.get("success_action_status")
	switch status {
	case "200":
		w.WriteHeader(http.StatusOK)
	case "201":
		writeXML(w, http.StatusCreated, struct {
			XMLName  xml.Name `xml:"PostResponse"`
			Xmlns    string   `xml:"xmlns,attr"`
			Location string   `xml:"Location"`
			Bucket   string   `xml:"Bucket"`
			Key      string   `xml:"Key"`
			ETag     string   `xml:"ETag"`
		}{Xmlns: s3NS, Location: loc, Bucket: bucket, Key: key, ETag: `"` + info.ETag + `"`})
	default:
		w.WriteHeader(http.StatusNoContent)
	}
	if s.created != nil {
		s.created(ctx, info, "PostObject")
	}
	return nil
}

// hasDotSegment reports whether a key has a "." or ".." segment or an
// empty one, which S3 refuses for form uploads and tarn for every key.
func hasDotSegment(key string) bool {
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return strings.HasPrefix(key, "/") || strings.Contains(key, "//")
}

// postFileReader reads a form's file, at most limit bytes, and at its end
// fails the read (so the store commits nothing) if its size is outside
// the policy's content-length-range.
type postFileReader struct {
	r               io.Reader
	n               int64
	min, max, limit int64
}

func (p *postFileReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.n > p.limit {
		return n, errCode("EntityTooLarge", http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed object size.")
	}
	if err == io.EOF {
		size := strconv.FormatInt(p.n, 10)
		if p.n > p.max {
			return n, withFields(errCode("EntityTooLarge", http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed object size."),
				errorFields{ProposedSize: size, MaxSizeAllowed: strconv.FormatInt(p.max, 10)})
		}
		if p.n < p.min {
			return n, withFields(errCode("EntityTooSmall", http.StatusBadRequest, "Your proposed upload is smaller than the minimum allowed size"),
				errorFields{ProposedSize: size, MinSizeAllowed: strconv.FormatInt(p.min, 10)})
		}
	}
	if err != nil && err != io.EOF {
		return n, errCode("MalformedPOSTRequest", http.StatusBadRequest, "The body of your POST request is not well-formed multipart/form-data.")
	}
	return n, err
}

// budgetReader reads at most left bytes (left < 0: no limit).
type budgetReader struct {
	r    io.Reader
	left int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.left < 0 {
		return b.r.Read(p)
	}
	if b.left == 0 {
		return 0, errCode("MaxMessageLengthExceeded", http.StatusBadRequest, "Your request was too big.")
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// postStartsWith applies a starts-with condition: to each of the
// comma-separated values of a Content-Type (S3 lets a form name several),
// to the whole value of other fields.
func postStartsWith(field, v, prefix string) bool {
	if field != "content-type" || !strings.Contains(v, ",") {
		return strings.HasPrefix(v, prefix)
	}
	for part := range strings.SplitSeq(v, ",") {
		if !strings.HasPrefix(strings.TrimSpace(part), prefix) {
			return false
		}
	}
	return true
}
