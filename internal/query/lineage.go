package query

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"time"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
)

// LineageJobName is the OpenLineage job name of the writes of queries run
// in a workgroup (in namespace catalog.LineageNamespace); each execution
// is a run.
func LineageJobName(workgroup string) string {
	if workgroup == "" {
		workgroup = "primary"
	}
	return "query." + workgroup
}

// noteLineageInputs remembers the catalog tables a write's SELECT read.
func (ex *Execution) noteLineageInputs(b *engine.Bound) {
	for _, sc := range b.Scans {
		d := catalog.TableDataset(sc.Table.Database, sc.Table.Name)
		if !slices.Contains(ex.lineageIn, d) {
			ex.lineageIn = append(ex.lineageIn, d)
		}
	}
}

// recordWriteLineage records, once a statement's write is committed, an
// OpenLineage event: the tables its SELECT read → out, with the rows
// written (-1 if not known). The target itself is not its own input (an
// UPDATE or MERGE reads it). A failure to record is logged, not the
// statement's.
func (s *Service) recordWriteLineage(ctx context.Context, ex *Execution, out catalog.DatasetRef, rows int64) {
	sqlFacet, _ := json.Marshal(map[string]string{"_producer": catalog.LineageProducer,
		"_schemaURL": "https://openlineage.io/spec/facets/1-0-1/SQLJobFacet.json", "query": ex.SQL})
	ev := catalog.LineageEvent{
		EventType: catalog.LineageComplete,
		EventTime: time.Now().UTC(),
		Producer:  catalog.LineageProducer,
		SchemaURL: catalog.LineageSchemaURL,
		Run:       catalog.LineageRun{RunID: ex.ID},
		Job:       catalog.LineageJob{Namespace: catalog.LineageNamespace, Name: LineageJobName(ex.Workgroup), Facets: catalog.JobTypeFacet(catalog.LineageJobTypeQuery)},
		Outputs:   []catalog.LineageDataset{{Namespace: out.Namespace, Name: out.Name, OutputFacets: catalog.OutputStatistics(rows, -1)}},
	}
	ev.Job.Facets["sql"] = sqlFacet
	for _, in := range ex.lineageIn {
		if in != out {
			ev.Inputs = append(ev.Inputs, catalog.LineageDataset{Namespace: in.Namespace, Name: in.Name})
		}
	}
	if err := s.cat.RecordLineage(context.WithoutCancel(ctx), ev); err != nil {
		slog.Warn("query: cannot record lineage", "execution", ex.ID, "error", err)
	}
}

// recordDMLLineage records an UPDATE, DELETE or MERGE of an Iceberg table
// that committed: the tables its source and subqueries read → the table.
// The rows are those written (updated or merged); a DELETE's are not
// rows written and are left out.
func (s *Service) recordDMLLineage(ctx context.Context, ex *Execution, t catalog.Table, kind string, rows int64) {
	if kind == "DELETE" {
		rows = -1
	}
	s.recordWriteLineage(ctx, ex, catalog.TableDataset(t.Database, t.Name), rows)
}

// recordIcebergLineage records an append (CTAS, INSERT INTO) to the
// Iceberg table named by ident (database, table) that committed.
func (s *Service) recordIcebergLineage(ctx context.Context, ex *Execution, ident []string, rows int64) {
	if len(ident) != 2 {
		return
	}
	s.recordWriteLineage(ctx, ex, catalog.TableDataset(ident[0], ident[1]), rows)
}
