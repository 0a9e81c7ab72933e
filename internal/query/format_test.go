package query_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"reflect"
	"testing"

	"github.com/tarn-lake/tarn/internal/query"
)

// TestStoredResultRoundTrip: a value read back from a stored result (what
// the REST API serves) is the value the engine gave, encoded (what the
// local CLI prints), for every kind of value; NULL and the empty string stay apart.
func TestStoredResultRoundTrip(t *testing.T) {
	l := openLake(t)
	c, _, err := l.Query.Run(context.Background(), `SELECT 1::TINYINT, 9000000000::BIGINT, 170141183460469231731687303715884105727::HUGEINT,
		10084778.68::DOUBLE, 1e-7::DOUBLE, 'Infinity'::DOUBLE, 1.5::FLOAT, 12.30::DECIMAL(10,2), DATE '2025-06-02',
		TIMESTAMP '2025-06-02 10:00:01', TIMESTAMPTZ '2025-06-02 10:00:01+00', 'x,"y"' || chr(10) || 'z', '', NULL, true,
		{'b': [1, NULL], 'a': DATE '2025-01-01'}, MAP {'k': 1.5::DOUBLE}, [[1.25::DECIMAL(4,2)]], '\x01'::BLOB, INTERVAL 1 DAY`, "")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	row := c.Rows[0]
	want := make([]any, len(row))
	cells := make([]*string, len(row))
	for i, v := range row {
		want[i] = query.EncodeValue(v, c.Cols[i].Type)
		if want[i] != nil {
			s := query.TextValue(want[i])
			cells[i] = &s
		}
	}
	if err := query.WriteStoredRecord(w, cells); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	r := bufio.NewReader(&buf)
	texts, nulls, err := query.ReadStoredRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := query.ReadStoredRecord(r); err != io.EOF {
		t.Fatalf("after the record: %v", err)
	}
	for i := range row {
		got := query.DecodeStored(texts[i], nulls[i], c.Cols[i].Type)
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("column %d (%s): stored %#v, engine %#v", i, c.Cols[i].Type, got, want[i])
		}
	}
	if got := query.MarshalValue(want); got != `[1,9000000000,170141183460469231731687303715884105727,10084778.68,1e-7,"Infinity",1.5,12.30,"2025-06-02",`+
		`"2025-06-02 10:00:01","2025-06-02 10:00:01+00","x,\"y\"\nz","",null,true,{"a":"2025-01-01","b":[1,null]},{"k":1.5},[[1.25]],"\\x01","0 months 1 days 0 us"]` {
		t.Errorf("encoded: %s", got)
	}
}

// TestStructFieldOrder: a struct prints its fields in the order its type
// declares them, as Athena does, not sorted.
func TestStructFieldOrder(t *testing.T) {
	l := openLake(t)
	c, _, err := l.Query.Run(context.Background(), `SELECT {'zip': '02134', 'city': {'name': 'Boston', 'area': 1}} AS s`, "")
	if err != nil {
		t.Fatal(err)
	}
	v := query.EncodeValue(c.Rows[0][0], c.Cols[0].Type)
	if got, want := query.MarshalTyped(v, c.Cols[0].Type), `{"zip":"02134","city":{"name":"Boston","area":1}}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestAthenaTypeName(t *testing.T) {
	for duck, want := range map[string]string{
		"VARCHAR": "varchar", "INTEGER": "integer", "BIGINT": "bigint", "DOUBLE": "double", "DECIMAL(10,2)": "decimal(10,2)",
		"DATE": "date", "TIMESTAMP": "timestamp", "BOOLEAN": "boolean", "INTEGER[]": "array(integer)",
		`STRUCT("b" INTEGER, "a" DATE[])`: "row(b integer, a array(date))", "MAP(VARCHAR, DOUBLE)": "map(varchar, double)",
	} {
		if got := query.AthenaTypeName(duck); got != want {
			t.Errorf("AthenaTypeName(%q) = %q, want %q", duck, got, want)
		}
	}
}
