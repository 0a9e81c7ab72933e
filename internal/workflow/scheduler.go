package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/runs"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Run is the scheduler: it fires triggers and executes runs until ctx is
// done, then cancels the steps still running (they are retried when a
// scheduler runs again) and waits for them to record that.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Recover(ctx); err != nil {
		return err
	}
	lastRecover := time.Now()
	for {
		var wait <-chan struct{}
		if s.Ledger != nil {
			wait = s.Ledger.Wait()
		}
		s.Tick(ctx)
		if time.Since(lastRecover) > 10*time.Second {
			// A CLI process that ran a workflow may have died since.
			_ = s.Recover(ctx)
			lastRecover = time.Now()
		}
		select {
		case <-ctx.Done():
			s.cancelAll(errShutdown)
			s.wg.Wait()
			return nil
		case <-wait:
		case <-s.wakeCh:
		case <-time.After(s.cfg.Tick):
		}
	}
}

// Recover takes over the runs of processes that died: their running steps
// become RETRYING (or FAILED when they were already interrupted beyond
// their retries) and the runs are executed by this process.
func (s *Service) Recover(ctx context.Context) error {
	// A queued run nobody has taken has no owner and is nobody's orphan.
	orphans, err := runTable.Orphans(ctx, s.DB.SQL(), true, RunQueued, RunRunning)
	if err != nil {
		return err
	}
	for _, o := range orphans {
		run, err := s.GetRun(ctx, o.ID)
		if errors.Is(err, ErrNoSuchRun) {
			continue
		}
		if err != nil {
			return err
		}
		if run.owner != o.Owner || (run.State != RunQueued && run.State != RunRunning) {
			continue // taken over or ended meanwhile
		}
		now := s.Now()
		err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
			if err := s.fence(ctx, tx); err != nil {
				return err
			}
			for _, st := range run.Steps {
				if st.State != StepRunning {
					continue
				}
				sp, _ := run.step(st.Name)
				state, next, msg := StepRetrying, meta.FormatTime(now), errInterrupted.Error()
				// An interruption is not the step's fault, so it gets one
				// attempt beyond its retries, but a step that keeps killing
				// the process must end.
				if st.Attempt > sp.Retries+1 {
					state, next = StepFailed, ""
				}
				if _, err := tx.ExecContext(ctx, `UPDATE workflow_steps SET state = ?, next_attempt_at = ?, error = ?, ended_at = ? WHERE run_id = ? AND step = ?`,
					state, next, msg, meta.FormatTime(now), run.ID, st.Name); err != nil {
					return err
				}
			}
			owner := runs.Owner()
			if run.State == RunQueued {
				owner = ""
			}
			_, err := tx.ExecContext(ctx, `UPDATE workflow_runs SET owner = ? WHERE id = ? AND owner = ?`, owner, run.ID, run.owner)
			return err
		})
		if err != nil {
			return fmt.Errorf("cannot recover workflow run %s: %w", run.ID, err)
		}
		slog.Info("recovered workflow run of a process that exited", "run", run.ID, "workflow", run.Workflow)
	}
	return nil
}

// Tick does one round of scheduling: due schedules fire, event triggers
// take their batches, and runs move forward.
func (s *Service) Tick(ctx context.Context) {
	now := s.Now()
	trs, err := s.triggers(ctx, `WHERE enabled = 1`)
	if err != nil {
		slog.Error("cannot read triggers", "err", err)
	}
	// Event triggers with nothing new are skipped without a query each: the
	// ledger's newest id and the pending replays are read once per tick.
	var lastEvent int64
	replays := map[string]bool{}
	if s.Ledger != nil {
		if lastEvent, err = s.Ledger.LastID(ctx); err != nil {
			slog.Error("cannot read the events ledger", "err", err)
		}
		if replays, err = s.Ledger.ReplayTriggers(ctx); err != nil {
			slog.Error("cannot read the events ledger", "err", err)
		}
	}
	for _, t := range trs {
		var err error
		switch t.Type {
		case TriggerScheduled:
			err = s.fireSchedule(ctx, t, now)
		case TriggerEvent:
			pollDue := t.Poll > 0 && now.Sub(t.LastPoll) >= time.Duration(t.Poll)
			if t.EventCursor < lastEvent || replays[t.Name] || pollDue {
				err = s.fireEvents(ctx, t, now)
			}
		}
		if err != nil && ctx.Err() == nil {
			slog.Error("trigger failed", "trigger", t.Name, "err", err)
		}
	}
	mine, err := s.queryRuns(ctx, `SELECT `+runColumns+` FROM workflow_runs WHERE state IN (?, ?) AND (owner = '' OR owner = ?) ORDER BY queued_at, id`,
		RunQueued, RunRunning, runs.Owner())
	if err != nil {
		slog.Error("cannot read workflow runs", "err", err)
		return
	}
	for _, r := range mine {
		if ctx.Err() != nil {
			return
		}
		s.advance(ctx, r)
	}
}

// FireTrigger starts a trigger's target now with the trigger's properties
// (and props over them): how an ON_DEMAND trigger runs (Glue's
// StartTrigger); any trigger may be fired by hand.
func (s *Service) FireTrigger(ctx context.Context, name string, props map[string]string) (Run, error) {
	ts, err := s.triggers(ctx, `WHERE name = ?`, name)
	if err != nil {
		return Run{}, err
	}
	if len(ts) == 0 {
		return Run{}, fmt.Errorf("cannot start trigger %q: %w", name, ErrNoSuchTrigger)
	}
	run, err := s.fire(ctx, ts[0], props, func(*sql.Tx, string) error { return nil })
	if err != nil {
		return Run{}, fmt.Errorf("cannot start trigger %q: %w", name, err)
	}
	s.wake()
	return run, nil
}

// fire queues the trigger's run and updates the trigger's state (and when
// it last fired) in the same transaction, so that a crash never fires twice
// or loses a firing.
func (s *Service) fire(ctx context.Context, t TriggerState, props map[string]string, update func(tx *sql.Tx, runID string) error) (Run, error) {
	all := map[string]string{"trigger": t.Name}
	for k, v := range t.Properties {
		all[k] = v
	}
	for k, v := range props {
		all[k] = v
	}
	var w Workflow
	if t.Workflow != "" {
		var err error
		if w, err = s.GetWorkflow(ctx, t.Workflow); err != nil {
			return Run{}, err
		}
	} else {
		w = singleTarget(t.Job, t.Crawler, all)
	}
	var run Run
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if run, err = s.queueTx(ctx, tx, w, StartOptions{Properties: all, Trigger: t.Name}); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE triggers SET fired_at = ? WHERE name = ?`, meta.FormatTime(s.Now()), t.Name); err != nil {
			return err
		}
		return update(tx, run.ID)
	})
	if err != nil {
		return Run{}, err
	}
	slog.Info("trigger fired", "trigger", t.Name, "target", t.Target(), "run", run.ID)
	return run, nil
}

func (s *Service) fireSchedule(ctx context.Context, t TriggerState, now time.Time) error {
	sch, err := s.schedule(t.Schedule, t.Timezone)
	if err != nil {
		return err
	}
	after := t.scheduledAfter
	if after.IsZero() {
		after = t.CreatedAt
	}
	// The next time is computed once per (schedule, last firing), then each
	// tick only compares it with the clock.
	key := t.Name + "\x00" + t.Timezone + "\x00" + t.Schedule + "\x00" + after.String() + "\x00" + t.CreatedAt.String()
	s.mu.Lock()
	next, ok := s.nextFire[key]
	s.mu.Unlock()
	if !ok {
		next = sch.Next(after, t.CreatedAt)
		s.mu.Lock()
		if len(s.nextFire) > 100000 {
			s.nextFire = map[string]time.Time{}
		}
		s.nextFire[key] = next
		s.mu.Unlock()
	}
	if next.IsZero() || next.After(now) {
		return nil
	}
	due := sch.LastDue(after, now, t.CreatedAt)
	if due.IsZero() {
		return nil
	}
	_, err = s.fire(ctx, t, map[string]string{"scheduled_time": due.Format(time.RFC3339)}, func(tx *sql.Tx, _ string) error {
		if err := s.fence(ctx, tx); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE triggers SET last_fired = ? WHERE name = ? AND last_fired = ?`,
			meta.FormatTime(due), t.Name, meta.FormatTime(t.scheduledAfter))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("trigger %q fired elsewhere meanwhile", t.Name)
		}
		return nil
	})
	return err
}

// schedule parses an expression once and keeps it: the scheduler looks at
// every schedule every tick.
func (s *Service) schedule(expr, tz string) (*Schedule, error) {
	key := tz + "\x00" + expr
	s.mu.Lock()
	sch, ok := s.schedules[key]
	s.mu.Unlock()
	if ok {
		return sch, nil
	}
	sch, err := ParseSchedule(expr, tz)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.schedules) > 100000 {
		s.schedules = map[string]*Schedule{}
	}
	s.schedules[key] = sch
	s.mu.Unlock()
	return sch, nil
}

func (s *Service) fireEvents(ctx context.Context, t TriggerState, now time.Time) error {
	if s.Ledger == nil {
		return nil
	}
	prefix, err := storage.ParseURI(t.Prefix)
	if err != nil {
		return err
	}
	if t.Poll > 0 && now.Sub(t.LastPoll) >= time.Duration(t.Poll) {
		if err := s.poll(ctx, t, prefix, now); err != nil {
			return err
		}
	}
	pending, err := s.Ledger.Replays(ctx, t.Name)
	if err != nil {
		return err
	}
	cursor := t.EventCursor
	evs, err := s.Ledger.Scan(ctx, events.ListOptions{Prefix: prefix, AfterID: cursor, Limit: 10000})
	if err != nil {
		return err
	}
	skipTo := cursor
	for _, e := range evs {
		if t.Suffix != "" && !strings.HasSuffix(e.Key, t.Suffix) {
			if len(pending) == 0 {
				skipTo = e.ID // nothing waits before it: move past it
			}
			continue
		}
		if strings.HasSuffix(e.Key, "/") && e.Size == 0 {
			// A folder marker is not data.
			if len(pending) == 0 {
				skipTo = e.ID
			}
			continue
		}
		pending = append(pending, e)
	}
	for len(pending) > 0 {
		n := len(pending)
		if n >= t.BatchSize {
			n = t.BatchSize
		} else if now.Sub(pending[0].RecordedAt) < time.Duration(t.BatchWindow) {
			break // wait for more objects or for the window to close
		}
		batch := pending[:n]
		pending = pending[n:]
		ids := make([]int64, len(batch))
		uris := make([]string, len(batch))
		idText := make([]string, len(batch))
		newCursor := skipTo
		for i, e := range batch {
			ids[i], uris[i], idText[i] = e.ID, e.URI(), strconv.FormatInt(e.ID, 10)
			if e.ID > newCursor {
				newCursor = e.ID
			}
		}
		props := map[string]string{"objects": jobs.JoinList(uris), "object_count": strconv.Itoa(len(batch)), "event_ids": strings.Join(idText, ",")}
		if _, err := s.fire(ctx, t, props, func(tx *sql.Tx, runID string) error {
			if err := s.fence(ctx, tx); err != nil {
				return err
			}
			if err := events.Deliver(ctx, tx, t.Name, runID, ids); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE triggers SET event_cursor = MAX(event_cursor, ?) WHERE name = ?`, newCursor, t.Name)
			return err
		}); err != nil {
			return err
		}
		skipTo = newCursor
	}
	if skipTo > cursor {
		_, err := s.DB.SQL().ExecContext(ctx, `UPDATE triggers SET event_cursor = MAX(event_cursor, ?) WHERE name = ?`, skipTo, t.Name)
		return err
	}
	return nil
}

// poll records, as events, the objects under the trigger's prefix that
// changed since the last poll (with a margin for clocks and slow writers)
// and after the trigger was created. The ledger ignores those it has.
func (s *Service) poll(ctx context.Context, t TriggerState, prefix storage.URI, now time.Time) error {
	since := t.LastPoll.Add(-time.Minute)
	if since.Before(t.CreatedAt) {
		since = t.CreatedAt
	}
	for o, err := range storage.Walk(ctx, s.Store, prefix.Bucket, prefix.Key) {
		if err != nil {
			return fmt.Errorf("cannot poll %s: %w", t.Prefix, err)
		}
		if o.LastModified.Before(since) || strings.HasSuffix(o.Key, "/") {
			continue
		}
		if _, _, err := s.Ledger.Record(ctx, o, events.ViaPoll); err != nil {
			return err
		}
	}
	_, err := s.DB.SQL().ExecContext(ctx, `UPDATE triggers SET last_poll = ? WHERE name = ?`, meta.FormatTime(now), t.Name)
	return err
}

// fence runs the Fence, if one is set, inside a scheduler's transaction.
func (s *Service) fence(ctx context.Context, tx *sql.Tx) error {
	if s.Fence == nil {
		return nil
	}
	return s.Fence(ctx, tx)
}

// Release gives up this process's unfinished runs (after Run returned,
// so their steps are recorded as interrupted): they keep their state and
// steps, with no owner, and the scheduler that runs next (another
// server's, when this one lost the leader lease) takes them over at once.
func (s *Service) Release(ctx context.Context) error {
	_, err := s.DB.SQL().ExecContext(ctx, `UPDATE workflow_runs SET owner = '' WHERE owner = ? AND state IN (?, ?)`, runs.Owner(), RunQueued, RunRunning)
	if err != nil {
		return fmt.Errorf("cannot release the workflow runs of this process: %w", err)
	}
	return nil
}

// Close cancels the steps still executing in this process (they are
// recorded as interrupted, and the next start resumes them) and waits for
// them, so that nothing writes to the metadata database once its owner
// closes it. It may be called more than once.
func (s *Service) Close() error {
	s.cancelAll(errShutdown)
	s.wg.Wait()
	return nil
}
