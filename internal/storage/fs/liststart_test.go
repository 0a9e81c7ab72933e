package fs_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
)

// A listing that starts after "boo/" with delimiter "/" starts after the
// common prefix "boo/" too (as S3's does), and a page that holds the
// last entry is not truncated.
func TestListStartAfterCommonPrefix(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newBucket(t)
	for _, k := range []string{"asdf", "boo/bar", "boo/baz/xyzzy", "cquux/thud", "cquux/bla"} {
		if _, err := s.Put(ctx, "lake", k, strings.NewReader(k), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.List(ctx, "lake", storage.ListOptions{StartAfter: "boo/", Delimiter: "/", MaxKeys: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 0 || !slices.Equal(res.CommonPrefixes, []string{"cquux/"}) || res.IsTruncated {
		t.Errorf("after boo/: %+v", res)
	}
	// Starting inside a prefix still lists that prefix's rest.
	res, err = s.List(ctx, "lake", storage.ListOptions{StartAfter: "boo/bar", Delimiter: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.CommonPrefixes, []string{"boo/", "cquux/"}) {
		t.Errorf("after boo/bar: %+v", res)
	}
}
