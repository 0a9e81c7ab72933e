package jobs_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/storage"
)

// TestIcebergKillChild is the process TestIcebergJobKilled kills: it runs
// the job "ice" of the lake in $TARN_TEST_LAKE.
func TestIcebergKillChild(t *testing.T) {
	dir := os.Getenv("TARN_TEST_LAKE")
	if dir == "" {
		t.Skip("run by TestIcebergJobKilled")
	}
	l, err := lake.Open(context.Background(), lakeConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Jobs.Start(context.Background(), "ice", jobs.StartOptions{})
	t.Fatalf("the run was not killed: %v", err)
}

// TestIcebergJobKilled kills a merge job's process at each point of its
// commit (SIGKILL, as a crash): before the commit the table and the
// bookmark are as they were and the next run merges everything once; after
// it, both moved and the next run has nothing new. No row is lost or
// merged twice.
func TestIcebergJobKilled(t *testing.T) {
	for _, point := range []string{"job-iceberg-written", "job-iceberg-commit", "job-iceberg-committed"} {
		t.Run(point, func(t *testing.T) {
			dir := t.TempDir()
			e := newIcebergEnvIn(t, dir)
			e.sql(`INSERT INTO cur.sales VALUES (1, 1, 'North')`)
			e.put("raw/sales/a.csv", "id,amount,region,day\n1,10,North,2025-01-01\n2,20,South,2025-01-02\n")
			e.create(jobs.Spec{Name: "ice", SQL: "SELECT id, amount, region FROM raw_db.sales", Target: "iceberg://cur.sales",
				Mode: jobs.ModeMerge, MergeKey: []string{"id"}, Bookmarks: true})
			e.l.Close()

			cmd := exec.Command(os.Args[0], "-test.run=^TestIcebergKillChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "TARN_TEST_LAKE="+dir, "TARN_TEST_KILL_AT="+point)
			cmd.Env = append(cmd.Env, childMetaEnv(dir)...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the run was not killed at %s: %v\n%s", point, err, out)
			}

			l, err := lake.Open(e.ctx, lakeConfig(t, dir))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			e.l = l
			committed := point == "job-iceberg-committed"
			marks, err := l.Jobs.Bookmarks(e.ctx, "ice")
			if err != nil {
				t.Fatal(err)
			}
			got := e.rows(salesRows)
			switch {
			case committed:
				if got != "1|10|North, 2|20|South" || len(marks) != 1 {
					t.Fatalf("killed after the commit: rows %s, %d bookmarks", got, len(marks))
				}
			default:
				if got != "1|1|North" || len(marks) != 0 {
					t.Fatalf("killed before the commit: rows %s, %d bookmarks", got, len(marks))
				}
			}
			runs, err := l.Jobs.Runs(e.ctx, "ice")
			if err != nil || len(runs) != 1 {
				t.Fatalf("runs %v %v", runs, err)
			}
			if want := map[bool]string{true: jobs.StateSucceeded, false: jobs.StateFailed}[committed]; runs[0].State != want {
				t.Errorf("the killed run is %s, want %s", runs[0].State, want)
			}

			// A run that did not commit leaves no data file behind.
			var left []string
			for o, err := range storage.Walk(e.ctx, l.Store, "lake", "ice/sales/data/") {
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(o.Key, runs[0].ID) {
					left = append(left, o.Key)
				}
			}
			if committed != (len(left) > 0) {
				t.Errorf("files of the killed run left: %v", left)
			}

			e.put("raw/sales/b.csv", "id,amount,region,day\n3,30,West,2025-01-03\n")
			e.start("ice", nil)
			if got := e.rows(salesRows); got != "1|10|North, 2|20|South, 3|30|West" {
				t.Fatalf("after the next run: %s", got)
			}
			if r := e.start("ice", nil); r.Stats.FilesRead != 0 || r.Stats.SnapshotID != 0 {
				t.Errorf("a run with nothing new: %+v", r.Stats)
			}
			if got := e.one("SELECT count(*) - count(DISTINCT id) FROM cur.sales"); got != "0" {
				t.Errorf("%s rows merged twice", got)
			}
		})
	}
}
