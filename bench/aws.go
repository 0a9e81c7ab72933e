package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	athenatypes "github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/lake"
)

// benchAWS measures the AWS APIs' own cost against a real server run in
// this process (lake.Serve on 127.0.0.1): Glue's GetPartitions with an
// Expression over n partitions, and an Athena round trip (start, poll,
// results) against the same query through tarn's REST API, alternating.
func benchAWS(dir string, n, reps int) []figure {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	l, err := lake.Open(ctx, lake.DefaultConfig(filepath.Join(dir, "aws-home")))
	check(err)
	defer l.Close()
	s3ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	var out strings.Builder
	ready := make(chan lake.Endpoints, 1)
	done := make(chan error, 1)
	go func() {
		done <- l.Serve(ctx, lake.ServeConfig{S3: s3ln, API: apiLn, Out: &out,
			Listening: func(ep lake.Endpoints) error { ready <- ep; return nil }})
	}()
	var ep lake.Endpoints
	select {
	case ep = <-ready:
	case err := <-done:
		check(fmt.Errorf("the server ended before listening: %v", err))
	}
	defer func() { stop(); <-done }()
	admin, _, err := l.Auth.EnsureAdmin(ctx)
	check(err)
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: admin.AccessKeyID, SecretAccessKey: admin.SecretAccessKey}, nil
	})
	g := glue.New(glue.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep.S3), Credentials: creds, RetryMaxAttempts: 1})
	a := athena.New(athena.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep.S3), Credentials: creds, RetryMaxAttempts: 1})

	// GetPartitions: n partitions (day × shard), an Expression that keeps
	// 300 of them when n is 10,000.
	_, err = g.CreateDatabase(ctx, &glue.CreateDatabaseInput{DatabaseInput: &gluetypes.DatabaseInput{Name: aws.String("big")}})
	check(err)
	_, err = g.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String("big"), TableInput: &gluetypes.TableInput{
		Name: aws.String("events"), TableType: aws.String("EXTERNAL_TABLE"),
		StorageDescriptor: &gluetypes.StorageDescriptor{Location: aws.String("s3://lake/raw/events/"),
			Columns:   []gluetypes.Column{{Name: aws.String("id"), Type: aws.String("int")}},
			SerdeInfo: &gluetypes.SerDeInfo{SerializationLibrary: aws.String("org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe")}},
		PartitionKeys: []gluetypes.Column{{Name: aws.String("day"), Type: aws.String("int")}, {Name: aws.String("shard"), Type: aws.String("string")}},
		Parameters:    map[string]string{"classification": "csv"}}})
	check(err)
	for i := 0; i < n; i += 100 {
		var batch []gluetypes.PartitionInput
		for j := i; j < min(i+100, n); j++ {
			batch = append(batch, gluetypes.PartitionInput{Values: []string{fmt.Sprint(j / 20), fmt.Sprintf("s%02d", j%20)}})
		}
		out, err := g.BatchCreatePartition(ctx, &glue.BatchCreatePartitionInput{DatabaseName: aws.String("big"), TableName: aws.String("events"), PartitionInputList: batch})
		check(err)
		if len(out.Errors) > 0 {
			check(fmt.Errorf("BatchCreatePartition: %d errors", len(out.Errors)))
		}
	}
	expr := "day >= 100 AND day < 250 AND shard IN ('s03', 's17')"
	getParts := func() int {
		got := 0
		pg := glue.NewGetPartitionsPaginator(g, &glue.GetPartitionsInput{DatabaseName: aws.String("big"), TableName: aws.String("events"),
			Expression: aws.String(expr), MaxResults: aws.Int32(1000)})
		for pg.HasMorePages() {
			out, err := pg.NextPage(ctx)
			check(err)
			got += len(out.Partitions)
		}
		return got
	}
	getParts() // warm
	var partTimes []time.Duration
	matched := 0
	for range reps {
		partTimes = append(partTimes, timeIt(func() { matched = getParts() }))
	}

	// Athena round trip against REST on the same query, alternating.
	const q = "SELECT 40 + 2 AS answer"
	athenaTrip := func() {
		start, err := a.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String(q)})
		check(err)
		for {
			ex, err := a.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: start.QueryExecutionId})
			check(err)
			st := ex.QueryExecution.Status.State
			if st == athenatypes.QueryExecutionStateSucceeded {
				break
			}
			if st == athenatypes.QueryExecutionStateFailed || st == athenatypes.QueryExecutionStateCancelled {
				check(fmt.Errorf("athena query %s", st))
			}
		}
		res, err := a.GetQueryResults(ctx, &athena.GetQueryResultsInput{QueryExecutionId: start.QueryExecutionId})
		check(err)
		if len(res.ResultSet.Rows) != 2 || aws.ToString(res.ResultSet.Rows[1].Data[0].VarCharValue) != "42" {
			check(fmt.Errorf("athena result %+v", res.ResultSet.Rows))
		}
	}
	hc := &http.Client{}
	token := auth.Token(admin)
	call := func(method, path, body string) string {
		req, err := http.NewRequestWithContext(ctx, method, ep.API+path, strings.NewReader(body))
		check(err)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		check(err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		check(err)
		if resp.StatusCode >= 300 {
			check(fmt.Errorf("%s %s: %s %s", method, path, resp.Status, b))
		}
		return string(b)
	}
	restTrip := func() {
		b := call("POST", "/api/v1/queries", `{"sql": "`+q+`"}`)
		_, id, _ := strings.Cut(b, `"id":"`)
		id, _, _ = strings.Cut(id, `"`)
		for !strings.Contains(call("GET", "/api/v1/queries/"+id+"?wait=10", ""), "SUCCEEDED") {
		}
		if r := call("GET", "/api/v1/queries/"+id+"/results", ""); !strings.Contains(r, "42") {
			check(fmt.Errorf("REST result %s", r))
		}
	}
	athenaTrip()
	restTrip()
	trips := max(reps*10, 50)
	var at, rt []time.Duration
	for range trips {
		at = append(at, timeIt(athenaTrip))
		rt = append(rt, timeIt(restTrip))
	}
	// The protocol's own cost: reading a finished query's state and
	// results, Athena's two calls against REST's two, alternating.
	start, err := a.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String(q)})
	check(err)
	id := aws.ToString(start.QueryExecutionId)
	call("GET", "/api/v1/queries/"+id+"?wait=10", "")
	athenaRead := func() {
		ex, err := a.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: aws.String(id)})
		check(err)
		if ex.QueryExecution.Status.State != athenatypes.QueryExecutionStateSucceeded {
			check(fmt.Errorf("athena query %s", ex.QueryExecution.Status.State))
		}
		res, err := a.GetQueryResults(ctx, &athena.GetQueryResultsInput{QueryExecutionId: aws.String(id)})
		check(err)
		if aws.ToString(res.ResultSet.Rows[1].Data[0].VarCharValue) != "42" {
			check(fmt.Errorf("athena result %+v", res.ResultSet.Rows))
		}
	}
	restRead := func() {
		if !strings.Contains(call("GET", "/api/v1/queries/"+id, ""), "SUCCEEDED") {
			check(fmt.Errorf("REST: query %s not SUCCEEDED", id))
		}
		if r := call("GET", "/api/v1/queries/"+id+"/results", ""); !strings.Contains(r, "42") {
			check(fmt.Errorf("REST result %s", r))
		}
	}
	var ar, rr []time.Duration
	for range trips * 2 {
		ar = append(ar, timeIt(athenaRead))
		rr = append(rr, timeIt(restRead))
	}
	ma, mr := median(at), median(rt)
	mar, mrr := median(ar), median(rr)
	mp := median(partTimes)
	return []figure{
		{name: fmt.Sprintf("Glue GetPartitions with an Expression, %d partitions", n),
			tarn: mp.Round(100 * time.Microsecond).String(), base: "-", ratio: "-", goal: "< 50ms",
			note: fmt.Sprintf("%d partitions match `%s`; boto3-shaped requests through aws-sdk-go-v2 against lake.Serve on 127.0.0.1, median of %d, warm", matched, expr, reps)},
		{name: "Athena GetQueryExecution + GetQueryResults vs REST GET query + results, on a finished query",
			tarn: mar.Round(10 * time.Microsecond).String(), base: mrr.Round(10*time.Microsecond).String() + " (REST)",
			ratio: fmt.Sprintf("%+.2fms", float64(mar-mrr)/float64(time.Millisecond)), goal: "within 2 ms",
			note: fmt.Sprintf("`%s`, %d alternating reads each, medians (SigV4 against a bearer token, Athena's JSON shapes against tarn's). Whole trips (start, poll, results): Athena %s (polling with no wait, as boto3 loops do), REST %s (long-poll)",
				q, trips*2, ma.Round(10*time.Microsecond), mr.Round(10*time.Microsecond))},
	}
}
