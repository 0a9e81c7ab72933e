package workflow

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/dbt"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/runs"
)

// Run states (Step Functions' names, plus QUEUED while the workflow's
// concurrency is used up).
const (
	RunQueued    = runs.Queued
	RunRunning   = runs.Running
	RunSucceeded = runs.Succeeded
	RunFailed    = runs.Failed
	RunStopped   = runs.Stopped
)

// Step states.
const (
	StepWaiting   = "WAITING"  // upstream steps have not decided yet
	StepRunning   = "RUNNING"  // an attempt is executing
	StepRetrying  = "RETRYING" // an attempt failed; the next waits for its backoff
	StepSucceeded = "SUCCEEDED"
	StepFailed    = "FAILED"
	StepSkipped   = "SKIPPED" // its condition on upstream steps was not met
	StepStopped   = "STOPPED"
)

func stepDone(state string) bool {
	switch state {
	case StepSucceeded, StepFailed, StepSkipped, StepStopped:
		return true
	}
	return false
}

// Run is one execution of a workflow.
type Run struct {
	ID       string `json:"id"`
	Workflow string `json:"workflow"`
	Trigger  string `json:"trigger,omitempty"`
	State    string `json:"state"`
	// Properties are the run's inputs; an event trigger sets objects (the
	// new objects' s3:// URIs, comma-separated), object_count and event_ids.
	Properties map[string]string `json:"properties,omitempty"`
	QueuedAt   time.Time         `json:"queued_at"`
	StartedAt  time.Time         `json:"started_at"`
	EndedAt    time.Time         `json:"ended_at"`
	Error      string            `json:"error,omitempty"`
	Steps      []StepRun         `json:"steps"`

	spec  Workflow
	owner string
	stop  bool
}

// StepRun is the state of one step in a run.
type StepRun struct {
	Name          string    `json:"name"`
	Target        string    `json:"target"`
	State         string    `json:"state"`
	Attempt       int       `json:"attempt"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	// ChildID is the job run, crawl or query execution of the last attempt.
	ChildID   string    `json:"child_id,omitempty"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at"`
	Error     string    `json:"error,omitempty"`
	// DBT are the models, seeds, snapshots and tests of a dbt step's last
	// attempt, in the order dbt ran them.
	DBT []dbt.Node `json:"dbt,omitempty"`
}

func newRunID() string { return runs.NewID("wr-", "20060102T150405") }

// runTable is workflow_runs in the run ledger's terms.
var runTable = runs.Table{Name: "workflow_runs", Start: "started_at", End: "ended_at", Owner: "owner", Stop: "stop_requested"}

// singleTarget is the one-step workflow a trigger of a job or crawler
// runs; its name ("job:NAME") cannot clash with a workflow's.
func singleTarget(job, crawlerName string, props map[string]string) Workflow {
	st := Step{Name: job + crawlerName, Job: job, Crawler: crawlerName}
	name := "crawler:" + crawlerName
	if job != "" {
		name = "job:" + job
		st.Args = map[string]string{}
		for k := range props {
			// The trigger's properties are the job's arguments.
			st.Args[k] = "${" + k + "}"
		}
	}
	// Validated under a plain name (the ':' is not allowed in workflow
	// names, which is the point), so that the defaults are filled.
	w := Workflow{Name: "single", Steps: []Step{st}}
	_ = w.Validate()
	w.Name = name
	return w
}

// StartOptions tune a start.
type StartOptions struct {
	// Properties override the workflow's default properties.
	Properties map[string]string
	// Trigger names what started the run ("" for a manual start).
	Trigger string
	// Own makes this process execute the run (the CLI without a server);
	// otherwise the scheduler of `tarn serve` picks it up.
	Own bool
}

// Start queues a run of a workflow and returns it. The scheduler (Run)
// executes it; a caller without a scheduler uses Execute.
func (s *Service) Start(ctx context.Context, workflow string, opts StartOptions) (Run, error) {
	w, err := s.GetWorkflow(ctx, workflow)
	if err != nil {
		return Run{}, err
	}
	var r Run
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = s.queueTx(ctx, tx, w, opts)
		return err
	})
	if err != nil {
		return Run{}, fmt.Errorf("cannot start workflow %q: %w", workflow, err)
	}
	s.wake()
	return r, nil
}

// StartTarget queues a run of a single job or crawler (what a trigger of
// a job or crawler does).
func (s *Service) StartTarget(ctx context.Context, job, crawlerName string, opts StartOptions) (Run, error) {
	if err := s.checkTarget(ctx, job, crawlerName); err != nil {
		return Run{}, err
	}
	var r Run
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = s.queueTx(ctx, tx, singleTarget(job, crawlerName, opts.Properties), opts)
		return err
	})
	if err != nil {
		return Run{}, err
	}
	s.wake()
	return r, nil
}

// queueTx inserts a QUEUED run of w with its steps.
func (s *Service) queueTx(ctx context.Context, tx *sql.Tx, w Workflow, opts StartOptions) (Run, error) {
	props := map[string]string{}
	for k, v := range w.Properties {
		props[k] = v
	}
	for k, v := range opts.Properties {
		props[k] = v
	}
	r := Run{ID: newRunID(), Workflow: w.Name, Trigger: opts.Trigger, State: RunQueued, Properties: props, QueuedAt: s.Now(), spec: w}
	if opts.Own {
		r.owner = runs.Owner()
	}
	spec, _ := json.Marshal(w)
	pb, _ := json.Marshal(props)
	if _, err := tx.ExecContext(ctx, `INSERT INTO workflow_runs (id, workflow, trigger_name, state, properties, spec, queued_at, owner)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, r.Workflow, r.Trigger, r.State, string(pb), string(spec), meta.FormatTime(r.QueuedAt), r.owner); err != nil {
		return Run{}, err
	}
	for i, st := range w.Steps {
		if _, err := tx.ExecContext(ctx, `INSERT INTO workflow_steps (run_id, step, position, state) VALUES (?, ?, ?, ?)`,
			r.ID, st.Name, i, StepWaiting); err != nil {
			return Run{}, err
		}
		r.Steps = append(r.Steps, StepRun{Name: st.Name, Target: st.Target(), State: StepWaiting})
	}
	return r, nil
}

const runColumns = `id, workflow, trigger_name, state, properties, spec, queued_at, started_at, ended_at, error, owner, stop_requested`

func scanRun(r interface{ Scan(...any) error }) (Run, error) {
	var run Run
	var props, spec, queued, started, ended string
	var stop int
	if err := r.Scan(&run.ID, &run.Workflow, &run.Trigger, &run.State, &props, &spec, &queued, &started, &ended, &run.Error, &run.owner, &stop); err != nil {
		return Run{}, err
	}
	_ = json.Unmarshal([]byte(props), &run.Properties)
	_ = json.Unmarshal([]byte(spec), &run.spec)
	run.QueuedAt, run.StartedAt, run.EndedAt = meta.ParseTime(queued), meta.ParseTime(started), meta.ParseTime(ended)
	run.stop = stop != 0
	return run, nil
}

// GetRun returns a run with its steps.
func (s *Service) GetRun(ctx context.Context, id string) (Run, error) {
	run, err := scanRun(s.DB.SQL().QueryRowContext(ctx, `SELECT `+runColumns+` FROM workflow_runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("cannot get workflow run %q: %w", id, ErrNoSuchRun)
	}
	if err != nil {
		return Run{}, fmt.Errorf("cannot get workflow run %q: %w", id, err)
	}
	if err := s.loadSteps(ctx, &run); err != nil {
		return Run{}, err
	}
	return run, nil
}

func (s *Service) loadSteps(ctx context.Context, run *Run) error {
	rows, err := s.DB.SQL().QueryContext(ctx, `SELECT step, state, attempt, next_attempt_at, child_id, started_at, ended_at, error
		FROM workflow_steps WHERE run_id = ? ORDER BY position`, run.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	run.Steps = nil
	for rows.Next() {
		var st StepRun
		var next, started, ended string
		if err := rows.Scan(&st.Name, &st.State, &st.Attempt, &next, &st.ChildID, &started, &ended, &st.Error); err != nil {
			return err
		}
		st.NextAttemptAt, st.StartedAt, st.EndedAt = meta.ParseTime(next), meta.ParseTime(started), meta.ParseTime(ended)
		if sp, ok := run.step(st.Name); ok {
			st.Target = sp.Target()
		}
		run.Steps = append(run.Steps, st)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	return s.loadDBTNodes(ctx, run)
}

func (r *Run) step(name string) (Step, bool) {
	for _, st := range r.spec.Steps {
		if st.Name == name {
			return st, true
		}
	}
	return Step{}, false
}

// Runs returns a workflow's runs, newest first ("" for all workflows).
func (s *Service) Runs(ctx context.Context, workflow string, limit int) ([]Run, error) {
	if limit <= 0 {
		limit = 100
	}
	q := `SELECT ` + runColumns + ` FROM workflow_runs`
	var args []any
	if workflow != "" {
		q += ` WHERE workflow = ?`
		args = append(args, workflow)
	}
	q += fmt.Sprintf(` ORDER BY queued_at DESC, id DESC LIMIT %d`, limit)
	list, err := s.queryRuns(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	for i := range list {
		if err := s.loadSteps(ctx, &list[i]); err != nil {
			return nil, err
		}
	}
	return list, nil
}

func (s *Service) queryRuns(ctx context.Context, q string, args ...any) ([]Run, error) {
	rows, err := s.DB.SQL().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list workflow runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Stop asks a run to stop: steps not started are STOPPED and running ones
// are cancelled (a job publishes nothing half-done).
func (s *Service) Stop(ctx context.Context, id string) error {
	ok, err := runTable.RequestStop(ctx, s.DB.SQL(), id, RunQueued, RunRunning)
	if err != nil {
		return fmt.Errorf("cannot stop workflow run %q: %w", id, err)
	}
	if !ok {
		if _, err := s.GetRun(ctx, id); err != nil {
			return err
		}
		return fmt.Errorf("cannot stop workflow run %q: %w", id, ErrRunNotActive)
	}
	s.mu.Lock()
	for k, a := range s.active {
		if k.run == id {
			a.cancel(errStopped)
		}
	}
	s.mu.Unlock()
	s.wake()
	return nil
}

var (
	errStopped     = errors.New("stopped by request")
	errShutdown    = errors.New("interrupted: the server shut down while the step ran")
	errInterrupted = errors.New("interrupted: the process running the step exited before it finished")
)

// Execute runs one run to its end in this process (the CLI's `tarn
// workflow start` without a server) and returns it.
func (s *Service) Execute(ctx context.Context, id string) (Run, error) {
	for {
		run, err := s.GetRun(ctx, id)
		if err != nil {
			return Run{}, err
		}
		if run.State != RunQueued && run.State != RunRunning {
			return run, nil
		}
		s.advance(ctx, run)
		select {
		case <-ctx.Done():
			s.cancelAll(errShutdown)
			s.wg.Wait()
			run, _ := s.GetRun(context.WithoutCancel(ctx), id)
			return run, ctx.Err()
		case <-s.wakeCh:
		case <-time.After(s.cfg.Tick):
		}
	}
}

func (s *Service) cancelAll(cause error) {
	s.mu.Lock()
	for _, a := range s.active {
		a.cancel(cause)
	}
	s.mu.Unlock()
}

// advance moves one run forward: queued to running when its workflow has
// room, steps whose upstream decided to ready or skipped, ready steps
// started, and the run ended when every step has.
func (s *Service) advance(ctx context.Context, run Run) {
	now := s.Now()
	if run.State == RunQueued {
		if run.stop {
			s.endRun(ctx, run, RunStopped, "stopped before it started")
			return
		}
		var running int
		if err := s.DB.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM workflow_runs WHERE workflow = ? AND state = ?`,
			run.Workflow, RunRunning).Scan(&running); err != nil {
			return
		}
		if running >= max(run.spec.MaxConcurrentRuns, 1) {
			return
		}
		// Runs of a workflow start in the order they were queued.
		var first string
		if err := s.DB.SQL().QueryRowContext(ctx, `SELECT id FROM workflow_runs WHERE workflow = ? AND state = ? ORDER BY queued_at, id LIMIT 1`,
			run.Workflow, RunQueued).Scan(&first); err != nil || first != run.ID {
			return
		}
		if !s.claim(ctx, `UPDATE workflow_runs SET state = ?, started_at = ?, owner = ? WHERE id = ? AND state = ?`,
			RunRunning, meta.FormatTime(now), runs.Owner(), run.ID, RunQueued) {
			return
		}
		run.State, run.StartedAt, run.owner = RunRunning, now, runs.Owner()
	} else if run.owner == "" {
		// Released by a server that stopped leading: taken over as is
		// (its interrupted steps are RETRYING).
		if !s.claim(ctx, `UPDATE workflow_runs SET owner = ? WHERE id = ? AND state = ? AND owner = ''`, runs.Owner(), run.ID, RunRunning) {
			return
		}
		run.owner = runs.Owner()
	}
	if err := s.loadSteps(ctx, &run); err != nil {
		return
	}
	states := map[string]string{}
	for _, st := range run.Steps {
		states[st.Name] = st.State
	}
	// Decide waiting steps until nothing changes (skips cascade).
	ready := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, sp := range run.spec.Steps {
			if states[sp.Name] != StepWaiting || ready[sp.Name] {
				continue
			}
			if run.stop {
				states[sp.Name] = StepStopped
				s.setStep(ctx, run.ID, sp.Name, StepStopped, "stopped by request", now)
				changed = true
				continue
			}
			switch decide(sp, states) {
			case "ready":
				ready[sp.Name] = true
			case "skip":
				states[sp.Name] = StepSkipped
				s.setStep(ctx, run.ID, sp.Name, StepSkipped, "condition "+sp.Condition+" on "+strings.Join(sp.DependsOn, ", ")+" not met", now)
				changed = true
			}
		}
	}
	for _, st := range run.Steps {
		if st.State == StepRetrying {
			if run.stop {
				states[st.Name] = StepStopped
				s.setStep(ctx, run.ID, st.Name, StepStopped, "stopped by request", now)
			} else if !st.NextAttemptAt.After(now) {
				ready[st.Name] = true
			}
		}
	}
	// Start ready steps in definition order, within the run's and the
	// process's limits.
	s.mu.Lock()
	running := 0
	for k := range s.active {
		if k.run == run.ID {
			running++
		}
	}
	for _, sp := range run.spec.Steps {
		if !ready[sp.Name] || running >= run.spec.MaxParallelSteps || len(s.active) >= s.cfg.MaxSteps {
			continue
		}
		key := stepKey{run.ID, sp.Name}
		if _, ok := s.active[key]; ok {
			continue
		}
		attempt := 0
		for _, st := range run.Steps {
			if st.Name == sp.Name {
				attempt = st.Attempt
			}
		}
		sctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
		s.active[key] = &activeStep{cancel: cancel}
		states[sp.Name] = StepRunning
		running++
		s.wg.Add(1)
		go s.runStep(sctx, cancel, run, sp, attempt+1)
	}
	s.mu.Unlock()

	// The run ends when every step has and none is executing here.
	for _, st := range run.spec.Steps {
		if !stepDone(states[st.Name]) {
			return
		}
	}
	state, reason := RunSucceeded, ""
	var failed []string
	for _, sp := range run.spec.Steps {
		switch states[sp.Name] {
		case StepStopped:
			state, reason = RunStopped, "stopped by request"
		case StepFailed:
			if !caught(run.spec, sp.Name, states) {
				failed = append(failed, sp.Name)
			}
		}
	}
	if state != RunStopped && len(failed) > 0 {
		state, reason = RunFailed, "step "+strings.Join(failed, ", ")+" failed"
		for _, st := range run.Steps {
			if st.Name == failed[0] && st.Error != "" {
				reason += ": " + st.Error
			}
		}
	}
	s.endRun(ctx, run, state, reason)
}

// claim runs one update that makes this process a run's owner, fenced: it
// reports whether the update changed the run.
func (s *Service) claim(ctx context.Context, update string, args ...any) bool {
	claimed := false
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.fence(ctx, tx); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, update, args...)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		claimed = n > 0
		return nil
	})
	if err != nil && ctx.Err() == nil {
		slog.Warn("cannot take a workflow run", "err", err)
	}
	return err == nil && claimed
}

// decide tells whether a waiting step is "ready", to "skip", or must
// "wait" for its upstream steps.
func decide(sp Step, states map[string]string) string {
	if len(sp.DependsOn) == 0 {
		return "ready"
	}
	var done, succeeded, failed int
	for _, d := range sp.DependsOn {
		st := states[d]
		if stepDone(st) {
			done++
		}
		switch st {
		case StepSucceeded:
			succeeded++
		case StepFailed:
			failed++
		}
	}
	all := done == len(sp.DependsOn)
	switch sp.Condition {
	case CondAnySucceeded:
		if succeeded > 0 {
			return "ready"
		}
	case CondAnyFailed:
		if failed > 0 {
			return "ready"
		}
	case CondAllDone:
		if all {
			return "ready"
		}
		return "wait"
	default:
		if succeeded == len(sp.DependsOn) {
			return "ready"
		}
		if done > succeeded {
			return "skip"
		}
		return "wait"
	}
	if all {
		return "skip"
	}
	return "wait"
}

// caught reports whether a failed step has a handler: a downstream
// any_failed step that succeeded (Step Functions' Catch).
func caught(w Workflow, name string, states map[string]string) bool {
	for _, sp := range w.Steps {
		if sp.Condition == CondAnyFailed && slices.Contains(sp.DependsOn, name) && states[sp.Name] == StepSucceeded {
			return true
		}
	}
	return false
}

func (s *Service) setStep(ctx context.Context, runID, step, state, reason string, now time.Time) {
	_, _ = s.DB.SQL().ExecContext(context.WithoutCancel(ctx), `UPDATE workflow_steps SET state = ?, error = ?, ended_at = ? WHERE run_id = ? AND step = ?`,
		state, reason, meta.FormatTime(now), runID, step)
}

func (s *Service) endRun(ctx context.Context, run Run, state, reason string) {
	now := s.Now()
	res, err := s.DB.SQL().ExecContext(context.WithoutCancel(ctx), `UPDATE workflow_runs SET state = ?, error = ?, ended_at = ? WHERE id = ? AND state IN (?, ?)`,
		state, reason, meta.FormatTime(now), run.ID, RunQueued, RunRunning)
	if err != nil {
		slog.Error("cannot end workflow run", "run", run.ID, "err", err)
		return
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return
	}
	run.State, run.Error, run.EndedAt = state, reason, now
	slog.Info("workflow run ended", "workflow", run.Workflow, "run", run.ID, "state", state, "reason", reason)
	if s.OnRunEnd != nil {
		s.OnRunEnd(context.WithoutCancel(ctx), run)
	}
	s.wake() // a queued run of the same workflow may start now
}

// runStep executes one attempt of a step and records its outcome.
func (s *Service) runStep(ctx context.Context, cancel context.CancelCauseFunc, run Run, sp Step, attempt int) {
	defer s.wg.Done()
	key := stepKey{run.ID, sp.Name}
	defer func() {
		s.mu.Lock()
		delete(s.active, key)
		s.mu.Unlock()
		cancel(nil)
		s.wake()
	}()
	started := s.Now()
	// Only while this process owns the run: another server may have taken
	// it over (this one stopped leading, or was paused past its heartbeat).
	res, err := s.DB.SQL().ExecContext(ctx, `UPDATE workflow_steps SET state = ?, attempt = ?, started_at = ?, ended_at = '', error = '', next_attempt_at = '' WHERE run_id = ? AND step = ?
		AND EXISTS (SELECT 1 FROM workflow_runs WHERE id = ? AND owner = ?)`,
		StepRunning, attempt, meta.FormatTime(started), run.ID, sp.Name, run.ID, runs.Owner())
	if err != nil {
		slog.Error("cannot record workflow step start", "run", run.ID, "step", sp.Name, "err", err)
		return
	}
	if n, _ := res.RowsAffected(); n == 0 {
		slog.Warn("workflow step not started: the run is not this process's any more", "run", run.ID, "step", sp.Name)
		return
	}
	if sp.Timeout > 0 {
		var c context.CancelFunc
		ctx, c = context.WithTimeoutCause(ctx, time.Duration(sp.Timeout), fmt.Errorf("step %q timed out after %s", sp.Name, time.Duration(sp.Timeout)))
		defer c()
	}
	// The properties are read now, not when the run was loaded: the upstream
	// steps' outputs may have been saved since.
	var props string
	if err := s.DB.SQL().QueryRowContext(ctx, `SELECT properties FROM workflow_runs WHERE id = ?`, run.ID).Scan(&props); err == nil {
		run.Properties = map[string]string{}
		_ = json.Unmarshal([]byte(props), &run.Properties)
	}
	child, outputs, err := s.execStep(ctx, run, sp, attempt)
	if err == nil {
		if serr := s.saveOutputs(context.WithoutCancel(ctx), run.ID, sp.Name, outputs); serr != nil {
			err = fmt.Errorf("cannot record the step's outputs: %w", serr)
		}
	}
	if err != nil && context.Cause(ctx) != nil && !errors.Is(err, context.Cause(ctx)) {
		err = fmt.Errorf("%w (%v)", context.Cause(ctx), err)
	}
	now := s.Now()
	rec := context.WithoutCancel(ctx)
	state, msg, next := StepSucceeded, "", time.Time{}
	if err != nil {
		msg = err.Error()
		cause := context.Cause(ctx)
		switch {
		case errors.Is(cause, errStopped):
			state = StepStopped
		case errors.Is(cause, errShutdown):
			// Not the step's fault: try again when the scheduler is back.
			state, next = StepRetrying, now
		case attempt <= sp.Retries:
			delay := time.Duration(float64(sp.RetryDelay) * math.Pow(sp.BackoffRate, float64(attempt-1)))
			state, next = StepRetrying, now.Add(delay)
			msg = fmt.Sprintf("attempt %d failed, retrying in %s: %s", attempt, delay.Round(time.Millisecond), msg)
		default:
			state = StepFailed
		}
	}
	res, err = s.DB.SQL().ExecContext(rec, `UPDATE workflow_steps SET state = ?, child_id = ?, ended_at = ?, error = ?, next_attempt_at = ? WHERE run_id = ? AND step = ?
		AND EXISTS (SELECT 1 FROM workflow_runs WHERE id = ? AND owner = ?)`,
		state, child, meta.FormatTime(now), msg, meta.FormatTime(next), run.ID, sp.Name, run.ID, runs.Owner())
	if err != nil {
		slog.Error("cannot record workflow step", "run", run.ID, "step", sp.Name, "err", err)
	} else if n, _ := res.RowsAffected(); n == 0 {
		slog.Warn("workflow step outcome not recorded: another process took the run over meanwhile", "run", run.ID, "step", sp.Name, "state", state)
		return
	}
	slog.Info("workflow step", "run", run.ID, "step", sp.Name, "attempt", attempt, "state", state, "error", msg)
}

var (
	propRE     = regexp.MustCompile(`\$\{([A-Za-z0-9_.]+)\}`)
	propNameRE = regexp.MustCompile(`^[A-Za-z0-9_.]+$`)
)

// listProperties are the properties whose values are comma-separated lists
// (set by event triggers): in SQL code each item is a literal of its own.
var listProperties = map[string]bool{"objects": true, "event_ids": true}

// expandSQL replaces ${property} in a step's SQL by a literal of the
// property's value (jobs.SubstituteSQL): a value is never SQL text, so an
// object key such as x' OR 'a'='a stays a string.
func expandSQL(text string, props map[string]string) (string, error) {
	out, missing, err := jobs.SubstituteSQL(text, propNameRE.MatchString, func(name string) (jobs.Arg, bool) {
		v, ok := props[name]
		return jobs.Arg{Value: v, List: listProperties[name]}, ok
	})
	if err != nil {
		return "", err
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("unknown run property %s (the run has: %s)", strings.Join(missing, ", "), strings.Join(sortedKeys(props), ", "))
	}
	return out, nil
}

// expand replaces ${property} with the run's properties; an unknown
// property is an error, not an empty string.
func expand(s string, props map[string]string) (string, error) {
	var missing []string
	out := propRE.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		v, ok := props[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("unknown run property %s (the run has: %s)", strings.Join(missing, ", "), strings.Join(sortedKeys(props), ", "))
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// execStep runs the step's crawler, job or statement once and returns the
// id of what it started and its outputs, which later steps read as
// ${step.name}: a statement's first row by column, a job's and a crawl's
// figures.
func (s *Service) execStep(ctx context.Context, run Run, sp Step, attempt int) (string, map[string]string, error) {
	out := map[string]string{}
	switch sp.Kind() {
	case "dbt":
		return s.execDBT(ctx, run, sp, attempt)
	case "crawler":
		r, err := s.Crawlers.Start(ctx, sp.Crawler, crawler.StartOptions{})
		out["run_id"], out["files_scanned"] = r.ID, strconv.Itoa(r.FilesScanned)
		out["tables_created"], out["tables_updated"] = strings.Join(r.TablesCreated, ","), strings.Join(r.TablesUpdated, ",")
		out["partitions_added"] = strconv.Itoa(r.PartitionsAdded)
		return r.ID, out, err
	case "job":
		// Arguments are values, not SQL: the job quotes them where its SQL
		// uses them. One that is exactly a list property stays a list.
		args := map[string]string{}
		var lists []string
		for k, v := range sp.Args {
			x, err := expand(v, run.Properties)
			if err != nil {
				return "", nil, fmt.Errorf("argument %s: %w", k, err)
			}
			args[k] = x
			if m := propRE.FindStringSubmatch(v); m != nil && m[0] == v && listProperties[m[1]] {
				lists = append(lists, k)
			}
		}
		// The job's lineage names this workflow run as its parent, as a dbt
		// step's models do.
		parent := &jobs.LineageParent{RunID: run.ID, Namespace: catalog.LineageNamespace, Name: "workflow." + run.Workflow}
		r, err := s.Jobs.Start(ctx, sp.Job, jobs.StartOptions{Args: args, ListArgs: lists, Lineage: parent})
		out["run_id"] = r.ID
		out["rows_read"], out["rows_written"] = strconv.FormatInt(r.Stats.RowsRead, 10), strconv.FormatInt(r.Stats.RowsWritten, 10)
		out["rows_rejected"], out["files_written"] = strconv.FormatInt(r.Stats.RowsRejected, 10), strconv.Itoa(r.Stats.FilesWritten)
		out["partitions"] = strings.Join(r.Stats.Partitions, ",")
		return r.ID, out, err
	default:
		text, err := expandSQL(sp.SQL, run.Properties)
		if err != nil {
			return "", nil, err
		}
		// The statement runs with the workflow's identity, checked now: its
		// key may have been deleted or its policy changed since.
		authz, err := s.authorizer(ctx, run.spec)
		if err != nil {
			return "", nil, err
		}
		req := query.Request{SQL: text, Database: sp.Database, Workgroup: sp.Workgroup, Authorize: authz}
		if authz != nil {
			req.AccessKey = run.spec.RunAs
		}
		first := &firstRow{}
		ex, err := s.Query.Execute(ctx, req, first)
		out["query_id"], out["rows"] = ex.ID, strconv.FormatInt(ex.Stats.Rows, 10)
		for i, c := range first.cols {
			if i < len(first.row) {
				out[c.Name] = formatValue(first.row[i])
			}
		}
		return ex.ID, out, err
	}
}

// firstRow keeps a statement's first row and discards the rest.
type firstRow struct {
	cols []query.Column
	row  []any
	seen bool
}

func (f *firstRow) Columns(cols []query.Column) error { f.cols = cols; return nil }
func (f *firstRow) Row(vals []any) error {
	if !f.seen {
		f.row, f.seen = append([]any(nil), vals...), true
	}
	return nil
}

func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

// saveOutputs adds a step's outputs to the run's properties as
// "step.name", in one transaction so parallel steps do not overwrite each
// other's.
func (s *Service) saveOutputs(ctx context.Context, runID, step string, out map[string]string) error {
	if len(out) == 0 {
		return nil
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var text string
		if err := tx.QueryRowContext(ctx, `SELECT properties FROM workflow_runs WHERE id = ?`, runID).Scan(&text); err != nil {
			return err
		}
		props := map[string]string{}
		_ = json.Unmarshal([]byte(text), &props)
		for k, v := range out {
			props[step+"."+k] = v
		}
		b, _ := json.Marshal(props)
		_, err := tx.ExecContext(ctx, `UPDATE workflow_runs SET properties = ? WHERE id = ?`, string(b), runID)
		return err
	})
}

// Spec is the definition the run started with.
func (r Run) Spec() Workflow { return r.spec }

// PutRunProperties merges props into an active run's properties (Glue's
// PutWorkflowRunProperties): steps that start afterwards see them.
func (s *Service) PutRunProperties(ctx context.Context, id string, props map[string]string) error {
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var state, cur string
		err := tx.QueryRowContext(ctx, `SELECT state, properties FROM workflow_runs WHERE id = ?`, id).Scan(&state, &cur)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("cannot set properties of workflow run %q: %w", id, ErrNoSuchRun)
		}
		if err != nil {
			return err
		}
		if state != RunQueued && state != RunRunning {
			return fmt.Errorf("cannot set properties of workflow run %q, which is %s: %w", id, state, ErrRunNotActive)
		}
		m := map[string]string{}
		_ = json.Unmarshal([]byte(cur), &m)
		for k, v := range props {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		_, err = tx.ExecContext(ctx, `UPDATE workflow_runs SET properties = ? WHERE id = ?`, string(b), id)
		return err
	})
}
