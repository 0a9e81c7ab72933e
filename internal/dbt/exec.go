package dbt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// profileName is the profile tarn writes and passes with --profile, so the
// project's own `profile:` name does not matter.
const profileName = "tarn"

// Environment variables the written profile reads the key from: the
// secret reaches dbt through its environment, never a file or a log.
const (
	envUser     = "TARN_ACCESS_KEY_ID"
	envPassword = "TARN_SECRET_ACCESS_KEY"
)

// profile is the profiles.yml tarn writes for a step.
type profile struct {
	Target  string
	Host    string
	Port    int
	Schema  string
	Threads int
}

// write writes profiles.yml into dir (0600). Every value is checked
// (Validate) or tarn's own; the key comes from the environment.
func (p profile) write(dir string) error {
	text := fmt.Sprintf(`# Written by tarn for one dbt step; removed when the step ends.
%s:
  target: %s
  outputs:
    %s:
      type: postgres
      host: %s
      port: %d
      user: "{{ env_var('%s') }}"
      password: "{{ env_var('%s') }}"
      dbname: warehouse
      schema: %s
      threads: %d
      connect_timeout: 10
`, profileName, p.Target, p.Target, strconv.Quote(p.Host), p.Port, envUser, envPassword, strconv.Quote(p.Schema), p.Threads)
	return os.WriteFile(filepath.Join(dir, "profiles.yml"), []byte(text), 0o600)
}

// invocation is one run of the dbt program.
type invocation struct {
	exe        string
	args       []string // command and its options, less the folders
	project    string
	profiles   string // folder of profiles.yml
	target     string // --target-path
	logs       string // --log-path
	home       string // HOME: a private folder
	user, pass string
	profTarget string
}

// result of an invocation.
type execResult struct {
	exitCode int
	output   string // the last lines of stdout and stderr
	stdout   []byte // whole stdout, up to maxStdout
}

const (
	tailLines = 30
	maxStdout = 16 << 20
)

// run runs dbt in its own process group and waits for it. When ctx ends,
// the whole group gets SIGTERM, then SIGKILL after a grace period: dbt and
// the connections it opened do not outlive the step.
func (inv invocation) run(ctx context.Context) (execResult, error) {
	args := append([]string{}, inv.args...)
	args = append(args, "--project-dir", inv.project, "--profiles-dir", inv.profiles, "--profile", profileName,
		"--target", inv.profTarget, "--target-path", inv.target, "--log-path", inv.logs)
	cmd := exec.CommandContext(ctx, inv.exe, args...)
	cmd.Dir = inv.project
	// Only what dbt needs: the server's environment may hold its own keys
	// (TARN_SECRET_ACCESS_KEY of the admin), which a project's env_var()
	// would otherwise read.
	env := []string{"HOME=" + inv.home, envUser + "=" + inv.user, envPassword + "=" + inv.pass,
		"DBT_SEND_ANONYMOUS_USAGE_STATS=false", "DBT_USE_COLORS=false", "DBT_VERSION_CHECK=false", "PYTHONUNBUFFERED=1"}
	for _, k := range []string{"PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	cmd.Env = env
	var tail tailWriter
	stdout := &capWriter{max: maxStdout, next: &tail}
	cmd.Stdout, cmd.Stderr = stdout, &tail
	setProcessGroup(cmd)
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return execResult{}, fmt.Errorf("%w %q: %w", ErrCannotStart, inv.exe, err)
	}
	err := cmd.Wait()
	killGroup(cmd)
	res := execResult{output: tail.String(), stdout: stdout.buf.Bytes()}
	if ctx.Err() != nil {
		return res, context.Cause(ctx)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.exitCode = ee.ExitCode()
		return res, nil
	}
	return res, err
}

// tailWriter keeps the last lines written to it.
type tailWriter struct {
	mu    sync.Mutex
	lines []string
	part  []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.part = append(t.part, p...)
	for {
		i := bytes.IndexByte(t.part, '\n')
		if i < 0 {
			break
		}
		t.lines = append(t.lines, strings.TrimRight(string(t.part[:i]), "\r"))
		t.part = t.part[i+1:]
		if len(t.lines) > tailLines {
			t.lines = t.lines[len(t.lines)-tailLines:]
		}
	}
	if len(t.part) > 64<<10 {
		t.part = t.part[len(t.part)-64<<10:]
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := append([]string{}, t.lines...)
	if len(t.part) > 0 {
		lines = append(lines, string(t.part))
	}
	return strings.Join(lines, "\n")
}

// capWriter keeps up to max bytes and passes everything on.
type capWriter struct {
	max  int
	buf  bytes.Buffer
	next *tailWriter
}

func (c *capWriter) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return c.next.Write(p)
}
