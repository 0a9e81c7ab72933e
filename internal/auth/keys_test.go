package auth

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/tarn-lake/tarn/internal/meta"
	"github.com/tarn-lake/tarn/internal/meta/metatest"
)

func TestGeneratedCredentials(t *testing.T) {
	idRe := regexp.MustCompile(`^TK[A-Z0-9]{18}$`)
	secretRe := regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`)
	seen := map[string]bool{}
	for range 200 {
		id, secret := NewAccessKeyID(), NewSecretAccessKey()
		if !idRe.MatchString(id) || !secretRe.MatchString(secret) {
			t.Fatalf("id %q secret %q", id, secret)
		}
		if seen[id] || seen[secret] {
			t.Fatal("repeated credential")
		}
		seen[id], seen[secret] = true, true
		if err := ValidateAccessKeyID(id); err != nil {
			t.Fatal(err)
		}
		if err := ValidateSecretAccessKey(secret); err != nil {
			t.Fatal(err)
		}
	}
}

func TestKeyCRUD(t *testing.T) {
	ctx := context.Background()
	s := newService(t, Config{})
	pol := mustPolicy(t, `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/raw/*"}]}`)

	k, err := s.CreateKey(ctx, "loader", pol)
	if err != nil {
		t.Fatal(err)
	}
	if k.SecretAccessKey == "" || k.Admin || k.CreatedAt.IsZero() {
		t.Fatalf("created %+v", k)
	}
	got, err := s.GetKey(ctx, k.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SecretAccessKey != k.SecretAccessKey || got.Name != "loader" || !got.CreatedAt.Equal(k.CreatedAt) ||
		!got.Allowed("s3:PutObject", S3Resource("lake", "raw/x")) || got.Allowed("s3:GetObject", S3Resource("lake", "raw/x")) {
		t.Fatalf("got %+v", got)
	}

	if _, err := s.CreateKey(ctx, "loader", pol); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := s.CreateKey(ctx, "bad name", pol); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := s.CreateKey(ctx, "nopolicy", Policy{}); !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("empty policy: %v", err)
	}
	bad := Policy{Statements: []Statement{{Effect: "Maybe", Actions: []string{"s3:*"}, Resources: []string{"*"}}}}
	if _, err := s.CreateKey(ctx, "badpolicy", bad); !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("bad policy: %v", err)
	}
	reader, err := s.CreateKey(ctx, "reader", mustPolicy(t, `{"Statement": {"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}}`))
	if err != nil {
		t.Fatal(err)
	}

	keys, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].AccessKeyID != k.AccessKeyID || keys[1].AccessKeyID != reader.AccessKeyID {
		t.Fatalf("listed %+v", keys)
	}
	for _, lk := range keys {
		if lk.SecretAccessKey != "" {
			t.Fatalf("listing shows the secret of %s", lk.Name)
		}
	}
	data, _ := json.Marshal(keys[0])
	if regexp.MustCompile(`secret`).Match(data) {
		t.Fatalf("listed key JSON has a secret: %s", data)
	}

	if err := s.SetPolicy(ctx, reader.AccessKeyID, pol); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetKey(ctx, reader.AccessKeyID); got.Allowed("s3:GetObject", "arn:aws:s3:::x/y") {
		t.Fatal("policy not replaced")
	}
	if err := s.SetPolicy(ctx, "TKNOSUCHKEY000000000", pol); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("set policy of unknown key: %v", err)
	}

	if err := s.DeleteKey(ctx, k.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetKey(ctx, k.AccessKeyID); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("get deleted: %v", err)
	}
	if err := s.DeleteKey(ctx, k.AccessKeyID); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("delete twice: %v", err)
	}
	// The name is free again.
	if _, err := s.CreateKey(ctx, "loader", pol); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureAdminFile(t *testing.T) {
	ctx := context.Background()
	t.Setenv(EnvAccessKeyID, "")
	t.Setenv(EnvSecretAccessKey, "")
	home := t.TempDir()
	db, err := meta.Open(ctx, metatest.Config(t, filepath.Join(home, "tarn.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := New(ctx, db, Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	k, created, err := s.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !created || !k.Admin || k.SecretAccessKey == "" || k.Name != AdminKeyName {
		t.Fatalf("first call: created %v, key %+v", created, k)
	}
	path := filepath.Join(home, AdminKeyFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin key file mode %v, want 0600", fi.Mode().Perm())
	}
	fromFile, err := ReadAdminKeyFile(home)
	if err != nil {
		t.Fatal(err)
	}
	if fromFile.AccessKeyID != k.AccessKeyID || fromFile.SecretAccessKey != k.SecretAccessKey {
		t.Fatalf("file has %+v, want %+v", fromFile, k)
	}
	if !k.Allowed("anything:AtAll", "arn:aws:s3:::x") {
		t.Fatal("admin key is not allowed everything")
	}

	// Later calls, also from a new service on the same database (a restart),
	// return the same key and do not print it again.
	s2, err := New(ctx, db, Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	again, created, err := s2.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if created || again.AccessKeyID != k.AccessKeyID || again.SecretAccessKey != k.SecretAccessKey {
		t.Fatalf("second call: created %v, key %+v", created, again)
	}

	// The last admin key cannot be deleted.
	if err := s.DeleteKey(ctx, k.AccessKeyID); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("delete last admin: %v", err)
	}
}

func TestEnsureAdminFromEnv(t *testing.T) {
	ctx := context.Background()
	s := newService(t, Config{})
	t.Setenv(EnvAccessKeyID, "ROOTUSER")
	t.Setenv(EnvSecretAccessKey, "rootpassword1")
	k, created, err := s.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if created || k.AccessKeyID != "ROOTUSER" || k.SecretAccessKey != "rootpassword1" || !k.Admin {
		t.Fatalf("created %v, key %+v", created, k)
	}
	if _, err := os.Stat(filepath.Join(s.cfg.Home, AdminKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("admin key file written for an environment key: %v", err)
	}

	// A new secret in the environment replaces the stored one.
	t.Setenv(EnvSecretAccessKey, "rotated-secret")
	if _, _, err := s.EnsureAdmin(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetKey(ctx, "ROOTUSER")
	if err != nil || got.SecretAccessKey != "rotated-secret" || !got.Admin {
		t.Fatalf("after rotation: %+v, %v", got, err)
	}

	// Another id adds a second admin key.
	t.Setenv(EnvAccessKeyID, "ROOTUSER2")
	if _, _, err := s.EnsureAdmin(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, _ := s.ListKeys(ctx); len(keys) != 2 {
		t.Fatalf("keys %+v", keys)
	}

	for _, tc := range []struct{ id, secret string }{
		{"ROOTUSER", ""},
		{"", "secret-only"},
		{"a/b", "rootpassword1"},
		{"ROOTUSER", "short"},
	} {
		t.Setenv(EnvAccessKeyID, tc.id)
		t.Setenv(EnvSecretAccessKey, tc.secret)
		if _, _, err := s.EnsureAdmin(ctx); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("id %q secret %q: err %v, want ErrInvalidKey", tc.id, tc.secret, err)
		}
	}

	// Config fields take precedence over the environment.
	s2 := newService(t, Config{AdminAccessKeyID: "CFGADMIN", AdminSecretAccessKey: "cfg-secret-1"})
	k, _, err = s2.EnsureAdmin(ctx)
	if err != nil || k.AccessKeyID != "CFGADMIN" {
		t.Fatalf("config admin: %+v, %v", k, err)
	}
}
