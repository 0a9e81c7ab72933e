package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/apache/iceberg-go/table"
	lru "github.com/hashicorp/golang-lru/v2"
)

// icebergCache keeps what never changes once written: a metadata file's
// table (metadata files are immutable; a commit writes a new one) and the
// files a snapshot of it reads. A query after a commit plans once; the ones
// after it bind from memory.
type icebergCache struct {
	once   sync.Once
	tables *lru.Cache[string, *table.Table]
	plans  *lru.Cache[string, []table.FileScanTask]
	// paths are data and delete files' local paths on a local store (an
	// Iceberg file is never rewritten in place).
	paths *lru.Cache[string, string]
	// schemas are files' Parquet columns, for files without field ids.
	schemas *lru.Cache[string, parquetFileSchema]
	// scans are bound scans of a snapshot (its SQL over local paths, its
	// files and bytes) by the columns a query reads; a scan of 10,000 files
	// is a megabyte of SQL, so only a few are kept.
	scans *lru.Cache[string, *cachedScan]
}

type cachedScan struct {
	sql   string
	files []FileRef
	bytes int64
	uris  []string
}

const icebergCacheSize = 256

func (c *icebergCache) init() {
	c.once.Do(func() {
		c.tables, _ = lru.New[string, *table.Table](icebergCacheSize)
		c.plans, _ = lru.New[string, []table.FileScanTask](icebergCacheSize)
		c.paths, _ = lru.New[string, string](1 << 18)
		c.schemas, _ = lru.New[string, parquetFileSchema](1 << 14)
		c.scans, _ = lru.New[string, *cachedScan](32)
	})
}

// plan returns the scan tasks of a snapshot of tbl.
func (c *icebergCache) plan(ctx context.Context, tbl *table.Table, snapshotID int64) ([]table.FileScanTask, error) {
	c.init()
	key := fmt.Sprintf("%s#%d", tbl.MetadataLocation(), snapshotID)
	if tasks, ok := c.plans.Get(key); ok {
		return tasks, nil
	}
	tasks, err := tbl.Scan(table.WithSnapshotID(snapshotID)).PlanFiles(ctx)
	if err != nil {
		return nil, err
	}
	c.plans.Add(key, tasks)
	return tasks, nil
}
