package crawler

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/storage"
)

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zst(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := zstd.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCrawlerCRUD(t *testing.T) {
	e := newEnv(t)
	e.crawler("c1", Spec{Description: "first"}, "raw/")
	err := e.svc.Create(e.ctx, Spec{Name: "c1", Database: "raw", Targets: []string{"s3://lake/x/"}})
	if !errors.Is(err, ErrCrawlerExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	if err := e.svc.Create(e.ctx, Spec{Name: "c2", Database: "raw"}); !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("invalid spec: %v", err)
	}
	got, err := e.svc.Get(e.ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Description != "first" || got.Targets[0] != "s3://lake/raw/" || got.SchemaChangePolicy != "update" || got.CreatedAt.IsZero() {
		t.Fatalf("get: %+v", got)
	}
	got.RecrawlPolicy = "new-folders"
	got.Exclusions = []string{"*.tmp"}
	if err := e.svc.Update(e.ctx, got); err != nil {
		t.Fatal(err)
	}
	got2, _ := e.svc.Get(e.ctx, "c1")
	if got2.RecrawlPolicy != "new-folders" || !slices.Equal(got2.Exclusions, []string{"*.tmp"}) || !got2.CreatedAt.Equal(got.CreatedAt) {
		t.Fatalf("update: %+v", got2)
	}
	if err := e.svc.Update(e.ctx, Spec{Name: "nope", Database: "raw", Targets: []string{"s3://lake/x/"}}); !errors.Is(err, ErrNoSuchCrawler) {
		t.Fatalf("update missing: %v", err)
	}
	e.crawler("c0", Spec{}, "other/")
	list, err := e.svc.List(e.ctx)
	if err != nil || len(list) != 2 || list[0].Name != "c0" {
		t.Fatalf("list: %v %+v", err, list)
	}
	if err := e.svc.Delete(e.ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Get(e.ctx, "c1"); !errors.Is(err, ErrNoSuchCrawler) {
		t.Fatalf("get deleted: %v", err)
	}
	if err := e.svc.Delete(e.ctx, "c1"); !errors.Is(err, ErrNoSuchCrawler) {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := e.svc.Start(e.ctx, "c1", StartOptions{}); !errors.Is(err, ErrNoSuchCrawler) {
		t.Fatalf("start deleted: %v", err)
	}
}

// TestFormats crawls one table per format and checks the inferred schemas.
func TestFormats(t *testing.T) {
	e := newEnv(t)
	e.putTestdata("raw/messy/messy.csv", "messy.csv")
	e.putTestdata("raw/cities/cities.tsv", "cities.tsv")
	e.putTestdata("raw/fruits/fruits.psv", "fruits.psv")
	e.putTestdata("raw/noheader/noheader.csv", "noheader.csv")
	e.putTestdata("raw/nested/nested.json", "nested.json")
	e.putTestdata("raw/array/array.json", "array.json")
	e.putTestdata("raw/typed/typed.parquet", "typed.parquet")
	e.put("raw/gzipped/part-0.csv.gz", gz(t, "id,zip,v\n1,02134,1.5\n2,10001,2\n"))
	e.put("raw/zstded/part-0.json.zst", zst(t, `{"a": 1, "b": "x"}`+"\n"+`{"a": 2, "b": "y"}`+"\n"))
	// Unknown extensions are sniffed by content.
	e.putString("raw/sniffed_json/events.log", `[{"k": "v", "n": 1}]`)
	e.putString("raw/sniffed_csv/data.txt", "a;b\n1;x\n2;y\n")
	pq, _ := os.ReadFile(filepath.Join("testdata", "typed.parquet"))
	e.put("raw/sniffed_parquet/part-00000", pq)
	e.put("raw/sniffed_gz/data.gz", gz(t, `{"z": true}`))

	e.crawler("c", Spec{}, "raw/")
	r := e.start("c", StartOptions{})
	noFileErrors(t, r)
	if r.State != StateSucceeded || r.FilesScanned != 13 || len(r.TablesCreated) != 13 {
		t.Fatalf("run: %+v", r)
	}
	want := map[string]struct {
		format, cols string
		opts         map[string]string
	}{
		"messy": {"csv", "id bigint, name string, zip string, amount bigint, comment string, Unit Price ($) double, flag boolean",
			map[string]string{"delimiter": ",", "header": "true", "quote": `"`, "compression": "none"}},
		"cities":   {"csv", "id bigint, city string, code string", map[string]string{"delimiter": "\t", "header": "true"}},
		"fruits":   {"csv", "col0 bigint, col1 string, col2 date, col3 double", map[string]string{"delimiter": "|", "header": "false"}},
		"noheader": {"csv", "col0 bigint, col1 string, col2 double", map[string]string{"delimiter": ",", "header": "false"}},
		"nested": {"json", "id bigint, user struct<name:string,tags:array<string>>, events array<struct<t:bigint,k:string>>, extra boolean",
			map[string]string{"json_format": "newline_delimited"}},
		"array": {"json", "id bigint, score double, name string", map[string]string{"json_format": "array"}},
		"typed": {"parquet", "id int, name string, amount decimal(21,1), tags array<bigint>, info struct<a:bigint,b:string>, day date",
			map[string]string{"compression": "snappy"}},
		"gzipped":         {"csv", "id bigint, zip string, v double", map[string]string{"compression": "gzip"}},
		"zstded":          {"json", "a bigint, b string", map[string]string{"compression": "zstd"}},
		"sniffed_json":    {"json", "k string, n bigint", map[string]string{"json_format": "array"}},
		"sniffed_csv":     {"csv", "a bigint, b string", map[string]string{"delimiter": ";"}},
		"sniffed_parquet": {"parquet", "id int, name string, amount decimal(21,1), tags array<bigint>, info struct<a:bigint,b:string>, day date", nil},
		"sniffed_gz":      {"json", "z boolean", map[string]string{"compression": "gzip"}},
	}
	for name, w := range want {
		tb := e.table(name)
		if tb.Format != w.format || cols(tb.Columns) != w.cols {
			t.Errorf("%s: got %s (%s), want %s (%s)", name, tb.Format, cols(tb.Columns), w.format, w.cols)
		}
		for k, v := range w.opts {
			if tb.FormatOptions[k] != v {
				t.Errorf("%s: option %s = %q, want %q (all: %v)", name, k, tb.FormatOptions[k], v, tb.FormatOptions)
			}
		}
		if tb.Properties[catalog.PropertyClassification] != w.format || tb.Location != "s3://lake/raw/"+name+"/" {
			t.Errorf("%s: properties %v location %s", name, tb.Properties, tb.Location)
		}
		if tr := result(t, r, name); tr.Action != ActionCreate || cols(tr.Columns) != w.cols {
			t.Errorf("%s: result %+v", name, tr)
		}
	}
	if p := e.table("typed").Properties; p["recordCount"] != "5" || p["averageRecordSize"] == "" {
		t.Errorf("parquet record count: %v", p)
	}
	if _, ok := e.table("messy").Properties["recordCount"]; ok {
		t.Errorf("CSV tables should not get a record count (not cheap)")
	}
	// The lake's own SQL can read what the crawler catalogued.
	s, err := e.eng.Acquire(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	var zip string
	p, _, _ := e.eng.LocalPath(e.ctx, bucket, "raw/messy/messy.csv")
	q := fmt.Sprintf(`SELECT zip FROM read_csv('%s', header=true, types={'zip': 'VARCHAR'}) WHERE id = 1`, p)
	if err := s.Conn().QueryRowContext(e.ctx, q).Scan(&zip); err != nil || zip != "02134" {
		t.Fatalf("zip: %q %v", zip, err)
	}
}

func TestLeadingZerosStayStrings(t *testing.T) {
	e := newEnv(t)
	var b strings.Builder
	b.WriteString("code,n,plain\n")
	for i := range 500 {
		fmt.Fprintf(&b, "%d,%d,%d\n", 1000+i, i, i)
	}
	b.WriteString("0042,1,7\n") // one zero-padded code among plain integers
	e.putString("raw/codes/a.csv", b.String())
	e.putString("raw/ids/a.csv", "id,name\n007,bond\n008,x\n")
	e.crawler("c", Spec{}, "raw/")
	r := e.start("c", StartOptions{})
	noFileErrors(t, r)
	if got := cols(e.table("codes").Columns); got != "code string, n bigint, plain bigint" {
		t.Errorf("codes: %s", got)
	}
	if got := cols(e.table("ids").Columns); got != "id string, name string" {
		t.Errorf("ids: %s", got)
	}
}

func TestWideningAcrossFiles(t *testing.T) {
	e := newEnv(t)
	e.putString("raw/sales/a.csv", "id,amount,code\n1,10,5\n2,20,6\n")
	e.putString("raw/sales/b.csv", "id,amount,region\n3,2.5,eu\n")
	e.putString("raw/sales/c.csv", "id,code,amount\n4,x7,1\n")
	e.putString("raw/ev/a.json", `{"id": 1, "user": {"name": "a"}}`)
	e.putString("raw/ev/b.json", `{"id": 2.5, "user": {"age": 3}, "tags": ["x"]}`)
	e.crawler("c", Spec{}, "raw/")
	r := e.start("c", StartOptions{})
	noFileErrors(t, r)
	if got := cols(e.table("sales").Columns); got != "id bigint, amount double, code string, region string" {
		t.Errorf("sales: %s", got)
	}
	if got := cols(e.table("ev").Columns); got != "id double, user struct<name:string,age:bigint>, tags array<string>" {
		t.Errorf("ev: %s", got)
	}
}

func TestCSVDialectAgreement(t *testing.T) {
	e := newEnv(t)
	// Headerless numeric files, and one whose only row is text: sniffed alone
	// DuckDB takes that row for a header, so it is re-read as headerless.
	e.putString("raw/t/p=1/a.csv", "1,2\n3,4\n")
	e.putString("raw/t/p=2/a.csv", "5,6\n")
	e.putString("raw/t/p=3/a.csv", "x,y\n")
	e.crawler("c", Spec{}, "raw/")
	r := e.start("c", StartOptions{})
	noFileErrors(t, r)
	tb := e.table("t")
	if got := cols(tb.Columns); got != "col0 string, col1 string" || tb.FormatOptions["header"] != "false" {
		t.Errorf("t: %s %v", got, tb.FormatOptions)
	}
}

func TestHivePartitions(t *testing.T) {
	e := newEnv(t)
	for _, d := range []string{"year=2024/month=12/day=31", "year=2025/month=01/day=01", "year=2025/month=01/day=02"} {
		e.putString("raw/events/"+d+"/part-0.json", `{"id": 1, "v": "a"}`+"\n")
		e.putString("raw/events/"+d+"/part-1.json", `{"id": 2, "v": "b"}`+"\n")
		e.putString("raw/events/"+d+"/_SUCCESS", "x")
		e.putString("raw/events/"+d+"/.part-0.json.crc", "x")
	}
	e.putString("raw/events/year=2025/month=01/day=02/_temporary/0/part-9.json", `{"broken`)
	e.putString("raw/events/year=2025/month=01/day=02/empty.json", "")
	e.putString("raw/events/year=2025/month=01/day=02/x.tmp", "junk")
	e.putString("raw/daily/dt=2025-01-01/a.csv", "a\n1\n")
	e.putString("raw/daily/dt=2025-01-02/a.csv", "a\n2\n")

	e.crawler("c", Spec{Exclusions: []string{"*.tmp"}}, "raw/")
	r := e.start("c", StartOptions{})
	noFileErrors(t, r)
	if r.FilesScanned != 8 || r.PartitionsAdded != 5 {
		t.Fatalf("scanned %d files, added %d partitions", r.FilesScanned, r.PartitionsAdded)
	}
	tb := e.table("events")
	if got := cols(tb.PartitionKeys); got != "year int, month int, day int" {
		t.Errorf("keys: %s", got)
	}
	if got := cols(tb.Columns); got != "id bigint, v string" {
		t.Errorf("columns: %s", got)
	}
	ps := e.partitions("events")
	if len(ps) != 3 {
		t.Fatalf("partitions: %+v", ps)
	}
	var found bool
	for _, p := range ps {
		if slices.Equal(p.Values, []string{"2025", "01", "02"}) {
			found = true
			if p.Location != "s3://lake/raw/events/year=2025/month=01/day=02/" || p.FileCount != 2 || p.Bytes != 40 {
				t.Errorf("partition: %+v", p)
			}
		}
	}
	if !found {
		t.Errorf("partition 2025/01/02 missing: %+v", ps)
	}
	if got := cols(e.table("daily").PartitionKeys); got != "dt date" {
		t.Errorf("daily keys: %s", got)
	}
	tr := result(t, r, "events")
	if tr.PartitionsAdded != 3 || cols(tr.PartitionKeys) != "year int, month int, day int" {
		t.Errorf("result: %+v", tr)
	}
}

func TestUnnamedPartitions(t *testing.T) {
	e := newEnv(t)
	e.putString("logs/clicks/2025/01/15/a.csv", "user,n\nu1,1\n")
	e.putString("logs/clicks/2025/01/16/a.csv", "user,n\nu2,2\n")
	e.putString("logs/clicks/2025/02/01/a.csv", "user,n\nu3,3\n")
	// A target whose folders are all partitions is itself the table.
	e.putString("views/2025/01/a.csv", "page\n/\n")
	e.crawler("c", Spec{}, "logs/", "views/")
	r := e.start("c", StartOptions{})
	noFileErrors(t, r)
	if got := cols(e.table("clicks").PartitionKeys); got != "partition_0 int, partition_1 int, partition_2 int" {
		t.Errorf("clicks keys: %s", got)
	}
	if ps := e.partitions("clicks"); len(ps) != 3 {
		t.Errorf("clicks partitions: %+v", ps)
	}
	views := e.table("views")
	if views.Location != "s3://lake/views/" || cols(views.PartitionKeys) != "partition_0 int, partition_1 int" {
		t.Errorf("views: %s %s", views.Location, cols(views.PartitionKeys))
	}
}

func TestInconsistentDepthAndBadFiles(t *testing.T) {
	e := newEnv(t)
	e.putString("raw/t/k=1/a.json", `{"a": 1}`)
	e.putString("raw/t/k=2/a.json", `{"a": 2}`)
	e.putString("raw/t/k=3/a.json", `{"a": 3`)                // malformed
	e.putString("raw/t/stray.json", `{"a": 4}`)               // wrong depth
	e.putString("raw/t/k=4/a.parquet", "PAR1 not really")     // corrupt
	e.putString("raw/t/k=5/b.csv", "a,b\n1,2\n")              // another format
	e.putString("raw/bad/only.json", `[{"a": 1}, {"a": oops`) // the table's only file
	e.crawler("c", Spec{}, "raw/")
	r := e.start("c", StartOptions{})
	if r.State != StateSucceeded {
		t.Fatalf("a bad file must not fail the crawl: %+v", r)
	}
	var uris []string
	for _, fe := range r.FileErrors {
		uris = append(uris, fe.URI)
		if fe.Error == "" {
			t.Errorf("empty error for %s", fe.URI)
		}
	}
	want := []string{"s3://lake/raw/bad/only.json", "s3://lake/raw/t/k=3/a.json", "s3://lake/raw/t/k=4/a.parquet", "s3://lake/raw/t/k=5/b.csv", "s3://lake/raw/t/stray.json"}
	if !slices.Equal(uris, want) {
		t.Errorf("file errors:\n got %v\nwant %v\n%+v", uris, want, r.FileErrors)
	}
	if got := cols(e.table("t").Columns); got != "a bigint" {
		t.Errorf("t: %s", got)
	}
	e.noTable("bad")
	for _, fe := range r.FileErrors {
		if strings.Contains(fe.Error, e.home) {
			t.Errorf("error leaks a local path: %s", fe.Error)
		}
	}
}

func TestSchemaDrift(t *testing.T) {
	for _, policy := range []string{SchemaChangeUpdate, SchemaChangeLog} {
		t.Run(policy, func(t *testing.T) {
			e := newEnv(t)
			e.putString("raw/sales/dt=2025-01-01/a.csv", "id,amount\n1,10\n")
			e.crawler("c", Spec{SchemaChangePolicy: policy}, "raw/")
			e.start("c", StartOptions{})
			before := e.table("sales")

			// A later partition brings a new column and a wider type.
			e.putString("raw/sales/dt=2025-01-02/a.csv", "id,amount,currency\n2,10.5,EUR\n")
			r := e.start("c", StartOptions{})
			noFileErrors(t, r)
			tr := result(t, r, "sales")
			wantChanges := []catalog.SchemaChange{
				{Kind: catalog.ChangeTypeChanged, Column: "amount", From: "bigint", To: "double"},
				{Kind: catalog.ChangeColumnAdded, Column: "currency", To: "string"},
			}
			if !slices.Equal(tr.Changes, wantChanges) {
				t.Errorf("changes: %+v", tr.Changes)
			}
			if tr.PartitionsAdded != 1 || len(e.partitions("sales")) != 2 {
				t.Errorf("partition not added: %+v", tr)
			}
			after := e.table("sales")
			switch policy {
			case SchemaChangeUpdate:
				if tr.Action != ActionUpdate || !slices.Equal(r.TablesUpdated, []string{"sales"}) {
					t.Errorf("result: %+v", tr)
				}
				if got := cols(after.Columns); got != "id bigint, amount double, currency string" || after.Version != before.Version+1 {
					t.Errorf("table: %s v%d", got, after.Version)
				}
				vs, err := e.cat.SchemaVersions(e.ctx, "raw", "sales")
				if err != nil || len(vs) != 2 || !slices.Equal(vs[1].Changes, wantChanges) {
					t.Errorf("versions: %v %+v", err, vs)
				}
			case SchemaChangeLog:
				if tr.Action != ActionDriftLogged || len(r.TablesUpdated) != 0 {
					t.Errorf("result: %+v", tr)
				}
				if cols(after.Columns) != cols(before.Columns) || after.Version != before.Version {
					t.Errorf("table changed under the log policy: %s v%d", cols(after.Columns), after.Version)
				}
			}
			// A third crawl with nothing new changes nothing.
			r = e.start("c", StartOptions{})
			tr = result(t, r, "sales")
			want := ActionUnchanged
			if policy == SchemaChangeLog {
				want = ActionDriftLogged
			}
			if tr.Action != want || tr.PartitionsAdded != 0 {
				t.Errorf("recrawl: %+v", tr)
			}
		})
	}
}

func TestManyPartitions(t *testing.T) {
	e := newEnv(t)
	const n = 1000
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				day := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i)
				key := fmt.Sprintf("raw/metrics/year=%d/month=%02d/day=%02d/part-0.csv", day.Year(), day.Month(), day.Day())
				body := fmt.Sprintf("host,value,ok\nh%d,%d.5,true\n", i, i)
				if _, err := e.store.Put(e.ctx, bucket, key, strings.NewReader(body), storage.PutOptions{}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	e.crawler("c", Spec{}, "raw/")
	var calls int
	var last Progress
	start, cpu0 := time.Now(), cpuTime()
	r := e.start("c", StartOptions{Progress: func(p Progress) { calls++; last = p }})
	elapsed := time.Since(start)
	t.Logf("crawled %d partitions (%d files, %d bytes) in %v (process CPU %v)", n, r.FilesScanned, r.BytesScanned, elapsed, cpuTime()-cpu0)
	noFileErrors(t, r)
	if r.FilesScanned != n || r.PartitionsAdded != n || calls != n || last.FilesDone != n || last.FilesTotal != n {
		t.Fatalf("run: files %d, partitions %d, progress calls %d, last %+v", r.FilesScanned, r.PartitionsAdded, calls, last)
	}
	if ps := e.partitions("metrics"); len(ps) != n {
		t.Fatalf("%d partitions", len(ps))
	}
	if got := cols(e.table("metrics").Columns); got != "host string, value double, ok boolean" {
		t.Errorf("columns: %s", got)
	}
	if elapsed > 30*time.Second {
		t.Errorf("crawl took %v", elapsed)
	}
	// A recrawl with nothing new.
	start, cpu0 = time.Now(), cpuTime()
	r = e.start("c", StartOptions{})
	t.Logf("recrawl (all) in %v (process CPU %v)", time.Since(start), cpuTime()-cpu0)
	if tr := result(t, r, "metrics"); tr.Action != ActionUnchanged || tr.PartitionsAdded != 0 {
		t.Errorf("recrawl: %+v", tr)
	}
}

func TestDryRun(t *testing.T) {
	e := newEnv(t)
	e.putString("raw/sales/dt=2025-01-01/a.csv", "id,amount\n1,10\n")
	e.crawler("c", Spec{}, "raw/")
	r := e.start("c", StartOptions{DryRun: true})
	if !r.DryRun || result(t, r, "sales").Action != ActionCreate || r.PartitionsAdded != 1 {
		t.Fatalf("dry run: %+v", r)
	}
	if _, err := e.cat.GetDatabase(e.ctx, "raw"); !errors.Is(err, catalog.ErrNoSuchDatabase) {
		t.Fatalf("dry run created the database: %v", err)
	}
	e.start("c", StartOptions{})
	before := e.table("sales")

	e.putString("raw/sales/dt=2025-01-02/a.csv", "id,amount,note\n2,1.5,x\n")
	e.del("raw/sales/dt=2025-01-01/a.csv")
	e.putString("raw/other/a.json", `{"x": 1}`)
	r = e.start("c", StartOptions{DryRun: true})
	tr := result(t, r, "sales")
	if tr.Action != ActionUpdate || len(tr.Changes) != 2 || tr.PartitionsAdded != 1 || tr.PartitionsRemoved != 1 {
		t.Errorf("dry run result: %+v", tr)
	}
	if result(t, r, "other").Action != ActionCreate {
		t.Errorf("dry run other: %+v", r.Tables)
	}
	after := e.table("sales")
	if after.Version != before.Version || cols(after.Columns) != cols(before.Columns) {
		t.Errorf("dry run changed the table")
	}
	if ps := e.partitions("sales"); len(ps) != 1 || ps[0].Values[0] != "2025-01-01" {
		t.Errorf("dry run changed partitions: %+v", ps)
	}
	e.noTable("other")
	got, err := e.svc.GetRun(e.ctx, r.ID)
	if err != nil || !got.DryRun || got.State != StateSucceeded || len(got.Tables) != 2 {
		t.Errorf("dry run not recorded: %v %+v", err, got)
	}
}

func TestNewFoldersRecrawl(t *testing.T) {
	e := newEnv(t)
	e.putString("raw/sales/dt=2025-01-01/a.csv", "id,amount\n1,10\n")
	e.putString("raw/sales/dt=2025-01-02/a.csv", "id,amount\n2,20\n")
	e.crawler("c", Spec{RecrawlPolicy: RecrawlNewFolders}, "raw/")
	r := e.start("c", StartOptions{})
	if r.FilesScanned != 2 {
		t.Fatalf("first crawl scanned %d", r.FilesScanned)
	}
	// A changed file in a seen folder is not read again; a new folder is.
	e.putString("raw/sales/dt=2025-01-01/b.csv", "id,amount,ignored\n1,x,y\n")
	e.putString("raw/sales/dt=2025-01-03/a.csv", "id,amount,note\n3,30,hi\n")
	e.putString("raw/fresh/a.json", `{"k": 1}`)
	var seen []string
	r = e.start("c", StartOptions{Progress: func(p Progress) { seen = append(seen, p.Current) }})
	slices.Sort(seen)
	want := []string{"s3://lake/raw/fresh/a.json", "s3://lake/raw/sales/dt=2025-01-03/a.csv"}
	if !slices.Equal(seen, want) || r.FilesScanned != 2 {
		t.Fatalf("read %v, want %v", seen, want)
	}
	if got := cols(e.table("sales").Columns); got != "id bigint, amount bigint, note string" {
		t.Errorf("sales: %s", got)
	}
	if len(e.partitions("sales")) != 3 {
		t.Errorf("partitions: %+v", e.partitions("sales"))
	}
	for _, p := range e.partitions("sales") {
		if p.Values[0] == "2025-01-01" && p.FileCount != 2 {
			t.Errorf("stats of a seen partition not updated: %+v", p)
		}
	}
	e.table("fresh")
	// Nothing new: nothing read.
	r = e.start("c", StartOptions{})
	if r.FilesScanned != 0 {
		t.Errorf("third crawl scanned %d", r.FilesScanned)
	}
	// Dry runs do not remember folders.
	e.putString("raw/sales/dt=2025-01-04/a.csv", "id,amount\n4,40\n")
	if r = e.start("c", StartOptions{DryRun: true}); r.FilesScanned != 1 {
		t.Errorf("dry run scanned %d", r.FilesScanned)
	}
	if r = e.start("c", StartOptions{}); r.FilesScanned != 1 {
		t.Errorf("crawl after dry run scanned %d", r.FilesScanned)
	}
}

func TestDeleteBehaviors(t *testing.T) {
	for _, behavior := range []string{DeleteLog, DeleteDeprecate, DeleteDelete} {
		t.Run(behavior, func(t *testing.T) {
			e := newEnv(t)
			e.putString("raw/keep/dt=2025-01-01/a.csv", "a\n1\n")
			e.putString("raw/keep/dt=2025-01-02/a.csv", "a\n2\n")
			e.putString("raw/gone/a.csv", "a\n1\n")
			e.crawler("c", Spec{DeleteBehavior: behavior}, "raw/")
			e.start("c", StartOptions{})
			// A table of the same database that this crawler did not create
			// is never touched.
			err := e.cat.CreateTable(e.ctx, catalog.Table{Database: "raw", Name: "manual", Location: "s3://lake/raw/manual/",
				Format: "csv", Columns: []catalog.Column{{Name: "a", Type: "int"}}})
			if err != nil {
				t.Fatal(err)
			}

			e.del("raw/gone/a.csv")
			e.del("raw/keep/dt=2025-01-02/a.csv")
			r := e.start("c", StartOptions{})
			if keep := result(t, r, "keep"); keep.PartitionsRemoved != 1 || len(e.partitions("keep")) != 1 {
				t.Errorf("vanished partition not removed: %+v", keep)
			}
			tr := result(t, r, "gone")
			switch behavior {
			case DeleteLog:
				if tr.Action != ActionDeleteLogged || len(r.TablesDeleted)+len(r.TablesDeprecated) != 0 {
					t.Errorf("result: %+v", tr)
				}
				if e.table("gone").Properties[catalog.PropertyDeprecated] != "" {
					t.Errorf("log deprecated the table")
				}
			case DeleteDeprecate:
				if tr.Action != ActionDeprecate || !slices.Equal(r.TablesDeprecated, []string{"gone"}) {
					t.Errorf("result: %+v", tr)
				}
				if e.table("gone").Properties[catalog.PropertyDeprecated] != "true" {
					t.Errorf("table not deprecated")
				}
				// Files come back: the table is no longer deprecated.
				e.putString("raw/gone/a.csv", "a\n1\n")
				r = e.start("c", StartOptions{})
				if tr := result(t, r, "gone"); tr.Action != ActionUpdate || e.table("gone").Properties[catalog.PropertyDeprecated] != "" {
					t.Errorf("undeprecate: %+v %v", tr, e.table("gone").Properties)
				}
			case DeleteDelete:
				if tr.Action != ActionDelete || !slices.Equal(r.TablesDeleted, []string{"gone"}) {
					t.Errorf("result: %+v", tr)
				}
				e.noTable("gone")
			}
			e.table("manual")
			for _, tr := range r.Tables {
				if tr.Table == "manual" {
					t.Errorf("manual table touched: %+v", tr)
				}
			}
		})
	}
}

func TestRunsPersistedAndInterrupted(t *testing.T) {
	e := newEnv(t)
	e.putString("raw/sales/a.csv", "a\n1\n")
	e.putString("raw/bad/a.json", "{oops")
	e.crawler("c", Spec{}, "raw/")
	r1 := e.start("c", StartOptions{DryRun: true})
	r2 := e.start("c", StartOptions{})

	// A second Start while one runs is refused.
	e.putString("raw/more/a.csv", "a\n1\n")
	var once sync.Once
	var concurrent error
	e.start("c", StartOptions{Progress: func(Progress) {
		once.Do(func() { _, concurrent = e.svc.Start(e.ctx, "c", StartOptions{}) })
	}})
	if !errors.Is(concurrent, ErrCrawlerRunning) {
		t.Errorf("concurrent start: %v", concurrent)
	}
	if err := e.svc.Delete(e.ctx, "nope"); !errors.Is(err, ErrNoSuchCrawler) {
		t.Errorf("delete: %v", err)
	}

	// Simulate a crawl that died: a RUNNING row left behind.
	_, err := e.db.SQL().ExecContext(e.ctx, `INSERT INTO crawler_runs (id, crawler, state, dry_run, started_at) VALUES ('cr-dead', 'c', 'RUNNING', 0, ?)`,
		meta.FormatTime(time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Start(e.ctx, "c", StartOptions{}); !errors.Is(err, ErrCrawlerRunning) {
		t.Errorf("start while another process runs it: %v", err)
	}
	// A run owned by a live process (here: this one) must survive a restart.
	if _, err := e.db.SQL().ExecContext(e.ctx, `INSERT INTO crawler_runs (id, crawler, state, dry_run, started_at, owner) VALUES ('cr-live', 'other', 'RUNNING', 0, ?, ?)`,
		meta.FormatTime(time.Now()), meta.Owner()); err != nil {
		t.Fatal(err)
	}

	// Restart.
	e.close()
	e.open()
	if live, err := e.svc.GetRun(e.ctx, "cr-live"); err != nil || live.State != StateRunning {
		t.Errorf("a live process's run was marked %v (%v)", live.State, err)
	}
	dead, err := e.svc.GetRun(e.ctx, "cr-dead")
	if err != nil || dead.State != StateFailed || !strings.HasPrefix(dead.Error, "interrupted") || dead.EndedAt.IsZero() {
		t.Fatalf("interrupted run: %v %+v", err, dead)
	}
	runs, err := e.svc.Runs(e.ctx, "c")
	if err != nil || len(runs) != 4 {
		t.Fatalf("runs: %v %d", err, len(runs))
	}
	if runs[0].ID != "cr-dead" || runs[3].ID != r1.ID || runs[2].ID != r2.ID {
		t.Errorf("runs not newest first: %v %v %v %v", runs[0].ID, runs[1].ID, runs[2].ID, runs[3].ID)
	}
	got := runs[2]
	if got.State != StateSucceeded || got.DryRun || got.FilesScanned != 2 || len(got.FileErrors) != 1 ||
		!slices.Equal(got.TablesCreated, []string{"sales"}) || got.EndedAt.Before(got.StartedAt) ||
		!reflectEqualTables(got.Tables, r2.Tables) {
		t.Errorf("persisted run: %+v\nwant %+v", got, r2)
	}
	if !runs[3].DryRun {
		t.Errorf("dry run flag lost")
	}
	if _, err := e.svc.GetRun(e.ctx, "nope"); !errors.Is(err, ErrNoSuchRun) {
		t.Errorf("get missing run: %v", err)
	}
	// The crawler works after the restart.
	e.start("c", StartOptions{})
	if err := e.svc.Delete(e.ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetRun(e.ctx, r2.ID); !errors.Is(err, ErrNoSuchRun) {
		t.Errorf("runs survive their crawler: %v", err)
	}
}

func reflectEqualTables(a, b []TableResult) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Table != b[i].Table || a[i].Action != b[i].Action || cols(a[i].Columns) != cols(b[i].Columns) {
			return false
		}
	}
	return true
}

func TestFailedCrawl(t *testing.T) {
	e := newEnv(t)
	if err := e.svc.Create(e.ctx, Spec{Name: "c", Database: "raw", Targets: []string{"s3://no-such-bucket/x/"}}); err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.Start(e.ctx, "c", StartOptions{})
	if !errors.Is(err, ErrCrawlFailed) || r.State != StateFailed || r.Error == "" {
		t.Fatalf("got %v %+v", err, r)
	}
	got, err := e.svc.GetRun(e.ctx, r.ID)
	if err != nil || got.State != StateFailed || got.Error != r.Error {
		t.Fatalf("failed run not recorded: %v %+v", err, got)
	}
}

func TestTableNamingAndTargets(t *testing.T) {
	e := newEnv(t)
	e.putString("raw/sales/sales.csv", "a\n1\n")
	e.putString("landing/Sales Data/x.csv", "a\n1\n")
	e.putString("top/top.csv", "b\n1\n")       // a target with files only is a table
	e.putString("other/sales/y.csv", "c\n1\n") // same name as raw/sales, another place
	e.crawler("c", Spec{}, "raw/sales/", "landing/", "top/", "other/")
	r := e.start("c", StartOptions{})
	noFileErrors(t, r)
	if got := e.table("sales").Location; got != "s3://lake/raw/sales/" {
		t.Errorf("sales: %s", got)
	}
	if got := e.table("sales_data").Location; got != "s3://lake/landing/Sales Data/" {
		t.Errorf("sales_data: %q", got)
	}
	if got := cols(e.table("top").Columns); got != "b bigint" {
		t.Errorf("top: %s", got)
	}
	names := tableNames(r)
	hashed := ""
	for _, n := range names {
		if strings.HasPrefix(n, "sales_") && n != "sales_data" {
			hashed = n
		}
	}
	if len(names) != 4 || len(hashed) != len("sales_")+8 {
		t.Fatalf("tables: %v", names)
	}
	if got := e.table(hashed).Location; got != "s3://lake/other/sales/" {
		t.Errorf("%s: %s", hashed, got)
	}
	// The suffixed name is stable across crawls.
	r = e.start("c", StartOptions{})
	if got := tableNames(r); !slices.Equal(got, names) {
		t.Errorf("recrawl names %v, want %v", got, names)
	}
	for _, tr := range r.Tables {
		if tr.Action != ActionUnchanged {
			t.Errorf("recrawl: %+v", tr)
		}
	}
}

func TestPartitionKeysChange(t *testing.T) {
	e := newEnv(t)
	e.putString("raw/t/a.csv", "id,v\n1,x\n")
	e.crawler("c", Spec{}, "raw/")
	e.start("c", StartOptions{})
	if len(e.table("t").PartitionKeys) != 0 {
		t.Fatal("unpartitioned table expected")
	}
	// The data moves into partition folders.
	e.del("raw/t/a.csv")
	e.putString("raw/t/dt=2025-01-01/a.csv", "id,v\n1,x\n")
	e.putString("raw/t/dt=2025-01-02/a.csv", "id,v\n2,y\n")
	r := e.start("c", StartOptions{})
	tr := result(t, r, "t")
	if tr.Action != ActionUpdate || tr.PartitionsAdded != 2 || len(tr.Changes) != 1 || tr.Changes[0].Kind != catalog.ChangePartitionKeys {
		t.Fatalf("result: %+v", tr)
	}
	if got := cols(e.table("t").PartitionKeys); got != "dt date" || len(e.partitions("t")) != 2 {
		t.Fatalf("keys %s, partitions %+v", got, e.partitions("t"))
	}
	// And again into two levels: the old partitions are replaced.
	e.del("raw/t/dt=2025-01-01/a.csv")
	e.del("raw/t/dt=2025-01-02/a.csv")
	e.putString("raw/t/region=eu/dt=2025-01-01/a.csv", "id,v\n1,x\n")
	r = e.start("c", StartOptions{})
	tr = result(t, r, "t")
	if tr.Action != ActionUpdate || tr.PartitionsAdded != 1 || tr.PartitionsRemoved != 2 {
		t.Fatalf("result: %+v", tr)
	}
	ps := e.partitions("t")
	if got := cols(e.table("t").PartitionKeys); got != "region string, dt date" || len(ps) != 1 ||
		ps[0].Location != "s3://lake/raw/t/region=eu/dt=2025-01-01/" {
		t.Fatalf("keys %s, partitions %+v", got, ps)
	}
}

func TestOddNames(t *testing.T) {
	e := newEnv(t)
	e.putString("raw/odd/a.json", `{"a b": {"c-d": 1, "E f": "x"}, "Ünï": [1], "x\"y": true}`)
	e.putString("raw/odd2/a.csv", "\"first name\",\"e-mail\",\"a,b\"\nann,a@x,1\n")
	e.crawler("c", Spec{}, "raw/")
	r := e.start("c", StartOptions{})
	noFileErrors(t, r)
	tb := e.table("odd")
	if len(tb.Columns) != 3 || tb.Columns[0].Name != "a b" || tb.Columns[1].Name != "Ünï" || tb.Columns[2].Name != `x"y` {
		t.Errorf("odd: %s", cols(tb.Columns))
	}
	if got := tb.Columns[0].Type; !strings.Contains(got, "c-d") || !strings.Contains(got, "E f") {
		t.Errorf("struct fields: %s", got)
	}
	if got := cols(e.table("odd2").Columns); got != "first name string, e-mail string, a,b bigint" {
		t.Errorf("odd2: %s", got)
	}
}

func TestPartitionValueDrift(t *testing.T) {
	for _, policy := range []string{SchemaChangeUpdate, SchemaChangeLog} {
		t.Run(policy, func(t *testing.T) {
			e := newEnv(t)
			e.putString("raw/t/k=1/a.csv", "a\n1\n")
			e.putString("raw/t/k=2/a.csv", "a\n2\n")
			e.crawler("c", Spec{SchemaChangePolicy: policy}, "raw/")
			e.start("c", StartOptions{})
			e.putString("raw/t/k=abc/a.csv", "a\n3\n")
			r := e.start("c", StartOptions{})
			tr := result(t, r, "t")
			switch policy {
			case SchemaChangeUpdate:
				noFileErrors(t, r)
				if got := cols(e.table("t").PartitionKeys); got != "k string" || len(e.partitions("t")) != 3 || tr.PartitionsAdded != 1 {
					t.Errorf("keys %s, %+v", got, tr)
				}
			case SchemaChangeLog:
				if tr.Action != ActionDriftLogged || len(r.FileErrors) != 1 || r.FileErrors[0].URI != "s3://lake/raw/t/k=abc/" {
					t.Errorf("result %+v, file errors %+v", tr, r.FileErrors)
				}
				if got := cols(e.table("t").PartitionKeys); got != "k int" || len(e.partitions("t")) != 2 {
					t.Errorf("keys %s", got)
				}
			}
		})
	}
}
