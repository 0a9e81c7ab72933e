package cache_test

import (
	"os"
	"testing"
)

// LocalPathOf with a version just listed: a cached copy costs no request
// to the store; a listing that no longer names the object's version
// (overwritten since, or another ETag than a HEAD gives) reads what is
// there now.
func TestLocalPathOfListed(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, 0)
	ctx := t.Context()
	of := func(etag string, size int64) string {
		t.Helper()
		p, release, err := c.LocalPathOf(ctx, "data", "a.csv", etag, size)
		if err != nil {
			t.Fatalf("LocalPathOf: %v", err)
		}
		defer release()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	one, two := body(1000, 1), body(1000, 2)
	f.put(t, "a.csv", one)
	info, err := f.store.Head(ctx, "data", "a.csv")
	if err != nil {
		t.Fatal(err)
	}
	if got := of(info.ETag, info.Size); got != string(one) {
		t.Fatal("first read: wrong bytes")
	}
	heads, gets := f.g.Count("HEAD"), f.gets()
	if got := of(info.ETag, info.Size); got != string(one) {
		t.Fatal("second read: wrong bytes")
	}
	if f.g.Count("HEAD") != heads || f.gets() != gets {
		t.Fatalf("a cached listed version asked the store: %d HEADs, %d GETs", f.g.Count("HEAD")-heads, f.gets()-gets)
	}
	f.put(t, "a.csv", two)
	if got := of("0123456789abcdef0123456789abcdef", info.Size); got != string(two) {
		t.Fatal("a listing that names no version of the object: not the object's bytes")
	}
	if got := of("", 0); got != string(two) {
		t.Fatal("no ETag: not the object's bytes")
	}
}
