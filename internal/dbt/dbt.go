// Package dbt runs dbt projects for workflow steps: dbt-core with
// dbt-postgres, pointed at tarn's PostgreSQL endpoint with a profile tarn
// writes for the step's access key, then reads dbt's artifacts
// (run_results.json, manifest.json) into one record per model, seed,
// snapshot and test. With write-audit-publish (publish: on_tests_pass) the
// step's models are built in staging schemas readers do not see, tested
// there, and published by the warehouse in one transaction only when every
// test passed.
package dbt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Errors of the package.
var (
	ErrInvalidStep = errors.New("invalid dbt step")
	// ErrNoEndpoint means the server has no PostgreSQL endpoint for dbt to
	// connect to.
	ErrNoEndpoint = errors.New("no PostgreSQL endpoint")
	// ErrCannotStart means the dbt executable could not be started.
	ErrCannotStart = errors.New("cannot start dbt")
	// ErrFailed means dbt ran and a model, seed, snapshot or test failed.
	ErrFailed = errors.New("dbt run failed")
)

// Commands a step may run.
const (
	CommandBuild = "build"
	CommandRun   = "run"
	CommandTest  = "test"
	CommandSeed  = "seed"
)

// PublishOnTestsPass is write-audit-publish: build in staging schemas,
// publish when every test passed.
const PublishOnTestsPass = "on_tests_pass"

// Step is a workflow step's dbt invocation (the `dbt:` field).
type Step struct {
	// Project is the dbt project's folder (holding dbt_project.yml) on the
	// server; a relative path is relative to the server's working folder.
	Project string `json:"project"`
	// Command is build (default), run, test or seed.
	Command string `json:"command,omitempty"`
	// Select and Exclude are dbt's node selection (--select, --exclude),
	// space-separated as on dbt's command line.
	Select  string `json:"select,omitempty"`
	Exclude string `json:"exclude,omitempty"`
	// Vars are the project's variables (--vars); values may use the run's
	// ${property}.
	Vars map[string]string `json:"vars,omitempty"`
	// Target names the profile's target (target.name in the project's
	// Jinja; default "tarn"); Schema is the target schema (default
	// "public"); Threads is dbt's threads (default 1).
	Target  string `json:"target,omitempty"`
	Schema  string `json:"schema,omitempty"`
	Threads int    `json:"threads,omitempty"`
	// FullRefresh rebuilds incremental models and seeds (--full-refresh).
	FullRefresh bool `json:"full_refresh,omitempty"`
	// Publish "on_tests_pass" is write-audit-publish (command build only).
	Publish string `json:"publish,omitempty"`
}

var (
	identRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	selectRE = regexp.MustCompile(`^[A-Za-z0-9_.:+*,@/ =-]*$`)
	varRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks a step and fills its defaults; errors name the field.
func (s *Step) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidStep, field, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(s.Project) == "" {
		return bad("project", "the dbt project's folder is required")
	}
	if strings.ContainsRune(s.Project, 0) {
		return bad("project", "not a path")
	}
	switch s.Command {
	case "":
		s.Command = CommandBuild
	case CommandBuild, CommandRun, CommandTest, CommandSeed:
	default:
		return bad("command", "%q is not one of build, run, test, seed", s.Command)
	}
	for field, v := range map[string]string{"select": s.Select, "exclude": s.Exclude} {
		if !selectRE.MatchString(v) || strings.HasPrefix(strings.TrimSpace(v), "-") {
			return bad(field, "%q is not a dbt selection (names, tags, paths, +, *, @, methods such as tag:x)", v)
		}
	}
	for k := range s.Vars {
		if !varRE.MatchString(k) {
			return bad("vars", "%q is not a variable name", k)
		}
	}
	if s.Target == "" {
		s.Target = "tarn"
	}
	if !identRE.MatchString(s.Target) {
		return bad("target", "%q must be letters, digits and '_'", s.Target)
	}
	if s.Schema == "" {
		s.Schema = "public"
	}
	if !identRE.MatchString(s.Schema) || strings.Contains(strings.ToLower(s.Schema), stagingMark) {
		return bad("schema", "%q must be 1-63 letters, digits and '_' (and not hold %q)", s.Schema, stagingMark)
	}
	if s.Threads == 0 {
		s.Threads = 1
	}
	if s.Threads < 1 || s.Threads > 32 {
		return bad("threads", "must be between 1 and 32")
	}
	switch s.Publish {
	case "":
	case PublishOnTestsPass:
		if s.Command != CommandBuild {
			return bad("publish", "on_tests_pass needs command build (models and their tests in one run)")
		}
	default:
		return bad("publish", "%q is not on_tests_pass", s.Publish)
	}
	return nil
}

// Args returns dbt's command-line arguments for the step, less the
// folders (see invocation).
func (s Step) args(varsJSON string) []string {
	args := []string{s.Command}
	if f := strings.Fields(s.Select); len(f) > 0 {
		args = append(append(args, "--select"), f...)
	}
	if f := strings.Fields(s.Exclude); len(f) > 0 {
		args = append(append(args, "--exclude"), f...)
	}
	if varsJSON != "" {
		args = append(args, "--vars", varsJSON)
	}
	if s.FullRefresh && s.Command != CommandTest {
		args = append(args, "--full-refresh")
	}
	return args
}

// Config configures the runner.
type Config struct {
	// Executable is the dbt program: a path, or a name found on PATH
	// (default "dbt"; TARN_DBT overrides it).
	Executable string
	// WorkDir holds each step's folders (target, logs); those of failed
	// attempts are kept there for inspection. Default: a folder in the
	// system's temporary folder.
	WorkDir string
	// FailingRows is how many rows of a failed test the step's error
	// shows (default 5).
	FailingRows int
	// Projects is the folder the dbt projects of steps that run as a
	// non-admin key must be in (TARN_DBT_PROJECTS by default). Unset, only
	// admin identities run dbt steps: a project is a folder on the server,
	// and dbt reads what its files name (seed paths, ...), so a key must
	// not point dbt at folders it could write (the lake's own objects).
	Projects string
	// KeepFailed is how long the folders of failed attempts are kept
	// (default 7 days): each step removes older ones when it starts.
	KeepFailed time.Duration
}

// DefaultConfig returns the defaults, with TARN_DBT as the executable if
// set.
func DefaultConfig() Config {
	exe := os.Getenv("TARN_DBT")
	if exe == "" {
		exe = "dbt"
	}
	return Config{Executable: exe, WorkDir: filepath.Join(os.TempDir(), "tarn-dbt"), FailingRows: 5, KeepFailed: 7 * 24 * time.Hour,
		Projects: os.Getenv("TARN_DBT_PROJECTS")}
}

// Node is one model, seed, snapshot, test or hook of a dbt run, from
// run_results.json and manifest.json.
type Node struct {
	UniqueID string `json:"unique_id"`
	// ResourceType is model, seed, snapshot, test, unit_test or operation.
	ResourceType string `json:"resource_type"`
	Name         string `json:"name"`
	// Status is dbt's: success, error, skipped (models, seeds, snapshots);
	// pass, fail, warn, error, skipped (tests).
	Status string `json:"status"`
	// RowsAffected is what the adapter answered (-1 when it did not say).
	RowsAffected int64 `json:"rows_affected"`
	// ExecutionTime in seconds.
	ExecutionTime float64 `json:"execution_time"`
	// Failures is a test's failing row count.
	Failures int64  `json:"failures,omitempty"`
	Message  string `json:"message,omitempty"`
	// Relation is the relation a model, seed or snapshot wrote (its
	// published name with write-audit-publish), or a test's model.
	Relation string `json:"relation,omitempty"`
	// FailingRows are the first rows a failed test found.
	FailingRows string `json:"failing_rows,omitempty"`
}

// Failed reports whether the node fails the step.
func (n Node) Failed() bool { return n.Status == "error" || n.Status == "fail" }

// Summary counts nodes by resource type and status ("model success 3, test
// pass 7, test fail 1").
func Summary(nodes []Node) string {
	counts := map[string]int{}
	var keys []string
	for _, n := range nodes {
		if n.ResourceType == "operation" {
			continue
		}
		k := n.ResourceType + " " + n.Status
		if counts[k] == 0 {
			keys = append(keys, k)
		}
		counts[k]++
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}
