//go:build !unix

package fs

import "os"

// oNoFollow is not available here; paths are checked with Lstat before opening.
const oNoFollow = 0

func readSmallFile(p string) ([]byte, error) { return os.ReadFile(p) }
