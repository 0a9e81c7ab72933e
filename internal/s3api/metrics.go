package s3api

import (
	"io"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the S3 endpoint's Prometheus figures.
type metrics struct {
	requests *prometheus.CounterVec
	bytesIn  prometheus.Counter
	bytesOut prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tarn_s3_requests_total", Help: "S3 requests by method and status."}, []string{"method", "status"}),
		bytesIn:  prometheus.NewCounter(prometheus.CounterOpts{Name: "tarn_s3_received_bytes_total", Help: "Bytes received in S3 request bodies."}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "tarn_s3_sent_bytes_total", Help: "Bytes sent in S3 response bodies."}),
	}
}

// Collectors returns the endpoint's metrics, to register where /metrics is
// served.
func (s *Server) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.metrics.requests, s.metrics.bytesIn, s.metrics.bytesOut}
}

// countingWriter records the status and the bytes of a response.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (c *countingWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// ReadFrom keeps net/http's sendfile path for object bodies (a wrapper
// without it would copy every byte through user space).
func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if rf, ok := c.ResponseWriter.(io.ReaderFrom); ok {
		n, err := rf.ReadFrom(r)
		c.n += n
		return n, err
	}
	n, err := io.Copy(struct{ io.Writer }{c.ResponseWriter}, r)
	c.n += n
	return n, err
}

// countingBody counts the bytes read from a request body.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

func (m *metrics) observe(method string, w *countingWriter, body *countingBody) {
	st := w.status
	if st == 0 {
		st = http.StatusOK
	}
	m.requests.WithLabelValues(method, strconv.Itoa(st)).Inc()
	m.bytesOut.Add(float64(w.n))
	if body != nil {
		m.bytesIn.Add(float64(body.n))
	}
}
