package query

import (
	"fmt"
	"strings"
	"unicode"
)

// Athena's DDL is Hive's, which DuckDB cannot parse. This file recognises
// exactly the Hive DDL statements Athena supports; everything else (SELECT
// and friends) is DuckDB's to parse.

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tQuoted // `x` or "x"
	tString // 'x'
	tNumber
	tPunct
)

type token struct {
	kind tokKind
	text string // identifier text (unquoted), string value, punctuation
	pos  int
	// escaped: a string that held a backslash, which Hive's strings treat
	// as an escape ('\t') and so drop from text.
	escaped bool
	// dquoted: a tQuoted token in double quotes, which Hive also reads as
	// a string where a string is expected (TBLPROPERTIES ("k"="v")).
	dquoted bool
}

func tokenize(s string) ([]token, error) {
	var out []token
	i := 0
	for i < len(s) {
		c := rune(s[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case strings.HasPrefix(s[i:], "--"):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case strings.HasPrefix(s[i:], "/*"):
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				return nil, fmt.Errorf("unterminated comment at position %d", i)
			}
			i += j + 4
		case c == '\'':
			var b strings.Builder
			escaped := false
			j := i + 1
			for {
				if j >= len(s) {
					return nil, fmt.Errorf("unterminated string at position %d", i)
				}
				if s[j] == '\\' && j+1 < len(s) {
					escaped = true
					switch s[j+1] {
					case 't':
						b.WriteByte('\t')
					case 'n':
						b.WriteByte('\n')
					case '0':
						b.WriteByte(0)
					default:
						b.WriteByte(s[j+1])
					}
					j += 2
					continue
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			out = append(out, token{kind: tString, text: b.String(), pos: i, escaped: escaped})
			i = j + 1
		case c == '`' || c == '"':
			j := i + 1
			var b strings.Builder
			for {
				if j >= len(s) {
					return nil, fmt.Errorf("unterminated quoted identifier at position %d", i)
				}
				if rune(s[j]) == c {
					if j+1 < len(s) && rune(s[j+1]) == c {
						b.WriteRune(c)
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			out = append(out, token{kind: tQuoted, text: b.String(), pos: i, dquoted: c == '"'})
			i = j + 1
		case c == '_' || unicode.IsLetter(c):
			j := i
			for j < len(s) && (s[j] == '_' || s[j] == '$' || unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j]))) {
				j++
			}
			out = append(out, token{kind: tIdent, text: s[i:j], pos: i})
			i = j
		case unicode.IsDigit(c) || (c == '-' && i+1 < len(s) && unicode.IsDigit(rune(s[i+1]))):
			j := i + 1
			for j < len(s) && (unicode.IsDigit(rune(s[j])) || s[j] == '.') {
				j++
			}
			out = append(out, token{kind: tNumber, text: s[i:j], pos: i})
			i = j
		default:
			out = append(out, token{kind: tPunct, text: string(c), pos: i})
			i++
		}
	}
	return append(out, token{kind: tEOF, pos: len(s)}), nil
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// is reports whether the next tokens are the given keywords (case-insensitive).
func (p *parser) is(words ...string) bool {
	for k, w := range words {
		if p.i+k >= len(p.toks) {
			return false
		}
		t := p.toks[p.i+k]
		if w == "(" || w == ")" || w == "," || w == "=" || w == "." || w == ";" || w == "[" || w == "]" {
			if t.kind != tPunct || t.text != w {
				return false
			}
			continue
		}
		if t.kind != tIdent || !strings.EqualFold(t.text, w) {
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
	got := t.text
	if t.kind == tEOF {
		got = "end of statement"
	}
	return fmt.Errorf("%s at position %d (near %q)", fmt.Sprintf(format, args...), t.pos+1, got)
}

func (p *parser) ident() (string, error) {
	t := p.peek()
	if t.kind == tIdent || t.kind == tQuoted {
		p.i++
		return t.text, nil
	}
	return "", p.errorf("expected a name")
}

func (p *parser) str() (string, error) {
	t := p.peek()
	if t.kind == tString {
		p.i++
		return t.text, nil
	}
	return "", p.errorf("expected a quoted string")
}

// location parses a quoted storage location. A backslash in it is refused:
// the string rules of Hive DDL make it an escape and drop it, so
// 's3://lake/a\b/' would silently become s3://lake/ab/.
func (p *parser) location() (string, error) {
	t := p.peek()
	if t.kind == tString && t.escaped {
		return "", p.errorf("location at position %d contains a backslash, which is an escape character in these strings and would be dropped: write the location without '\\' (folders are separated by '/')", t.pos)
	}
	return p.str()
}

// qualified parses name or db.name.
func (p *parser) qualified() (db, name string, err error) {
	name, err = p.ident()
	if err != nil {
		return "", "", err
	}
	if p.accept(".") {
		db = name
		if name, err = p.ident(); err != nil {
			return "", "", err
		}
		if p.accept(".") { // awsdatacatalog.db.table
			db = name
			if name, err = p.ident(); err != nil {
				return "", "", err
			}
		}
	}
	return db, name, nil
}

func (p *parser) end() error {
	p.accept(";")
	if p.peek().kind != tEOF {
		return p.errorf("unexpected text after the statement")
	}
	return nil
}

// typeText reads a Hive type up to the next ',' or ')' at depth 0, or COMMENT.
func (p *parser) typeText() (string, error) {
	var b strings.Builder
	depth := 0
	for {
		t := p.peek()
		if t.kind == tEOF {
			return "", p.errorf("unterminated type")
		}
		if depth == 0 && t.kind == tPunct && (t.text == "," || t.text == ")") {
			break
		}
		if depth == 0 && t.kind == tIdent && strings.EqualFold(t.text, "COMMENT") && b.Len() > 0 {
			break
		}
		if t.kind == tPunct {
			switch t.text {
			case "<", "(":
				depth++
			case ">", ")":
				depth--
			}
		}
		if t.kind == tQuoted {
			b.WriteString("`" + t.text + "`")
		} else {
			b.WriteString(t.text)
		}
		p.i++
	}
	if b.Len() == 0 {
		return "", p.errorf("expected a type")
	}
	return b.String(), nil
}

// propertyStr parses a property's key or value: a string in single quotes,
// or — as Hive and Athena's guides write them — in double quotes.
func (p *parser) propertyStr() (string, error) {
	if t := p.peek(); t.kind == tQuoted && t.dquoted {
		p.i++
		return t.text, nil
	}
	return p.str()
}

// kv parses ('k'='v', ...); keys and values may be in double quotes.
func (p *parser) kv() (map[string]string, error) {
	out := map[string]string{}
	if err := p.expect("("); err != nil {
		return nil, err
	}
	for !p.accept(")") {
		k, err := p.propertyStr()
		if err != nil {
			return nil, err
		}
		if err := p.expect("="); err != nil {
			return nil, err
		}
		v, err := p.propertyStr()
		if err != nil {
			return nil, err
		}
		out[k] = v
		if !p.accept(",") && !p.is(")") {
			return nil, p.errorf("expected ',' or ')'")
		}
	}
	return out, nil
}

// partitionSpec parses PARTITION (k='v', k2=3).
func (p *parser) partitionSpec() ([][2]string, error) {
	if err := p.expect("PARTITION"); err != nil {
		return nil, err
	}
	if err := p.expect("("); err != nil {
		return nil, err
	}
	var out [][2]string
	for !p.accept(")") {
		k, err := p.ident()
		if err != nil {
			return nil, err
		}
		if err := p.expect("="); err != nil {
			return nil, err
		}
		t := p.next()
		if t.kind != tString && t.kind != tNumber && t.kind != tIdent {
			return nil, p.errorf("expected a partition value")
		}
		out = append(out, [2]string{k, t.text})
		if !p.accept(",") && !p.is(")") {
			return nil, p.errorf("expected ',' or ')'")
		}
	}
	return out, nil
}

// SplitStatements splits a script on the semicolons that end statements,
// ignoring those inside strings, quoted names and comments.
func SplitStatements(script string) ([]string, error) {
	toks, err := tokenize(script)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	var out []string
	start := 0
	for _, t := range toks {
		if (t.kind == tPunct && t.text == ";") || t.kind == tEOF {
			if s := strings.TrimSpace(script[start:t.pos]); s != "" {
				out = append(out, s)
			}
			start = t.pos + 1
		}
	}
	return out, nil
}
