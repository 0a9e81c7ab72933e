package pgwire

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tarn-lake/tarn/internal/query"
	"github.com/tarn-lake/tarn/internal/sqlscan"
)

// This file reads SQL text only as far as the protocol needs, with
// sqlscan's DuckDB dialect: where statements end (a simple query may hold
// several), where the $n placeholders of the extended protocol are, and a
// statement's first words. Everything else is DuckDB's to parse.

// span is a placeholder $n found at text[start:end].
type span struct {
	start, end int
	n          int
}

// scan returns text's tokens and its $n placeholders. It returns an error
// for an unterminated string, identifier or comment.
func scan(text string) (toks []sqlscan.Token, params []span, err error) {
	toks, err = sqlscan.Scan(text, sqlscan.DuckDB)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range toks {
		if t.Kind != sqlscan.Param || t.Value[0] < '0' || t.Value[0] > '9' {
			continue // $name is DuckDB's named parameter, not the protocol's
		}
		n, err := strconv.Atoi(t.Value)
		if err != nil || n < 1 || n > 65535 {
			return nil, nil, fmt.Errorf("invalid parameter %s", text[t.Start:t.End])
		}
		params = append(params, span{t.Start, t.End, n})
	}
	return toks, params, nil
}

// splitStatements splits a simple query into its statements as the query
// service reads scripts, dropping empty ones and ones of only comments.
func splitStatements(text string) ([]string, error) {
	st, err := query.Split(text)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(st))
	for i, s := range st {
		out[i] = s.Text
	}
	return out, nil
}

// numParams returns the highest $n in text.
func numParams(text string) (int, error) {
	_, params, err := scan(text)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range params {
		n = max(n, p.n)
	}
	return n, nil
}

// substitute replaces each $n in text with lits[n-1].
func substitute(text string, lits []string) (string, error) {
	_, params, err := scan(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	last := 0
	for _, p := range params {
		if p.n > len(lits) {
			return "", fmt.Errorf("there is no parameter $%d: %d were bound", p.n, len(lits))
		}
		b.WriteString(text[last:p.start])
		b.WriteString(lits[p.n-1])
		last = p.end
	}
	b.WriteString(text[last:])
	return b.String(), nil
}

// stripComments removes comments (outside quotes) from text: a comment
// between tokens becomes a space. Text after a lexical error is kept as it
// is.
func stripComments(text string) string {
	var b strings.Builder
	sc := sqlscan.NewScanner(text, sqlscan.DuckDB)
	last := 0
	for {
		t, err := sc.Next()
		if err != nil {
			var se *sqlscan.Error
			if errors.As(err, &se) {
				b.WriteString(gap(text[last:se.Pos]))
				b.WriteString(text[se.Pos:])
			}
			return b.String()
		}
		if t.Kind == sqlscan.EOF {
			return b.String()
		}
		b.WriteString(gap(text[last:t.Start]))
		b.WriteString(text[t.Start:t.End])
		last = t.End
	}
}

// gap is the text between two tokens without its comments.
func gap(s string) string {
	if strings.Contains(s, "--") || strings.Contains(s, "/*") {
		return " "
	}
	return s
}

// words returns up to n leading words of a statement, skipping comments:
// an unquoted name (upper case, with its dotted parts: PG_CATALOG.PG_TYPE)
// or a number is one word; a quoted string or name, a parameter or a
// punctuation character is one word as written.
func words(text string, n int) []string {
	sc := sqlscan.NewScanner(text, sqlscan.DuckDB)
	var out []string
	var prev sqlscan.Token
	for len(out) < n {
		t, err := sc.Next()
		if err != nil || t.Kind == sqlscan.EOF {
			break
		}
		w := text[t.Start:t.End]
		dotted := len(out) > 0 && prev.End == t.Start && (t.Kind == sqlscan.Ident || t.Kind == sqlscan.Number || t.Is(".")) &&
			(prev.Kind == sqlscan.Ident || prev.Kind == sqlscan.Number || prev.Is("."))
		if t.Kind == sqlscan.Ident {
			w = strings.ToUpper(w)
		}
		if dotted && (t.Is(".") || prev.Is(".")) {
			out[len(out)-1] += w
		} else {
			out = append(out, w)
		}
		prev = t
	}
	return out
}

// quoteLiteral quotes s as a SQL string literal. DuckDB string literals
// have no escapes other than the doubled quote, so this is complete; NUL
// bytes, which PostgreSQL text cannot hold either, are refused by the
// caller.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// quoteIdent quotes s as a SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
