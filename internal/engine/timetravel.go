package engine

import (
	"strings"

	"github.com/tarn-lake/tarn/internal/sqlscan"
)

// rewriteTimeTravel turns Athena's (Trino's) time travel clause, which
// DuckDB's parser does not know, into DuckDB's own AT clause, which it parses
// into the table reference's at_clause:
//
//	t FOR TIMESTAMP AS OF expr [AS] x   ->   t AS x AT (TIMESTAMP => expr)
//	t FOR VERSION AS OF expr            ->   t AT (VERSION => expr)
//
// (FOR SYSTEM_TIME / SYSTEM_VERSION, Spark's spellings, are the same.) The
// text is returned unchanged when it has no such clause; a clause it cannot
// delimit is left for DuckDB's parser to refuse.
func rewriteTimeTravel(query string) string {
	if !containsFold(query, "AS OF") && !containsFold(query, "AS\tOF") && !containsFold(query, "AS\nOF") {
		return query
	}
	toks, err := sqlscan.Scan(query, sqlscan.DuckDB)
	if err != nil {
		return query
	}
	var b strings.Builder
	last := 0
	for i := 0; i+3 < len(toks); i++ {
		if !toks[i].Is("FOR") || !toks[i+2].Is("AS") || !toks[i+3].Is("OF") {
			continue
		}
		unit := ""
		switch strings.ToUpper(toks[i+1].Value) {
		case "TIMESTAMP", "SYSTEM_TIME":
			unit = "TIMESTAMP"
		case "VERSION", "SYSTEM_VERSION":
			unit = "VERSION"
		}
		if unit == "" || toks[i+1].Kind != sqlscan.Ident {
			continue
		}
		start := i + 4
		end := exprEnd(toks, start)
		if end == start {
			continue
		}
		expr := query[toks[start].Start:toks[end-1].End]
		// An alias after the clause moves before AT, where DuckDB wants it.
		alias := ""
		next := end
		if next < len(toks) && toks[next].Is("AS") && next+1 < len(toks) {
			alias = query[toks[next+1].Start:toks[next+1].End]
			next += 2
		} else if next < len(toks) && (toks[next].Kind == sqlscan.QuotedIdent || toks[next].Kind == sqlscan.Ident && !clauseWord[strings.ToUpper(toks[next].Value)]) {
			alias = query[toks[next].Start:toks[next].End]
			next++
		}
		b.WriteString(query[last:toks[i].Start])
		if alias != "" {
			b.WriteString("AS " + alias + " ")
		}
		b.WriteString("AT (" + unit + " => " + expr + ")")
		if next < len(toks) {
			last = toks[next-1].End
		} else {
			last = len(query)
		}
		i = next - 1
	}
	if last == 0 {
		return query
	}
	b.WriteString(query[last:])
	return b.String()
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToUpper(s), sub)
}

// clauseWord are the words that end a FROM item: after the time travel
// expression, one of them is not an alias.
var clauseWord = map[string]bool{
	"WHERE": true, "JOIN": true, "INNER": true, "LEFT": true, "RIGHT": true, "FULL": true,
	"CROSS": true, "NATURAL": true, "ON": true, "USING": true, "GROUP": true, "ORDER": true,
	"LIMIT": true, "OFFSET": true, "UNION": true, "EXCEPT": true, "INTERSECT": true,
	"HAVING": true, "WINDOW": true, "QUALIFY": true, "FETCH": true, "AS": true, "TABLESAMPLE": true,
	"POSITIONAL": true, "ASOF": true, "ANTI": true, "SEMI": true, "LATERAL": true, "PIVOT": true, "UNPIVOT": true,
}

// exprWord are words that continue an expression (literal prefixes, units,
// operators spelled as words).
var exprWord = map[string]bool{
	"TIMESTAMP": true, "DATE": true, "TIME": true, "INTERVAL": true, "WITH": true, "ZONE": true,
	"YEAR": true, "YEARS": true, "MONTH": true, "MONTHS": true, "DAY": true, "DAYS": true,
	"HOUR": true, "HOURS": true, "MINUTE": true, "MINUTES": true, "SECOND": true, "SECONDS": true,
	"AT": true, "AND": true, "OR": true, "NOT": true, "IS": true, "NULL": true, "CAST": true,
	"CURRENT_TIMESTAMP": true, "CURRENT_DATE": true, "NOW": true, "LOCALTIMESTAMP": true,
}

// exprEnd returns the index after the expression starting at toks[i]: it
// runs to the first word that cannot continue it, or a comma, semicolon or
// closing parenthesis at its own depth.
func exprEnd(toks []sqlscan.Token, i int) int {
	depth := 0
	operand := false // the previous token completed an operand
	for ; i < len(toks); i++ {
		t := toks[i]
		switch t.Kind {
		case sqlscan.EOF:
			return i
		case sqlscan.Punct:
			switch t.Value {
			case "(":
				depth++
				operand = false
				continue
			case ")":
				if depth == 0 {
					return i
				}
				depth--
				operand = true
				continue
			case ",", ";":
				if depth == 0 {
					return i
				}
			}
			operand = false
			continue
		}
		if depth > 0 {
			continue
		}
		if t.Kind == sqlscan.Ident {
			w := strings.ToUpper(t.Value)
			if clauseWord[w] {
				return i
			}
			if operand && !exprWord[w] {
				return i // an alias
			}
			switch w {
			case "TIMESTAMP", "DATE", "TIME", "INTERVAL", "WITH", "AT", "AND", "OR", "NOT", "IS", "CAST":
				operand = false // a prefix or an operator: the operand follows
			default:
				operand = true // a name, a function, a unit ending an interval, NULL
			}
			continue
		}
		if t.Kind == sqlscan.QuotedIdent && operand {
			return i
		}
		operand = true
	}
	return i
}
