package awsapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/tarn-lake/tarn/internal/auth"
)

func TestIAM(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	a := e.admin
	e.mustCLI(t, a, "glue", "create-database", "--database-input", "Name=sales")

	if got := e.mustCLI(t, a, "iam", "create-user", "--user-name", "etl-bot", "--query", "User.[UserName,Arn,Path]"); got != "etl-bot\tarn:aws:iam::000000000000:user/etl-bot\t/" {
		t.Errorf("create-user: %q", got)
	}
	out, err := e.cli(t, a, "iam", "create-user", "--user-name", "etl-bot")
	refusedWith(t, "second create-user", "EntityAlreadyExists", out, err)
	created := e.mustCLI(t, a, "iam", "create-access-key", "--user-name", "etl-bot", "--query", "AccessKey.[AccessKeyId,SecretAccessKey,Status]")
	f := strings.Split(created, "\t")
	if len(f) != 3 || f[2] != "Active" || len(f[1]) != 40 {
		t.Fatalf("create-access-key: %q", created)
	}
	bot := auth.Key{AccessKeyID: f[0], SecretAccessKey: f[1]}
	// No policy yet: the key may do nothing.
	out, err = e.cli(t, bot, "glue", "get-databases")
	refusedWith(t, "a user without policies", "AccessDeniedException", out, err)

	doc := `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["glue:GetDatabase", "glue:GetDatabases"], "Resource": "*"}]}`
	e.mustCLI(t, a, "iam", "put-user-policy", "--user-name", "etl-bot", "--policy-name", "read-catalog", "--policy-document", doc)
	if got := e.mustCLI(t, bot, "glue", "get-databases", "--query", "DatabaseList[].Name"); !strings.Contains(got, "sales") {
		t.Errorf("the user's key after put-user-policy: %q", got)
	}
	out, err = e.cli(t, bot, "glue", "create-database", "--database-input", "Name=other")
	refusedWith(t, "the user's key writing", "AccessDeniedException", out, err)
	if got := e.mustCLI(t, a, "iam", "get-user-policy", "--user-name", "etl-bot", "--policy-name", "read-catalog", "--output", "json",
		"--query", "PolicyDocument.Statement[0].Action[1]"); got != `"glue:GetDatabases"` {
		t.Errorf("get-user-policy: %q", got)
	}
	if got := e.mustCLI(t, a, "iam", "list-user-policies", "--user-name", "etl-bot", "--query", "PolicyNames"); got != "read-catalog" {
		t.Errorf("list-user-policies: %q", got)
	}
	out, err = e.cli(t, a, "iam", "put-user-policy", "--user-name", "etl-bot", "--policy-name", "bad", "--policy-document", `{"Statement": "nope"}`)
	refusedWith(t, "a malformed policy", "MalformedPolicyDocument", out, err)
	out, err = e.cli(t, a, "iam", "delete-user", "--user-name", "etl-bot")
	refusedWith(t, "delete a user with keys", "DeleteConflict", out, err)

	// Deactivated, the key authenticates nothing; activated, it works again.
	e.mustCLI(t, a, "iam", "update-access-key", "--user-name", "etl-bot", "--access-key-id", bot.AccessKeyID, "--status", "Inactive")
	out, err = e.cli(t, bot, "glue", "get-databases")
	refusedWith(t, "an inactive key", "UnrecognizedClientException", out, err)
	if got := e.mustCLI(t, a, "iam", "list-access-keys", "--user-name", "etl-bot", "--query", "AccessKeyMetadata[].[AccessKeyId,Status]"); got != bot.AccessKeyID+"\tInactive" {
		t.Errorf("list-access-keys: %q", got)
	}
	e.mustCLI(t, a, "iam", "update-access-key", "--user-name", "etl-bot", "--access-key-id", bot.AccessKeyID, "--status", "Active")
	e.mustCLI(t, bot, "glue", "get-databases")
	e.mustCLI(t, a, "iam", "create-access-key", "--user-name", "etl-bot")
	out, err = e.cli(t, a, "iam", "create-access-key", "--user-name", "etl-bot")
	refusedWith(t, "a third key", "LimitExceeded", out, err)

	// Hostile: IAM needs the admin key, whatever a policy allows.
	everything := e.key("almighty", `{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}`)
	for _, args := range [][]string{
		{"iam", "create-user", "--user-name", "mallory"},
		{"iam", "create-access-key", "--user-name", "etl-bot"},
		{"iam", "put-user-policy", "--user-name", "etl-bot", "--policy-name", "all", "--policy-document", `{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}`},
		{"iam", "list-users"},
	} {
		out, err = e.cli(t, everything, args...)
		refusedWith(t, "non-admin "+args[1], "AccessDenied", out, err)
	}
	e.mustCLI(t, a, "iam", "put-user-policy", "--user-name", "etl-bot", "--policy-name", "iam", "--policy-document",
		`{"Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}`)
	out, err = e.cli(t, bot, "iam", "create-user", "--user-name", "mallory")
	refusedWith(t, "a user's key with iam:*", "AccessDenied", out, err)
	if _, err := e.l.Auth.GetUser(ctx, "mallory"); err == nil {
		t.Errorf("a refused create-user created the user")
	}

	// Removing the policy takes the rights away at once.
	e.mustCLI(t, a, "iam", "delete-user-policy", "--user-name", "etl-bot", "--policy-name", "read-catalog")
	out, err = e.cli(t, bot, "glue", "get-databases")
	refusedWith(t, "after delete-user-policy", "AccessDeniedException", out, err)
	out, err = e.cli(t, a, "iam", "delete-user-policy", "--user-name", "etl-bot", "--policy-name", "read-catalog")
	refusedWith(t, "delete a missing policy", "NoSuchEntity", out, err)
	e.mustCLI(t, a, "iam", "delete-user-policy", "--user-name", "etl-bot", "--policy-name", "iam")

	ids := strings.Fields(e.mustCLI(t, a, "iam", "list-access-keys", "--user-name", "etl-bot", "--query", "AccessKeyMetadata[].AccessKeyId"))
	if len(ids) != 2 {
		t.Fatalf("keys: %v", ids)
	}
	for _, id := range ids {
		e.mustCLI(t, a, "iam", "delete-access-key", "--user-name", "etl-bot", "--access-key-id", id)
	}
	out, err = e.cli(t, bot, "glue", "get-databases")
	refusedWith(t, "a deleted key", "UnrecognizedClientException", out, err)
	e.mustCLI(t, a, "iam", "delete-user", "--user-name", "etl-bot")
	if got := e.mustCLI(t, a, "iam", "list-users", "--query", "length(Users)"); got != "0" {
		t.Errorf("list-users after delete: %q", got)
	}
	out, err = e.cli(t, a, "iam", "get-user", "--user-name", "etl-bot")
	refusedWith(t, "a deleted user", "NoSuchEntity", out, err)
}

// signedForm sends a query-protocol form POST signed for service ("" for
// unsigned).
func (e *env) signedForm(t *testing.T, k auth.Key, service, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.url+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if service != "" {
		h := sha256.Sum256([]byte(body))
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey},
			req, hex.EncodeToString(h[:]), service, "us-east-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHostileQueryRequests(t *testing.T) {
	e := newEnv(t, false)
	const cw = "Version=2010-08-01&Action="
	for _, c := range []struct {
		name, service, body string
		status              int
		code                string
	}{
		{"unsigned", "", cw + "DescribeAlarms", 403, "MissingAuthenticationToken"},
		{"signed for glue", "glue", cw + "DescribeAlarms", 400, "InvalidAction"},
		{"an IAM action signed for CloudWatch", "monitoring", "Version=2010-05-08&Action=CreateUser&UserName=x", 400, "InvalidAction"},
		{"a CloudWatch action signed for IAM", "iam", cw + "DescribeAlarms", 400, "InvalidAction"},
		{"no action", "monitoring", "Version=2010-08-01", 400, "MissingParameter"},
		{"unknown action", "monitoring", cw + "PutDashboard", 400, "InvalidAction"},
		{"other version", "monitoring", "Version=2099-01-01&Action=DescribeAlarms", 400, "InvalidParameterValue"},
		{"malformed form", "monitoring", cw + "DescribeAlarms&x=%zz", 400, "MalformedQueryString"},
		{"bad MaxRecords", "monitoring", cw + "DescribeAlarms&MaxRecords=1e9", 400, "InvalidParameterValue"},
		{"too many records", "monitoring", cw + "DescribeAlarms&MaxRecords=101", 400, "InvalidParameterValue"},
		{"bad NextToken", "monitoring", cw + "DescribeAlarms&NextToken=x%27%3B+DROP", 400, "InvalidNextToken"},
		{"control character in a name", "monitoring", cw + "SetAlarmState&AlarmName=a%00b&StateValue=OK&StateReason=x", 400, "InvalidParameterValue"},
		{"missing alarm", "monitoring", cw + "SetAlarmState&AlarmName=nope&StateValue=OK&StateReason=x", 404, "ResourceNotFound"},
		{"bad state", "monitoring", cw + "PutMetricAlarm&AlarmName=a&Namespace=Glue&MetricName=glue.driver.aggregate.numFailedTasks&Threshold=1&ComparisonOperator=LessThanThreshold&EvaluationPeriods=1", 400, "InvalidParameterValue"},
		{"metric math", "monitoring", cw + "GetMetricData&StartTime=2025-01-01T00:00:00Z&EndTime=2025-01-02T00:00:00Z&MetricDataQueries.member.1.Id=m&MetricDataQueries.member.1.Expression=SUM(METRICS())", 400, "InvalidParameterValue"},
		{"backwards time", "monitoring", cw + "GetMetricStatistics&Namespace=Glue&MetricName=glue.driver.aggregate.numFailedTasks&StartTime=2025-01-02T00:00:00Z&EndTime=2025-01-01T00:00:00Z&Period=60&Statistics.member.1=Sum", 400, "InvalidParameterValue"},
		{"zero period", "monitoring", cw + "GetMetricStatistics&Namespace=Glue&MetricName=glue.driver.aggregate.numFailedTasks&Dimensions.member.1.Name=JobName&Dimensions.member.1.Value=j&StartTime=2025-01-01T00:00:00Z&EndTime=2025-01-02T00:00:00Z&Period=0&Statistics.member.1=Sum", 400, "InvalidParameterValue"},
		{"user name", "iam", "Version=2010-05-08&Action=CreateUser&UserName=a/b", 400, "ValidationError"},
		{"policy on a missing user", "iam", "Version=2010-05-08&Action=PutUserPolicy&UserName=ghost&PolicyName=p&PolicyDocument=%7B%7D", 400, "MalformedPolicyDocument"},
		{"key of a missing user", "iam", "Version=2010-05-08&Action=DeleteAccessKey&UserName=ghost&AccessKeyId=" + e.admin.AccessKeyID, 404, "NoSuchEntity"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := e.signedForm(t, e.admin, c.service, c.body)
			if status != c.status || !strings.Contains(body, "<Code>"+c.code+"</Code>") || !strings.Contains(body, "<ErrorResponse") {
				t.Errorf("%d %s, want %d %s", status, body, c.status, c.code)
			}
		})
	}
	// The admin key is no IAM user's: another user's key id does not
	// delete it.
	if _, err := e.l.Auth.GetKey(context.Background(), e.admin.AccessKeyID); err != nil {
		t.Errorf("the admin key: %v", err)
	}
	big := cw + "DescribeAlarms&x=" + strings.Repeat("x", 9<<20)
	if status, body := e.signedForm(t, e.admin, "monitoring", big); status != 413 {
		t.Errorf("huge body: %d %.200s", status, body)
	}
}
