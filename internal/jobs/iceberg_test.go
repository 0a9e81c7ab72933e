package jobs_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/iceberg-go/table"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/iceberg"
	"github.com/tarn-lake/tarn/internal/jobs"
)

// newIcebergEnv is newEnv with the Iceberg table cur.sales (id, amount,
// region), partitioned by region.
func newIcebergEnv(t *testing.T) *env {
	return newIcebergEnvIn(t, t.TempDir())
}

func newIcebergEnvIn(t *testing.T, dir string) *env {
	e := newEnvIn(t, dir)
	e.sql("CREATE DATABASE cur")
	e.sql(`CREATE TABLE cur.sales (id bigint, amount double, region string) PARTITIONED BY (region)
		LOCATION 's3://lake/ice/sales/' TBLPROPERTIES ('table_type'='ICEBERG')`)
	return e
}

// rows returns a query's rows as "v1|v2" lines joined by ", ".
func (e *env) rows(q string) string {
	e.t.Helper()
	var out []string
	for _, r := range e.sql(q) {
		var vs []string
		for _, v := range r {
			if v == nil {
				vs = append(vs, "NULL")
			} else {
				vs = append(vs, fmt.Sprint(v))
			}
		}
		out = append(out, strings.Join(vs, "|"))
	}
	return strings.Join(out, ", ")
}

// snapshots returns cur.sales's snapshots, oldest first, read with
// iceberg-go.
func (e *env) snapshots() []table.Snapshot {
	e.t.Helper()
	c, err := iceberg.New(iceberg.DefaultConfig(), e.l.Catalog, e.l.Meta, e.l.Store)
	if err != nil {
		e.t.Fatal(err)
	}
	tbl, err := c.Table(e.ctx, "cur", "sales")
	if err != nil {
		e.t.Fatal(err)
	}
	return tbl.Metadata().Snapshots()
}

const salesRows = "SELECT id, amount, region FROM cur.sales ORDER BY id"

func TestIcebergAppendWithBookmarks(t *testing.T) {
	e := newIcebergEnv(t)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n2,20,South,2025-01-02\n")
	e.create(jobs.Spec{Name: "ice", SQL: "SELECT id, amount, region FROM raw_db.sales", Target: "iceberg://cur.sales", Bookmarks: true})
	r1 := e.start("ice", nil)
	if r1.Stats.RowsRead != 2 || r1.Stats.RowsWritten != 2 || r1.Stats.FilesWritten != 2 || r1.Stats.BytesWritten == 0 || r1.Stats.SnapshotID == 0 || r1.Stats.FilesRead != 1 {
		t.Fatalf("run 1: %+v", r1.Stats)
	}
	if got := e.rows(salesRows); got != "1|10|North, 2|20|South" {
		t.Fatalf("after run 1: %s", got)
	}
	// The snapshot names the run.
	snaps := e.snapshots()
	if last := snaps[len(snaps)-1]; last.SnapshotID != r1.Stats.SnapshotID || last.Summary.Properties["tarn.job-run-id"] != r1.ID {
		t.Errorf("snapshot %d %v, want %d naming %s", last.SnapshotID, last.Summary, r1.Stats.SnapshotID, r1.ID)
	}
	// Nothing new: nothing read, no snapshot.
	r2 := e.start("ice", nil)
	if r2.Stats.FilesRead != 0 || r2.Stats.RowsWritten != 0 || r2.Stats.SnapshotID != 0 {
		t.Errorf("run 2: %+v", r2.Stats)
	}
	e.put("raw/sales/b.csv", "id,amount,region,day\n3,30,North,2025-01-03\n")
	r3 := e.start("ice", nil)
	if r3.Stats.FilesRead != 1 || r3.Stats.RowsWritten != 1 {
		t.Errorf("run 3: %+v", r3.Stats)
	}
	if got := e.rows(salesRows); got != "1|10|North, 2|20|South, 3|30|North" {
		t.Fatalf("after run 3: %s", got)
	}
	if n := len(e.snapshots()); n != 2 {
		t.Errorf("%d snapshots, want 2 (one per run that wrote)", n)
	}
	marks, err := e.l.Jobs.Bookmarks(e.ctx, "ice")
	if err != nil || len(marks) != 2 {
		t.Errorf("bookmarks %v %v", marks, err)
	}
}

func TestIcebergOverwriteModes(t *testing.T) {
	e := newIcebergEnv(t)
	e.sql(`INSERT INTO cur.sales VALUES (1, 1, 'North'), (2, 2, 'South'), (3, 3, 'East')`)
	e.put("raw/sales/a.csv", "id,amount,region,day\n10,100,North,2025-01-01\n11,110,West,2025-01-02\n")

	e.create(jobs.Spec{Name: "parts", SQL: "SELECT id, amount, region FROM raw_db.sales", Target: "iceberg://cur.sales", Mode: jobs.ModeOverwritePartitions})
	r := e.start("parts", nil)
	// North replaced, West new; South and East stay.
	if got := e.rows(salesRows); got != "2|2|South, 3|3|East, 10|100|North, 11|110|West" {
		t.Fatalf("after overwrite-partitions: %s", got)
	}
	if strings.Join(r.Stats.Partitions, ",") != "region=North,region=West" || r.Stats.SnapshotID == 0 {
		t.Errorf("stats %+v", r.Stats)
	}
	if snaps := e.snapshots(); snaps[len(snaps)-1].Summary.Operation != table.OpOverwrite {
		t.Errorf("operation %v", snaps[len(snaps)-1].Summary)
	}

	e.create(jobs.Spec{Name: "all", SQL: "SELECT id, amount, region FROM raw_db.sales WHERE id = 11", Target: "iceberg://cur.sales", Mode: jobs.ModeOverwrite})
	e.start("all", nil)
	if got := e.rows(salesRows); got != "11|110|West" {
		t.Fatalf("after overwrite: %s", got)
	}
	before := len(e.snapshots())
	// An empty output overwrites everything with nothing: one snapshot.
	e.create(jobs.Spec{Name: "none", SQL: "SELECT id, amount, region FROM raw_db.sales WHERE id < 0", Target: "iceberg://cur.sales", Mode: jobs.ModeOverwrite})
	e.start("none", nil)
	if got := e.one("SELECT count(*) FROM cur.sales"); got != "0" {
		t.Fatalf("after empty overwrite: %s rows", got)
	}
	if after := len(e.snapshots()); after != before+1 {
		t.Error("the empty overwrite made no snapshot")
	}
}

func TestIcebergMerge(t *testing.T) {
	e := newIcebergEnv(t)
	e.sql(`INSERT INTO cur.sales VALUES (1, 1, 'North'), (2, 2, 'South'), (3, 3, 'North')`)
	e.put("raw/sales/a.csv", "id,amount,region,day\n2,20,South,2025-01-01\n3,30,West,2025-01-02\n4,40,East,2025-01-02\n")
	// Output columns by name, in another order than the table's.
	e.create(jobs.Spec{Name: "up", SQL: "SELECT region, id, amount FROM raw_db.sales", Target: "iceberg://cur.sales", Mode: jobs.ModeMerge,
		MergeKey: []string{"id"}, Bookmarks: true})
	r := e.start("up", nil)
	if got := e.rows(salesRows); got != "1|1|North, 2|20|South, 3|30|West, 4|40|East" {
		t.Fatalf("after merge: %s", got)
	}
	if r.Stats.RowsWritten != 3 || r.Stats.RowsUpdated != 2 || r.Stats.SnapshotID == 0 {
		t.Errorf("stats %+v", r.Stats)
	}
	// Bookmarked: a second run reads only the new file.
	e.put("raw/sales/b.csv", "id,amount,region,day\n1,11,North,2025-01-03\n")
	r2 := e.start("up", nil)
	if r2.Stats.FilesRead != 1 || r2.Stats.RowsUpdated != 1 {
		t.Errorf("run 2 %+v", r2.Stats)
	}
	if got := e.rows(salesRows); got != "1|11|North, 2|20|South, 3|30|West, 4|40|East" {
		t.Fatalf("after merge 2: %s", got)
	}
	// A key twice in the output fails the run; the table is unchanged.
	e.put("raw/sales/c.csv", "id,amount,region,day\n5,1,North,2025-01-03\n5,2,North,2025-01-03\n")
	_, err := e.l.Jobs.Start(e.ctx, "up", jobs.StartOptions{})
	if !errors.Is(err, jobs.ErrInvalidJobSQL) || !strings.Contains(err.Error(), "not unique") {
		t.Fatalf("duplicate keys: %v", err)
	}
	if got := e.rows(salesRows); got != "1|11|North, 2|20|South, 3|30|West, 4|40|East" {
		t.Fatalf("after the failed merge: %s", got)
	}
	if marks, _ := e.l.Jobs.Bookmarks(e.ctx, "up"); len(marks) != 2 {
		t.Errorf("the failed run moved the bookmark: %v", marks)
	}
}

func TestIcebergFailedRunLeavesTableUnchanged(t *testing.T) {
	e := newIcebergEnv(t)
	e.sql(`INSERT INTO cur.sales VALUES (1, 1, 'North')`)
	e.put("raw/sales/a.csv", "id,amount,region,day\n2,20,South,2025-01-01\n")
	// A runtime error in the SQL, after the job was created.
	e.create(jobs.Spec{Name: "bad", SQL: "SELECT id, amount / (CASE WHEN id = 2 THEN error('boom') ELSE 1 END) AS amount, region FROM raw_db.sales",
		Target: "iceberg://cur.sales", Mode: jobs.ModeOverwrite, Bookmarks: true})
	run, err := e.l.Jobs.Start(e.ctx, "bad", jobs.StartOptions{})
	if err == nil || run.State != jobs.StateFailed || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("run %+v: %v", run, err)
	}
	if got := e.rows(salesRows); got != "1|1|North" {
		t.Fatalf("after the failed run: %s", got)
	}
	if n := len(e.snapshots()); n != 1 {
		t.Errorf("%d snapshots", n)
	}
	if marks, _ := e.l.Jobs.Bookmarks(e.ctx, "bad"); len(marks) != 0 {
		t.Errorf("bookmark moved: %v", marks)
	}
}

// icePolicy may read raw_db.sales and write cur.sales.
const icePolicy = `{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["glue:*Job*"], "Resource": "*"},
  {"Effect": "Allow", "Action": "glue:GetTable", "Resource": ["arn:aws:glue:*:*:table/raw_db/sales", "arn:aws:glue:*:*:table/cur/sales"]},
  {"Effect": "Allow", "Action": "s3:GetObject", "Resource": ["arn:aws:s3:::lake/raw/sales/*", "arn:aws:s3:::lake/ice/sales*"]},
  {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/ice/sales*"},
  {"Effect": "Allow", "Action": "glue:UpdateTable", "Resource": "arn:aws:glue:*:*:table/cur/sales"}
]}`

func TestIcebergJobIdentity(t *testing.T) {
	e := newIcebergEnv(t)
	e.sql(`INSERT INTO cur.sales VALUES (1, 1, 'North')`)
	e.put("raw/sales/a.csv", "id,amount,region,day\n2,20,South,2025-01-01\n")
	noUpdate := strings.Replace(icePolicy, `"glue:UpdateTable"`, `"glue:GetPartitions"`, 1)
	weak := e.key("weak", noUpdate)
	err := e.l.Jobs.CreateBy(e.ctx, jobs.Spec{Name: "w", SQL: "SELECT id, amount, region FROM raw_db.sales", Target: "iceberg://cur.sales"}, &weak)
	if !errors.Is(err, auth.ErrAccessDenied) || !strings.Contains(err.Error(), "glue:UpdateTable") {
		t.Fatalf("create without glue:UpdateTable: %v", err)
	}
	// A key allowed at create, whose policy then loses glue:UpdateTable.
	k := e.key("ok", icePolicy)
	if err := e.l.Jobs.CreateBy(e.ctx, jobs.Spec{Name: "k", SQL: "SELECT id, amount, region FROM raw_db.sales", Target: "iceberg://cur.sales", Bookmarks: true}, &k); err != nil {
		t.Fatal(err)
	}
	p, err := auth.ParsePolicy([]byte(noUpdate))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.l.Auth.SetPolicy(e.ctx, k.AccessKeyID, p); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.Jobs.Start(e.ctx, "k", jobs.StartOptions{}); !errors.Is(err, auth.ErrAccessDenied) {
		t.Fatalf("run without glue:UpdateTable: %v", err)
	}
	if got := e.rows(salesRows); got != "1|1|North" {
		t.Fatalf("after the refused run: %s", got)
	}
	if marks, _ := e.l.Jobs.Bookmarks(e.ctx, "k"); len(marks) != 0 {
		t.Errorf("bookmark moved: %v", marks)
	}
}

func TestIcebergTargetChecks(t *testing.T) {
	e := newIcebergEnv(t)
	e.sql(`CREATE EXTERNAL TABLE raw_db.hive (id bigint) LOCATION 's3://lake/raw/hive/'`)
	for _, c := range []struct {
		spec jobs.Spec
		want error
		msg  string
	}{
		{jobs.Spec{Name: "a", SQL: "SELECT id, amount, region FROM raw_db.sales", Target: "iceberg://cur.missing"}, jobs.ErrInvalidTarget, "cur.missing"},
		{jobs.Spec{Name: "b", SQL: "SELECT id FROM raw_db.sales", Target: "iceberg://raw_db.hive"}, jobs.ErrInvalidTarget, "not an Iceberg table"},
		{jobs.Spec{Name: "s3", SQL: "SELECT id, amount, region FROM raw_db.sales", Target: "s3://lake/ice/sales/", Table: "cur.sales"}, jobs.ErrInvalidTarget, "write it with target: iceberg://cur.sales"},
		{jobs.Spec{Name: "c", SQL: "SELECT id, amount AS price FROM raw_db.sales", Target: "iceberg://cur.sales"}, jobs.ErrInvalidTarget, `no column "price"`},
		{jobs.Spec{Name: "d", SQL: "SELECT id AS code, amount FROM raw_db.sales", Target: "iceberg://cur.sales", Mode: jobs.ModeMerge, MergeKey: []string{"id"}},
			jobs.ErrInvalidTarget, `no column "code"`},
		{jobs.Spec{Name: "e", SQL: "SELECT amount, region FROM raw_db.sales", Target: "iceberg://cur.sales", Mode: jobs.ModeMerge, MergeKey: []string{"id"}},
			jobs.ErrInvalidSpec, `merge_key[0]: the SQL has no column "id"`},
		{jobs.Spec{Name: "f", SQL: "SELECT id, amount FROM raw_db.sales", Target: "iceberg://cur.sales", Mode: jobs.ModeMerge, MergeKey: []string{`id" = 1 OR 1=1; DROP TABLE cur.sales; --`}},
			jobs.ErrInvalidSpec, `merge_key[0]: the SQL has no column "id\" = 1 OR 1=1; DROP TABLE cur.sales; --"`},
	} {
		err := e.l.Jobs.Create(e.ctx, c.spec)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %v with %q", c.spec.Name, err, c.want, c.msg)
		}
	}
}

// TestIcebergOverwriteHiddenPartitions: with hidden partitioning the
// partitions replaced are the output rows' partition tuples under the
// table's spec (day(ts), bucket(1, id)), not values of output columns.
func TestIcebergOverwriteHiddenPartitions(t *testing.T) {
	e := newEnv(t)
	e.sql("CREATE DATABASE cur")
	e.sql(`CREATE TABLE cur.ev (id bigint, ts timestamp, v string) PARTITIONED BY (day(ts), bucket(1, id))
		LOCATION 's3://lake/ice/ev/' TBLPROPERTIES ('table_type'='ICEBERG')`)
	var vals []string
	for id := 1; id <= 3; id++ {
		for _, d := range []string{"2025-01-01", "2025-01-02", "2025-01-03"} {
			vals = append(vals, fmt.Sprintf("(%d, TIMESTAMP '%s 10:00:00', 'old')", id, d))
		}
	}
	e.sql("INSERT INTO cur.ev VALUES " + strings.Join(vals, ", "))
	// New rows on days 1 and 3 at another hour: those days are replaced
	// whole, whichever ids they held; day 2 stays.
	e.put("raw/sales/a.csv", "id,amount,region,day\n7,1,x,2025-01-01\n8,1,x,2025-01-03\n")
	e.create(jobs.Spec{Name: "p", SQL: "SELECT id, day::TIMESTAMP + INTERVAL 5 HOUR AS ts, 'new' AS v FROM raw_db.sales",
		Target: "iceberg://cur.ev", Mode: jobs.ModeOverwritePartitions})
	r := e.start("p", nil)
	if r.Stats.RowsWritten != 2 || len(r.Stats.Partitions) != 2 {
		t.Fatalf("stats %+v", r.Stats)
	}
	got := e.rows(`SELECT ts::DATE, id, v FROM cur.ev ORDER BY ts, id`)
	want := "2025-01-01 00:00:00 +0000 UTC|7|new, 2025-01-02 00:00:00 +0000 UTC|1|old, 2025-01-02 00:00:00 +0000 UTC|2|old, 2025-01-02 00:00:00 +0000 UTC|3|old, 2025-01-03 00:00:00 +0000 UTC|8|new"
	if got != want {
		t.Errorf("rows:\n got %s\nwant %s", got, want)
	}
}

// TestIcebergMergeRaces: a writer that commits between a merge's read of
// the table and its commit makes the commit fail and run again on the new
// state: the key it inserted is updated, not duplicated.
func TestIcebergMergeRaces(t *testing.T) {
	e := newIcebergEnv(t)
	e.sql(`INSERT INTO cur.sales VALUES (1, 1, 'North')`)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n2,20,South,2025-01-02\n")
	e.create(jobs.Spec{Name: "up", SQL: "SELECT id, amount, region FROM raw_db.sales", Target: "iceberg://cur.sales", Mode: jobs.ModeMerge, MergeKey: []string{"id"}})
	calls := 0
	defer jobs.SetBeforeIcebergCommit(func(string) {
		if calls++; calls == 1 {
			e.sql(`INSERT INTO cur.sales VALUES (2, 2, 'South')`)
		}
	})()
	r := e.start("up", nil)
	if calls != 2 {
		t.Errorf("%d commits, want 2 (one lost the race)", calls)
	}
	if got := e.rows(salesRows); got != "1|10|North, 2|20|South" {
		t.Fatalf("after the raced merge: %s", got)
	}
	if r.Stats.RowsUpdated != 2 {
		t.Errorf("stats %+v", r.Stats)
	}
}

// TestIcebergMergePrunes: a merge reads only the data files whose key
// bounds can hold an output key, and a key of another type than the
// table's (text '10' for a bigint) is compared as the table's type.
func TestIcebergMergePrunes(t *testing.T) {
	e := newIcebergEnv(t)
	for i := 1; i <= 4; i++ {
		e.sql(fmt.Sprintf(`INSERT INTO cur.sales VALUES (%d, %d, 'North')`, i*10, i))
	}
	e.put("raw/sales/a.csv", "id,amount,region,day\n10,100,North,2025-01-01\n9,90,North,2025-01-02\n")
	e.create(jobs.Spec{Name: "up", SQL: "SELECT CAST(id AS VARCHAR) AS id, amount, region FROM raw_db.sales", Target: "iceberg://cur.sales",
		Mode: jobs.ModeMerge, MergeKey: []string{"id"}})
	r := e.start("up", nil)
	if got := e.rows(salesRows); got != "9|90|North, 10|100|North, 20|2|North, 30|3|North, 40|4|North" {
		t.Fatalf("after merge: %s", got)
	}
	if r.Stats.RowsUpdated != 1 {
		t.Errorf("stats %+v", r.Stats)
	}
	var pruned bool
	for _, l := range r.Log {
		pruned = pruned || strings.Contains(l, "merge reads 1 of the 4 data files")
	}
	if !pruned {
		t.Errorf("log: %s", strings.Join(r.Log, "\n"))
	}
}

// TestIcebergRejectedRows: rows that do not parse go to the dead letters
// next to their source (not below the Iceberg table), counted; max_rejected
// fails the run before anything is committed.
func TestIcebergRejectedRows(t *testing.T) {
	e := newIcebergEnv(t)
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\nnot-a-number,20,South,2025-01-02\n")
	e.create(jobs.Spec{Name: "rej", SQL: "SELECT id, amount, region FROM raw_db.sales", Target: "iceberg://cur.sales"})
	r := e.start("rej", nil)
	if r.Stats.RowsRead != 2 || r.Stats.RowsWritten != 1 || r.Stats.RowsRejected != 1 || !strings.HasPrefix(r.Stats.RejectedURI, "s3://lake/raw/sales/_rejected/"+r.ID) {
		t.Fatalf("stats %+v", r.Stats)
	}
	if got := e.rows(salesRows); got != "1|10|North" {
		t.Fatalf("rows %s", got)
	}
	e.create(jobs.Spec{Name: "strict", SQL: "SELECT id, amount, region FROM raw_db.sales", Target: "iceberg://cur.sales", MaxRejected: "0"})
	if _, err := e.l.Jobs.Start(e.ctx, "strict", jobs.StartOptions{}); !errors.Is(err, jobs.ErrTooManyRejected) {
		t.Fatalf("max_rejected 0: %v", err)
	}
	if got := e.rows(salesRows); got != "1|10|North" || len(e.snapshots()) != 1 {
		t.Fatalf("after the refused run: %s, %d snapshots", got, len(e.snapshots()))
	}
}

// TestIcebergMergeKeepsColumnsTheOutputLacks: a matched row keeps the
// values of the columns the output does not have; an inserted row has
// them NULL.
func TestIcebergMergeKeepsColumnsTheOutputLacks(t *testing.T) {
	e := newIcebergEnv(t)
	e.sql(`INSERT INTO cur.sales VALUES (1, 1, 'North'), (2, 2, 'South')`)
	e.put("raw/sales/a.csv", "id,amount,region,day\n2,20,West,2025-01-01\n3,30,East,2025-01-02\n")
	e.create(jobs.Spec{Name: "amounts", SQL: "SELECT amount, id FROM raw_db.sales", Target: "iceberg://cur.sales", Mode: jobs.ModeMerge, MergeKey: []string{"id"}})
	e.start("amounts", nil)
	if got := e.rows(salesRows); got != "1|1|North, 2|20|South, 3|30|NULL" {
		t.Fatalf("after merge: %s", got)
	}
}

// TestIcebergJobsOverDeleteFiles: a table with position delete files (a
// merge-on-read UPDATE) reads right after a job merges into it and after
// one replaces the partition the deletes applied to (they go with it).
func TestIcebergJobsOverDeleteFiles(t *testing.T) {
	e := newEnv(t)
	e.sql("CREATE DATABASE cur")
	e.sql(`CREATE TABLE cur.sales (id bigint, amount double, region string) PARTITIONED BY (region)
		LOCATION 's3://lake/ice/sales/' TBLPROPERTIES ('table_type'='ICEBERG', 'write.update.mode'='merge-on-read', 'write.delete.mode'='merge-on-read')`)
	e.sql(`INSERT INTO cur.sales VALUES (1, 1, 'North'), (2, 2, 'North'), (3, 3, 'South')`)
	e.sql(`UPDATE cur.sales SET amount = 22 WHERE id = 2`)
	deletes := func() int {
		c, err := iceberg.New(iceberg.DefaultConfig(), e.l.Catalog, e.l.Meta, e.l.Store)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := c.Table(e.ctx, "cur", "sales")
		if err != nil {
			t.Fatal(err)
		}
		tasks, err := tbl.Scan().PlanFiles(e.ctx)
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
		t.Skip("the UPDATE wrote no delete file")
	}
	e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n4,40,South,2025-01-02\n")
	e.create(jobs.Spec{Name: "up", SQL: "SELECT id, amount, region FROM raw_db.sales", Target: "iceberg://cur.sales", Mode: jobs.ModeMerge, MergeKey: []string{"id"}})
	e.start("up", nil)
	if got := e.rows(salesRows); got != "1|10|North, 2|22|North, 3|3|South, 4|40|South" {
		t.Fatalf("after merge: %s", got)
	}
	e.put("raw/sales/b.csv", "id,amount,region,day\n9,90,North,2025-01-01\n")
	e.create(jobs.Spec{Name: "north", SQL: "SELECT id, amount, region FROM raw_db.sales WHERE id = 9", Target: "iceberg://cur.sales", Mode: jobs.ModeOverwritePartitions})
	e.start("north", nil)
	if got := e.rows(salesRows); got != "3|3|South, 4|40|South, 9|90|North" {
		t.Fatalf("after overwrite-partitions: %s", got)
	}
	if n := deletes(); n != 0 {
		t.Errorf("%d delete files still apply after their partition was replaced", n)
	}
}

// TestIcebergSourceWithBookmarks: a bookmarked job reading an Iceberg
// table reads, on its next run, only the data files committed since (an
// Iceberg data file never changes, so its URI is its bookmark).
func TestIcebergSourceWithBookmarks(t *testing.T) {
	e := newIcebergEnv(t)
	e.sql(`INSERT INTO cur.sales VALUES (1, 1, 'North'), (2, 2, 'South')`)
	e.create(jobs.Spec{Name: "copy", SQL: "SELECT id, amount, region FROM cur.sales", Target: "s3://lake/curated/copy/", Table: "cur.copy", Bookmarks: true})
	r1 := e.start("copy", nil)
	if r1.Stats.RowsWritten != 2 {
		t.Fatalf("run 1: %+v", r1.Stats)
	}
	e.sql(`INSERT INTO cur.sales VALUES (3, 3, 'East')`)
	r2 := e.start("copy", nil)
	if r2.Stats.RowsRead != 1 || r2.Stats.RowsWritten != 1 {
		t.Fatalf("run 2 read %d rows, wrote %d; want only the new row: %+v", r2.Stats.RowsRead, r2.Stats.RowsWritten, r2.Stats)
	}
	if got := e.rows("SELECT id FROM cur.copy ORDER BY id"); got != "1, 2, 3" {
		t.Fatalf("copy: %s", got)
	}
	r3 := e.start("copy", nil)
	if r3.Stats.RowsWritten != 0 {
		t.Fatalf("run 3 wrote %d rows with nothing new", r3.Stats.RowsWritten)
	}
}
