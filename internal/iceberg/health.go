package iceberg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// DefaultSmallFileBytes is the size under which Health counts a data file
// as small (32 MiB).
const DefaultSmallFileBytes = 32 << 20

// Health is a table's figures, computed from its metadata (the current
// snapshot's manifests): what OPTIMIZE and VACUUM act on.
type Health struct {
	// Snapshots kept in the metadata, and metadata files (the current one
	// and those in its log).
	Snapshots     int
	MetadataFiles int
	// CurrentSnapshotID is 0 for a table without data.
	CurrentSnapshotID int64
	LastUpdated       time.Time
	// Data files of the current snapshot, their bytes and records, and
	// those under SmallFileBytes.
	DataFiles      int64
	DataBytes      int64
	Records        int64
	SmallFiles     int64
	SmallFileBytes int64
	// Delete files of the current snapshot (position and equality), their
	// bytes and records.
	DeleteFiles   int64
	DeleteBytes   int64
	DeleteRecords int64
	// Manifests of the current snapshot.
	Manifests int
}

// Health computes a table's figures. smallFileBytes is the size under which
// a data file is small (DefaultSmallFileBytes if ≤ 0).
func (c *Catalog) Health(ctx context.Context, ident table.Identifier, smallFileBytes int64) (Health, error) {
	tbl, err := c.LoadTable(ctx, ident)
	if err != nil {
		return Health{}, fmt.Errorf("cannot compute health of table %q: %w", identString(ident), err)
	}
	h, err := TableHealth(ctx, tbl, smallFileBytes)
	if err != nil {
		return Health{}, fmt.Errorf("cannot compute health of table %q: %w", identString(tbl.Identifier()), err)
	}
	return h, nil
}

// TableHealth computes the figures of a loaded table.
func TableHealth(ctx context.Context, tbl *table.Table, smallFileBytes int64) (Health, error) {
	if smallFileBytes <= 0 {
		smallFileBytes = DefaultSmallFileBytes
	}
	md := tbl.Metadata()
	h := Health{
		Snapshots:      len(md.Snapshots()),
		MetadataFiles:  len(slices.Collect(md.PreviousFiles())) + 1,
		LastUpdated:    time.UnixMilli(md.LastUpdatedMillis()).UTC(),
		SmallFileBytes: smallFileBytes,
	}
	snap := md.CurrentSnapshot()
	if snap == nil {
		return h, nil
	}
	h.CurrentSnapshotID = snap.SnapshotID
	fio, err := tbl.FS(ctx)
	if err != nil {
		return Health{}, err
	}
	manifests, err := snap.Manifests(fio)
	if err != nil {
		return Health{}, err
	}
	h.Manifests = len(manifests)
	for _, m := range manifests {
		for e, err := range m.Entries(fio, true) {
			if err != nil {
				return Health{}, err
			}
			if err := ctx.Err(); err != nil {
				return Health{}, err
			}
			df := e.DataFile()
			switch df.ContentType() {
			case ice.EntryContentData:
				h.DataFiles++
				h.DataBytes += df.FileSizeBytes()
				h.Records += df.Count()
				if df.FileSizeBytes() < smallFileBytes {
					h.SmallFiles++
				}
			default:
				h.DeleteFiles++
				h.DeleteBytes += df.FileSizeBytes()
				h.DeleteRecords += df.Count()
			}
		}
	}
	return h, nil
}

// ExpireResult says what Expire did.
type ExpireResult struct {
	// Expired lists the ids of the snapshots removed from the metadata.
	Expired []int64
	// Table is the table after the commit.
	Table *table.Table
}

// Expire expires a table's snapshots older than olderThan, keeping at
// least the last retainLast (≥ 1) of each branch, in one commit, then
// deletes the files only they referenced (manifests, manifest lists, data
// and delete files; never outside the table's location). Readers still
// scanning an expired snapshot may fail: callers choose olderThan longer
// than their queries. gc.enabled=false refuses.
func (c *Catalog) Expire(ctx context.Context, ident table.Identifier, olderThan time.Duration, retainLast int) (ExpireResult, error) {
	tbl, err := c.LoadTable(ctx, ident)
	if err != nil {
		return ExpireResult{}, fmt.Errorf("cannot expire snapshots of table %q: %w", identString(ident), err)
	}
	full := identString(tbl.Identifier())
	before := map[int64]bool{}
	for _, s := range tbl.Metadata().Snapshots() {
		before[s.SnapshotID] = true
	}
	tx := tbl.NewTransaction()
	if err := tx.ExpireSnapshots(table.WithOlderThan(olderThan), table.WithRetainLast(retainLast)); err != nil {
		return ExpireResult{}, fmt.Errorf("cannot expire snapshots of table %q: %w", full, err)
	}
	after, err := tx.Commit(ctx)
	if err != nil && after == nil {
		return ExpireResult{}, fmt.Errorf("cannot expire snapshots of table %q: %w", full, err)
	}
	res := ExpireResult{Table: after}
	for _, s := range after.Metadata().Snapshots() {
		delete(before, s.SnapshotID)
	}
	for id := range before {
		res.Expired = append(res.Expired, id)
	}
	slices.Sort(res.Expired)
	if err != nil {
		// The commit stands; some files were not deleted (orphans now).
		return res, fmt.Errorf("expired %d snapshot(s) of table %q, but not all their files were deleted: %w", len(res.Expired), full, err)
	}
	return res, nil
}

// OrphanResult says what RemoveOrphans found and deleted.
type OrphanResult struct {
	Orphans []string
	Deleted []string
	Bytes   int64
}

// RemoveOrphans deletes the files below a table's location that no
// snapshot or metadata file of it references and that are older than
// olderThan (files a writer is still writing are younger: choose olderThan
// longer than any write, three days as Iceberg suggests). With dryRun it
// only reports them. s3, s3a and s3n spellings of a path are the same file.
func (c *Catalog) RemoveOrphans(ctx context.Context, ident table.Identifier, olderThan time.Duration, dryRun bool) (OrphanResult, error) {
	if olderThan < 0 {
		return OrphanResult{}, fmt.Errorf("cannot remove orphan files of table %q: %w", identString(ident), errors.New("olderThan is negative"))
	}
	tbl, err := c.LoadTable(ctx, ident)
	if err != nil {
		return OrphanResult{}, fmt.Errorf("cannot remove orphan files of table %q: %w", identString(ident), err)
	}
	res, err := tbl.DeleteOrphanFiles(ctx, table.WithFilesOlderThan(olderThan), table.WithDryRun(dryRun),
		table.WithEqualSchemes(map[string]string{"s3a,s3n": "s3"}))
	if err != nil {
		return OrphanResult{}, fmt.Errorf("cannot remove orphan files of table %q: %w", identString(tbl.Identifier()), err)
	}
	return OrphanResult{Orphans: res.OrphanFileLocations, Deleted: res.DeletedFiles, Bytes: res.TotalSizeBytes}, nil
}
