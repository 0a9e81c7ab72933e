// Package lake is tarn's composition root: it opens a lake home folder and
// wires the services over it in dependency order (storage and metadata,
// catalog, engine, crawler, query, jobs), and closes them in reverse.
//
// A lake home holds:
//
//	objects/<bucket>/<key>   the object store (plain files, readable in place)
//	storage.json             the external S3 store, when objects live in one (storage.go)
//	meta.json                the PostgreSQL metadata database, when metadata lives in one (metarecord.go)
//	cache/                   that store's objects as DuckDB reads them (read-through cache)
//	tarn.db                  the metadata database (SQLite, WAL; 0600: it holds key secrets), by default
//	admin-key.json           the generated admin access key (0600)
//	uploads/                 multipart uploads in progress
//	duckdb/tmp/              DuckDB's spill folder and fetched objects
//	warehouse/warehouse.duckdb  the warehouse's managed tables (DuckDB)
package lake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tarn-lake/tarn/internal/alarms"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/cluster"
	"github.com/tarn-lake/tarn/internal/crawler"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/iceberg"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/cache"
	"github.com/tarn-lake/tarn/internal/warehouse"
	"github.com/tarn-lake/tarn/internal/workflow"
)

// Config locates a lake and configures its services.
type Config struct {
	// Home is the lake home folder.
	Home string
	// Storage says where objects live: the home's folder by default, or an
	// external S3 store (storage.go).
	Storage  StorageConfig
	Meta     meta.Config
	Engine   engine.Config
	Workflow workflow.Config
	Alarms   alarms.Config
	// Iceberg configures the Iceberg catalog (its default warehouse).
	Iceberg iceberg.Config
	// OneShot opens the lake for one CLI command whose process ends after
	// Close: Open returns while DuckDB is still opening, so the command's
	// own metadata work runs meanwhile (an engine that cannot open fails
	// the first statement instead of Open), and Close leaves the metadata
	// database's WAL to the next opener.
	OneShot bool
	// NoEngine opens the lake without DuckDB, for a command that uses only
	// metadata (the catalog, the query history, keys, workgroups): a
	// statement or a crawl on such a lake fails, saying so.
	NoEngine bool
	// MetaAsGiven opens Meta as given, neither checked against nor recorded
	// in the home's metadata record (MetaFile): tarn migrate-meta opens the
	// home's SQLite file and its new PostgreSQL database in turn.
	MetaAsGiven bool
}

// DefaultHome is the lake home used when neither --data nor TARN_DATA is set.
const DefaultHome = "./tarn-data"

// DefaultConfig returns the embedded default for a home folder: a local
// object store, SQLite metadata and embedded DuckDB.
func DefaultConfig(home string) Config {
	if abs, err := filepath.Abs(home); err == nil {
		home = abs
	}
	return Config{
		Home:     home,
		Meta:     meta.DefaultConfig(filepath.Join(home, "tarn.db")),
		Engine:   engine.DefaultConfig(home),
		Workflow: workflow.DefaultConfig(),
		Alarms:   alarms.DefaultConfig(),
		Iceberg:  iceberg.DefaultConfig(),
	}
}

// Lake is an open lake: every service over one home folder.
type Lake struct {
	Home  string
	Meta  *meta.DB
	Store storage.ObjectStore
	// Cache is the read-through cache of an external store's objects
	// (nil for the local folder).
	Cache   *cache.Cache
	Catalog *catalog.Catalog
	// Iceberg is the one Iceberg catalog the query service, jobs and the
	// Iceberg REST catalog commit through.
	Iceberg  *iceberg.Catalog
	Engine   *engine.Engine
	Crawlers *crawler.Service
	Query    *query.Service
	Jobs     *jobs.Service
	Auth     *auth.Service
	// Warehouse runs Redshift statements on managed tables (routed by Query).
	Warehouse *warehouse.Service
	// Events is the ingestion ledger: object-created events for triggers.
	Events    *events.Ledger
	Workflows *workflow.Service
	Alarms    *alarms.Service

	closers      []func() error
	engineCloser int // the engine's index in closers
	// cluster is the running server's membership (cluster.go).
	cluster *cluster.Cluster
	// wh is the warehouse's owner when servers share the metadata
	// (warehouseowner.go); nil otherwise.
	wh *warehouseOwnership
}

// Open opens (creating if needed) the lake at cfg.Home.
func Open(ctx context.Context, cfg Config) (_ *Lake, err error) {
	if cfg.Home == "" {
		return nil, errors.New("cannot open lake: no home folder given (use --data DIR or TARN_DATA)")
	}
	if err := os.MkdirAll(cfg.Home, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create lake home %q: %w", cfg.Home, err)
	}
	l := &Lake{Home: cfg.Home}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	store, objCache, err := openStorage(ctx, cfg)
	if err != nil {
		return nil, err
	}
	l.Store = store
	l.closers = append(l.closers, store.Close)
	if objCache != nil {
		// DuckDB reads the external store's objects through the cache,
		// and the sandbox allows its folder instead of <home>/objects.
		l.Cache = objCache
		l.closers = append(l.closers, objCache.Close)
		cfg.Engine.Cache = objCache
		cfg.Engine.AllowedDirs = slices.DeleteFunc(slices.Clone(cfg.Engine.AllowedDirs), func(d string) bool {
			return d == filepath.Join(cfg.Home, "objects")
		})
	}

	mcfg, record := cfg.Meta, false
	if !cfg.MetaAsGiven {
		if mcfg, record, err = resolveMeta(cfg.Home, cfg.Meta); err != nil {
			return nil, err
		}
	}
	l.Meta, err = meta.Open(ctx, mcfg)
	if err != nil {
		return nil, err
	}
	if record {
		// Later commands on the home (without --meta) use the same database.
		if err := RecordMeta(cfg.Home, postgresDSN(mcfg)); err != nil {
			l.Meta.Close()
			return nil, err
		}
	}
	if cfg.OneShot {
		// Closing the last connection checkpoints SQLite's WAL into the
		// database with two fsyncs, which cost a one-shot command more than
		// all its own metadata work. The process ends right after Close, and
		// an exit leaves the WAL as safe as a close does: the next opener
		// reads it, and writers checkpoint it as it grows.
		l.closers = append(l.closers, func() error { return nil })
	} else {
		l.closers = append(l.closers, l.Meta.Close)
	}

	if l.Catalog, err = catalog.New(ctx, l.Meta); err != nil {
		return nil, err
	}
	if l.Iceberg, err = iceberg.New(cfg.Iceberg, l.Catalog, l.Meta, l.Store); err != nil {
		return nil, err
	}
	// DuckDB opens in the background while the services that only keep
	// the engine's address set up their metadata; the warehouse is the
	// first to wait for it.
	if cfg.Engine, err = l.claimWarehouse(ctx, cfg); err != nil {
		return nil, err
	}
	if cfg.NoEngine {
		l.Engine = engine.Without(cfg.Engine, l.Store, l.Catalog, errors.New("cannot run SQL: this command opened the lake without its engine"))
	} else {
		l.Engine = engine.Start(ctx, cfg.Engine, l.Store, l.Catalog)
	}
	l.engineCloser = len(l.closers)
	if cfg.OneShot && cfg.Engine.Warehouse == "" {
		// An in-memory DuckDB without a warehouse holds nothing to keep,
		// and the process ends right after Close: the exit frees it
		// faster than closing it would.
		l.closers = append(l.closers, func() error { return nil })
	} else {
		l.closers = append(l.closers, l.Engine.Close)
	}
	if l.Crawlers, err = crawler.New(ctx, l.Meta, l.Store, l.Catalog, l.Engine); err != nil {
		return nil, err
	}
	if l.Jobs, err = jobs.New(ctx, l.Meta, l.Engine); err != nil {
		return nil, err
	}
	if l.Auth, err = auth.New(ctx, l.Meta, auth.DefaultConfig(cfg.Home)); err != nil {
		return nil, err
	}
	l.Jobs.Keys = l.Auth       // jobs run as the access key recorded at creation
	l.Jobs.Iceberg = l.Iceberg // jobs with iceberg:// targets commit through the lake's catalog
	if l.Events, err = events.New(ctx, l.Meta, l.Store); err != nil {
		return nil, err
	}
	if !cfg.OneShot {
		if err = l.Engine.Ready(ctx); err != nil {
			return nil, err
		}
	}
	if l.Warehouse, err = warehouse.New(ctx, warehouse.DefaultConfig(), l.Engine); err != nil {
		return nil, err
	}
	l.closers = append(l.closers, l.Warehouse.Close)
	if l.Query, err = query.New(ctx, l.Meta, l.Engine, query.WithWarehouse(l.Warehouse), query.WithIceberg(l.Iceberg)); err != nil {
		return nil, err
	}
	if cfg.Workflow.DBT.WorkDir == "" {
		cfg.Workflow.DBT.WorkDir = filepath.Join(cfg.Home, "dbt") // dbt steps' target and logs folders
	}
	if l.Workflows, err = workflow.New(ctx, cfg.Workflow, workflow.Deps{DB: l.Meta, Crawlers: l.Crawlers, Jobs: l.Jobs,
		Query: l.Query, Ledger: l.Events, Store: l.Store, Keys: l.Auth, Warehouse: l.Warehouse}); err != nil {
		return nil, err
	}
	if l.Alarms, err = alarms.New(ctx, cfg.Alarms, alarms.Deps{DB: l.Meta, Jobs: l.Jobs, Workflows: l.Workflows, Crawlers: l.Crawlers,
		Query: l.Query, Catalog: l.Catalog, Store: l.Store}); err != nil {
		return nil, err
	}
	// Steps still executing end before the engine and the metadata close.
	l.closers = append(l.closers, l.Workflows.Close)
	// A failed run is judged at once rather than at the next interval.
	l.Workflows.OnRunEnd = func(context.Context, workflow.Run) { l.Alarms.Wake() }
	return l, nil
}

// Close closes the services in reverse order of opening: the engine first
// (no more reads), then metadata, then storage. It is idempotent. Closing
// DuckDB takes a millisecond or more and nothing else waits for it, so the
// metadata and storage close meanwhile.
func (l *Lake) Close() error {
	var errs []error
	var engine chan error
	for i := len(l.closers) - 1; i >= 0; i-- {
		if l.Engine != nil && i == l.engineCloser {
			engine = make(chan error, 1)
			go func() { engine <- l.closers[i]() }()
			continue
		}
		errs = append(errs, l.closers[i]())
	}
	if engine != nil {
		errs = append(errs, <-engine)
	}
	l.closers = nil
	return errors.Join(errs...)
}

// AdminKey returns the admin access key of a lake home, with its secret:
// from the generated key file, else from the metadata database (readable by
// the lake's owner only), without opening the rest of the lake.
func AdminKey(ctx context.Context, home string) (auth.Key, error) {
	return AdminKeyOf(ctx, DefaultConfig(home))
}

// AdminKeyOf is AdminKey for a lake configuration (its metadata database
// may be PostgreSQL, given or recorded in the home).
func AdminKeyOf(ctx context.Context, cfg Config) (auth.Key, error) {
	if k, err := auth.ReadAdminKeyFile(cfg.Home); err == nil {
		return k, nil
	}
	mcfg := cfg.Meta
	if !cfg.MetaAsGiven {
		var err error
		if mcfg, _, err = resolveMeta(cfg.Home, cfg.Meta); err != nil {
			return auth.Key{}, err
		}
	}
	db, err := meta.Open(ctx, mcfg)
	if err != nil {
		return auth.Key{}, err
	}
	defer db.Close()
	a, err := auth.New(ctx, db, auth.DefaultConfig(cfg.Home))
	if err != nil {
		return auth.Key{}, err
	}
	keys, err := a.ListKeys(ctx)
	if err != nil {
		return auth.Key{}, err
	}
	for _, k := range keys {
		if k.Admin {
			return a.GetKey(ctx, k.AccessKeyID)
		}
	}
	return auth.Key{}, errors.New("no admin key in the data folder")
}

// CollectGarbage deletes, every interval until ctx ends, the files that
// publishes replaced and that no reader can still hold (see
// engine.CollectGarbage).
func (l *Lake) CollectGarbage(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := l.Engine.CollectGarbage(ctx); err != nil && ctx.Err() == nil {
			slog.Warn("cannot delete replaced files", "error", err)
		} else if n > 0 {
			slog.Info("deleted replaced files", "files", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
