package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"github.com/tarn-lake/tarn/internal/meta"
)

// SkippedFile is a file under a crawled table's location that its crawler
// could not read (malformed, truncated, nested too deeply, another format).
// Readers leave it out of the table until a crawl reads it, so one bad file
// never fails every query of the table; the crawl's file errors and the
// catalog both say which files are out and why.
type SkippedFile struct {
	URI       string
	Reason    string
	SkippedAt time.Time
}

// SkippedFiles lists the files left out of a table, ordered by URI.
func (c *Catalog) SkippedFiles(ctx context.Context, db, table string) ([]SkippedFile, error) {
	q := c.q(nil)
	id, _, err := getTable(ctx, q, db, table)
	if err != nil {
		return nil, fmt.Errorf("cannot list skipped files of %q: %w", fullName(db, table), err)
	}
	rows, err := q.QueryContext(ctx, `SELECT uri, reason, skipped_at FROM catalog_skipped_files WHERE table_id = ? ORDER BY uri`, id)
	if err != nil {
		return nil, fmt.Errorf("cannot list skipped files of %q: %w", fullName(db, table), err)
	}
	defer rows.Close()
	var out []SkippedFile
	for rows.Next() {
		var f SkippedFile
		var at string
		if err := rows.Scan(&f.URI, &f.Reason, &at); err != nil {
			return nil, err
		}
		f.SkippedAt = meta.ParseTime(at)
		out = append(out, f)
	}
	return out, rows.Err()
}

// UpdateSkippedFilesTx records, in tx, what a crawl learned of a table's
// files: skipped maps the URIs it could not read to the reason, readable
// lists those it read (they are back in the table). Files the crawl did not
// look at keep their state.
func (c *Catalog) UpdateSkippedFilesTx(ctx context.Context, tx *sql.Tx, db, table string, skipped map[string]string, readable []string) error {
	id, _, err := getTable(ctx, tx, db, table)
	if err != nil {
		return fmt.Errorf("cannot record skipped files of %q: %w", fullName(db, table), err)
	}
	for _, u := range readable {
		if _, err := tx.ExecContext(ctx, `DELETE FROM catalog_skipped_files WHERE table_id = ? AND uri = ?`, id, u); err != nil {
			return fmt.Errorf("cannot record skipped files of %q: %w", fullName(db, table), err)
		}
	}
	uris := make([]string, 0, len(skipped))
	for u := range skipped {
		uris = append(uris, u)
	}
	sort.Strings(uris)
	at := meta.Now()
	for _, u := range uris {
		if _, err := tx.ExecContext(ctx, `INSERT INTO catalog_skipped_files (table_id, uri, reason, skipped_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (table_id, uri) DO UPDATE SET reason = excluded.reason, skipped_at = excluded.skipped_at`, id, u, skipped[u], at); err != nil {
			return fmt.Errorf("cannot record skipped files of %q: %w", fullName(db, table), err)
		}
	}
	return nil
}
