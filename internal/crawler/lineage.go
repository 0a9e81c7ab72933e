package crawler

import (
	"context"
	"log/slog"

	"github.com/tarn-lake/tarn/internal/catalog"
)

// LineageJobName is the OpenLineage job name of a crawler's runs (in
// namespace catalog.LineageNamespace).
func LineageJobName(crawler string) string { return "crawler." + crawler }

// recordLineage records what a finished crawl described: for each table it
// created or kept, an event prefix → table. Each table is a child run
// ("<run id>/<table>", its parent the crawl) so that one crawl's prefixes
// and tables are not paired across. A dry run records nothing; a failure
// to record is logged, not the crawl's.
func (s *Service) recordLineage(ctx context.Context, spec Spec, run Run) {
	if run.DryRun || run.State != StateSucceeded {
		return
	}
	job := LineageJobName(spec.Name)
	for _, res := range run.Tables {
		switch res.Action {
		case ActionDeprecate, ActionDelete, ActionDeleteLogged:
			continue
		}
		ev := catalog.LineageEvent{
			EventType: catalog.LineageComplete,
			EventTime: run.EndedAt,
			Producer:  catalog.LineageProducer,
			SchemaURL: catalog.LineageSchemaURL,
			Run:       catalog.LineageRun{RunID: run.ID + "/" + res.Table, Facets: catalog.ParentRunFacet(run.ID, catalog.LineageNamespace, job)},
			Job:       catalog.LineageJob{Namespace: catalog.LineageNamespace, Name: job, Facets: catalog.JobTypeFacet(catalog.LineageJobTypeCrawler)},
			Inputs:    []catalog.LineageDataset{{Namespace: catalog.ObjectDataset(res.Location).Namespace, Name: catalog.ObjectDataset(res.Location).Name}},
			Outputs:   []catalog.LineageDataset{{Namespace: catalog.LineageNamespace, Name: catalog.TableDataset(spec.Database, res.Table).Name}},
		}
		if err := s.cat.RecordLineage(ctx, ev); err != nil {
			slog.Warn("crawler: cannot record lineage", "crawler", spec.Name, "run", run.ID, "table", res.Table, "error", err)
		}
	}
}
