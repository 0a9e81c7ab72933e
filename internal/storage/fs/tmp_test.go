package fs_test

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/fs"
)

const helperRootEnv = "TARN_FS_TEST_KILLED_PUT_ROOT"

// TestHelperKilledPut is not a test: TestTempFilesOfKilledPuts runs it in a
// child process, which opens the store, starts a put whose body never ends,
// says "ready" once the put's temp file exists, and is killed.
func TestHelperKilledPut(t *testing.T) {
	root := os.Getenv(helperRootEnv)
	if root == "" {
		t.Skip("helper process of TestTempFilesOfKilledPuts")
	}
	s, err := fs.New(fs.DefaultConfig(root))
	if err != nil {
		t.Fatal(err)
	}
	// The first read comes after the temp file was created; stdin is a
	// pipe the parent never writes to, so the put never ends.
	body := io.MultiReader(strings.NewReader(strings.Repeat("x", 3000)), &signalReader{
		signal: func() { os.Stdout.WriteString("ready\n") }, r: os.Stdin})
	_, err = s.Put(t.Context(), "lake", "k", body, storage.PutOptions{})
	t.Fatalf("the put ended: %v", err)
}

// signalReader calls signal before its first read.
type signalReader struct {
	signal func()
	r      io.Reader
	done   bool
}

func (s *signalReader) Read(p []byte) (int, error) {
	if !s.done {
		s.done = true
		s.signal()
	}
	return s.r.Read(p)
}

// TestTempFilesOfKilledPuts: the temp file of a put whose process was
// killed is removed when the store is next opened, not 24 hours later, and
// the temp file of a put in flight in a store still open (here, in this
// process) is not.
func TestTempFilesOfKilledPuts(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no file locks: temp files are removed by age")
	}
	root := t.TempDir()
	s := newStore(t, root)
	if err := s.CreateBucket(t.Context(), "lake"); err != nil {
		t.Fatal(err)
	}
	old := []byte("committed")
	if _, err := s.Put(t.Context(), "lake", "k", bytes.NewReader(old), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}

	// A put in flight in this process, in an open store.
	pr, pw := io.Pipe()
	started := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		_, err := s.Put(t.Context(), "lake", "inflight", &signalReader{signal: func() { close(started) }, r: pr}, storage.PutOptions{})
		result <- err
	}()
	<-started

	// A put in another process, killed.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperKilledPut$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperRootEnv+"="+root)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %q, %v", line, err)
	}
	if n := len(tempFiles(t, root)); n != 2 {
		t.Fatalf("%d temp files before the kill, want 2 (one per put): %v", n, tempFiles(t, root))
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if n := len(tempFiles(t, root)); n != 2 {
		t.Fatalf("%d temp files after the kill, want 2: %v", n, tempFiles(t, root))
	}

	// A store opened now (a restart, or another store in this process)
	// removes the killed put's temp file, and only that.
	s2 := newStore(t, root)
	left := tempFiles(t, root)
	if len(left) != 1 {
		t.Fatalf("temp files after reopening: %v, want only the put in flight's", left)
	}
	if _, err := pw.Write([]byte("in flight")); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-result; err != nil {
		t.Fatalf("the put in flight failed: %v", err)
	}
	for key, want := range map[string]string{"k": string(old), "inflight": "in flight"} {
		rc, _, err := s2.Get(t.Context(), "lake", key, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if string(got) != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if left := tempFiles(t, root); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
	// Closing the stores removes their folders; the next open finds none.
	s.Close()
	s2.Close()
	ents, _ := os.ReadDir(filepath.Join(root, ".tarn", "tmp"))
	if len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("after Close, .tarn/tmp holds %v", names)
	}
}
