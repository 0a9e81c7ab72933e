// Package pgwire is tarn's PostgreSQL wire-protocol front end: psql, JDBC,
// pgx and BI tools connect to the lake as to a PostgreSQL server.
//
// It speaks protocol 3.0 with github.com/jackc/pgx/v5/pgproto3: SSL
// negotiation (TLS when configured), password authentication with access
// keys (user = access key id, password = secret access key; SCRAM-SHA-256,
// so the secret never crosses the connection, or a cleartext password when
// Config.Cleartext is set), the simple and extended query protocols with
// prepared statements and parameters, COPY ... TO STDOUT and cancel
// requests.
//
// Every statement that reads the lake runs through query.Service.Execute
// with the key's policy as the Authorize callback, in the connection's
// workgroup, so history, limits and cost attribution are the REST API's.
// Queries of PostgreSQL's catalog (pg_catalog, information_schema, session
// functions) are answered from a per-connection mirror of the catalog (see
// shadow), limited to what the key may see.
package pgwire

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/query"
)

// Config configures the server.
type Config struct {
	// TLS, when set, is offered to clients that ask for SSL (sslmode=require
	// and up); without it SSL requests are declined and clients that
	// insist fail to connect.
	TLS *tls.Config
	// Cleartext asks clients for their secret in clear (AuthenticationCleartextPassword)
	// instead of SCRAM-SHA-256; only for clients that lack SCRAM, and
	// only over TLS or loopback.
	Cleartext bool
	// ServerVersion is reported as server_version; clients choose their
	// catalog queries by it.
	ServerVersion string
	// MaxMessageSize bounds a client message (a query's text, a Bind's
	// parameters).
	MaxMessageSize int
	// Logger receives connection errors (slog.Default() if nil).
	Logger *slog.Logger
	// IdleInTransactionTimeout ends a connection that sits idle inside an
	// open transaction block this long (PostgreSQL's
	// idle_in_transaction_session_timeout): an open block may hold one of
	// the engine's few pinned sessions, and a client must not keep it from
	// everyone else by doing nothing. 0 means the default (1 minute).
	IdleInTransactionTimeout time.Duration
}

// DefaultConfig returns the defaults: SCRAM-SHA-256, no TLS.
func DefaultConfig() Config {
	return Config{ServerVersion: "14.0", MaxMessageSize: 64 << 20, IdleInTransactionTimeout: time.Minute}
}

// Deps are the services the server fronts.
type Deps struct {
	Auth    *auth.Service
	Queries *query.Service
	Catalog *catalog.Catalog
	// Engine, if set, is read (DuckDB's catalog only) to list the
	// warehouse's schemas and relations in introspection; without it
	// only the lake catalog is listed.
	Engine *engine.Engine
}

// Server accepts PostgreSQL connections. It is safe for concurrent use.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	mu     sync.Mutex
	closed bool
	lns    map[net.Listener]bool
	conns  map[uint32]*conn // by backend process id
	wg     sync.WaitGroup
}

// New returns a server over the services.
func New(cfg Config, d Deps) (*Server, error) {
	if d.Auth == nil || d.Queries == nil || d.Catalog == nil {
		return nil, errors.New("cannot create pgwire server: Auth, Queries and Catalog are required")
	}
	def := DefaultConfig()
	if cfg.ServerVersion == "" {
		cfg.ServerVersion = def.ServerVersion
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = def.MaxMessageSize
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Server{cfg: cfg, deps: d, log: log, lns: map[net.Listener]bool{}, conns: map[uint32]*conn{}}, nil
}

// Serve accepts connections on ln until Close; it closes ln. It returns
// nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns[ln] = true
	s.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			delete(s.lns, ln)
			s.mu.Unlock()
			if closed {
				return nil
			}
			return fmt.Errorf("cannot accept PostgreSQL connection: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(nc)
		}()
	}
}

// Close stops accepting connections, cancels running statements (they are
// recorded as CANCELLED), closes every connection and waits for them. It
// is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	for ln := range s.lns {
		ln.Close()
	}
	for _, c := range s.conns {
		c.kill()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// register gives a connection its backend key (process id and secret).
func (s *Server) register(c *conn) bool {
	var b [8]byte
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	for {
		_, _ = rand.Read(b[:])
		pid := binary.BigEndian.Uint32(b[:4]) & 0x7fffffff
		if pid != 0 && s.conns[pid] == nil {
			c.pid, c.secret = pid, binary.BigEndian.Uint32(b[4:])
			s.conns[pid] = c
			return true
		}
	}
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	if s.conns[c.pid] == c {
		delete(s.conns, c.pid)
	}
	s.mu.Unlock()
}

// cancel handles a CancelRequest: the statement running on the connection
// with this key is cancelled. Wrong keys are ignored, as PostgreSQL does.
func (s *Server) cancel(pid, secret uint32) {
	s.mu.Lock()
	c := s.conns[pid]
	s.mu.Unlock()
	if c == nil || subtle.ConstantTimeEq(int32(c.secret), int32(secret)) != 1 {
		return
	}
	c.cancelRunning()
}

// serveConn runs one connection: startup (SSL, cancel), authentication,
// then the command loop.
func (s *Server) serveConn(nc net.Conn) {
	defer nc.Close()
	be := pgproto3.NewBackend(nc, nc)
	be.SetMaxBodyLen(s.cfg.MaxMessageSize)
	var startup *pgproto3.StartupMessage
	for startup == nil {
		msg, err := be.ReceiveStartupMessage()
		if err != nil {
			return
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if s.cfg.TLS == nil {
				if _, err := nc.Write([]byte{'N'}); err != nil {
					return
				}
				continue
			}
			if _, err := nc.Write([]byte{'S'}); err != nil {
				return
			}
			tc := tls.Server(nc, s.cfg.TLS)
			if err := tc.Handshake(); err != nil {
				return
			}
			nc = tc
			defer tc.Close()
			be = pgproto3.NewBackend(nc, nc)
			be.SetMaxBodyLen(s.cfg.MaxMessageSize)
		case *pgproto3.GSSEncRequest:
			if _, err := nc.Write([]byte{'N'}); err != nil {
				return
			}
		case *pgproto3.CancelRequest:
			if len(m.SecretKey) == 4 {
				s.cancel(m.ProcessID, binary.BigEndian.Uint32(m.SecretKey))
			}
			return
		case *pgproto3.StartupMessage:
			startup = m
		default:
			return
		}
	}
	c := &conn{srv: s, nc: nc, be: be, params: startup.Parameters, stmts: map[string]*prepared{}, portals: map[string]*portal{}}
	if !s.register(c) {
		fatal(be, codeShutdown, "the server is shutting down", "")
		return
	}
	defer s.unregister(c)
	ctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	defer stop()
	if err := c.startup(ctx); err != nil {
		if !errors.Is(err, errAuthFailed) {
			s.log.Debug("pgwire: connection setup failed", "remote", nc.RemoteAddr().String(), "err", err)
		}
		return
	}
	defer c.close(ctx)
	if err := c.loop(ctx); err != nil && ctx.Err() == nil {
		s.log.Debug("pgwire: connection ended", "remote", nc.RemoteAddr().String(), "err", err)
	}
}

// fatal sends a FATAL error (the connection then ends).
func fatal(be *pgproto3.Backend, code, msg, hint string) {
	be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg, Hint: hint})
	_ = be.Flush()
}
