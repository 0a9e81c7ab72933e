// Package jobs runs ETL jobs the way Glue does, in SQL on DuckDB: a job reads
// catalog tables, transforms them with its SQL and writes Parquet (or CSV or
// JSON) below a target s3:// prefix, partitioned, and registers the output as
// a catalog table; or, with a warehouse://schema.table target (Glue's
// Redshift target), inserts its rows into a warehouse table (see load.go).
//
// A run writes its files under <target>/_staging/<run>/, moves them to
// their final keys (part-<run>-<n>.parquet), and then publishes everything in
// one metadata transaction: the output table's file manifest and partitions,
// the job bookmark and the run's state. Readers go through the manifest, so
// they see all of a run or none of it; a run that dies leaves only files no
// manifest lists, which the next start removes.
package jobs

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/runs"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Sentinel errors.
var (
	ErrNoSuchJob       = errors.New("no such job")
	ErrJobExists       = errors.New("job already exists")
	ErrInvalidSpec     = errors.New("invalid job spec")
	ErrNoSuchRun       = errors.New("no such job run")
	ErrConcurrentRuns  = errors.New("concurrent runs exceeded")
	ErrTooManyRejected = errors.New("too many rejected rows")
	ErrTimeout         = errors.New("job run timed out")
	ErrStopped         = errors.New("job run stopped")
	ErrRunNotActive    = errors.New("job run is not running")
	ErrMissingArgument = errors.New("missing job argument")
	ErrInvalidJobSQL   = errors.New("invalid job SQL")
	ErrRunFailed       = errors.New("job run failed")
	// ErrInvalidTarget: the warehouse table a job loads is missing, is not
	// a table, or does not fit the job's output columns.
	ErrInvalidTarget = errors.New("invalid job target")
	// ErrLoadNotRecorded: a warehouse load committed but recording the run
	// (state, bookmark) failed; tarn records it before the job's next run
	// and when it opens the lake. Never retried: the rows are loaded.
	ErrLoadNotRecorded = errors.New("warehouse load committed but not recorded")
)

// Write modes.
const (
	ModeAppend              = "append"
	ModeOverwrite           = "overwrite"
	ModeOverwritePartitions = "overwrite-partitions"
	// ModeMerge upserts into an Iceberg table on the spec's MergeKey: an
	// output row whose key a table row has replaces that row, the others
	// are inserted (MERGE INTO ... WHEN MATCHED THEN UPDATE SET * WHEN NOT
	// MATCHED THEN INSERT *).
	ModeMerge = "merge"
)

// Run states, as Glue names them.
const (
	StateStarting  = runs.Starting
	StateRunning   = runs.Running
	StateSucceeded = runs.Succeeded
	StateFailed    = runs.Failed
	StateTimeout   = runs.Timeout
	StateStopped   = runs.Stopped
)

// Spec is a job definition.
type Spec struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// SQL is the transform; it reads catalog tables as database.table and may
	// use ${name} arguments. SQLFile is where it was read from, if anywhere.
	SQL     string `json:"sql"`
	SQLFile string `json:"sql_file,omitempty"`
	// Args are the default arguments; a run may override them.
	Args map[string]string `json:"args,omitempty"`
	// Target is where the output goes: an s3:// prefix (files),
	// warehouse://schema.table, an existing warehouse table the rows are
	// inserted into (Glue's Redshift target), or iceberg://database.table,
	// an existing Iceberg table each run commits one snapshot to (see
	// iceberg.go). Format, Compression, PartitionBy, FileSize and Table
	// apply to s3:// targets only.
	Target      string   `json:"target"`
	Format      string   `json:"format"`
	Compression string   `json:"compression"`
	PartitionBy []string `json:"partition_by,omitempty"`
	Mode        string   `json:"mode"`
	// MergeKey are the output columns that identify a row, for mode merge
	// (Iceberg targets only).
	MergeKey []string `json:"merge_key,omitempty"`
	FileSize int64    `json:"file_size"`
	// Table, "database.table", registers the output in the catalog.
	Table             string        `json:"table,omitempty"`
	Bookmarks         bool          `json:"bookmarks"`
	Timeout           time.Duration `json:"timeout"`
	MaxRetries        int           `json:"max_retries"`
	MaxConcurrentRuns int           `json:"max_concurrent_runs"`
	// MaxRejected fails a run with more rejected rows: a count ("100") or a
	// percentage of input rows ("1.5%"). Empty means no limit.
	MaxRejected string `json:"max_rejected,omitempty"`
	// RunAs is the access key id whose rights the job's runs have (its
	// role), RunAsAdmin for the lake's admin. At create it names the role
	// to pass; empty means the creator's key.
	RunAs     string    `json:"run_as,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// DefaultTimeout is Glue's default job timeout (48 hours).
const DefaultTimeout = 48 * time.Hour

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$`)

// Validate checks a spec and fills defaults. Errors name the field.
func (s *Spec) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidSpec, field, fmt.Sprintf(format, args...))
	}
	if !nameRE.MatchString(s.Name) {
		return bad("name", "%q must be 1-255 letters, digits, '_', '-' or '.'", s.Name)
	}
	if strings.TrimSpace(s.SQL) == "" {
		return bad("sql", "the transform SQL is empty (give --sql or --sql-file)")
	}
	if s.Target == "" {
		return bad("target", "required: the s3:// prefix the output goes to, warehouse://schema.table or iceberg://database.table")
	}
	if isIcebergTarget(s.Target) {
		if err := s.validateIcebergTarget(bad); err != nil {
			return err
		}
		return s.validateRun(bad)
	}
	if strings.EqualFold(s.Mode, ModeMerge) {
		return bad("mode", "merge upserts rows into an Iceberg table: give target iceberg://database.table (an existing Iceberg table)")
	}
	if len(s.MergeKey) > 0 {
		return bad("merge_key", "applies to mode merge on an Iceberg target (iceberg://database.table) only")
	}
	if isWarehouseTarget(s.Target) {
		if err := s.validateWarehouseTarget(bad); err != nil {
			return err
		}
		return s.validateRun(bad)
	}
	u, err := storage.ParseURI(s.Target)
	if err != nil {
		return bad("target", "%v", err)
	}
	s.Target = u.Dir().String()
	if s.Format == "" {
		s.Format = "parquet"
	}
	s.Format = strings.ToLower(s.Format)
	if _, ok := engine.WriteCompressions[s.Format]; !ok {
		return bad("format", "%q is not one of parquet, csv, json", s.Format)
	}
	comp, err := engine.NormalizeCompression(s.Format, s.Compression)
	if err != nil {
		return bad("compression", "%v", err)
	}
	s.Compression = comp
	if s.Mode == "" {
		s.Mode = ModeAppend
	}
	switch s.Mode {
	case ModeAppend, ModeOverwrite:
	case ModeOverwritePartitions:
		if len(s.PartitionBy) == 0 {
			return bad("mode", "overwrite-partitions needs --partition-by")
		}
	default:
		return bad("mode", "%q is not one of append, overwrite, overwrite-partitions", s.Mode)
	}
	for i, p := range s.PartitionBy {
		if strings.TrimSpace(p) == "" {
			return bad(fmt.Sprintf("partition_by[%d]", i), "empty column name")
		}
	}
	if s.FileSize == 0 {
		s.FileSize = engine.DefaultFileSize
	}
	if s.FileSize < 1<<20 {
		return bad("file_size", "%d bytes is below the 1 MiB minimum", s.FileSize)
	}
	if s.Table != "" {
		db, t, ok := strings.Cut(s.Table, ".")
		if !ok || db == "" || t == "" || strings.Contains(t, ".") {
			return bad("table", "%q must be database.table", s.Table)
		}
		s.Table = strings.ToLower(s.Table)
	}
	return s.validateRun(bad)
}

// validateRun checks and defaults the fields every target has.
func (s *Spec) validateRun(bad func(field, format string, args ...any) error) error {
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.Timeout < 0 {
		return bad("timeout", "must be positive")
	}
	if s.MaxRetries < 0 || s.MaxRetries > 10 {
		return bad("max_retries", "%d is not between 0 and 10", s.MaxRetries)
	}
	if s.MaxConcurrentRuns == 0 {
		s.MaxConcurrentRuns = 1
	}
	if s.MaxConcurrentRuns < 0 {
		return bad("max_concurrent_runs", "must be positive")
	}
	if _, _, err := ParseMaxRejected(s.MaxRejected); err != nil {
		return bad("max_rejected", "%v", err)
	}
	return nil
}

// ParseMaxRejected parses "N" or "P%". ok is false for "" (no limit).
func ParseMaxRejected(v string) (limit float64, percent bool, err error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false, nil
	}
	if p, found := strings.CutSuffix(v, "%"); found {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f < 0 || f > 100 {
			return 0, false, fmt.Errorf("%q is not a percentage between 0%% and 100%%", v)
		}
		return f, true, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false, fmt.Errorf("%q is not a row count or a percentage such as 5%%", v)
	}
	return float64(n), false, nil
}

var argNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Substitute replaces ${name} with the run's arguments (overrides first,
// then the job's defaults), each as a literal of its value (see
// SubstituteSQL); lists names the arguments that are comma-separated lists.
// A missing argument is an error that names it.
func Substitute(sqlText string, defaults, overrides map[string]string, lists ...string) (string, error) {
	out, missing, err := SubstituteSQL(sqlText, argNameRE.MatchString, func(name string) (Arg, bool) {
		v, ok := overrides[name]
		if !ok {
			v, ok = defaults[name]
		}
		return Arg{Value: v, List: slices.Contains(lists, name)}, ok
	})
	if err != nil {
		return "", err
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%w: ${%s} has no value (set it with --arg %s=VALUE)", ErrMissingArgument, missing[0], missing[0])
	}
	return out, nil
}
