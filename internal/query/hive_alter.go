package query

import (
	"context"
	"fmt"
	"strings"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/iceberg"
)

// setTableProperties is Athena's ALTER TABLE t SET TBLPROPERTIES ('k' =
// 'v', ...) on a Hive table (an Iceberg table's is iceberg*.go's): the
// properties are added to the table's, or replace those of the same key.
// dbt-athena sends it after each CTAS ('classification' = 'parquet').
type setTableProperties struct {
	DB, Name string
	Props    map[string]string
}

// reservedProperty reports whether a table property is tarn's to set: what
// makes a table an Iceberg table, where its metadata is, and tarn's own.
func reservedProperty(k string) bool {
	k = strings.ToLower(k)
	return k == iceberg.PropertyTableType || k == iceberg.PropertyMetadataLocation ||
		k == iceberg.PropertyPreviousMetadataLocation || strings.HasPrefix(k, "tarn.")
}

func (s *Service) setTableProperties(ctx context.Context, req Request, st setTableProperties) error {
	db, err := databaseOr(st.DB, req)
	if err != nil {
		return err
	}
	for k := range st.Props {
		if reservedProperty(k) {
			return fmt.Errorf("%w: table property %q is set by tarn, not by ALTER TABLE ... SET TBLPROPERTIES (make an Iceberg table with CREATE TABLE ... TBLPROPERTIES ('table_type'='ICEBERG') or ALTER TABLE ... CONVERT TO ICEBERG)", ErrUnsupported, k)
		}
	}
	t, err := s.cat.GetTable(ctx, db, strings.ToLower(st.Name))
	if err != nil {
		return err
	}
	if t.TableType == catalog.TableTypeVirtualView {
		return fmt.Errorf("%w: %s is a view; ALTER TABLE ... SET TBLPROPERTIES needs a table", catalog.ErrInvalidTable, t.FullName())
	}
	if t.Properties == nil {
		t.Properties = map[string]string{}
	}
	for k, v := range st.Props {
		t.Properties[k] = v
	}
	_, err = s.cat.UpdateTable(ctx, t, "ALTER TABLE SET TBLPROPERTIES")
	return err
}
