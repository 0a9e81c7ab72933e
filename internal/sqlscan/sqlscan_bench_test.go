package sqlscan_test

import (
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/sqlscan"
)

// BenchmarkSplit splits a script of the corpus's statements repeated.
func BenchmarkSplit(b *testing.B) {
	script := strings.Repeat(strings.Join(corpus(b)[:25], ";\n")+";\n", 40)
	b.SetBytes(int64(len(script)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sqlscan.Split(script, sqlscan.DuckDB); err != nil {
			b.Fatal(err)
		}
	}
}
