package warehouse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tarn-lake/tarn/internal/storage"
)

// The guides' layout, sales/year=2025/month=01/: the folder names are not
// columns of a COPY (Redshift maps fields only), whatever the format.
func TestCopyFromHiveFolders(t *testing.T) {
	l := openLake(t, t.TempDir())
	defer l.Close()
	ctx := context.Background()
	if err := l.Store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	put := func(key, body string) {
		t.Helper()
		if _, err := l.Store.Put(ctx, "lake", key, strings.NewReader(body), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	const header = "order_id,customer_id,product_id,quantity,unit_price,order_date,region\n"
	put("raw/sales/year=2025/month=01/sales.csv", header+"O1,C1,P1,2,10.00,2025-01-05,north\nO2,C2,P2,1,25.50,2025-01-06,south\n")
	put("raw/sales/year=2025/month=02/sales.csv", header+"O3,C1,P3,4,3.25,2025-02-01,north\n")
	put("raw/json/year=2025/month=01/orders.json", `{"order_id":"J1","quantity":3}`+"\n")
	run(t, l, "CREATE SCHEMA staging")
	run(t, l, `CREATE TABLE staging.sales_raw (order_id VARCHAR(50), customer_id VARCHAR(50), product_id VARCHAR(50),
		quantity INTEGER, unit_price DECIMAL(10,2), order_date DATE, region VARCHAR(MAX))`)
	run(t, l, `COPY staging.sales_raw FROM 's3://lake/raw/sales/' IAM_ROLE 'arn:aws:iam::123456789012:role/RedshiftCopy'
		FORMAT AS CSV IGNOREHEADER 1 DELIMITER ','`)
	if got := fmt.Sprint(run(t, l, "SELECT order_id, quantity, unit_price, region FROM staging.sales_raw ORDER BY order_id")); got != "[[O1 2 10 north] [O2 1 25.5 south] [O3 4 3.25 north]]" {
		t.Errorf("csv: %s", got)
	}

	// Parquet written under Hive folders by another engine.
	run(t, l, "CREATE TABLE staging.sales_pq (order_id VARCHAR(50), quantity INTEGER)")
	run(t, l, "CREATE TABLE staging.sales_pq2 (order_id VARCHAR(50), customer_id VARCHAR(50), product_id VARCHAR(50), quantity INTEGER, unit_price DECIMAL(10,2), order_date DATE, region VARCHAR(MAX))")
	run(t, l, "UNLOAD (SELECT * FROM staging.sales_raw) TO 's3://lake/pq/year=2025/month=01/' WITH (format = 'PARQUET')")
	run(t, l, "COPY staging.sales_pq2 FROM 's3://lake/pq/' FORMAT AS PARQUET")
	if got := fmt.Sprint(run(t, l, "SELECT count(*) FROM staging.sales_pq2")); got != "[[3]]" {
		t.Errorf("parquet: %s", got)
	}
	run(t, l, "COPY staging.sales_pq FROM 's3://lake/raw/json/' FORMAT AS JSON 'auto'")
	if got := fmt.Sprint(run(t, l, "SELECT order_id, quantity FROM staging.sales_pq")); got != "[[J1 3]]" {
		t.Errorf("json: %s", got)
	}
}

// A rejected CSV row's dead letter carries the row as written (no newline
// of the line before, with CRLF files or after a blank line) and a short
// row one message with the true field count.
func TestCopyRejectedRowText(t *testing.T) {
	l := openLake(t, t.TempDir())
	defer l.Close()
	ctx := context.Background()
	if err := l.Store.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	body := "id,amount,region,day\r\n1,10,North,2025-01-01\r\n2,x,South,2025-01-02\r\n\r\n3,30\r\n"
	if _, err := l.Store.Put(ctx, "lake", "raw/t/a.csv", strings.NewReader(body), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	run(t, l, "CREATE TABLE t (id INT, amount INT, region VARCHAR, day DATE)")
	rows := run(t, l, "COPY t FROM 's3://lake/raw/t/' CSV IGNOREHEADER 1 MAXERROR 5")
	if len(rows) != 1 || fmt.Sprint(rows[0][:2]) != "[1 2]" {
		t.Fatalf("copy: %v", rows)
	}
	u, err := storage.ParseURI(fmt.Sprint(rows[0][2]))
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := l.Store.Get(ctx, u.Bucket, u.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, _ := io.ReadAll(rc)
	var got []string
	dec := json.NewDecoder(strings.NewReader(string(data)))
	for dec.More() {
		var r struct {
			Original string `json:"original"`
			Error    string `json:"error"`
			Column   string `json:"column"`
		}
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%q %s [%s]", r.Original, r.Error, r.Column))
	}
	want := []string{
		`"2,x,South,2025-01-02" Error when converting column "amount". Could not convert string "x" to 'INTEGER' [amount]`,
		`"3,30" Expected Number of Columns: 4 Found: 2 [region,day]`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("dead letters:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	raw := run(t, l, "SELECT raw_line, err_reason FROM stl_load_errors ORDER BY line_number")
	if fmt.Sprint(raw) != `[[2,x,South,2025-01-02 Error when converting column "amount". Could not convert string "x" to 'INTEGER'] [3,30 Expected Number of Columns: 4 Found: 2]]` {
		t.Errorf("stl_load_errors: %v", raw)
	}
}
