package query

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/warehouse"
)

// Option configures the service.
type Option func(*Service)

// WithWarehouse routes Redshift statements (CREATE SCHEMA/TABLE/VIEW,
// MATERIALIZED VIEW, COPY, INSERT/UPDATE/DELETE/MERGE on warehouse tables,
// CREATE EXTERNAL SCHEMA, ...) to the warehouse. Without it they fail or
// are read as Athena's.
func WithWarehouse(w *warehouse.Service) Option { return func(s *Service) { s.wh = w } }

// runWarehouse runs a statement the warehouse owns. handled is false when
// the statement is not the warehouse's (Athena DDL, SELECT, writes to lake
// tables): the caller goes on with it.
func (s *Service) runWarehouse(ctx context.Context, ex *Execution, req Request, sink Sink, text string) (handled bool, err error) {
	if athenaSyntax(text) {
		return false, nil
	}
	st, ok, err := warehouse.Parse(text)
	if !ok {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	start := time.Now()
	if req.tx != nil && !req.tx.pinned() {
		// The transaction's first change: from here its statements run in
		// one DuckDB transaction on one session.
		if err := req.tx.pin(ctx); err != nil {
			return true, err
		}
	}
	sess, release, err := s.session(ctx, req)
	if err != nil {
		return true, err
	}
	defer release()
	owns, err := s.wh.Owns(ctx, sess, st, req.Database)
	if err != nil {
		return true, err
	}
	if !owns {
		return false, nil
	}
	ex.StatementType = st.Type()
	var wg *Workgroup
	env := warehouse.Env{
		Database: req.Database,
		QueryID:  ex.ID,
		Bind: func(ctx context.Context, q, defaultDB string, opts engine.BindOptions) (*engine.Bound, error) {
			b, err := sess.BindWith(ctx, q, defaultDB, opts)
			if errors.Is(err, engine.ErrNotSelect) {
				return nil, fmt.Errorf("%w: expected a query (SELECT, WITH or VALUES)", ErrSyntax)
			}
			if err != nil {
				return nil, err
			}
			if err := authorizeScans(req, b); err != nil {
				return nil, err
			}
			if wg == nil {
				w, err := s.Workgroup(ctx, req.Workgroup)
				if err != nil {
					return nil, err
				}
				wg = &w
			}
			if err := checkLimits(*wg, b); err != nil {
				return nil, err
			}
			ex.Stats.BytesScanned += b.BytesScanned()
			for _, sc := range b.Scans {
				ex.Stats.FilesScanned += len(sc.Files)
				ex.Stats.PartitionsScanned += sc.PartitionsScanned
				ex.Stats.PartitionsTotal += sc.PartitionsTotal
			}
			return b, nil
		},
	}
	if req.Authorize != nil {
		env.Authorize = func(action, schema, name, location string) error {
			return req.Authorize(action, Target{Database: schema, Table: name, Location: location})
		}
	}
	ex.Stats.Planning = time.Since(start)
	res, err := s.wh.Exec(ctx, sess, st, env)
	ex.Stats.Engine = time.Since(start) - ex.Stats.Planning
	if err != nil {
		return true, engineError(err)
	}
	ex.Stats.Rows = res.Rows
	switch {
	case res.Copy:
		if err := sink.Columns([]Column{{Name: "rows", Type: "BIGINT"}, {Name: "rejected", Type: "BIGINT"}, {Name: "rejected_uri", Type: "VARCHAR"}}); err != nil {
			return true, err
		}
		return true, sink.Row([]any{res.Rows, res.Rejected, res.RejectedURI})
	case res.HasRows:
		if err := sink.Columns([]Column{{Name: "rows", Type: "BIGINT"}}); err != nil {
			return true, err
		}
		return true, sink.Row([]any{res.Rows})
	}
	return true, sink.Columns(nil)
}

// Warehouse returns the warehouse the service routes to (nil if none).
func (s *Service) Warehouse() *warehouse.Service { return s.wh }
