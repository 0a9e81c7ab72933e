package fs

import (
	"testing"
	"time"
)

// PastRacyWindow makes hashes start as if the racy window had passed since
// every file change so far, until restore is called or the test ends, so
// that a test need not sleep for a hand-dropped file's hash to be cached.
func PastRacyWindow(t testing.TB) (restore func()) {
	setHashClockAhead(t, racyWindowCoarse+time.Millisecond)
	return func() { hashClock = time.Now }
}

func setHashClockAhead(t testing.TB, d time.Duration) {
	hashClock = func() time.Time { return time.Now().Add(d) }
	t.Cleanup(func() { hashClock = time.Now })
}
