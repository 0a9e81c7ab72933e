package meta

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := Open(ctx, DefaultConfig(path))
	if err != nil {
		t.Fatal(err)
	}
	migs := []Migration{{1, "a", "CREATE TABLE a (x INTEGER);\nINSERT INTO a VALUES (1);"}}
	if err := db.Migrate(ctx, "c", migs); err != nil {
		t.Fatal(err)
	}
	// Re-applying is a no-op; a new version applies once.
	migs = append(migs, Migration{2, "b", "INSERT INTO a VALUES (2)"})
	for range 2 {
		if err := db.Migrate(ctx, "c", migs); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	db, err = Open(ctx, DefaultConfig(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, "c", migs); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.SQL().QueryRow("SELECT sum(x) FROM a").Scan(&n); err != nil || n != 3 {
		t.Errorf("sum = %d, %v; migrations applied more than once", n, err)
	}
	// A failing migration leaves nothing behind.
	bad := append(migs, Migration{3, "bad", "INSERT INTO a VALUES (5);\nINSERT INTO nope VALUES (1)"})
	if err := db.Migrate(ctx, "c", bad); err == nil {
		t.Fatal("failing migration succeeded")
	}
	db.SQL().QueryRow("SELECT sum(x) FROM a").Scan(&n)
	if n != 3 {
		t.Errorf("failed migration left rows: sum = %d", n)
	}
	if err := db.Migrate(ctx, "c", []Migration{{2, "gap", ""}}); err == nil {
		t.Error("migration list with a gap accepted")
	}
}

func TestOwnerGone(t *testing.T) {
	if OwnerGone(Owner()) {
		t.Error("this process is reported gone")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	host, _ := os.Hostname()
	if !OwnerGone(host + ":" + strconv.Itoa(cmd.Process.Pid) + ":123") {
		t.Error("an exited process is reported alive")
	}
	if OwnerGone("another-host:1:5") {
		t.Error("a process on another host is assumed gone")
	}
	if !OwnerGone("") {
		t.Error("a run without owner is not recoverable")
	}
}

func TestOwnerReusedPID(t *testing.T) {
	host, _ := os.Hostname()
	// Same PID as this process, but another start time: a process that had
	// this PID before and died.
	if !OwnerGone(host + ":" + strconv.Itoa(os.Getpid()) + ":1") {
		t.Error("a dead process whose PID was reused is reported alive")
	}
}

// TestOpenRefusesEmptyFile: a 0-byte tarn.db is a lost database, never a
// new one; opening it again after the refusal still finds it empty.
func TestOpenRefusesEmptyFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tarn.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, DefaultConfig(path))
	if err == nil {
		db.Close()
		t.Fatal("opened a 0-byte database as a new one")
	}
	if !errors.Is(err, ErrEmptyDatabase) || !strings.Contains(err.Error(), "restore it from a backup") {
		t.Errorf("error does not say what to do: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("the refused file was changed: %v %v", fi, err)
	}
	// A database that was never created is created.
	db, err = Open(ctx, DefaultConfig(filepath.Join(t.TempDir(), "new.db")))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}

// TestMigrateSplitsOnStatementEnds checks that a ';' in a string or a
// comment of a migration does not end its statement.
func TestMigrateSplitsOnStatementEnds(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, DefaultConfig(filepath.Join(t.TempDir(), "m.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	migs := []Migration{{1, "a", "CREATE TABLE a (x TEXT); -- one;\nINSERT INTO a VALUES ('x;\ny'); /* two;\n */ INSERT INTO a VALUES ('z')"}}
	if err := db.Migrate(ctx, "c", migs); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := db.SQL().QueryRow("SELECT group_concat(x, '|') FROM a").Scan(&got); err != nil || got != "x;\ny|z" {
		t.Errorf("rows = %q, %v", got, err)
	}
	if err := db.Migrate(ctx, "d", []Migration{{1, "open", "CREATE TABLE b (x TEXT DEFAULT 'open)"}}); err == nil || !strings.Contains(err.Error(), "unterminated") {
		t.Errorf("unterminated string: got %v", err)
	}
}
