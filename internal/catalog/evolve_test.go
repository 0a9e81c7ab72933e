package catalog_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/catalog"
)

func TestEvolveSchema(t *testing.T) {
	table := func(cols string, keys ...string) catalog.Table {
		t := catalog.Table{Format: catalog.FormatParquet}
		for _, c := range strings.Split(cols, ";") {
			name, typ, _ := strings.Cut(c, " ")
			t.Columns = append(t.Columns, catalog.Column{Name: name, Type: typ})
		}
		for _, k := range keys {
			t.PartitionKeys = append(t.PartitionKeys, catalog.Column{Name: k, Type: "string"})
		}
		return t
	}
	cur := table("id bigint;amount decimal(10,2);tags struct<a:int>;day date", "region")
	ok := func(out catalog.Table, want string) {
		t.Helper()
		got, err := catalog.EvolveSchema(cur, out)
		if err != nil {
			t.Fatalf("%v: %v", out.Columns, err)
		}
		var s []string
		for _, c := range got.Columns {
			s = append(s, c.Name+" "+c.Type)
		}
		if strings.Join(s, ";") != want {
			t.Errorf("%v:\n got %s\nwant %s", out.Columns, strings.Join(s, ";"), want)
		}
	}
	bad := func(out catalog.Table, want ...string) {
		t.Helper()
		_, err := catalog.EvolveSchema(cur, out)
		if !errors.Is(err, catalog.ErrInvalidTable) {
			t.Fatalf("%v: %v", out.Columns, err)
		}
		for _, w := range append(want, "--mode overwrite") {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %q lacks %q", out.Columns, err, w)
			}
		}
	}
	// Same schema, other order: unchanged.
	ok(table("day date;id bigint;amount decimal(10,2);tags struct<a:int>", "region"), "id bigint;amount decimal(10,2);tags struct<a:int>;day date")
	// New columns last; widenings by the catalog's rules; names matched
	// case-insensitively keep the table's spelling.
	ok(table("ID double;amount decimal(14,4);tags struct<a:int,b:string>;day timestamp;campaign string;n int", "region"),
		"id double;amount decimal(14,4);tags struct<a:int,b:string>;day timestamp;campaign string;n int")
	// Narrowings, drops, other keys and formats: one message for all.
	bad(table("id int;amount decimal(8,2);tags struct<a:int>", "region"),
		"column id is bigint in the table and int in the output", "CAST(id AS BIGINT)",
		"column amount is decimal(10,2) in the table and decimal(8,2) in the output", "CAST(amount AS DECIMAL(10,2))",
		"column day (date) is not in the output: keep it in the SQL as NULL::DATE AS day")
	bad(table("id bigint;amount decimal(10,2);tags struct<a:int>;day bigint", "region"),
		"CAST(day AS DATE) in the SQL keeps the table's type, CAST(day AS VARCHAR) widens it")
	bad(table("id bigint;amount decimal(10,2);tags struct<a:int>;day date", "country"), "partitioned by (country), the table by (region): partition the output by region")
	csv := table("id bigint;amount decimal(10,2);tags struct<a:int>;day date", "region")
	csv.Format = catalog.FormatCSV
	bad(csv, "the output is csv, the table parquet")
}
