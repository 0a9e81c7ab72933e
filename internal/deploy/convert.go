package deploy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/alarms"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/dbt"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// Resource kinds, in the order apply creates them (and deletes them in
// reverse): what a resource refers to exists before it.
const (
	KindBucket    = "bucket"
	KindDatabase  = "database"
	KindTable     = "table"
	KindWorkgroup = "workgroup"
	KindAccessKey = "access_key"
	KindCrawler   = "crawler"
	KindJob       = "job"
	KindWorkflow  = "workflow"
	KindTrigger   = "trigger"
	KindAlarm     = "alarm"
)

// Kinds lists the kinds in creation order.
var Kinds = []string{KindBucket, KindDatabase, KindTable, KindWorkgroup, KindAccessKey, KindCrawler, KindJob, KindWorkflow, KindTrigger, KindAlarm}

// resource is one declared resource: its normalized YAML view (what is
// compared and exported) and the service's value (what is stored).
type resource struct {
	kind, name string
	path       string // "jobs[0]"
	view       any
	spec       any
}

// check validates every resource with its service's own rules, normalizes
// it (defaults filled in, as the service stores it) and checks names.
func (f *File) check() {
	if f.Name == "" {
		f.errAt("name", "required: the stack name under which this file's resources are recorded (e.g. name: sales)")
	} else if !stackNameRE.MatchString(f.Name) {
		f.errAt("name", "%q must be 1-128 letters, digits, '_', '-' or '.'", f.Name)
	}
	for i, b := range f.Buckets {
		p := fmt.Sprintf("buckets[%d]", i)
		if err := storage.ValidateBucketName(b.Name); err != nil {
			f.errAt(p+".name", "%v", err)
			continue
		}
		switch b.Versioning {
		case storage.VersioningUnversioned, storage.VersioningEnabled, storage.VersioningSuspended:
		default:
			f.errAt(p+".versioning", "%q is not Enabled or Suspended", b.Versioning)
			continue
		}
		f.add(KindBucket, b.Name, p, b, b)
	}
	for i, db := range f.Databases {
		p := fmt.Sprintf("databases[%d]", i)
		name, err := catalog.NormalizeName(db.Name)
		if err != nil {
			f.errAt(p+".name", "%v", err)
			continue
		}
		if db.Location != "" {
			if _, err := storage.ParseURI(db.Location); err != nil {
				f.errAt(p+".location", "%v", err)
				continue
			}
		}
		spec := catalog.Database{Name: name, Description: db.Description, Location: db.Location, Properties: db.Properties}
		f.add(KindDatabase, name, p, databaseView(spec), spec)
		for j, t := range db.Tables {
			tp := fmt.Sprintf("%s.tables[%d]", p, j)
			spec, ok := f.checkTable(tp, name, t)
			if ok {
				f.add(KindTable, spec.FullName(), tp, t, spec)
			}
		}
	}
	for i, w := range f.Workgroups {
		p := fmt.Sprintf("workgroups[%d]", i)
		spec, view, err := normalize(KindWorkgroup, w)
		if err != nil {
			if strings.Contains(err.Error(), "name") && !strings.Contains(err.Error(), ": result_location") {
				f.errAt(p+".name", "%v", err)
			} else {
				f.specErr(p, err)
			}
			continue
		}
		f.add(KindWorkgroup, w.Name, p, view, spec)
	}
	for i, k := range f.AccessKeys {
		p := fmt.Sprintf("access_keys[%d]", i)
		if err := auth.ValidateKeyName(k.Name); err != nil {
			f.errAt(p+".name", "%v", err)
			continue
		}
		if len(k.Policy.Statement) == 0 {
			f.errAt(p+".policy", "required: a policy with at least one Statement (keys declared here are never admin keys)")
			continue
		}
		pol := toPolicy(k.Policy)
		if err := pol.Validate(); err != nil {
			f.specErr(p, err)
			continue
		}
		f.add(KindAccessKey, k.Name, p, AccessKey{Name: k.Name, Policy: policyView(pol)}, pol)
	}
	for i, c := range f.Crawlers {
		p := fmt.Sprintf("crawlers[%d]", i)
		spec, view, err := normalize(KindCrawler, c)
		if err != nil {
			f.specErr(p, err)
			continue
		}
		f.add(KindCrawler, view.(Crawler).Name, p, view, spec)
	}
	for i, j := range f.Jobs {
		p := fmt.Sprintf("jobs[%d]", i)
		switch {
		case j.SQL != "" && j.SQLFile != "":
			f.errAt(p+".sql_file", "give sql or sql_file, not both")
			continue
		case j.SQLFile != "":
			text, ok := f.sqlFile(p+".sql_file", j.SQLFile)
			if !ok {
				continue
			}
			j.SQL = text
		case strings.TrimSpace(j.SQL) == "":
			f.errAt(p, "a job needs sql (inline) or sql_file (a path relative to this file)")
			continue
		}
		spec, view, err := normalize(KindJob, j)
		if err != nil {
			f.specErr(p, err)
			continue
		}
		js := spec.(jobs.Spec)
		js.SQLFile = j.SQLFile
		f.add(KindJob, js.Name, p, view, js)
	}
	for i, w := range f.Workflows {
		p := fmt.Sprintf("workflows[%d]", i)
		spec, view, err := normalize(KindWorkflow, w)
		if err != nil {
			f.specErr(p, err)
			continue
		}
		f.add(KindWorkflow, w.Name, p, view, spec)
	}
	for i, t := range f.Triggers {
		p := fmt.Sprintf("triggers[%d]", i)
		spec, view, err := normalize(KindTrigger, t)
		if err != nil {
			f.specErr(p, err)
			continue
		}
		f.add(KindTrigger, t.Name, p, view, spec)
	}
	for i, a := range f.Alarms {
		p := fmt.Sprintf("alarms[%d]", i)
		spec, view, err := normalize(KindAlarm, a)
		if err != nil {
			f.specErr(p, err)
			continue
		}
		f.add(KindAlarm, a.Name, p, view, spec)
	}
}

// normalize validates a view with its service's rules and returns the
// service's value and the view as the service would store it.
func normalize(kind string, view any) (spec, norm any, err error) {
	switch v := view.(type) {
	case Workgroup:
		s := query.Workgroup{Name: v.Name, Description: v.Description, ResultLocation: v.ResultLocation,
			BytesScannedCutoff: int64(v.BytesScannedCutoff), RequirePartitionFilter: slices.Clone(v.RequirePartitionFilter), MaxConcurrent: v.MaxConcurrent}
		err = s.Validate()
		return s, workgroupView(s), err
	case Crawler:
		s := crawler.Spec{Name: v.Name, Database: v.Database, Description: v.Description, Targets: slices.Clone(v.Targets),
			Exclusions: slices.Clone(v.Exclusions), SchemaChangePolicy: v.SchemaChangePolicy, DeleteBehavior: v.DeleteBehavior, RecrawlPolicy: v.RecrawlPolicy}
		err = s.Validate()
		return s, crawlerView(s), err
	case Job:
		s := jobs.Spec{Name: v.Name, Description: v.Description, SQL: v.SQL, Args: maps.Clone(v.Args), Target: v.Target,
			Format: v.Format, Compression: v.Compression, PartitionBy: slices.Clone(v.PartitionBy), Mode: v.Mode, MergeKey: slices.Clone(v.MergeKey), FileSize: int64(v.FileSize),
			Table: v.Table, Bookmarks: v.Bookmarks, Timeout: time.Duration(v.Timeout), MaxRetries: v.MaxRetries,
			MaxConcurrentRuns: v.MaxConcurrentRuns, MaxRejected: v.MaxRejected}
		err = s.Validate()
		return s, jobView(s), err
	case Workflow:
		s := toWorkflow(v)
		err = s.Validate()
		return s, workflowView(s), err
	case Trigger:
		s := workflow.Trigger{Name: v.Name, Type: v.Type, Workflow: v.Workflow, Job: v.Job, Crawler: v.Crawler,
			Properties: maps.Clone(v.Properties), Schedule: v.Schedule, Timezone: v.Timezone, Prefix: v.Prefix, Suffix: v.Suffix,
			BatchSize: v.BatchSize, BatchWindow: workflow.Duration(v.BatchWindow), Poll: workflow.Duration(v.Poll), Enabled: v.Enabled == nil || *v.Enabled}
		err = s.Validate()
		return s, triggerView(s), err
	case Alarm:
		s := alarms.Alarm{Name: v.Name, Description: v.Description, Rule: v.Rule, Target: v.Target, Threshold: v.Threshold,
			MaxAge: workflow.Duration(v.MaxAge), Webhook: v.Webhook}
		err = s.Validate()
		return s, alarmView(s), err
	}
	return view, view, nil
}

// add records a valid resource; a name given twice is an error.
func (f *File) add(kind, name, path string, view, spec any) {
	for _, r := range f.resources {
		if r.kind == kind && r.name == name {
			f.errAt(path+".name", "%s %q is already defined at %s (line %d)", kind, name, r.path, f.dec.line(r.path))
			return
		}
	}
	f.resources = append(f.resources, resource{kind: kind, name: name, path: path, view: view, spec: spec})
}

func (f *File) find(kind, name string) *resource {
	for i := range f.resources {
		if f.resources[i].kind == kind && f.resources[i].name == name {
			return &f.resources[i]
		}
	}
	return nil
}

func (f *File) checkTable(path, db string, t Table) (catalog.Table, bool) {
	name, err := catalog.NormalizeName(t.Name)
	if err != nil {
		f.errAt(path+".name", "%v", err)
		return catalog.Table{}, false
	}
	format := strings.ToLower(t.Format)
	switch format {
	case catalog.FormatCSV, catalog.FormatJSON, catalog.FormatParquet:
	default:
		f.errAt(path+".format", "%q is not csv, json or parquet", t.Format)
		return catalog.Table{}, false
	}
	if _, err := storage.ParseURI(t.Location); err != nil {
		f.errAt(path+".location", "%v", err)
		return catalog.Table{}, false
	}
	if len(t.Columns) == 0 {
		f.errAt(path+".columns", "a table needs at least one column")
		return catalog.Table{}, false
	}
	cols := func(list []Column, field string) ([]catalog.Column, bool) {
		var out []catalog.Column
		for i, c := range list {
			cp := fmt.Sprintf("%s.%s[%d]", path, field, i)
			if c.Name == "" {
				f.errAt(cp+".name", "required")
				return nil, false
			}
			if _, err := catalog.ParseType(c.Type); err != nil {
				f.errAt(cp+".type", "%v", err)
				return nil, false
			}
			out = append(out, catalog.Column{Name: c.Name, Type: c.Type, Comment: c.Comment})
		}
		return out, true
	}
	c, ok := cols(t.Columns, "columns")
	if !ok {
		return catalog.Table{}, false
	}
	pk, ok := cols(t.PartitionKeys, "partition_keys")
	if !ok {
		return catalog.Table{}, false
	}
	return catalog.Table{Database: db, Name: name, Description: t.Description, Location: t.Location, Format: format,
		FormatOptions: t.FormatOptions, Columns: c, PartitionKeys: pk}, true
}

// The views: a service value as tarn.yaml writes it. Both sides of a
// comparison go through them, so that they compare alike.

func databaseView(d catalog.Database) Database {
	return Database{Name: d.Name, Description: d.Description, Location: d.Location, Properties: nilIfEmpty(d.Properties)}
}

func workgroupView(w query.Workgroup) Workgroup {
	return Workgroup{Name: w.Name, Description: w.Description, ResultLocation: w.ResultLocation, BytesScannedCutoff: Bytes(w.BytesScannedCutoff),
		RequirePartitionFilter: w.RequirePartitionFilter, MaxConcurrent: w.MaxConcurrent}
}

func toPolicy(p Policy) auth.Policy {
	out := auth.Policy{Version: p.Version}
	if out.Version == "" {
		out.Version = auth.PolicyVersion
	}
	for _, st := range p.Statement {
		out.Statements = append(out.Statements, auth.Statement{Sid: st.Sid, Effect: auth.Effect(st.Effect), Actions: st.Action, Resources: st.Resource})
	}
	return out
}

func policyView(p auth.Policy) Policy {
	out := Policy{Version: p.Version}
	if out.Version == "" {
		out.Version = auth.PolicyVersion
	}
	for _, st := range p.Statements {
		out.Statement = append(out.Statement, Statement{Sid: st.Sid, Effect: string(st.Effect), Action: st.Actions, Resource: st.Resources})
	}
	return out
}

func crawlerView(s crawler.Spec) Crawler {
	return Crawler{Name: s.Name, Database: s.Database, Description: s.Description, Targets: s.Targets, Exclusions: nilIfEmptyList(s.Exclusions),
		SchemaChangePolicy: s.SchemaChangePolicy, DeleteBehavior: s.DeleteBehavior, RecrawlPolicy: s.RecrawlPolicy}
}

func jobView(s jobs.Spec) Job {
	return Job{Name: s.Name, Description: s.Description, SQL: s.SQL, Args: nilIfEmpty(s.Args), Target: s.Target, Format: s.Format,
		Compression: s.Compression, PartitionBy: nilIfEmptyList(s.PartitionBy), Mode: s.Mode, MergeKey: nilIfEmptyList(s.MergeKey), FileSize: Bytes(s.FileSize), Table: s.Table,
		Bookmarks: s.Bookmarks, Timeout: Duration(s.Timeout), MaxRetries: s.MaxRetries, MaxConcurrentRuns: s.MaxConcurrentRuns, MaxRejected: s.MaxRejected}
}

func toWorkflow(w Workflow) workflow.Workflow {
	out := workflow.Workflow{Name: w.Name, Description: w.Description, MaxConcurrentRuns: w.MaxConcurrentRuns,
		MaxParallelSteps: w.MaxParallelSteps, Properties: maps.Clone(w.Properties)}
	for _, s := range w.Steps {
		out.Steps = append(out.Steps, workflow.Step{Name: s.Name, Crawler: s.Crawler, Job: s.Job, Args: maps.Clone(s.Args), SQL: s.SQL,
			Database: s.Database, Workgroup: s.Workgroup, DependsOn: slices.Clone(s.DependsOn), Condition: s.Condition, Retries: s.Retries,
			RetryDelay: workflow.Duration(s.RetryDelay), BackoffRate: s.BackoffRate, Timeout: workflow.Duration(s.Timeout)})
		if s.DBT != nil {
			d := dbt.Step(*s.DBT)
			d.Vars = maps.Clone(d.Vars)
			out.Steps[len(out.Steps)-1].DBT = &d
		}
	}
	return out
}

func workflowView(w workflow.Workflow) Workflow {
	out := Workflow{Name: w.Name, Description: w.Description, MaxConcurrentRuns: w.MaxConcurrentRuns, MaxParallelSteps: w.MaxParallelSteps,
		Properties: nilIfEmpty(w.Properties)}
	for _, s := range w.Steps {
		out.Steps = append(out.Steps, Step{Name: s.Name, Crawler: s.Crawler, Job: s.Job, Args: nilIfEmpty(s.Args), SQL: s.SQL,
			Database: s.Database, Workgroup: s.Workgroup, DependsOn: nilIfEmptyList(s.DependsOn), Condition: s.Condition, Retries: s.Retries,
			RetryDelay: Duration(s.RetryDelay), BackoffRate: s.BackoffRate, Timeout: Duration(s.Timeout)})
		if s.DBT != nil {
			d := DBTStep(*s.DBT)
			d.Vars = nilIfEmpty(d.Vars)
			out.Steps[len(out.Steps)-1].DBT = &d
		}
	}
	return out
}

func triggerView(t workflow.Trigger) Trigger {
	enabled := t.Enabled
	return Trigger{Name: t.Name, Type: t.Type, Workflow: t.Workflow, Job: t.Job, Crawler: t.Crawler, Properties: nilIfEmpty(t.Properties),
		Schedule: t.Schedule, Timezone: t.Timezone, Prefix: t.Prefix, Suffix: t.Suffix, BatchSize: t.BatchSize,
		BatchWindow: Duration(t.BatchWindow), Poll: Duration(t.Poll), Enabled: &enabled}
}

func alarmView(a alarms.Alarm) Alarm {
	return Alarm{Name: a.Name, Description: a.Description, Rule: a.Rule, Target: a.Target, Threshold: a.Threshold,
		MaxAge: Duration(a.MaxAge), Webhook: a.Webhook}
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func nilIfEmptyList(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}
