package lake

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tarn-lake/tarn/internal/engine"
	"github.com/tarn-lake/tarn/internal/warehouse"
)

// The warehouse of a lake whose metadata is in PostgreSQL (several servers
// may share it) has one owner, recorded there (warehouse.ClaimOwner): the
// first server that opens the lake with its engine, and the same server
// (host and data folder) after a restart. The others open their engine
// without a warehouse; their PostgreSQL endpoint forwards each connection,
// byte for byte, to the owner's (authentication, TLS and cancel requests
// included, so they happen on the owner), and warehouse statements reaching
// them through the REST or Athena APIs fail with warehouse.ErrElsewhere,
// which names the owner's addresses. A lake on SQLite has one server and
// keeps its warehouse as before.

// warehouseOwnership is what a lake knows of its warehouse's owner.
type warehouseOwnership struct {
	server    string               // this server's id
	mine      bool                 // this server owns the warehouse
	elsewhere *warehouse.Elsewhere // the owner, when another server
}

// claimWarehouse claims the warehouse for this server if no server owns
// it, and returns the engine's configuration: without the warehouse if
// another server owns it.
func (l *Lake) claimWarehouse(ctx context.Context, cfg Config) (engine.Config, error) {
	ec := cfg.Engine
	// Every lake has the owner's table, claimed or not, so that every
	// metadata database of this tarn has the same migrations (tarn
	// migrate-meta copies only between equals).
	if err := l.Meta.Migrate(ctx, "warehouse-owner", warehouse.OwnerMigrations); err != nil {
		return ec, err
	}
	if cfg.NoEngine || ec.Warehouse == "" || l.Meta.Driver() != "postgres" {
		return ec, nil
	}
	server := warehouse.ServerID(cfg.Home)
	o, mine, err := warehouse.ClaimOwner(ctx, l.Meta, server)
	if err != nil {
		return ec, err
	}
	l.wh = &warehouseOwnership{server: server, mine: mine}
	if !mine {
		l.wh.elsewhere = &warehouse.Elsewhere{}
		l.wh.elsewhere.Set(o)
		ec.Warehouse, ec.NoWarehouse = "", l.wh.elsewhere
	}
	return ec, nil
}

// WarehouseOwner returns the server that owns the lake's warehouse and
// whether it is this one; ok is false for a lake whose warehouse is not
// shared (metadata in SQLite) or that has no engine.
func (l *Lake) WarehouseOwner(ctx context.Context) (o warehouse.Owner, mine, ok bool, err error) {
	if l.wh == nil {
		return warehouse.Owner{}, false, false, nil
	}
	o, err = warehouse.CurrentOwner(ctx, l.Meta)
	return o, l.wh.mine, true, err
}

// announceWarehouseOwner records the owner's addresses, or reads the
// owner's on the other servers, as a server starts to serve.
func (l *Lake) announceWarehouseOwner(ctx context.Context, ep Endpoints) error {
	switch {
	case l.wh == nil:
		return nil
	case l.wh.mine:
		pg, api := reachable(ep)
		return warehouse.Advertise(ctx, l.Meta, l.wh.server, pg, api)
	}
	o, err := warehouse.CurrentOwner(ctx, l.Meta)
	if err == nil {
		l.wh.elsewhere.Set(o)
	}
	return err
}

// watchWarehouseOwner runs while the server serves: the owner records its
// addresses and a heartbeat every warehouse.Heartbeat; the others read
// the owner's, for their errors.
func (l *Lake) watchWarehouseOwner(ep Endpoints) func(context.Context) error {
	return func(ctx context.Context) error {
		if l.wh == nil {
			<-ctx.Done()
			return nil
		}
		t := time.NewTicker(warehouse.Heartbeat)
		defer t.Stop()
		for {
			if l.wh.mine {
				pg, api := reachable(ep)
				if err := warehouse.Advertise(ctx, l.Meta, l.wh.server, pg, api); err != nil && ctx.Err() == nil {
					slog.Error("warehouse owner", "err", err)
				}
			} else if o, err := warehouse.CurrentOwner(ctx, l.Meta); err == nil {
				l.wh.elsewhere.Set(o)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}
}

// reachable returns the PostgreSQL and REST addresses other servers can
// reach: a listener on every address (0.0.0.0, [::]) is advertised under
// the host's name.
func reachable(ep Endpoints) (pg, api string) {
	host, _ := os.Hostname()
	fix := func(hostport string) string {
		h, port, err := net.SplitHostPort(hostport)
		if ip := net.ParseIP(h); err == nil && host != "" && (h == "" || ip != nil && ip.IsUnspecified()) {
			return net.JoinHostPort(host, port)
		}
		return hostport
	}
	pg = ep.PG
	if pg != "" {
		pg = fix(pg)
	}
	api = ep.API
	if scheme, hostport, ok := strings.Cut(api, "://"); ok {
		api = scheme + "://" + fix(hostport)
	}
	return pg, api
}

// pgFront is the PostgreSQL endpoint: tarn's, or a forwarder to the
// warehouse's owner.
type pgFront interface {
	Serve(net.Listener) error
	Close() error
}

// pgFrontFor returns the PostgreSQL endpoint this server serves: pg, or
// on a server that does not own the warehouse a forwarder to the owner's.
func (l *Lake) pgFrontFor(pg pgFront) pgFront {
	if l.wh == nil || l.wh.mine {
		return pg
	}
	return &pgForwarder{l: l, conns: map[net.Conn]bool{}}
}

// pgForwarder forwards PostgreSQL connections to the warehouse owner's
// endpoint, as read from the metadata database for each connection.
type pgForwarder struct {
	l      *Lake
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
}

func (f *pgForwarder) Serve(ln net.Listener) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return ln.Close()
	}
	f.ln = ln
	f.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			f.mu.Lock()
			closed := f.closed
			f.mu.Unlock()
			if closed {
				return nil
			}
			return fmt.Errorf("cannot accept PostgreSQL connection: %w", err)
		}
		if !f.track(nc, true) {
			nc.Close()
			continue
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer f.track(nc, false)
			f.forward(nc)
		}()
	}
}

func (f *pgForwarder) track(c net.Conn, add bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if add {
		if f.closed {
			return false
		}
		f.conns[c] = true
	} else {
		delete(f.conns, c)
	}
	return true
}

// Close stops accepting, closes the connections being forwarded and
// waits for them; it is idempotent.
func (f *pgForwarder) Close() error {
	f.mu.Lock()
	if !f.closed {
		f.closed = true
		if f.ln != nil {
			f.ln.Close()
		}
		for c := range f.conns {
			c.Close()
		}
	}
	f.mu.Unlock()
	f.wg.Wait()
	return nil
}

// forward connects a client to the owner's endpoint and copies bytes both
// ways until either side closes. An owner that cannot be reached gets the
// client a PostgreSQL error saying which server owns the warehouse.
func (f *pgForwarder) forward(client net.Conn) {
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	o, err := warehouse.CurrentOwner(ctx, f.l.Meta)
	var owner net.Conn
	if err == nil {
		f.l.wh.elsewhere.Set(o)
		if o.PG == "" {
			err = errors.New("it has not said where its PostgreSQL endpoint listens (is it running?)")
		} else {
			var d net.Dialer
			owner, err = d.DialContext(ctx, "tcp", o.PG)
		}
	}
	cancel()
	if err != nil {
		refusePG(client, fmt.Sprintf("%v; cannot reach it: %v", f.l.wh.elsewhere, err))
		return
	}
	defer owner.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		} else {
			dst.Close()
		}
		done <- struct{}{}
	}
	go pipe(owner, client)
	go pipe(client, owner)
	<-done
	// One side ended: the other ends once its peer sees the close; a
	// client that closed its connection ends the owner's at once.
	client.Close()
	owner.Close()
	<-done
}

// refusePG answers a client's startup with a FATAL error (SQLSTATE 57P03,
// cannot connect now) carrying msg; an SSL or GSS request is declined
// first, so the error reaches the client in clear.
func refusePG(c net.Conn, msg string) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	for range 3 {
		var hdr [8]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		code := binary.BigEndian.Uint32(hdr[4:])
		if n < 8 || n > 10000 {
			return
		}
		if _, err := io.CopyN(io.Discard, c, int64(n-8)); err != nil {
			return
		}
		if code == 80877103 || code == 80877104 { // SSLRequest, GSSENCRequest
			if _, err := c.Write([]byte{'N'}); err != nil {
				return
			}
			continue
		}
		break
	}
	var body []byte
	for _, f := range []struct {
		t byte
		v string
	}{{'S', "FATAL"}, {'V', "FATAL"}, {'C', "57P03"}, {'M', msg}} {
		body = append(body, f.t)
		body = append(body, f.v...)
		body = append(body, 0)
	}
	body = append(body, 0)
	out := []byte{'E', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(len(body)+4))
	_, _ = c.Write(append(out, body...))
}
