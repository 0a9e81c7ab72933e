//go:build !unix

package fs

// oNoFollow is not available here; paths are checked with Lstat before opening.
const oNoFollow = 0
