package query

import (
	"fmt"
	"strconv"
	"strings"

	iceberggo "github.com/apache/iceberg-go"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/sqlscan"
)

// Iceberg statements, in Athena's syntax (and Spark's for what Athena has
// not: partition spec changes). They are recognised by shape; whether the
// table is an Iceberg table is decided when they run.

// iceCreate is CREATE TABLE ... TBLPROPERTIES ('table_type'='ICEBERG') or
// CTAS WITH (table_type='ICEBERG', ...).
type iceCreate struct {
	DB, Name     string
	IfNotExists  bool
	Columns      []catalog.Column
	Partitioning []string // "day(ts)", "bucket(16, id)", "col"
	Location     string
	Comment      string
	Props        map[string]string // table properties as given
	Select       string            // CTAS
}

type iceInsert struct {
	DB, Name string
	Columns  []string
	Select   string
}

// iceDML is UPDATE, DELETE or MERGE INTO over an Iceberg table: the
// statement runs as written, by DuckDB, against a temporary table holding
// the rows of the data files it can touch (copy-on-write). Spans are byte
// offsets in Text.
type iceDML struct {
	Kind     string // UPDATE, DELETE, MERGE
	Text     string
	DB, Name string
	Alias    string // how the statement names the target (alias or table name)
	// TargetStart..TargetEnd is "db.t [AS a]".
	TargetStart, TargetEnd int
	// Where is UPDATE's and DELETE's condition ("" for none), from
	// WhereStart to the end.
	Where      string
	WhereStart int
	// MERGE: the source (SourceStart..SourceEnd is "src [AS s]" or
	// "(SELECT ...) [AS s]"), as a SELECT, its alias, and the ON condition.
	SourceStart, SourceEnd int
	SourceSelect           string
	SourceAlias            string
	SourceColumns          []string // AS s(a, b): the source's columns renamed
	On                     string
	OnStart, OnEnd         int
	// Subqueries are the spans "(SELECT ...)" of the text DuckDB runs as
	// written: each is bound (and authorized) as a SELECT of its own.
	Subqueries [][2]int
	// Matched: MERGE has a WHEN MATCHED clause (a target row must then
	// match at most one source row).
	Matched bool
}

// iceAlter is ALTER TABLE on an Iceberg table.
type iceAlter struct {
	DB, Name string
	Op       string // ADD COLUMNS, DROP COLUMN, CHANGE COLUMN, RENAME COLUMN, ADD PARTITION FIELD, DROP PARTITION FIELD, SET TBLPROPERTIES, UNSET TBLPROPERTIES, CONVERT TO ICEBERG
	Columns  []catalog.Column
	Column   string // the column dropped, changed or renamed
	NewName  string
	NewType  string
	Comment  *string
	ToDB     string // RENAME TO: the new database ("" for the same)
	Field    string // a partition field: "bucket(8, id)", or a field name
	FieldAs  string
	Props    map[string]string
	Keys     []string
}

type iceOptimize struct {
	DB, Name string
	Where    string
}

type iceVacuum struct{ DB, Name string }

type iceDrop struct {
	DB, Name string
	IfExists bool
	Purge    bool
}

type iceShowCreate struct{ DB, Name string }

// parseIceberg recognises the statements an Iceberg table may be the
// target of. ok is false for any other statement.
func parseIceberg(text string) (stmt any, ok bool, err error) {
	toks, err := tokenize(text)
	if err != nil {
		return nil, false, nil
	}
	p := &parser{toks: toks}
	switch {
	case p.is("CREATE", "TABLE"), p.is("CREATE", "EXTERNAL", "TABLE"):
		if !icebergProps(toks) {
			return nil, false, nil
		}
		s, err := parseIcebergCreate(text, p)
		return s, true, err
	case p.is("INSERT", "INTO"):
		p.i += 2
		var s iceInsert
		if s.DB, s.Name, err = p.qualified(); err != nil {
			return nil, false, nil
		}
		if p.is("(") && !p.isSelectAhead() {
			p.i++
			for {
				c, err := p.ident()
				if err != nil {
					return nil, true, err
				}
				s.Columns = append(s.Columns, c)
				if p.accept(")") {
					break
				}
				if err := p.expect(","); err != nil {
					return nil, true, err
				}
			}
		}
		rest := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(text[p.peek().pos:]), ";"))
		if p.is("VALUES") {
			rest = "SELECT * FROM (" + rest + ")"
		}
		s.Select = unparen(rest)
		return s, true, nil
	case p.is("UPDATE"), p.is("DELETE"), p.is("MERGE"):
		s, err := parseIcebergDML(text)
		if s == nil {
			return nil, false, nil
		}
		return *s, true, err
	case p.is("ALTER", "TABLE"):
		p.i += 2
		s, ok, err := parseIcebergAlter(p)
		return s, ok, err
	case p.is("OPTIMIZE"):
		p.i++
		var s iceOptimize
		if s.DB, s.Name, err = p.qualified(); err != nil {
			return nil, true, err
		}
		if err := p.expect("REWRITE", "DATA", "USING", "BIN_PACK"); err != nil {
			return nil, true, err
		}
		if p.accept("WHERE") {
			s.Where = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(text[p.toks[p.i-1].pos+len("WHERE"):]), ";"))
			if s.Where == "" {
				return nil, true, p.errorf("expected a condition after WHERE")
			}
			return s, true, nil
		}
		return s, true, p.end()
	case p.is("VACUUM"):
		p.i++
		var s iceVacuum
		if s.DB, s.Name, err = p.qualified(); err != nil {
			return nil, true, err
		}
		return s, true, p.end()
	case p.is("DROP", "TABLE"):
		p.i += 2
		s := iceDrop{IfExists: p.accept("IF", "EXISTS")}
		if s.DB, s.Name, err = p.qualified(); err != nil {
			return nil, false, nil
		}
		s.Purge = p.accept("PURGE")
		if p.end() != nil {
			return nil, false, nil
		}
		return s, true, nil
	case p.is("SHOW", "CREATE", "TABLE"):
		p.i += 3
		var s iceShowCreate
		if s.DB, s.Name, err = p.qualified(); err != nil || p.end() != nil {
			return nil, false, nil
		}
		return s, true, nil
	}
	return nil, false, nil
}

// icebergProps reports whether a CREATE TABLE says table_type = ICEBERG
// (in TBLPROPERTIES or in a CTAS's WITH).
func icebergProps(toks []token) bool {
	for i := 0; i+2 < len(toks); i++ {
		t := toks[i]
		if (t.kind == tString || t.kind == tIdent || t.kind == tQuoted) && strings.EqualFold(t.text, "table_type") &&
			toks[i+1].kind == tPunct && toks[i+1].text == "=" &&
			(toks[i+2].kind == tString || toks[i+2].kind == tQuoted) && strings.EqualFold(toks[i+2].text, "ICEBERG") {
			return true
		}
		if t.kind == tIdent && strings.EqualFold(t.text, "AS") && i > 0 && toks[i-1].kind == tPunct && toks[i-1].text == ")" {
			// The SELECT of a CTAS starts: its text is not the table's.
			if i+1 < len(toks) && (strings.EqualFold(toks[i+1].text, "SELECT") || strings.EqualFold(toks[i+1].text, "WITH") || toks[i+1].text == "(") {
				return false
			}
		}
	}
	return false
}

func parseIcebergCreate(text string, p *parser) (iceCreate, error) {
	p.accept("CREATE")
	p.accept("EXTERNAL")
	p.accept("TABLE")
	s := iceCreate{IfNotExists: p.accept("IF", "NOT", "EXISTS"), Props: map[string]string{}}
	var err error
	if s.DB, s.Name, err = p.qualified(); err != nil {
		return s, err
	}
	if p.accept("WITH") {
		// CTAS: WITH (table_type = 'ICEBERG', location = '...', partitioning = ARRAY['day(ts)'], ...) AS SELECT
		if err := p.expect("("); err != nil {
			return s, err
		}
		for !p.accept(")") {
			k, err := p.ident()
			if err != nil {
				return s, err
			}
			k = strings.ToLower(k)
			if err := p.expect("="); err != nil {
				return s, err
			}
			if p.accept("ARRAY") {
				if !p.accept("[") {
					return s, p.errorf("expected ARRAY['...']")
				}
				var vals []string
				for !p.accept("]") {
					v, err := p.str()
					if err != nil {
						return s, err
					}
					vals = append(vals, v)
					if !p.accept(",") && !p.is("]") {
						return s, p.errorf("expected ',' or ']'")
					}
				}
				if k == "partitioning" || k == "partitioned_by" {
					s.Partitioning = vals
				} else {
					s.Props[k] = strings.Join(vals, ",")
				}
			} else {
				t := p.next()
				if t.kind != tString && t.kind != tNumber && t.kind != tIdent {
					return s, p.errorf("expected a value for %s", k)
				}
				if (k == "location" || k == "external_location") && t.escaped {
					return s, p.errorf("location contains a backslash, which is an escape character in these strings and would be dropped")
				}
				s.Props[k] = t.text
			}
			if !p.accept(",") && !p.is(")") {
				return s, p.errorf("expected ',' or ')'")
			}
		}
		if !p.accept("AS") {
			return s, p.errorf("expected AS SELECT ...")
		}
		s.Select = unparen(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(text[p.peek().pos:]), ";")))
		if p.is("WITH", "NO", "DATA") || strings.HasSuffix(strings.ToUpper(s.Select), "WITH NO DATA") {
			return s, p.errorf("WITH NO DATA is not supported")
		}
		s.Location = firstNonEmpty(s.Props["location"], s.Props["external_location"])
		delete(s.Props, "location")
		delete(s.Props, "external_location")
		return s, nil
	}
	if p.is("(") {
		if s.Columns, err = p.columns(); err != nil {
			return s, err
		}
	}
	for p.peek().kind != tEOF && !p.is(";") {
		switch {
		case p.accept("COMMENT"):
			if s.Comment, err = p.str(); err != nil {
				return s, err
			}
		case p.accept("PARTITIONED", "BY"):
			if s.Partitioning, err = p.transforms(text); err != nil {
				return s, err
			}
		case p.accept("LOCATION"):
			if s.Location, err = p.location(); err != nil {
				return s, err
			}
		case p.accept("TBLPROPERTIES"):
			props, err := p.kv()
			if err != nil {
				return s, err
			}
			for k, v := range props {
				s.Props[strings.ToLower(k)] = v
			}
		case p.accept("STORED", "AS"):
			f, err := p.ident()
			if err != nil {
				return s, err
			}
			if !strings.EqualFold(f, "PARQUET") {
				return s, p.errorf("an Iceberg table's files are Parquet (STORED AS %s is not supported)", f)
			}
		default:
			return s, p.errorf("unexpected clause in CREATE TABLE of an Iceberg table")
		}
	}
	if len(s.Columns) == 0 {
		return s, p.errorf("an Iceberg table needs columns: CREATE TABLE db.t (col type, ...)")
	}
	return s, p.end()
}

// transforms parses (day(ts), bucket(16, id), col) into their texts.
func (p *parser) transforms(text string) ([]string, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	var out []string
	for {
		start := p.peek().pos
		if _, err := p.ident(); err != nil {
			return nil, err
		}
		if t := p.peek(); t.kind == tIdent {
			return nil, p.errorf("an Iceberg table is partitioned by its own columns or transforms of them, e.g. PARTITIONED BY (col, day(ts), bucket(16, id)), not by typed partition columns as a Hive table")
		}
		if p.accept("(") {
			depth := 1
			for depth > 0 {
				t := p.next()
				switch {
				case t.kind == tEOF:
					return nil, p.errorf("unterminated partition transform")
				case t.kind == tPunct && t.text == "(":
					depth++
				case t.kind == tPunct && t.text == ")":
					depth--
				}
			}
		}
		out = append(out, strings.TrimSpace(text[start:p.peek().pos]))
		if p.accept(")") {
			return out, nil
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
	}
}

// parseTransform reads one partition field as Athena writes it: col,
// year(col), month(col), day(col), hour(col), bucket(n, col),
// truncate(w, col) (also Spark's years(...), days(...), ...). It returns
// the source column, the transform and the field's default name.
func parseTransform(text string) (col string, tr iceberggo.Transform, name string, err error) {
	toks, err := tokenize(text)
	if err != nil {
		return "", nil, "", err
	}
	p := &parser{toks: toks}
	fn, err := p.ident()
	if err != nil {
		return "", nil, "", fmt.Errorf("partition field %q: %w", text, err)
	}
	if !p.accept("(") {
		if err := p.end(); err != nil {
			return "", nil, "", fmt.Errorf("partition field %q: %w", text, err)
		}
		return fn, iceberggo.IdentityTransform{}, fn, nil
	}
	var args []token
	for !p.accept(")") {
		t := p.next()
		if t.kind == tEOF {
			return "", nil, "", fmt.Errorf("partition field %q: unterminated", text)
		}
		if t.kind == tPunct && t.text == "," {
			continue
		}
		args = append(args, t)
	}
	if err := p.end(); err != nil {
		return "", nil, "", fmt.Errorf("partition field %q: %w", text, err)
	}
	bad := fmt.Errorf("partition field %q: expected col, year(col), month(col), day(col), hour(col), bucket(n, col) or truncate(w, col)", text)
	colArg := func(t token) (string, error) {
		if t.kind != tIdent && t.kind != tQuoted {
			return "", bad
		}
		return t.text, nil
	}
	switch f := strings.ToLower(fn); f {
	case "year", "years", "month", "months", "day", "days", "date", "hour", "hours", "identity":
		if len(args) != 1 {
			return "", nil, "", bad
		}
		if col, err = colArg(args[0]); err != nil {
			return "", nil, "", err
		}
		switch strings.TrimSuffix(f, "s") {
		case "year":
			return col, iceberggo.YearTransform{}, col + "_year", nil
		case "month":
			return col, iceberggo.MonthTransform{}, col + "_month", nil
		case "day", "date":
			return col, iceberggo.DayTransform{}, col + "_day", nil
		case "hour":
			return col, iceberggo.HourTransform{}, col + "_hour", nil
		}
		return col, iceberggo.IdentityTransform{}, col, nil
	case "bucket", "truncate":
		if len(args) != 2 {
			return "", nil, "", bad
		}
		// Athena: bucket(n, col); Spark also accepts bucket(col, n)? No:
		// both put the number first.
		n, err := strconv.Atoi(args[0].text)
		if err != nil || args[0].kind != tNumber || n <= 0 {
			return "", nil, "", fmt.Errorf("partition field %q: the %s width must be a positive number", text, f)
		}
		if col, err = colArg(args[1]); err != nil {
			return "", nil, "", err
		}
		if f == "bucket" {
			return col, iceberggo.BucketTransform{NumBuckets: n}, col + "_bucket", nil
		}
		return col, iceberggo.TruncateTransform{Width: n}, col + "_trunc", nil
	}
	return "", nil, "", bad
}

func parseIcebergAlter(p *parser) (any, bool, error) {
	db, name, err := p.qualified()
	if err != nil {
		return nil, false, nil
	}
	s := iceAlter{DB: db, Name: name}
	switch {
	case p.accept("ADD", "COLUMNS"):
		s.Op = "ADD COLUMNS"
		if s.Columns, err = p.columns(); err != nil {
			return s, true, err
		}
	case p.accept("DROP", "COLUMN"):
		s.Op = "DROP COLUMN"
		if s.Column, err = p.ident(); err != nil {
			return s, true, err
		}
	case p.accept("CHANGE", "COLUMN"), p.accept("CHANGE"):
		s.Op = "CHANGE COLUMN"
		if s.Column, err = p.ident(); err != nil {
			return s, true, err
		}
		if s.NewName, err = p.ident(); err != nil {
			return s, true, err
		}
		if s.NewType, err = p.typeToEnd(); err != nil {
			return s, true, err
		}
		if p.accept("COMMENT") {
			c, err := p.str()
			if err != nil {
				return s, true, err
			}
			s.Comment = &c
		}
	case p.accept("RENAME", "COLUMN"):
		s.Op = "RENAME COLUMN"
		if s.Column, err = p.ident(); err != nil {
			return s, true, err
		}
		if err := p.expect("TO"); err != nil {
			return s, true, err
		}
		if s.NewName, err = p.ident(); err != nil {
			return s, true, err
		}
	case p.is("ADD", "PARTITION", "FIELD"), p.is("DROP", "PARTITION", "FIELD"):
		s.Op = strings.ToUpper(p.peek().text) + " PARTITION FIELD"
		p.i += 3
		start := p.peek().pos
		if _, err := p.ident(); err != nil {
			return s, true, err
		}
		if p.accept("(") {
			for depth := 1; depth > 0; {
				t := p.next()
				switch {
				case t.kind == tEOF:
					return s, true, p.errorf("unterminated partition transform")
				case t.kind == tPunct && t.text == "(":
					depth++
				case t.kind == tPunct && t.text == ")":
					depth--
				}
			}
		}
		s.Field = strings.TrimSpace(p.textBetween(start))
		if s.Op == "ADD PARTITION FIELD" && p.accept("AS") {
			if s.FieldAs, err = p.ident(); err != nil {
				return s, true, err
			}
		}
	case p.accept("SET", "TBLPROPERTIES"):
		s.Op = "SET TBLPROPERTIES"
		if s.Props, err = p.kv(); err != nil {
			return s, true, err
		}
	case p.accept("CONVERT", "TO", "ICEBERG"):
		s.Op = "CONVERT TO ICEBERG"
	case p.accept("RENAME", "TO"):
		s.Op = "RENAME TO"
		if s.ToDB, s.NewName, err = p.qualified(); err != nil {
			return s, true, err
		}
	case p.accept("UNSET", "TBLPROPERTIES"):
		s.Op = "UNSET TBLPROPERTIES"
		props, err := p.keys()
		if err != nil {
			return s, true, err
		}
		s.Keys = props
	default:
		return nil, false, nil // Hive's ALTER TABLE ... ADD/DROP PARTITION
	}
	return s, true, p.end()
}

// typeToEnd reads a type up to COMMENT, ';' or the end of the statement.
func (p *parser) typeToEnd() (string, error) {
	start := p.i
	depth := 0
	for {
		t := p.peek()
		if t.kind == tEOF || (depth == 0 && (p.is(";") || (t.kind == tIdent && strings.EqualFold(t.text, "COMMENT")))) {
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
		p.i++
	}
	if p.i == start {
		return "", p.errorf("expected a type")
	}
	var b strings.Builder
	for _, t := range p.toks[start:p.i] {
		if t.kind == tQuoted {
			b.WriteString("`" + t.text + "`")
		} else {
			b.WriteString(t.text)
		}
	}
	return b.String(), nil
}

// textBetween is the source text from start to the next token.
func (p *parser) textBetween(start int) string {
	// Tokens keep their start only: rebuild from the tokens consumed.
	var b strings.Builder
	for i := 0; i < p.i; i++ {
		t := p.toks[i]
		if t.pos < start {
			continue
		}
		switch t.kind {
		case tString:
			b.WriteString("'" + strings.ReplaceAll(t.text, "'", "''") + "'")
		case tQuoted:
			b.WriteString(`"` + strings.ReplaceAll(t.text, `"`, `""`) + `"`)
		default:
			b.WriteString(t.text)
		}
		if t.kind == tPunct && t.text == "," {
			b.WriteString(" ")
		}
	}
	return b.String()
}

// keys parses ('k', 'k2').
func (p *parser) keys() ([]string, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	var out []string
	for !p.accept(")") {
		k, err := p.propertyStr()
		if err != nil {
			return nil, err
		}
		out = append(out, k)
		if !p.accept(",") && !p.is(")") {
			return nil, p.errorf("expected ',' or ')'")
		}
	}
	return out, nil
}

// parseIcebergDML parses UPDATE, DELETE and MERGE INTO as DuckDB reads them
// (its scanner: no backslash escapes in strings), down to the spans tarn
// replaces; DuckDB parses the rest when it runs the statement. nil, nil
// means the statement is none of them.
func parseIcebergDML(text string) (*iceDML, error) {
	toks, err := sqlscan.Scan(text, sqlscan.DuckDB)
	if err != nil {
		return nil, nil
	}
	i := 0
	is := func(words ...string) bool {
		for k, w := range words {
			if i+k >= len(toks) || !toks[i+k].Is(w) {
				return false
			}
		}
		return true
	}
	errAt := func(format string, args ...any) error {
		pos := len(text)
		if i < len(toks) {
			pos = toks[i].Start
		}
		return fmt.Errorf("%s at position %d", fmt.Sprintf(format, args...), pos+1)
	}
	name := func() (db, n string, start, end int, ok bool) {
		if i >= len(toks) || (toks[i].Kind != sqlscan.Ident && toks[i].Kind != sqlscan.QuotedIdent) {
			return "", "", 0, 0, false
		}
		start = toks[i].Start
		n = toks[i].Value
		i++
		for i+1 < len(toks) && toks[i].Kind == sqlscan.Punct && toks[i].Value == "." &&
			(toks[i+1].Kind == sqlscan.Ident || toks[i+1].Kind == sqlscan.QuotedIdent) {
			db, n = n, toks[i+1].Value
			i += 2
		}
		return db, n, start, toks[i-1].End, true
	}
	// alias reads [AS] alias unless the next word is one of stop.
	alias := func(stop ...string) (string, int, bool) {
		if is("AS") {
			i++
			if i < len(toks) && (toks[i].Kind == sqlscan.Ident || toks[i].Kind == sqlscan.QuotedIdent) {
				i++
				return toks[i-1].Value, toks[i-1].End, true
			}
			return "", 0, false
		}
		if i < len(toks) && (toks[i].Kind == sqlscan.Ident || toks[i].Kind == sqlscan.QuotedIdent) {
			for _, w := range stop {
				if toks[i].Kind == sqlscan.Ident && toks[i].Is(w) {
					return "", 0, false
				}
			}
			i++
			return toks[i-1].Value, toks[i-1].End, true
		}
		return "", 0, false
	}
	// topLevel finds the first of words at parenthesis depth 0 from i on.
	topLevel := func(from int, words ...string) int {
		depth := 0
		for k := from; k < len(toks); k++ {
			t := toks[k]
			if t.Kind == sqlscan.Punct {
				switch t.Value {
				case "(":
					depth++
				case ")":
					depth--
				}
			}
			if depth == 0 && t.Kind == sqlscan.Ident {
				for _, w := range words {
					if t.Is(w) {
						return k
					}
				}
			}
		}
		return -1
	}
	trimEnd := func(s string) string {
		return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ";"))
	}
	s := &iceDML{Text: text}
	var ok bool
	switch {
	case is("UPDATE"):
		s.Kind = "UPDATE"
		i++
		if s.DB, s.Name, s.TargetStart, s.TargetEnd, ok = name(); !ok {
			return nil, nil
		}
		if a, end, ok := alias("SET"); ok {
			s.Alias, s.TargetEnd = a, end
		}
		if !is("SET") {
			return s, errAt("expected SET")
		}
		if k := topLevel(i, "FROM"); k >= 0 {
			i = k
			return s, errAt("UPDATE ... FROM is not supported on an Iceberg table; write it as MERGE INTO ... USING ... WHEN MATCHED THEN UPDATE SET ...")
		}
		if k := topLevel(i, "RETURNING"); k >= 0 {
			i = k
			return s, errAt("RETURNING is not supported on an Iceberg table")
		}
		if k := topLevel(i, "WHERE"); k >= 0 {
			s.Where, s.WhereStart = trimEnd(text[toks[k].End:]), toks[k].End
		}
	case is("DELETE", "FROM"):
		s.Kind = "DELETE"
		i += 2
		if s.DB, s.Name, s.TargetStart, s.TargetEnd, ok = name(); !ok {
			return nil, nil
		}
		if a, end, ok := alias("WHERE", "USING", "RETURNING"); ok {
			s.Alias, s.TargetEnd = a, end
		}
		switch {
		case is("USING"):
			return s, errAt("DELETE ... USING is not supported on an Iceberg table; write it as MERGE INTO ... USING ... WHEN MATCHED THEN DELETE")
		case is("WHERE"):
			s.Where, s.WhereStart = trimEnd(text[toks[i].End:]), toks[i].End
			if k := topLevel(i, "RETURNING"); k >= 0 {
				i = k
				return s, errAt("RETURNING is not supported on an Iceberg table")
			}
			if s.Where == "" {
				return s, errAt("expected a condition after WHERE")
			}
		case i < len(toks) && toks[i].Kind != sqlscan.EOF && !(toks[i].Kind == sqlscan.Punct && toks[i].Value == ";"):
			return s, errAt("unexpected text in DELETE")
		}
	case is("MERGE", "INTO"):
		s.Kind = "MERGE"
		i += 2
		if s.DB, s.Name, s.TargetStart, s.TargetEnd, ok = name(); !ok {
			return nil, nil
		}
		if a, end, ok := alias("USING"); ok {
			s.Alias, s.TargetEnd = a, end
		}
		if !is("USING") {
			return s, errAt("expected USING")
		}
		i++
		if i >= len(toks) {
			return s, errAt("expected the source of MERGE")
		}
		s.SourceStart = toks[i].Start
		if toks[i].Kind == sqlscan.Punct && toks[i].Value == "(" {
			depth := 0
			k := i
			for ; k < len(toks); k++ {
				if toks[k].Kind == sqlscan.Punct && toks[k].Value == "(" {
					depth++
				}
				if toks[k].Kind == sqlscan.Punct && toks[k].Value == ")" {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			if k >= len(toks) {
				return s, errAt("unterminated source of MERGE")
			}
			s.SourceSelect = strings.TrimSpace(text[toks[i].End:toks[k].Start])
			s.SourceEnd = toks[k].End
			i = k + 1
		} else {
			_, n, st, end, ok := name()
			if !ok {
				return s, errAt("expected a table or (SELECT ...) after USING")
			}
			s.SourceSelect = "SELECT * FROM " + text[st:end]
			s.SourceAlias, s.SourceEnd = n, end
		}
		if a, end, ok := alias("ON"); ok {
			s.SourceAlias, s.SourceEnd = a, end
			// AS s(a, b, c): the source's columns renamed.
			if i < len(toks) && toks[i].Kind == sqlscan.Punct && toks[i].Value == "(" {
				i++
				for {
					if i >= len(toks) || (toks[i].Kind != sqlscan.Ident && toks[i].Kind != sqlscan.QuotedIdent) {
						return s, errAt("expected a column name in the source's alias")
					}
					s.SourceColumns = append(s.SourceColumns, toks[i].Value)
					i++
					if i < len(toks) && toks[i].Kind == sqlscan.Punct && toks[i].Value == "," {
						i++
						continue
					}
					if i < len(toks) && toks[i].Kind == sqlscan.Punct && toks[i].Value == ")" {
						s.SourceEnd = toks[i].End
						i++
						break
					}
					return s, errAt("expected ',' or ')' in the source's alias")
				}
			}
		}
		if strings.HasPrefix(strings.ToUpper(s.SourceSelect), "VALUES") {
			s.SourceSelect = "SELECT * FROM (" + s.SourceSelect + ")"
		}
		if s.SourceAlias == "" {
			return s, errAt("a MERGE source in parentheses needs an alias: USING (SELECT ...) AS s")
		}
		if !is("ON") {
			return s, errAt("expected ON")
		}
		on := toks[i].End
		k := topLevel(i, "WHEN")
		if k < 0 {
			return s, errAt("expected WHEN MATCHED or WHEN NOT MATCHED")
		}
		s.On = strings.TrimSpace(text[on:toks[k].Start])
		s.OnStart, s.OnEnd = on, toks[k].Start
		for ; k >= 0; k = topLevel(k+1, "WHEN") {
			if k+1 < len(toks) && toks[k+1].Is("MATCHED") {
				s.Matched = true
			}
			if k+4 < len(toks) && toks[k+1].Is("NOT") && toks[k+2].Is("MATCHED") && toks[k+3].Is("BY") && toks[k+4].Is("SOURCE") {
				i = k
				return s, errAt("WHEN NOT MATCHED BY SOURCE is not supported on an Iceberg table (it rewrites every data file): delete those rows with DELETE ... WHERE NOT EXISTS")
			}
		}
		if k := topLevel(i, "RETURNING"); k >= 0 {
			i = k
			return s, errAt("RETURNING is not supported on an Iceberg table")
		}
	default:
		return nil, nil
	}
	if s.Alias == "" {
		s.Alias = s.Name
	}
	if err := checkUserParts(s, toks); err != nil {
		return s, err
	}
	return s, nil
}

// checkUserParts vets the text of a DML statement that DuckDB runs as
// written (all but the target and MERGE's source, which tarn replaces):
// one statement, balanced parentheses, and no query of its own outside the
// subqueries it lists (s.Subqueries), which tarn binds as SELECTs: a query
// DuckDB ran as written could read tables the binder never saw (and so
// never authorized), such as the warehouse's.
func checkUserParts(s *iceDML, toks []sqlscan.Token) error {
	user := func(t sqlscan.Token) bool {
		return t.Start >= s.TargetEnd && !(s.Kind == "MERGE" && t.Start >= s.SourceStart && t.Start < s.SourceEnd) && t.Kind != sqlscan.EOF
	}
	// The subqueries: "(" then SELECT, WITH, FROM, TABLE or VALUES, to the
	// matching ")".
	inSub := map[int]bool{}
	for k := 0; k+1 < len(toks); k++ {
		t := toks[k]
		if !user(t) || t.Kind != sqlscan.Punct || t.Value != "(" {
			continue
		}
		n := toks[k+1]
		if !(n.Is("SELECT") || n.Is("WITH") || n.Is("FROM") || n.Is("TABLE") || n.Is("VALUES")) {
			continue
		}
		depth := 0
		end := -1
		for j := k; j < len(toks); j++ {
			if toks[j].Kind == sqlscan.Punct && toks[j].Value == "(" {
				depth++
			}
			if toks[j].Kind == sqlscan.Punct && toks[j].Value == ")" {
				if depth--; depth == 0 {
					end = j
					break
				}
			}
		}
		if end < 0 {
			return fmt.Errorf("unterminated subquery at position %d", t.Start+1)
		}
		s.Subqueries = append(s.Subqueries, [2]int{t.Start, toks[end].End})
		for j := k; j <= end; j++ {
			inSub[j] = true
		}
		k = end
	}
	depth := 0
	var prev sqlscan.Token
	for k, t := range toks {
		if !user(t) || inSub[k] {
			continue
		}
		switch t.Kind {
		case sqlscan.Punct:
			switch t.Value {
			case "(":
				depth++
			case ")":
				depth--
				if depth < 0 {
					return fmt.Errorf("unbalanced ')' at position %d", t.Start+1)
				}
			case ";":
				for _, r := range toks[k+1:] {
					if r.Kind != sqlscan.EOF && !(r.Kind == sqlscan.Punct && r.Value == ";") {
						return fmt.Errorf("one statement at a time: text after ';' at position %d", t.Start+1)
					}
				}
			}
		case sqlscan.Ident:
			sub := t.Is("SELECT") || t.Is("TABLE") || t.Is("JOIN") || t.Is("PIVOT") || t.Is("UNPIVOT") || t.Is("VALUES") && depth > 0 ||
				t.Is("FROM") && prev.Kind == sqlscan.Punct && prev.Value == "("
			if sub {
				return fmt.Errorf("%w: %s at position %d: in %s on an Iceberg table, other tables are read only in parenthesized subqueries, (SELECT ...), which tarn binds and authorizes",
					ErrUnsupported, strings.ToUpper(t.Value), t.Start+1, s.Kind)
			}
		}
		prev = t
	}
	if depth != 0 {
		return fmt.Errorf("unbalanced parentheses in %s", s.Kind)
	}
	return nil
}
