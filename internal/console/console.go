// Package console serves tarn's web console: the static files built from
// web/ (embedded with go:embed from dist/, so the binary needs no Node) and
// the sign-in that exchanges an access key's secret for a session cookie.
//
// A session is a row of the metadata database (console_sessions: the
// SHA-256 of the session id, the access key, the expiry), so every server
// sharing the metadata database honours it and a restart keeps it. The
// cookie is HttpOnly, SameSite=Strict, and Secure (as a __Host- cookie)
// when the server speaks TLS. The REST API accepts the cookie in place of a
// signature (AuthenticateSession), as the session's key, so each page is
// bounded by the key's policy exactly as the API is; every request that is
// not GET or HEAD must carry the session's CSRF token (X-CSRF-Token), which
// the sign-in answer and GET /console/api/session give the page.
package console

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/meta"
)

//go:embed all:dist
var dist embed.FS

// Config configures the console.
type Config struct {
	// TTL is how long a session lasts from sign-in (default 8 hours).
	TTL time.Duration
	// Secure marks the session cookie Secure (and names it __Host-…): set
	// it when the server speaks TLS.
	Secure bool
	// Now returns the current time; nil means time.Now (tests move it to
	// expire sessions).
	Now func() time.Time
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{TTL: 8 * time.Hour, Now: time.Now} }

// Console serves the console's files and sessions. It is safe for
// concurrent use and owns nothing to close (the database is the caller's).
type Console struct {
	cfg   Config
	db    *meta.DB
	auth  *auth.Service
	files map[string]file // by path in dist, "index.html", "assets/x.js"
	s3    http.Handler    // the S3 endpoint (SetS3), nil if none
}

// file is an embedded file, with its gzip form when that is smaller.
type file struct {
	body, gz []byte
	ctype    string
	etag     string
}

// New applies the console's migrations to db and returns the console.
func New(ctx context.Context, cfg Config, db *meta.DB, a *auth.Service) (*Console, error) {
	if db == nil || a == nil {
		return nil, errors.New("cannot open the console: no metadata database or auth service")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultConfig().TTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := db.Migrate(ctx, Component, Migrations); err != nil {
		return nil, fmt.Errorf("cannot open the console: %w", err)
	}
	files, err := loadFiles(dist)
	if err != nil {
		return nil, fmt.Errorf("cannot open the console: %w", err)
	}
	return &Console{cfg: cfg, db: db, auth: a, files: files}, nil
}

// loadFiles reads the embedded build once, compressing what compresses.
func loadFiles(fsys fs.FS) (map[string]file, error) {
	sub, err := fs.Sub(fsys, "dist")
	if err != nil {
		return nil, err
	}
	out := map[string]file{}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		f := file{body: b, ctype: mime.TypeByExtension(path.Ext(p)), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		if f.ctype == "" {
			f.ctype = "application/octet-stream"
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(b)
		_ = zw.Close()
		if buf.Len() < len(b)*9/10 {
			f.gz = buf.Bytes()
		}
		out[p] = f
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := out["index.html"]; !ok {
		return nil, errors.New("the embedded build has no index.html: run make console")
	}
	return out, nil
}

// GzippedJS is the total size of the console's JavaScript, gzipped (the
// budget is 1 MB).
func (c *Console) GzippedJS() int {
	n := 0
	for p, f := range c.files {
		if strings.HasSuffix(p, ".js") {
			if f.gz != nil {
				n += len(f.gz)
			} else {
				n += len(f.body)
			}
		}
	}
	return n
}

// Paths the console serves; everything else goes to the handler it wraps.
const (
	SessionPath = "/console/api/session"
)

// Mount returns a handler that serves the console at "/" (the page, its
// assets under /assets/ and /console/api/) and passes every other request
// to next (the REST API).
func (c *Console) Mount(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.serveIndex)
	mux.HandleFunc("GET /index.html", c.serveIndex)
	mux.HandleFunc("GET /assets/", c.serveAsset)
	mux.HandleFunc("GET /favicon.svg", c.serveAsset)
	mux.HandleFunc("POST "+SessionPath, c.signIn)
	mux.HandleFunc("GET "+SessionPath, c.getSession)
	mux.HandleFunc("DELETE "+SessionPath, c.signOut)
	mux.HandleFunc(S3Path+"/", c.serveS3)
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NotFound", "no such console route: "+r.Method+" "+r.URL.Path)
	})
	mux.Handle("/", next)
	return mux
}

// securityHeaders: the page loads only its own files, is never framed and
// sends no referrer. Styles may be inline: CodeMirror and Chart.js set
// them from script.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "+
		"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

func (c *Console) serveIndex(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	w.Header().Set("Cache-Control", "no-cache")
	c.serveFile(w, r, c.files["index.html"])
}

func (c *Console) serveAsset(w http.ResponseWriter, r *http.Request) {
	f, ok := c.files[strings.TrimPrefix(r.URL.Path, "/")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	securityHeaders(w.Header())
	// Vite names assets by their content's hash.
	if strings.HasPrefix(r.URL.Path, "/assets/") {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	}
	c.serveFile(w, r, f)
}

func (c *Console) serveFile(w http.ResponseWriter, r *http.Request, f file) {
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("ETag", f.etag)
	h.Set("Vary", "Accept-Encoding")
	if r.Header.Get("If-None-Match") == f.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := f.body
	if f.gz != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = f.gz
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(name) == "gzip" && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// errorBody is the REST API's error shape.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	writeJSON(w, status, b)
}

func writeErr(w http.ResponseWriter, err error) {
	var se *statusError
	if errors.As(err, &se) {
		writeError(w, se.status, se.code, err.Error())
		return
	}
	writeError(w, http.StatusInternalServerError, "InternalError", err.Error())
}

// SignInRequest is POST /console/api/session's body.
type SignInRequest struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
}

func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	// A JSON body cannot be sent by another site's form without a CORS
	// preflight, which tarn never grants: no one can sign a visitor in to
	// their own key (login CSRF).
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "InvalidRequest", "sign in with a JSON body (Content-Type: application/json)")
		return
	}
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
		writeErr(w, csrfError("the request comes from origin %q, not this server's", o))
		return
	}
	var req SignInRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "InvalidRequest", `want {"access_key_id": "...", "secret_access_key": "..."}: `+err.Error())
		return
	}
	id, s, err := c.SignIn(r.Context(), strings.TrimSpace(req.AccessKeyID), req.SecretAccessKey)
	if err != nil {
		writeErr(w, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: c.cookieName(), Value: id, Path: "/", HttpOnly: true, Secure: c.cfg.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(c.cfg.TTL / time.Second)})
	writeJSON(w, http.StatusOK, s)
}

func (c *Console) getSession(w http.ResponseWriter, r *http.Request) {
	id := c.sessionID(r)
	k, exp, err := c.session(r.Context(), id)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, Session{AccessKeyID: k.AccessKeyID, Name: k.Name, Admin: k.Admin, CSRFToken: csrfToken(id), ExpiresAt: exp})
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	id := c.sessionID(r)
	if _, _, err := c.session(r.Context(), id); err != nil {
		c.clearCookie(w)
		writeErr(w, err)
		return
	}
	if err := checkCSRF(r, id); err != nil {
		writeErr(w, err)
		return
	}
	if err := c.SignOut(r.Context(), id); err != nil {
		writeErr(w, err)
		return
	}
	c.clearCookie(w)
	writeJSON(w, http.StatusOK, map[string]bool{"signed_out": true})
}

func (c *Console) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: c.cookieName(), Value: "", Path: "/", HttpOnly: true, Secure: c.cfg.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}
