package iceberg

import (
	"bytes"
	"context"
	"errors"
	"io"
	iofs "io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	iceio "github.com/apache/iceberg-go/io"

	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/fs"
)

// newTestStore opens a real filesystem store in a temp folder with the
// bucket "lake".
func newTestStore(tb testing.TB) *fs.Store {
	tb.Helper()
	st, err := fs.New(fs.Config{Root: filepath.Join(tb.TempDir(), "objects"), NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.CreateBucket(context.Background(), "lake"); err != nil {
		tb.Fatal(err)
	}
	return st
}

// remoteOnly hides the store's LocalPather, so IO reads with ranged Gets as
// it does over S3.
type remoteOnly struct{ storage.ObjectStore }

func TestIOReadWrite(t *testing.T) {
	ctx := context.Background()
	st := newTestStore(t)
	content := bytes.Repeat([]byte("0123456789"), 1000)
	for name, store := range map[string]storage.ObjectStore{"local": st, "remote": remoteOnly{st}} {
		t.Run(name, func(t *testing.T) {
			fio := NewIO(store).WithContext(ctx)
			uri := "s3a://lake/t_" + name + "/data/f.bin"
			w, err := fio.Create(uri)
			mustNoErr(t, err)
			_, err = w.Write(content[:5000])
			mustNoErr(t, err)
			_, err = w.(io.ReaderFrom).ReadFrom(bytes.NewReader(content[5000:]))
			mustNoErr(t, err)
			// Nothing is visible before Close.
			if _, err := fio.Stat(uri); !errors.Is(err, iofs.ErrNotExist) {
				t.Fatalf("stat before close: %v, want not exist", err)
			}
			mustNoErr(t, w.Close())
			mustNoErr(t, w.Close()) // idempotent

			got, err := fio.ReadFile(uri)
			mustNoErr(t, err)
			if !bytes.Equal(got, content) {
				t.Fatalf("ReadFile: %d bytes, want %d", len(got), len(content))
			}
			f, err := fio.Open(uri)
			mustNoErr(t, err)
			defer f.Close()
			fi, err := f.Stat()
			mustNoErr(t, err)
			if fi.Size() != int64(len(content)) || fi.Name() != "f.bin" {
				t.Fatalf("stat = %s %d", fi.Name(), fi.Size())
			}
			// Parquet reads the footer: the last bytes, with ReadAt and Seek.
			tail := make([]byte, 8)
			n, err := f.ReadAt(tail, int64(len(content)-8))
			if n != 8 || err != nil || !bytes.Equal(tail, content[len(content)-8:]) {
				t.Fatalf("ReadAt tail = %d %v %q", n, err, tail)
			}
			n, err = f.ReadAt(make([]byte, 16), int64(len(content)-8))
			if n != 8 || err != io.EOF {
				t.Fatalf("ReadAt past end = %d %v, want 8 EOF", n, err)
			}
			pos, err := f.Seek(-10, io.SeekEnd)
			mustNoErr(t, err)
			if pos != int64(len(content)-10) {
				t.Fatalf("seek = %d", pos)
			}
			rest, err := io.ReadAll(f)
			mustNoErr(t, err)
			if !bytes.Equal(rest, content[len(content)-10:]) {
				t.Fatalf("read after seek = %q", rest)
			}
			_, err = f.Seek(3, io.SeekStart)
			mustNoErr(t, err)
			head := make([]byte, 4)
			_, err = io.ReadFull(f, head)
			mustNoErr(t, err)
			if string(head) != "3456" {
				t.Fatalf("read after seek start = %q", head)
			}

			mustNoErr(t, fio.Remove(uri))
			mustNoErr(t, fio.Remove(uri)) // missing: not an error (S3)
			if _, err := fio.Open(uri); !errors.Is(err, iofs.ErrNotExist) || !errors.Is(err, storage.ErrNoSuchKey) {
				t.Fatalf("open removed = %v", err)
			}
		})
	}
}

func TestIOWriterNotClosedStoresNothing(t *testing.T) {
	st := newTestStore(t)
	fio := NewIO(st).WithContext(context.Background())
	w, err := fio.Create("s3://lake/x/y.json")
	mustNoErr(t, err)
	_, err = w.Write([]byte("{}"))
	mustNoErr(t, err)
	if _, err := fio.Stat("s3://lake/x/y.json"); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("stat = %v", err)
	}
	mustNoErr(t, w.Close())
	if _, err := w.Write([]byte("x")); !errors.Is(err, iofs.ErrClosed) {
		t.Fatalf("write after close = %v", err)
	}
}

func TestIORefusesOtherSchemesAndHostileKeys(t *testing.T) {
	fio := NewIO(newTestStore(t)).WithContext(context.Background())
	for _, uri := range []string{
		"file:///etc/passwd", "/etc/passwd", "gs://lake/a", "mem://lake/a", "s3://lake/../etc/passwd",
		"s3://lake/a/../../b", "s3://lake/", "s3://lake", "s3://LAKE/a", "s3://lake/a//b", "s3://lake/a\x00b",
	} {
		if _, err := fio.Open(uri); !errors.Is(err, iofs.ErrInvalid) {
			t.Errorf("Open(%q) = %v, want ErrInvalid", uri, err)
		}
		if err := fio.WriteFile(uri, []byte("x")); !errors.Is(err, iofs.ErrInvalid) {
			t.Errorf("WriteFile(%q) = %v, want ErrInvalid", uri, err)
		}
		if _, err := fio.Create(uri); !errors.Is(err, iofs.ErrInvalid) {
			t.Errorf("Create(%q) = %v, want ErrInvalid", uri, err)
		}
	}
	_, err := fio.Open("file:///etc/passwd")
	if !errors.Is(err, storage.ErrInvalidURI) || !strings.Contains(err.Error(), `scheme "file" is not supported`) {
		t.Fatalf("error = %v", err)
	}
	if b, k, err := ParseLocation("s3n://lake/a/b"); err != nil || b != "lake" || k != "a/b" {
		t.Fatalf("ParseLocation = %q %q %v", b, k, err)
	}
}

func TestIOWalkDirAndDeleteFiles(t *testing.T) {
	ctx := context.Background()
	st := newTestStore(t)
	fio := NewIO(st).WithContext(ctx)
	files := []string{"t/data/a=1/f1.parquet", "t/data/a=2/f2.parquet", "t/metadata/v1.json", "t-other/x", "t/z"}
	for _, k := range files {
		mustNoErr(t, fio.WriteFile("s3://lake/"+k, []byte(k)))
	}
	walk := func(root string, skip string) []string {
		var got []string
		err := fio.WalkDir(root, func(p string, d iofs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			suffix := ""
			if d.IsDir() {
				suffix = "/"
			} else if info, _ := d.Info(); info.Size() == 0 || info.ModTime().IsZero() {
				t.Errorf("%s: info %v", p, info)
			}
			got = append(got, p+suffix)
			if p == skip {
				return iofs.SkipDir
			}
			return nil
		})
		mustNoErr(t, err)
		return got
	}
	got := walk("s3a://lake/t", "")
	want := []string{"s3a://lake/t/", "s3a://lake/t/data/", "s3a://lake/t/data/a=1/", "s3a://lake/t/data/a=1/f1.parquet",
		"s3a://lake/t/data/a=2/", "s3a://lake/t/data/a=2/f2.parquet", "s3a://lake/t/metadata/", "s3a://lake/t/metadata/v1.json", "s3a://lake/t/z"}
	if !slices.Equal(got, want) {
		t.Fatalf("walk = %q\nwant %q", got, want)
	}
	got = walk("s3://lake/t/", "s3://lake/t/data")
	want = []string{"s3://lake/t/", "s3://lake/t/data/", "s3://lake/t/metadata/", "s3://lake/t/metadata/v1.json", "s3://lake/t/z"}
	if !slices.Equal(got, want) {
		t.Fatalf("walk with SkipDir = %q\nwant %q", got, want)
	}
	err := fio.WalkDir("s3://lake/nothing", func(p string, d iofs.DirEntry, err error) error { return err })
	if !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("walk of nothing = %v", err)
	}

	var bulk iceio.BulkRemovableIO = fio
	deleted, err := bulk.DeleteFiles(ctx, []string{"s3://lake/t/z", "s3://lake/t/missing", "file:///x"})
	if !errors.Is(err, iofs.ErrInvalid) || !slices.Equal(deleted, []string{"s3://lake/t/z", "s3://lake/t/missing"}) {
		t.Fatalf("DeleteFiles = %q %v", deleted, err)
	}
	if _, err := fio.Stat("s3://lake/t/z"); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("stat deleted = %v", err)
	}
}

func mustNoErr(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func TestIOWithinConfinesToLocation(t *testing.T) {
	ctx := context.Background()
	st := newTestStore(t)
	all := NewIO(st).WithContext(ctx)
	mustNoErr(t, all.WriteFile("s3://lake/secret/data.parquet", []byte("secret")))
	mustNoErr(t, all.WriteFile("s3://lake/t2/x", []byte("sibling with a common prefix")))
	fio, err := all.Within("s3a://lake/t/")
	mustNoErr(t, err)
	mustNoErr(t, fio.WriteFile("s3://lake/t/metadata/a.json", []byte("{}")))
	if _, err := fio.ReadFile("s3n://lake/t/metadata/a.json"); err != nil {
		t.Fatal(err)
	}
	for _, uri := range []string{"s3://lake/secret/data.parquet", "s3://lake/t2/x", "s3://lake/t", "s3://other/t/x"} {
		if _, err := fio.Open(uri); !errors.Is(err, iofs.ErrPermission) || !errors.Is(err, ErrOutsideLocation) {
			t.Errorf("Open(%q) = %v, want ErrOutsideLocation", uri, err)
		}
		if err := fio.Remove(uri); !errors.Is(err, ErrOutsideLocation) {
			t.Errorf("Remove(%q) = %v", uri, err)
		}
		if err := fio.WriteFile(uri, nil); !errors.Is(err, ErrOutsideLocation) {
			t.Errorf("WriteFile(%q) = %v", uri, err)
		}
	}
	if err := fio.WalkDir("s3://lake/secret", func(string, iofs.DirEntry, error) error { return nil }); err != nil {
		// the error goes to fn, which ignored it: nothing was listed
		t.Fatal(err)
	}
	err = fio.WalkDir("s3://lake/secret", func(p string, d iofs.DirEntry, err error) error { return err })
	if !errors.Is(err, ErrOutsideLocation) {
		t.Fatalf("walk outside = %v", err)
	}
	if _, err := all.Within("s3://lake"); !errors.Is(err, storage.ErrInvalidURI) {
		t.Fatalf("Within(bucket) = %v", err)
	}
}

func TestIOWriteNewNeverReplaces(t *testing.T) {
	fio := NewIO(newTestStore(t)).WithContext(context.Background())
	uri := "s3://lake/t/metadata/00001-x.metadata.json"
	mustNoErr(t, fio.writeNew(uri, []byte("first")))
	if err := fio.writeNew(uri, []byte("second")); !errors.Is(err, iofs.ErrExist) || !errors.Is(err, storage.ErrPreconditionFailed) {
		t.Fatalf("second writeNew = %v", err)
	}
	got, err := fio.ReadFile(uri)
	mustNoErr(t, err)
	if string(got) != "first" {
		t.Fatalf("content = %q", got)
	}
}
