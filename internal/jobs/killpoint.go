package jobs

import (
	"os"
	"syscall"
)

// killAt names a point where the process kills itself with SIGKILL, as a
// crash or an OOM kill would, for the kill tests of the Iceberg commit
// protocol (TARN_TEST_KILL_AT=job-iceberg-written: the data files are
// written, nothing committed; job-iceberg-commit: inside the metadata
// transaction that swaps metadata_location, after the bookmark is written,
// before the commit; job-iceberg-committed: just after the commit). Unset in
// every real run.
var killAt = os.Getenv("TARN_TEST_KILL_AT")

func killPoint(name string) {
	if killAt != "" && killAt == name {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way; nothing more may run
	}
}
