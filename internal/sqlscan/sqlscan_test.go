package sqlscan_test

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"
	"unicode"

	"github.com/tarn-lake/tarn/internal/sqlscan"
)

func texts(st []sqlscan.Statement) []string {
	out := make([]string, len(st))
	for i, s := range st {
		out[i] = s.Text
	}
	return out
}

func TestSplit(t *testing.T) {
	f := func(script string, d sqlscan.Dialect, want ...string) {
		t.Helper()
		got, err := sqlscan.Split(script, d)
		if err != nil {
			t.Fatalf("%q: %v", script, err)
		}
		if strings.Join(texts(got), "|") != strings.Join(want, "|") {
			t.Errorf("%q: got %q, want %q", script, texts(got), want)
		}
		for _, s := range got {
			if script[s.Start:s.End] != s.Text {
				t.Errorf("%q: span %d:%d is %q, text %q", script, s.Start, s.End, script[s.Start:s.End], s.Text)
			}
		}
	}
	// The two bugs of issue 13: a backslash ends no string in DuckDB, and
	// a dollar-quoted string hides its ';'.
	f(`SELECT 'C:\'; SELECT 2`, sqlscan.DuckDB, `SELECT 'C:\'`, `SELECT 2`)
	f(`SELECT $$a;b$$; SELECT 2`, sqlscan.DuckDB, `SELECT $$a;b$$`, `SELECT 2`)
	f(`SELECT $t$a;$$;b$t$; SELECT 2`, sqlscan.DuckDB, `SELECT $t$a;$$;b$t$`, `SELECT 2`)
	f("SELECT ';' AS a; -- c;omment\nSELECT 2;;\n/* ; */ SELECT \"x;\" FROM t", sqlscan.DuckDB,
		"SELECT ';' AS a", "-- c;omment\nSELECT 2", "/* ; */ SELECT \"x;\" FROM t")
	f(`SELECT E'it\'s;'; SELECT 2`, sqlscan.DuckDB, `SELECT E'it\'s;'`, `SELECT 2`)
	f(`SELECT 1 /* a /* b; */ c; */; SELECT 2`, sqlscan.DuckDB, `SELECT 1 /* a /* b; */ c; */`, `SELECT 2`)
	f("SELECT `a;b`; SELECT 2", sqlscan.Hive, "SELECT `a;b`", "SELECT 2")
	f("SELECT 1; -- only a comment\n/* and ; another */", sqlscan.DuckDB, "SELECT 1")
	f(`X '\''; Y`, sqlscan.Hive, `X '\''`, `Y`)
	f(" ; ;\n", sqlscan.DuckDB)
}

func TestSplitFunc(t *testing.T) {
	// A Hive statement reads '\'' as a quote; the DuckDB one after it reads
	// a backslash as itself.
	script := `CREATE EXTERNAL TABLE t (a string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '\''; SELECT 'C:\'; SELECT 2`
	got, err := sqlscan.SplitFunc(script, func(rest string) sqlscan.Dialect {
		if w := sqlscan.Words(rest, 3); len(w) == 3 && w[1] == "EXTERNAL" {
			return sqlscan.Hive
		}
		return sqlscan.DuckDB
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`CREATE EXTERNAL TABLE t (a string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '\''`, `SELECT 'C:\'`, `SELECT 2`}
	if strings.Join(texts(got), "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", texts(got), want)
	}
}

func TestTokens(t *testing.T) {
	f := func(src string, d sqlscan.Dialect, want ...string) {
		t.Helper()
		toks, err := sqlscan.Scan(src, d)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		var got []string
		for _, tk := range toks[:len(toks)-1] {
			got = append(got, string("EIQSNPU"[tk.Kind])+":"+tk.Value)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%q: got %q, want %q", src, got, want)
		}
	}
	f(`SELECT "a""b", 'c''d', x::INT, $1, $name, 1.5e3, .5`, sqlscan.DuckDB,
		"I:SELECT", `Q:a"b`, "U:,", "S:c'd", "U:,", "I:x", "U:::", "I:INT", "U:,", "P:1", "U:,", "P:name", "U:,", "N:1.5e3", "U:,", "N:.5")
	f(`'a\tb' E'a\tb\x41\101\\'`, sqlscan.DuckDB, `S:a\tb`, "S:a\tbAA\\")
	f(`'a\tb\'c\0'`, sqlscan.Hive, "S:a\tb'c\x00")
	f(`$$it's$$ $q$x$$y$q$`, sqlscan.DuckDB, "S:it's", "S:x$$y")
	f(`a$b é`, sqlscan.DuckDB, "I:a$b", "I:é")
	// DuckDB reads Unicode spaces as spaces, outside quotes.
	f("SELECT\u00a0*\u3000FROM\ufeff'f'\u2060x '\u00a0'", sqlscan.DuckDB, "I:SELECT", "U:*", "I:FROM", "S:f", "I:x", "S:\u00a0")
}

func TestUnterminated(t *testing.T) {
	for _, src := range []string{`SELECT 'a`, `SELECT "a`, `SELECT $$a`, `SELECT /* a /* b */`, `SELECT E'a\'`, `SELECT $t$a$$`} {
		_, err := sqlscan.Split(src, sqlscan.DuckDB)
		if !errors.Is(err, sqlscan.ErrUnterminated) {
			t.Errorf("%q: got %v, want unterminated", src, err)
		}
	}
	if _, err := sqlscan.Split("SELECT `a", sqlscan.Hive); !errors.Is(err, sqlscan.ErrUnterminated) {
		t.Errorf("Hive quotes names in backticks: got %v", err)
	}
	if _, err := sqlscan.Split(`SELECT 'C:\'`, sqlscan.Hive); !errors.Is(err, sqlscan.ErrUnterminated) {
		t.Errorf("Hive reads \\' as a quote: got %v", err)
	}
}

// corpus returns the scripts of testdata/corpus.sql, one a line, with \n
// standing for a new line.
func corpus(t testing.TB) []string {
	fh, err := os.Open("testdata/corpus.sql")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		out = append(out, strings.ReplaceAll(sc.Text(), `\n`, "\n"))
	}
	return out
}

// FuzzSplit checks invariants of splitting on any input: no panic, spans
// inside the script and in order, each statement's text re-splits to
// itself, and the tokens lie inside their statement.
func FuzzSplit(f *testing.F) {
	for _, s := range corpus(f) {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, script string, hive bool) {
		d := sqlscan.DuckDB
		if hive {
			d = sqlscan.Hive
		}
		st, err := sqlscan.Split(script, d)
		if err != nil {
			var se *sqlscan.Error
			if !errors.As(err, &se) || se.Pos < 0 || se.Pos >= len(script) {
				t.Fatalf("error %v has no position in the script", err)
			}
			return
		}
		last := 0
		for _, s := range st {
			if s.Start < last || s.End > len(script) || script[s.Start:s.End] != s.Text || len(s.Tokens) == 0 {
				t.Fatalf("bad statement %+v in %q", s, script)
			}
			for _, tk := range s.Tokens {
				if tk.Start < s.Start || tk.End > s.End || tk.Start >= tk.End {
					t.Fatalf("token %+v outside statement %q", tk, s.Text)
				}
			}
			again, err := sqlscan.Split(s.Text, d)
			if err != nil || len(again) != 1 || again[0].Text != s.Text {
				t.Fatalf("%q re-splits to %q (%v)", s.Text, texts(again), err)
			}
			last = s.End
		}
	})
}

// FuzzScan checks that tokens are in order, do not overlap and cover
// everything but white space and comments.
func FuzzScan(f *testing.F) {
	for _, s := range corpus(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		toks, err := sqlscan.Scan(src, sqlscan.DuckDB)
		if err != nil {
			return
		}
		last := 0
		for _, tk := range toks {
			if tk.Start < last || tk.End < tk.Start || tk.End > len(src) {
				t.Fatalf("token %+v out of order in %q", tk, src)
			}
			if gap := src[last:tk.Start]; strings.TrimFunc(gap, func(r rune) bool { return unicode.IsSpace(r) || r == 0x200B || r == 0x2060 || r == 0xFEFF }) != "" && !strings.Contains(gap, "--") && !strings.Contains(gap, "/*") {
				t.Fatalf("text %q between tokens of %q is not space or comment", gap, src)
			}
			last = tk.End
		}
		if toks[len(toks)-1].Kind != sqlscan.EOF {
			t.Fatal("no EOF token")
		}
	})
}
