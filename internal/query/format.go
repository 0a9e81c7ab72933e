package query

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// FormatValue renders a DuckDB value as text, as psql or the DuckDB CLI would.
func FormatValue(v any, typ string) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		if typ == "UUID" && len(x) == 16 {
			// duckdb-go scans a UUID into any as its 16 bytes.
			return uuidText(x)
		}
		return fmt.Sprintf("\\x%x", x)
	case time.Time:
		switch {
		case typ == "DATE":
			return x.Format("2006-01-02")
		case strings.HasPrefix(typ, "TIME") && !strings.HasPrefix(typ, "TIMESTAMP"):
			return x.Format("15:04:05.999999")
		case strings.Contains(typ, "TIME ZONE") || typ == "TIMESTAMPTZ":
			return x.Format("2006-01-02 15:04:05.999999-07")
		default:
			return x.Format("2006-01-02 15:04:05.999999")
		}
	case duckdb.Decimal:
		return decimalString(x)
	case *big.Int:
		return x.String()
	case float64:
		return formatFloat(x, 64)
	case float32:
		return formatFloat(float64(x), 32)
	case duckdb.Interval:
		return fmt.Sprintf("%d months %d days %d us", x.Months, x.Days, x.Micros)
	case duckdb.UUID:
		return uuidText(x[:])
	case map[string]any, []any, duckdb.Map, duckdb.OrderedMap, *duckdb.OrderedMap:
		return MarshalTyped(EncodeValue(x, typ), typ)
	default:
		return fmt.Sprint(x)
	}
}

// uuidText is a UUID's 16 bytes as 8-4-4-4-12 hex.
func uuidText(b []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func decimalString(d duckdb.Decimal) string {
	s := new(big.Int).Abs(d.Value).String()
	if d.Scale > 0 {
		for len(s) <= int(d.Scale) {
			s = "0" + s
		}
		s = s[:len(s)-int(d.Scale)] + "." + s[len(s)-int(d.Scale):]
	}
	if d.Value.Sign() < 0 {
		s = "-" + s
	}
	return s
}

// formatFloat prints a float in the shortest form that reads back as the
// same value, in positional notation unless that is unreadably long (the
// rule of JavaScript and encoding/json): 10084778.68, not Go's %v
// 1.008477868e+07. NaN and the infinities are spelled as DuckDB and Trino
// spell them.
func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	abs := math.Abs(f)
	if abs == 0 || (abs >= 1e-6 && abs < 1e21) {
		return strconv.FormatFloat(f, 'f', -1, bits)
	}
	s := strconv.FormatFloat(f, 'e', -1, bits)
	// 1e-07 → 1e-7, as JSON numbers are usually written.
	if i := strings.Index(s, "e-0"); i > 0 {
		s = s[:i+2] + s[i+3:]
	}
	return s
}

// The typed result encoding. A result value travels — from DuckDB to the
// CLI's printer, into the stored result and out of the REST API — as one of:
//
//	nil                 NULL
//	bool                BOOLEAN
//	json.Number         integers, floats (shortest round-trip form), decimals
//	                    (exact digits, with their scale)
//	string              text; DATE as 2006-01-02, TIMESTAMP as
//	                    2006-01-02 15:04:05.999999, TIME, INTERVAL, UUID, BLOB
//	                    as \x hex, NaN and ±Infinity
//	[]any, map[string]any   lists, structs and maps, of the same values
//
// EncodeValue makes it from a DuckDB value, DecodeStored from a stored
// result; both give the same Go values, so a printer fed by either prints
// the same bytes.

// EncodeValue converts a value scanned from DuckDB into the typed result
// encoding; typ is its column's DuckDB type.
func EncodeValue(v any, typ string) any {
	switch x := v.(type) {
	case nil:
		return nil
	case bool:
		return x
	case string:
		return x
	case int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, uint:
		return json.Number(fmt.Sprint(x))
	case *big.Int:
		return json.Number(x.String())
	case duckdb.Decimal:
		return json.Number(decimalString(x))
	case float64, float32:
		s := FormatValue(x, typ)
		if !isJSONNumber(s) {
			return s // NaN, Infinity: JSON has no number for them
		}
		return json.Number(s)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = EncodeValue(e, fieldType(typ, k))
		}
		return m
	case duckdb.Map:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[FormatValue(k, "")] = EncodeValue(e, mapValueType(typ))
		}
		return m
	case duckdb.OrderedMap:
		return EncodeValue(&x, typ)
	case *duckdb.OrderedMap:
		m := make(map[string]any, x.Len())
		vals := x.Values()
		for i, k := range x.Keys() {
			m[FormatValue(k, "")] = EncodeValue(vals[i], mapValueType(typ))
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = EncodeValue(e, elemType(typ))
		}
		return out
	default:
		return FormatValue(x, typ)
	}
}

// TextValue renders an encoded value as a cell of text: numbers and
// strings as they are, nested values as JSON, NULL as "".
func TextValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	default:
		return MarshalValue(v)
	}
}

// MarshalValue renders an encoded value as JSON (without HTML escaping, so
// text reads as it is).
func MarshalValue(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// DecodeStored turns a stored cell (TextValue's text, or NULL) back into the
// typed encoding of a column of DuckDB type typ.
func DecodeStored(text string, null bool, typ string) any {
	if null {
		return nil
	}
	switch t := strings.ToUpper(typ); {
	case t == "BOOLEAN":
		return text == "true"
	case isNestedType(t):
		dec := json.NewDecoder(strings.NewReader(text))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err == nil {
			return v
		}
	case isNumericType(t):
		if isJSONNumber(text) {
			return json.Number(text)
		}
	}
	return text
}

func isJSONNumber(s string) bool {
	return s != "" && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) && json.Valid([]byte(s))
}

func isNumericType(t string) bool {
	switch t {
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
		"FLOAT", "DOUBLE", "REAL":
		return true
	}
	return strings.HasPrefix(t, "DECIMAL")
}

func isNestedType(t string) bool {
	return strings.HasSuffix(t, "]") || strings.HasPrefix(t, "STRUCT") || strings.HasPrefix(t, "MAP") || strings.HasPrefix(t, "UNION")
}

// elemType is the element type of a list type ("INTEGER[]" → "INTEGER").
func elemType(typ string) string {
	if strings.HasSuffix(typ, "]") {
		if i := strings.LastIndex(typ, "["); i > 0 {
			return typ[:i]
		}
	}
	return ""
}

// fieldType is the type of a struct's field, from "STRUCT(a INTEGER, b DATE)".
func fieldType(typ, field string) string {
	for _, f := range typeArgs(typ, "STRUCT") {
		name, t, ok := strings.Cut(f, " ")
		if ok && strings.EqualFold(strings.Trim(name, `"`), field) {
			return strings.TrimSpace(t)
		}
	}
	return ""
}

// mapValueType is the value type of "MAP(VARCHAR, DATE)".
func mapValueType(typ string) string {
	if args := typeArgs(typ, "MAP"); len(args) == 2 {
		return args[1]
	}
	return ""
}

// typeArgs splits the parenthesised arguments of a type such as
// STRUCT(...) at its top-level commas.
func typeArgs(typ, kind string) []string {
	if !strings.HasPrefix(strings.ToUpper(typ), kind+"(") || !strings.HasSuffix(typ, ")") {
		return nil
	}
	inner := typ[len(kind)+1 : len(typ)-1]
	var out []string
	depth, start, quoted := 0, 0, false
	for i := 0; i < len(inner); i++ {
		switch c := inner[i]; {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(inner[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(inner[start:]))
}

// Stored results are CSV as Athena writes them: every value quoted, NULL
// an empty unquoted field, so that NULL and '' stay apart.

// WriteStoredRecord writes one CSV record; a nil cell is NULL.
func WriteStoredRecord(w *bufio.Writer, cells []*string) error {
	for i, c := range cells {
		if i > 0 {
			w.WriteByte(',')
		}
		if c == nil {
			continue
		}
		w.WriteByte('"')
		w.WriteString(strings.ReplaceAll(*c, `"`, `""`))
		w.WriteByte('"')
	}
	_, err := w.WriteString("\n")
	return err
}

// ReadStoredRecord reads one record written by WriteStoredRecord (or any
// CSV with \n or \r\n line ends): each field's text and whether it was an
// unquoted empty field (NULL). It returns io.EOF after the last record.
func ReadStoredRecord(r *bufio.Reader) (fields []string, nulls []bool, err error) {
	var b strings.Builder
	quoted, inQuotes, seen := false, false, false
	end := func() {
		fields = append(fields, b.String())
		nulls = append(nulls, !quoted && b.Len() == 0)
		b.Reset()
		quoted = false
	}
	for {
		c, err := r.ReadByte()
		if err == io.EOF {
			if inQuotes {
				return nil, nil, errors.New("stored result: unterminated quoted field")
			}
			if !seen {
				return nil, nil, io.EOF
			}
			end()
			return fields, nulls, nil
		}
		if err != nil {
			return nil, nil, err
		}
		seen = true
		switch {
		case inQuotes && c == '"':
			if n, _ := r.Peek(1); len(n) == 1 && n[0] == '"' {
				r.ReadByte()
				b.WriteByte('"')
			} else {
				inQuotes = false
			}
		case inQuotes:
			b.WriteByte(c)
		case c == '"':
			inQuotes, quoted = true, true
		case c == ',':
			end()
		case c == '\r':
		case c == '\n':
			end()
			return fields, nulls, nil
		default:
			b.WriteByte(c)
		}
	}
}

// selectItems reads a SELECT's list for athenaNames: per item, whether
// DuckDB's name stands (an alias or a plain column reference), it is a star,
// or the expression is unnamed. ok is false when there is no SELECT list.
func selectItems(ctx context.Context, conn *sql.Conn, text string) (items []selectItem, ok bool) {
	var raw string
	if err := conn.QueryRowContext(ctx, `SELECT json_serialize_sql(?::VARCHAR)::VARCHAR`, text).Scan(&raw); err != nil {
		return nil, false
	}
	var tree struct {
		Error      bool `json:"error"`
		Statements []struct {
			Node map[string]any `json:"node"`
		} `json:"statements"`
	}
	if json.Unmarshal([]byte(raw), &tree) != nil || tree.Error || len(tree.Statements) != 1 {
		return nil, false
	}
	node := tree.Statements[0].Node
	for node != nil && node["type"] != "SELECT_NODE" {
		// A set operation takes its names from its first SELECT.
		switch {
		case node["left"] != nil:
			node, _ = node["left"].(map[string]any)
		default:
			kids, _ := node["children"].([]any)
			if len(kids) == 0 {
				return nil, false
			}
			node, _ = kids[0].(map[string]any)
		}
	}
	if node == nil {
		return nil, false
	}
	list, _ := node["select_list"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		switch {
		case m["class"] == "STAR":
			items = append(items, itemStar)
		case m["alias"] != "" && m["alias"] != nil, m["class"] == "COLUMN_REF":
			items = append(items, itemNamed)
		default:
			items = append(items, itemUnnamed)
		}
	}
	return items, len(items) > 0
}

type selectItem int

const (
	itemNamed selectItem = iota
	itemUnnamed
	itemStar
)

// athenaNames returns the result column names Athena gives a SELECT of
// ncols columns: an item with an alias or a plain column reference keeps
// DuckDB's name ("" at its position), any other expression is _colN, N its
// 0-based position (DuckDB would head count(*) "count_star()"). It returns
// nil when the items cannot be placed on the columns (two stars).
func athenaNames(items []selectItem, ncols int) []string {
	star := -1
	for i, it := range items {
		if it == itemStar {
			if star >= 0 {
				return nil
			}
			star = i
		}
	}
	if (star < 0 && len(items) != ncols) || (star >= 0 && len(items)-1 > ncols) {
		return nil
	}
	names := make([]string, ncols)
	for i, it := range items {
		if it != itemUnnamed {
			continue
		}
		pos := i
		if star >= 0 && i > star {
			pos = ncols - (len(items) - i) // counted from the end, past the star's columns
		}
		names[pos] = "_col" + strconv.Itoa(pos)
	}
	return names
}

// AthenaColumns returns cols, the columns of the SELECT text, with Athena's
// names (athenaNames), for a front end that describes a statement before it
// runs (the PostgreSQL protocol's Describe); conn is any DuckDB connection.
func AthenaColumns(ctx context.Context, conn *sql.Conn, text string, cols []Column) []Column {
	items, ok := selectItems(ctx, conn, text)
	if !ok {
		return cols
	}
	names := athenaNames(items, len(cols))
	if names == nil {
		return cols
	}
	out := append([]Column(nil), cols...)
	for i, n := range names {
		if n != "" {
			out[i].Name = n
		}
	}
	return out
}

// renamingSink gives a result's columns Athena's names (athenaNames).
type renamingSink struct {
	Sink
	items []selectItem
}

func (r *renamingSink) Columns(cols []Column) error {
	if names := athenaNames(r.items, len(cols)); names != nil {
		cols = append([]Column(nil), cols...)
		for i, n := range names {
			if n != "" {
				cols[i].Name = n
			}
		}
	}
	return r.Sink.Columns(cols)
}

// AthenaTypeName is the name Athena gives a result column of DuckDB type
// duck ("varchar", "bigint", "decimal(10,2)", "array(integer)",
// "row(a integer, b date)", ...), for clients that read Athena's types.
func AthenaTypeName(duck string) string {
	t := strings.TrimSpace(duck)
	u := strings.ToUpper(t)
	switch {
	case strings.HasSuffix(u, "]"):
		return "array(" + AthenaTypeName(elemType(t)) + ")"
	case strings.HasPrefix(u, "STRUCT("):
		var fields []string
		for _, f := range typeArgs(t, "STRUCT") {
			name, ft, _ := strings.Cut(f, " ")
			fields = append(fields, strings.Trim(name, `"`)+" "+AthenaTypeName(ft))
		}
		return "row(" + strings.Join(fields, ", ") + ")"
	case strings.HasPrefix(u, "MAP("):
		if args := typeArgs(t, "MAP"); len(args) == 2 {
			return "map(" + AthenaTypeName(args[0]) + ", " + AthenaTypeName(args[1]) + ")"
		}
		return "map"
	case strings.HasPrefix(u, "DECIMAL"):
		return strings.ToLower(strings.ReplaceAll(t, " ", ""))
	}
	switch u {
	case "VARCHAR", "UUID", "ENUM", "JSON", "INTERVAL":
		return "varchar"
	case "BOOLEAN":
		return "boolean"
	case "TINYINT", "UTINYINT":
		return "tinyint"
	case "SMALLINT", "USMALLINT":
		return "smallint"
	case "INTEGER", "UINTEGER":
		return "integer"
	case "BIGINT", "UBIGINT":
		return "bigint"
	case "HUGEINT", "UHUGEINT":
		return "decimal(38,0)"
	case "FLOAT", "REAL":
		return "real"
	case "DOUBLE":
		return "double"
	case "DATE":
		return "date"
	case "TIME":
		return "time"
	case "TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S":
		return "timestamp"
	case "TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ":
		return "timestamp with time zone"
	case "BLOB":
		return "varbinary"
	}
	return strings.ToLower(t)
}

// MarshalTyped is MarshalValue with the fields of structs in the order
// their type (a DuckDB type such as STRUCT("b" INTEGER, "a" DATE)) declares
// them, as Athena and DuckDB print them; encoding/json would sort them.
func MarshalTyped(v any, typ string) string {
	switch x := v.(type) {
	case map[string]any:
		fields := typeArgs(typ, "STRUCT")
		if len(fields) != len(x) {
			return MarshalValue(x) // a MAP, or fields the type does not name
		}
		var b strings.Builder
		b.WriteByte('{')
		for i, f := range fields {
			name, ft, _ := strings.Cut(f, " ")
			name = strings.ReplaceAll(strings.Trim(name, `"`), `""`, `"`)
			e, ok := x[name]
			if !ok {
				return MarshalValue(x)
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(MarshalValue(name))
			b.WriteByte(':')
			b.WriteString(MarshalTyped(e, strings.TrimSpace(ft)))
		}
		b.WriteByte('}')
		return b.String()
	case []any:
		var b strings.Builder
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(MarshalTyped(e, elemType(typ)))
		}
		b.WriteByte(']')
		return b.String()
	}
	return MarshalValue(v)
}

// TextTyped is TextValue with structs' fields in their declared order.
func TextTyped(v any, typ string) string {
	switch v.(type) {
	case map[string]any, []any:
		return MarshalTyped(v, typ)
	}
	return TextValue(v)
}
