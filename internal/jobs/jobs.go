package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/iceberg"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Migrations are the jobs component's tables.
var Migrations = []meta.Migration{{Version: 1, Name: "jobs, runs, bookmarks", SQL: `
CREATE TABLE jobs (
	name TEXT PRIMARY KEY,
	spec TEXT NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE TABLE job_runs (
	id TEXT PRIMARY KEY,
	job TEXT NOT NULL,
	attempt INTEGER NOT NULL,
	state TEXT NOT NULL,
	started_at TEXT NOT NULL,
	ended_at TEXT NOT NULL DEFAULT '',
	args TEXT NOT NULL DEFAULT '{}',
	stats TEXT NOT NULL DEFAULT '{}',
	error TEXT NOT NULL DEFAULT '',
	log TEXT NOT NULL DEFAULT '',
	owner TEXT NOT NULL DEFAULT '',
	stop_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX job_runs_by_job ON job_runs (job, started_at);
CREATE INDEX job_runs_by_state ON job_runs (state);
CREATE TABLE job_bookmarks (
	job TEXT NOT NULL,
	source TEXT NOT NULL,
	uri TEXT NOT NULL,
	etag TEXT NOT NULL,
	run_id TEXT NOT NULL,
	PRIMARY KEY (job, source, uri)
);
`}, {Version: 2, Name: "job identities", SQL: `
ALTER TABLE jobs ADD COLUMN run_as TEXT NOT NULL DEFAULT '';
`}}

// Service stores jobs and runs them. It is safe for concurrent use.
type Service struct {
	db    *meta.DB
	eng   *engine.Engine
	cat   *catalog.Catalog
	store storage.ObjectStore

	mu      sync.Mutex
	cancels map[string]context.CancelCauseFunc // runs of this process
	// Backoff is the first retry delay; it doubles per attempt.
	Backoff time.Duration
	// Keys finds the access keys jobs run as (set by the lake before use).
	Keys KeyStore
	// Iceberg is the Iceberg catalog jobs with iceberg:// targets commit
	// through (set by the lake before use; else one over the catalog).
	Iceberg *iceberg.Catalog
	iceOnce sync.Once
	iceErr  error
}

// New migrates the job tables and recovers runs whose process died: they are
// marked FAILED and their staged and unpublished files are removed.
func New(ctx context.Context, db *meta.DB, eng *engine.Engine) (*Service, error) {
	if err := db.Migrate(ctx, "jobs", Migrations); err != nil {
		return nil, err
	}
	s := &Service{db: db, eng: eng, cat: eng.Catalog(), store: eng.Store(), cancels: map[string]context.CancelCauseFunc{}, Backoff: time.Second}
	if err := s.prepareLoads(ctx); err != nil {
		return nil, err
	}
	// Warehouse loads committed by a process that died before recording
	// them are recorded first (their runs become SUCCEEDED, not FAILED).
	// A failure here does not keep the lake closed: each run of a warehouse
	// job reconciles its own loads first, and fails if it cannot.
	if err := s.reconcileLoads(ctx, ""); err != nil {
		slog.Warn("jobs: cannot record committed warehouse loads", "error", err)
	}
	if err := s.recover(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// recover fails the runs left STARTING or RUNNING by dead processes and
// collects their garbage.
func (s *Service) recover(ctx context.Context) error {
	ids, err := runTable.Recover(ctx, s.db.SQL(), "interrupted: the process running the job exited before the run finished; nothing was published", StateStarting, StateRunning)
	if err != nil {
		return fmt.Errorf("cannot recover job runs: %w", err)
	}
	for _, id := range ids {
		run, err := s.GetRun(ctx, id)
		if err != nil {
			continue
		}
		if spec, err := s.Get(ctx, run.Job); err == nil {
			s.collectGarbage(ctx, spec, id)
		}
	}
	return nil
}

// collectGarbage removes a failed run's staging folder and the files it
// moved to final keys but never published.
func (s *Service) collectGarbage(ctx context.Context, spec Spec, runID string) {
	if isWarehouseTarget(spec.Target) {
		return // a failed load rolled back in the warehouse
	}
	if isIcebergTarget(spec.Target) {
		s.collectIcebergGarbage(ctx, spec, runID)
		return
	}
	target, err := storage.ParseURI(spec.Target)
	if err != nil {
		return
	}
	for _, prefix := range []string{target.Join("_staging/" + runID + "/").Key, target.Key} {
		for o, err := range storage.Walk(ctx, s.store, target.Bucket, prefix) {
			if err != nil {
				break
			}
			name := o.Key[strings.LastIndexByte(o.Key, '/')+1:]
			if strings.HasPrefix(o.Key, target.Key+"_staging/"+runID+"/") || strings.HasPrefix(name, "part-"+runID+"-") {
				_ = s.store.Delete(ctx, o.Bucket, o.Key)
			}
		}
	}
}

// Create validates and stores a job created by the lake's owner (the local
// CLI, tarn apply): it runs as spec.RunAs if set, else as the admin. Its
// SQL is bound against the catalog with the default arguments, so a syntax
// error, an unknown table or column fails here with DuckDB's message.
func (s *Service) Create(ctx context.Context, spec Spec) error {
	return s.CreateBy(ctx, spec, nil)
}

// CreateBy is Create for a job a key creates (through a front end): the
// job runs as that key, or as spec.RunAs if the key may pass it (see
// resolveIdentity), and the identity must be allowed to read every source
// table and write the target.
func (s *Service) CreateBy(ctx context.Context, spec Spec, creator Creator) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	if err := s.resolveIdentity(ctx, &spec, creator, "create"); err != nil {
		return err
	}
	if err := s.check(ctx, spec, "create"); err != nil {
		return err
	}
	now := time.Now().UTC()
	spec.CreatedAt, spec.UpdatedAt = now, now
	b, _ := json.Marshal(spec)
	_, err := s.db.SQL().ExecContext(ctx, `INSERT INTO jobs (name, spec, created_at, updated_at, run_as) VALUES (?, ?, ?, ?, ?)`,
		spec.Name, string(b), meta.FormatTime(now), meta.FormatTime(now), spec.RunAs)
	if meta.IsUniqueViolation(err) {
		return fmt.Errorf("cannot create job %q: %w", spec.Name, ErrJobExists)
	}
	if err != nil {
		return fmt.Errorf("cannot create job %q: %w", spec.Name, err)
	}
	return nil
}

// Update replaces a job's definition for the lake's owner (the local CLI,
// tarn apply): its runs and bookmarks are kept, its SQL is checked as at
// Create, and its identity stays unless spec.RunAs names another.
func (s *Service) Update(ctx context.Context, spec Spec) error {
	return s.UpdateBy(ctx, spec, nil)
}

// UpdateBy is Update for a key (through a front end). The job's identity,
// kept or newly named, must be one the key could give it at CreateBy:
// changing the SQL of a job is running SQL with its rights, so a key may
// not update a job that runs as the admin or as a key wider than its own.
func (s *Service) UpdateBy(ctx context.Context, spec Spec, updater Creator) error {
	old, err := s.Get(ctx, spec.Name)
	if err != nil {
		return err
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	if spec.RunAs == "" {
		spec.RunAs = old.RunAs
	}
	if err := s.resolveIdentity(ctx, &spec, updater, "update"); err != nil {
		return err
	}
	if err := s.check(ctx, spec, "update"); err != nil {
		return err
	}
	spec.CreatedAt, spec.UpdatedAt = old.CreatedAt, time.Now().UTC()
	b, _ := json.Marshal(spec)
	res, err := s.db.SQL().ExecContext(ctx, `UPDATE jobs SET spec = ?, updated_at = ?, run_as = ? WHERE name = ?`, string(b), meta.FormatTime(spec.UpdatedAt), spec.RunAs, spec.Name)
	if err != nil {
		return fmt.Errorf("cannot update job %q: %w", spec.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("cannot update job %q: %w", spec.Name, ErrNoSuchJob)
	}
	return nil
}

// check binds the job's SQL with its default arguments and, for a
// warehouse target, checks the table and that the SQL's output fits it. The
// job's identity must be allowed to read the sources and write the target.
// verb ("create", "update") says what the caller does, for the errors.
func (s *Service) check(ctx context.Context, spec Spec, verb string) error {
	wt, toWarehouse := spec.warehouseTarget()
	_, _, toIceberg := spec.icebergTarget()
	authz, err := s.authorizer(ctx, spec)
	if err != nil {
		return err
	}
	if err := s.authorizeTarget(ctx, authz, spec); err != nil {
		return fmt.Errorf("cannot %s job %q: its identity %s may not write its target: %w", verb, spec.Name, spec.RunAs, err)
	}
	q, err := Substitute(spec.SQL, spec.Args, nil)
	if errors.Is(err, ErrMissingArgument) {
		// The SQL is checked when a run supplies the argument; the
		// target table can be checked now.
		if toWarehouse {
			sess, err := s.eng.Acquire(ctx)
			if err != nil {
				return err
			}
			defer sess.Release()
			return s.checkWarehouseTarget(ctx, sess, wt, "")
		}
		if toIceberg {
			return s.checkIcebergTarget(ctx, nil, spec, "")
		}
		return nil
	}
	if err != nil {
		return err
	}
	sess, err := s.eng.Acquire(ctx)
	if err != nil {
		return err
	}
	defer sess.Release()
	b, err := sess.BindWith(ctx, q, "", engine.BindOptions{DescribeOnly: true})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidJobSQL, err)
	}
	if err := authorizeSources(authz, b); err != nil {
		return fmt.Errorf("cannot %s job %q: its identity %s may not read its sources: %w", verb, spec.Name, spec.RunAs, err)
	}
	if toWarehouse {
		return s.checkWarehouseTarget(ctx, sess, wt, b.SQL)
	}
	if toIceberg {
		return s.checkIcebergTarget(ctx, sess, spec, b.SQL)
	}
	if err := s.refuseIcebergTable(ctx, spec); err != nil {
		return err
	}
	cols, err := sess.Describe(ctx, b.SQL)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidJobSQL, err)
	}
	for _, p := range spec.PartitionBy {
		found := false
		for _, c := range cols {
			found = found || strings.EqualFold(c.Name, p)
		}
		if !found {
			var names []string
			for _, c := range cols {
				names = append(names, c.Name)
			}
			return fmt.Errorf("%w: partition_by: the SQL has no column %q (it has %s)", ErrInvalidSpec, p, strings.Join(names, ", "))
		}
	}
	return nil
}

// Get returns a job.
func (s *Service) Get(ctx context.Context, name string) (Spec, error) {
	var raw, runAs string
	err := s.db.SQL().QueryRowContext(ctx, `SELECT spec, run_as FROM jobs WHERE name = ?`, name).Scan(&raw, &runAs)
	if errors.Is(err, sql.ErrNoRows) {
		return Spec{}, fmt.Errorf("cannot get job %q: %w", name, ErrNoSuchJob)
	}
	if err != nil {
		return Spec{}, fmt.Errorf("cannot get job %q: %w", name, err)
	}
	var spec Spec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return Spec{}, fmt.Errorf("cannot read job %q: %w", name, err)
	}
	spec.RunAs = identityOf(runAs)
	return spec, nil
}

// identityOf reads the run_as column: jobs created before identities (an
// empty column) were created by the lake's owner and run as the admin.
func identityOf(runAs string) string {
	if runAs == "" {
		return RunAsAdmin
	}
	return runAs
}

// List returns every job, by name.
func (s *Service) List(ctx context.Context) ([]Spec, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT spec, run_as FROM jobs ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Spec
	for rows.Next() {
		var raw, runAs string
		if err := rows.Scan(&raw, &runAs); err != nil {
			return nil, err
		}
		var spec Spec
		if err := json.Unmarshal([]byte(raw), &spec); err != nil {
			return nil, err
		}
		spec.RunAs = identityOf(runAs)
		out = append(out, spec)
	}
	return out, rows.Err()
}

// Delete removes a job, its runs and bookmarks. Its output stays.
func (s *Service) Delete(ctx context.Context, name string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("cannot delete job %q: %w", name, ErrNoSuchJob)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM job_runs WHERE job = ?`, name); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM job_bookmarks WHERE job = ?`, name)
		return err
	})
}

// ResetBookmark forgets which files a job has processed; its next run reads
// everything again.
func (s *Service) ResetBookmark(ctx context.Context, name string) (int64, error) {
	if _, err := s.Get(ctx, name); err != nil {
		return 0, err
	}
	res, err := s.db.SQL().ExecContext(ctx, `DELETE FROM job_bookmarks WHERE job = ?`, name)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Bookmark is one processed file of a job.
type Bookmark struct {
	Source string `json:"source"`
	URI    string `json:"uri"`
	ETag   string `json:"etag"`
	RunID  string `json:"run_id"`
}

// Bookmarks lists the files a job has processed.
func (s *Service) Bookmarks(ctx context.Context, name string) ([]Bookmark, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT source, uri, etag, run_id FROM job_bookmarks WHERE job = ? ORDER BY source, uri`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Bookmark
	for rows.Next() {
		var b Bookmark
		if err := rows.Scan(&b.Source, &b.URI, &b.ETag, &b.RunID); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}
