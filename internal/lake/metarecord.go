package lake

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tarn-lake/tarn/internal/meta"
)

// MetaFile is the file in a lake home that records where its metadata
// lives when that is not the home's SQLite file: a PostgreSQL URL without
// its password. Every later command on the home uses it; the password
// comes from the URL given again (--meta, TARN_META), PGPASSWORD or
// ~/.pgpass, as for any PostgreSQL client. A password is never written to
// the home (it is copied, backed up, shared with engines).
const MetaFile = "meta.json"

// ErrMetaMismatch: a lake home keeps its metadata elsewhere than the
// database given.
var ErrMetaMismatch = errors.New("the lake home keeps its metadata in another database")

type metaRecord struct {
	Driver string `json:"driver"`
	URL    string `json:"url"`
}

// MetaURL returns the PostgreSQL database a lake home records (without
// its password), or "" for the home's SQLite file.
func MetaURL(home string) (string, error) {
	b, err := os.ReadFile(filepath.Join(home, MetaFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot read the lake's metadata record: %w", err)
	}
	var r metaRecord
	if err := json.Unmarshal(b, &r); err != nil || r.Driver != "postgres" || r.URL == "" {
		return "", fmt.Errorf("cannot read the lake's metadata record %s: want {\"driver\": \"postgres\", \"url\": \"postgres://...\"}", filepath.Join(home, MetaFile))
	}
	return r.URL, nil
}

// RecordMeta records that a lake home's metadata lives in the PostgreSQL
// database dsn (its password left out), atomically.
func RecordMeta(home, dsn string) error {
	b, err := json.MarshalIndent(metaRecord{Driver: "postgres", URL: meta.RedactDSN(dsn)}, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(home, MetaFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("cannot record the lake's metadata database: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(home, MetaFile)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot record the lake's metadata database: %w", err)
	}
	return nil
}

func isPostgres(c meta.Config) bool {
	return c.Driver == "postgres" || c.Driver == "postgresql" || c.Driver == "pgx" || meta.ConfigFor(c.Path).Driver == "postgres"
}

func postgresDSN(c meta.Config) string {
	if c.DSN != "" {
		return c.DSN
	}
	return c.Path
}

// resolveMeta decides the metadata database of a lake home from the one
// given and the one the home records (MetaFile):
//   - PostgreSQL given, nothing recorded: to be recorded once it opened
//     (record), unless the home already keeps metadata in its SQLite file
//     (tarn migrate-meta copies it);
//   - PostgreSQL given and recorded: they must be the same database (the
//     given one is used: it may carry the password);
//   - SQLite given (the default), PostgreSQL recorded: the recorded one.
func resolveMeta(home string, given meta.Config) (_ meta.Config, record bool, _ error) {
	recorded, err := MetaURL(home)
	if err != nil {
		return given, false, err
	}
	if !isPostgres(given) {
		if recorded == "" {
			return given, false, nil
		}
		c := meta.ConfigFor(recorded)
		c.BusyTimeout = given.BusyTimeout
		return c, false, nil
	}
	dsn := postgresDSN(given)
	if recorded != "" {
		if !meta.SamePostgres(recorded, dsn) {
			return given, false, fmt.Errorf("%w: %s keeps its metadata in %s, not %s; give that --meta (or none), or another --data",
				ErrMetaMismatch, home, recorded, meta.RedactDSN(dsn))
		}
		return given, false, nil
	}
	db := filepath.Join(home, "tarn.db")
	if fi, err := os.Stat(db); err == nil && fi.Size() > 0 {
		return given, false, fmt.Errorf("%w: %s keeps its metadata in its SQLite file %s; copy it with `tarn --data %s migrate-meta --to %s` first, or give another --data",
			ErrMetaMismatch, home, db, home, meta.RedactDSN(dsn))
	}
	return given, true, nil
}
