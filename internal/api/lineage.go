package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/warehouse"
)

// Lineage (docs/lineage.md): OpenLineage RunEvents in, the graph around a
// table out.
//
// POST /api/v1/lineage records an event an OpenLineage client sends
// (openlineage-python's HTTP transport, dbt-ol, Spark's listener). The key
// needs tarn:PutLineage on each output (the table's Glue ARN, the objects'
// S3 ARN, the catalog's ARN for datasets outside tarn; on each input for an
// event without outputs) and must be able to read each input; the namespace of tarn's own jobs is refused, and the
// events of one run pair into edges only with the same key's events.
//
// GET /api/v1/lineage?table=db.t needs glue:GetTable on the table. The
// datasets of the graph the key may not read (glue:GetTable on a table,
// redshift:ReadData on a warehouse table, s3:GetObject on a prefix,
// tarn:GetLineage on the catalog for datasets outside tarn) are hidden,
// the graph does not go past them, and events that name them are left out.

// ActionPutLineage is the action a key needs to post lineage events.
const ActionPutLineage = "tarn:PutLineage"

// ActionGetExternalLineage lets a key see datasets outside tarn (other
// namespaces) in lineage graphs.
const ActionGetExternalLineage = "tarn:GetLineage"

// lineageResource is the ARN a dataset's lineage is authorized on.
func lineageResource(d catalog.DatasetRef) string {
	if db, t, ok := d.CatalogTable(); ok {
		return auth.TableResource(db, t)
	}
	if schema, t, ok := d.WarehouseTable(); ok {
		return auth.TableResource(schema, t)
	}
	if bucket, ok := strings.CutPrefix(d.Namespace, "s3://"); ok {
		if d.Name == "/" {
			return auth.S3Resource(bucket, "*")
		}
		return auth.S3Resource(bucket, d.Name+"/*")
	}
	return auth.CatalogResource
}

// canRead reports whether p may read a dataset (and so see it in lineage).
func canRead(p *auth.Principal, d catalog.DatasetRef) error {
	res := lineageResource(d)
	switch {
	case strings.HasPrefix(d.Namespace, "s3://"):
		return p.Authorize("s3:GetObject", res)
	case d.Namespace != catalog.LineageNamespace:
		return p.Authorize(ActionGetExternalLineage, res)
	}
	if _, _, ok := d.WarehouseTable(); ok {
		return p.Authorize(warehouse.ActionReadData, res)
	}
	return p.Authorize("glue:GetTable", res)
}

// parseEventTime reads an OpenLineage eventTime: RFC 3339, or ISO 8601
// without a zone (taken as UTC), as Python's isoformat writes it.
func parseEventTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("eventTime %q is not an ISO 8601 date and time", s)
}

func unwireDataset(d apitypes.LineageDataset) catalog.LineageDataset {
	return catalog.LineageDataset{Namespace: d.Namespace, Name: d.Name, Facets: d.Facets, InputFacets: d.InputFacets, OutputFacets: d.OutputFacets}
}

func wireDataset(d catalog.LineageDataset) apitypes.LineageDataset {
	return apitypes.LineageDataset{Namespace: d.Namespace, Name: d.Name, Facets: d.Facets, InputFacets: d.InputFacets, OutputFacets: d.OutputFacets}
}

func wireLineageEvent(ev catalog.LineageEvent) apitypes.LineageEvent {
	return apitypes.LineageEvent{EventType: ev.EventType, EventTime: ev.EventTime.UTC().Format(time.RFC3339Nano), Producer: ev.Producer, SchemaURL: ev.SchemaURL,
		Run: apitypes.LineageRun{RunID: ev.Run.RunID, Facets: ev.Run.Facets}, Job: apitypes.LineageJob{Namespace: ev.Job.Namespace, Name: ev.Job.Name, Facets: ev.Job.Facets},
		Inputs: mapSlice(ev.Inputs, wireDataset), Outputs: mapSlice(ev.Outputs, wireDataset)}
}

func invalidLineage(err error) error {
	if errors.Is(err, catalog.ErrInvalidLineage) {
		return &apiError{http.StatusBadRequest, apitypes.CodeInvalidRequest, err}
	}
	return err
}

func (s *Server) postLineage(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	var in apitypes.LineageEvent
	if err := decodeBody(r, &in, `(an OpenLineage RunEvent: {"eventType", "eventTime", "run": {"runId"}, "job": {"namespace", "name"}, "inputs", "outputs", "producer", "schemaURL"})`); err != nil {
		return nil, err
	}
	t, err := parseEventTime(in.EventTime)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	ev := catalog.LineageEvent{EventType: in.EventType, EventTime: t, Producer: in.Producer, SchemaURL: in.SchemaURL,
		Run: catalog.LineageRun{RunID: in.Run.RunID, Facets: in.Run.Facets}, Job: catalog.LineageJob{Namespace: in.Job.Namespace, Name: in.Job.Name, Facets: in.Job.Facets},
		Inputs: mapSlice(in.Inputs, unwireDataset), Outputs: mapSlice(in.Outputs, unwireDataset)}
	if err := catalog.ValidateLineageEvent(ev); err != nil {
		return nil, invalidLineage(err)
	}
	if ev.Job.Namespace == catalog.LineageNamespace {
		return nil, badRequest("job namespace %q is tarn's own jobs'; name your jobs in another namespace", catalog.LineageNamespace)
	}
	for _, d := range ev.Outputs {
		if err := p.Authorize(ActionPutLineage, lineageResource(catalog.CanonicalDataset(d.Ref()))); err != nil {
			return nil, fmt.Errorf("cannot record lineage of output %s: %w", d.Ref(), err)
		}
	}
	for _, d := range ev.Inputs {
		if err := canRead(p, catalog.CanonicalDataset(d.Ref())); err != nil {
			return nil, fmt.Errorf("cannot record lineage from input %s: %w", d.Ref(), err)
		}
	}
	if len(ev.Outputs) == 0 {
		// A START with only its inputs (dbt-ol, Airflow): the key records
		// lineage about them, so it needs the action on them instead.
		for _, d := range ev.Inputs {
			if err := p.Authorize(ActionPutLineage, lineageResource(catalog.CanonicalDataset(d.Ref()))); err != nil {
				return nil, fmt.Errorf("cannot record lineage of a run from input %s: %w", d.Ref(), err)
			}
		}
		if len(ev.Inputs) == 0 {
			if err := p.Authorize(ActionPutLineage, auth.CatalogResource); err != nil {
				return nil, fmt.Errorf("cannot record lineage of a run without datasets: %w", err)
			}
		}
	}
	if err := s.cat.RecordExternalLineage(ctx, "key:"+p.Key.AccessKeyID, ev); err != nil {
		return nil, invalidLineage(err)
	}
	if ev.EventType == "" {
		ev.EventType = catalog.LineageOther
	}
	return apitypes.LineageRecorded{RunID: ev.Run.RunID, EventType: ev.EventType}, nil
}

// maxLineageEvents bounds GET /api/v1/lineage's ?events=.
const maxLineageEvents = 100

func (s *Server) getLineage(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	q := r.URL.Query()
	db, table, ok := strings.Cut(q.Get("table"), ".")
	if !ok || db == "" || table == "" || strings.Contains(table, ".") {
		return nil, badRequest("table=%q: want table=database.table", q.Get("table"))
	}
	if err := p.Authorize("glue:GetTable", auth.TableResource(db, table)); err != nil {
		return nil, err
	}
	lq := catalog.LineageQuery{Direction: q.Get("direction"), Events: 20,
		Visible: func(d catalog.DatasetRef) bool { return canRead(p, d) == nil }}
	if v := q.Get("depth"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, badRequest("depth=%q: want a number of edges, 1 to %d", v, catalog.MaxLineageDepth)
		}
		lq.Depth = n
	}
	if v := q.Get("events"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxLineageEvents {
			return nil, badRequest("events=%q: want 0 to %d", v, maxLineageEvents)
		}
		lq.Events = n
	}
	g, err := s.cat.TableLineage(ctx, db, table, lq)
	if err != nil {
		return nil, invalidLineage(err)
	}
	if len(g.Edges) == 0 && g.Nodes[0].Write == nil {
		// Nothing recorded: say whether the table exists at all.
		if _, err := s.cat.GetTable(ctx, db, table); err != nil {
			return nil, err
		}
	}
	return wireLineageGraph(g, lq.Visible), nil
}

// wireLineageGraph converts a graph, naming hidden datasets "hidden-N"
// (namespace "") and leaving out what their writes were and the events
// that name them.
func wireLineageGraph(g catalog.LineageGraph, visible func(catalog.DatasetRef) bool) apitypes.LineageGraph {
	names := map[catalog.DatasetRef]apitypes.DatasetRef{}
	hidden := map[catalog.DatasetRef]bool{}
	ref := func(d catalog.DatasetRef) apitypes.DatasetRef {
		if w, ok := names[d]; ok {
			return w
		}
		return apitypes.DatasetRef{Namespace: d.Namespace, Name: d.Name}
	}
	for _, n := range g.Nodes {
		if n.Hidden {
			hidden[n.Dataset] = true
			names[n.Dataset] = apitypes.DatasetRef{Name: fmt.Sprintf("hidden-%d", len(hidden))}
		}
	}
	out := apitypes.LineageGraph{Root: ref(g.Root), Direction: g.Direction, Depth: g.Depth, Truncated: g.Truncated,
		Nodes: []apitypes.LineageNode{}, Edges: []apitypes.LineageEdge{}}
	for _, n := range g.Nodes {
		wn := apitypes.LineageNode{Dataset: ref(n.Dataset), Depth: n.Depth, Hidden: n.Hidden}
		if n.Write != nil && !n.Hidden {
			w := apitypes.LineageWrite(*n.Write)
			wn.Write = &w
		}
		out.Nodes = append(out.Nodes, wn)
	}
	for _, e := range g.Edges {
		we := apitypes.LineageEdge{Input: ref(e.Input), Output: ref(e.Output), JobNamespace: e.JobNamespace, JobName: e.JobName, RunID: e.RunID, EventTime: e.EventTime, Rows: e.Rows}
		if hidden[e.Output] {
			// Who wrote a dataset the key may not read is not its business.
			we.JobNamespace, we.JobName, we.RunID, we.EventTime, we.Rows = "", "", "", time.Time{}, -1
		}
		out.Edges = append(out.Edges, we)
	}
events:
	for _, ev := range g.Events {
		for _, d := range append(append([]catalog.LineageDataset{}, ev.Inputs...), ev.Outputs...) {
			if !visible(d.Ref()) {
				continue events
			}
		}
		out.Events = append(out.Events, wireLineageEvent(ev))
	}
	return out
}
