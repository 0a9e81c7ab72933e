package query_test

import (
	"context"
	"testing"
)

// BenchmarkPlanning measures a small query end to end: parse, bind, prune,
// list, view, history. The query itself is tiny, so this is tarn's overhead.
func BenchmarkPlanning(b *testing.B) {
	l := openLake(b)
	writeParquetFixtures(b, l)
	ctx := context.Background()
	for _, s := range []string{
		"CREATE DATABASE IF NOT EXISTS testdb",
		`CREATE EXTERNAL TABLE sales (id bigint, amount double, note string) PARTITIONED BY (region string, year int) STORED AS PARQUET LOCATION 's3://lake/curated/sales/'`,
		"MSCK REPAIR TABLE sales",
	} {
		if _, _, err := l.Query.Run(ctx, s, "testdb"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := l.Query.Run(ctx, "SELECT sum(amount) FROM sales WHERE region = 'r1' AND year = 2025", "testdb"); err != nil {
			b.Fatal(err)
		}
	}
}
