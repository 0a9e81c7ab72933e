package warehouse

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/meta"
)

// Several tarn servers share one lake (an external S3 store and a
// PostgreSQL metadata database), but the warehouse is a DuckDB file in one
// server's data folder. Exactly one server owns it, recorded in the
// metadata database's warehouse_owner row: the first server to claim it,
// and the same server (its data folder on its host) again after a
// restart. The owner attaches the file and advertises its PostgreSQL and
// REST addresses and a heartbeat in the row; the others open their engine
// without a warehouse, forward PostgreSQL connections to the owner's
// address, and answer warehouse statements with ErrElsewhere naming it.
//
// Ownership does not move by itself when the owner is down: the file is on
// its disk, and another server would start an empty warehouse. Giving the
// warehouse to another server is an operator's act (ReleaseOwner, with the
// file moved to that server's data folder).

// OwnerMigrations create the warehouse's owner row (component
// "warehouse-owner").
var OwnerMigrations = []meta.Migration{{Version: 1, Name: "warehouse owner", SQL: `
CREATE TABLE warehouse_owner (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	server TEXT NOT NULL,
	pg_addr TEXT NOT NULL DEFAULT '',
	api_addr TEXT NOT NULL DEFAULT '',
	heartbeat_at TEXT NOT NULL DEFAULT ''
);
`}}

// ErrElsewhere: the warehouse is owned by another server of the lake.
var ErrElsewhere = errors.New("the warehouse is owned by another server of the lake")

// Owner is the server that owns the warehouse.
type Owner struct {
	// Server identifies it: its host and data folder (ServerID).
	Server string
	// PG and API are its PostgreSQL and REST addresses, once it serves.
	PG, API string
	// Heartbeat is when it last said it was alive.
	Heartbeat time.Time
}

// ServerID identifies a server by its host and data folder: the same
// server after a restart, another one on another host or folder.
func ServerID(home string) string {
	host, _ := os.Hostname()
	if abs, err := filepath.Abs(home); err == nil {
		home = abs
	}
	return host + ":" + home
}

// ClaimOwner makes server the warehouse's owner if it has none, and
// returns the owner (mine: it is server).
func ClaimOwner(ctx context.Context, db *meta.DB, server string) (o Owner, mine bool, err error) {
	if err := db.Migrate(ctx, "warehouse-owner", OwnerMigrations); err != nil {
		return Owner{}, false, err
	}
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO warehouse_owner (id, server, heartbeat_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING`,
		server, meta.FormatTime(time.Now())); err != nil {
		return Owner{}, false, fmt.Errorf("cannot claim the warehouse: %w", err)
	}
	o, err = CurrentOwner(ctx, db)
	return o, err == nil && o.Server == server, err
}

// CurrentOwner reads the warehouse's owner.
func CurrentOwner(ctx context.Context, db *meta.DB) (Owner, error) {
	var o Owner
	var hb string
	err := db.SQL().QueryRowContext(ctx, `SELECT server, pg_addr, api_addr, heartbeat_at FROM warehouse_owner WHERE id = 1`).Scan(&o.Server, &o.PG, &o.API, &hb)
	if errors.Is(err, sql.ErrNoRows) {
		return Owner{}, fmt.Errorf("the warehouse has no owner yet")
	}
	if err != nil {
		return Owner{}, fmt.Errorf("cannot read the warehouse's owner: %w", err)
	}
	o.Heartbeat = meta.ParseTime(hb)
	return o, nil
}

// Advertise records the owner's addresses and heartbeat; it fails if
// server no longer owns the warehouse.
func Advertise(ctx context.Context, db *meta.DB, server, pg, api string) error {
	res, err := db.SQL().ExecContext(ctx, `UPDATE warehouse_owner SET pg_addr = ?, api_addr = ?, heartbeat_at = ? WHERE id = 1 AND server = ?`,
		pg, api, meta.FormatTime(time.Now()), server)
	if err != nil {
		return fmt.Errorf("cannot record the warehouse owner's heartbeat: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("this server (%s) no longer owns the warehouse", server)
	}
	return nil
}

// ReleaseOwner gives up server's ownership: the next server to start
// claims the warehouse.
func ReleaseOwner(ctx context.Context, db *meta.DB, server string) error {
	_, err := db.SQL().ExecContext(ctx, `DELETE FROM warehouse_owner WHERE id = 1 AND server = ?`, server)
	return err
}

// Elsewhere is the reason a server that does not own the warehouse gives
// for it (engine.Config.NoWarehouse): it names the owner as last read
// (Set), so that clients know where to connect.
type Elsewhere struct {
	owner atomic.Pointer[Owner]
}

// Set records the owner as read.
func (e *Elsewhere) Set(o Owner) { e.owner.Store(&o) }

// Owner returns the owner as last read.
func (e *Elsewhere) Owner() Owner {
	if o := e.owner.Load(); o != nil {
		return *o
	}
	return Owner{}
}

func (e *Elsewhere) Error() string {
	o := e.Owner()
	where := "its PostgreSQL endpoint"
	if o.PG != "" {
		where = "its PostgreSQL endpoint " + o.PG
	}
	if o.API != "" {
		where += " or its REST API " + o.API
	}
	msg := fmt.Sprintf("%v: %s; run warehouse statements through %s (this server's PostgreSQL endpoint forwards there)", engine.ErrNoWarehouse, o.Server, where)
	if !o.Heartbeat.IsZero() && time.Since(o.Heartbeat) > StaleOwner {
		msg += fmt.Sprintf("; it was last seen %s ago", time.Since(o.Heartbeat).Round(time.Second))
	}
	return msg
}

// HTTPStatus is what tarn's REST API answers a warehouse call on a server
// that does not own the warehouse: 421 Misdirected Request, with the
// message naming the owner.
func (e *Elsewhere) HTTPStatus() (int, string) {
	return http.StatusMisdirectedRequest, "WarehouseElsewhere"
}

// Is makes errors.Is(err, ErrElsewhere) and engine.ErrNoWarehouse hold.
func (e *Elsewhere) Is(target error) bool {
	return target == ErrElsewhere || target == engine.ErrNoWarehouse
}

// Heartbeat is how often the owner records that it is alive; StaleOwner
// is how old a heartbeat is when the others say the owner was last seen.
const (
	Heartbeat  = 5 * time.Second
	StaleOwner = 30 * time.Second
)

// notLakeTarget reports whether st, which Owns left to the lake, names
// no lake table: on a server without the warehouse it is taken to be the
// warehouse's.
func (w *Service) notLakeTarget(ctx context.Context, st Statement, defaultDB string) bool {
	var n name
	switch s := st.(type) {
	case insertStmt:
		n = s.Target
	case createTable:
		n = s.Target
	case renameRelation:
		n = s.Target
	case dropRelation:
		if len(s.Targets) == 0 {
			return false
		}
		n = s.Targets[0]
	default:
		return false
	}
	if n.Catalog != "" && !strings.EqualFold(n.Catalog, engine.WarehouseCatalog) {
		return false
	}
	db := n.Schema
	if db == "" {
		db = defaultDB
	}
	if db == "" {
		return true
	}
	if _, ok := st.(createTable); ok {
		_, err := w.eng.Catalog().GetDatabase(ctx, db)
		return errors.Is(err, catalog.ErrNoSuchDatabase)
	}
	_, err := w.eng.Catalog().GetTable(ctx, db, n.Name)
	return errors.Is(err, catalog.ErrNoSuchTable) || errors.Is(err, catalog.ErrNoSuchDatabase)
}
