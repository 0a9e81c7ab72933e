package catalog

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is a type constructor; its value is the canonical Hive name.
type Kind string

// Type kinds, named as Athena/Hive DDL names them.
const (
	KindString    Kind = "string"
	KindVarchar   Kind = "varchar"
	KindChar      Kind = "char"
	KindTinyint   Kind = "tinyint"
	KindSmallint  Kind = "smallint"
	KindInt       Kind = "int"
	KindBigint    Kind = "bigint"
	KindFloat     Kind = "float"
	KindDouble    Kind = "double"
	KindDecimal   Kind = "decimal"
	KindBoolean   Kind = "boolean"
	KindDate      Kind = "date"
	KindTimestamp Kind = "timestamp"
	KindBinary    Kind = "binary"
	KindArray     Kind = "array"
	KindMap       Kind = "map"
	KindStruct    Kind = "struct"
)

// Limits of parameterised types, as in Hive.
const (
	MaxVarcharLength    = 65535
	MaxCharLength       = 255
	MaxDecimalPrecision = 38
	maxTypeDepth        = 64
)

// Type is a parsed Athena/Hive column type. The zero Type is invalid.
type Type struct {
	Kind Kind
	// Length is the length of a varchar or char.
	Length int
	// Precision and Scale of a decimal.
	Precision, Scale int
	// Key is the key type of a map.
	Key *Type
	// Elem is the element type of an array or the value type of a map.
	Elem *Type
	// Fields are the fields of a struct, in order.
	Fields []StructField
}

// StructField is one field of a struct type. Names keep their case and any
// characters.
type StructField struct {
	Name string
	Type Type
}

// IsPrimitive reports whether t is not an array, map or struct.
func (t Type) IsPrimitive() bool {
	return t.Kind != KindArray && t.Kind != KindMap && t.Kind != KindStruct && t.Kind != ""
}

// Equal reports whether t and u are the same type.
func (t Type) Equal(u Type) bool { return t.String() == u.String() }

// String returns the canonical lower-case Hive form, e.g. "decimal(10,2)",
// "array<string>", "struct<a:int,`b c`:string>".
func (t Type) String() string {
	var b strings.Builder
	t.writeHive(&b)
	return b.String()
}

func (t Type) writeHive(b *strings.Builder) {
	switch t.Kind {
	case KindVarchar, KindChar:
		fmt.Fprintf(b, "%s(%d)", t.Kind, t.Length)
	case KindDecimal:
		fmt.Fprintf(b, "decimal(%d,%d)", t.Precision, t.Scale)
	case KindArray:
		b.WriteString("array<")
		t.Elem.writeHive(b)
		b.WriteByte('>')
	case KindMap:
		b.WriteString("map<")
		t.Key.writeHive(b)
		b.WriteByte(',')
		t.Elem.writeHive(b)
		b.WriteByte('>')
	case KindStruct:
		b.WriteString("struct<")
		for i, f := range t.Fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(quoteHiveName(f.Name))
			b.WriteByte(':')
			f.Type.writeHive(b)
		}
		b.WriteByte('>')
	default:
		b.WriteString(string(t.Kind))
	}
}

// DuckDB returns the DuckDB type for t: string, varchar(n) and char(n) →
// VARCHAR, int → INTEGER, binary → BLOB, array<T> → T[], map<K,V> →
// MAP(K, V), struct<a:int> → STRUCT("a" INTEGER).
func (t Type) DuckDB() string {
	var b strings.Builder
	t.writeDuckDB(&b)
	return b.String()
}

func (t Type) writeDuckDB(b *strings.Builder) {
	switch t.Kind {
	case KindString, KindVarchar, KindChar:
		b.WriteString("VARCHAR")
	case KindTinyint:
		b.WriteString("TINYINT")
	case KindSmallint:
		b.WriteString("SMALLINT")
	case KindInt:
		b.WriteString("INTEGER")
	case KindBigint:
		b.WriteString("BIGINT")
	case KindFloat:
		b.WriteString("FLOAT")
	case KindDouble:
		b.WriteString("DOUBLE")
	case KindDecimal:
		fmt.Fprintf(b, "DECIMAL(%d,%d)", t.Precision, t.Scale)
	case KindBoolean:
		b.WriteString("BOOLEAN")
	case KindDate:
		b.WriteString("DATE")
	case KindTimestamp:
		b.WriteString("TIMESTAMP")
	case KindBinary:
		b.WriteString("BLOB")
	case KindArray:
		t.Elem.writeDuckDB(b)
		b.WriteString("[]")
	case KindMap:
		b.WriteString("MAP(")
		t.Key.writeDuckDB(b)
		b.WriteString(", ")
		t.Elem.writeDuckDB(b)
		b.WriteByte(')')
	case KindStruct:
		b.WriteString("STRUCT(")
		for i, f := range t.Fields {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(QuoteDuckDBIdent(f.Name))
			b.WriteByte(' ')
			f.Type.writeDuckDB(b)
		}
		b.WriteByte(')')
	}
}

// QuoteDuckDBIdent quotes an identifier for DuckDB SQL: "a ""b""".
func QuoteDuckDBIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

func isPlainIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

func quoteHiveName(name string) string {
	if isPlainIdent(name) {
		return name
	}
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// CanonicalType parses s and returns its canonical Hive form.
func CanonicalType(s string) (string, error) {
	t, err := ParseType(s)
	if err != nil {
		return "", err
	}
	return t.String(), nil
}

// ParseType parses an Athena/Hive type name: string, varchar(n), char(n),
// tinyint, smallint, int, integer, bigint, float, real, double, decimal(p,s),
// decimal, boolean, date, timestamp, binary, array<T>, map<K,V> and
// struct<name:T,...>. It is case-insensitive and tolerates whitespace; struct
// field names may be backquoted, as in struct<`a b`:int>, with a backquote
// inside a name doubled.
// Errors wrap ErrInvalidType and say what is wrong where.
func ParseType(s string) (Type, error) {
	if !utf8.ValidString(s) {
		return Type{}, fmt.Errorf("%w %q: not valid UTF-8", ErrInvalidType, s)
	}
	p := &hiveParser{s: s}
	t, err := p.parseType()
	if err != nil {
		return Type{}, err
	}
	p.skipSpace()
	if p.pos < len(p.s) {
		return Type{}, p.errorf("unexpected %q after the type", p.rest())
	}
	return t, nil
}

type hiveParser struct {
	s     string
	pos   int
	depth int
}

func (p *hiveParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w %q: %s (at character %d)", ErrInvalidType, p.s, fmt.Sprintf(format, args...), p.pos+1)
}

func (p *hiveParser) rest() string {
	r := p.s[p.pos:]
	if len(r) > 20 {
		r = r[:20] + "..."
	}
	return r
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func (p *hiveParser) skipSpace() {
	for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
		p.pos++
	}
}

// peek skips whitespace and returns the next byte (0 at the end).
func (p *hiveParser) peek() byte {
	p.skipSpace()
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *hiveParser) expect(c byte, what string) error {
	if p.peek() != c {
		if p.pos >= len(p.s) {
			return p.errorf("expected %q %s, found the end", c, what)
		}
		return p.errorf("expected %q %s, found %q", c, what, p.rest())
	}
	p.pos++
	return nil
}

func (p *hiveParser) word() string {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || p.pos > start && c >= '0' && c <= '9' {
			p.pos++
			continue
		}
		break
	}
	return p.s[start:p.pos]
}

// params parses an optional "(n, m, ...)" of non-negative integers.
func (p *hiveParser) params() ([]int, error) {
	if p.peek() != '(' {
		return nil, nil
	}
	p.pos++
	var out []int
	for {
		p.skipSpace()
		start := p.pos
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
		}
		if start == p.pos {
			return nil, p.errorf("expected a number")
		}
		if p.pos-start > 9 {
			p.pos = start
			return nil, p.errorf("number is too large")
		}
		n, _ := strconv.Atoi(p.s[start:p.pos])
		out = append(out, n)
		switch p.peek() {
		case ',':
			p.pos++
		case ')':
			p.pos++
			return out, nil
		default:
			return nil, p.errorf("expected ',' or ')' in the type parameters")
		}
	}
}

func (p *hiveParser) parseType() (Type, error) {
	if p.depth >= maxTypeDepth {
		return Type{}, p.errorf("types are nested more than %d levels deep", maxTypeDepth)
	}
	p.depth++
	defer func() { p.depth-- }()
	start := p.pos
	w := p.word()
	if w == "" {
		if p.pos >= len(p.s) {
			return Type{}, p.errorf("expected a type name, found the end")
		}
		return Type{}, p.errorf("expected a type name, found %q", p.rest())
	}
	name := strings.ToLower(w)
	noParams := func(t Type) (Type, error) {
		if p.peek() == '(' {
			return Type{}, p.errorf("%s takes no parameters", name)
		}
		return t, nil
	}
	switch name {
	case "string":
		return noParams(Type{Kind: KindString})
	case "tinyint":
		return noParams(Type{Kind: KindTinyint})
	case "smallint":
		return noParams(Type{Kind: KindSmallint})
	case "int", "integer":
		return noParams(Type{Kind: KindInt})
	case "bigint":
		return noParams(Type{Kind: KindBigint})
	case "float", "real":
		return noParams(Type{Kind: KindFloat})
	case "double":
		save := p.pos
		if strings.ToLower(p.word()) != "precision" {
			p.pos = save
		}
		return noParams(Type{Kind: KindDouble})
	case "boolean":
		return noParams(Type{Kind: KindBoolean})
	case "date":
		return noParams(Type{Kind: KindDate})
	case "timestamp":
		return noParams(Type{Kind: KindTimestamp})
	case "binary":
		return noParams(Type{Kind: KindBinary})
	case "varchar", "char":
		ps, err := p.params()
		if err != nil {
			return Type{}, err
		}
		max := MaxVarcharLength
		if name == "char" {
			max = MaxCharLength
		}
		switch {
		case len(ps) == 0 && name == "varchar":
			return Type{Kind: KindString}, nil
		case len(ps) != 1:
			return Type{}, p.errorf("%s needs one length, as in %s(10)", name, name)
		case ps[0] < 1 || ps[0] > max:
			return Type{}, p.errorf("%s length %d is out of range (1 to %d)", name, ps[0], max)
		}
		return Type{Kind: Kind(name), Length: ps[0]}, nil
	case "decimal", "numeric":
		ps, err := p.params()
		if err != nil {
			return Type{}, err
		}
		return makeDecimal(ps, 10, 0, p.errorf)
	case "array":
		if err := p.expect('<', "after array"); err != nil {
			return Type{}, err
		}
		elem, err := p.parseType()
		if err != nil {
			return Type{}, err
		}
		if err := p.expect('>', "to close array<"); err != nil {
			return Type{}, err
		}
		return Type{Kind: KindArray, Elem: &elem}, nil
	case "map":
		if err := p.expect('<', "after map"); err != nil {
			return Type{}, err
		}
		keyPos := p.pos
		key, err := p.parseType()
		if err != nil {
			return Type{}, err
		}
		if !key.IsPrimitive() {
			p.pos = keyPos
			return Type{}, p.errorf("map keys must be a primitive type, not %s", key)
		}
		if err := p.expect(',', "between the key and value types of map"); err != nil {
			return Type{}, err
		}
		val, err := p.parseType()
		if err != nil {
			return Type{}, err
		}
		if err := p.expect('>', "to close map<"); err != nil {
			return Type{}, err
		}
		return Type{Kind: KindMap, Key: &key, Elem: &val}, nil
	case "struct":
		if err := p.expect('<', "after struct"); err != nil {
			return Type{}, err
		}
		var fields []StructField
		seen := map[string]bool{}
		for {
			namePos := p.pos
			fname, err := p.fieldName()
			if err != nil {
				return Type{}, err
			}
			if seen[strings.ToLower(fname)] {
				p.pos = namePos
				return Type{}, p.errorf("struct field %q appears twice", fname)
			}
			seen[strings.ToLower(fname)] = true
			if err := p.expect(':', "after struct field name"); err != nil {
				return Type{}, err
			}
			ft, err := p.parseType()
			if err != nil {
				return Type{}, err
			}
			fields = append(fields, StructField{Name: fname, Type: ft})
			c := p.peek()
			if c == ',' {
				p.pos++
				continue
			}
			if c == '>' {
				p.pos++
				return Type{Kind: KindStruct, Fields: fields}, nil
			}
			return Type{}, p.errorf("expected ',' or '>' after struct field %q", fname)
		}
	}
	p.pos = start
	p.skipSpace()
	return Type{}, p.errorf("unknown type %q (use string, varchar(n), char(n), tinyint, smallint, int, bigint, float, double, decimal(p,s), boolean, date, timestamp, binary, array<T>, map<K,V> or struct<name:T,...>)", w)
}

func makeDecimal(ps []int, defP, defS int, errorf func(string, ...any) error) (Type, error) {
	prec, scale := defP, defS
	switch len(ps) {
	case 0:
	case 1:
		prec, scale = ps[0], 0
	case 2:
		prec, scale = ps[0], ps[1]
	default:
		return Type{}, errorf("decimal takes a precision and a scale, as in decimal(10,2)")
	}
	if prec < 1 || prec > MaxDecimalPrecision {
		return Type{}, errorf("decimal precision %d is out of range (1 to %d)", prec, MaxDecimalPrecision)
	}
	if scale > prec {
		return Type{}, errorf("decimal scale %d is larger than its precision %d", scale, prec)
	}
	return Type{Kind: KindDecimal, Precision: prec, Scale: scale}, nil
}

// quoted reads a field name in quotes q (a doubled q stands for itself),
// starting at the opening quote.
func (p *hiveParser) quoted(q byte, what string) (string, error) {
	p.pos++
	var b strings.Builder
	for {
		i := strings.IndexByte(p.s[p.pos:], q)
		if i < 0 {
			return "", p.errorf("%s field name is not closed", what)
		}
		b.WriteString(p.s[p.pos : p.pos+i])
		p.pos += i + 1
		if p.pos < len(p.s) && p.s[p.pos] == q {
			b.WriteByte(q)
			p.pos++
			continue
		}
		break
	}
	if b.Len() == 0 {
		return "", p.errorf("struct field name is empty")
	}
	return b.String(), nil
}

// fieldName reads a struct field name: backquoted, or everything up to ':'
// with surrounding whitespace removed.
func (p *hiveParser) fieldName() (string, error) {
	if p.peek() == '`' {
		return p.quoted('`', "backquoted")
	}
	start := p.pos
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ':':
			name := strings.TrimSpace(p.s[start:p.pos])
			if name == "" {
				return "", p.errorf("struct field name is empty")
			}
			return name, nil
		case ',', '<', '>', '`':
			return "", p.errorf("expected a struct field name followed by ':'")
		}
		p.pos++
	}
	return "", p.errorf("expected a struct field name followed by ':', found the end")
}

// FromDuckDB converts a DuckDB type, as DuckDB prints it in DESCRIBE,
// sniff_csv or a Parquet schema, to the canonical Hive type name. Unsigned
// integers become the next wider signed type (UBIGINT → decimal(20,0)),
// HUGEINT → decimal(38,0), TIME, UUID, JSON, INTERVAL and NULL → string, all
// timestamp variants → timestamp, BLOB → binary. Syntax errors wrap
// ErrInvalidType; types with no catalog equivalent (UNION, ...) wrap
// ErrUnsupportedTypeConv.
func FromDuckDB(duckType string) (string, error) {
	t, err := ParseDuckDBType(duckType)
	if err != nil {
		return "", err
	}
	return t.String(), nil
}

// ParseDuckDBType is FromDuckDB returning the parsed Type.
func ParseDuckDBType(duckType string) (Type, error) {
	if !utf8.ValidString(duckType) {
		return Type{}, fmt.Errorf("%w %q: not valid UTF-8", ErrInvalidType, duckType)
	}
	p := &duckParser{hiveParser{s: duckType}}
	t, err := p.parseType()
	if err != nil {
		return Type{}, err
	}
	p.skipSpace()
	if p.pos < len(p.s) {
		return Type{}, p.errorf("unexpected %q after the type", p.rest())
	}
	return t, nil
}

type duckParser struct{ hiveParser }

var (
	tString    = Type{Kind: KindString}
	duckSimple = map[string]Type{
		"VARCHAR": tString, "CHAR": tString, "BPCHAR": tString, "TEXT": tString, "STRING": tString,
		"UUID": tString, "JSON": tString, "NULL": tString, "INTERVAL": tString,
		"TIME": tString, "TIMETZ": tString, "TIME WITH TIME ZONE": tString, "TIME_NS": tString,
		"BIT": tString, "BITSTRING": tString, "VARINT": tString, "BIGNUM": tString,
		"CHARACTER VARYING": tString, "CHARACTER": tString,

		"TINYINT": {Kind: KindTinyint}, "INT1": {Kind: KindTinyint},
		"SMALLINT": {Kind: KindSmallint}, "INT2": {Kind: KindSmallint}, "SHORT": {Kind: KindSmallint},
		"INTEGER": {Kind: KindInt}, "INT4": {Kind: KindInt}, "INT": {Kind: KindInt}, "SIGNED": {Kind: KindInt},
		"BIGINT": {Kind: KindBigint}, "INT8": {Kind: KindBigint}, "LONG": {Kind: KindBigint},
		"UTINYINT": {Kind: KindSmallint}, "UINT8": {Kind: KindSmallint},
		"USMALLINT": {Kind: KindInt}, "UINT16": {Kind: KindInt},
		"UINTEGER": {Kind: KindBigint}, "UINT32": {Kind: KindBigint},
		"UBIGINT": {Kind: KindDecimal, Precision: 20}, "UINT64": {Kind: KindDecimal, Precision: 20},
		"HUGEINT": {Kind: KindDecimal, Precision: 38}, "INT128": {Kind: KindDecimal, Precision: 38},
		"UHUGEINT": {Kind: KindDecimal, Precision: 38}, "UINT128": {Kind: KindDecimal, Precision: 38},

		"DOUBLE": {Kind: KindDouble}, "FLOAT8": {Kind: KindDouble}, "DOUBLE PRECISION": {Kind: KindDouble},
		"FLOAT": {Kind: KindFloat}, "FLOAT4": {Kind: KindFloat}, "REAL": {Kind: KindFloat},
		"BOOLEAN": {Kind: KindBoolean}, "BOOL": {Kind: KindBoolean}, "LOGICAL": {Kind: KindBoolean},
		"DATE":      {Kind: KindDate},
		"TIMESTAMP": {Kind: KindTimestamp}, "DATETIME": {Kind: KindTimestamp},
		"TIMESTAMP WITH TIME ZONE": {Kind: KindTimestamp}, "TIMESTAMPTZ": {Kind: KindTimestamp},
		"TIMESTAMP_NS": {Kind: KindTimestamp}, "TIMESTAMP_MS": {Kind: KindTimestamp},
		"TIMESTAMP_S": {Kind: KindTimestamp}, "TIMESTAMP_US": {Kind: KindTimestamp},
		"BLOB": {Kind: KindBinary}, "BYTEA": {Kind: KindBinary}, "BINARY": {Kind: KindBinary}, "VARBINARY": {Kind: KindBinary},
	}
)

// typeName reads one or more words ("TIMESTAMP WITH TIME ZONE") and returns
// them upper-cased and joined by single spaces.
func (p *duckParser) typeName() string {
	var words []string
	for {
		save := p.pos
		p.skipSpace()
		start := p.pos
		for p.pos < len(p.s) {
			c := p.s[p.pos]
			if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
				p.pos++
				continue
			}
			break
		}
		if p.pos == start {
			p.pos = save
			break
		}
		words = append(words, strings.ToUpper(p.s[start:p.pos]))
	}
	return strings.Join(words, " ")
}

func (p *duckParser) parseType() (Type, error) {
	if p.depth >= maxTypeDepth {
		return Type{}, p.errorf("types are nested more than %d levels deep", maxTypeDepth)
	}
	p.depth++
	defer func() { p.depth-- }()
	p.skipSpace()
	start := p.pos
	name := p.typeName()
	if name == "" {
		if p.pos >= len(p.s) {
			return Type{}, p.errorf("expected a type name, found the end")
		}
		return Type{}, p.errorf("expected a type name, found %q", p.rest())
	}
	var t Type
	switch name {
	case "STRUCT", "ROW":
		if err := p.expect('(', "after "+name); err != nil {
			return Type{}, err
		}
		seen := map[string]bool{}
		for {
			namePos := p.pos
			fname, err := p.fieldName()
			if err != nil {
				return Type{}, err
			}
			if seen[strings.ToLower(fname)] {
				p.pos = namePos
				return Type{}, p.errorf("struct field %q appears twice", fname)
			}
			seen[strings.ToLower(fname)] = true
			ft, err := p.parseType()
			if err != nil {
				return Type{}, err
			}
			t.Fields = append(t.Fields, StructField{Name: fname, Type: ft})
			c := p.peek()
			if c == ',' {
				p.pos++
				continue
			}
			if c == ')' {
				p.pos++
				break
			}
			return Type{}, p.errorf("expected ',' or ')' after struct field %q", fname)
		}
		t.Kind = KindStruct
	case "MAP":
		if err := p.expect('(', "after MAP"); err != nil {
			return Type{}, err
		}
		key, err := p.parseType()
		if err != nil {
			return Type{}, err
		}
		if !key.IsPrimitive() {
			return Type{}, fmt.Errorf("%w: %q: map keys must be a primitive type, not %s", ErrUnsupportedTypeConv, p.s, key)
		}
		if err := p.expect(',', "between the key and value types of MAP"); err != nil {
			return Type{}, err
		}
		val, err := p.parseType()
		if err != nil {
			return Type{}, err
		}
		if err := p.expect(')', "to close MAP("); err != nil {
			return Type{}, err
		}
		t = Type{Kind: KindMap, Key: &key, Elem: &val}
	case "LIST":
		if err := p.expect('(', "after LIST"); err != nil {
			return Type{}, err
		}
		elem, err := p.parseType()
		if err != nil {
			return Type{}, err
		}
		if err := p.expect(')', "to close LIST("); err != nil {
			return Type{}, err
		}
		t = Type{Kind: KindArray, Elem: &elem}
	case "ENUM":
		if err := p.skipEnum(); err != nil {
			return Type{}, err
		}
		t = tString
	case "DECIMAL", "NUMERIC":
		ps, err := p.params()
		if err != nil {
			return Type{}, err
		}
		// DuckDB's DECIMAL without parameters is DECIMAL(18,3).
		t, err = makeDecimal(ps, 18, 3, p.errorf)
		if err != nil {
			return Type{}, err
		}
	default:
		st, ok := duckSimple[name]
		if !ok {
			p.pos = start
			return Type{}, fmt.Errorf("%w: DuckDB type %q (in %q) has no catalog equivalent", ErrUnsupportedTypeConv, name, p.s)
		}
		// VARCHAR(10), TIMESTAMP(3) and the like: the parameters do not
		// change the catalog type.
		if _, err := p.params(); err != nil {
			return Type{}, err
		}
		t = st
	}
	// Array suffixes: T[] (list) and T[3] (fixed-size array).
	for p.peek() == '[' {
		p.pos++
		p.skipSpace()
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
		}
		if err := p.expect(']', "to close the array suffix"); err != nil {
			return Type{}, err
		}
		if p.depth+1 > maxTypeDepth {
			return Type{}, p.errorf("types are nested more than %d levels deep", maxTypeDepth)
		}
		p.depth++
		defer func() { p.depth-- }()
		elem := t
		t = Type{Kind: KindArray, Elem: &elem}
	}
	return t, nil
}

// fieldName reads a DuckDB struct field name: "quoted" (with "" for a
// quote) or a bare word.
func (p *duckParser) fieldName() (string, error) {
	if p.peek() == '"' {
		return p.quoted('"', "quoted")
	}
	start := p.pos
	for p.pos < len(p.s) && !isSpace(p.s[p.pos]) && !strings.ContainsRune("(),\"", rune(p.s[p.pos])) {
		p.pos++
	}
	if p.pos == start {
		return "", p.errorf("expected a struct field name")
	}
	return p.s[start:p.pos], nil
}

// skipEnum skips ENUM('a', 'b”c', ...).
func (p *duckParser) skipEnum() error {
	if err := p.expect('(', "after ENUM"); err != nil {
		return err
	}
	for {
		if p.peek() != '\'' {
			return p.errorf("expected a quoted ENUM value")
		}
		p.pos++
		for {
			i := strings.IndexByte(p.s[p.pos:], '\'')
			if i < 0 {
				return p.errorf("ENUM value is not closed")
			}
			p.pos += i + 1
			if p.pos < len(p.s) && p.s[p.pos] == '\'' {
				p.pos++
				continue
			}
			break
		}
		switch p.peek() {
		case ',':
			p.pos++
		case ')':
			p.pos++
			return nil
		default:
			return p.errorf("expected ',' or ')' in ENUM")
		}
	}
}

// WidenTypes returns the narrowest Hive type that holds values of both a and
// b, for merging schemas across files: equal types stay; integers widen to the
// widest; integers with float or double become double; decimals widen to hold
// both (or become double beyond precision 38); date with timestamp becomes
// timestamp; structs merge field by field (a union of the fields, matched
// case-insensitively, common ones widened); arrays and maps widen their
// element types; anything else (string with anything, boolean with a number,
// unparsable types) becomes string. An empty a or b means "no type yet" and
// yields the other one.
func WidenTypes(a, b string) string {
	if a == "" || b == "" {
		if a == "" {
			a = b
		}
		if a == "" {
			return ""
		}
		c, err := CanonicalType(a)
		if err != nil {
			return "string"
		}
		return c
	}
	ta, err := ParseType(a)
	if err != nil {
		return "string"
	}
	tb, err := ParseType(b)
	if err != nil {
		return "string"
	}
	return Widen(ta, tb).String()
}

// intDigits is how many decimal digits each integer type needs.
var intDigits = map[Kind]int{KindTinyint: 3, KindSmallint: 5, KindInt: 10, KindBigint: 19}
var intRank = map[Kind]int{KindTinyint: 1, KindSmallint: 2, KindInt: 3, KindBigint: 4}

func isFloating(k Kind) bool { return k == KindFloat || k == KindDouble }
func isText(k Kind) bool     { return k == KindString || k == KindVarchar || k == KindChar }

// Widen is WidenTypes on parsed types.
func Widen(a, b Type) Type {
	if a.Equal(b) {
		return a
	}
	ra, rb := intRank[a.Kind], intRank[b.Kind]
	switch {
	case ra > 0 && rb > 0:
		if ra >= rb {
			return a
		}
		return b
	case (ra > 0 || isFloating(a.Kind)) && (rb > 0 || isFloating(b.Kind)):
		return Type{Kind: KindDouble}
	case a.Kind == KindDecimal && b.Kind == KindDecimal:
		return widenDecimal(a.Precision-a.Scale, b.Precision-b.Scale, max(a.Scale, b.Scale))
	case a.Kind == KindDecimal && rb > 0:
		return widenDecimal(a.Precision-a.Scale, intDigits[b.Kind], a.Scale)
	case b.Kind == KindDecimal && ra > 0:
		return widenDecimal(b.Precision-b.Scale, intDigits[a.Kind], b.Scale)
	case a.Kind == KindDecimal && isFloating(b.Kind), b.Kind == KindDecimal && isFloating(a.Kind):
		return Type{Kind: KindDouble}
	case a.Kind == KindDate && b.Kind == KindTimestamp, a.Kind == KindTimestamp && b.Kind == KindDate:
		return Type{Kind: KindTimestamp}
	case a.Kind == KindVarchar && b.Kind == KindVarchar:
		return Type{Kind: KindVarchar, Length: max(a.Length, b.Length)}
	case a.Kind == KindArray && b.Kind == KindArray:
		e := Widen(*a.Elem, *b.Elem)
		return Type{Kind: KindArray, Elem: &e}
	case a.Kind == KindMap && b.Kind == KindMap:
		k, v := Widen(*a.Key, *b.Key), Widen(*a.Elem, *b.Elem)
		return Type{Kind: KindMap, Key: &k, Elem: &v}
	case a.Kind == KindStruct && b.Kind == KindStruct:
		fields := make([]StructField, len(a.Fields), len(a.Fields)+len(b.Fields))
		copy(fields, a.Fields)
		index := make(map[string]int, len(fields))
		for i, f := range fields {
			index[strings.ToLower(f.Name)] = i
		}
		for _, f := range b.Fields {
			if i, ok := index[strings.ToLower(f.Name)]; ok {
				fields[i].Type = Widen(fields[i].Type, f.Type)
				continue
			}
			index[strings.ToLower(f.Name)] = len(fields)
			fields = append(fields, f)
		}
		return Type{Kind: KindStruct, Fields: fields}
	}
	return Type{Kind: KindString}
}

func widenDecimal(intA, intB, scale int) Type {
	p := max(intA, intB) + scale
	if p > MaxDecimalPrecision {
		return Type{Kind: KindDouble}
	}
	return Type{Kind: KindDecimal, Precision: p, Scale: scale}
}
