package client

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/api/apitypes"
)

// The REST API's error codes come back as the sentinels of apitypes, with
// the server's code and message kept, over a real server.
func TestRESTErrorsAreSentinels(t *testing.T) {
	c := serve(t)
	ctx := t.Context()

	_, err := c.Catalog().GetTable(ctx, "nodb", "nope")
	var e *Error
	if !errors.Is(err, apitypes.ErrNotFound) || !errors.As(err, &e) || e.Code != apitypes.CodeNotFound || e.Status != 404 {
		t.Fatalf("missing table: %#v", err)
	}
	// A hostile name stays one path segment: still the missing table, not
	// another route.
	if _, err := c.Catalog().GetTable(ctx, "../keys", "../../keys"); !errors.Is(err, apitypes.ErrNotFound) {
		t.Errorf("table named with ..: %v", err)
	}
	w := apitypes.Workgroup{Name: "wg1"}
	if err := c.Queries().CreateWorkgroup(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := c.Queries().CreateWorkgroup(ctx, w); !errors.Is(err, apitypes.ErrAlreadyExists) || errors.Is(err, apitypes.ErrNotFound) {
		t.Errorf("second workgroup: %v", err)
	}
	if _, err := c.Queries().Submit(ctx, apitypes.StartQueryRequest{SQL: "  "}); !errors.Is(err, apitypes.ErrInvalidRequest) || !strings.Contains(err.Error(), "sql is empty") {
		t.Errorf("empty query: %v", err)
	}
	// A key whose policy allows nothing is refused: AccessDenied.
	pol := json.RawMessage(`{"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::x/*"}]}`)
	k, err := c.Keys().CreateKey(ctx, "nothing", pol)
	if err != nil {
		t.Fatal(err)
	}
	weak, err := New(Config{API: c.API(), Key: apitypes.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := weak.Catalog().ListDatabases(ctx); !errors.Is(err, apitypes.ErrAccessDenied) {
		t.Errorf("key without glue rights: %v", err)
	}
}
