package query

import "strings"

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
	toks, err := tokenize(stmt)
	if err != nil || len(toks) == 0 || toks[0].kind != tIdent || !strings.EqualFold(toks[0].text, "select") {
		return false
	}
	for i := 1; i < len(toks); i++ {
		t, prev := toks[i], toks[i-1]
		switch t.kind {
		case tEOF, tNumber:
		case tString:
			// The tokenizer reads Hive's backslash escapes; DuckDB does not,
			// so where a backslash is the two could disagree on where the
			// string ends.
			if t.escaped || t.dquoted || strings.Contains(t.text, `\`) {
				return false
			}
		case tPunct:
			// '.' could qualify a name; ':' starts a cast to a type name,
			// '$' a parameter or a dollar-quoted string.
			if strings.ContainsAny(t.text, ".:$") {
				return false
			}
		case tIdent, tQuoted:
			if prev.kind == tIdent && strings.EqualFold(prev.text, "as") {
				continue // a column alias (no CAST can hold AS here: CAST is a name)
			}
			if t.kind == tIdent && constantWords[strings.ToLower(t.text)] {
				continue
			}
			return false
		default:
			return false
		}
	}
	return true
}
