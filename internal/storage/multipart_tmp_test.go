package storage_test

import (
	"bufio"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
	fsstore "github.com/tarn-lake/tarn/internal/storage/fs"
)

const helperUploadEnv = "TARN_STORAGE_TEST_KILLED_PART" // "<root> <upload id>"

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

// TestHelperKilledPart is not a test: TestTempFilesOfKilledParts runs it in
// a child process, which writes a part whose body never ends, says "ready"
// once the part's temp file exists, and is killed.
func TestHelperKilledPart(t *testing.T) {
	root, id, ok := strings.Cut(os.Getenv(helperUploadEnv), " ")
	if !ok {
		t.Skip("helper process of TestTempFilesOfKilledParts")
	}
	store, err := fsstore.New(fsstore.DefaultConfig(filepath.Join(root, "objects")))
	if err != nil {
		t.Fatal(err)
	}
	up, err := storage.NewUploads(filepath.Join(root, "uploads"), store)
	if err != nil {
		t.Fatal(err)
	}
	body := &signalReader{signal: func() { os.Stdout.WriteString("ready\n") }, r: os.Stdin}
	_, err = up.PutPart(t.Context(), "bkt", "k", id, 2, body, nil)
	t.Fatalf("the part ended: %v", err)
}

// partTemps lists the files under the uploads' temp folder but for run
// folders and lock files.
func partTemps(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(dir, ".tmp"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.HasSuffix(p, ".lock") {
			out = append(out, filepath.Base(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTempFilesOfKilledParts: the temp file of a part whose process was
// killed is removed by the next NewUploads, not left in the upload until it
// is completed or aborted, and a part in flight in this process is not.
func TestTempFilesOfKilledParts(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no file locks: temp files are removed by age")
	}
	ctx := t.Context()
	root := t.TempDir()
	store, err := fsstore.New(fsstore.DefaultConfig(filepath.Join(root, "objects")))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	store.CreateBucket(ctx, "bkt")
	dir := filepath.Join(root, "uploads")
	up, err := storage.NewUploads(dir, store)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	id, err := up.Create(ctx, "bkt", "k", storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// A part in flight here, of unknown size: a file of its own.
	pr, pw := io.Pipe()
	started := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		_, err := up.PutPart(ctx, "bkt", "k", id, 1, &signalReader{signal: func() { close(started) }, r: pr}, nil)
		result <- err
	}()
	<-started

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperKilledPart$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperUploadEnv+"="+root+" "+id)
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
	if n := len(partTemps(t, dir)); n != 2 {
		t.Fatalf("%d part temp files before the kill, want 2: %v", n, partTemps(t, dir))
	}
	cmd.Process.Kill()
	cmd.Wait()

	up2, err := storage.NewUploads(dir, store) // a restart
	if err != nil {
		t.Fatal(err)
	}
	defer up2.Close()
	if left := partTemps(t, dir); len(left) != 1 {
		t.Fatalf("part temp files after reopening: %v, want only the part in flight's", left)
	}
	pw.Write([]byte("part one"))
	pw.Close()
	if err := <-result; err != nil {
		t.Fatalf("the part in flight failed: %v", err)
	}
	parts, err := up2.Parts(ctx, "bkt", "k", id)
	if err != nil || len(parts) != 1 || parts[0].PartNumber != 1 || parts[0].Size != int64(len("part one")) {
		t.Errorf("parts: %v %+v, want part 1 only", err, parts)
	}
	if left := partTemps(t, dir); len(left) != 0 {
		t.Errorf("part temp files left: %v", left)
	}
}
