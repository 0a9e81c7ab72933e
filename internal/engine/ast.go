package engine

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// node is one object of DuckDB's serialized statement tree
// (json_serialize_sql). tarn reads and rewrites the tree instead of the SQL
// text, so it never has to parse SQL itself.
type node = map[string]any

// serialize parses a SELECT statement with DuckDB's own parser. A statement
// that is not a SELECT returns ErrNotSelect; a syntax error returns ErrSyntax
// with DuckDB's message.
func serialize(ctx context.Context, conn *sql.Conn, query string) (node, error) {
	var raw string
	if err := conn.QueryRowContext(ctx, `SELECT json_serialize_sql(?::VARCHAR)::VARCHAR`, query).Scan(&raw); err != nil {
		return nil, fmt.Errorf("cannot parse query: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber() // keep constants and locations exact when the tree is written back
	var tree node
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("cannot parse query: %w", err)
	}
	if isErr, _ := tree["error"].(bool); isErr {
		msg, _ := tree["error_message"].(string)
		typ, _ := tree["error_type"].(string)
		if strings.Contains(msg, "Only SELECT statements") {
			return nil, ErrNotSelect
		}
		if typ == "parser" || strings.Contains(strings.ToLower(msg), "syntax") {
			return nil, fmt.Errorf("%w: %s", ErrSyntax, msg)
		}
		return nil, fmt.Errorf("%w: %s", ErrSyntax, msg)
	}
	stmts, _ := tree["statements"].([]any)
	if len(stmts) != 1 {
		return nil, fmt.Errorf("%w: expected exactly one statement, got %d", ErrSyntax, len(stmts))
	}
	return tree, nil
}

// deserialize turns a (rewritten) statement tree back into SQL text.
func deserialize(ctx context.Context, conn *sql.Conn, tree node) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tree); err != nil {
		return "", err
	}
	var out string
	if err := conn.QueryRowContext(ctx, `SELECT json_deserialize_sql(?::JSON)`, buf.String()).Scan(&out); err != nil {
		return "", fmt.Errorf("cannot rewrite query: %w", err)
	}
	return out, nil
}

// walk visits every object in the tree, parents before children. fn returns
// false to skip an object's children.
func walk(v any, fn func(n node) bool) {
	switch x := v.(type) {
	case node:
		if !fn(x) {
			return
		}
		for _, k := range sortedKeys(x) {
			walk(x[k], fn)
		}
	case []any:
		for _, e := range x {
			walk(e, fn)
		}
	}
}

// sortedKeys gives walks a stable order, so numbering of rewritten tables is
// deterministic.
func sortedKeys(n node) []string {
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	// small maps: insertion sort keeps allocations down
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

func str(n node, key string) string {
	s, _ := n[key].(string)
	return s
}

func strs(n node, key string) []string {
	arr, _ := n[key].([]any)
	out := make([]string, 0, len(arr))
	for _, a := range arr {
		if s, ok := a.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// fromRefs lists the table references of a FROM clause, looking through
// joins but not into subqueries (they are SELECT nodes of their own).
func fromRefs(ref any) []node {
	n, ok := ref.(node)
	if !ok {
		return nil
	}
	if str(n, "type") == "JOIN" {
		return append(fromRefs(n["left"]), fromRefs(n["right"])...)
	}
	return []node{n}
}

// conjuncts splits a WHERE clause on its top-level ANDs.
func conjuncts(where any) []node {
	n, ok := where.(node)
	if !ok {
		return nil
	}
	if str(n, "class") == "CONJUNCTION" && str(n, "type") == "CONJUNCTION_AND" {
		var out []node
		for _, c := range n["children"].([]any) {
			out = append(out, conjuncts(c)...)
		}
		return out
	}
	return []node{n}
}

// volatileFuncs must not be evaluated at planning time.
var volatileFuncs = map[string]bool{"random": true, "uuid": true, "gen_random_uuid": true, "nextval": true, "setseed": true}

// prunable reports whether an expression can be evaluated against partition
// values alone: only columns, constants, operators and deterministic
// functions, no subqueries, parameters or window functions.
func prunable(e node) bool {
	ok := true
	walk(e, func(n node) bool {
		switch str(n, "class") {
		case "SUBQUERY", "WINDOW", "PARAMETER", "STAR", "LAMBDA", "DEFAULT", "POSITIONAL_REFERENCE":
			ok = false
		case "FUNCTION":
			if volatileFuncs[strings.ToLower(str(n, "function_name"))] {
				ok = false
			}
		case "COLUMN_REF", "CONSTANT", "OPERATOR", "COMPARISON", "CONJUNCTION", "CAST", "BETWEEN", "CASE", "COLLATE":
		case "":
		default:
			ok = false
		}
		return ok
	})
	return ok
}

// columnRefs returns the column_names of every column reference in e.
func columnRefs(e any) [][]string {
	var out [][]string
	walk(e, func(n node) bool {
		if str(n, "class") == "COLUMN_REF" {
			out = append(out, strs(n, "column_names"))
		}
		return true
	})
	return out
}

// unqualify strips table qualifiers from column references, in place.
func unqualify(e any) {
	walk(e, func(n node) bool {
		if str(n, "class") == "COLUMN_REF" {
			names := strs(n, "column_names")
			n["column_names"] = []any{names[len(names)-1]}
		}
		return true
	})
}

var errNoStatement = errors.New("no statement")

// statementNode returns the root query node of a serialized statement.
func statementNode(tree node) (node, error) {
	stmts, _ := tree["statements"].([]any)
	if len(stmts) == 0 {
		return nil, errNoStatement
	}
	st, _ := stmts[0].(node)
	root, _ := st["node"].(node)
	if root == nil {
		return nil, errNoStatement
	}
	return root, nil
}

// cteScope is the set of CTE names a table reference can see, as DuckDB's
// binder resolves them: a WITH clause's names are visible in its statement's
// body and, in order, in the definitions after each one; a recursive CTE
// sees itself only in its recursive term. A name is a CTE only where DuckDB
// would take it for one; everywhere else the same name is a table, which is
// what lets the binder refuse it (a path disguised as a CTE name must never
// reach DuckDB's replacement scans unbound).
type cteScope struct {
	parent *cteScope
	name   string // lower case
}

func (c *cteScope) has(name string) bool {
	name = asciiLower(name)
	for ; c != nil; c = c.parent {
		if c.name == name {
			return true
		}
	}
	return false
}

func (c *cteScope) with(name string) *cteScope {
	return &cteScope{parent: c, name: asciiLower(name)}
}

// asciiLower folds A-Z only, as DuckDB does when it matches names. Go's
// strings.ToLower also folds letters such as the Kelvin sign (U+212A → k):
// a CTE named with one would look, to tarn, like the file path DuckDB then
// reads as a table.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// walkScoped is walk that tracks the CTE names in scope at each object. fn
// may replace an object's contents in place (view expansion); its children
// are read after fn returns.
func walkScoped(v any, scope *cteScope, fn func(n node, scope *cteScope) bool) {
	switch x := v.(type) {
	case node:
		if !fn(x, scope) {
			return
		}
		inner := scope
		if cm, ok := x["cte_map"].(node); ok {
			entries, _ := cm["map"].([]any)
			for _, e := range entries {
				en, ok := e.(node)
				if !ok {
					continue
				}
				// A definition sees the CTEs before it, not itself or later ones.
				walkScoped(en["value"], inner, fn)
				inner = inner.with(str(en, "key"))
			}
		}
		recursive := str(x, "type") == "RECURSIVE_CTE_NODE"
		for _, k := range sortedKeys(x) {
			switch {
			case k == "cte_map":
			case recursive && k == "right":
				// The recursive term reads the CTE being defined; the anchor
				// (left) binds before the CTE exists, so a reference there is
				// a table.
				walkScoped(x[k], inner.with(str(x, "cte_name")), fn)
			default:
				walkScoped(x[k], inner, fn)
			}
		}
	case []any:
		for _, e := range x {
			walkScoped(e, scope, fn)
		}
	}
}
