//go:build linux || dragonfly || openbsd || solaris

package fs

import (
	iofs "io/fs"
	"syscall"
)

// fileID returns the inode number and change time (Unix ns) of fi, or zeros
// if fi does not come from a stat call.
func fileID(fi iofs.FileInfo) (ino uint64, ctime int64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino), st.Ctim.Nano()
	}
	return 0, 0
}
