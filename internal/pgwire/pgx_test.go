package pgwire_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/pgwire"
	"github.com/tarn-lake/tarn/internal/query"
)

func (e *env) connect(t *testing.T, k auth.Key, params string) *pgx.Conn {
	t.Helper()
	url := fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/shop?sslmode=disable%s", k.AccessKeyID, pgURLEscape(k.SecretAccessKey), e.addr.Port, params)
	c, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func pgURLEscape(s string) string {
	out := ""
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			out += string(r)
		default:
			out += fmt.Sprintf("%%%02X", r)
		}
	}
	return out
}

func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func TestPgx(t *testing.T) {
	e := newEnv(t, pgwire.DefaultConfig())
	ctx := t.Context()
	c := e.connect(t, e.admin, "")

	t.Run("prepared with parameters", func(t *testing.T) {
		if _, err := c.Prepare(ctx, "by_customer", `SELECT id, customer, amount, day, paid FROM orders WHERE customer = $1 AND amount >= $2 AND day >= $3 AND paid = $4`); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			customer string
			min      float64
			day      time.Time
			paid     bool
			want     []int64
		}{
			{"alice", 10, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), true, []int64{1}},
			{"bob", 10, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), true, nil},
			{"bob", 10, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), false, []int64{2}},
			{"o'brien'; DROP TABLE orders; --", 0, time.Time{}, true, nil},
		} {
			rows, err := c.Query(ctx, "by_customer", tc.customer, tc.min, tc.day, tc.paid)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for rows.Next() {
				var id int64
				var cust string
				var amount pgtype.Numeric
				var day time.Time
				var paid bool
				if err := rows.Scan(&id, &cust, &amount, &day, &paid); err != nil {
					t.Fatal(err)
				}
				if cust != tc.customer || day.Before(tc.day) || paid != tc.paid {
					t.Fatalf("row %d %s %v %v does not match %+v", id, cust, day, paid, tc)
				}
				got = append(got, id)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("%+v: got %v", tc, got)
			}
		}
	})
	t.Run("types", func(t *testing.T) {
		var (
			i8   int64
			i4   int32
			s    string
			f    float64
			num  pgtype.Numeric
			d    time.Time
			ts   time.Time
			b    bool
			null *string
		)
		err := c.QueryRow(ctx, `SELECT $1::BIGINT + 1, $2::INTEGER * 2, upper($3), $4::DOUBLE / 2, CAST($5 AS DECIMAL(10,2)), $6::DATE + 1, $7::TIMESTAMP, NOT $8::BOOLEAN, $9::VARCHAR`,
			int64(41), int32(21), "héllo", 3.0, "12.34", time.Date(2025, 2, 28, 0, 0, 0, 0, time.UTC),
			time.Date(2025, 3, 1, 12, 30, 45, 0, time.UTC), false, nil).Scan(&i8, &i4, &s, &f, &num, &d, &ts, &b, &null)
		if err != nil {
			t.Fatal(err)
		}
		if i8 != 42 || i4 != 42 || s != "HÉLLO" || f != 1.5 || num.Int.Cmp(big.NewInt(1234)) != 0 || num.Exp != -2 ||
			!d.Equal(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)) || !ts.Equal(time.Date(2025, 3, 1, 12, 30, 45, 0, time.UTC)) || !b || null != nil {
			t.Fatalf("got %v %v %q %v %v %v %v %v %v", i8, i4, s, f, num, d, ts, b, null)
		}
		// The same in the simple protocol.
		var n int64
		if err := c.QueryRow(ctx, `SELECT count(*) FROM orders WHERE customer <> $1`, pgx.QueryExecModeSimpleProtocol, "bob").Scan(&n); err != nil || n != 3 {
			t.Fatalf("simple protocol: %d %v", n, err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct{ sql, code string }{
			{"SELEC 1", "42601"},
			{"SELECT * FROM nosuch", "42P01"},
			{"SELECT nosuch FROM orders", "42703"},
			{"COPY orders FROM STDIN", "0A000"},
			{"SET workgroup = nosuch", "42704"},
		} {
			_, err := c.Exec(ctx, tc.sql)
			if got := sqlState(err); got != tc.code {
				t.Errorf("%s: SQLSTATE %q (%v), want %s", tc.sql, got, err, tc.code)
			}
		}
		// The connection is still usable.
		var one int32
		if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Fatal(one, err)
		}
	})
	t.Run("permission denied", func(t *testing.T) {
		a := e.connect(t, e.analyst, "")
		var n int64
		if err := a.QueryRow(ctx, "SELECT count(*) FROM orders WHERE amount > $1", 1.0).Scan(&n); err != nil || n != 4 {
			t.Fatalf("analyst reads orders: %d %v", n, err)
		}
		_, err := a.Exec(ctx, "SELECT * FROM shop.secrets WHERE id = $1", 1)
		if sqlState(err) != "42501" {
			t.Fatalf("analyst reads secrets: %v", err)
		}
		nb := e.connect(t, e.nobody, "")
		if _, err := nb.Exec(ctx, "SELECT * FROM orders"); sqlState(err) != "42501" {
			t.Fatalf("nobody reads orders: %v", err)
		}
		// Introspection shows only what the key may see.
		var tables []string
		rows, err := a.Query(ctx, "SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1", "shop")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			rows.Scan(&s)
			tables = append(tables, s)
		}
		if rows.Err() != nil || fmt.Sprint(tables) != "[shop.orders]" {
			t.Fatalf("analyst sees %v %v", tables, rows.Err())
		}
	})
	t.Run("cancel", func(t *testing.T) {
		const long = "SELECT count(*) FROM range(100000000000) t(x) WHERE x % 7 = 3"
		done := make(chan error, 1)
		go func() {
			_, err := c.Exec(context.Background(), long)
			done <- err
		}()
		// A CancelRequest stops only what runs when it arrives: it is sent
		// once the history shows the query running.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			hist, err := e.l.Query.History(ctx, 5)
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) > 0 && hist[0].SQL == long && hist[0].State == query.StateRunning {
				break
			}
			select {
			case err := <-done:
				t.Fatalf("the long query ended before its cancel: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("the long query is not running: %+v", hist)
			}
		}
		if err := c.PgConn().CancelRequest(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if sqlState(err) != "57014" {
				t.Fatalf("cancelled query: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the query was not cancelled")
		}
		hist, _ := e.l.Query.History(ctx, 5)
		if len(hist) == 0 || hist[0].State != query.StateCancelled {
			t.Fatalf("history: %+v", hist)
		}
	})
	t.Run("workgroup", func(t *testing.T) {
		if err := e.l.Query.CreateWorkgroup(ctx, query.Workgroup{Name: "tiny", BytesScannedCutoff: 10}); err != nil {
			t.Fatal(err)
		}
		w := e.connect(t, e.admin, "&workgroup=tiny")
		_, err := w.Exec(ctx, "SELECT * FROM orders")
		if sqlState(err) != "54000" {
			t.Fatalf("scan cutoff: %v", err)
		}
		hist, _ := e.l.Query.History(ctx, 1)
		if hist[0].Workgroup != "tiny" || hist[0].AccessKey != e.admin.AccessKeyID {
			t.Fatalf("history: %+v", hist[0])
		}
	})
	t.Run("introspection", func(t *testing.T) {
		var db, ver string
		if err := c.QueryRow(ctx, "SELECT current_database(), version()").Scan(&db, &ver); err != nil || db != "shop" {
			t.Fatal(db, ver, err)
		}
		rows, err := c.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, "shop", "orders")
		if err != nil {
			t.Fatal(err)
		}
		var cols []string
		for rows.Next() {
			var n, ty string
			rows.Scan(&n, &ty)
			cols = append(cols, n+" "+ty)
		}
		if fmt.Sprint(cols) != "[id BIGINT customer VARCHAR amount DECIMAL(10,2) day DATE paid BOOLEAN]" {
			t.Fatalf("columns: %v %v", cols, rows.Err())
		}
	})
}

func pgxConnect(t *testing.T, url string) (*pgx.Conn, error) {
	c, err := pgx.Connect(t.Context(), url)
	if err == nil {
		t.Cleanup(func() { c.Close(context.Background()) })
	}
	return c, err
}
