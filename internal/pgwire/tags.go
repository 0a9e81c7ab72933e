package pgwire

import (
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/tarn-lake/tarn/internal/query"
)

// Command tags. psql prints a statement's tag (INSERT 0 5, COPY 5, CREATE
// TABLE) and drivers read the row count from it (pgx's CommandTag,
// JDBC's update count). The query service answers a write with a one-row
// result (rows, and for a warehouse COPY rejected and rejected_uri) and DDL
// with no result; pgwire turns those into the tags PostgreSQL and Redshift
// send.

// commandVerbs are the first words of statements that are commands, not
// queries. (MSCK REPAIR TABLE is not: it answers rows, one per partition
// added.)
var commandVerbs = map[string]bool{
	"INSERT": true, "UPDATE": true, "DELETE": true, "MERGE": true, "TRUNCATE": true, "REFRESH": true,
	"CREATE": true, "DROP": true, "ALTER": true, "ANALYZE": true, "VACUUM": true, "COPY": true, "COMMENT": true,
}

// commandVerb returns the first word of a command, "" for anything else.
func commandVerb(text string) string {
	w := words(text, 1)
	if len(w) == 1 && commandVerbs[w[0]] {
		return w[0]
	}
	return ""
}

// commandSink stands between a command and the wire: a result that is only
// the command's row count (or none) is kept for the tag; any other result
// goes to the client as rows.
type commandSink struct {
	w       *wire
	forward bool
	cols    []query.Column
	vals    []any
}

// countColumns reports whether cols are the query service's answer to a
// write: rows, or a warehouse COPY's rows, rejected, rejected_uri.
func countColumns(cols []query.Column) bool {
	switch {
	case len(cols) == 1:
		return cols[0].Name == "rows"
	case len(cols) == 3:
		return cols[0].Name == "rows" && cols[1].Name == "rejected" && cols[2].Name == "rejected_uri"
	}
	return false
}

func (s *commandSink) Columns(cols []query.Column) error {
	if len(cols) == 0 || countColumns(cols) {
		s.cols = cols
		return nil
	}
	s.forward = true
	return s.w.Columns(cols)
}

func (s *commandSink) Row(vals []any) error {
	if s.forward {
		return s.w.Row(vals)
	}
	s.vals = append(s.vals[:0], vals...)
	return nil
}

// copyTarget is the table a warehouse COPY loads.
var copyTarget = regexp.MustCompile(`(?is)^\s*COPY\s+((?:"(?:[^"]|"")*"|[^\s("])+)`)

// finish returns the command's tag, after sending what a COPY reports
// (Redshift's INFO notice).
func (s *commandSink) finish(text string, ex query.Execution) string {
	if s.forward {
		if isDDL(text) && !s.w.columnsSent {
			return ddlTag(text)
		}
		return fmt.Sprintf("SELECT %d", s.w.rows)
	}
	rows, counted := ex.Stats.Rows, false
	if len(s.vals) > 0 {
		rows, counted = toInt64(s.vals[0]), true
	}
	switch verb := commandVerb(text); verb {
	case "INSERT":
		return fmt.Sprintf("INSERT 0 %d", rows)
	case "UPDATE", "DELETE", "MERGE":
		return fmt.Sprintf("%s %d", verb, rows)
	case "COPY":
		if counted && len(s.vals) == 3 {
			table := "?"
			if m := copyTarget.FindStringSubmatch(stripComments(text)); m != nil {
				table = m[1]
			}
			n := &pgproto3.NoticeResponse{Severity: "INFO", SeverityUnlocalized: "INFO", Code: "00000",
				Message: fmt.Sprintf("Load into table '%s' completed, %d record(s) loaded successfully.", table, rows)}
			if rej := toInt64(s.vals[1]); rej > 0 {
				n.Detail = fmt.Sprintf("%d record(s) rejected: see stl_load_errors", rej)
				if uri, _ := s.vals[2].(string); uri != "" {
					n.Detail += " and " + uri
				}
				n.Detail += "."
			}
			s.w.c.be.Send(n)
		}
		return fmt.Sprintf("COPY %d", rows)
	case "TRUNCATE":
		return "TRUNCATE TABLE"
	case "REFRESH":
		return "REFRESH MATERIALIZED VIEW"
	case "CREATE":
		// CREATE TABLE ... AS answers SELECT n, as in PostgreSQL.
		if counted {
			return fmt.Sprintf("SELECT %d", rows)
		}
		return ddlTag(text)
	case "DROP", "ALTER":
		return ddlTag(text)
	default:
		return verb
	}
}

func toInt64(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case uint64:
		return int64(x)
	}
	return 0
}

// ddlTag is the command tag of a DDL statement that returns no rows:
// CREATE TABLE, DROP VIEW, CREATE MATERIALIZED VIEW, ... (OR REPLACE,
// EXTERNAL, TEMP and IF [NOT] EXISTS left out).
func ddlTag(text string) string {
	w := words(text, 8)
	if len(w) == 0 {
		return "OK"
	}
	if w[0] != "CREATE" && w[0] != "DROP" && w[0] != "ALTER" {
		return w[0]
	}
	for i := 1; i < len(w); i++ {
		switch w[i] {
		case "OR", "REPLACE", "EXTERNAL", "TEMP", "TEMPORARY", "LOCAL":
			continue
		case "MATERIALIZED":
			return w[0] + " MATERIALIZED VIEW"
		}
		return w[0] + " " + w[i]
	}
	return w[0]
}
