package awsapi

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
)

// dataCatalog is the one data catalog tarn has, named as Athena names the
// Glue catalog.
const dataCatalog = "AwsDataCatalog"

func dataCatalogResource(n string) string { return "arn:aws:athena:*:*:datacatalog/" + n }

func (s *Server) athenaOps() {
	s.athena("StartQueryExecution", s.startQueryExecution)
	s.athena("GetQueryExecution", s.getQueryExecution)
	s.athena("GetQueryResults", s.getQueryResults)
	s.athena("StopQueryExecution", s.stopQueryExecution)
	s.athena("ListQueryExecutions", s.listQueryExecutions)
	s.athena("BatchGetQueryExecution", s.batchGetQueryExecution)
	s.athena("CreateWorkGroup", s.createWorkGroup)
	s.athena("GetWorkGroup", s.getWorkGroup)
	s.athena("UpdateWorkGroup", s.updateWorkGroup)
	s.athena("DeleteWorkGroup", s.deleteWorkGroup)
	s.athena("ListWorkGroups", s.listWorkGroups)
	s.athena("ListDataCatalogs", s.listDataCatalogs)
	s.athena("ListDatabases", s.listDatabases)
	s.athena("ListTableMetadata", s.listTableMetadata)
	s.athena("GetTableMetadata", s.getTableMetadata)
}

func athenaInvalid(format string, args ...any) error {
	return errorf("InvalidRequestException", format, args...)
}

var workgroupName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

func checkWorkgroup(n string) (string, error) {
	if n == "" {
		return query.PrimaryWorkgroup, nil
	}
	if !workgroupName.MatchString(n) {
		return "", athenaInvalid("WorkGroup %q must be 1-128 letters, digits, '.', '_' or '-'", truncate(n, 80))
	}
	return n, nil
}

func checkCatalog(n string) error {
	if n != "" && !strings.EqualFold(n, dataCatalog) {
		return athenaInvalid("tarn has one data catalog, %s; %q is not it", dataCatalog, truncate(n, 80))
	}
	return nil
}

func (s *Server) startQueryExecution(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		QueryString              string
		ClientRequestToken       string
		QueryExecutionContext    struct{ Database, Catalog string }
		ResultConfiguration      struct{ OutputLocation string }
		WorkGroup                string
		ExecutionParameters      []string
		ResultReuseConfiguration struct {
			ResultReuseByAgeConfiguration struct {
				Enabled         bool
				MaxAgeInMinutes int
			}
		}
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.QueryString) == "" {
		return nil, athenaInvalid("QueryString is empty")
	}
	if len(in.QueryString) > 262144 {
		return nil, athenaInvalid("QueryString is %d bytes; at most 262144", len(in.QueryString))
	}
	if len(in.ExecutionParameters) > 0 {
		return nil, athenaInvalid("tarn does not support ExecutionParameters yet; put the values in the query as literals")
	}
	if err := checkCatalog(in.QueryExecutionContext.Catalog); err != nil {
		return nil, err
	}
	wg, err := checkWorkgroup(in.WorkGroup)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("athena:StartQueryExecution", auth.WorkgroupResource(wg)); err != nil {
		return nil, err
	}
	if _, err := s.d.Queries.Workgroup(ctx, wg); err != nil {
		return nil, err
	}
	req := query.Request{SQL: in.QueryString, Database: in.QueryExecutionContext.Database, Workgroup: wg, AccessKey: c.p.Key.AccessKeyID,
		Authorize: query.Authorizer(c.p), ResultLocation: in.ResultConfiguration.OutputLocation}
	// The result is the key's s3:PutObject where it lands: refused here,
	// before the query runs, as Athena refuses it.
	if err := s.authorizeOutput(c, req.ResultLocation); err != nil {
		return nil, err
	}
	if r := in.ResultReuseConfiguration.ResultReuseByAgeConfiguration; r.Enabled {
		age := r.MaxAgeInMinutes
		if age <= 0 {
			age = 60
		}
		req.ReuseMaxAge = time.Duration(age) * time.Minute
	}
	id, err := s.d.Async.Submit(req)
	if err != nil {
		return nil, err
	}
	return map[string]string{"QueryExecutionId": id}, nil
}

// execution returns an execution the key may act on: its own always (a
// workgroup-scoped key can poll, read and stop what it started), another
// key's if its policy allows the action on that workgroup.
func (s *Server) execution(ctx context.Context, c *call, id, action string) (query.Execution, error) {
	if id == "" {
		return query.Execution{}, athenaInvalid("QueryExecutionId is required")
	}
	ex, err := s.d.Queries.Get(ctx, id)
	if err != nil {
		return query.Execution{}, athenaInvalid("QueryExecution %s was not found", truncate(id, 80))
	}
	if ex.AccessKey != "" && ex.AccessKey == c.p.Key.AccessKeyID {
		return ex, nil
	}
	if err := c.p.Authorize(action, auth.WorkgroupResource(ex.Workgroup)); err != nil {
		return query.Execution{}, fmt.Errorf("query execution %s was run by another access key: %w", ex.ID, err)
	}
	return ex, nil
}

func millis(d time.Duration) int64 { return d.Milliseconds() }

func (s *Server) resultLocation(ctx context.Context, ex query.Execution) string {
	u, err := s.d.Async.ResultURI(ctx, ex)
	if err != nil {
		return ""
	}
	return u
}

func (s *Server) queryExecution(ctx context.Context, ex query.Execution) map[string]any {
	status := map[string]any{"State": ex.State, "SubmissionDateTime": epoch(ex.SubmittedAt)}
	if !ex.EndedAt.IsZero() {
		status["CompletionDateTime"] = epoch(ex.EndedAt)
	}
	if ex.Error != "" {
		status["StateChangeReason"] = ex.Error
		cat := 2 // user
		if ex.State == query.StateFailed && strings.Contains(strings.ToLower(ex.Error), "internal") {
			cat = 1
		}
		status["AthenaError"] = map[string]any{"ErrorCategory": cat, "ErrorMessage": ex.Error}
	}
	stmt := ex.StatementType
	if stmt == "" {
		stmt = "DML"
	}
	total := ex.Stats.Elapsed
	queued := total - ex.Stats.Engine - ex.Stats.Planning
	if queued < 0 {
		queued = 0
	}
	stats := map[string]any{
		"EngineExecutionTimeInMillis": millis(ex.Stats.Engine),
		"DataScannedInBytes":          ex.Stats.BytesScanned,
		"TotalExecutionTimeInMillis":  millis(total),
		"QueryPlanningTimeInMillis":   millis(ex.Stats.Planning),
		"QueryQueueTimeInMillis":      millis(queued),
		"ResultReuseInformation":      map[string]bool{"ReusedPreviousResult": ex.ReusedFrom != ""},
	}
	if ex.ManifestLocation != "" {
		stats["DataManifestLocation"] = ex.ManifestLocation
	}
	out := map[string]any{
		"QueryExecutionId":      ex.ID,
		"Query":                 ex.SQL,
		"StatementType":         stmt,
		"ResultConfiguration":   map[string]string{"OutputLocation": s.resultLocation(ctx, ex)},
		"QueryExecutionContext": map[string]string{"Database": ex.Database, "Catalog": dataCatalog},
		"Status":                status,
		"Statistics":            stats,
		"WorkGroup":             ex.Workgroup,
		"EngineVersion":         map[string]string{"SelectedEngineVersion": "tarn (DuckDB)", "EffectiveEngineVersion": "tarn (DuckDB)"},
	}
	if sub := query.SubstatementType(ex.SQL); sub != "" {
		out["SubstatementType"] = sub
	}
	return out
}

// plainText reports whether an execution's result is Athena's plain text
// (DDL and UTILITY statements: SHOW, DESCRIBE, EXPLAIN): GetQueryResults
// gives its rows without a header row.
func plainText(ex query.Execution) bool {
	return ex.StatementType == "DDL" || ex.StatementType == "UTILITY"
}

func (s *Server) getQueryExecution(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct{ QueryExecutionId string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ex, err := s.execution(ctx, c, in.QueryExecutionId, "athena:GetQueryExecution")
	if err != nil {
		return nil, err
	}
	return map[string]any{"QueryExecution": s.queryExecution(ctx, ex)}, nil
}

// columnInfo splits query's Athena type name (query.AthenaTypeName, the one
// mapping every front end uses) into what ColumnInfo carries: the base name
// ("decimal", "array", "row", ...) with precision and scale beside it.
func columnInfo(athenaType string) (name string, precision, scale int) {
	name, args, _ := strings.Cut(athenaType, "(")
	switch name {
	case "decimal":
		precision, scale = 38, 0
		fmt.Sscanf(args, "%d,%d", &precision, &scale)
	case "varchar", "char":
		precision = 2147483647
	case "tinyint":
		precision = 3
	case "smallint":
		precision = 5
	case "integer":
		precision = 10
	case "bigint":
		precision = 19
	case "real", "float", "double":
		precision = 17
	case "timestamp", "time":
		precision = 3
	}
	return name, precision, scale
}

type datum struct {
	VarCharValue *string `json:"VarCharValue,omitempty"`
}

type row struct {
	Data []datum `json:"Data"`
}

func (s *Server) getQueryResults(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		QueryExecutionId string
		NextToken        string
		MaxResults       int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.MaxResults < 0 || in.MaxResults > 1000 {
		return nil, athenaInvalid("MaxResults %d is not between 1 and 1000", in.MaxResults)
	}
	max := in.MaxResults
	if max == 0 {
		max = 1000
	}
	ex, err := s.execution(ctx, c, in.QueryExecutionId, "athena:GetQueryResults")
	if err != nil {
		return nil, err
	}
	if ex.State != query.StateSucceeded {
		if ex.State == query.StateFailed || ex.State == query.StateCancelled {
			return nil, athenaInvalid("Query %s has %s: %s", ex.ID, ex.State, ex.Error)
		}
		return nil, athenaInvalid("Query has not yet finished. Current state: %s", ex.State)
	}
	// Athena's first page starts with the header row, which counts against
	// MaxResults; later pages are data only (and plain text results have
	// none). tarn's token is the query service's: the next data row's
	// number and where it starts.
	first := in.NextToken == ""
	header := first && !plainText(ex)
	if !first && !query.ValidResultToken(in.NextToken) {
		return nil, athenaInvalid("NextToken %q is not one this server issued; start again without it", truncate(in.NextToken, 40))
	}
	want := max
	if header {
		want = max - 1
	}
	var pg query.ResultPage
	if want > 0 {
		pg, err = s.d.Async.Results(ctx, ex.ID, in.NextToken, want)
	} else {
		// Only the header fits: read one row to learn the columns and
		// whether there is more.
		pg, err = s.d.Async.Results(ctx, ex.ID, "0", 1)
		if err == nil {
			if len(pg.Rows) > 0 {
				pg.NextToken = "0"
			}
			pg.Rows = nil
		}
	}
	if err != nil {
		return nil, err
	}
	rows := make([]row, 0, len(pg.Rows)+1)
	cols := make([]map[string]any, len(pg.Columns))
	if header {
		hdr := row{Data: make([]datum, len(pg.Columns))}
		for i, col := range pg.Columns {
			n := col.Name
			hdr.Data[i] = datum{&n}
		}
		if len(pg.Columns) > 0 {
			rows = append(rows, hdr)
		}
	}
	for i, col := range pg.Columns {
		at := col.AthenaType
		if at == "" {
			at = query.AthenaTypeName(col.Type)
		}
		typ, p, sc := columnInfo(at)
		cols[i] = map[string]any{"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": col.Name, "Label": col.Name,
			"Type": typ, "Precision": p, "Scale": sc, "Nullable": "UNKNOWN", "CaseSensitive": typ == "varchar"}
	}
	for _, r := range pg.Rows {
		d := make([]datum, len(r))
		for i := range r {
			// The CSV cannot tell NULL from '' (nor can Athena's); Athena
			// answers an empty value without VarCharValue.
			if r[i] != "" {
				d[i] = datum{&r[i]}
			}
		}
		rows = append(rows, row{d})
	}
	out := map[string]any{
		"UpdateCount": 0,
		"ResultSet":   map[string]any{"Rows": rows, "ResultSetMetadata": map[string]any{"ColumnInfo": cols}},
	}
	if n, ok, err := s.updateCount(ctx, ex); err != nil {
		return nil, err
	} else if ok {
		out["UpdateCount"] = n
	}
	if pg.NextToken != "" {
		out["NextToken"] = pg.NextToken
	}
	return out, nil
}

// updateCount is Athena's UpdateCount of a statement that wrote rows (CTAS,
// INSERT, MERGE, UPDATE, DELETE, UNLOAD): the count its result holds, in
// its one row's "rows" column.
func (s *Server) updateCount(ctx context.Context, ex query.Execution) (int64, bool, error) {
	if !query.WritesRows(query.SubstatementType(ex.SQL)) {
		return 0, false, nil
	}
	pg, err := s.d.Async.Results(ctx, ex.ID, "", 1)
	if err != nil {
		return 0, false, err
	}
	if len(pg.Columns) == 0 || pg.Columns[0].Name != "rows" || len(pg.Rows) != 1 {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(pg.Rows[0][0], 10, 64)
	if err != nil {
		return 0, false, nil
	}
	return n, true, nil
}

func (s *Server) stopQueryExecution(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct{ QueryExecutionId string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ex, err := s.execution(ctx, c, in.QueryExecutionId, "athena:StopQueryExecution")
	if err != nil {
		return nil, err
	}
	return nil, s.d.Async.Cancel(ctx, ex.ID)
}

func (s *Server) listQueryExecutions(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		WorkGroup  string
		NextToken  string
		MaxResults int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	wg, err := checkWorkgroup(in.WorkGroup)
	if err != nil {
		return nil, err
	}
	if in.MaxResults < 0 || in.MaxResults > 50 {
		return nil, athenaInvalid("MaxResults %d is not between 0 and 50", in.MaxResults)
	}
	max := in.MaxResults
	if max == 0 {
		max = 50
	}
	start := 0
	if in.NextToken != "" {
		if start, err = strconv.Atoi(in.NextToken); err != nil || start < 0 || start > 100000 {
			return nil, athenaInvalid("NextToken %q is not one this server issued", truncate(in.NextToken, 40))
		}
	}
	exs, err := s.d.Queries.HistoryVisible(ctx, start+max+1, func(ex query.Execution) bool {
		if ex.Workgroup != wg {
			return false
		}
		if ex.AccessKey != "" && ex.AccessKey == c.p.Key.AccessKeyID {
			return true
		}
		return c.p.Authorize("athena:ListQueryExecutions", auth.WorkgroupResource(ex.Workgroup)) == nil
	})
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for i := start; i < len(exs) && i < start+max; i++ {
		ids = append(ids, exs[i].ID)
	}
	out := map[string]any{"QueryExecutionIds": ids}
	if len(exs) > start+max {
		out["NextToken"] = strconv.Itoa(start + max)
	}
	return out, nil
}

func (s *Server) batchGetQueryExecution(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct{ QueryExecutionIds []string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.QueryExecutionIds) == 0 || len(in.QueryExecutionIds) > 50 {
		return nil, athenaInvalid("QueryExecutionIds has %d ids; give 1 to 50", len(in.QueryExecutionIds))
	}
	found := []map[string]any{}
	type unprocessed struct {
		QueryExecutionID string `json:"QueryExecutionId"`
		ErrorCode        string `json:"ErrorCode"`
		ErrorMessage     string `json:"ErrorMessage"`
	}
	missing := []unprocessed{}
	for _, id := range in.QueryExecutionIds {
		ex, err := s.execution(ctx, c, id, "athena:BatchGetQueryExecution")
		if err != nil {
			code, _ := s.errorCode(err, "athena")
			missing = append(missing, unprocessed{id, code, err.Error()})
			continue
		}
		found = append(found, s.queryExecution(ctx, ex))
	}
	return map[string]any{"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing}, nil
}

// Workgroups.

type workGroupConfiguration struct {
	ResultConfiguration *struct {
		OutputLocation string `json:"OutputLocation,omitempty"`
	} `json:"ResultConfiguration,omitempty"`
	EnforceWorkGroupConfiguration   *bool  `json:"EnforceWorkGroupConfiguration,omitempty"`
	PublishCloudWatchMetricsEnabled *bool  `json:"PublishCloudWatchMetricsEnabled,omitempty"`
	BytesScannedCutoffPerQuery      *int64 `json:"BytesScannedCutoffPerQuery,omitempty"`
	RequesterPaysEnabled            *bool  `json:"RequesterPaysEnabled,omitempty"`
}

func (s *Server) authorizeOutput(c *call, loc string) error {
	if loc == "" {
		return nil
	}
	u, err := storage.ParseURI(loc)
	if err != nil {
		return athenaInvalid("OutputLocation %q: %v", truncate(loc, 120), err)
	}
	return c.p.Authorize("s3:PutObject", auth.S3Resource(u.Bucket, u.Key))
}

func (s *Server) createWorkGroup(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		Name          string
		Description   string
		Configuration workGroupConfiguration
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Name == "" {
		return nil, athenaInvalid("Name is required")
	}
	n, err := checkWorkgroup(in.Name)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("athena:CreateWorkGroup", auth.WorkgroupResource(n)); err != nil {
		return nil, err
	}
	w := query.Workgroup{Name: n, Description: in.Description}
	if rc := in.Configuration.ResultConfiguration; rc != nil {
		w.ResultLocation = rc.OutputLocation
	}
	if b := in.Configuration.BytesScannedCutoffPerQuery; b != nil {
		w.BytesScannedCutoff = *b
	}
	// Results are written with the creator's rights, as the REST API does.
	if err := s.authorizeOutput(c, w.ResultLocation); err != nil {
		return nil, err
	}
	return nil, s.d.Queries.CreateWorkgroup(ctx, w)
}

func fromWorkgroup(w query.Workgroup) map[string]any {
	conf := map[string]any{
		"ResultConfiguration":             map[string]string{"OutputLocation": w.ResultLocation},
		"EnforceWorkGroupConfiguration":   true,
		"PublishCloudWatchMetricsEnabled": false,
		"RequesterPaysEnabled":            false,
		"EngineVersion":                   map[string]string{"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "tarn (DuckDB)"},
	}
	if w.BytesScannedCutoff > 0 {
		conf["BytesScannedCutoffPerQuery"] = w.BytesScannedCutoff
	}
	out := map[string]any{"Name": w.Name, "State": "ENABLED", "Configuration": conf, "Description": w.Description}
	if !w.CreatedAt.IsZero() {
		out["CreationTime"] = epoch(w.CreatedAt)
	}
	return out
}

func (s *Server) getWorkGroup(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct{ WorkGroup string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.WorkGroup == "" {
		return nil, athenaInvalid("WorkGroup is required")
	}
	n, err := checkWorkgroup(in.WorkGroup)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("athena:GetWorkGroup", auth.WorkgroupResource(n)); err != nil {
		return nil, err
	}
	w, err := s.d.Queries.Workgroup(ctx, n)
	if err != nil {
		return nil, err
	}
	return map[string]any{"WorkGroup": fromWorkgroup(w)}, nil
}

func (s *Server) updateWorkGroup(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		WorkGroup            string
		Description          *string
		State                string
		ConfigurationUpdates struct {
			ResultConfigurationUpdates *struct {
				OutputLocation       string
				RemoveOutputLocation bool
			}
			BytesScannedCutoffPerQuery       *int64
			RemoveBytesScannedCutoffPerQuery bool
		}
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.WorkGroup == "" {
		return nil, athenaInvalid("WorkGroup is required")
	}
	n, err := checkWorkgroup(in.WorkGroup)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("athena:UpdateWorkGroup", auth.WorkgroupResource(n)); err != nil {
		return nil, err
	}
	if in.State == "DISABLED" {
		return nil, athenaInvalid("tarn cannot disable a workgroup; delete it, or deny athena:StartQueryExecution on it in the keys' policies")
	}
	w, err := s.d.Queries.Workgroup(ctx, n)
	if err != nil {
		return nil, err
	}
	if in.Description != nil {
		w.Description = *in.Description
	}
	cu := in.ConfigurationUpdates
	if r := cu.ResultConfigurationUpdates; r != nil {
		if r.RemoveOutputLocation {
			w.ResultLocation = ""
		} else if r.OutputLocation != "" {
			if err := s.authorizeOutput(c, r.OutputLocation); err != nil {
				return nil, err
			}
			w.ResultLocation = r.OutputLocation
		}
	}
	if cu.RemoveBytesScannedCutoffPerQuery {
		w.BytesScannedCutoff = 0
	} else if cu.BytesScannedCutoffPerQuery != nil {
		w.BytesScannedCutoff = *cu.BytesScannedCutoffPerQuery
	}
	return nil, s.d.Queries.UpdateWorkgroup(ctx, w)
}

func (s *Server) deleteWorkGroup(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct{ WorkGroup string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := checkWorkgroup(in.WorkGroup)
	if err != nil {
		return nil, err
	}
	if n == query.PrimaryWorkgroup {
		return nil, athenaInvalid("the primary workgroup cannot be deleted")
	}
	if err := c.p.Authorize("athena:DeleteWorkGroup", auth.WorkgroupResource(n)); err != nil {
		return nil, err
	}
	return nil, s.d.Queries.DeleteWorkgroup(ctx, n)
}

func (s *Server) listWorkGroups(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		NextToken  string
		MaxResults int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("athena:ListWorkGroups", auth.WorkgroupResource("*")); err != nil {
		return nil, err
	}
	ws, err := s.d.Queries.Workgroups(ctx)
	if err != nil {
		return nil, err
	}
	lo, hi, next, err := page(len(ws), in.NextToken, in.MaxResults, 50, 50)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, w := range ws[lo:hi] {
		m := map[string]any{"Name": w.Name, "State": "ENABLED", "Description": w.Description,
			"EngineVersion": map[string]string{"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "tarn (DuckDB)"}}
		if !w.CreatedAt.IsZero() {
			m["CreationTime"] = epoch(w.CreatedAt)
		}
		out = append(out, m)
	}
	return map[string]any{"WorkGroups": out, "NextToken": next}, nil
}

// Athena's metadata operations read the Glue catalog; the key needs the
// Athena action on the data catalog and the Glue action on what is read,
// as in AWS.

func (s *Server) listDataCatalogs(ctx context.Context, c *call, body []byte) (any, error) {
	if err := c.p.Authorize("athena:ListDataCatalogs", dataCatalogResource("*")); err != nil {
		return nil, err
	}
	return map[string]any{"DataCatalogsSummary": []map[string]string{{"CatalogName": dataCatalog, "Type": "GLUE"}}}, nil
}

func (s *Server) listDatabases(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		CatalogName string
		NextToken   string
		MaxResults  int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkCatalog(in.CatalogName); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("athena:ListDatabases", dataCatalogResource(dataCatalog)); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetDatabases", auth.CatalogResource); err != nil {
		return nil, err
	}
	dbs, err := s.d.Catalog.ListDatabases(ctx)
	if err != nil {
		return nil, err
	}
	lo, hi, next, err := page(len(dbs), in.NextToken, in.MaxResults, 50, 50)
	if err != nil {
		return nil, athenaInvalid("%v", err)
	}
	out := []map[string]any{}
	for _, d := range dbs[lo:hi] {
		p := d.Properties
		if p == nil {
			p = map[string]string{}
		}
		out = append(out, map[string]any{"Name": d.Name, "Description": d.Description, "Parameters": p})
	}
	return map[string]any{"DatabaseList": out, "NextToken": next}, nil
}

func tableMetadata(t catalog.Table) map[string]any {
	gt := fromTable(t)
	return map[string]any{"Name": t.Name, "CreateTime": epoch(t.CreatedAt), "LastAccessTime": epoch(t.UpdatedAt), "TableType": t.TableType,
		"Columns": gt.StorageDescriptor.Columns, "PartitionKeys": gt.PartitionKeys, "Parameters": gt.Parameters}
}

func athenaDatabase(n string) (string, error) {
	if n == "" {
		return "", athenaInvalid("DatabaseName is required")
	}
	db, err := catalog.NormalizeName(n)
	if err != nil {
		return "", athenaInvalid("DatabaseName %q: %v", truncate(n, 80), err)
	}
	return db, nil
}

// metadataError answers a missing database or table as Athena does.
func metadataError(err error) error {
	if errors.Is(err, catalog.ErrNoSuchDatabase) || errors.Is(err, catalog.ErrNoSuchTable) {
		return errorf("MetadataException", "%v", err)
	}
	return err
}

func (s *Server) listTableMetadata(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		CatalogName  string
		DatabaseName string
		Expression   string
		NextToken    string
		MaxResults   int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkCatalog(in.CatalogName); err != nil {
		return nil, err
	}
	db, err := athenaDatabase(in.DatabaseName)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("athena:ListTableMetadata", dataCatalogResource(dataCatalog)); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetTables", auth.DatabaseResource(db)); err != nil {
		return nil, err
	}
	re, err := tablePattern(in.Expression)
	if err != nil {
		return nil, athenaInvalid("%v", err)
	}
	ts, err := s.d.Catalog.ListTables(ctx, db)
	if err != nil {
		return nil, metadataError(err)
	}
	var keep []catalog.Table
	for _, t := range ts {
		if (re == nil || re.MatchString(t.Name)) && c.p.Authorize("glue:GetTable", auth.TableResource(db, t.Name)) == nil {
			keep = append(keep, t)
		}
	}
	lo, hi, next, err := page(len(keep), in.NextToken, in.MaxResults, 50, 50)
	if err != nil {
		return nil, athenaInvalid("%v", err)
	}
	out := []map[string]any{}
	for _, t := range keep[lo:hi] {
		out = append(out, tableMetadata(t))
	}
	return map[string]any{"TableMetadataList": out, "NextToken": next}, nil
}

func (s *Server) getTableMetadata(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		CatalogName  string
		DatabaseName string
		TableName    string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkCatalog(in.CatalogName); err != nil {
		return nil, err
	}
	db, err := athenaDatabase(in.DatabaseName)
	if err != nil {
		return nil, err
	}
	tn, err := catalog.NormalizeName(in.TableName)
	if err != nil {
		return nil, athenaInvalid("TableName %q: %v", truncate(in.TableName, 80), err)
	}
	if err := c.p.Authorize("athena:GetTableMetadata", dataCatalogResource(dataCatalog)); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetTable", auth.TableResource(db, tn)); err != nil {
		return nil, err
	}
	t, err := s.d.Catalog.GetTable(ctx, db, tn)
	if err != nil {
		return nil, metadataError(err)
	}
	return map[string]any{"TableMetadata": tableMetadata(t)}, nil
}
