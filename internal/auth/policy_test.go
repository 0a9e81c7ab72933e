package auth

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func mustPolicy(t testing.TB, doc string) Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicyEvaluate(t *testing.T) {
	raw := mustPolicy(t, `{"Version": "2012-10-17", "Statement": [
		{"Sid": "UploadRaw", "Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "arn:aws:s3:::lake/raw/*"},
		{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::lake"}]}`)
	deny := mustPolicy(t, `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::lake", "arn:aws:s3:::lake/*"]},
		{"Effect": "Deny", "Action": ["s3:Delete*", "s3:PutObject"], "Resource": "arn:aws:s3:::lake/curated/*"}]}`)
	glue := mustPolicy(t, `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": ["glue:Get*", "athena:StartQueryExecution"], "Resource": [
			"arn:aws:glue:*:*:catalog", "arn:aws:glue:*:*:database/sales", "arn:aws:glue:*:*:table/sales/*",
			"arn:aws:athena:*:*:workgroup/primary"]},
		{"Effect": "Deny", "Action": "glue:*", "Resource": "arn:aws:glue:*:*:table/sales/pii_*"}]}`)
	wild := mustPolicy(t, `{"Statement": [{"Effect": "Allow", "Action": "s3:Get?bject", "Resource": "arn:aws:s3:::logs-????/*"},
		{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::scratch*"}]}`)

	tests := []struct {
		name     string
		p        Policy
		action   string
		resource string
		want     bool
	}{
		{"raw put", raw, "s3:PutObject", S3Resource("lake", "raw/x"), true},
		{"raw nested", raw, "s3:GetObject", S3Resource("lake", "raw/2025/01/x.csv"), true},
		{"raw prefix only", raw, "s3:PutObject", S3Resource("lake", "raw"), false},
		{"curated read", raw, "s3:GetObject", S3Resource("lake", "curated/x"), false},
		{"other bucket", raw, "s3:GetObject", S3Resource("lake2", "raw/x"), false},
		{"action not listed", raw, "s3:DeleteObject", S3Resource("lake", "raw/x"), false},
		{"action case-insensitive", raw, "S3:putobject", S3Resource("lake", "raw/x"), true},
		{"resource case-sensitive", raw, "s3:PutObject", S3Resource("lake", "RAW/x"), false},
		{"bucket list", raw, "s3:ListBucket", S3Resource("lake", ""), true},
		{"bucket list other", raw, "s3:ListBucket", S3Resource("other", ""), false},
		{"default deny", Policy{}, "s3:GetObject", "*", false},
		{"deny wins delete", deny, "s3:DeleteObject", S3Resource("lake", "curated/t/part-0.parquet"), false},
		{"deny wins put", deny, "s3:PutObject", S3Resource("lake", "curated/x"), false},
		{"deny leaves get", deny, "s3:GetObject", S3Resource("lake", "curated/x"), true},
		{"allow elsewhere", deny, "s3:DeleteObject", S3Resource("lake", "raw/x"), true},
		{"wildcard action", deny, "s3:ListBucketVersions", S3Resource("lake", ""), true},
		{"glue table", glue, "glue:GetTable", TableResource("sales", "orders"), true},
		{"glue database", glue, "glue:GetDatabase", DatabaseResource("sales"), true},
		{"glue catalog", glue, "glue:GetDatabases", CatalogResource, true},
		{"glue other database", glue, "glue:GetTable", TableResource("hr", "orders"), false},
		{"glue write", glue, "glue:UpdateTable", TableResource("sales", "orders"), false},
		{"glue deny pii", glue, "glue:GetTable", TableResource("sales", "pii_customers"), false},
		{"athena workgroup", glue, "athena:StartQueryExecution", WorkgroupResource("primary"), true},
		{"athena other workgroup", glue, "athena:StartQueryExecution", WorkgroupResource("adhoc"), false},
		{"service mismatch", glue, "s3:GetObject", TableResource("sales", "orders"), false},
		{"question mark", wild, "s3:GetObject", S3Resource("logs-2025", "a"), true},
		{"question mark length", wild, "s3:GetObject", S3Resource("logs-202", "a"), false},
		{"star action", wild, "glue:DeleteTable", S3Resource("scratch-x", "a"), true},
		{"star action resource", wild, "glue:DeleteTable", S3Resource("lake", "a"), false},
	}
	for _, tc := range tests {
		if got := tc.p.Evaluate(tc.action, tc.resource); got != tc.want {
			t.Errorf("%s: Evaluate(%q, %q) = %v, want %v", tc.name, tc.action, tc.resource, got, tc.want)
		}
	}
}

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		p, s string
		want bool
	}{
		{"", "", true},
		{"*", "", true},
		{"*", "anything/at:all", true},
		{"a*", "a", true},
		{"a*b", "axxb", true},
		{"a*b", "axxbc", false},
		{"a*b*c", "abbbc", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*raw/*", "lake/raw/x", true},
		{"**", "x", true},
		{"a", "b", false},
		{strings.Repeat("*a", 30), strings.Repeat("a", 29) + "b", false},
	}
	for _, tc := range tests {
		if got := wildcardMatch(tc.p, tc.s); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}

func TestParsePolicyErrors(t *testing.T) {
	tests := []struct {
		doc  string
		want string // part of the message
	}{
		{`{`, "unexpected EOF"},
		{`[]`, "cannot unmarshal"},
		{`{"Version": "2012-10-17"}`, `field "Statement"`},
		{`{"Statement": []}`, `field "Statement"`},
		{`{"Version": "2020-01-01", "Statement": []}`, `field "Version"`},
		{`{"Statement": [], "Extra": 1}`, `unknown field "Extra"`},
		{`{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, {"Sid": "Second", "Effect": "Permit", "Action": "s3:*", "Resource": "*"}]}`,
			`statement 2 (Sid "Second"): field "Effect": "Permit"`},
		{`{"Statement": [{"Action": "s3:*", "Resource": "*"}]}`, `statement 1: field "Effect" is missing`},
		{`{"Statement": [{"Effect": "Allow", "Resource": "*"}]}`, `statement 1: field "Action" is missing`},
		{`{"Statement": [{"Effect": "Allow", "Action": [], "Resource": "*"}]}`, `field "Action" is an empty list`},
		{`{"Statement": [{"Effect": "Allow", "Action": 3, "Resource": "*"}]}`, `field "Action": want a string`},
		{`{"Statement": [{"Effect": "Allow", "Action": "GetObject", "Resource": "*"}]}`, `field "Action": "GetObject" is not`},
		{`{"Statement": [{"Effect": "Allow", "Action": "s3:Get Object", "Resource": "*"}]}`, `field "Action"`},
		{`{"Statement": [{"Effect": "Allow", "Action": "s3:*"}]}`, `field "Resource" is missing`},
		{`{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "lake/raw/*"}]}`, `field "Resource": "lake/raw/*" is not`},
		{`{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3"}]}`, `field "Resource"`},
		{`{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {}}]}`, `field "Condition" is not supported`},
		{`{"Statement": [{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}]}`, `field "NotAction" is not supported`},
		{`{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Bogus": 1}]}`, `statement 1: json: unknown field "Bogus"`},
		{`{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]} {}`, "trailing data"},
	}
	for _, tc := range tests {
		_, err := ParsePolicy([]byte(tc.doc))
		if !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("%s: err %v, want ErrInvalidPolicy", tc.doc, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n error %q\n does not say %q", tc.doc, err, tc.want)
		}
	}
}

func TestPolicyJSONRoundTrip(t *testing.T) {
	p := mustPolicy(t, `{"Version": "2012-10-17", "Statement": {"Sid": "One", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::lake/*"}}`)
	want := Policy{Version: "2012-10-17", Statements: []Statement{{Sid: "One", Effect: Deny, Actions: []string{"s3:DeleteObject"}, Resources: []string{"arn:aws:s3:::lake/*"}}}}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("parsed %+v", p)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(data); got != `{"Version":"2012-10-17","Statement":[{"Sid":"One","Effect":"Deny","Action":["s3:DeleteObject"],"Resource":["arn:aws:s3:::lake/*"]}]}` {
		t.Fatalf("marshalled %s", got)
	}
	var back Policy
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, p) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

func TestResourceHelpers(t *testing.T) {
	for got, want := range map[string]string{
		S3Resource("lake", ""):            "arn:aws:s3:::lake",
		S3Resource("lake", "raw/a b.csv"): "arn:aws:s3:::lake/raw/a b.csv",
		DatabaseResource("sales"):         "arn:aws:glue:*:*:database/sales",
		TableResource("sales", "orders"):  "arn:aws:glue:*:*:table/sales/orders",
		WorkgroupResource("primary"):      "arn:aws:athena:*:*:workgroup/primary",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	for _, seed := range []string{
		`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::lake/raw/*"}]}`,
		`{"Statement": {"Effect": "Deny", "Action": ["glue:*"], "Resource": ["arn:aws:glue:*:*:table/db/*"]}}`,
		`{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}]}`,
		`{"Statement": null}`, `null`, `{}`, `[`, `{"Statement": [1, "a", null]}`,
	} {
		f.Add([]byte(seed), "s3:GetObject", "arn:aws:s3:::lake/raw/x")
	}
	f.Fuzz(func(t *testing.T, doc []byte, action, resource string) {
		p, err := ParsePolicy(doc)
		if err != nil {
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("error %v does not wrap ErrInvalidPolicy", err)
			}
			return
		}
		got := p.Evaluate(action, resource)
		// A valid policy survives a JSON round trip with the same meaning.
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParsePolicy(data)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", data, err)
		}
		if back.Evaluate(action, resource) != got {
			t.Fatalf("round trip changed the decision for %q on %q", action, resource)
		}
	})
}
