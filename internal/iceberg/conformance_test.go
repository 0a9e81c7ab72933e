package iceberg

import (
	"testing"

	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/catalogtest"
)

// TestCatalogConformance runs iceberg-go's catalog conformance suite
// against the Catalog (every case; namespace properties are supported).
func TestCatalogConformance(t *testing.T) {
	catalogtest.RunCatalogTests(t, catalogtest.Config{
		SupportsNamespaceProperties: true,
		NewCatalog: func(t *testing.T) icecat.Catalog {
			return newTestLake(t).ice
		},
	})
}
