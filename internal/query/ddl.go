package query

import (
	"fmt"
	"strings"

	"github.com/tarn-lake/tarn/internal/sqlscan"
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

// tokenize reads s as Hive DDL: backslash escapes in strings, `quoted`
// names. A '-' right before a number is part of it (PARTITION (k=-1)).
func tokenize(s string) ([]token, error) {
	toks, err := sqlscan.Scan(s, sqlscan.Hive)
	if err != nil {
		return nil, err
	}
	out := make([]token, 0, len(toks))
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		tk := token{text: t.Value, pos: t.Start}
		switch t.Kind {
		case sqlscan.EOF:
			tk.kind = tEOF
		case sqlscan.Ident:
			tk.kind = tIdent
		case sqlscan.QuotedIdent:
			tk.kind, tk.dquoted = tQuoted, t.Quote == '"'
		case sqlscan.String:
			tk.kind, tk.escaped = tString, t.Escaped
		case sqlscan.Number:
			tk.kind = tNumber
		default:
			tk.kind = tPunct
			if t.Value == "-" && i+1 < len(toks) && toks[i+1].Kind == sqlscan.Number && toks[i+1].Start == t.End {
				tk.kind, tk.text = tNumber, "-"+toks[i+1].Value
				i++
			}
		}
		out = append(out, tk)
	}
	return out, nil
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
// ignoring those inside strings, quoted names and comments (see Split).
func SplitStatements(script string) ([]string, error) {
	st, err := Split(script)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	out := make([]string, len(st))
	for i, s := range st {
		out[i] = s.Text
	}
	return out, nil
}

// Split splits a script into statements as every front end reads one:
// Athena's Hive DDL statements with Hive's string escapes (a backslash escapes a quote), every
// other statement as DuckDB reads it ('C:\' is a complete string).
// Statements of only comments are dropped. Its error is sqlscan's.
func Split(script string) ([]sqlscan.Statement, error) {
	return sqlscan.SplitFunc(script, statementDialect)
}

// statementDialect is the dialect of the statement text starts with: Hive
// for the DDL statements parseDDL recognises that can hold strings.
func statementDialect(text string) sqlscan.Dialect {
	w := sqlscan.Words(text, 2)
	if len(w) == 2 {
		switch w[0] + " " + w[1] {
		case "CREATE EXTERNAL", "CREATE DATABASE", "CREATE SCHEMA", "SHOW TABLES", "SHOW DATABASES", "SHOW SCHEMAS":
			return sqlscan.Hive
		case "ALTER TABLE":
			// Athena's partition and location changes, not Redshift's
			// ALTER TABLE (whose strings are DuckDB's).
			for _, x := range sqlscan.Words(text, 12) {
				if x == "PARTITION" || x == "LOCATION" || x == "TBLPROPERTIES" {
					return sqlscan.Hive
				}
			}
		case "CREATE TABLE":
			if hiveTable(text) {
				return sqlscan.Hive
			}
		}
	}
	return sqlscan.DuckDB
}

// hiveTable reports whether the CREATE TABLE text starts with is Hive DDL
// (STORED AS, LOCATION, ROW FORMAT, PARTITIONED BY or TBLPROPERTIES before
// any AS) rather than a CTAS, whose query is DuckDB's. It reads in Hive's
// dialect only up to the first AS, which comes before any query.
func hiveTable(text string) bool {
	sc := sqlscan.NewScanner(text, sqlscan.Hive)
	depth := 0
	for {
		t, err := sc.Next()
		if err != nil || t.Kind == sqlscan.EOF || t.Is(";") {
			return false
		}
		switch {
		case t.Is("("):
			depth++
		case t.Is(")"):
			depth--
		case depth == 0 && t.Is("AS"):
			return false
		case depth == 0 && (t.Is("STORED") || t.Is("LOCATION") || t.Is("ROW") || t.Is("PARTITIONED") || t.Is("TBLPROPERTIES")):
			return true
		}
	}
}
