package lake

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrServing means another process serves the data folder.
var ErrServing = errors.New("another tarn serve uses this data folder")

// ServeLockFile is the file `tarn serve` holds an exclusive lock on for its
// whole life: two servers on one lake would run two schedulers, and the
// second's exit would remove the first's serve.json.
const ServeLockFile = "serve.lock"

// LockServe takes the data folder's serve lock, or fails with ErrServing
// (saying which process holds it). The lock is the kernel's (flock), so a
// server that dies, even by kill -9, releases it. release is idempotent.
func LockServe(home string) (release func(), err error) {
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create data folder %s: %w", home, err)
	}
	path := filepath.Join(home, ServeLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			var info struct {
				API string `json:"api"`
				PID int    `json:"pid"`
			}
			if b, rerr := os.ReadFile(filepath.Join(home, "serve.json")); rerr == nil && json.Unmarshal(b, &info) == nil && info.PID > 0 {
				holder = fmt.Sprintf("process %d (REST API %s)", info.PID, info.API)
			}
			return nil, fmt.Errorf("%w: %s serves %s; stop it first, or give this one another --data", ErrServing, holder, home)
		}
		return nil, fmt.Errorf("cannot lock %s: %w", path, err)
	}
	done := false
	return func() {
		if !done {
			done = true
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			f.Close()
		}
	}, nil
}

// Serving reports whether a process holds the data folder's serve lock.
func Serving(home string) bool {
	f, err := os.Open(filepath.Join(home, ServeLockFile))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}
