package warehouse

import (
	"fmt"
	"strings"

	"github.com/tarn-lake/tarn/internal/engine"
)

// A materialized view is a warehouse table holding its query's result, plus
// its definition in tarn.materialized_views. REFRESH computes the result
// again and replaces the table in one DuckDB transaction: a reader sees the
// old rows or the new ones, never a mix, and never a missing table.

func (x *execution) createMatView(s createMatView) (Result, error) {
	t, err := target(s.Target)
	if err != nil {
		return Result{}, err
	}
	if err := checkTarget(t); err != nil {
		return Result{}, err
	}
	if err := x.env.allow(ActionCreateTable, t.Schema, t.Name, ""); err != nil {
		return Result{}, err
	}
	rels, err := x.rels()
	if err != nil {
		return Result{}, err
	}
	if !rels.Schemas[t.Schema] {
		return Result{}, fmt.Errorf("cannot create materialized view %s: %w: schema %q", t, ErrNoSuchObject, t.Schema)
	}
	if rels.Kind(t.Schema, t.Name) != "" {
		if s.IfNotExists {
			return Result{}, nil // PostgreSQL: a notice, nothing done
		}
		return Result{}, fmt.Errorf("cannot create materialized view %s: %w", t, ErrObjectExists)
	}
	def, err := RewriteExpressions(s.Select)
	if err != nil {
		return Result{}, err
	}
	b, err := x.env.Bind(x.ctx, def, x.env.Database, engine.BindOptions{})
	if err != nil {
		return Result{}, err
	}
	bases := append([]string{}, b.Relations...)
	for _, sc := range b.Scans {
		bases = append(bases, engine.DefaultCatalogName+"."+sc.Table.Database+"."+sc.Table.Name)
	}
	var rows int64
	err = x.tx(func() error {
		if _, err := x.exec("CREATE TABLE " + sqlName(t) + " AS " + sorted(b.SQL, s.SortKey)); err != nil {
			return wrapDuck(err)
		}
		if err := x.conn.QueryRowContext(x.ctx, "SELECT count(*) FROM "+sqlName(t)).Scan(&rows); err != nil {
			return err
		}
		_, err := x.exec(`INSERT INTO warehouse.tarn.materialized_views (schema_name, view_name, definition, database_name, auto_refresh, sort_key, base_tables, refreshed_at, refresh_rows)
			VALUES (?, ?, ?, ?, ?, `+listLiteral(s.SortKey)+`, `+listLiteral(bases)+`, current_localtimestamp(), ?)`,
			t.Schema, t.Name, def, strings.ToLower(x.env.Database), s.AutoRefresh, rows)
		return err
	})
	return Result{}, err
}

func sorted(q string, key []string) string {
	if len(key) == 0 {
		return q
	}
	return fmt.Sprintf("SELECT * FROM (%s) ORDER BY %s", q, identList(key))
}

// refresh recomputes a materialized view and swaps its table in one
// transaction; with cascade, auto-refresh views built on it follow.
func (x *execution) refresh(n name, cascade bool) (Result, error) {
	t, err := target(n)
	if err != nil {
		return Result{}, err
	}
	if err := x.env.allow(ActionWriteData, t.Schema, t.Name, ""); err != nil {
		return Result{}, err
	}
	var def, db string
	var sortKey []any
	err = x.conn.QueryRowContext(x.ctx, `SELECT definition, coalesce(database_name, ''), sort_key FROM warehouse.tarn.materialized_views WHERE schema_name = ? AND view_name = ?`,
		t.Schema, t.Name).Scan(&def, &db, &sortKey)
	if err != nil {
		return Result{}, fmt.Errorf("cannot refresh %s: %w: no such materialized view", t, ErrNoSuchObject)
	}
	b, err := x.env.Bind(x.ctx, def, db, engine.BindOptions{})
	if err != nil {
		return Result{}, fmt.Errorf("cannot refresh %s: %w", t, err)
	}
	var key []string
	for _, k := range sortKey {
		if s, ok := k.(string); ok {
			key = append(key, s)
		}
	}
	var rows int64
	err = x.tx(func() error {
		// Same name, new table: DuckDB's MVCC keeps the old version for
		// transactions that started before the commit.
		if _, err := x.exec("CREATE OR REPLACE TABLE " + sqlName(t) + " AS " + sorted(b.SQL, key)); err != nil {
			return wrapDuck(err)
		}
		if err := x.conn.QueryRowContext(x.ctx, "SELECT count(*) FROM "+sqlName(t)).Scan(&rows); err != nil {
			return err
		}
		_, err := x.exec(`UPDATE warehouse.tarn.materialized_views SET refreshed_at = current_localtimestamp(), refresh_rows = ? WHERE schema_name = ? AND view_name = ?`,
			rows, t.Schema, t.Name)
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("cannot refresh %s: %w", t, err)
	}
	if cascade {
		if err := x.autoRefresh(t); err != nil {
			return Result{}, err
		}
	}
	return Result{Rows: rows, HasRows: true}, nil
}

// autoRefresh refreshes the AUTO REFRESH YES materialized views that read
// a table that just changed, and those that read them. Failures are logged:
// the statement that changed the table has committed. In a client's
// transaction nothing has committed yet, and a failed refresh has aborted
// the DuckDB transaction: the error is the statement's.
func (x *execution) autoRefresh(changed name) error {
	if !x.w.cfg.AutoRefresh {
		return nil
	}
	inTx := x.sess.InTransaction()
	done := map[string]bool{}
	queue := []string{changed.Schema + "." + changed.Name}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		rows, err := x.conn.QueryContext(x.ctx, `SELECT schema_name, view_name FROM warehouse.tarn.materialized_views
			WHERE auto_refresh AND list_contains(base_tables, ?) ORDER BY 1, 2`, cur)
		if err != nil {
			if inTx {
				return err
			}
			logRefreshError(changed, err)
			return nil
		}
		var views []name
		for rows.Next() {
			var v name
			if err := rows.Scan(&v.Schema, &v.Name); err == nil {
				views = append(views, v)
			}
		}
		rows.Close()
		for _, v := range views {
			key := v.Schema + "." + v.Name
			if done[key] {
				continue
			}
			done[key] = true
			if _, err := x.refresh(v, false); err != nil {
				if inTx {
					return err
				}
				logRefreshError(v, err)
				continue
			}
			queue = append(queue, key)
		}
	}
	return nil
}
