package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tarn-lake/tarn/internal/runs"
)

// runTable is job_runs in the run ledger's terms.
var runTable = runs.Table{Name: "job_runs", Start: "started_at", End: "ended_at", Owner: "owner", Stop: "stop_requested"}

// Figures are the job runs' figures /metrics reports.
type Figures struct {
	ByState      map[string]int64 // runs per state
	RowsRejected int64            // rows every run rejected to dead letters
	Seconds      float64          // time spent in ended runs
}

// RunFigures reads the figures of every job run of the lake (db is the
// metadata database), in SQL that SQLite and PostgreSQL both run.
func RunFigures(ctx context.Context, db runs.Querier) (Figures, error) {
	var f Figures
	var err error
	if f.ByState, err = runTable.CountByState(ctx, db); err != nil {
		return f, err
	}
	var total time.Duration
	if err := runTable.Durations(ctx, db, func(d time.Duration) { total += d }); err != nil {
		return f, err
	}
	f.Seconds = total.Seconds()
	// Stats are a JSON document; it is decoded here rather than with a
	// database's JSON operators, which differ between SQLite and PostgreSQL.
	rows, err := db.QueryContext(ctx, `SELECT stats FROM job_runs WHERE stats <> '{}'`)
	if err != nil {
		return f, fmt.Errorf("cannot read job run stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return f, err
		}
		var st struct {
			RowsRejected int64 `json:"rows_rejected"`
		}
		if json.Unmarshal([]byte(doc), &st) == nil {
			f.RowsRejected += st.RowsRejected
		}
	}
	return f, rows.Err()
}
