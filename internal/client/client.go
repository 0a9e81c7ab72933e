// Package client talks to a running `tarn serve`: its REST API for the
// catalog, crawlers, jobs, queries, workgroups and access keys, and its S3
// endpoint for objects. Its methods mirror the services they stand for
// (catalog.Catalog, crawler.Service, jobs.Service, query.Service,
// auth.Service, workflow.Service, ...) in the REST API's wire types
// (internal/api/apitypes), and Objects is a storage.ObjectStore: the client
// links no service, so neither DuckDB nor SQLite. cmd/tarn adapts it to the
// services' types to run the same commands on the lake's files or through a
// server.
//
// Errors the server answers with are *Error (its HTTP status, code and
// message); errors.Is matches them with apitypes' sentinels
// (apitypes.ErrNotFound for NotFound) and, for S3, storage's
// (storage.ErrNoSuchKey). A Client is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/api/apitypes"
)

// Config says where the server is and who calls it.
type Config struct {
	// API is the REST API's base URL (http://127.0.0.1:8080).
	API string
	// S3 is the S3 endpoint's URL; without it Objects fails.
	S3 string
	// Token is a REST API bearer token (apitypes.Token). When empty it is
	// derived from Key.
	Token string
	// Key is the access key (with its secret) that signs S3 requests and,
	// without Token, makes the API token.
	Key apitypes.Credentials
	// HTTP is the HTTP client (http.DefaultClient when nil).
	HTTP *http.Client
	// Poll is the first interval between polls of a run being followed; it
	// grows to MaxPoll. Defaults 50ms and 1s.
	Poll, MaxPoll time.Duration
}

// Client is a client of one server.
type Client struct {
	cfg   Config
	base  string
	token string
	hc    *http.Client
}

// New returns a client; it does not contact the server.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.API)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cannot use server %q: give its REST API as http(s)://HOST:PORT", cfg.API)
	}
	tok := cfg.Token
	if tok == "" {
		if cfg.Key.AccessKeyID == "" || cfg.Key.SecretAccessKey == "" {
			return nil, fmt.Errorf("cannot use server %s: %w", cfg.API, ErrNoCredentials)
		}
		tok = apitypes.Token(cfg.Key)
	}
	hc := cfg.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 50 * time.Millisecond
	}
	if cfg.MaxPoll <= 0 {
		cfg.MaxPoll = time.Second
	}
	return &Client{cfg: cfg, base: strings.TrimSuffix(cfg.API, "/"), token: tok, hc: hc}, nil
}

// API returns the REST API's base URL.
func (c *Client) API() string { return c.base }

// ErrNoCredentials: the client was given neither a token nor a key.
var ErrNoCredentials = errors.New("no credentials: a token or an access key is needed")

// Error is an error answer of the server: the REST API's
// {"error": {"code", "message"}} or an S3 error.
type Error struct {
	// Server is the URL of the API or S3 endpoint that answered.
	Server  string
	Status  int
	Code    string
	Message string
	// Resource, if set, is what the request was about (s3://bucket/key).
	Resource string
	// Err, if set, is the storage sentinel error the code stands for
	// (storage.ErrNoSuchKey for NoSuchKey), for errors.Is.
	Err error
}

func (e *Error) Error() string {
	msg := e.Code + ": " + e.Message
	if e.Code == "" {
		msg = fmt.Sprintf("the server at %s answered %d %s", e.Server, e.Status, http.StatusText(e.Status))
	}
	if e.Err != nil && e.Resource != "" {
		return e.Err.Error() + ": " + e.Resource + " (" + msg + ")"
	}
	if e.Err != nil {
		return e.Err.Error() + " (" + msg + ")"
	}
	return msg
}

// Unwrap returns the storage sentinel of an S3 error, else the sentinel of
// its code (apitypes.ErrNotFound for NotFound), so that errors.Is works on
// what the server said however it said it.
func (e *Error) Unwrap() error {
	if e.Err != nil {
		return e.Err
	}
	return apitypes.Sentinel(e.Code)
}

// Unauthenticated reports whether the server refused the credentials (as
// opposed to refusing an action the key may not do).
func (e *Error) Unauthenticated() bool {
	switch e.Code {
	case "SignatureDoesNotMatch", "InvalidAccessKeyId", "AuthorizationHeaderMalformed", "MissingSecurityHeader", "InvalidToken":
		return true
	}
	return false
}

// do sends a JSON request to the REST API and decodes the answer into out.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("cannot reach the server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("cannot read the answer of the server at %s: %w", c.base, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{Server: c.base, Status: resp.StatusCode}
		var body apitypes.ErrorBody
		if json.Unmarshal(data, &body) == nil {
			e.Code, e.Message = body.Error.Code, body.Error.Message
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("cannot decode the answer of the server at %s to %s %s: %w", c.base, method, path, err)
		}
	}
	return nil
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }

// poller waits between polls, longer and longer.
type poller struct {
	d, max time.Duration
}

func (c *Client) poller() *poller { return &poller{d: c.cfg.Poll, max: c.cfg.MaxPoll} }

// wait sleeps; it returns ctx's error if ctx ends first.
func (p *poller) wait(ctx context.Context) error {
	t := time.NewTimer(p.d)
	defer t.Stop()
	p.d = min(p.max, p.d*3/2)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
