package meta

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// OwnerOracle tells about owners it knows (the servers of a cluster, from
// their heartbeats in the metadata database): known reports whether owner
// is one of them, gone whether it stopped (its heartbeat expired or it
// left). It must not do I/O: OwnerGone is called inside transactions.
type OwnerOracle func(owner string) (gone, known bool)

var oracles struct {
	sync.RWMutex
	next int
	fns  map[int]OwnerOracle
}

// RegisterOwnerOracle makes OwnerGone ask fn first, until unregister is
// called: a run owned by a server whose heartbeat expired is then gone on
// any host (internal/cluster registers one per running server).
func RegisterOwnerOracle(fn OwnerOracle) (unregister func()) {
	oracles.Lock()
	defer oracles.Unlock()
	if oracles.fns == nil {
		oracles.fns = map[int]OwnerOracle{}
	}
	id := oracles.next
	oracles.next++
	oracles.fns[id] = fn
	return func() {
		oracles.Lock()
		delete(oracles.fns, id)
		oracles.Unlock()
	}
}

func askOracles(owner string) bool {
	oracles.RLock()
	defer oracles.RUnlock()
	for _, fn := range oracles.fns {
		if gone, known := fn(owner); known && gone {
			return true
		}
	}
	return false
}

// Owner identifies the process that runs something (a crawl, a job), so that
// another process opening the same lake can tell a live run from one whose
// process died: "host:pid:start", where start is the process's start time.
// The start time tells a new process that got a dead one's PID (a container
// restarted with tarn as PID 1) from the process that wrote the run.
func Owner() string {
	host, _ := os.Hostname()
	pid := os.Getpid()
	return fmt.Sprintf("%s:%d:%s", host, pid, processStart(pid))
}

// OwnerGone reports whether the process named by owner (from Owner) is known
// to have exited: it ran on this host and no process with that PID and start
// time exists now. A run owned by another host is never assumed gone,
// unless a registered OwnerOracle (a cluster's heartbeats) says so.
func OwnerGone(owner string) bool {
	if askOracles(owner) {
		return true
	}
	parts := strings.Split(owner, ":")
	if len(parts) < 3 {
		return true // written before owners were recorded
	}
	start := parts[len(parts)-1]
	pid, err := strconv.Atoi(parts[len(parts)-2])
	host := strings.Join(parts[:len(parts)-2], ":")
	if err != nil || pid <= 0 {
		return true
	}
	if h, _ := os.Hostname(); h != host {
		return false
	}
	now := processStart(pid)
	if now == "" {
		return true // no such process
	}
	return start != "" && now != start
}

// processStart returns a process's start time in clock ticks since boot
// (field 22 of /proc/PID/stat), or "" if there is no such process. Where
// /proc does not exist it returns "?" for a live process.
func processStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if _, serr := os.Stat("/proc/self"); serr != nil && pid == os.Getpid() {
			return "?"
		}
		return ""
	}
	// The command name (field 2) may hold spaces and parentheses: fields
	// after the last ')' start at field 3.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 20 {
		return ""
	}
	return fields[19]
}
