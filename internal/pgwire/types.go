package pgwire

import (
	"fmt"
	"math/big"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tarn-lake/tarn/internal/query"
)

// oidFor returns the PostgreSQL type OID a DuckDB type (as
// database/sql's DatabaseTypeName spells it: "INTEGER", "DECIMAL(10,2)",
// "VARCHAR[]", "TIMESTAMPTZ", ...) is sent as. Nested types (lists, structs,
// maps, unions) and anything without a PostgreSQL equivalent are sent as
// text (their JSON rendering).
func oidFor(duckType string) uint32 {
	t := strings.ToUpper(strings.TrimSpace(duckType))
	switch {
	case strings.HasSuffix(t, "]"), strings.HasPrefix(t, "STRUCT"), strings.HasPrefix(t, "MAP"), strings.HasPrefix(t, "UNION"):
		return pgtype.TextOID
	case strings.HasPrefix(t, "DECIMAL"), strings.HasPrefix(t, "NUMERIC"):
		return pgtype.NumericOID
	}
	switch t {
	case "BOOLEAN", "BOOL":
		return pgtype.BoolOID
	case "TINYINT", "SMALLINT", "UTINYINT", "INT2":
		return pgtype.Int2OID
	case "INTEGER", "USMALLINT", "INT4", "INT":
		return pgtype.Int4OID
	case "BIGINT", "UINTEGER", "INT8":
		return pgtype.Int8OID
	case "UBIGINT", "HUGEINT", "UHUGEINT", "BIGNUM", "VARINT":
		return pgtype.NumericOID
	case "FLOAT", "REAL", "FLOAT4":
		return pgtype.Float4OID
	case "DOUBLE", "FLOAT8":
		return pgtype.Float8OID
	case "VARCHAR", "TEXT", "STRING", "ENUM":
		return pgtype.TextOID
	case "BLOB", "BYTEA":
		return pgtype.ByteaOID
	case "DATE":
		return pgtype.DateOID
	case "TIME":
		return pgtype.TimeOID
	case "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATETIME":
		return pgtype.TimestampOID
	case "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE":
		return pgtype.TimestamptzOID
	case "INTERVAL":
		return pgtype.IntervalOID
	case "UUID":
		return pgtype.UUIDOID
	case "JSON":
		return pgtype.JSONOID
	}
	return pgtype.TextOID
}

// duckTypeNames names the DuckDB types a prepared statement reports, in
// the spelling oidFor understands.
var duckTypeNames = map[duckdb.Type]string{
	duckdb.TYPE_BOOLEAN: "BOOLEAN", duckdb.TYPE_TINYINT: "TINYINT", duckdb.TYPE_SMALLINT: "SMALLINT",
	duckdb.TYPE_INTEGER: "INTEGER", duckdb.TYPE_BIGINT: "BIGINT", duckdb.TYPE_UTINYINT: "UTINYINT",
	duckdb.TYPE_USMALLINT: "USMALLINT", duckdb.TYPE_UINTEGER: "UINTEGER", duckdb.TYPE_UBIGINT: "UBIGINT",
	duckdb.TYPE_FLOAT: "FLOAT", duckdb.TYPE_DOUBLE: "DOUBLE", duckdb.TYPE_TIMESTAMP: "TIMESTAMP",
	duckdb.TYPE_DATE: "DATE", duckdb.TYPE_TIME: "TIME", duckdb.TYPE_INTERVAL: "INTERVAL",
	duckdb.TYPE_HUGEINT: "HUGEINT", duckdb.TYPE_UHUGEINT: "UHUGEINT", duckdb.TYPE_VARCHAR: "VARCHAR",
	duckdb.TYPE_BLOB: "BLOB", duckdb.TYPE_DECIMAL: "DECIMAL", duckdb.TYPE_TIMESTAMP_S: "TIMESTAMP_S",
	duckdb.TYPE_TIMESTAMP_MS: "TIMESTAMP_MS", duckdb.TYPE_TIMESTAMP_NS: "TIMESTAMP_NS", duckdb.TYPE_ENUM: "ENUM",
	duckdb.TYPE_LIST: "LIST[]", duckdb.TYPE_STRUCT: "STRUCT", duckdb.TYPE_MAP: "MAP", duckdb.TYPE_ARRAY: "ARRAY[]",
	duckdb.TYPE_UUID: "UUID", duckdb.TYPE_UNION: "UNION", duckdb.TYPE_TIMESTAMP_TZ: "TIMESTAMPTZ",
	duckdb.TYPE_BIGNUM: "BIGNUM",
}

// duckTypeFor is the DuckDB type a parameter of a PostgreSQL type is cast
// to when it is substituted into a statement ("" leaves it a string
// literal, which DuckDB casts implicitly where it is used).
func duckTypeFor(oid uint32) string {
	switch oid {
	case pgtype.BoolOID:
		return "BOOLEAN"
	case pgtype.Int2OID:
		return "SMALLINT"
	case pgtype.Int4OID:
		return "INTEGER"
	case pgtype.Int8OID:
		return "BIGINT"
	case pgtype.Float4OID:
		return "FLOAT"
	case pgtype.Float8OID:
		return "DOUBLE"
	case pgtype.NumericOID:
		return "DECIMAL(38,10)"
	case pgtype.DateOID:
		return "DATE"
	case pgtype.TimeOID:
		return "TIME"
	case pgtype.TimestampOID:
		return "TIMESTAMP"
	case pgtype.TimestamptzOID:
		return "TIMESTAMPTZ"
	case pgtype.IntervalOID:
		return "INTERVAL"
	case pgtype.UUIDOID:
		return "UUID"
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID:
		return "VARCHAR"
	case pgtype.JSONOID, pgtype.JSONBOID:
		return "JSON"
	}
	return ""
}

// pgValue converts a value scanned from DuckDB into one pgtype encodes as
// the type oid.
func pgValue(v any, oid uint32, duckType string) any {
	if v == nil {
		return nil
	}
	switch x := v.(type) {
	case duckdb.Decimal:
		return pgtype.Numeric{Int: x.Value, Exp: -int32(x.Scale), Valid: true}
	case *big.Int:
		return pgtype.Numeric{Int: x, Valid: true}
	case uint64:
		return pgtype.Numeric{Int: new(big.Int).SetUint64(x), Valid: true}
	case int8:
		return int16(x)
	case uint8:
		return int16(x)
	case uint16:
		return int32(x)
	case uint32:
		return int64(x)
	case duckdb.Interval:
		return pgtype.Interval{Months: x.Months, Days: x.Days, Microseconds: x.Micros, Valid: true}
	case duckdb.UUID:
		return [16]byte(x)
	case time.Time:
		if oid == pgtype.TimeOID {
			us := int64(x.Hour())*3600e6 + int64(x.Minute())*60e6 + int64(x.Second())*1e6 + int64(x.Nanosecond())/1e3
			return pgtype.Time{Microseconds: us, Valid: true}
		}
		return x
	}
	if oid == pgtype.TextOID || oid == pgtype.JSONOID {
		if s, ok := v.(string); ok {
			return s
		}
		return query.FormatValue(v, duckType)
	}
	return v
}

// encodeValue encodes one result value in the wire format (0 text, 1
// binary) of its column's type.
func encodeValue(m *pgtype.Map, v any, oid uint32, duckType string, format int16) ([]byte, error) {
	pv := pgValue(v, oid, duckType)
	if pv == nil {
		return nil, nil
	}
	if t, ok := pv.(time.Time); ok && oid == pgtype.TimestamptzOID && format == 0 {
		return []byte(formatTimestamptz(t)), nil
	}
	buf, err := m.Encode(oid, format, pv, []byte{})
	if err != nil {
		// A value that does not fit the described type (a column whose type
		// differs at run time): send its text.
		if format == 0 {
			return []byte(query.FormatValue(v, duckType)), nil
		}
		return nil, fmt.Errorf("cannot encode %T as type %d: %w", v, oid, err)
	}
	return buf, nil
}

// formatTimestamptz is PostgreSQL's text output of a timestamptz in the
// session's time zone (UTC, the TimeZone tarn reports) with DateStyle ISO:
// 2025-01-01 08:00:00.5+00. (pgx's text encoding ends in Z, which
// psycopg2 cannot read.)
func formatTimestamptz(t time.Time) string {
	t = t.UTC()
	if t.Year() <= 0 {
		// PostgreSQL writes year 0 as 1 BC, -1 as 2 BC, ...
		return fmt.Sprintf("%04d", 1-t.Year()) + t.Format("-01-02 15:04:05.999999") + "+00 BC"
	}
	return t.Format("2006-01-02 15:04:05.999999") + "+00"
}
