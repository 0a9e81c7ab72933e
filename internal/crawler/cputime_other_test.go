//go:build !unix

package crawler

import "time"

func cpuTime() time.Duration { return 0 }
