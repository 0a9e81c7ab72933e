package awsapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	athenatypes "github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"github.com/tarn-lake/tarn/internal/auth"
)

// Tests of what dbt-athena (docs/dbt.md#dbt-athena) sends to tarn's AWS
// APIs beyond the guides' Glue and Athena calls; .ci/dbt-athena.sh runs
// dbt-athena itself.

// TestSTSGetCallerIdentity: dbt-athena asks STS for the account to name
// the Glue catalog. Any valid key may ask (it learns only about itself);
// an unknown key may not.
func TestSTSGetCallerIdentity(t *testing.T) {
	e := newEnv(t, false)
	nothing := e.key("nothing", `{"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}`)
	if got := e.mustCLI(t, nothing, "sts", "get-caller-identity", "--query", "[Account,Arn,UserId]"); got != "000000000000\tarn:aws:iam::000000000000:user/nothing\t"+nothing.AccessKeyID {
		t.Errorf("get-caller-identity: %q", got)
	}
	if got := e.mustCLI(t, e.admin, "sts", "get-caller-identity", "--query", "Account"); got != "000000000000" {
		t.Errorf("admin's account: %q", got)
	}
	stranger := nothing
	stranger.AccessKeyID = "TKNOSUCHKEY000000000"
	out, err := e.cli(t, stranger, "sts", "get-caller-identity")
	refusedWith(t, "an unknown key", "InvalidClientTokenId", out, err)
	out, err = e.cli(t, nothing, "sts", "assume-role", "--role-arn", "arn:aws:iam::000000000000:role/r", "--role-session-name", "dbt")
	refusedWith(t, "an STS action tarn does not serve", "InvalidAction", out, err)
}

// TestAthenaStatementResults: what dbt-athena's cursor reads of each
// statement it runs. Writes (Hive and Iceberg CTAS, INSERT, MERGE) are DML
// with their SubstatementType and the rows written as UpdateCount; DDL and
// UTILITY results are plain text, without a header row.
func TestAthenaStatementResults(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	a := e.athena(e.admin)
	run := func(sql string) (*athenatypes.QueryExecution, *athena.GetQueryResultsOutput) {
		t.Helper()
		start, err := a.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String(sql),
			QueryExecutionContext: &athenatypes.QueryExecutionContext{Database: aws.String("dbt"), Catalog: aws.String("awsdatacatalog")}})
		if err != nil {
			t.Fatal(err)
		}
		ex := waitQuery(t, a, aws.ToString(start.QueryExecutionId))
		if ex.Status.State != athenatypes.QueryExecutionStateSucceeded {
			t.Fatalf("%s: %s %s", sql, ex.Status.State, aws.ToString(ex.Status.StateChangeReason))
		}
		res, err := a.GetQueryResults(ctx, &athena.GetQueryResultsInput{QueryExecutionId: start.QueryExecutionId})
		if err != nil {
			t.Fatal(err)
		}
		return ex, res
	}
	cells := func(res *athena.GetQueryResultsOutput) string {
		var rows []string
		for _, r := range res.ResultSet.Rows {
			var c []string
			for _, d := range r.Data {
				c = append(c, aws.ToString(d.VarCharValue))
			}
			rows = append(rows, strings.Join(c, ","))
		}
		return strings.Join(rows, ";")
	}
	for _, c := range []struct {
		sql, stmt, sub string
		update         int64
		rows           string
	}{
		{"create schema if not exists `dbt`", "DDL", "CREATE_DATABASE", 0, ""},
		{`-- /* {"app": "dbt"} */` + "\ncreate table \"awsdatacatalog\".\"dbt\".\"h\" with (table_type='hive', is_external=true, external_location='s3://lake/dbt/h', format='parquet') as select region, count(*) as n from etl_pipeline_db.sales group by region",
			"DML", "CREATE_TABLE_AS_SELECT", 5, "rows;5"},
		{"alter table `dbt`.`h` set tblproperties ('classification' = 'parquet')", "DDL", "ALTER_TABLE", 0, ""},
		{"insert into \"dbt\".\"h\" (n, region) select 0, 'Nowhere'", "DML", "INSERT", 1, "rows;1"},
		{"create table dbt.i with (table_type='iceberg', is_external=false, location='s3://lake/dbt/i', format='parquet') as select region, n from dbt.h", "DML", "CREATE_TABLE_AS_SELECT", 6, "rows;6"},
		{"merge into dbt.i as t using (select 'North' as region, 99 as n) as s on t.region = s.region when matched then update set n = s.n", "DML", "MERGE", 1, "rows;1"},
		{"select count(*) as c from dbt.i where n = 99", "DML", "SELECT", 0, "c;1"},
		{"show tables in dbt", "DDL", "SHOW_TABLES", 0, "h;i"},
		{"describe dbt.h", "DDL", "DESCRIBE_TABLE", 0, "region,string,;n,bigint,"},
	} {
		ex, res := run(c.sql)
		if string(ex.StatementType) != c.stmt || aws.ToString(ex.SubstatementType) != c.sub {
			t.Errorf("%s: statement type %s/%s, want %s/%s", c.sql, ex.StatementType, aws.ToString(ex.SubstatementType), c.stmt, c.sub)
		}
		if aws.ToInt64(res.UpdateCount) != c.update {
			t.Errorf("%s: UpdateCount %d, want %d", c.sql, aws.ToInt64(res.UpdateCount), c.update)
		}
		if got := cells(res); got != c.rows {
			t.Errorf("%s: rows %q, want %q", c.sql, got, c.rows)
		}
	}
}

// TestGlueTableShapeForDBT: dbt-athena's ha tables are swapped by copying
// GetTable's StorageDescriptor, PartitionKeys, TableType and Parameters
// into UpdateTable: Glue's answer has PartitionKeys even when there are
// none ([]), and the copy is accepted back.
func TestGlueTableShapeForDBT(t *testing.T) {
	e := newEnv(t, true)
	code, body := e.signed(t, e.admin, "glue", "AWSGlue.GetTable", `{"DatabaseName": "etl_pipeline_db", "Name": "sales"}`)
	if code != 200 || !strings.Contains(body, `"PartitionKeys":[]`) {
		t.Fatalf("GetTable of an unpartitioned table: %d %s", code, body)
	}
	code, body = e.signed(t, e.admin, "glue", "AWSGlue.GetTable", `{"DatabaseName": "etl_pipeline_db", "Name": "orders"}`)
	if code != 200 || !strings.Contains(body, `"PartitionKeys":[{"Name":"year"`) {
		t.Fatalf("GetTable of a partitioned table: %d %s", code, body)
	}
	g := e.glue(e.admin)
	ctx := context.Background()
	got, err := g.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String("etl_pipeline_db"), Name: aws.String("sales")})
	if err != nil {
		t.Fatal(err)
	}
	tb := got.Table
	if _, err := g.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String("etl_pipeline_db"), TableInput: &gluetypes.TableInput{
		Name: tb.Name, StorageDescriptor: tb.StorageDescriptor, PartitionKeys: tb.PartitionKeys, TableType: tb.TableType, Parameters: tb.Parameters}}); err != nil {
		t.Fatalf("UpdateTable with GetTable's own shape: %v", err)
	}
}

// TestGlueDeleteTableVersion: dbt-athena expires a table's old Glue
// versions (versions_to_keep) with DeleteTableVersion; the current version
// stays, and the key needs glue:DeleteTableVersion on the table.
func TestGlueDeleteTableVersion(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	g := e.glue(e.admin)
	if _, err := g.CreateDatabase(ctx, &glue.CreateDatabaseInput{DatabaseInput: &gluetypes.DatabaseInput{Name: aws.String("dbt")}}); err != nil {
		t.Fatal(err)
	}
	in := csvTableInput("t")
	if _, err := g.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String("dbt"), TableInput: in}); err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{"s3://lake/dbt/t/v2/", "s3://lake/dbt/t/v3/"} { // dbt's ha swaps: a new location each
		in.StorageDescriptor.Location = aws.String(loc)
		if _, err := g.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String("dbt"), TableInput: in}); err != nil {
			t.Fatal(err)
		}
	}
	versions := func() string {
		out, err := g.GetTableVersions(ctx, &glue.GetTableVersionsInput{DatabaseName: aws.String("dbt"), TableName: aws.String("t")})
		if err != nil {
			t.Fatal(err)
		}
		var vs []string
		for _, v := range out.TableVersions {
			vs = append(vs, aws.ToString(v.VersionId))
		}
		return strings.Join(vs, ",")
	}
	if got := versions(); got != "3,2,1" {
		t.Fatalf("versions %s", got)
	}
	del := func(g *glue.Client, v string) error {
		_, err := g.DeleteTableVersion(ctx, &glue.DeleteTableVersionInput{DatabaseName: aws.String("dbt"), TableName: aws.String("t"), VersionId: aws.String(v)})
		return err
	}
	reader := e.key("reader", `{"Statement": [{"Effect": "Allow", "Action": "glue:Get*", "Resource": "*"}]}`)
	for _, c := range []struct {
		g       *glue.Client
		version string
		code    string
	}{
		{e.glue(reader), "1", "AccessDeniedException"},
		{g, "3", "InvalidInputException"}, // the current version
		{g, "x", "InvalidInputException"},
		{g, "1", ""},
		{g, "1", "EntityNotFoundException"},
	} {
		if err := del(c.g, c.version); code(err) != c.code {
			t.Errorf("DeleteTableVersion %s: %v, want %q", c.version, err, c.code)
		}
	}
	if got := versions(); got != "3,2" {
		t.Errorf("versions after deleting 1: %s", got)
	}
	out, err := g.BatchDeleteTableVersion(ctx, &glue.BatchDeleteTableVersionInput{DatabaseName: aws.String("dbt"), TableName: aws.String("t"), VersionIds: []string{"2", "9"}})
	if err != nil || len(out.Errors) != 1 || aws.ToString(out.Errors[0].VersionId) != "9" || aws.ToString(out.Errors[0].ErrorDetail.ErrorCode) != "EntityNotFoundException" {
		t.Fatalf("BatchDeleteTableVersion: %+v %v", out, err)
	}
	if got := versions(); got != "3" {
		t.Errorf("versions after the batch: %s", got)
	}
	if got, err := g.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String("dbt"), Name: aws.String("t")}); err != nil || aws.ToString(got.Table.StorageDescriptor.Location) != "s3://lake/dbt/t/v3/" {
		t.Errorf("the table after: %v", err)
	}
}

// TestAthenaSetTablePropertiesPolicy: ALTER TABLE ... SET TBLPROPERTIES on
// a Hive table is glue:UpdateTable on it: a key that may read and query but
// not update tables is refused, and the table keeps its properties.
func TestAthenaSetTablePropertiesPolicy(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	k := e.key("no-update", `{"Statement": [{"Effect": "Allow", "Action": ["athena:*", "glue:Get*", "s3:*"], "Resource": "*"}]}`)
	run := func(k auth.Key, sql string) *athenatypes.QueryExecution {
		t.Helper()
		a := e.athena(k)
		start, err := a.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String(sql),
			QueryExecutionContext: &athenatypes.QueryExecutionContext{Database: aws.String("etl_pipeline_db")}})
		if err != nil {
			t.Fatal(err)
		}
		return waitQuery(t, a, aws.ToString(start.QueryExecutionId))
	}
	ex := run(k, "alter table `etl_pipeline_db`.`sales` set tblproperties ('classification' = 'parquet', 'owner' = 'mallory')")
	if ex.Status.State != athenatypes.QueryExecutionStateFailed || !strings.Contains(aws.ToString(ex.Status.StateChangeReason), "may not glue:UpdateTable") {
		t.Fatalf("a key without glue:UpdateTable: %s %s", ex.Status.State, aws.ToString(ex.Status.StateChangeReason))
	}
	// ADD COLUMNS (dbt-athena's on_schema_change) is glue:UpdateTable too.
	ex = run(k, "alter table `etl_pipeline_db`.`sales` add columns (`stolen` string)")
	if ex.Status.State != athenatypes.QueryExecutionStateFailed || !strings.Contains(aws.ToString(ex.Status.StateChangeReason), "may not glue:UpdateTable") {
		t.Fatalf("ADD COLUMNS by a key without glue:UpdateTable: %s %s", ex.Status.State, aws.ToString(ex.Status.StateChangeReason))
	}
	if ex := run(e.admin, "alter table `etl_pipeline_db`.`sales` set tblproperties ('owner' = 'etl')"); ex.Status.State != athenatypes.QueryExecutionStateSucceeded {
		t.Fatalf("the admin: %s %s", ex.Status.State, aws.ToString(ex.Status.StateChangeReason))
	}
	got, err := e.glue(e.admin).GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String("etl_pipeline_db"), Name: aws.String("sales")})
	if err != nil || got.Table.Parameters["owner"] != "etl" || got.Table.Parameters["classification"] != "csv" {
		t.Fatalf("the table's parameters: %v %v", got, err)
	}
	for _, c := range got.Table.StorageDescriptor.Columns {
		if aws.ToString(c.Name) == "stolen" {
			t.Fatalf("a refused ADD COLUMNS added its column")
		}
	}
}

// TestGlueHASwap: dbt-athena's ha table swap. The new version is a CTAS
// table at a location of its own; UpdateTable points the target at that
// location (copying its StorageDescriptor and Parameters) and the new
// version's Glue table is deleted. The target then reads the new files,
// not those tarn wrote at its old location.
func TestGlueHASwap(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	a := e.athena(e.admin)
	run := func(sql string) (string, string) {
		t.Helper()
		start, err := a.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String(sql),
			QueryExecutionContext: &athenatypes.QueryExecutionContext{Database: aws.String("etl_pipeline_db")}})
		if err != nil {
			t.Fatal(err)
		}
		ex := waitQuery(t, a, aws.ToString(start.QueryExecutionId))
		if ex.Status.State != athenatypes.QueryExecutionStateSucceeded {
			return "", aws.ToString(ex.Status.StateChangeReason)
		}
		res, err := a.GetQueryResults(ctx, &athena.GetQueryResultsInput{QueryExecutionId: start.QueryExecutionId})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(res.ResultSet.Rows); n > 1 {
			return aws.ToString(res.ResultSet.Rows[1].Data[0].VarCharValue), ""
		}
		return "", ""
	}
	for _, sql := range []string{
		"create table sales_by_region with (external_location='s3://lake/dbt/sales_by_region/v1/', format='parquet') as select region, 1 as version from sales group by region",
		"create table sales_by_region__ha with (external_location='s3://lake/dbt/sales_by_region/v2/', format='parquet') as select region, 2 as version from sales group by region",
	} {
		if _, msg := run(sql); msg != "" {
			t.Fatalf("%s: %s", sql, msg)
		}
	}
	g := e.glue(e.admin)
	src, err := g.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String("etl_pipeline_db"), Name: aws.String("sales_by_region__ha")})
	if err != nil {
		t.Fatal(err)
	}
	swap := func(version int) {
		t.Helper()
		src, err := g.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String("etl_pipeline_db"), Name: aws.String("sales_by_region__ha")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String("etl_pipeline_db"), TableInput: &gluetypes.TableInput{
			Name: aws.String("sales_by_region"), StorageDescriptor: src.Table.StorageDescriptor, PartitionKeys: src.Table.PartitionKeys,
			TableType: src.Table.TableType, Parameters: src.Table.Parameters}}); err != nil {
			t.Fatal(err)
		}
		if _, err := g.DeleteTable(ctx, &glue.DeleteTableInput{DatabaseName: aws.String("etl_pipeline_db"), Name: aws.String("sales_by_region__ha")}); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%d/5", 5*version)
		if got, msg := run("select cast(sum(version) as varchar) || '/' || cast(count(*) as varchar) from sales_by_region"); got != want {
			t.Errorf("the table swapped to version %d reads %q %s, want its 5 rows (%s)", version, got, msg, want)
		}
	}
	_ = src
	swap(2)
	// The next run swaps again, from a table tarn no longer lists.
	if _, msg := run("create table sales_by_region__ha with (external_location='s3://lake/dbt/sales_by_region/v3/', format='parquet') as select region, 3 as version from sales group by region"); msg != "" {
		t.Fatal(msg)
	}
	swap(3)
	// It is that location's files now: tarn does not append to it.
	if _, msg := run("insert into sales_by_region select 'Nowhere', 3"); !strings.Contains(msg, "tables tarn writes") {
		t.Errorf("INSERT into the swapped table: %q", msg)
	}
}
