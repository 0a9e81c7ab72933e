package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// ErrNotEmpty is returned (wrapped) by Copy when the target already holds
// rows.
var ErrNotEmpty = errors.New("the target metadata database is not empty")

// CopyResult counts the rows Copy copied, per table.
type CopyResult struct {
	Tables map[string]int64
}

// Copy copies every row of a SQLite metadata database into a PostgreSQL
// one (tarn migrate-meta). Both must have the same migrations applied (the
// target's by opening the lake on it with the same tarn), and the target
// must hold no rows. The source is read in one transaction, which holds
// SQLite's write lock, and the target is written in one: a failure leaves
// it empty. Identity columns continue after the copied ids.
func Copy(ctx context.Context, src, dst *DB) (CopyResult, error) {
	res := CopyResult{Tables: map[string]int64{}}
	if src.Driver() != "sqlite" || dst.Driver() != "postgres" {
		return res, fmt.Errorf("cannot copy metadata from %s to %s: copy goes from SQLite to PostgreSQL", src.Driver(), dst.Driver())
	}
	sm, err := appliedMigrations(ctx, src.SQL())
	if err != nil {
		return res, fmt.Errorf("cannot read the source's migrations: %w", err)
	}
	dm, err := appliedMigrations(ctx, dst.SQL())
	if err != nil {
		return res, fmt.Errorf("cannot read the target's migrations: %w", err)
	}
	if missing := diff(sm, dm); len(missing) > 0 {
		return res, fmt.Errorf("cannot copy metadata: the target lacks migrations %s (open the lake on it with this tarn first, and use the tarn that last opened the source)", strings.Join(missing, ", "))
	}
	if extra := diff(dm, sm); len(extra) > 0 {
		return res, fmt.Errorf("cannot copy metadata: the source lacks migrations %s (open it once with this tarn first)", strings.Join(extra, ", "))
	}
	err = src.Tx(ctx, func(stx *sql.Tx) error {
		tables, err := sqliteTables(ctx, stx)
		if err != nil {
			return err
		}
		return dst.Tx(ctx, func(dtx *sql.Tx) error {
			order, err := pgTableOrder(ctx, dtx, tables)
			if err != nil {
				return err
			}
			for _, t := range order {
				var any int
				err := dtx.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM `+quoteIdent(t)+` LIMIT 1) x`).Scan(&any)
				if err != nil {
					return fmt.Errorf("cannot read target table %s: %w", t, err)
				}
				if any > 0 {
					return fmt.Errorf("%w: table %s has rows", ErrNotEmpty, t)
				}
			}
			for _, t := range order {
				n, err := copyTable(ctx, stx, dtx, t)
				if err != nil {
					return fmt.Errorf("cannot copy table %s: %w", t, err)
				}
				res.Tables[t] = n
			}
			return resetIdentities(ctx, dtx, order)
		})
	})
	return res, err
}

func appliedMigrations(ctx context.Context, q *sql.DB) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT component, version FROM schema_migrations ORDER BY component, version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		var v int
		if err := rows.Scan(&c, &v); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("%s/%d", c, v))
	}
	return out, rows.Err()
}

// diff returns the elements of a not in b.
func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func sqliteTables(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> 'schema_migrations' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("cannot list the source's tables: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// pgTableOrder checks that the target has every table and orders them so
// that a table comes after the tables its foreign keys reference.
func pgTableOrder(ctx context.Context, tx *sql.Tx, tables []string) ([]string, error) {
	have := map[string]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		have[n] = true
	}
	rows.Close()
	for _, t := range tables {
		if !have[t] {
			return nil, fmt.Errorf("cannot copy metadata: the target has no table %s", t)
		}
	}
	deps := map[string][]string{}
	rows, err = tx.QueryContext(ctx, `SELECT c.relname, r.relname FROM pg_constraint k
		JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid
		WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var from, to string
		if err := rows.Scan(&from, &to); err != nil {
			rows.Close()
			return nil, err
		}
		if from != to {
			deps[from] = append(deps[from], to)
		}
	}
	rows.Close()
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(t string) error
	visit = func(t string) error {
		switch state[t] {
		case 1:
			return fmt.Errorf("cannot copy metadata: foreign keys of %s form a cycle", t)
		case 2:
			return nil
		}
		state[t] = 1
		ds := deps[t]
		sort.Strings(ds)
		for _, d := range ds {
			if slices.Contains(tables, d) {
				if err := visit(d); err != nil {
					return err
				}
			}
		}
		state[t] = 2
		order = append(order, t)
		return nil
	}
	for _, t := range tables {
		if err := visit(t); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// copyBatchRows is how many rows one INSERT carries (fewer when a table
// has many columns: PostgreSQL takes at most 65535 parameters).
const copyBatchRows = 500

func copyTable(ctx context.Context, stx, dtx *sql.Tx, table string) (int64, error) {
	rows, err := stx.QueryContext(ctx, `SELECT * FROM `+quoteIdent(table))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = quoteIdent(c)
	}
	per := min(copyBatchRows, 60000/len(cols))
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	var (
		n     int64
		batch []any
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		k := len(batch) / len(cols)
		q := `INSERT INTO ` + quoteIdent(table) + ` (` + strings.Join(quoted, ", ") + `) VALUES ` + strings.TrimSuffix(strings.Repeat(one+", ", k), ", ")
		if _, err := dtx.ExecContext(ctx, q, batch...); err != nil {
			return err
		}
		n += int64(k)
		batch = batch[:0]
		return nil
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		batch = append(batch, vals...)
		if len(batch)/len(cols) >= per {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	return n, flush()
}

// resetIdentities makes each identity column continue after its largest
// copied value.
func resetIdentities(ctx context.Context, tx *sql.Tx, tables []string) error {
	rows, err := tx.QueryContext(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND is_identity = 'YES'`)
	if err != nil {
		return err
	}
	type col struct{ t, c string }
	var ids []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.t, &c.c); err != nil {
			rows.Close()
			return err
		}
		if slices.Contains(tables, c.t) {
			ids = append(ids, c)
		}
	}
	rows.Close()
	for _, c := range ids {
		if _, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence(?, ?), COALESCE((SELECT MAX(`+quoteIdent(c.c)+`) FROM `+quoteIdent(c.t)+`), 0) + 1, false)`,
			quoteIdent(c.t), c.c); err != nil {
			return fmt.Errorf("cannot continue the ids of %s.%s: %w", c.t, c.c, err)
		}
	}
	return nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
