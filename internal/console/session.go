package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/meta"
)

// Component is the name under which the console registers its migrations.
const Component = "console"

// Migrations create the console's sessions table. Released migrations are
// never edited; add a new one instead.
var Migrations = []meta.Migration{
	{Version: 1, Name: "console sessions", SQL: `
CREATE TABLE console_sessions (
	id_hash TEXT PRIMARY KEY,
	access_key_id TEXT NOT NULL,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
`},
}

// Cookie names: with TLS the cookie is a __Host- cookie (Secure, Path=/,
// no Domain), which a sibling host or a plain-HTTP page cannot set.
const (
	CookieName       = "tarn_session"
	SecureCookieName = "__Host-tarn_session"
	// CSRFHeader carries the session's CSRF token on every request that is
	// not GET or HEAD.
	CSRFHeader = "X-CSRF-Token"
)

// Errors of sign-in and session authentication. Each maps to an HTTP status
// and code (HTTPStatus), for the console's routes and the REST API alike.
var (
	// ErrBadCredentials: the access key id or the secret is wrong (or the
	// key is inactive). One answer for all three, as a sign-in form should.
	ErrBadCredentials = errors.New("wrong access key id or secret access key")
	// ErrNoSession: the request's session cookie names no live session
	// (forged, expired, signed out, or its key deleted or made inactive).
	ErrNoSession = errors.New("no valid console session: sign in again")
	// ErrCSRF: a request that changes something lacks the session's CSRF
	// token, or comes from another origin.
	ErrCSRF = errors.New("missing or wrong CSRF token")
)

// statusError gives an error its HTTP status and code; the REST API reads
// them through the HTTPStatus method.
type statusError struct {
	status int
	code   string
	err    error
}

func (e *statusError) Error() string             { return e.err.Error() }
func (e *statusError) Unwrap() error             { return e.err }
func (e *statusError) HTTPStatus() (int, string) { return e.status, e.code }
func noSession(format string, args ...any) error {
	return wrapStatus(401, "SessionRequired", ErrNoSession, format, args...)
}
func csrfError(format string, args ...any) error {
	return wrapStatus(403, "InvalidCSRFToken", ErrCSRF, format, args...)
}
func badCredentials(format string, args ...any) error {
	return wrapStatus(401, "InvalidCredentials", ErrBadCredentials, format, args...)
}

func wrapStatus(status int, code string, sentinel error, format string, args ...any) error {
	err := sentinel
	if format != "" {
		err = fmt.Errorf(format+": %w", append(args, sentinel)...)
	}
	return &statusError{status: status, code: code, err: err}
}

// Session is a signed-in session as the console's front end sees it.
type Session struct {
	AccessKeyID string    `json:"access_key_id"`
	Name        string    `json:"name"`
	Admin       bool      `json:"admin"`
	CSRFToken   string    `json:"csrf_token"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// hashID is what the database keeps of a session id: a reader of the
// metadata database cannot turn a row into a cookie.
func hashID(id string) string {
	h := sha256.Sum256([]byte("tarn-console-session:" + id))
	return hex.EncodeToString(h[:])
}

// csrfToken is derived from the session id, so it needs no storage: only
// a page that was given it (or can read the HttpOnly cookie, which no
// script can) knows it.
func csrfToken(id string) string {
	m := hmac.New(sha256.New, []byte(id))
	m.Write([]byte("tarn-console-csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func newID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// SignIn checks an access key's secret and opens a session for it,
// returning the session id (the cookie's value) and the session.
func (c *Console) SignIn(ctx context.Context, accessKeyID, secret string) (string, Session, error) {
	if auth.ValidateAccessKeyID(accessKeyID) != nil || secret == "" {
		return "", Session{}, badCredentials("")
	}
	k, err := c.auth.GetKey(ctx, accessKeyID)
	if errors.Is(err, auth.ErrNoSuchKey) {
		return "", Session{}, badCredentials("")
	}
	if err != nil {
		return "", Session{}, fmt.Errorf("cannot sign in: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(k.SecretAccessKey), []byte(secret)) != 1 || k.Inactive {
		return "", Session{}, badCredentials("")
	}
	id, err := newID()
	if err != nil {
		return "", Session{}, fmt.Errorf("cannot sign in: %w", err)
	}
	now := c.cfg.Now()
	exp := now.Add(c.cfg.TTL)
	err = c.db.Tx(ctx, func(tx *sql.Tx) error {
		// Expired sessions are swept at each sign-in.
		if _, err := tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE expires_at < ?`, meta.FormatTime(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO console_sessions (id_hash, access_key_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			hashID(id), k.AccessKeyID, meta.FormatTime(now), meta.FormatTime(exp))
		return err
	})
	if err != nil {
		return "", Session{}, fmt.Errorf("cannot sign in: %w", err)
	}
	return id, Session{AccessKeyID: k.AccessKeyID, Name: k.Name, Admin: k.Admin, CSRFToken: csrfToken(id), ExpiresAt: exp}, nil
}

// SignOut deletes a session; signing out of a session that is gone is not
// an error.
func (c *Console) SignOut(ctx context.Context, id string) error {
	_, err := c.db.SQL().ExecContext(ctx, `DELETE FROM console_sessions WHERE id_hash = ?`, hashID(id))
	if err != nil {
		return fmt.Errorf("cannot sign out: %w", err)
	}
	return nil
}

// session returns the live session of id with its key (with its secret,
// for the S3 requests the console signs), read again from the database (a
// key deleted, made inactive or given another policy since sign-in counts
// at once).
func (c *Console) session(ctx context.Context, id string) (auth.Key, time.Time, error) {
	if id == "" || len(id) > 128 {
		return auth.Key{}, time.Time{}, noSession("")
	}
	var keyID, expires string
	err := c.db.SQL().QueryRowContext(ctx, `SELECT access_key_id, expires_at FROM console_sessions WHERE id_hash = ?`, hashID(id)).Scan(&keyID, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Key{}, time.Time{}, noSession("")
	}
	if err != nil {
		return auth.Key{}, time.Time{}, fmt.Errorf("cannot read console session: %w", err)
	}
	exp := meta.ParseTime(expires)
	if !c.cfg.Now().Before(exp) {
		_ = c.SignOut(ctx, id)
		return auth.Key{}, time.Time{}, noSession("the session expired at %s", exp.Format(time.RFC3339))
	}
	k, err := c.auth.GetKey(ctx, keyID)
	if errors.Is(err, auth.ErrNoSuchKey) || (err == nil && k.Inactive) {
		_ = c.SignOut(ctx, id)
		return auth.Key{}, time.Time{}, noSession("access key %s was deleted or made inactive", keyID)
	}
	if err != nil {
		return auth.Key{}, time.Time{}, fmt.Errorf("cannot read console session: %w", err)
	}
	return k, exp, nil
}

// cookieName is the session cookie's name on this server.
func (c *Console) cookieName() string {
	if c.cfg.Secure {
		return SecureCookieName
	}
	return CookieName
}

// sessionID returns the request's session cookie, "" when it has none.
func (c *Console) sessionID(r *http.Request) string {
	ck, err := r.Cookie(c.cookieName())
	if err != nil {
		return ""
	}
	return ck.Value
}

// sameOrigin reports whether a browser's Origin header names this server
// (the host the request was sent to).
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

// safeMethod: methods that change nothing and need no CSRF token.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead
}

// checkCSRF checks a request that may change something: its CSRF header
// must be the session's token and, when the browser names its origin, the
// origin must be this server's.
func checkCSRF(r *http.Request, id string) error {
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
		return csrfError("the request comes from origin %q, not this server's", o)
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		return csrfError("the request has no %s header", CSRFHeader)
	}
	if !hmac.Equal([]byte(got), []byte(csrfToken(id))) {
		return csrfError("")
	}
	return nil
}

// AuthenticateSession authenticates a REST API request by its console
// session cookie, as the session's access key: ok is false when the request
// carries no session cookie (then it is authenticated otherwise). A request
// other than GET or HEAD must carry the session's CSRF token in the
// X-CSRF-Token header. Errors carry their HTTP status (HTTPStatus).
func (c *Console) AuthenticateSession(r *http.Request) (p *auth.Principal, ok bool, err error) {
	id := c.sessionID(r)
	if id == "" {
		return nil, false, nil
	}
	k, _, err := c.session(r.Context(), id)
	if err != nil {
		return nil, true, err
	}
	if !safeMethod(r.Method) {
		if err := checkCSRF(r, id); err != nil {
			return nil, true, err
		}
	}
	k.SecretAccessKey = ""
	return &auth.Principal{Key: k, Service: "console"}, true, nil
}
