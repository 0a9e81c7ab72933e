package awsapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	athenatypes "github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/smithy-go"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/awsapi"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/s3api"
	"github.com/tarn-lake/tarn/internal/storage"
)

// env is a lake behind the S3 endpoint wrapped by awsapi, as tarn serve
// has it, on 127.0.0.1.
type env struct {
	t     testing.TB
	l     *lake.Lake
	url   string
	admin auth.Key
	async *query.Async
}

func newEnv(t testing.TB, crawl bool) *env {
	t.Helper()
	ctx := context.Background()
	l, err := lake.Open(ctx, lakeConfig(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if crawl {
		if _, _, err := l.SeedQuickstart(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Crawlers.Start(ctx, lake.QuickstartCrawler, crawler.StartOptions{}); err != nil {
			t.Fatal(err)
		}
	} else if _, err := l.Init(ctx, lake.QuickstartBucket); err != nil {
		t.Fatal(err)
	}
	admin, _, err := l.Auth.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	async := l.Query.NewAsync(query.AsyncConfig{MaxConcurrent: 2, ResultLocation: storage.URI{Bucket: "lake", Key: "athena-results/"}})
	t.Cleanup(async.Close)
	uploads, err := storage.NewUploads(t.TempDir(), l.Store)
	if err != nil {
		t.Fatal(err)
	}
	s3 := s3api.New(s3api.DefaultConfig(), l.Store, uploads, l.Auth, nil)
	a := awsapi.New(awsapi.DefaultConfig(), awsapi.Deps{Auth: l.Auth, Meta: l.Meta, Catalog: l.Catalog, Queries: l.Query, Async: async,
		Crawlers: l.Crawlers, Jobs: l.Jobs, Store: l.Store, Workflows: l.Workflows, Alarms: l.Alarms})
	srv := httptest.NewServer(a.Wrap(s3))
	t.Cleanup(srv.Close)
	return &env{t: t, l: l, url: srv.URL, admin: admin, async: async}
}

func (e *env) key(name, policy string) auth.Key {
	e.t.Helper()
	p, err := auth.ParsePolicy([]byte(policy))
	if err != nil {
		e.t.Fatal(err)
	}
	k, err := e.l.Auth.CreateKey(context.Background(), name, p)
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

func creds(k auth.Key) aws.CredentialsProviderFunc {
	return func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}, nil
	}
}

func (e *env) glue(k auth.Key) *glue.Client {
	return glue.New(glue.Options{Region: "eu-west-1", BaseEndpoint: aws.String(e.url), Credentials: creds(k), RetryMaxAttempts: 1})
}

func (e *env) athena(k auth.Key) *athena.Client {
	return athena.New(athena.Options{Region: "eu-west-1", BaseEndpoint: aws.String(e.url), Credentials: creds(k), RetryMaxAttempts: 1})
}

// code is the AWS error code of err ("" for nil).
func code(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return "not an API error: " + err.Error()
}

func csvTableInput(name string) *gluetypes.TableInput {
	return &gluetypes.TableInput{
		Name:        aws.String(name),
		Description: aws.String("daily sales"),
		Owner:       aws.String("etl"),
		TableType:   aws.String("EXTERNAL_TABLE"),
		Parameters:  map[string]string{"classification": "csv", "skip.header.line.count": "1", "team": "finance"},
		StorageDescriptor: &gluetypes.StorageDescriptor{
			Columns: []gluetypes.Column{
				{Name: aws.String("order_id"), Type: aws.String("BIGINT"), Comment: aws.String("the order")},
				{Name: aws.String("amount"), Type: aws.String("decimal(10,2)")},
				{Name: aws.String("region"), Type: aws.String("string"), Parameters: map[string]string{"pii": "false"}},
			},
			Location:     aws.String("s3://lake/raw/glue_sales/"),
			InputFormat:  aws.String("org.apache.hadoop.mapred.TextInputFormat"),
			OutputFormat: aws.String("org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"),
			SerdeInfo: &gluetypes.SerDeInfo{
				SerializationLibrary: aws.String("org.apache.hadoop.hive.serde2.OpenCSVSerde"),
				Parameters:           map[string]string{"separatorChar": ",", "quoteChar": "\""},
			},
			Parameters: map[string]string{"classification": "csv", "skip.header.line.count": "1"},
		},
		PartitionKeys: []gluetypes.Column{{Name: aws.String("year"), Type: aws.String("int")}, {Name: aws.String("month"), Type: aws.String("string")}},
	}
}

func TestGlueCatalog(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	g := e.glue(e.admin)

	_, err := g.CreateDatabase(ctx, &glue.CreateDatabaseInput{DatabaseInput: &gluetypes.DatabaseInput{Name: aws.String("sales"),
		Description: aws.String("the sales"), LocationUri: aws.String("s3://lake/curated/"), Parameters: map[string]string{"owner": "fin"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.CreateDatabase(ctx, &glue.CreateDatabaseInput{DatabaseInput: &gluetypes.DatabaseInput{Name: aws.String("sales")}})
	if code(err) != "AlreadyExistsException" {
		t.Errorf("second CreateDatabase: %v", err)
	}
	_, err = g.CreateDatabase(ctx, &glue.CreateDatabaseInput{DatabaseInput: &gluetypes.DatabaseInput{Name: aws.String("bad/name")}})
	if code(err) != "InvalidInputException" {
		t.Errorf("bad name: %v", err)
	}
	db, err := g.GetDatabase(ctx, &glue.GetDatabaseInput{Name: aws.String("sales")})
	if err != nil || aws.ToString(db.Database.Description) != "the sales" || db.Database.Parameters["owner"] != "fin" ||
		aws.ToString(db.Database.LocationUri) != "s3://lake/curated/" || db.Database.CreateTime == nil || time.Since(*db.Database.CreateTime) > time.Hour {
		t.Fatalf("GetDatabase: %+v %v", db, err)
	}
	if _, err := g.GetDatabase(ctx, &glue.GetDatabaseInput{Name: aws.String("nope")}); code(err) != "EntityNotFoundException" {
		t.Errorf("missing database: %v", err)
	}
	if _, err := g.UpdateDatabase(ctx, &glue.UpdateDatabaseInput{Name: aws.String("sales"), DatabaseInput: &gluetypes.DatabaseInput{
		Name: aws.String("sales"), Description: aws.String("changed")}}); err != nil {
		t.Fatal(err)
	}
	dbs, err := g.GetDatabases(ctx, &glue.GetDatabasesInput{})
	if err != nil || len(dbs.DatabaseList) != 1 || aws.ToString(dbs.DatabaseList[0].Description) != "changed" {
		t.Fatalf("GetDatabases: %+v %v", dbs, err)
	}

	// A table round-trips exactly what the client wrote.
	in := csvTableInput("daily")
	if _, err := g.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String("sales"), TableInput: in}); err != nil {
		t.Fatal(err)
	}
	got, err := g.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String("sales"), Name: aws.String("daily")})
	if err != nil {
		t.Fatal(err)
	}
	tb := got.Table
	if aws.ToString(tb.Owner) != "etl" || aws.ToString(tb.TableType) != "EXTERNAL_TABLE" || aws.ToString(tb.Description) != "daily sales" ||
		fmt.Sprint(tb.Parameters) != fmt.Sprint(in.Parameters) {
		t.Errorf("table: owner %q type %q params %v", aws.ToString(tb.Owner), aws.ToString(tb.TableType), tb.Parameters)
	}
	sd, want := tb.StorageDescriptor, in.StorageDescriptor
	if aws.ToString(sd.Location) != aws.ToString(want.Location) || aws.ToString(sd.InputFormat) != aws.ToString(want.InputFormat) ||
		aws.ToString(sd.OutputFormat) != aws.ToString(want.OutputFormat) || aws.ToString(sd.SerdeInfo.SerializationLibrary) != aws.ToString(want.SerdeInfo.SerializationLibrary) ||
		fmt.Sprint(sd.SerdeInfo.Parameters) != fmt.Sprint(want.SerdeInfo.Parameters) || fmt.Sprint(sd.Parameters) != fmt.Sprint(want.Parameters) {
		t.Errorf("storage descriptor: %+v", sd)
	}
	if len(sd.Columns) != 3 || aws.ToString(sd.Columns[0].Type) != "BIGINT" || aws.ToString(sd.Columns[0].Comment) != "the order" ||
		aws.ToString(sd.Columns[1].Type) != "decimal(10,2)" || sd.Columns[2].Parameters["pii"] != "false" {
		t.Errorf("columns: %+v", sd.Columns)
	}
	if len(tb.PartitionKeys) != 2 || aws.ToString(tb.PartitionKeys[0].Name) != "year" || aws.ToString(tb.PartitionKeys[1].Type) != "string" {
		t.Errorf("partition keys: %+v", tb.PartitionKeys)
	}
	// The catalog understood it: a csv table with a header.
	ct, err := e.l.Catalog.GetTable(ctx, "sales", "daily")
	if err != nil || ct.Format != "csv" || ct.FormatOptions["header"] != "true" || ct.Columns[0].Type != "bigint" {
		t.Errorf("catalog table: %+v %v", ct, err)
	}
	if _, err := g.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String("sales"), TableInput: in}); code(err) != "AlreadyExistsException" {
		t.Errorf("second CreateTable: %v", err)
	}
	orc := csvTableInput("orcs")
	orc.StorageDescriptor.SerdeInfo.SerializationLibrary = aws.String("org.apache.hadoop.hive.ql.io.orc.OrcSerde")
	if _, err := g.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String("sales"), TableInput: orc}); code(err) != "InvalidInputException" ||
		!strings.Contains(err.Error(), "parquet") {
		t.Errorf("orc table: %v", err)
	}
	if _, err := g.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String("nope"), TableInput: csvTableInput("x")}); code(err) != "EntityNotFoundException" {
		t.Errorf("table in missing database: %v", err)
	}

	// GetTables with Glue's name pattern.
	for _, n := range []string{"daily_eu", "weekly"} {
		if _, err := g.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String("sales"), TableInput: csvTableInput(n)}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(expr string) string {
		t.Helper()
		out, err := g.GetTables(ctx, &glue.GetTablesInput{DatabaseName: aws.String("sales"), Expression: aws.String(expr)})
		if err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, tb := range out.TableList {
			ns = append(ns, aws.ToString(tb.Name))
		}
		return strings.Join(ns, ",")
	}
	if got := names("daily*"); got != "daily,daily_eu" {
		t.Errorf("daily*: %s", got)
	}
	if got := names("weekly|daily"); got != "daily,weekly" {
		t.Errorf("weekly|daily: %s", got)
	}
	if got := names(""); got != "daily,daily_eu,weekly" {
		t.Errorf("all: %s", got)
	}
	// Paged by MaxResults with NextToken.
	p1, err := g.GetTables(ctx, &glue.GetTablesInput{DatabaseName: aws.String("sales"), MaxResults: aws.Int32(2)})
	if err != nil || len(p1.TableList) != 2 || p1.NextToken == nil {
		t.Fatalf("page 1: %+v %v", p1, err)
	}
	p2, err := g.GetTables(ctx, &glue.GetTablesInput{DatabaseName: aws.String("sales"), MaxResults: aws.Int32(2), NextToken: p1.NextToken})
	if err != nil || len(p2.TableList) != 1 || aws.ToString(p2.TableList[0].Name) != "weekly" || aws.ToString(p2.NextToken) != "" {
		t.Fatalf("page 2: %+v %v", p2, err)
	}
	if _, err := g.GetTables(ctx, &glue.GetTablesInput{DatabaseName: aws.String("sales"), MaxResults: aws.Int32(100000)}); code(err) != "InvalidInputException" {
		t.Errorf("huge MaxResults: %v", err)
	}

	// UpdateTable makes a new version when the schema changes.
	up := csvTableInput("daily")
	up.StorageDescriptor.Columns = append(up.StorageDescriptor.Columns, gluetypes.Column{Name: aws.String("channel"), Type: aws.String("string")})
	if _, err := g.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String("sales"), TableInput: up}); err != nil {
		t.Fatal(err)
	}
	vs, err := g.GetTableVersions(ctx, &glue.GetTableVersionsInput{DatabaseName: aws.String("sales"), TableName: aws.String("daily")})
	if err != nil || len(vs.TableVersions) != 2 || aws.ToString(vs.TableVersions[0].VersionId) != "2" ||
		len(vs.TableVersions[0].Table.StorageDescriptor.Columns) != 4 || len(vs.TableVersions[1].Table.StorageDescriptor.Columns) != 3 {
		t.Fatalf("versions: %+v %v", vs, err)
	}
	// A stale VersionId is refused.
	if _, err := g.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String("sales"), TableInput: up, VersionId: aws.String("1")}); code(err) != "ConcurrentModificationException" {
		t.Errorf("stale update: %v", err)
	}

	// Partitions.
	var parts []gluetypes.PartitionInput
	for y := 2023; y <= 2024; y++ {
		for m := 1; m <= 12; m++ {
			parts = append(parts, gluetypes.PartitionInput{Values: []string{fmt.Sprint(y), fmt.Sprintf("%02d", m)}})
		}
	}
	parts = append(parts, gluetypes.PartitionInput{Values: []string{"2024"}}) // wrong arity
	bc, err := g.BatchCreatePartition(ctx, &glue.BatchCreatePartitionInput{DatabaseName: aws.String("sales"), TableName: aws.String("daily"), PartitionInputList: parts})
	if err != nil || len(bc.Errors) != 1 || aws.ToString(bc.Errors[0].ErrorDetail.ErrorCode) != "InvalidInputException" {
		t.Fatalf("BatchCreatePartition: %+v %v", bc, err)
	}
	_, err = g.CreatePartition(ctx, &glue.CreatePartitionInput{DatabaseName: aws.String("sales"), TableName: aws.String("daily"),
		PartitionInput: &gluetypes.PartitionInput{Values: []string{"2024", "01"}}})
	if code(err) != "AlreadyExistsException" {
		t.Errorf("existing partition: %v", err)
	}
	count := func(expr string) int {
		t.Helper()
		n := 0
		pg := glue.NewGetPartitionsPaginator(g, &glue.GetPartitionsInput{DatabaseName: aws.String("sales"), TableName: aws.String("daily"),
			Expression: aws.String(expr), MaxResults: aws.Int32(5)})
		for pg.HasMorePages() {
			out, err := pg.NextPage(ctx)
			if err != nil {
				t.Fatalf("%s: %v", expr, err)
			}
			n += len(out.Partitions)
		}
		return n
	}
	for expr, want := range map[string]int{
		"":                                24,
		"year = 2024":                     12,
		"year = '2024' AND month >= '06'": 7,
		"year > 2023 OR month = '01'":     13,
		"month BETWEEN '03' AND '05'":     6,
		"month IN ('01', '12') AND NOT year = 2023": 2,
		"month LIKE '1%'":                  6,
		"(year = 2023) and (month < '03')": 2,
		"year <> 2023":                     12,
		"month IS NULL":                    0,
	} {
		if got := count(expr); got != want {
			t.Errorf("%q: %d partitions, want %d", expr, got, want)
		}
	}
	for _, bad := range []string{"nokey = 1", "year = ", "year = 2024 AND", "year ~ 3", "'x' = year", "year = 'unclosed"} {
		_, err := g.GetPartitions(ctx, &glue.GetPartitionsInput{DatabaseName: aws.String("sales"), TableName: aws.String("daily"), Expression: aws.String(bad)})
		if code(err) != "InvalidInputException" {
			t.Errorf("%q: %v", bad, err)
		}
	}
	gp, err := g.GetPartition(ctx, &glue.GetPartitionInput{DatabaseName: aws.String("sales"), TableName: aws.String("daily"), PartitionValues: []string{"2024", "03"}})
	if err != nil || aws.ToString(gp.Partition.StorageDescriptor.Location) != "s3://lake/raw/glue_sales/year=2024/month=03" ||
		aws.ToString(gp.Partition.StorageDescriptor.SerdeInfo.SerializationLibrary) != "org.apache.hadoop.hive.serde2.OpenCSVSerde" {
		t.Fatalf("GetPartition: %+v %v", gp, err)
	}
	bg, err := g.BatchGetPartition(ctx, &glue.BatchGetPartitionInput{DatabaseName: aws.String("sales"), TableName: aws.String("daily"),
		PartitionsToGet: []gluetypes.PartitionValueList{{Values: []string{"2024", "03"}}, {Values: []string{"1999", "01"}}}})
	if err != nil || len(bg.Partitions) != 1 || len(bg.UnprocessedKeys) != 1 {
		t.Fatalf("BatchGetPartition: %+v %v", bg, err)
	}
	if _, err := g.UpdatePartition(ctx, &glue.UpdatePartitionInput{DatabaseName: aws.String("sales"), TableName: aws.String("daily"),
		PartitionValueList: []string{"2024", "03"}, PartitionInput: &gluetypes.PartitionInput{Values: []string{"2024", "03"},
			StorageDescriptor: &gluetypes.StorageDescriptor{Location: aws.String("s3://lake/raw/elsewhere/")}}}); err != nil {
		t.Fatal(err)
	}
	gp, err = g.GetPartition(ctx, &glue.GetPartitionInput{DatabaseName: aws.String("sales"), TableName: aws.String("daily"), PartitionValues: []string{"2024", "03"}})
	if err != nil || aws.ToString(gp.Partition.StorageDescriptor.Location) != "s3://lake/raw/elsewhere/" {
		t.Fatalf("updated partition: %+v %v", gp, err)
	}
	if _, err := g.DeletePartition(ctx, &glue.DeletePartitionInput{DatabaseName: aws.String("sales"), TableName: aws.String("daily"), PartitionValues: []string{"2024", "03"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.DeletePartition(ctx, &glue.DeletePartitionInput{DatabaseName: aws.String("sales"), TableName: aws.String("daily"), PartitionValues: []string{"2024", "03"}}); code(err) != "EntityNotFoundException" {
		t.Errorf("second delete: %v", err)
	}
	bd, err := g.BatchDeletePartition(ctx, &glue.BatchDeletePartitionInput{DatabaseName: aws.String("sales"), TableName: aws.String("daily"),
		PartitionsToDelete: []gluetypes.PartitionValueList{{Values: []string{"2024", "04"}}, {Values: []string{"2024", "03"}}}})
	if err != nil || len(bd.Errors) != 1 {
		t.Fatalf("BatchDeletePartition: %+v %v", bd, err)
	}
	if got := count(""); got != 22 {
		t.Errorf("after deletes: %d partitions", got)
	}

	bt, err := g.BatchDeleteTable(ctx, &glue.BatchDeleteTableInput{DatabaseName: aws.String("sales"), TablesToDelete: []string{"daily_eu", "nope"}})
	if err != nil || len(bt.Errors) != 1 || aws.ToString(bt.Errors[0].TableName) != "nope" {
		t.Fatalf("BatchDeleteTable: %+v %v", bt, err)
	}
	if _, err := g.DeleteTable(ctx, &glue.DeleteTableInput{DatabaseName: aws.String("sales"), Name: aws.String("weekly")}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.DeleteDatabase(ctx, &glue.DeleteDatabaseInput{Name: aws.String("sales")}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String("sales"), Name: aws.String("daily")}); code(err) != "EntityNotFoundException" {
		t.Errorf("table of deleted database: %v", err)
	}
}

// TestGetPartitionsExpressionScale filters 10,000 partitions and checks the
// count against one computed here.
func TestGetPartitionsExpressionScale(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	g := e.glue(e.admin)
	if _, err := g.CreateDatabase(ctx, &glue.CreateDatabaseInput{DatabaseInput: &gluetypes.DatabaseInput{Name: aws.String("big")}}); err != nil {
		t.Fatal(err)
	}
	in := csvTableInput("events")
	in.PartitionKeys = []gluetypes.Column{{Name: aws.String("day"), Type: aws.String("int")}, {Name: aws.String("shard"), Type: aws.String("string")}}
	if _, err := g.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String("big"), TableInput: in}); err != nil {
		t.Fatal(err)
	}
	want := 0
	for i := 0; i < 10000; i += 100 {
		var batch []gluetypes.PartitionInput
		for j := i; j < i+100; j++ {
			day, shard := j/20, fmt.Sprintf("s%02d", j%20)
			batch = append(batch, gluetypes.PartitionInput{Values: []string{fmt.Sprint(day), shard}})
			if day >= 100 && day < 250 && (shard == "s03" || shard == "s17") {
				want++
			}
		}
		out, err := g.BatchCreatePartition(ctx, &glue.BatchCreatePartitionInput{DatabaseName: aws.String("big"), TableName: aws.String("events"), PartitionInputList: batch})
		if err != nil || len(out.Errors) != 0 {
			t.Fatalf("batch %d: %v %+v", i, err, out)
		}
	}
	n, pages := 0, 0
	pg := glue.NewGetPartitionsPaginator(g, &glue.GetPartitionsInput{DatabaseName: aws.String("big"), TableName: aws.String("events"),
		Expression: aws.String("day >= 100 AND day < 250 AND shard IN ('s03', 's17')"), MaxResults: aws.Int32(100)})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.Partitions)
		pages++
	}
	if n != want || want != 300 || pages != 3 {
		t.Errorf("%d partitions in %d pages, want %d", n, pages, want)
	}
}

func waitQuery(t *testing.T, a *athena.Client, id string) *athenatypes.QueryExecution {
	t.Helper()
	for i := 0; i < 3000; i++ {
		out, err := a.GetQueryExecution(context.Background(), &athena.GetQueryExecutionInput{QueryExecutionId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		switch out.QueryExecution.Status.State {
		case athenatypes.QueryExecutionStateQueued, athenatypes.QueryExecutionStateRunning:
			time.Sleep(10 * time.Millisecond)
			continue
		}
		return out.QueryExecution
	}
	t.Fatal("query never finished")
	return nil
}

func TestAthena(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	a := e.athena(e.admin)

	start, err := a.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{
		QueryString:           aws.String("SELECT region, count(*) AS n, CAST(sum(quantity * unit_price) AS DECIMAL(12,2)) AS total FROM sales GROUP BY region ORDER BY region"),
		QueryExecutionContext: &athenatypes.QueryExecutionContext{Database: aws.String("etl_pipeline_db")},
		ResultConfiguration:   &athenatypes.ResultConfiguration{OutputLocation: aws.String("s3://lake/athena-results/")},
	})
	if err != nil {
		t.Fatal(err)
	}
	ex := waitQuery(t, a, aws.ToString(start.QueryExecutionId))
	if ex.Status.State != athenatypes.QueryExecutionStateSucceeded || aws.ToInt64(ex.Statistics.DataScannedInBytes) == 0 ||
		ex.Statistics.TotalExecutionTimeInMillis == nil || ex.Status.SubmissionDateTime == nil || ex.Status.CompletionDateTime == nil ||
		aws.ToString(ex.ResultConfiguration.OutputLocation) != "s3://lake/athena-results/"+aws.ToString(start.QueryExecutionId)+".csv" ||
		aws.ToString(ex.QueryExecutionContext.Database) != "etl_pipeline_db" || aws.ToString(ex.WorkGroup) != "primary" {
		t.Fatalf("execution: %+v %+v %s", ex, ex.Status, aws.ToString(ex.Status.StateChangeReason))
	}
	// The result and its metadata file are where Athena writes them.
	for _, k := range []string{".csv", ".csv.metadata"} {
		if _, err := e.l.Store.Head(ctx, "lake", "athena-results/"+aws.ToString(start.QueryExecutionId)+k); err != nil {
			t.Errorf("result object %s: %v", k, err)
		}
	}
	res, err := a.GetQueryResults(ctx, &athena.GetQueryResultsInput{QueryExecutionId: start.QueryExecutionId, MaxResults: aws.Int32(3)})
	if err != nil {
		t.Fatal(err)
	}
	rows := res.ResultSet.Rows
	if len(rows) != 3 || aws.ToString(rows[0].Data[0].VarCharValue) != "region" || aws.ToString(rows[1].Data[0].VarCharValue) != "Central" || res.NextToken == nil {
		t.Fatalf("first page: %+v", rows)
	}
	ci := res.ResultSet.ResultSetMetadata.ColumnInfo
	if len(ci) != 3 || aws.ToString(ci[0].Type) != "varchar" || aws.ToString(ci[1].Type) != "bigint" || aws.ToString(ci[2].Type) != "decimal" || ci[2].Scale != 2 {
		t.Errorf("column info: %+v", ci)
	}
	total := 2
	for tok := res.NextToken; tok != nil; {
		r, err := a.GetQueryResults(ctx, &athena.GetQueryResultsInput{QueryExecutionId: start.QueryExecutionId, MaxResults: aws.Int32(2), NextToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(r.ResultSet.Rows[0].Data[0].VarCharValue) == "region" {
			t.Errorf("header on a later page")
		}
		total += len(r.ResultSet.Rows)
		tok = r.NextToken
	}
	if total != 5 {
		t.Errorf("%d data rows, want 5", total)
	}

	// A failing query says why.
	bad, err := a.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String("SELECT nope FROM sales"),
		QueryExecutionContext: &athenatypes.QueryExecutionContext{Database: aws.String("etl_pipeline_db")}})
	if err != nil {
		t.Fatal(err)
	}
	bex := waitQuery(t, a, aws.ToString(bad.QueryExecutionId))
	if bex.Status.State != athenatypes.QueryExecutionStateFailed || !strings.Contains(aws.ToString(bex.Status.StateChangeReason), "nope") {
		t.Errorf("failed query: %+v", bex.Status)
	}
	if _, err := a.GetQueryResults(ctx, &athena.GetQueryResultsInput{QueryExecutionId: bad.QueryExecutionId}); code(err) != "InvalidRequestException" {
		t.Errorf("results of failed query: %v", err)
	}
	if _, err := a.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: aws.String("no-such-id")}); code(err) != "InvalidRequestException" {
		t.Errorf("missing execution: %v", err)
	}
	lst, err := a.ListQueryExecutions(ctx, &athena.ListQueryExecutionsInput{})
	if err != nil || len(lst.QueryExecutionIds) != 2 || lst.QueryExecutionIds[0] != aws.ToString(bad.QueryExecutionId) {
		t.Errorf("ListQueryExecutions: %+v %v", lst, err)
	}
	bg, err := a.BatchGetQueryExecution(ctx, &athena.BatchGetQueryExecutionInput{QueryExecutionIds: []string{aws.ToString(start.QueryExecutionId), "nope"}})
	if err != nil || len(bg.QueryExecutions) != 1 || len(bg.UnprocessedQueryExecutionIds) != 1 {
		t.Errorf("BatchGetQueryExecution: %+v %v", bg, err)
	}
	// Stopping a finished query is not an error, as in Athena.
	if _, err := a.StopQueryExecution(ctx, &athena.StopQueryExecutionInput{QueryExecutionId: start.QueryExecutionId}); err != nil {
		t.Error(err)
	}

	// Workgroups.
	_, err = a.CreateWorkGroup(ctx, &athena.CreateWorkGroupInput{Name: aws.String("analysts"), Description: aws.String("team"),
		Configuration: &athenatypes.WorkGroupConfiguration{ResultConfiguration: &athenatypes.ResultConfiguration{OutputLocation: aws.String("s3://lake/results/analysts/")},
			BytesScannedCutoffPerQuery: aws.Int64(10_000_000), EnforceWorkGroupConfiguration: aws.Bool(true)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateWorkGroup(ctx, &athena.CreateWorkGroupInput{Name: aws.String("analysts")}); code(err) != "InvalidRequestException" {
		t.Errorf("second CreateWorkGroup: %v", err)
	}
	wg, err := a.GetWorkGroup(ctx, &athena.GetWorkGroupInput{WorkGroup: aws.String("analysts")})
	if err != nil || aws.ToInt64(wg.WorkGroup.Configuration.BytesScannedCutoffPerQuery) != 10_000_000 ||
		aws.ToString(wg.WorkGroup.Configuration.ResultConfiguration.OutputLocation) != "s3://lake/results/analysts/" {
		t.Fatalf("GetWorkGroup: %+v %v", wg, err)
	}
	if _, err := a.UpdateWorkGroup(ctx, &athena.UpdateWorkGroupInput{WorkGroup: aws.String("analysts"),
		ConfigurationUpdates: &athenatypes.WorkGroupConfigurationUpdates{BytesScannedCutoffPerQuery: aws.Int64(10_485_760)}}); err != nil {
		t.Fatal(err)
	}
	// The cutoff applies to the workgroup's queries.
	q, err := a.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String("SELECT count(*) FROM sales"), WorkGroup: aws.String("analysts"),
		QueryExecutionContext: &athenatypes.QueryExecutionContext{Database: aws.String("etl_pipeline_db")}})
	if err != nil {
		t.Fatal(err)
	}
	if qx := waitQuery(t, a, aws.ToString(q.QueryExecutionId)); qx.Status.State != athenatypes.QueryExecutionStateSucceeded ||
		!strings.HasPrefix(aws.ToString(qx.ResultConfiguration.OutputLocation), "s3://lake/results/analysts/") {
		t.Errorf("workgroup query: %+v %+v", qx.Status, qx.ResultConfiguration)
	}
	wgs, err := a.ListWorkGroups(ctx, &athena.ListWorkGroupsInput{})
	if err != nil || len(wgs.WorkGroups) != 2 {
		t.Errorf("ListWorkGroups: %+v %v", wgs, err)
	}
	if _, err := a.DeleteWorkGroup(ctx, &athena.DeleteWorkGroupInput{WorkGroup: aws.String("analysts")}); err != nil {
		t.Error(err)
	}
	if _, err := a.GetWorkGroup(ctx, &athena.GetWorkGroupInput{WorkGroup: aws.String("analysts")}); code(err) != "InvalidRequestException" {
		t.Errorf("deleted workgroup: %v", err)
	}

	// Metadata.
	cats, err := a.ListDataCatalogs(ctx, &athena.ListDataCatalogsInput{})
	if err != nil || len(cats.DataCatalogsSummary) != 1 || aws.ToString(cats.DataCatalogsSummary[0].CatalogName) != "AwsDataCatalog" {
		t.Errorf("ListDataCatalogs: %+v %v", cats, err)
	}
	dbs, err := a.ListDatabases(ctx, &athena.ListDatabasesInput{CatalogName: aws.String("AwsDataCatalog")})
	if err != nil || len(dbs.DatabaseList) != 1 || aws.ToString(dbs.DatabaseList[0].Name) != "etl_pipeline_db" {
		t.Errorf("ListDatabases: %+v %v", dbs, err)
	}
	tms, err := a.ListTableMetadata(ctx, &athena.ListTableMetadataInput{CatalogName: aws.String("AwsDataCatalog"), DatabaseName: aws.String("etl_pipeline_db")})
	if err != nil || len(tms.TableMetadataList) != 2 {
		t.Errorf("ListTableMetadata: %+v %v", tms, err)
	}
	tm, err := a.GetTableMetadata(ctx, &athena.GetTableMetadataInput{CatalogName: aws.String("AwsDataCatalog"), DatabaseName: aws.String("etl_pipeline_db"), TableName: aws.String("sales")})
	if err != nil || len(tm.TableMetadata.Columns) == 0 || tm.TableMetadata.Parameters["classification"] != "csv" {
		t.Errorf("GetTableMetadata: %+v %v", tm, err)
	}
	if _, err := a.GetTableMetadata(ctx, &athena.GetTableMetadataInput{CatalogName: aws.String("AwsDataCatalog"), DatabaseName: aws.String("etl_pipeline_db"), TableName: aws.String("nope")}); code(err) != "MetadataException" {
		t.Errorf("missing table metadata: %v", err)
	}
}

// TestAthenaResultPaging pages through a large result with the SDK's
// paginator: every row once, in order, the header only on the first page,
// over a million rows (1,001 pages: each token carries where its page
// starts in the result's CSV, so paging is one pass, not one per page).
func TestAthenaResultPaging(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	// The SDK retries a page as boto3 does: about one request in a few
	// thousand here fails on the client's side with "use of closed network
	// connection" after a 200 (seen under load since the test pages 1,001
	// times; cause not found yet, see the issue note). A retried page must
	// still give every row once, in order, which the loop checks.
	a := athena.New(athena.Options{Region: "eu-west-1", BaseEndpoint: aws.String(e.url), Credentials: creds(e.admin), RetryMaxAttempts: 3})
	const n = 1000000
	start, err := a.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String(fmt.Sprintf("SELECT i, 'r' || i AS s FROM range(%d) t(i) ORDER BY i", n))})
	if err != nil {
		t.Fatal(err)
	}
	if ex := waitQuery(t, a, aws.ToString(start.QueryExecutionId)); ex.Status.State != athenatypes.QueryExecutionStateSucceeded {
		t.Fatalf("query: %+v", ex.Status)
	}
	next, pages := 0, 0
	pg := athena.NewGetQueryResultsPaginator(a, &athena.GetQueryResultsInput{QueryExecutionId: start.QueryExecutionId})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("page %d (after row %d): %v", pages, next, err)
		}
		rows := out.ResultSet.Rows
		if pages == 0 {
			if aws.ToString(rows[0].Data[0].VarCharValue) != "i" {
				t.Fatalf("no header: %+v", rows[0])
			}
			rows = rows[1:]
		}
		pages++
		for _, r := range rows {
			if got := aws.ToString(r.Data[0].VarCharValue); got != fmt.Sprint(next) || aws.ToString(r.Data[1].VarCharValue) != "r"+got {
				t.Fatalf("row %d: %s", next, got)
			}
			next++
		}
	}
	if next != n || pages != n/1000+1 {
		t.Errorf("%d rows in %d pages", next, pages)
	}
}

func TestPolicies(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	readOnly := e.key("reader", `{"Statement": [{"Effect": "Allow", "Action": ["glue:Get*", "athena:Get*", "athena:List*"], "Resource": "*"}]}`)
	wgKey := e.key("wgonly", `{"Statement": [
		{"Effect": "Allow", "Action": "athena:StartQueryExecution", "Resource": "arn:aws:athena:*:*:workgroup/team"},
		{"Effect": "Allow", "Action": ["glue:GetTable", "glue:GetDatabase"], "Resource": "*"},
		{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lake/raw/*"},
		{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/results/team/*"}]}`)
	dbKey := e.key("onedb", `{"Statement": [
		{"Effect": "Allow", "Action": "glue:*", "Resource": ["arn:aws:glue:*:*:database/etl_pipeline_db", "arn:aws:glue:*:*:table/etl_pipeline_db/*"]}]}`)
	if _, err := e.l.Catalog.GetDatabase(ctx, "etl_pipeline_db"); err != nil {
		t.Fatal(err)
	}
	ga := e.glue(e.admin)
	if _, err := ga.CreateDatabase(ctx, &glue.CreateDatabaseInput{DatabaseInput: &gluetypes.DatabaseInput{Name: aws.String("other")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.athena(e.admin).CreateWorkGroup(ctx, &athena.CreateWorkGroupInput{Name: aws.String("team"),
		Configuration: &athenatypes.WorkGroupConfiguration{ResultConfiguration: &athenatypes.ResultConfiguration{OutputLocation: aws.String("s3://lake/results/team/")}}}); err != nil {
		t.Fatal(err)
	}

	denied := func(what string, err error) {
		t.Helper()
		if code(err) != "AccessDeniedException" {
			t.Errorf("%s: %v, want AccessDeniedException", what, err)
		}
	}
	allowed := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}

	// The read-only key reads, and is refused every change and every query.
	gr, ar := e.glue(readOnly), e.athena(readOnly)
	_, err := gr.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String("etl_pipeline_db"), Name: aws.String("sales")})
	allowed("reader GetTable", err)
	_, err = gr.GetDatabases(ctx, &glue.GetDatabasesInput{})
	allowed("reader GetDatabases", err)
	_, err = gr.CreateDatabase(ctx, &glue.CreateDatabaseInput{DatabaseInput: &gluetypes.DatabaseInput{Name: aws.String("x")}})
	denied("reader CreateDatabase", err)
	_, err = gr.DeleteTable(ctx, &glue.DeleteTableInput{DatabaseName: aws.String("etl_pipeline_db"), Name: aws.String("sales")})
	denied("reader DeleteTable", err)
	_, err = gr.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String("etl_pipeline_db"), TableInput: csvTableInput("sales")})
	denied("reader UpdateTable", err)
	_, err = ar.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String("SELECT 1")})
	denied("reader StartQueryExecution", err)
	_, err = ar.CreateWorkGroup(ctx, &athena.CreateWorkGroupInput{Name: aws.String("mine")})
	denied("reader CreateWorkGroup", err)

	// The workgroup-scoped key starts, polls, reads and stops its own
	// queries in its workgroup, and nothing elsewhere.
	aw := e.athena(wgKey)
	_, err = aw.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String("SELECT 1")})
	denied("wg key in primary", err)
	own, err := aw.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String("SELECT count(*) AS n FROM sales"), WorkGroup: aws.String("team"),
		QueryExecutionContext: &athenatypes.QueryExecutionContext{Database: aws.String("etl_pipeline_db")}})
	if err != nil {
		t.Fatal(err)
	}
	if ex := waitQuery(t, aw, aws.ToString(own.QueryExecutionId)); ex.Status.State != athenatypes.QueryExecutionStateSucceeded {
		t.Fatalf("own query: %+v", ex.Status)
	}
	r, err := aw.GetQueryResults(ctx, &athena.GetQueryResultsInput{QueryExecutionId: own.QueryExecutionId})
	if err != nil || len(r.ResultSet.Rows) != 2 {
		t.Errorf("own results: %+v %v", r, err)
	}
	_, err = aw.StopQueryExecution(ctx, &athena.StopQueryExecutionInput{QueryExecutionId: own.QueryExecutionId})
	allowed("stop own", err)
	adminQ, err := e.athena(e.admin).StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String("SELECT 2"), WorkGroup: aws.String("team")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = aw.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: adminQ.QueryExecutionId})
	denied("wg key reads another key's query", err)
	_, err = aw.StopQueryExecution(ctx, &athena.StopQueryExecutionInput{QueryExecutionId: adminQ.QueryExecutionId})
	denied("wg key stops another key's query", err)
	_, err = aw.GetWorkGroup(ctx, &athena.GetWorkGroupInput{WorkGroup: aws.String("team")})
	denied("wg key GetWorkGroup", err)
	_, err = aw.DeleteWorkGroup(ctx, &athena.DeleteWorkGroupInput{WorkGroup: aws.String("team")})
	denied("wg key DeleteWorkGroup", err)

	// The single-database key does anything in its database, nothing
	// outside it.
	gd := e.glue(dbKey)
	_, err = gd.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String("etl_pipeline_db"), Name: aws.String("sales")})
	allowed("db key GetTable", err)
	_, err = gd.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String("etl_pipeline_db"), TableInput: csvTableInput("mine")})
	allowed("db key CreateTable", err)
	_, err = gd.GetDatabase(ctx, &glue.GetDatabaseInput{Name: aws.String("other")})
	denied("db key GetDatabase other", err)
	_, err = gd.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String("other"), TableInput: csvTableInput("mine")})
	denied("db key CreateTable other", err)
	_, err = gd.GetDatabases(ctx, &glue.GetDatabasesInput{})
	denied("db key GetDatabases", err)
	_, err = gd.DeleteDatabase(ctx, &glue.DeleteDatabaseInput{Name: aws.String("other")})
	denied("db key DeleteDatabase other", err)
	_, err = e.athena(dbKey).StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String("SELECT 1")})
	denied("db key query", err)
}

// signed sends a raw AWS JSON request signed for service.
func (e *env) signed(t *testing.T, k auth.Key, service, target, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.url+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	if service != "" {
		h := sha256.Sum256([]byte(body))
		req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(h[:]))
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey},
			req, hex.EncodeToString(h[:]), service, "us-east-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHostileRequests(t *testing.T) {
	e := newEnv(t, false)
	for _, c := range []struct {
		name, service, target, body string
		status                      int
		code                        string
	}{
		{"malformed JSON", "glue", "AWSGlue.GetDatabases", `{"MaxResults": `, 400, "SerializationException"},
		{"wrong type", "glue", "AWSGlue.GetDatabase", `{"Name": 5}`, 400, "SerializationException"},
		{"not an object", "athena", "AmazonAthena.ListWorkGroups", `[1,2]`, 400, "SerializationException"},
		{"unknown fields are ignored", "glue", "AWSGlue.GetDatabases", `{"SomeNewMember": {"a": 1}}`, 200, ""},
		{"unknown operation", "glue", "AWSGlue.CreateDevEndpoint", `{}`, 400, "UnknownOperationException"},
		{"signed for s3", "s3", "AWSGlue.GetDatabases", `{}`, 403, "InvalidSignatureException"},
		{"signed for glue, sent to athena", "glue", "AmazonAthena.ListWorkGroups", `{}`, 403, "InvalidSignatureException"},
		{"unsigned", "", "AWSGlue.GetDatabases", `{}`, 403, "MissingAuthenticationTokenException"},
		{"huge MaxResults", "glue", "AWSGlue.GetDatabases", `{"MaxResults": 99999999999}`, 400, "InvalidInputException"},
		{"negative MaxResults", "athena", "AmazonAthena.ListQueryExecutions", `{"MaxResults": -1}`, 400, "InvalidRequestException"},
		{"bad NextToken", "glue", "AWSGlue.GetDatabases", `{"NextToken": "x'; DROP"}`, 400, "InvalidInputException"},
		{"name with a slash", "glue", "AWSGlue.GetTable", `{"DatabaseName": "a/b", "Name": "*"}`, 400, "InvalidInputException"},
		{"missing name", "glue", "AWSGlue.CreateDatabase", `{}`, 400, "InvalidInputException"},
		{"missing table", "glue", "AWSGlue.GetPartitions", `{"DatabaseName": "lake", "TableName": "t"}`, 400, "EntityNotFoundException"},
		{"empty query", "athena", "AmazonAthena.StartQueryExecution", `{"QueryString": " "}`, 400, "InvalidRequestException"},
		{"workgroup name", "athena", "AmazonAthena.StartQueryExecution", `{"QueryString": "SELECT 1", "WorkGroup": "../x"}`, 400, "InvalidRequestException"},
		{"other catalog", "athena", "AmazonAthena.ListDatabases", `{"CatalogName": "hive"}`, 400, "InvalidRequestException"},
		{"long expression", "glue", "AWSGlue.GetTables", `{"DatabaseName": "x", "Expression": "` + strings.Repeat("(", 5000) + `"}`, 400, "InvalidInputException"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := e.signed(t, e.admin, c.service, c.target, c.body)
			if status != c.status || (c.code != "" && !strings.Contains(body, `"__type":"`+c.code+`"`)) {
				t.Errorf("%d %s, want %d %s", status, body, c.status, c.code)
			}
		})
	}
	// Without an X-Amz-Target the request is S3's: a POST to / is not an
	// S3 operation, a GET lists the buckets.
	status, body := e.signed(t, e.admin, "s3", "", "")
	if strings.Contains(body, "__type") || !strings.Contains(body, "<Error>") {
		t.Errorf("S3 request answered by awsapi: %d %s", status, body)
	}
	// A body over the bound.
	big := `{"QueryString": "` + strings.Repeat("x", 9<<20) + `"}`
	if status, body := e.signed(t, e.admin, "athena", "AmazonAthena.StartQueryExecution", big); status != 413 && status != 400 {
		t.Errorf("huge body: %d %.200s", status, body)
	}
}

func TestGlueCrawlersAndJobs(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	g := e.glue(e.admin)

	_, err := g.CreateCrawler(ctx, &glue.CreateCrawlerInput{Name: aws.String("raw-sales"), Role: aws.String("arn:aws:iam::1:role/x"),
		DatabaseName: aws.String("crawled"), Targets: &gluetypes.CrawlerTargets{S3Targets: []gluetypes.S3Target{{Path: aws.String("s3://lake/raw/sales/")}}},
		SchemaChangePolicy: &gluetypes.SchemaChangePolicy{UpdateBehavior: gluetypes.UpdateBehaviorUpdateInDatabase, DeleteBehavior: gluetypes.DeleteBehaviorDeprecateInDatabase}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.CreateCrawler(ctx, &glue.CreateCrawlerInput{Name: aws.String("raw-sales"), Role: aws.String("r"), DatabaseName: aws.String("crawled"),
		Targets: &gluetypes.CrawlerTargets{S3Targets: []gluetypes.S3Target{{Path: aws.String("s3://lake/raw/sales/")}}}}); code(err) != "AlreadyExistsException" {
		t.Errorf("second CreateCrawler: %v", err)
	}
	if _, err := g.StopCrawler(ctx, &glue.StopCrawlerInput{Name: aws.String("raw-sales")}); code(err) != "CrawlerNotRunningException" {
		t.Errorf("stop idle crawler: %v", err)
	}
	if _, err := g.StartCrawler(ctx, &glue.StartCrawlerInput{Name: aws.String("raw-sales")}); err != nil {
		t.Fatal(err)
	}
	// The guides' loop: poll until READY.
	var cr *gluetypes.Crawler
	for i := 0; ; i++ {
		out, err := g.GetCrawler(ctx, &glue.GetCrawlerInput{Name: aws.String("raw-sales")})
		if err != nil {
			t.Fatal(err)
		}
		if cr = out.Crawler; cr.State == gluetypes.CrawlerStateReady {
			break
		}
		if i == 3000 {
			t.Fatal("crawler never became READY")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if cr.LastCrawl == nil || cr.LastCrawl.Status != gluetypes.LastCrawlStatusSucceeded || cr.SchemaChangePolicy.DeleteBehavior != gluetypes.DeleteBehaviorDeprecateInDatabase ||
		aws.ToString(cr.Targets.S3Targets[0].Path) != "s3://lake/raw/sales/" {
		t.Fatalf("crawler: %+v %+v", cr, cr.LastCrawl)
	}
	if _, err := g.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String("crawled"), Name: aws.String("sales")}); err != nil {
		t.Errorf("crawled table: %v", err)
	}
	m, err := g.GetCrawlerMetrics(ctx, &glue.GetCrawlerMetricsInput{CrawlerNameList: []string{"raw-sales"}})
	if err != nil || len(m.CrawlerMetricsList) != 1 || m.CrawlerMetricsList[0].TablesCreated != 1 {
		t.Errorf("metrics: %+v %v", m, err)
	}
	cs, err := g.GetCrawlers(ctx, &glue.GetCrawlersInput{})
	if err != nil || len(cs.Crawlers) != 2 { // the quickstart's and this one
		t.Errorf("GetCrawlers: %d %v", len(cs.Crawlers), err)
	}
	if _, err := g.UpdateCrawler(ctx, &glue.UpdateCrawlerInput{Name: aws.String("raw-sales"), Description: aws.String("nightly")}); err != nil {
		t.Fatal(err)
	}
	if out, err := g.GetCrawler(ctx, &glue.GetCrawlerInput{Name: aws.String("raw-sales")}); err != nil || aws.ToString(out.Crawler.Description) != "nightly" ||
		aws.ToString(out.Crawler.DatabaseName) != "crawled" {
		t.Errorf("updated crawler: %+v %v", out, err)
	}

	// A SQL job whose script lives in the lake.
	put := func(key, body string) {
		t.Helper()
		if _, err := e.l.Store.Put(ctx, "lake", key, strings.NewReader(body), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put("scripts/by_region.sql", "SELECT region, count(*) AS n FROM etl_pipeline_db.sales WHERE region <> ${skip} GROUP BY region")
	_, err = g.CreateJob(ctx, &glue.CreateJobInput{Name: aws.String("by-region"), Role: aws.String("arn:aws:iam::1:role/x"),
		Command:          &gluetypes.JobCommand{Name: aws.String("glueetl"), ScriptLocation: aws.String("s3://lake/scripts/by_region.sql")},
		DefaultArguments: map[string]string{"--target_path": "s3://lake/curated/by_region/", "--skip": "nowhere", "--enable-metrics": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.CreateJob(ctx, &glue.CreateJobInput{Name: aws.String("pyspark"), Role: aws.String("r"),
		Command:          &gluetypes.JobCommand{Name: aws.String("glueetl"), ScriptLocation: aws.String("s3://lake/scripts/job.py")},
		DefaultArguments: map[string]string{"--target_path": "s3://lake/curated/x/"}})
	if code(err) != "InvalidInputException" || !strings.Contains(err.Error(), "SQL") || !strings.Contains(err.Error(), "docs/aws.md") {
		t.Errorf("PySpark job: %v", err)
	}
	// The script is read at each run: edit it before running.
	put("scripts/by_region.sql", "SELECT region, count(*) AS n, ${skip} AS skipped FROM etl_pipeline_db.sales WHERE region <> ${skip} GROUP BY region")
	start, err := g.StartJobRun(ctx, &glue.StartJobRunInput{JobName: aws.String("by-region"), Arguments: map[string]string{"--skip": "Central"}})
	if err != nil {
		t.Fatal(err)
	}
	var jr *gluetypes.JobRun
	for i := 0; ; i++ {
		out, err := g.GetJobRun(ctx, &glue.GetJobRunInput{JobName: aws.String("by-region"), RunId: start.JobRunId})
		if err != nil {
			t.Fatal(err)
		}
		if jr = out.JobRun; jr.JobRunState != gluetypes.JobRunStateStarting && jr.JobRunState != gluetypes.JobRunStateRunning {
			break
		}
		if i == 3000 {
			t.Fatal("job run never ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if jr.JobRunState != gluetypes.JobRunStateSucceeded || jr.Arguments["--skip"] != "Central" || jr.CompletedOn == nil {
		t.Fatalf("job run: %+v %s", jr, aws.ToString(jr.ErrorMessage))
	}
	// The edited script ran: its output has the new column.
	objs := 0
	lr, err := e.l.Store.List(ctx, "lake", storage.ListOptions{Prefix: "curated/by_region/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range lr.Objects {
		if strings.HasSuffix(o.Key, ".parquet") {
			objs++
		}
	}
	if objs == 0 {
		t.Errorf("no output in s3://lake/curated/by_region/")
	}
	if spec, err := e.l.Jobs.Get(ctx, "by-region"); err != nil || !strings.Contains(spec.SQL, "skipped") {
		t.Errorf("job SQL not re-read: %+v %v", spec, err)
	}
	runs, err := g.GetJobRuns(ctx, &glue.GetJobRunsInput{JobName: aws.String("by-region")})
	if err != nil || len(runs.JobRuns) != 1 || aws.ToString(runs.JobRuns[0].Id) != aws.ToString(start.JobRunId) {
		t.Errorf("GetJobRuns: %+v %v", runs, err)
	}
	stop, err := g.BatchStopJobRun(ctx, &glue.BatchStopJobRunInput{JobName: aws.String("by-region"), JobRunIds: []string{aws.ToString(start.JobRunId)}})
	if err != nil || len(stop.Errors) != 1 || len(stop.SuccessfulSubmissions) != 0 {
		t.Errorf("stop finished run: %+v %v", stop, err)
	}
	if _, err := g.StartJobRun(ctx, &glue.StartJobRunInput{JobName: aws.String("by-region"), Arguments: map[string]string{"--target_path": "s3://lake/elsewhere/"}}); code(err) != "InvalidInputException" {
		t.Errorf("run to another target: %v", err)
	}
	if _, err := g.StartJobRun(ctx, &glue.StartJobRunInput{JobName: aws.String("nope")}); code(err) != "EntityNotFoundException" {
		t.Errorf("missing job: %v", err)
	}
	job, err := g.GetJob(ctx, &glue.GetJobInput{JobName: aws.String("by-region")})
	if err != nil || aws.ToString(job.Job.Command.ScriptLocation) != "s3://lake/scripts/by_region.sql" || job.Job.DefaultArguments["--target_path"] != "s3://lake/curated/by_region/" {
		t.Errorf("GetJob: %+v %v", job, err)
	}
	if bm, err := g.GetJobBookmark(ctx, &glue.GetJobBookmarkInput{JobName: aws.String("by-region")}); err != nil || aws.ToString(bm.JobBookmarkEntry.JobName) != "by-region" {
		t.Errorf("GetJobBookmark: %+v %v", bm, err)
	}
	if _, err := g.ResetJobBookmark(ctx, &glue.ResetJobBookmarkInput{JobName: aws.String("by-region")}); err != nil {
		t.Error(err)
	}
	if _, err := g.DeleteJob(ctx, &glue.DeleteJobInput{JobName: aws.String("by-region")}); err != nil {
		t.Error(err)
	}
	if _, err := g.GetJob(ctx, &glue.GetJobInput{JobName: aws.String("by-region")}); code(err) != "EntityNotFoundException" {
		t.Errorf("deleted job: %v", err)
	}
}

// lakeConfig is a lake in home with its metadata on the backend
// TARN_TEST_META names (metatest: SQLite in home, or a fresh PostgreSQL
// database).
func lakeConfig(t testing.TB, home string) lake.Config {
	t.Helper()
	cfg := lake.DefaultConfig(home)
	cfg.Meta = metatest.Config(t, cfg.Meta.Path)
	return cfg
}
