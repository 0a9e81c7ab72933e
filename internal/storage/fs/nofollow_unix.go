//go:build unix

package fs

import (
	"os"
	"syscall"
)

// oNoFollow makes opening a symbolic link fail instead of following it.
const oNoFollow = syscall.O_NOFOLLOW

// readSmallFile reads a sidecar with plain system calls: os.ReadFile also
// stats the file and registers it with the poller, which doubles the system
// calls of a listing that reads one sidecar per object.
func readSmallFile(p string) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer syscall.Close(fd)
	buf := make([]byte, 0, 1024)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: p, Err: err}
		}
		want := cap(buf) - len(buf)
		buf = buf[:len(buf)+n]
		// A short read of a regular file is its end: sidecars are replaced by
		// rename, never written in place.
		if n == 0 || n < want {
			return buf, nil
		}
	}
}
