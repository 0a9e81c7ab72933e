package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeThenTry runs the README's quickstart and its "Then try" block
// as a user types them, in a fresh folder, with the tarn this test built
// as ./tarn: every line must succeed (the server and aws CLI lines, which
// run until stopped or need a second terminal, are left out).
func TestReadmeThenTry(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "Then try")
	if i < 0 {
		t.Fatal("README has no \"Then try\" block")
	}
	block := text[i:]
	block = block[strings.Index(block, "```sh\n")+len("```sh\n"):]
	block = block[:strings.Index(block, "```")]
	dir := t.TempDir()
	bin, err := os.ReadFile(tarnBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tarn"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	lines := []string{"./tarn quickstart >/dev/null"} // the README's first command, as built
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "", strings.HasPrefix(line, "#"), strings.HasPrefix(line, "go build"),
			strings.HasPrefix(line, "./tarn serve"), strings.HasPrefix(line, "aws "):
			continue
		}
		if !strings.HasPrefix(line, "./tarn ") {
			t.Fatalf("a README line this test does not know how to run: %q", line)
		}
		lines = append(lines, line)
	}
	if len(lines) < 8 {
		t.Fatalf("only %d commands found in the README block", len(lines))
	}
	for _, line := range lines {
		cmd := exec.Command("bash", "-c", line)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TARN_DATA=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("README line %q failed: %v\n%s", line, err, out)
		}
		if strings.HasPrefix(line, `./tarn query "SELECT count(*) FROM mydb.mytable"`) && !strings.Contains(string(out), "1000") {
			t.Errorf("%s: %s", line, out)
		}
	}
}

// TestFirstHourScript runs examples/first-hour/run.sh, the new user's hour
// end to end (quickstart, an own CSV with bad rows, a job, a new column,
// the job evolving, the same answers with and without a server), with the
// tarn this test built. The script checks every step itself.
func TestFirstHourScript(t *testing.T) {
	script, err := filepath.Abs(filepath.Join("..", "..", "examples", "first-hour", "run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script, t.TempDir())
	cmd.Env = append(os.Environ(), "TARN="+tarnBin, "TARN_DATA=", "TARN_SERVER=", "TARN_ACCESS_KEY_ID=", "TARN_SECRET_ACCESS_KEY=", "TARN_TOKEN=")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "first hour: all steps passed") {
		t.Fatalf("examples/first-hour/run.sh: %v\n%s", err, out)
	}
}
