package awsapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// fuzzTargets are the operations a fuzzed body is sent to: all but those
// that start background work (a fuzzed query or crawl would outlive the
// iteration).
var fuzzTargets = []string{
	"AWSGlue.CreateDatabase", "AWSGlue.GetDatabase", "AWSGlue.GetDatabases", "AWSGlue.UpdateDatabase", "AWSGlue.DeleteDatabase",
	"AWSGlue.CreateTable", "AWSGlue.GetTable", "AWSGlue.GetTables", "AWSGlue.UpdateTable", "AWSGlue.DeleteTable", "AWSGlue.BatchDeleteTable",
	"AWSGlue.GetTableVersions", "AWSGlue.CreatePartition", "AWSGlue.BatchCreatePartition", "AWSGlue.GetPartition", "AWSGlue.GetPartitions",
	"AWSGlue.BatchGetPartition", "AWSGlue.UpdatePartition", "AWSGlue.DeletePartition", "AWSGlue.BatchDeletePartition",
	"AWSGlue.CreateCrawler", "AWSGlue.GetCrawler", "AWSGlue.GetCrawlers", "AWSGlue.UpdateCrawler", "AWSGlue.DeleteCrawler", "AWSGlue.StopCrawler",
	"AWSGlue.GetCrawlerMetrics", "AWSGlue.CreateJob", "AWSGlue.GetJob", "AWSGlue.GetJobs", "AWSGlue.UpdateJob", "AWSGlue.DeleteJob",
	"AWSGlue.GetJobRun", "AWSGlue.GetJobRuns", "AWSGlue.BatchStopJobRun", "AWSGlue.GetJobBookmark", "AWSGlue.ResetJobBookmark",
	"AmazonAthena.GetQueryExecution", "AmazonAthena.GetQueryResults", "AmazonAthena.StopQueryExecution", "AmazonAthena.ListQueryExecutions",
	"AmazonAthena.BatchGetQueryExecution", "AmazonAthena.CreateWorkGroup", "AmazonAthena.GetWorkGroup", "AmazonAthena.UpdateWorkGroup",
	"AmazonAthena.DeleteWorkGroup", "AmazonAthena.ListWorkGroups", "AmazonAthena.ListDataCatalogs", "AmazonAthena.ListDatabases",
	"AmazonAthena.ListTableMetadata", "AmazonAthena.GetTableMetadata",
}

// FuzzRequests: no body, however hostile, makes an operation answer 500 or
// anything but AWS JSON.
func FuzzRequests(f *testing.F) {
	e := newEnv(f, false)
	for i := range fuzzTargets {
		f.Add(uint8(i), `{}`)
	}
	f.Add(uint8(5), `{"DatabaseName": "d", "TableInput": {"Name": "t", "StorageDescriptor": {"Columns": [{"Name": "a", "Type": "array<struct<x:int>>"}]}}}`)
	f.Add(uint8(15), `{"DatabaseName": "d", "TableName": "t", "Expression": "a = 1", "MaxResults": 1}`)
	f.Add(uint8(42), `{"Name": "w", "Configuration": {"ResultConfiguration": {"OutputLocation": "s3://lake/x/"}}}`)
	f.Add(uint8(0), `{"DatabaseInput": {"Name": "d"}}`)
	client := &http.Client{Timeout: 30 * time.Second}
	f.Fuzz(func(t *testing.T, op uint8, body string) {
		target := fuzzTargets[int(op)%len(fuzzTargets)]
		service := "glue"
		if strings.HasPrefix(target, "AmazonAthena.") {
			service = "athena"
		}
		req, _ := http.NewRequest("POST", e.url+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		h := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: e.admin.AccessKeyID, SecretAccessKey: e.admin.SecretAccessKey},
			req, hex.EncodeToString(h[:]), service, "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := make([]byte, 512)
		n, _ := resp.Body.Read(b)
		if resp.StatusCode >= 500 || resp.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
			t.Fatalf("%s %q: %d %s", target, body, resp.StatusCode, b[:n])
		}
	})
}
