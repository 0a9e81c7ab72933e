package fs_test

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/fs"
)

func benchStore(b *testing.B, noSync bool) *fs.Store {
	b.Helper()
	s, err := fs.New(fs.Config{Root: b.TempDir(), NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.CreateBucket(b.Context(), "lake"); err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkPut4KiB(b *testing.B) {
	for _, noSync := range []bool{false, true} {
		b.Run(fmt.Sprintf("NoSync=%v", noSync), func(b *testing.B) {
			s := benchStore(b, noSync)
			body := bytes.Repeat([]byte("x"), 4<<10)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				key := fmt.Sprintf("raw/part=%d/file-%d", i%100, i)
				if _, err := s.Put(b.Context(), "lake", key, bytes.NewReader(body), storage.PutOptions{}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkGet4KiB(b *testing.B) {
	s := benchStore(b, true)
	body := bytes.Repeat([]byte("x"), 4<<10)
	if _, err := s.Put(b.Context(), "lake", "raw/k", bytes.NewReader(body), storage.PutOptions{}); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 8<<10)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rc, _, err := s.Get(b.Context(), "lake", "raw/k", nil)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := rc.Read(buf); err != nil {
				break
			}
		}
		rc.Close()
	}
}

// BenchmarkList lists a table of 10,000 partitions (100 years x 100 months,
// one file each): a page of 1000 files, and the partitions of one level with
// a delimiter.
func BenchmarkList(b *testing.B) {
	s := benchStore(b, true)
	for y := range 100 {
		for m := range 100 {
			key := fmt.Sprintf("t/year=%d/month=%02d/part-0.parquet", 2000+y, m)
			if _, err := s.Put(b.Context(), "lake", key, bytes.NewReader([]byte("x")), storage.PutOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, bc := range []struct {
		name string
		opts storage.ListOptions
		want int
	}{
		{"Page", storage.ListOptions{Prefix: "t/"}, 1000},
		{"Partition", storage.ListOptions{Prefix: "t/year=2050/"}, 100},
		{"Delimiter", storage.ListOptions{Prefix: "t/", Delimiter: "/"}, 100},
		{"DelimiterDeep", storage.ListOptions{Prefix: "t/year=2050/", Delimiter: "/"}, 100},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := s.List(b.Context(), "lake", bc.opts)
				if err != nil {
					b.Fatal(err)
				}
				if n := len(res.Objects) + len(res.CommonPrefixes); n != bc.want {
					b.Fatalf("listed %d, want %d", n, bc.want)
				}
			}
		})
	}
}

// BenchmarkPut4KiBParallel: 16 writers into one folder, as the S3
// benchmark's clients are; their folder syncs are shared.
func BenchmarkPut4KiBParallel(b *testing.B) {
	s := benchStore(b, false)
	body := bytes.Repeat([]byte("x"), 4<<10)
	b.SetBytes(int64(len(body)))
	b.SetParallelism(16)
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := fmt.Sprintf("small/obj-%d", n.Add(1))
			if _, err := s.Put(b.Context(), "lake", key, bytes.NewReader(body), storage.PutOptions{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
