package query

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// ErrResultTooLarge stops a query whose result has more rows than its
// workgroup allows.
var ErrResultTooLarge = errors.New("query result too large")

// DefaultMaxResultRows is a workgroup's result cap unless it sets one.
const DefaultMaxResultRows = 10_000_000

// MaxResults is how many rows a query of the workgroup may return.
func (w Workgroup) MaxResults() int64 {
	if w.MaxResultRows > 0 {
		return w.MaxResultRows
	}
	return DefaultMaxResultRows
}

// streamCapped runs a SELECT with its result capped at limit rows. duckdb-go
// has no streaming results: DuckDB materialises the whole result before
// the first row reaches Go, in memory that memory_limit does not bound (a
// SELECT * over a cross join grew the server to 11 GB). Under a LIMIT,
// DuckDB stops the query once the cap is reached. The wrapping subquery
// would rename duplicate column names (a, a_1), so the names are taken from
// the statement itself.
func streamCapped(ctx context.Context, conn *sql.Conn, q string, sink Sink, limit int64, wg string) (int64, error) {
	q = strings.TrimRight(strings.TrimSpace(q), ";")
	names, err := columnNames(ctx, conn, q)
	if err != nil {
		return 0, err
	}
	// The newline ends a trailing line comment of q before the parenthesis.
	wrapped := fmt.Sprintf("SELECT * FROM (\n%s\n) LIMIT %d", q, limit+1)
	cs := &cappedSink{Sink: sink, names: names, limit: limit}
	n, err := stream(ctx, conn, wrapped, cs)
	if errors.Is(err, errCapReached) {
		return n, fmt.Errorf("%w: it returns more than %d rows, the max_result_rows of workgroup %q; write large results to files with UNLOAD or CREATE TABLE AS, which stream, or raise the workgroup's max_result_rows",
			ErrResultTooLarge, limit, wg)
	}
	return n, err
}

var errCapReached = errors.New("result cap reached")

type cappedSink struct {
	Sink
	names []string
	limit int64
	n     int64
}

func (c *cappedSink) Columns(cols []Column) error {
	if len(c.names) == len(cols) {
		for i := range cols {
			cols[i].Name = c.names[i]
		}
	}
	return c.Sink.Columns(cols)
}

func (c *cappedSink) Row(vals []any) error {
	if c.n == c.limit {
		return errCapReached
	}
	c.n++
	return c.Sink.Row(vals)
}

// columnNames prepares q to read its result's column names as written.
func columnNames(ctx context.Context, conn *sql.Conn, q string) ([]string, error) {
	var names []string
	err := conn.Raw(func(dc any) error {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return nil
		}
		st, err := pc.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		defer st.Close()
		ds, ok := st.(*duckdb.Stmt)
		if !ok {
			return nil
		}
		n, err := ds.ColumnCount()
		if err != nil {
			return err
		}
		for i := range n {
			name, err := ds.ColumnName(i)
			if err != nil {
				return err
			}
			names = append(names, name)
		}
		return nil
	})
	return names, err
}
