package warehouse

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
)

// ErrWrongObjectType is a statement naming a relation of another kind
// (COMMENT ON VIEW naming a table): PostgreSQL's 42809.
var ErrWrongObjectType = errors.New("wrong object type")

// commentOn is COMMENT ON TABLE | VIEW | MATERIALIZED VIEW | COLUMN name
// IS 'text' | NULL (dbt-postgres's persist_docs): the comment is kept by
// DuckDB and shown by introspection (obj_description, pg_description,
// information_schema, \d+).
type commentOn struct {
	Kind   string // TABLE, VIEW, MATERIALIZED VIEW, COLUMN
	Target name
	Column string // COLUMN: the column's name
	Text   string
	Null   bool // IS NULL: the comment is removed
}

func (commentOn) Type() string { return "DDL" }

// commentOn parses what follows COMMENT ON.
func (p *parser) commentOn() (Statement, error) {
	var s commentOn
	switch {
	case p.accept("TABLE"):
		s.Kind = "TABLE"
	case p.accept("VIEW"):
		s.Kind = "VIEW"
	case p.accept("MATERIALIZED", "VIEW"):
		s.Kind = "MATERIALIZED VIEW"
	case p.accept("COLUMN"):
		s.Kind = "COLUMN"
	default:
		return nil, p.errorf("expected TABLE, VIEW, MATERIALIZED VIEW or COLUMN")
	}
	var parts []string
	for {
		id, err := p.ident()
		if err != nil {
			return nil, err
		}
		parts = append(parts, id)
		if !p.accept(".") {
			break
		}
	}
	max := 3
	if s.Kind == "COLUMN" {
		if len(parts) < 2 {
			return nil, p.errorf("a column is named relation.column")
		}
		s.Column = parts[len(parts)-1]
		parts = parts[:len(parts)-1]
	}
	switch len(parts) {
	case 1:
		s.Target = name{Name: parts[0]}
	case 2:
		s.Target = name{Schema: parts[0], Name: parts[1]}
	case max:
		s.Target = name{Catalog: parts[0], Schema: parts[1], Name: parts[2]}
	default:
		return nil, p.errorf("too many dotted names")
	}
	if err := p.expect("IS"); err != nil {
		return nil, err
	}
	if p.accept("NULL") {
		s.Null = true
	} else {
		text, err := p.str()
		if err != nil {
			return nil, p.errorf("expected a quoted string or NULL")
		}
		s.Text = text
	}
	return s, p.end()
}

// ownsComment reports whether a COMMENT ON is the warehouse's: all but one
// naming an existing lake table (whose comment is the catalog's), so that
// an unknown relation gets the warehouse's 42P01.
func (w *Service) ownsComment(ctx context.Context, rels *engine.Relations, s commentOn, defaultDB string) (bool, error) {
	n := s.Target
	r, err := rels.Resolve(n.Catalog, n.Schema, n.Name, defaultDB)
	if err != nil || r.Warehouse || r.Temp || r.Schema == "" {
		return true, nil
	}
	if rels.Schemas[r.Schema] && rels.External[r.Schema] == "" {
		return true, nil
	}
	_, err = w.eng.Catalog().GetTable(ctx, r.Schema, r.Name)
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, catalog.ErrNoSuchTable), errors.Is(err, catalog.ErrNoSuchDatabase):
		return true, nil
	}
	return false, err
}

// comment runs COMMENT ON. It needs redshift:CreateTable on the relation
// (a comment is part of its definition). As in PostgreSQL, TABLE names a
// table, VIEW a view, MATERIALIZED VIEW a materialized view (else 42809),
// and COLUMN a column of any of them (else 42703).
func (x *execution) comment(s commentOn) error {
	rels, err := x.rels()
	if err != nil {
		return err
	}
	n := s.Target
	r, err := rels.Resolve(n.Catalog, n.Schema, n.Name, x.env.Database)
	if err != nil || !r.Warehouse {
		return fmt.Errorf("cannot comment on %s: %w", n, ErrNoSuchObject)
	}
	t := name{Schema: r.Schema, Name: r.Name}
	if err := checkTarget(t); err != nil {
		return err
	}
	kind := rels.Kind(t.Schema, t.Name)
	isMV, err := x.isMatView(t)
	if err != nil {
		return err
	}
	what := "table"
	switch {
	case isMV:
		what = "materialized view"
	case kind != engine.KindTable:
		what = "view"
	}
	if s.Kind != "COLUMN" && !strings.EqualFold(s.Kind, what) {
		return fmt.Errorf("%w: %s is a %s, not a %s", ErrWrongObjectType, t, what, strings.ToLower(s.Kind))
	}
	if kind == engine.KindLateView {
		return fmt.Errorf("%w: comments on a late-binding view (WITH NO SCHEMA BINDING)", ErrUnsupported)
	}
	if err := x.env.allow(ActionCreateTable, t.Schema, t.Name, ""); err != nil {
		return err
	}
	text := "NULL"
	if !s.Null {
		text = quoteString(s.Text)
	}
	if s.Kind == "COLUMN" {
		// DuckDB finds the column (or fails: a binder error, 42703).
		_, err = x.exec("COMMENT ON COLUMN " + sqlName(t) + "." + quoteIdent(s.Column) + " IS " + text)
		return wrapDuck(err)
	}
	duckKind := "TABLE"
	if kind == engine.KindView {
		duckKind = "VIEW"
	}
	_, err = x.exec("COMMENT ON " + duckKind + " " + sqlName(t) + " IS " + text)
	return wrapDuck(err)
}

// alterActions splits ALTER TABLE t action, action, ... (dbt-postgres adds
// and drops columns in one statement) into one statement per action, which
// is all DuckDB's ALTER takes; the warehouse runs them in one transaction.
// It returns nil for a single action. As in PostgreSQL, only ADD, DROP and
// ALTER actions combine (RENAME and SET SCHEMA stand alone).
func alterActions(p *parser, prefix string) ([]string, error) {
	var actions []string
	start := p.i
	depth := 0
	add := func(end int) error {
		if start == end {
			return p.errorf("empty ALTER TABLE action")
		}
		first := p.toks[start]
		if !first.is("ADD") && !first.is("DROP") && !first.is("ALTER") {
			return fmt.Errorf("%q cannot be combined with other ALTER TABLE actions at position %d", first.val, first.pos+1)
		}
		actions = append(actions, prefix+" "+strings.TrimSpace(p.src[first.pos:p.toks[end-1].end]))
		return nil
	}
	for i := p.i; ; i++ {
		t := p.toks[i]
		switch {
		case t.kind == tEOF, t.punct(";") && depth == 0:
			if len(actions) == 0 {
				return nil, nil
			}
			if err := add(i); err != nil {
				return nil, err
			}
			if t.kind != tEOF && p.toks[i+1].kind != tEOF {
				return nil, p.errorf("unexpected text after the statement")
			}
			return actions, nil
		case t.punct("("):
			depth++
		case t.punct(")"):
			depth--
		case t.punct(",") && depth == 0:
			if err := add(i); err != nil {
				return nil, err
			}
			start = i + 1
		}
	}
}
