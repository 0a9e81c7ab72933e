package api

import (
	"reflect"
	"slices"
	"testing"

	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/catalog"
)

// The lineage wire types carry the catalog's field for field (as
// TestWireTypesMatchServices checks the others).
func TestLineageWireTypesMatchCatalog(t *testing.T) {
	for _, p := range []struct{ service, wire any }{
		{catalog.LineageEvent{}, apitypes.LineageEvent{}},
		{catalog.LineageRun{}, apitypes.LineageRun{}},
		{catalog.LineageJob{}, apitypes.LineageJob{}},
		{catalog.LineageDataset{}, apitypes.LineageDataset{}},
		{catalog.DatasetRef{}, apitypes.DatasetRef{}},
		{catalog.LineageWrite{}, apitypes.LineageWrite{}},
		{catalog.LineageNode{}, apitypes.LineageNode{}},
		{catalog.LineageEdge{}, apitypes.LineageEdge{}},
		{catalog.LineageGraph{}, apitypes.LineageGraph{}},
	} {
		s, w := reflect.TypeOf(p.service), reflect.TypeOf(p.wire)
		if sf, wf := jsonFields(s), jsonFields(w); !slices.Equal(sf, wf) {
			t.Errorf("%v has JSON fields %q, the wire type %v %q", s, sf, w, wf)
		}
	}
}
