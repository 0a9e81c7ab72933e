package tmpdir

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestOpenClean(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no file locks")
	}
	parent := t.TempDir()
	a, err := Open(parent)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(parent) // another store in this process
	if err != nil {
		t.Fatal(err)
	}
	fa := filepath.Join(a.Path(), "put-a")
	fb := filepath.Join(b.Path(), "put-b")
	for _, f := range []string{fa, fb} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A loose file of an earlier version: removed only when stale.
	fresh, stale := filepath.Join(parent, "put-fresh"), filepath.Join(parent, "put-stale")
	os.WriteFile(fresh, nil, 0o644)
	os.WriteFile(stale, nil, 0o644)
	long := time.Now().Add(-StaleAge - time.Hour)
	os.Chtimes(stale, long, long)

	// a is closed with a write in flight: its file stays until the next Open.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(fa); err != nil {
		t.Fatalf("Close removed a file in flight: %v", err)
	}
	c, err := Open(parent)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for f, want := range map[string]bool{fa: false, fb: true, fresh: true, stale: false} {
		if _, err := os.Stat(f); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", filepath.Base(f), err == nil, want)
		}
	}
	if _, err := os.Stat(a.Path()); err == nil {
		t.Error("the closed store's folder is still there")
	}
	b.Close()
}
