// Package sample generates the guides' example data deterministically: the
// sales CSV (transaction_id, customer_id, product_id, quantity, unit_price,
// transaction_date, region) and partitioned orders as JSON lines. The same
// seed and size always give the same bytes, so benchmarks and tests can
// compare runs.
package sample

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"time"
)

// Regions are the sales regions of the guides.
var Regions = []string{"North", "South", "East", "West", "Central"}

// SalesHeader is the header line of the sales CSV.
const SalesHeader = "transaction_id,customer_id,product_id,quantity,unit_price,transaction_date,region"

// Sales writes rows of sales data as CSV with a header. Dates span 2025.
func Sales(w io.Writer, rows int, seed uint64) (int64, error) {
	r := rand.New(rand.NewPCG(seed, 0x5a1e5))
	bw := bufio.NewWriterSize(w, 1<<20)
	cw := &countWriter{w: bw}
	fmt.Fprintln(cw, SalesHeader)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	buf := make([]byte, 0, 128)
	for i := 1; i <= rows; i++ {
		buf = buf[:0]
		buf = fmt.Appendf(buf, "TXN%08d,CUST%05d,PROD%04d,%d,%d.%02d,%s,%s\n",
			i, 1+r.IntN(5000), 1+r.IntN(500), 1+r.IntN(10),
			1+r.IntN(499), r.IntN(100),
			start.AddDate(0, 0, r.IntN(365)).Format("2006-01-02"),
			Regions[r.IntN(len(Regions))])
		if _, err := cw.Write(buf); err != nil {
			return cw.n, err
		}
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

// Order is one order of the orders JSON set.
type Order struct {
	OrderID    *string  `json:"order_id"`
	CustomerID string   `json:"customer_id"`
	OrderDate  string   `json:"order_date"`
	Status     string   `json:"status"`
	Customer   Customer `json:"customer"`
	Items      []Item   `json:"items"`
	Total      float64  `json:"total_amount"`
	Tags       []string `json:"tags"`
}

// Customer is nested in Order.
type Customer struct {
	Name    string `json:"name"`
	Email   string `json:"email"`
	ZipCode string `json:"zip_code"`
}

// Item is one line of an order.
type Item struct {
	ProductID string  `json:"product_id"`
	Quantity  int     `json:"quantity"`
	Price     float64 `json:"price"`
}

// OrdersDay writes the orders of one day as JSON lines. As real feeds do, a
// few orders repeat (same order_id) and a few have no order_id.
func OrdersDay(w io.Writer, day time.Time, n int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, uint64(day.Unix())))
	enc := json.NewEncoder(w)
	statuses := []string{"PLACED", "SHIPPED", "DELIVERED", "CANCELLED"}
	var prev *Order
	for i := 0; i < n; i++ {
		if prev != nil && r.IntN(20) == 0 {
			if err := enc.Encode(prev); err != nil { // a duplicate delivery
				return err
			}
			continue
		}
		id := fmt.Sprintf("ORD-%s-%04d", day.Format("20060102"), i)
		o := Order{
			OrderID:    &id,
			CustomerID: fmt.Sprintf("CUST%05d", 1+r.IntN(5000)),
			OrderDate:  day.Add(time.Duration(r.IntN(86400)) * time.Second).Format(time.RFC3339),
			Status:     statuses[r.IntN(len(statuses))],
			Customer: Customer{
				Name:    fmt.Sprintf("Customer %d", r.IntN(5000)),
				Email:   fmt.Sprintf("c%d@example.com", r.IntN(5000)),
				ZipCode: fmt.Sprintf("%05d", r.IntN(3000)), // leading zeros: must stay a string
			},
			Tags: []string{"web"},
		}
		if r.IntN(40) == 0 {
			o.OrderID = nil
		}
		for j := 0; j < 1+r.IntN(3); j++ {
			it := Item{ProductID: fmt.Sprintf("PROD%04d", 1+r.IntN(500)), Quantity: 1 + r.IntN(5), Price: float64(100+r.IntN(9900)) / 100}
			o.Items = append(o.Items, it)
			o.Total += float64(it.Quantity) * it.Price
		}
		o.Total = float64(int(o.Total*100+0.5)) / 100
		if err := enc.Encode(&o); err != nil {
			return err
		}
		prev = &o
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
