package hashcopy

import (
	"os"
	"syscall"
)

// startWriteback asks the kernel to start writing [off, off+n) of f to
// disk without waiting (sync_file_range SYNC_FILE_RANGE_WRITE). It makes
// nothing durable, the caller's fsync does; it only lets the disk work
// while the rest of the body arrives. Errors are ignored for the same
// reason: fsync reports them.
func startWriteback(f *os.File, off, n int64) {
	const syncFileRangeWrite = 2 // SYNC_FILE_RANGE_WRITE
	_, _, _ = syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, f.Fd(), uintptr(off), uintptr(n), syncFileRangeWrite, 0, 0)
}
