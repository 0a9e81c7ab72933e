package crawler

import (
	"context"

	"github.com/tarn-lake/tarn/internal/runs"
)

// runTable is crawler_runs in the run ledger's terms; a stop request
// through a server that does not run the crawl sets its stop flag.
var runTable = runs.Table{Name: "crawler_runs", Start: "started_at", End: "ended_at", Owner: "owner", Stop: "stop_requested"}

// RunsByState counts the crawler runs of the lake (db is the metadata
// database) per state, for /metrics.
func RunsByState(ctx context.Context, db runs.Querier) (map[string]int64, error) {
	return runTable.CountByState(ctx, db)
}
