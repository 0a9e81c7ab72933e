package warehouse

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/tarn-lake/tarn/internal/sqlscan"
)

// The warehouse recognises Redshift statements with a small token-level
// parser: enough to route a statement, find its target and the SELECT it
// contains, and rewrite Redshift-only syntax. Every rewrite edits whole
// tokens of the original text, so string literals, quoted names and
// comments are never touched. Expressions and queries are DuckDB's to parse.

type kind int

const (
	tEOF kind = iota
	tIdent
	tQuoted // "x"
	tString // 'x', E'x' or $$x$$
	tNumber
	tPunct
	tParam // $1, $name
)

type token struct {
	kind     kind
	val      string // identifier or string value (unquoted), punctuation
	pos, end int    // byte span in the source
}

func (t token) is(word string) bool { return t.kind == tIdent && strings.EqualFold(t.val, word) }
func (t token) punct(p string) bool { return t.kind == tPunct && t.val == p }

// lex splits SQL into tokens the way DuckDB reads it (sqlscan's DuckDB
// dialect): a doubled quote stands for one in a string, backslash escapes only in
// E'...', $$ quoting, "" in a quoted name. A $1 or $name parameter is a
// tParam.
func lex(s string) ([]token, error) {
	toks, err := sqlscan.Scan(s, sqlscan.DuckDB)
	if err != nil {
		return nil, err
	}
	out := make([]token, len(toks))
	for i, t := range toks {
		k := tPunct
		switch t.Kind {
		case sqlscan.EOF:
			k = tEOF
		case sqlscan.Ident:
			k = tIdent
		case sqlscan.QuotedIdent:
			k = tQuoted
		case sqlscan.String:
			k = tString
		case sqlscan.Number:
			k = tNumber
		case sqlscan.Param:
			k = tParam
		}
		out[i] = token{k, t.Value, t.Start, t.End}
	}
	return out, nil
}

// edit replaces src[start:end] with text.
type edit struct {
	start, end int
	text       string
}

// apply applies non-overlapping edits (in any order) to src.
func apply(src string, edits []edit) string {
	if len(edits) == 0 {
		return src
	}
	sorted := append([]edit(nil), edits...)
	for i := 1; i < len(sorted); i++ {
		for j := i; j > 0 && sorted[j].start < sorted[j-1].start; j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	var b strings.Builder
	last := 0
	for _, e := range sorted {
		if e.start < last {
			continue // overlapping: the first edit wins
		}
		b.WriteString(src[last:e.start])
		b.WriteString(e.text)
		last = e.end
	}
	b.WriteString(src[last:])
	return b.String()
}

type parser struct {
	src  string
	toks []token
	i    int
}

func newParser(src string) (*parser, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	return &parser{src: src, toks: toks}, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) at(k int) token {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// is reports whether the next tokens are the given words or punctuation.
func (p *parser) is(words ...string) bool {
	for k, w := range words {
		t := p.at(k)
		if len(w) == 1 && !unicode.IsLetter(rune(w[0])) || w == "::" {
			if !t.punct(w) {
				return false
			}
			continue
		}
		if !t.is(w) {
			return false
		}
	}
	return true
}

func (p *parser) accept(words ...string) bool {
	if p.is(words...) {
		p.i += len(words)
		return true
	}
	return false
}

func (p *parser) expect(words ...string) error {
	if !p.accept(words...) {
		return p.errorf("expected %s", strings.Join(words, " "))
	}
	return nil
}

func (p *parser) errorf(format string, args ...any) error {
	t := p.peek()
	got := p.src[t.pos:t.end]
	if t.kind == tEOF {
		got = "end of statement"
	}
	return fmt.Errorf("%s at position %d (near %q)", fmt.Sprintf(format, args...), t.pos+1, got)
}

func (p *parser) ident() (string, error) {
	t := p.peek()
	if t.kind == tIdent {
		p.i++
		return strings.ToLower(t.val), nil
	}
	if t.kind == tQuoted {
		p.i++
		return t.val, nil
	}
	return "", p.errorf("expected a name")
}

func (p *parser) str() (string, error) {
	t := p.peek()
	if t.kind == tString {
		p.i++
		return t.val, nil
	}
	return "", p.errorf("expected a quoted string")
}

// name is a possibly qualified object name: [catalog.][schema.]name.
type name struct {
	Catalog, Schema, Name string
}

func (n name) String() string {
	if n.Schema == "" {
		return n.Name
	}
	return n.Schema + "." + n.Name
}

func (p *parser) qualified() (name, error) {
	var parts []string
	for {
		s, err := p.ident()
		if err != nil {
			return name{}, err
		}
		parts = append(parts, s)
		if len(parts) == 3 || !p.accept(".") {
			break
		}
	}
	switch len(parts) {
	case 1:
		return name{Name: parts[0]}, nil
	case 2:
		return name{Schema: parts[0], Name: parts[1]}, nil
	}
	return name{Catalog: parts[0], Schema: parts[1], Name: parts[2]}, nil
}

// skipParens skips a balanced ( ... ) group starting at the current token
// and returns the span inside it.
func (p *parser) skipParens() (start, end int, err error) {
	if !p.is("(") {
		return 0, 0, p.errorf("expected (")
	}
	open := p.next()
	depth := 1
	for {
		t := p.next()
		switch {
		case t.kind == tEOF:
			return 0, 0, fmt.Errorf("unbalanced parentheses at position %d", open.pos+1)
		case t.punct("("):
			depth++
		case t.punct(")"):
			depth--
			if depth == 0 {
				return open.end, t.pos, nil
			}
		}
	}
}

// identList parses ( a, b, c ).
func (p *parser) identList() ([]string, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	var out []string
	for !p.accept(")") {
		s, err := p.ident()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		if !p.accept(",") && !p.is(")") {
			return nil, p.errorf("expected ',' or ')'")
		}
	}
	return out, nil
}

// rest returns the text from the current token to the end, without a
// trailing semicolon.
func (p *parser) rest() string {
	s := strings.TrimSpace(p.src[p.peek().pos:])
	return strings.TrimSpace(strings.TrimSuffix(s, ";"))
}

func (p *parser) end() error {
	p.accept(";")
	if p.peek().kind != tEOF {
		return p.errorf("unexpected text after the statement")
	}
	return nil
}

// quoteIdent quotes a name for DuckDB.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteString quotes a SQL string literal.
func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
