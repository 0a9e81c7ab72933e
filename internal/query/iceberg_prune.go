package query

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	iceberggo "github.com/apache/iceberg-go"

	"github.com/tarn-lake/tarn/internal/engine"
)

// pruneFilter derives an Iceberg row filter from a statement's condition,
// for IcebergTarget to rule out files: the conjunction of the condition's
// top-level conjuncts that compare a target column with a constant
// (=, <, <=, >, >=, BETWEEN, IN, IS [NOT] NULL), and for MERGE (srcAlias
// set) the range [min, max] of the source column each target column is
// equated with. Every row satisfying the condition satisfies the filter,
// so the files it rules out hold no row the statement touches. A constant
// is used only if it converts exactly to the column's type; anything else
// (functions, subqueries, other types) is left out, and nil means no
// pruning.
func (s *Service) pruneFilter(ctx context.Context, sess *engine.Session, sch *iceberggo.Schema, alias, cond string, qualifiedOnly bool, srcAlias string) iceberggo.BooleanExpression {
	conn := sess.Conn()
	var raw string
	q := "SELECT 1 FROM __tarn_prune AS " + engine.QuoteIdent(alias) + " WHERE " + cond
	if err := conn.QueryRowContext(ctx, `SELECT json_serialize_sql(?::VARCHAR)::VARCHAR`, q).Scan(&raw); err != nil {
		return nil
	}
	var tree map[string]any
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&tree) != nil || tree["error"] == true {
		return nil
	}
	stmts, _ := tree["statements"].([]any)
	if len(stmts) != 1 {
		return nil
	}
	node, _ := stmts[0].(map[string]any)["node"].(map[string]any)
	if node == nil {
		return nil
	}
	var conjuncts []map[string]any
	var flatten func(n map[string]any)
	flatten = func(n map[string]any) {
		if n["type"] == "CONJUNCTION_AND" {
			for _, c := range anySlice(n["children"]) {
				if m, ok := c.(map[string]any); ok {
					flatten(m)
				}
			}
			return
		}
		conjuncts = append(conjuncts, n)
	}
	if w, ok := node["where_clause"].(map[string]any); ok {
		flatten(w)
	}
	// column resolves a COLUMN_REF to a target column of a type the
	// filter handles.
	column := func(n map[string]any) (iceberggo.NestedField, bool) {
		if n == nil || n["type"] != "COLUMN_REF" {
			return iceberggo.NestedField{}, false
		}
		names := anySlice(n["column_names"])
		var col string
		switch {
		case len(names) == 2 && strings.EqualFold(fmt.Sprint(names[0]), alias):
			col = fmt.Sprint(names[1])
		case len(names) == 1 && !qualifiedOnly:
			col = fmt.Sprint(names[0])
		default:
			return iceberggo.NestedField{}, false
		}
		f, ok := findColumn(sch, col)
		if !ok {
			return f, false
		}
		switch f.Type.(type) {
		case iceberggo.Int32Type, iceberggo.Int64Type, iceberggo.StringType, iceberggo.DateType,
			iceberggo.TimestampType, iceberggo.TimestampTzType, iceberggo.BooleanType:
			return f, true
		}
		return f, false
	}
	// literal evaluates a constant expression (a constant, or a cast of
	// one) as the column's value, if it converts exactly.
	literal := func(f iceberggo.NestedField, n map[string]any) (iceberggo.Literal, bool) {
		if n == nil {
			return nil, false
		}
		switch n["type"] {
		case "VALUE_CONSTANT":
		case "OPERATOR_CAST":
			child, _ := n["child"].(map[string]any)
			if n["try_cast"] == true || child == nil || child["type"] != "VALUE_CONSTANT" {
				return nil, false
			}
		default:
			return nil, false
		}
		text, ok := exprText(ctx, conn, tree, node, n)
		if !ok {
			return nil, false
		}
		return s.evalLiteral(ctx, conn, f, text)
	}
	var exprs []iceberggo.BooleanExpression
	flip := map[any]iceberggo.Operation{
		"COMPARE_EQUAL": iceberggo.OpEQ, "COMPARE_LESSTHAN": iceberggo.OpGT, "COMPARE_LESSTHANOREQUALTO": iceberggo.OpGTEQ,
		"COMPARE_GREATERTHAN": iceberggo.OpLT, "COMPARE_GREATERTHANOREQUALTO": iceberggo.OpLTEQ,
	}
	ops := map[any]iceberggo.Operation{
		"COMPARE_EQUAL": iceberggo.OpEQ, "COMPARE_LESSTHAN": iceberggo.OpLT, "COMPARE_LESSTHANOREQUALTO": iceberggo.OpLTEQ,
		"COMPARE_GREATERTHAN": iceberggo.OpGT, "COMPARE_GREATERTHANOREQUALTO": iceberggo.OpGTEQ,
	}
	for _, c := range conjuncts {
		typ := c["type"]
		switch {
		case ops[typ] != 0 || typ == "COMPARE_EQUAL":
			l, _ := c["left"].(map[string]any)
			r, _ := c["right"].(map[string]any)
			if f, ok := column(l); ok {
				if lit, ok := literal(f, r); ok {
					exprs = append(exprs, iceberggo.LiteralPredicate(ops[typ], iceberggo.Reference(f.Name), lit))
				} else if typ == "COMPARE_EQUAL" && srcAlias != "" {
					exprs = append(exprs, s.sourceRange(ctx, conn, f, r, srcAlias)...)
				}
			} else if f, ok := column(r); ok {
				if lit, ok := literal(f, l); ok {
					exprs = append(exprs, iceberggo.LiteralPredicate(flip[typ], iceberggo.Reference(f.Name), lit))
				} else if typ == "COMPARE_EQUAL" && srcAlias != "" {
					exprs = append(exprs, s.sourceRange(ctx, conn, f, l, srcAlias)...)
				}
			}
		case typ == "COMPARE_BETWEEN":
			in, _ := c["input"].(map[string]any)
			if f, ok := column(in); ok {
				lo, ok1 := literal(f, mapOf(c["lower"]))
				hi, ok2 := literal(f, mapOf(c["upper"]))
				if ok1 && ok2 {
					exprs = append(exprs, iceberggo.LiteralPredicate(iceberggo.OpGTEQ, iceberggo.Reference(f.Name), lo),
						iceberggo.LiteralPredicate(iceberggo.OpLTEQ, iceberggo.Reference(f.Name), hi))
				}
			}
		case typ == "COMPARE_IN":
			ch := anySlice(c["children"])
			if len(ch) < 2 {
				continue
			}
			f, ok := column(mapOf(ch[0]))
			if !ok {
				continue
			}
			var lits []iceberggo.Literal
			for _, v := range ch[1:] {
				lit, ok := literal(f, mapOf(v))
				if !ok {
					lits = nil
					break
				}
				lits = append(lits, lit)
			}
			if len(lits) > 0 {
				exprs = append(exprs, iceberggo.SetPredicate(iceberggo.OpIn, iceberggo.Reference(f.Name), lits))
			}
		case typ == "OPERATOR_IS_NULL" || typ == "OPERATOR_IS_NOT_NULL":
			ch := anySlice(c["children"])
			if len(ch) != 1 {
				continue
			}
			if f, ok := column(mapOf(ch[0])); ok {
				op := iceberggo.OpIsNull
				if typ == "OPERATOR_IS_NOT_NULL" {
					op = iceberggo.OpNotNull
				}
				exprs = append(exprs, iceberggo.UnaryPredicate(op, iceberggo.Reference(f.Name)))
			}
		}
	}
	switch len(exprs) {
	case 0:
		return nil
	case 1:
		return exprs[0]
	}
	return iceberggo.NewAnd(exprs[0], exprs[1], exprs[2:]...)
}

// sourceRange is t.col >= min(s.x) AND t.col <= max(s.x) for a MERGE
// condition t.col = s.x (the source is in its temporary table): a target
// row outside the range matches no source row. Nothing when the source is
// empty or its values do not convert exactly.
func (s *Service) sourceRange(ctx context.Context, conn *sql.Conn, f iceberggo.NestedField, n map[string]any, srcAlias string) []iceberggo.BooleanExpression {
	if n == nil || n["type"] != "COLUMN_REF" {
		return nil
	}
	names := anySlice(n["column_names"])
	if len(names) != 2 || !strings.EqualFold(fmt.Sprint(names[0]), srcAlias) {
		return nil
	}
	col := engine.QuoteIdent(fmt.Sprint(names[1]))
	lo, ok1 := s.evalLiteral(ctx, conn, f, "(SELECT min("+col+") FROM "+sourceTable+")")
	hi, ok2 := s.evalLiteral(ctx, conn, f, "(SELECT max("+col+") FROM "+sourceTable+")")
	if !ok1 || !ok2 {
		return nil
	}
	return []iceberggo.BooleanExpression{
		iceberggo.LiteralPredicate(iceberggo.OpGTEQ, iceberggo.Reference(f.Name), lo),
		iceberggo.LiteralPredicate(iceberggo.OpLTEQ, iceberggo.Reference(f.Name), hi),
	}
}

// evalLiteral evaluates a constant SQL expression as a value of column f:
// only if it is not NULL and converts to the column's type exactly (the
// converted value compares equal to it, as DuckDB compares them).
func (s *Service) evalLiteral(ctx context.Context, conn *sql.Conn, f iceberggo.NestedField, expr string) (iceberggo.Literal, bool) {
	duck, err := engine.DuckType(f.Type)
	if err != nil {
		return nil, false
	}
	var canon string
	switch f.Type.(type) {
	case iceberggo.Int32Type, iceberggo.Int64Type:
		canon = "CAST(v AS VARCHAR)"
	case iceberggo.StringType:
		canon = "v"
	case iceberggo.BooleanType:
		canon = "CAST(v AS VARCHAR)"
	case iceberggo.DateType:
		canon = "CAST(CAST(v - DATE '1970-01-01' AS BIGINT) AS VARCHAR)"
	case iceberggo.TimestampType, iceberggo.TimestampTzType:
		canon = "CAST(epoch_us(v) AS VARCHAR)"
	default:
		return nil, false
	}
	q := fmt.Sprintf("SELECT %s, c = v FROM (SELECT c, TRY_CAST(c AS %s) AS v FROM (SELECT (%s) AS c))", canon, duck, expr)
	var val sql.NullString
	var exact sql.NullBool
	if err := conn.QueryRowContext(ctx, q).Scan(&val, &exact); err != nil || !val.Valid || !exact.Valid || !exact.Bool {
		return nil, false
	}
	v := val.String
	switch f.Type.(type) {
	case iceberggo.Int32Type:
		n, err := strconv.ParseInt(v, 10, 32)
		return iceberggo.NewLiteral(int32(n)), err == nil
	case iceberggo.Int64Type:
		n, err := strconv.ParseInt(v, 10, 64)
		return iceberggo.NewLiteral(n), err == nil
	case iceberggo.StringType:
		return iceberggo.NewLiteral(v), true
	case iceberggo.BooleanType:
		b, err := strconv.ParseBool(v)
		return iceberggo.NewLiteral(b), err == nil
	case iceberggo.DateType:
		n, err := strconv.ParseInt(v, 10, 32)
		return iceberggo.NewLiteral(iceberggo.Date(n)), err == nil
	case iceberggo.TimestampType, iceberggo.TimestampTzType:
		n, err := strconv.ParseInt(v, 10, 64)
		return iceberggo.NewLiteral(iceberggo.Timestamp(n)), err == nil
	}
	return nil, false
}

// exprText prints one expression of a serialized statement as SQL, through
// DuckDB: the statement's select list is set to it and the tree printed.
func exprText(ctx context.Context, conn *sql.Conn, tree, node, expr map[string]any) (string, bool) {
	saved, where := node["select_list"], node["where_clause"]
	node["select_list"] = []any{expr}
	delete(node, "where_clause")
	node["where_clause"] = nil
	b, err := json.Marshal(tree)
	node["select_list"], node["where_clause"] = saved, where
	if err != nil {
		return "", false
	}
	var text string
	if err := conn.QueryRowContext(ctx, `SELECT json_deserialize_sql(?::JSON)`, string(b)).Scan(&text); err != nil {
		return "", false
	}
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, "SELECT ") {
		return "", false
	}
	text = strings.TrimPrefix(text, "SELECT ")
	if i := strings.LastIndex(text, " FROM __tarn_prune"); i >= 0 {
		text = text[:i]
	}
	return text, true
}

func anySlice(v any) []any { s, _ := v.([]any); return s }

func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }
