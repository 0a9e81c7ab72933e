package query

import (
	"context"
	"log/slog"
	"time"
)

// Several servers share one lake (its metadata database and object
// store), and a load balancer sends a client's StopQueryExecution or
// long-poll to any of them. An execution's row is what they share: a
// stop request is recorded in it (its stop flag, stop_requested), the server running
// the query looks for requests of its queries every CancelPoll and cancels
// them, and the end is recorded as CANCELLED as for a local stop. A
// long-poll on a server that does not run the query follows the row's
// state.

// DefaultCancelPoll: see AsyncConfig.CancelPoll.
const DefaultCancelPoll = 200 * time.Millisecond

// cancelMigration records stop requests in the execution's row.
const cancelMigration = `
ALTER TABLE query_executions ADD COLUMN stop_requested INTEGER NOT NULL DEFAULT 0;
`

// requestCancel records a stop request for a query that another server
// runs (or that waits QUEUED there).
func (a *Async) requestCancel(ctx context.Context, id string) error {
	_, err := runTable.RequestStop(ctx, a.s.db.SQL(), id, StateQueued, StateRunning)
	return err
}

// watchCancels cancels this server's queries that a stop request names,
// until Close. It asks the database only while queries run here.
func (a *Async) watchCancels() {
	defer close(a.watchDone)
	// The watcher's own context: it ends with the watcher.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-a.stopWatch; cancel() }()
	t := time.NewTicker(a.cfg.CancelPoll)
	defer t.Stop()
	for {
		select {
		case <-a.stopWatch:
			return
		case <-t.C:
		}
		a.mu.Lock()
		n := len(a.running)
		a.mu.Unlock()
		if n > 0 {
			a.applyCancels(ctx)
		}
	}
}

// applyCancels cancels the running queries of this server that have a
// stop request.
func (a *Async) applyCancels(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rows, err := a.s.db.SQL().QueryContext(ctx, `SELECT id FROM query_executions
		WHERE state IN (?, ?) AND stop_requested <> 0`, StateQueued, StateRunning)
	if err != nil {
		slog.Warn("query: cannot look for stop requests", "error", err)
		return
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if rows.Scan(&id) == nil {
			ids = append(ids, id)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		if c := a.running[id]; c != nil {
			c()
		}
	}
}

// waitElsewhere waits until query id, which does not run here, is no
// longer QUEUED or RUNNING in its row, ctx ends or max has passed.
func (a *Async) waitElsewhere(ctx context.Context, id string, max time.Duration) {
	end := time.NewTimer(max)
	defer end.Stop()
	t := time.NewTicker(a.cfg.CancelPoll)
	defer t.Stop()
	for {
		ex, err := a.s.Get(ctx, id)
		if err != nil || ex.State != StateQueued && ex.State != StateRunning {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-end.C:
			return
		case <-t.C:
		}
	}
}
