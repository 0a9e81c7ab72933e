package pgwire

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tarn-lake/tarn/internal/sqlscan"
)

// Kinds of statements: the session commands pgwire answers itself, COPY
// (whose query runs like any other), and queries.
type kind int

const (
	kindQuery kind = iota // anything for the query service or the shadow
	kindEmpty
	kindSet
	kindReset
	kindShow
	kindTx   // BEGIN, COMMIT, ROLLBACK: accepted; tarn's statements are autocommitted reads and DDL
	kindNoop // DISCARD, DEALLOCATE, LISTEN, ...: accepted, nothing to do
	kindCopy
)

type statement struct {
	kind        kind
	name, value string // SET/RESET/SHOW
	tag         string // command tag of kindTx/kindNoop
	copy        *copySpec
}

// athenaShow are SHOW statements of Athena's DDL, run by the query service.
var athenaShow = map[string]bool{"TABLES": true, "DATABASES": true, "SCHEMAS": true, "PARTITIONS": true, "CREATE": true,
	"COLUMNS": true, "VIEWS": true, "TBLPROPERTIES": true}

// parseStatement recognises the statements pgwire handles itself.
func parseStatement(text string) (statement, error) {
	w := words(text, 4)
	if len(w) == 0 {
		return statement{kind: kindEmpty}, nil
	}
	switch w[0] {
	case "SET":
		rest := strings.TrimSpace(stripComments(text))[3:]
		rest = strings.TrimSpace(rest)
		for _, p := range []string{"SESSION ", "LOCAL "} {
			if len(rest) > len(p) && strings.EqualFold(rest[:len(p)], p) {
				rest = strings.TrimSpace(rest[len(p):])
			}
		}
		if len(w) > 1 && (w[1] == "TRANSACTION" || w[1] == "SESSION" && len(w) > 2 && w[2] == "CHARACTERISTICS") {
			return statement{kind: kindNoop, tag: "SET"}, nil
		}
		if strings.HasPrefix(strings.ToUpper(rest), "TIME ZONE") {
			return statement{kind: kindSet, name: "timezone", value: strings.TrimSpace(rest[len("TIME ZONE"):])}, nil
		}
		name, value, ok := cutSet(rest)
		if !ok {
			return statement{}, newError(codeSyntax, "SET needs a name and a value: SET name = value", "")
		}
		return statement{kind: kindSet, name: strings.ToLower(name), value: value}, nil
	case "RESET":
		if len(w) < 2 {
			return statement{}, newError(codeSyntax, "RESET needs a name", "")
		}
		return statement{kind: kindReset, name: strings.ToLower(w[1])}, nil
	case "SHOW":
		if len(w) < 2 || athenaShow[w[1]] {
			return statement{kind: kindQuery}, nil
		}
		name := strings.ToLower(strings.TrimSpace(strings.TrimSpace(stripComments(text))[4:]))
		name = strings.Trim(name, `"`)
		return statement{kind: kindShow, name: name}, nil
	case "BEGIN", "START":
		return statement{kind: kindTx, tag: "BEGIN"}, nil
	case "COMMIT", "END":
		return statement{kind: kindTx, tag: "COMMIT"}, nil
	case "ROLLBACK", "ABORT":
		return statement{kind: kindTx, tag: "ROLLBACK"}, nil
	case "DISCARD", "DEALLOCATE", "LISTEN", "UNLISTEN", "CLOSE":
		return statement{kind: kindNoop, tag: w[0] + tagSuffix(w)}, nil
	case "COPY":
		cs, err := parseCopy(text)
		if err == errWarehouseCopy {
			return statement{kind: kindQuery}, nil
		}
		if err != nil {
			return statement{}, err
		}
		return statement{kind: kindCopy, copy: cs}, nil
	}
	return statement{kind: kindQuery}, nil
}

func tagSuffix(w []string) string {
	if w[0] == "DISCARD" && len(w) > 1 {
		return " " + w[1]
	}
	if w[0] == "DEALLOCATE" && len(w) > 1 && w[1] == "ALL" {
		return " ALL"
	}
	return ""
}

// cutSet splits "name = value" or "name TO value".
func cutSet(s string) (name, value string, ok bool) {
	if n, v, found := strings.Cut(s, "="); found {
		return strings.TrimSpace(n), strings.TrimSpace(v), strings.TrimSpace(n) != ""
	}
	f := strings.Fields(s)
	if len(f) >= 3 && strings.EqualFold(f[1], "TO") {
		return f[0], strings.Join(f[2:], " "), true
	}
	return "", "", false
}

// errWarehouseCopy marks a COPY ... FROM that is not the protocol's
// COPY FROM STDIN but a warehouse load.
var errWarehouseCopy = errors.New("warehouse COPY")

// copySpec is a COPY ... TO STDOUT.
type copySpec struct {
	query     string
	csv       bool
	header    bool
	delimiter string
	null      string
}

var copyOptWord = regexp.MustCompile(`(?i)^\s*(with\s*)?\(?`)

// parseCopy reads COPY (query) TO STDOUT [WITH] [(options)] and COPY table
// [(columns)] TO STDOUT ..., with both the current option list (FORMAT
// csv, HEADER, DELIMITER 'x', NULL 'x') and the old keywords (CSV HEADER,
// DELIMITER 'x', NULL 'x') that psql's \copy passes on.
func parseCopy(text string) (*copySpec, error) {
	body := strings.TrimSpace(stripComments(text))[len("COPY"):]
	body = strings.TrimSpace(body)
	var q, rest string
	if strings.HasPrefix(body, "(") {
		end, err := matchParen(body, 0)
		if err != nil {
			return nil, err
		}
		q, rest = strings.TrimSpace(body[1:end]), body[end+1:]
	} else {
		// A table name, maybe with a column list.
		// The name runs to the first space or '(' outside quotes.
		i := 0
		sc := sqlscan.NewScanner(body, sqlscan.DuckDB)
		for {
			t, err := sc.Next()
			if err != nil || t.Kind == sqlscan.EOF || t.Start != i || t.Is("(") {
				break
			}
			i = t.End
		}
		table := body[:i]
		rest = strings.TrimSpace(body[i:])
		cols := "*"
		if strings.HasPrefix(rest, "(") {
			end, err := matchParen(rest, 0)
			if err != nil {
				return nil, err
			}
			cols, rest = rest[1:end], rest[end+1:]
		}
		if table == "" {
			return nil, newError(codeSyntax, "COPY needs a table or a (query)", "")
		}
		q = "SELECT " + cols + " FROM " + table
	}
	w := words(rest, 2)
	if len(w) >= 1 && w[0] == "FROM" && (len(w) < 2 || w[1] != "STDIN") {
		// Redshift's COPY table FROM 's3://...' (or FROM a catalog table):
		// a warehouse load, run by the query service like any statement.
		return nil, errWarehouseCopy
	}
	if len(w) >= 1 && w[0] == "FROM" {
		return nil, newError(codeNotSupported, "COPY FROM is not supported: tarn's tables are loaded through storage",
			"put the file in a bucket (aws s3 cp, tarn objects put) and query it through a catalog table")
	}
	if len(w) < 2 || w[0] != "TO" {
		return nil, newError(codeSyntax, "COPY needs TO STDOUT", "")
	}
	if w[1] != "STDOUT" {
		return nil, newError(codePermission, "COPY TO a file is not allowed: the server's files are not the client's",
			"use COPY ... TO STDOUT (psql: \\copy ... to 'file')")
	}
	rest = strings.TrimSpace(rest)
	rest = strings.TrimSpace(rest[strings.Index(strings.ToUpper(rest), "STDOUT")+len("STDOUT"):])
	cs := &copySpec{query: q, delimiter: "\t", null: `\N`}
	opts := strings.TrimSpace(copyOptWord.ReplaceAllString(rest, ""))
	opts = strings.TrimSuffix(strings.TrimSpace(opts), ")")
	toks := words(opts, 64)
	for i := 0; i < len(toks); i++ {
		next := func() string {
			if i+1 < len(toks) {
				i++
				return strings.Trim(toks[i], "'")
			}
			return ""
		}
		switch toks[i] {
		case ",", "=":
		case "CSV":
			cs.csv = true
		case "BINARY":
			return nil, newError(codeNotSupported, "COPY in binary format is not supported", "use the text or csv format")
		case "FORMAT":
			switch strings.ToUpper(next()) {
			case "CSV":
				cs.csv = true
			case "TEXT":
			default:
				return nil, newError(codeNotSupported, "COPY supports the text and csv formats", "")
			}
		case "HEADER":
			cs.header = true
			if i+1 < len(toks) && (toks[i+1] == "TRUE" || toks[i+1] == "ON" || toks[i+1] == "1") {
				i++
			} else if i+1 < len(toks) && (toks[i+1] == "FALSE" || toks[i+1] == "OFF" || toks[i+1] == "0") {
				i++
				cs.header = false
			}
		case "DELIMITER":
			cs.delimiter = next()
		case "NULL":
			cs.null = next()
		default:
			return nil, newError(codeNotSupported, fmt.Sprintf("COPY option %s is not supported", toks[i]), "supported: FORMAT text|csv, HEADER, DELIMITER, NULL")
		}
	}
	if cs.csv {
		if cs.delimiter == "\t" {
			cs.delimiter = ","
		}
		if cs.null == `\N` {
			cs.null = ""
		}
	}
	if len(cs.delimiter) != 1 {
		return nil, newError(codeSyntax, "the COPY delimiter must be a single character", "")
	}
	return cs, nil
}

// matchParen returns the index of the ')' that closes s[open].
func matchParen(s string, open int) (int, error) {
	depth := 0
	sc := sqlscan.NewScanner(s[open:], sqlscan.DuckDB)
	for {
		t, err := sc.Next()
		if err != nil {
			return 0, newError(codeSyntax, "unterminated quoted string", "")
		}
		switch {
		case t.Kind == sqlscan.EOF:
			return 0, newError(codeSyntax, "unbalanced parentheses", "")
		case t.Is("("):
			depth++
		case t.Is(")"):
			depth--
			if depth == 0 {
				return open + t.Start, nil
			}
		}
	}
}

func (w *wire) copyStart() error {
	formats := make([]uint16, len(w.cols))
	w.c.be.Send(&pgproto3.CopyOutResponse{OverallFormat: 0, ColumnFormatCodes: formats})
	if w.copy.header {
		vals := make([]any, len(w.cols))
		for i, c := range w.cols {
			vals[i] = c.Name
		}
		saved := w.oids
		w.oids = make([]uint32, len(w.cols))
		for i := range w.oids {
			w.oids[i] = pgtype.TextOID
		}
		err := w.copyLine(vals, false)
		w.oids = saved
		return err
	}
	return nil
}

func (w *wire) copyRow(vals []any) error {
	w.rows++
	if err := w.copyLine(vals, true); err != nil {
		return err
	}
	if w.rows%rowsPerFlush == 0 {
		return w.c.be.Flush()
	}
	return nil
}

// copyLine writes one row in COPY's text format (\N for NULL, backslash
// escapes) or as CSV (quoted where needed; NULL unquoted, an empty string
// quoted).
func (w *wire) copyLine(vals []any, typed bool) error {
	b := w.buf[:0]
	for i, v := range vals {
		if i > 0 {
			b = append(b, w.copy.delimiter...)
		}
		if v == nil {
			b = append(b, w.copy.null...)
			continue
		}
		typ := "VARCHAR"
		if typed {
			typ = w.cols[i].Type
		}
		t, err := encodeValue(w.c.types, v, w.oids[i], typ, 0)
		if err != nil {
			return err
		}
		s := string(t)
		if w.copy.csv {
			if s == "" || s == w.copy.null || strings.ContainsAny(s, w.copy.delimiter+"\"\r\n") {
				s = `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
			}
			b = append(b, s...)
			continue
		}
		for j := 0; j < len(s); j++ {
			switch ch := s[j]; {
			case ch == '\\':
				b = append(b, `\\`...)
			case ch == '\n':
				b = append(b, `\n`...)
			case ch == '\r':
				b = append(b, `\r`...)
			case ch == '\t':
				b = append(b, `\t`...)
			case ch == w.copy.delimiter[0]:
				b = append(b, '\\', ch)
			default:
				b = append(b, ch)
			}
		}
	}
	b = append(b, '\n')
	w.buf = b
	w.c.be.Send(&pgproto3.CopyData{Data: append([]byte(nil), b...)})
	return nil
}

func (w *wire) copyDone() error {
	if !w.columnsSent {
		return newError(codeNotSupported, "COPY needs a statement that returns rows", "")
	}
	w.c.be.Send(&pgproto3.CopyDone{})
	w.c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(fmt.Sprintf("COPY %d", w.rows))})
	return nil
}

// typeSize is pg_type.typlen of the types tarn sends (-1: variable).
func typeSize(oid uint32) int16 {
	switch oid {
	case pgtype.BoolOID:
		return 1
	case pgtype.Int2OID:
		return 2
	case pgtype.Int4OID, pgtype.Float4OID, pgtype.DateOID:
		return 4
	case pgtype.Int8OID, pgtype.Float8OID, pgtype.TimestampOID, pgtype.TimestamptzOID, pgtype.TimeOID:
		return 8
	case pgtype.IntervalOID, pgtype.UUIDOID:
		return 16
	}
	return -1
}

// regclassLiteral is a string literal cast to regclass ('s.t'::regclass):
// PostgreSQL resolves the name to the relation's oid.
var regclassLiteral = regexp.MustCompile(`('(?:[^']|'')*')\s*::\s*(?:pg_catalog\s*\.\s*)?regclass\b`)

// regclassLookup is the oid of the relation a regclass literal names
// (lit, a quoted SQL literal as the client wrote it): schema.name or name
// (in main/public), double quotes dropped; PostgreSQL's error when there
// is none. lit stays a literal: it is the client's own, matched whole.
func regclassLookup(lit string) string {
	bare := strings.ReplaceAll(strings.ToLower(lit[1:len(lit)-1]), `"`, "")
	if oid, ok := systemCatalogOIDs[strings.TrimPrefix(bare, "pg_catalog.")]; ok {
		return strconv.Itoa(oid)
	}
	name := `string_split(replace(` + lit + `, '"', ''), '.')`
	return `(SELECT CASE WHEN count(*) = 0 THEN error('relation "' || ` + lit + ` || '" does not exist') ELSE min(c.oid) END
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relname = ` + name + `[-1] AND CASE WHEN len(` + name + `) > 1 THEN n.nspname = ` + name + `[-2] ELSE n.nspname IN ('main', 'public', 'pg_catalog') END)`
}

// systemCatalogOIDs are PostgreSQL's fixed oids of its system catalogs:
// 'pg_rewrite'::regclass is 2618 on every server, and dbt-postgres's
// relation listing compares pg_depend.classid with it. DuckDB's pg_class
// does not list its own catalog views, so they cannot be looked up there.
var systemCatalogOIDs = map[string]int{
	"pg_type": 1247, "pg_attribute": 1249, "pg_proc": 1255, "pg_class": 1259, "pg_authid": 1260,
	"pg_database": 1262, "pg_am": 2601, "pg_attrdef": 2604, "pg_constraint": 2606, "pg_depend": 2608,
	"pg_description": 2609, "pg_index": 2610, "pg_inherits": 2611, "pg_namespace": 2615,
	"pg_rewrite": 2618, "pg_statistic": 2619, "pg_trigger": 2620, "pg_sequence": 2224,
	"pg_extension": 3079, "pg_policy": 3256, "pg_collation": 3456,
}

// introspectionRewrites turn PostgreSQL-only syntax that psql and tools use
// in their catalog queries into what DuckDB parses.
var introspectionRewrites = []struct {
	re  *regexp.Regexp
	new string
}{
	// OPERATOR(pg_catalog.~) '^(name)$' → ~ (regexp match)
	{regexp.MustCompile(`(?i)OPERATOR\s*\(\s*pg_catalog\s*\.\s*(~\*?|!~\*?|=|<>|~~)\s*\)`), ` $1 `},
	// pg_catalog.f(x): DuckDB reads a.b(x) as a method call on column a
	{regexp.MustCompile(`(?i)\bpg_catalog\s*\.\s*([a-z_][a-z0-9_]*)\s*\(`), `$1(`},
	// COLLATE pg_catalog.default
	{regexp.MustCompile(`(?i)\s+COLLATE\s+pg_catalog\s*\.\s*"?default"?`), ``},
	// ::pg_catalog.regclass and friends: DuckDB's oids are plain numbers
	{regexp.MustCompile(`(?i)::\s*(pg_catalog\s*\.\s*)?(regclass|regtype|regproc|regprocedure|regnamespace|oid)\b`), `::BIGINT`},
	{regexp.MustCompile(`(?i)::\s*(pg_catalog\s*\.\s*)?"?char"?\b`), `::VARCHAR`},
	{regexp.MustCompile(`(?i)::\s*(pg_catalog\s*\.\s*)?(name|text)\b`), `::VARCHAR`},
	{regexp.MustCompile(`(?i)::\s*pg_catalog\s*\.\s*(int2|int4|int8)\b`), `::$1`},
}

var shimQualified, shimBare *regexp.Regexp

func init() {
	var names []string
	for _, sh := range shims {
		names = append(names, sh.name)
	}
	alt := strings.Join(names, "|")
	shimQualified = regexp.MustCompile(`(?i)\bpg_catalog\s*\.\s*(` + alt + `)\b`)
	shimBare = regexp.MustCompile(`(?i)(^|[^.\w"\x00])(` + alt + `)\b`)
}

// rewriteIntrospection applies introspectionRewrites and points the
// relations of shims at shimSchema.
func rewriteIntrospection(text, cat string) string {
	text = unqualifyCatalogSchemas(text, cat)
	text = regclassLiteral.ReplaceAllStringFunc(text, func(m string) string {
		return regclassLookup(regclassLiteral.FindStringSubmatch(m)[1])
	})
	for _, r := range introspectionRewrites {
		text = r.re.ReplaceAllString(text, r.new)
	}
	// Names inside string literals are data ('pg_rewrite'::regclass,
	// relname = 'pg_class'), not relations to point at the shims; the
	// scanner knows where literals and quoted names are (a quote in a
	// comment, as dbt's "-- don't", pairs with nothing).
	toks, err := sqlscan.Scan(text, sqlscan.DuckDB)
	if err != nil {
		// Unterminated: DuckDB says so when it runs.
		return pointAtShims(text, cat)
	}
	var b strings.Builder
	last := 0
	for _, t := range toks {
		if t.Kind != sqlscan.String && t.Kind != sqlscan.QuotedIdent {
			continue
		}
		b.WriteString(pointAtShims(text[last:t.Start], cat))
		b.WriteString(text[t.Start:t.End])
		last = t.End
	}
	b.WriteString(pointAtShims(text[last:], cat))
	return b.String()
}

// pointAtShims names the relations of shims in shimSchema of cat.
func pointAtShims(text, cat string) string {
	text = shimQualified.ReplaceAllString(text, "\x00$1")
	text = shimBare.ReplaceAllString(text, "$1\x00$2")
	return strings.ReplaceAll(text, "\x00", cat+"."+shimSchema+".")
}

// unqualifyCatalogSchemas drops the database from db.information_schema.x
// and db.pg_catalog.x when db is the connection's database (cat, quoted),
// as dbt-postgres writes them ("warehouse".INFORMATION_SCHEMA.columns):
// PostgreSQL accepts its own database's name there, DuckDB keeps both
// schemas in its system catalog only.
func unqualifyCatalogSchemas(text, cat string) string {
	if !strings.Contains(strings.ToLower(text), "information_schema") && !strings.Contains(strings.ToLower(text), "pg_catalog") {
		return text
	}
	db := regexp.QuoteMeta(cat)
	if n := strings.Trim(cat, `"`); plainIdent.MatchString(n) && strings.ToLower(n) == n {
		db = `(?:` + db + `|(?i:` + regexp.QuoteMeta(n) + `)\b)`
	}
	re := regexp.MustCompile(`(^|[^.\w"])` + db + `\s*\.\s*((?i:"?information_schema"?|"?pg_catalog"?)\s*\.)`)
	// Outside string literals only ('...' with '' inside).
	var b strings.Builder
	for len(text) > 0 {
		q := strings.IndexByte(text, '\'')
		if q < 0 {
			b.WriteString(re.ReplaceAllString(text, "$1$2"))
			break
		}
		b.WriteString(re.ReplaceAllString(text[:q], "$1$2"))
		end := q + 1
		for end < len(text) {
			if text[end] == '\'' {
				if end+1 < len(text) && text[end+1] == '\'' {
					end += 2
					continue
				}
				break
			}
			end++
		}
		end = min(end+1, len(text))
		b.WriteString(text[q:end])
		text = text[end:]
	}
	return b.String()
}

var plainIdent = regexp.MustCompile(`^[a-z_][a-z0-9_$]*$`)
