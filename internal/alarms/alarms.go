// Package alarms watches run outcomes and metrics (CloudWatch alarms for
// the lake): failed jobs, workflows and crawls, stale tables, rejected
// rows, expensive queries and schema drift. An alarm's state (OK, ALARM,
// INSUFFICIENT_DATA) is persisted; entering ALARM, and every new failure
// while in it, runs its actions: a log line and, if set, an HTTP webhook
// with a JSON body, retried with backoff.
package alarms

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// Migrations are the alarms component's tables.
var Migrations = []meta.Migration{{Version: 1, Name: "alarms, states, history", SQL: `
CREATE TABLE alarms (
	name TEXT PRIMARY KEY,
	spec TEXT NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	state TEXT NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	state_changed_at TEXT NOT NULL,
	checked_at TEXT NOT NULL,
	last_key TEXT NOT NULL DEFAULT ''
);
CREATE TABLE alarm_history (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	alarm TEXT NOT NULL,
	at TEXT NOT NULL,
	old_state TEXT NOT NULL,
	new_state TEXT NOT NULL,
	reason TEXT NOT NULL,
	notified TEXT NOT NULL DEFAULT ''
);
CREATE INDEX alarm_history_by_alarm ON alarm_history (alarm, id);
`}}

// States (CloudWatch's).
const (
	StateOK           = "OK"
	StateAlarm        = "ALARM"
	StateInsufficient = "INSUFFICIENT_DATA"
)

// Rules.
const (
	RuleJobFailed      = "job_failed"      // target: job name or *
	RuleWorkflowFailed = "workflow_failed" // target: workflow name or *
	RuleCrawlerFailed  = "crawler_failed"  // target: crawler name or *
	RuleFreshness      = "freshness"       // target: database.table; max_age
	RuleRowsRejected   = "rows_rejected"   // target: job name or *; threshold (rows)
	RuleDataScanned    = "data_scanned"    // target: workgroup or *; threshold (bytes)
	RuleSchemaDrift    = "schema_drift"    // target: crawler name or *
)

var rules = []string{RuleJobFailed, RuleWorkflowFailed, RuleCrawlerFailed, RuleFreshness, RuleRowsRejected, RuleDataScanned, RuleSchemaDrift}

// Errors.
var (
	ErrInvalidSpec = errors.New("invalid alarm")
	ErrNoSuchAlarm = errors.New("no such alarm")
	ErrAlarmExists = errors.New("alarm already exists")
)

// Alarm is an alarm's definition.
type Alarm struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Rule        string `json:"rule"`
	// Target is what the rule watches (see the Rule constants); "*" is
	// every job, workflow, crawler or workgroup.
	Target string `json:"target"`
	// Threshold: rows for rows_rejected, bytes for data_scanned; the alarm
	// fires above it.
	Threshold int64 `json:"threshold,omitempty"`
	// MaxAge: freshness fires when the table's newest data is older.
	MaxAge workflow.Duration `json:"max_age,omitempty"`
	// Webhook receives a POST with the alarm's JSON on every notification.
	Webhook string `json:"webhook,omitempty"`
	// CloudWatch is the CloudWatch definition (PutMetricAlarm's) the alarm
	// was made from, kept to describe it as it was written.
	CloudWatch json.RawMessage `json:"cloudwatch,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$`)

// Validate checks an alarm and fills defaults. Errors name the field.
func (a *Alarm) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidSpec, field, fmt.Sprintf(format, args...))
	}
	if !nameRE.MatchString(a.Name) {
		return bad("name", "%q must be 1-255 letters, digits, '_', '-' or '.'", a.Name)
	}
	found := false
	for _, r := range rules {
		found = found || r == a.Rule
	}
	if !found {
		return bad("rule", "%q is not one of %s", a.Rule, strings.Join(rules, ", "))
	}
	if a.Target == "" {
		a.Target = "*"
	}
	switch a.Rule {
	case RuleFreshness:
		if db, t, ok := strings.Cut(a.Target, "."); !ok || db == "" || t == "" {
			return bad("target", "freshness watches a table: database.table, not %q", a.Target)
		}
		if a.MaxAge <= 0 {
			return bad("max_age", "freshness needs max_age, e.g. 25h")
		}
	case RuleRowsRejected, RuleDataScanned:
		if a.Threshold < 0 {
			return bad("threshold", "must not be negative")
		}
	}
	if a.Rule != RuleFreshness && a.MaxAge != 0 {
		return bad("max_age", "only freshness alarms have max_age")
	}
	if a.Rule != RuleRowsRejected && a.Rule != RuleDataScanned && a.Threshold != 0 {
		return bad("threshold", "only rows_rejected and data_scanned alarms have a threshold")
	}
	if a.Webhook != "" {
		u, err := url.Parse(a.Webhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("webhook", "%q is not an http(s) URL", a.Webhook)
		}
	}
	return nil
}

// Config tunes the evaluator.
type Config struct {
	// Interval between evaluations (default 5s).
	Interval time.Duration
	// Retries of a webhook after the first attempt (default 4), waiting
	// RetryDelay, 2*RetryDelay, ... (default 1s).
	Retries    int
	RetryDelay time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Interval: 5 * time.Second, Retries: 4, RetryDelay: time.Second, Now: time.Now}
}

// Deps are the services alarms watch.
type Deps struct {
	DB        *meta.DB
	Jobs      *jobs.Service
	Workflows *workflow.Service
	Crawlers  *crawler.Service
	Query     *query.Service
	Catalog   *catalog.Catalog
	Store     storage.ObjectStore
}

// Service stores and evaluates alarms. It is safe for concurrent use.
type Service struct {
	cfg Config
	Deps
	client *http.Client

	evalMu sync.Mutex // one evaluation at a time
	wakeCh chan struct{}
	wg     sync.WaitGroup
	// stop ends webhook retries when Run ends: a shutdown must not wait
	// out an unreachable webhook's back-off (over a minute at the default).
	stop     chan struct{}
	stopOnce sync.Once
}

// New opens the alarms service.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	def := DefaultConfig()
	if cfg.Interval <= 0 {
		cfg.Interval = def.Interval
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = def.RetryDelay
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := deps.DB.Migrate(ctx, "alarms", Migrations); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, Deps: deps, client: &http.Client{Timeout: 10 * time.Second}, wakeCh: make(chan struct{}, 1), stop: make(chan struct{})}, nil
}

// Status is an alarm with its current state.
type Status struct {
	Alarm
	State          string    `json:"state"`
	Reason         string    `json:"reason,omitempty"`
	StateChangedAt time.Time `json:"state_changed_at"`
	CheckedAt      time.Time `json:"checked_at"`

	lastKey string // what the last notification was for
}

// Create validates and stores an alarm, in INSUFFICIENT_DATA until its
// first evaluation.
func (s *Service) Create(ctx context.Context, a Alarm) error {
	if err := a.Validate(); err != nil {
		return err
	}
	now := s.cfg.Now().UTC()
	a.CreatedAt, a.UpdatedAt = now, now
	b, _ := json.Marshal(a)
	_, err := s.DB.SQL().ExecContext(ctx, `INSERT INTO alarms (name, spec, created_at, updated_at, state, state_changed_at, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.Name, string(b), meta.FormatTime(now), meta.FormatTime(now), StateInsufficient, meta.FormatTime(now), meta.FormatTime(now))
	if meta.IsUniqueViolation(err) {
		return fmt.Errorf("cannot create alarm %q: %w", a.Name, ErrAlarmExists)
	}
	if err != nil {
		return fmt.Errorf("cannot create alarm %q: %w", a.Name, err)
	}
	s.Wake()
	return nil
}

// Update replaces an alarm's definition, keeping its state.
func (s *Service) Update(ctx context.Context, a Alarm) error {
	old, err := s.Get(ctx, a.Name)
	if err != nil {
		return err
	}
	if err := a.Validate(); err != nil {
		return err
	}
	a.CreatedAt, a.UpdatedAt = old.CreatedAt, s.cfg.Now().UTC()
	b, _ := json.Marshal(a)
	if _, err := s.DB.SQL().ExecContext(ctx, `UPDATE alarms SET spec = ?, updated_at = ? WHERE name = ?`, string(b), meta.FormatTime(a.UpdatedAt), a.Name); err != nil {
		return fmt.Errorf("cannot update alarm %q: %w", a.Name, err)
	}
	s.Wake()
	return nil
}

// Delete removes an alarm and its history.
func (s *Service) Delete(ctx context.Context, name string) error {
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM alarms WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("cannot delete alarm %q: %w", name, ErrNoSuchAlarm)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM alarm_history WHERE alarm = ?`, name)
		return err
	})
}

// Get returns an alarm with its state.
func (s *Service) Get(ctx context.Context, name string) (Status, error) {
	st, err := s.list(ctx, `WHERE name = ?`, name)
	if err != nil {
		return Status{}, err
	}
	if len(st) == 0 {
		return Status{}, fmt.Errorf("cannot get alarm %q: %w", name, ErrNoSuchAlarm)
	}
	return st[0], nil
}

// List returns every alarm with its state, by name.
func (s *Service) List(ctx context.Context) ([]Status, error) { return s.list(ctx, ``) }

func (s *Service) list(ctx context.Context, where string, args ...any) ([]Status, error) {
	rows, err := s.DB.SQL().QueryContext(ctx, `SELECT spec, state, reason, state_changed_at, checked_at, last_key FROM alarms `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list alarms: %w", err)
	}
	defer rows.Close()
	var out []Status
	for rows.Next() {
		var st Status
		var spec, changed, checked string
		if err := rows.Scan(&spec, &st.State, &st.Reason, &changed, &checked, &st.lastKey); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(spec), &st.Alarm); err != nil {
			return nil, err
		}
		st.StateChangedAt, st.CheckedAt = meta.ParseTime(changed), meta.ParseTime(checked)
		out = append(out, st)
	}
	return out, rows.Err()
}

// Transition is one entry of an alarm's history.
type Transition struct {
	At       time.Time `json:"at"`
	OldState string    `json:"old_state"`
	NewState string    `json:"new_state"`
	Reason   string    `json:"reason"`
	// Notified says how the actions went ("webhook delivered", "webhook
	// failed after 5 attempts: ...", "logged").
	Notified string `json:"notified,omitempty"`
}

// History returns an alarm's transitions and notifications, newest first.
func (s *Service) History(ctx context.Context, name string, limit int) ([]Transition, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.DB.SQL().QueryContext(ctx, `SELECT at, old_state, new_state, reason, notified FROM alarm_history WHERE alarm = ? ORDER BY id DESC LIMIT ?`, name, limit)
	if err != nil {
		return nil, fmt.Errorf("cannot read history of alarm %q: %w", name, err)
	}
	defer rows.Close()
	var out []Transition
	for rows.Next() {
		var t Transition
		var at string
		if err := rows.Scan(&at, &t.OldState, &t.NewState, &t.Reason, &t.Notified); err != nil {
			return nil, err
		}
		t.At = meta.ParseTime(at)
		out = append(out, t)
	}
	return out, rows.Err()
}

// SetState sets an alarm's state by hand (CloudWatch's SetAlarmState, to
// test its actions): entering ALARM runs them. The next evaluation that
// judges something new sets the state again.
func (s *Service) SetState(ctx context.Context, name, state, reason string) error {
	switch state {
	case StateOK, StateAlarm, StateInsufficient:
	default:
		return fmt.Errorf("%w: state: %q is not OK, ALARM or INSUFFICIENT_DATA", ErrInvalidSpec, state)
	}
	s.evalMu.Lock()
	defer s.evalMu.Unlock()
	st, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	now := s.cfg.Now().UTC()
	if _, err := s.DB.SQL().ExecContext(ctx, `UPDATE alarms SET state = ?, reason = ?, state_changed_at = ? WHERE name = ?`,
		state, reason, meta.FormatTime(now), name); err != nil {
		return fmt.Errorf("cannot set the state of alarm %q: %w", name, err)
	}
	var histID int64
	err = s.DB.SQL().QueryRowContext(ctx, `INSERT INTO alarm_history (alarm, at, old_state, new_state, reason, notified) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		name, meta.FormatTime(now), st.State, state, reason, "").Scan(&histID)
	if err != nil {
		return fmt.Errorf("cannot record the state of alarm %q: %w", name, err)
	}
	if state == StateAlarm && st.State != StateAlarm {
		slog.Warn("ALARM set by hand", "alarm", name, "reason", reason)
		s.notify(ctx, st.Alarm, st.State, verdict{state: state, reason: reason}, now, histID)
	}
	return nil
}

// Wake asks for an evaluation now (after a run ended, for instance).
func (s *Service) Wake() {
	select {
	case s.wakeCh <- struct{}{}:
	default:
	}
}

// Run evaluates the alarms every Interval (and when woken) until ctx is
// done, then waits for webhooks in flight.
func (s *Service) Run(ctx context.Context) {
	for {
		s.Evaluate(ctx)
		select {
		case <-ctx.Done():
			s.stopOnce.Do(func() { close(s.stop) })
			s.wg.Wait()
			return
		case <-s.wakeCh:
		case <-time.After(s.cfg.Interval):
		}
	}
}

// Wait waits for the webhooks in flight.
func (s *Service) Wait() { s.wg.Wait() }

// verdict is one evaluation's outcome. keep leaves the state as it is
// (nothing new to judge by); key identifies what caused an ALARM, so that
// a new failure while in ALARM notifies again.
type verdict struct {
	state, reason, key string
	keep               bool
}

// Evaluate evaluates every alarm once and runs the actions of those that
// enter ALARM or see a new failure.
func (s *Service) Evaluate(ctx context.Context) {
	s.evalMu.Lock()
	defer s.evalMu.Unlock()
	all, err := s.List(ctx)
	if err != nil {
		slog.Error("cannot evaluate alarms", "err", err)
		return
	}
	for _, st := range all {
		lastKey := st.lastKey
		now := s.cfg.Now().UTC()
		v, err := s.judge(ctx, st, lastKey, now)
		if err != nil {
			if ctx.Err() == nil {
				slog.Warn("cannot evaluate alarm", "alarm", st.Name, "err", err)
			}
			continue
		}
		if v.keep {
			_, _ = s.DB.SQL().ExecContext(ctx, `UPDATE alarms SET checked_at = ? WHERE name = ?`, meta.FormatTime(now), st.Name)
			continue
		}
		notify := v.state == StateAlarm && (st.State != StateAlarm || v.key != lastKey)
		changed := v.state != st.State
		q := `UPDATE alarms SET checked_at = ?, state = ?, reason = ?, last_key = ?`
		args := []any{meta.FormatTime(now), v.state, v.reason, v.key}
		if changed {
			q += `, state_changed_at = ?`
			args = append(args, meta.FormatTime(now))
		}
		if _, err := s.DB.SQL().ExecContext(ctx, q+` WHERE name = ?`, append(args, st.Name)...); err != nil {
			slog.Error("cannot record alarm state", "alarm", st.Name, "err", err)
			continue
		}
		if !changed && !notify {
			continue
		}
		var histID int64
		if err := s.DB.SQL().QueryRowContext(ctx, `INSERT INTO alarm_history (alarm, at, old_state, new_state, reason, notified) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
			st.Name, meta.FormatTime(now), st.State, v.state, v.reason, "").Scan(&histID); err != nil {
			continue
		}
		if notify {
			slog.Warn("ALARM", "alarm", st.Name, "rule", st.Rule, "target", st.Target, "reason", v.reason)
			s.notify(ctx, st.Alarm, st.State, v, now, histID)
		} else {
			slog.Info("alarm state", "alarm", st.Name, "state", v.state, "reason", v.reason)
		}
	}
}

// Notification is the webhook's JSON body.
type Notification struct {
	Alarm         string    `json:"alarm"`
	Description   string    `json:"description,omitempty"`
	Rule          string    `json:"rule"`
	Target        string    `json:"target"`
	State         string    `json:"state"`
	PreviousState string    `json:"previous_state"`
	Reason        string    `json:"reason"`
	Time          time.Time `json:"time"`
}

func (s *Service) notify(ctx context.Context, a Alarm, old string, v verdict, now time.Time, histID int64) {
	if a.Webhook == "" {
		_, _ = s.DB.SQL().ExecContext(ctx, `UPDATE alarm_history SET notified = 'logged' WHERE id = ?`, histID)
		return
	}
	body, _ := json.Marshal(Notification{Alarm: a.Name, Description: a.Description, Rule: a.Rule, Target: a.Target,
		State: v.state, PreviousState: old, Reason: v.reason, Time: now})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx := context.WithoutCancel(ctx)
		var err error
		attempts := 0
	retries:
		for delay := s.cfg.RetryDelay; attempts <= s.cfg.Retries; delay *= 2 {
			attempts++
			if err = s.post(ctx, a.Webhook, body); err == nil {
				break
			}
			if attempts <= s.cfg.Retries {
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-s.stop:
					t.Stop()
					err = fmt.Errorf("%w (no more retries: tarn was shutting down)", err)
					break retries
				}
			}
		}
		note := fmt.Sprintf("webhook delivered (attempt %d)", attempts)
		if err != nil {
			note = fmt.Sprintf("webhook failed after %d attempts: %v", attempts, err)
			slog.Error("alarm webhook failed", "alarm", a.Name, "url", a.Webhook, "attempts", attempts, "err", err)
		}
		_, _ = s.DB.SQL().ExecContext(ctx, `UPDATE alarm_history SET notified = ? WHERE id = ?`, note, histID)
	}()
}

func (s *Service) post(ctx context.Context, u string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tarn-alarms")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}
