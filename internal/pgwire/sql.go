package pgwire

import (
	"fmt"
	"strconv"
	"strings"
)

// This file scans SQL text only as far as the protocol needs: where
// statements end (a simple query may hold several), where the $n
// placeholders of the extended protocol are, and a statement's first
// words. Everything else is DuckDB's to parse. The scanner knows the
// lexical forms that can hide a ';' or a '$': quoted strings ('' doubled,
// E'' with backslash escapes), quoted identifiers, dollar-quoted strings
// and both kinds of comments.

// span is a placeholder $n found at text[start:end].
type span struct {
	start, end int
	n          int
}

// scan walks text and reports statement ends (the offsets of top-level
// ';') and placeholders. It returns an error for an unterminated string,
// identifier or comment.
func scan(text string) (ends []int, params []span, err error) {
	i := 0
	for i < len(text) {
		c := text[i]
		switch {
		case c == '\'':
			escapes := i > 0 && (text[i-1] == 'E' || text[i-1] == 'e') && (i < 2 || !isIdentChar(text[i-2]))
			j, ok := skipQuoted(text, i, '\'', escapes)
			if !ok {
				return nil, nil, fmt.Errorf("unterminated quoted string")
			}
			i = j
		case c == '"':
			j, ok := skipQuoted(text, i, '"', false)
			if !ok {
				return nil, nil, fmt.Errorf("unterminated quoted identifier")
			}
			i = j
		case c == '-' && i+1 < len(text) && text[i+1] == '-':
			j := strings.IndexByte(text[i:], '\n')
			if j < 0 {
				i = len(text)
			} else {
				i += j + 1
			}
		case c == '/' && i+1 < len(text) && text[i+1] == '*':
			depth, j := 1, i+2
			for j < len(text) && depth > 0 {
				switch {
				case strings.HasPrefix(text[j:], "/*"):
					depth++
					j += 2
				case strings.HasPrefix(text[j:], "*/"):
					depth--
					j += 2
				default:
					j++
				}
			}
			if depth > 0 {
				return nil, nil, fmt.Errorf("unterminated /* comment")
			}
			i = j
		case c == '$':
			j := i + 1
			for j < len(text) && text[j] >= '0' && text[j] <= '9' {
				j++
			}
			if j > i+1 && (i == 0 || !isIdentChar(text[i-1])) {
				n, err := strconv.Atoi(text[i+1 : j])
				if err != nil || n < 1 || n > 65535 {
					return nil, nil, fmt.Errorf("invalid parameter %s", text[i:j])
				}
				params = append(params, span{i, j, n})
				i = j
				continue
			}
			// $tag$ ... $tag$ (tag empty or an identifier)
			k := i + 1
			for k < len(text) && isIdentChar(text[k]) && !(k == i+1 && text[k] >= '0' && text[k] <= '9') {
				k++
			}
			if k < len(text) && text[k] == '$' && (i == 0 || !isIdentChar(text[i-1])) {
				tag := text[i : k+1]
				end := strings.Index(text[k+1:], tag)
				if end < 0 {
					return nil, nil, fmt.Errorf("unterminated dollar-quoted string")
				}
				i = k + 1 + end + len(tag)
				continue
			}
			i++
		case c == ';':
			ends = append(ends, i)
			i++
		default:
			i++
		}
	}
	return ends, params, nil
}

func skipQuoted(text string, i int, q byte, backslash bool) (int, bool) {
	j := i + 1
	for j < len(text) {
		switch {
		case backslash && text[j] == '\\':
			j += 2
		case text[j] == q:
			if j+1 < len(text) && text[j+1] == q {
				j += 2
				continue
			}
			return j + 1, true
		default:
			j++
		}
	}
	return j, false
}

func isIdentChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// splitStatements splits a simple query into its statements, dropping
// empty ones.
func splitStatements(text string) ([]string, error) {
	ends, _, err := scan(text)
	if err != nil {
		return nil, err
	}
	var out []string
	start := 0
	for _, e := range append(ends, len(text)) {
		if s := strings.TrimSpace(text[start:e]); s != "" && !onlyComments(s) {
			out = append(out, s)
		}
		start = e + 1
	}
	return out, nil
}

// onlyComments reports whether s holds nothing but comments.
func onlyComments(s string) bool {
	return len(words(s, 1)) == 0 && !strings.ContainsAny(stripComments(s), "()'\"*$")
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

// stripComments removes comments (outside quotes) from text.
func stripComments(text string) string {
	var b strings.Builder
	i := 0
	for i < len(text) {
		c := text[i]
		switch {
		case c == '\'' || c == '"':
			j, _ := skipQuoted(text, i, c, false)
			b.WriteString(text[i:min(j, len(text))])
			i = j
		case c == '-' && i+1 < len(text) && text[i+1] == '-':
			j := strings.IndexByte(text[i:], '\n')
			if j < 0 {
				return b.String()
			}
			i += j
		case c == '/' && i+1 < len(text) && text[i+1] == '*':
			j := strings.Index(text[i+2:], "*/")
			if j < 0 {
				return b.String()
			}
			b.WriteByte(' ')
			i += j + 4
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// words returns up to n leading words of a statement (upper case; an
// unquoted identifier, a number or a single punctuation character each),
// skipping comments.
func words(text string, n int) []string {
	s := stripComments(text)
	var out []string
	i := 0
	for i < len(s) && len(out) < n {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isIdentChar(c):
			j := i
			for j < len(s) && (isIdentChar(s[j]) || s[j] == '.') {
				j++
			}
			out = append(out, strings.ToUpper(s[i:j]))
			i = j
		case c == '\'' || c == '"':
			j, _ := skipQuoted(s, i, c, false)
			out = append(out, s[i:min(j, len(s))])
			i = j
		default:
			out = append(out, string(c))
			i++
		}
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
