package pgwire_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/tarn-lake/tarn/internal/pgwire"
)

// TestTLS negotiates SSL: with a certificate the server upgrades the
// connection (sslmode=require), without one it declines and clients that
// require SSL fail.
func TestTLS(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := pgwire.DefaultConfig()
	cfg.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	e := newEnv(t, cfg)
	c := e.connect(t, e.admin, "&sslmode=require")
	if !c.PgConn().Conn().(*tls.Conn).ConnectionState().HandshakeComplete {
		t.Fatal("no TLS")
	}
	var n int64
	if err := c.QueryRow(t.Context(), "SELECT count(*) FROM orders").Scan(&n); err != nil || n != 5 {
		t.Fatal(n, err)
	}

	plain := newEnv(t, pgwire.DefaultConfig())
	url := "postgres://" + plain.admin.AccessKeyID + ":x@" + plain.addr.String() + "/shop?sslmode=require"
	if _, err := pgxConnect(t, url); err == nil {
		t.Fatal("sslmode=require connected to a server without TLS")
	}
}
