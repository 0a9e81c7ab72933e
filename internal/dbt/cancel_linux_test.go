package dbt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCancelEndsProcessGroup: a stopped step ends dbt and what it started.
func TestCancelEndsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "started")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no fifo: %v", err)
	}
	exe := filepath.Join(dir, "dbt")
	// A child that ignores nothing and would run for long; its pid is
	// told through the fifo once it runs.
	script := fmt.Sprintf("#!/bin/sh\nsleep 1000 &\necho $! > %s\nwait\n", fifo)
	if err := os.WriteFile(exe, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	st := Step{Project: project(t)}
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := New(Config{Executable: exe, WorkDir: t.TempDir()}, nil, nil).Run(ctx, Request{Step: st, RunID: "r", StepName: "s", Endpoint: "127.0.0.1:1", Admin: true})
		done <- err
	}()
	started := make(chan []byte, 1)
	go func() {
		b, _ := os.ReadFile(fifo) // blocks until the child runs
		started <- b
	}()
	var b []byte
	select {
	case b = <-started:
	case err := <-done:
		t.Fatalf("dbt did not start: %v", err)
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil {
		t.Fatal(err)
	}
	stopped := errors.New("stopped by request")
	cancel(stopped)
	if err := <-done; !errors.Is(err, stopped) {
		t.Errorf("run: %v", err)
	}
	// The child was killed: its pidfd becomes readable when it exits
	// (a zombie waiting for init to reap it has exited too).
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return // already gone
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err == nil || !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if fds[0].Revents&unix.POLLIN == 0 {
		t.Errorf("child %d: poll %v", pid, fds[0].Revents)
	}
}
