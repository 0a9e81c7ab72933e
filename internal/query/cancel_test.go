package query_test

import (
	"context"
	"testing"

	"github.com/tarn-lake/tarn/internal/query"
)

// TestCancelWhileRunning: a query cancelled while DuckDB runs it ends with
// DuckDB's interrupt error, not the context's; it is still CANCELLED, not
// FAILED (SIGTERM's cancellation of a runaway query was once FAILED).
func TestCancelWhileRunning(t *testing.T) {
	l := openLake(t)
	for i := range 3 {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, _, err := l.Query.Run(ctx, "SELECT count(*) FROM range(10000000000) a, range(1000) b", "")
			done <- err
		}()
		var h []query.Execution
		for len(h) == 0 || h[0].State != query.StateRunning {
			var err error
			if h, err = l.Query.History(t.Context(), 1); err != nil {
				t.Fatal(err)
			}
		}
		cancel()
		<-done
		h, _ = l.Query.History(t.Context(), 1)
		if h[0].State != query.StateCancelled {
			t.Fatalf("run %d: a query cancelled while it ran is %s (%s), want CANCELLED", i, h[0].State, h[0].Error)
		}
	}
}
