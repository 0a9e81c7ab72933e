package hashcopy

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
)

func TestCopy(t *testing.T) {
	ctx := context.Background()
	for _, size := range []int{0, 1, 4096, smallMax, smallMax + 1, bufSize, 3*bufSize + 17, 9 * bufSize} {
		for _, known := range []bool{true, false} {
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(i * 31)
			}
			f, err := os.Create(filepath.Join(t.TempDir(), "f"))
			if err != nil {
				t.Fatal(err)
			}
			hint := int64(-1)
			if known {
				hint = int64(size)
			}
			h := md5.New()
			// A reader returning short reads, as a socket does.
			n, err := Copy(ctx, f, 5, iotest.HalfReader(bytes.NewReader(data)), h, Options{Size: hint, WriteBack: true})
			if err != nil || n != int64(size) {
				t.Fatalf("size %d: %d bytes, %v", size, n, err)
			}
			got, _ := io.ReadAll(io.NewSectionReader(f, 5, int64(size)+1))
			f.Close()
			want := md5.Sum(data)
			if !bytes.Equal(got, data) || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Errorf("size %d known %v: content or MD5 differ", size, known)
			}
			// Max stops a body before writing past it.
			if size > 1 { // Max 0 means no limit
				f, _ := os.Create(filepath.Join(t.TempDir(), "g"))
				_, err := Copy(ctx, f, 0, bytes.NewReader(data), md5.New(), Options{Size: hint, Max: int64(size - 1)})
				fi, _ := f.Stat()
				f.Close()
				if !errors.Is(err, ErrTooLarge) || fi.Size() > int64(size-1) {
					t.Errorf("size %d over Max: %v, %d bytes written", size, err, fi.Size())
				}
			}
		}
	}
}
