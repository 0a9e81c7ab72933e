package awsapi_test

import (
	"testing"
)

// Tests of what dbt-athena (docs/dbt.md#dbt-athena) sends to tarn's AWS
// APIs beyond the guides' Glue and Athena calls; .ci/dbt-athena.sh runs
// dbt-athena itself.

// TestSTSGetCallerIdentity: dbt-athena asks STS for the account to name
// the Glue catalog. Any valid key may ask (it learns only about itself);
// an unknown key may not.
func TestSTSGetCallerIdentity(t *testing.T) {
	e := newEnv(t, false)
	nothing := e.key("nothing", `{"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}`)
	if got := e.mustCLI(t, nothing, "sts", "get-caller-identity", "--query", "[Account,Arn,UserId]"); got != "000000000000\tarn:aws:iam::000000000000:user/nothing\t"+nothing.AccessKeyID {
		t.Errorf("get-caller-identity: %q", got)
	}
	if got := e.mustCLI(t, e.admin, "sts", "get-caller-identity", "--query", "Account"); got != "000000000000" {
		t.Errorf("admin's account: %q", got)
	}
	stranger := nothing
	stranger.AccessKeyID = "TKNOSUCHKEY000000000"
	out, err := e.cli(t, stranger, "sts", "get-caller-identity")
	refusedWith(t, "an unknown key", "InvalidClientTokenId", out, err)
	out, err = e.cli(t, nothing, "sts", "assume-role", "--role-arn", "arn:aws:iam::000000000000:role/r", "--role-session-name", "dbt")
	refusedWith(t, "an STS action tarn does not serve", "InvalidAction", out, err)
}
