package crawler

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Regression tests for bugs found in review.

// One odd file first in key order must not set the dialect of the table:
// the dialect most files have is forced on the others.
func TestCSVDialectMajority(t *testing.T) {
	e := newEnv(t)
	e.putString("raw/t/p=0/a.csv", "x,y\n") // sniffed alone: a header
	for _, p := range []string{"1", "2", "3", "4"} {
		e.putString("raw/t/p="+p+"/a.csv", "1,2\n3,4\n")
	}
	e.crawler("c", Spec{}, "raw/")
	r := e.start("c", StartOptions{})
	noFileErrors(t, r)
	tb := e.table("t")
	// Headerless: the good files keep their first row, and x,y is a row.
	if got := cols(tb.Columns); got != "col0 string, col1 string" || tb.FormatOptions[catalog.OptHeader] != "false" {
		t.Errorf("t: %s %v", got, tb.FormatOptions)
	}
}

func TestMajorityDialect(t *testing.T) {
	f := func(want int, dialects ...csvDialect) {
		t.Helper()
		var schemas []*fileSchema
		var idx []int
		for i, d := range dialects {
			schemas = append(schemas, &fileSchema{format: catalog.FormatCSV, csv: d})
			idx = append(idx, i)
		}
		if got := majorityDialect(schemas, idx); got != want {
			t.Errorf("%+v: got %d, want %d", dialects, got, want)
		}
	}
	h, n, semi := csvDialect{delimiter: ",", header: true}, csvDialect{delimiter: ","}, csvDialect{delimiter: ";", header: true}
	f(0, h)
	f(0, h, n)             // tie: the first in key order
	f(1, n, h, h)          // majority
	f(1, h, n, n, semi)    // majority
	f(0, semi, h, n)       // three-way tie
	f(0, h, semi, semi, h) // tie between two: the first in key order
	// The quote does not vote.
	f(0, csvDialect{delimiter: ",", quote: `"`}, csvDialect{delimiter: ",", quote: "'"}, h)
}

// A header-only CSV file gives column names, not types.
func TestHeaderOnlyCSV(t *testing.T) {
	e := newEnv(t)
	e.putString("raw/h/p=0/a.csv", "id,amount\n") // first in key order
	for _, p := range []string{"1", "2", "3", "4"} {
		e.putString("raw/h/p="+p+"/a.csv", "id,amount\n1,10\n2,20\n")
	}
	e.putString("raw/only/a.csv", "id,amount\n") // nothing typed at all
	e.crawler("c", Spec{RecrawlPolicy: RecrawlNewFolders}, "raw/")
	r := e.start("c", StartOptions{})
	noFileErrors(t, r)
	if tb := e.table("h"); cols(tb.Columns) != "id bigint, amount bigint" || tb.FormatOptions[catalog.OptHeader] != "true" {
		t.Errorf("h: %s %v", cols(tb.Columns), tb.FormatOptions)
	}
	if got := cols(e.table("only").Columns); got != "id string, amount string" {
		t.Errorf("only: %s", got)
	}
	// A new header-only folder of an existing table adds its new column but
	// does not widen the others.
	e.putString("raw/h/p=5/a.csv", "id,amount,note\n")
	r = e.start("c", StartOptions{})
	noFileErrors(t, r)
	if got := cols(e.table("h").Columns); got != "id bigint, amount bigint, note string" {
		t.Errorf("h after header-only folder: %s", got)
	}
	if got := mergeColumns([]catalog.Column{{Name: "id"}, {Name: "b"}}, []catalog.Column{{Name: "ID", Type: "int"}}); cols(got) != "id int, b " {
		t.Errorf("mergeColumns: %s", cols(got))
	}
}

// Files at the target root next to table folders are not a table that
// contains the others.
func TestRootFilesNextToTables(t *testing.T) {
	e := newEnv(t)
	e.putString("raw/readme.csv", "note\nhello\n")
	e.putString("raw/orders/a.csv", "id,amount\n1,10\n")
	e.putString("raw/customers/b.csv", "cid,name\n7,bob\n")
	e.crawler("c", Spec{}, "raw/")
	r := e.start("c", StartOptions{})
	if got := tableNames(r); !slices.Equal(got, []string{"customers", "orders"}) {
		t.Errorf("tables: %v", got)
	}
	e.noTable("raw")
	if len(r.FileErrors) != 1 || r.FileErrors[0].URI != "s3://lake/raw/readme.csv" ||
		!strings.Contains(r.FileErrors[0].Error, "move it into its own folder") {
		t.Errorf("file errors: %+v", r.FileErrors)
	}
	if got := e.table("orders").Location; got != "s3://lake/raw/orders/" {
		t.Errorf("orders: %s", got)
	}
}

// Two folders with the same partition values: the first is the partition,
// the other's files are errors (not silently unread).
func TestPartitionFolderCollision(t *testing.T) {
	e := newEnv(t)
	e.putString("raw/s/dt=/a.csv", "id\n1\n")
	e.putString("raw/s/dt=__HIVE_DEFAULT_PARTITION__/b.csv", "id\n2\n")
	e.putString("raw/s/dt=2025/c.csv", "id\n3\n")
	e.crawler("c", Spec{}, "raw/")
	r := e.start("c", StartOptions{})
	if len(r.FileErrors) != 1 || r.FileErrors[0].URI != "s3://lake/raw/s/dt=__HIVE_DEFAULT_PARTITION__/b.csv" ||
		!strings.Contains(r.FileErrors[0].Error, "s3://lake/raw/s/dt=/") {
		t.Errorf("file errors: %+v", r.FileErrors)
	}
	ps := e.partitions("s")
	if len(ps) != 2 || ps[0].Location != "s3://lake/raw/s/dt=2025/" || ps[0].FileCount != 1 ||
		ps[1].Values[0] != catalog.DefaultPartitionValue || ps[1].Location != "s3://lake/raw/s/dt=/" || ps[1].FileCount != 1 {
		t.Errorf("partitions: %+v", ps)
	}

	u, _ := storage.ParseURI("s3://lake/t/")
	gs, errs := groupTarget(u, objs("t/k=a b/x.csv", "t/k=a b/y.csv", "t/k=a%20b/z.csv", "t/k=c/w.csv"))
	if got := describeGroups(gs); got != "t@s3://lake/t/ keys=[k] types=[string] files=3 parts=2;" ||
		len(errs) != 1 || errs[0].URI != "s3://lake/t/k=a%20b/z.csv" {
		t.Errorf("got %s %+v", got, errs)
	}
	if gs[0].parts[0].location != "s3://lake/t/k=a b/" || gs[0].parts[0].files != 2 {
		t.Errorf("partition: %+v", gs[0].parts[0])
	}
}

// Keys whose names start with partition_ are named keys.
func TestPartitionPrefixedKeyNames(t *testing.T) {
	u, _ := storage.ParseURI("s3://lake/t/")
	gs, errs := groupTarget(u, objs("t/partition_date=2024/a.csv", "t/partition_date=2025/a.csv", "t/2026/a.csv"))
	if got := describeGroups(gs); got != "t@s3://lake/t/ keys=[partition_date] types=[int] files=2 parts=2;" ||
		len(errs) != 1 || errs[0].URI != "s3://lake/t/2026/a.csv" {
		t.Errorf("named: %s %+v", got, errs)
	}
	// An unnamed level takes unnamed folders only.
	gs, errs = groupTarget(u, objs("t/2024/a.csv", "t/2025/a.csv", "t/partition_0=7/a.csv"))
	if got := describeGroups(gs); got != "t@s3://lake/t/ keys=[partition_0] types=[int] files=2 parts=2;" ||
		len(errs) != 1 || errs[0].URI != "s3://lake/t/partition_0=7/a.csv" {
		t.Errorf("unnamed: %s %+v", got, errs)
	}
}

// File names with glob characters read that file only.
func TestGlobCharsInNames(t *testing.T) {
	e := newEnv(t)
	e.putString("raw/g/a[1].csv", "id,amount\n1,10\n")
	// x*.json is the table's only file: x1.json is excluded, yet a glob
	// x*.json would read it.
	e.putString("raw/s/x1.json", `{"a": 1}`+"\n")
	e.putString("raw/s/x*.json", `{"b": "z"}`+"\n")
	e.putString("raw/q?/a.json", `{"c": 1}`+"\n")
	e.putString("raw/qq/a.json", `{"d": 1}`+"\n")
	pq, err := os.ReadFile(filepath.Join("testdata", "typed.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	e.put("raw/pq/t[1]*?.parquet", pq)
	e.crawler("c", Spec{Exclusions: []string{"x1.json"}}, "raw/")
	r := e.start("c", StartOptions{})
	noFileErrors(t, r)
	for table, want := range map[string]string{
		"g":  "id bigint, amount bigint",
		"s":  "b string",
		"q_": "c bigint",
		"qq": "d bigint",
		"pq": "id int, name string, amount decimal(21,1), tags array<bigint>, info struct<a:bigint,b:string>, day date",
	} {
		if got := cols(e.table(table).Columns); got != want {
			t.Errorf("%s: %s, want %s", table, got, want)
		}
	}
	if got := e.table("pq").Properties["recordCount"]; got == "" || got == "0" {
		t.Errorf("pq record count: %q", got)
	}
	if got := literalPath("/d/a[1]*?.csv"); got != "/d/a[[]1][*][?].csv" {
		t.Errorf("literalPath: %s", got)
	}
}

// A change of partition keys that fails leaves the table as it was.
func TestPartitionKeysChangeFailure(t *testing.T) {
	setup := func(t *testing.T) *env {
		e := newEnv(t)
		e.putString("raw/t/dt=2025-01-01/a.csv", "id,v\n1,x\n")
		e.putString("raw/t/dt=2025-01-02/a.csv", "id,v\n2,y\n")
		e.crawler("c", Spec{}, "raw/")
		e.start("c", StartOptions{})
		if got := cols(e.table("t").PartitionKeys); got != "dt date" || len(e.partitions("t")) != 2 {
			t.Fatalf("keys %s, partitions %+v", got, e.partitions("t"))
		}
		e.del("raw/t/dt=2025-01-01/a.csv")
		e.del("raw/t/dt=2025-01-02/a.csv")
		return e
	}
	intact := func(t *testing.T, e *env, columns string) {
		t.Helper()
		tb := e.table("t")
		ps := e.partitions("t")
		if got := cols(tb.PartitionKeys); got != "dt date" || cols(tb.Columns) != columns || len(ps) != 2 ||
			ps[0].Location != "s3://lake/raw/t/dt=2025-01-01/" || ps[1].Location != "s3://lake/raw/t/dt=2025-01-02/" || ps[0].FileCount != 1 {
			t.Errorf("table changed: keys %s, columns %s, partitions %+v", got, cols(tb.Columns), ps)
		}
	}

	t.Run("concurrent update", func(t *testing.T) {
		e := setup(t)
		e.putString("raw/t/region=eu/dt=2025-01-01/a.csv", "id,v\n1,x\n")
		// Someone changes the table while the crawl reads its files.
		var once sync.Once
		_, err := e.svc.Start(e.ctx, "c", StartOptions{Progress: func(Progress) {
			once.Do(func() {
				tb := e.table("t")
				tb.Columns = append(tb.Columns, catalog.Column{Name: "extra", Type: "string"})
				if _, err := e.cat.UpdateTable(e.ctx, tb, "test"); err != nil {
					t.Error(err)
				}
			})
		}})
		if !errors.Is(err, ErrCrawlFailed) || !errors.Is(err, catalog.ErrConcurrentUpdate) {
			t.Fatalf("crawl: %v", err)
		}
		intact(t, e, "id bigint, v string, extra string")
	})

	t.Run("new partitions refused", func(t *testing.T) {
		e := setup(t)
		e.putString("raw/t/region=eu/dt=2025-01-01/a.csv", "id,v\n1,x\n")
		e.putString("raw/t/region=%FF/dt=2025-01-02/a.csv", "id,v\n2,y\n") // not UTF-8: the catalog refuses it
		before, err := e.cat.SchemaVersions(e.ctx, "raw", "t")
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Start(e.ctx, "c", StartOptions{})
		if !errors.Is(err, ErrCrawlFailed) || !errors.Is(err, catalog.ErrInvalidPartition) {
			t.Fatalf("crawl: %v", err)
		}
		intact(t, e, "id bigint, v string")
		// The change is one transaction: nothing of it is recorded, not even
		// a schema version.
		after, err := e.cat.SchemaVersions(e.ctx, "raw", "t")
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(before) || e.table("t").Version != before[len(before)-1].Version {
			t.Errorf("schema versions: before %+v, after %+v", before, after)
		}
		// Once the data is fixed, the change goes through.
		e.del("raw/t/region=%FF/dt=2025-01-02/a.csv")
		e.putString("raw/t/region=us/dt=2025-01-02/a.csv", "id,v\n2,y\n")
		e.start("c", StartOptions{})
		if got := cols(e.table("t").PartitionKeys); got != "region string, dt date" || len(e.partitions("t")) != 2 {
			t.Errorf("keys %s, partitions %+v", got, e.partitions("t"))
		}
	})
}

func TestStopCrawl(t *testing.T) {
	e := newEnv(t)
	for i := range 20 {
		e.putString(fmt.Sprintf("raw/t%02d/a.csv", i), "id,amount\n1,2.5\n")
	}
	e.crawler("c", Spec{}, "raw/")
	if err := e.svc.Stop(e.ctx, "c"); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("stop of an idle crawler: %v", err)
	}
	run, err := e.svc.Start(e.ctx, "c", StartOptions{Progress: func(p Progress) {
		if p.FilesDone == 1 {
			if err := e.svc.Stop(e.ctx, "c"); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
	}})
	if !errors.Is(err, ErrStopped) || run.State != StateCancelled {
		t.Fatalf("stopped crawl: %s %v", run.State, err)
	}
	runs, _ := e.svc.Runs(e.ctx, "c")
	if len(runs) != 1 || runs[0].State != StateCancelled {
		t.Fatalf("stored runs: %+v", runs)
	}
	// The crawler runs again, to the end.
	if run := e.start("c", StartOptions{}); run.State != StateSucceeded || len(run.TablesCreated) != 20 {
		t.Fatalf("crawl after a stop: %s %v", run.State, run.TablesCreated)
	}
}
