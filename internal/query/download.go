package query

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/sqlscan"
)

// ResultParquet writes a succeeded query's whole stored result to w as
// Parquet, each column with the type the query gave it (a list, struct or
// map stays nested; a BLOB is bytes). It is made from <id>.csv and its
// metadata by DuckDB in one of the engine's sessions; a result stored
// without metadata (or with a type tarn did not write) is refused, not
// written as text.
func (a *Async) ResultParquet(ctx context.Context, id string, w io.Writer) error {
	loc, id, cols, err := a.storedResult(ctx, id)
	if err != nil {
		return err
	}
	if len(cols) == 0 {
		return fmt.Errorf("%w: the result of %s has no column types (its %s.csv.metadata is missing); download it as CSV", ErrSyntax, id, id)
	}
	exprs := make([]string, len(cols))
	csvCols := make([]string, len(cols))
	used := map[string]bool{}
	for i, c := range cols {
		// The metadata is an object anyone who may write the result
		// location could replace: its types reach SQL only as type names
		// rebuilt from their tokens (no comment or other text between
		// them survives).
		typ, ok := typeSQL(c.Type)
		if !ok {
			return fmt.Errorf("%w: column %q of the result of %s has type %q, which is not a type tarn writes; download it as CSV", ErrSyntax, c.Name, id, c.Type)
		}
		src := fmt.Sprintf("c%d", i)
		csvCols[i] = fmt.Sprintf("'%s': 'VARCHAR'", src)
		t := strings.ToUpper(c.Type)
		var e string
		switch {
		case t == "VARCHAR":
			e = src
		case t == "BLOB" || t == "BYTEA":
			// Stored as PostgreSQL's \x hex.
			e = "unhex(substr(" + src + ", 3))"
		case isNestedType(t):
			// Stored as JSON.
			e = "CAST(CAST(" + src + " AS JSON) AS " + typ + ")"
		default:
			e = "CAST(" + src + " AS " + typ + ")"
		}
		// Parquet columns need distinct names; DuckDB's own rule (a, a_1).
		name := c.Name
		for n := 1; used[strings.ToLower(name)]; n++ {
			name = fmt.Sprintf("%s_%d", c.Name, n)
		}
		used[strings.ToLower(name)] = true
		exprs[i] = e + " AS " + engine.QuoteIdent(name)
	}
	u := loc.Join(id + ".csv")
	in, release, err := a.s.eng.LocalPath(ctx, u.Bucket, u.Key)
	if err != nil {
		return fmt.Errorf("cannot read the result of %s: %w", id, err)
	}
	defer release()
	dir, err := os.MkdirTemp(a.s.eng.TempDir(), "download-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, id+".parquet")
	sess, err := a.s.eng.Acquire(ctx)
	if err != nil {
		return err
	}
	defer sess.Release()
	// Every field of the stored CSV is quoted but NULL's: a quoted empty
	// field is an empty string.
	q := `COPY (SELECT ` + strings.Join(exprs, ", ") + ` FROM read_csv(` + engine.QuoteString(in) + `, header = true, auto_detect = false,
		delim = ',', quote = '"', escape = '"', allow_quoted_nulls = false, max_line_size = 268435456,
		columns = {` + strings.Join(csvCols, ", ") + `})) TO ` + engine.QuoteString(out) + ` (FORMAT parquet, COMPRESSION zstd)`
	if _, err := sess.Conn().ExecContext(ctx, q); err != nil {
		return fmt.Errorf("cannot write the result of %s as Parquet: %w", id, a.s.eng.RedactError(err))
	}
	f, err := os.Open(out)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// ResultCSV writes a succeeded query's whole stored result to w: the CSV
// as it was stored (a header, every value quoted, NULL an empty unquoted
// field).
func (a *Async) ResultCSV(ctx context.Context, id string, w io.Writer) error {
	loc, id, _, err := a.storedResult(ctx, id)
	if err != nil {
		return err
	}
	u := loc.Join(id + ".csv")
	rc, _, err := a.s.store.Get(ctx, u.Bucket, u.Key, nil)
	if err != nil {
		return fmt.Errorf("cannot read the result of %s: %w", id, err)
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}

// typeConstructors are the type names that take arguments in a DuckDB
// type: DECIMAL(18,3), VARCHAR(10), STRUCT(a INTEGER), MAP(K, V),
// UNION(a INTEGER), ENUM('a', 'b').
var typeConstructors = map[string]bool{"DECIMAL": true, "NUMERIC": true, "VARCHAR": true, "STRUCT": true, "MAP": true, "UNION": true, "ENUM": true}

// typeSQL returns the DuckDB type t as SQL rebuilt from its tokens, and
// whether t is a type name and nothing else: words, quoted field names,
// numbers, balanced parentheses and brackets and commas; an argument list
// only after a type constructor; strings only inside ENUM(...). Anything
// that could end the CAST it is put in, call a function or name a relation
// (., ;, operators, SELECT) is refused, and the text between the tokens
// (comments, line breaks) is dropped: quoted names and strings are quoted
// again from their values.
func typeSQL(t string) (string, bool) {
	toks, err := sqlscan.Scan(t, sqlscan.DuckDB)
	if err != nil || len(toks) < 2 {
		return "", false
	}
	var out []string
	var stack []string // the constructor of each open parenthesis, "[" for brackets
	prev := sqlscan.Token{}
	for _, tok := range toks[:len(toks)-1] {
		switch tok.Kind {
		case sqlscan.Ident:
			if strings.EqualFold(tok.Value, "SELECT") || strings.EqualFold(tok.Value, "FROM") || !isWord(tok.Value) {
				return "", false
			}
			out = append(out, tok.Value)
		case sqlscan.QuotedIdent:
			if tok.Quote != '"' {
				return "", false
			}
			out = append(out, engine.QuoteIdent(tok.Value))
		case sqlscan.Number:
			if strings.Trim(tok.Value, "0123456789") != "" {
				return "", false
			}
			out = append(out, tok.Value)
		case sqlscan.String:
			if len(stack) == 0 || stack[len(stack)-1] != "ENUM" || tok.Quote != '\'' {
				return "", false
			}
			out = append(out, engine.QuoteString(tok.Value))
		case sqlscan.Punct:
			switch tok.Value {
			case "(":
				if prev.Kind != sqlscan.Ident || !typeConstructors[strings.ToUpper(prev.Value)] {
					return "", false
				}
				stack = append(stack, strings.ToUpper(prev.Value))
			case "[":
				stack = append(stack, "[")
			case ")", "]":
				// A "]" closes a "[", a ")" a constructor's "(".
				if len(stack) == 0 || (stack[len(stack)-1] == "[") != (tok.Value == "]") {
					return "", false
				}
				stack = stack[:len(stack)-1]
			case ",":
				if len(stack) == 0 {
					return "", false
				}
			default:
				return "", false
			}
			out = append(out, tok.Value)
		default:
			return "", false
		}
		prev = tok
	}
	if len(stack) != 0 {
		return "", false
	}
	return strings.Join(out, " "), true
}

// isWord reports whether s is letters, digits and underscores, starting
// with a letter or underscore.
func isWord(s string) bool {
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}
