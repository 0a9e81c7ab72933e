package auth

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
)

func TestBearerToken(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := meta.Open(ctx, metatest.Config(t, filepath.Join(dir, "tarn.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := New(ctx, db, DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := ParsePolicy([]byte(`{"Statement": [{"Effect": "Allow", "Action": "glue:GetDatabases", "Resource": "*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.CreateKey(ctx, "reader", pol)
	if err != nil {
		t.Fatal(err)
	}
	req := func(h string) *http.Request {
		r, _ := http.NewRequest("GET", "http://127.0.0.1/api/v1/databases", nil)
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		return r
	}
	p, err := s.AuthenticateAPI(req("Bearer " + Token(k)))
	if err != nil || p.Key.AccessKeyID != k.AccessKeyID || p.Key.SecretAccessKey != "" {
		t.Fatalf("good token: %+v %v", p, err)
	}
	bad := Token(k)
	bad = bad[:len(bad)-1] + map[bool]string{true: "0", false: "1"}[!strings.HasSuffix(bad, "0")]
	for _, c := range []struct {
		h    string
		want error
	}{
		{"Bearer " + bad, ErrSignatureDoesNotMatch},
		{"Bearer tarn_TKNOSUCHKEY000000000_00", ErrInvalidAccessKeyID},
		{"Bearer something-else", ErrAuthorizationHeaderMalformed},
		{"", ErrMissingAuth},
	} {
		if _, err := s.AuthenticateAPI(req(c.h)); !errors.Is(err, c.want) {
			t.Errorf("%q: %v, want %v", c.h, err, c.want)
		}
	}
	// An inactive key's token stops working at once (the key cache must
	// not keep it), and works again once the key is active.
	if _, err := s.CreateUser(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	uk, err := s.CreateUserKey(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateAPI(req("Bearer " + Token(uk))); err != nil {
		t.Fatalf("user key: %v", err)
	}
	if err := s.SetKeyActive(ctx, "ann", uk.AccessKeyID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateAPI(req("Bearer " + Token(uk))); !errors.Is(err, ErrInvalidAccessKeyID) {
		t.Errorf("inactive key's token: %v, want refused", err)
	}
	if err := s.SetKeyActive(ctx, "ann", uk.AccessKeyID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateAPI(req("Bearer " + Token(uk))); err != nil {
		t.Errorf("reactivated key's token: %v", err)
	}
	// A deleted key's token stops working.
	if err := s.DeleteKey(ctx, k.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateAPI(req("Bearer " + Token(k))); !errors.Is(err, ErrInvalidAccessKeyID) {
		t.Errorf("deleted key: %v", err)
	}
}
