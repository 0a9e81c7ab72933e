package awsapi_test

import (
	"context"
	"strings"
	"testing"

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
