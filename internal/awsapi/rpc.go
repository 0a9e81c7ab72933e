package awsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// CloudWatch's other protocols: the SDKs of today send RPC v2 CBOR
// (boto3 and botocore since 2025) or AWS JSON 1.0, where Debian's aws CLI
// sends the query protocol. The input is flattened into the query
// protocol's form and the operations are the same; the output tree is
// encoded in the protocol's types.

const cwTarget = "GraniteServiceVersion20100801"

const cborPath = "/service/" + cwTarget + "/operation/"

// rpcOp tells a CloudWatch CBOR or JSON request and its operation.
func rpcOp(r *http.Request) (proto, op string) {
	if r.Method != http.MethodPost {
		return "", ""
	}
	if r.Header.Get("Smithy-Protocol") == "rpc-v2-cbor" && strings.HasPrefix(r.URL.Path, cborPath) {
		return "cbor", strings.TrimPrefix(r.URL.Path, cborPath)
	}
	if op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), cwTarget+"."); ok {
		return "json", op
	}
	return "", ""
}

// flatten writes v into vals as the query protocol names it:
// a.b for members, a.member.N for list items.
func flatten(prefix string, v any, vals url.Values, depth int) error {
	if depth > 32 {
		return qerr("SerializationException", "the input nests more than 32 levels")
	}
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if err := flatten(join(k), x, vals, depth+1); err != nil {
				return err
			}
		}
	case cbor.Map:
		for k, x := range t {
			if err := flatten(join(k), x, vals, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for i, x := range t {
			if err := flatten(prefix+".member."+strconv.Itoa(i+1), x, vals, depth+1); err != nil {
				return err
			}
		}
	case cbor.List:
		for i, x := range t {
			if err := flatten(prefix+".member."+strconv.Itoa(i+1), x, vals, depth+1); err != nil {
				return err
			}
		}
	case nil, cbor.Nil, *cbor.Nil, cbor.Undefined, *cbor.Undefined:
	case string:
		vals.Set(prefix, t)
	case cbor.String:
		vals.Set(prefix, string(t))
	case json.Number:
		vals.Set(prefix, t.String())
	case bool:
		vals.Set(prefix, strconv.FormatBool(t))
	case cbor.Bool:
		vals.Set(prefix, strconv.FormatBool(bool(t)))
	case cbor.Uint:
		vals.Set(prefix, strconv.FormatUint(uint64(t), 10))
	case cbor.NegInt:
		vals.Set(prefix, "-"+strconv.FormatUint(uint64(t), 10))
	case cbor.Float32:
		vals.Set(prefix, strconv.FormatFloat(float64(t), 'f', -1, 32))
	case cbor.Float64:
		vals.Set(prefix, strconv.FormatFloat(float64(t), 'f', -1, 64))
	case *cbor.Tag:
		if t.ID != 1 {
			return qerr("SerializationException", "%s: CBOR tag %d is not a timestamp", truncate(prefix, 80), t.ID)
		}
		tm, err := cbor.AsTime(t)
		if err != nil {
			return qerr("SerializationException", "%s: %v", truncate(prefix, 80), err)
		}
		vals.Set(prefix, tm.UTC().Format(time.RFC3339Nano))
	default:
		return qerr("SerializationException", "%s: a %T is not a member CloudWatch takes", truncate(prefix, 80), v)
	}
	return nil
}

// jsonValue is the output tree in AWS JSON's types (epoch seconds).
func jsonValue(n *xnode) any {
	switch n.kind {
	case 'l':
		out := make([]any, 0, len(n.kids))
		for _, k := range n.kids {
			out = append(out, jsonValue(k))
		}
		return out
	case 'o':
		out := map[string]any{}
		for _, k := range n.kids {
			out[k.name] = jsonValue(k)
		}
		return out
	case 'n':
		f, _ := strconv.ParseFloat(n.text, 64)
		return f
	case 'b':
		return n.text == "true"
	case 't':
		return epoch(n.tm)
	}
	return n.text
}

// cborValue is the output tree in CBOR's types (timestamps are tag 1).
func cborValue(n *xnode) cbor.Value {
	switch n.kind {
	case 'l':
		out := cbor.List{}
		for _, k := range n.kids {
			out = append(out, cborValue(k))
		}
		return out
	case 'o':
		out := cbor.Map{}
		for _, k := range n.kids {
			out[k.name] = cborValue(k)
		}
		return out
	case 'n':
		f, _ := strconv.ParseFloat(n.text, 64)
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			if f < 0 {
				return cbor.NegInt(uint64(-f))
			}
			return cbor.Uint(uint64(f))
		}
		return cbor.Float64(f)
	case 'b':
		return cbor.Bool(n.text == "true")
	case 't':
		return &cbor.Tag{ID: 1, Value: cbor.Float64(epoch(n.tm))}
	}
	return cbor.String(n.text)
}

// serveRPC serves a CloudWatch request in CBOR or JSON.
func (s *Server) serveRPC(w http.ResponseWriter, r *http.Request, proto, action string) {
	rid := requestID()
	out, err := func() (*xnode, error) {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
		p, err := s.d.Auth.Authenticate(r)
		if err != nil {
			return nil, err
		}
		if p.Service != "monitoring" {
			return nil, &awsError{"InvalidSignatureException", http.StatusForbidden,
				fmt.Errorf("Credential should be scoped to correct service: 'monitoring' (the request was signed for %q)", p.Service)}
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		vals := url.Values{}
		if len(bytes.TrimSpace(body)) > 0 {
			var v any
			if proto == "cbor" {
				if v, err = cbor.Decode(body); err != nil {
					return nil, qerr("SerializationException", "the body is not CBOR: %v", err)
				}
			} else {
				dec := json.NewDecoder(bytes.NewReader(body))
				dec.UseNumber()
				if err := dec.Decode(&v); err != nil {
					return nil, qerr("SerializationException", "the body is not JSON: %v", err)
				}
			}
			switch v.(type) {
			case cbor.Map, map[string]any:
			default:
				return nil, qerr("SerializationException", "the body must be an object of the operation's members")
			}
			if err := flatten("", v, vals, 0); err != nil {
				return nil, err
			}
		}
		o, ok := s.qops["monitoring."+action]
		if !ok {
			return nil, qerr("UnknownOperationException", "tarn does not support CloudWatch operation %s; docs/aws.md lists the supported ones", truncate(action, 80))
		}
		return o.fn(r.Context(), &call{p: p}, form{vals})
	}()
	var ctype string
	var enc func(v any) []byte
	if proto == "cbor" {
		ctype = "application/cbor"
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		enc = func(v any) []byte { return cbor.Encode(v.(cbor.Value)) }
	} else {
		ctype = "application/x-amz-json-1.0"
		enc = func(v any) []byte { b, _ := json.Marshal(v); return b }
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("X-Amzn-RequestId", rid)
	if err != nil {
		code, status := s.queryErrorCode(err)
		var ae *awsError
		if errors.As(err, &ae) && ae.code == "InvalidSignatureException" {
			code, status = ae.code, ae.status
		}
		if status >= 500 {
			slog.Error("CloudWatch request failed", "action", action, "err", err)
		}
		kind := "Sender"
		if status >= 500 {
			kind = "Receiver"
		}
		// CloudWatch is query-compatible: SDKs read the query protocol's
		// code from this header.
		w.Header().Set("X-Amzn-Query-Error", code+";"+kind)
		w.WriteHeader(status)
		if proto == "cbor" {
			_, _ = w.Write(enc(cbor.Map{"__type": cbor.String("com.amazonaws.cloudwatch#" + code), "message": cbor.String(err.Error())}))
		} else {
			_, _ = w.Write(enc(map[string]any{"__type": "com.amazonaws.cloudwatch#" + code, "message": err.Error()}))
		}
		return
	}
	if out == nil {
		out = x("")
	}
	if proto == "cbor" {
		_, _ = w.Write(enc(cborValue(out)))
	} else {
		_, _ = w.Write(enc(jsonValue(out)))
	}
}
