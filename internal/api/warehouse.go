package api

import (
	"context"
	"net/http"
	"sort"

	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/warehouse"
)

// getWarehouse answers GET /api/v1/warehouse: the warehouse's tables,
// views and materialized views (with their refresh state) that the key may
// read — redshift:ReadData on arn:aws:glue:*:*:table/SCHEMA/NAME, the
// resource the query service checks a SELECT against — and their schemas.
func (s *Server) getWarehouse(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	rels, err := s.warehouse.Relations(ctx)
	if err != nil {
		return nil, err
	}
	out := apitypes.Warehouse{Schemas: []string{}, Relations: []apitypes.WarehouseRelation{}}
	schemas := map[string]bool{}
	for _, rel := range rels {
		if p.Authorize(warehouse.ActionReadData, auth.TableResource(rel.Schema, rel.Name)) != nil {
			continue
		}
		schemas[rel.Schema] = true
		w := apitypes.WarehouseRelation{Schema: rel.Schema, Name: rel.Name, Kind: rel.Kind, EstimatedRows: rel.EstimatedRows,
			Definition: rel.Definition, Database: rel.Database, AutoRefresh: rel.AutoRefresh, BaseTables: rel.BaseTables,
			RefreshedAt: rel.RefreshedAt, RefreshRows: rel.RefreshRows, Columns: []apitypes.WarehouseColumn{}}
		for _, c := range rel.Columns {
			w.Columns = append(w.Columns, apitypes.WarehouseColumn{Name: c.Name, Type: c.Type})
		}
		out.Relations = append(out.Relations, w)
	}
	for sc := range schemas {
		out.Schemas = append(out.Schemas, sc)
	}
	sort.Strings(out.Schemas)
	return out, nil
}
