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

// alterHiveColumns is Athena's ALTER TABLE t ADD COLUMNS (...) and REPLACE
// COLUMNS (...) on a Hive table: the table's columns grow (new ones after
// the existing ones, before the partition keys) or are replaced. Files
// written before read the new columns as NULL. dbt-athena sends ADD
// COLUMNS for on_schema_change on incremental models.
type alterHiveColumns struct {
	DB, Name string
	Replace  bool
	Columns  []catalog.Column
}

func (s *Service) alterHiveColumns(ctx context.Context, req Request, st alterHiveColumns) error {
	db, err := databaseOr(st.DB, req)
	if err != nil {
		return err
	}
	t, err := s.cat.GetTable(ctx, db, strings.ToLower(st.Name))
	if err != nil {
		return err
	}
	what := "ADD COLUMNS"
	if st.Replace {
		what = "REPLACE COLUMNS"
	}
	if t.TableType == catalog.TableTypeVirtualView {
		return fmt.Errorf("%w: %s is a view; ALTER TABLE ... %s needs a table", catalog.ErrInvalidTable, t.FullName(), what)
	}
	taken := map[string]bool{}
	for _, k := range t.PartitionKeys {
		taken[strings.ToLower(k.Name)] = true
	}
	cols := t.Columns
	if st.Replace {
		cols = nil
	} else {
		for _, c := range cols {
			taken[strings.ToLower(c.Name)] = true
		}
	}
	for _, c := range st.Columns {
		c.Name = strings.ToLower(c.Name)
		if taken[c.Name] {
			return fmt.Errorf("%w: column %s already exists in %s (ALTER TABLE ... %s adds new columns only; a partition key cannot be a column too)", catalog.ErrInvalidTable, c.Name, t.FullName(), what)
		}
		taken[c.Name] = true
		cols = append(cols, c)
	}
	t.Columns = cols
	_, err = s.cat.UpdateTable(ctx, t, "ALTER TABLE "+what)
	return err
}
