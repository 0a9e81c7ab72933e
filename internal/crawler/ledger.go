package crawler

import (
	"context"

	"github.com/tarn-lake/tarn/internal/runs"
)

// runTable is crawler_runs in the run ledger's terms; crawler runs have no
// stop flag (a crawl is stopped through its process).
var runTable = runs.Table{Name: "crawler_runs", Start: "started_at", End: "ended_at", Owner: "owner"}

// RunsByState counts the crawler runs of the lake (db is the metadata
// database) per state, for /metrics.
func RunsByState(ctx context.Context, db runs.Querier) (map[string]int64, error) {
	return runTable.CountByState(ctx, db)
}
