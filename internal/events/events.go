// Package events is tarn's ingestion ledger: every new object version that
// reaches the lake (through the S3 endpoint, `tarn cp`, or a poll of a
// prefix) is recorded here durably, once, before anything acts on it.
// Triggers read the ledger to start workflows; because an event is keyed on
// (bucket, key, version, content checksum), a retried upload, a multipart
// upload's parts, a poll that sees an object again, or a restart never
// produce a second event for the same content.
//
// The checksum is the object's MD5 when its ETag is one (single-part
// uploads); a multipart ETag ("<md5 of part md5s>-N") depends on how the
// object was cut into parts, so for those the ledger reads the object and
// hashes its content with SHA-256.
package events

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Migrations are the events component's tables.
var Migrations = []meta.Migration{{Version: 1, Name: "events ledger", SQL: `
CREATE TABLE events (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	bucket TEXT NOT NULL,
	key TEXT NOT NULL,
	version_id TEXT NOT NULL,
	checksum TEXT NOT NULL,
	etag TEXT NOT NULL,
	size INTEGER NOT NULL,
	via TEXT NOT NULL,
	last_modified TEXT NOT NULL,
	recorded_at TEXT NOT NULL
);
CREATE UNIQUE INDEX events_by_version ON events (bucket, key, version_id, checksum);
CREATE TABLE event_deliveries (
	event_id INTEGER NOT NULL,
	trigger_name TEXT NOT NULL,
	run_id TEXT NOT NULL,
	delivered_at TEXT NOT NULL,
	PRIMARY KEY (event_id, trigger_name, run_id)
);
CREATE INDEX event_deliveries_by_trigger ON event_deliveries (trigger_name, event_id);
CREATE TABLE event_replays (
	event_id INTEGER NOT NULL,
	trigger_name TEXT NOT NULL,
	requested_at TEXT NOT NULL,
	PRIMARY KEY (event_id, trigger_name)
);
`}}

// Sources of events (Event.Via).
const (
	ViaS3   = "s3"   // the S3 endpoint
	ViaCLI  = "cli"  // tarn cp working on the files
	ViaPoll = "poll" // a trigger's poll of its prefix
)

// Event is one object version recorded in the ledger.
type Event struct {
	ID           int64     `json:"id"`
	Bucket       string    `json:"bucket"`
	Key          string    `json:"key"`
	VersionID    string    `json:"version_id"`
	Checksum     string    `json:"checksum"`
	ETag         string    `json:"etag"`
	Size         int64     `json:"size"`
	Via          string    `json:"via"`
	LastModified time.Time `json:"last_modified"`
	RecordedAt   time.Time `json:"recorded_at"`
	// Deliveries are the runs this event started (List fills them).
	Deliveries []Delivery `json:"deliveries,omitempty"`
}

// URI is the event's object as s3://bucket/key.
func (e Event) URI() string { return storage.URI{Bucket: e.Bucket, Key: e.Key}.String() }

// Delivery is an event handed to a trigger's run.
type Delivery struct {
	Trigger     string    `json:"trigger"`
	RunID       string    `json:"run_id"`
	DeliveredAt time.Time `json:"delivered_at"`
}

// ErrNoSuchEvent is returned for an unknown event id.
var ErrNoSuchEvent = errors.New("no such event")

// Ledger records and lists events. It is safe for concurrent use.
type Ledger struct {
	db    *meta.DB
	store storage.ObjectStore

	mu      sync.Mutex
	waiters []chan struct{}
}

// New opens the ledger over the metadata database. store is read to hash
// the content of multipart objects.
func New(ctx context.Context, db *meta.DB, store storage.ObjectStore) (*Ledger, error) {
	if err := db.Migrate(ctx, "events", Migrations); err != nil {
		return nil, err
	}
	return &Ledger{db: db, store: store}, nil
}

// Checksum returns the content checksum the ledger keys an object on.
func (l *Ledger) Checksum(ctx context.Context, info storage.ObjectInfo) (string, error) {
	etag := strings.Trim(info.ETag, `"`)
	if len(etag) == 32 && !strings.Contains(etag, "-") {
		return "md5:" + etag, nil
	}
	rc, _, err := l.store.Get(ctx, info.Bucket, info.Key, nil)
	if err != nil {
		return "", fmt.Errorf("cannot hash s3://%s/%s: %w", info.Bucket, info.Key, err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, rc, make([]byte, 1<<20)); err != nil {
		return "", fmt.Errorf("cannot hash s3://%s/%s: %w", info.Bucket, info.Key, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// Record stores the event for a new object version, unless the same
// version with the same content is already recorded. It reports whether
// the event is new. The event is committed before Record returns, and
// waiters (Wait) are woken.
func (l *Ledger) Record(ctx context.Context, info storage.ObjectInfo, via string) (Event, bool, error) {
	sum, err := l.Checksum(ctx, info)
	if err != nil {
		return Event{}, false, err
	}
	ev := Event{Bucket: info.Bucket, Key: info.Key, VersionID: info.VersionID, Checksum: sum,
		ETag: strings.Trim(info.ETag, `"`), Size: info.Size, Via: via, LastModified: info.LastModified.UTC(), RecordedAt: time.Now().UTC()}
	if ev.VersionID == "" {
		ev.VersionID = "null"
	}
	// RETURNING (not LastInsertId) gives the id on SQLite and PostgreSQL
	// alike; a duplicate inserts nothing and returns no row.
	err = l.db.SQL().QueryRowContext(ctx, `INSERT INTO events (bucket, key, version_id, checksum, etag, size, via, last_modified, recorded_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bucket, key, version_id, checksum) DO NOTHING RETURNING id`,
		ev.Bucket, ev.Key, ev.VersionID, ev.Checksum, ev.ETag, ev.Size, ev.Via, meta.FormatTime(ev.LastModified), meta.FormatTime(ev.RecordedAt)).Scan(&ev.ID)
	if errors.Is(err, sql.ErrNoRows) {
		old, err := l.scanOne(ctx, `WHERE bucket = ? AND key = ? AND version_id = ? AND checksum = ?`, ev.Bucket, ev.Key, ev.VersionID, ev.Checksum)
		return old, false, err
	}
	if err != nil {
		return Event{}, false, fmt.Errorf("cannot record event for %s: %w", ev.URI(), err)
	}
	l.wake()
	return ev, true, nil
}

// Wait returns a channel closed at the next Record of a new event (or
// Replay), so a scheduler can sleep until there is work.
func (l *Ledger) Wait() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := make(chan struct{})
	l.waiters = append(l.waiters, ch)
	return ch
}

func (l *Ledger) wake() {
	l.mu.Lock()
	ws := l.waiters
	l.waiters = nil
	l.mu.Unlock()
	for _, ch := range ws {
		close(ch)
	}
}

const eventColumns = `id, bucket, key, version_id, checksum, etag, size, via, last_modified, recorded_at`

type scanner interface{ Scan(...any) error }

func scanEvent(r scanner) (Event, error) {
	var e Event
	var lm, rec string
	err := r.Scan(&e.ID, &e.Bucket, &e.Key, &e.VersionID, &e.Checksum, &e.ETag, &e.Size, &e.Via, &lm, &rec)
	e.LastModified, e.RecordedAt = meta.ParseTime(lm), meta.ParseTime(rec)
	return e, err
}

func (l *Ledger) scanOne(ctx context.Context, where string, args ...any) (Event, error) {
	e, err := scanEvent(l.db.SQL().QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return Event{}, ErrNoSuchEvent
	}
	return e, err
}

// Get returns one event with its deliveries.
func (l *Ledger) Get(ctx context.Context, id int64) (Event, error) {
	e, err := l.scanOne(ctx, `WHERE id = ?`, id)
	if err != nil {
		return Event{}, fmt.Errorf("cannot get event %d: %w", id, err)
	}
	evs := []Event{e}
	if err := l.fillDeliveries(ctx, evs); err != nil {
		return Event{}, err
	}
	return evs[0], nil
}

// ListOptions select events.
type ListOptions struct {
	// Prefix keeps events under s3://bucket/prefix (empty: all).
	Prefix storage.URI
	// AfterID keeps events with a larger id.
	AfterID int64
	// Limit caps the result (0: 1000).
	Limit int
	// Newest lists the newest first (else oldest first).
	Newest bool
}

// List returns events with their deliveries.
func (l *Ledger) List(ctx context.Context, opts ListOptions) ([]Event, error) {
	evs, err := l.Scan(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := l.fillDeliveries(ctx, evs); err != nil {
		return nil, err
	}
	return evs, nil
}

// Scan is List without the deliveries: what a trigger reads on each tick.
func (l *Ledger) Scan(ctx context.Context, opts ListOptions) ([]Event, error) {
	if opts.Limit <= 0 {
		opts.Limit = 1000
	}
	q := `SELECT ` + eventColumns + ` FROM events WHERE id > ?`
	args := []any{opts.AfterID}
	if opts.Prefix.Bucket != "" {
		q += ` AND bucket = ?`
		args = append(args, opts.Prefix.Bucket)
		if opts.Prefix.Key != "" {
			// Range on the key instead of LIKE: keys may hold % and _.
			q += ` AND key >= ? AND key < ?`
			args = append(args, opts.Prefix.Key, opts.Prefix.Key+"\U0010FFFF")
		}
	}
	if opts.Newest {
		q += ` ORDER BY id DESC`
	} else {
		q += ` ORDER BY id`
	}
	q += fmt.Sprintf(` LIMIT %d`, opts.Limit)
	rows, err := l.db.SQL().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list events: %w", err)
	}
	defer rows.Close()
	var evs []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		evs = append(evs, e)
	}
	return evs, rows.Err()
}

func (l *Ledger) fillDeliveries(ctx context.Context, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	idx := map[int64]int{}
	ids := make([]any, len(evs))
	for i, e := range evs {
		idx[e.ID] = i
		ids[i] = e.ID
	}
	rows, err := l.db.SQL().QueryContext(ctx, `SELECT event_id, trigger_name, run_id, delivered_at FROM event_deliveries WHERE event_id IN (?`+
		strings.Repeat(",?", len(ids)-1)+`) ORDER BY delivered_at`, ids...)
	if err != nil {
		return fmt.Errorf("cannot list event deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var d Delivery
		var at string
		if err := rows.Scan(&id, &d.Trigger, &d.RunID, &at); err != nil {
			return err
		}
		d.DeliveredAt = meta.ParseTime(at)
		if i, ok := idx[id]; ok {
			evs[i].Deliveries = append(evs[i].Deliveries, d)
		}
	}
	return rows.Err()
}

// Deliver records, inside the caller's transaction (the one that creates
// the run), that events went to a trigger's run, and clears their replay
// requests. Doing both in one transaction is what makes delivery
// exactly-once across crashes.
func Deliver(ctx context.Context, tx *sql.Tx, trigger, runID string, eventIDs []int64) error {
	now := meta.Now()
	for _, id := range eventIDs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO event_deliveries (event_id, trigger_name, run_id, delivered_at) VALUES (?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, id, trigger, runID, now); err != nil {
			return fmt.Errorf("cannot record delivery of event %d: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM event_replays WHERE event_id = ? AND trigger_name = ?`, id, trigger); err != nil {
			return err
		}
	}
	return nil
}

// Replay asks for events to be delivered again to a trigger, as if they
// were new (tarn events replay). The trigger's next tick picks them up.
func (l *Ledger) Replay(ctx context.Context, trigger string, ids []int64) error {
	err := l.db.Tx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE id = ?`, id).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("event %d: %w", id, ErrNoSuchEvent)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO event_replays (event_id, trigger_name, requested_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
				id, trigger, meta.Now()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot replay events to trigger %q: %w", trigger, err)
	}
	l.wake()
	return nil
}

// Replays returns the events waiting to be replayed to a trigger.
func (l *Ledger) Replays(ctx context.Context, trigger string) ([]Event, error) {
	rows, err := l.db.SQL().QueryContext(ctx, `SELECT `+prefixed("e.", eventColumns)+` FROM event_replays r JOIN events e ON e.id = r.event_id
		WHERE r.trigger_name = ? ORDER BY e.id`, trigger)
	if err != nil {
		return nil, fmt.Errorf("cannot list replays of trigger %q: %w", trigger, err)
	}
	defer rows.Close()
	var evs []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		evs = append(evs, e)
	}
	return evs, rows.Err()
}

// ReplayTriggers returns the triggers that have events waiting to be
// replayed.
func (l *Ledger) ReplayTriggers(ctx context.Context) (map[string]bool, error) {
	rows, err := l.db.SQL().QueryContext(ctx, `SELECT DISTINCT trigger_name FROM event_replays`)
	if err != nil {
		return nil, fmt.Errorf("cannot list replays: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out[name] = true
	}
	return out, rows.Err()
}

// LastID is the id of the newest event (0 when there is none): where a new
// trigger starts reading, so that it does not fire for the past.
func (l *Ledger) LastID(ctx context.Context) (int64, error) {
	var id sql.NullInt64
	err := l.db.SQL().QueryRowContext(ctx, `SELECT MAX(id) FROM events`).Scan(&id)
	return id.Int64, err
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// Recording wraps an object store so that every object it creates (Put,
// Copy) is recorded in the ledger before the call returns: what `tarn cp`
// uses when it writes the lake's files itself, so that triggers see those
// objects as they see uploads through the S3 endpoint.
type Recording struct {
	storage.ObjectStore
	Ledger *Ledger
	Via    string
}

// Put stores the object, then records its event.
func (r Recording) Put(ctx context.Context, bucket, key string, body io.Reader, opts storage.PutOptions) (storage.ObjectInfo, error) {
	info, err := r.ObjectStore.Put(ctx, bucket, key, body, opts)
	if err != nil {
		return info, err
	}
	if _, _, err := r.Ledger.Record(ctx, info, r.Via); err != nil {
		return info, fmt.Errorf("stored %s but %w", storage.URI{Bucket: bucket, Key: key}, err)
	}
	return info, nil
}

// Copy copies the object, then records the new one's event.
func (r Recording) Copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) (storage.ObjectInfo, error) {
	info, err := r.ObjectStore.Copy(ctx, srcBucket, srcKey, dstBucket, dstKey)
	if err != nil {
		return info, err
	}
	if _, _, err := r.Ledger.Record(ctx, info, r.Via); err != nil {
		return info, fmt.Errorf("copied to %s but %w", storage.URI{Bucket: dstBucket, Key: dstKey}, err)
	}
	return info, nil
}
