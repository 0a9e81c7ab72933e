package awsapi_test

import (
	"context"
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
