package s3api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/tarn-lake/tarn/internal/auth"
)

// cliResult is what one aws CLI command line did.
type cliResult struct {
	RC  int    `json:"rc"`
	Out string `json:"out"`
	Err string `json:"err"`
}

// awsWorkerScript runs aws CLI command lines, one per request line, in one
// Python process: it calls the CLI's own driver, as /usr/bin/aws does, with
// a fresh driver and the request's environment each time. Starting the CLI
// costs about a second of CPU, so a process per command line made this
// package's tests take minutes; with the service models read once, a
// command line costs a few tens of milliseconds. Answers go to fd 3 so that nothing the CLI
// prints can be taken for one.
const awsWorkerScript = `
import sys, os, json, io, contextlib, traceback
if os.environ.get('LC_CTYPE', '') == 'UTF-8':
    os.environ['LC_CTYPE'] = 'en_US.UTF-8'
import awscli.clidriver
import botocore.loaders, botocore.session
# Each driver would read the CLI's service models again (a tenth of a second
# per command line); they are the CLI's read-only data files, so one loader
# serves every driver.
loaders = {}
def create_loader(search_path_string=None, _create=botocore.loaders.create_loader):
    if search_path_string not in loaders:
        loaders[search_path_string] = _create(search_path_string)
    return loaders[search_path_string]
botocore.loaders.create_loader = botocore.session.create_loader = create_loader
answers = os.fdopen(3, 'w')
base = dict(os.environ)
for line in sys.stdin:
    req = json.loads(line)
    os.environ.clear()
    os.environ.update(base)
    os.environ.update(req["env"])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = awscli.clidriver.create_clidriver().main(req["args"])
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
        except BaseException:
            traceback.print_exc()
            rc = 255
    answers.write(json.dumps({"rc": rc, "out": out.getvalue(), "err": err.getvalue()}) + "\n")
    answers.flush()
`

// awsWorker is one Python process running awsWorkerScript.
type awsWorker struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	answers *bufio.Reader
}

// The workers are shared by the package's tests, one per CPU, since the
// CLI's work is Python CPU time; a test takes one for each command line.
var (
	awsWorkersOnce sync.Once
	awsWorkers     chan *awsWorker
	awsWorkersErr  error
	awsPython      []string
)

// awsPythonArgv is the interpreter of the CLI's script, which has the
// CLI's modules.
func awsPythonArgv(t *testing.T) []string {
	t.Helper()
	bin := awsBin(t)
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(f).ReadString('\n')
	f.Close()
	python, ok := strings.CutPrefix(strings.TrimSpace(line), "#!")
	if !ok {
		t.Skipf("%s is not a Python script; cannot run its driver in one process", bin)
	}
	return strings.Fields(python)
}

func startAWSWorker(python []string) (*awsWorker, error) {
	cmd := exec.Command(python[0], append(python[1:], "-c", awsWorkerScript)...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	w.Close()
	return &awsWorker{cmd: cmd, in: in, answers: bufio.NewReader(r)}, nil
}

func getAWSWorker(t *testing.T) *awsWorker {
	t.Helper()
	python := awsPythonArgv(t)
	awsWorkersOnce.Do(func() {
		n := max(runtime.GOMAXPROCS(0), 1)
		awsWorkers = make(chan *awsWorker, n)
		for range n {
			w, err := startAWSWorker(python)
			if err != nil {
				awsWorkersErr = err
				return
			}
			awsWorkers <- w
		}
		awsPython = python
	})
	if awsWorkersErr != nil {
		t.Fatalf("aws CLI worker: %v", awsWorkersErr)
	}
	return <-awsWorkers
}

// run has the worker run one command line.
func (w *awsWorker) run(args []string, env map[string]string) (cliResult, error) {
	req, _ := json.Marshal(map[string]any{"args": args, "env": env})
	if _, err := w.in.Write(append(req, '\n')); err != nil {
		return cliResult{}, err
	}
	line, err := w.answers.ReadBytes('\n')
	if err != nil {
		return cliResult{}, fmt.Errorf("the worker stopped: %w", err)
	}
	var res cliResult
	err = json.Unmarshal(line, &res)
	return res, err
}

// awsEnv is the environment the CLI runs with for key k: nothing from the
// user's own configuration.
func (e *env) awsEnv(k auth.Key) map[string]string {
	dir := e.t.TempDir()
	cfgFile := filepath.Join(dir, "config")
	os.WriteFile(cfgFile, []byte("[default]\nregion = us-east-1\n"), 0o600)
	return map[string]string{
		"AWS_ACCESS_KEY_ID": k.AccessKeyID, "AWS_SECRET_ACCESS_KEY": k.SecretAccessKey,
		"AWS_CONFIG_FILE": cfgFile, "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": "", "AWS_DEFAULT_REGION": "us-east-1",
	}
}

// awsBatch runs the aws CLI command lines (each with --endpoint-url added)
// with key k, in order, and returns what each did.
func (e *env) awsBatch(k auth.Key, cmds ...[]string) []cliResult {
	e.t.Helper()
	w := getAWSWorker(e.t)
	env := e.awsEnv(k)
	var res []cliResult
	var err error
	for _, c := range cmds {
		var r cliResult
		if r, err = w.run(append([]string{"--endpoint-url", e.url}, c...), env); err != nil {
			break
		}
		res = append(res, r)
	}
	if err != nil {
		// The worker's state is unknown: a new one takes its place.
		w.in.Close()
		w.cmd.Wait()
		nw, serr := startAWSWorker(awsPython)
		if serr != nil {
			nw = w // fails its next command line, which tries again
		}
		awsWorkers <- nw
		e.t.Fatalf("aws CLI worker: %v", err)
	}
	awsWorkers <- w
	return res
}
