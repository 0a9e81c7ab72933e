package awsapi_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	athenatypes "github.com/aws/aws-sdk-go-v2/service/athena/types"
)

// StartQueryExecution's ResultConfiguration.OutputLocation is where the
// result lands (CSV and .metadata), what GetQueryExecution reports and
// where GetQueryResults reads; a key that may not write there is refused
// before the query runs; a workgroup that sets its own location wins, as
// Athena enforces it by default.
func TestAthenaOutputLocation(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	a := e.athena(e.admin)
	if _, err := a.CreateWorkGroup(ctx, &athena.CreateWorkGroupInput{Name: aws.String("free")}); err != nil {
		t.Fatal(err)
	}
	start, err := a.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String("SELECT 7 AS n"), WorkGroup: aws.String("free"),
		ResultConfiguration: &athenatypes.ResultConfiguration{OutputLocation: aws.String("s3://lake/mine/q")}})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(start.QueryExecutionId)
	ex := waitQuery(t, a, id)
	if ex.Status.State != athenatypes.QueryExecutionStateSucceeded || aws.ToString(ex.ResultConfiguration.OutputLocation) != "s3://lake/mine/q/"+id+".csv" {
		t.Fatalf("execution: %s %s", ex.Status.State, aws.ToString(ex.ResultConfiguration.OutputLocation))
	}
	for _, k := range []string{".csv", ".csv.metadata"} {
		if _, err := e.l.Store.Head(ctx, "lake", "mine/q/"+id+k); err != nil {
			t.Errorf("result object %s: %v", k, err)
		}
		if _, err := e.l.Store.Head(ctx, "lake", "athena-results/"+id+k); err == nil {
			t.Errorf("result object %s also in the default location", k)
		}
	}
	res, err := a.GetQueryResults(ctx, &athena.GetQueryResultsInput{QueryExecutionId: start.QueryExecutionId})
	if err != nil || len(res.ResultSet.Rows) != 2 || aws.ToString(res.ResultSet.Rows[1].Data[0].VarCharValue) != "7" {
		t.Fatalf("results: %+v %v", res, err)
	}

	// A workgroup's own location is enforced.
	if _, err := a.CreateWorkGroup(ctx, &athena.CreateWorkGroupInput{Name: aws.String("fixed"), Configuration: &athenatypes.WorkGroupConfiguration{
		ResultConfiguration: &athenatypes.ResultConfiguration{OutputLocation: aws.String("s3://lake/fixed-results/")}}}); err != nil {
		t.Fatal(err)
	}
	start, err = a.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String("SELECT 8 AS n"), WorkGroup: aws.String("fixed"),
		ResultConfiguration: &athenatypes.ResultConfiguration{OutputLocation: aws.String("s3://lake/mine/")}})
	if err != nil {
		t.Fatal(err)
	}
	id = aws.ToString(start.QueryExecutionId)
	if ex := waitQuery(t, a, id); aws.ToString(ex.ResultConfiguration.OutputLocation) != "s3://lake/fixed-results/"+id+".csv" {
		t.Fatalf("enforced workgroup: %s", aws.ToString(ex.ResultConfiguration.OutputLocation))
	}

	// A key that may run queries but not write to raw/ is refused there.
	k := e.key("runner", `{"Statement": [
		{"Effect": "Allow", "Action": ["athena:*"], "Resource": "*"},
		{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/athena-results/*"}]}`)
	_, err = e.athena(k).StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String("SELECT 1"), WorkGroup: aws.String("free"),
		ResultConfiguration: &athenatypes.ResultConfiguration{OutputLocation: aws.String("s3://lake/raw/sales/")}})
	if code(err) != "AccessDeniedException" {
		t.Fatalf("output into raw/ by a key that may not write there: %v", err)
	}
	// Results may not land inside a table's folder, where they would be
	// read as its data.
	if _, _, err := e.l.Query.Run(ctx, "CREATE DATABASE d", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.l.Query.Run(ctx, "CREATE EXTERNAL TABLE d.t (a int) LOCATION 's3://lake/tbl/'", ""); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"lake/no-scheme/", "s3://", "s3://Bad_Bucket/x/", "s3://lake/tbl/results/", "s3://lake/"} {
		_, err := a.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String("SELECT 1"), WorkGroup: aws.String("free"),
			ResultConfiguration: &athenatypes.ResultConfiguration{OutputLocation: aws.String(bad)}})
		if code(err) != "InvalidRequestException" {
			t.Errorf("OutputLocation %q: %v", bad, err)
		}
	}
}

// A CTAS or INSERT INTO run through Athena reports the data manifest
// (Statistics.DataManifestLocation): an object listing every data file it
// wrote, one URI per line, as Athena writes it; a SELECT has none.
func TestAthenaDataManifest(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	a := e.athena(e.admin)
	run := func(sql string) *athenatypes.QueryExecution {
		t.Helper()
		start, err := a.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String(sql)})
		if err != nil {
			t.Fatal(err)
		}
		ex := waitQuery(t, a, aws.ToString(start.QueryExecutionId))
		if ex.Status.State != athenatypes.QueryExecutionStateSucceeded {
			t.Fatalf("%s: %s %s", sql, ex.Status.State, aws.ToString(ex.Status.StateChangeReason))
		}
		return ex
	}
	run("CREATE DATABASE m")
	ex := run("CREATE TABLE m.t WITH (format = 'PARQUET', external_location = 's3://lake/ctas/t/', partitioned_by = ARRAY['p']) AS SELECT i, i % 3 AS p FROM range(30) r(i)")
	manifest := aws.ToString(ex.Statistics.DataManifestLocation)
	if manifest != "s3://lake/athena-results/"+aws.ToString(ex.QueryExecutionId)+"-manifest.csv" {
		t.Fatalf("manifest location %q", manifest)
	}
	files := func(uri string) []string {
		rc, _, err := e.l.Store.Get(ctx, "lake", strings.TrimPrefix(uri, "s3://lake/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return strings.Fields(string(b))
	}
	got := files(manifest)
	if len(got) != 3 {
		t.Fatalf("manifest lists %v, want the 3 partitions' files", got)
	}
	for _, f := range got {
		if !strings.HasPrefix(f, "s3://lake/ctas/t/p=") {
			t.Errorf("manifest entry %q is not a file of the table", f)
		}
		if _, err := e.l.Store.Head(ctx, "lake", strings.TrimPrefix(f, "s3://lake/")); err != nil {
			t.Errorf("manifest entry %q: %v", f, err)
		}
	}
	ins := run("INSERT INTO m.t SELECT 100 AS i, 1 AS p")
	if got := files(aws.ToString(ins.Statistics.DataManifestLocation)); len(got) != 1 || !strings.HasPrefix(got[0], "s3://lake/ctas/t/p=1/") {
		t.Errorf("INSERT's manifest: %v", got)
	}
	if sel := run("SELECT count(*) FROM m.t"); sel.Statistics.DataManifestLocation != nil {
		t.Errorf("a SELECT reports a manifest: %s", aws.ToString(sel.Statistics.DataManifestLocation))
	}
}
