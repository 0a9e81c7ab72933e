package jobs_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/jobs"
)

func (e *env) key(name, policy string) auth.Key {
	e.t.Helper()
	p, err := auth.ParsePolicy([]byte(policy))
	if err != nil {
		e.t.Fatal(err)
	}
	k, err := e.l.Auth.CreateKey(e.ctx, name, p)
	if err != nil {
		e.t.Fatal(err)
	}
	k.SecretAccessKey = ""
	return k
}

// jobberPolicy may read raw_db.sales and write curated_db.mine below
// s3://lake/curated/mine/, and nothing else.
const jobberPolicy = `{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["glue:*Job*"], "Resource": "*"},
  {"Effect": "Allow", "Action": "glue:GetTable", "Resource": "arn:aws:glue:*:*:table/raw_db/sales"},
  {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lake/raw/sales/*"},
  {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "arn:aws:s3:::lake/curated/mine/*"},
  {"Effect": "Allow", "Action": ["glue:CreateTable", "glue:UpdateTable"], "Resource": "arn:aws:glue:*:*:table/curated_db/mine"},
  {"Effect": "Allow", "Action": "glue:CreateDatabase", "Resource": "arn:aws:glue:*:*:database/curated_db"}
]}`

// TestJobsRunWithTheirIdentity: a key with job permissions could overwrite
// a curated table, delete raw files with --mode overwrite and copy a table
// it cannot read, because jobs ran with full privileges. A job now runs as
// the key recorded at creation, checked at create and on every run.
func TestJobsRunWithTheirIdentity(t *testing.T) {
	e := newEnv(t)
	e.sql(`CREATE EXTERNAL TABLE raw_db.orders (id bigint, amount double, region string, day date)
		ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/orders/' TBLPROPERTIES ('skip.header.line.count'='1')`)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n2,20,South,2025-01-02\n")
	e.put("raw/orders/a.csv", "id,amount,region,day\n9,99,Secret,2025-01-01\n")
	// curated_db.sales, written by the admin.
	e.create(jobs.Spec{Name: "admin_sales", SQL: "SELECT id, amount FROM raw_db.sales", Target: "s3://lake/curated/sales/", Table: "curated_db.sales"})
	e.start("admin_sales", nil)
	if spec, _ := e.l.Jobs.Get(e.ctx, "admin_sales"); spec.RunAs != jobs.RunAsAdmin {
		t.Errorf("a job created locally runs as %q, want %q", spec.RunAs, jobs.RunAsAdmin)
	}

	jobber := e.key("jobber", jobberPolicy)
	denied := func(spec jobs.Spec, want string) {
		t.Helper()
		err := e.l.Jobs.CreateBy(e.ctx, spec, &jobber)
		if !errors.Is(err, auth.ErrAccessDenied) || !strings.Contains(err.Error(), want) {
			t.Errorf("create %s: %v, want access denied naming %s", spec.Name, err, want)
		}
		if _, err := e.l.Jobs.Get(e.ctx, spec.Name); !errors.Is(err, jobs.ErrNoSuchJob) {
			t.Errorf("a refused job %s was stored", spec.Name)
		}
	}
	denied(jobs.Spec{Name: "clobber", SQL: "SELECT 1 AS id, 1.0 AS amount", Target: "s3://lake/curated/sales/", Mode: jobs.ModeOverwrite, Table: "curated_db.sales"}, "lake/curated/sales/")
	denied(jobs.Spec{Name: "clobber2", SQL: "SELECT 1 AS id", Target: "s3://lake/curated/mine/", Table: "curated_db.sales"}, "table/curated_db/sales")
	denied(jobs.Spec{Name: "wipe", SQL: "SELECT id FROM raw_db.sales", Target: "s3://lake/raw/sales/", Mode: jobs.ModeOverwrite}, "s3:PutObject")
	denied(jobs.Spec{Name: "wipe2", SQL: "SELECT id FROM raw_db.sales", Target: "s3://lake/curated/mine/", Mode: jobs.ModeOverwrite}, "s3:DeleteObject")
	denied(jobs.Spec{Name: "steal", SQL: "SELECT * FROM raw_db.orders", Target: "s3://lake/curated/mine/", Table: "curated_db.mine"}, "table/raw_db/orders")

	good := jobs.Spec{Name: "mine", SQL: "SELECT id, amount FROM raw_db.sales WHERE amount >= ${min}", Args: map[string]string{"min": "0"},
		Target: "s3://lake/curated/mine/", Table: "curated_db.mine"}
	if err := e.l.Jobs.CreateBy(e.ctx, good, &jobber); err != nil {
		t.Fatal(err)
	}
	spec, err := e.l.Jobs.Get(e.ctx, "mine")
	if err != nil || spec.RunAs != jobber.AccessKeyID {
		t.Fatalf("identity %q %v, want %s", spec.RunAs, err, jobber.AccessKeyID)
	}
	if r := e.start("mine", nil); r.Stats.RowsWritten != 2 {
		t.Errorf("run as jobber: %+v", r.Stats)
	}
	// A job created without a missing argument's value is checked at run:
	// the argument cannot smuggle in a table the identity cannot read.
	if err := e.l.Jobs.CreateBy(e.ctx, jobs.Spec{Name: "later", SQL: "SELECT id, amount FROM raw_db.orders WHERE amount >= ${min}",
		Target: "s3://lake/curated/mine/", Table: "curated_db.mine"}, &jobber); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.Jobs.Start(e.ctx, "later", jobs.StartOptions{Args: map[string]string{"min": "0"}}); !errors.Is(err, auth.ErrAccessDenied) {
		t.Errorf("run reading raw_db.orders: %v", err)
	}
	// Rights taken away after the create stop the next run.
	p, _ := auth.ParsePolicy([]byte(strings.Replace(jobberPolicy, `"arn:aws:s3:::lake/raw/sales/*"`, `"arn:aws:s3:::lake/nothing/*"`, 1)))
	if err := e.l.Auth.SetPolicy(e.ctx, jobber.AccessKeyID, p); err != nil {
		t.Fatal(err)
	}
	run, err := e.l.Jobs.Start(e.ctx, "mine", jobs.StartOptions{})
	if !errors.Is(err, auth.ErrAccessDenied) || run.State != jobs.StateFailed || !strings.Contains(run.Error, "s3:GetObject") {
		t.Errorf("run after the policy changed: %v %+v", err, run)
	}
	// A deleted identity fails runs with a clear error, and is not retried.
	if err := e.l.Auth.DeleteKey(e.ctx, jobber.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	run, err = e.l.Jobs.Start(e.ctx, "mine", jobs.StartOptions{})
	if !errors.Is(err, jobs.ErrIdentity) || !strings.Contains(run.Error, "does not exist") || !strings.Contains(run.Error, "--role") {
		t.Errorf("run after the key was deleted: %v %+v", err, run)
	}
	if got := e.one("SELECT count(*) FROM curated_db.sales"); got != "2" {
		t.Errorf("curated_db.sales has %s rows, want 2", got)
	}
}

// TestPassRole: a creator may give a job only an identity whose rights are
// within its own (iam:PassRole); an admin may give any.
func TestPassRole(t *testing.T) {
	e := newEnv(t)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n")
	jobber := e.key("jobber", jobberPolicy)
	narrow := e.key("narrow", `{"Version": "2012-10-17", "Statement": [
	  {"Effect": "Allow", "Action": ["glue:GetTable"], "Resource": "arn:aws:glue:*:*:table/raw_db/sales"},
	  {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::lake/raw/sales/*"},
	  {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "arn:aws:s3:::lake/curated/mine/*"},
	  {"Effect": "Allow", "Action": ["glue:CreateTable", "glue:UpdateTable"], "Resource": "arn:aws:glue:*:*:table/curated_db/mine"},
	  {"Effect": "Allow", "Action": "glue:CreateDatabase", "Resource": "arn:aws:glue:*:*:database/curated_db"}]}`)
	wide := e.key("wide", `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, {"Effect": "Allow", "Action": "glue:*", "Resource": "*"}]}`)
	admin, _, err := e.l.Auth.EnsureAdmin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	spec := func(name, role string) jobs.Spec {
		return jobs.Spec{Name: name, SQL: "SELECT id FROM raw_db.sales", Target: "s3://lake/curated/mine/", Table: "curated_db.mine", RunAs: role}
	}
	for i, role := range []string{wide.AccessKeyID, admin.AccessKeyID, jobs.RunAsAdmin} {
		if err := e.l.Jobs.CreateBy(e.ctx, spec(fmt.Sprint("pass", i), role), &jobber); !errors.Is(err, auth.ErrAccessDenied) {
			t.Errorf("jobber passing %s: %v", role, err)
		}
	}
	if err := e.l.Jobs.CreateBy(e.ctx, spec("pass_narrow", narrow.AccessKeyID), &jobber); err != nil {
		t.Errorf("jobber passing narrow: %v", err)
	}
	if err := e.l.Jobs.CreateBy(e.ctx, spec("missing", "TKNOSUCHKEY"), &jobber); !errors.Is(err, jobs.ErrIdentity) {
		t.Errorf("passing a missing key: %v", err)
	}
	adminKey := admin
	adminKey.SecretAccessKey = ""
	if err := e.l.Jobs.CreateBy(e.ctx, spec("by_admin", wide.AccessKeyID), &adminKey); err != nil {
		t.Errorf("admin passing wide: %v", err)
	}
	if s, _ := e.l.Jobs.Get(e.ctx, "by_admin"); s.RunAs != wide.AccessKeyID {
		t.Errorf("by_admin runs as %q", s.RunAs)
	}
	if err := e.l.Jobs.Create(e.ctx, spec("local_role", wide.AccessKeyID)); err != nil {
		t.Errorf("local create passing wide: %v", err)
	}
	// A role that may not do what the job does is refused at create, even
	// when its creator may.
	if err := e.l.Jobs.Create(e.ctx, jobs.Spec{Name: "narrow_other", SQL: "SELECT id FROM raw_db.sales", Target: "s3://lake/curated/other/", RunAs: narrow.AccessKeyID}); !errors.Is(err, auth.ErrAccessDenied) {
		t.Errorf("a role that may not write the target: %v", err)
	}
}
