package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/tarn-lake/tarn/internal/api/apitypes"
)

// Lineage returns the lineage graph around catalog table db.table
// (GET /api/v1/lineage): direction "upstream", "downstream" or "" (both),
// depth 0 for the server's most, events the number of the table's latest
// events to include.
func (k *Catalog) Lineage(ctx context.Context, db, table, direction string, depth, events int) (apitypes.LineageGraph, error) {
	q := url.Values{"table": {db + "." + table}, "events": {strconv.Itoa(events)}}
	if direction != "" {
		q.Set("direction", direction)
	}
	if depth > 0 {
		q.Set("depth", strconv.Itoa(depth))
	}
	var out apitypes.LineageGraph
	return out, k.c.do(ctx, "GET", "/api/v1/lineage?"+q.Encode(), nil, &out)
}

// PostLineage records an OpenLineage RunEvent (POST /api/v1/lineage).
func (k *Catalog) PostLineage(ctx context.Context, ev apitypes.LineageEvent) (apitypes.LineageRecorded, error) {
	var out apitypes.LineageRecorded
	return out, k.c.do(ctx, "POST", "/api/v1/lineage", ev, &out)
}
