package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tarn-lake/tarn/internal/alarms"
	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/client"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/dbt"
	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// The client speaks the API's wire types (it links no service), the
// commands the services' types: these adapters convert, field for field.

// remoteCatalog is the server's catalog as a catalogService.
type remoteCatalog struct{ k *client.Catalog }

func fromWire[T, U any](in []T, err error, f func(T) U) ([]U, error) {
	if err != nil || in == nil {
		return nil, err
	}
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out, nil
}

func catalogColumns(cs []apitypes.Column) []catalog.Column {
	out, _ := fromWire(cs, nil, func(c apitypes.Column) catalog.Column {
		return catalog.Column{Name: c.Name, Type: c.Type, Comment: c.Comment}
	})
	return out
}

func catalogTable(t apitypes.Table) catalog.Table {
	return catalog.Table{Database: t.Database, Name: t.Name, Description: t.Description, Location: t.Location, Format: t.Format,
		FormatOptions: t.FormatOptions, Columns: catalogColumns(t.Columns), PartitionKeys: catalogColumns(t.PartitionKeys),
		TableType: t.TableType, Properties: t.Properties, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, Version: t.Version}
}

func (r remoteCatalog) ListDatabases(ctx context.Context) ([]catalog.Database, error) {
	dbs, err := r.k.ListDatabases(ctx)
	return fromWire(dbs, err, func(d apitypes.Database) catalog.Database {
		return catalog.Database{Name: d.Name, Description: d.Description, Location: d.Location, Properties: d.Properties, CreatedAt: d.CreatedAt}
	})
}

func (r remoteCatalog) ListTables(ctx context.Context, db string) ([]catalog.Table, error) {
	ts, err := r.k.ListTables(ctx, db)
	return fromWire(ts, err, catalogTable)
}

func (r remoteCatalog) GetTable(ctx context.Context, db, name string) (catalog.Table, error) {
	t, err := r.k.GetTable(ctx, db, name)
	if err != nil {
		return catalog.Table{}, err
	}
	return catalogTable(t), nil
}

func (r remoteCatalog) ListPartitions(ctx context.Context, db, table string) ([]catalog.Partition, error) {
	ps, err := r.k.ListPartitions(ctx, db, table)
	return fromWire(ps, err, func(p apitypes.Partition) catalog.Partition {
		return catalog.Partition{Values: p.Values, Location: p.Location, FileCount: p.FileCount, Bytes: p.Bytes, AddedAt: p.AddedAt}
	})
}

func (r remoteCatalog) SchemaVersions(ctx context.Context, db, table string) ([]catalog.SchemaVersion, error) {
	vs, err := r.k.SchemaVersions(ctx, db, table)
	return fromWire(vs, err, func(v apitypes.SchemaVersion) catalog.SchemaVersion {
		changes, _ := fromWire(v.Changes, nil, func(c apitypes.SchemaChange) catalog.SchemaChange {
			return catalog.SchemaChange{Kind: c.Kind, Column: c.Column, From: c.From, To: c.To}
		})
		return catalog.SchemaVersion{Version: v.Version, Columns: catalogColumns(v.Columns), PartitionKeys: catalogColumns(v.PartitionKeys),
			Format: v.Format, FormatOptions: v.FormatOptions, Location: v.Location, Changes: changes, Reason: v.Reason, CreatedAt: v.CreatedAt}
	})
}

func (r remoteCatalog) SkippedFiles(ctx context.Context, db, table string) ([]catalog.SkippedFile, error) {
	fs, err := r.k.SkippedFiles(ctx, db, table)
	return fromWire(fs, err, func(f apitypes.SkippedFile) catalog.SkippedFile {
		return catalog.SkippedFile{URI: f.URI, Reason: f.Reason, SkippedAt: f.SkippedAt}
	})
}

// remoteQueries is the server's query history and workgroups as a
// queryService.
type remoteQueries struct{ k *client.Queries }

func queryExecution(e apitypes.Execution) query.Execution {
	st := e.Stats
	return query.Execution{ID: e.ID, SQL: e.SQL, Database: e.Database, Workgroup: e.Workgroup, AccessKey: e.AccessKey,
		StatementType: e.StatementType, State: e.State, Error: e.Error, SubmittedAt: e.SubmittedAt, EndedAt: e.EndedAt, ReusedFrom: e.ReusedFrom,
		ResultLocation: e.ResultLocation, ManifestLocation: e.ManifestLocation,
		Stats: query.Stats{Rows: st.Rows, BytesScanned: st.BytesScanned, FilesScanned: st.FilesScanned, PartitionsScanned: st.PartitionsScanned,
			PartitionsTotal: st.PartitionsTotal, Planning: st.Planning, Engine: st.Engine, Elapsed: st.Elapsed, CostUSD: st.CostUSD}}
}

func queryWorkgroup(w apitypes.Workgroup) query.Workgroup {
	return query.Workgroup{Name: w.Name, Description: w.Description, ResultLocation: w.ResultLocation, BytesScannedCutoff: w.BytesScannedCutoff,
		RequirePartitionFilter: w.RequirePartitionFilter, MaxConcurrent: w.MaxConcurrent, QueryTimeoutSeconds: w.QueryTimeoutSeconds,
		MaxResultRows: w.MaxResultRows, CreatedAt: w.CreatedAt}
}

func wireWorkgroup(w query.Workgroup) apitypes.Workgroup {
	return apitypes.Workgroup{Name: w.Name, Description: w.Description, ResultLocation: w.ResultLocation, BytesScannedCutoff: w.BytesScannedCutoff,
		RequirePartitionFilter: w.RequirePartitionFilter, MaxConcurrent: w.MaxConcurrent, QueryTimeoutSeconds: w.QueryTimeoutSeconds,
		MaxResultRows: w.MaxResultRows, CreatedAt: w.CreatedAt}
}

func resultColumns(cs []apitypes.ResultColumn) []query.Column {
	out, _ := fromWire(cs, nil, func(c apitypes.ResultColumn) query.Column {
		return query.Column{Name: c.Name, Type: c.Type, AthenaType: c.AthenaType}
	})
	return out
}

func (r remoteQueries) History(ctx context.Context, limit int) ([]query.Execution, error) {
	exs, err := r.k.History(ctx, limit)
	return fromWire(exs, err, queryExecution)
}

func (r remoteQueries) Summary(ctx context.Context) ([]query.CostSummary, error) {
	cs, err := r.k.Summary(ctx)
	return fromWire(cs, err, func(c apitypes.CostSummary) query.CostSummary {
		return query.CostSummary{AccessKey: c.AccessKey, Workgroup: c.Workgroup, Queries: c.Queries, BytesScanned: c.BytesScanned, CostUSD: c.CostUSD}
	})
}

func (r remoteQueries) CreateWorkgroup(ctx context.Context, w query.Workgroup) error {
	return r.k.CreateWorkgroup(ctx, wireWorkgroup(w))
}

func (r remoteQueries) UpdateWorkgroup(ctx context.Context, w query.Workgroup) error {
	return r.k.UpdateWorkgroup(ctx, wireWorkgroup(w))
}

func (r remoteQueries) Workgroup(ctx context.Context, name string) (query.Workgroup, error) {
	w, err := r.k.Workgroup(ctx, name)
	if err != nil {
		return query.Workgroup{}, err
	}
	return queryWorkgroup(w), nil
}

func (r remoteQueries) Workgroups(ctx context.Context) ([]query.Workgroup, error) {
	ws, err := r.k.Workgroups(ctx)
	return fromWire(ws, err, queryWorkgroup)
}

func (r remoteQueries) DeleteWorkgroup(ctx context.Context, name string) error {
	return r.k.DeleteWorkgroup(ctx, name)
}

// remoteCrawlers is the server's crawlers as a crawlerService.
type remoteCrawlers struct{ k *client.Crawlers }

func wireCrawlerSpec(c crawler.Spec) apitypes.CrawlerSpec {
	return apitypes.CrawlerSpec{Name: c.Name, Database: c.Database, Description: c.Description, Targets: c.Targets, Exclusions: c.Exclusions,
		SchemaChangePolicy: c.SchemaChangePolicy, DeleteBehavior: c.DeleteBehavior, RecrawlPolicy: c.RecrawlPolicy, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

func crawlerSpec(c apitypes.CrawlerSpec) crawler.Spec {
	return crawler.Spec{Name: c.Name, Database: c.Database, Description: c.Description, Targets: c.Targets, Exclusions: c.Exclusions,
		SchemaChangePolicy: c.SchemaChangePolicy, DeleteBehavior: c.DeleteBehavior, RecrawlPolicy: c.RecrawlPolicy, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

func schemaChanges(cs []apitypes.SchemaChange) []catalog.SchemaChange {
	out, _ := fromWire(cs, nil, func(c apitypes.SchemaChange) catalog.SchemaChange {
		return catalog.SchemaChange{Kind: c.Kind, Column: c.Column, From: c.From, To: c.To}
	})
	return out
}

func crawlerRun(r apitypes.CrawlerRun) crawler.Run {
	tables, _ := fromWire(r.Tables, nil, func(t apitypes.CrawlTableResult) crawler.TableResult {
		return crawler.TableResult{Table: t.Table, Action: t.Action, Location: t.Location, Format: t.Format, Columns: catalogColumns(t.Columns),
			PartitionKeys: catalogColumns(t.PartitionKeys), Changes: schemaChanges(t.Changes), PartitionsAdded: t.PartitionsAdded, PartitionsRemoved: t.PartitionsRemoved}
	})
	fileErrors, _ := fromWire(r.FileErrors, nil, func(e apitypes.CrawlFileError) crawler.FileError {
		return crawler.FileError{URI: e.URI, Error: e.Error}
	})
	return crawler.Run{ID: r.ID, Crawler: r.Crawler, State: r.State, DryRun: r.DryRun, AcceptDrift: r.AcceptDrift, StartedAt: r.StartedAt,
		EndedAt: r.EndedAt, FilesScanned: r.FilesScanned, BytesScanned: r.BytesScanned, TablesCreated: r.TablesCreated, TablesUpdated: r.TablesUpdated,
		TablesDeprecated: r.TablesDeprecated, TablesDeleted: r.TablesDeleted, PartitionsAdded: r.PartitionsAdded, PartitionsRemoved: r.PartitionsRemoved,
		Tables: tables, FileErrors: fileErrors, Error: r.Error}
}

func (r remoteCrawlers) Create(ctx context.Context, spec crawler.Spec) error {
	return r.k.Create(ctx, wireCrawlerSpec(spec))
}

func (r remoteCrawlers) Update(ctx context.Context, spec crawler.Spec) error {
	return r.k.Update(ctx, wireCrawlerSpec(spec))
}

func (r remoteCrawlers) Start(ctx context.Context, name string, opts crawler.StartOptions) (crawler.Run, error) {
	co := client.CrawlOptions{DryRun: opts.DryRun, AcceptDrift: opts.AcceptDrift}
	if opts.Progress != nil {
		co.Progress = func(p apitypes.CrawlerProgress) {
			opts.Progress(crawler.Progress{FilesDone: p.FilesDone, FilesTotal: p.FilesTotal, BytesDone: p.BytesDone, Current: p.Current})
		}
	}
	run, err := r.k.Start(ctx, name, co)
	return crawlerRun(run), err
}

func (r remoteCrawlers) Stop(ctx context.Context, name string) error { return r.k.Stop(ctx, name) }

func (r remoteCrawlers) List(ctx context.Context) ([]crawler.Spec, error) {
	cs, err := r.k.List(ctx)
	return fromWire(cs, err, crawlerSpec)
}

func (r remoteCrawlers) Get(ctx context.Context, name string) (crawler.Spec, error) {
	c, err := r.k.Get(ctx, name)
	if err != nil {
		return crawler.Spec{}, err
	}
	return crawlerSpec(c), nil
}

func (r remoteCrawlers) Runs(ctx context.Context, name string) ([]crawler.Run, error) {
	runs, err := r.k.Runs(ctx, name)
	return fromWire(runs, err, crawlerRun)
}

func (r remoteCrawlers) Delete(ctx context.Context, name string) error { return r.k.Delete(ctx, name) }

// remoteJobs is the server's jobs as a jobService.
type remoteJobs struct{ k *client.Jobs }

func wireJobSpec(j jobs.Spec) apitypes.JobSpec {
	return apitypes.JobSpec{Name: j.Name, Description: j.Description, SQL: j.SQL, SQLFile: j.SQLFile, Args: j.Args, Target: j.Target,
		Format: j.Format, Compression: j.Compression, PartitionBy: j.PartitionBy, Mode: j.Mode, MergeKey: j.MergeKey, FileSize: j.FileSize, Table: j.Table,
		Bookmarks: j.Bookmarks, Timeout: j.Timeout, MaxRetries: j.MaxRetries, MaxConcurrentRuns: j.MaxConcurrentRuns, MaxRejected: j.MaxRejected,
		RunAs: j.RunAs, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt}
}

func jobSpec(j apitypes.JobSpec) jobs.Spec {
	return jobs.Spec{Name: j.Name, Description: j.Description, SQL: j.SQL, SQLFile: j.SQLFile, Args: j.Args, Target: j.Target,
		Format: j.Format, Compression: j.Compression, PartitionBy: j.PartitionBy, Mode: j.Mode, MergeKey: j.MergeKey, FileSize: j.FileSize, Table: j.Table,
		Bookmarks: j.Bookmarks, Timeout: j.Timeout, MaxRetries: j.MaxRetries, MaxConcurrentRuns: j.MaxConcurrentRuns, MaxRejected: j.MaxRejected,
		RunAs: j.RunAs, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt}
}

func jobRun(r apitypes.JobRun) jobs.Run {
	st := r.Stats
	return jobs.Run{ID: r.ID, Job: r.Job, Attempt: r.Attempt, State: r.State, StartedAt: r.StartedAt, EndedAt: r.EndedAt, Args: r.Args,
		Error: r.Error, Log: r.Log,
		Stats: jobs.Stats{RowsRead: st.RowsRead, RowsWritten: st.RowsWritten, RowsRejected: st.RowsRejected, RowsFiltered: st.RowsFiltered,
			RowsDiscarded: st.RowsDiscarded, BytesRead: st.BytesRead, BytesWritten: st.BytesWritten, FilesRead: st.FilesRead,
			FilesWritten: st.FilesWritten, Partitions: st.Partitions, RejectedURI: st.RejectedURI, SnapshotID: st.SnapshotID, RowsUpdated: st.RowsUpdated}}
}

func (r remoteJobs) Create(ctx context.Context, spec jobs.Spec) error {
	return r.k.Create(ctx, wireJobSpec(spec))
}
func (r remoteJobs) Update(ctx context.Context, spec jobs.Spec) error {
	return r.k.Update(ctx, wireJobSpec(spec))
}

func (r remoteJobs) Start(ctx context.Context, name string, opts jobs.StartOptions) (jobs.Run, error) {
	run, err := r.k.Start(ctx, name, client.JobOptions{Args: opts.Args, Progress: opts.Progress})
	return jobRun(run), err
}

func (r remoteJobs) List(ctx context.Context) ([]jobs.Spec, error) {
	js, err := r.k.List(ctx)
	return fromWire(js, err, jobSpec)
}

func (r remoteJobs) Get(ctx context.Context, name string) (jobs.Spec, error) {
	j, err := r.k.Get(ctx, name)
	if err != nil {
		return jobs.Spec{}, err
	}
	return jobSpec(j), nil
}

func (r remoteJobs) Runs(ctx context.Context, name string) ([]jobs.Run, error) {
	runs, err := r.k.Runs(ctx, name)
	return fromWire(runs, err, jobRun)
}

func (r remoteJobs) GetRun(ctx context.Context, id string) (jobs.Run, error) {
	run, err := r.k.GetRun(ctx, id)
	if err != nil {
		return jobs.Run{}, err
	}
	return jobRun(run), nil
}

func (r remoteJobs) Stop(ctx context.Context, id string) error { return r.k.Stop(ctx, id) }

func (r remoteJobs) ResetBookmark(ctx context.Context, name string) (int64, error) {
	return r.k.ResetBookmark(ctx, name)
}

func (r remoteJobs) Delete(ctx context.Context, name string) error { return r.k.Delete(ctx, name) }

// remoteKeys is the server's access keys as a keyService.
type remoteKeys struct{ k *client.Keys }

func authKey(k apitypes.Key) (auth.Key, error) {
	out := auth.Key{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, Name: k.Name, Admin: k.Admin, CreatedAt: k.CreatedAt,
		User: k.User, Inactive: k.Inactive}
	if len(k.Policy) > 0 {
		p, err := auth.ParsePolicy(k.Policy)
		if err != nil {
			return auth.Key{}, fmt.Errorf("the server answered key %s with a policy tarn cannot read: %w", k.AccessKeyID, err)
		}
		out.Policy = p
	}
	return out, nil
}

func (r remoteKeys) CreateKey(ctx context.Context, name string, policy auth.Policy) (auth.Key, error) {
	doc, err := json.Marshal(policy)
	if err != nil {
		return auth.Key{}, err
	}
	k, err := r.k.CreateKey(ctx, name, doc)
	if err != nil {
		return auth.Key{}, err
	}
	return authKey(k)
}

func (r remoteKeys) ListKeys(ctx context.Context) ([]auth.Key, error) {
	ks, err := r.k.ListKeys(ctx)
	if err != nil || ks == nil {
		return nil, err
	}
	out := make([]auth.Key, len(ks))
	for i, k := range ks {
		if out[i], err = authKey(k); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r remoteKeys) DeleteKey(ctx context.Context, id string) error { return r.k.DeleteKey(ctx, id) }

// remoteWorkflows is the server's workflows and triggers as a
// workflowService; runs execute in the server's scheduler.
type remoteWorkflows struct{ k *client.Workflows }

func workflowSpec(w apitypes.Workflow) workflow.Workflow {
	steps, _ := fromWire(w.Steps, nil, func(s apitypes.WorkflowStep) workflow.Step {
		return workflow.Step{Name: s.Name, Crawler: s.Crawler, Job: s.Job, Args: s.Args, SQL: s.SQL, Database: s.Database,
			Workgroup: s.Workgroup, DependsOn: s.DependsOn, Condition: s.Condition, Retries: s.Retries, RetryDelay: workflow.Duration(s.RetryDelay),
			BackoffRate: s.BackoffRate, Timeout: workflow.Duration(s.Timeout), Trigger: s.Trigger, DBT: dbtStep(s.DBT)}
	})
	return workflow.Workflow{Name: w.Name, Description: w.Description, MaxConcurrentRuns: w.MaxConcurrentRuns, MaxParallelSteps: w.MaxParallelSteps,
		Properties: w.Properties, Steps: steps, Glue: w.Glue, RunAs: w.RunAs, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
}

func workflowRun(r apitypes.WorkflowRun) workflow.Run {
	steps, _ := fromWire(r.Steps, nil, func(s apitypes.StepRun) workflow.StepRun {
		st := workflow.StepRun{Name: s.Name, Target: s.Target, State: s.State, Attempt: s.Attempt, NextAttemptAt: s.NextAttemptAt,
			ChildID: s.ChildID, StartedAt: s.StartedAt, EndedAt: s.EndedAt, Error: s.Error}
		for _, n := range s.DBT {
			st.DBT = append(st.DBT, dbt.Node(n))
		}
		return st
	})
	return workflow.Run{ID: r.ID, Workflow: r.Workflow, Trigger: r.Trigger, State: r.State, Properties: r.Properties,
		QueuedAt: r.QueuedAt, StartedAt: r.StartedAt, EndedAt: r.EndedAt, Error: r.Error, Steps: steps}
}

func dbtStep(s *apitypes.DBTStep) *dbt.Step {
	if s == nil {
		return nil
	}
	d := dbt.Step(*s)
	return &d
}

func triggerState(t apitypes.TriggerState) workflow.TriggerState {
	tr := t.Trigger
	return workflow.TriggerState{LastFired: t.LastFired, NextFire: t.NextFire, EventCursor: t.EventCursor, LastPoll: t.LastPoll,
		Trigger: workflow.Trigger{Name: tr.Name, Type: tr.Type, Workflow: tr.Workflow, Job: tr.Job, Crawler: tr.Crawler, Properties: tr.Properties,
			Schedule: tr.Schedule, Timezone: tr.Timezone, Prefix: tr.Prefix, Suffix: tr.Suffix, BatchSize: tr.BatchSize,
			BatchWindow: workflow.Duration(tr.BatchWindow), Poll: workflow.Duration(tr.Poll), Enabled: tr.Enabled, CreatedAt: tr.CreatedAt, UpdatedAt: tr.UpdatedAt}}
}

// one converts a single answer, keeping its error.
func one[T, U any](v T, err error, f func(T) U) (U, error) {
	if err != nil {
		var zero U
		return zero, err
	}
	return f(v), nil
}

func (r remoteWorkflows) ListWorkflows(ctx context.Context) ([]workflow.Workflow, error) {
	ws, err := r.k.ListWorkflows(ctx)
	return fromWire(ws, err, workflowSpec)
}

func (r remoteWorkflows) GetWorkflow(ctx context.Context, name string) (workflow.Workflow, error) {
	w, err := r.k.GetWorkflow(ctx, name)
	return one(w, err, workflowSpec)
}

// Start queues a run in the server (opts.Own is ignored: the server's
// scheduler executes it).
func (r remoteWorkflows) Start(ctx context.Context, name string, opts workflow.StartOptions) (workflow.Run, error) {
	run, err := r.k.Start(ctx, name, opts.Properties)
	return one(run, err, workflowRun)
}

func (r remoteWorkflows) Runs(ctx context.Context, name string, limit int) ([]workflow.Run, error) {
	runs, err := r.k.Runs(ctx, name, limit)
	return fromWire(runs, err, workflowRun)
}

func (r remoteWorkflows) GetRun(ctx context.Context, id string) (workflow.Run, error) {
	run, err := r.k.GetRun(ctx, id)
	return one(run, err, workflowRun)
}

func (r remoteWorkflows) Stop(ctx context.Context, id string) error { return r.k.Stop(ctx, id) }

func (r remoteWorkflows) TriggerStates(ctx context.Context) ([]workflow.TriggerState, error) {
	ts, err := r.k.TriggerStates(ctx)
	return fromWire(ts, err, triggerState)
}

func (r remoteWorkflows) SetTriggerEnabled(ctx context.Context, name string, enabled bool) error {
	return r.k.SetTriggerEnabled(ctx, name, enabled)
}

func (r remoteWorkflows) FireTrigger(ctx context.Context, name string, props map[string]string) (workflow.Run, error) {
	run, err := r.k.FireTrigger(ctx, name, props)
	return one(run, err, workflowRun)
}

// remoteEvents is the server's events ledger as an eventService.
type remoteEvents struct{ k *client.Events }

func (r remoteEvents) List(ctx context.Context, opts events.ListOptions) ([]events.Event, error) {
	lo := client.EventListOptions{AfterID: opts.AfterID, Limit: opts.Limit}
	if opts.Prefix.Bucket != "" {
		lo.Prefix = opts.Prefix.String()
	}
	evs, err := r.k.List(ctx, lo)
	return fromWire(evs, err, func(e apitypes.Event) events.Event {
		ds, _ := fromWire(e.Deliveries, nil, func(d apitypes.EventDelivery) events.Delivery {
			return events.Delivery{Trigger: d.Trigger, RunID: d.RunID, DeliveredAt: d.DeliveredAt}
		})
		return events.Event{ID: e.ID, Bucket: e.Bucket, Key: e.Key, VersionID: e.VersionID, Checksum: e.Checksum, ETag: e.ETag, Size: e.Size,
			Via: e.Via, LastModified: e.LastModified, RecordedAt: e.RecordedAt, Deliveries: ds}
	})
}

func (r remoteEvents) Replay(ctx context.Context, trigger string, ids []int64) error {
	return r.k.Replay(ctx, trigger, ids)
}

// remoteAlarms is the server's alarms as an alarmService.
type remoteAlarms struct{ k *client.Alarms }

func alarmStatus(s apitypes.AlarmStatus) alarms.Status {
	a := s.Alarm
	return alarms.Status{State: s.State, Reason: s.Reason, StateChangedAt: s.StateChangedAt, CheckedAt: s.CheckedAt,
		Alarm: alarms.Alarm{Name: a.Name, Description: a.Description, Rule: a.Rule, Target: a.Target, Threshold: a.Threshold,
			MaxAge: workflow.Duration(a.MaxAge), Webhook: a.Webhook, CloudWatch: a.CloudWatch, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}}
}

func (r remoteAlarms) List(ctx context.Context) ([]alarms.Status, error) {
	as, err := r.k.List(ctx)
	return fromWire(as, err, alarmStatus)
}

func (r remoteAlarms) Get(ctx context.Context, name string) (alarms.Status, error) {
	a, err := r.k.Get(ctx, name)
	return one(a, err, alarmStatus)
}

func (r remoteAlarms) History(ctx context.Context, name string, limit int) ([]alarms.Transition, error) {
	h, err := r.k.History(ctx, name, limit)
	return fromWire(h, err, func(t apitypes.AlarmTransition) alarms.Transition {
		return alarms.Transition{At: t.At, OldState: t.OldState, NewState: t.NewState, Reason: t.Reason, Notified: t.Notified}
	})
}
