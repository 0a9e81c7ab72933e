package query_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/tarn-lake/tarn/internal/iceberg"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/storage"
)

// iceTable loads a table through tarn's Iceberg catalog.
func iceTable(t *testing.T, l *lake.Lake, name string) *table.Table {
	t.Helper()
	c, err := iceberg.New(iceberg.DefaultConfig(), l.Catalog, l.Meta, l.Store)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := c.Table(context.Background(), "testdb", name)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// iceRows reads a table's rows with iceberg-go's own scanner (not tarn's
// read path), as sorted "a|b|c" lines.
func iceRows(t *testing.T, l *lake.Lake, name string) []string {
	t.Helper()
	tbl := iceTable(t, l, name)
	at, err := tbl.Scan().ToArrowTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	var out []string
	rdr := array.NewTableReader(at, 1024)
	defer rdr.Release()
	for rdr.Next() {
		rec := rdr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			var vals []string
			for c := 0; c < int(rec.NumCols()); c++ {
				col := rec.Column(c)
				if col.IsNull(i) {
					vals = append(vals, "NULL")
				} else if d, ok := col.(*array.Decimal128); ok {
					vals = append(vals, d.Value(i).ToString(d.DataType().(*arrow.Decimal128Type).Scale))
				} else {
					vals = append(vals, col.ValueStr(i))
				}
			}
			out = append(out, strings.Join(vals, "|"))
		}
	}
	sort.Strings(out)
	return out
}

// queryRows reads rows through tarn's query service, as sorted lines.
func queryRows(t *testing.T, l *lake.Lake, q string) []string {
	t.Helper()
	c, _ := mustRun(t, l.Query, q)
	var out []string
	for _, r := range c.Rows {
		var vals []string
		for _, v := range r {
			if v == nil {
				vals = append(vals, "NULL")
			} else {
				vals = append(vals, fmt.Sprint(v))
			}
		}
		out = append(out, strings.Join(vals, "|"))
	}
	sort.Strings(out)
	return out
}

func snapshots(t *testing.T, l *lake.Lake, name string) int {
	t.Helper()
	return len(iceTable(t, l, name).Metadata().Snapshots())
}

func wantRows(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func newIcebergLake(t *testing.T) *lake.Lake {
	t.Helper()
	l := openLake(t)
	mustRun(t, l.Query, "CREATE DATABASE IF NOT EXISTS testdb")
	return l
}

func TestIcebergDML(t *testing.T) {
	l := newIcebergLake(t)
	mustRun(t, l.Query, `CREATE TABLE testdb.events (id bigint, ts timestamp, s string, cat string, amount decimal(9,2))
		PARTITIONED BY (day(ts), bucket(4, id), truncate(2, s), cat)
		LOCATION 's3://lake/ice/events/'
		TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet', 'write_compression'='zstd')`)
	if n := snapshots(t, l, "events"); n != 0 {
		t.Fatalf("a new table has %d snapshots", n)
	}
	c, _ := mustRun(t, l.Query, `INSERT INTO testdb.events VALUES
		(1, TIMESTAMP '2025-01-02 03:00:00', 'alpha', 'a', 1.50),
		(2, TIMESTAMP '2025-01-02 04:00:00', 'beta', 'b', 2.50),
		(3, TIMESTAMP '2025-01-03 05:00:00', 'gamma', 'a', 3.50),
		(4, NULL, NULL, NULL, NULL)`)
	if c.Rows[0][0] != int64(4) {
		t.Fatalf("INSERT says %v rows", c.Rows[0][0])
	}
	wantRows(t, "after INSERT", iceRows(t, l, "events"),
		"1|2025-01-02T03:00:00|alpha|a|1.50", "2|2025-01-02T04:00:00|beta|b|2.50", "3|2025-01-03T05:00:00|gamma|a|3.50", "4|NULL|NULL|NULL|NULL")
	if n := snapshots(t, l, "events"); n != 1 {
		t.Fatalf("%d snapshots after one INSERT", n)
	}
	// Partition values in the manifests are iceberg-go's transforms of
	// the rows.
	tbl := iceTable(t, l, "events")
	tasks, err := tbl.Scan().PlanFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	spec := tbl.Spec()
	for _, task := range tasks {
		if task.File.Count() != 1 {
			t.Errorf("file %s holds %d rows; each row here has a partition of its own", task.File.FilePath(), task.File.Count())
		}
		p := task.File.Partition()
		for _, f := range spec.Fields() {
			if f.Name == "id_bucket" {
				if _, ok := p[f.FieldID].(int32); !ok {
					t.Errorf("id_bucket is %T", p[f.FieldID])
				}
			}
		}
	}

	c, _ = mustRun(t, l.Query, `UPDATE testdb.events SET amount = amount * 10, s = upper(s) WHERE cat = 'a'`)
	if c.Rows[0][0] != int64(2) {
		t.Fatalf("UPDATE says %v rows", c.Rows[0][0])
	}
	wantRows(t, "after UPDATE", iceRows(t, l, "events"),
		"1|2025-01-02T03:00:00|ALPHA|a|15.00", "2|2025-01-02T04:00:00|beta|b|2.50", "3|2025-01-03T05:00:00|GAMMA|a|35.00", "4|NULL|NULL|NULL|NULL")
	if n := snapshots(t, l, "events"); n != 2 {
		t.Fatalf("%d snapshots after INSERT and UPDATE", n)
	}

	mustRun(t, l.Query, `DELETE FROM testdb.events e WHERE e.id = 2 OR ts IS NULL`)
	wantRows(t, "after DELETE", iceRows(t, l, "events"),
		"1|2025-01-02T03:00:00|ALPHA|a|15.00", "3|2025-01-03T05:00:00|GAMMA|a|35.00")

	mustRun(t, l.Query, "CREATE EXTERNAL TABLE testdb.changes (id bigint, s string, op string) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://lake/raw/changes/'")
	ctx := context.Background()
	if _, err := l.Store.Put(ctx, "lake", "raw/changes/c.csv", strings.NewReader("1,one,update\n3,,delete\n9,nine,insert\n"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	c, _ = mustRun(t, l.Query, `MERGE INTO testdb.events t USING testdb.changes c ON t.id = c.id
		WHEN MATCHED AND c.op = 'delete' THEN DELETE
		WHEN MATCHED THEN UPDATE SET s = c.s
		WHEN NOT MATCHED THEN INSERT (id, ts, s, cat, amount) VALUES (c.id, TIMESTAMP '2025-02-01 00:00:00', c.s, 'z', 0)`)
	if c.Rows[0][0] != int64(3) {
		t.Fatalf("MERGE says %v rows", c.Rows[0][0])
	}
	want := []string{"1|2025-01-02T03:00:00|one|a|15.00", "9|2025-02-01T00:00:00|nine|z|0.00"}
	wantRows(t, "after MERGE", iceRows(t, l, "events"), want...)
	if n := snapshots(t, l, "events"); n != 4 {
		t.Fatalf("%d snapshots after 4 statements", n)
	}
	// The same rows through tarn's own read path.
	wantRows(t, "query service", queryRows(t, l, "SELECT id, strftime(ts, '%Y-%m-%dT%H:%M:%S'), s, cat, CAST(amount AS VARCHAR) FROM testdb.events"), want...)

	// An UPDATE of a partition source column moves the row's partition.
	mustRun(t, l.Query, `UPDATE testdb.events SET cat = 'moved', ts = TIMESTAMP '2030-06-07 08:00:00' WHERE id = 9`)
	tbl = iceTable(t, l, "events")
	tasks, err = tbl.Scan(table.WithRowFilter(iceberggo.EqualTo(iceberggo.Reference("id"), int64(9)))).PlanFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	spec = tbl.Spec()
	found := false
	for _, task := range tasks {
		p := task.File.Partition()
		for _, f := range spec.Fields() {
			if f.Name == "cat" && p[f.FieldID] == "moved" {
				found = true
				day := iceberggo.DayTransform{}.Apply(iceberggo.Optional[iceberggo.Literal]{Valid: true,
					Val: iceberggo.NewLiteral(iceberggo.Timestamp(time.Date(2030, 6, 7, 8, 0, 0, 0, time.UTC).UnixMicro()))})
				for _, g := range spec.Fields() {
					if g.Name == "ts_day" && p[g.FieldID] != day.Val.Any() {
						t.Errorf("ts_day of the moved row is %v, want %v", p[g.FieldID], day.Val.Any())
					}
				}
			}
		}
	}
	if !found {
		t.Error("no data file has partition cat=moved")
	}
	mustRun(t, l.Query, `UPDATE testdb.events SET cat = 'z', ts = TIMESTAMP '2025-02-01 00:00:00' WHERE id = 9`)

	// A DELETE that matches nothing commits nothing.
	mustRun(t, l.Query, `DELETE FROM testdb.events WHERE id = 12345`)
	if n := snapshots(t, l, "events"); n != 6 {
		t.Fatalf("a DELETE of nothing committed a snapshot (%d)", n)
	}
}

func TestIcebergEvolutionAndMaintenance(t *testing.T) {
	l := newIcebergLake(t)
	mustRun(t, l.Query, `CREATE TABLE testdb.t WITH (table_type = 'ICEBERG', location = 's3://lake/ice/t/', partitioning = ARRAY['bucket(2, id)'],
		vacuum_max_snapshot_age_seconds = '0') AS SELECT range AS id, 'v' || range AS v FROM range(6)`)
	wantRows(t, "CTAS", iceRows(t, l, "t"), "0|v0", "1|v1", "2|v2", "3|v3", "4|v4", "5|v5")
	mustRun(t, l.Query, `ALTER TABLE testdb.t ADD COLUMNS (extra int COMMENT 'new')`)
	mustRun(t, l.Query, `ALTER TABLE testdb.t CHANGE COLUMN v label string`)
	mustRun(t, l.Query, `ALTER TABLE testdb.t ADD PARTITION FIELD truncate(2, label)`)
	mustRun(t, l.Query, `INSERT INTO testdb.t (id, extra, label) VALUES (10, 7, 'ten')`)
	wantRows(t, "after evolution", iceRows(t, l, "t"), "0|v0|NULL", "1|v1|NULL", "10|ten|7", "2|v2|NULL", "3|v3|NULL", "4|v4|NULL", "5|v5|NULL")
	mustRun(t, l.Query, `ALTER TABLE testdb.t DROP COLUMN extra`)
	mustRun(t, l.Query, `ALTER TABLE testdb.t DROP PARTITION FIELD bucket(2, id)`)
	for i := range 3 {
		mustRun(t, l.Query, fmt.Sprintf("INSERT INTO testdb.t VALUES (%d, 'x0%d')", 20+i, i))
	}
	wantRows(t, "before OPTIMIZE", iceRows(t, l, "t"), "0|v0", "1|v1", "10|ten", "2|v2", "20|x00", "21|x01", "22|x02", "3|v3", "4|v4", "5|v5")
	before := len(iceTable(t, l, "t").Metadata().Snapshots())
	mustRun(t, l.Query, `OPTIMIZE testdb.t REWRITE DATA USING BIN_PACK`)
	wantRows(t, "after OPTIMIZE", iceRows(t, l, "t"), "0|v0", "1|v1", "10|ten", "2|v2", "20|x00", "21|x01", "22|x02", "3|v3", "4|v4", "5|v5")
	tbl := iceTable(t, l, "t")
	if n := len(tbl.Metadata().Snapshots()); n != before+1 {
		t.Fatalf("OPTIMIZE made %d snapshots", n-before)
	}
	// A compaction, as Spark and Trino commit theirs: incremental readers
	// skip it.
	if op := tbl.CurrentSnapshot().Summary.Operation; op != table.OpReplace {
		t.Fatalf("OPTIMIZE committed operation %q, want replace", op)
	}
	tasks, err := tbl.Scan().PlanFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// All rows are now in the current spec: one file per truncate(2, label).
	byPart := map[string]int{}
	for _, task := range tasks {
		byPart[fmt.Sprint(task.File.SpecID(), task.File.Partition())]++
	}
	for p, n := range byPart {
		if n > 1 {
			t.Errorf("partition %s still has %d files", p, n)
		}
	}
	// A file no snapshot names (a crashed writer's) goes with VACUUM.
	if _, err := l.Store.Put(context.Background(), "lake", "ice/t/data/stray.parquet", strings.NewReader("junk"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	c, _ := mustRun(t, l.Query, `VACUUM testdb.t`)
	if n := len(iceTable(t, l, "t").Metadata().Snapshots()); n != 1 {
		t.Fatalf("VACUUM kept %d snapshots (%v)", n, c.Rows)
	}
	if _, err := l.Store.Head(context.Background(), "lake", "ice/t/data/stray.parquet"); err == nil {
		t.Errorf("VACUUM left an orphan file (%v)", c.Rows)
	}
	if c.Rows[0][0].(int64) < 1 || c.Rows[0][1].(int64) < 1 {
		t.Errorf("VACUUM says %v", c.Rows)
	}
	wantRows(t, "after VACUUM", iceRows(t, l, "t"), "0|v0", "1|v1", "10|ten", "2|v2", "20|x00", "21|x01", "22|x02", "3|v3", "4|v4", "5|v5")

	c, _ = mustRun(t, l.Query, `SHOW CREATE TABLE testdb.t`)
	ddl := fmt.Sprint(c.Rows[0][0])
	for _, w := range []string{"`label` string", "PARTITIONED BY (truncate(2, `label`))", "'table_type'='ICEBERG'", "LOCATION 's3://lake/ice/t'"} {
		if !strings.Contains(ddl, w) {
			t.Errorf("SHOW CREATE TABLE lacks %q:\n%s", w, ddl)
		}
	}
	mustRun(t, l.Query, `ALTER TABLE testdb.t RENAME TO testdb.t_renamed`)
	wantRows(t, "renamed", iceRows(t, l, "t_renamed"), "0|v0", "1|v1", "10|ten", "2|v2", "20|x00", "21|x01", "22|x02", "3|v3", "4|v4", "5|v5")
	mustRun(t, l.Query, `ALTER TABLE testdb.t_renamed RENAME TO t`)
	mustRun(t, l.Query, `DROP TABLE testdb.t PURGE`)
	if _, err := l.Catalog.GetTable(context.Background(), "testdb", "t"); err == nil {
		t.Fatal("DROP TABLE left the table")
	}
	mustRun(t, l.Query, `DROP TABLE IF EXISTS testdb.t PURGE`)
	if _, _, err := l.Query.Run(context.Background(), `DROP TABLE testdb.t PURGE`, "testdb"); err == nil {
		t.Error("DROP TABLE ... PURGE of a missing table succeeded")
	}
}

// TestIcebergFailuresChangeNothing: a statement that fails (bad SQL, a
// type error mid-MERGE, a cancelled context, a key without the rights)
// leaves the table's snapshot and its files as they were.
func TestIcebergFailuresChangeNothing(t *testing.T) {
	l := newIcebergLake(t)
	ctx := context.Background()
	mustRun(t, l.Query, `CREATE TABLE testdb.f (id int, v string) LOCATION 's3://lake/ice/f/' TBLPROPERTIES ('table_type'='ICEBERG')`)
	mustRun(t, l.Query, `INSERT INTO testdb.f VALUES (1, 'a'), (2, 'b')`)
	files := func() []string {
		var out []string
		for o, err := range storage.Walk(ctx, l.Store, "lake", "ice/f/data/") {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, o.Key)
		}
		sort.Strings(out)
		return out
	}
	base := iceTable(t, l, "f").CurrentSnapshot().SnapshotID
	baseFiles := files()
	unchanged := func(what string) {
		t.Helper()
		if id := iceTable(t, l, "f").CurrentSnapshot().SnapshotID; id != base {
			t.Errorf("%s: snapshot %d, want %d", what, id, base)
		}
		if got := files(); strings.Join(got, ",") != strings.Join(baseFiles, ",") {
			t.Errorf("%s: data files %v, want %v", what, got, baseFiles)
		}
		wantRows(t, what, iceRows(t, l, "f"), "1|a", "2|b")
	}
	for _, q := range []string{
		`UPDATE testdb.f SET v = nosuchfunc(v) WHERE id = 1`,
		`UPDATE testdb.f SET id = 'not a number' WHERE id = 1`,
		`MERGE INTO testdb.f t USING (SELECT 1 AS id UNION ALL SELECT 2) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET id = CAST(v || 'x' AS INT)`,
		`MERGE INTO testdb.f t USING (SELECT 1 AS id UNION ALL SELECT 1) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = 'twice'`,
		`MERGE INTO testdb.f t USING (SELECT 1 AS id) s ON t.id = s.id WHEN NOT MATCHED BY SOURCE THEN DELETE`,
		`INSERT INTO testdb.f VALUES (3)`,
		`INSERT INTO testdb.f SELECT 'x', 'y'`,
	} {
		if _, _, err := l.Query.Run(ctx, q, "testdb"); err == nil {
			t.Errorf("%s: no error", q)
		}
		unchanged(q)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := l.Query.Run(cctx, `UPDATE testdb.f SET v = 'z'`, "testdb"); err == nil {
		t.Error("a cancelled UPDATE ran")
	}
	unchanged("cancelled")

	// A key without glue:UpdateTable (or s3:PutObject) changes nothing.
	for _, denied := range []string{"glue:UpdateTable", "s3:PutObject", "s3:GetObject"} {
		authz := func(action string, tg query.Target) error {
			if action == denied {
				return fmt.Errorf("%w: AccessDenied: %s on %s", query.ErrPermission, action, tg.Location)
			}
			return nil
		}
		for _, q := range []string{`UPDATE testdb.f SET v = 'z'`, `DELETE FROM testdb.f WHERE id = 1`, `INSERT INTO testdb.f VALUES (5, 'e')`,
			`MERGE INTO testdb.f t USING (SELECT 1 AS id) s ON t.id = s.id WHEN MATCHED THEN DELETE`, `OPTIMIZE testdb.f REWRITE DATA USING BIN_PACK`} {
			_, err := l.Query.Execute(ctx, query.Request{SQL: q, Database: "testdb", Authorize: authz}, &query.Collect{})
			if denied == "s3:GetObject" && strings.HasPrefix(q, "INSERT") {
				if err != nil {
					t.Errorf("%s without %s: %v", q, denied, err)
				}
				mustRun(t, l.Query, `DELETE FROM testdb.f WHERE id = 5`)
				base = iceTable(t, l, "f").CurrentSnapshot().SnapshotID
				baseFiles = files()
				continue
			}
			if !errors.Is(err, query.ErrPermission) {
				t.Errorf("%s without %s: %v", q, denied, err)
			}
			unchanged(q + " without " + denied)
		}
	}

	// MERGE on a Hive table says Iceberg is needed, and how.
	mustRun(t, l.Query, "CREATE EXTERNAL TABLE testdb.hive (id int) STORED AS PARQUET LOCATION 's3://lake/hive/'")
	_, _, err := l.Query.Run(ctx, `MERGE INTO testdb.hive t USING (SELECT 1 AS id) s ON t.id = s.id WHEN MATCHED THEN DELETE`, "testdb")
	if !errors.Is(err, query.ErrNeedsIceberg) || !strings.Contains(err.Error(), "'table_type'='ICEBERG'") {
		t.Errorf("MERGE on a Hive table: %v", err)
	}
}

// TestIcebergConcurrentWriters: UPDATEs and INSERTs at once on one table;
// every inserted row survives and every update applies.
func TestIcebergConcurrentWriters(t *testing.T) {
	l := newIcebergLake(t)
	ctx := context.Background()
	mustRun(t, l.Query, `CREATE TABLE testdb.c (id int, n int) LOCATION 's3://lake/ice/c/' TBLPROPERTIES ('table_type'='ICEBERG')`)
	mustRun(t, l.Query, `INSERT INTO testdb.c VALUES (0, 0)`)
	const k = 4
	var wg sync.WaitGroup
	errs := make(chan error, 2*k)
	for i := range k {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, _, err := l.Query.Run(ctx, fmt.Sprintf("INSERT INTO testdb.c VALUES (%d, 0)", i+1), "testdb")
			errs <- err
		}()
		go func() {
			defer wg.Done()
			_, _, err := l.Query.Run(ctx, "UPDATE testdb.c SET n = n + 1 WHERE id = 0", "testdb")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			if !errors.Is(err, table.ErrCommitFailed) {
				t.Fatal(err)
			}
			failed++ // refused cleanly after its retries
		}
	}
	rows := iceRows(t, l, "c")
	if len(rows) != k+1 {
		t.Fatalf("rows %v: an INSERT was lost", rows)
	}
	if want := fmt.Sprintf("0|%d", k-failed); rows[0] != want {
		t.Fatalf("row 0 is %s, want %s (%d updates refused)", rows[0], want, failed)
	}
	_ = iceberggo.Properties{}
}

// TestIcebergUpdateLosesNoConcurrentInsert: an INSERT commits between the
// moment an UPDATE read the table and the moment it commits (from the same
// base). The UPDATE's commit must fail its base assertion, its files go,
// and its re-run on the new state keeps the inserted row; nothing is left
// that no snapshot names.
func TestIcebergUpdateLosesNoConcurrentInsert(t *testing.T) {
	for _, mode := range []string{"copy-on-write", "merge-on-read"} {
		t.Run(mode, func(t *testing.T) { updateRacesInsert(t, mode) })
	}
}

func updateRacesInsert(t *testing.T, mode string) {
	l := newIcebergLake(t)
	ctx := context.Background()
	mustRun(t, l.Query, `CREATE TABLE testdb.r (id int, v string) PARTITIONED BY (bucket(2, id)) LOCATION 's3://lake/ice/r/' TBLPROPERTIES ('table_type'='ICEBERG', 'write.update.mode'='`+mode+`')`)
	mustRun(t, l.Query, `INSERT INTO testdb.r VALUES (1, 'a'), (2, 'b'), (3, 'c')`)
	calls := 0
	query.SetIcebergBeforeCommit(func(string) {
		calls++
		if calls == 1 {
			mustRun(t, l.Query, `INSERT INTO testdb.r VALUES (4, 'd'), (5, 'e')`)
		}
	})
	defer query.SetIcebergBeforeCommit(nil)
	c, _ := mustRun(t, l.Query, `UPDATE testdb.r SET v = v || '!' WHERE id <> 2`)
	if calls != 2 {
		t.Fatalf("the UPDATE tried to commit %d times, want 2 (one conflict)", calls)
	}
	if c.Rows[0][0] != int64(4) {
		t.Errorf("UPDATE says %v rows, want 4 (its re-run sees the inserted rows)", c.Rows[0][0])
	}
	wantRows(t, "after the race", iceRows(t, l, "r"), "1|a!", "2|b", "3|c!", "4|d!", "5|e!")
	if n := snapshots(t, l, "r"); n != 3 {
		t.Errorf("%d snapshots, want 3", n)
	}
	c2, err := iceberg.New(iceberg.DefaultConfig(), l.Catalog, l.Meta, l.Store)
	if err != nil {
		t.Fatal(err)
	}
	orphans, err := c2.RemoveOrphans(ctx, table.Identifier{"testdb", "r"}, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(orphans.Orphans) > 0 {
		t.Errorf("files no snapshot names: %v", orphans.Orphans)
	}
}

// TestIcebergDMLRefusesOtherTables: the parts of UPDATE, DELETE and MERGE
// DuckDB runs as written cannot read other tables (the binder authorizes
// MERGE's source only), nor carry a second statement.
func TestIcebergDMLRefusesOtherTables(t *testing.T) {
	l := newIcebergLake(t)
	ctx := context.Background()
	mustRun(t, l.Query, `CREATE TABLE testdb.s (id int, v string) LOCATION 's3://lake/ice/s/' TBLPROPERTIES ('table_type'='ICEBERG')`)
	mustRun(t, l.Query, `INSERT INTO testdb.s VALUES (1, 'a')`)
	for _, q := range []string{
		`UPDATE testdb.s SET v = 'x' WHERE id IN (SELECT id FROM warehouse.public.nosuch)`,
		`DELETE FROM testdb.s WHERE id IN (SELECT * FROM read_csv('/etc/passwd'))`,
		`DELETE FROM testdb.s WHERE id IN (SELECT 1) OR EXISTS (SELECT 1 FROM testdb.nosuch)`,
		`DELETE FROM testdb.s WHERE id = ANY(SELECT 1) OR id IN (PIVOT testdb.s ON v USING count(*))`,
		`DELETE FROM testdb.s WHERE id = 1; DROP TABLE testdb.s`,
		`UPDATE testdb.s SET v = 'x' WHERE id = 1) OR (true`,
		`MERGE INTO testdb.s t USING (SELECT 1 AS id) s ON t.id = (SELECT 1 FROM warehouse.x.y) WHEN MATCHED THEN DELETE`,
		`MERGE INTO testdb.s t USING (SELECT 1 AS id) s ON t.id = s.id JOIN testdb.s x ON true WHEN MATCHED THEN DELETE`,
		`MERGE INTO testdb.s t USING (SELECT 1 AS id) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = (TABLE testdb.s)`,
		`UPDATE testdb.s SET v = 'x' FROM testdb.s o WHERE o.id = s.id`,
		`DELETE FROM testdb.s USING testdb.s o WHERE o.id = s.id`,
	} {
		if _, _, err := l.Query.Run(ctx, q, "testdb"); err == nil {
			t.Errorf("%s: ran", q)
		}
	}
	wantRows(t, "unchanged", iceRows(t, l, "s"), "1|a")
	// A subquery in parentheses is bound as a SELECT of its own, with the
	// caller's rights.
	mustRun(t, l.Query, `INSERT INTO testdb.s VALUES (2, 'b'), (3, 'c')`)
	mustRun(t, l.Query, `CREATE TABLE testdb.gone WITH (table_type = 'ICEBERG') AS SELECT 2 AS id`)
	mustRun(t, l.Query, `DELETE FROM testdb.s WHERE id IN (SELECT id FROM testdb.gone) OR id = (SELECT max(id) FROM testdb.s)`)
	wantRows(t, "subquery delete", iceRows(t, l, "s"), "1|a")
	denyGone := func(action string, tg query.Target) error {
		if tg.Table == "gone" && action == "s3:GetObject" {
			return fmt.Errorf("%w: AccessDenied", query.ErrPermission)
		}
		return nil
	}
	_, err := l.Query.Execute(ctx, query.Request{SQL: `UPDATE testdb.s SET v = 'z' WHERE EXISTS (SELECT 1 FROM testdb.gone g WHERE g.id > s.id)`, Database: "testdb", Authorize: denyGone}, &query.Collect{})
	if !errors.Is(err, query.ErrPermission) {
		t.Errorf("a subquery over a denied table: %v", err)
	}
	mustRun(t, l.Query, `UPDATE testdb.s SET v = 'z' WHERE EXISTS (SELECT 1 FROM testdb.gone g WHERE g.id > s.id)`)
	wantRows(t, "correlated subquery", iceRows(t, l, "s"), "1|z")
	mustRun(t, l.Query, `UPDATE testdb.s SET v = 'a'`)
	// Functions and FROM inside them are fine.
	mustRun(t, l.Query, `UPDATE testdb.s SET v = v || CAST(EXTRACT(year FROM DATE '2025-01-02') AS VARCHAR) || substring('xyz' FROM 2 FOR 1) WHERE id = 1`)
	wantRows(t, "updated", iceRows(t, l, "s"), "1|a2025y")
}

// TestIcebergCancelledBeforeCommit: the statement's context ends after its
// files are written, just before it commits: nothing is committed and
// nothing it wrote is left.
func TestIcebergCancelledBeforeCommit(t *testing.T) {
	l := newIcebergLake(t)
	mustRun(t, l.Query, `CREATE TABLE testdb.k (id int, filename string) LOCATION 's3://lake/ice/k/' TBLPROPERTIES ('table_type'='ICEBERG')`)
	mustRun(t, l.Query, `INSERT INTO testdb.k VALUES (1, 'f1'), (2, 'f2')`)
	base := iceTable(t, l, "k").CurrentSnapshot().SnapshotID
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	query.SetIcebergBeforeCommit(func(string) { cancel() })
	defer query.SetIcebergBeforeCommit(nil)
	_, err := l.Query.Execute(ctx, query.Request{SQL: `UPDATE testdb.k SET filename = 'g' WHERE id = 1`, Database: "testdb"}, &query.Collect{})
	if err == nil {
		t.Fatal("a cancelled UPDATE succeeded")
	}
	if id := iceTable(t, l, "k").CurrentSnapshot().SnapshotID; id != base {
		t.Fatalf("snapshot %d, want %d", id, base)
	}
	wantRows(t, "unchanged", iceRows(t, l, "k"), "1|f1", "2|f2")
	c2, err := iceberg.New(iceberg.DefaultConfig(), l.Catalog, l.Meta, l.Store)
	if err != nil {
		t.Fatal(err)
	}
	orphans, err := c2.RemoveOrphans(context.Background(), table.Identifier{"testdb", "k"}, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(orphans.Orphans) > 0 {
		t.Errorf("left behind: %v", orphans.Orphans)
	}
	// A column named filename does not collide with tarn's own.
	query.SetIcebergBeforeCommit(nil)
	mustRun(t, l.Query, `UPDATE testdb.k SET filename = 'g' WHERE id = 1`)
	wantRows(t, "updated", iceRows(t, l, "k"), "1|g", "2|f2")
}

func TestIcebergConvertAndRefusals(t *testing.T) {
	l := newIcebergLake(t)
	ctx := context.Background()
	mustRun(t, l.Query, `CREATE TABLE testdb.h WITH (external_location = 's3://lake/hive/h/', format = 'parquet') AS SELECT range AS id, 'x' || range AS v FROM range(3)`)
	if _, _, err := l.Query.Run(ctx, `UPDATE testdb.h SET v = 'y'`, "testdb"); !errors.Is(err, query.ErrNeedsIceberg) {
		t.Fatalf("UPDATE of a Hive table: %v", err)
	}
	mustRun(t, l.Query, `ALTER TABLE testdb.h CONVERT TO ICEBERG`)
	mustRun(t, l.Query, `UPDATE testdb.h SET v = 'y' WHERE id = 1`)
	wantRows(t, "converted and updated", iceRows(t, l, "h"), "0|x0", "1|y", "2|x2")
	if _, _, err := l.Query.Run(ctx, `ALTER TABLE testdb.h CONVERT TO ICEBERG`, "testdb"); err == nil {
		t.Error("converted an Iceberg table again")
	}
	for _, q := range []string{
		`CREATE TABLE testdb.v3 (id int) TBLPROPERTIES ('table_type'='ICEBERG', 'format-version'='3')`,
		`CREATE TABLE testdb.orc (id int) TBLPROPERTIES ('table_type'='ICEBERG', 'format'='orc')`,
		`CREATE TABLE testdb.badp (id int) PARTITIONED BY (bucket(0, id)) TBLPROPERTIES ('table_type'='ICEBERG')`,
		`CREATE TABLE testdb.badp (id int) PARTITIONED BY (day(id)) TBLPROPERTIES ('table_type'='ICEBERG')`,
		`CREATE TABLE testdb.badp (id int) PARTITIONED BY (nosuch) TBLPROPERTIES ('table_type'='ICEBERG')`,
		`CREATE TABLE testdb.here (id int) LOCATION 's3://lake/hive/h/' TBLPROPERTIES ('table_type'='ICEBERG')`,
	} {
		if _, _, err := l.Query.Run(ctx, q, "testdb"); err == nil {
			t.Errorf("%s: ran", q)
		}
	}
	// A key without rights on the location cannot create a table there.
	authz := func(action string, tg query.Target) error {
		if action == "s3:PutObject" && strings.HasPrefix(tg.Location, "s3://lake/secret/") {
			return fmt.Errorf("%w: AccessDenied", query.ErrPermission)
		}
		return nil
	}
	_, err := l.Query.Execute(ctx, query.Request{SQL: `CREATE TABLE testdb.sec (id int) LOCATION 's3://lake/secret/t/' TBLPROPERTIES ('table_type'='ICEBERG')`, Database: "testdb", Authorize: authz}, &query.Collect{})
	if !errors.Is(err, query.ErrPermission) {
		t.Errorf("create in a denied location: %v", err)
	}
	if _, err := l.Catalog.GetTable(ctx, "testdb", "sec"); err == nil {
		t.Error("a denied CREATE made the table")
	}
}

// TestIcebergShowCreateRoundTrip: SHOW CREATE TABLE's DDL, run again under
// another name and location, makes a table of the same schema and spec.
func TestIcebergShowCreateRoundTrip(t *testing.T) {
	l := newIcebergLake(t)
	mustRun(t, l.Query, "CREATE TABLE testdb.src (`id` bigint COMMENT 'the key', ts timestamp, s string, m map<string,int>, st struct<a:int,b:array<string>>, d decimal(12,3), "+
		"tz timestamp(6) with time zone, u uuid, tm time) "+
		"PARTITIONED BY (month(ts), bucket(8, id), truncate(3, s)) LOCATION 's3://lake/ice/src/' "+
		"TBLPROPERTIES ('table_type'='ICEBERG', 'write_compression'='snappy', 'vacuum_min_snapshots_to_keep'='3')")
	mustRun(t, l.Query, `INSERT INTO testdb.src VALUES (1, TIMESTAMP '2025-03-04 05:06:07', 'abcd', MAP {'k': 1}, {'a': 2, 'b': ['x']}, 1.5,
		TIMESTAMPTZ '2025-03-04 05:06:07+00', 'f79c3e09-677c-4bbd-a479-3f349cb785e7', TIME '01:02:03')`)
	wantRows(t, "every type", queryRows(t, l, "SELECT id, CAST(tz AS VARCHAR), CAST(u AS VARCHAR), CAST(tm AS VARCHAR), st.b[1], m['k'] FROM testdb.src"),
		"1|2025-03-04 05:06:07+00|f79c3e09-677c-4bbd-a479-3f349cb785e7|01:02:03|x|1")
	c, _ := mustRun(t, l.Query, "SHOW CREATE TABLE testdb.src")
	ddl := fmt.Sprint(c.Rows[0][0])
	ddl = strings.Replace(ddl, "`src`", "`copy`", 1)
	ddl = strings.Replace(ddl, "s3://lake/ice/src", "s3://lake/ice/copy", 1)
	mustRun(t, l.Query, ddl)
	a, b := iceTable(t, l, "src"), iceTable(t, l, "copy")
	if !a.Schema().Equals(b.Schema()) {
		t.Errorf("schemas differ:\n%s\n%s", a.Schema(), b.Schema())
	}
	sa, sb := a.Spec(), b.Spec()
	if !sa.CompatibleWith(&sb) {
		t.Errorf("specs differ: %s vs %s", sa.String(), sb.String())
	}
	if b.Properties()["write.parquet.compression-codec"] != "snappy" || b.Properties()["vacuum_min_snapshots_to_keep"] != "3" {
		t.Errorf("properties: %v", b.Properties())
	}
}

// TestIcebergEnginesScript is the statements the engines' test rig runs
// through tarn (test/engines/test_tarn_sql.py): Athena's syntax, one
// snapshot per statement.
func TestIcebergEnginesScript(t *testing.T) {
	l := newIcebergLake(t)
	mustRun(t, l.Query, "CREATE TABLE testdb.events (id bigint, ts timestamp, v string) PARTITIONED BY (day(ts), bucket(4, id)) "+
		"LOCATION 's3://lake/warehouse/testdb/events' TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet')")
	mustRun(t, l.Query, "INSERT INTO testdb.events VALUES (1, TIMESTAMP '2025-01-01 10:00:00', 'a'), "+
		"(2, TIMESTAMP '2025-01-02 10:00:00', 'b'), (3, TIMESTAMP '2025-01-02 11:00:00', 'c')")
	mustRun(t, l.Query, "UPDATE testdb.events SET v = 'B' WHERE id = 2")
	mustRun(t, l.Query, "DELETE FROM testdb.events WHERE id = 1")
	mustRun(t, l.Query, "MERGE INTO testdb.events t USING (VALUES (3, TIMESTAMP '2025-01-02 11:00:00', 'C'), "+
		"(4, TIMESTAMP '2025-01-03 10:00:00', 'd')) AS s(id, ts, v) ON t.id = s.id "+
		"WHEN MATCHED THEN UPDATE SET v = s.v "+
		"WHEN NOT MATCHED THEN INSERT (id, ts, v) VALUES (s.id, s.ts, s.v)")
	wantRows(t, "read back", queryRows(t, l, "SELECT id, v FROM testdb.events"), "2|B", "3|C", "4|d")
	wantRows(t, "iceberg-go", iceRows(t, l, "events"), "2|2025-01-02T10:00:00|B", "3|2025-01-02T11:00:00|C", "4|2025-01-03T10:00:00|d")
	if n := snapshots(t, l, "events"); n != 4 {
		t.Errorf("%d snapshots, want 4", n)
	}
}

// TestIcebergRewritesOverPositionDeletes: another engine deleted rows with
// a position delete file (merge-on-read, here iceberg-go's); tarn's UPDATE
// reads the file's live rows only, and drops the delete file with the data
// file it applied to.
func TestIcebergRewritesOverPositionDeletes(t *testing.T) {
	l := newIcebergLake(t)
	ctx := context.Background()
	mustRun(t, l.Query, `CREATE TABLE testdb.p (id bigint, v string) LOCATION 's3://lake/ice/p/' TBLPROPERTIES ('table_type'='ICEBERG', 'write.delete.mode'='merge-on-read')`)
	mustRun(t, l.Query, `INSERT INTO testdb.p VALUES (1, 'a'), (2, 'b'), (3, 'c')`)
	mustRun(t, l.Query, `INSERT INTO testdb.p VALUES (4, 'd')`)
	tbl := iceTable(t, l, "p")
	txn := tbl.NewTransaction()
	if err := txn.Delete(ctx, iceberggo.EqualTo(iceberggo.Reference("id"), int64(2)), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := txn.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	deletes := func() int {
		tasks, err := iceTable(t, l, "p").Scan().PlanFiles(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, task := range tasks {
			n += len(task.DeleteFiles)
		}
		return n
	}
	if deletes() == 0 {
		t.Fatal("iceberg-go wrote no position delete file")
	}
	wantRows(t, "after the engine's delete", queryRows(t, l, "SELECT id, v FROM testdb.p"), "1|a", "3|c", "4|d")
	mustRun(t, l.Query, `UPDATE testdb.p SET v = upper(v) WHERE id = 3`)
	wantRows(t, "after UPDATE", iceRows(t, l, "p"), "1|a", "3|C", "4|d")
	wantRows(t, "after UPDATE (tarn)", queryRows(t, l, "SELECT id, v FROM testdb.p"), "1|a", "3|C", "4|d")
	if n := deletes(); n != 0 {
		t.Errorf("%d delete files left applying to replaced files", n)
	}
}

// TestIcebergPruning: UPDATE, DELETE and MERGE read only the files their
// condition (or MERGE's source keys) can touch, and still touch every row
// they must (constants of other types, ranges at the edges).
func TestIcebergPruning(t *testing.T) {
	l := newIcebergLake(t)
	mustRun(t, l.Query, `CREATE TABLE testdb.pr (id bigint, d date, v string) PARTITIONED BY (month(d)) LOCATION 's3://lake/ice/pr/' TBLPROPERTIES ('table_type'='ICEBERG')`)
	for i := range 4 {
		mustRun(t, l.Query, fmt.Sprintf(`INSERT INTO testdb.pr SELECT %d * 10 + range, DATE '2025-01-15' + INTERVAL (%d) MONTH, 'v' FROM range(10)`, i, i))
	}
	files := func(q string) int {
		t.Helper()
		_, ex := mustRun(t, l.Query, q)
		return ex.Stats.FilesScanned
	}
	count := func(q string) string {
		t.Helper()
		return strings.Join(queryRows(t, l, q), ",")
	}
	if n := files(`UPDATE testdb.pr SET v = 'a' WHERE d >= DATE '2025-03-01'`); n != 2 {
		t.Errorf("UPDATE on two months read %d files", n)
	}
	if got := count(`SELECT count(*) FROM testdb.pr WHERE v = 'a'`); got != "20" {
		t.Errorf("updated %s rows, want 20", got)
	}
	// 9.5 is no bigint: the filter must not round it (id > 9.5 is id >= 10).
	if n := files(`UPDATE testdb.pr SET v = 'b' WHERE id > 9.5 AND id < 11`); n != 2 {
		t.Errorf("a non-exact constant pruned (%d files read)", n)
	}
	if got := count(`SELECT id FROM testdb.pr WHERE v = 'b'`); got != "10" {
		t.Errorf("updated ids %s, want 10", got)
	}
	if n := files(`UPDATE testdb.pr SET v = 'c' WHERE id BETWEEN 20 AND 22 OR false`); n != 4 {
		t.Errorf("an OR pruned (%d files)", n)
	}
	if n := files(`DELETE FROM testdb.pr WHERE id IN (11, 13) AND d = DATE '2025-02-15'`); n != 1 {
		t.Errorf("IN and = read %d files, want 1", n)
	}
	if got := count(`SELECT count(*) FROM testdb.pr`); got != "38" {
		t.Errorf("%s rows after deleting 2", got)
	}
	if got := count(`SELECT count(*) FROM testdb.pr WHERE v = 'c'`); got != "3" {
		t.Errorf("%s rows after deleting 2", got)
	}
	// MERGE: the source's keys span 12..15, in one file; key 99 is new.
	if n := files(`MERGE INTO testdb.pr t USING (SELECT * FROM (VALUES (12), (15))) s(id) ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = 'm'`); n != 1 {
		t.Errorf("MERGE of keys 12..15 read %d files, want 1", n)
	}
	mustRun(t, l.Query, `MERGE INTO testdb.pr t USING (SELECT * FROM (VALUES (CAST(14 AS INTEGER)), (99))) s(id) ON t.id = s.id
		WHEN MATCHED THEN UPDATE SET v = 'n' WHEN NOT MATCHED THEN INSERT VALUES (s.id, DATE '2025-01-01', 'new')`)
	if got := count(`SELECT id, v FROM testdb.pr WHERE v IN ('m', 'n', 'new')`); got != "12|m,14|n,15|m,99|new" {
		t.Errorf("after MERGEs: %s", got)
	}
	// A file holding only id 1000: id > 999.5 must reach it (rounding
	// 999.5 to 1000 would rule the file out).
	mustRun(t, l.Query, `INSERT INTO testdb.pr VALUES (1000, DATE '2025-01-15', 'x')`)
	mustRun(t, l.Query, `UPDATE testdb.pr SET v = 'y' WHERE id > 999.5`)
	if got := count(`SELECT v FROM testdb.pr WHERE id = 1000`); got != "y" {
		t.Errorf("id > 999.5 missed id 1000 (v %s)", got)
	}
	mustRun(t, l.Query, `UPDATE testdb.pr SET v = 'z' WHERE id >= CAST('1000' AS BIGINT) AND d = '2025-01-15'`)
	if got := count(`SELECT v FROM testdb.pr WHERE id = 1000`); got != "z" {
		t.Errorf("id 1000 has v %s, want z", got)
	}
}

// TestIcebergMergeOnReadDelete: with write.delete.mode=merge-on-read a
// DELETE writes position delete files (no data file rewritten) that
// iceberg-go's reader and tarn's apply; a later UPDATE rewrites over them
// and drops them, OPTIMIZE folds them in.
func TestIcebergMergeOnReadDelete(t *testing.T) {
	l := newIcebergLake(t)
	ctx := context.Background()
	mustRun(t, l.Query, `CREATE TABLE testdb.mor (id bigint, d date, v string) PARTITIONED BY (d) LOCATION 's3://lake/ice/mor/'
		TBLPROPERTIES ('table_type'='ICEBERG', 'write.delete.mode'='merge-on-read')`)
	mustRun(t, l.Query, `INSERT INTO testdb.mor SELECT range, DATE '2025-01-01' + CAST(range % 3 AS INTEGER), 'v' || range FROM range(9)`)
	dataFiles := func() (data, deletes int) {
		tasks, err := iceTable(t, l, "mor").Scan().PlanFiles(ctx)
		if err != nil {
			t.Fatal(err)
		}
		del := map[string]bool{}
		for _, task := range tasks {
			for _, d := range task.DeleteFiles {
				del[d.FilePath()] = true
			}
		}
		return len(tasks), len(del)
	}
	before, _ := dataFiles()
	c, _ := mustRun(t, l.Query, `DELETE FROM testdb.mor WHERE id IN (1, 2, 4) OR v = 'v8'`)
	if c.Rows[0][0] != int64(4) {
		t.Errorf("DELETE says %v rows", c.Rows[0][0])
	}
	data, deletes := dataFiles()
	if data != before || deletes != 2 {
		t.Errorf("after a merge-on-read DELETE: %d data files (were %d), %d delete files (want one per partition touched: 2)", data, before, deletes)
	}
	want := []string{"0|2025-01-01|v0", "3|2025-01-01|v3", "5|2025-01-03|v5", "6|2025-01-01|v6", "7|2025-01-02|v7"}
	wantRows(t, "iceberg-go", iceRows(t, l, "mor"), want...)
	wantRows(t, "tarn", queryRows(t, l, "SELECT id, d, v FROM testdb.mor"), "0|2025-01-01 00:00:00 +0000 UTC|v0", "3|2025-01-01 00:00:00 +0000 UTC|v3",
		"5|2025-01-03 00:00:00 +0000 UTC|v5", "6|2025-01-01 00:00:00 +0000 UTC|v6", "7|2025-01-02 00:00:00 +0000 UTC|v7")
	mustRun(t, l.Query, `DELETE FROM testdb.mor WHERE id = 3`)
	mustRun(t, l.Query, `UPDATE testdb.mor SET v = upper(v) WHERE d = DATE '2025-01-02'`)
	wantRows(t, "after UPDATE", iceRows(t, l, "mor"), "0|2025-01-01|v0", "5|2025-01-03|v5", "6|2025-01-01|v6", "7|2025-01-02|V7")
	if _, deletes := dataFiles(); deletes != 2 {
		t.Errorf("%d delete files after the UPDATE rewrote one partition, want 2", deletes)
	}
	mustRun(t, l.Query, `OPTIMIZE testdb.mor REWRITE DATA USING BIN_PACK`)
	if _, deletes := dataFiles(); deletes != 0 {
		t.Errorf("%d delete files after OPTIMIZE", deletes)
	}
	wantRows(t, "after OPTIMIZE", iceRows(t, l, "mor"), "0|2025-01-01|v0", "5|2025-01-03|v5", "6|2025-01-01|v6", "7|2025-01-02|V7")
}

// TestIcebergScanCutoff: a workgroup's bytes-scanned cutoff holds for what
// UPDATE reads of its target, and the statement then changes nothing.
func TestIcebergScanCutoff(t *testing.T) {
	l := newIcebergLake(t)
	ctx := context.Background()
	mustRun(t, l.Query, `CREATE TABLE testdb.cut WITH (table_type='ICEBERG', location='s3://lake/ice/cut/') AS SELECT range AS id FROM range(1000)`)
	if err := l.Query.CreateWorkgroup(ctx, query.Workgroup{Name: "tight", BytesScannedCutoff: 10}); err != nil {
		t.Fatal(err)
	}
	_, err := l.Query.Execute(ctx, query.Request{SQL: `UPDATE testdb.cut SET id = id + 1`, Database: "testdb", Workgroup: "tight"}, &query.Collect{})
	if !errors.Is(err, query.ErrScanLimit) {
		t.Fatalf("UPDATE over the cutoff: %v", err)
	}
	if n := snapshots(t, l, "cut"); n != 1 {
		t.Errorf("%d snapshots", n)
	}
}

// TestIcebergRewritesOverEqualityDeletes: another engine deleted rows by
// key with an equality delete file; tarn's UPDATE and MERGE read the live
// rows only, keep the deleted rows deleted, and keep the delete file while
// a data file it applies to remains.
func TestIcebergRewritesOverEqualityDeletes(t *testing.T) {
	l := newIcebergLake(t)
	ctx := context.Background()
	mustRun(t, l.Query, `CREATE TABLE testdb.eq (id bigint, v string) LOCATION 's3://lake/ice/eq/' TBLPROPERTIES ('table_type'='ICEBERG')`)
	mustRun(t, l.Query, `INSERT INTO testdb.eq VALUES (1, 'a'), (2, 'b'), (3, 'c')`)
	mustRun(t, l.Query, `INSERT INTO testdb.eq VALUES (4, 'd'), (2, 'b2')`)
	tbl := iceTable(t, l, "eq")
	sc := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true,
		Metadata: arrow.NewMetadata([]string{"PARQUET:field_id"}, []string{"1"})}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	b.Field(0).(*array.Int64Builder).Append(2)
	rec := b.NewRecordBatch()
	defer rec.Release()
	txn := tbl.NewTransaction()
	records := func(yield func(arrow.RecordBatch, error) bool) { yield(rec, nil) }
	if err := txn.CommitEqualityDeletes(ctx, []int{1}, records, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := txn.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wantRows(t, "after the engine's delete", iceRows(t, l, "eq"), "1|a", "3|c", "4|d")
	wantRows(t, "tarn reads it", queryRows(t, l, "SELECT id, v FROM testdb.eq"), "1|a", "3|c", "4|d")
	mustRun(t, l.Query, `UPDATE testdb.eq SET v = upper(v) WHERE id = 1`)
	wantRows(t, "after UPDATE", iceRows(t, l, "eq"), "1|A", "3|c", "4|d")
	mustRun(t, l.Query, `MERGE INTO testdb.eq t USING (SELECT 4 AS id, 'D' AS v UNION ALL SELECT 2, 'new') s ON t.id = s.id
		WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v)`)
	wantRows(t, "after MERGE", iceRows(t, l, "eq"), "1|A", "2|new", "3|c", "4|D")
	wantRows(t, "tarn after MERGE", queryRows(t, l, "SELECT id, v FROM testdb.eq"), "1|A", "2|new", "3|c", "4|D")
}

// TestIcebergMergeOnReadUpdateMerge: with write.update.mode and
// write.merge.mode merge-on-read, UPDATE and MERGE rewrite no data file:
// the rows they change get position deletes and their new versions (and
// MERGE's inserts) new data files, in one snapshot each.
func TestIcebergMergeOnReadUpdateMerge(t *testing.T) {
	l := newIcebergLake(t)
	ctx := context.Background()
	mustRun(t, l.Query, `CREATE TABLE testdb.mr (id bigint, k string, v int) PARTITIONED BY (k) LOCATION 's3://lake/ice/mr/'
		TBLPROPERTIES ('table_type'='ICEBERG', 'write.update.mode'='merge-on-read', 'write.merge.mode'='merge-on-read', 'write.delete.mode'='merge-on-read')`)
	mustRun(t, l.Query, `INSERT INTO testdb.mr SELECT range, CASE WHEN range < 50 THEN 'a' ELSE 'b' END, 0 FROM range(100)`)
	files := func() map[string]bool {
		tasks, err := iceTable(t, l, "mr").Scan().PlanFiles(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, task := range tasks {
			out[task.File.FilePath()] = true
		}
		return out
	}
	before := files()
	c, _ := mustRun(t, l.Query, `UPDATE testdb.mr SET v = v + 1 WHERE id IN (3, 60)`)
	if c.Rows[0][0] != int64(2) {
		t.Errorf("UPDATE says %v", c.Rows)
	}
	after := files()
	for f := range before {
		if !after[f] {
			t.Errorf("merge-on-read UPDATE rewrote %s", f)
		}
	}
	if len(after) != len(before)+2 {
		t.Errorf("%d data files after the UPDATE, want %d (one per partition for the new versions)", len(after), len(before)+2)
	}
	c, _ = mustRun(t, l.Query, `MERGE INTO testdb.mr t USING (SELECT * FROM (VALUES (3, 10), (4, -1), (200, 7))) s(id, nv) ON t.id = s.id
		WHEN MATCHED AND s.nv < 0 THEN DELETE
		WHEN MATCHED THEN UPDATE SET v = s.nv, k = 'c'
		WHEN NOT MATCHED THEN INSERT VALUES (s.id, 'a', s.nv)`)
	if c.Rows[0][0] != int64(3) {
		t.Errorf("MERGE says %v", c.Rows)
	}
	// A row updated twice (its first new version updated in place too).
	mustRun(t, l.Query, `UPDATE testdb.mr SET v = v * 100 WHERE id = 60`)
	want := map[int]string{}
	for i := range 100 {
		k := "a"
		if i >= 50 {
			k = "b"
		}
		want[i] = fmt.Sprintf("%d|%s|0", i, k)
	}
	want[3] = "3|c|10"
	delete(want, 4)
	want[60] = "60|b|100"
	want[200] = "200|a|7"
	var wl []string
	for _, r := range want {
		wl = append(wl, r)
	}
	wantRows(t, "iceberg-go", iceRows(t, l, "mr"), wl...)
	wantRows(t, "tarn", queryRows(t, l, "SELECT id, k, v FROM testdb.mr"), wl...)
	if n := snapshots(t, l, "mr"); n != 4 {
		t.Errorf("%d snapshots, want 4", n)
	}
	mustRun(t, l.Query, `OPTIMIZE testdb.mr REWRITE DATA USING BIN_PACK`)
	wantRows(t, "after OPTIMIZE", iceRows(t, l, "mr"), wl...)
}
