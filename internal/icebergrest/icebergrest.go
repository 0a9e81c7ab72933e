// Package icebergrest is tarn's Apache Iceberg REST catalog front end: it
// serves the REST catalog OpenAPI spec (config, OAuth2 tokens, namespaces,
// tables, commits, renames, multi-table transactions, metrics reports) over
// an iceberg-go catalog.Catalog, so that Spark, Trino, Flink and PyIceberg
// use tarn's catalog with only a URI configured.
//
// Every request is authenticated with tarn's keys (SigV4 signed for the
// "execute-api", "glue" or "s3tables" service, or a tarn bearer token, which
// POST /v1/oauth/tokens hands out for a key's id and secret) and every
// operation is authorized against the key's policy with the Glue actions
// and ARNs the Glue API uses (glue:GetTable on arn:aws:glue:*:*:table/db/t,
// and so on). A table's location is the key's to write: creating a table,
// or committing to one, needs s3:PutObject on its location.
//
// The server mounts under any prefix (tarn serves it at /iceberg on the REST
// API listener) with http.StripPrefix: SigV4 verification uses the request
// URI as the client sent it.
package icebergrest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/storage"
)

// DefaultMaxBody bounds a request body (commits carry schemas and snapshot
// summaries, never data).
const DefaultMaxBody = 16 << 20

// DefaultTokenLifetime is the expires_in reported for OAuth2 tokens. tarn's
// tokens are derived from the key and live as long as it, unchanged; the
// lifetime only makes clients come back (and so re-check the key) now and
// then.
const DefaultTokenLifetime = time.Hour

// Config configures the front end.
type Config struct {
	// S3Endpoint is tarn's S3 endpoint URL (http://127.0.0.1:9000), told to
	// clients as s3.endpoint with path-style access so that their FileIO
	// reads and writes data files through tarn.
	S3Endpoint string
	// Region is told to clients as client.region and s3.region.
	Region string
	// Warehouse is the root under which a new table gets its location
	// (<Warehouse>/<namespace>/<table>) when the client gives none, the
	// catalog does not choose one (see TableLocator) and the namespace has
	// no "location" property. Empty: such a create is refused.
	Warehouse string
	// MaxBody bounds request bodies (default DefaultMaxBody); a larger one
	// is refused with 400.
	MaxBody int64
	// TokenLifetime is the expires_in of OAuth2 tokens (default
	// DefaultTokenLifetime).
	TokenLifetime time.Duration
	// LocationResource maps a table location to the resource that
	// s3:PutObject is authorized on. nil: locations must be s3:// URIs
	// (s3a:// and s3n:// too) and map to arn:aws:s3:::bucket/key/. Tests
	// over a local warehouse folder map file:// locations to an ARN.
	LocationResource func(location string) (string, error)
}

// DefaultConfig returns the configuration for a lake whose S3 endpoint is
// s3Endpoint.
func DefaultConfig(s3Endpoint string) Config {
	return Config{S3Endpoint: s3Endpoint, Region: "us-east-1", MaxBody: DefaultMaxBody, TokenLifetime: DefaultTokenLifetime}
}

// Deps are the services the front end serves.
type Deps struct {
	// Auth authenticates requests and exchanges keys for tokens.
	Auth *auth.Service
	// Catalog holds the namespaces and tables. It is used from many
	// goroutines at once and must be safe for that; its errors should wrap
	// iceberg-go's catalog and table sentinels (catalog.ErrNoSuchTable,
	// table.ErrCommitFailed, ...) which become the spec's error types. When
	// it implements catalog.TransactionalCatalog, POST
	// /v1/transactions/commit is served; catalog.PurgeableTable serves
	// purgeRequested drops; TableRegistrar serves register; TableLocator
	// chooses new tables' locations.
	Catalog catalog.Catalog
}

// TableRegistrar is implemented by catalogs that can register a table from
// an existing metadata file (POST .../register). The signature is
// iceberg-go's own (its REST, Glue and Hive catalogs have it).
type TableRegistrar interface {
	RegisterTable(ctx context.Context, ident table.Identifier, metadataLocation string) (*table.Table, error)
}

// TableLocator is implemented by catalogs that choose where a new table
// lives when its creator does not say. The location returned is authorized
// (s3:PutObject) before the table is created there.
type TableLocator interface {
	DefaultTableLocation(ctx context.Context, ident table.Identifier) (string, error)
}

// NamespaceLevels is implemented by catalogs whose namespaces have at most
// MaxNamespaceLevels levels (tarn's catalog: one, a namespace is a
// database). A deeper namespace never exists there, so looking it up, or a
// table in it, answers the spec's 404 (NoSuchNamespaceException,
// NoSuchTableException) before any policy is checked: there is nothing to
// hide, and clients resolve names by that answer (Spark reads the metadata
// table t.snapshots after a NoSuchTableException for table snapshots in
// namespace t). Creating one, or a table in one, is a 400.
type NamespaceLevels interface {
	MaxNamespaceLevels() int
}

// Server serves the REST catalog. It is an http.Handler, safe for
// concurrent use, and owns nothing that needs closing.
type Server struct {
	cfg  Config
	auth *auth.Service
	cat  catalog.Catalog
	mux  *http.ServeMux
}

// New returns the front end over deps.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Auth == nil || deps.Catalog == nil {
		return nil, errors.New("cannot start the Iceberg REST catalog: it needs the auth service and a catalog")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.LocationResource == nil {
		cfg.LocationResource = S3LocationResource
	}
	s := &Server{cfg: cfg, auth: deps.Auth, cat: deps.Catalog, mux: http.NewServeMux()}
	s.routes()
	return s, nil
}

// S3LocationResource is the default Config.LocationResource: an s3:// URI's
// object ARN, with a trailing "/" (a table's location is a folder).
func S3LocationResource(location string) (string, error) {
	u, err := storage.ParseURI(location)
	if err != nil {
		return "", err
	}
	key := u.Key
	if !strings.HasSuffix(key, "/") {
		key += "/"
	}
	return auth.S3Resource(u.Bucket, key), nil
}

// handler serves one authenticated route; it returns the response body
// (nil: 204 No Content) or an error.
type handler func(ctx context.Context, p *auth.Principal, r *http.Request) (any, error)

func (s *Server) routes() {
	s.mux.HandleFunc("POST /v1/oauth/tokens", s.oauthTokens)
	s.handle("GET /v1/config", s.getConfig)

	s.handle("GET /v1/namespaces", s.listNamespaces)
	s.handle("POST /v1/namespaces", s.createNamespace)
	s.handle("GET /v1/namespaces/{ns}", s.loadNamespace)
	s.handle("HEAD /v1/namespaces/{ns}", s.namespaceExists)
	s.handle("DELETE /v1/namespaces/{ns}", s.dropNamespace)
	s.handle("POST /v1/namespaces/{ns}/properties", s.updateNamespaceProperties)

	s.handle("GET /v1/namespaces/{ns}/tables", s.listTables)
	s.handle("POST /v1/namespaces/{ns}/tables", s.createTable)
	s.handle("POST /v1/namespaces/{ns}/register", s.registerTable)
	s.handle("GET /v1/namespaces/{ns}/tables/{table}", s.loadTable)
	s.handle("HEAD /v1/namespaces/{ns}/tables/{table}", s.tableExists)
	s.handle("POST /v1/namespaces/{ns}/tables/{table}", s.commitTable)
	s.handle("DELETE /v1/namespaces/{ns}/tables/{table}", s.dropTable)
	s.handle("POST /v1/namespaces/{ns}/tables/{table}/metrics", s.reportMetrics)
	s.handle("POST /v1/tables/rename", s.renameTable)
	s.handle("POST /v1/transactions/commit", s.commitTransaction)

	// Views are not kept: listing answers none, the rest that there is no
	// such view or that creating one is not implemented.
	s.handle("GET /v1/namespaces/{ns}/views", s.listViews)
	s.handle("GET /v1/namespaces/{ns}/views/{view}", s.noSuchView)
	s.handle("HEAD /v1/namespaces/{ns}/views/{view}", s.noSuchView)
	s.handle("DELETE /v1/namespaces/{ns}/views/{view}", s.noSuchView)
	s.handle("POST /v1/namespaces/{ns}/views/{view}", s.noSuchView)
	s.handle("POST /v1/namespaces/{ns}/views", s.viewsNotImplemented)
	s.handle("POST /v1/views/rename", s.viewsNotImplemented)

	s.handle("/", func(context.Context, *auth.Principal, *http.Request) (any, error) {
		return nil, &restError{http.StatusNotFound, "NotFoundException", errors.New("no such endpoint in the Iceberg REST catalog")}
	})
}

// ServeHTTP serves a request whose path starts at /v1.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The mux would redirect a path with "." or ".." segments or empty
	// ones to its cleaned form; such a path is malformed here.
	for seg := range strings.SplitSeq(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/") {
		if seg == "." || seg == ".." || seg == "" && r.URL.EscapedPath() != "/" {
			writeError(w, r, badRequest("the path %q has an empty, \".\" or \"..\" segment", truncate(r.URL.EscapedPath(), 200)))
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// Mount serves s under prefix (such as "/iceberg") beside other, which
// serves every other path. Unlike an http.ServeMux it passes the catalog's
// requests on as they came, without cleaning their paths (a path with
// ".." segments is refused with the spec's 400, not redirected).
func Mount(prefix string, s *Server, other http.Handler) http.Handler {
	prefix = strings.TrimRight(prefix, "/")
	strip := http.StripPrefix(prefix, s)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.EscapedPath(); p == prefix || strings.HasPrefix(p, prefix+"/") {
			strip.ServeHTTP(w, r)
			return
		}
		other.ServeHTTP(w, r)
	})
}

// signingNames are the SigV4 services a request may be signed for: the
// Iceberg clients' default (execute-api), Glue's (glue: AWS's Glue
// Iceberg REST endpoint), S3 Tables' (s3tables).
var signingNames = map[string]bool{"execute-api": true, "glue": true, "s3tables": true}

func (s *Server) authenticate(r *http.Request) (*auth.Principal, error) {
	p, err := s.auth.AuthenticateAPI(r)
	if err != nil {
		return nil, err
	}
	if p.Presigned {
		return nil, &restError{http.StatusUnauthorized, "NotAuthorizedException", errors.New("presigned URLs are not accepted by the Iceberg REST catalog; sign the request's Authorization header")}
	}
	if p.Service != "api" && !signingNames[p.Service] {
		return nil, &restError{http.StatusUnauthorized, "NotAuthorizedException",
			fmt.Errorf("requests are signed for service %q; the Iceberg REST catalog accepts execute-api, glue or s3tables (rest.signing-name)", p.Service)}
	}
	return p, nil
}

func (s *Server) handle(pattern string, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.MaxBody {
			writeError(w, r, badRequest("the request body is %d bytes, more than %d", r.ContentLength, s.cfg.MaxBody))
			return
		}
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			writeError(w, r, badRequest("malformed query string: %v", err))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
		p, err := s.authenticate(r)
		var out any
		if err == nil {
			out, err = h(r.Context(), p, r)
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) || errors.Is(err, auth.ErrEntityTooLarge) {
				err = badRequest("the request body is more than %d bytes", s.cfg.MaxBody)
			}
			writeError(w, r, err)
			return
		}
		if out == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		data, err := json.Marshal(out)
		if err != nil {
			writeError(w, r, fmt.Errorf("cannot encode the response: %w", err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(data)
		}
	})
}

// decodeBody decodes the request body (one JSON value) into v; malformed
// JSON is a bad request.
func decodeBody(r *http.Request, v any) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return badRequest("cannot read the request body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return badRequest("malformed JSON request body: %v", err)
	}
	if dec.More() {
		return badRequest("malformed JSON request body: more than one value")
	}
	return nil
}

// validName checks one level of a namespace or a table name: non-empty
// UTF-8 without control characters or "/", not "." or "..", at most 255
// bytes.
func validName(what, n string) error {
	switch {
	case n == "":
		return badRequest("%s is empty", what)
	case len(n) > 255:
		return badRequest("%s %q is longer than 255 bytes", what, truncate(n, 64))
	case !utf8.ValidString(n):
		return badRequest("%s is not UTF-8", what)
	case n == "." || n == "..":
		return badRequest("%s %q is not a name", what, n)
	case strings.ContainsRune(n, '/'):
		return badRequest("%s %q has a \"/\"", what, truncate(n, 64))
	}
	for _, c := range n {
		if unicode.IsControl(c) {
			return badRequest("%s %q has a control character", what, truncate(n, 64))
		}
	}
	return nil
}

// namespaceSep separates a namespace's levels in URLs (the spec's %1F).
const namespaceSep = "\x1f"

// parseNamespace splits a namespace given in a path or query parameter.
func parseNamespace(s string) (table.Identifier, error) {
	if s == "" {
		return nil, badRequest("the namespace is empty")
	}
	ns := table.Identifier(strings.Split(s, namespaceSep))
	for _, level := range ns {
		if err := validName("namespace level", level); err != nil {
			return nil, err
		}
	}
	return ns, nil
}

func checkNamespace(ns []string) (table.Identifier, error) {
	if len(ns) == 0 {
		return nil, badRequest("the namespace is empty")
	}
	for _, level := range ns {
		if err := validName("namespace level", level); err != nil {
			return nil, err
		}
	}
	return table.Identifier(ns), nil
}

func pathNamespace(r *http.Request) (table.Identifier, error) {
	return parseNamespace(r.PathValue("ns"))
}

func pathTable(r *http.Request) (table.Identifier, error) {
	ns, err := pathNamespace(r)
	if err != nil {
		return nil, err
	}
	name := r.PathValue("table")
	if err := validName("table name", name); err != nil {
		return nil, err
	}
	return append(ns, name), nil
}

// tooDeep reports whether ns has more levels than the catalog keeps (see
// NamespaceLevels).
func (s *Server) tooDeep(ns table.Identifier) bool {
	nl, ok := s.cat.(NamespaceLevels)
	return ok && nl.MaxNamespaceLevels() > 0 && len(ns) > nl.MaxNamespaceLevels()
}

// noSuchDeepNamespace is the answer to a lookup of a namespace deeper than
// the catalog keeps, or of a table in one (table: its name, else "").
func (s *Server) noSuchDeepNamespace(ns table.Identifier, tbl string) error {
	why := fmt.Sprintf("namespace %q has %d levels, and this catalog's namespaces have at most %d",
		truncate(dbName(ns), 200), len(ns), s.cat.(NamespaceLevels).MaxNamespaceLevels())
	if tbl != "" {
		return &restError{http.StatusNotFound, "NoSuchTableException", fmt.Errorf("table %q does not exist: %s", truncate(dbName(ns)+"."+tbl, 200), why)}
	}
	return &restError{http.StatusNotFound, "NoSuchNamespaceException", fmt.Errorf("namespace %q does not exist: %s", truncate(dbName(ns), 200), why)}
}

// cannotCreateDeep refuses to create a namespace deeper than the catalog
// keeps, or a table in one.
func (s *Server) cannotCreateDeep(ns table.Identifier) error {
	return badRequest("nested namespaces are not supported: namespace %q has %d levels, and this catalog's namespaces have at most %d",
		truncate(dbName(ns), 200), len(ns), s.cat.(NamespaceLevels).MaxNamespaceLevels())
}

// lookupNamespace is the path's namespace for a lookup (404 if deeper
// than the catalog keeps).
func (s *Server) lookupNamespace(r *http.Request) (table.Identifier, error) {
	ns, err := pathNamespace(r)
	if err == nil && s.tooDeep(ns) {
		return nil, s.noSuchDeepNamespace(ns, "")
	}
	return ns, err
}

// lookupTable is the path's table for a lookup (404 if its namespace is
// deeper than the catalog keeps).
func (s *Server) lookupTable(r *http.Request) (table.Identifier, error) {
	ident, err := pathTable(r)
	if err == nil && s.tooDeep(ident[:len(ident)-1]) {
		return nil, s.noSuchDeepNamespace(ident[:len(ident)-1], ident[len(ident)-1])
	}
	return ident, err
}

// createNamespaceOf is the path's namespace to create a table in (400 if
// deeper than the catalog keeps).
func (s *Server) createNamespaceOf(r *http.Request) (table.Identifier, error) {
	ns, err := pathNamespace(r)
	if err == nil && s.tooDeep(ns) {
		return nil, s.cannotCreateDeep(ns)
	}
	return ns, err
}

// dbName is a namespace's name in messages: its levels joined with ".".
func dbName(ns table.Identifier) string { return strings.Join(ns, ".") }

// databaseARN and tableARN are the Glue ARNs policies name. Names are
// lower-cased as Glue and tarn's catalog store them, so that a policy on
// table/sales/* also covers what a client spells Sales.
func databaseARN(ns table.Identifier) string {
	return auth.DatabaseResource(strings.ToLower(dbName(ns)))
}

func tableARN(ident table.Identifier) string {
	return auth.TableResource(strings.ToLower(dbName(catalog.NamespaceFromIdent(ident))), strings.ToLower(catalog.TableNameFromIdent(ident)))
}

// authorizeLocation checks that p may write under a table's location.
func (s *Server) authorizeLocation(p *auth.Principal, location string) error {
	res, err := s.cfg.LocationResource(location)
	if err != nil {
		return badRequest("table location %q: %v", truncate(location, 200), err)
	}
	return p.Authorize("s3:PutObject", res)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func logError(r *http.Request, err error) {
	slog.Warn("Iceberg REST catalog request failed", "method", r.Method, "path", r.URL.Path, "err", err)
}
