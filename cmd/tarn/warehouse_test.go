package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWarehouseViaPsql runs the guide's Redshift script
// (examples/sales/sql/warehouse.sql) with the real psql against a real
// `tarn serve --pg-listen`, over the quickstart's lake, twice.
func TestWarehouseViaPsql(t *testing.T) {
	psql, err := exec.LookPath("psql")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("psql is not installed (.ci/run installs Debian's postgresql-client)")
		}
		t.Skip("psql is not installed")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "lake")
	ok(t, tarn(t, dir, "--data", data, "quickstart"))

	cmd := exec.Command(tarnBin, "--data", data, "serve", "--s3-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0", "--pg-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "TARN_ACCESS_KEY_ID="+pipeKeyID, "TARN_SECRET_ACCESS_KEY="+pipeSecret)
	withMeta(t, cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var seen, pgAddr string
	buf := make([]byte, 4096)
	deadline := time.Now().Add(30 * time.Second)
	for pgAddr == "" && time.Now().Before(deadline) {
		n, err := stdout.Read(buf)
		seen += string(buf[:n])
		if i := strings.Index(seen, "PostgreSQL endpoint on "); i >= 0 {
			if rest := seen[i+len("PostgreSQL endpoint on "):]; strings.Contains(rest, "\n") {
				pgAddr = rest[:strings.Index(rest, "\n")]
			}
		}
		if err != nil {
			break
		}
	}
	if pgAddr == "" {
		t.Fatalf("no PostgreSQL endpoint announced: %q %s", seen, stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	host, port, _ := strings.Cut(pgAddr, ":")
	run := func(password string, args ...string) (string, error) {
		c := exec.Command(psql, append([]string{"-X", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1",
			"host=" + host + " port=" + port + " user=" + pipeKeyID + " dbname=etl_pipeline_db sslmode=disable"}, args...)...)
		c.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=10")
		out, err := c.CombinedOutput()
		return string(out), err
	}
	script, _ := filepath.Abs("../../examples/sales/sql/warehouse.sql")
	for round := 1; round <= 2; round++ {
		out, err := run(pipeSecret, "-f", script)
		if err != nil {
			t.Fatalf("round %d: psql -f warehouse.sql: %v\n%s\n%s", round, err, out, stderr.String())
		}
		// The validation query: every region's raw count equals its loaded
		// count, and the materialized view counts the 1,000 rows.
		var raw, loaded, mv int
		regions := 0
		for _, line := range strings.Split(out, "\n") {
			f := strings.Split(strings.TrimSpace(line), "|")
			switch len(f) {
			case 3:
				r, err1 := strconv.Atoi(f[1])
				l, err2 := strconv.Atoi(f[2])
				if err1 == nil && err2 == nil {
					raw, loaded, regions = raw+r, loaded+l, regions+1
				}
			case 2:
				if n, err := strconv.Atoi(f[1]); err == nil {
					mv += n
				}
			}
		}
		if regions < 2 || raw != 1000 || loaded != 1000 || mv != 1000 {
			t.Fatalf("round %d: raw %d, loaded %d over %d regions, view %d; want 1000 each\n%s", round, raw, loaded, regions, mv, out)
		}
	}
	if out, err := run(pipeSecret, "-c", "SELECT count(*) FROM analytics.fact_sales WHERE loaded_at <= GETDATE() AND sale_id > 0"); err != nil || strings.TrimSpace(out) != "1000" {
		t.Fatalf("fact table: %v %q", err, out)
	}
	if out, err := run(pipeSecret, "-c", `\dt etl_pipeline_db.*`); err != nil || !strings.Contains(out, "sales") {
		t.Fatalf(`\dt: %v %q`, err, out)
	}
	// The warehouse's objects are listed too.
	if out, err := run(pipeSecret, "-c", `\dt analytics.*`); err != nil || !strings.Contains(out, "fact_sales") {
		t.Fatalf(`\dt analytics.*: %v %q`, err, out)
	}
	if out, err := run(pipeSecret, "-c", `\d analytics.fact_sales`); err != nil || !strings.Contains(out, "transaction_date") {
		t.Fatalf(`\d analytics.fact_sales: %v %q`, err, out)
	}
	if out, err := run("wrong-secret", "-c", "SELECT 1"); err == nil || !strings.Contains(out, "password authentication failed") {
		t.Fatalf("wrong password: %v %q", err, out)
	}
	// The statements are in the query history with the key.
	hist := ok(t, tarn(t, dir, "--data", data, "query", "history")).stdout
	if !strings.Contains(hist, "REFRESH MATERIALIZED VIEW") {
		t.Errorf("history lacks the script's statements:\n%s", hist)
	}
}
