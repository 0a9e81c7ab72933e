// Package metatest gives tests a fresh metadata database on the backend
// the run asks for: SQLite in the test's temp folder by default, or a new
// PostgreSQL database (created per test, dropped at cleanup) when
// TARN_TEST_META=postgres.
//
// The PostgreSQL server is TARN_TEST_PG_DSN if set (a URL of a role that
// may CREATE DATABASE), else one real server per test binary that the
// harness starts itself with Debian's initdb and postgres (PATH, or
// /usr/lib/postgresql/*/bin): data and unix socket in a temp folder, a
// free 127.0.0.1 port, trust authentication, fsync off. It runs as the
// "postgres" user when the tests run as root, and stops (its folder
// removed) when the test binary exits.
package metatest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tarn-lake/tarn/internal/meta"
)

// EnvBackend selects the backend: "postgres", or "" / "sqlite".
const EnvBackend = "TARN_TEST_META"

// EnvDSN names an existing PostgreSQL server to create test databases on.
const EnvDSN = "TARN_TEST_PG_DSN"

// Postgres reports whether this run's tests use PostgreSQL.
func Postgres() bool {
	v := strings.ToLower(os.Getenv(EnvBackend))
	return v == "postgres" || v == "postgresql" || v == "pg"
}

// Open returns a fresh metadata database, closed at the test's cleanup.
func Open(tb testing.TB) *meta.DB {
	tb.Helper()
	cfg := Config(tb, filepath.Join(tb.TempDir(), "meta.db"))
	db, err := meta.Open(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// Config returns the configuration of a fresh metadata database: SQLite at
// sqlitePath, or, on PostgreSQL, a new database dropped at the test's
// cleanup (registered now, so it runs after the cleanups that close the
// database's handles). A lake test sets cfg.Meta = metatest.Config(t,
// cfg.Meta.Path).
func Config(tb testing.TB, sqlitePath string) meta.Config {
	tb.Helper()
	if !Postgres() {
		return meta.DefaultConfig(sqlitePath)
	}
	return meta.ConfigFor(NewPostgresDatabase(tb))
}

// Env returns what a tarn process's environment needs for its lake to keep
// its metadata on this run's backend: on PostgreSQL, TARN_META naming a
// fresh database (dropped at the test's cleanup, so the processes must
// have ended by then: register their cleanups after calling Env); on
// SQLite nothing (the data folder's own file).
func Env(tb testing.TB) []string {
	tb.Helper()
	if !Postgres() {
		return nil
	}
	return []string{"TARN_META=" + NewPostgresDatabase(tb)}
}

// NewPostgresDatabase creates an empty PostgreSQL database on the test
// server (starting it if needed) and returns its URL; the database is
// dropped at the test's cleanup.
func NewPostgresDatabase(tb testing.TB) string {
	tb.Helper()
	s, err := server()
	if err != nil {
		tb.Fatalf("%s=postgres: %v", EnvBackend, err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "tarn_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := s.admin.ExecContext(ctx, `CREATE DATABASE `+name+` TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`); err != nil {
		tb.Fatalf("cannot create test database: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := s.admin.ExecContext(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			tb.Errorf("cannot drop test database %s: %v", name, err)
		}
	})
	return s.dsnFor(name)
}

type pgServer struct {
	base  *url.URL // the server's URL; the path names the database
	admin *sql.DB
}

func (s *pgServer) dsnFor(db string) string {
	u := *s.base
	u.Path = "/" + db
	return u.String()
}

var (
	serverOnce sync.Once
	serverVal  *pgServer
	serverErr  error
)

func server() (*pgServer, error) {
	serverOnce.Do(func() {
		dsn := os.Getenv(EnvDSN)
		if dsn == "" {
			dsn, serverErr = startServer()
			if serverErr != nil {
				return
			}
		}
		u, err := url.Parse(dsn)
		if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" {
			serverErr = fmt.Errorf("%s must be a postgres:// URL, got %q", EnvDSN, dsn)
			return
		}
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			serverErr = err
			return
		}
		admin := stdlib.OpenDB(*cfg)
		if err := admin.Ping(); err != nil {
			admin.Close()
			serverErr = fmt.Errorf("cannot connect to PostgreSQL at %s: %w", dsn, err)
			return
		}
		serverVal = &pgServer{base: u, admin: admin}
	})
	return serverVal, serverErr
}

const installHint = "install PostgreSQL's server (apt-get install postgresql: initdb and postgres in /usr/lib/postgresql/*/bin or on PATH), or set " + EnvDSN + " to a postgres:// URL of a role that may CREATE DATABASE"

// binDir finds the folder of initdb and postgres.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				return d, nil
			}
		}
	}
	return "", errors.New("no PostgreSQL server found: " + installHint)
}

func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// startServer initialises and starts a server for this test binary and
// returns its URL.
func startServer() (string, error) {
	bin, err := binDir()
	if err != nil {
		return "", err
	}
	sweep()
	base, err := os.MkdirTemp("", fmt.Sprintf("tarn-metatest-%d-", os.Getpid()))
	if err != nil {
		return "", err
	}
	// PostgreSQL refuses to run as root: then it runs as "postgres" (or
	// nobody), which must own its folders.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		uid, gid, err := serverUser()
		if err != nil {
			os.RemoveAll(base)
			return "", err
		}
		cred = &syscall.Credential{Uid: uid, Gid: gid}
		if err := os.Chown(base, int(uid), int(gid)); err != nil {
			os.RemoveAll(base)
			return "", err
		}
	}
	data := filepath.Join(base, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Env = append(os.Environ(), "LC_ALL=C")
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(base)
		return "", fmt.Errorf("initdb failed: %v\n%s", err, out)
	}
	var lastErr error
	for range 3 { // the free port may be taken between its choice and the bind
		port, err := freePort()
		if err != nil {
			return "", err
		}
		dsn, err := runServer(bin, base, data, port, cred)
		if err == nil {
			return dsn, nil
		}
		lastErr = err
	}
	os.RemoveAll(base)
	return "", lastErr
}

func serverUser() (uint32, uint32, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return uint32(uid), uint32(gid), nil
	}
	return 0, 0, errors.New("tests run as root and there is no postgres or nobody user to run PostgreSQL as")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// runServer starts postgres under a shell that, when the test binary
// exits (the kernel sends it SIGTERM: Pdeathsig), stops the server at once
// and removes its folder.
func runServer(bin, base, data string, port int, cred *syscall.Credential) (string, error) {
	script := `trap 'kill -QUIT $p 2>/dev/null; wait $p; rm -rf "$BASE"; exit 0' TERM INT HUP
"$PG" -D "$DATA" -k "$BASE" -h 127.0.0.1 -p "$PORT" -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
  -c max_connections=300 -c shared_buffers=32MB -c log_min_messages=fatal -c logging_collector=off >"$BASE/log" 2>&1 &
p=$!
wait $p`
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = append(os.Environ(), "PG="+filepath.Join(bin, "postgres"), "DATA="+data, "BASE="+base, "PORT="+strconv.Itoa(port), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGTERM, Setpgid: true}
	// The parent-death signal follows the thread that started the child:
	// start it from a thread that lives as long as the process.
	started := make(chan error)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		err := cmd.Start()
		started <- err
		if err != nil {
			return
		}
		go func() { cmd.Wait(); close(exited) }()
		select {} // keep this thread for the process's lifetime
	}()
	if err := <-started; err != nil {
		return "", err
	}
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	// Ready when a connection succeeds; the server exiting (a taken port)
	// ends the wait at once.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := pgx.Connect(ctx, dsn)
		if err == nil {
			c.Close(ctx)
			return dsn, nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(base, "log"))
			return "", fmt.Errorf("postgres exited on port %d: %s", port, log)
		case <-ctx.Done():
			syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			return "", fmt.Errorf("postgres did not accept connections on port %d: %w", port, err)
		case <-tick.C:
		}
	}
}

// sweep removes the folders of servers whose test binary was killed
// before its shell could (SIGKILL of the whole process group).
func sweep() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "tarn-metatest-*-*"))
	for _, d := range dirs {
		f := strings.Split(filepath.Base(d), "-")
		pid, err := strconv.Atoi(f[2])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
}
