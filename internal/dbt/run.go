package dbt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/warehouse"
)

// Runner runs dbt steps. It is safe for concurrent use.
type Runner struct {
	cfg       Config
	warehouse *warehouse.Service
	query     *query.Service
}

// New returns a runner over the warehouse (for write-audit-publish) and
// the query service (failing rows of tests).
func New(cfg Config, wh *warehouse.Service, q *query.Service) *Runner {
	def := DefaultConfig()
	if cfg.Executable == "" {
		cfg.Executable = def.Executable
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = def.WorkDir
	}
	if cfg.FailingRows <= 0 {
		cfg.FailingRows = def.FailingRows
	}
	if cfg.Projects == "" {
		cfg.Projects = def.Projects
	}
	if cfg.KeepFailed <= 0 {
		cfg.KeepFailed = def.KeepFailed
	}
	return &Runner{cfg: cfg, warehouse: wh, query: q}
}

// Request is one attempt of a dbt step.
type Request struct {
	Step Step // validated
	// Vars are the step's variables with the run's properties expanded.
	Vars map[string]string
	// RunID, StepName and Attempt name the attempt's folder and staging
	// schema; Workflow and RunID are the lineage events' parent run.
	Workflow        string
	RunID, StepName string
	Attempt         int
	// Endpoint is the PostgreSQL endpoint's host:port ("" when the server
	// has none: the step fails with ErrNoEndpoint).
	Endpoint string
	// AccessKeyID and Secret are the key dbt logs in with: the step's
	// identity.
	AccessKeyID, Secret string
	// Admin is true for an admin key: its projects may be anywhere;
	// others' must be in Config.Projects.
	Admin bool
	// Authorize checks the publish's warehouse actions for the key (nil
	// for an admin key).
	Authorize func(action, schema, name, location string) error
	// QueryAuthorize checks the queries that fetch a failed test's rows
	// (nil for an admin key).
	QueryAuthorize func(action string, t query.Target) error
}

// Result is what an attempt did.
type Result struct {
	Nodes     []Node
	Published []warehouse.Published
	// Staging is the staging schema a failed write-audit-publish run left
	// for inspection ("" otherwise).
	Staging string
	// Dir is the attempt's folder (dbt's target and logs), kept when the
	// attempt failed.
	Dir string
}

// Run runs one attempt of a step: dbt with a profile for the request's
// key, its results read back, and with write-audit-publish the staging,
// the audit and the publish. A failed model or test is an error wrapping
// ErrFailed, whose message names them (and a test's first failing rows).
func (r *Runner) Run(ctx context.Context, req Request) (res Result, err error) {
	st := req.Step
	if req.Endpoint == "" {
		return res, fmt.Errorf("%w: dbt steps connect to tarn's PostgreSQL endpoint, and this process has none (run them in `tarn serve --pg-listen ADDR`)", ErrNoEndpoint)
	}
	host, portText, err := net.SplitHostPort(req.Endpoint)
	if err != nil {
		return res, fmt.Errorf("%w: %q: %w", ErrNoEndpoint, req.Endpoint, err)
	}
	port, _ := strconv.Atoi(portText)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	project, err := filepath.Abs(st.Project)
	if err != nil {
		return res, fmt.Errorf("%w: project: %w", ErrInvalidStep, err)
	}
	if fi, err := os.Stat(filepath.Join(project, "dbt_project.yml")); err != nil || !fi.Mode().IsRegular() {
		return res, fmt.Errorf("%w: project: no dbt project at %s (no dbt_project.yml there)", ErrInvalidStep, project)
	}
	if !req.Admin {
		if err := r.allowedProject(project); err != nil {
			return res, err
		}
	}
	exe, err := exec.LookPath(r.cfg.Executable)
	if err != nil {
		return res, fmt.Errorf("%w: %q: %w (install dbt-core and dbt-postgres, or set TARN_DBT to the dbt program)", ErrCannotStart, r.cfg.Executable, err)
	}
	varsJSON := ""
	if len(req.Vars) > 0 {
		b, _ := json.Marshal(req.Vars)
		varsJSON = string(b)
	}
	// The attempt's folders: target and logs kept on failure; the profile
	// and HOME private and always removed.
	r.prune()
	dir := filepath.Join(r.cfg.WorkDir, safeName(req.RunID), fmt.Sprintf("%s-%d", safeName(req.StepName), req.Attempt))
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, fmt.Errorf("cannot create the dbt step's folder: %w", err)
	}
	res.Dir = dir
	private, err := os.MkdirTemp("", "tarn-dbt-profile-")
	if err != nil {
		return res, fmt.Errorf("cannot create the dbt profile's folder: %w", err)
	}
	defer os.RemoveAll(private)
	defer func() {
		if err == nil {
			_ = os.RemoveAll(dir)
			_ = os.Remove(filepath.Dir(dir)) // the run's folder, once empty
			res.Dir = ""
		}
	}()
	schema := st.Schema
	wap := st.Publish == PublishOnTestsPass
	staging := ""
	if wap {
		if r.warehouse == nil {
			return res, fmt.Errorf("%w: write-audit-publish needs the warehouse", ErrInvalidStep)
		}
		staging = StagingSchema(st.Schema, req.RunID)
		schema = staging
	}
	prof := profile{Target: st.Target, Host: host, Port: port, Schema: schema, Threads: st.Threads}
	if err := prof.write(private); err != nil {
		return res, fmt.Errorf("cannot write the dbt profile: %w", err)
	}
	home := filepath.Join(private, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		return res, err
	}
	inv := invocation{exe: exe, project: project, profiles: private, target: filepath.Join(dir, "target"), logs: filepath.Join(dir, "logs"),
		home: home, user: req.AccessKeyID, pass: req.Secret, profTarget: st.Target}

	var plan stagingPlan
	if wap {
		if plan, err = r.stage(ctx, req, inv, staging); err != nil {
			return res, err
		}
	}
	inv.args = st.args(varsJSON)
	started := time.Now()
	out, err := inv.run(ctx)
	if err != nil {
		return res, err
	}
	arts, aerr := ReadArtifacts(inv.target)
	if aerr != nil {
		return res, fmt.Errorf("dbt %s exited with status %d after %s and wrote no results: %s", st.Command, out.exitCode,
			time.Since(started).Round(time.Millisecond), lastLines(out.output, 12))
	}
	res.Nodes = arts.Nodes
	failed := arts.Failed()
	if len(failed) > 0 || out.exitCode != 0 {
		for i, n := range res.Nodes {
			if n.Status == "fail" && n.ResourceType == "test" {
				res.Nodes[i].FailingRows = r.failingRows(ctx, req, arts.Compiled(n.UniqueID))
			}
		}
		r.recordLineage(ctx, req, arts, res.Nodes, plan.schemas, false)
		msg := failureMessage(res.Nodes, out)
		if wap {
			res.Staging = staging
			msg += fmt.Sprintf("; nothing was published (readers keep the last good data); the staging schema %s is kept for inspection until the next write-audit-publish run on %s", staging, st.Schema)
		}
		return res, fmt.Errorf("%w: %s", ErrFailed, msg)
	}
	if wap {
		if err := ctx.Err(); err != nil {
			return res, context.Cause(ctx)
		}
		var order []string
		for _, n := range arts.Nodes {
			if s, name, ok := arts.Relation(n.UniqueID); ok {
				order = append(order, strings.ToLower(s+"."+name))
			}
		}
		pub, err := r.warehouse.Publish(ctx, warehouse.Publish{Schemas: plan.schemas, Order: order, Authorize: req.Authorize})
		if err != nil {
			res.Staging = staging
			return res, fmt.Errorf("every test passed but the publish failed (nothing was published; staging schema %s kept): %w", staging, err)
		}
		res.Published = pub
		for i, n := range res.Nodes {
			res.Nodes[i].Relation = renameRelation(n.Relation, plan.schemas)
		}
	}
	r.recordLineage(ctx, req, arts, res.Nodes, plan.schemas, true)
	return res, nil
}

// allowedProject checks that a non-admin key's project is inside
// Config.Projects, symbolic links resolved.
func (r *Runner) allowedProject(project string) error {
	if r.cfg.Projects == "" {
		return fmt.Errorf("%w: project: dbt steps that run as a non-admin access key need the server's dbt projects folder (TARN_DBT_PROJECTS), and it is not set", ErrInvalidStep)
	}
	root, err := filepath.EvalSymlinks(r.cfg.Projects)
	if err != nil {
		return fmt.Errorf("%w: project: the dbt projects folder %s: %w", ErrInvalidStep, r.cfg.Projects, err)
	}
	root, _ = filepath.Abs(root)
	real, err := filepath.EvalSymlinks(project)
	if err != nil {
		return fmt.Errorf("%w: project: %w", ErrInvalidStep, err)
	}
	if rel, err := filepath.Rel(root, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%w: project: %s is not in the dbt projects folder %s (a non-admin key's projects must be)", ErrInvalidStep, project, r.cfg.Projects)
	}
	return nil
}

// prune removes the runs' folders (kept by failed attempts) older than
// KeepFailed.
func (r *Runner) prune() {
	entries, err := os.ReadDir(r.cfg.WorkDir)
	if err != nil {
		return
	}
	cutoff := time.Now().Add(-r.cfg.KeepFailed)
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !e.IsDir() || info.ModTime().After(cutoff) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(r.cfg.WorkDir, e.Name()))
	}
}

// stage prepares a write-audit-publish run: the staging schemas of earlier
// runs on the same schema are dropped, the selected nodes listed (all must
// build under the staging schema) and the incremental models' published
// rows copied into it.
func (r *Runner) stage(ctx context.Context, req Request, inv invocation, staging string) (stagingPlan, error) {
	st := req.Step
	old, err := r.warehouse.Schemas(ctx, strings.ToLower(st.Schema)+stagingMark)
	if err != nil {
		return stagingPlan{}, err
	}
	if len(old) > 0 {
		if err := r.warehouse.DropSchemas(ctx, old); err != nil {
			return stagingPlan{}, fmt.Errorf("cannot drop earlier staging schemas %v: %w", old, err)
		}
	}
	ls := inv
	ls.args = []string{"ls", "--resource-type", "model", "--resource-type", "seed", "--resource-type", "snapshot",
		"--output", "json", "--output-keys", "unique_id", "resource_type", "name", "schema", "alias", "config", "-q"}
	if f := strings.Fields(st.Select); len(f) > 0 {
		ls.args = append(append(ls.args, "--select"), f...)
	}
	if f := strings.Fields(st.Exclude); len(f) > 0 {
		ls.args = append(append(ls.args, "--exclude"), f...)
	}
	if len(req.Vars) > 0 {
		b, _ := json.Marshal(req.Vars)
		ls.args = append(ls.args, "--vars", string(b))
	}
	out, err := ls.run(ctx)
	if err != nil {
		return stagingPlan{}, err
	}
	if out.exitCode != 0 {
		return stagingPlan{}, fmt.Errorf("%w: dbt ls (listing what write-audit-publish stages) exited with status %d: %s", ErrInvalidStep, out.exitCode, lastLines(out.output, 12))
	}
	nodes, err := parseLs(out.stdout)
	if err != nil {
		return stagingPlan{}, err
	}
	plan, err := planStaging(nodes, staging, strings.ToLower(st.Schema))
	if err != nil {
		return plan, err
	}
	for sch, names := range plan.incremental {
		if st.FullRefresh {
			break
		}
		if _, err := r.warehouse.StageTables(ctx, plan.schemas[sch], sch, names, req.Authorize); err != nil {
			return plan, err
		}
	}
	return plan, nil
}

// failingRows runs a failed test's compiled SQL as the step's key and
// formats its first rows ("" when it cannot).
func (r *Runner) failingRows(ctx context.Context, req Request, compiled string) string {
	if r.query == nil || strings.TrimSpace(compiled) == "" {
		return ""
	}
	q := strings.TrimRight(strings.TrimSpace(compiled), ";")
	sink := &rowsSink{max: r.cfg.FailingRows}
	text := fmt.Sprintf("SELECT * FROM (\n%s\n) AS dbt_failing_rows LIMIT %d", q, r.cfg.FailingRows+1)
	qreq := query.Request{SQL: text, Authorize: req.QueryAuthorize}
	if req.QueryAuthorize != nil {
		qreq.AccessKey = req.AccessKeyID
	}
	if _, err := r.query.Execute(ctx, qreq, sink); err != nil {
		return "(cannot fetch them: " + oneLine(err.Error()) + ")"
	}
	return sink.String()
}

type rowsSink struct {
	max  int
	cols []query.Column
	rows []string
	more bool
}

func (s *rowsSink) Columns(cols []query.Column) error { s.cols = cols; return nil }

func (s *rowsSink) Row(vals []any) error {
	if len(s.rows) >= s.max {
		s.more = true
		return nil
	}
	parts := make([]string, len(vals))
	for i, v := range vals {
		name := fmt.Sprint(i)
		if i < len(s.cols) {
			name = s.cols[i].Name
		}
		parts[i] = name + "=" + formatValue(v)
	}
	s.rows = append(s.rows, strings.Join(parts, ", "))
	return nil
}

func (s *rowsSink) String() string {
	out := "(" + strings.Join(s.rows, "); (") + ")"
	if len(s.rows) == 0 {
		out = "(none now)"
	}
	if s.more {
		out += "; ..."
	}
	return out
}

func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 {
			return x.Format(time.DateOnly)
		}
		return x.Format(time.RFC3339Nano)
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

// failureMessage names the failed nodes, or says why dbt failed.
func failureMessage(nodes []Node, out execResult) string {
	var parts []string
	for _, n := range nodes {
		if !n.Failed() {
			continue
		}
		p := fmt.Sprintf("%s %s %s", n.ResourceType, n.Name, statusWord(n.Status))
		if n.Message != "" {
			p += " (" + oneLine(n.Message) + ")"
		}
		if n.ResourceType == "test" && n.Relation != "" {
			p += " on " + n.Relation
		}
		if n.FailingRows != "" {
			p += "; failing rows: " + n.FailingRows
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return fmt.Sprintf("dbt exited with status %d: %s", out.exitCode, lastLines(out.output, 12))
	}
	return strings.Join(parts, "; ")
}

func statusWord(s string) string {
	if s == "fail" {
		return "failed"
	}
	return "ended in " + s
}

// renameRelation rewrites a relation name ("warehouse"."s"."t") whose
// schema is a staging one to its published schema.
func renameRelation(rel string, schemas map[string]string) string {
	for st, real := range schemas {
		rel = strings.ReplaceAll(rel, `"`+st+`"`, `"`+real+`"`)
	}
	return rel
}

func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 || strings.Trim(b.String(), ".") == "" {
		return "_"
	}
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// IsFailure reports whether err is a dbt run whose models or tests failed
// (as opposed to dbt that could not run).
func IsFailure(err error) bool { return errors.Is(err, ErrFailed) }
