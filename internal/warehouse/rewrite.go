package warehouse

import (
	"fmt"
	"strings"
)

// Rewrites from Redshift's SQL to DuckDB's. docs/sql.md lists them all.

// datePartFuncs take a bare date part first (DATEADD(day, 1, ts)); DuckDB
// wants it quoted.
var datePartFuncs = map[string]bool{"dateadd": true, "datediff": true, "date_part": true, "datepart": true, "date_trunc": true}

// RewriteExpressions rewrites Redshift-only expression syntax in a
// statement, token by token: GETDATE() and SYSDATE become
// current_localtimestamp(), a bare date part in DATEADD/DATEDIFF/DATE_PART/
// DATE_TRUNC becomes a string, and VARCHAR(MAX) becomes VARCHAR. Text in
// strings, quoted names and comments is never changed.
func RewriteExpressions(sql string) (string, error) {
	toks, err := lex(sql)
	if err != nil {
		return "", err
	}
	return apply(sql, exprEdits(sql, toks, 0, len(toks))), nil
}

// exprEdits returns the expression rewrites of toks[from:to].
func exprEdits(src string, toks []token, from, to int) []edit {
	var edits []edit
	at := func(i int) token {
		if i >= 0 && i < len(toks) {
			return toks[i]
		}
		return token{kind: tEOF}
	}
	for i := from; i < to; i++ {
		t := toks[i]
		if t.kind != tIdent {
			continue
		}
		afterDot := at(i - 1).punct(".")
		switch strings.ToLower(t.val) {
		case "getdate":
			if !afterDot && at(i+1).punct("(") && at(i+2).punct(")") {
				edits = append(edits, edit{t.pos, at(i + 2).end, "current_localtimestamp()"})
				i += 2
			}
		case "sysdate":
			if !afterDot && !at(i+1).punct("(") && !at(i+1).punct(".") {
				edits = append(edits, edit{t.pos, t.end, "current_localtimestamp()"})
			}
		case "varchar", "nvarchar", "varying", "character", "char", "nchar", "bpchar", "text":
			if at(i+1).punct("(") && at(i+2).is("max") && at(i+3).punct(")") {
				edits = append(edits, edit{at(i + 1).pos, at(i + 3).end, ""})
				i += 3
			}
		default:
			if !afterDot && datePartFuncs[strings.ToLower(t.val)] && at(i+1).punct("(") && at(i+2).kind == tIdent && at(i+3).punct(",") {
				part := at(i + 2)
				edits = append(edits, edit{part.pos, part.end, quoteString(strings.ToLower(part.val))})
				i += 3
			}
		}
	}
	return edits
}

// typeRewrites maps Redshift type names DuckDB lacks (after VARCHAR(MAX)
// is handled) to DuckDB's.
var typeRewrites = map[string]string{
	"super":       "JSON",
	"bpchar":      "VARCHAR",
	"nchar":       "VARCHAR",
	"nvarchar":    "VARCHAR",
	"float4":      "REAL",
	"timetz":      "TIMETZ",
	"varbyte":     "BLOB",
	"varbinary":   "BLOB",
	"binary":      "BLOB",
	"hllsketch":   "BLOB",
	"geometry":    "BLOB",
	"geography":   "BLOB",
	"timestamptz": "TIMESTAMPTZ",
}

// tableDef is a CREATE TABLE's column list rewritten for DuckDB.
type tableDef struct {
	SQL      string   // the column definitions, DuckDB syntax, with %s for each identity sequence name
	Identity []column // identity columns (their sequences)
	SortKey  []string
	DistKey  string
	Dropped  []string // Redshift clauses accepted and ignored, for the record
}

type column struct {
	Name        string
	Seed, Step  int64
	HasIdentity bool
}

// columnAttrs end a column's type.
var columnAttrs = map[string]bool{
	"default": true, "identity": true, "generated": true, "encode": true, "distkey": true, "sortkey": true,
	"not": true, "null": true, "primary": true, "unique": true, "references": true, "collate": true, "constraint": true,
	"check": true,
}

// checkConstraint reads CHECK ( expr ) at toks[i] (i < b): DuckDB enforces
// it as PostgreSQL does (a row whose expression is false is refused; NULL
// passes); it cannot hold a subquery. It returns the clause for DuckDB and
// the index after it.
func checkConstraint(src string, toks []token, i, b int) (string, int, error) {
	if i+1 >= b || !toks[i+1].punct("(") {
		return "", 0, fmt.Errorf("%w: expected CHECK (expression) at position %d", ErrSyntax, toks[i].pos+1)
	}
	depth := 0
	for j := i + 1; j < b; j++ {
		switch {
		case toks[j].punct("("):
			depth++
		case toks[j].punct(")"):
			depth--
			if depth == 0 {
				if j == i+2 {
					return "", 0, fmt.Errorf("%w: CHECK without an expression at position %d", ErrSyntax, toks[i].pos+1)
				}
				expr := apply(src[toks[i+2].pos:toks[j-1].end], shift(exprEdits(src, toks, i+2, j), -toks[i+2].pos))
				return "CHECK (" + strings.TrimSpace(expr) + ")", j + 1, nil
			}
		}
	}
	return "", 0, fmt.Errorf("%w: unbalanced parentheses in CHECK at position %d", ErrSyntax, toks[i].pos+1)
}

// rewriteColumns rewrites the inside of CREATE TABLE's parentheses
// (src[start:end], tokens toks[from:to]). seq names the sequence of an
// identity column.
func rewriteColumns(src string, toks []token, from, to int, seq func(col string) string) (tableDef, error) {
	var def tableDef
	var parts []string
	// Split on top-level commas.
	var elems [][2]int
	depth, start := 0, from
	for i := from; i < to; i++ {
		switch {
		case toks[i].punct("("):
			depth++
		case toks[i].punct(")"):
			depth--
		case toks[i].punct(",") && depth == 0:
			elems = append(elems, [2]int{start, i})
			start = i + 1
		}
	}
	elems = append(elems, [2]int{start, to})
	for _, el := range elems {
		a, b := el[0], el[1]
		if a >= b {
			return def, fmt.Errorf("empty column definition at position %d", toks[a].pos+1)
		}
		first := toks[a]
		switch {
		case first.is("check"), first.is("constraint") && a+2 < b && toks[a+2].is("check"):
			// A table's CHECK constraint, enforced (its name is not kept).
			at := a
			if first.is("constraint") {
				at = a + 2
			}
			clause, next, err := checkConstraint(src, toks, at, b)
			if err != nil {
				return def, err
			}
			if next != b {
				return def, fmt.Errorf("%w: unexpected %q after CHECK (...)", ErrSyntax, src[toks[next].pos:toks[next].end])
			}
			parts = append(parts, clause)
			continue
		case first.is("primary"), first.is("unique"), first.is("foreign"), first.is("constraint"):
			def.Dropped = append(def.Dropped, src[first.pos:toks[b-1].end])
			continue
		case first.is("like"):
			return def, fmt.Errorf("%w: CREATE TABLE (LIKE ...) is not supported", ErrUnsupported)
		case first.is("distkey") || first.is("sortkey"):
			return def, fmt.Errorf("%w: %s belongs after the column list", ErrSyntax, first.val)
		}
		if first.kind != tIdent && first.kind != tQuoted {
			return def, fmt.Errorf("%w: expected a column name at position %d", ErrSyntax, first.pos+1)
		}
		col := first.val
		if first.kind == tIdent {
			col = strings.ToLower(col)
		}
		// Type: up to the first attribute keyword at depth 0.
		i := a + 1
		depth := 0
		for i < b && (depth > 0 || !(toks[i].kind == tIdent && columnAttrs[strings.ToLower(toks[i].val)])) {
			if toks[i].punct("(") {
				depth++
			} else if toks[i].punct(")") {
				depth--
			}
			i++
		}
		if i == a+1 {
			return def, fmt.Errorf("%w: column %q has no type", ErrSyntax, col)
		}
		typ := strings.TrimSpace(apply(src[toks[a+1].pos:toks[i-1].end], shift(exprEdits(src, toks, a+1, i), -toks[a+1].pos)))
		if r, ok := typeRewrites[strings.ToLower(typ)]; ok {
			typ = r
		}
		out := quoteIdent(col) + " " + typ
		// Attributes.
		for i < b {
			t := toks[i]
			switch {
			case t.is("default"):
				j := i + 1
				depth := 0
				for j < b && (depth > 0 || !(toks[j].kind == tIdent && columnAttrs[strings.ToLower(toks[j].val)] && !toks[j].is("null"))) {
					if toks[j].punct("(") {
						depth++
					} else if toks[j].punct(")") {
						depth--
					}
					j++
				}
				if j == i+1 {
					return def, fmt.Errorf("%w: DEFAULT without a value for column %q", ErrSyntax, col)
				}
				expr := apply(src[toks[i+1].pos:toks[j-1].end], shift(exprEdits(src, toks, i+1, j), -toks[i+1].pos))
				out += " DEFAULT " + strings.TrimSpace(expr)
				i = j
			case t.is("identity"), t.is("generated"):
				// IDENTITY(seed, step) | GENERATED {BY DEFAULT | ALWAYS} AS IDENTITY [(seed, step)]
				j := i
				if t.is("generated") {
					j++
					switch {
					case j+2 < b && toks[j].is("by") && toks[j+1].is("default"):
						j += 2
					case j < b && toks[j].is("always"):
						j++
					}
					if j+1 >= b+1 || !toks[j].is("as") || !toks[j+1].is("identity") {
						return def, fmt.Errorf("%w: expected GENERATED BY DEFAULT AS IDENTITY for column %q", ErrSyntax, col)
					}
					j++
				}
				j++ // past IDENTITY
				c := column{Name: col, Seed: 1, Step: 1, HasIdentity: true}
				if j < b && toks[j].punct("(") {
					if j+4 < b+1 && toks[j+1].kind == tNumber && toks[j+2].punct(",") && toks[j+3].kind == tNumber && toks[j+4].punct(")") {
						fmt.Sscan(toks[j+1].val, &c.Seed)
						fmt.Sscan(toks[j+3].val, &c.Step)
						j += 5
					} else {
						return def, fmt.Errorf("%w: expected IDENTITY(seed, step) for column %q", ErrSyntax, col)
					}
				}
				if c.Step == 0 {
					return def, fmt.Errorf("%w: IDENTITY step of column %q cannot be 0", ErrSyntax, col)
				}
				def.Identity = append(def.Identity, c)
				out += fmt.Sprintf(" DEFAULT nextval(%s)", quoteString(seq(col)))
				i = j
			case t.is("encode"), t.is("collate"):
				def.Dropped = append(def.Dropped, src[t.pos:toks[min(i+1, b-1)].end])
				i += 2
			case t.is("distkey"):
				def.DistKey = col
				i++
			case t.is("sortkey"):
				def.SortKey = append(def.SortKey, col)
				i++
			case t.is("not") && i+1 < b && toks[i+1].is("null"):
				out += " NOT NULL"
				i += 2
			case t.is("null"):
				i++
			case t.is("primary") && i+1 < b && toks[i+1].is("key"):
				def.Dropped = append(def.Dropped, "PRIMARY KEY")
				i += 2
			case t.is("unique"):
				def.Dropped = append(def.Dropped, "UNIQUE")
				i++
			case t.is("check"):
				clause, next, err := checkConstraint(src, toks, i, b)
				if err != nil {
					return def, err
				}
				out += " " + clause
				i = next
			case t.is("constraint"):
				i += 2 // the name; the constraint follows
			case t.is("references"):
				j := i + 1
				for j < b && !(toks[j].kind == tIdent && columnAttrs[strings.ToLower(toks[j].val)]) {
					j++
				}
				def.Dropped = append(def.Dropped, src[t.pos:toks[j-1].end])
				i = j
			default:
				return def, fmt.Errorf("%w: unexpected %q in the definition of column %q", ErrSyntax, src[t.pos:t.end], col)
			}
		}
		parts = append(parts, out)
	}
	def.SQL = strings.Join(parts, ", ")
	return def, nil
}

func shift(edits []edit, by int) []edit {
	for i := range edits {
		edits[i].start += by
		edits[i].end += by
	}
	return edits
}

// tableAttrs parses Redshift's table attributes after the column list or
// before AS: BACKUP, DISTSTYLE, DISTKEY, [COMPOUND|INTERLEAVED] SORTKEY,
// ENCODE AUTO, AUTO REFRESH (materialized views). It stops at AS or the end.
func (p *parser) tableAttrs(def *tableDef, autoRefresh *bool) error {
	for {
		switch {
		case p.accept("BACKUP"):
			if !p.accept("YES") && !p.accept("NO") {
				return p.errorf("expected BACKUP YES or NO")
			}
		case p.accept("DISTSTYLE"):
			t := p.next()
			if t.kind != tIdent {
				return p.errorf("expected DISTSTYLE AUTO, EVEN, KEY or ALL")
			}
			def.Dropped = append(def.Dropped, "DISTSTYLE "+strings.ToUpper(t.val))
		case p.accept("DISTKEY"):
			cols, err := p.identList()
			if err != nil {
				return err
			}
			if len(cols) != 1 {
				return p.errorf("DISTKEY takes one column")
			}
			def.DistKey = cols[0]
		case p.is("COMPOUND", "SORTKEY"), p.is("INTERLEAVED", "SORTKEY"), p.is("SORTKEY"):
			if !p.is("SORTKEY") {
				p.next()
			}
			p.next()
			if p.accept("AUTO") {
				continue
			}
			cols, err := p.identList()
			if err != nil {
				return err
			}
			def.SortKey = cols
		case p.accept("ENCODE"):
			if !p.accept("AUTO") {
				return p.errorf("expected ENCODE AUTO")
			}
		case autoRefresh != nil && p.accept("AUTO", "REFRESH"):
			switch {
			case p.accept("YES"):
				*autoRefresh = true
			case p.accept("NO"):
				*autoRefresh = false
			default:
				return p.errorf("expected AUTO REFRESH YES or NO")
			}
		default:
			return nil
		}
	}
}
