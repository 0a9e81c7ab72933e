package storage

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzValidateKey checks that a key ValidateKey accepts, joined under a root,
// stays strictly inside the root.
func FuzzValidateKey(f *testing.F) {
	for _, k := range []string{
		"a", "a/b", "raw/", "../x", "a/../../x", "/abs", "a//b", "a\x00b", "./a", "a/.", "..",
		"a/..b", "..a/b", "a\\..\\b", "é/ü", "year=2025/month=01/part-0.parquet", strings.Repeat("k", 1025),
	} {
		f.Add(k)
	}
	root := filepath.Join(string(filepath.Separator), "lake", "objects", "bucket")
	f.Fuzz(func(t *testing.T, key string) {
		if ValidateKey(key) != nil {
			return
		}
		p := filepath.Join(root, filepath.FromSlash(key))
		if !strings.HasPrefix(p, root+string(filepath.Separator)) {
			t.Fatalf("key %q joins to %q, outside %q", key, p, root)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			t.Fatalf("key %q joins to %q: rel %q, %v", key, p, rel, err)
		}
		// The key maps to one path: cleaning does not merge it with another key.
		if want := filepath.Join(root, filepath.FromSlash(strings.TrimSuffix(key, "/"))); p != want {
			t.Fatalf("key %q joins to %q, want %q", key, p, want)
		}
	})
}
