package awsapi

import (
	"math/big"
	"regexp"
	"strings"

	"github.com/tarn-lake/tarn/internal/catalog"
)

// Glue's GetPartitions Expression is a filter over partition key values
// (Hive's metastore partition filter):
//
//	year = '2024' AND month BETWEEN 1 AND 3 OR NOT (region IN ('eu', 'us'))
//	day LIKE '0%' AND hour IS NOT NULL AND `key` <> 'x'
//
// Keys of numeric types compare as numbers, others as text. It filters the
// catalog's partition list; it is not SQL and never reaches the engine.

// maxExprLen bounds an expression (Glue's limit is 2048 characters).
const maxExprLen = 2048

type exprToken struct {
	kind byte // 'i' identifier, 's' string, 'n' number, 'o' operator or punctuation, 'k' keyword, 0 end
	text string
	pos  int
}

func lexExpression(s string) ([]exprToken, error) {
	var out []exprToken
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'' || c == '"':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return nil, invalidInput("Expression: the string starting at character %d is not closed", i+1)
				}
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c { // doubled quote
						b.WriteByte(c)
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			out = append(out, exprToken{'s', b.String(), i})
			i = j + 1
		case c == '`':
			j := strings.IndexByte(s[i+1:], '`')
			if j < 0 {
				return nil, invalidInput("Expression: the `name` starting at character %d is not closed", i+1)
			}
			out = append(out, exprToken{'i', s[i+1 : i+1+j], i})
			i += j + 2
		case c >= '0' && c <= '9' || (c == '-' || c == '.') && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E') {
				j++
			}
			out = append(out, exprToken{'n', s[i:j], i})
			i = j
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			w := s[i:j]
			switch strings.ToUpper(w) {
			case "AND", "OR", "NOT", "BETWEEN", "IN", "LIKE", "IS", "NULL":
				out = append(out, exprToken{'k', strings.ToUpper(w), i})
			default:
				out = append(out, exprToken{'i', w, i})
			}
			i = j
		default:
			for _, op := range []string{"<=", ">=", "<>", "!=", "=", "<", ">", "(", ")", ","} {
				if strings.HasPrefix(s[i:], op) {
					out = append(out, exprToken{'o', op, i})
					i += len(op)
					goto next
				}
			}
			return nil, invalidInput("Expression: unexpected %q at character %d", string(c), i+1)
		next:
		}
	}
	return append(out, exprToken{0, "", len(s)}), nil
}

type exprParser struct {
	toks []exprToken
	i    int
	keys map[string]int
	num  []bool
}

func (p *exprParser) peek() exprToken { return p.toks[p.i] }
func (p *exprParser) next() exprToken { t := p.toks[p.i]; p.i = min(p.i+1, len(p.toks)-1); return t }

func (p *exprParser) errAt(t exprToken, what string) error {
	got := t.text
	if t.kind == 0 {
		got = "the end"
	}
	return invalidInput("Expression: expected %s at character %d, got %q", what, t.pos+1, got)
}

func (p *exprParser) keyword(k string) bool {
	if t := p.peek(); t.kind == 'k' && t.text == k {
		p.i++
		return true
	}
	return false
}

// pred evaluates to true, false or unknown (SQL's three-valued logic): a
// comparison with the NULL partition (Hive's default partition) or, for a
// numeric key, with a value that is not a number is unknown, and so is its
// negation; a filter keeps only partitions for which it is true.
type pred func(vals []string) tri

type tri int8

// Ordered so that AND is min and OR is max, as in SQL.
const (
	no tri = iota
	unknown
	yes
)

func truth(b bool) tri {
	if b {
		return yes
	}
	return no
}

func (p *exprParser) or() (pred, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("OR") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		a := l
		l = func(v []string) tri { return max(a(v), r(v)) }
	}
	return l, nil
}

func (p *exprParser) and() (pred, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.keyword("AND") {
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		a := l
		l = func(v []string) tri { return min(a(v), r(v)) }
	}
	return l, nil
}

func (p *exprParser) not() (pred, error) {
	if p.keyword("NOT") {
		e, err := p.not()
		if err != nil {
			return nil, err
		}
		return func(v []string) tri { return negate(e(v)) }, nil
	}
	return p.primary()
}

// literal reads a value: a string, a number, or a bare word (Glue takes
// unquoted values for string keys too).
func (p *exprParser) literal() (string, error) {
	t := p.next()
	switch t.kind {
	case 's', 'n', 'i':
		return t.text, nil
	}
	return "", p.errAt(t, "a value")
}

func (p *exprParser) primary() (pred, error) {
	t := p.next()
	if t.kind == 'o' && t.text == "(" {
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != 'o' || c.text != ")" {
			return nil, p.errAt(c, "')'")
		}
		return e, nil
	}
	if t.kind != 'i' {
		return nil, p.errAt(t, "a partition key name")
	}
	idx, ok := p.keys[strings.ToLower(t.text)]
	if !ok {
		names := make([]string, 0, len(p.keys))
		for k := range p.keys {
			names = append(names, k)
		}
		return nil, invalidInput("Expression: %q is not a partition key of the table (its keys: %s)", t.text, strings.Join(names, ", "))
	}
	cmp := func(v, lit string) (int, bool) { return compareValues(v, lit, p.num[idx]) }
	negated := p.keyword("NOT")
	var e pred
	switch op := p.next(); {
	case op.kind == 'o' && !negated && strings.Contains("= <> != < <= > >=", op.text) && op.text != "(" && op.text != ")" && op.text != ",":
		lit, err := p.literal()
		if err != nil {
			return nil, err
		}
		want := map[string]func(int) bool{"=": func(c int) bool { return c == 0 }, "<>": func(c int) bool { return c != 0 }, "!=": func(c int) bool { return c != 0 },
			"<": func(c int) bool { return c < 0 }, "<=": func(c int) bool { return c <= 0 }, ">": func(c int) bool { return c > 0 }, ">=": func(c int) bool { return c >= 0 }}[op.text]
		e = func(v []string) tri {
			c, ok := cmp(v[idx], lit)
			if !ok {
				return unknown
			}
			return truth(want(c))
		}
	case op.kind == 'k' && op.text == "BETWEEN":
		lo, err := p.literal()
		if err != nil {
			return nil, err
		}
		if !p.keyword("AND") {
			return nil, p.errAt(p.peek(), "AND")
		}
		hi, err := p.literal()
		if err != nil {
			return nil, err
		}
		e = func(v []string) tri {
			a, ok1 := cmp(v[idx], lo)
			b, ok2 := cmp(v[idx], hi)
			if !ok1 || !ok2 {
				return unknown
			}
			return truth(a >= 0 && b <= 0)
		}
	case op.kind == 'k' && op.text == "IN":
		if o := p.next(); o.kind != 'o' || o.text != "(" {
			return nil, p.errAt(o, "'(' after IN")
		}
		var lits []string
		for {
			lit, err := p.literal()
			if err != nil {
				return nil, err
			}
			lits = append(lits, lit)
			o := p.next()
			if o.kind == 'o' && o.text == ")" {
				break
			}
			if o.kind != 'o' || o.text != "," {
				return nil, p.errAt(o, "',' or ')'")
			}
		}
		e = func(v []string) tri {
			res := no
			for _, l := range lits {
				c, ok := cmp(v[idx], l)
				if !ok {
					res = unknown
				} else if c == 0 {
					return yes
				}
			}
			return res
		}
	case op.kind == 'k' && op.text == "LIKE":
		lit := p.next()
		if lit.kind != 's' {
			return nil, p.errAt(lit, "a quoted LIKE pattern")
		}
		re := likeRegexp(lit.text)
		e = func(v []string) tri {
			if v[idx] == catalog.DefaultPartitionValue {
				return unknown
			}
			return truth(re.MatchString(v[idx]))
		}
	case op.kind == 'k' && op.text == "IS" && !negated:
		isNot := p.keyword("NOT")
		if !p.keyword("NULL") {
			return nil, p.errAt(p.peek(), "NULL")
		}
		e = func(v []string) tri { return truth((v[idx] == catalog.DefaultPartitionValue) != isNot) }
	default:
		return nil, p.errAt(op, "a comparison (=, <>, <, <=, >, >=, BETWEEN, IN, LIKE, IS NULL)")
	}
	if negated {
		inner := e
		e = func(v []string) tri { return negate(inner(v)) }
	}
	return e, nil
}

func negate(t tri) tri { return yes - t }

func likeRegexp(pat string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?s)^")
	for _, r := range pat {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// compareValues compares a partition value with a literal: as numbers for a
// numeric key, else as text. It is not ok (unknown) for the NULL partition
// and, for a numeric key, when either is not a number.
func compareValues(v, lit string, numeric bool) (int, bool) {
	if v == catalog.DefaultPartitionValue {
		return 0, false
	}
	if !numeric {
		return strings.Compare(v, lit), true
	}
	a, ok1 := new(big.Rat).SetString(v)
	b, ok2 := new(big.Rat).SetString(lit)
	if !ok1 || !ok2 {
		return 0, false
	}
	return a.Cmp(b), true
}

// compileExpression parses a GetPartitions Expression for a table's keys.
func compileExpression(expr string, keys []catalog.Column) (func([]string) bool, error) {
	if len(expr) > maxExprLen {
		return nil, invalidInput("Expression is %d characters; at most %d", len(expr), maxExprLen)
	}
	toks, err := lexExpression(expr)
	if err != nil {
		return nil, err
	}
	p := &exprParser{toks: toks, keys: map[string]int{}, num: make([]bool, len(keys))}
	for i, k := range keys {
		p.keys[strings.ToLower(k.Name)] = i
		if t, err := catalog.ParseType(k.Type); err == nil {
			switch t.Kind {
			case catalog.KindTinyint, catalog.KindSmallint, catalog.KindInt, catalog.KindBigint, catalog.KindFloat, catalog.KindDouble, catalog.KindDecimal:
				p.num[i] = true
			}
		}
	}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != 0 {
		return nil, p.errAt(t, "AND, OR or the end")
	}
	n := len(keys)
	return func(v []string) bool { return len(v) == n && e(v) == yes }, nil
}
