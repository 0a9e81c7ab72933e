package jobs

import (
	"testing"

	"github.com/tarn-lake/tarn/internal/auth"
)

func TestCoveredBy(t *testing.T) {
	pol := func(js string) auth.Policy {
		t.Helper()
		p, err := auth.ParsePolicy([]byte(`{"Version": "2012-10-17", "Statement": ` + js + `}`))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	creator := pol(`[{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::lake/*"},
		{"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::lake/raw/*"},
		{"Effect": "Allow", "Action": "glue:GetTable", "Resource": "arn:aws:glue:*:*:table/db/t?"}]`)
	for _, c := range []struct {
		role string
		want bool
	}{
		{`[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lake/raw/x"}]`, true},
		{`[{"Effect": "Allow", "Action": "S3:GetObject", "Resource": "arn:aws:s3:::lake/raw/*"}]`, true},
		{`[{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::lake/curated/*"}]`, true},
		// The creator's Deny: a role with s3:* on lake/* could delete raw files.
		{`[{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::lake/*"}]`, false},
		{`[{"Effect": "Allow", "Action": "s3:Delete*", "Resource": "arn:aws:s3:::lake/r*"}]`, false},
		{`[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}]`, false},
		{`[{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::lake/x"}]`, false},
		// ? is one character: t? does not cover t* (t12).
		{`[{"Effect": "Allow", "Action": "glue:GetTable", "Resource": "arn:aws:glue:*:*:table/db/t1"}]`, true},
		{`[{"Effect": "Allow", "Action": "glue:GetTable", "Resource": "arn:aws:glue:*:*:table/db/t*"}]`, false},
		// The role's own Deny only narrows it.
		{`[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lake/*"}, {"Effect": "Deny", "Action": "*", "Resource": "*"}]`, true},
	} {
		if _, got := coveredBy(pol(c.role), creator); got != c.want {
			t.Errorf("%s: covered %v, want %v", c.role, got, c.want)
		}
	}
}
