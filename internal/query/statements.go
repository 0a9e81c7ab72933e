package query

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
)

type createDatabase struct {
	Name, Comment, Location string
	IfNotExists             bool
	Properties              map[string]string
}

type createTable struct {
	DB, Name    string
	IfNotExists bool
	Table       catalog.Table
}

type dropTable struct {
	DB, Name string
	IfExists bool
}

type dropDatabase struct {
	Name              string
	IfExists, Cascade bool
}

type repairTable struct{ DB, Name string }

type addPartitions struct {
	DB, Name    string
	IfNotExists bool
	Parts       []partSpec
}

type dropPartitions struct {
	DB, Name string
	IfExists bool
	Parts    []partSpec
}

type partSpec struct {
	Values   [][2]string
	Location string
}

type showDatabases struct{ Like string }
type showTables struct{ DB, Like string }
type showPartitions struct{ DB, Name string }
type showCreateTable struct{ DB, Name string }
type describeTable struct {
	DB, Name string
	Extended bool
}

// parseDDL recognises Athena's Hive DDL. ok is false when the statement is
// none of them (it is then DuckDB's to parse); err is set when it is one of
// them but malformed.
func parseDDL(sql string) (stmt any, ok bool, err error) {
	toks, err := tokenize(sql)
	if err != nil {
		return nil, false, nil
	}
	p := &parser{toks: toks}
	switch {
	case p.is("CREATE", "DATABASE"), p.is("CREATE", "SCHEMA"):
		p.i += 2
		s, err := p.createDatabase()
		return s, true, err
	case p.is("CREATE", "EXTERNAL", "TABLE"):
		p.i += 3
		s, err := p.createTable()
		return s, true, err
	case p.is("CREATE", "TABLE") && hiveCreate(toks):
		p.i += 2
		s, err := p.createTable()
		return s, true, err
	case p.is("DROP", "TABLE"):
		p.i += 2
		s := dropTable{IfExists: p.accept("IF", "EXISTS")}
		if s.DB, s.Name, err = p.qualified(); err == nil {
			err = p.end()
		}
		return s, true, err
	case p.is("DROP", "DATABASE"), p.is("DROP", "SCHEMA"):
		p.i += 2
		s := dropDatabase{IfExists: p.accept("IF", "EXISTS")}
		if s.Name, err = p.ident(); err != nil {
			return nil, true, err
		}
		if p.accept("CASCADE") {
			s.Cascade = true
		} else {
			p.accept("RESTRICT")
		}
		return s, true, p.end()
	case p.is("MSCK", "REPAIR", "TABLE"):
		p.i += 3
		var s repairTable
		if s.DB, s.Name, err = p.qualified(); err == nil {
			err = p.end()
		}
		return s, true, err
	case p.is("ALTER", "TABLE"):
		p.i += 2
		db, name, err := p.qualified()
		if err != nil {
			return nil, true, err
		}
		switch {
		case p.is("ADD", "COLUMNS"), p.is("REPLACE", "COLUMNS"):
			s := alterHiveColumns{DB: db, Name: name, Replace: p.is("REPLACE")}
			p.i += 2
			if s.Columns, err = p.columns(); err != nil {
				return nil, true, err
			}
			if len(s.Columns) == 0 {
				return nil, true, p.errorf("expected at least one column")
			}
			// Hive's CASCADE/RESTRICT say whether partitions' own schemas
			// change too; a tarn partition has no schema of its own.
			if !p.accept("CASCADE") {
				p.accept("RESTRICT")
			}
			return s, true, p.end()
		case p.accept("ADD"):
			s := addPartitions{DB: db, Name: name, IfNotExists: p.accept("IF", "NOT", "EXISTS")}
			for p.is("PARTITION") {
				vals, err := p.partitionSpec()
				if err != nil {
					return nil, true, err
				}
				ps := partSpec{Values: vals}
				if p.accept("LOCATION") {
					if ps.Location, err = p.location(); err != nil {
						return nil, true, err
					}
				}
				s.Parts = append(s.Parts, ps)
			}
			if len(s.Parts) == 0 {
				return nil, true, p.errorf("expected PARTITION (key = value, ...)")
			}
			return s, true, p.end()
		case p.accept("DROP"):
			s := dropPartitions{DB: db, Name: name, IfExists: p.accept("IF", "EXISTS")}
			for p.is("PARTITION") {
				vals, err := p.partitionSpec()
				if err != nil {
					return nil, true, err
				}
				s.Parts = append(s.Parts, partSpec{Values: vals})
				p.accept(",")
			}
			if len(s.Parts) == 0 {
				return nil, true, p.errorf("expected PARTITION (key = value, ...)")
			}
			return s, true, p.end()
		case p.accept("SET", "TBLPROPERTIES"):
			s := setTableProperties{DB: db, Name: name}
			if s.Props, err = p.kv(); err != nil {
				return nil, true, err
			}
			if len(s.Props) == 0 {
				return nil, true, p.errorf("expected at least one property")
			}
			return s, true, p.end()
		default:
			return nil, true, p.errorf("only ALTER TABLE ... ADD PARTITION, DROP PARTITION, ADD COLUMNS, REPLACE COLUMNS and SET TBLPROPERTIES are supported on Hive tables")
		}
	case p.is("SHOW", "DATABASES"), p.is("SHOW", "SCHEMAS"):
		p.i += 2
		var s showDatabases
		if p.accept("LIKE") || p.peek().kind == tString {
			if s.Like, err = p.str(); err != nil {
				return nil, true, err
			}
		}
		return s, true, p.end()
	case p.is("SHOW", "TABLES"):
		p.i += 2
		var s showTables
		if p.accept("IN") || p.accept("FROM") {
			if s.DB, err = p.ident(); err != nil {
				return nil, true, err
			}
		}
		if p.accept("LIKE") || p.peek().kind == tString {
			if s.Like, err = p.str(); err != nil {
				return nil, true, err
			}
		}
		return s, true, p.end()
	case p.is("SHOW", "PARTITIONS"):
		p.i += 2
		var s showPartitions
		if s.DB, s.Name, err = p.qualified(); err == nil {
			err = p.end()
		}
		return s, true, err
	case p.is("SHOW", "CREATE", "TABLE"):
		p.i += 3
		var s showCreateTable
		if s.DB, s.Name, err = p.qualified(); err == nil {
			err = p.end()
		}
		return s, true, err
	case p.is("SHOW", "COLUMNS"):
		p.i += 2
		if !p.accept("IN") && !p.accept("FROM") {
			return nil, true, p.errorf("expected IN")
		}
		var s describeTable
		if s.DB, s.Name, err = p.qualified(); err == nil {
			err = p.end()
		}
		return s, true, err
	case p.is("DESCRIBE"), p.is("DESC"):
		p.i++
		var s describeTable
		s.Extended = p.accept("EXTENDED") || p.accept("FORMATTED")
		if p.is("SELECT") || p.is("WITH") || p.is("(") {
			return nil, false, nil // DESCRIBE of a query: DuckDB's
		}
		if s.DB, s.Name, err = p.qualified(); err == nil {
			err = p.end()
		}
		return s, true, err
	}
	return nil, false, nil
}

// hiveCreate tells Athena's CREATE TABLE (Hive DDL with STORED AS, LOCATION
// or ROW FORMAT) from a CTAS.
func hiveCreate(toks []token) bool {
	for _, t := range toks {
		if t.kind == tIdent && (strings.EqualFold(t.text, "STORED") || strings.EqualFold(t.text, "LOCATION") ||
			strings.EqualFold(t.text, "ROW") || strings.EqualFold(t.text, "PARTITIONED")) {
			return true
		}
		if t.kind == tIdent && (strings.EqualFold(t.text, "AS") || strings.EqualFold(t.text, "WITH")) {
			return false
		}
	}
	return false
}

func (p *parser) createDatabase() (createDatabase, error) {
	s := createDatabase{IfNotExists: p.accept("IF", "NOT", "EXISTS")}
	var err error
	if s.Name, err = p.ident(); err != nil {
		return s, err
	}
	for p.peek().kind != tEOF && !p.is(";") {
		switch {
		case p.accept("COMMENT"):
			if s.Comment, err = p.str(); err != nil {
				return s, err
			}
		case p.accept("LOCATION"):
			if s.Location, err = p.location(); err != nil {
				return s, err
			}
		case p.accept("WITH", "DBPROPERTIES"):
			if s.Properties, err = p.kv(); err != nil {
				return s, err
			}
		default:
			return s, p.errorf("expected COMMENT, LOCATION or WITH DBPROPERTIES")
		}
	}
	return s, p.end()
}

func (p *parser) columns() ([]catalog.Column, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	var cols []catalog.Column
	for !p.accept(")") {
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		typ, err := p.typeText()
		if err != nil {
			return nil, err
		}
		c := catalog.Column{Name: name, Type: typ}
		if p.accept("COMMENT") {
			if c.Comment, err = p.str(); err != nil {
				return nil, err
			}
		}
		cols = append(cols, c)
		if !p.accept(",") && !p.is(")") {
			return nil, p.errorf("expected ',' or ')' after column %q", name)
		}
	}
	return cols, nil
}

// SerDe class names Athena users write.
const (
	serdeOpenCSV = "org.apache.hadoop.hive.serde2.opencsvserde"
	serdeLazy    = "org.apache.hadoop.hive.serde2.lazy.lazysimpleserde"
)

func (p *parser) createTable() (createTable, error) {
	s := createTable{IfNotExists: p.accept("IF", "NOT", "EXISTS")}
	var err error
	if s.DB, s.Name, err = p.qualified(); err != nil {
		return s, err
	}
	t := catalog.Table{Name: s.Name, TableType: catalog.TableTypeExternal, FormatOptions: map[string]string{}, Properties: map[string]string{}}
	if p.is("(") {
		if t.Columns, err = p.columns(); err != nil {
			return s, err
		}
	}
	var serde string
	serdeProps := map[string]string{}
	delimited := false
	stored := ""
	for p.peek().kind != tEOF && !p.is(";") {
		switch {
		case p.accept("COMMENT"):
			if t.Description, err = p.str(); err != nil {
				return s, err
			}
		case p.accept("PARTITIONED", "BY"):
			if t.PartitionKeys, err = p.columns(); err != nil {
				return s, err
			}
		case p.accept("ROW", "FORMAT", "DELIMITED"):
			delimited = true
			for {
				switch {
				case p.accept("FIELDS", "TERMINATED", "BY"):
					if t.FormatOptions[catalog.OptDelimiter], err = p.str(); err != nil {
						return s, err
					}
					if p.accept("ESCAPED", "BY") {
						if t.FormatOptions[catalog.OptEscape], err = p.str(); err != nil {
							return s, err
						}
					}
					continue
				case p.accept("ESCAPED", "BY"):
					if t.FormatOptions[catalog.OptEscape], err = p.str(); err != nil {
						return s, err
					}
					continue
				case p.accept("LINES", "TERMINATED", "BY"), p.accept("COLLECTION", "ITEMS", "TERMINATED", "BY"), p.accept("MAP", "KEYS", "TERMINATED", "BY"):
					if _, err = p.str(); err != nil {
						return s, err
					}
					continue
				case p.accept("NULL", "DEFINED", "AS"):
					if t.FormatOptions[catalog.OptNullString], err = p.str(); err != nil {
						return s, err
					}
					continue
				}
				break
			}
		case p.accept("ROW", "FORMAT", "SERDE"):
			if serde, err = p.str(); err != nil {
				return s, err
			}
			if p.accept("WITH", "SERDEPROPERTIES") {
				if serdeProps, err = p.kv(); err != nil {
					return s, err
				}
			}
		case p.accept("STORED", "AS"):
			if p.accept("INPUTFORMAT") {
				in, err := p.str()
				if err != nil {
					return s, err
				}
				if err := p.expect("OUTPUTFORMAT"); err != nil {
					return s, err
				}
				if _, err := p.str(); err != nil {
					return s, err
				}
				stored = inputFormat(in)
			} else {
				f, err := p.ident()
				if err != nil {
					return s, err
				}
				stored = strings.ToUpper(f)
			}
		case p.accept("LOCATION"):
			if t.Location, err = p.location(); err != nil {
				return s, err
			}
		case p.accept("TBLPROPERTIES"):
			if t.Properties, err = p.kv(); err != nil {
				return s, err
			}
			for k, v := range t.Properties {
				if strings.EqualFold(k, "table_type") && strings.EqualFold(v, "ICEBERG") {
					// Not a Hive table with a property: reading its folder as
					// one would show files Iceberg has deleted or not
					// committed. runIceberg takes these statements first.
					return s, fmt.Errorf("an Iceberg table is not created by the Hive DDL path; write CREATE TABLE ... TBLPROPERTIES ('table_type'='ICEBERG') with columns, or CTAS WITH (table_type='ICEBERG')")
				}
			}
		default:
			return s, p.errorf("unexpected clause in CREATE EXTERNAL TABLE")
		}
	}
	if err := p.end(); err != nil {
		return s, err
	}
	lserde := strings.ToLower(serde)
	switch {
	case stored == "PARQUET" || strings.Contains(lserde, "parquet"):
		t.Format = catalog.FormatParquet
	case strings.Contains(lserde, "json"), stored == "JSON", stored == "JSONFILE":
		t.Format = catalog.FormatJSON
	case stored == "TEXTFILE" || stored == "" || lserde == serdeOpenCSV || lserde == serdeLazy || delimited:
		t.Format = catalog.FormatCSV
		if lserde == serdeOpenCSV {
			t.FormatOptions[catalog.OptDelimiter] = firstNonEmpty(serdeProps["separatorChar"], ",")
			t.FormatOptions[catalog.OptQuote] = firstNonEmpty(serdeProps["quoteChar"], `"`)
			t.FormatOptions[catalog.OptEscape] = firstNonEmpty(serdeProps["escapeChar"], `\`)
		} else if d := firstNonEmpty(serdeProps["field.delim"], serdeProps["separatorChar"]); d != "" {
			t.FormatOptions[catalog.OptDelimiter] = d
		}
		if t.FormatOptions[catalog.OptDelimiter] == "" {
			t.FormatOptions[catalog.OptDelimiter] = "\x01" // Hive's default for TEXTFILE
		}
	default:
		return s, p.errorf("STORED AS %s is not supported (use PARQUET, TEXTFILE or JSON)", stored)
	}
	if n := t.Properties["skip.header.line.count"]; n != "" && n != "0" {
		t.FormatOptions[catalog.OptHeader] = "true"
	}
	if c := t.Properties["compressionType"]; c != "" {
		t.FormatOptions[catalog.OptCompression] = strings.ToLower(c)
	}
	if c := t.Properties["parquet.compression"]; c != "" {
		t.FormatOptions[catalog.OptCompression] = strings.ToLower(c)
	}
	t.Properties[catalog.PropertyClassification] = t.Format
	s.Table = t
	return s, nil
}

func inputFormat(in string) string {
	l := strings.ToLower(in)
	switch {
	case strings.Contains(l, "parquet"):
		return "PARQUET"
	case strings.Contains(l, "json"):
		return "JSON"
	default:
		return "TEXTFILE"
	}
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// changesState reports whether a statement changes the catalog, the
// warehouse or data (CREATE, DROP, ALTER, MSCK, INSERT, UNLOAD, ...), as
// opposed to one whose result is its product (SELECT, SHOW, DESCRIBE,
// EXPLAIN). Once such a statement took effect it is SUCCEEDED, even if its
// (empty or one-line) result cannot be stored afterwards.
func changesState(sqlText string) bool {
	switch firstWord(sqlText) {
	case "CREATE", "DROP", "ALTER", "MSCK", "INSERT", "UNLOAD", "UPDATE", "DELETE", "MERGE", "TRUNCATE", "COPY", "REFRESH",
		"COMMENT", "GRANT", "REVOKE", "OPTIMIZE", "VACUUM":
		return true
	}
	return false
}

// catalogView runs CREATE [OR REPLACE] VIEW db.v AS SELECT ... and DROP
// VIEW [IF EXISTS] db.v when db is a catalog database and not a warehouse
// schema — the warehouse, which sees these statements first, failed them
// with werr — as Athena's views: a VIRTUAL_VIEW table in the catalog whose
// SELECT the binder puts in place of the view when a query reads it. Any
// other statement, or none that failed, passes werr through.
func (s *Service) catalogView(ctx context.Context, ex *Execution, req Request, text string, werr error) error {
	if werr == nil {
		return nil
	}
	toks, err := tokenize(text)
	if err != nil {
		return werr
	}
	p := &parser{toks: toks}
	create := p.accept("CREATE")
	replace := create && p.accept("OR", "REPLACE")
	if !create && !p.accept("DROP") {
		return werr
	}
	if !p.accept("VIEW") {
		return werr
	}
	ifExists := !create && p.accept("IF", "EXISTS")
	db, name, err := p.qualified()
	if err != nil || db == "" {
		return werr
	}
	db, name = strings.ToLower(db), strings.ToLower(name)
	if _, err := s.cat.GetDatabase(ctx, db); err != nil {
		return werr
	}
	ex.StatementType = "DDL"
	if req.tx != nil {
		return lakeWriteInTx(firstWord(text) + " VIEW in catalog database " + db)
	}
	if req.Authorize != nil {
		action := "glue:CreateTable"
		if !create {
			action = "glue:DeleteTable"
		}
		if err := req.Authorize(action, Target{Database: db, Table: name}); err != nil {
			return err
		}
	}
	old, oerr := s.cat.GetTable(ctx, db, name)
	if oerr == nil && old.TableType != catalog.TableTypeVirtualView {
		return fmt.Errorf("%w: %s.%s is a table, not a view", catalog.ErrTableExists, db, name)
	}
	if !create {
		if oerr != nil {
			if ifExists && errors.Is(oerr, catalog.ErrNoSuchTable) {
				return nil
			}
			return oerr
		}
		return s.cat.DropTable(ctx, db, name)
	}
	if p.is("(") {
		return fmt.Errorf("%w: CREATE VIEW %s.%s (columns) AS ...: name the columns in the SELECT instead", ErrUnsupported, db, name)
	}
	if !p.accept("AS") {
		return fmt.Errorf("%w: %v", ErrSyntax, p.errorf("expected AS SELECT ..."))
	}
	def := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(text[p.peek().pos:]), ";"))
	cols, err := s.viewColumns(ctx, req, def, db)
	if err != nil {
		return fmt.Errorf("cannot create view %s.%s: %w", db, name, err)
	}
	t := catalog.Table{Database: db, Name: name, TableType: catalog.TableTypeVirtualView, Columns: cols,
		Properties: map[string]string{engine.ViewSQLProperty: def}}
	switch {
	case oerr == nil && replace:
		t.Version = old.Version
		_, err = s.cat.UpdateTable(ctx, t, "CREATE OR REPLACE VIEW")
	case oerr == nil:
		err = fmt.Errorf("%w: view %s.%s exists; use CREATE OR REPLACE VIEW", catalog.ErrTableExists, db, name)
	default:
		err = s.cat.CreateTable(ctx, t)
	}
	return err
}

// viewColumns binds a view's SELECT as the caller (so a key cannot make a
// view of what it may not read) and returns its columns, named as Athena
// names them, with their Hive types.
func (s *Service) viewColumns(ctx context.Context, req Request, def, db string) ([]catalog.Column, error) {
	sess, release, err := s.session(ctx, req)
	if err != nil {
		return nil, err
	}
	defer release()
	b, err := sess.Bind(ctx, def, db)
	if errors.Is(err, engine.ErrNotSelect) {
		return nil, fmt.Errorf("%w: a view is a SELECT", ErrSyntax)
	}
	if err != nil {
		return nil, err
	}
	if err := authorizeScans(req, b); err != nil {
		return nil, err
	}
	rows, err := sess.Conn().QueryContext(ctx, "SELECT * FROM ("+b.SQL+") LIMIT 0")
	if err != nil {
		return nil, engineError(err)
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	qc := make([]Column, len(cts))
	for i, ct := range cts {
		qc[i] = Column{Name: ct.Name(), Type: ct.DatabaseTypeName()}
	}
	qc = AthenaColumns(ctx, sess.Conn(), def, qc)
	out := make([]catalog.Column, len(qc))
	for i, c := range qc {
		out[i] = catalog.Column{Name: c.Name, Type: hiveType(c.Type)}
	}
	return out, nil
}

// hiveType is the catalog (Hive) type of a DuckDB type; what the catalog
// cannot describe is a string, as Athena shows such view columns.
func hiveType(duck string) string {
	u := strings.ToUpper(strings.TrimSpace(duck))
	switch {
	case strings.HasPrefix(u, "DECIMAL"):
		return strings.ToLower(strings.ReplaceAll(u, " ", ""))
	case strings.HasSuffix(u, "[]"):
		if e := hiveType(elemType(duck)); e != "" {
			return "array<" + e + ">"
		}
	}
	switch u {
	case "TINYINT", "SMALLINT", "BIGINT", "DOUBLE", "BOOLEAN", "DATE", "TIMESTAMP", "FLOAT":
		return strings.ToLower(u)
	case "INTEGER":
		return "int"
	case "BLOB":
		return "binary"
	}
	return "string"
}
