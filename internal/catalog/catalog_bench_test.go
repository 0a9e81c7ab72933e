package catalog

import (
	"context"
	"fmt"
	"testing"
)

func BenchmarkListPartitions10k(b *testing.B) {
	ctx := context.Background()
	c := partitionedCatalog(b)
	addManyPartitions(b, c, 10_000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		parts, err := c.ListPartitions(ctx, "sales", "events")
		if err != nil || len(parts) != 10_000 {
			b.Fatalf("%d partitions, %v", len(parts), err)
		}
	}
}

func BenchmarkAddPartitions10k(b *testing.B) {
	ctx := context.Background()
	c := partitionedCatalog(b)
	parts := make([]Partition, 10_000)
	for i := range parts {
		parts[i] = Partition{Values: []string{fmt.Sprint(2000 + i/120), fmt.Sprint(i % 120)}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		if _, err := c.DropPartitions(ctx, "sales", "orders", valuesOf(parts)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if n, err := c.AddPartitions(ctx, "sales", "orders", parts, false); err != nil || n != len(parts) {
			b.Fatalf("added %d: %v", n, err)
		}
	}
}

func BenchmarkParseType(b *testing.B) {
	const s = "struct<id:bigint,tags:array<string>,`order`:struct<`total amount`:decimal(10,2),items:array<struct<sku:string,qty:int>>>>"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseType(s); err != nil {
			b.Fatal(err)
		}
	}
}
