//go:build !linux

package hashcopy

import "os"

func startWriteback(*os.File, int64, int64) {}
