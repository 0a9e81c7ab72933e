// Package cluster lets several tarn servers share one lake (one S3 store,
// one PostgreSQL metadata database): each server registers itself as a
// member with its endpoints' addresses and a heartbeat, and exactly one
// holds the leader lease, which runs the lake's background duties (the
// scheduler, alarms, housekeeping). Every member answers requests.
//
// Both live in the metadata database (SQLite or PostgreSQL, through
// internal/meta), whose writes are serialised (SQLite's one writer,
// PostgreSQL's advisory write lock): a check made inside a metadata
// transaction stands until it commits.
//
// Liveness is judged on each observer's own clock, never by comparing
// clocks of different machines: a lease (or a heartbeat) is expired when
// this server has seen it unchanged for TTL. A lease whose holder is a
// process of this host that no longer exists (meta.OwnerGone) is taken at
// once, so a single server restarted after a crash leads immediately.
//
// Fencing: every acquisition increments the lease's epoch. The leader's
// writes that must not happen twice (a trigger firing, a run claimed, a
// run recovered) call Fence inside their transaction, which fails unless
// the lease still names this server and its epoch: a leader paused past
// its lease (GC, VM freeze, SIGSTOP) cannot act once another took over.
package cluster

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/tarn-lake/tarn/internal/meta"
)

// Migrations are the cluster component's tables.
var Migrations = []meta.Migration{{Version: 1, Name: "members and leader lease", SQL: `
CREATE TABLE cluster_members (
	id TEXT PRIMARY KEY,
	owner TEXT NOT NULL,
	s3 TEXT NOT NULL,
	api TEXT NOT NULL,
	pg TEXT NOT NULL,
	started_at TEXT NOT NULL,
	heartbeat_at TEXT NOT NULL,
	beats INTEGER NOT NULL,
	left_at TEXT NOT NULL
);
CREATE TABLE cluster_lease (
	name TEXT PRIMARY KEY,
	holder TEXT NOT NULL,
	holder_owner TEXT NOT NULL,
	epoch INTEGER NOT NULL,
	renewals INTEGER NOT NULL,
	acquired_at TEXT NOT NULL,
	renewed_at TEXT NOT NULL
);
`}}

// ErrNotLeader is returned by Fence when this server does not hold the
// lease (any more).
var ErrNotLeader = errors.New("this server does not hold the leader lease")

const leaseName = "leader"

// Config configures a member.
type Config struct {
	// ID names the server in the cluster, stable across its restarts
	// (lake keeps one per data folder); "" makes a random one.
	ID string
	// Heartbeat is how often the member beats and the leader renews
	// (default 2s).
	Heartbeat time.Duration
	// TTL is how long a heartbeat or a lease seen unchanged lasts before
	// it is expired (default 7s): the bound on a failover, plus one
	// heartbeat.
	TTL time.Duration
	// Owner is this process as runs record it (default meta.Owner()).
	Owner string
}

// DefaultConfig returns the default timings.
func DefaultConfig() Config {
	return Config{Heartbeat: 2 * time.Second, TTL: 7 * time.Second}
}

// Addrs are a member's endpoints, as clients reach them ("" when off).
type Addrs struct {
	S3, API, PG string
}

// Member is one server of the cluster.
type Member struct {
	ID    string `json:"id"`
	Owner string `json:"owner"`
	Addrs
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"` // on the member's clock
	// Alive: the member beats (judged on this server's clock; a member
	// not yet watched for a TTL is judged by its heartbeat time).
	Alive bool `json:"alive"`
	// Leader: the member holds a live leader lease.
	Leader bool `json:"leader"`
}

// Lease is the leader lease as stored.
type Lease struct {
	Holder      string    `json:"holder"`
	HolderOwner string    `json:"holder_owner"`
	Epoch       int64     `json:"epoch"`
	Renewals    int64     `json:"renewals"`
	AcquiredAt  time.Time `json:"acquired_at"`
	RenewedAt   time.Time `json:"renewed_at"`
}

// Cluster is this server's membership. It is safe for concurrent use.
type Cluster struct {
	db  *meta.DB
	cfg Config

	mu        sync.Mutex
	epoch     int64           // the lease epoch held, 0 when not leading
	renewedAt time.Time       // when the last successful renewal started
	lease     observed        // the lease as last seen
	beats     map[string]beat // member id → its heartbeat as last seen
	refreshed time.Time       // when beats were last read
	joined    bool
	// OnLead, if set, is told each time this server becomes leader, with
	// the epoch and how long it waited since it started campaigning.
	OnLead func(epoch int64, waited time.Duration)
}

// observed is a value seen at a local time (monotonic clock).
type observed struct {
	key  string
	seen time.Time
}

// beat is a member's heartbeat as seen at a local time.
type beat struct {
	owner string
	beats int64
	left  bool
	seen  time.Time
}

// New applies the cluster's migrations. A Cluster does nothing until Run.
func New(ctx context.Context, db *meta.DB, cfg Config) (*Cluster, error) {
	def := DefaultConfig()
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = def.Heartbeat
	}
	if cfg.TTL <= 0 {
		cfg.TTL = def.TTL
	}
	if cfg.TTL < 2*cfg.Heartbeat {
		return nil, fmt.Errorf("cannot start cluster membership: the TTL %s must be at least two heartbeats (%s)", cfg.TTL, cfg.Heartbeat)
	}
	if cfg.ID == "" {
		cfg.ID = NewID()
	}
	if cfg.Owner == "" {
		cfg.Owner = meta.Owner()
	}
	if err := db.Migrate(ctx, "cluster", Migrations); err != nil {
		return nil, err
	}
	return &Cluster{db: db, cfg: cfg, beats: map[string]beat{}}, nil
}

// NewID returns a new member id: the host's name and a random suffix.
func NewID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	if host == "" {
		host = "tarn"
	}
	return host + "-" + hex.EncodeToString(b)
}

// ID is this member's id.
func (c *Cluster) ID() string { return c.cfg.ID }

// Join registers (or re-registers) this member with its addresses.
func (c *Cluster) Join(ctx context.Context, a Addrs) error {
	now := meta.Now()
	_, err := c.db.SQL().ExecContext(ctx, `INSERT INTO cluster_members (id, owner, s3, api, pg, started_at, heartbeat_at, beats, left_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0, '')
		ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, s3 = excluded.s3, api = excluded.api, pg = excluded.pg,
			started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, beats = cluster_members.beats + 1, left_at = ''`,
		c.cfg.ID, c.cfg.Owner, a.S3, a.API, a.PG, now, now)
	if err != nil {
		return fmt.Errorf("cannot join the cluster as %q: %w", c.cfg.ID, err)
	}
	c.mu.Lock()
	c.joined = true
	c.mu.Unlock()
	return nil
}

// Run beats and campaigns for the lease until ctx ends. While this server
// holds the lease, lead runs with a context that ends when the lease is
// lost (or ctx ends); lead must return soon after. Once ctx ends the lease
// is released (another server takes it at once) and the member leaves.
// Run returns lead's error if lead fails while leading.
func (c *Cluster) Run(ctx context.Context, lead func(ctx context.Context) error) error {
	unregister := meta.RegisterOwnerOracle(c.ownerGone)
	defer unregister()
	var (
		lctx    context.Context
		lcancel context.CancelFunc
		ldone   chan error
	)
	campaignStart := time.Now()
	stopLeading := func() error {
		if ldone == nil {
			return nil
		}
		lcancel()
		err := <-ldone
		ldone = nil
		c.mu.Lock()
		c.epoch = 0
		c.mu.Unlock()
		campaignStart = time.Now()
		return err
	}
	defer func() {
		_ = stopLeading()
		c.leave(context.WithoutCancel(ctx))
	}()
	t := time.NewTicker(c.cfg.Heartbeat)
	defer t.Stop()
	for {
		leading, err := c.tick(ctx)
		if err != nil && ctx.Err() == nil {
			slog.Warn("cluster: cannot beat or renew the leader lease", "member", c.cfg.ID, "err", err)
		}
		switch {
		case leading && ldone == nil:
			c.mu.Lock()
			epoch := c.epoch
			c.mu.Unlock()
			waited := time.Since(campaignStart)
			slog.Info("cluster: this server leads", "member", c.cfg.ID, "epoch", epoch, "waited", waited.Round(time.Millisecond))
			if c.OnLead != nil {
				c.OnLead(epoch, waited)
			}
			lctx, lcancel = context.WithCancel(ctx)
			ldone = make(chan error, 1)
			go func(ctx context.Context) { ldone <- lead(ctx) }(lctx)
		case !leading && ldone != nil:
			slog.Warn("cluster: this server lost the leader lease; its duties stop", "member", c.cfg.ID)
			if err := stopLeading(); err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				slog.Error("cluster: leader duties failed", "err", err)
			}
		}
		var done <-chan error
		if ldone != nil {
			done = ldone
		}
		select {
		case <-ctx.Done():
			if lcancel != nil {
				lcancel() // and the deferred stopLeading waits for lead
			}
			return nil
		case err := <-done:
			// The duties ended on their own while leading: a failure.
			lcancel()
			ldone = nil
			c.release(context.WithoutCancel(ctx))
			if err == nil {
				err = errors.New("stopped")
			}
			return fmt.Errorf("leader duties: %w", err)
		case <-t.C:
		}
	}
}

// tick beats, renews or campaigns for the lease, and refreshes the view of
// the members. It reports whether this server leads after it.
func (c *Cluster) tick(ctx context.Context) (bool, error) {
	start := time.Now()
	c.mu.Lock()
	epoch, renewedAt, joined := c.epoch, c.renewedAt, c.joined
	c.mu.Unlock()
	var newEpoch int64
	err := c.db.Tx(ctx, func(tx *sql.Tx) error {
		newEpoch = 0
		if joined {
			if _, err := tx.ExecContext(ctx, `UPDATE cluster_members SET heartbeat_at = ?, beats = beats + 1, owner = ?, left_at = '' WHERE id = ?`,
				meta.Now(), c.cfg.Owner, c.cfg.ID); err != nil {
				return err
			}
		}
		l, found, err := readLease(ctx, tx)
		if err != nil {
			return err
		}
		now := meta.Now()
		if found && l.Holder == c.cfg.ID && l.HolderOwner == c.cfg.Owner && l.Epoch == epoch && epoch > 0 {
			_, err := tx.ExecContext(ctx, `UPDATE cluster_lease SET renewals = renewals + 1, renewed_at = ? WHERE name = ? AND epoch = ?`, now, leaseName, epoch)
			newEpoch = epoch
			return err
		}
		if found && !c.expired(l) {
			return nil
		}
		next := l.Epoch + 1
		if found {
			res, err := tx.ExecContext(ctx, `UPDATE cluster_lease SET holder = ?, holder_owner = ?, epoch = ?, renewals = 0, acquired_at = ?, renewed_at = ?
				WHERE name = ? AND epoch = ? AND renewals = ?`, c.cfg.ID, c.cfg.Owner, next, now, now, leaseName, l.Epoch, l.Renewals)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil
			}
		} else if _, err := tx.ExecContext(ctx, `INSERT INTO cluster_lease (name, holder, holder_owner, epoch, renewals, acquired_at, renewed_at)
			VALUES (?, ?, ?, ?, 0, ?, ?)`, leaseName, c.cfg.ID, c.cfg.Owner, next, now, now); err != nil {
			return err
		}
		newEpoch = next
		return nil
	})
	c.mu.Lock()
	if err != nil {
		// Unknown whether the renewal committed: keep leading only while
		// the last good renewal still covers this server, with a margin
		// of one heartbeat before the others may take over.
		if c.epoch > 0 && time.Since(renewedAt) > c.cfg.TTL-c.cfg.Heartbeat {
			c.epoch = 0
		}
		leading := c.epoch > 0
		c.mu.Unlock()
		return leading, err
	}
	if newEpoch > 0 {
		c.epoch, c.renewedAt = newEpoch, start
	} else {
		c.epoch = 0
	}
	leading := c.epoch > 0
	c.mu.Unlock()
	return leading, c.refresh(ctx)
}

func leaseKey(holder string, epoch, renewals int64) string {
	return fmt.Sprintf("%s\x00%d\x00%d", holder, epoch, renewals)
}

// expired reports whether a lease held by another can be taken: released,
// held by a process of this host that exited, or seen unchanged for TTL.
// Called with the transaction open (no I/O but the local /proc).
func (c *Cluster) expired(l Lease) bool {
	if l.Holder == "" {
		return true
	}
	if l.HolderOwner != c.cfg.Owner && meta.OwnerGone(l.HolderOwner) {
		return true
	}
	key := leaseKey(l.Holder, l.Epoch, l.Renewals)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lease.key != key {
		c.lease = observed{key: key, seen: time.Now()}
		return false
	}
	return time.Since(c.lease.seen) >= c.cfg.TTL
}

func readLease(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (Lease, bool, error) {
	var l Lease
	var acq, ren string
	err := q.QueryRowContext(ctx, `SELECT holder, holder_owner, epoch, renewals, acquired_at, renewed_at FROM cluster_lease WHERE name = ?`, leaseName).
		Scan(&l.Holder, &l.HolderOwner, &l.Epoch, &l.Renewals, &acq, &ren)
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, false, nil
	}
	l.AcquiredAt, l.RenewedAt = meta.ParseTime(acq), meta.ParseTime(ren)
	return l, err == nil, err
}

// refresh reads the members' heartbeats and notes which changed.
func (c *Cluster) refresh(ctx context.Context) error {
	ms, err := c.readMembers(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshed = now
	for _, m := range ms {
		b := beat{owner: m.Owner, beats: m.beats, left: m.leftAt != "", seen: now}
		if o, ok := c.beats[m.ID]; !ok || o.owner != b.owner || o.beats != b.beats || o.left != b.left {
			c.beats[m.ID] = b
		}
	}
	return nil
}

type memberRow struct {
	Member
	beats  int64
	leftAt string
}

func (c *Cluster) readMembers(ctx context.Context) ([]memberRow, error) {
	rows, err := c.db.SQL().QueryContext(ctx, `SELECT id, owner, s3, api, pg, started_at, heartbeat_at, beats, left_at FROM cluster_members ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("cannot list cluster members: %w", err)
	}
	defer rows.Close()
	var out []memberRow
	for rows.Next() {
		var m memberRow
		var started, hb string
		if err := rows.Scan(&m.ID, &m.Owner, &m.S3, &m.API, &m.PG, &started, &hb, &m.beats, &m.leftAt); err != nil {
			return nil, err
		}
		m.StartedAt, m.HeartbeatAt = meta.ParseTime(started), meta.ParseTime(hb)
		out = append(out, m)
	}
	return out, rows.Err()
}

// alive judges a member's heartbeat on this server's clock: it changed
// within TTL. A member this server has not watched yet is judged by its
// own heartbeat time. Called with c.mu held.
func (c *Cluster) alive(m memberRow, now time.Time) bool {
	if m.leftAt != "" {
		return false
	}
	if o, ok := c.beats[m.ID]; ok && o.owner == m.Owner && o.beats == m.beats {
		return now.Sub(o.seen) < c.cfg.TTL
	}
	return time.Since(m.HeartbeatAt) < c.cfg.TTL
}

// ownerGone is the OwnerOracle this server registers while it runs: a
// run's owner that is a member whose heartbeat this server saw unchanged
// for TTL (or that left) is gone.
func (c *Cluster) ownerGone(owner string) (gone, known bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if owner == c.cfg.Owner {
		return false, true
	}
	now := time.Now()
	if now.Sub(c.refreshed) > 2*c.cfg.Heartbeat {
		// This server cannot read the heartbeats: silence is its own.
		return false, false
	}
	for _, b := range c.beats {
		if b.owner == owner {
			return b.left || now.Sub(b.seen) >= c.cfg.TTL, true
		}
	}
	return false, false
}

// release gives the lease up (another server takes it at its next
// heartbeat) if this server holds it.
func (c *Cluster) release(ctx context.Context) {
	c.mu.Lock()
	epoch := c.epoch
	c.epoch = 0
	c.mu.Unlock()
	if epoch == 0 {
		return
	}
	if _, err := c.db.SQL().ExecContext(ctx, `UPDATE cluster_lease SET holder = '', holder_owner = '', renewed_at = ? WHERE name = ? AND holder = ? AND epoch = ?`,
		meta.Now(), leaseName, c.cfg.ID, epoch); err != nil {
		slog.Warn("cluster: cannot release the leader lease; another server takes it when it expires", "err", err)
	}
}

// leave releases the lease and marks this member as gone.
func (c *Cluster) leave(ctx context.Context) {
	c.release(ctx)
	c.mu.Lock()
	joined := c.joined
	c.joined = false
	c.mu.Unlock()
	if !joined {
		return
	}
	if _, err := c.db.SQL().ExecContext(ctx, `UPDATE cluster_members SET left_at = ? WHERE id = ? AND owner = ?`, meta.Now(), c.cfg.ID, c.cfg.Owner); err != nil {
		slog.Warn("cluster: cannot record that this server left", "err", err)
	}
}

// Fence fails with ErrNotLeader unless this server holds the lease with
// the epoch it acquired. Call it inside the metadata transaction of a write
// only the leader may make: the transaction holds the database's write
// lock, so the answer stands until it commits.
func (c *Cluster) Fence(ctx context.Context, tx *sql.Tx) error {
	c.mu.Lock()
	epoch := c.epoch
	c.mu.Unlock()
	if epoch == 0 {
		return ErrNotLeader
	}
	var holder, owner string
	var cur int64
	err := tx.QueryRowContext(ctx, `SELECT holder, holder_owner, epoch FROM cluster_lease WHERE name = ?`, leaseName).Scan(&holder, &owner, &cur)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotLeader
	}
	if err != nil {
		return fmt.Errorf("cannot read the leader lease: %w", err)
	}
	if holder != c.cfg.ID || owner != c.cfg.Owner || cur != epoch {
		return fmt.Errorf("%w: epoch %d is held by %q (this server had epoch %d)", ErrNotLeader, cur, holder, epoch)
	}
	return nil
}

// IsLeader reports whether this server holds the lease (as of its last
// renewal).
func (c *Cluster) IsLeader() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch > 0
}

// Epoch is the lease epoch this server holds (0 when it does not lead).
func (c *Cluster) Epoch() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// Members returns the members that have not left, with their addresses,
// whether they are alive and which one leads.
func (c *Cluster) Members(ctx context.Context) ([]Member, error) {
	rows, err := c.readMembers(ctx)
	if err != nil {
		return nil, err
	}
	l, found, err := readLease(ctx, c.db.SQL())
	if err != nil {
		return nil, fmt.Errorf("cannot read the leader lease: %w", err)
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Member
	for _, r := range rows {
		if r.leftAt != "" {
			continue
		}
		m := r.Member
		m.Alive = c.alive(r, now)
		m.Leader = found && m.Alive && l.Holder == m.ID && l.HolderOwner == m.Owner
		out = append(out, m)
	}
	return out, nil
}

// Leader returns the member that holds a live lease, or ok false when none
// does (a failover in progress).
func (c *Cluster) Leader(ctx context.Context) (m Member, ok bool, err error) {
	ms, err := c.Members(ctx)
	if err != nil {
		return Member{}, false, err
	}
	for _, m := range ms {
		if m.Leader {
			return m, true, nil
		}
	}
	return Member{}, false, nil
}

// CurrentLease returns the lease as stored (found false before any server
// took it).
func (c *Cluster) CurrentLease(ctx context.Context) (Lease, bool, error) {
	return readLease(ctx, c.db.SQL())
}
