//go:build unix

package dbt

import (
	"os/exec"
	"syscall"
)

// setProcessGroup starts dbt in a process group of its own, and makes a
// cancelled context end the whole group (dbt's threads and any program a
// hook started), first with SIGTERM.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
}

// killGroup ends what is left of the group once dbt has exited.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
