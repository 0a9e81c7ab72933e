// Package workflow runs DAGs of steps (crawlers, jobs, SQL statements) and
// the triggers that start them: schedules (cron, AWS cron and rate
// expressions), new objects (from the events ledger) and on-demand starts.
// Runs and the state of every step are persisted, so a restart resumes
// them: steps that were running when the process died are retried, and
// schedules missed while it was down fire once.
package workflow

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/dbt"
	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/warehouse"
)

// Migrations are the workflow component's tables.
var Migrations = []meta.Migration{{Version: 1, Name: "workflows, triggers, runs", SQL: `
CREATE TABLE workflows (
	name TEXT PRIMARY KEY,
	spec TEXT NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE TABLE triggers (
	name TEXT PRIMARY KEY,
	spec TEXT NOT NULL,
	enabled INTEGER NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	last_fired TEXT NOT NULL DEFAULT '',
	event_cursor INTEGER NOT NULL DEFAULT 0,
	last_poll TEXT NOT NULL DEFAULT ''
);
CREATE TABLE workflow_runs (
	id TEXT PRIMARY KEY,
	workflow TEXT NOT NULL,
	trigger_name TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL,
	properties TEXT NOT NULL DEFAULT '{}',
	spec TEXT NOT NULL,
	queued_at TEXT NOT NULL,
	started_at TEXT NOT NULL DEFAULT '',
	ended_at TEXT NOT NULL DEFAULT '',
	error TEXT NOT NULL DEFAULT '',
	owner TEXT NOT NULL DEFAULT '',
	stop_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX workflow_runs_by_workflow ON workflow_runs (workflow, queued_at);
CREATE INDEX workflow_runs_by_state ON workflow_runs (state);
CREATE TABLE workflow_steps (
	run_id TEXT NOT NULL,
	step TEXT NOT NULL,
	position INTEGER NOT NULL,
	state TEXT NOT NULL,
	attempt INTEGER NOT NULL DEFAULT 0,
	next_attempt_at TEXT NOT NULL DEFAULT '',
	child_id TEXT NOT NULL DEFAULT '',
	started_at TEXT NOT NULL DEFAULT '',
	ended_at TEXT NOT NULL DEFAULT '',
	error TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (run_id, step)
);
`}, {Version: 2, Name: "workflow identities", SQL: `
ALTER TABLE workflows ADD COLUMN run_as TEXT NOT NULL DEFAULT '';
`}, {Version: 3, Name: "trigger firing times", SQL: `
ALTER TABLE triggers ADD COLUMN fired_at TEXT NOT NULL DEFAULT '';
UPDATE triggers SET fired_at = COALESCE((SELECT MAX(queued_at) FROM workflow_runs WHERE trigger_name = triggers.name), '');
`}, {Version: 4, Name: "dbt step results", SQL: dbtMigration}}

// Config tunes the scheduler.
type Config struct {
	// Now is the scheduler's clock (time.Now by default); tests and
	// `TARN_CLOCK` move it.
	Now func() time.Time
	// Tick is how often the scheduler looks at schedules and retries when
	// nothing wakes it sooner (default 1s).
	Tick time.Duration
	// MaxSteps bounds the steps running at once over all runs (default 8).
	MaxSteps int
	// DBT configures dbt steps (the dbt program, their folders).
	DBT dbt.Config
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{Now: time.Now, Tick: time.Second, MaxSteps: 8} }

// Deps are the services the steps drive.
type Deps struct {
	DB       *meta.DB
	Crawlers *crawler.Service
	Jobs     *jobs.Service
	Query    *query.Service
	Ledger   *events.Ledger
	Store    storage.ObjectStore
	// Keys finds the access keys workflows run as (auth.Service).
	Keys jobs.KeyStore
	// Warehouse publishes dbt steps' models (write-audit-publish).
	Warehouse *warehouse.Service
}

// Service stores workflows and triggers and executes runs. It is safe for
// concurrent use.
type Service struct {
	cfg Config
	Deps

	mu     sync.Mutex
	active map[stepKey]*activeStep // steps executing in this process
	// schedules are parsed expressions by time zone and text.
	schedules map[string]*Schedule
	nextFire  map[string]time.Time // by trigger, schedule and last firing
	wakeCh    chan struct{}
	wg        sync.WaitGroup

	// OnRunEnd, if set, is called after a run ends (alarms watch it).
	OnRunEnd func(ctx context.Context, r Run)
	// Fence, if set, is called inside the transactions of the scheduler's
	// writes that must happen once (a trigger firing, a run claimed or
	// recovered): several servers on one lake set it to their leader
	// lease's check (cluster.Fence), so a server that lost the lease
	// cannot fire or take runs. Set it before Run.
	Fence func(ctx context.Context, tx *sql.Tx) error

	dbt      *dbt.Runner
	endpoint dbtEndpoint // guarded by mu
}

type stepKey struct{ run, step string }

type activeStep struct {
	cancel context.CancelCauseFunc
}

// New opens the workflow service.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.MaxSteps <= 0 {
		cfg.MaxSteps = 8
	}
	if err := deps.DB.Migrate(ctx, "workflow", Migrations); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, Deps: deps, active: map[stepKey]*activeStep{}, schedules: map[string]*Schedule{}, nextFire: map[string]time.Time{}, wakeCh: make(chan struct{}, 1),
		dbt: dbt.New(cfg.DBT, deps.Warehouse, deps.Query)}, nil
}

// Now is the scheduler's clock.
func (s *Service) Now() time.Time { return s.cfg.Now().UTC() }

func (s *Service) wake() {
	select {
	case s.wakeCh <- struct{}{}:
	default:
	}
}

// CreateWorkflow validates and stores a workflow of the lake's owner (the
// local CLI, tarn apply): its sql steps run as the admin, or as w.RunAs.
func (s *Service) CreateWorkflow(ctx context.Context, w Workflow) error {
	return s.CreateWorkflowBy(ctx, w, nil)
}

// CreateWorkflowBy is CreateWorkflow for a workflow a key creates through a
// front end: its sql steps run with that key's rights (job steps with their
// job's identity).
func (s *Service) CreateWorkflowBy(ctx context.Context, w Workflow, creator jobs.Creator) error {
	if err := s.checkWorkflow(ctx, &w); err != nil {
		return err
	}
	if err := s.resolveIdentity(ctx, &w, creator); err != nil {
		return err
	}
	now := time.Now().UTC()
	w.CreatedAt, w.UpdatedAt = now, now
	b, _ := json.Marshal(w)
	_, err := s.DB.SQL().ExecContext(ctx, `INSERT INTO workflows (name, spec, created_at, updated_at, run_as) VALUES (?, ?, ?, ?, ?)`,
		w.Name, string(b), meta.FormatTime(now), meta.FormatTime(now), w.RunAs)
	if meta.IsUniqueViolation(err) {
		return fmt.Errorf("cannot create workflow %q: %w", w.Name, ErrWorkflowExists)
	}
	if err != nil {
		return fmt.Errorf("cannot create workflow %q: %w", w.Name, err)
	}
	return nil
}

// UpdateWorkflow replaces a workflow's definition; runs already started
// keep the definition they started with.
func (s *Service) UpdateWorkflow(ctx context.Context, w Workflow) error {
	return s.UpdateWorkflowBy(ctx, w, nil)
}

// UpdateWorkflowBy is UpdateWorkflow by a key: the workflow runs as that
// key from then on, since it wrote the steps. The lake's owner (a nil
// updater) keeps the identity unless it names another.
func (s *Service) UpdateWorkflowBy(ctx context.Context, w Workflow, updater jobs.Creator) error {
	old, err := s.GetWorkflow(ctx, w.Name)
	if err != nil {
		return err
	}
	if err := s.checkWorkflow(ctx, &w); err != nil {
		return err
	}
	if w.RunAs == "" && updater == nil {
		w.RunAs = old.RunAs
	}
	if err := s.resolveIdentity(ctx, &w, updater); err != nil {
		return err
	}
	w.CreatedAt, w.UpdatedAt = old.CreatedAt, time.Now().UTC()
	b, _ := json.Marshal(w)
	_, err = s.DB.SQL().ExecContext(ctx, `UPDATE workflows SET spec = ?, updated_at = ?, run_as = ? WHERE name = ?`, string(b), meta.FormatTime(w.UpdatedAt), w.RunAs, w.Name)
	if err != nil {
		return fmt.Errorf("cannot update workflow %q: %w", w.Name, err)
	}
	return nil
}

// checkWorkflow validates w and that its crawlers and jobs exist.
func (s *Service) checkWorkflow(ctx context.Context, w *Workflow) error {
	if err := w.Validate(); err != nil {
		return err
	}
	for i, st := range w.Steps {
		if err := s.checkTarget(ctx, st.Job, st.Crawler); err != nil {
			return fmt.Errorf("%w: steps[%d]: %w", ErrInvalidSpec, i, err)
		}
	}
	return nil
}

func (s *Service) checkTarget(ctx context.Context, job, crawlerName string) error {
	if job != "" && s.Jobs != nil {
		if _, err := s.Jobs.Get(ctx, job); err != nil {
			return err
		}
	}
	if crawlerName != "" && s.Crawlers != nil {
		if _, err := s.Crawlers.Get(ctx, crawlerName); err != nil {
			return err
		}
	}
	return nil
}

// GetWorkflow returns a workflow.
func (s *Service) GetWorkflow(ctx context.Context, name string) (Workflow, error) {
	var spec, runAs string
	err := s.DB.SQL().QueryRowContext(ctx, `SELECT spec, run_as FROM workflows WHERE name = ?`, name).Scan(&spec, &runAs)
	if errors.Is(err, sql.ErrNoRows) {
		return Workflow{}, fmt.Errorf("cannot get workflow %q: %w", name, ErrNoSuchWorkflow)
	}
	if err != nil {
		return Workflow{}, fmt.Errorf("cannot get workflow %q: %w", name, err)
	}
	var w Workflow
	err = json.Unmarshal([]byte(spec), &w)
	w.RunAs = identityOf(runAs)
	return w, err
}

// ListWorkflows returns every workflow by name.
func (s *Service) ListWorkflows(ctx context.Context) ([]Workflow, error) {
	rows, err := s.DB.SQL().QueryContext(ctx, `SELECT spec, run_as FROM workflows ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("cannot list workflows: %w", err)
	}
	defer rows.Close()
	var out []Workflow
	for rows.Next() {
		var spec, runAs string
		if err := rows.Scan(&spec, &runAs); err != nil {
			return nil, err
		}
		var w Workflow
		if err := json.Unmarshal([]byte(spec), &w); err != nil {
			return nil, err
		}
		w.RunAs = identityOf(runAs)
		out = append(out, w)
	}
	return out, rows.Err()
}

// DeleteWorkflow removes a workflow that no trigger starts and that has no
// active run. Its past runs stay in the history.
func (s *Service) DeleteWorkflow(ctx context.Context, name string) error {
	if _, err := s.GetWorkflow(ctx, name); err != nil {
		return err
	}
	trs, err := s.ListTriggers(ctx)
	if err != nil {
		return err
	}
	for _, t := range trs {
		if t.Workflow == name {
			return fmt.Errorf("cannot delete workflow %q: %w %q (delete the trigger first)", name, ErrTriggerReference, t.Name)
		}
	}
	var n int
	if err := s.DB.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM workflow_runs WHERE workflow = ? AND state IN (?, ?)`,
		name, RunQueued, RunRunning).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("cannot delete workflow %q: %w (stop them first)", name, ErrWorkflowHasRuns)
	}
	_, err = s.DB.SQL().ExecContext(ctx, `DELETE FROM workflows WHERE name = ?`, name)
	return err
}

// CreateTrigger validates and stores a trigger. An event trigger starts
// reading the ledger after its newest event: it fires for objects created
// from now on, not for the past.
func (s *Service) CreateTrigger(ctx context.Context, t Trigger) error {
	if err := s.checkTrigger(ctx, &t); err != nil {
		return err
	}
	var cursor int64
	if t.Type == TriggerEvent && s.Ledger != nil {
		var err error
		if cursor, err = s.Ledger.LastID(ctx); err != nil {
			return err
		}
	}
	now := s.Now()
	t.CreatedAt, t.UpdatedAt = now, now
	b, _ := json.Marshal(t)
	_, err := s.DB.SQL().ExecContext(ctx, `INSERT INTO triggers (name, spec, enabled, created_at, updated_at, last_fired, event_cursor, last_poll)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, t.Name, string(b), boolInt(t.Enabled), meta.FormatTime(now), meta.FormatTime(now),
		meta.FormatTime(s.Now()), cursor, meta.FormatTime(s.Now()))
	if meta.IsUniqueViolation(err) {
		return fmt.Errorf("cannot create trigger %q: %w", t.Name, ErrTriggerExists)
	}
	if err != nil {
		return fmt.Errorf("cannot create trigger %q: %w", t.Name, err)
	}
	s.wake()
	return nil
}

// UpdateTrigger replaces a trigger's definition, keeping its position in
// the ledger and its last firing time.
func (s *Service) UpdateTrigger(ctx context.Context, t Trigger) error {
	old, err := s.GetTrigger(ctx, t.Name)
	if err != nil {
		return err
	}
	if err := s.checkTrigger(ctx, &t); err != nil {
		return err
	}
	t.CreatedAt, t.UpdatedAt = old.CreatedAt, s.Now()
	b, _ := json.Marshal(t)
	_, err = s.DB.SQL().ExecContext(ctx, `UPDATE triggers SET spec = ?, enabled = ?, updated_at = ? WHERE name = ?`,
		string(b), boolInt(t.Enabled), meta.FormatTime(t.UpdatedAt), t.Name)
	if err != nil {
		return fmt.Errorf("cannot update trigger %q: %w", t.Name, err)
	}
	s.wake()
	return nil
}

func (s *Service) checkTrigger(ctx context.Context, t *Trigger) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if t.Workflow != "" {
		if _, err := s.GetWorkflow(ctx, t.Workflow); err != nil {
			return fmt.Errorf("%w: workflow: %w", ErrInvalidSpec, err)
		}
	}
	if err := s.checkTarget(ctx, t.Job, t.Crawler); err != nil {
		return fmt.Errorf("%w: target: %w", ErrInvalidSpec, err)
	}
	return nil
}

// SetTriggerEnabled enables or disables a trigger. A schedule enabled again
// does not fire for the times it was disabled, and an event trigger skips
// the objects created meanwhile.
func (s *Service) SetTriggerEnabled(ctx context.Context, name string, enabled bool) error {
	t, err := s.GetTrigger(ctx, name)
	if err != nil {
		return err
	}
	if t.Enabled == enabled {
		return nil
	}
	t.Enabled = enabled
	t.UpdatedAt = time.Now().UTC()
	b, _ := json.Marshal(t)
	var cursor int64
	if s.Ledger != nil {
		if cursor, err = s.Ledger.LastID(ctx); err != nil {
			return err
		}
	}
	q := `UPDATE triggers SET spec = ?, enabled = ?, updated_at = ?`
	args := []any{string(b), boolInt(enabled), meta.FormatTime(t.UpdatedAt)}
	if enabled {
		q += `, last_fired = ?, event_cursor = ?, last_poll = ?`
		args = append(args, meta.FormatTime(s.Now()), cursor, meta.FormatTime(s.Now()))
	}
	_, err = s.DB.SQL().ExecContext(ctx, q+` WHERE name = ?`, append(args, name)...)
	if err != nil {
		return fmt.Errorf("cannot update trigger %q: %w", name, err)
	}
	s.wake()
	return nil
}

// TriggerState is a trigger with its scheduling state.
type TriggerState struct {
	Trigger
	// LastFired is when the trigger last started a run (a schedule, new
	// objects, or a start by hand); zero if it never did.
	LastFired   time.Time `json:"last_fired"`
	NextFire    time.Time `json:"next_fire,omitempty"`
	EventCursor int64     `json:"event_cursor"`
	LastPoll    time.Time `json:"last_poll"`
	// scheduledAfter is the column last_fired: the time a schedule counts
	// from (its last due time, or when it was created or enabled again),
	// which is not a firing.
	scheduledAfter time.Time
}

// GetTrigger returns a trigger.
func (s *Service) GetTrigger(ctx context.Context, name string) (Trigger, error) {
	ts, err := s.triggers(ctx, `WHERE name = ?`, name)
	if err != nil {
		return Trigger{}, err
	}
	if len(ts) == 0 {
		return Trigger{}, fmt.Errorf("cannot get trigger %q: %w", name, ErrNoSuchTrigger)
	}
	return ts[0].Trigger, nil
}

// ListTriggers returns every trigger by name.
func (s *Service) ListTriggers(ctx context.Context) ([]Trigger, error) {
	ts, err := s.triggers(ctx, ``)
	if err != nil {
		return nil, err
	}
	out := make([]Trigger, len(ts))
	for i, t := range ts {
		out[i] = t.Trigger
	}
	return out, nil
}

// TriggerStates returns every trigger with its scheduling state.
func (s *Service) TriggerStates(ctx context.Context) ([]TriggerState, error) {
	ts, err := s.triggers(ctx, ``)
	if err != nil {
		return nil, err
	}
	for i, t := range ts {
		if t.Type == TriggerScheduled && t.Enabled {
			if sch, err := s.schedule(t.Schedule, t.Timezone); err == nil {
				ts[i].NextFire = sch.Next(maxTime(t.scheduledAfter, s.Now()), t.CreatedAt)
			}
		}
	}
	return ts, nil
}

func (s *Service) triggers(ctx context.Context, where string, args ...any) ([]TriggerState, error) {
	rows, err := s.DB.SQL().QueryContext(ctx, `SELECT spec, enabled, last_fired, fired_at, event_cursor, last_poll FROM triggers `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list triggers: %w", err)
	}
	defer rows.Close()
	var out []TriggerState
	for rows.Next() {
		var spec, scheduledAfter, firedAt, lastPoll string
		var enabled int
		var ts TriggerState
		if err := rows.Scan(&spec, &enabled, &scheduledAfter, &firedAt, &ts.EventCursor, &lastPoll); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(spec), &ts.Trigger); err != nil {
			return nil, err
		}
		ts.Enabled = enabled != 0
		ts.scheduledAfter, ts.LastFired, ts.LastPoll = meta.ParseTime(scheduledAfter), meta.ParseTime(firedAt), meta.ParseTime(lastPoll)
		out = append(out, ts)
	}
	return out, rows.Err()
}

// DeleteTrigger removes a trigger.
func (s *Service) DeleteTrigger(ctx context.Context, name string) error {
	res, err := s.DB.SQL().ExecContext(ctx, `DELETE FROM triggers WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("cannot delete trigger %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("cannot delete trigger %q: %w", name, ErrNoSuchTrigger)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
