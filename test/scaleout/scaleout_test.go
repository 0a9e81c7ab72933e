// Package scaleout is the failover test of several tarn servers on one
// lake (make test-scale-out; TARN_SCALE_OUT=1): versitygw as the S3 store,
// Debian's PostgreSQL as the metadata database, three `tarn serve`
// processes of the built binary with their own data folders. A workflow
// step runs on the leader, which is killed with SIGKILL mid-step: a new
// leader must take over within 10 s, the run must resume there and succeed
// once, and objects uploaded through the survivors meanwhile must each
// start exactly one run. Every wait polls with a deadline.
package scaleout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/client"
	"github.com/tarn-lake/tarn/internal/cluster"
	"github.com/tarn-lake/tarn/internal/events"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/storage"
	"github.com/tarn-lake/tarn/internal/storage/s3store/gatewaytest"
	"github.com/tarn-lake/tarn/internal/workflow"
)

func TestMain(m *testing.M) {
	if os.Getenv("TARN_SCALE_OUT") == "" {
		fmt.Println("skipped: set TARN_SCALE_OUT=1 (make test-scale-out)")
		os.Exit(0)
	}
	gatewaytest.Main(m)
}

// server is one `tarn serve` process.
type server struct {
	name, home string
	cmd        *exec.Cmd
	log        *bytes.Buffer
	api, s3    string
	done       chan struct{}
}

func (s *server) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// poll calls cond until it holds, failing the test at the deadline.
func poll(t *testing.T, what string, within time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (last error: %v)", what, within, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestFailover(t *testing.T) {
	ctx := context.Background()
	work := t.TempDir()
	bin := filepath.Join(work, "tarn")
	build := exec.Command("go", "build", "-o", bin, "github.com/tarn-lake/tarn/cmd/tarn")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	gw := gatewaytest.Need(t)
	bucket := gw.NewExternalBucket(t)
	storeURL := fmt.Sprintf("s3://%s/tarn/?endpoint=%s&region=us-east-1&path_style=true", bucket, url.QueryEscape(gw.Endpoint))
	dsn := metatest.NewPostgresDatabase(t)
	env := append(os.Environ(), "TARN_STORAGE="+storeURL, "TARN_META="+dsn,
		"TARN_STORAGE_ACCESS_KEY="+gatewaytest.Access, "TARN_STORAGE_SECRET_KEY="+gatewaytest.Secret)

	start := func(name string) *server {
		s := &server{name: name, home: filepath.Join(work, name), log: &bytes.Buffer{}, done: make(chan struct{})}
		s.cmd = exec.Command(bin, "--data", s.home, "serve", "--s3-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0", "--pg-listen", "127.0.0.1:0")
		s.cmd.Env = env
		s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = s.cmd.Wait(); close(s.done) }()
		t.Cleanup(func() {
			if s.alive() {
				_ = s.cmd.Process.Signal(syscall.SIGTERM)
				<-s.done
			}
			if t.Failed() {
				t.Logf("--- %s's log:\n%s", s.name, s.log.String())
			}
		})
		poll(t, name+" serves", 2*time.Minute, func() (bool, error) {
			if !s.alive() {
				t.Fatalf("%s exited:\n%s", name, s.log.String())
			}
			b, err := os.ReadFile(filepath.Join(s.home, "serve.json"))
			if err != nil {
				return false, err
			}
			var si struct{ API, S3 string }
			if err := json.Unmarshal(b, &si); err != nil {
				return false, err
			}
			s.api, s.s3 = si.API, si.S3
			return s.api != "" && s.s3 != "", nil
		})
		return s
	}
	// The first server makes the admin key; the others share it (one
	// metadata database).
	servers := []*server{start("one")}
	key, err := auth.ReadAdminKeyFile(servers[0].home)
	if err != nil {
		t.Fatal(err)
	}
	servers = append(servers, start("two"), start("three"))
	clients := map[string]*client.Client{}
	objects := map[string]*client.Objects{}
	for _, s := range servers {
		c, err := client.New(client.Config{API: s.api, S3: s.s3, Key: apitypes.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}})
		if err != nil {
			t.Fatal(err)
		}
		clients[s.name] = c
		if objects[s.name], err = c.Objects(); err != nil {
			t.Fatal(err)
		}
	}

	// The test reads the shared metadata itself, as any process may: the
	// leader, the runs, the events.
	db, err := meta.Open(ctx, meta.ConfigFor(dsn))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	view, err := cluster.New(ctx, db, cluster.Config{ID: "scale-out-test"})
	if err != nil {
		t.Fatal(err)
	}
	leader := func() (*server, error) {
		m, ok, err := view.Leader(ctx)
		if err != nil || !ok {
			return nil, err
		}
		for _, s := range servers {
			if m.API == s.api {
				return s, nil
			}
		}
		return nil, fmt.Errorf("leader %s is none of the servers", m.ID)
	}
	var lead *server
	poll(t, "a leader", 30*time.Second, func() (bool, error) {
		var err error
		lead, err = leader()
		return lead != nil, err
	})
	ms, err := view.Members(ctx)
	if err != nil || len(ms) != 3 {
		t.Fatalf("members: %+v %v", ms, err)
	}
	t.Logf("leader: %s (%s)", lead.name, lead.api)

	// The workflows, through the metadata (a lake opened without engine,
	// as a one-shot CLI command does).
	cfg := lake.DefaultConfig(filepath.Join(work, "admin"))
	cfg.Storage = lake.StorageConfig{URL: storeURL, AccessKey: gatewaytest.Access, SecretKey: gatewaytest.Secret}
	cfg.Meta = meta.ConfigFor(dsn)
	cfg.NoEngine, cfg.OneShot = true, true
	l, err := lake.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := objects["one"].CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	// A step that takes a few seconds of DuckDB work (no sleep in SQL).
	slowSQL := "SELECT sum(hash(i) % 7) AS n FROM range(600000000) t(i)"
	for _, w := range []workflow.Workflow{
		{Name: "slow", Steps: []workflow.Step{{Name: "crunch", SQL: slowSQL}}},
		{Name: "fast", MaxConcurrentRuns: 10, Steps: []workflow.Step{{Name: "count", SQL: "SELECT ${object_count} AS n"}}},
	} {
		if err := l.Workflows.CreateWorkflow(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	for _, tr := range []workflow.Trigger{
		{Name: "on_slow", Workflow: "slow", Prefix: "s3://lake/in/slow/", BatchSize: 1, Enabled: true},
		{Name: "on_fast", Workflow: "fast", Prefix: "s3://lake/in/fast/", BatchSize: 1, Enabled: true},
	} {
		if err := l.Workflows.CreateTrigger(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}

	// S3 PUT through each server, GET through each other; REST on each.
	for i, s := range servers {
		k := fmt.Sprintf("check/%s.txt", s.name)
		if _, err := objects[s.name].Put(ctx, "lake", k, strings.NewReader("via "+s.name), storage.PutOptions{}); err != nil {
			t.Fatalf("PUT through %s: %v", s.name, err)
		}
		other := servers[(i+1)%len(servers)]
		rc, _, err := objects[other.name].Get(ctx, "lake", k, nil)
		if err != nil {
			t.Fatalf("GET through %s of an object PUT through %s: %v", other.name, s.name, err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		if string(body) != "via "+s.name {
			t.Fatalf("GET through %s: %q", other.name, body)
		}
		if ws, err := clients[s.name].Workflows().ListWorkflows(ctx); err != nil || len(ws) != 2 {
			t.Fatalf("REST through %s: %d workflows, %v", s.name, len(ws), err)
		}
	}

	// An upload through a follower starts the slow run on the leader.
	var follower *server
	for _, s := range servers {
		if s != lead {
			follower = s
			break
		}
	}
	if _, err := objects[follower.name].Put(ctx, "lake", "in/slow/go.csv", strings.NewReader("a\n1\n"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	var run workflow.Run
	poll(t, "the slow run's step running", time.Minute, func() (bool, error) {
		rs, err := l.Workflows.Runs(ctx, "slow", 10)
		if err != nil || len(rs) == 0 {
			return false, err
		}
		if len(rs) > 1 {
			t.Fatalf("one upload started %d runs", len(rs))
		}
		run = rs[0]
		return run.State == workflow.RunRunning && len(run.Steps) == 1 && run.Steps[0].State == workflow.StepRunning, nil
	})

	// kill -9 the leader mid-step.
	var deadOwner string
	if ms, err := view.Members(ctx); err == nil {
		for _, m := range ms {
			if m.API == lead.api {
				deadOwner = m.Owner
			}
		}
	}
	if deadOwner == "" {
		t.Fatal("the leader is not among the members")
	}
	killed := time.Now()
	if err := lead.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-lead.done
	t.Logf("killed the leader %s mid-step of run %s", lead.name, run.ID)
	var live []*server
	for _, s := range servers {
		if s != lead {
			live = append(live, s)
		}
	}
	// Uploads during the failover, through the survivors.
	var fastKeys []string
	for i := range 4 {
		s := live[i%len(live)]
		k := fmt.Sprintf("in/fast/during-%d.csv", i)
		if _, err := objects[s.name].Put(ctx, "lake", k, strings.NewReader(fmt.Sprintf("n\n%d\n", i)), storage.PutOptions{}); err != nil {
			t.Fatalf("PUT during the failover through %s: %v", s.name, err)
		}
		fastKeys = append(fastKeys, k)
	}
	var next *server
	poll(t, "a new leader", 30*time.Second, func() (bool, error) {
		var err error
		next, err = leader()
		return next != nil && next != lead, err
	})
	failover := time.Since(killed)
	t.Logf("FAILOVER: new leader %s %.1f s after kill -9 of the leader", next.name, failover.Seconds())
	fmt.Printf("scale-out: failover to a new leader took %.1f s\n", failover.Seconds())
	if failover > 10*time.Second {
		t.Errorf("the failover took %s, more than 10 s", failover)
	}
	// More uploads once the new leader leads.
	for i := range 2 {
		s := live[i%len(live)]
		k := fmt.Sprintf("in/fast/after-%d.csv", i)
		if _, err := objects[s.name].Put(ctx, "lake", k, strings.NewReader("n\n9\n"), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		fastKeys = append(fastKeys, k)
	}

	// The slow run resumes on the new leader and succeeds, once.
	poll(t, "the slow run to end", 3*time.Minute, func() (bool, error) {
		r, err := l.Workflows.GetRun(ctx, run.ID)
		if err != nil {
			return false, err
		}
		run = r
		return r.State != workflow.RunQueued && r.State != workflow.RunRunning, nil
	})
	if run.State != workflow.RunSucceeded || run.Steps[0].State != workflow.StepSucceeded || run.Steps[0].Attempt != 2 {
		t.Fatalf("the slow run after the failover: %s, step %+v", run.State, run.Steps)
	}
	if rs, err := l.Workflows.Runs(ctx, "slow", 10); err != nil || len(rs) != 1 {
		t.Fatalf("slow runs: %d %v", len(rs), err)
	}
	// The dead leader's query execution (the step's statement) is ended
	// by the new leader, as a restart would.
	poll(t, "the dead leader's queries to be recovered", time.Minute, func() (bool, error) {
		var n int
		err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM query_executions WHERE state IN ('QUEUED', 'RUNNING') AND owner = ?`, deadOwner).Scan(&n)
		return err == nil && n == 0, err
	})
	// Read through the REST API of each survivor.
	for _, s := range live {
		r, err := clients[s.name].Workflows().GetRun(ctx, run.ID)
		if err != nil || r.State != workflow.RunSucceeded {
			t.Fatalf("REST through %s: %+v %v", s.name, r, err)
		}
	}

	// Each upload made around the failover started exactly one run, and it
	// succeeded.
	poll(t, "one fast run per upload", 2*time.Minute, func() (bool, error) {
		rs, err := l.Workflows.Runs(ctx, "fast", 100)
		if err != nil {
			return false, err
		}
		if len(rs) > len(fastKeys) {
			t.Fatalf("%d uploads started %d runs", len(fastKeys), len(rs))
		}
		if len(rs) < len(fastKeys) {
			return false, nil
		}
		for _, r := range rs {
			if r.State != workflow.RunSucceeded {
				return false, fmt.Errorf("run %s %s", r.ID, r.State)
			}
		}
		return true, nil
	})
	evs, err := l.Events.List(ctx, eventsUnder("lake", "in/fast/"))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(fastKeys) {
		t.Fatalf("%d events for %d uploads", len(evs), len(fastKeys))
	}
	for _, e := range evs {
		if len(e.Deliveries) != 1 || e.Deliveries[0].Trigger != "on_fast" {
			t.Errorf("event %d (%s) deliveries %+v", e.ID, e.Key, e.Deliveries)
		}
	}
	// The survivors still serve S3 both ways.
	for i, s := range live {
		other := live[(i+1)%len(live)]
		k := "check/after-" + s.name
		if _, err := objects[s.name].Put(ctx, "lake", k, strings.NewReader("x"), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := objects[other.name].Head(ctx, "lake", k); err != nil {
			t.Fatalf("HEAD through %s: %v", other.name, err)
		}
	}
	// A paused leader (SIGSTOP: its process lives on, as one on another
	// host would seem) loses the lease once its heartbeat is seen
	// unchanged for the TTL; its run is recovered by the new leader, and
	// once resumed it cannot act: the lease's epoch fences it.
	paused := next
	if _, err := objects[live[0].name].Put(ctx, "lake", "in/slow/again.csv", strings.NewReader("a\n2\n"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	var run2 workflow.Run
	poll(t, "the second slow run's step running", time.Minute, func() (bool, error) {
		rs, err := l.Workflows.Runs(ctx, "slow", 10)
		if err != nil || len(rs) < 2 {
			return false, err
		}
		if len(rs) > 2 {
			t.Fatalf("one upload started %d runs", len(rs)-1)
		}
		run2 = rs[0]
		return run2.State == workflow.RunRunning && run2.Steps[0].State == workflow.StepRunning, nil
	})
	if err := paused.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	resumed := false
	defer func() {
		if !resumed {
			_ = paused.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	var third *server
	for _, s := range live {
		if s != paused {
			third = s
		}
	}
	if _, err := objects[third.name].Put(ctx, "lake", "in/fast/paused-0.csv", strings.NewReader("n\n7\n"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	fastKeys = append(fastKeys, "in/fast/paused-0.csv")
	var after *server
	poll(t, "a leader after the pause", 30*time.Second, func() (bool, error) {
		var err error
		after, err = leader()
		return after != nil && after != paused, err
	})
	pauseFailover := time.Since(stopped)
	t.Logf("FAILOVER: new leader %s %.1f s after SIGSTOP of the leader (heartbeat expiry)", after.name, pauseFailover.Seconds())
	fmt.Printf("scale-out: failover from a paused leader (lease expiry) took %.1f s\n", pauseFailover.Seconds())
	if pauseFailover > 10*time.Second {
		t.Errorf("the failover from a paused leader took %s, more than 10 s", pauseFailover)
	}
	poll(t, "the second slow run to end on the new leader", 3*time.Minute, func() (bool, error) {
		r, err := l.Workflows.GetRun(ctx, run2.ID)
		run2 = r
		return err == nil && r.State != workflow.RunQueued && r.State != workflow.RunRunning, err
	})
	if run2.State != workflow.RunSucceeded || run2.Steps[0].Attempt != 2 {
		t.Fatalf("the second slow run: %s, step %+v", run2.State, run2.Steps)
	}
	// Resumed, the old leader finds the lease gone and steps down; its
	// step's late outcome is not recorded over the run's.
	if err := paused.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	poll(t, "the resumed server to step down", time.Minute, func() (bool, error) {
		return strings.Contains(paused.log.String(), "lost the leader lease"), nil
	})
	if lead, err := leader(); err != nil || lead != after {
		t.Fatalf("leader after the old one resumed: %v %v", lead, err)
	}
	if r, err := l.Workflows.GetRun(ctx, run2.ID); err != nil || r.State != workflow.RunSucceeded || r.Steps[0].Attempt != 2 {
		t.Fatalf("the second slow run after the old leader resumed: %+v %v", r, err)
	}
	if rs, err := l.Workflows.Runs(ctx, "slow", 10); err != nil || len(rs) != 2 {
		t.Fatalf("slow runs: %d %v", len(rs), err)
	}
	poll(t, "one fast run per upload, the pause included", 2*time.Minute, func() (bool, error) {
		rs, err := l.Workflows.Runs(ctx, "fast", 100)
		if err != nil {
			return false, err
		}
		if len(rs) > len(fastKeys) {
			t.Fatalf("%d uploads started %d runs", len(fastKeys), len(rs))
		}
		for _, r := range rs {
			if r.State != workflow.RunSucceeded {
				return false, nil
			}
		}
		return len(rs) == len(fastKeys), nil
	})

}

func eventsUnder(bucket, prefix string) events.ListOptions {
	return events.ListOptions{Prefix: storage.URI{Bucket: bucket, Key: prefix}, Limit: 1000}
}
