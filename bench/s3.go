package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
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
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3 benchmark settings: large objects go up in 64 MiB parts, 4 at a time,
// and come down in 64 MiB ranges, 4 at a time (what the aws CLI and the
// SDKs' transfer managers do); small objects are 4 KiB, 16 clients, for a
// fixed time each.
const (
	s3PartSize    = 64 << 20
	s3Parallel    = 4
	s3SmallSize   = 4 << 10
	s3SmallConc   = 16
	s3SmallPeriod = 5 * time.Second
	s3Bucket      = "bench"
	s3KeyID       = "BENCHADMIN"
	s3Secret      = "bench-secret-key-0123456789"
	// s3CopyBuf is the read size of downloads, on both sides: io.Copy
	// would read 8 KiB at a time into io.Discard (its ReadFrom) and 32 KiB
	// into a file, which measured the syscall rate of the client, not the
	// server. Transfer tools read in large blocks.
	s3CopyBuf = 1 << 20
)

// discard is io.Discard without its ReadFrom, so that io.CopyBuffer uses
// the buffer given.
var discard = struct{ io.Writer }{io.Discard}

// s3Server is one S3 server process under test, with its client.
type s3Server struct {
	name string
	srv  *osexec.Cmd
	done chan struct{} // closed when srv has exited
	c    *s3.Client
}

func (s *s3Server) stop() {
	if s == nil || s.srv == nil || s.srv.Process == nil {
		return
	}
	_ = s.srv.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.srv.Process.Kill()
		<-s.done
	}
	s.srv = nil
}

// s3Bench is one run of the S3 benchmark: tarn serve and versitygw's POSIX
// gateway, each a real server process on loopback with its data in the
// work folder (one disk), driven by the same client settings.
type s3Bench struct {
	work      string
	tarn, vgw *s3Server
}

// servers returns both servers, in an order that alternates with rep so
// that neither always runs on the cache the other just warmed or dirtied.
func (b *s3Bench) servers(rep int) []*s3Server {
	if rep%2 == 1 {
		return []*s3Server{b.vgw, b.tarn}
	}
	return []*s3Server{b.tarn, b.vgw}
}

// must stops the servers before failing, so that no server process
// outlives the benchmark.
func (b *s3Bench) must(err error) {
	if err != nil {
		b.stop()
		check(err)
	}
}

func (b *s3Bench) stop() {
	b.tarn.stop()
	b.vgw.stop()
}

// benchS3 compares tarn's S3 endpoint (the tarn binary, `tarn serve`) with
// versitygw's POSIX gateway (a Go S3 gateway storing objects as files, its
// metadata in xattrs) on the same disk, with the same aws-sdk-go-v2 client
// settings and credentials, the same operations alternating between them.
func benchS3(dir string, sizeMiB, reps, listKeys int) []figure {
	ctx := context.Background()
	work := filepath.Join(dir, "s3")
	check(os.MkdirAll(work, 0o755))
	defer os.RemoveAll(work)
	b := &s3Bench{work: work}
	defer b.stop()
	b.startTarn()
	b.startVersity()
	fmt.Fprintf(os.Stderr, "bench: S3 benchmark against tarn serve (pid %d) and versitygw posix (pid %d)\n",
		b.tarn.srv.Process.Pid, b.vgw.srv.Process.Pid)
	for _, s := range b.servers(0) {
		_, err := s.c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s3Bucket)})
		b.must(err)
	}

	var figs []figure
	if sizeMiB > 0 {
		figs = append(figs, b.large(ctx, int64(sizeMiB)<<20, reps)...)
	}
	figs = append(figs, b.small(ctx)...)
	if listKeys > 0 {
		figs = append(figs, b.list(ctx, listKeys, reps)...)
	}
	return figs
}

// s3Client is the client of both servers: path-style, no retries.
func s3Client(url string) *s3.Client {
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = 4 * s3SmallConc
		t.MaxIdleConnsPerHost = 4 * s3SmallConc
	})
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: s3KeyID, SecretAccessKey: s3Secret}, nil
		}),
		HTTPClient: hc,
		Retryer:    aws.NopRetryer{}, // an error fails the benchmark, it is not hidden by a retry
		// Sign headers only, as clients do over HTTPS: hashing the payload on
		// the client would measure the client's CPU (the servers still
		// compute the MD5 ETag of every byte). No extra CRC either.
		// (UNSIGNED-PAYLOAD, set by the API option below.)
		RequestChecksumCalculation:                aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation:                aws.ResponseChecksumValidationWhenRequired,
		DisableLogOutputChecksumValidationSkipped: true,
	}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
}

// startTarn builds the tarn binary and runs `tarn serve` on free loopback
// ports with a fixed admin key, its data in the work folder.
func (b *s3Bench) startTarn() { b.startTarnArgs("home") }

// versitygwBin finds versitygw v1.8.0 as .ci/s3-suite.sh installs it
// ($VERSITYGW or GOPATH/bin), and installs it there the same way if it is
// missing.
func versitygwBin() (string, error) {
	if p := os.Getenv("VERSITYGW"); p != "" {
		return p, nil
	}
	gopath, err := osexec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOPATH: %w", err)
	}
	bin := filepath.Join(strings.TrimSpace(string(gopath)), "bin")
	p := filepath.Join(bin, "versitygw")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	fmt.Fprintf(os.Stderr, "bench: installing versitygw v1.8.0 into %s\n", bin)
	inst := osexec.Command("go", "install", "github.com/versity/versitygw/cmd/versitygw@v1.8.0")
	inst.Env = append(os.Environ(), "GOBIN="+bin)
	inst.Stdout, inst.Stderr = os.Stderr, os.Stderr
	if err := inst.Run(); err != nil {
		return "", fmt.Errorf("installing versitygw (set VERSITYGW to a versitygw v1.8.0 binary to skip this): %w", err)
	}
	return p, nil
}

// startVersity runs versitygw's POSIX gateway on a free loopback port with
// tarn's credentials, its root folder next to tarn's data. Keep-alive is
// on, as tarn's is: without it every request of the 16 clients would pay a
// new TCP connection.
func (b *s3Bench) startVersity() {
	bin, err := versitygwBin()
	b.must(err)
	root := filepath.Join(b.work, "versitygw")
	b.must(os.MkdirAll(root, 0o755))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	b.must(err)
	addr := l.Addr().String()
	b.must(l.Close())
	cmd := osexec.Command(bin, "--access", s3KeyID, "--secret", s3Secret, "--port", addr,
		"--keep-alive", "--quiet", "posix", root)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	b.must(cmd.Start())
	b.vgw = &s3Server{name: "versitygw", srv: cmd, done: make(chan struct{}), c: s3Client("http://" + addr)}
	go func() {
		_ = cmd.Wait()
		close(b.vgw.done)
	}()
	// versitygw prints no "ready" line: poll ListBuckets until it answers.
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := b.vgw.c.ListBuckets(ctx, &s3.ListBucketsInput{})
		cancel()
		if err == nil {
			return
		}
		select {
		case <-b.vgw.done:
			b.must(fmt.Errorf("versitygw exited before answering on %s: %v", addr, cmd.ProcessState))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.must(fmt.Errorf("versitygw did not answer on %s in 60 s: %w", addr, err))
		}
	}
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

// s3LargeOps are the large-object operations, in the order they run.
var s3LargeOps = []string{"PUT multipart", "PUT single", "GET one stream", "GET ranged", "GET to memory"}

// large measures PUT (multipart and single) and GET of one large object
// on both servers, alternating; a plain file copy of the same bytes in the
// same folder is reported as the disk's bound.
func (b *s3Bench) large(ctx context.Context, size int64, reps int) []figure {
	src := filepath.Join(b.work, "src.bin")
	start := time.Now()
	b.must(writeRandomFile(src, size))
	fmt.Fprintf(os.Stderr, "bench: wrote %d MiB source file in %s\n", size>>20, time.Since(start).Round(time.Millisecond))
	f, err := os.Open(src)
	b.must(err)
	defer f.Close()
	dst := filepath.Join(b.work, "dst.bin")

	getToFile := func(c *s3.Client) {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String("large/single")})
		b.must(err)
		w, err := os.Create(dst)
		b.must(err)
		n, err := io.CopyBuffer(w, out.Body, make([]byte, s3CopyBuf))
		out.Body.Close()
		b.must(err)
		b.must(w.Sync())
		b.must(w.Close())
		if n != size {
			b.must(fmt.Errorf("GET returned %d bytes, want %d", n, size))
		}
	}
	ops := map[string]func(c *s3.Client){
		"PUT multipart": func(c *s3.Client) { b.must(putMultipart(ctx, c, "large/multipart", f, size)) },
		"PUT single": func(c *s3.Client) {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String("large/single"),
				Body: io.NewSectionReader(f, 0, size), ContentLength: aws.Int64(size)})
			b.must(err)
		},
		"GET one stream": getToFile,
		"GET ranged":     func(c *s3.Client) { b.must(getRanged(ctx, c, "large/multipart", dst, size)) },
		"GET to memory": func(c *s3.Client) {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String("large/single")})
			b.must(err)
			n, err := io.CopyBuffer(discard, out.Body, make([]byte, s3CopyBuf))
			out.Body.Close()
			b.must(err)
			if n != size {
				b.must(fmt.Errorf("GET returned %d bytes, want %d", n, size))
			}
		},
	}
	d := map[string]map[string][]time.Duration{"tarn": {}, "versitygw": {}}
	var copyD []time.Duration
	for i := 0; i < reps; i++ {
		copyD = append(copyD, timeIt(func() { b.must(copyFile(src, dst)) }))
		b.must(os.Remove(dst))
		for _, op := range s3LargeOps {
			for _, s := range b.servers(i) {
				d[s.name][op] = append(d[s.name][op], timeIt(func() { ops[op](s.c) }))
				if _, err := os.Stat(dst); err == nil {
					b.must(os.Remove(dst))
				}
			}
		}
		for _, s := range b.servers(i) {
			for _, k := range []string{"large/multipart", "large/single"} {
				_, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String(k)})
				b.must(err)
			}
		}
		line := fmt.Sprintf("bench: S3 large rep %d: file copy %s", i+1, copyD[i].Round(time.Millisecond))
		for _, op := range s3LargeOps {
			line += fmt.Sprintf(", %s tarn %s versitygw %s", op, d["tarn"][op][i].Round(time.Millisecond), d["versitygw"][op][i].Round(time.Millisecond))
		}
		fmt.Fprintln(os.Stderr, line)
	}
	disk := fmt.Sprintf("file copy + fsync on this disk: %.0f MB/s", mbps(size, median(copyD)))
	notes := map[string]string{
		"PUT multipart":  fmt.Sprintf("%d MiB parts, %d in parallel, from a local file; tarn writes each part in its place in one file (MD5 per part), so completing is a truncate, an fsync and a rename; versitygw writes each part as a file and joins them with copy_file_range on completion, with no fsync; %s", s3PartSize>>20, s3Parallel, disk),
		"PUT single":     "one PutObject streamed from a local file; both servers compute the MD5 ETag; tarn fsyncs before answering, versitygw v1.8.0 posix never fsyncs (its 200 is not durable); " + disk,
		"GET one stream": "one GetObject written to a local file with 1 MiB writes, then fsynced",
		"GET ranged":     fmt.Sprintf("%d MiB ranges, %d in parallel, written to a local file which is then fsynced", s3PartSize>>20, s3Parallel),
		"GET to memory":  "one stream, bytes discarded, 1 MiB reads; from the page cache, so this is each server's loopback send path",
	}
	var figs []figure
	for _, op := range s3LargeOps {
		t, v := mbps(size, median(d["tarn"][op])), mbps(size, median(d["versitygw"][op]))
		figs = append(figs, figure{name: fmt.Sprintf("S3 %s %d MiB object", op, size>>20),
			tarn: fmt.Sprintf("%.0f MB/s", t), base: fmt.Sprintf("%.0f MB/s (versitygw posix)", v),
			ratio: fmt.Sprintf("%.2f", t/v), goal: "≥ 1.00", note: notes[op]})
	}
	return figs
}

// putMultipart uploads size bytes of f as key, in parts sent in parallel.
func putMultipart(ctx context.Context, c *s3.Client, key string, f *os.File, size int64) error {
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(s3Bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	n := int((size + s3PartSize - 1) / s3PartSize)
	parts := make([]types.CompletedPart, n)
	errs := make([]error, n)
	sem := make(chan struct{}, s3Parallel)
	var wg sync.WaitGroup
	for i := range n {
		off := int64(i) * s3PartSize
		ln := min(s3PartSize, size-off)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(s3Bucket), Key: aws.String(key),
				UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)),
				Body: io.NewSectionReader(f, off, ln), ContentLength: aws.Int64(ln)})
			if err != nil {
				errs[i] = err
				return
			}
			parts[i] = types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(s3Bucket), Key: aws.String(key),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	return err
}

// getRanged downloads key into the file path with parallel ranged GETs and
// fsyncs it.
func getRanged(ctx context.Context, c *s3.Client, key, path string, size int64) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer out.Close()
	n := int((size + s3PartSize - 1) / s3PartSize)
	errs := make([]error, n)
	sem := make(chan struct{}, s3Parallel)
	var wg sync.WaitGroup
	for i := range n {
		off := int64(i) * s3PartSize
		ln := min(s3PartSize, size-off)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			res, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String(key),
				Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+ln-1))})
			if err != nil {
				errs[i] = err
				return
			}
			defer res.Body.Close()
			got, err := io.CopyBuffer(io.NewOffsetWriter(out, off), res.Body, make([]byte, s3CopyBuf))
			if err == nil && got != ln {
				err = fmt.Errorf("range at %d returned %d bytes, want %d", off, got, ln)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if err := out.Sync(); err != nil {
		return err
	}
	return out.Close()
}

// writeRandomFile writes size pseudo-random (incompressible) bytes and
// fsyncs them.
func writeRandomFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := rand.NewChaCha8([32]byte{42})
	if _, err := io.CopyBuffer(f, io.LimitReader(r, size), make([]byte, 1<<20)); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// copyFile is the baseline: a plain file copy (Go's io.Copy, which uses
// copy_file_range as cp does) followed by fsync.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	return out.Close()
}

// rate runs op in conc goroutines for about d and returns operations per
// second. op gets the worker number and its own counter.
func rate(d time.Duration, conc int, op func(w, i int) error) (float64, error) {
	var total atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conc {
		wg.Go(func() {
			for i := 0; time.Since(start) < d; i++ {
				if err := op(w, i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				total.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(total.Load()) / time.Since(start).Seconds(), firstErr
}

// small measures 4 KiB PUTs, then GETs of random objects among those just
// written, with concurrent clients, on both servers in turn.
func (b *s3Bench) small(ctx context.Context) []figure {
	payload := make([]byte, s3SmallSize)
	r := rand.NewChaCha8([32]byte{7})
	_, _ = r.Read(payload)
	key := func(w, i int) string { return fmt.Sprintf("small/%d/%07d", w, i) }
	written := map[string]*[s3SmallConc]atomic.Int64{"tarn": {}, "versitygw": {}}
	put, get := map[string]float64{}, map[string]float64{}
	for _, s := range b.servers(0) {
		var err error
		put[s.name], err = rate(s3SmallPeriod, s3SmallConc, func(w, i int) error {
			_, err := s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String(key(w, i)),
				Body: bytes.NewReader(payload), ContentLength: aws.Int64(s3SmallSize)})
			if err == nil {
				written[s.name][w].Store(int64(i + 1))
			}
			return err
		})
		b.must(err)
	}
	for _, s := range b.servers(1) {
		var err error
		get[s.name], err = rate(s3SmallPeriod, s3SmallConc, func(w, i int) error {
			out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s3Bucket),
				Key: aws.String(key(w, int(rand.Int64N(written[s.name][w].Load()))))})
			if err != nil {
				return err
			}
			n, err := io.Copy(io.Discard, out.Body)
			out.Body.Close()
			if err == nil && n != s3SmallSize {
				err = fmt.Errorf("GET returned %d bytes, want %d", n, s3SmallSize)
			}
			return err
		})
		b.must(err)
	}
	fmt.Fprintf(os.Stderr, "bench: S3 small: PUT tarn %.0f/s versitygw %.0f/s, GET tarn %.0f/s versitygw %.0f/s\n",
		put["tarn"], put["versitygw"], get["tarn"], get["versitygw"])
	name := fmt.Sprintf("S3 %%s 4 KiB objects, %d clients", s3SmallConc)
	return []figure{
		{name: fmt.Sprintf(name, "PUT"), tarn: fmt.Sprintf("%.0f ops/s", put["tarn"]), base: fmt.Sprintf("%.0f ops/s (versitygw posix)", put["versitygw"]),
			ratio: fmt.Sprintf("%.2f", put["tarn"]/put["versitygw"]), goal: "≥ 1.00",
			note: fmt.Sprintf("%s each; tarn writes the object and a sidecar, fsyncs, renames and syncs the object's folder before answering; versitygw writes an O_TMPFILE, links it and sets xattrs, with no fsync", s3SmallPeriod)},
		{name: fmt.Sprintf(name, "GET"), tarn: fmt.Sprintf("%.0f ops/s", get["tarn"]), base: fmt.Sprintf("%.0f ops/s (versitygw posix)", get["versitygw"]),
			ratio: fmt.Sprintf("%.2f", get["tarn"]/get["versitygw"]), goal: "≥ 1.00",
			note: "random objects among those just written, from the page cache; the cost is HTTP, SigV4 and metadata per request"},
	}
}

// list creates n tiny objects in their own bucket on each server with the
// 16-client PUT loop, then times full ListObjectsV2 listings of them,
// 1,000 keys a page, alternating between the servers.
func (b *s3Bench) list(ctx context.Context, n, reps int) []figure {
	const bucket = "bench-list"
	body := []byte("0123456789abcdef")
	key := func(i int) string { return fmt.Sprintf("list/%07d", i) }
	fill := map[string]time.Duration{}
	for _, s := range b.servers(0) {
		_, err := s.c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
		b.must(err)
		var next atomic.Int64
		errs := make([]error, s3SmallConc)
		fill[s.name] = timeIt(func() {
			var wg sync.WaitGroup
			for w := range s3SmallConc {
				wg.Go(func() {
					for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
						if _, err := s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key(i)),
							Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))}); err != nil {
							errs[w] = err
							return
						}
					}
				})
			}
			wg.Wait()
		})
		for _, err := range errs {
			b.must(err)
		}
		fmt.Fprintf(os.Stderr, "bench: S3 list: %d PUTs into %s in %s (%.0f/s)\n", n, s.name,
			fill[s.name].Round(time.Millisecond), float64(n)/fill[s.name].Seconds())
	}
	d := map[string][]time.Duration{}
	for i := 0; i < reps; i++ {
		for _, s := range b.servers(i) {
			var got int
			var last string
			d[s.name] = append(d[s.name], timeIt(func() {
				p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(1000)})
				for p.HasMorePages() {
					page, err := p.NextPage(ctx)
					b.must(err)
					for _, o := range page.Contents {
						if k := aws.ToString(o.Key); k <= last {
							b.must(fmt.Errorf("%s listed %q after %q", s.name, k, last))
						} else {
							last = k
						}
						got++
					}
				}
			}))
			if got != n {
				b.must(fmt.Errorf("%s listed %d keys, want %d", s.name, got, n))
			}
		}
		fmt.Fprintf(os.Stderr, "bench: S3 list rep %d: tarn %s, versitygw %s\n", i+1,
			d["tarn"][i].Round(time.Millisecond), d["versitygw"][i].Round(time.Millisecond))
	}
	t, v := float64(n)/median(d["tarn"]).Seconds(), float64(n)/median(d["versitygw"]).Seconds()
	pt, pv := float64(n)/fill["tarn"].Seconds(), float64(n)/fill["versitygw"].Seconds()
	return []figure{
		{name: fmt.Sprintf("S3 ListObjectsV2 of %d keys", n), tarn: fmt.Sprintf("%.0f keys/s (%s)", t, median(d["tarn"]).Round(time.Millisecond)),
			base: fmt.Sprintf("%.0f keys/s (%s, versitygw posix)", v, median(d["versitygw"]).Round(time.Millisecond)), ratio: fmt.Sprintf("%.2f", t/v), goal: "≥ 1.00",
			note: "full listing, 1,000 keys a page, one client, every key checked in order; flat keys list/NNNNNNN under one prefix"},
		{name: fmt.Sprintf("S3 PUT %d tiny objects, %d clients", n, s3SmallConc), tarn: fmt.Sprintf("%.0f ops/s", pt),
			base: fmt.Sprintf("%.0f ops/s (versitygw posix)", pv), ratio: fmt.Sprintf("%.2f", pt/pv), goal: "report",
			note: "16-byte objects into an empty bucket, creating the listing's keys (durable on tarn, not fsynced on versitygw)"},
	}
}
