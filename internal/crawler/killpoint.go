package crawler

import (
	"os"
	"syscall"
)

// killAt names a point where the process kills itself with SIGKILL, as a
// crash or an OOM kill would, for the kill tests of the commit protocol
// (TARN_TEST_KILL_AT=crawler-publish: inside the transaction that publishes
// a new table, after its partitions are written, before the commit). Unset
// in every real run.
var killAt = os.Getenv("TARN_TEST_KILL_AT")

func killPoint(name string) {
	if killAt != "" && killAt == name {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way; nothing more may run
	}
}
