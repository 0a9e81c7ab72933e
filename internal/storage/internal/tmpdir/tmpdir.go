// Package tmpdir gives each open store a private folder for the temp files
// of its writes in flight, so that the temp files a killed process left
// behind are removed when the next store opens, at once, while those of
// stores still open, in this process or another, are never touched.
//
// Under a parent folder, each Dir is a folder <name> with a lock file
// <name>.lock next to it, locked (flock) for as long as the Dir is open:
//
//	<parent>/run-123456.lock   locked by the store that owns run-123456/
//	<parent>/run-123456/       its temp files
//
// Open removes every folder whose lock file it can lock: its owner is gone.
// The kernel releases a lock when its process dies, however it dies, so no
// age or process id is guessed. Where file locks are not available (not
// unix, or a filesystem that refuses flock), a folder is removed only when
// nothing in it changed for StaleAge, as before this package.
package tmpdir

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// StaleAge is how long a temp file must be left unchanged to be removed
// when its owner cannot be told by a lock: loose temp files of earlier
// versions, and every temp file where file locks are not available.
const StaleAge = 24 * time.Hour

const (
	prefix     = "run-"
	lockSuffix = ".lock"
)

// Dir is an open private temp folder. Its methods are safe for concurrent
// use.
type Dir struct {
	path string
	lock *os.File
}

// Open removes the temp folders under parent (created if needed) whose
// owners are gone, and creates and locks a new one.
func Open(parent string) (*Dir, error) {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create temp folder: %w", err)
	}
	Clean(parent)
	for {
		f, err := os.CreateTemp(parent, prefix+"*"+lockSuffix)
		if err != nil {
			return nil, fmt.Errorf("cannot create temp folder: %w", err)
		}
		locked, err := tryLock(f)
		if err != nil {
			// A filesystem without flock (some network ones): the folder
			// is used unlocked, and Clean goes by age there.
			locked = true
		}
		// Between CreateTemp and the lock, another store's Clean may have
		// locked the new file, found it ownerless and removed it: then
		// the lock is on a file that is gone, and another try is made.
		if !locked || !samePath(f) {
			f.Close()
			continue
		}
		d := &Dir{path: strings.TrimSuffix(f.Name(), lockSuffix), lock: f}
		if err := os.Mkdir(d.path, 0o755); err != nil {
			d.Close()
			return nil, fmt.Errorf("cannot create temp folder: %w", err)
		}
		return d, nil
	}
}

// samePath reports whether f's path still names f.
func samePath(f *os.File) bool {
	a, err1 := f.Stat()
	b, err2 := os.Lstat(f.Name())
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// Path is the folder for temp files.
func (d *Dir) Path() string { return d.path }

// Close removes the folder if it is empty and releases it. Temp files still
// in it (writes in flight) are removed by the next Open. It is idempotent.
func (d *Dir) Close() error {
	if d.lock == nil {
		return nil
	}
	if os.Remove(d.path) == nil || errors.Is(d.statErr(), iofs.ErrNotExist) {
		os.Remove(d.lock.Name())
	}
	err := d.lock.Close()
	d.lock = nil
	return err
}

func (d *Dir) statErr() error {
	_, err := os.Lstat(d.path)
	return err
}

// Clean removes, under parent, the temp folders whose owners are gone, and
// loose temp files (of versions before this package) unchanged for
// StaleAge.
func Clean(parent string) {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		p := filepath.Join(parent, name)
		switch {
		case strings.HasPrefix(name, prefix) && strings.HasSuffix(name, lockSuffix):
			cleanRun(strings.TrimSuffix(p, lockSuffix), p)
		case strings.HasPrefix(name, prefix) && e.IsDir():
			// A folder whose lock file is gone: a Clean was interrupted
			// between removing the two. Open creates the lock file
			// first, so no open Dir lacks one.
			if _, err := os.Lstat(p + lockSuffix); errors.Is(err, iofs.ErrNotExist) {
				os.RemoveAll(p)
			}
		case !e.IsDir():
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > StaleAge {
				os.Remove(p)
			}
		}
	}
}

// cleanRun removes run folder dir if its lock file can be locked.
func cleanRun(dir, lockPath string) {
	f, err := os.OpenFile(lockPath, os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer f.Close()
	locked, err := tryLock(f)
	switch {
	case !lockSupported || err != nil:
		// No locks here: only the age of the files tells.
		if !unchangedFor(dir, StaleAge) {
			return
		}
	case !locked:
		return // its store is open
	}
	if os.RemoveAll(dir) == nil {
		os.Remove(lockPath)
	}
}

// unchangedFor reports whether nothing in dir changed for d.
func unchangedFor(dir string, d time.Duration) bool {
	newest := time.Time{}
	_ = filepath.WalkDir(dir, func(_ string, e iofs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
		return nil
	})
	return time.Since(newest) > d
}
