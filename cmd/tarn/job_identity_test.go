package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestJobRoleCLI: tarn job create --role records the key a job runs as and
// tarn job get shows it; a job created without a server runs as the admin;
// a deleted role key fails the run with a clear error.
func TestJobRoleCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	run := func(args ...string) result {
		t.Helper()
		return tarn(t, dir, append([]string{"--data", data}, args...)...)
	}
	ok(t, run("quickstart"))
	if r := ok(t, run("job", "get", "sales_to_curated")); !strings.Contains(r.stdout, `"run_as": "(admin)"`) {
		t.Errorf("a local job's identity:\n%s", r.stdout)
	}
	policy := filepath.Join(dir, "role.json")
	if err := os.WriteFile(policy, []byte(`{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": ["glue:GetTable", "glue:CreateTable", "glue:UpdateTable", "glue:CreateDatabase"], "Resource": "*"},
		{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::lake/*"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`AWS_ACCESS_KEY_ID=(\S+)`).FindStringSubmatch(ok(t, run("keys", "create", "etl_role", "--policy", policy)).stdout)
	if m == nil {
		t.Fatal("no key id printed")
	}
	ok(t, run("job", "create", "copy_sales", "--sql", "SELECT * FROM etl_pipeline_db.sales", "--target", "s3://lake/curated/copy_sales/", "--role", m[1]))
	if r := ok(t, run("job", "get", "copy_sales")); !strings.Contains(r.stdout, `"run_as": "`+m[1]+`"`) {
		t.Errorf("job get does not show the role:\n%s", r.stdout)
	}
	ok(t, run("job", "start", "copy_sales"))
	if r := run("job", "create", "nobody", "--sql", "SELECT 1 AS x", "--target", "s3://lake/curated/nobody/", "--role", "TKNOSUCHKEY"); r.code == 0 || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("--role with a missing key: %+v", r)
	}
	ok(t, run("keys", "delete", m[1]))
	if r := run("job", "start", "copy_sales"); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "does not exist") {
		t.Errorf("a run after its role key was deleted: %+v", r)
	}
}
