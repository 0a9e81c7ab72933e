package api_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/api"
	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/auth"
	tclient "github.com/tarn-lake/tarn/internal/client"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/storage"
)

// TestJobIdentityThroughAPI: a key with only job permissions, through the
// REST API, cannot make a job overwrite a table it may not write, nor pass
// a role wider than itself; the job it may create runs as its key.
func TestJobIdentityThroughAPI(t *testing.T) {
	ctx := context.Background()
	l, err := lake.Open(ctx, lakeConfig(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"CREATE DATABASE raw_db", `CREATE EXTERNAL TABLE raw_db.sales (id bigint, amount double)
		ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/sales/'`} {
		if _, _, err := l.Query.Run(ctx, q, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Store.Put(ctx, "lake", "raw/sales/a.csv", strings.NewReader("1,10\n2,20\n"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := l.Jobs.Create(ctx, jobs.Spec{Name: "admin_sales", SQL: "SELECT id, amount FROM raw_db.sales", Target: "s3://lake/curated/sales/", Table: "curated_db.sales"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Jobs.Start(ctx, "admin_sales", jobs.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	key := func(name, js string) auth.Key {
		p, err := auth.ParsePolicy([]byte(`{"Version": "2012-10-17", "Statement": ` + js + `}`))
		if err != nil {
			t.Fatal(err)
		}
		k, err := l.Auth.CreateKey(ctx, name, p)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	jobber := key("jobber", `[{"Effect": "Allow", "Action": ["glue:CreateJob", "glue:GetJob", "glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns"], "Resource": "*"},
		{"Effect": "Allow", "Action": "glue:GetTable", "Resource": "arn:aws:glue:*:*:table/raw_db/sales"},
		{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lake/raw/sales/*"},
		{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/curated/mine/*"}]`)
	wide := key("wide", `[{"Effect": "Allow", "Action": "*", "Resource": "*"}]`)
	a := api.New(api.DefaultConfig(), api.Deps{DB: l.Meta.SQL(), Auth: l.Auth, Queries: l.Query, Catalog: l.Catalog, Jobs: l.Jobs, Store: l.Store})
	defer a.Close()
	srv := httptest.NewServer(a)
	defer srv.Close()
	c, err := tclient.New(tclient.Config{API: srv.URL, Key: creds(jobber)})
	if err != nil {
		t.Fatal(err)
	}
	code := func(err error) string {
		var e *tclient.Error
		if !errors.As(err, &e) {
			return "not a server error: " + err.Error()
		}
		return e.Code
	}
	for _, spec := range []apitypes.JobSpec{
		{Name: "clobber", SQL: "SELECT 1 AS id, 1.0 AS amount", Target: "s3://lake/curated/sales/", Mode: jobs.ModeOverwrite, Table: "curated_db.sales"},
		{Name: "wipe", SQL: "SELECT id FROM raw_db.sales", Target: "s3://lake/raw/sales/", Mode: jobs.ModeOverwrite},
		{Name: "escalate", SQL: "SELECT id FROM raw_db.sales", Target: "s3://lake/curated/mine/", RunAs: wide.AccessKeyID},
	} {
		if err := c.Jobs().Create(ctx, spec); code(err) != "AccessDenied" {
			t.Errorf("create %s through the API: %v, want AccessDenied", spec.Name, err)
		}
	}
	if err := c.Jobs().Create(ctx, apitypes.JobSpec{Name: "gone", SQL: "SELECT id FROM raw_db.sales", Target: "s3://lake/curated/mine/", RunAs: "TKNOSUCHKEY"}); code(err) != "InvalidRequest" {
		t.Errorf("a missing role key: %v", err)
	}
	if err := c.Jobs().Create(ctx, apitypes.JobSpec{Name: "mine", SQL: "SELECT id FROM raw_db.sales", Target: "s3://lake/curated/mine/"}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Jobs().Get(ctx, "mine")
	if err != nil || got.RunAs != jobber.AccessKeyID {
		t.Fatalf("job mine runs as %q (%v), want %s", got.RunAs, err, jobber.AccessKeyID)
	}
	if run, err := c.Jobs().Start(ctx, "mine", tclient.JobOptions{}); err != nil || run.Stats.RowsWritten != 2 {
		t.Errorf("run as jobber: %+v %v", run, err)
	}
	n, _, err := l.Query.Run(ctx, "SELECT count(*) FROM curated_db.sales", "")
	if err != nil || n.Rows[0][0] != int64(2) {
		t.Errorf("curated_db.sales: %v %v", n.Rows, err)
	}
}
