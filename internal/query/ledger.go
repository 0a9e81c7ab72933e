package query

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tarn-lake/tarn/internal/runs"
)

// runTable is query_executions in the run ledger's terms; a query's run
// starts when it is submitted; a stop request through another server of
// the lake sets its stop flag (cancel.go).
var runTable = runs.Table{Name: "query_executions", Start: "submitted_at", End: "ended_at", Owner: "owner", Stop: "stop_requested"}

// Figures are the query history's figures /metrics reports.
type Figures struct {
	ByState      map[string]int64 // executions per state
	BytesScanned int64            // data scanned, as Athena bills it
	// Latency of ended executions (submitted to ended): their number, the
	// sum of their seconds, and per bound of the bounds asked for how many
	// took at most that many seconds.
	Count   uint64
	Seconds float64
	AtMost  map[float64]uint64
}

// ExecutionFigures reads the figures of every query execution of the lake
// (db is the metadata database), in SQL that SQLite and PostgreSQL both run;
// bounds are the latency histogram's upper bounds in seconds.
func ExecutionFigures(ctx context.Context, db runs.Querier, bounds []float64) (Figures, error) {
	f := Figures{AtMost: make(map[float64]uint64, len(bounds))}
	var err error
	if f.ByState, err = runTable.CountByState(ctx, db); err != nil {
		return f, err
	}
	var scanned sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT sum(bytes_scanned) FROM query_executions`).Scan(&scanned); err != nil {
		return f, fmt.Errorf("cannot sum the data queries scanned: %w", err)
	}
	f.BytesScanned = scanned.Int64
	for _, b := range bounds {
		f.AtMost[b] = 0
	}
	err = runTable.Durations(ctx, db, func(d time.Duration) {
		s := d.Seconds()
		f.Count++
		f.Seconds += s
		for _, b := range bounds {
			if s <= b {
				f.AtMost[b]++
			}
		}
	})
	return f, err
}
