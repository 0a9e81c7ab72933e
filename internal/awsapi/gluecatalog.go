package awsapi

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/catalog"
)

func itoa(n int) string { return strconv.Itoa(n) }

// page returns the slice of n items a NextToken/MaxResults pair asks for,
// and the token of the next page ("" at the end). Tokens are offsets: a
// listing is ordered by name, so a page boundary stays put across calls.
func page(n int, token string, maxResults, def, limit int) (lo, hi int, next string, err error) {
	if maxResults < 0 || maxResults > limit {
		return 0, 0, "", invalidInput("MaxResults %d is not between 1 and %d", maxResults, limit)
	}
	if maxResults == 0 {
		maxResults = def
	}
	if token != "" {
		lo, err = strconv.Atoi(token)
		if err != nil || lo < 0 {
			return 0, 0, "", invalidInput("NextToken %q is not one this server issued; start again without it", truncate(token, 40))
		}
	}
	lo = min(lo, n)
	hi = min(lo+maxResults, n)
	if hi < n {
		next = strconv.Itoa(hi)
	}
	return lo, hi, next, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// name checks a Glue entity name before it is put into an ARN and so into
// a policy decision: a name with '/' or '*' could otherwise name a
// different resource than the one acted on.
func name(field, v string) (string, error) {
	if err := required(field, v); err != nil {
		return "", err
	}
	n, err := catalog.NormalizeName(v)
	if err != nil {
		return "", invalidInput("%s %q: %v", field, truncate(v, 80), err)
	}
	return n, nil
}

type glueDatabase struct {
	Name        string            `json:"Name"`
	Description string            `json:"Description,omitempty"`
	LocationURI string            `json:"LocationUri,omitempty"`
	Parameters  map[string]string `json:"Parameters"`
	CreateTime  float64           `json:"CreateTime"`
	CatalogID   string            `json:"CatalogId"`
}

type databaseInput struct {
	Name        string            `json:"Name"`
	Description string            `json:"Description"`
	LocationURI string            `json:"LocationUri"`
	Parameters  map[string]string `json:"Parameters"`
}

func fromDatabase(d catalog.Database) glueDatabase {
	p := d.Properties
	if p == nil {
		p = map[string]string{}
	}
	return glueDatabase{Name: d.Name, Description: d.Description, LocationURI: d.Location, Parameters: p, CreateTime: epoch(d.CreatedAt), CatalogID: catalogID}
}

func (s *Server) glueCatalogOps() {
	s.glue("CreateDatabase", s.createDatabase)
	s.glue("GetDatabase", s.getDatabase)
	s.glue("GetDatabases", s.getDatabases)
	s.glue("UpdateDatabase", s.updateDatabase)
	s.glue("DeleteDatabase", s.deleteDatabase)
	s.glue("CreateTable", s.createTable)
	s.glue("GetTable", s.getTable)
	s.glue("GetTables", s.getTables)
	s.glue("UpdateTable", s.updateTable)
	s.glue("DeleteTable", s.deleteTable)
	s.glue("BatchDeleteTable", s.batchDeleteTable)
	s.glue("GetTableVersions", s.getTableVersions)
	s.glue("DeleteTableVersion", s.deleteTableVersion)
	s.glue("BatchDeleteTableVersion", s.batchDeleteTableVersion)
	s.glue("CreatePartition", s.createPartition)
	s.glue("BatchCreatePartition", s.batchCreatePartition)
	s.glue("GetPartition", s.getPartition)
	s.glue("GetPartitions", s.getPartitions)
	s.glue("BatchGetPartition", s.batchGetPartition)
	s.glue("UpdatePartition", s.updatePartition)
	s.glue("DeletePartition", s.deletePartition)
	s.glue("BatchDeletePartition", s.batchDeletePartition)
}

func (s *Server) createDatabase(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct{ DatabaseInput databaseInput }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := name("DatabaseInput.Name", in.DatabaseInput.Name)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:CreateDatabase", auth.DatabaseResource(n)); err != nil {
		return nil, err
	}
	d := in.DatabaseInput
	return nil, s.d.Catalog.CreateDatabase(ctx, catalog.Database{Name: n, Description: d.Description, Location: d.LocationURI, Properties: d.Parameters}, false)
}

func (s *Server) getDatabase(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct{ Name string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := name("Name", in.Name)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetDatabase", auth.DatabaseResource(n)); err != nil {
		return nil, err
	}
	d, err := s.d.Catalog.GetDatabase(ctx, n)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Database": fromDatabase(d)}, nil
}

func (s *Server) getDatabases(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		NextToken  string
		MaxResults int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetDatabases", auth.CatalogResource); err != nil {
		return nil, err
	}
	dbs, err := s.d.Catalog.ListDatabases(ctx)
	if err != nil {
		return nil, err
	}
	lo, hi, next, err := page(len(dbs), in.NextToken, in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	out := make([]glueDatabase, 0, hi-lo)
	for _, d := range dbs[lo:hi] {
		out = append(out, fromDatabase(d))
	}
	return map[string]any{"DatabaseList": out, "NextToken": next}, nil
}

func (s *Server) updateDatabase(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		Name          string
		DatabaseInput databaseInput
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := name("Name", in.Name)
	if err != nil {
		return nil, err
	}
	if in.DatabaseInput.Name != "" && !strings.EqualFold(in.DatabaseInput.Name, n) {
		return nil, invalidInput("tarn cannot rename database %q to %q; create the new one and move its tables", n, in.DatabaseInput.Name)
	}
	if err := c.p.Authorize("glue:UpdateDatabase", auth.DatabaseResource(n)); err != nil {
		return nil, err
	}
	d := in.DatabaseInput
	return nil, s.d.Catalog.UpdateDatabase(ctx, catalog.Database{Name: n, Description: d.Description, Location: d.LocationURI, Properties: d.Parameters})
}

func (s *Server) deleteDatabase(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct{ Name string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n, err := name("Name", in.Name)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:DeleteDatabase", auth.DatabaseResource(n)); err != nil {
		return nil, err
	}
	// Glue deletes a database with its tables: the key must be allowed to
	// delete each of them too.
	ts, err := s.d.Catalog.ListTables(ctx, n)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if err := c.p.Authorize("glue:DeleteTable", auth.TableResource(n, t.Name)); err != nil {
			return nil, err
		}
	}
	return nil, s.d.Catalog.DropDatabase(ctx, n, true)
}

// tableRef is the DatabaseName/Name pair most table operations take.
type tableRef struct {
	DatabaseName string
	Name         string
	TableName    string
}

func (r tableRef) names(tableField string) (db, table string, err error) {
	if db, err = name("DatabaseName", r.DatabaseName); err != nil {
		return "", "", err
	}
	t := r.Name
	if tableField == "TableName" {
		t = r.TableName
	}
	if table, err = name(tableField, t); err != nil {
		return "", "", err
	}
	return db, table, nil
}

func (s *Server) createTable(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		DatabaseName string
		TableInput   tableInput
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	db, err := name("DatabaseName", in.DatabaseName)
	if err != nil {
		return nil, err
	}
	tn, err := name("TableInput.Name", in.TableInput.Name)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:CreateTable", auth.TableResource(db, tn)); err != nil {
		return nil, err
	}
	t, err := toTable(db, in.TableInput)
	if err != nil {
		return nil, err
	}
	return nil, s.d.Catalog.CreateTable(ctx, t)
}

func (s *Server) getTable(ctx context.Context, c *call, body []byte) (any, error) {
	var in tableRef
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	db, tn, err := in.names("Name")
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetTable", auth.TableResource(db, tn)); err != nil {
		return nil, err
	}
	t, err := s.d.Catalog.GetTable(ctx, db, tn)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Table": fromTable(t)}, nil
}

// tablePattern compiles GetTables' Expression the way Hive's metastore
// (and so Glue) reads it: '*' is any run of characters, '|' separates
// alternatives, the rest is a regular expression, matched case-insensitively
// against the whole name.
func tablePattern(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	alts := strings.Split(expr, "|")
	for i, a := range alts {
		alts[i] = "(?:" + strings.ReplaceAll(a, "*", ".*") + ")"
	}
	re, err := regexp.Compile("(?i)^(?:" + strings.Join(alts, "|") + ")$")
	if err != nil {
		return nil, invalidInput("Expression %q is not a table name pattern (such as sales_* or a|b): %v", truncate(expr, 80), err)
	}
	return re, nil
}

func (s *Server) getTables(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		DatabaseName string
		Expression   string
		NextToken    string
		MaxResults   int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	db, err := name("DatabaseName", in.DatabaseName)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetTables", auth.DatabaseResource(db)); err != nil {
		return nil, err
	}
	re, err := tablePattern(in.Expression)
	if err != nil {
		return nil, err
	}
	ts, err := s.d.Catalog.ListTables(ctx, db)
	if err != nil {
		return nil, err
	}
	// A key sees the tables its policy lets it read, as Glue's resource
	// level permissions do.
	var keep []catalog.Table
	for _, t := range ts {
		if re != nil && !re.MatchString(t.Name) {
			continue
		}
		if c.p.Authorize("glue:GetTable", auth.TableResource(db, t.Name)) != nil {
			continue
		}
		keep = append(keep, t)
	}
	lo, hi, next, err := page(len(keep), in.NextToken, in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	out := make([]glueTable, 0, hi-lo)
	for _, t := range keep[lo:hi] {
		out = append(out, fromTable(t))
	}
	return map[string]any{"TableList": out, "NextToken": next}, nil
}

func (s *Server) updateTable(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		DatabaseName string
		TableInput   tableInput
		VersionID    string `json:"VersionId"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	db, err := name("DatabaseName", in.DatabaseName)
	if err != nil {
		return nil, err
	}
	tn, err := name("TableInput.Name", in.TableInput.Name)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:UpdateTable", auth.TableResource(db, tn)); err != nil {
		return nil, err
	}
	cur, err := s.d.Catalog.GetTable(ctx, db, tn)
	if err != nil {
		return nil, err
	}
	t, err := toTable(db, in.TableInput)
	if err != nil {
		return nil, err
	}
	t.Version = cur.Version
	// Glue's optimistic lock: VersionId names the version the update is
	// based on.
	if in.VersionID != "" {
		if t.Version, err = strconv.Atoi(in.VersionID); err != nil {
			return nil, invalidInput("VersionId %q is not a version GetTable answered", truncate(in.VersionID, 40))
		}
	}
	if cur.HasManifest() && strings.TrimSuffix(t.Location, "/") != strings.TrimSuffix(cur.Location, "/") {
		// A table tarn wrote, moved to another location (dbt-athena's ha
		// swap): it is now that location's files, listed from storage, not
		// the files tarn wrote at the old one.
		return nil, s.d.Meta.Tx(ctx, func(tx *sql.Tx) error {
			if _, err := s.d.Catalog.UpdateTableTx(ctx, tx, t, "UpdateTable through the Glue API"); err != nil {
				return err
			}
			return s.d.Catalog.ForgetFilesTx(ctx, tx, db, tn)
		})
	}
	if cur.HasManifest() {
		t.Properties[catalog.PropertyManifest] = "true" // still where tarn wrote it
	}
	_, err = s.d.Catalog.UpdateTable(ctx, t, "UpdateTable through the Glue API")
	return nil, err
}

func (s *Server) deleteTable(ctx context.Context, c *call, body []byte) (any, error) {
	var in tableRef
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	db, tn, err := in.names("Name")
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:DeleteTable", auth.TableResource(db, tn)); err != nil {
		return nil, err
	}
	return nil, s.d.Catalog.DropTable(ctx, db, tn)
}

type errorDetail struct {
	ErrorCode    string `json:"ErrorCode"`
	ErrorMessage string `json:"ErrorMessage"`
}

func (s *Server) detail(err error) errorDetail {
	code, _ := s.errorCode(err, "glue")
	return errorDetail{code, err.Error()}
}

func (s *Server) batchDeleteTable(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		DatabaseName   string
		TablesToDelete []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	db, err := name("DatabaseName", in.DatabaseName)
	if err != nil {
		return nil, err
	}
	if len(in.TablesToDelete) > 100 {
		return nil, invalidInput("TablesToDelete has %d names; at most 100", len(in.TablesToDelete))
	}
	type tableError struct {
		TableName   string      `json:"TableName"`
		ErrorDetail errorDetail `json:"ErrorDetail"`
	}
	errs := []tableError{}
	for _, t := range in.TablesToDelete {
		err := func() error {
			tn, err := name("TablesToDelete", t)
			if err != nil {
				return err
			}
			if err := c.p.Authorize("glue:DeleteTable", auth.TableResource(db, tn)); err != nil {
				return err
			}
			return s.d.Catalog.DropTable(ctx, db, tn)
		}()
		if err != nil {
			errs = append(errs, tableError{t, s.detail(err)})
		}
	}
	return map[string]any{"Errors": errs}, nil
}

func (s *Server) getTableVersions(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		tableRef
		NextToken  string
		MaxResults int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	db, tn, err := in.names("TableName")
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:GetTableVersions", auth.TableResource(db, tn)); err != nil {
		return nil, err
	}
	t, err := s.d.Catalog.GetTable(ctx, db, tn)
	if err != nil {
		return nil, err
	}
	vs, err := s.d.Catalog.SchemaVersions(ctx, db, tn)
	if err != nil {
		return nil, err
	}
	// Newest first, as Glue lists them.
	for i, j := 0, len(vs)-1; i < j; i, j = i+1, j-1 {
		vs[i], vs[j] = vs[j], vs[i]
	}
	lo, hi, next, err := page(len(vs), in.NextToken, in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	type tableVersion struct {
		Table     glueTable `json:"Table"`
		VersionID string    `json:"VersionId"`
	}
	out := make([]tableVersion, 0, hi-lo)
	for _, v := range vs[lo:hi] {
		vt := t
		vt.Columns, vt.PartitionKeys, vt.Format, vt.FormatOptions, vt.Location, vt.Version = v.Columns, v.PartitionKeys, v.Format, v.FormatOptions, v.Location, v.Version
		vt.UpdatedAt = v.CreatedAt
		out = append(out, tableVersion{fromTable(vt), itoa(v.Version)})
	}
	return map[string]any{"TableVersions": out, "NextToken": next}, nil
}

// tableVersionIDs parses Glue's VersionIds ("3").
func tableVersionIDs(ids []string) ([]int, error) {
	out := make([]int, len(ids))
	for i, id := range ids {
		n, err := strconv.Atoi(id)
		if err != nil || n < 1 {
			return nil, invalidInput("VersionId %q is not a table version", truncate(id, 40))
		}
		out[i] = n
	}
	return out, nil
}

// deleteTableVersion deletes one stored version of a table (dbt-athena
// expires old versions so): not the current one.
func (s *Server) deleteTableVersion(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		tableRef
		VersionId string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	db, tn, err := in.names("TableName")
	if err != nil {
		return nil, err
	}
	vs, err := tableVersionIDs([]string{in.VersionId})
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:DeleteTableVersion", auth.TableResource(db, tn)); err != nil {
		return nil, err
	}
	missing, err := s.d.Catalog.DeleteSchemaVersions(ctx, db, tn, vs)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, &awsError{"EntityNotFoundException", http.StatusBadRequest, fmt.Errorf("table %s.%s has no version %d", db, tn, missing[0])}
	}
	return map[string]any{}, nil
}

// batchDeleteTableVersion deletes up to 100 versions of a table; those
// that are not stored are reported in Errors.
func (s *Server) batchDeleteTableVersion(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		tableRef
		VersionIds []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	db, tn, err := in.names("TableName")
	if err != nil {
		return nil, err
	}
	if len(in.VersionIds) == 0 || len(in.VersionIds) > 100 {
		return nil, invalidInput("VersionIds has %d ids; give 1 to 100", len(in.VersionIds))
	}
	vs, err := tableVersionIDs(in.VersionIds)
	if err != nil {
		return nil, err
	}
	if err := c.p.Authorize("glue:BatchDeleteTableVersion", auth.TableResource(db, tn)); err != nil {
		return nil, err
	}
	missing, err := s.d.Catalog.DeleteSchemaVersions(ctx, db, tn, vs)
	if err != nil {
		return nil, err
	}
	type versionError struct {
		TableName   string      `json:"TableName"`
		VersionID   string      `json:"VersionId"`
		ErrorDetail errorDetail `json:"ErrorDetail"`
	}
	errs := []versionError{}
	for _, v := range missing {
		errs = append(errs, versionError{tn, itoa(v), errorDetail{ErrorCode: "EntityNotFoundException", ErrorMessage: fmt.Sprintf("table %s.%s has no version %d", db, tn, v)}})
	}
	return map[string]any{"Errors": errs}, nil
}

// partitionTable reads the table a partition operation names, after the
// key is allowed action on it.
func (s *Server) partitionTable(ctx context.Context, c *call, r tableRef, action string) (catalog.Table, error) {
	db, tn, err := r.names("TableName")
	if err != nil {
		return catalog.Table{}, err
	}
	if err := c.p.Authorize(action, auth.TableResource(db, tn)); err != nil {
		return catalog.Table{}, err
	}
	return s.d.Catalog.GetTable(ctx, db, tn)
}

func toPartition(t catalog.Table, in partitionInput) (catalog.Partition, error) {
	if len(in.Values) != len(t.PartitionKeys) {
		return catalog.Partition{}, invalidInput("table %s has %d partition key(s) (%s); Values has %d", t.FullName(), len(t.PartitionKeys), catalog.ColumnList(t.PartitionKeys), len(in.Values))
	}
	p := catalog.Partition{Values: in.Values}
	if in.StorageDescriptor != nil {
		p.Location = in.StorageDescriptor.Location
	}
	if p.Location == "" {
		p.Location = strings.TrimSuffix(t.Location, "/") + "/" + catalog.PartitionPath(t.PartitionKeys, in.Values)
	}
	return p, nil
}

func (s *Server) createPartition(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		tableRef
		PartitionInput partitionInput
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, err := s.partitionTable(ctx, c, in.tableRef, "glue:CreatePartition")
	if err != nil {
		return nil, err
	}
	p, err := toPartition(t, in.PartitionInput)
	if err != nil {
		return nil, err
	}
	_, err = s.d.Catalog.AddPartitions(ctx, t.Database, t.Name, []catalog.Partition{p}, false)
	return nil, err
}

type partitionError struct {
	PartitionValues []string    `json:"PartitionValues"`
	ErrorDetail     errorDetail `json:"ErrorDetail"`
}

func (s *Server) batchCreatePartition(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		tableRef
		PartitionInputList []partitionInput
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.PartitionInputList) > 100 {
		return nil, invalidInput("PartitionInputList has %d partitions; at most 100 per call", len(in.PartitionInputList))
	}
	t, err := s.partitionTable(ctx, c, in.tableRef, "glue:BatchCreatePartition")
	if err != nil {
		return nil, err
	}
	errs := []partitionError{}
	var ok []catalog.Partition
	for _, pi := range in.PartitionInputList {
		p, err := toPartition(t, pi)
		if err == nil {
			_, err = s.d.Catalog.GetPartition(ctx, t.Database, t.Name, p.Values)
			if err == nil {
				err = fmt.Errorf("partition %s of table %s: %w", catalog.PartitionName(t.PartitionKeys, p.Values), t.FullName(), catalog.ErrPartitionExists)
			} else if errors.Is(err, catalog.ErrNoSuchPartition) {
				err = nil
			}
		}
		if err != nil {
			errs = append(errs, partitionError{pi.Values, s.detail(err)})
			continue
		}
		ok = append(ok, p)
	}
	if len(ok) > 0 {
		// One call, one transaction; a value the catalog refuses (not a
		// number for an int key) fails it, and every partition is reported.
		if _, err := s.d.Catalog.AddPartitions(ctx, t.Database, t.Name, ok, true); err != nil {
			for _, p := range ok {
				errs = append(errs, partitionError{p.Values, s.detail(err)})
			}
		}
	}
	return map[string]any{"Errors": errs}, nil
}

func (s *Server) getPartition(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		tableRef
		PartitionValues []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, err := s.partitionTable(ctx, c, in.tableRef, "glue:GetPartition")
	if err != nil {
		return nil, err
	}
	p, err := s.d.Catalog.GetPartition(ctx, t.Database, t.Name, in.PartitionValues)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Partition": fromPartition(t, fromTable(t), p)}, nil
}

func (s *Server) getPartitions(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		tableRef
		Expression string
		NextToken  string
		MaxResults int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, err := s.partitionTable(ctx, c, in.tableRef, "glue:GetPartitions")
	if err != nil {
		return nil, err
	}
	var filter func([]string) bool
	if strings.TrimSpace(in.Expression) != "" {
		if filter, err = compileExpression(in.Expression, t.PartitionKeys); err != nil {
			return nil, err
		}
	}
	ps, err := s.d.Catalog.ListPartitions(ctx, t.Database, t.Name)
	if err != nil {
		return nil, err
	}
	if filter != nil {
		keep := ps[:0]
		for _, p := range ps {
			if filter(p.Values) {
				keep = append(keep, p)
			}
		}
		ps = keep
	}
	lo, hi, next, err := page(len(ps), in.NextToken, in.MaxResults, 1000, 1000)
	if err != nil {
		return nil, err
	}
	gt := fromTable(t)
	out := make([]gluePartition, 0, hi-lo)
	for _, p := range ps[lo:hi] {
		out = append(out, fromPartition(t, gt, p))
	}
	return map[string]any{"Partitions": out, "NextToken": next}, nil
}

func (s *Server) batchGetPartition(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		tableRef
		PartitionsToGet []struct{ Values []string }
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.PartitionsToGet) > 1000 {
		return nil, invalidInput("PartitionsToGet has %d entries; at most 1000", len(in.PartitionsToGet))
	}
	t, err := s.partitionTable(ctx, c, in.tableRef, "glue:BatchGetPartition")
	if err != nil {
		return nil, err
	}
	gt := fromTable(t)
	out := []gluePartition{}
	type values struct {
		Values []string `json:"Values"`
	}
	missing := []values{}
	for _, want := range in.PartitionsToGet {
		p, err := s.d.Catalog.GetPartition(ctx, t.Database, t.Name, want.Values)
		if errors.Is(err, catalog.ErrNoSuchPartition) {
			missing = append(missing, values{want.Values})
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, fromPartition(t, gt, p))
	}
	return map[string]any{"Partitions": out, "UnprocessedKeys": missing}, nil
}

func (s *Server) updatePartition(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		tableRef
		PartitionValueList []string
		PartitionInput     partitionInput
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, err := s.partitionTable(ctx, c, in.tableRef, "glue:UpdatePartition")
	if err != nil {
		return nil, err
	}
	cur, err := s.d.Catalog.GetPartition(ctx, t.Database, t.Name, in.PartitionValueList)
	if err != nil {
		return nil, err
	}
	if in.PartitionInput.Values == nil {
		in.PartitionInput.Values = cur.Values
	}
	p, err := toPartition(t, in.PartitionInput)
	if err != nil {
		return nil, err
	}
	if in.PartitionInput.StorageDescriptor == nil || in.PartitionInput.StorageDescriptor.Location == "" {
		p.Location = cur.Location
	}
	p.FileCount, p.Bytes = cur.FileCount, cur.Bytes
	if strings.Join(p.Values, "\x00") == strings.Join(cur.Values, "\x00") {
		return nil, s.d.Catalog.UpdatePartitionStats(ctx, t.Database, t.Name, p)
	}
	// New values: the partition moves, in one transaction.
	return nil, s.d.Meta.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.d.Catalog.DropPartitionsTx(ctx, tx, t.Database, t.Name, [][]string{cur.Values}); err != nil {
			return err
		}
		if _, err := s.d.Catalog.AddPartitionsTx(ctx, tx, t.Database, t.Name, []catalog.Partition{p}, false); err != nil {
			return err
		}
		return s.d.Catalog.UpdatePartitionStatsTx(ctx, tx, t.Database, t.Name, p)
	})
}

func (s *Server) deletePartition(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		tableRef
		PartitionValues []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, err := s.partitionTable(ctx, c, in.tableRef, "glue:DeletePartition")
	if err != nil {
		return nil, err
	}
	n, err := s.d.Catalog.DropPartitions(ctx, t.Database, t.Name, [][]string{in.PartitionValues})
	if err == nil && n == 0 {
		err = fmt.Errorf("cannot delete partition %s of table %s: %w", catalog.PartitionName(t.PartitionKeys, in.PartitionValues), t.FullName(), catalog.ErrNoSuchPartition)
	}
	return nil, err
}

func (s *Server) batchDeletePartition(ctx context.Context, c *call, body []byte) (any, error) {
	var in struct {
		tableRef
		PartitionsToDelete []struct{ Values []string }
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.PartitionsToDelete) > 25 {
		return nil, invalidInput("PartitionsToDelete has %d entries; at most 25", len(in.PartitionsToDelete))
	}
	t, err := s.partitionTable(ctx, c, in.tableRef, "glue:BatchDeletePartition")
	if err != nil {
		return nil, err
	}
	errs := []partitionError{}
	for _, p := range in.PartitionsToDelete {
		n, err := s.d.Catalog.DropPartitions(ctx, t.Database, t.Name, [][]string{p.Values})
		if err == nil && n == 0 {
			err = fmt.Errorf("partition %s of table %s: %w", catalog.PartitionName(t.PartitionKeys, p.Values), t.FullName(), catalog.ErrNoSuchPartition)
		}
		if err != nil {
			errs = append(errs, partitionError{p.Values, s.detail(err)})
		}
	}
	return map[string]any{"Errors": errs}, nil
}
