package api

import (
	"encoding/json"
	"reflect"

	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/query"
)

// The services' types become wire types here, field for field: nil stays
// nil (a JSON null), so the answers are what they were when the services'
// types were encoded directly.

// mapSlice converts each element, keeping a nil slice nil.
func mapSlice[T, U any](in []T, f func(T) U) []U {
	if in == nil {
		return nil
	}
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func wireDatabase(d catalog.Database) apitypes.Database {
	return apitypes.Database{Name: d.Name, Description: d.Description, Location: d.Location, Properties: d.Properties, CreatedAt: d.CreatedAt}
}

func wireColumn(c catalog.Column) apitypes.Column {
	return apitypes.Column{Name: c.Name, Type: c.Type, Comment: c.Comment}
}

func wireTable(t catalog.Table) apitypes.Table {
	return apitypes.Table{Database: t.Database, Name: t.Name, Description: t.Description, Location: t.Location, Format: t.Format,
		FormatOptions: t.FormatOptions, Columns: mapSlice(t.Columns, wireColumn), PartitionKeys: mapSlice(t.PartitionKeys, wireColumn),
		TableType: t.TableType, Properties: t.Properties, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, Version: t.Version}
}

func wirePartition(p catalog.Partition) apitypes.Partition {
	return apitypes.Partition{Values: p.Values, Location: p.Location, FileCount: p.FileCount, Bytes: p.Bytes, AddedAt: p.AddedAt}
}

func wireSchemaVersion(v catalog.SchemaVersion) apitypes.SchemaVersion {
	return apitypes.SchemaVersion{Version: v.Version, Columns: mapSlice(v.Columns, wireColumn), PartitionKeys: mapSlice(v.PartitionKeys, wireColumn),
		Format: v.Format, FormatOptions: v.FormatOptions, Location: v.Location, Reason: v.Reason, CreatedAt: v.CreatedAt,
		Changes: mapSlice(v.Changes, wireSchemaChange)}
}

func wireSkippedFile(f catalog.SkippedFile) apitypes.SkippedFile {
	return apitypes.SkippedFile{URI: f.URI, Reason: f.Reason, SkippedAt: f.SkippedAt}
}

// wireList converts a service's list answer, keeping its error.
func wireList[T, U any](in []T, err error, f func(T) U) ([]U, error) {
	if err != nil {
		return nil, err
	}
	return mapSlice(in, f), nil
}

func wireExecution(e query.Execution) apitypes.Execution {
	st := e.Stats
	return apitypes.Execution{ID: e.ID, SQL: e.SQL, Database: e.Database, Workgroup: e.Workgroup, AccessKey: e.AccessKey,
		StatementType: e.StatementType, State: e.State, Error: e.Error, SubmittedAt: e.SubmittedAt, EndedAt: e.EndedAt, ReusedFrom: e.ReusedFrom,
		ResultLocation: e.ResultLocation, ManifestLocation: e.ManifestLocation,
		Stats: apitypes.QueryStats{Rows: st.Rows, BytesScanned: st.BytesScanned, FilesScanned: st.FilesScanned, PartitionsScanned: st.PartitionsScanned,
			PartitionsTotal: st.PartitionsTotal, Planning: st.Planning, Engine: st.Engine, Elapsed: st.Elapsed, CostUSD: st.CostUSD}}
}

// execution answers one execution, or the error.
func execution(e query.Execution, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return wireExecution(e), nil
}

func wireCostSummary(c query.CostSummary) apitypes.CostSummary {
	return apitypes.CostSummary{AccessKey: c.AccessKey, Workgroup: c.Workgroup, Queries: c.Queries, BytesScanned: c.BytesScanned, CostUSD: c.CostUSD}
}

func wireWorkgroup(w query.Workgroup) apitypes.Workgroup {
	return apitypes.Workgroup{Name: w.Name, Description: w.Description, ResultLocation: w.ResultLocation, BytesScannedCutoff: w.BytesScannedCutoff,
		RequirePartitionFilter: w.RequirePartitionFilter, MaxConcurrent: w.MaxConcurrent, QueryTimeoutSeconds: w.QueryTimeoutSeconds,
		MaxResultRows: w.MaxResultRows, CreatedAt: w.CreatedAt}
}

func serviceWorkgroup(w apitypes.Workgroup) query.Workgroup {
	return query.Workgroup{Name: w.Name, Description: w.Description, ResultLocation: w.ResultLocation, BytesScannedCutoff: w.BytesScannedCutoff,
		RequirePartitionFilter: w.RequirePartitionFilter, MaxConcurrent: w.MaxConcurrent, QueryTimeoutSeconds: w.QueryTimeoutSeconds,
		MaxResultRows: w.MaxResultRows, CreatedAt: w.CreatedAt}
}

// workgroup answers one workgroup, or the error.
func workgroup(w query.Workgroup, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return wireWorkgroup(w), nil
}

func wireResultPage(p query.ResultPage) apitypes.ResultPage {
	return apitypes.ResultPage{NextToken: p.NextToken, Rows: p.Values, Columns: mapSlice(p.Columns, func(c query.Column) apitypes.ResultColumn {
		return apitypes.ResultColumn{Name: c.Name, Type: c.Type, AthenaType: c.AthenaType}
	})}
}

func wireCrawlerSpec(c crawler.Spec) apitypes.CrawlerSpec {
	return apitypes.CrawlerSpec{Name: c.Name, Database: c.Database, Description: c.Description, Targets: c.Targets, Exclusions: c.Exclusions,
		SchemaChangePolicy: c.SchemaChangePolicy, DeleteBehavior: c.DeleteBehavior, RecrawlPolicy: c.RecrawlPolicy, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

// crawlerSpec answers one crawler, or the error.
func crawlerSpec(c crawler.Spec, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return wireCrawlerSpec(c), nil
}

func wireSchemaChange(c catalog.SchemaChange) apitypes.SchemaChange {
	return apitypes.SchemaChange{Kind: c.Kind, Column: c.Column, From: c.From, To: c.To}
}

func wireCrawlerRun(r crawler.Run) apitypes.CrawlerRun {
	return apitypes.CrawlerRun{ID: r.ID, Crawler: r.Crawler, State: r.State, DryRun: r.DryRun, AcceptDrift: r.AcceptDrift, StartedAt: r.StartedAt,
		EndedAt: r.EndedAt, FilesScanned: r.FilesScanned, BytesScanned: r.BytesScanned, TablesCreated: r.TablesCreated, TablesUpdated: r.TablesUpdated,
		TablesDeprecated: r.TablesDeprecated, TablesDeleted: r.TablesDeleted, PartitionsAdded: r.PartitionsAdded, PartitionsRemoved: r.PartitionsRemoved,
		Error: r.Error,
		Tables: mapSlice(r.Tables, func(t crawler.TableResult) apitypes.CrawlTableResult {
			return apitypes.CrawlTableResult{Table: t.Table, Action: t.Action, Location: t.Location, Format: t.Format,
				Columns: mapSlice(t.Columns, wireColumn), PartitionKeys: mapSlice(t.PartitionKeys, wireColumn),
				Changes: mapSlice(t.Changes, wireSchemaChange), PartitionsAdded: t.PartitionsAdded, PartitionsRemoved: t.PartitionsRemoved}
		}),
		FileErrors: mapSlice(r.FileErrors, func(e crawler.FileError) apitypes.CrawlFileError {
			return apitypes.CrawlFileError{URI: e.URI, Error: e.Error}
		})}
}

func wireJobSpec(j jobs.Spec) apitypes.JobSpec {
	return apitypes.JobSpec{Name: j.Name, Description: j.Description, SQL: j.SQL, SQLFile: j.SQLFile, Args: j.Args, Target: j.Target,
		Format: j.Format, Compression: j.Compression, PartitionBy: j.PartitionBy, Mode: j.Mode, MergeKey: j.MergeKey, FileSize: j.FileSize, Table: j.Table,
		Bookmarks: j.Bookmarks, Timeout: j.Timeout, MaxRetries: j.MaxRetries, MaxConcurrentRuns: j.MaxConcurrentRuns, MaxRejected: j.MaxRejected,
		RunAs: j.RunAs, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt}
}

// jobSpec answers one job, or the error.
func jobSpec(j jobs.Spec, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return wireJobSpec(j), nil
}

func wireJobRun(r jobs.Run) apitypes.JobRun {
	st := r.Stats
	return apitypes.JobRun{ID: r.ID, Job: r.Job, Attempt: r.Attempt, State: r.State, StartedAt: r.StartedAt, EndedAt: r.EndedAt, Args: r.Args,
		Error: r.Error, Log: r.Log,
		Stats: apitypes.JobStats{RowsRead: st.RowsRead, RowsWritten: st.RowsWritten, RowsRejected: st.RowsRejected, RowsFiltered: st.RowsFiltered,
			RowsDiscarded: st.RowsDiscarded, BytesRead: st.BytesRead, BytesWritten: st.BytesWritten, FilesRead: st.FilesRead,
			FilesWritten: st.FilesWritten, Partitions: st.Partitions, RejectedURI: st.RejectedURI, SnapshotID: st.SnapshotID, RowsUpdated: st.RowsUpdated}}
}

func wireKey(k auth.Key) apitypes.Key {
	var doc json.RawMessage
	// As auth.Key's omitzero: no policy, no field.
	if !reflect.ValueOf(k.Policy).IsZero() {
		doc, _ = json.Marshal(k.Policy)
	}
	return apitypes.Key{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, Name: k.Name, Policy: doc, Admin: k.Admin,
		CreatedAt: k.CreatedAt, User: k.User, Inactive: k.Inactive}
}
