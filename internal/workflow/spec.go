package workflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/dbt"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Errors of the workflow package.
var (
	ErrInvalidSpec      = errors.New("invalid spec")
	ErrNoSuchWorkflow   = errors.New("no such workflow")
	ErrNoSuchTrigger    = errors.New("no such trigger")
	ErrNoSuchRun        = errors.New("no such workflow run")
	ErrWorkflowExists   = errors.New("workflow already exists")
	ErrTriggerExists    = errors.New("trigger already exists")
	ErrRunNotActive     = errors.New("workflow run is not active")
	ErrWorkflowHasRuns  = errors.New("workflow has active runs")
	ErrTriggerReference = errors.New("referenced by a trigger")
)

// Step conditions on upstream steps (Glue's conditional triggers, Step
// Functions' catch).
const (
	CondAllSucceeded = "all_succeeded" // default: every upstream step succeeded
	CondAnySucceeded = "any_succeeded" // at least one upstream step succeeded
	CondAnyFailed    = "any_failed"    // at least one upstream step failed (a handler)
	CondAllDone      = "all_done"      // every upstream step ended, whatever the outcome
)

// Trigger types (Glue's names).
const (
	TriggerScheduled = "SCHEDULED"
	TriggerOnDemand  = "ON_DEMAND"
	TriggerEvent     = "EVENT"
)

// Duration is a time.Duration written as "90s", "5m", "1h30m" in specs.
type Duration time.Duration

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads text ("30s") or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n float64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("a duration is text such as \"30s\" or a number of seconds")
		}
		*d = Duration(n * float64(time.Second))
		return nil
	}
	v, err := ParseDuration(s)
	*d = Duration(v)
	return err
}

// ParseDuration parses Go durations ("1h30m") and also days ("2d").
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := time.ParseDuration(n + "h")
		return v * 24, err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (use e.g. 30s, 5m, 2h, 1d)", s)
	}
	return v, nil
}

// Workflow is a DAG of steps.
type Workflow struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// MaxConcurrentRuns bounds the runs executing at once (default 1);
	// further runs wait in QUEUED, so event bursts never run one job twice
	// at the same time.
	MaxConcurrentRuns int `json:"max_concurrent_runs"`
	// MaxParallelSteps bounds the steps of one run executing at once
	// (default 4).
	MaxParallelSteps int `json:"max_parallel_steps"`
	// Properties are the default run properties; a trigger's or a start's
	// properties override them.
	Properties map[string]string `json:"properties,omitempty"`
	Steps      []Step            `json:"steps"`
	// Glue marks a workflow made through Glue's API: its steps are the
	// actions of its Glue triggers, so it may have none until the first
	// trigger is created (a run of it then ends at once).
	Glue bool `json:"glue,omitempty"`
	// RunAs is the access key whose rights its sql steps have: the key
	// that created (or last updated) it; jobs.RunAsAdmin for workflows of
	// the lake's owner. Job steps run with their job's identity.
	RunAs     string    `json:"run_as,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Step is one node of a workflow: exactly one of Crawler, Job, SQL and DBT.
type Step struct {
	Name    string `json:"name"`
	Crawler string `json:"crawler,omitempty"`
	Job     string `json:"job,omitempty"`
	// Args are the job's arguments; values may use ${property} of the run
	// (e.g. ${objects}, the new objects an event trigger brought).
	Args map[string]string `json:"args,omitempty"`
	// SQL is a statement (query, CTAS, INSERT, DDL) run with the query
	// service; it may use ${property} too.
	SQL       string `json:"sql,omitempty"`
	Database  string `json:"database,omitempty"`
	Workgroup string `json:"workgroup,omitempty"`
	// DBT runs a dbt project against the warehouse through the PostgreSQL
	// endpoint, as the workflow's identity (docs/dbt.md).
	DBT       *dbt.Step `json:"dbt,omitempty"`
	DependsOn []string  `json:"depends_on,omitempty"`
	Condition string    `json:"condition,omitempty"`
	// Retries after a failed attempt, waiting RetryDelay, then
	// RetryDelay*BackoffRate, ... (Step Functions' Retry).
	Retries     int      `json:"retries,omitempty"`
	RetryDelay  Duration `json:"retry_delay,omitempty"`
	BackoffRate float64  `json:"backoff_rate,omitempty"`
	// Timeout fails an attempt that runs longer (0: no limit beyond the
	// job's own).
	Timeout Duration `json:"timeout,omitempty"`
	// Trigger names the Glue trigger whose action this step is, so that
	// Glue's GetTrigger can be answered from the workflow itself.
	Trigger string `json:"trigger,omitempty"`
}

// Kind is "crawler", "job", "dbt" or "sql".
func (s Step) Kind() string {
	switch {
	case s.Crawler != "":
		return "crawler"
	case s.Job != "":
		return "job"
	case s.DBT != nil:
		return "dbt"
	default:
		return "sql"
	}
}

// Target names what the step runs, for listings.
func (s Step) Target() string {
	switch s.Kind() {
	case "crawler":
		return "crawler " + s.Crawler
	case "job":
		return "job " + s.Job
	case "dbt":
		t := "dbt " + s.DBT.Command + " " + s.DBT.Project
		if s.DBT.Select != "" {
			t += " --select " + s.DBT.Select
		}
		if s.DBT.Publish != "" {
			t += " (publish " + s.DBT.Publish + ")"
		}
		return t
	}
	sql := strings.Join(strings.Fields(s.SQL), " ")
	if len(sql) > 60 {
		sql = sql[:57] + "..."
	}
	return "sql " + sql
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$`)

func bad(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidSpec, field, fmt.Sprintf(format, args...))
}

// Validate checks a workflow and fills defaults. Errors name the field.
func (w *Workflow) Validate() error {
	if !nameRE.MatchString(w.Name) {
		return bad("name", "%q must be 1-255 letters, digits, '_', '-' or '.'", w.Name)
	}
	if w.MaxConcurrentRuns == 0 {
		w.MaxConcurrentRuns = 1
	}
	if w.MaxConcurrentRuns < 0 {
		return bad("max_concurrent_runs", "must be at least 1")
	}
	if w.MaxParallelSteps == 0 {
		w.MaxParallelSteps = 4
	}
	if w.MaxParallelSteps < 0 {
		return bad("max_parallel_steps", "must be at least 1")
	}
	if len(w.Steps) == 0 && !w.Glue {
		return bad("steps", "a workflow needs at least one step")
	}
	names := map[string]int{}
	for i := range w.Steps {
		st := &w.Steps[i]
		field := fmt.Sprintf("steps[%d]", i)
		if st.Name == "" {
			// A single-target step is named after its target.
			st.Name = st.Crawler + st.Job
		}
		if !nameRE.MatchString(st.Name) {
			return bad(field+".name", "%q must be 1-255 letters, digits, '_', '-' or '.'", st.Name)
		}
		if _, dup := names[st.Name]; dup {
			return bad(field+".name", "step %q is defined twice", st.Name)
		}
		names[st.Name] = i
		n := 0
		for _, v := range []string{st.Crawler, st.Job, st.SQL} {
			if strings.TrimSpace(v) != "" {
				n++
			}
		}
		if st.DBT != nil {
			n++
		}
		if n != 1 {
			return bad(field, "step %q must have exactly one of crawler, job and sql, or dbt", st.Name)
		}
		if st.DBT != nil {
			if err := st.DBT.Validate(); err != nil {
				return bad(field+".dbt", "%v", err)
			}
		}
		if st.Kind() != "job" && len(st.Args) > 0 {
			return bad(field+".args", "only job steps take arguments")
		}
		if st.Kind() != "sql" && (st.Database != "" || st.Workgroup != "") {
			return bad(field, "database and workgroup are for sql steps")
		}
		switch st.Condition {
		case "":
			st.Condition = CondAllSucceeded
		case CondAllSucceeded, CondAnySucceeded, CondAnyFailed, CondAllDone:
		default:
			return bad(field+".condition", "%q is not one of all_succeeded, any_succeeded, any_failed, all_done", st.Condition)
		}
		if st.Retries < 0 || st.Retries > 100 {
			return bad(field+".retries", "must be between 0 and 100")
		}
		if st.RetryDelay == 0 {
			st.RetryDelay = Duration(time.Second)
		}
		if st.RetryDelay < 0 {
			return bad(field+".retry_delay", "must be positive")
		}
		if st.BackoffRate == 0 {
			st.BackoffRate = 2
		}
		if st.BackoffRate < 1 {
			return bad(field+".backoff_rate", "must be at least 1")
		}
		if st.Timeout < 0 {
			return bad(field+".timeout", "must be positive")
		}
	}
	for i, st := range w.Steps {
		if len(st.DependsOn) == 0 && st.Condition != CondAllSucceeded {
			return bad(fmt.Sprintf("steps[%d].condition", i), "a condition needs depends_on")
		}
		for _, d := range st.DependsOn {
			if _, ok := names[d]; !ok {
				return bad(fmt.Sprintf("steps[%d].depends_on", i), "no step named %q", d)
			}
			if d == st.Name {
				return bad(fmt.Sprintf("steps[%d].depends_on", i), "step %q depends on itself", d)
			}
		}
	}
	if cyc := w.cycle(names); cyc != nil {
		return bad("steps", "the steps form a cycle: %s", strings.Join(cyc, " -> "))
	}
	return nil
}

// cycle returns a dependency cycle, or nil.
func (w *Workflow) cycle(names map[string]int) []string {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(w.Steps))
	var stack []string
	var found []string
	var visit func(i int) bool
	visit = func(i int) bool {
		color[i] = grey
		stack = append(stack, w.Steps[i].Name)
		for _, d := range w.Steps[i].DependsOn {
			j := names[d]
			if color[j] == grey {
				k := slices.Index(stack, d)
				found = append(append([]string{}, stack[k:]...), d)
				return true
			}
			if color[j] == white && visit(j) {
				return true
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
		return false
	}
	for i := range w.Steps {
		if color[i] == white && visit(i) {
			return found
		}
	}
	return nil
}

// Trigger starts a workflow, a job or a crawler.
type Trigger struct {
	Name string `json:"name"`
	Type string `json:"type"` // SCHEDULED, ON_DEMAND, EVENT
	// Exactly one target.
	Workflow string `json:"workflow,omitempty"`
	Job      string `json:"job,omitempty"`
	Crawler  string `json:"crawler,omitempty"`
	// Properties are passed to the run (for a job target: its arguments).
	Properties map[string]string `json:"properties,omitempty"`
	// Schedule (SCHEDULED): "0 6 * * *", "cron(0 6 * * ? *)" or
	// "rate(1 hour)", in Timezone (default UTC).
	Schedule string `json:"schedule,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	// EVENT: objects created under Prefix (s3://bucket/prefix), whose key
	// ends with Suffix if given. A run starts when BatchSize new objects
	// are waiting or BatchWindow has passed since the first of them,
	// whichever comes first (defaults 1 and 0: at once).
	Prefix      string   `json:"prefix,omitempty"`
	Suffix      string   `json:"suffix,omitempty"`
	BatchSize   int      `json:"batch_size,omitempty"`
	BatchWindow Duration `json:"batch_window,omitempty"`
	// Poll, when set, lists Prefix at this interval and records objects
	// that appeared without an event (files written into the lake folder by
	// other programs, or backends without notifications).
	Poll      Duration  `json:"poll,omitempty"`
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Target is "workflow NAME", "job NAME" or "crawler NAME".
func (t Trigger) Target() string {
	switch {
	case t.Workflow != "":
		return "workflow " + t.Workflow
	case t.Job != "":
		return "job " + t.Job
	default:
		return "crawler " + t.Crawler
	}
}

// Validate checks a trigger and fills defaults. Errors name the field.
func (t *Trigger) Validate() error {
	if !nameRE.MatchString(t.Name) {
		return bad("name", "%q must be 1-255 letters, digits, '_', '-' or '.'", t.Name)
	}
	n := 0
	for _, v := range []string{t.Workflow, t.Job, t.Crawler} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return bad("target", "a trigger starts exactly one of workflow, job and crawler")
	}
	t.Type = strings.ToUpper(t.Type)
	if t.Type == "" {
		switch {
		case t.Schedule != "":
			t.Type = TriggerScheduled
		case t.Prefix != "":
			t.Type = TriggerEvent
		default:
			t.Type = TriggerOnDemand
		}
	}
	switch t.Type {
	case TriggerScheduled:
		if t.Schedule == "" {
			return bad("schedule", "a SCHEDULED trigger needs a schedule, e.g. \"cron(0 6 * * ? *)\" or \"0 6 * * *\"")
		}
		if _, err := ParseSchedule(t.Schedule, t.Timezone); err != nil {
			return bad("schedule", "%v", err)
		}
	case TriggerEvent:
		u, err := storage.ParseURI(t.Prefix)
		if err != nil {
			return bad("prefix", "%v", err)
		}
		if u.Bucket == "" {
			return bad("prefix", "%q must name a bucket: s3://bucket/prefix", t.Prefix)
		}
		if t.BatchSize == 0 {
			t.BatchSize = 1
		}
		if t.BatchSize < 0 || t.BatchSize > 10000 {
			return bad("batch_size", "must be between 1 and 10000")
		}
		if t.BatchWindow < 0 || time.Duration(t.BatchWindow) > 24*time.Hour {
			return bad("batch_window", "must be between 0 and 24h")
		}
		if t.Poll < 0 || (t.Poll > 0 && time.Duration(t.Poll) < time.Second) {
			return bad("poll", "must be 0 (off) or at least 1s")
		}
	case TriggerOnDemand:
	default:
		return bad("type", "%q is not one of SCHEDULED, ON_DEMAND, EVENT", t.Type)
	}
	if t.Type != TriggerScheduled && (t.Schedule != "" || t.Timezone != "") {
		return bad("schedule", "only SCHEDULED triggers have a schedule")
	}
	if t.Type != TriggerEvent && (t.Prefix != "" || t.Suffix != "" || t.BatchSize != 0 || t.BatchWindow != 0 || t.Poll != 0) {
		return bad("prefix", "only EVENT triggers have prefix, suffix, batch_size, batch_window and poll")
	}
	return nil
}
