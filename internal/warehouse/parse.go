package warehouse

import (
	"fmt"
	"strconv"
	"strings"
)

// Statement is a parsed warehouse statement.
type Statement interface {
	// Type is the statement type recorded in the query history: DDL or DML.
	Type() string
}

type createSchema struct {
	Name        string
	IfNotExists bool
}

type createExternalSchema struct {
	Name, Database        string
	IfNotExists, CreateDB bool
}

type dropSchema struct {
	Names             []string
	IfExists, Cascade bool
}

type createTable struct {
	Target      name
	IfNotExists bool
	// Temp: CREATE TEMP[ORARY] TABLE, a table of the client's transaction
	// block, dropped when it ends.
	Temp    bool
	Def     tableDef
	Columns []string // CTAS column names
	Select  string   // CTAS query
}

type createView struct {
	Target          name
	OrReplace       bool
	Columns         []string
	Select          string
	NoSchemaBinding bool
}

type createMatView struct {
	Target      name
	IfNotExists bool
	AutoRefresh bool
	SortKey     []string
	Select      string
}

type refreshMatView struct{ Target name }

type dropRelation struct {
	Kind              string // TABLE, VIEW, MATERIALIZED VIEW
	Targets           []name
	IfExists, Cascade bool
}

type insertStmt struct {
	Target  name
	Columns []string
	Query   string
}

// passThrough is a statement DuckDB runs as written (after the expression
// rewrites) on a warehouse table: UPDATE, DELETE, MERGE, TRUNCATE, ALTER.
type passThrough struct {
	Verb   string
	Target name
	SQL    string
	// More are the further statements of an ALTER TABLE with several
	// actions, one action each (alterActions); SQL is the first.
	More []string
}

// renameRelation is ALTER TABLE | VIEW | MATERIALIZED VIEW [IF EXISTS]
// name RENAME TO new: the relation keeps its schema (PostgreSQL's rule;
// ALTER TABLE also renames views, as PostgreSQL's does).
type renameRelation struct {
	Kind     string // TABLE, VIEW, MATERIALIZED VIEW
	IfExists bool
	Target   name
	To       string
}

// noop is a Redshift statement that has nothing to do in tarn (ANALYZE,
// VACUUM).
type noop struct{ Verb string }

func (createSchema) Type() string         { return "DDL" }
func (createExternalSchema) Type() string { return "DDL" }
func (dropSchema) Type() string           { return "DDL" }
func (createTable) Type() string          { return "DDL" }
func (createView) Type() string           { return "DDL" }
func (createMatView) Type() string        { return "DDL" }
func (refreshMatView) Type() string       { return "DML" }
func (dropRelation) Type() string         { return "DDL" }
func (renameRelation) Type() string       { return "DDL" }
func (insertStmt) Type() string           { return "DML" }
func (s passThrough) Type() string {
	if s.Verb == "ALTER" {
		return "DDL"
	}
	return "DML"
}
func (noop) Type() string     { return "UTILITY" }
func (copyStmt) Type() string { return "DML" }

// Parse recognises a warehouse (Redshift) statement. ok is false when the
// statement is not one (SELECTs, Athena DDL); err is set when it is one but
// malformed. Statements in forms only Athena has (CREATE SCHEMA ...
// LOCATION, CREATE TABLE ... STORED AS) are kept from it by the query
// service's router, which alone knows both dialects. Whether a statement that could be either (DROP TABLE, INSERT,
// CREATE TABLE AS) goes to the warehouse is decided by Owns.
func Parse(sql string) (st Statement, ok bool, err error) {
	st, ok, err = parse(sql)
	if err != nil || !ok {
		return st, ok, err
	}
	rw := func(q *string) {
		if err == nil {
			var e error
			if *q, e = RewriteExpressions(*q); e != nil {
				err = fmt.Errorf("%w: %v", ErrSyntax, e)
			}
		}
	}
	switch s := st.(type) {
	case createTable:
		rw(&s.Select)
		st = s
	case createView:
		rw(&s.Select)
		st = s
	case createMatView:
		rw(&s.Select)
		st = s
	case insertStmt:
		rw(&s.Query)
		st = s
	}
	return st, true, err
}

func parse(sql string) (st Statement, ok bool, err error) {
	p, err := newParser(sql)
	if err != nil {
		return nil, false, nil
	}
	wrap := func(s Statement, err error) (Statement, bool, error) {
		if err != nil {
			return nil, true, fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		return s, true, nil
	}
	if s, ok, err := p.renameRelation(); ok {
		return wrap(s, err)
	}
	switch {
	case p.is("CREATE", "SCHEMA"):
		p.i += 2
		return wrap(p.createSchema())
	case p.is("CREATE", "EXTERNAL", "SCHEMA"):
		p.i += 3
		return wrap(p.createExternalSchema())
	case p.is("DROP", "SCHEMA"):
		p.i += 2
		return wrap(p.dropSchema())
	case p.is("CREATE", "TABLE"), p.is("CREATE", "LOCAL"), p.is("CREATE", "TEMP"), p.is("CREATE", "TEMPORARY"):
		p.i++
		p.accept("LOCAL")
		temp := p.accept("TEMP") || p.accept("TEMPORARY")
		if err := p.expect("TABLE"); err != nil {
			return wrap(nil, err)
		}
		st, err := p.createTable()
		if err == nil && temp {
			ct := st.(createTable)
			ct.Temp = true
			if ct.Target.Catalog != "" || ct.Target.Schema != "" {
				err = fmt.Errorf("a temporary table's name has no schema")
			}
			st = ct
		}
		return wrap(st, err)
	case p.is("CREATE", "VIEW"), p.is("CREATE", "OR", "REPLACE", "VIEW"):
		p.i++
		s := createView{OrReplace: p.accept("OR", "REPLACE")}
		p.i++
		return wrap(p.createView(s))
	case p.is("CREATE", "MATERIALIZED", "VIEW"):
		p.i += 3
		return wrap(p.createMatView())
	case p.is("REFRESH", "MATERIALIZED", "VIEW"):
		p.i += 3
		var s refreshMatView
		s.Target, err = p.qualified()
		if err == nil {
			err = p.end()
		}
		return wrap(s, err)
	case p.is("DROP", "TABLE"), p.is("DROP", "VIEW"), p.is("DROP", "MATERIALIZED", "VIEW"):
		p.i++
		s := dropRelation{Kind: "TABLE"}
		switch {
		case p.accept("VIEW"):
			s.Kind = "VIEW"
		case p.accept("MATERIALIZED", "VIEW"):
			s.Kind = "MATERIALIZED VIEW"
		default:
			p.i++
		}
		s.IfExists = p.accept("IF", "EXISTS")
		for {
			n, err := p.qualified()
			if err != nil {
				return wrap(nil, err)
			}
			s.Targets = append(s.Targets, n)
			if !p.accept(",") {
				break
			}
		}
		if p.accept("CASCADE") {
			s.Cascade = true
		} else {
			p.accept("RESTRICT")
		}
		return wrap(s, p.end())
	case p.is("INSERT", "INTO"):
		p.i += 2
		var s insertStmt
		if s.Target, err = p.qualified(); err != nil {
			return wrap(nil, err)
		}
		if p.is("(") && !(p.at(1).is("SELECT") || p.at(1).is("WITH")) {
			if s.Columns, err = p.identList(); err != nil {
				return wrap(nil, err)
			}
		}
		if p.is("DEFAULT", "VALUES") {
			return nil, true, fmt.Errorf("%w: INSERT ... DEFAULT VALUES", ErrUnsupported)
		}
		s.Query = p.rest()
		if s.Query == "" {
			return wrap(nil, p.errorf("expected SELECT or VALUES"))
		}
		return s, true, nil
	case p.is("UPDATE"), p.is("DELETE"), p.is("MERGE"), p.is("TRUNCATE"), p.is("ALTER", "TABLE"):
		verb := strings.ToUpper(p.next().val)
		switch verb {
		case "DELETE":
			p.accept("FROM")
		case "MERGE":
			if err := p.expect("INTO"); err != nil {
				return wrap(nil, err)
			}
		case "TRUNCATE", "ALTER":
			p.accept("TABLE")
		}
		p.accept("ONLY")
		target, err := p.qualified()
		if err != nil {
			return wrap(nil, err)
		}
		if verb == "ALTER" && (p.is("ADD", "PARTITION") || p.is("ADD", "IF") || p.is("DROP", "PARTITION") || p.is("DROP", "IF")) {
			return nil, false, nil // Athena's partition DDL
		}
		if verb == "ALTER" {
			stmts, err := alterActions(p, strings.TrimSpace(sql[:p.toks[p.i-1].end]))
			if err != nil {
				return wrap(nil, err)
			}
			if stmts != nil {
				st := passThrough{Verb: verb, Target: target}
				for i, q := range stmts {
					text, err := RewriteExpressions(q)
					if err != nil {
						return wrap(nil, err)
					}
					if i == 0 {
						st.SQL = text
					} else {
						st.More = append(st.More, text)
					}
				}
				return st, true, nil
			}
		}
		text, err := RewriteExpressions(sql)
		if err != nil {
			return wrap(nil, err)
		}
		return passThrough{Verb: verb, Target: target, SQL: strings.TrimSuffix(strings.TrimSpace(text), ";")}, true, nil
	case p.is("COMMENT", "ON"):
		p.i += 2
		return wrap(p.commentOn())
	case p.is("COPY"):
		if !redshiftCopy(p.toks) {
			return nil, false, nil // DuckDB's COPY (... TO): refused by the query service
		}
		p.i++
		return wrap(p.copyStmt())
	case p.is("ANALYZE"), p.is("VACUUM"):
		return noop{Verb: strings.ToUpper(p.peek().val)}, true, nil
	}
	return nil, false, nil
}

// renameRelation parses ALTER TABLE | VIEW | MATERIALIZED VIEW [IF EXISTS]
// name RENAME TO new; ok is false (and the parser where it was) for any
// other statement, RENAME COLUMN included.
func (p *parser) renameRelation() (st Statement, ok bool, err error) {
	start := p.i
	defer func() {
		if !ok {
			p.i = start
		}
	}()
	if !p.accept("ALTER") {
		return nil, false, nil
	}
	s := renameRelation{}
	switch {
	case p.accept("TABLE"):
		s.Kind = "TABLE"
	case p.accept("VIEW"):
		s.Kind = "VIEW"
	case p.accept("MATERIALIZED", "VIEW"):
		s.Kind = "MATERIALIZED VIEW"
	default:
		return nil, false, nil
	}
	s.IfExists = p.accept("IF", "EXISTS")
	if s.Target, err = p.qualified(); err != nil {
		return nil, false, nil
	}
	if !p.accept("RENAME", "TO") {
		return nil, false, nil
	}
	to, err := p.qualified()
	if err != nil {
		return nil, true, err
	}
	if to.Catalog != "" || to.Schema != "" {
		return nil, true, p.errorf("RENAME TO takes a name without a schema (the relation stays in its schema)")
	}
	s.To = to.Name
	return s, true, p.end()
}

func (p *parser) createSchema() (Statement, error) {
	s := createSchema{IfNotExists: p.accept("IF", "NOT", "EXISTS")}
	var err error
	if s.Name, err = p.ident(); err != nil {
		return nil, err
	}
	if p.accept("AUTHORIZATION") {
		if _, err := p.ident(); err != nil {
			return nil, err
		}
	}
	if p.accept("QUOTA") {
		p.next()
		p.accept("MB") // QUOTA n MB | GB | TB | UNLIMITED
		p.accept("GB")
		p.accept("TB")
	}
	return s, p.end()
}

func (p *parser) createExternalSchema() (Statement, error) {
	s := createExternalSchema{IfNotExists: p.accept("IF", "NOT", "EXISTS")}
	var err error
	if s.Name, err = p.ident(); err != nil {
		return nil, err
	}
	if err := p.expect("FROM", "DATA", "CATALOG"); err != nil {
		return nil, err
	}
	for p.peek().kind != tEOF && !p.is(";") {
		switch {
		case p.accept("DATABASE"):
			if s.Database, err = p.str(); err != nil {
				return nil, err
			}
			s.Database = strings.ToLower(s.Database)
		case p.accept("IAM_ROLE"), p.accept("REGION"), p.accept("CATALOG_ROLE"), p.accept("CATALOG_ID"):
			if !p.accept("DEFAULT") && !p.accept("SESSION") {
				if _, err := p.str(); err != nil {
					return nil, err
				}
			}
		case p.accept("CREATE", "EXTERNAL", "DATABASE", "IF", "NOT", "EXISTS"):
			s.CreateDB = true
		default:
			return nil, p.errorf("unexpected clause in CREATE EXTERNAL SCHEMA")
		}
	}
	if s.Database == "" {
		return nil, p.errorf("expected DATABASE 'name'")
	}
	return s, p.end()
}

func (p *parser) dropSchema() (Statement, error) {
	s := dropSchema{IfExists: p.accept("IF", "EXISTS")}
	for {
		n, err := p.ident()
		if err != nil {
			return nil, err
		}
		s.Names = append(s.Names, n)
		if !p.accept(",") {
			break
		}
	}
	if p.accept("CASCADE") {
		s.Cascade = true
	} else {
		p.accept("RESTRICT")
	}
	return s, p.end()
}

func (p *parser) createTable() (Statement, error) {
	s := createTable{IfNotExists: p.accept("IF", "NOT", "EXISTS")}
	var err error
	if s.Target, err = p.qualified(); err != nil {
		return nil, err
	}
	if p.is("(") {
		// Column definitions, or a CTAS column name list.
		save := p.i
		open := p.i
		if _, _, err := p.skipParens(); err != nil {
			return nil, err
		}
		closeIdx := p.i - 1
		probe := *p
		if probe.tableAttrs(&tableDef{}, nil) == nil && probe.is("AS") {
			p.i = save
			if s.Columns, err = p.identList(); err != nil {
				return nil, err
			}
		} else {
			seq := func(col string) string { return seqName(s.Target, col) }
			if s.Def, err = rewriteColumns(p.src, p.toks, open+1, closeIdx, seq); err != nil {
				return nil, err
			}
		}
	}
	if err := p.tableAttrs(&s.Def, nil); err != nil {
		return nil, err
	}
	if p.accept("AS") {
		if s.Def.SQL != "" {
			return nil, p.errorf("CREATE TABLE takes column definitions or AS SELECT, not both")
		}
		s.Select = unparen(p.rest())
		if s.Select == "" {
			return nil, p.errorf("expected a query after AS")
		}
		return s, nil
	}
	if s.Def.SQL == "" {
		return nil, p.errorf("expected column definitions or AS SELECT")
	}
	return s, p.end()
}

func (p *parser) createView(s createView) (Statement, error) {
	var err error
	if s.Target, err = p.qualified(); err != nil {
		return nil, err
	}
	if p.is("(") {
		if s.Columns, err = p.identList(); err != nil {
			return nil, err
		}
	}
	if err := p.expect("AS"); err != nil {
		return nil, err
	}
	q := p.rest()
	// WITH NO SCHEMA BINDING ends the statement.
	if toks, err := lex(q); err == nil {
		n := len(toks) - 1 // before EOF
		if n >= 4 && toks[n-4].is("WITH") && toks[n-3].is("NO") && toks[n-2].is("SCHEMA") && toks[n-1].is("BINDING") {
			s.NoSchemaBinding = true
			q = strings.TrimSpace(q[:toks[n-4].pos])
		}
	}
	s.Select = unparen(q)
	return s, nil
}

func (p *parser) createMatView() (Statement, error) {
	var s createMatView
	var err error
	s.IfNotExists = p.accept("IF", "NOT", "EXISTS")
	if s.Target, err = p.qualified(); err != nil {
		return nil, err
	}
	var def tableDef
	if err := p.tableAttrs(&def, &s.AutoRefresh); err != nil {
		return nil, err
	}
	s.SortKey = def.SortKey
	if err := p.expect("AS"); err != nil {
		return nil, err
	}
	s.Select = unparen(p.rest())
	return s, nil
}

// unparen strips parentheses around a whole query: (SELECT ...).
func unparen(s string) string {
	for {
		s = strings.TrimSpace(s)
		if !strings.HasPrefix(s, "(") {
			return s
		}
		p, err := newParser(s)
		if err != nil {
			return s
		}
		if _, end, err := p.skipParens(); err != nil || p.peek().kind != tEOF {
			return s
		} else {
			s = s[1:end]
		}
	}
}

// copyStmt is Redshift's COPY table FROM source.
type copyStmt struct {
	Target  name
	Columns []string
	// From is an s3:// URI prefix; FromTable a catalog (or external
	// schema) table.
	From        string
	FromTable   *name
	Format      string // csv, text (Redshift's default: '|' delimited), parquet, json
	JSONPaths   string // JSON 'auto' (or 'auto ignorecase')
	Delimiter   string
	Quote       string
	Escape      bool
	Header      int
	TimeFmt     string
	DateFmt     string
	MaxError    int64
	Null        *string
	Compress    string
	EmptyNull   bool
	BlankNull   bool
	FillRec     bool
	ExplicitIDs bool
	Ignored     []string
}

func (p *parser) copyStmt() (Statement, error) {
	var s copyStmt
	var err error
	if s.Target, err = p.qualified(); err != nil {
		return nil, err
	}
	if p.is("(") {
		if s.Columns, err = p.identList(); err != nil {
			return nil, err
		}
	}
	if err := p.expect("FROM"); err != nil {
		return nil, err
	}
	if p.peek().kind == tString {
		s.From, _ = p.str()
	} else {
		n, err := p.qualified()
		if err != nil {
			return nil, p.errorf("expected 's3://bucket/prefix' or a catalog table")
		}
		s.FromTable = &n
	}
	optStr := func() (string, error) {
		p.accept("AS")
		return p.str()
	}
	optInt := func() (int64, error) {
		p.accept("AS")
		t := p.next()
		if t.kind != tNumber {
			return 0, p.errorf("expected a number")
		}
		return strconv.ParseInt(t.val, 10, 64)
	}
	for p.peek().kind != tEOF && !p.is(";") {
		t := p.next()
		if t.kind != tIdent {
			return nil, fmt.Errorf("unexpected %q in COPY at position %d", p.src[t.pos:t.end], t.pos+1)
		}
		switch kw := strings.ToUpper(t.val); kw {
		case "FORMAT":
			p.accept("AS")
			f := p.next()
			if f.kind != tIdent {
				return nil, p.errorf("expected a format")
			}
			if err := p.format(&s, strings.ToUpper(f.val)); err != nil {
				return nil, err
			}
		case "CSV", "PARQUET", "JSON", "AVRO", "ORC", "FIXEDWIDTH", "SHAPEFILE":
			if err := p.format(&s, kw); err != nil {
				return nil, err
			}
		case "DELIMITER":
			if s.Delimiter, err = optStr(); err != nil {
				return nil, err
			}
		case "QUOTE":
			if s.Quote, err = optStr(); err != nil {
				return nil, err
			}
		case "IGNOREHEADER":
			n, err := optInt()
			if err != nil {
				return nil, err
			}
			s.Header = int(n)
		case "TIMEFORMAT":
			if s.TimeFmt, err = optStr(); err != nil {
				return nil, err
			}
		case "DATEFORMAT":
			if s.DateFmt, err = optStr(); err != nil {
				return nil, err
			}
		case "MAXERROR":
			if s.MaxError, err = optInt(); err != nil {
				return nil, err
			}
		case "NULL":
			v, err := optStr()
			if err != nil {
				return nil, err
			}
			s.Null = &v
		case "GZIP", "BZIP2", "ZSTD":
			s.Compress = strings.ToLower(kw)
		case "LZOP":
			return nil, fmt.Errorf("%w: LZOP compression", ErrUnsupported)
		case "EMPTYASNULL":
			s.EmptyNull = true
		case "BLANKSASNULL":
			s.BlankNull = true
		case "FILLRECORD":
			s.FillRec = true
		case "ESCAPE":
			s.Escape = true
		case "EXPLICIT_IDS":
			s.ExplicitIDs = true
		case "MANIFEST", "ENCRYPTED", "NOLOAD", "SHAPEFILE_SIMPLIFY":
			return nil, fmt.Errorf("%w: COPY option %s", ErrUnsupported, kw)
		case "IAM_ROLE", "CREDENTIALS", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN", "REGION", "MASTER_SYMMETRIC_KEY":
			p.accept("AS")
			if !p.accept("DEFAULT") {
				if _, err := p.str(); err != nil {
					return nil, err
				}
			}
			s.Ignored = append(s.Ignored, kw)
		case "ACCEPTINVCHARS":
			p.accept("AS")
			if p.peek().kind == tString {
				p.next()
			}
			s.Ignored = append(s.Ignored, kw)
		case "COMPUPDATE", "STATUPDATE":
			if !p.accept("ON") && !p.accept("OFF") && !p.accept("TRUE") && !p.accept("FALSE") && !p.accept("PRESET") {
				// bare COMPUPDATE / STATUPDATE
			}
			s.Ignored = append(s.Ignored, kw)
		case "TRUNCATECOLUMNS", "TRIMBLANKS", "REMOVEQUOTES", "ACCEPTANYDATE", "ROUNDEC", "IGNOREBLANKLINES", "ZSTDLEVEL":
			s.Ignored = append(s.Ignored, kw)
		default:
			return nil, fmt.Errorf("unknown COPY option %s at position %d", kw, t.pos+1)
		}
	}
	if s.Format == "" {
		s.Format = "text"
	}
	if s.FromTable != nil && (s.Format != "text" || s.Header > 0 || s.Delimiter != "") {
		return nil, p.errorf("COPY from a catalog table takes no format options: the table's definition says how to read it")
	}
	return s, p.end()
}

func (p *parser) format(s *copyStmt, f string) error {
	switch f {
	case "CSV":
		s.Format = "csv"
		if p.accept("QUOTE") {
			p.accept("AS")
			q, err := p.str()
			if err != nil {
				return err
			}
			s.Quote = q
		}
	case "PARQUET":
		s.Format = "parquet"
	case "JSON":
		s.Format = "json"
		s.JSONPaths = "auto"
		if p.peek().kind == tString {
			s.JSONPaths, _ = p.str()
		}
		if l := strings.ToLower(s.JSONPaths); l != "auto" && l != "auto ignorecase" {
			return fmt.Errorf("%w: JSON '%s' (JSONPaths files); use JSON 'auto'", ErrUnsupported, s.JSONPaths)
		}
	default:
		return fmt.Errorf("%w: COPY FORMAT %s (tarn reads CSV, text, PARQUET and JSON)", ErrUnsupported, f)
	}
	return nil
}

// redshiftCopy tells Redshift's COPY table FROM from DuckDB's COPY ... TO.
func redshiftCopy(toks []token) bool {
	if len(toks) < 2 || toks[1].punct("(") {
		return false
	}
	depth := 0
	for _, t := range toks {
		switch {
		case t.punct("("):
			depth++
		case t.punct(")"):
			depth--
		case depth == 0 && t.is("TO"):
			return false
		case depth == 0 && t.is("FROM"):
			return true
		}
	}
	return false
}
