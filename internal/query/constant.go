package query

import (
	"strings"

	"github.com/tarn-lake/tarn/internal/sqlscan"
)

// constantWords are the keywords a SELECT of constants may hold.
var constantWords = map[string]bool{
	"null": true, "true": true, "false": true, "and": true, "or": true, "not": true, "is": true,
	"case": true, "when": true, "then": true, "else": true, "end": true, "between": true, "in": true,
	"like": true, "distinct": true, "all": true, "as": true,
}

// NamesNothing reports whether a statement is a SELECT of constants that
// names no table, column, function or setting (SELECT 1, SELECT 1 + 1 AS
// two): no catalog, macro or warehouse can change its result, so a one-shot
// command may run it on an engine opened without them. Anything else, or
// anything the tokenizer might read otherwise than DuckDB, is false.
func NamesNothing(stmt string) bool {
	toks, err := sqlscan.Scan(stmt, sqlscan.DuckDB)
	if err != nil || len(toks) == 0 || !toks[0].Is("select") {
		return false
	}
	for i := 1; i < len(toks); i++ {
		t, prev := toks[i], toks[i-1]
		switch t.Kind {
		case sqlscan.EOF, sqlscan.Number:
		case sqlscan.String:
			// Only plain '...' strings: an E'' or $$ string is kept out so
			// the answer stays conservative.
			if t.Escaped || t.Quote != '\'' || strings.Contains(t.Value, `\`) {
				return false
			}
		case sqlscan.Punct:
			// '.' could qualify a name; ':' starts a cast to a type name.
			if strings.ContainsAny(t.Value, ".:$") {
				return false
			}
		case sqlscan.Ident, sqlscan.QuotedIdent:
			if prev.Is("as") {
				continue // a column alias (no CAST can hold AS here: CAST is a name)
			}
			if t.Kind == sqlscan.Ident && constantWords[strings.ToLower(t.Value)] {
				continue
			}
			return false
		default: // a parameter
			return false
		}
	}
	return true
}
