package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tarn-lake/tarn/internal/meta"
)

// Lineage: which job, crawler, query, workflow step or dbt model wrote a
// dataset from which inputs. The catalog stores OpenLineage RunEvents
// (https://openlineage.io/spec) as they are, whether tarn's own services
// emit them or an OpenLineage client (openlineage-python, dbt-ol, Spark's
// listener) posts them, and answers the graph around a dataset from them.
//
// Datasets are named with OpenLineage's naming conventions:
//   - a catalog table: namespace LineageNamespace ("tarn://lake"), name "db.table";
//   - a warehouse table: namespace LineageNamespace, name "warehouse.schema.table";
//   - objects: namespace "s3://bucket", name the key prefix (no leading '/').
//
// Names other producers give tarn's tables are mapped to these when an
// event is recorded: Athena's ("awsathena://…", "awsdatacatalog.db.table")
// and Glue's ("arn:aws:glue:…", "table/db/table").
//
// An edge input → output is recorded by a run that completed: some event
// of the run names the input, some names the output, and one is COMPLETE
// (dbt-ol and Spark send inputs at START and outputs again at COMPLETE).
// The store is bounded: each job keeps its last LineageRetention.PerJob
// events (the event that is some dataset's latest completed write is kept
// as long as it is), and the whole store its last LineageRetention.Total.

// LineageNamespace is the OpenLineage namespace of tarn's catalog tables,
// warehouse tables and tarn's own jobs.
const LineageNamespace = "tarn://lake"

// WarehouseLineagePrefix starts the dataset name of a warehouse table.
const WarehouseLineagePrefix = "warehouse."

// OpenLineage run event types.
const (
	LineageStart    = "START"
	LineageRunning  = "RUNNING"
	LineageComplete = "COMPLETE"
	LineageAbort    = "ABORT"
	LineageFail     = "FAIL"
	LineageOther    = "OTHER"
)

// Job types tarn puts in the jobType job facet of its own events.
const (
	LineageJobTypeJob      = "JOB"
	LineageJobTypeCrawler  = "CRAWLER"
	LineageJobTypeQuery    = "QUERY"
	LineageJobTypeWorkflow = "WORKFLOW_STEP"
	LineageJobTypeModel    = "MODEL" // dbt's (dbt-ol's) jobType for a model
)

// LineageProducer is the producer URI of tarn's own events.
const LineageProducer = "https://github.com/tarn-lake/tarn"

// LineageSchemaURL is the OpenLineage spec version tarn's events follow.
const LineageSchemaURL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"

// Limits of one lineage event.
const (
	MaxLineageEventSize    = 1 << 20 // bytes of the encoded event
	MaxLineageDatasets     = 1000    // inputs + outputs
	MaxLineageNameLength   = 1024    // a namespace or name
	MaxLineageRunIDLength  = 255
	MaxLineageDepth        = 20 // Lineage's depth
	maxLineageEdgesPerNode = 1000
)

// ErrInvalidLineage is returned (wrapped) for an event that is not a valid
// OpenLineage RunEvent, saying which field is wrong.
var ErrInvalidLineage = errors.New("invalid lineage event")

// Facets are OpenLineage facets by name, each kept as the JSON it came as.
type Facets map[string]json.RawMessage

// LineageEvent is an OpenLineage RunEvent.
type LineageEvent struct {
	EventType string           `json:"eventType,omitempty"`
	EventTime time.Time        `json:"eventTime"`
	Producer  string           `json:"producer,omitempty"`
	SchemaURL string           `json:"schemaURL,omitempty"`
	Run       LineageRun       `json:"run"`
	Job       LineageJob       `json:"job"`
	Inputs    []LineageDataset `json:"inputs,omitempty"`
	Outputs   []LineageDataset `json:"outputs,omitempty"`
}

// LineageRun is a RunEvent's run.
type LineageRun struct {
	RunID  string `json:"runId"`
	Facets Facets `json:"facets,omitempty"`
}

// LineageJob is a RunEvent's job.
type LineageJob struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Facets    Facets `json:"facets,omitempty"`
}

// LineageDataset is an input or output dataset of a RunEvent.
type LineageDataset struct {
	Namespace    string `json:"namespace"`
	Name         string `json:"name"`
	Facets       Facets `json:"facets,omitempty"`
	InputFacets  Facets `json:"inputFacets,omitempty"`
	OutputFacets Facets `json:"outputFacets,omitempty"`
}

// Ref returns the dataset's identity.
func (d LineageDataset) Ref() DatasetRef { return DatasetRef{Namespace: d.Namespace, Name: d.Name} }

// DatasetRef names a dataset: an OpenLineage namespace and name.
type DatasetRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (r DatasetRef) String() string { return r.Namespace + "/" + r.Name }

// TableDataset is the lineage dataset of catalog table db.table.
func TableDataset(db, table string) DatasetRef {
	return DatasetRef{Namespace: LineageNamespace, Name: strings.ToLower(db) + "." + strings.ToLower(table)}
}

// WarehouseDataset is the lineage dataset of warehouse table schema.table.
func WarehouseDataset(schema, table string) DatasetRef {
	return DatasetRef{Namespace: LineageNamespace, Name: WarehouseLineagePrefix + strings.ToLower(schema) + "." + strings.ToLower(table)}
}

// ObjectDataset is the lineage dataset of the objects under an s3:// URI
// (a bucket and key prefix): namespace "s3://bucket", name the prefix.
func ObjectDataset(uri string) DatasetRef {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return DatasetRef{Namespace: "file", Name: uri}
	}
	bucket, key, _ := strings.Cut(rest, "/")
	key = strings.TrimSuffix(key, "/")
	if key == "" {
		key = "/"
	}
	return DatasetRef{Namespace: "s3://" + bucket, Name: key}
}

// CatalogTable reports whether r names a catalog table, and which.
func (r DatasetRef) CatalogTable() (db, table string, ok bool) {
	if r.Namespace != LineageNamespace || strings.HasPrefix(r.Name, WarehouseLineagePrefix) && strings.Count(r.Name, ".") == 2 {
		return "", "", false
	}
	db, table, ok = strings.Cut(r.Name, ".")
	if !ok || strings.Contains(table, ".") {
		return "", "", false
	}
	return db, table, true
}

// WarehouseTable reports whether r names a warehouse table, and which.
func (r DatasetRef) WarehouseTable() (schema, table string, ok bool) {
	rest, found := strings.CutPrefix(r.Name, WarehouseLineagePrefix)
	if r.Namespace != LineageNamespace || !found {
		return "", "", false
	}
	schema, table, ok = strings.Cut(rest, ".")
	if !ok || schema == "" || table == "" || strings.Contains(table, ".") {
		return "", "", false
	}
	return schema, table, true
}

// CanonicalDataset maps the names other producers give tarn's catalog
// tables (Athena's and Glue's) to tarn's, and lower-cases catalog names.
func CanonicalDataset(r DatasetRef) DatasetRef {
	switch {
	case strings.HasPrefix(r.Namespace, "awsathena://"):
		parts := strings.Split(r.Name, ".")
		if len(parts) == 3 && strings.EqualFold(parts[0], "awsdatacatalog") {
			return TableDataset(parts[1], parts[2])
		}
		if len(parts) == 2 {
			return TableDataset(parts[0], parts[1])
		}
	case strings.HasPrefix(r.Namespace, "arn:aws:glue:"):
		if rest, ok := strings.CutPrefix(r.Name, "table/"); ok {
			if db, t, ok := strings.Cut(rest, "/"); ok && !strings.Contains(t, "/") {
				return TableDataset(db, t)
			}
		}
	case r.Namespace == LineageNamespace:
		return DatasetRef{Namespace: r.Namespace, Name: strings.ToLower(r.Name)}
	}
	return r
}

// OutputStatistics returns the outputStatistics facet (rows and bytes
// written) for a dataset's OutputFacets; a negative figure is left out.
func OutputStatistics(rows, bytes int64) Facets {
	m := map[string]any{"_producer": LineageProducer,
		"_schemaURL": "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json"}
	if rows >= 0 {
		m["rowCount"] = rows
	}
	if bytes >= 0 {
		m["size"] = bytes
	}
	b, _ := json.Marshal(m)
	return Facets{"outputStatistics": b}
}

// JobTypeFacet returns the jobType job facet (processing type BATCH,
// integration TARN) for a job of the given type (LineageJobType*).
func JobTypeFacet(jobType string) Facets {
	b, _ := json.Marshal(map[string]string{"_producer": LineageProducer,
		"_schemaURL":     "https://openlineage.io/spec/facets/2-0-3/JobTypeJobFacet.json",
		"processingType": "BATCH", "integration": "TARN", "jobType": jobType})
	return Facets{"jobType": b}
}

// ParentRunFacet returns the parent run facet that ties a run (a workflow
// step's job run) to its parent (the workflow run).
func ParentRunFacet(parentRunID, parentNamespace, parentJob string) Facets {
	b, _ := json.Marshal(map[string]any{"_producer": LineageProducer,
		"_schemaURL": "https://openlineage.io/spec/facets/1-1-0/ParentRunFacet.json",
		"run":        map[string]string{"runId": parentRunID},
		"job":        map[string]string{"namespace": parentNamespace, "name": parentJob}})
	return Facets{"parent": b}
}

// rowsOf reads outputStatistics.rowCount of a dataset, or -1.
func rowsOf(d LineageDataset) int64 {
	raw, ok := d.OutputFacets["outputStatistics"]
	if !ok {
		return -1
	}
	var st struct {
		RowCount *int64 `json:"rowCount"`
	}
	if json.Unmarshal(raw, &st) != nil || st.RowCount == nil {
		return -1
	}
	return *st.RowCount
}

// jobTypeOf reads the jobType facet's jobType of a job, or "".
func jobTypeOf(j LineageJob) string {
	raw, ok := j.Facets["jobType"]
	if !ok {
		return ""
	}
	var f struct {
		JobType string `json:"jobType"`
	}
	_ = json.Unmarshal(raw, &f)
	return f.JobType
}

func validLineageText(field, s string, max int) error {
	if s == "" {
		return fmt.Errorf("%w: %s is required", ErrInvalidLineage, field)
	}
	if len(s) > max {
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalidLineage, field, max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not UTF-8", ErrInvalidLineage, field)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: %s has a control character", ErrInvalidLineage, field)
		}
	}
	return nil
}

// ValidateLineageEvent checks ev as RecordLineage does: a known event
// type (an empty one is OTHER), an event time, a run id, a job namespace
// and name, named datasets, and the size limits.
func ValidateLineageEvent(ev LineageEvent) error {
	switch ev.EventType {
	case "", LineageStart, LineageRunning, LineageComplete, LineageAbort, LineageFail, LineageOther:
	default:
		return fmt.Errorf("%w: eventType %q is not START, RUNNING, COMPLETE, ABORT, FAIL or OTHER", ErrInvalidLineage, ev.EventType)
	}
	if ev.EventTime.IsZero() {
		return fmt.Errorf("%w: eventTime is required", ErrInvalidLineage)
	}
	if err := validLineageText("run.runId", ev.Run.RunID, MaxLineageRunIDLength); err != nil {
		return err
	}
	if err := validLineageText("job.namespace", ev.Job.Namespace, MaxLineageNameLength); err != nil {
		return err
	}
	if err := validLineageText("job.name", ev.Job.Name, MaxLineageNameLength); err != nil {
		return err
	}
	if n := len(ev.Inputs) + len(ev.Outputs); n > MaxLineageDatasets {
		return fmt.Errorf("%w: %d datasets; at most %d inputs and outputs", ErrInvalidLineage, n, MaxLineageDatasets)
	}
	for role, ds := range map[string][]LineageDataset{"inputs": ev.Inputs, "outputs": ev.Outputs} {
		for i, d := range ds {
			if err := validLineageText(fmt.Sprintf("%s[%d].namespace", role, i), d.Namespace, MaxLineageNameLength); err != nil {
				return err
			}
			if err := validLineageText(fmt.Sprintf("%s[%d].name", role, i), d.Name, MaxLineageNameLength); err != nil {
				return err
			}
		}
	}
	return nil
}

// LineageRetention bounds the lineage store.
type LineageRetention struct {
	// PerJob is how many events each job (namespace and name) keeps.
	PerJob int
	// Total is how many events the store keeps in all.
	Total int
}

// DefaultLineageRetention keeps 200 events per job and 200,000 in all.
func DefaultLineageRetention() LineageRetention {
	return LineageRetention{PerJob: 200, Total: 200_000}
}

// SetLineageRetention changes how many events the lineage store keeps; it
// is meant to be called once, before the catalog is used.
func (c *Catalog) SetLineageRetention(r LineageRetention) {
	if r.PerJob < 1 {
		r.PerJob = 1
	}
	if r.Total < 1 {
		r.Total = 1
	}
	c.lineage = r
}

func (c *Catalog) lineageRetention() LineageRetention {
	if c.lineage.PerJob == 0 {
		return DefaultLineageRetention()
	}
	return c.lineage
}

// RecordLineage validates and stores one OpenLineage RunEvent of tarn's
// own (a job, crawler, query, workflow step or dbt model run in tarn).
// Dataset names are made canonical (CanonicalDataset); a repeated dataset
// is kept once. It fails with ErrInvalidLineage for an invalid event.
func (c *Catalog) RecordLineage(ctx context.Context, ev LineageEvent) error {
	return c.db.Tx(ctx, func(tx *sql.Tx) error { return c.recordLineage(ctx, tx, "", ev) })
}

// RecordLineageTx is RecordLineage inside tx, so a writer can record the
// lineage of a write in the transaction that publishes it.
// The event is recorded under a savepoint: if it fails, tx is as it was
// and the caller may still commit its write.
func (c *Catalog) RecordLineageTx(ctx context.Context, tx *sql.Tx, ev LineageEvent) error {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT catalog_lineage`); err != nil {
		return fmt.Errorf("cannot record lineage of job %q: %w", ev.Job.Name, err)
	}
	err := c.recordLineage(ctx, tx, "", ev)
	if err != nil {
		_, _ = tx.ExecContext(ctx, `ROLLBACK TO catalog_lineage`)
	}
	if _, rerr := tx.ExecContext(ctx, `RELEASE catalog_lineage`); rerr != nil && err == nil {
		err = fmt.Errorf("cannot record lineage of job %q: %w", ev.Job.Name, rerr)
	}
	return err
}

// RecordExternalLineage is RecordLineage for an event posted from outside
// (an OpenLineage client) by source, say "key:AKID…". The events of one
// run are paired into edges only with events of the same source, so a
// poster cannot add inputs or outputs to another's runs.
func (c *Catalog) RecordExternalLineage(ctx context.Context, source string, ev LineageEvent) error {
	if source == "" {
		return fmt.Errorf("cannot record lineage of job %q: no source", ev.Job.Name)
	}
	return c.db.Tx(ctx, func(tx *sql.Tx) error { return c.recordLineage(ctx, tx, source, ev) })
}

func (c *Catalog) recordLineage(ctx context.Context, tx *sql.Tx, source string, ev LineageEvent) error {
	if ev.EventType == "" {
		ev.EventType = LineageOther
	}
	if err := ValidateLineageEvent(ev); err != nil {
		return fmt.Errorf("cannot record lineage of job %q: %w", ev.Job.Name, err)
	}
	ev.EventTime = ev.EventTime.UTC()
	ev.Inputs = canonicalDatasets(ev.Inputs)
	ev.Outputs = canonicalDatasets(ev.Outputs)
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("cannot record lineage of job %q: %w", ev.Job.Name, err)
	}
	if len(body) > MaxLineageEventSize {
		return fmt.Errorf("cannot record lineage of job %q: %w: the event is %d bytes, more than %d", ev.Job.Name, ErrInvalidLineage, len(body), MaxLineageEventSize)
	}
	fail := func(err error) error { return fmt.Errorf("cannot record lineage of job %q: %w", ev.Job.Name, err) }
	at := meta.FormatTime(ev.EventTime)
	var id int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO catalog_lineage_events (event_type, event_time, run_id, job_namespace, job_name, producer, body, recorded_at, source)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		ev.EventType, at, ev.Run.RunID, ev.Job.Namespace, ev.Job.Name, ev.Producer, string(body), meta.Now(), source).Scan(&id); err != nil {
		return fail(err)
	}
	for _, part := range []struct {
		role string
		ds   []LineageDataset
	}{{"input", ev.Inputs}, {"output", ev.Outputs}} {
		for _, d := range part.ds {
			if _, err := tx.ExecContext(ctx, `INSERT INTO catalog_lineage_datasets (event_id, role, namespace, name, rows) VALUES (?, ?, ?, ?, ?)`,
				id, part.role, d.Namespace, d.Name, rowsOf(d)); err != nil {
				return fail(err)
			}
		}
	}
	if ev.EventType == LineageComplete {
		for _, d := range ev.Outputs {
			// The latest completed write wins; an event that arrives late
			// (older eventTime) does not replace a newer one.
			var cur string
			err := tx.QueryRowContext(ctx, `SELECT e.event_time FROM catalog_lineage_latest l JOIN catalog_lineage_events e ON e.id = l.event_id
				WHERE l.namespace = ? AND l.name = ?`, d.Namespace, d.Name).Scan(&cur)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fail(err)
			}
			if err == nil && cur > at {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO catalog_lineage_latest (namespace, name, event_id) VALUES (?, ?, ?)
				ON CONFLICT (namespace, name) DO UPDATE SET event_id = excluded.event_id`, d.Namespace, d.Name, id); err != nil {
				return fail(err)
			}
		}
	}
	if err := c.pruneLineage(ctx, tx, ev.Job, id); err != nil {
		return fail(err)
	}
	return nil
}

func canonicalDatasets(ds []LineageDataset) []LineageDataset {
	out := make([]LineageDataset, 0, len(ds))
	seen := map[DatasetRef]bool{}
	for _, d := range ds {
		r := CanonicalDataset(d.Ref())
		if seen[r] {
			continue
		}
		seen[r] = true
		d.Namespace, d.Name = r.Namespace, r.Name
		out = append(out, d)
	}
	return out
}

// pruneLineage applies the retention after event id of job was stored.
func (c *Catalog) pruneLineage(ctx context.Context, tx *sql.Tx, job LineageJob, id int64) error {
	r := c.lineageRetention()
	var oldest int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM catalog_lineage_events WHERE job_namespace = ? AND job_name = ?
		ORDER BY id DESC LIMIT 1 OFFSET ?`, job.Namespace, job.Name, r.PerJob).Scan(&oldest)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if err == nil {
		if err := deleteLineageEvents(ctx, tx, `job_namespace = ? AND job_name = ? AND id <= ?
			AND id NOT IN (SELECT event_id FROM catalog_lineage_latest)`, job.Namespace, job.Name, oldest); err != nil {
			return err
		}
	}
	// Ids only grow, so every event older than id-Total is beyond the
	// total; gaps left by pruning only make the store smaller.
	if cut := id - int64(r.Total); cut > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM catalog_lineage_latest WHERE event_id <= ?`, cut); err != nil {
			return err
		}
		if err := deleteLineageEvents(ctx, tx, `id <= ?`, cut); err != nil {
			return err
		}
	}
	return nil
}

func deleteLineageEvents(ctx context.Context, tx *sql.Tx, where string, args ...any) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM catalog_lineage_datasets WHERE event_id IN (SELECT id FROM catalog_lineage_events WHERE `+where+`)`, args...); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM catalog_lineage_events WHERE `+where, args...)
	return err
}

// LineageWrite is one completed write of a dataset: the job that wrote
// it, its run, when, and the rows written (-1 when not reported).
type LineageWrite struct {
	JobNamespace string    `json:"job_namespace"`
	JobName      string    `json:"job_name"`
	JobType      string    `json:"job_type,omitempty"`
	RunID        string    `json:"run_id"`
	EventTime    time.Time `json:"event_time"`
	Rows         int64     `json:"rows"`
}

// LatestWrite returns the latest completed write of a dataset; ok is false
// if none is recorded.
func (c *Catalog) LatestWrite(ctx context.Context, d DatasetRef) (w LineageWrite, ok bool, err error) {
	d = CanonicalDataset(d)
	ws, err := c.latestWrites(ctx, []DatasetRef{d})
	if err != nil {
		return LineageWrite{}, false, fmt.Errorf("cannot read the latest write of %q: %w", d.String(), err)
	}
	w, ok = ws[d]
	return w, ok, nil
}

func (c *Catalog) latestWrites(ctx context.Context, ds []DatasetRef) (map[DatasetRef]LineageWrite, error) {
	out := map[DatasetRef]LineageWrite{}
	for _, d := range ds {
		var w LineageWrite
		var at, body string
		err := c.db.SQL().QueryRowContext(ctx, `SELECT e.job_namespace, e.job_name, e.run_id, e.event_time, e.body, o.rows
			FROM catalog_lineage_latest l JOIN catalog_lineage_events e ON e.id = l.event_id
			LEFT JOIN catalog_lineage_datasets o ON o.event_id = e.id AND o.role = 'output' AND o.namespace = l.namespace AND o.name = l.name
			WHERE l.namespace = ? AND l.name = ?`, d.Namespace, d.Name).Scan(&w.JobNamespace, &w.JobName, &w.RunID, &at, &body, &w.Rows)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		w.EventTime = meta.ParseTime(at)
		var ev LineageEvent
		if json.Unmarshal([]byte(body), &ev) == nil {
			w.JobType = jobTypeOf(ev.Job)
		}
		out[d] = w
	}
	return out, nil
}

// Lineage directions.
const (
	Upstream   = "upstream"
	Downstream = "downstream"
	Both       = "both"
)

// LineageQuery says which part of the graph Lineage returns.
type LineageQuery struct {
	// Direction is Upstream, Downstream or Both ("" is Both).
	Direction string
	// Depth is how many edges away from the root to go (1 to
	// MaxLineageDepth; 0 means MaxLineageDepth).
	Depth int
	// Visible, if set, says which datasets the caller may see. A dataset
	// it rejects is returned with Hidden set, no name and no write, and
	// the graph is not followed through it.
	Visible func(DatasetRef) bool
	// Events is how many of the root's latest events to return (0: none).
	Events int
}

// LineageNode is a dataset of the graph with its latest completed write.
type LineageNode struct {
	Dataset DatasetRef    `json:"dataset"`
	Depth   int           `json:"depth"` // edges from the root: < 0 upstream, > 0 downstream
	Hidden  bool          `json:"hidden,omitempty"`
	Write   *LineageWrite `json:"write,omitempty"`
}

// LineageEdge is input → output written by a job; the run is the latest
// completed run that recorded the edge.
type LineageEdge struct {
	Input        DatasetRef `json:"input"`
	Output       DatasetRef `json:"output"`
	JobNamespace string     `json:"job_namespace"`
	JobName      string     `json:"job_name"`
	RunID        string     `json:"run_id"`
	EventTime    time.Time  `json:"event_time"`
	Rows         int64      `json:"rows"`
}

// LineageGraph is the graph around a dataset.
type LineageGraph struct {
	Root      DatasetRef    `json:"root"`
	Direction string        `json:"direction"`
	Depth     int           `json:"depth"`
	Nodes     []LineageNode `json:"nodes"`
	Edges     []LineageEdge `json:"edges"`
	// Events are the root's latest events, newest first (LineageQuery.Events).
	Events []LineageEvent `json:"events,omitempty"`
	// Truncated says a node had more edges than were followed.
	Truncated bool `json:"truncated,omitempty"`
}

// TableLineage is Lineage of catalog table db.table.
func (c *Catalog) TableLineage(ctx context.Context, db, table string, q LineageQuery) (LineageGraph, error) {
	return c.Lineage(ctx, TableDataset(db, table), q)
}

// Lineage returns the graph around root: the datasets it was written from
// (upstream), those written from it (downstream), or both, up to q.Depth
// edges away, each with its latest completed write.
func (c *Catalog) Lineage(ctx context.Context, root DatasetRef, q LineageQuery) (LineageGraph, error) {
	root = CanonicalDataset(root)
	fail := func(err error) (LineageGraph, error) {
		return LineageGraph{}, fmt.Errorf("cannot read lineage of %q: %w", root.String(), err)
	}
	if q.Direction == "" {
		q.Direction = Both
	}
	if q.Direction != Upstream && q.Direction != Downstream && q.Direction != Both {
		return fail(fmt.Errorf("%w: direction %q is not %s, %s or %s", ErrInvalidLineage, q.Direction, Upstream, Downstream, Both))
	}
	if q.Depth == 0 {
		q.Depth = MaxLineageDepth
	}
	if q.Depth < 0 || q.Depth > MaxLineageDepth {
		return fail(fmt.Errorf("%w: depth %d is not 1 to %d", ErrInvalidLineage, q.Depth, MaxLineageDepth))
	}
	visible := func(d DatasetRef) bool { return q.Visible == nil || q.Visible(d) }
	g := LineageGraph{Root: root, Direction: q.Direction, Depth: q.Depth}
	depth := map[DatasetRef]int{root: 0}
	edges := map[[2]DatasetRef]LineageEdge{}
	for _, dir := range []string{Upstream, Downstream} {
		if q.Direction != Both && q.Direction != dir {
			continue
		}
		sign := 1
		if dir == Upstream {
			sign = -1
		}
		frontier := []DatasetRef{root}
		for level := 1; level <= q.Depth && len(frontier) > 0; level++ {
			var next []DatasetRef
			for _, d := range frontier {
				if !visible(d) {
					continue
				}
				es, truncated, err := c.lineageEdges(ctx, d, dir)
				if err != nil {
					return fail(err)
				}
				g.Truncated = g.Truncated || truncated
				for _, e := range es {
					other := e.Input
					if dir == Downstream {
						other = e.Output
					}
					key := [2]DatasetRef{e.Input, e.Output}
					if prev, ok := edges[key]; !ok || e.EventTime.After(prev.EventTime) {
						edges[key] = e
					}
					if _, seen := depth[other]; !seen {
						depth[other] = sign * level
						next = append(next, other)
					}
				}
			}
			frontier = next
		}
	}
	refs := make([]DatasetRef, 0, len(depth))
	for d := range depth {
		refs = append(refs, d)
	}
	sort.Slice(refs, func(i, j int) bool {
		if depth[refs[i]] != depth[refs[j]] {
			return depth[refs[i]] < depth[refs[j]]
		}
		return refs[i].String() < refs[j].String()
	})
	var shown []DatasetRef
	for _, d := range refs {
		if visible(d) {
			shown = append(shown, d)
		}
	}
	writes, err := c.latestWrites(ctx, shown)
	if err != nil {
		return fail(err)
	}
	for _, d := range refs {
		n := LineageNode{Dataset: d, Depth: depth[d]}
		if !visible(d) {
			n.Hidden = true
		} else if w, ok := writes[d]; ok {
			n.Write = &w
		}
		g.Nodes = append(g.Nodes, n)
	}
	for _, e := range edges {
		g.Edges = append(g.Edges, e)
	}
	sort.Slice(g.Edges, func(i, j int) bool {
		a, b := g.Edges[i], g.Edges[j]
		if a.Output != b.Output {
			return a.Output.String() < b.Output.String()
		}
		return a.Input.String() < b.Input.String()
	})
	if q.Events > 0 && visible(root) {
		if g.Events, err = c.LineageEvents(ctx, root, q.Events); err != nil {
			return fail(err)
		}
	}
	return g, nil
}

// lineageEdges returns the edges into d (upstream) or out of d
// (downstream) recorded by completed runs, one per (input, output, job),
// from its latest run.
func (c *Catalog) lineageEdges(ctx context.Context, d DatasetRef, dir string) ([]LineageEdge, bool, error) {
	near, far := "o", "i"
	nearRole, farRole := "output", "input"
	if dir == Downstream {
		near, far = "i", "o"
		nearRole, farRole = "input", "output"
	}
	rows, err := c.db.SQL().QueryContext(ctx, `SELECT i.namespace, i.name, o.namespace, o.name, eo.job_namespace, eo.job_name, eo.run_id,
			(SELECT MAX(c.event_time) FROM catalog_lineage_events c WHERE c.run_id = eo.run_id AND c.job_namespace = eo.job_namespace AND c.job_name = eo.job_name AND c.source = eo.source AND c.event_type = 'COMPLETE'),
			o.rows
		FROM catalog_lineage_datasets `+near+`
		JOIN catalog_lineage_events e`+near+` ON e`+near+`.id = `+near+`.event_id
		JOIN catalog_lineage_events e`+far+` ON e`+far+`.run_id = e`+near+`.run_id AND e`+far+`.job_namespace = e`+near+`.job_namespace AND e`+far+`.job_name = e`+near+`.job_name AND e`+far+`.source = e`+near+`.source
		JOIN catalog_lineage_datasets `+far+` ON `+far+`.event_id = e`+far+`.id AND `+far+`.role = ?
		WHERE `+near+`.role = ? AND `+near+`.namespace = ? AND `+near+`.name = ?
		  AND EXISTS (SELECT 1 FROM catalog_lineage_events c WHERE c.run_id = eo.run_id AND c.job_namespace = eo.job_namespace AND c.job_name = eo.job_name AND c.source = eo.source AND c.event_type = 'COMPLETE')
		ORDER BY `+near+`.event_id DESC, `+far+`.event_id DESC
		LIMIT ?`, farRole, nearRole, d.Namespace, d.Name, 20*maxLineageEdgesPerNode)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	type key struct {
		in, out  DatasetRef
		jns, job string
	}
	seen := map[key]int{}
	var out []LineageEdge
	n := 0
	truncated := false
	for rows.Next() {
		n++
		var e LineageEdge
		var at string
		if err := rows.Scan(&e.Input.Namespace, &e.Input.Name, &e.Output.Namespace, &e.Output.Name, &e.JobNamespace, &e.JobName, &e.RunID, &at, &e.Rows); err != nil {
			return nil, false, err
		}
		e.EventTime = meta.ParseTime(at)
		k := key{e.Input, e.Output, e.JobNamespace, e.JobName}
		if i, ok := seen[k]; ok {
			// Rows come newest event first; a later row of the same run
			// may still carry the row count the first lacked.
			if out[i].RunID == e.RunID && out[i].Rows < 0 && e.Rows >= 0 {
				out[i].Rows = e.Rows
			}
			continue
		}
		if len(out) >= maxLineageEdgesPerNode {
			truncated = true
			continue
		}
		seen[k] = len(out)
		out = append(out, e)
	}
	if n >= 20*maxLineageEdgesPerNode {
		truncated = true
	}
	return out, truncated, rows.Err()
}

// LineageEvents returns up to limit of the latest events that name d as an
// input or output, newest first.
func (c *Catalog) LineageEvents(ctx context.Context, d DatasetRef, limit int) ([]LineageEvent, error) {
	d = CanonicalDataset(d)
	if limit <= 0 {
		limit = 20
	}
	rows, err := c.db.SQL().QueryContext(ctx, `SELECT e.body FROM catalog_lineage_events e
		WHERE e.id IN (SELECT event_id FROM catalog_lineage_datasets WHERE namespace = ? AND name = ?)
		ORDER BY e.event_time DESC, e.id DESC LIMIT ?`, d.Namespace, d.Name, limit)
	if err != nil {
		return nil, fmt.Errorf("cannot list lineage events of %q: %w", d.String(), err)
	}
	defer rows.Close()
	var out []LineageEvent
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("cannot list lineage events of %q: %w", d.String(), err)
		}
		var ev LineageEvent
		if err := json.Unmarshal([]byte(body), &ev); err != nil {
			return nil, fmt.Errorf("cannot decode a stored lineage event of %q: %w", d.String(), err)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}
