package catalog

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tarn-lake/tarn/internal/meta"
)

// RenameTable moves a table to a new name, possibly in another database,
// with its partitions, files and schema versions. Its location and data are
// not touched. It fails with ErrTableExists if the new name is taken and
// ErrNoSuchDatabase/ErrNoSuchTable if either side is missing.
func (c *Catalog) RenameTable(ctx context.Context, db, name, newDB, newName string) error {
	return c.db.Tx(ctx, func(tx *sql.Tx) error { return c.RenameTableTx(ctx, tx, db, name, newDB, newName) })
}

// RenameTableTx is RenameTable inside tx.
func (c *Catalog) RenameTableTx(ctx context.Context, tx *sql.Tx, db, name, newDB, newName string) error {
	full := fullName(db, name)
	to, err := NormalizeName(newName)
	if err != nil {
		return fmt.Errorf("cannot rename table %q: %w", full, err)
	}
	toDB, err := NormalizeName(newDB)
	if err != nil {
		return fmt.Errorf("cannot rename table %q: database name: %w", full, err)
	}
	id, _, err := getTable(ctx, tx, db, name)
	if err != nil {
		return fmt.Errorf("cannot rename table %q: %w", full, err)
	}
	dbID, err := databaseID(ctx, tx, toDB)
	if err != nil {
		return fmt.Errorf("cannot rename table %q to %q: %w", full, toDB+"."+to, err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE catalog_tables SET database_id = ?, name = ?, updated_at = ? WHERE id = ?`,
		dbID, to, meta.Now(), id)
	if meta.IsUniqueViolation(err) {
		return fmt.Errorf("cannot rename table %q to %q: %w", full, toDB+"."+to, ErrTableExists)
	}
	if err != nil {
		return fmt.Errorf("cannot rename table %q: %w", full, err)
	}
	return nil
}

// DropTableTx is DropTable inside tx.
func (c *Catalog) DropTableTx(ctx context.Context, tx *sql.Tx, db, name string) error {
	full := fullName(db, name)
	id, _, err := getTable(ctx, tx, db, name)
	if err != nil {
		return fmt.Errorf("cannot drop table %q: %w", full, err)
	}
	for _, stmt := range []string{
		`DELETE FROM catalog_partitions WHERE table_id = ?`,
		`DELETE FROM catalog_schema_versions WHERE table_id = ?`,
		`DELETE FROM catalog_tables WHERE id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, stmt, id); err != nil {
			return fmt.Errorf("cannot drop table %q: %w", full, err)
		}
	}
	return nil
}

// SwapTablePropertiesTx replaces a table's properties with props if they
// are still old, in tx: a compare-and-set on the stored properties, atomic
// whatever the database's isolation level (a concurrent swap from the same
// old properties finds them changed). It fails with ErrConcurrentUpdate
// if they changed. Iceberg commits swap metadata_location so.
func (c *Catalog) SwapTablePropertiesTx(ctx context.Context, tx *sql.Tx, db, name string, old, props map[string]string) error {
	full := fullName(db, name)
	id, _, err := getTable(ctx, tx, db, name)
	if err != nil {
		return fmt.Errorf("cannot update properties of table %q: %w", full, err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE catalog_tables SET properties = ?, updated_at = ? WHERE id = ? AND properties = ?`,
		encodeMap(props), meta.Now(), id, encodeMap(old))
	if err != nil {
		return fmt.Errorf("cannot update properties of table %q: %w", full, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("cannot update properties of table %q: %w", full, ErrConcurrentUpdate)
	}
	return nil
}
