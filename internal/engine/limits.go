package engine

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Sessions is the number of pooled (non-writer) sessions: how many
// statements can run at once through Acquire. Callers that queue their own
// work in front of Acquire size their queues with it.
func (e *Engine) Sessions() int { return e.cfg.Sessions }

// MemoryShare is the part of the machine's memory DuckDB may use by default
// (DefaultMemoryLimit). DuckDB's own default, 80% of physical RAM, leaves too
// little for the Go heap, SQLite and uploads in the same process, and does
// not see a container's memory limit.
const MemoryShare = 0.5

// DefaultMemoryLimit returns DuckDB's memory_limit for this machine: a share
// of the smaller of physical memory and the cgroup's limit, or "" (DuckDB's
// default) when neither can be read. Beyond it DuckDB spills to TempDir.
func DefaultMemoryLimit() string {
	total := physicalMemory()
	if c := cgroupMemoryLimit(); c > 0 && (total == 0 || c < total) {
		total = c
	}
	if total <= 0 {
		return ""
	}
	return fmt.Sprintf("%dMiB", int64(float64(total)*MemoryShare)>>20)
}

func physicalMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

func cgroupMemoryLimit() int64 {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		// "max" (v2) or a huge number (v1) mean no limit.
		if err == nil && v > 0 && v < 1<<60 {
			return v
		}
	}
	return 0
}
