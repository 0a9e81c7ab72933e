package auth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/meta"
)

// IAM users: a name that owns up to MaxUserKeys access keys and named inline
// policies. A user's keys are ordinary keys whose policy is the union of
// the user's policies, kept in step on every change, so that authorizing a
// request reads one key as before.

// Errors of users.
var (
	ErrNoSuchUser       = errors.New("no such user")
	ErrUserExists       = errors.New("user exists")
	ErrNoSuchUserPolicy = errors.New("no such user policy")
	ErrUserNotEmpty     = errors.New("user has access keys or policies")
	ErrTooManyKeys      = errors.New("too many access keys")
	ErrInvalidUser      = errors.New("invalid user")
)

// MaxUserKeys is IAM's limit of access keys per user.
const MaxUserKeys = 2

// User is an IAM user.
type User struct {
	Name      string    `json:"name"`
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
}

// ValidateUserName checks an IAM user name: 1-64 of letters, digits and
// "+=,.@_-", as IAM has it.
func ValidateUserName(name string) error {
	if len(name) < 1 || len(name) > 64 {
		return fmt.Errorf("%w: a user name has 1 to 64 characters, not %d", ErrInvalidUser, len(name))
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("+=,.@_-", c)) {
			return fmt.Errorf("%w: user name %q may only have letters, digits and +=,.@_-", ErrInvalidUser, name)
		}
	}
	return nil
}

func newUserID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var b [17]byte
	_, _ = rand.Read(b[:])
	out := []byte("AIDA")
	for _, x := range b {
		out = append(out, alphabet[int(x)%len(alphabet)])
	}
	return string(out)
}

// CreateUser creates an IAM user with no keys and no policies.
func (s *Service) CreateUser(ctx context.Context, name string) (User, error) {
	if err := ValidateUserName(name); err != nil {
		return User{}, fmt.Errorf("cannot create user %q: %w", name, err)
	}
	u := User{Name: name, ID: newUserID(), CreatedAt: s.cfg.Now().UTC()}
	_, err := s.db.SQL().ExecContext(ctx, `INSERT INTO auth_users (name, user_id, created_at) VALUES (?, ?, ?)`, u.Name, u.ID, meta.FormatTime(u.CreatedAt))
	if meta.IsUniqueViolation(err) {
		return User{}, fmt.Errorf("cannot create user %q: %w", name, ErrUserExists)
	}
	if err != nil {
		return User{}, fmt.Errorf("cannot create user %q: %w", name, err)
	}
	return u, nil
}

func getUser(ctx context.Context, q execer, name string) (User, error) {
	var u User
	var created string
	err := q.QueryRowContext(ctx, `SELECT name, user_id, created_at FROM auth_users WHERE name = ?`, name).Scan(&u.Name, &u.ID, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %q: %w", name, ErrNoSuchUser)
	}
	u.CreatedAt = meta.ParseTime(created)
	return u, err
}

// GetUser returns a user.
func (s *Service) GetUser(ctx context.Context, name string) (User, error) {
	return getUser(ctx, s.db.SQL(), name)
}

// ListUsers returns the users by name.
func (s *Service) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT name, user_id, created_at FROM auth_users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("cannot list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var created string
		if err := rows.Scan(&u.Name, &u.ID, &created); err != nil {
			return nil, err
		}
		u.CreatedAt = meta.ParseTime(created)
		out = append(out, u)
	}
	return out, rows.Err()
}

// DeleteUser deletes a user that has no keys and no policies left, as IAM
// does (DeleteConflict otherwise).
func (s *Service) DeleteUser(ctx context.Context, name string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := getUser(ctx, tx, name); err != nil {
			return err
		}
		var keys, pols int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM auth_keys WHERE user_name = ?`, name).Scan(&keys); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM auth_user_policies WHERE user_name = ?`, name).Scan(&pols); err != nil {
			return err
		}
		if keys+pols > 0 {
			return fmt.Errorf("cannot delete user %q: %w (%d access keys, %d policies): delete them first", name, ErrUserNotEmpty, keys, pols)
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM auth_users WHERE name = ?`, name)
		return err
	})
}

// userPolicy is the union of a user's inline policies.
func userPolicy(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, user string) (Policy, error) {
	rows, err := q.QueryContext(ctx, `SELECT document FROM auth_user_policies WHERE user_name = ? ORDER BY name`, user)
	if err != nil {
		return Policy{}, err
	}
	defer rows.Close()
	p := Policy{Version: "2012-10-17"}
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return Policy{}, err
		}
		one, err := ParsePolicy([]byte(doc))
		if err != nil {
			return Policy{}, err
		}
		p.Statements = append(p.Statements, one.Statements...)
	}
	return p, rows.Err()
}

// syncUserKeys gives every key of user the union of its policies.
func syncUserKeys(ctx context.Context, tx *sql.Tx, user string) error {
	p, err := userPolicy(ctx, tx, user)
	if err != nil {
		return err
	}
	doc := ""
	if len(p.Statements) > 0 {
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		doc = string(b)
	}
	_, err = tx.ExecContext(ctx, `UPDATE auth_keys SET policy = ? WHERE user_name = ?`, doc, user)
	return err
}

// CreateUserKey creates an access key of user with the user's policies.
// The returned Key has the secret, shown this once.
func (s *Service) CreateUserKey(ctx context.Context, user string) (Key, error) {
	defer s.keys.invalidate()
	var k Key
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := getUser(ctx, tx, user); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM auth_keys WHERE user_name = ?`, user).Scan(&n); err != nil {
			return err
		}
		if n >= MaxUserKeys {
			return fmt.Errorf("%w: user %q has %d access keys, the most a user may have; delete one first", ErrTooManyKeys, user, n)
		}
		p, err := userPolicy(ctx, tx, user)
		if err != nil {
			return err
		}
		id := NewAccessKeyID()
		// The key's name is its id: unique, and within key names' rules
		// whatever the user's name.
		k = Key{AccessKeyID: id, SecretAccessKey: NewSecretAccessKey(), Name: id, Policy: p, User: user, CreatedAt: s.cfg.Now().UTC()}
		return insertKey(ctx, tx, k)
	})
	if err != nil {
		return Key{}, fmt.Errorf("cannot create an access key for user %q: %w", user, err)
	}
	return k, nil
}

// UserKeys returns a user's keys, without secrets.
func (s *Service) UserKeys(ctx context.Context, user string) ([]Key, error) {
	if _, err := s.GetUser(ctx, user); err != nil {
		return nil, err
	}
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT `+keyColumns+` FROM auth_keys WHERE user_name = ? ORDER BY created_at, access_key_id`, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		k.SecretAccessKey = ""
		out = append(out, k)
	}
	return out, rows.Err()
}

// userKey checks that key id belongs to user.
func (s *Service) userKey(ctx context.Context, user, id string) error {
	k, err := getKey(ctx, s.db.SQL(), id)
	if err != nil || k.User != user {
		return fmt.Errorf("access key %q of user %q: %w", id, user, ErrNoSuchKey)
	}
	return nil
}

// DeleteUserKey deletes one of user's keys.
func (s *Service) DeleteUserKey(ctx context.Context, user, id string) error {
	if err := s.userKey(ctx, user, id); err != nil {
		return err
	}
	return s.DeleteKey(ctx, id)
}

// SetKeyActive activates or deactivates one of user's keys.
func (s *Service) SetKeyActive(ctx context.Context, user, id string, active bool) error {
	defer s.keys.invalidate()
	if err := s.userKey(ctx, user, id); err != nil {
		return err
	}
	_, err := s.db.SQL().ExecContext(ctx, `UPDATE auth_keys SET inactive = ? WHERE access_key_id = ?`, !active, id)
	return err
}

// PutUserPolicy adds or replaces an inline policy of user; the user's keys
// have it at once.
func (s *Service) PutUserPolicy(ctx context.Context, user, name string, doc []byte) error {
	defer s.keys.invalidate()
	if _, err := ParsePolicy(doc); err != nil {
		return fmt.Errorf("cannot put policy %q of user %q: %w", name, user, err)
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := getUser(ctx, tx, user); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM auth_user_policies WHERE user_name = ? AND name = ?`, user, name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO auth_user_policies (user_name, name, document) VALUES (?, ?, ?)`, user, name, string(doc)); err != nil {
			return err
		}
		return syncUserKeys(ctx, tx, user)
	})
}

// GetUserPolicy returns an inline policy's document as it was put.
func (s *Service) GetUserPolicy(ctx context.Context, user, name string) (string, error) {
	if _, err := s.GetUser(ctx, user); err != nil {
		return "", err
	}
	var doc string
	err := s.db.SQL().QueryRowContext(ctx, `SELECT document FROM auth_user_policies WHERE user_name = ? AND name = ?`, user, name).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("user %q has no policy %q: %w", user, name, ErrNoSuchUserPolicy)
	}
	return doc, err
}

// DeleteUserPolicy removes an inline policy; the user's keys lose it at once.
func (s *Service) DeleteUserPolicy(ctx context.Context, user, name string) error {
	defer s.keys.invalidate()
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := getUser(ctx, tx, user); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM auth_user_policies WHERE user_name = ? AND name = ?`, user, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %q has no policy %q: %w", user, name, ErrNoSuchUserPolicy)
		}
		return syncUserKeys(ctx, tx, user)
	})
}

// UserPolicyNames lists a user's inline policies by name.
func (s *Service) UserPolicyNames(ctx context.Context, user string) ([]string, error) {
	if _, err := s.GetUser(ctx, user); err != nil {
		return nil, err
	}
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT name FROM auth_user_policies WHERE user_name = ? ORDER BY name`, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
