package auth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tarn-lake/tarn/internal/meta"
)

// Migrations create auth's tables. Released migrations are never edited; add
// a new one instead.
var Migrations = []meta.Migration{
	{Version: 1, Name: "access keys", SQL: `
CREATE TABLE auth_keys (
	access_key_id TEXT PRIMARY KEY,
	secret_access_key TEXT NOT NULL,
	name TEXT NOT NULL UNIQUE,
	policy TEXT NOT NULL DEFAULT '',
	admin INTEGER NOT NULL DEFAULT 0,
	created_at TEXT NOT NULL
);
`},
	{Version: 2, Name: "IAM users, their inline policies, inactive keys", SQL: `
CREATE TABLE auth_users (
	name TEXT PRIMARY KEY,
	user_id TEXT NOT NULL UNIQUE,
	created_at TEXT NOT NULL
);
CREATE TABLE auth_user_policies (
	user_name TEXT NOT NULL,
	name TEXT NOT NULL,
	document TEXT NOT NULL,
	PRIMARY KEY (user_name, name)
);
ALTER TABLE auth_keys ADD COLUMN user_name TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_keys ADD COLUMN inactive INTEGER NOT NULL DEFAULT 0;
`},
}

// Key is an access key pair with its name and rights.
type Key struct {
	// AccessKeyID identifies the key ("TK" and 18 upper-case letters and
	// digits for generated keys).
	AccessKeyID string `json:"access_key_id"`
	// SecretAccessKey is the shared secret (40 characters for generated
	// keys). Listings and principals leave it empty.
	SecretAccessKey string `json:"secret_access_key,omitempty"`
	// Name is unique among keys.
	Name string `json:"name"`
	// Policy says what the key may do; ignored for admin keys.
	Policy Policy `json:"policy,omitzero"`
	// Admin keys are allowed everything.
	Admin     bool      `json:"admin"`
	CreatedAt time.Time `json:"created_at"`
	// User is the IAM user the key belongs to ("" for tarn's own keys);
	// its policy is then the union of the user's inline policies.
	User string `json:"user,omitempty"`
	// Inactive keys authenticate nothing (IAM's UpdateAccessKey).
	Inactive bool `json:"inactive,omitempty"`
}

// Allowed reports whether the key may perform action on resource.
func (k Key) Allowed(action, resource string) bool {
	return k.Admin || k.Policy.Evaluate(action, resource)
}

// AccessKeyIDPrefix starts every generated access key id.
const AccessKeyIDPrefix = "TK"

const (
	accessKeyIDLen = 20
	secretLen      = 40
	idAlphabet     = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)

// NewAccessKeyID returns a random access key id: "TK" and 18 characters
// from A-Z and 0-9.
func NewAccessKeyID() string {
	b := make([]byte, accessKeyIDLen)
	copy(b, AccessKeyIDPrefix)
	for i := len(AccessKeyIDPrefix); i < len(b); {
		var r [32]byte
		_, _ = rand.Read(r[:]) // crypto/rand.Read never fails
		for _, c := range r {
			// 252 = 7*36: rejecting larger values keeps the choice uniform.
			if c < 252 && i < len(b) {
				b[i] = idAlphabet[int(c)%len(idAlphabet)]
				i++
			}
		}
	}
	return string(b)
}

// NewSecretAccessKey returns a random 40-character secret (240 random bits,
// base64 alphabet, like AWS's secrets).
func NewSecretAccessKey() string {
	var r [secretLen * 3 / 4]byte
	_, _ = rand.Read(r[:])
	return base64.StdEncoding.EncodeToString(r[:])
}

// ValidateAccessKeyID checks an access key id given by a user (for example
// in TARN_ACCESS_KEY_ID): 3 to 128 characters from A-Z, a-z, 0-9 and
// "._-". It may not contain "/" (which separates the credential scope).
func ValidateAccessKeyID(id string) error {
	if len(id) < 3 || len(id) > 128 {
		return fmt.Errorf("%w: access key id must have 3 to 128 characters, not %d", ErrInvalidKey, len(id))
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: access key id %q may only have letters, digits, '.', '_' and '-'", ErrInvalidKey, id)
		}
	}
	return nil
}

// ValidateSecretAccessKey checks a secret given by a user: 8 to 128
// printable ASCII characters without spaces.
func ValidateSecretAccessKey(secret string) error {
	if len(secret) < 8 || len(secret) > 128 {
		return fmt.Errorf("%w: secret access key must have 8 to 128 characters, not %d", ErrInvalidKey, len(secret))
	}
	for _, c := range secret {
		if c <= ' ' || c > '~' {
			return fmt.Errorf("%w: secret access key may only have printable ASCII characters without spaces", ErrInvalidKey)
		}
	}
	return nil
}

// ValidateKeyName checks a key name: 1 to 64 characters from A-Z, a-z,
// 0-9 and "._-@".
func ValidateKeyName(name string) error {
	if len(name) < 1 || len(name) > 64 {
		return fmt.Errorf("%w: key name must have 1 to 64 characters, not %d", ErrInvalidKey, len(name))
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '@') {
			return fmt.Errorf("%w: key name %q may only have letters, digits, '.', '_', '-' and '@'", ErrInvalidKey, name)
		}
	}
	return nil
}

// CreateKey creates a non-admin key with a generated id and secret. The
// returned Key includes the secret, which cannot be shown again by listings.
func (s *Service) CreateKey(ctx context.Context, name string, policy Policy) (Key, error) {
	defer s.keys.invalidate() // after the change is committed
	if err := ValidateKeyName(name); err != nil {
		return Key{}, fmt.Errorf("cannot create access key %q: %w", name, err)
	}
	if err := policy.Validate(); err != nil {
		return Key{}, fmt.Errorf("cannot create access key %q: %w", name, err)
	}
	k := Key{AccessKeyID: NewAccessKeyID(), SecretAccessKey: NewSecretAccessKey(), Name: name, Policy: policy,
		CreatedAt: s.cfg.Now().UTC()}
	if err := insertKey(ctx, s.db.SQL(), k); err != nil {
		return Key{}, fmt.Errorf("cannot create access key %q: %w", name, err)
	}
	return k, nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func insertKey(ctx context.Context, q execer, k Key) error {
	// A policy without statements (an IAM user's before its first
	// policy) is stored empty: it denies everything.
	pol := ""
	if len(k.Policy.Statements) > 0 {
		b, err := json.Marshal(k.Policy)
		if err != nil {
			return err
		}
		pol = string(b)
	}
	_, err := q.ExecContext(ctx, `INSERT INTO auth_keys (access_key_id, secret_access_key, name, policy, admin, created_at, user_name) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.AccessKeyID, k.SecretAccessKey, k.Name, pol, k.Admin, meta.FormatTime(k.CreatedAt), k.User)
	if meta.IsUniqueViolation(err) {
		return fmt.Errorf("%w: a key with id %q or name %q exists", ErrKeyExists, k.AccessKeyID, k.Name)
	}
	return err
}

const keyColumns = `access_key_id, secret_access_key, name, policy, admin, created_at, user_name, inactive`

func scanKey(sc interface{ Scan(...any) error }) (Key, error) {
	var k Key
	var pol, created string
	if err := sc.Scan(&k.AccessKeyID, &k.SecretAccessKey, &k.Name, &pol, &k.Admin, &created, &k.User, &k.Inactive); err != nil {
		return Key{}, err
	}
	k.CreatedAt = meta.ParseTime(created)
	if pol != "" {
		p, err := ParsePolicy([]byte(pol))
		if err != nil {
			return Key{}, fmt.Errorf("stored policy of key %q: %w", k.AccessKeyID, err)
		}
		k.Policy = p
	}
	return k, nil
}

// GetKey returns a key with its secret, or an error wrapping ErrNoSuchKey.
func (s *Service) GetKey(ctx context.Context, id string) (Key, error) {
	k, err := getKey(ctx, s.db.SQL(), id)
	if err != nil {
		return Key{}, fmt.Errorf("cannot get access key %q: %w", id, err)
	}
	return k, nil
}

func getKey(ctx context.Context, q execer, id string) (Key, error) {
	k, err := scanKey(q.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM auth_keys WHERE access_key_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, ErrNoSuchKey
	}
	return k, err
}

// ListKeys returns all keys ordered by creation, without their secrets.
func (s *Service) ListKeys(ctx context.Context) ([]Key, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT `+keyColumns+` FROM auth_keys ORDER BY created_at, access_key_id`)
	if err != nil {
		return nil, fmt.Errorf("cannot list access keys: %w", err)
	}
	defer rows.Close()
	var keys []Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot list access keys: %w", err)
		}
		k.SecretAccessKey = ""
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list access keys: %w", err)
	}
	return keys, nil
}

// DeleteKey deletes a key; requests signed with it fail from then on. It
// refuses to delete the last admin key, which would lock everyone out.
func (s *Service) DeleteKey(ctx context.Context, id string) error {
	defer s.keys.invalidate() // after the change is committed
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		k, err := getKey(ctx, tx, id)
		if err != nil {
			return err
		}
		if k.Admin {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM auth_keys WHERE admin = 1`).Scan(&n); err != nil {
				return err
			}
			if n <= 1 {
				return fmt.Errorf("%w: it is the last admin key", ErrInvalidKey)
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM auth_keys WHERE access_key_id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("cannot delete access key %q: %w", id, err)
	}
	return nil
}

// SetPolicy replaces a non-admin key's policy.
func (s *Service) SetPolicy(ctx context.Context, id string, policy Policy) error {
	defer s.keys.invalidate() // after the change is committed
	if err := policy.Validate(); err != nil {
		return fmt.Errorf("cannot set policy of access key %q: %w", id, err)
	}
	b, err := json.Marshal(policy)
	if err != nil {
		return fmt.Errorf("cannot set policy of access key %q: %w", id, err)
	}
	res, err := s.db.SQL().ExecContext(ctx, `UPDATE auth_keys SET policy = ? WHERE access_key_id = ?`, string(b), id)
	if err != nil {
		return fmt.Errorf("cannot set policy of access key %q: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("cannot set policy of access key %q: %w", id, ErrNoSuchKey)
	}
	return nil
}

// adminKeyFile is the JSON written to <Home>/admin-key.json.
type adminKeyFile struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	CreatedAt       time.Time `json:"created_at"`
	Note            string    `json:"note"`
}

// Names of the admin keys EnsureAdmin makes.
const (
	AdminKeyName    = "admin"
	EnvAdminKeyName = "admin-env"
)

// EnsureAdmin makes sure an admin key exists and returns it (with its secret).
//
// If Config.AdminAccessKeyID/AdminSecretAccessKey, or else the environment
// variables TARN_ACCESS_KEY_ID and TARN_SECRET_ACCESS_KEY, are set, they
// define the admin key: it is created, or its secret is updated and it is
// made admin (as MinIO's root user variables do). Other admin keys are kept.
//
// Otherwise, if an admin key exists it is returned; if none does, one is
// generated and written to <Home>/admin-key.json with mode 0600.
//
// created is true only when tarn generated a new secret, which the caller
// should then print once; it is false for keys defined by the environment,
// whose secret the operator already knows.
func (s *Service) EnsureAdmin(ctx context.Context) (k Key, created bool, err error) {
	defer s.keys.invalidate() // after the change is committed
	id, secret := s.cfg.AdminAccessKeyID, s.cfg.AdminSecretAccessKey
	if id == "" && secret == "" {
		id, secret = os.Getenv(EnvAccessKeyID), os.Getenv(EnvSecretAccessKey)
	}
	switch {
	case id != "" && secret != "":
		k, err = s.ensureEnvAdmin(ctx, id, secret)
		return k, false, err
	case id != "":
		return Key{}, false, fmt.Errorf("cannot set up admin key: %s is set but %s is not: %w", EnvAccessKeyID, EnvSecretAccessKey, ErrInvalidKey)
	case secret != "":
		return Key{}, false, fmt.Errorf("cannot set up admin key: %s is set but %s is not: %w", EnvSecretAccessKey, EnvAccessKeyID, ErrInvalidKey)
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		k, err = scanKey(tx.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM auth_keys WHERE admin = 1 ORDER BY created_at, access_key_id LIMIT 1`))
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		k = Key{AccessKeyID: NewAccessKeyID(), SecretAccessKey: NewSecretAccessKey(), Name: AdminKeyName, Admin: true,
			CreatedAt: s.cfg.Now().UTC()}
		if err := insertKey(ctx, tx, k); err != nil {
			return err
		}
		created = true
		// Written inside the transaction: if the file cannot be written the
		// key is not created, so no admin key exists whose secret nobody has.
		return s.writeAdminKeyFile(k)
	})
	if err != nil {
		return Key{}, false, fmt.Errorf("cannot set up admin key: %w", err)
	}
	return k, created, nil
}

func (s *Service) ensureEnvAdmin(ctx context.Context, id, secret string) (Key, error) {
	if err := ValidateAccessKeyID(id); err != nil {
		return Key{}, fmt.Errorf("cannot set up admin key from %s: %w", EnvAccessKeyID, err)
	}
	if err := ValidateSecretAccessKey(secret); err != nil {
		return Key{}, fmt.Errorf("cannot set up admin key from %s: %w", EnvSecretAccessKey, err)
	}
	var k Key
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		k, err = getKey(ctx, tx, id)
		switch {
		case errors.Is(err, ErrNoSuchKey):
			k = Key{AccessKeyID: id, SecretAccessKey: secret, Name: EnvAdminKeyName, Admin: true, CreatedAt: s.cfg.Now().UTC()}
			// The name is unique: if another key holds it (an earlier
			// TARN_ACCESS_KEY_ID), name this one after its id.
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM auth_keys WHERE name = ?`, k.Name).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				k.Name = EnvAdminKeyName + "-" + id
				if len(k.Name) > 64 {
					k.Name = k.Name[:64]
				}
			}
			return insertKey(ctx, tx, k)
		case err != nil:
			return err
		}
		k.SecretAccessKey, k.Admin = secret, true
		_, err = tx.ExecContext(ctx, `UPDATE auth_keys SET secret_access_key = ?, admin = 1 WHERE access_key_id = ?`, secret, id)
		return err
	})
	if err != nil {
		return Key{}, fmt.Errorf("cannot set up admin key from %s: %w", EnvAccessKeyID, err)
	}
	return k, nil
}

// writeAdminKeyFile writes the key to <Home>/admin-key.json, mode 0600,
// atomically (temporary file, fsync, rename).
func (s *Service) writeAdminKeyFile(k Key) error {
	if s.cfg.Home == "" {
		return errors.New("cannot write admin key file: no home folder configured")
	}
	if err := os.MkdirAll(s.cfg.Home, 0o700); err != nil {
		return fmt.Errorf("cannot write admin key file: %w", err)
	}
	data, err := json.MarshalIndent(adminKeyFile{
		AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, CreatedAt: k.CreatedAt,
		Note: "tarn admin access key: keep this file private (mode 0600); it allows everything",
	}, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(s.cfg.Home, AdminKeyFile)
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("cannot write admin key file: %w", err)
	}
	defer os.Remove(tmp) // after a successful rename this is a no-op
	// The umask can only remove bits, but be explicit about the mode.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("cannot write admin key file: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("cannot write admin key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("cannot write admin key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot write admin key file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("cannot write admin key file: %w", err)
	}
	return nil
}

// ReadAdminKeyFile reads a key written by EnsureAdmin from <home>/admin-key.json
// (for the CLI, which signs its requests to a running server with it).
func ReadAdminKeyFile(home string) (Key, error) {
	data, err := os.ReadFile(filepath.Join(home, AdminKeyFile))
	if err != nil {
		return Key{}, fmt.Errorf("cannot read admin key file: %w", err)
	}
	var f adminKeyFile
	if err := json.Unmarshal(data, &f); err != nil {
		return Key{}, fmt.Errorf("cannot read admin key file: %w", err)
	}
	if f.AccessKeyID == "" || f.SecretAccessKey == "" {
		return Key{}, fmt.Errorf("cannot read admin key file: %w: no access_key_id or secret_access_key", ErrInvalidKey)
	}
	return Key{AccessKeyID: f.AccessKeyID, SecretAccessKey: f.SecretAccessKey, Name: AdminKeyName, Admin: true, CreatedAt: f.CreatedAt}, nil
}
