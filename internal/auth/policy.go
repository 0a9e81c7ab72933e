package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Effect is a statement's effect.
type Effect string

// The two effects.
const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// PolicyVersion is the policy language version tarn writes.
const PolicyVersion = "2012-10-17"

// Policy is an IAM-like policy document:
//
//	{"Version": "2012-10-17", "Statement": [
//	  {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
//	   "Resource": "arn:aws:s3:::lake/raw/*"},
//	  {"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::lake/curated/*"}]}
//
// Evaluation is IAM's: everything is denied unless a statement allows it, and
// an explicit Deny wins over any Allow. Action and Resource patterns may use
// the wildcards * (any run of characters, including "/" and ":") and ? (one
// character). Actions ("service:Action") match case-insensitively; resources
// (ARNs) match case-sensitively. Conditions, principals, NotAction and
// NotResource are not supported and are rejected rather than ignored.
//
// The zero Policy denies everything.
type Policy struct {
	Version    string
	Statements []Statement
}

// Statement is one statement of a policy.
type Statement struct {
	Sid       string
	Effect    Effect
	Actions   []string
	Resources []string
}

// ARN helpers: the resources that tarn's front ends authorize against.

// S3Resource returns the ARN of a bucket (key == "") or an object:
// arn:aws:s3:::bucket or arn:aws:s3:::bucket/key.
func S3Resource(bucket, key string) string {
	if key == "" {
		return "arn:aws:s3:::" + bucket
	}
	return "arn:aws:s3:::" + bucket + "/" + key
}

// CatalogResource is the ARN of the catalog itself (Glue's
// arn:aws:glue:region:account:catalog), for actions such as glue:GetDatabases.
const CatalogResource = "arn:aws:glue:*:*:catalog"

// DatabaseResource returns Glue's ARN of a catalog database:
// arn:aws:glue:*:*:database/db.
func DatabaseResource(db string) string {
	return "arn:aws:glue:*:*:database/" + db
}

// TableResource returns Glue's ARN of a catalog table:
// arn:aws:glue:*:*:table/db/table.
func TableResource(db, table string) string {
	return "arn:aws:glue:*:*:table/" + db + "/" + table
}

// WorkgroupResource returns Athena's ARN of a workgroup:
// arn:aws:athena:*:*:workgroup/name.
func WorkgroupResource(name string) string {
	return "arn:aws:athena:*:*:workgroup/" + name
}

// Evaluate reports whether the policy allows action on resource: false
// unless a statement allows it, and false if any statement denies it.
//
// tarn's resource ARNs have "*" as region and account (see TableResource);
// a pattern's region and account fields match those like any other
// characters, so policies should write "*" (or "*:*") there, as the
// examples do.
func (p Policy) Evaluate(action, resource string) bool {
	allowed := false
	for i := range p.Statements {
		st := &p.Statements[i]
		if !st.matches(action, resource) {
			continue
		}
		if st.Effect == Deny {
			return false
		}
		allowed = true
	}
	return allowed
}

func (st *Statement) matches(action, resource string) bool {
	ok := false
	for _, a := range st.Actions {
		if wildcardMatch(strings.ToLower(a), strings.ToLower(action)) {
			ok = true
			break
		}
	}
	if !ok {
		return false
	}
	for _, r := range st.Resources {
		if wildcardMatch(r, resource) {
			return true
		}
	}
	return false
}

// wildcardMatch matches s against a pattern where * is any run of
// characters and ? is one character. It runs in O(len(p)*len(s)) at worst
// (the classic greedy algorithm with one backtrack point), so a hostile
// pattern cannot blow it up.
func wildcardMatch(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
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

// policyJSON and statementJSON are the document shapes; Action, Resource
// and Statement may each be one value or a list.
type policyJSON struct {
	Version   string          `json:"Version,omitempty"`
	ID        string          `json:"Id,omitempty"`
	Statement json.RawMessage `json:"Statement"`
}

type statementJSON struct {
	Sid         string          `json:"Sid,omitempty"`
	Effect      string          `json:"Effect"`
	Action      json.RawMessage `json:"Action"`
	Resource    json.RawMessage `json:"Resource"`
	NotAction   json.RawMessage `json:"NotAction,omitempty"`
	NotResource json.RawMessage `json:"NotResource,omitempty"`
	Principal   json.RawMessage `json:"Principal,omitempty"`
	Condition   json.RawMessage `json:"Condition,omitempty"`
}

// MaxPolicySize bounds a policy document (IAM's managed policy limit is 6,144
// characters; tarn is more generous).
const MaxPolicySize = 64 << 10

// ParsePolicy parses and validates a policy document strictly: unknown
// fields are rejected, Effect must be Allow or Deny, every statement needs
// an Action and a Resource, actions are "*" or "service:pattern", and
// resources are "*" or ARNs. Errors wrap ErrInvalidPolicy and name the
// statement (1-based, with its Sid) and the field.
func ParsePolicy(data []byte) (Policy, error) {
	if len(data) > MaxPolicySize {
		return Policy{}, fmt.Errorf("%w: document is %d bytes, more than %d", ErrInvalidPolicy, len(data), MaxPolicySize)
	}
	var doc policyJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return Policy{}, fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
	}
	if dec.More() {
		return Policy{}, fmt.Errorf("%w: trailing data after the document", ErrInvalidPolicy)
	}
	p := Policy{Version: doc.Version}
	switch doc.Version {
	case "2012-10-17", "2008-10-17":
	case "":
		p.Version = PolicyVersion
	default:
		return Policy{}, fmt.Errorf("%w: field \"Version\": %q is not a policy language version (use %q)", ErrInvalidPolicy, doc.Version, PolicyVersion)
	}
	raws, err := oneOrMany[json.RawMessage](doc.Statement)
	if err != nil || len(raws) == 0 {
		return Policy{}, fmt.Errorf("%w: field \"Statement\": want a statement object or a non-empty list of them", ErrInvalidPolicy)
	}
	for i, raw := range raws {
		st, err := parseStatement(raw)
		if err != nil {
			where := fmt.Sprintf("statement %d", i+1)
			if st.Sid != "" {
				where += fmt.Sprintf(" (Sid %q)", st.Sid)
			}
			return Policy{}, fmt.Errorf("%w: %s: %v", ErrInvalidPolicy, where, err)
		}
		p.Statements = append(p.Statements, st)
	}
	return p, nil
}

func parseStatement(raw json.RawMessage) (Statement, error) {
	var sj statementJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sj); err != nil {
		return Statement{}, err
	}
	st := Statement{Sid: sj.Sid}
	for _, f := range []struct {
		name string
		v    json.RawMessage
	}{{"NotAction", sj.NotAction}, {"NotResource", sj.NotResource}, {"Principal", sj.Principal}, {"Condition", sj.Condition}} {
		if f.v != nil {
			return st, fmt.Errorf("field %q is not supported", f.name)
		}
	}
	switch Effect(sj.Effect) {
	case Allow, Deny:
		st.Effect = Effect(sj.Effect)
	case "":
		return st, fmt.Errorf("field \"Effect\" is missing (want \"Allow\" or \"Deny\")")
	default:
		return st, fmt.Errorf("field \"Effect\": %q is not \"Allow\" or \"Deny\"", sj.Effect)
	}
	var err error
	if st.Actions, err = stringList("Action", sj.Action); err != nil {
		return st, err
	}
	for _, a := range st.Actions {
		if err := validateAction(a); err != nil {
			return st, fmt.Errorf("field \"Action\": %w", err)
		}
	}
	if st.Resources, err = stringList("Resource", sj.Resource); err != nil {
		return st, err
	}
	for _, r := range st.Resources {
		if err := validateResource(r); err != nil {
			return st, fmt.Errorf("field \"Resource\": %w", err)
		}
	}
	return st, nil
}

func stringList(field string, raw json.RawMessage) ([]string, error) {
	if raw == nil || string(raw) == "null" {
		return nil, fmt.Errorf("field %q is missing", field)
	}
	list, err := oneOrMany[string](raw)
	if err != nil {
		return nil, fmt.Errorf("field %q: want a string or a list of strings", field)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("field %q is an empty list", field)
	}
	return list, nil
}

// oneOrMany decodes a JSON value that is either one T or a list of T.
func oneOrMany[T any](raw json.RawMessage) ([]T, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		var list []T
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, err
		}
		return list, nil
	}
	var one T
	if len(raw) == 0 || string(raw) == "null" {
		return nil, fmt.Errorf("missing")
	}
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, err
	}
	return []T{one}, nil
}

func validateAction(a string) error {
	if a == "*" {
		return nil
	}
	svc, act, ok := strings.Cut(a, ":")
	if !ok || svc == "" || act == "" {
		return fmt.Errorf("%q is not \"*\" or \"service:action\" (for example \"s3:GetObject\")", a)
	}
	for _, c := range svc {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '*' || c == '?') {
			return fmt.Errorf("%q: service %q may only have letters, digits, '-' and wildcards", a, svc)
		}
	}
	for _, c := range act {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '*' || c == '?') {
			return fmt.Errorf("%q: action %q may only have letters, digits and wildcards", a, act)
		}
	}
	return nil
}

func validateResource(r string) error {
	if r == "*" {
		return nil
	}
	if !strings.HasPrefix(r, "arn:") {
		return fmt.Errorf("%q is not \"*\" or an ARN (for example \"arn:aws:s3:::bucket/prefix/*\")", r)
	}
	// arn:partition:service:region:account:resource; the resource part may
	// itself contain ':'.
	parts := strings.SplitN(r, ":", 6)
	if len(parts) < 6 || parts[5] == "" {
		return fmt.Errorf("%q is not an ARN of the form arn:partition:service:region:account:resource", r)
	}
	if parts[2] == "" {
		return fmt.Errorf("%q: ARN has no service", r)
	}
	for _, c := range r {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%q: ARN has a control character", r)
		}
	}
	return nil
}

// MarshalJSON writes the policy in IAM's document shape.
func (p Policy) MarshalJSON() ([]byte, error) {
	type stmt struct {
		Sid      string   `json:"Sid,omitempty"`
		Effect   Effect   `json:"Effect"`
		Action   []string `json:"Action"`
		Resource []string `json:"Resource"`
	}
	doc := struct {
		Version   string `json:"Version"`
		Statement []stmt `json:"Statement"`
	}{Version: p.Version, Statement: []stmt{}}
	if doc.Version == "" {
		doc.Version = PolicyVersion
	}
	for _, st := range p.Statements {
		doc.Statement = append(doc.Statement, stmt{st.Sid, st.Effect, st.Actions, st.Resources})
	}
	return json.Marshal(doc)
}

// UnmarshalJSON parses the policy with ParsePolicy.
func (p *Policy) UnmarshalJSON(data []byte) error {
	if string(bytes.TrimSpace(data)) == "null" {
		return nil
	}
	pp, err := ParsePolicy(data)
	if err != nil {
		return err
	}
	*p = pp
	return nil
}

// Validate checks a policy built in Go the way ParsePolicy checks a document.
func (p Policy) Validate() error {
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
	}
	_, err = ParsePolicy(data)
	return err
}
