package query

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
)

// BenchmarkExecutionFigures measures a /metrics scrape's query figures over
// a history of 100,000 executions.
func BenchmarkExecutionFigures(b *testing.B) {
	ctx := context.Background()
	db, err := meta.Open(ctx, metatest.Config(b, filepath.Join(b.TempDir(), "meta.db")))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, "query", Migrations); err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := db.Tx(ctx, func(tx *sql.Tx) error {
		for i := range 100000 {
			start := t0.Add(time.Duration(i) * time.Second)
			if _, err := tx.ExecContext(ctx, `INSERT INTO query_executions (id, sql, state, submitted_at, ended_at, bytes_scanned) VALUES (?, 'SELECT 1', ?, ?, ?, 1)`,
				fmt.Sprint(i), StateSucceeded, meta.FormatTime(start), meta.FormatTime(start.Add(time.Duration(i%5000)*time.Millisecond))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	bounds := []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}
	b.ResetTimer()
	for b.Loop() {
		f, err := ExecutionFigures(ctx, db.SQL(), bounds)
		if err != nil || f.Count != 100000 {
			b.Fatal(f.Count, err)
		}
	}
}
