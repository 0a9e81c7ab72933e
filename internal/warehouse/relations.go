package warehouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/engine"
)

// Relation kinds Relations reports.
const (
	KindTable            = "table"
	KindView             = "view"
	KindLateView         = "late view" // a view over lake tables, bound at each query
	KindMaterializedView = "materialized view"
)

// RelationColumn is a column of a warehouse relation.
type RelationColumn struct {
	Name, Type string
}

// Relation is a warehouse table, view or materialized view, as the
// console's Warehouse page shows it.
type Relation struct {
	Schema, Name, Kind string
	Columns            []RelationColumn
	// EstimatedRows is DuckDB's estimate for tables and materialized views.
	EstimatedRows int64
	// Definition is a view's or materialized view's SQL; Database the
	// default database it was defined in.
	Definition, Database string
	// Materialized views: AUTO REFRESH, the relations they read, and their
	// last refresh (when, and the rows it wrote).
	AutoRefresh bool
	BaseTables  []string
	RefreshedAt time.Time
	RefreshRows int64
}

// Relations lists the warehouse's tables, views and materialized views
// (not tarn's own schema), ordered by schema and name. The caller decides
// which of them a key may see.
func (w *Service) Relations(ctx context.Context) ([]Relation, error) {
	if w.err != nil {
		return nil, w.err
	}
	sess, err := w.eng.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	conn := sess.Conn()
	sys := engine.SystemSchema
	rows, err := conn.QueryContext(ctx, `
		SELECT schema_name, table_name, 'table', coalesce(estimated_size, 0), '', '' FROM duckdb_tables()
			WHERE database_name = ? AND schema_name <> ? AND NOT internal AND NOT temporary
		UNION ALL SELECT schema_name, view_name, 'view', 0, sql, '' FROM duckdb_views()
			WHERE database_name = ? AND schema_name <> ? AND NOT internal
		UNION ALL SELECT schema_name, view_name, 'late view', 0, definition, coalesce(database_name, '') FROM warehouse.tarn.late_views
		ORDER BY 1, 2`, engine.WarehouseCatalog, sys, engine.WarehouseCatalog, sys)
	if err != nil {
		return nil, fmt.Errorf("cannot list warehouse relations: %w", err)
	}
	var out []Relation
	index := map[string]int{}
	for rows.Next() {
		var r Relation
		if err := rows.Scan(&r.Schema, &r.Name, &r.Kind, &r.EstimatedRows, &r.Definition, &r.Database); err != nil {
			rows.Close()
			return nil, err
		}
		index[strings.ToLower(r.Schema+"."+r.Name)] = len(out)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	mv, err := conn.QueryContext(ctx, `SELECT schema_name, view_name, definition, coalesce(database_name, ''), auto_refresh,
		coalesce(array_to_string(base_tables, ','), ''), coalesce(strftime(refreshed_at, '%Y-%m-%dT%H:%M:%S.%f'), ''), coalesce(refresh_rows, 0)
		FROM warehouse.tarn.materialized_views`)
	if err != nil {
		return nil, fmt.Errorf("cannot list materialized views: %w", err)
	}
	for mv.Next() {
		var schema, view, def, db, bases, refreshed string
		var auto bool
		var n int64
		if err := mv.Scan(&schema, &view, &def, &db, &auto, &bases, &refreshed, &n); err != nil {
			mv.Close()
			return nil, err
		}
		i, ok := index[strings.ToLower(schema+"."+view)]
		if !ok {
			continue
		}
		r := &out[i]
		r.Kind, r.Definition, r.Database, r.AutoRefresh, r.RefreshRows = KindMaterializedView, def, db, auto, n
		if bases != "" {
			r.BaseTables = strings.Split(bases, ",")
		}
		// Stored as the server's local time (current_localtimestamp()).
		r.RefreshedAt, _ = time.ParseInLocation("2006-01-02T15:04:05.000000", refreshed, time.Local)
	}
	mv.Close()
	if err := mv.Err(); err != nil {
		return nil, err
	}
	cols, err := conn.QueryContext(ctx, `SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns()
		WHERE database_name = ? AND schema_name <> ? ORDER BY schema_name, table_name, column_index`, engine.WarehouseCatalog, sys)
	if err != nil {
		return nil, fmt.Errorf("cannot list warehouse columns: %w", err)
	}
	defer cols.Close()
	for cols.Next() {
		var schema, table, col, typ string
		if err := cols.Scan(&schema, &table, &col, &typ); err != nil {
			return nil, err
		}
		if i, ok := index[strings.ToLower(schema+"."+table)]; ok {
			out[i].Columns = append(out[i].Columns, RelationColumn{Name: col, Type: typ})
		}
	}
	return out, cols.Err()
}
