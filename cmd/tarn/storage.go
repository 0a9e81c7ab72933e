package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta"
)

// storageFlags say where the lake's objects live (global flags: serve,
// query, quickstart, jobs… open the same store).
type storageFlags struct {
	url, accessKey, secretKey, cacheMax string
	// meta is the metadata database, a postgres:// URL (--meta).
	meta string
}

func (f *storageFlags) register(root *cobra.Command) {
	pf := root.PersistentFlags()
	// Defaults from the environment are read at use, not shown in --help:
	// the help would print a secret.
	pf.StringVar(&f.url, "storage", "", "objects in an external S3 store: s3://BUCKET/PREFIX/?endpoint=URL&region=R&path_style=true (env TARN_STORAGE; recorded in the data folder, default its own folder)")
	pf.StringVar(&f.accessKey, "storage-access-key", "", "access key of the external store (env TARN_STORAGE_ACCESS_KEY; default the AWS chain: AWS_ACCESS_KEY_ID, AWS_PROFILE, roles)")
	pf.StringVar(&f.secretKey, "storage-secret-key", "", "secret key of the external store (env TARN_STORAGE_SECRET_KEY, which keeps it out of process lists)")
	pf.StringVar(&f.meta, "meta", "", "metadata in PostgreSQL: postgres://USER@HOST:5432/DB (env TARN_META, which keeps a password out of process lists; recorded in the data folder without the password, default the folder's SQLite file)")
	pf.StringVar(&f.cacheMax, "cache-max", "", "size cap of the local read-through cache of an external store's objects, e.g. 10GiB, 500MB (env TARN_CACHE_MAX; default 10GiB)")
}

func envOr(v, env string) string {
	if v != "" {
		return v
	}
	return os.Getenv(env)
}

// lakeConfig is the lake configuration the global flags name.
func (g *globals) lakeConfig() (lake.Config, error) {
	cfg := lake.DefaultConfig(g.data)
	f := g.storage
	cfg.Storage = lake.StorageConfig{
		URL:          envOr(f.url, "TARN_STORAGE"),
		AccessKey:    envOr(f.accessKey, "TARN_STORAGE_ACCESS_KEY"),
		SecretKey:    envOr(f.secretKey, "TARN_STORAGE_SECRET_KEY"),
		SessionToken: os.Getenv("TARN_STORAGE_SESSION_TOKEN"),
	}
	if (cfg.Storage.AccessKey == "") != (cfg.Storage.SecretKey == "") {
		return cfg, fmt.Errorf("give both --storage-access-key and --storage-secret-key (or TARN_STORAGE_ACCESS_KEY and TARN_STORAGE_SECRET_KEY), or neither for the AWS chain")
	}
	if m := envOr(f.meta, "TARN_META"); m != "" {
		if !isPostgres(m) {
			return cfg, fmt.Errorf("--meta (or TARN_META) must be a postgres:// or postgresql:// URL, not %q; without it the data folder's SQLite file (or the database it records) is used", meta.RedactDSN(m))
		}
		cfg.Meta = meta.ConfigFor(m)
	}
	if s := envOr(f.cacheMax, "TARN_CACHE_MAX"); s != "" {
		n, err := parseSize(s)
		if err != nil {
			return cfg, fmt.Errorf("--cache-max %q: %w", s, err)
		}
		cfg.Storage.CacheMaxBytes = n
	}
	return cfg, nil
}

// parseSize reads a byte size: a number with an optional unit (B, KB, MB,
// GB, TB: powers of 1000; KiB, MiB, GiB, TiB: powers of 1024).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') && t[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.ToLower(strings.TrimSpace(t[i:]))
	mult := map[string]float64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || v <= 0 {
		return 0, fmt.Errorf("not a size such as 10GiB or 500MB")
	}
	return int64(v * mult), nil
}
