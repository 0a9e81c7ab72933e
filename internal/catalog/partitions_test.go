package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

func partitionedCatalog(tb testing.TB) *Catalog {
	tb.Helper()
	ctx := context.Background()
	c := newTestCatalog(tb)
	mustNoErr(tb, c.CreateDatabase(ctx, Database{Name: "sales"}, false))
	mustNoErr(tb, c.CreateTable(ctx, salesTable()))
	return c
}

func valuesOf(parts []Partition) [][]string {
	out := make([][]string, len(parts))
	for i, p := range parts {
		out[i] = p.Values
	}
	return out
}

func TestPartitions(t *testing.T) {
	ctx := context.Background()
	c := partitionedCatalog(t)

	n, err := c.AddPartitions(ctx, "sales", "orders", []Partition{
		{Values: []string{"2024", "10"}},
		{Values: []string{"2024", "2"}, Location: "s3://elsewhere/feb/", FileCount: 3, Bytes: 300},
		{Values: []string{"2023", "12"}},
		{Values: []string{"2024", "01"}},
	}, false)
	mustNoErr(t, err)
	if n != 4 {
		t.Fatalf("added %d, want 4", n)
	}

	parts, err := c.ListPartitions(ctx, "SALES", "Orders")
	mustNoErr(t, err)
	want := [][]string{{"2023", "12"}, {"2024", "01"}, {"2024", "2"}, {"2024", "10"}}
	if got := valuesOf(parts); !reflect.DeepEqual(got, want) {
		t.Fatalf("ListPartitions order = %v, want %v", got, want)
	}
	if parts[0].Location != "s3://lake/raw/orders/year=2023/month=12/" {
		t.Fatalf("default location = %q", parts[0].Location)
	}
	if parts[2].Location != "s3://elsewhere/feb/" || parts[2].FileCount != 3 || parts[2].Bytes != 300 || parts[2].AddedAt.IsZero() {
		t.Fatalf("partition = %+v", parts[2])
	}

	// Duplicates.
	_, err = c.AddPartitions(ctx, "sales", "orders", []Partition{{Values: []string{"2025", "1"}}, {Values: []string{"2024", "10"}}}, false)
	wantErr(t, err, ErrPartitionExists)
	if !strings.Contains(err.Error(), "year=2024/month=10") {
		t.Fatalf("error does not name the partition: %v", err)
	}
	if _, err := c.GetPartition(ctx, "sales", "orders", []string{"2025", "1"}); !errors.Is(err, ErrNoSuchPartition) {
		t.Fatalf("failed AddPartitions left a partition behind: %v", err)
	}
	n, err = c.AddPartitions(ctx, "sales", "orders", []Partition{{Values: []string{"2025", "1"}}, {Values: []string{"2024", "10"}, Location: "s3://x/"}}, true)
	mustNoErr(t, err)
	if n != 1 {
		t.Fatalf("ifNotExists added %d, want 1", n)
	}
	p, err := c.GetPartition(ctx, "sales", "orders", []string{"2024", "10"})
	mustNoErr(t, err)
	if p.Location != "s3://lake/raw/orders/year=2024/month=10/" {
		t.Fatalf("ifNotExists changed an existing partition: %+v", p)
	}

	// Stats.
	mustNoErr(t, c.UpdatePartitionStats(ctx, "sales", "orders", Partition{Values: []string{"2024", "10"}, FileCount: 7, Bytes: 7000}))
	p, err = c.GetPartition(ctx, "sales", "orders", []string{"2024", "10"})
	mustNoErr(t, err)
	if p.FileCount != 7 || p.Bytes != 7000 || p.Location != "s3://lake/raw/orders/year=2024/month=10/" {
		t.Fatalf("after stats: %+v", p)
	}
	mustNoErr(t, c.UpdatePartitionStats(ctx, "sales", "orders", Partition{Values: []string{"2024", "10"}, FileCount: 1, Bytes: 1, Location: "s3://moved/"}))
	p, err = c.GetPartition(ctx, "sales", "orders", []string{"2024", "10"})
	mustNoErr(t, err)
	if p.Location != "s3://moved/" {
		t.Fatalf("location not updated: %+v", p)
	}
	wantErr(t, c.UpdatePartitionStats(ctx, "sales", "orders", Partition{Values: []string{"1999", "1"}}), ErrNoSuchPartition)
	_, err = c.GetPartition(ctx, "sales", "orders", []string{"1999", "1"})
	wantErr(t, err, ErrNoSuchPartition)
	_, err = c.GetPartition(ctx, "sales", "nope", []string{"1999", "1"})
	wantErr(t, err, ErrNoSuchTable)

	// Drop: missing values are skipped and counted out.
	n, err = c.DropPartitions(ctx, "sales", "orders", [][]string{{"2024", "10"}, {"2024", "01"}, {"1999", "1"}})
	mustNoErr(t, err)
	if n != 2 {
		t.Fatalf("dropped %d, want 2", n)
	}
	_, err = c.DropPartitions(ctx, "sales", "orders", [][]string{{"2024"}})
	wantErr(t, err, ErrInvalidPartition)
	parts, err = c.ListPartitions(ctx, "sales", "orders")
	mustNoErr(t, err)
	if got, want := valuesOf(parts), [][]string{{"2023", "12"}, {"2024", "2"}, {"2025", "1"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after drop = %v, want %v", got, want)
	}

	// Dropping the table drops its partitions.
	mustNoErr(t, c.DropTable(ctx, "sales", "orders"))
	_, err = c.ListPartitions(ctx, "sales", "orders")
	wantErr(t, err, ErrNoSuchTable)
	var left int
	mustNoErr(t, c.db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM catalog_partitions`).Scan(&left))
	if left != 0 {
		t.Fatalf("%d partitions left after DropTable", left)
	}
}

func TestInvalidPartitions(t *testing.T) {
	ctx := context.Background()
	c := newTestCatalog(t)
	mustNoErr(t, c.CreateDatabase(ctx, Database{Name: "db"}, false))
	mustNoErr(t, c.CreateTable(ctx, Table{Database: "db", Name: "typed", Format: FormatParquet,
		Columns: []Column{{Name: "x", Type: "int"}},
		PartitionKeys: []Column{
			{Name: "s", Type: "string"}, {Name: "i", Type: "tinyint"}, {Name: "d", Type: "date"},
			{Name: "ts", Type: "timestamp"}, {Name: "b", Type: "boolean"}, {Name: "m", Type: "decimal(5,2)"},
			{Name: "f", Type: "double"}, {Name: "v", Type: "varchar(3)"},
		}}))
	mustNoErr(t, c.CreateTable(ctx, Table{Database: "db", Name: "flat", Format: FormatCSV, Columns: []Column{{Name: "x", Type: "int"}}}))

	good := []string{"a/b=c", "-128", "2024-02-29", "2024-02-29 13:14:15.123", "true", "-123.45", "1e3", "abc"}
	f := func(i int, v string, msg string) {
		t.Helper()
		vals := append([]string(nil), good...)
		vals[i] = v
		_, err := c.AddPartitions(ctx, "db", "typed", []Partition{{Values: good}, {Values: vals}}, true)
		wantErr(t, err, ErrInvalidPartition)
		if !strings.Contains(err.Error(), msg) {
			t.Fatalf("value %q: error %q does not contain %q", v, err, msg)
		}
	}
	f(1, "128", `value "128" of key "i" is not a tinyint`)
	f(1, "1.5", "not a tinyint")
	f(2, "2023-02-29", "not a date")
	f(2, "20240101", "not a date")
	f(3, "yesterday", "not a timestamp")
	f(4, "yes", "not a boolean")
	f(5, "1234.5", "not a decimal(5,2)")
	f(5, "1.234", "not a decimal(5,2)")
	f(5, "1.2.3", "not a decimal(5,2)")
	f(6, "pi", "not a double")
	f(7, "abcd", "more than varchar(3) allows")
	f(0, "", "is empty")
	// Nothing of a failed call is added.
	parts, err := c.ListPartitions(ctx, "db", "typed")
	mustNoErr(t, err)
	if len(parts) != 0 {
		t.Fatalf("%d partitions after failed adds", len(parts))
	}

	_, err = c.AddPartitions(ctx, "db", "typed", []Partition{{Values: good[:3]}}, false)
	wantErr(t, err, ErrInvalidPartition)
	_, err = c.AddPartitions(ctx, "db", "flat", []Partition{{Values: []string{"x"}}}, false)
	wantErr(t, err, ErrInvalidPartition)

	// Hive's default partition is valid for every type.
	def := make([]string, len(good))
	for i := range def {
		def[i] = DefaultPartitionValue
	}
	n, err := c.AddPartitions(ctx, "db", "typed", []Partition{{Values: good}, {Values: def}}, false)
	mustNoErr(t, err)
	if n != 2 {
		t.Fatalf("added %d, want 2", n)
	}
	p, err := c.GetPartition(ctx, "db", "typed", good)
	mustNoErr(t, err)
	if !reflect.DeepEqual(p.Values, good) {
		t.Fatalf("values round trip: %q", p.Values)
	}
	if p.Location != "" {
		t.Fatalf("table without location gave partition location %q", p.Location)
	}
	parts, err = c.ListPartitions(ctx, "db", "typed")
	mustNoErr(t, err)
	if !reflect.DeepEqual(valuesOf(parts), [][]string{good, def}) {
		t.Fatalf("partitions = %q", valuesOf(parts))
	}
}

func TestPartitionValuesNeedingEscapes(t *testing.T) {
	ctx := context.Background()
	c := newTestCatalog(t)
	mustNoErr(t, c.CreateDatabase(ctx, Database{Name: "db"}, false))
	mustNoErr(t, c.CreateTable(ctx, Table{Database: "db", Name: "t", Format: FormatJSON, Location: "s3://b/t",
		Columns: []Column{{Name: "x", Type: "int"}}, PartitionKeys: []Column{{Name: "k", Type: "string"}}}))
	vals := []string{`a"b`, `c\d`, "<tag>&", "a,b", `","`, "ünï code", "x/y:z=w%"}
	var parts []Partition
	for _, v := range vals {
		parts = append(parts, Partition{Values: []string{v}})
	}
	_, err := c.AddPartitions(ctx, "db", "t", parts, false)
	mustNoErr(t, err)
	for _, v := range vals {
		p, err := c.GetPartition(ctx, "db", "t", []string{v})
		mustNoErr(t, err)
		if p.Values[0] != v {
			t.Fatalf("value %q came back as %q", v, p.Values[0])
		}
	}
	got, err := c.ListPartitions(ctx, "db", "t")
	mustNoErr(t, err)
	if len(got) != len(vals) {
		t.Fatalf("listed %d", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].Values[0] >= got[i].Values[0] {
			t.Fatalf("not sorted: %q", valuesOf(got))
		}
	}
	p, err := c.GetPartition(ctx, "db", "t", []string{"x/y:z=w%"})
	mustNoErr(t, err)
	if p.Location != "s3://b/t/k=x%2Fy%3Az%3Dw%25/" {
		t.Fatalf("escaped location = %q", p.Location)
	}
	if got := UnescapePathName("x%2Fy%3Az%3Dw%25"); got != "x/y:z=w%" {
		t.Fatalf("UnescapePathName = %q", got)
	}
	if got := UnescapePathName("100%"); got != "100%" {
		t.Fatalf("UnescapePathName(100%%) = %q", got)
	}
}

// addManyPartitions adds n partitions (year/month/day, shuffled) in one call.
func addManyPartitions(tb testing.TB, c *Catalog, n int) [][]string {
	tb.Helper()
	ctx := context.Background()
	mustNoErr(tb, c.CreateTable(ctx, Table{Database: "sales", Name: "events", Format: FormatParquet, Location: "s3://lake/events",
		Columns:       []Column{{Name: "id", Type: "bigint"}},
		PartitionKeys: []Column{{Name: "year", Type: "int"}, {Name: "month", Type: "int"}, {Name: "day", Type: "string"}}}))
	want := make([][]string, 0, n)
	start := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		d := start.AddDate(0, 0, i)
		// month not zero-padded, so text order would be wrong.
		want = append(want, []string{fmt.Sprint(d.Year()), fmt.Sprint(int(d.Month())), fmt.Sprintf("%02d", d.Day())})
	}
	parts := make([]Partition, n)
	for i, v := range want {
		parts[i] = Partition{Values: v, FileCount: 1, Bytes: int64(i)}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	added, err := c.AddPartitions(ctx, "sales", "events", parts, false)
	mustNoErr(tb, err)
	if added != n {
		tb.Fatalf("added %d, want %d", added, n)
	}
	return want
}

func TestTenThousandPartitions(t *testing.T) {
	ctx := context.Background()
	c := partitionedCatalog(t)
	startAdd := time.Now()
	want := addManyPartitions(t, c, 10_000)
	addTook := time.Since(startAdd)

	start := time.Now()
	parts, err := c.ListPartitions(ctx, "sales", "events")
	mustNoErr(t, err)
	t.Logf("add 10k: %v, list 10k: %v", addTook, time.Since(start))
	if len(parts) != len(want) {
		t.Fatalf("listed %d, want %d", len(parts), len(want))
	}
	if got := valuesOf(parts); !reflect.DeepEqual(got, want) {
		for i := range got {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("partition %d = %v, want %v", i, got[i], want[i])
			}
		}
	}
	if parts[0].Location != "s3://lake/events/year=1990/month=1/day=01/" {
		t.Fatalf("location = %q", parts[0].Location)
	}
	// How fast is BenchmarkListPartitions10k's question, not this test's: a
	// wall-clock limit here failed under load (154 ms against 100 ms).

	// Adding them all again with ifNotExists adds none; without, fails whole.
	again := make([]Partition, len(want))
	for i, v := range want {
		again[i] = Partition{Values: v}
	}
	n, err := c.AddPartitions(ctx, "sales", "events", again, true)
	mustNoErr(t, err)
	if n != 0 {
		t.Fatalf("re-add added %d", n)
	}
	again = append(again, Partition{Values: []string{"3000", "1", "01"}})
	_, err = c.AddPartitions(ctx, "sales", "events", again, false)
	wantErr(t, err, ErrPartitionExists)
	if _, err := c.GetPartition(ctx, "sales", "events", []string{"3000", "1", "01"}); !errors.Is(err, ErrNoSuchPartition) {
		t.Fatalf("failed AddPartitions left a partition behind: %v", err)
	}
	// Drop half in one call.
	half := want[:5000]
	n, err = c.DropPartitions(ctx, "sales", "events", half)
	mustNoErr(t, err)
	if n != 5000 {
		t.Fatalf("dropped %d", n)
	}
	parts, err = c.ListPartitions(ctx, "sales", "events")
	mustNoErr(t, err)
	if !reflect.DeepEqual(valuesOf(parts), want[5000:]) {
		t.Fatal("wrong partitions left after dropping half")
	}
}

func TestPartitionsInCallerTransaction(t *testing.T) {
	ctx := context.Background()
	c := partitionedCatalog(t)
	boom := errors.New("boom")
	err := c.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := c.AddPartitionsTx(ctx, tx, "sales", "orders", []Partition{{Values: []string{"2024", "1"}}}, false); err != nil {
			return err
		}
		parts, err := c.ListPartitionsTx(ctx, tx, "sales", "orders")
		if err != nil || len(parts) != 1 {
			t.Fatalf("inside tx: %v %v", parts, err)
		}
		return boom
	})
	wantErr(t, err, boom)
	parts, err := c.ListPartitions(ctx, "sales", "orders")
	mustNoErr(t, err)
	if len(parts) != 0 {
		t.Fatal("rolled-back partitions are visible")
	}
	err = c.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := c.AddPartitionsTx(ctx, tx, "sales", "orders", []Partition{{Values: []string{"2024", "1"}}}, false); err != nil {
			return err
		}
		return c.UpdatePartitionStatsTx(ctx, tx, "sales", "orders", Partition{Values: []string{"2024", "1"}, FileCount: 2, Bytes: 20})
	})
	mustNoErr(t, err)
	p, err := c.GetPartition(ctx, "sales", "orders", []string{"2024", "1"})
	mustNoErr(t, err)
	if p.FileCount != 2 || p.Bytes != 20 {
		t.Fatalf("partition = %+v", p)
	}
}

func TestSortPartitions(t *testing.T) {
	types := []Type{{Kind: KindDecimal, Precision: 30, Scale: 2}, {Kind: KindString}}
	parts := []Partition{
		{Values: []string{DefaultPartitionValue, "a"}},
		{Values: []string{"10", "b"}},
		{Values: []string{"9.5", "a"}},
		{Values: []string{"-1", "z"}},
		{Values: []string{"10", "a"}},
		{Values: []string{"123456789012345678901234.01", "a"}},
		{Values: []string{"123456789012345678901234.001", "a"}},
	}
	SortPartitions(types, parts)
	want := [][]string{{"-1", "z"}, {"9.5", "a"}, {"10", "a"}, {"10", "b"},
		{"123456789012345678901234.001", "a"}, {"123456789012345678901234.01", "a"}, {DefaultPartitionValue, "a"}}
	if got := valuesOf(parts); !reflect.DeepEqual(got, want) {
		t.Fatalf("SortPartitions = %v\nwant %v", got, want)
	}
}
