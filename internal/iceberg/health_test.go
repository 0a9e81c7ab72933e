package iceberg

import (
	"context"
	"errors"
	iofs "io/fs"
	"slices"
	"testing"
	"time"

	ice "github.com/apache/iceberg-go"
	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
)

func TestHealthExpireOrphans(t *testing.T) {
	ctx := context.Background()
	l := newTestLake(t)
	tbl, err := l.ice.CreateTable(ctx, ordersIdent, ordersSchema,
		icecat.WithProperties(ice.Properties{table.WriteDeleteModeKey: table.WriteModeMergeOnRead}))
	mustNoErr(t, err)
	h, err := l.ice.Health(ctx, ordersIdent, 0)
	mustNoErr(t, err)
	if h.Snapshots != 0 || h.DataFiles != 0 || h.MetadataFiles != 1 || h.SmallFileBytes != DefaultSmallFileBytes {
		t.Fatalf("empty health = %+v", h)
	}
	tbl = appendRows(t, tbl, `{"id": 1}`, `{"id": 2}`)
	tbl = appendRows(t, tbl, `{"id": 3}`)
	tbl = appendRows(t, tbl, `{"id": 4}`, `{"id": 5}`)
	// A merge-on-read delete adds a position delete file.
	tbl, err = tbl.Delete(ctx, ice.EqualTo(ice.Reference("id"), int64(2)), nil)
	mustNoErr(t, err)
	if got := scanIDs(t, tbl); !slices.Equal(got, []int64{1, 3, 4, 5}) {
		t.Fatalf("scan after delete = %v", got)
	}

	h, err = l.ice.Health(ctx, ordersIdent, 1)
	mustNoErr(t, err)
	if h.Snapshots != 4 || h.DataFiles != 3 || h.Records != 5 || h.SmallFiles != 0 || h.DataBytes == 0 ||
		h.DeleteFiles != 1 || h.DeleteRecords != 1 || h.MetadataFiles != 5 || h.CurrentSnapshotID != tbl.CurrentSnapshot().SnapshotID {
		t.Fatalf("health = %+v", h)
	}
	h, err = l.ice.Health(ctx, ordersIdent, 0)
	mustNoErr(t, err)
	if h.SmallFiles != 3 {
		t.Fatalf("small files = %d", h.SmallFiles)
	}

	// Expire all but the last snapshot: the rows stay.
	res, err := l.ice.Expire(ctx, ordersIdent, 0, 1)
	mustNoErr(t, err)
	if len(res.Expired) != 3 || len(res.Table.Metadata().Snapshots()) != 1 {
		t.Fatalf("expired %v, left %d", res.Expired, len(res.Table.Metadata().Snapshots()))
	}
	loaded, err := l.ice.LoadTable(ctx, ordersIdent)
	mustNoErr(t, err)
	if got := scanIDs(t, loaded); !slices.Equal(got, []int64{1, 3, 4, 5}) {
		t.Fatalf("scan after expire = %v", got)
	}
	if _, err := l.ice.Expire(ctx, ordersIdent, 0, 0); err == nil {
		t.Fatal("retain 0 accepted")
	}

	// Orphans: a stray file below the table goes; referenced files and
	// files outside the table stay.
	fio := NewIO(l.store).WithContext(ctx)
	orphan := tbl.Location() + "/data/stray.parquet"
	outside := "s3://lake/warehouse/sales/other/x.parquet"
	mustNoErr(t, fio.WriteFile(orphan, []byte("stray")))
	mustNoErr(t, fio.WriteFile(outside, []byte("not ours")))
	young, err := l.ice.RemoveOrphans(ctx, ordersIdent, time.Hour, false)
	mustNoErr(t, err)
	if len(young.Orphans) != 0 {
		t.Fatalf("young files taken as orphans: %v", young.Orphans)
	}
	dry, err := l.ice.RemoveOrphans(ctx, ordersIdent, 0, true)
	mustNoErr(t, err)
	if !slices.Contains(dry.Orphans, orphan) || len(dry.Deleted) != 0 {
		t.Fatalf("dry run = %+v", dry)
	}
	if _, err := fio.Stat(orphan); err != nil {
		t.Fatal("dry run deleted")
	}
	got, err := l.ice.RemoveOrphans(ctx, ordersIdent, 0, false)
	mustNoErr(t, err)
	if !slices.Contains(got.Deleted, orphan) {
		t.Fatalf("orphans = %+v", got)
	}
	if _, err := fio.Stat(orphan); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("orphan still there: %v", err)
	}
	if _, err := fio.Stat(outside); err != nil {
		t.Fatalf("file outside the table touched: %v", err)
	}
	loaded, err = l.ice.LoadTable(ctx, ordersIdent)
	mustNoErr(t, err)
	if got := scanIDs(t, loaded); !slices.Equal(got, []int64{1, 3, 4, 5}) {
		t.Fatalf("scan after orphan removal = %v", got)
	}
	if _, err := fio.Stat(loaded.MetadataLocation()); err != nil {
		t.Fatalf("current metadata deleted: %v", err)
	}
}
