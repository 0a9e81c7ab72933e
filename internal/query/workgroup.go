package query

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tarn-lake/tarn/internal/catalog"
	"regexp"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Workgroup errors.
var (
	ErrNoSuchWorkgroup = errors.New("no such workgroup")
	ErrWorkgroupExists = errors.New("workgroup already exists")
	ErrScanLimit       = errors.New("query would scan more than the workgroup allows")
	ErrPartitionFilter = errors.New("partition filter required")
	ErrQueryTimeout    = errors.New("query timed out")
	// ErrInvalidWorkgroup: a workgroup setting cannot be used.
	ErrInvalidWorkgroup = errors.New("invalid workgroup")
)

// PrimaryWorkgroup is the workgroup queries run in unless they name one.
const PrimaryWorkgroup = "primary"

// DefaultResultLocation is where the primary workgroup keeps results.
var DefaultResultLocation = "s3://lake/athena-results/"

// ensureResultBucket creates the bucket of a result location in the lake's
// own bucket (that of DefaultResultLocation) when it does not exist yet, as
// Athena's console creates its aws-athena-query-results bucket on first
// use: a fresh lake has no bucket "lake" until quickstart or `tarn mb`
// makes one, and its queries must not all fail for that. Any other bucket is
// the user's to create, as in Athena.
func (s *Service) ensureResultBucket(ctx context.Context, loc storage.URI) error {
	def, err := storage.ParseURI(DefaultResultLocation)
	if err != nil || loc.Bucket != def.Bucket {
		return nil
	}
	if _, err := s.store.HeadBucket(ctx, loc.Bucket); !errors.Is(err, storage.ErrNoSuchBucket) {
		return nil
	}
	if err := s.store.CreateBucket(ctx, loc.Bucket); err != nil && !errors.Is(err, storage.ErrBucketExists) {
		return fmt.Errorf("cannot create bucket %q for the query results in %s: %w", loc.Bucket, loc, err)
	}
	return nil
}

// PricePerTB is Athena's price, used to attribute what queries would cost.
const PricePerTB = 5.0

// minBilledBytes is Athena's 10 MB minimum per query that scans data.
const minBilledBytes = 10 << 20

// Workgroup holds query limits and where results go, as Athena's do. tarn
// goes beyond Athena: the scan cutoff and the partition-filter rule are
// checked before a query runs, from the catalog's estimate after pruning.
type Workgroup struct {
	Name           string `json:"name"`
	Description    string `json:"description,omitempty"`
	ResultLocation string `json:"result_location"`
	// BytesScannedCutoff refuses queries that would scan more (0: no limit).
	BytesScannedCutoff int64 `json:"bytes_scanned_cutoff,omitempty"`
	// RequirePartitionFilter lists tables ("db.table") that must be queried
	// with a filter on their partition keys.
	RequirePartitionFilter []string `json:"require_partition_filter,omitempty"`
	// MaxConcurrent queries of this workgroup run at once; the rest wait
	// QUEUED (0: the server's default).
	MaxConcurrent int `json:"max_concurrent,omitempty"`
	// QueryTimeoutSeconds stops a query that runs longer (Athena's DML
	// query timeout); it ends FAILED. 0 means DefaultQueryTimeout.
	QueryTimeoutSeconds int64 `json:"query_timeout_seconds,omitempty"`
	// MaxResultRows fails a query that returns more rows (0 means
	// DefaultMaxResultRows); UNLOAD and CREATE TABLE AS are not capped.
	MaxResultRows int64     `json:"max_result_rows,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

// DefaultQueryTimeout is a workgroup's query timeout unless it sets one:
// Athena's default for DML queries.
const DefaultQueryTimeout = 30 * time.Minute

// QueryTimeout is how long a query of the workgroup may run.
func (w Workgroup) QueryTimeout() time.Duration {
	if w.QueryTimeoutSeconds > 0 {
		return time.Duration(w.QueryTimeoutSeconds) * time.Second
	}
	return DefaultQueryTimeout
}

var workgroupName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// Validate checks a workgroup and fills defaults.
func (w *Workgroup) Validate() error {
	if !workgroupName.MatchString(w.Name) {
		return fmt.Errorf("invalid workgroup: name %q must be 1-128 letters, digits, '.', '_' or '-'", w.Name)
	}
	if w.ResultLocation == "" {
		w.ResultLocation = DefaultResultLocation
	}
	u, err := storage.ParseURI(w.ResultLocation)
	if err != nil {
		return fmt.Errorf("invalid workgroup %q: result_location: %w", w.Name, err)
	}
	w.ResultLocation = u.Dir().String()
	if w.BytesScannedCutoff < 0 || w.MaxConcurrent < 0 || w.QueryTimeoutSeconds < 0 || w.MaxResultRows < 0 {
		return fmt.Errorf("invalid workgroup %q: limits must not be negative", w.Name)
	}
	for i, t := range w.RequirePartitionFilter {
		db, tbl, ok := strings.Cut(t, ".")
		if !ok || db == "" || tbl == "" {
			return fmt.Errorf("invalid workgroup %q: require_partition_filter[%d]: %q must be database.table", w.Name, i, t)
		}
		w.RequirePartitionFilter[i] = strings.ToLower(t)
	}
	return nil
}

// checkResultLocation refuses a result location that shares a folder with
// a catalog table: result files there would be read as the table's data
// (and a crawl of the table's folder would fail on them).
func (s *Service) checkResultLocation(ctx context.Context, w Workgroup) error {
	t, found, err := s.tableSharing(ctx, w.ResultLocation)
	if err != nil || !found {
		return err
	}
	return fmt.Errorf("%w %q: result_location %s shares a folder with table %s (%s): its result files would be read as the table's data; choose a folder outside every table",
		ErrInvalidWorkgroup, w.Name, w.ResultLocation, t.FullName(), t.Location)
}

// tableSharing finds a catalog table whose folder contains loc or lies
// inside it.
func (s *Service) tableSharing(ctx context.Context, location string) (catalog.Table, bool, error) {
	res := strings.TrimSuffix(location, "/") + "/"
	dbs, err := s.cat.ListDatabases(ctx)
	if err != nil {
		return catalog.Table{}, false, err
	}
	for _, db := range dbs {
		tables, err := s.cat.ListTables(ctx, db.Name)
		if err != nil {
			return catalog.Table{}, false, err
		}
		for _, t := range tables {
			if t.Location == "" {
				continue
			}
			loc := strings.TrimSuffix(t.Location, "/") + "/"
			if strings.HasPrefix(res, loc) || strings.HasPrefix(loc, res) {
				return t, true, nil
			}
		}
	}
	return catalog.Table{}, false, nil
}

// CreateWorkgroup stores a workgroup.
func (s *Service) CreateWorkgroup(ctx context.Context, w Workgroup) error {
	if err := w.Validate(); err != nil {
		return err
	}
	if err := s.checkResultLocation(ctx, w); err != nil {
		return err
	}
	w.CreatedAt = time.Now().UTC()
	b, _ := json.Marshal(w)
	_, err := s.db.SQL().ExecContext(ctx, `INSERT INTO workgroups (name, spec, created_at) VALUES (?, ?, ?)`, w.Name, string(b), meta.FormatTime(w.CreatedAt))
	if meta.IsUniqueViolation(err) {
		return fmt.Errorf("cannot create workgroup %q: %w", w.Name, ErrWorkgroupExists)
	}
	return err
}

// UpdateWorkgroup replaces a workgroup's settings in place (Athena's
// UpdateWorkGroup): queries already running keep the limits they started
// with. The primary workgroup can be changed although it is never created.
func (s *Service) UpdateWorkgroup(ctx context.Context, w Workgroup) error {
	old, err := s.Workgroup(ctx, w.Name)
	if err != nil {
		return err
	}
	if err := w.Validate(); err != nil {
		return err
	}
	if w.ResultLocation != old.ResultLocation {
		if err := s.checkResultLocation(ctx, w); err != nil {
			return err
		}
	}
	w.CreatedAt = old.CreatedAt
	if w.CreatedAt.IsZero() {
		w.CreatedAt = time.Now().UTC()
	}
	b, _ := json.Marshal(w)
	_, err = s.db.SQL().ExecContext(ctx, `INSERT INTO workgroups (name, spec, created_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET spec = excluded.spec`, w.Name, string(b), meta.FormatTime(w.CreatedAt))
	if err != nil {
		return fmt.Errorf("cannot update workgroup %q: %w", w.Name, err)
	}
	return nil
}

// Workgroup returns a workgroup; "primary" (or "") exists even if never
// stored, with the defaults.
func (s *Service) Workgroup(ctx context.Context, name string) (Workgroup, error) {
	if name == "" {
		name = PrimaryWorkgroup
	}
	var raw string
	err := s.db.SQL().QueryRowContext(ctx, `SELECT spec FROM workgroups WHERE name = ?`, name).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		if name == PrimaryWorkgroup {
			return Workgroup{Name: PrimaryWorkgroup, ResultLocation: DefaultResultLocation}, nil
		}
		return Workgroup{}, fmt.Errorf("cannot get workgroup %q: %w", name, ErrNoSuchWorkgroup)
	}
	if err != nil {
		return Workgroup{}, err
	}
	var w Workgroup
	err = json.Unmarshal([]byte(raw), &w)
	return w, err
}

// Workgroups lists the stored workgroups (and primary), by name.
func (s *Service) Workgroups(ctx context.Context) ([]Workgroup, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT spec FROM workgroups ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Workgroup
	primary := false
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		var w Workgroup
		if err := json.Unmarshal([]byte(raw), &w); err != nil {
			return nil, err
		}
		primary = primary || w.Name == PrimaryWorkgroup
		out = append(out, w)
	}
	if !primary {
		out = append([]Workgroup{{Name: PrimaryWorkgroup, ResultLocation: DefaultResultLocation}}, out...)
	}
	return out, rows.Err()
}

// DeleteWorkgroup removes a stored workgroup.
func (s *Service) DeleteWorkgroup(ctx context.Context, name string) error {
	res, err := s.db.SQL().ExecContext(ctx, `DELETE FROM workgroups WHERE name = ?`, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("cannot delete workgroup %q: %w", name, ErrNoSuchWorkgroup)
	}
	return nil
}

// checkLimits refuses, before it runs, a query that would scan more than
// the workgroup's cutoff or reads a table that needs a partition filter
// without one. The errors name the table and the estimate.
func checkLimits(w Workgroup, b *engine.Bound) error {
	for _, name := range w.RequirePartitionFilter {
		for _, sc := range b.Scans {
			if sc.Table.FullName() == name && len(sc.Table.PartitionKeys) > 0 && !sc.PartitionFiltered {
				var keys []string
				for _, k := range sc.Table.PartitionKeys {
					keys = append(keys, k.Name)
				}
				return fmt.Errorf("%w: workgroup %q requires queries of %s to filter on its partition keys (%s) in WHERE; this one would read all %d partitions (%d bytes)",
					ErrPartitionFilter, w.Name, name, strings.Join(keys, ", "), sc.PartitionsTotal, sc.BytesScanned)
			}
		}
	}
	if w.BytesScannedCutoff > 0 {
		if total := b.BytesScanned(); total > w.BytesScannedCutoff {
			var parts []string
			for _, sc := range b.Scans {
				parts = append(parts, fmt.Sprintf("%s %d bytes (%d of %d partitions)", sc.Table.FullName(), sc.BytesScanned, sc.PartitionsScanned, sc.PartitionsTotal))
			}
			return fmt.Errorf("%w: it would scan %d bytes (%s), the cutoff of workgroup %q is %d bytes; add filters on partition keys or select fewer columns",
				ErrScanLimit, total, strings.Join(parts, ", "), w.Name, w.BytesScannedCutoff)
		}
	}
	return nil
}

// Cost is what a query would cost at Athena's price: $5 per TB scanned,
// at least 10 MB for a query that scans anything.
func Cost(bytesScanned int64) float64 {
	if bytesScanned <= 0 {
		return 0
	}
	return float64(max(bytesScanned, minBilledBytes)) / 1e12 * PricePerTB
}

// CostSummary sums queries per access key and workgroup.
type CostSummary struct {
	AccessKey    string  `json:"access_key"`
	Workgroup    string  `json:"workgroup"`
	Queries      int64   `json:"queries"`
	BytesScanned int64   `json:"data_scanned_bytes"`
	CostUSD      float64 `json:"cost_usd"`
}

// Summary attributes the history's data scanned and cost to access keys
// and workgroups.
func (s *Service) Summary(ctx context.Context) ([]CostSummary, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT access_key, workgroup, bytes_scanned FROM query_executions`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	sums := map[[2]string]*CostSummary{}
	var order [][2]string
	for rows.Next() {
		var k [2]string
		var b int64
		if err := rows.Scan(&k[0], &k[1], &b); err != nil {
			return nil, err
		}
		cs := sums[k]
		if cs == nil {
			cs = &CostSummary{AccessKey: k[0], Workgroup: k[1]}
			sums[k] = cs
			order = append(order, k)
		}
		cs.Queries++
		cs.BytesScanned += b
		cs.CostUSD += Cost(b)
	}
	out := make([]CostSummary, 0, len(order))
	for _, k := range order {
		out = append(out, *sums[k])
	}
	return out, rows.Err()
}
