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

// failingReader returns data, then err with (or after) its last bytes.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	n := copy(p, r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 {
		return n, r.err
	}
	return n, nil
}

// A body that fails is a failed copy, whatever the error: net/http's body
// returns io.ErrUnexpectedEOF when the client disconnects early, and a cut
// body stored as complete replaces an object with a fragment.
func TestCopyFailedBody(t *testing.T) {
	ctx := context.Background()
	errVerify := errors.New("body does not match its signature")
	for _, size := range []int{1, 3000, smallMax, smallMax + 1, bufSize, 2*bufSize + 5} {
		for _, known := range []bool{true, false} {
			for _, want := range []error{io.ErrUnexpectedEOF, errVerify} {
				f, err := os.Create(filepath.Join(t.TempDir(), "f"))
				if err != nil {
					t.Fatal(err)
				}
				hint := int64(-1)
				if known {
					hint = int64(size) * 2 // announced, and cut halfway
				}
				_, err = Copy(ctx, f, 0, &failingReader{data: make([]byte, size), err: want}, md5.New(), Options{Size: hint})
				f.Close()
				if !errors.Is(err, want) {
					t.Errorf("size %d known %v: body failing with %v: Copy returned %v", size, known, want, err)
				}
			}
		}
	}
}
