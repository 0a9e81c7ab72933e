package apitypes

import "time"

// WarehouseColumn is a column of a warehouse relation.
type WarehouseColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// WarehouseRelation is a warehouse table, view ("view", or "late view": a
// view over lake tables) or materialized view.
type WarehouseRelation struct {
	Schema        string            `json:"schema"`
	Name          string            `json:"name"`
	Kind          string            `json:"kind"`
	Columns       []WarehouseColumn `json:"columns"`
	EstimatedRows int64             `json:"estimated_rows,omitempty"`
	Definition    string            `json:"definition,omitempty"`
	Database      string            `json:"database,omitempty"`
	AutoRefresh   bool              `json:"auto_refresh,omitempty"`
	BaseTables    []string          `json:"base_tables,omitempty"`
	RefreshedAt   time.Time         `json:"refreshed_at,omitzero"`
	RefreshRows   int64             `json:"refresh_rows,omitempty"`
}

// Warehouse answers GET /api/v1/warehouse: the relations the key may read
// (redshift:ReadData) and the schemas they are in.
type Warehouse struct {
	Schemas   []string            `json:"schemas"`
	Relations []WarehouseRelation `json:"relations"`
}
