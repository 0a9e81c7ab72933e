package lake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	athenatypes "github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5"

	"github.com/tarn-lake/tarn/internal/api/apitypes"
	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/jobs"
	"github.com/tarn-lake/tarn/internal/lake"
	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
	"github.com/tarn-lake/tarn/internal/storage/s3store/gatewaytest"
	"github.com/tarn-lake/tarn/internal/warehouse"
)

// servedLake is one server of a shared lake, on its three endpoints.
type servedLake struct {
	l    *lake.Lake
	ep   lake.Endpoints
	out  string
	stop func() // stops the server (also at the end of the test)
}

// serveAll runs a lake's S3, REST and PostgreSQL endpoints until the end
// of the test.
func serveAll(t *testing.T, l *lake.Lake) servedLake {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	var out strings.Builder
	ready := make(chan lake.Endpoints, 1)
	done := make(chan error, 1)
	go func() {
		done <- l.Serve(ctx, lake.ServeConfig{S3: listen(t), API: listen(t), PG: listen(t), Out: &out, Log: io.Discard,
			Listening: func(ep lake.Endpoints) error { ready <- ep; return nil }})
	}()
	var ep lake.Endpoints
	select {
	case ep = <-ready:
	case err := <-done:
		t.Fatalf("Serve ended before listening: %v", err)
	}
	var once sync.Once
	end := func() {
		once.Do(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(end)
	return servedLake{l: l, ep: ep, out: out.String(), stop: end}
}

// TestNoStickySessions: two servers on one external S3 store (versitygw)
// and one PostgreSQL metadata database answer for each other, as behind a
// round-robin load balancer: a multipart upload created through A takes
// parts through B, is listed and completed through A and read through B
// (and another is aborted through B); an Athena query started through A is
// stopped through B and another's results are read through B; the
// warehouse is A's, B's PostgreSQL endpoint forwards there, and a
// warehouse statement given to B names A's endpoint.
func TestNoStickySessions(t *testing.T) {
	gw := gatewaytest.Need(t)
	ctx := t.Context()
	dsn := metatest.NewPostgresDatabase(t)
	cfgA, _ := s3Config(t, gw, gw.Endpoint)
	cfgA.Meta = meta.ConfigFor(dsn)
	cfgB := testConfig(t)
	cfgB.Storage, cfgB.Meta = cfgA.Storage, meta.ConfigFor(dsn)
	la, err := lake.Open(ctx, cfgA)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { la.Close() })
	lb, err := lake.Open(ctx, cfgB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lb.Close() })
	a, b := serveAll(t, la), serveAll(t, lb)
	id, secret := adminKey(t, a.out)
	creds := credentials.NewStaticCredentialsProvider(id, secret, "")
	s3c := func(ep string) *s3.Client {
		return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep), UsePathStyle: true, Credentials: creds})
	}
	sa, sb := s3c(a.ep.S3), s3c(b.ep.S3)

	t.Run("MultipartUpload", func(t *testing.T) {
		bucket := aws.String("uploads")
		if _, err := sa.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
			t.Fatal(err)
		}
		key := aws.String("big/data.bin")
		up, err := sa.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			t.Fatal(err)
		}
		p1, p2 := bytes.Repeat([]byte("1"), 5<<20), []byte("the last part")
		var done []types.CompletedPart
		for i, p := range [][]byte{p1, p2} {
			out, err := sb.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)),
				Body: bytes.NewReader(p), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
			if err != nil {
				t.Fatalf("part %d through B: %v", i+1, err)
			}
			done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
		}
		parts, err := sa.ListParts(ctx, &s3.ListPartsInput{Bucket: bucket, Key: key, UploadId: up.UploadId})
		if err != nil || len(parts.Parts) != 2 || aws.ToString(parts.Parts[1].ETag) != aws.ToString(done[1].ETag) ||
			aws.ToString(parts.Parts[0].ChecksumCRC32) != aws.ToString(done[0].ChecksumCRC32) {
			t.Fatalf("ListParts through A: %+v, %v", parts, err)
		}
		ups, err := sa.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: bucket})
		if err != nil || len(ups.Uploads) != 1 || aws.ToString(ups.Uploads[0].UploadId) != aws.ToString(up.UploadId) {
			t.Fatalf("ListMultipartUploads through A: %+v, %v", ups, err)
		}
		fin, err := sa.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := sb.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(got.Body)
		got.Body.Close()
		if !bytes.Equal(body, append(bytes.Clone(p1), p2...)) || aws.ToString(got.ETag) != aws.ToString(fin.ETag) || !strings.HasSuffix(aws.ToString(fin.ETag), `-2"`) {
			t.Errorf("GetObject through B: %d bytes, ETag %s (completed %s)", len(body), aws.ToString(got.ETag), aws.ToString(fin.ETag))
		}
		// A part copied through B (inside the external store) from that
		// object into an upload created through A.
		up3, err := sa.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: aws.String("copied")})
		if err != nil {
			t.Fatal(err)
		}
		cp, err := sb.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: bucket, Key: aws.String("copied"), UploadId: up3.UploadId, PartNumber: aws.Int32(1),
			CopySource: aws.String("uploads/big/data.bin"), CopySourceRange: aws.String(fmt.Sprintf("bytes=0-%d", len(p1)-1))})
		if err != nil {
			t.Fatalf("UploadPartCopy through B: %v", err)
		}
		tail, err := sa.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: aws.String("copied"), UploadId: up3.UploadId, PartNumber: aws.Int32(2), Body: strings.NewReader("!")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sb.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: aws.String("copied"), UploadId: up3.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: cp.CopyPartResult.ETag}, {PartNumber: aws.Int32(2), ETag: tail.ETag}}}}); err != nil {
			t.Fatal(err)
		}
		if got, err := sa.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("copied")}); err != nil {
			t.Error(err)
		} else {
			body, _ := io.ReadAll(got.Body)
			got.Body.Close()
			if !bytes.Equal(body, append(bytes.Clone(p1), '!')) {
				t.Errorf("object of a copied part: %d bytes", len(body))
			}
		}
		// Another upload, aborted through B, is gone for A.
		up2, err := sa.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: aws.String("other")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sb.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: bucket, Key: aws.String("other"), UploadId: up2.UploadId}); err != nil {
			t.Fatalf("abort through B: %v", err)
		}
		if ups, err := sa.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: bucket}); err != nil || len(ups.Uploads) != 0 {
			t.Errorf("uploads listed through A after the abort: %+v, %v", ups, err)
		}
		if _, err := sa.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: aws.String("other"), UploadId: up2.UploadId, PartNumber: aws.Int32(1),
			Body: strings.NewReader("x")}); err == nil || !strings.Contains(err.Error(), "NoSuchUpload") {
			t.Errorf("part of an aborted upload through A: %v", err)
		}
		// Uploads created at once through both servers each keep their
		// checksum mode (no server's write of it hides another's).
		var wg sync.WaitGroup
		for i := range 8 {
			c := []*s3.Client{sa, sb}[i%2]
			wg.Go(func() {
				_, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: aws.String(fmt.Sprintf("many/%d", i)),
					ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c, ChecksumType: types.ChecksumTypeFullObject})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		many, err := sb.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: bucket, Prefix: aws.String("many/")})
		if err != nil || len(many.Uploads) != 8 {
			t.Fatalf("uploads listed through B: %+v, %v", many, err)
		}
		for _, u := range many.Uploads {
			if u.ChecksumAlgorithm != types.ChecksumAlgorithmCrc32c || u.ChecksumType != types.ChecksumTypeFullObject {
				t.Errorf("upload %s: checksum %s %s", aws.ToString(u.Key), u.ChecksumAlgorithm, u.ChecksumType)
			}
		}
		// A part sent without a checksum through A gets the FULL_OBJECT
		// upload's computed, as the upload (created through either) says.
		part, err := sa.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: many.Uploads[0].Key, UploadId: many.Uploads[0].UploadId,
			PartNumber: aws.Int32(1), Body: strings.NewReader("some bytes")})
		if err != nil || aws.ToString(part.ChecksumCRC32C) == "" {
			t.Errorf("part of a FULL_OBJECT CRC32C upload: %+v, %v", part, err)
		}
	})

	t.Run("AthenaQueries", func(t *testing.T) {
		ath := func(ep string) *athena.Client {
			return athena.New(athena.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep), Credentials: creds, RetryMaxAttempts: 1})
		}
		aa, ab := ath(a.ep.S3), ath(b.ep.S3)
		state := func(c *athena.Client, id *string) athenatypes.QueryExecutionState {
			t.Helper()
			out, err := c.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: id})
			if err != nil {
				t.Fatal(err)
			}
			return out.QueryExecution.Status.State
		}
		waitFor := func(c *athena.Client, id *string, want ...athenatypes.QueryExecutionState) athenatypes.QueryExecutionState {
			t.Helper()
			for {
				st := state(c, id)
				for _, w := range want {
					if st == w {
						return st
					}
				}
				if ctx.Err() != nil {
					t.Fatalf("query %s is %s, want %v", aws.ToString(id), st, want)
				}
				time.Sleep(20 * time.Millisecond) // polls the state, as clients do
			}
		}
		slow, err := aa.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String("SELECT count(*) FROM range(10000000000) a, range(1000) b")})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(ab, slow.QueryExecutionId, athenatypes.QueryExecutionStateRunning)
		if _, err := ab.StopQueryExecution(ctx, &athena.StopQueryExecutionInput{QueryExecutionId: slow.QueryExecutionId}); err != nil {
			t.Fatalf("stop through B: %v", err)
		}
		if st := waitFor(aa, slow.QueryExecutionId, athenatypes.QueryExecutionStateCancelled, athenatypes.QueryExecutionStateSucceeded, athenatypes.QueryExecutionStateFailed); st != athenatypes.QueryExecutionStateCancelled {
			t.Fatalf("a query stopped through B is %s", st)
		}
		q, err := aa.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String("SELECT range AS n FROM range(3)")})
		if err != nil {
			t.Fatal(err)
		}
		if st := waitFor(ab, q.QueryExecutionId, athenatypes.QueryExecutionStateSucceeded, athenatypes.QueryExecutionStateFailed); st != athenatypes.QueryExecutionStateSucceeded {
			t.Fatalf("query is %s", st)
		}
		res, err := ab.GetQueryResults(ctx, &athena.GetQueryResultsInput{QueryExecutionId: q.QueryExecutionId})
		if err != nil || len(res.ResultSet.Rows) != 4 || aws.ToString(res.ResultSet.Rows[3].Data[0].VarCharValue) != "2" {
			t.Fatalf("results through B: %+v, %v", res, err)
		}
	})

	t.Run("JobFollowedElsewhere", func(t *testing.T) {
		// A job run started on A, followed through B's REST API while it
		// runs: B shows its log so far and its latest line as progress.
		if _, err := sa.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("jobs")}); err != nil {
			t.Fatal(err)
		}
		if _, err := sa.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("jobs"), Key: aws.String("raw/a.csv"), Body: strings.NewReader("id,amount\n1,2.5\n")}); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"CREATE DATABASE jraw", `CREATE EXTERNAL TABLE jraw.sales (id bigint, amount double)
			ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://jobs/raw/' TBLPROPERTIES ('skip.header.line.count'='1')`} {
			if _, _, err := la.Query.Run(ctx, q, ""); err != nil {
				t.Fatal(err)
			}
		}
		if err := la.Jobs.Create(ctx, jobs.Spec{Name: "copy", SQL: "SELECT id, amount FROM jraw.sales", Target: "s3://jobs/curated/"}); err != nil {
			t.Fatal(err)
		}
		tok := auth.Token(auth.Key{AccessKeyID: id, SecretAccessKey: secret})
		seen := false
		run, err := la.Jobs.Start(ctx, "copy", jobs.StartOptions{Progress: func(line string) {
			if !strings.HasPrefix(line, "source ") {
				return
			}
			runs, err := la.Jobs.Runs(ctx, "copy")
			if err != nil || len(runs) == 0 {
				t.Errorf("runs: %v", err)
				return
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.ep.API+"/api/v1/job-runs/"+runs[0].ID, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var jr apitypes.JobRun
			if err := json.NewDecoder(resp.Body).Decode(&jr); err != nil || jr.State != jobs.StateRunning || jr.Progress != line || len(jr.Log) < 2 {
				t.Errorf("the run through B while it runs on A: %+v, %v", jr, err)
			}
			seen = true
		}})
		if err != nil || run.State != jobs.StateSucceeded || !seen {
			t.Fatalf("run: %+v, %v (followed through B: %v)", run, err, seen)
		}
	})

	t.Run("Warehouse", func(t *testing.T) {
		o, mine, ok, err := la.WarehouseOwner(ctx)
		if err != nil || !ok || !mine || o.Server != warehouse.ServerID(cfgA.Home) {
			t.Fatalf("A: owner %+v mine %v ok %v, %v", o, mine, ok, err)
		}
		if _, mine, _, _ := lb.WarehouseOwner(ctx); mine {
			t.Fatal("B owns the warehouse too")
		}
		pgc := func(addr string) *pgx.Conn {
			t.Helper()
			c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@%s/dev?sslmode=disable", id, url.QueryEscape(secret), addr))
			if err != nil {
				t.Fatalf("connect to %s: %v", addr, err)
			}
			t.Cleanup(func() { c.Close(context.Background()) })
			return c
		}
		cb := pgc(b.ep.PG)
		for _, s := range []string{"CREATE TABLE wh_orders (id INT, amount DECIMAL(10,2))", "INSERT INTO wh_orders VALUES (1, 2.50), (2, 4.00)"} {
			if _, err := cb.Exec(ctx, s); err != nil {
				t.Fatalf("%s through B's PostgreSQL endpoint: %v", s, err)
			}
		}
		var n int
		var sum string
		if err := pgc(a.ep.PG).QueryRow(ctx, "SELECT count(*), sum(amount)::VARCHAR FROM wh_orders").Scan(&n, &sum); err != nil || n != 2 || sum != "6.50" {
			t.Fatalf("the table B's endpoint created, read through A: %d %s, %v", n, sum, err)
		}
		// A warehouse statement reaching B through its REST or Athena
		// API says where the warehouse is.
		_, _, err = lb.Query.Run(ctx, "INSERT INTO wh_orders VALUES (3, 1.00)", "")
		if !errors.Is(err, warehouse.ErrElsewhere) || !strings.Contains(err.Error(), a.ep.PG) {
			t.Errorf("a warehouse statement on B: %v (want one naming %s)", err, a.ep.PG)
		}
		// The REST API's warehouse listing: A's answers, B's says where.
		tok := auth.Token(auth.Key{AccessKeyID: id, SecretAccessKey: secret})
		get := func(base string) (int, string) {
			t.Helper()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/warehouse", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}
		if code, body := get(a.ep.API); code != http.StatusOK || !strings.Contains(body, "wh_orders") {
			t.Errorf("GET /api/v1/warehouse through A: %d %s", code, body)
		}
		if code, body := get(b.ep.API); code != http.StatusMisdirectedRequest || !strings.Contains(body, a.ep.PG) || !strings.Contains(body, a.ep.API) {
			t.Errorf("GET /api/v1/warehouse through B: %d %s (want 421 naming %s and %s)", code, body, a.ep.PG, a.ep.API)
		}
		// A bad password is refused by the owner, through B.
		if c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:wrong@%s/dev?sslmode=disable", id, b.ep.PG)); err == nil {
			c.Close(ctx)
			t.Error("a wrong password was accepted through B")
		}
	})

	t.Run("OwnerDown", func(t *testing.T) {
		// With A stopped, B's PostgreSQL endpoint says which server owns
		// the warehouse and that it cannot be reached (TLS asked first,
		// as psql does by default); B still serves the S3 API.
		a.stop()
		_, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@%s/dev?sslmode=prefer", id, url.QueryEscape(secret), b.ep.PG))
		if err == nil || !strings.Contains(err.Error(), "57P03") || !strings.Contains(err.Error(), warehouse.ServerID(cfgA.Home)) || !strings.Contains(err.Error(), "cannot reach it") {
			t.Errorf("connect through B with the owner down: %v", err)
		}
		if _, err := sb.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("uploads"), Key: aws.String("big/data.bin")}); err != nil {
			t.Errorf("B's S3 API with A down: %v", err)
		}
	})
}
