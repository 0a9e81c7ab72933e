package s3api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tarn-lake/tarn/internal/auth"
)

// cliResult is what one aws CLI command line did.
type cliResult struct {
	RC  int    `json:"rc"`
	Out string `json:"out"`
	Err string `json:"err"`
}

// awsBatchScript runs several aws CLI command lines in one Python process
// (the CLI's start costs about half a second): it calls the CLI's own
// driver, as /usr/bin/aws does, once per command line.
const awsBatchScript = `
import sys, json, io, contextlib
import awscli.clidriver
res = []
for args in json.load(sys.stdin):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = awscli.clidriver.create_clidriver().main(args)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
    res.append({"rc": rc, "out": out.getvalue(), "err": err.getvalue()})
json.dump(res, sys.__stdout__)
`

// awsBatch runs the aws CLI command lines (each with --endpoint-url added)
// with key k in one process and returns what each did.
func (e *env) awsBatch(k auth.Key, cmds ...[]string) []cliResult {
	e.t.Helper()
	bin := awsBin(e.t)
	// The interpreter is the one of the CLI's script.
	f, err := os.Open(bin)
	if err != nil {
		e.t.Fatal(err)
	}
	line, _ := bufio.NewReader(f).ReadString('\n')
	f.Close()
	python, ok := strings.CutPrefix(strings.TrimSpace(line), "#!")
	if !ok {
		e.t.Skipf("%s is not a Python script; cannot batch its commands", bin)
	}
	dir := e.t.TempDir()
	cfgFile := filepath.Join(dir, "config")
	os.WriteFile(cfgFile, []byte("[default]\nregion = us-east-1\n"), 0o600)
	script := filepath.Join(dir, "batch.py")
	os.WriteFile(script, []byte(awsBatchScript), 0o600)
	var in [][]string
	for _, c := range cmds {
		in = append(in, append([]string{"--endpoint-url", e.url}, c...))
	}
	data, _ := json.Marshal(in)
	argv := strings.Fields(python)
	cmd := exec.Command(argv[0], append(argv[1:], script)...)
	cmd.Env = append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+k.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+k.SecretAccessKey,
		"AWS_CONFIG_FILE="+cfgFile, "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", "AWS_DEFAULT_REGION=us-east-1")
	cmd.Stdin = bytes.NewReader(data)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("aws CLI batch: %v\n%s", err, errb.String())
	}
	var res []cliResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res) != len(cmds) {
		e.t.Fatalf("aws CLI batch output: %v\n%s\n%s", err, out.String(), errb.String())
	}
	return res
}
