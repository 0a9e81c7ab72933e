package catalog

import (
	"errors"
	"strings"
	"testing"
)

func TestParseType(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		typ, err := ParseType(in)
		if err != nil {
			t.Fatalf("ParseType(%q): %v", in, err)
		}
		if got := typ.String(); got != want {
			t.Fatalf("ParseType(%q).String() = %q, want %q", in, got, want)
		}
	}
	f("string", "string")
	f("STRING", "string")
	f("  int ", "int")
	f("Integer", "int")
	f("tinyint", "tinyint")
	f("smallint", "smallint")
	f("bigint", "bigint")
	f("float", "float")
	f("real", "float")
	f("double", "double")
	f("double precision", "double")
	f("boolean", "boolean")
	f("date", "date")
	f("timestamp", "timestamp")
	f("binary", "binary")
	f("varchar(10)", "varchar(10)")
	f("varchar", "string")
	f("char( 3 )", "char(3)")
	f("decimal", "decimal(10,0)")
	f("decimal(5)", "decimal(5,0)")
	f("DECIMAL( 18 , 3 )", "decimal(18,3)")
	f("numeric(38,38)", "decimal(38,38)")
	f("array<int>", "array<int>")
	f("ARRAY < ARRAY<string> >", "array<array<string>>")
	f("map<string,bigint>", "map<string,bigint>")
	f("map < VARCHAR(3) , array<int> >", "map<varchar(3),array<int>>")
	f("struct<a:int,b:string>", "struct<a:int,b:string>")
	f("struct< A : int , b_2:struct<c:array<double>> >", "struct<A:int,b_2:struct<c:array<double>>>")
	f("struct<`a b`:int,`x``y`:string>", "struct<`a b`:int,`x``y`:string>")
	f("struct<my field:int>", "struct<`my field`:int>")
	f("struct<int:int,1st:date>", "struct<int:int,`1st`:date>")
}

func TestParseTypeErrors(t *testing.T) {
	f := func(in, wantMsg string) {
		t.Helper()
		_, err := ParseType(in)
		if !errors.Is(err, ErrInvalidType) {
			t.Fatalf("ParseType(%q) error = %v, want ErrInvalidType", in, err)
		}
		if !strings.Contains(err.Error(), wantMsg) {
			t.Fatalf("ParseType(%q) error = %q, want it to contain %q", in, err, wantMsg)
		}
	}
	f("", "expected a type name, found the end")
	f("   ", "expected a type name")
	f("integr", `unknown type "integr"`)
	f("int(3)", "int takes no parameters")
	f("array<int", `expected '>' to close array<, found the end`)
	f("array int", `expected '<' after array`)
	f("map<array<int>,int>", "map keys must be a primitive type")
	f("map<int>", "between the key and value types")
	f("struct<>", "struct field name")
	f("struct<a:int,>", "struct field name")
	f("struct<a int>", "followed by ':'")
	f("struct<a:int,A:string>", `struct field "A" appears twice`)
	f("struct<``:int>", "struct field name is empty")
	f("struct<`a:int>", "not closed")
	f("decimal(39,0)", "precision 39 is out of range")
	f("decimal(5,6)", "scale 6 is larger than its precision 5")
	f("decimal(1,2,3)", "precision and a scale")
	f("varchar(0)", "varchar length 0 is out of range")
	f("varchar(70000)", "out of range")
	f("char", "char needs one length")
	f("char(256)", "out of range")
	f("int int", `unexpected "int" after the type`)
	f("decimal(99999999999)", "number is too large")
	f(strings.Repeat("array<", 100)+"int"+strings.Repeat(">", 100), "nested more than")
	f("str\xffing", "not valid UTF-8")
}

func TestTypeDuckDBRoundTrip(t *testing.T) {
	f := func(hive, duck, back string) {
		t.Helper()
		typ, err := ParseType(hive)
		if err != nil {
			t.Fatalf("ParseType(%q): %v", hive, err)
		}
		if got := typ.DuckDB(); got != duck {
			t.Fatalf("%q.DuckDB() = %q, want %q", hive, got, duck)
		}
		got, err := FromDuckDB(duck)
		if err != nil {
			t.Fatalf("FromDuckDB(%q): %v", duck, err)
		}
		if got != back {
			t.Fatalf("FromDuckDB(%q) = %q, want %q", duck, got, back)
		}
	}
	f("string", "VARCHAR", "string")
	f("varchar(10)", "VARCHAR", "string")
	f("char(2)", "VARCHAR", "string")
	f("tinyint", "TINYINT", "tinyint")
	f("smallint", "SMALLINT", "smallint")
	f("int", "INTEGER", "int")
	f("bigint", "BIGINT", "bigint")
	f("float", "FLOAT", "float")
	f("double", "DOUBLE", "double")
	f("decimal(10,2)", "DECIMAL(10,2)", "decimal(10,2)")
	f("decimal", "DECIMAL(10,0)", "decimal(10,0)")
	f("boolean", "BOOLEAN", "boolean")
	f("date", "DATE", "date")
	f("timestamp", "TIMESTAMP", "timestamp")
	f("binary", "BLOB", "binary")
	f("array<int>", "INTEGER[]", "array<int>")
	f("array<array<string>>", "VARCHAR[][]", "array<array<string>>")
	f("map<string,bigint>", "MAP(VARCHAR, BIGINT)", "map<string,bigint>")
	f("struct<a:int>", `STRUCT("a" INTEGER)`, "struct<a:int>")
	f("struct<`a b`:int,c:array<struct<d:date>>>", `STRUCT("a b" INTEGER, "c" STRUCT("d" DATE)[])`, "struct<`a b`:int,c:array<struct<d:date>>>")
	f(`struct<`+"`say \"hi\"`"+`:map<int,array<decimal(5,1)>>>`, `STRUCT("say ""hi""" MAP(INTEGER, DECIMAL(5,1)[]))`, "struct<`say \"hi\"`:map<int,array<decimal(5,1)>>>")
}

func TestFromDuckDB(t *testing.T) {
	f := func(duck, want string) {
		t.Helper()
		got, err := FromDuckDB(duck)
		if err != nil {
			t.Fatalf("FromDuckDB(%q): %v", duck, err)
		}
		if got != want {
			t.Fatalf("FromDuckDB(%q) = %q, want %q", duck, got, want)
		}
	}
	f("VARCHAR", "string")
	f("varchar", "string")
	f("BIGINT", "bigint")
	f("INTEGER", "int")
	f("SMALLINT", "smallint")
	f("TINYINT", "tinyint")
	f("UTINYINT", "smallint")
	f("USMALLINT", "int")
	f("UINTEGER", "bigint")
	f("UBIGINT", "decimal(20,0)")
	f("HUGEINT", "decimal(38,0)")
	f("UHUGEINT", "decimal(38,0)")
	f("DOUBLE", "double")
	f("FLOAT", "float")
	f("DECIMAL(18,3)", "decimal(18,3)")
	f("DECIMAL", "decimal(18,3)")
	f("BOOLEAN", "boolean")
	f("DATE", "date")
	f("TIME", "string")
	f("TIME WITH TIME ZONE", "string")
	f("TIMESTAMP", "timestamp")
	f("TIMESTAMP WITH TIME ZONE", "timestamp")
	f("TIMESTAMP_NS", "timestamp")
	f("TIMESTAMP_MS", "timestamp")
	f("TIMESTAMP_S", "timestamp")
	f("BLOB", "binary")
	f("UUID", "string")
	f("JSON", "string")
	f("NULL", "string")
	f("INTERVAL", "string")
	f("ENUM('a', 'b''c')", "string")
	f("INTEGER[]", "array<int>")
	f("INTEGER[3]", "array<int>")
	f("VARCHAR[][]", "array<array<string>>")
	f("MAP(VARCHAR, BIGINT)", "map<string,bigint>")
	f("MAP(VARCHAR, MAP(INTEGER, DOUBLE[]))", "map<string,map<int,array<double>>>")
	f(`STRUCT("a b" VARCHAR, c STRUCT(d INTEGER)[])`, "struct<`a b`:string,c:array<struct<d:int>>>")
	f(`STRUCT(a INTEGER, b TIMESTAMP WITH TIME ZONE, "c,d" MAP(VARCHAR, STRUCT("x""y" UBIGINT)))`,
		"struct<a:int,b:timestamp,`c,d`:map<string,struct<`x\"y`:decimal(20,0)>>>")
	f(`STRUCT("with:colon" INTEGER, "back`+"`"+`tick" DATE)`, "struct<`with:colon`:int,`back``tick`:date>")
	f(`STRUCT(id BIGINT, tags VARCHAR[], "order" STRUCT("total amount" DECIMAL(10,2), items STRUCT(sku VARCHAR, qty INTEGER)[]))`,
		"struct<id:bigint,tags:array<string>,order:struct<`total amount`:decimal(10,2),items:array<struct<sku:string,qty:int>>>>")
	f("LIST(INTEGER)", "array<int>")

	bad := func(duck string, want error) {
		t.Helper()
		_, err := FromDuckDB(duck)
		if !errors.Is(err, want) {
			t.Fatalf("FromDuckDB(%q) error = %v, want %v", duck, err, want)
		}
	}
	bad("UNION(a INTEGER, b VARCHAR)", ErrUnsupportedTypeConv)
	bad("GEOGRAPHY_THING", ErrUnsupportedTypeConv)
	bad("MAP(INTEGER[], VARCHAR)", ErrUnsupportedTypeConv)
	bad("STRUCT(a INTEGER", ErrInvalidType)
	bad(`STRUCT("a INTEGER)`, ErrInvalidType)
	bad("", ErrInvalidType)
	bad("INTEGER[", ErrInvalidType)
	bad("DECIMAL(40,2)", ErrInvalidType)
	bad("STRUCT(a INTEGER, A VARCHAR)", ErrInvalidType)
}

func TestWidenTypes(t *testing.T) {
	f := func(a, b, want string) {
		t.Helper()
		if got := WidenTypes(a, b); got != want {
			t.Fatalf("WidenTypes(%q, %q) = %q, want %q", a, b, got, want)
		}
		if got := WidenTypes(b, a); got != want && !strings.HasPrefix(want, "struct") {
			t.Fatalf("WidenTypes(%q, %q) = %q, want %q (reversed)", b, a, got, want)
		}
	}
	f("int", "int", "int")
	f("INT", "integer", "int")
	f("", "bigint", "bigint")
	f("", "", "")
	f("tinyint", "smallint", "smallint")
	f("int", "bigint", "bigint")
	f("tinyint", "bigint", "bigint")
	f("int", "double", "double")
	f("bigint", "float", "double")
	f("float", "double", "double")
	f("decimal(10,2)", "decimal(12,4)", "decimal(12,4)")
	f("decimal(10,2)", "decimal(5,4)", "decimal(12,4)")
	f("decimal(10,2)", "int", "decimal(12,2)")
	f("decimal(5,2)", "bigint", "decimal(21,2)")
	f("decimal(38,10)", "bigint", "decimal(38,10)")
	f("decimal(38,30)", "bigint", "double")
	f("decimal(10,2)", "double", "double")
	f("date", "timestamp", "timestamp")
	f("string", "int", "string")
	f("string", "date", "string")
	f("boolean", "int", "string")
	f("binary", "string", "string")
	f("varchar(5)", "varchar(10)", "varchar(10)")
	f("varchar(5)", "string", "string")
	f("date", "int", "string")
	f("array<int>", "array<bigint>", "array<bigint>")
	f("array<int>", "array<string>", "array<string>")
	f("array<int>", "int", "string")
	f("map<string,int>", "map<string,double>", "map<string,double>")
	f("struct<a:int,b:string>", "struct<b:string,c:date>", "struct<a:int,b:string,c:date>")
	f("struct<a:int,n:struct<x:int>>", "struct<A:bigint,n:struct<y:date>>", "struct<a:bigint,n:struct<x:int,y:date>>")
	f("struct<a:int>", "array<int>", "string")
	f("nonsense", "int", "string")
}

func FuzzParseType(f *testing.F) {
	for _, s := range []string{
		"int", "string", "varchar(10)", "char(1)", "decimal(10,2)", "decimal", "array<int>",
		"map<string,array<struct<a:int,`b c`:date>>>", "struct<`x``y`:int>", "struct<my field:int>",
		" ARRAY < MAP < INT , DOUBLE PRECISION > > ", "struct<a:struct<b:struct<c:binary>>>", "timestamp",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		typ, err := ParseType(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidType) {
				t.Fatalf("ParseType(%q) error %v does not wrap ErrInvalidType", s, err)
			}
			return
		}
		str := typ.String()
		again, err := ParseType(str)
		if err != nil {
			t.Fatalf("ParseType(%q).String() = %q does not re-parse: %v", s, str, err)
		}
		if got := again.String(); got != str {
			t.Fatalf("ParseType(%q): String() %q re-parses to %q", s, str, got)
		}
		// The DuckDB form maps back (losing only varchar/char lengths).
		duck := typ.DuckDB()
		back, err := FromDuckDB(duck)
		if err != nil {
			t.Fatalf("FromDuckDB(%q) (from %q): %v", duck, str, err)
		}
		if _, err := ParseType(back); err != nil {
			t.Fatalf("FromDuckDB(%q) = %q does not parse: %v", duck, back, err)
		}
		if w := WidenTypes(str, str); w != str {
			t.Fatalf("WidenTypes(%q, itself) = %q", str, w)
		}
	})
}
