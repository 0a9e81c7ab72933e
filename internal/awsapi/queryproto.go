package awsapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/alarms"
	"github.com/tarn-lake/tarn/internal/auth"
)

// AWS's query protocol (CloudWatch, IAM): a form-encoded POST with an
// Action and a Version, answered in XML.

// qop is one query-protocol operation.
type qop struct {
	service string // the credential scope's: "monitoring", "iam" or "sts"
	fn      func(ctx context.Context, c *call, f form) (*xnode, error)
}

// qservice describes a query-protocol service.
type qservice struct {
	version string
	xmlns   string
}

var qservices = map[string]qservice{
	"monitoring": {"2010-08-01", "http://monitoring.amazonaws.com/doc/2010-08-01/"},
	"iam":        {"2010-05-08", "https://iam.amazonaws.com/doc/2010-05-08/"},
	"sts":        {"2011-06-15", "https://sts.amazonaws.com/doc/2011-06-15/"},
}

// form is a request's parameters, flattened as the query protocol has
// them (Dimensions.member.1.Name=...).
type form struct{ url.Values }

func (f form) str(k string) string { return f.Get(k) }

// list reads prefix.member.1, prefix.member.2, ...
func (f form) list(prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		k := prefix + ".member." + strconv.Itoa(i)
		if !f.Has(k) {
			return out
		}
		out = append(out, f.Get(k))
	}
}

// count is how many members prefix.member.N.* there are.
func (f form) count(prefix string) int {
	n := 0
	for i := 1; ; i++ {
		p := prefix + ".member." + strconv.Itoa(i) + "."
		found := false
		for k := range f.Values {
			if strings.HasPrefix(k, p) {
				found = true
				break
			}
		}
		if !found {
			return n
		}
		n++
	}
}

func (f form) integer(k string) (int, bool, error) {
	v := f.Get(k)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, false, qerr("InvalidParameterValue", "%s %q is not an integer", k, truncate(v, 40))
	}
	return n, true, nil
}

func (f form) float(k string) (float64, bool, error) {
	v := f.Get(k)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, false, qerr("InvalidParameterValue", "%s %q is not a number", k, truncate(v, 40))
	}
	return n, true, nil
}

func (f form) time(k string) (time.Time, bool, error) {
	v := f.Get(k)
	if v == "" {
		return time.Time{}, false, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true, nil
		}
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Unix(0, int64(n*1e9)).UTC(), true, nil
	}
	return time.Time{}, false, qerr("InvalidParameterValue", "%s %q is not an ISO 8601 time", k, truncate(v, 40))
}

// qerr is a query-protocol error (HTTP 400, Sender).
func qerr(code, format string, args ...any) error {
	return &awsError{code: code, status: http.StatusBadRequest, err: fmt.Errorf(format, args...)}
}

func missing(name string) error {
	return qerr("MissingParameter", "the parameter %s is required", name)
}

// xnode is an XML element: text or children, in order.
// Its kind says how the JSON and CBOR protocols type it.
type xnode struct {
	name string
	text string
	kids []*xnode
	set  bool // text was set (an empty string is still written)
	kind byte // 'o' structure, 'l' list, 's' string, 'n' number, 'b' boolean, 't' time
	tm   time.Time
}

func x(name string, kids ...*xnode) *xnode { return &xnode{name: name, kids: kids, kind: 'o'} }
func xt(name, text string) *xnode          { return &xnode{name: name, text: text, set: true, kind: 's'} }
func xtime(name string, t time.Time) *xnode {
	n := xt(name, t.UTC().Format("2006-01-02T15:04:05.000Z"))
	n.kind, n.tm = 't', t
	return n
}
func xfloat(name string, v float64) *xnode {
	n := xt(name, strconv.FormatFloat(v, 'f', -1, 64))
	n.kind = 'n'
	return n
}
func xint(name string, v int) *xnode {
	n := xt(name, strconv.Itoa(v))
	n.kind = 'n'
	return n
}
func xbool(name string, v bool) *xnode {
	n := xt(name, strconv.FormatBool(v))
	n.kind = 'b'
	return n
}

// xlist is a list of members named member.
func xlist(name string, items []*xnode) *xnode {
	n := x(name)
	n.kind = 'l'
	for _, it := range items {
		it.name = "member"
		n.kids = append(n.kids, it)
	}
	return n
}

func xstrings(name string, vs []string) *xnode {
	var items []*xnode
	for _, v := range vs {
		items = append(items, xt("member", v))
	}
	return xlist(name, items)
}

func (n *xnode) add(kids ...*xnode) *xnode {
	for _, k := range kids {
		if k != nil {
			n.kids = append(n.kids, k)
		}
	}
	return n
}

func (n *xnode) write(b *bytes.Buffer) {
	b.WriteString("<" + n.name + ">")
	if n.set {
		_ = xml.EscapeText(b, []byte(n.text))
	}
	for _, k := range n.kids {
		k.write(b)
	}
	b.WriteString("</" + n.name + ">")
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (s *Server) query(service, action string, fn func(ctx context.Context, c *call, f form) (*xnode, error)) {
	s.qops[service+"."+action] = qop{service, fn}
}

// isQuery tells a query-protocol request: a form POST to /, which S3
// never sends (its browser uploads are multipart to /bucket).
func isQuery(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Path == "/" && r.Header.Get("X-Amz-Target") == "" &&
		strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/x-www-form-urlencoded")
}

// serveQuery serves a query-protocol request; the service is the one its
// signature is scoped to.
func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request) {
	rid := requestID()
	service := "monitoring"
	action := ""
	out, err := func() (*xnode, error) {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
		p, err := s.d.Auth.Authenticate(r)
		if err != nil {
			return nil, err
		}
		if _, ok := qservices[p.Service]; ok {
			service = p.Service
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, &awsError{"RequestEntityTooLarge", http.StatusRequestEntityTooLarge, fmt.Errorf("the request body is over %d bytes", s.cfg.MaxBody)}
			}
			return nil, err
		}
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, qerr("MalformedQueryString", "the form body cannot be parsed: %v", err)
		}
		action = vals.Get("Action")
		if action == "" {
			return nil, missing("Action")
		}
		o, ok := s.qops[p.Service+"."+action]
		if !ok {
			if _, known := qservices[p.Service]; !known {
				return nil, qerr("InvalidAction", "tarn serves no query-protocol API for service %q (CloudWatch is signed for \"monitoring\", IAM for \"iam\")", p.Service)
			}
			return nil, qerr("InvalidAction", "tarn does not support %s action %s; docs/aws.md lists the supported ones", p.Service, truncate(action, 80))
		}
		if v := vals.Get("Version"); v != "" && v != qservices[service].version {
			return nil, qerr("InvalidParameterValue", "Version %q: tarn speaks %s API version %s", truncate(v, 20), service, qservices[service].version)
		}
		return o.fn(r.Context(), &call{p: p}, form{vals})
	}()
	ns := qservices[service].xmlns
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-RequestId", rid)
	var b bytes.Buffer
	b.WriteString(xml.Header)
	if err != nil {
		code, status := s.queryErrorCode(err)
		if status >= 500 {
			slog.Error("AWS query API request failed", "service", service, "action", action, "err", err)
		}
		kind := "Sender"
		if status >= 500 {
			kind = "Receiver"
		}
		w.WriteHeader(status)
		b.WriteString(`<ErrorResponse xmlns="` + ns + `">`)
		x("Error", xt("Type", kind), xt("Code", code), xt("Message", err.Error())).write(&b)
		xt("RequestId", rid).write(&b)
		b.WriteString(`</ErrorResponse>`)
		_, _ = w.Write(b.Bytes())
		return
	}
	b.WriteString(`<` + action + `Response xmlns="` + ns + `">`)
	if out != nil {
		out.name = action + "Result"
		out.write(&b)
	}
	x("ResponseMetadata", xt("RequestId", rid)).write(&b)
	b.WriteString(`</` + action + `Response>`)
	_, _ = w.Write(b.Bytes())
}

// queryErrorCode maps errors to the query protocol's codes.
func (s *Server) queryErrorCode(err error) (string, int) {
	var ae *awsError
	if errors.As(err, &ae) {
		return ae.code, ae.status
	}
	switch {
	case errors.Is(err, auth.ErrAccessDenied):
		return "AccessDenied", http.StatusForbidden
	case errors.Is(err, auth.ErrInvalidAccessKeyID):
		return "InvalidClientTokenId", http.StatusForbidden
	case errors.Is(err, auth.ErrSignatureDoesNotMatch):
		return "SignatureDoesNotMatch", http.StatusForbidden
	case errors.Is(err, auth.ErrRequestTimeTooSkewed):
		return "RequestExpired", http.StatusBadRequest
	case errors.Is(err, auth.ErrMissingAuth):
		return "MissingAuthenticationToken", http.StatusForbidden
	case errors.As(err, new(*http.MaxBytesError)):
		return "RequestEntityTooLarge", http.StatusRequestEntityTooLarge
	case errors.Is(err, alarms.ErrNoSuchAlarm):
		return "ResourceNotFound", http.StatusNotFound
	case errors.Is(err, alarms.ErrInvalidSpec):
		return "InvalidParameterValue", http.StatusBadRequest
	}
	if code, st := auth.S3ErrorCode(err); code != "" && code != "InternalError" {
		return "IncompleteSignature", st
	}
	return "InternalFailure", http.StatusInternalServerError
}
