package meta

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Owner identifies the process that runs something (a crawl, a job), so that
// another process opening the same lake can tell a live run from one whose
// process died: "host:pid".
func Owner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// OwnerGone reports whether the process named by owner (from Owner) is known
// to have exited: it ran on this host and no such process exists now. A run
// owned by another host is never assumed gone.
func OwnerGone(owner string) bool {
	host, _ := os.Hostname()
	var pid int
	var h string
	for i := len(owner) - 1; i >= 0; i-- {
		if owner[i] == ':' {
			h = owner[:i]
			if _, err := fmt.Sscanf(owner[i+1:], "%d", &pid); err != nil {
				return true
			}
			break
		}
	}
	if owner == "" || pid <= 0 {
		return true // written before owners were recorded
	}
	if h != host {
		return false
	}
	if pid == os.Getpid() {
		return false
	}
	err := syscall.Kill(pid, 0)
	return errors.Is(err, syscall.ESRCH)
}
