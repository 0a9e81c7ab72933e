// Package sqlscan is tarn's one SQL scanner: it splits SQL text into tokens
// with byte spans and a script into statements. It knows the lexical forms
// that can hide a ';' (strings, quoted names, dollar-quoted strings,
// comments) as DuckDB and PostgreSQL read them, so every front end agrees on
// where a statement ends. It does not parse: grammar is DuckDB's, and the few
// statements tarn recognises itself are parsed by their services on top of
// these tokens.
package sqlscan

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is a token's lexical class.
type Kind int

const (
	EOF         Kind = iota
	Ident            // an unquoted word (keyword or name), Value as written
	QuotedIdent      // "x" or `x`; Value without quotes
	String           // 'x', E'x' or $tag$x$tag$; Value decoded
	Number           // 12, 1.5, .5, 1e3
	Param            // $1; Value is the number
	Punct            // one character of punctuation, or "::"
)

// Token is one token of SQL text.
type Token struct {
	Kind Kind
	// Value is the token's meaning: an identifier as written, a quoted name
	// or string without its quotes and escapes, punctuation as written.
	Value string
	// Start and End are the token's byte span in the source.
	Start, End int
	// Escaped is set on a String that held a backslash escape.
	Escaped bool
	// Quote is the opening quote of a QuotedIdent or String: '"', '`',
	// '\'' (also for E'' strings) or '$'.
	Quote byte
}

// Is reports whether t is the word w (case-insensitive) as an unquoted
// identifier, or the punctuation w.
func (t Token) Is(w string) bool {
	if t.Kind == Punct {
		return t.Value == w
	}
	return t.Kind == Ident && strings.EqualFold(t.Value, w)
}

// Dialect selects the lexical rules that differ between SQL dialects.
type Dialect struct {
	// BackslashEscapes makes a backslash an escape in every '...' string,
	// as Hive DDL reads them ('\t' is a tab, '\'' a quote). Without it only
	// E'...' strings have escapes, as in DuckDB and PostgreSQL.
	BackslashEscapes bool
	// Backticks makes `x` a quoted name, as in Hive; DuckDB reads a
	// backtick as an operator character.
	Backticks bool
}

// DuckDB is the dialect of DuckDB (and PostgreSQL): standard strings, E-strings
// strings with backslash escapes, $$ quoting, nested /* */ comments.
var DuckDB = Dialect{}

// Hive is the dialect of Athena's Hive DDL: backslash escapes in strings
// and `quoted` names.
var Hive = Dialect{BackslashEscapes: true, Backticks: true}

// ErrUnterminated is wrapped by errors for text that ends inside a string,
// a quoted name or a comment.
var ErrUnterminated = errors.New("unterminated")

// Error is a lexical error at a byte offset.
type Error struct {
	Pos int // byte offset of the construct that failed
	Msg string
	Err error // ErrUnterminated or nil
}

func (e *Error) Error() string { return fmt.Sprintf("%s at position %d", e.Msg, e.Pos+1) }
func (e *Error) Unwrap() error { return e.Err }

// Scanner reads tokens one at a time, so a caller can look at the first
// words of a statement and change the dialect for the rest of it.
type Scanner struct {
	src string
	pos int
	d   Dialect
}

// NewScanner returns a scanner of src in dialect d.
func NewScanner(src string, d Dialect) *Scanner { return &Scanner{src: src, d: d} }

// SetDialect changes the dialect for the tokens not read yet.
func (s *Scanner) SetDialect(d Dialect) { s.d = d }

// Pos returns the offset where the next token's scan starts.
func (s *Scanner) Pos() int { return s.pos }

// Scan returns all tokens of src, ending with an EOF token.
func Scan(src string, d Dialect) ([]Token, error) {
	s := NewScanner(src, d)
	var out []Token
	for {
		t, err := s.Next()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		if t.Kind == EOF {
			return out, nil
		}
	}
}

// unicodeSpace returns the length of the Unicode space s starts with, or 0.
// DuckDB replaces these with spaces before parsing (outside quotes), so a
// no-break space between SELECT and * separates them: read as part of a
// name, it would hide the words around it from tarn's checks.
func unicodeSpace(s string) int {
	r, n := utf8.DecodeRuneInString(s)
	switch {
	case r == 0xA0, r >= 0x2000 && r <= 0x200B, r == 0x202F, r == 0x205F, r == 0x2060, r == 0x3000, r == 0xFEFF:
		return n
	}
	return 0
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' || c == '$' }

// identAt reports whether src[j] continues a name: a Unicode space does not.
func identAt(src string, j int) bool {
	return isIdentChar(src[j]) && (src[j] < 0x80 || unicodeSpace(src[j:]) == 0)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Next returns the next token, skipping white space and comments; at the
// end it returns EOF tokens.
func (s *Scanner) Next() (Token, error) {
	src := s.src
	for s.pos < len(src) {
		i := s.pos
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			s.pos++
		case c >= 0x80 && unicodeSpace(src[i:]) > 0:
			s.pos += unicodeSpace(src[i:])
		case c == '-' && i+1 < len(src) && src[i+1] == '-':
			// A comment ends at a line end, \n or \r as in PostgreSQL.
			j := strings.IndexAny(src[i:], "\n\r")
			if j < 0 {
				s.pos = len(src)
			} else {
				s.pos = i + j + 1
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			// Block comments nest, as in PostgreSQL and DuckDB.
			depth, j := 1, i+2
			for j < len(src) && depth > 0 {
				switch {
				case src[j] == '/' && j+1 < len(src) && src[j+1] == '*':
					depth++
					j += 2
				case src[j] == '*' && j+1 < len(src) && src[j+1] == '/':
					depth--
					j += 2
				default:
					j++
				}
			}
			if depth > 0 {
				return Token{}, &Error{i, "unterminated /* comment", ErrUnterminated}
			}
			s.pos = j
		default:
			return s.token(i)
		}
	}
	return Token{Kind: EOF, Start: len(src), End: len(src)}, nil
}

func (s *Scanner) token(i int) (Token, error) {
	src := s.src
	c := src[i]
	switch {
	case c == '\'':
		return s.quoted(i, i, s.d.BackslashEscapes)
	case (c == 'E' || c == 'e') && i+1 < len(src) && src[i+1] == '\'':
		return s.quoted(i, i+1, true)
	case c == '"' || c == '`' && s.d.Backticks:
		var b strings.Builder
		j := i + 1
		for {
			if j >= len(src) {
				return Token{}, &Error{i, "unterminated quoted name", ErrUnterminated}
			}
			if src[j] == c {
				if j+1 < len(src) && src[j+1] == c {
					b.WriteByte(c)
					j += 2
					continue
				}
				break
			}
			b.WriteByte(src[j])
			j++
		}
		s.pos = j + 1
		return Token{Kind: QuotedIdent, Value: b.String(), Start: i, End: j + 1, Quote: c}, nil
	case isIdentStart(c) && (c < 0x80 || unicodeSpace(src[i:]) == 0):
		j := i + 1
		for j < len(src) && identAt(src, j) {
			j++
		}
		s.pos = j
		return Token{Kind: Ident, Value: src[i:j], Start: i, End: j}, nil
	case isDigit(c) || c == '.' && i+1 < len(src) && isDigit(src[i+1]):
		j := i + 1
		for j < len(src) && (isDigit(src[j]) || src[j] == '.' || src[j] == '_') {
			j++
		}
		if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
			k := j + 1
			if k < len(src) && (src[k] == '+' || src[k] == '-') {
				k++
			}
			if k < len(src) && isDigit(src[k]) {
				for j = k; j < len(src) && isDigit(src[j]); j++ {
				}
			}
		}
		s.pos = j
		return Token{Kind: Number, Value: src[i:j], Start: i, End: j}, nil
	case c == '$':
		j := i + 1
		for j < len(src) && isDigit(src[j]) {
			j++
		}
		if j > i+1 {
			s.pos = j
			return Token{Kind: Param, Value: src[i+1 : j], Start: i, End: j}, nil
		}
		// $tag$ ... $tag$, the tag empty or an identifier without '$'.
		k := i + 1
		if k < len(src) && isIdentStart(src[k]) && identAt(src, k) {
			for k < len(src) && identAt(src, k) && src[k] != '$' {
				k++
			}
		}
		if k < len(src) && src[k] == '$' {
			tag := src[i : k+1]
			end := strings.Index(src[k+1:], tag)
			if end < 0 {
				return Token{}, &Error{i, "unterminated dollar-quoted string", ErrUnterminated}
			}
			stop := k + 1 + end + len(tag)
			s.pos = stop
			return Token{Kind: String, Value: src[k+1 : k+1+end], Start: i, End: stop, Quote: '$'}, nil
		}
		// $name is a named parameter in DuckDB.
		if k > i+1 {
			s.pos = k
			return Token{Kind: Param, Value: src[i+1 : k], Start: i, End: k}, nil
		}
	case c == ':' && i+1 < len(src) && src[i+1] == ':':
		s.pos = i + 2
		return Token{Kind: Punct, Value: "::", Start: i, End: i + 2}, nil
	}
	_, n := utf8.DecodeRuneInString(src[i:])
	s.pos = i + n
	return Token{Kind: Punct, Value: src[i : i+n], Start: i, End: i + n}, nil
}

// quoted scans a string whose opening quote is at q (start is the token's
// start, before an E prefix).
func (s *Scanner) quoted(start, q int, escapes bool) (Token, error) {
	src := s.src
	// Most strings hold no doubled quote or escape: their value is a slice
	// of the source.
	if k := strings.IndexByte(src[q+1:], '\''); k >= 0 && (q+2+k >= len(src) || src[q+2+k] != '\'') &&
		(!escapes || strings.IndexByte(src[q+1:q+1+k], '\\') < 0) {
		s.pos = q + 2 + k
		return Token{Kind: String, Value: src[q+1 : q+1+k], Start: start, End: q + 2 + k, Quote: '\''}, nil
	}
	var b strings.Builder
	escaped := false
	j := q + 1
	for {
		if j >= len(src) {
			return Token{}, &Error{start, "unterminated quoted string", ErrUnterminated}
		}
		c := src[j]
		if escapes && c == '\\' && j+1 < len(src) {
			escaped = true
			j = unescape(&b, src, j+1, s.d.BackslashEscapes)
			continue
		}
		if c == '\'' {
			if j+1 < len(src) && src[j+1] == '\'' {
				b.WriteByte('\'')
				j += 2
				continue
			}
			break
		}
		b.WriteByte(c)
		j++
	}
	s.pos = j + 1
	return Token{Kind: String, Value: b.String(), Start: start, End: j + 1, Escaped: escaped, Quote: '\''}, nil
}

// unescape decodes the escape after a backslash at src[j-1] and returns
// where scanning resumes. Hive's escapes are \t, \n, \0 and any other
// character standing for itself; PostgreSQL's E-strings add \b, \f, \r,
// octal, \x hex and \u / \U code points.
func unescape(b *strings.Builder, src string, j int, hive bool) int {
	c := src[j]
	switch c {
	case 't':
		b.WriteByte('\t')
	case 'n':
		b.WriteByte('\n')
	default:
		if hive {
			if c == '0' {
				b.WriteByte(0)
			} else {
				b.WriteByte(c)
			}
			return j + 1
		}
		switch {
		case c == 'b':
			b.WriteByte('\b')
		case c == 'f':
			b.WriteByte('\f')
		case c == 'r':
			b.WriteByte('\r')
		case c >= '0' && c <= '7':
			k, v := j, 0
			for k < len(src) && k < j+3 && src[k] >= '0' && src[k] <= '7' {
				v = v*8 + int(src[k]-'0')
				k++
			}
			b.WriteByte(byte(v))
			return k
		case c == 'x' || c == 'u' || c == 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
			k := j + 1
			for k < len(src) && k < j+1+n && strings.IndexByte("0123456789abcdefABCDEF", src[k]) >= 0 {
				k++
			}
			if k == j+1 {
				b.WriteByte(c)
				return j + 1
			}
			v, _ := strconv.ParseUint(src[j+1:k], 16, 32)
			if c == 'x' {
				b.WriteByte(byte(v))
			} else {
				b.WriteRune(rune(v))
			}
			return k
		default:
			b.WriteByte(c)
		}
	}
	return j + 1
}

// isSpace reports whether r is white space the scanner skips: ASCII's and
// the Unicode spaces DuckDB reads as spaces (others, such as U+1680, are
// identifier characters to it).
func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\f', '\v':
		return true
	}
	return r >= 0x80 && unicodeSpace(string(r)) > 0
}

// Statement is one statement of a script.
type Statement struct {
	// Text is the statement without surrounding white space and without
	// its ';'. Comments before it are kept.
	Text string
	// Start and End are Text's span in the script.
	Start, End int
	// Tokens are the statement's tokens (without the ';'), offsets in the
	// script.
	Tokens []Token
}

// Split splits a script on the semicolons that end statements, ignoring
// those inside strings, quoted names and comments. Statements that hold
// nothing but white space and comments are dropped.
func Split(script string, d Dialect) ([]Statement, error) {
	return SplitFunc(script, func(string) Dialect { return d })
}

// SplitFunc is Split with a dialect per statement: dialectOf gets the rest
// of the script from the statement's start and returns the dialect to scan
// that statement in (it should look only at the leading words, for example
// with Words).
func SplitFunc(script string, dialectOf func(rest string) Dialect) ([]Statement, error) {
	var out []Statement
	s := NewScanner(script, DuckDB)
	start := 0
	// All statements' tokens share one array; each statement gets its
	// part (a reallocation leaves earlier parts valid in the old array).
	var toks []Token
	first := 0
	s.SetDialect(dialectOf(script))
	for {
		t, err := s.Next()
		if err != nil {
			return nil, err
		}
		if t.Kind != EOF && !t.Is(";") {
			toks = append(toks, t)
			continue
		}
		if len(toks) > first {
			text := script[start:t.Start]
			lead := strings.TrimLeftFunc(text, isSpace)
			trimmed := strings.TrimRightFunc(lead, isSpace)
			off := start + len(text) - len(lead)
			out = append(out, Statement{Text: trimmed, Start: off, End: off + len(trimmed), Tokens: toks[first:len(toks):len(toks)]})
		}
		if t.Kind == EOF {
			return out, nil
		}
		start, first = t.End, len(toks)
		s.SetDialect(dialectOf(script[start:]))
	}
}

// Words returns up to n leading tokens of text as written, upper-casing
// unquoted identifiers and skipping comments; it stops at the first ';' or
// lexical error. Leading keywords read the same in every dialect.
func Words(text string, n int) []string {
	s := NewScanner(text, DuckDB)
	var out []string
	for len(out) < n {
		t, err := s.Next()
		if err != nil || t.Kind == EOF || t.Is(";") {
			break
		}
		if t.Kind == Ident {
			out = append(out, strings.ToUpper(t.Value))
		} else {
			out = append(out, text[t.Start:t.End])
		}
	}
	return out
}
