package lake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/cache"
	"github.com/tarn-lake/tarn/internal/storage/fs"
	"github.com/tarn-lake/tarn/internal/storage/s3store"
)

// StorageConfig says where a lake keeps its objects.
type StorageConfig struct {
	// URL is "" for the local folder <home>/objects (the default), or an
	// external S3 store: s3://bucket/prefix/?endpoint=…&region=…&path_style=true
	// (s3store.ParseURL). A lake home remembers its store (StorageFile):
	// later opens without a URL use it, and another URL is refused.
	URL string
	// AccessKey, SecretKey and SessionToken are the external store's
	// credentials; empty means the standard AWS chain (AWS_ACCESS_KEY_ID,
	// AWS_PROFILE, shared files, roles). They are never written anywhere.
	AccessKey, SecretKey, SessionToken string
	// CacheMaxBytes caps the read-through cache of an external store's
	// objects (<home>/cache/); 0 means cache.DefaultMaxBytes (10 GiB).
	CacheMaxBytes int64
}

// StorageFile is the file in a lake home that records its external store
// (the URL without credentials), so that every command on the home uses
// the same store.
const StorageFile = "storage.json"

// CacheDir is the read-through cache's folder in a lake home.
const CacheDir = "cache"

// ErrStorageMismatch: a lake home keeps its objects in another store than
// the one given.
var ErrStorageMismatch = errors.New("the lake home keeps its objects in another store")

type storageRecord struct {
	URL string `json:"url"`
}

// StorageURL returns the external store a lake home records ("" for the
// local folder).
func StorageURL(home string) (string, error) {
	b, err := os.ReadFile(filepath.Join(home, StorageFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot read the lake's storage record: %w", err)
	}
	var r storageRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return "", fmt.Errorf("cannot read the lake's storage record %s: %w", filepath.Join(home, StorageFile), err)
	}
	return r.URL, nil
}

// sameStore reports whether two store URLs name the same place (the
// other parameters, such as part_size, may differ between opens).
func sameStore(a, b s3store.Config) bool {
	return a.Bucket == b.Bucket && a.Prefix == b.Prefix && a.Endpoint == b.Endpoint
}

// openStorage opens the lake's object store, and for an external store
// the read-through cache DuckDB reads it through.
func openStorage(ctx context.Context, cfg Config) (storage.ObjectStore, *cache.Cache, error) {
	recorded, err := StorageURL(cfg.Home)
	if err != nil {
		return nil, nil, err
	}
	url := cfg.Storage.URL
	if url == "" {
		url = recorded
	}
	if url == "" {
		store, err := fs.New(fs.DefaultConfig(filepath.Join(cfg.Home, "objects")))
		if err != nil {
			return nil, nil, fmt.Errorf("cannot open object store: %w", err)
		}
		return store, nil, nil
	}
	s3cfg, err := s3store.ParseURL(url)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open object store: %w", err)
	}
	if recorded != "" && recorded != url {
		rc, err := s3store.ParseURL(recorded)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot read the lake's storage record: %w", err)
		}
		if !sameStore(rc, s3cfg) {
			return nil, nil, fmt.Errorf("%w: %s keeps its objects in %s, not %s; give that --storage (or none), or another --data",
				ErrStorageMismatch, cfg.Home, recorded, url)
		}
	}
	if recorded == "" {
		// A home that already keeps objects in its folder would lose them.
		// (Bucket names cannot start with ".", the store's own folders do.)
		ents, _ := os.ReadDir(filepath.Join(cfg.Home, "objects"))
		if slices.ContainsFunc(ents, func(e os.DirEntry) bool { return !strings.HasPrefix(e.Name(), ".") }) {
			return nil, nil, fmt.Errorf("%w: %s keeps its objects in its folder %s; give another --data for a lake on %s",
				ErrStorageMismatch, cfg.Home, filepath.Join(cfg.Home, "objects"), url)
		}
	}
	s3cfg.AccessKey, s3cfg.SecretKey, s3cfg.SessionToken = cfg.Storage.AccessKey, cfg.Storage.SecretKey, cfg.Storage.SessionToken
	store, err := s3store.New(ctx, s3cfg)
	if err != nil {
		return nil, nil, err // names the endpoint, never the keys
	}
	if recorded == "" {
		if err := writeStorageRecord(cfg.Home, url); err != nil {
			store.Close()
			return nil, nil, err
		}
	}
	c, err := cache.New(cache.Config{Dir: filepath.Join(cfg.Home, CacheDir), MaxBytes: cfg.Storage.CacheMaxBytes}, store)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, c, nil
}

// writeStorageRecord records a home's external store, atomically.
func writeStorageRecord(home, url string) error {
	b, err := json.MarshalIndent(storageRecord{URL: url}, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(home, StorageFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("cannot record the lake's store: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(home, StorageFile)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot record the lake's store: %w", err)
	}
	return nil
}
