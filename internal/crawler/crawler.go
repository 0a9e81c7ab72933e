// Package crawler infers tables from files in the lake, as AWS Glue crawlers
// do: it lists s3:// targets, groups files into tables and partitions by their
// folders, asks DuckDB for each file's schema (sniff_csv, read_json_auto,
// read_parquet), merges the schemas of a table's files, and creates or updates
// catalog tables and partitions. Every crawl is a persisted Run.
//
// Table grouping follows Glue: each folder directly under a target is a table
// named after the folder; files directly under the target form a table named
// after the target's own folder; if every folder under a target is a
// partition folder (key=value, or all digits as in 2025/01/15) the target
// itself is the table. Below a table root, key=value folders are partition
// keys in folder order and unnamed folders are partition_<level>.
//
// Choices worth knowing:
//   - Skipped, never read: folder markers, empty files, files whose base name
//     starts with '_' or '.', files below a folder whose name starts with
//     '_' or '.' (Hadoop's hidden paths: _temporary/, .spark-staging/), and
//     exclusion matches (see Spec.Exclusions).
//   - Every data file chosen for reading is read (no per-partition sampling);
//     within a file DuckDB samples SampleRows rows, so large files are not
//     read in full. Files are read in parallel on engine sessions.
//   - DuckDB 1.5's sniffer already types zero-padded numbers ("02134",
//     "007") as VARCHAR when they occur in the sample, so no fix-up query is
//     needed; tests pin this behaviour.
//   - A table's format is its files' majority format; its CSV dialect is its
//     first file's, and a file sniffed differently (e.g. a headerless file
//     whose only row is text) is re-read with the table's dialect.
//   - Schemas are merged into the existing table (union of columns, types
//     widened with catalog.WidenTypes); a column missing from the data is kept,
//     never removed, so tables do not flap as files come and go.
//   - A data column named like a partition key is dropped: the folder value
//     is the column.
//   - Vanished partitions (folders with no file left, under the table root)
//     are dropped and partition stats refreshed in both recrawl policies,
//     since listing is cheap; "new-folders" only limits which files are read.
package crawler

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/runs"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Sentinel errors, wrapped with %w and tested with errors.Is.
var (
	ErrNoSuchCrawler  = errors.New("no such crawler")
	ErrCrawlerExists  = errors.New("crawler already exists")
	ErrCrawlerRunning = errors.New("crawler is already running")
	ErrNotRunning     = errors.New("crawler is not running")
	// ErrStopped ends a crawl that was asked to stop (Glue's StopCrawler):
	// its run is CANCELLED; tables it had finished stay as written (each in
	// one transaction), the others are untouched.
	ErrStopped     = errors.New("crawl stopped by request")
	ErrInvalidSpec = errors.New("invalid crawler spec")
	ErrNoSuchRun   = errors.New("no such crawler run")
	ErrCrawlFailed = errors.New("crawl failed")
)

// Policies.
const (
	SchemaChangeUpdate = "update" // UPDATE_IN_DATABASE (default)
	SchemaChangeLog    = "log"    // LOG: keep the table, record the drift

	DeleteLog       = "log"       // report vanished tables (default)
	DeleteDeprecate = "deprecate" // set catalog.PropertyDeprecated="true"
	DeleteDelete    = "delete"    // drop the table

	RecrawlAll        = "all"         // re-read every file (default)
	RecrawlNewFolders = "new-folders" // read only folders never seen before
)

// Run states.
const (
	StateRunning   = runs.Running
	StateSucceeded = runs.Succeeded
	StateFailed    = runs.Failed
	StateCancelled = runs.Cancelled // stopped by request
)

// Table actions of a run.
const (
	ActionCreate       = "create"
	ActionUpdate       = "update"
	ActionUnchanged    = "unchanged"
	ActionDriftLogged  = "drift-logged"
	ActionDeprecate    = "deprecate"
	ActionDelete       = "delete"
	ActionDeleteLogged = "delete-logged" // files gone, DeleteBehavior "log": reported only
)

// PropertyCrawler is the table property naming the crawler that last wrote
// the table (Glue's key).
const PropertyCrawler = "UPDATED_BY_CRAWLER"

// Migrations are the crawler component's tables in the metadata database.
var Migrations = []meta.Migration{
	{Version: 1, Name: "crawlers", SQL: `
CREATE TABLE crawlers (
	name                 TEXT PRIMARY KEY,
	database_name        TEXT NOT NULL,
	description          TEXT NOT NULL DEFAULT '',
	targets              TEXT NOT NULL,
	exclusions           TEXT NOT NULL,
	schema_change_policy TEXT NOT NULL,
	delete_behavior      TEXT NOT NULL,
	recrawl_policy       TEXT NOT NULL,
	created_at           TEXT NOT NULL,
	updated_at           TEXT NOT NULL
);
CREATE TABLE crawler_runs (
	id            TEXT PRIMARY KEY,
	crawler       TEXT NOT NULL,
	state         TEXT NOT NULL,
	dry_run       INTEGER NOT NULL DEFAULT 0,
	started_at    TEXT NOT NULL,
	ended_at      TEXT NOT NULL DEFAULT '',
	files_scanned INTEGER NOT NULL DEFAULT 0,
	bytes_scanned INTEGER NOT NULL DEFAULT 0,
	result        TEXT NOT NULL DEFAULT '{}',
	error         TEXT NOT NULL DEFAULT '',
	owner         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX crawler_runs_by_crawler ON crawler_runs (crawler, started_at);
CREATE INDEX crawler_runs_by_state ON crawler_runs (state);
CREATE TABLE crawler_folders (
	crawler    TEXT NOT NULL,
	uri        TEXT NOT NULL,
	first_seen TEXT NOT NULL,
	PRIMARY KEY (crawler, uri)
);
CREATE TABLE crawler_tables (
	crawler       TEXT NOT NULL,
	database_name TEXT NOT NULL,
	table_name    TEXT NOT NULL,
	location      TEXT NOT NULL,
	created_at    TEXT NOT NULL,
	PRIMARY KEY (crawler, database_name, table_name)
);
`},
	{Version: 2, Name: "stop requests from other servers", SQL: `
ALTER TABLE crawler_runs ADD COLUMN stop_requested INTEGER NOT NULL DEFAULT 0;
`},
}

// Spec is a crawler definition.
type Spec struct {
	Name        string
	Database    string
	Description string
	// Targets are s3:// prefixes; each is crawled as a folder.
	Targets []string
	// Exclusions are globs (with **) relative to a target, e.g.
	// "**/_temporary/**" or "*.tmp". A pattern without "/" also matches a
	// file's base name or any folder name at any depth (as .gitignore does);
	// a pattern matching a folder excludes everything below it.
	Exclusions []string
	// SchemaChangePolicy is "update" (default) or "log".
	SchemaChangePolicy string
	// DeleteBehavior is "log" (default), "deprecate" or "delete"; it applies to
	// tables this crawler created whose files are all gone.
	DeleteBehavior string
	// RecrawlPolicy is "all" (default) or "new-folders".
	RecrawlPolicy string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Validate checks the spec, normalises it (lower-case database, targets as
// folders ending in "/") and fills defaults. Errors wrap ErrInvalidSpec and
// name the field.
func (s *Spec) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidSpec, field, fmt.Sprintf(format, args...))
	}
	s.Name = strings.TrimSpace(s.Name)
	switch {
	case s.Name == "":
		return bad("name", "is required")
	case len(s.Name) > 255:
		return bad("name", "is longer than 255 characters")
	}
	for _, c := range s.Name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return bad("name", "%q may only contain letters, digits, '_', '-' and '.'", s.Name)
		}
	}
	s.Database = strings.ToLower(strings.TrimSpace(s.Database))
	if s.Database == "" {
		return bad("database", "is required")
	}
	if len(s.Targets) == 0 {
		return bad("targets", "at least one s3:// target is required")
	}
	seen := map[string]bool{}
	for i, t := range s.Targets {
		u, err := storage.ParseURI(strings.TrimSpace(t))
		if err != nil {
			return bad(fmt.Sprintf("targets[%d]", i), "%v", err)
		}
		norm := u.Dir().String()
		if seen[norm] {
			return bad(fmt.Sprintf("targets[%d]", i), "%q is listed twice", t)
		}
		seen[norm] = true
		s.Targets[i] = norm
	}
	for i, t := range s.Targets {
		for j, o := range s.Targets {
			if i != j && strings.HasPrefix(t, o) {
				return bad(fmt.Sprintf("targets[%d]", i), "%q is inside target %q", t, o)
			}
		}
	}
	for i, e := range s.Exclusions {
		if strings.TrimSpace(e) == "" {
			return bad(fmt.Sprintf("exclusions[%d]", i), "is empty")
		}
		if !doublestar.ValidatePattern(e) {
			return bad(fmt.Sprintf("exclusions[%d]", i), "%q is not a valid glob", e)
		}
	}
	s.SchemaChangePolicy = strings.ToLower(strings.TrimSpace(s.SchemaChangePolicy))
	switch s.SchemaChangePolicy {
	case "":
		s.SchemaChangePolicy = SchemaChangeUpdate
	case SchemaChangeUpdate, SchemaChangeLog:
	case "update_in_database":
		s.SchemaChangePolicy = SchemaChangeUpdate
	default:
		return bad("schema_change_policy", "%q is not one of update, log", s.SchemaChangePolicy)
	}
	s.DeleteBehavior = strings.ToLower(strings.TrimSpace(s.DeleteBehavior))
	switch s.DeleteBehavior {
	case "":
		s.DeleteBehavior = DeleteLog
	case DeleteLog, DeleteDeprecate, DeleteDelete:
	case "deprecate_in_database":
		s.DeleteBehavior = DeleteDeprecate
	case "delete_from_database":
		s.DeleteBehavior = DeleteDelete
	default:
		return bad("delete_behavior", "%q is not one of log, deprecate, delete", s.DeleteBehavior)
	}
	s.RecrawlPolicy = strings.ToLower(strings.TrimSpace(s.RecrawlPolicy))
	switch s.RecrawlPolicy {
	case "":
		s.RecrawlPolicy = RecrawlAll
	case RecrawlAll, RecrawlNewFolders:
	default:
		return bad("recrawl_policy", "%q is not one of all, new-folders", s.RecrawlPolicy)
	}
	return nil
}

// Service manages crawlers and runs crawls. It is safe for concurrent use;
// one crawler runs at most once at a time.
type Service struct {
	db    *meta.DB
	store storage.ObjectStore
	cat   *catalog.Catalog
	eng   *engine.Engine

	mu      sync.Mutex
	running map[string]bool
	cancels map[string]context.CancelCauseFunc // crawls running in this process
}

// New migrates the crawler tables and marks runs left RUNNING by a process
// that no longer exists as FAILED ("interrupted"). Runs of live processes
// (another CLI or a server on the same lake) are left alone.
func New(ctx context.Context, db *meta.DB, store storage.ObjectStore, cat *catalog.Catalog, eng *engine.Engine) (*Service, error) {
	if err := db.Migrate(ctx, "crawler", Migrations); err != nil {
		return nil, err
	}
	if _, err := runTable.Recover(ctx, db.SQL(), "interrupted: the process running the crawl exited before it finished", StateRunning); err != nil {
		return nil, err
	}
	return &Service{db: db, store: store, cat: cat, eng: eng, running: map[string]bool{}, cancels: map[string]context.CancelCauseFunc{}}, nil
}

// Create stores a new crawler.
func (s *Service) Create(ctx context.Context, spec Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	now := time.Now().UTC()
	spec.CreatedAt, spec.UpdatedAt = now, now
	targets, _ := json.Marshal(spec.Targets)
	excl, _ := json.Marshal(nonNil(spec.Exclusions))
	_, err := s.db.SQL().ExecContext(ctx, `INSERT INTO crawlers
		(name, database_name, description, targets, exclusions, schema_change_policy, delete_behavior, recrawl_policy, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		spec.Name, spec.Database, spec.Description, string(targets), string(excl),
		spec.SchemaChangePolicy, spec.DeleteBehavior, spec.RecrawlPolicy, meta.FormatTime(now), meta.FormatTime(now))
	if meta.IsUniqueViolation(err) {
		return fmt.Errorf("cannot create crawler %q: %w", spec.Name, ErrCrawlerExists)
	}
	if err != nil {
		return fmt.Errorf("cannot create crawler %q: %w", spec.Name, err)
	}
	return nil
}

// Update replaces a crawler's definition (its CreatedAt is kept).
func (s *Service) Update(ctx context.Context, spec Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	targets, _ := json.Marshal(spec.Targets)
	excl, _ := json.Marshal(nonNil(spec.Exclusions))
	res, err := s.db.SQL().ExecContext(ctx, `UPDATE crawlers SET database_name = ?, description = ?, targets = ?,
		exclusions = ?, schema_change_policy = ?, delete_behavior = ?, recrawl_policy = ?, updated_at = ? WHERE name = ?`,
		spec.Database, spec.Description, string(targets), string(excl), spec.SchemaChangePolicy,
		spec.DeleteBehavior, spec.RecrawlPolicy, meta.Now(), spec.Name)
	if err != nil {
		return fmt.Errorf("cannot update crawler %q: %w", spec.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("cannot update crawler %q: %w", spec.Name, ErrNoSuchCrawler)
	}
	return nil
}

const specColumns = `name, database_name, description, targets, exclusions, schema_change_policy, delete_behavior, recrawl_policy, created_at, updated_at`

func scanSpec(row interface{ Scan(...any) error }) (Spec, error) {
	var sp Spec
	var targets, excl, created, updated string
	if err := row.Scan(&sp.Name, &sp.Database, &sp.Description, &targets, &excl, &sp.SchemaChangePolicy,
		&sp.DeleteBehavior, &sp.RecrawlPolicy, &created, &updated); err != nil {
		return Spec{}, err
	}
	if err := json.Unmarshal([]byte(targets), &sp.Targets); err != nil {
		return Spec{}, fmt.Errorf("crawler %q has corrupt targets: %w", sp.Name, err)
	}
	if err := json.Unmarshal([]byte(excl), &sp.Exclusions); err != nil {
		return Spec{}, fmt.Errorf("crawler %q has corrupt exclusions: %w", sp.Name, err)
	}
	sp.CreatedAt, sp.UpdatedAt = meta.ParseTime(created), meta.ParseTime(updated)
	return sp, nil
}

// Get returns a crawler's definition.
func (s *Service) Get(ctx context.Context, name string) (Spec, error) {
	row := s.db.SQL().QueryRowContext(ctx, `SELECT `+specColumns+` FROM crawlers WHERE name = ?`, name)
	sp, err := scanSpec(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Spec{}, fmt.Errorf("cannot get crawler %q: %w", name, ErrNoSuchCrawler)
	}
	if err != nil {
		return Spec{}, fmt.Errorf("cannot get crawler %q: %w", name, err)
	}
	return sp, nil
}

// List returns every crawler, by name.
func (s *Service) List(ctx context.Context) ([]Spec, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT `+specColumns+` FROM crawlers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("cannot list crawlers: %w", err)
	}
	defer rows.Close()
	var out []Spec
	for rows.Next() {
		sp, err := scanSpec(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list crawlers: %w", err)
		}
		out = append(out, sp)
	}
	return out, rows.Err()
}

// Delete removes a crawler with its runs and its memory of folders and
// tables. The tables it created stay in the catalog. A running crawler cannot
// be deleted.
func (s *Service) Delete(ctx context.Context, name string) error {
	s.mu.Lock()
	running := s.running[name]
	s.mu.Unlock()
	if running {
		return fmt.Errorf("cannot delete crawler %q: %w", name, ErrCrawlerRunning)
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM crawlers WHERE name = ?`, name)
		if err != nil {
			return fmt.Errorf("cannot delete crawler %q: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("cannot delete crawler %q: %w", name, ErrNoSuchCrawler)
		}
		for _, q := range []string{
			`DELETE FROM crawler_runs WHERE crawler = ?`,
			`DELETE FROM crawler_folders WHERE crawler = ?`,
			`DELETE FROM crawler_tables WHERE crawler = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, name); err != nil {
				return fmt.Errorf("cannot delete crawler %q: %w", name, err)
			}
		}
		return nil
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
