package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
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

// s3Bench is one run of the S3 benchmark: a tarn server process, a client
// and the work folder, on the same disk.
type s3Bench struct {
	work string
	srv  *osexec.Cmd
	done chan struct{} // closed when srv has exited
	c    *s3.Client
}

// must stops the server before failing, so that no tarn process outlives
// the benchmark.
func (b *s3Bench) must(err error) {
	if err != nil {
		b.stop()
		check(err)
	}
}

func (b *s3Bench) stop() {
	if b.srv == nil || b.srv.Process == nil {
		return
	}
	_ = b.srv.Process.Signal(os.Interrupt)
	select {
	case <-b.done:
	case <-time.After(30 * time.Second):
		_ = b.srv.Process.Kill()
		<-b.done
	}
	b.srv = nil
}

// benchS3 compares tarn's S3 endpoint (the tarn binary, `tarn serve`, a
// real S3 SDK client over loopback) with plain file operations on the same
// disk: a file copy for large objects, a write+fsync or a read of one file
// per object for small ones.
func benchS3(dir string, sizeMiB, reps int) []figure {
	ctx := context.Background()
	work := filepath.Join(dir, "s3")
	check(os.MkdirAll(work, 0o755))
	defer os.RemoveAll(work)
	b := &s3Bench{work: work}
	defer b.stop()
	b.start()
	fmt.Fprintf(os.Stderr, "bench: S3 benchmark against tarn serve (pid %d)\n", b.srv.Process.Pid)
	_, err := b.c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s3Bucket)})
	b.must(err)

	var figs []figure
	if sizeMiB > 0 {
		figs = append(figs, b.large(ctx, int64(sizeMiB)<<20, reps)...)
	}
	figs = append(figs, b.small(ctx)...)
	return figs
}

// start builds the tarn binary and runs `tarn serve` on free loopback
// ports with a fixed admin key, its data in the work folder.
func (b *s3Bench) start() {
	bin := filepath.Join(b.work, "tarn")
	build := osexec.Command("go", "build", "-o", bin, "./cmd/tarn")
	build.Stderr = os.Stderr
	check(build.Run())
	cmd := osexec.Command(bin, "--data", filepath.Join(b.work, "home"), "serve",
		"--s3-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "TARN_ACCESS_KEY_ID="+s3KeyID, "TARN_SECRET_ACCESS_KEY="+s3Secret)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	b.srv, b.done = cmd, make(chan struct{})
	endpoint := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "S3 endpoint on "); ok {
				endpoint <- u
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(b.done)
	}()
	var url string
	select {
	case url = <-endpoint:
	case <-b.done:
		check(fmt.Errorf("tarn serve exited before printing its S3 endpoint: %v", cmd.ProcessState))
	case <-time.After(60 * time.Second):
		b.must(fmt.Errorf("tarn serve printed no S3 endpoint in 60 s"))
	}
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = 4 * s3SmallConc
		t.MaxIdleConnsPerHost = 4 * s3SmallConc
	})
	b.c = s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: s3KeyID, SecretAccessKey: s3Secret}, nil
		}),
		HTTPClient: hc,
		Retryer:    aws.NopRetryer{}, // an error fails the benchmark, it is not hidden by a retry
		// Sign headers only, as clients do over HTTPS: hashing the payload on
		// the client would measure the client's CPU (the server still
		// computes the MD5 ETag of every byte). No extra CRC either.
		// (UNSIGNED-PAYLOAD, set by the API option below.)
		RequestChecksumCalculation:                aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation:                aws.ResponseChecksumValidationWhenRequired,
		DisableLogOutputChecksumValidationSkipped: true,
	}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

// large measures PUT (multipart and single) and GET of one large object
// against a plain file copy of the same bytes in the same folder.
func (b *s3Bench) large(ctx context.Context, size int64, reps int) []figure {
	src := filepath.Join(b.work, "src.bin")
	start := time.Now()
	b.must(writeRandomFile(src, size))
	fmt.Fprintf(os.Stderr, "bench: wrote %d MiB source file in %s\n", size>>20, time.Since(start).Round(time.Millisecond))
	f, err := os.Open(src)
	b.must(err)
	defer f.Close()
	dst := filepath.Join(b.work, "dst.bin")

	var copyD, mpD, oneD, getD, getFileD, get1D, readD []time.Duration
	for i := 0; i < reps; i++ {
		copyD = append(copyD, timeIt(func() { b.must(copyFile(src, dst)) }))
		b.must(os.Remove(dst))
		mpD = append(mpD, timeIt(func() { b.must(b.putMultipart(ctx, "large/multipart", f, size)) }))
		oneD = append(oneD, timeIt(func() {
			_, err := b.c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String("large/single"),
				Body: io.NewSectionReader(f, 0, size), ContentLength: aws.Int64(size)})
			b.must(err)
		}))
		getD = append(getD, timeIt(func() { b.must(b.getRanged(ctx, "large/multipart", dst, size)) }))
		b.must(os.Remove(dst))
		getFileD = append(getFileD, timeIt(func() {
			out, err := b.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String("large/single")})
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
		}))
		b.must(os.Remove(dst))
		get1D = append(get1D, timeIt(func() {
			out, err := b.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String("large/single")})
			b.must(err)
			n, err := io.CopyBuffer(discard, out.Body, make([]byte, s3CopyBuf))
			out.Body.Close()
			b.must(err)
			if n != size {
				b.must(fmt.Errorf("GET returned %d bytes, want %d", n, size))
			}
		}))
		readD = append(readD, timeIt(func() {
			_, err := io.CopyBuffer(discard, io.NewSectionReader(f, 0, size), make([]byte, s3CopyBuf))
			b.must(err)
		}))
		for _, k := range []string{"large/multipart", "large/single"} {
			_, err := b.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String(k)})
			b.must(err)
		}
		fmt.Fprintf(os.Stderr, "bench: S3 large rep %d: copy %s, PUT multipart %s, PUT single %s, GET ranged to file %s, GET to memory %s, read to memory %s\n",
			i+1, copyD[i].Round(time.Millisecond), mpD[i].Round(time.Millisecond), oneD[i].Round(time.Millisecond),
			getD[i].Round(time.Millisecond), get1D[i].Round(time.Millisecond), readD[i].Round(time.Millisecond))
	}
	cp := mbps(size, median(copyD))
	base := fmt.Sprintf("%.0f MB/s (file copy + fsync)", cp)
	name := func(what string) string { return fmt.Sprintf("S3 %s %d MiB object", what, size>>20) }
	fig := func(what string, d time.Duration, goal, note string) figure {
		t := mbps(size, d)
		return figure{name: name(what), tarn: fmt.Sprintf("%.0f MB/s", t), base: base,
			ratio: fmt.Sprintf("%.2f", t/cp), goal: goal, note: note}
	}
	rd := mbps(size, median(readD))
	g1 := mbps(size, median(get1D))
	return []figure{
		fig("PUT multipart", median(mpD), "≥ 0.70", fmt.Sprintf("%d MiB parts, %d in parallel, from a local file; tarn writes each part in its place in one file (MD5 per part), so completing is a truncate, an fsync and a rename", s3PartSize>>20, s3Parallel)),
		fig("PUT single", median(oneD), "≥ 0.70", "one PutObject streamed from a local file; tarn hashes (MD5 ETag, on its own goroutine), writes (writeback started as it goes) and fsyncs"),
		fig("GET one stream", median(getFileD), "≥ 0.70", "one GetObject written to a local file with 1 MiB writes, then fsynced (what a file copy does, with the server's sendfile and loopback TCP in between)"),
		fig("GET ranged", median(getD), "≥ 0.70", fmt.Sprintf("%d MiB ranges, %d in parallel, written to a local file which is then fsynced; tarn sends with sendfile, the client's writers into one file are the bound", s3PartSize>>20, s3Parallel)),
		{name: name("GET to memory"), tarn: fmt.Sprintf("%.0f MB/s", g1), base: fmt.Sprintf("%.0f MB/s (read file)", rd),
			ratio: fmt.Sprintf("%.2f", g1/rd), goal: "report", note: "one stream, bytes discarded, 1 MiB reads on both sides; both read from the page cache, so this is loopback TCP against memory bandwidth"},
	}
}

// putMultipart uploads size bytes of f as key, in parts sent in parallel.
func (b *s3Bench) putMultipart(ctx context.Context, key string, f *os.File, size int64) error {
	up, err := b.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(s3Bucket), Key: aws.String(key)})
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
			out, err := b.c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(s3Bucket), Key: aws.String(key),
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
	_, err = b.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(s3Bucket), Key: aws.String(key),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	return err
}

// getRanged downloads key into the file path with parallel ranged GETs and
// fsyncs it.
func (b *s3Bench) getRanged(ctx context.Context, key, path string, size int64) error {
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
			res, err := b.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String(key),
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

// small measures 4 KiB PUTs and GETs with concurrent clients against
// writing+fsyncing and reading one 4 KiB file per object.
func (b *s3Bench) small(ctx context.Context) []figure {
	payload := make([]byte, s3SmallSize)
	r := rand.NewChaCha8([32]byte{7})
	_, _ = r.Read(payload)
	plain := filepath.Join(b.work, "small")
	for w := range s3SmallConc {
		b.must(os.MkdirAll(filepath.Join(plain, fmt.Sprint(w)), 0o755))
	}
	key := func(w, i int) string { return fmt.Sprintf("small/%d/%07d", w, i) }
	var written [s3SmallConc]atomic.Int64
	var plainWritten [s3SmallConc]atomic.Int64

	tPut, err := rate(s3SmallPeriod, s3SmallConc, func(w, i int) error {
		_, err := b.c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String(key(w, i)),
			Body: bytes.NewReader(payload), ContentLength: aws.Int64(s3SmallSize)})
		if err == nil {
			written[w].Store(int64(i + 1))
		}
		return err
	})
	b.must(err)
	pPut, err := rate(s3SmallPeriod, s3SmallConc, func(w, i int) error {
		f, err := os.OpenFile(filepath.Join(plain, key(w, i)[len("small/"):]), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		if _, err := f.Write(payload); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		plainWritten[w].Store(int64(i + 1))
		return f.Close()
	})
	b.must(err)
	tGet, err := rate(s3SmallPeriod, s3SmallConc, func(w, i int) error {
		out, err := b.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s3Bucket),
			Key: aws.String(key(w, int(rand.Int64N(written[w].Load()))))})
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
	pGet, err := rate(s3SmallPeriod, s3SmallConc, func(w, i int) error {
		data, err := os.ReadFile(filepath.Join(plain, key(w, int(rand.Int64N(plainWritten[w].Load())))[len("small/"):]))
		if err == nil && len(data) != s3SmallSize {
			err = fmt.Errorf("read %d bytes, want %d", len(data), s3SmallSize)
		}
		return err
	})
	b.must(err)
	fmt.Fprintf(os.Stderr, "bench: S3 small: PUT %.0f/s (plain %.0f/s), GET %.0f/s (plain %.0f/s)\n", tPut, pPut, tGet, pGet)
	name := fmt.Sprintf("S3 %%s 4 KiB objects, %d clients", s3SmallConc)
	return []figure{
		{name: fmt.Sprintf(name, "PUT"), tarn: fmt.Sprintf("%.0f ops/s", tPut), base: fmt.Sprintf("%.0f ops/s (write + fsync one file)", pPut),
			ratio: fmt.Sprintf("%.2f", tPut/pPut), goal: "report",
			note: fmt.Sprintf("%s each; tarn also writes a sidecar, renames, syncs the object's folder, and authenticates every request (keys cached)", s3SmallPeriod)},
		{name: fmt.Sprintf(name, "GET"), tarn: fmt.Sprintf("%.0f ops/s", tGet), base: fmt.Sprintf("%.0f ops/s (read one file)", pGet),
			ratio: fmt.Sprintf("%.2f", tGet/pGet), goal: "report",
			note: "random objects among those just written, from the page cache; tarn's cost is HTTP, SigV4 and metadata per request"},
	}
}
