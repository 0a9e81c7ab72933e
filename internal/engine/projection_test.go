package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/storage"
)

// projectionLake opens an engine over a real fs store and SQLite catalog
// with database "db" and bucket "lake", and returns a function that puts
// CSV files (header "id,amount") into the bucket.
func projectionLake(t *testing.T) (*engine.Engine, *catalog.Catalog, func(key, body string)) {
	t.Helper()
	ctx := context.Background()
	e, cat, store, _ := testEngine(t)
	if err := cat.CreateDatabase(ctx, catalog.Database{Name: "db"}, false); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	put := func(key, body string) {
		t.Helper()
		if _, err := store.Put(ctx, "lake", key, strings.NewReader(body), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return e, cat, put
}

func csvTable(name, location string, keys []catalog.Column, props map[string]string) catalog.Table {
	return catalog.Table{
		Database: "db", Name: name, Location: location, Format: catalog.FormatCSV,
		FormatOptions: map[string]string{catalog.OptDelimiter: ",", catalog.OptHeader: "true"},
		Columns:       []catalog.Column{{Name: "id", Type: "bigint"}, {Name: "amount", Type: "bigint"}},
		PartitionKeys: keys,
		Properties:    props,
	}
}

// TestInjectedProjection checks Athena's injected projection type: the
// values of an injected key come from = and IN predicates of the query,
// combine with enum keys, and a query without them fails naming the column.
func TestInjectedProjection(t *testing.T) {
	ctx := context.Background()
	e, cat, put := projectionLake(t)
	// Devices are injected (unbounded ids), regions an enum; Hive folders.
	for _, dev := range []string{"a1", "b2", "c3"} {
		for i, region := range []string{"eu", "us"} {
			put(fmt.Sprintf("dev/device=%s/region=%s/data.csv", dev, region), fmt.Sprintf("id,amount\n1,%d\n2,%d\n", 10*(i+1), 100*(i+1)))
		}
	}
	// A template with an injected integer key.
	put("shards/7/x.csv", "id,amount\n7,70\n")
	put("shards/8/x.csv", "id,amount\n8,80\n")
	if err := cat.CreateTable(ctx, csvTable("dev", "s3://lake/dev/",
		[]catalog.Column{{Name: "device", Type: "string"}, {Name: "region", Type: "string"}},
		map[string]string{
			"projection.enabled":       "true",
			"projection.device.type":   "injected",
			"projection.region.type":   "enum",
			"projection.region.values": "eu,us,ap",
		})); err != nil {
		t.Fatal(err)
	}
	if err := cat.CreateTable(ctx, csvTable("shards", "s3://lake/shards/",
		[]catalog.Column{{Name: "shard", Type: "int"}},
		map[string]string{
			"projection.enabled":        "true",
			"projection.shard.type":     " Injected ",
			"storage.location.template": "s3://lake/shards/${shard}/",
		})); err != nil {
		t.Fatal(err)
	}

	run := func(query string) (string, *engine.Bound, error) {
		t.Helper()
		s, err := e.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Release()
		b, err := s.Bind(ctx, query, "db")
		if err != nil {
			return "", nil, err
		}
		rows, err := s.Conn().QueryContext(ctx, b.SQL)
		if err != nil {
			t.Fatalf("%s: %v\n%s", query, err, b.SQL)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			cells := make([]string, len(vals))
			for i, v := range vals {
				cells[i] = fmt.Sprint(v)
			}
			lines = append(lines, strings.Join(cells, "|"))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n"), b, nil
	}
	ok := func(query, want string, scanned, total, files int) {
		t.Helper()
		got, b, err := run(query)
		if err != nil {
			t.Errorf("%s: %v", query, err)
			return
		}
		if got != want {
			t.Errorf("%s:\ngot  %q\nwant %q", query, got, want)
		}
		sc := b.Scans[0]
		if sc.PartitionsScanned != scanned || sc.PartitionsTotal != total || len(sc.Files) != files {
			t.Errorf("%s: partitions %d/%d, files %d; want %d/%d, %d", query,
				sc.PartitionsScanned, sc.PartitionsTotal, len(sc.Files), scanned, total, files)
		}
	}
	// One injected value x 3 enum values, pruned to one by the region filter.
	ok("SELECT sum(amount) FROM dev WHERE device = 'a1' AND region = 'us'", "220", 1, 3, 1)
	ok("SELECT count(*), sum(amount) FROM dev WHERE device = 'b2'", "4|330", 3, 3, 2)
	// IN lists, qualified names, constants on the left, ORs and expressions.
	ok("SELECT device, sum(amount) FROM dev d WHERE d.device IN ('a1', 'c3', 'zz') AND region = 'eu' GROUP BY 1 ORDER BY 1",
		"a1|110\nc3|110", 3, 9, 2)
	ok("SELECT count(*) FROM dev WHERE 'c3' = device AND region <> 'ap'", "4", 2, 3, 2)
	ok("SELECT count(*) FROM dev WHERE (device = 'a1' OR device = 'b' || '2') AND region = 'eu'", "4", 2, 6, 2)
	// A long IN list (2001 devices x 3 regions) is cast in one DuckDB query.
	long := []string{"'a1'"}
	for i := range 2000 {
		long = append(long, fmt.Sprintf("'x%d'", i))
	}
	ok("SELECT count(*) FROM dev WHERE region = 'eu' AND device IN ("+strings.Join(long, ", ")+")", "2", 2001, 6003, 1)
	// A value with no folder scans nothing; NULL selects nothing.
	ok("SELECT count(*) FROM dev WHERE device = 'nope'", "0", 3, 3, 0)
	ok("SELECT count(*) FROM dev WHERE device = NULL", "0", 0, 0, 0)
	// Two references each give their own values; the scan reads the union.
	ok("SELECT x.amount, y.amount FROM dev x JOIN dev y ON x.id = y.id AND x.region = y.region WHERE x.device = 'a1' AND y.device = 'b2' AND x.region = 'eu' AND y.region = 'eu' ORDER BY 1",
		"10|10\n100|100", 2, 6, 2)
	// Typed keys through a template: 7, '8' and 7.0 become the folder names.
	ok("SELECT sum(amount) FROM shards WHERE shard IN (7, '8')", "150", 2, 2, 2)
	ok("SELECT shard, amount FROM shards WHERE shard = 7.0", "7|70", 1, 1, 1)

	for _, q := range []string{
		"SELECT count(*) FROM dev",
		"SELECT count(*) FROM dev WHERE region = 'eu'",
		"SELECT count(*) FROM dev WHERE device LIKE 'a%'",
		"SELECT count(*) FROM dev WHERE device = 'a1' OR region = 'eu'",
		"SELECT count(*) FROM dev WHERE device IN (SELECT 'a1')",
		"SELECT count(*) FROM dev x JOIN dev y ON x.id = y.id WHERE x.device = 'a1'",
		"SELECT count(*) FROM (SELECT * FROM dev) WHERE device = 'a1'",
	} {
		_, _, err := run(q)
		want := "partition projection column device of table db.dev is injected: the query must filter it with = or IN"
		if !errors.Is(err, engine.ErrInjectedFilter) || err.Error() != want {
			t.Errorf("%s: got error %v, want %q", q, err, want)
		}
	}
	// Injected values cannot walk out of a location template.
	if err := cat.CreateTable(ctx, csvTable("named", "s3://lake/named/",
		[]catalog.Column{{Name: "name", Type: "string"}},
		map[string]string{
			"projection.enabled":        "true",
			"projection.name.type":      "injected",
			"storage.location.template": "s3://lake/named/${name}/",
		})); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"..", "../dev", "a/./b", "", `a\b`} {
		q := fmt.Sprintf("SELECT * FROM named WHERE name = '%s'", v)
		if _, _, err := run(q); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("%s: got error %v, want %v", q, err, storage.ErrInvalidKey)
		}
	}
	ok("SELECT count(*) FROM named WHERE name = 'a/b'", "0", 1, 1, 0)

	// Outside a query (TableFiles) an injected table has no partitions.
	tab, err := cat.GetTable(ctx, "db", "dev")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.TableFiles(ctx, tab); !errors.Is(err, engine.ErrInjectedFilter) {
		t.Errorf("TableFiles: got %v, want %v", err, engine.ErrInjectedFilter)
	}
}
