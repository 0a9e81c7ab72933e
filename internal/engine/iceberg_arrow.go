package engine

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// arrowReader is the record stream iceberg-go's inspector returns.
type arrowReader = array.RecordReader

// arrowValues renders a record stream as a SELECT over a VALUES list: the
// metadata tables are small (a row per snapshot, file or partition) and
// DuckDB's Arrow scan needs a build tag tarn does not use. Numbers, booleans,
// strings and timestamps keep their types; nested values are JSON text.
func arrowValues(rdr array.RecordReader) (string, error) {
	sch := rdr.Schema()
	type colType struct {
		name, duck string
		render     func(arr arrow.Array, i int) string
	}
	cols := make([]colType, sch.NumFields())
	for i, f := range sch.Fields() {
		c := colType{name: f.Name}
		switch f.Type.ID() {
		case arrow.BOOL:
			c.duck = "BOOLEAN"
			c.render = func(a arrow.Array, i int) string {
				return strconv.FormatBool(a.(*array.Boolean).Value(i))
			}
		case arrow.INT8, arrow.INT16, arrow.INT32:
			c.duck = "INTEGER"
			c.render = func(a arrow.Array, i int) string { return a.ValueStr(i) }
		case arrow.INT64, arrow.UINT32, arrow.UINT64:
			c.duck = "BIGINT"
			c.render = func(a arrow.Array, i int) string { return a.ValueStr(i) }
		case arrow.FLOAT32, arrow.FLOAT64:
			c.duck = "DOUBLE"
			c.render = func(a arrow.Array, i int) string { return "CAST(" + quoteString(a.ValueStr(i)) + " AS DOUBLE)" }
		case arrow.STRING, arrow.LARGE_STRING:
			c.duck = "VARCHAR"
			c.render = func(a arrow.Array, i int) string { return quoteString(a.ValueStr(i)) }
		case arrow.TIMESTAMP:
			ts := f.Type.(*arrow.TimestampType)
			c.duck = "TIMESTAMP"
			if ts.TimeZone != "" {
				c.duck = "TIMESTAMPTZ"
			}
			c.render = func(a arrow.Array, i int) string {
				v := a.(*array.Timestamp).Value(i)
				t := v.ToTime(ts.Unit).UTC()
				return "CAST(" + quoteString(t.Format("2006-01-02 15:04:05.999999")+"+00") + " AS " + c.duck + ")"
			}
		case arrow.DATE32:
			c.duck = "DATE"
			c.render = func(a arrow.Array, i int) string {
				return "CAST(" + quoteString(a.(*array.Date32).Value(i).FormattedString()) + " AS DATE)"
			}
		default:
			c.duck = "JSON"
			c.render = func(a arrow.Array, i int) string {
				return quoteString(jsonText(a.GetOneForMarshal(i)))
			}
		}
		cols[i] = c
	}
	var rows []string
	for rdr.Next() {
		rec := rdr.RecordBatch()
		for r := 0; r < int(rec.NumRows()); r++ {
			vals := make([]string, len(cols))
			for ci, c := range cols {
				a := rec.Column(ci)
				if a.IsNull(r) {
					vals[ci] = "CAST(NULL AS " + c.duck + ")"
					continue
				}
				vals[ci] = c.render(a, r)
			}
			rows = append(rows, "("+strings.Join(vals, ", ")+")")
		}
	}
	if err := rdr.Err(); err != nil {
		return "", err
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = QuoteIdent(c.name)
	}
	if len(rows) == 0 {
		sel := make([]string, len(cols))
		for i, c := range cols {
			sel[i] = fmt.Sprintf("CAST(NULL AS %s) AS %s", c.duck, QuoteIdent(c.name))
		}
		return "SELECT " + strings.Join(sel, ", ") + " WHERE false", nil
	}
	// The first row's casts name the column types for every row.
	first := make([]string, len(cols))
	for i, c := range cols {
		first[i] = fmt.Sprintf("CAST(%s AS %s) AS %s", QuoteIdent(c.name), c.duck, QuoteIdent(c.name))
	}
	return fmt.Sprintf("SELECT %s FROM (VALUES %s) AS v(%s)", strings.Join(first, ", "), strings.Join(rows, ", "), strings.Join(names, ", ")), nil
}
