package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	osexec "os/exec"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
)

// benchLoad is the trust issue's mixed load against a real `tarn serve`:
// REST query clients, pgwire query clients, S3 uploaders and an overwrite
// job looping on the table the readers read, all at once for d. Every read
// is checked: a wrong answer or a failed read is counted, never retried.
// REST latency under load is compared with the same client alone.
func benchLoad(work string, d time.Duration, restClients, pgClients, uploaders int) []figure {
	ctx := context.Background()
	lb := &loadBench{work: filepath.Join(work, "load")}
	check(os.MkdirAll(lb.work, 0o755))
	lb.start()
	defer lb.stop()

	// The looping job rewrites curated_db.loop from the quickstart's sales:
	// every version of the table has the same rows, so a reader that sees
	// anything else saw a torn or half-deleted table.
	const want = "1000"
	lb.cli("job", "create", "loop", "--sql", "SELECT * FROM etl_pipeline_db.sales", "--target", "s3://lake/curated/loop/",
		"--mode", "overwrite", "--table", "curated_db.loop")
	lb.cli("job", "start", "loop")
	const q = "SELECT count(*) FROM curated_db.loop"

	// The baseline: the same REST clients with nothing else running. The
	// goal is about starvation: adding pgwire readers, uploads and a job
	// must not push the REST clients' latency past 3x their own.
	restOnly := func(d time.Duration) []time.Duration {
		var mu sync.Mutex
		var lats []time.Duration
		bctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		var wg sync.WaitGroup
		for range restClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for bctx.Err() == nil {
					lat, got, err := lb.restQuery(bctx, q)
					if bctx.Err() != nil {
						return
					}
					check(err)
					if got != want {
						check(fmt.Errorf("REST read %s rows with no other load, want %s", got, want))
					}
					mu.Lock()
					lats = append(lats, lat)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return lats
	}
	alone := restOnly(min(d, 20*time.Second))

	var (
		wrong, failed, reads, uploads, jobRuns, jobFails atomic.Int64
		mu                                               sync.Mutex
		loaded                                           []time.Duration
		firstErr                                         atomic.Value
	)
	note := func(err error) {
		failed.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	lctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for range restClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lctx.Err() == nil {
				lat, got, err := lb.restQuery(lctx, q)
				if lctx.Err() != nil {
					return
				}
				reads.Add(1)
				switch {
				case err != nil:
					note(err)
				case got != want:
					wrong.Add(1)
				default:
					mu.Lock()
					loaded = append(loaded, lat)
					mu.Unlock()
				}
			}
		}()
	}
	for range pgClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(lctx, lb.pgURL)
			if err != nil {
				note(err)
				return
			}
			defer conn.Close(context.Background())
			for lctx.Err() == nil {
				var n int64
				err := conn.QueryRow(lctx, q).Scan(&n)
				if lctx.Err() != nil {
					return
				}
				reads.Add(1)
				switch {
				case err != nil:
					note(err)
				case fmt.Sprint(n) != want:
					wrong.Add(1)
				}
			}
		}()
	}
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	for u := range uploaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; lctx.Err() == nil; i++ {
				_, err := lb.s3.PutObject(lctx, &s3.PutObjectInput{Bucket: aws.String("lake"),
					Key: aws.String(fmt.Sprintf("uploads/u%d/%d.bin", u, i)), Body: bytes.NewReader(body)})
				if lctx.Err() != nil {
					return
				}
				if err != nil {
					note(err)
					continue
				}
				uploads.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for lctx.Err() == nil {
			state, err := lb.runJob(lctx, "loop")
			if lctx.Err() != nil {
				return
			}
			jobRuns.Add(1)
			if err != nil || state != "SUCCEEDED" {
				jobFails.Add(1)
				if err == nil {
					err = fmt.Errorf("job run ended %s", state)
				}
				note(err)
			}
		}
	}()
	wg.Wait()

	p99a, p99l := percentile(alone, 0.99), percentile(loaded, 0.99)
	errNote := ""
	if v := firstErr.Load(); v != nil {
		errNote = "; first failure: " + strings.ReplaceAll(v.(string), "|", "/")
	}
	return []figure{{
		name:  fmt.Sprintf("mixed load %s: %d REST + %d pgwire query clients, %d uploaders, a looping overwrite job", d, restClients, pgClients, uploaders),
		tarn:  fmt.Sprintf("REST p50 %s, p99 %s", median(loaded).Round(100*time.Microsecond), p99l.Round(100*time.Microsecond)),
		base:  fmt.Sprintf("REST alone p50 %s, p99 %s", median(alone).Round(100*time.Microsecond), p99a.Round(100*time.Microsecond)),
		ratio: fmt.Sprintf("%.1f (p99)", float64(p99l)/float64(p99a)),
		goal:  "p99 ≤ 3×; 0 wrong, 0 failed",
		note: fmt.Sprintf("%d reads checked (%d REST): %d wrong, %d failed; %d uploads (64 KiB); %d job runs (%d failed)%s",
			reads.Load(), len(loaded), wrong.Load(), failed.Load(), uploads.Load(), jobRuns.Load(), jobFails.Load(), errNote),
	}}
}

type loadBench struct {
	work, bin, data string
	api, pgURL      string
	token           string
	srv             *osexec.Cmd
	done            chan struct{}
	s3              *s3.Client
	hc              *http.Client
}

func (lb *loadBench) cli(args ...string) string {
	cmd := osexec.Command(lb.bin, append([]string{"--data", lb.data}, args...)...)
	cmd.Env = append(os.Environ(), "TARN_ACCESS_KEY_ID="+s3KeyID, "TARN_SECRET_ACCESS_KEY="+s3Secret)
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*osexec.ExitError); ok {
			err = fmt.Errorf("tarn %s: %v: %s", strings.Join(args, " "), err, ee.Stderr)
		}
		check(err)
	}
	return string(out)
}

func freePort() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer ln.Close()
	return ln.Addr().String()
}

func (lb *loadBench) start() {
	lb.bin = filepath.Join(lb.work, "tarn")
	lb.data = filepath.Join(lb.work, "home")
	build := osexec.Command("go", "build", "-o", lb.bin, "./cmd/tarn")
	build.Stderr = os.Stderr
	check(build.Run())
	lb.cli("quickstart")
	pg := freePort()
	cmd := osexec.Command(lb.bin, "--data", lb.data, "serve", "--s3-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0", "--pg-listen", pg)
	cmd.Env = append(os.Environ(), "TARN_ACCESS_KEY_ID="+s3KeyID, "TARN_SECRET_ACCESS_KEY="+s3Secret)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	lb.srv, lb.done = cmd, make(chan struct{})
	found := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var s3URL, api string
		for sc.Scan() {
			line := sc.Text()
			if u, ok := strings.CutPrefix(line, "S3 endpoint on "); ok {
				s3URL = u
			}
			if u, ok := strings.CutPrefix(line, "REST API on "); ok {
				api, _, _ = strings.Cut(u, " ")
			}
			if s3URL != "" && api != "" {
				found <- [2]string{s3URL, api}
				s3URL = ""
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(lb.done)
	}()
	var urls [2]string
	select {
	case urls = <-found:
	case <-lb.done:
		check(fmt.Errorf("tarn serve exited before printing its endpoints"))
	case <-time.After(60 * time.Second):
		check(fmt.Errorf("tarn serve printed no endpoints in 60 s"))
	}
	lb.api = urls[1]
	lb.pgURL = fmt.Sprintf("postgres://%s:%s@%s/etl_pipeline_db?sslmode=disable", s3KeyID, s3Secret, pg)
	lb.token = strings.TrimSpace(lb.cli("keys", "token", s3KeyID))
	lb.hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	lb.s3 = s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(urls[0]), UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: s3KeyID, SecretAccessKey: s3Secret}, nil
		}),
		Retryer:                    aws.NopRetryer{},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
}

func (lb *loadBench) stop() {
	_ = lb.srv.Process.Signal(os.Interrupt)
	select {
	case <-lb.done:
	case <-time.After(30 * time.Second):
		_ = lb.srv.Process.Kill()
		<-lb.done
	}
}

// call makes one REST request and decodes the JSON answer into out.
func (lb *loadBench) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, lb.api+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+lb.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := lb.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// restQuery runs a one-value query as a REST client does (start, poll,
// results) and returns its latency and the value.
func (lb *loadBench) restQuery(ctx context.Context, sql string) (time.Duration, string, error) {
	start := time.Now()
	var started struct {
		ID string `json:"id"`
	}
	if err := lb.call(ctx, "POST", "/api/v1/queries", map[string]string{"sql": sql}, &started); err != nil {
		return 0, "", err
	}
	for {
		// A long-poll: the server answers when the query has ended (or
		// after 10 s, when the client asks again).
		var ex map[string]any
		if err := lb.call(ctx, "GET", "/api/v1/queries/"+started.ID+"?wait=10", nil, &ex); err != nil {
			return 0, "", err
		}
		state := fmt.Sprint(ex["State"], ex["state"])
		switch {
		case strings.Contains(state, "SUCCEEDED"):
			var res map[string]any
			if err := lb.call(ctx, "GET", "/api/v1/queries/"+started.ID+"/results", nil, &res); err != nil {
				return 0, "", err
			}
			return time.Since(start), firstValue(res), nil
		case strings.Contains(state, "FAILED"), strings.Contains(state, "CANCELLED"):
			return 0, "", fmt.Errorf("query %s: %v", state, ex)
		}
	}
}

// firstValue digs the first row's first value out of a results page,
// whatever its exact shape (rows as arrays of values or of strings).
func firstValue(res map[string]any) string {
	for _, k := range []string{"rows", "Rows"} {
		if rows, ok := res[k].([]any); ok && len(rows) > 0 {
			if row, ok := rows[0].([]any); ok && len(row) > 0 {
				return strings.Trim(fmt.Sprint(row[0]), `"`)
			}
		}
	}
	return fmt.Sprint(res)
}

// runJob starts a job run through the REST API and waits for its end.
func (lb *loadBench) runJob(ctx context.Context, name string) (string, error) {
	var started struct {
		ID string `json:"id"`
	}
	if err := lb.call(ctx, "POST", "/api/v1/jobs/"+name+"/start", map[string]any{}, &started); err != nil {
		return "", err
	}
	for {
		var run map[string]any
		if err := lb.call(ctx, "GET", "/api/v1/job-runs/"+started.ID, nil, &run); err != nil {
			return "", err
		}
		state := strings.Trim(fmt.Sprint(run["state"]), `"`)
		if state == "<nil>" {
			state = fmt.Sprint(run["State"])
		}
		switch state {
		case "SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT":
			return state, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
