package icebergrest

import (
	"context"
	"encoding/base64"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/tarn-lake/tarn/internal/auth"
)

// endpoints are the routes /v1/config advertises, in the spec's notation.
var endpoints = []string{
	"GET /v1/{prefix}/namespaces",
	"POST /v1/{prefix}/namespaces",
	"GET /v1/{prefix}/namespaces/{namespace}",
	"HEAD /v1/{prefix}/namespaces/{namespace}",
	"DELETE /v1/{prefix}/namespaces/{namespace}",
	"POST /v1/{prefix}/namespaces/{namespace}/properties",
	"GET /v1/{prefix}/namespaces/{namespace}/tables",
	"POST /v1/{prefix}/namespaces/{namespace}/tables",
	"GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
	"HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
	"POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
	"DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
	"POST /v1/{prefix}/namespaces/{namespace}/register",
	"POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics",
	"POST /v1/{prefix}/tables/rename",
}

// clientProperties are the properties that point a client's FileIO at
// tarn's S3 endpoint.
func (s *Server) clientProperties() iceberg.Properties {
	props := iceberg.Properties{"client.region": s.cfg.Region, "s3.region": s.cfg.Region}
	if s.cfg.S3Endpoint != "" {
		props["s3.endpoint"] = s.cfg.S3Endpoint
		props["s3.path-style-access"] = "true"
	}
	return props
}

func (s *Server) getConfig(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	eps := slices.Clone(endpoints)
	if _, ok := s.cat.(interface {
		CommitTransaction(context.Context, []table.TableCommit) error
	}); ok {
		eps = append(eps, "POST /v1/{prefix}/transactions/commit")
	}
	return map[string]any{
		"defaults":  s.clientProperties(),
		"overrides": map[string]string{},
		"endpoints": eps,
	}, nil
}

// page is a listing's pageToken and pageSize: items after the token's key,
// at most size of them (0: all).
type page struct {
	after string
	size  int
}

func parsePage(r *http.Request) (page, error) {
	var pg page
	q := r.URL.Query()
	if t := q.Get("pageToken"); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil {
			return pg, badRequest("pageToken %q is not a token this catalog handed out", truncate(t, 64))
		}
		pg.after = string(b)
	}
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return pg, badRequest("pageSize %q is not a positive number", truncate(v, 32))
		}
		pg.size = n
	}
	return pg, nil
}

// apply sorts keys, keeps those of the page and returns them with the next
// page's token ("" when this one is the last).
func (pg page) apply(keys []string) ([]string, string) {
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if pg.after != "" {
		i, _ := slices.BinarySearch(keys, pg.after)
		for i < len(keys) && keys[i] <= pg.after {
			i++
		}
		keys = keys[i:]
	}
	if pg.size > 0 && len(keys) > pg.size {
		keys = keys[:pg.size]
		return keys, base64.RawURLEncoding.EncodeToString([]byte(keys[len(keys)-1]))
	}
	return keys, ""
}

func (s *Server) listNamespaces(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if err := p.Authorize("glue:GetDatabases", auth.CatalogResource); err != nil {
		return nil, err
	}
	pg, err := parsePage(r)
	if err != nil {
		return nil, err
	}
	var parent table.Identifier
	if v := r.URL.Query().Get("parent"); v != "" {
		if parent, err = parseNamespace(v); err != nil {
			return nil, err
		}
		if s.tooDeep(parent) {
			return nil, s.noSuchDeepNamespace(parent, "")
		}
	}
	nss, err := s.cat.ListNamespaces(ctx, parent)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(nss))
	for _, ns := range nss {
		// Only the parent's children (top-level namespaces without one),
		// whatever the catalog lists besides.
		if len(ns) == len(parent)+1 && slices.Equal(ns[:len(parent)], parent) {
			keys = append(keys, strings.Join(ns, namespaceSep))
		}
	}
	keys, next := pg.apply(keys)
	out := struct {
		Namespaces [][]string `json:"namespaces"`
		Next       string     `json:"next-page-token,omitempty"`
	}{Namespaces: [][]string{}, Next: next}
	for _, k := range keys {
		out.Namespaces = append(out.Namespaces, strings.Split(k, namespaceSep))
	}
	return out, nil
}

type namespaceBody struct {
	Namespace  []string           `json:"namespace"`
	Properties iceberg.Properties `json:"properties"`
}

func (s *Server) createNamespace(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	var in namespaceBody
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	ns, err := checkNamespace(in.Namespace)
	if err != nil {
		return nil, err
	}
	if s.tooDeep(ns) {
		return nil, s.cannotCreateDeep(ns)
	}
	if err := p.Authorize("glue:CreateDatabase", databaseARN(ns)); err != nil {
		return nil, err
	}
	if loc := in.Properties["location"]; loc != "" {
		// Tables created in it without a location go under it.
		if err := s.authorizeLocation(p, loc); err != nil {
			return nil, err
		}
	}
	if in.Properties == nil {
		in.Properties = iceberg.Properties{}
	}
	if err := s.cat.CreateNamespace(ctx, ns, in.Properties); err != nil {
		return nil, err
	}
	props, err := s.cat.LoadNamespaceProperties(ctx, ns)
	if err != nil {
		props = in.Properties
	}
	return namespaceBody{Namespace: ns, Properties: nonNilProps(props)}, nil
}

func nonNilProps(p iceberg.Properties) iceberg.Properties {
	if p == nil {
		return iceberg.Properties{}
	}
	return p
}

func (s *Server) loadNamespace(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	ns, err := s.lookupNamespace(r)
	if err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:GetDatabase", databaseARN(ns)); err != nil {
		return nil, err
	}
	props, err := s.cat.LoadNamespaceProperties(ctx, ns)
	if err != nil {
		return nil, err
	}
	props = nonNilProps(props)
	if props["location"] == "" {
		// Trino creates a table in a namespace without a location eagerly
		// (not staged) and then finds its location not empty: with one it
		// stages the create at <location>/<table>-<uuid>.
		if loc := s.namespaceLocation(ctx, ns); loc != "" {
			props = maps.Clone(props)
			props["location"] = loc
		}
	}
	return namespaceBody{Namespace: ns, Properties: props}, nil
}

// namespaceLocation is where a namespace's tables go by default: what the
// catalog's TableLocator says for a table in it, without the table's name,
// else <Warehouse>/<namespace>, else "".
func (s *Server) namespaceLocation(ctx context.Context, ns table.Identifier) string {
	const probe = "t"
	if tl, ok := s.cat.(TableLocator); ok {
		loc, err := tl.DefaultTableLocation(ctx, append(slices.Clone(ns), probe))
		if err != nil {
			return ""
		}
		if dir, ok := strings.CutSuffix(strings.TrimRight(loc, "/"), "/"+probe); ok {
			return dir
		}
		return ""
	}
	if s.cfg.Warehouse != "" {
		return strings.TrimRight(s.cfg.Warehouse, "/") + "/" + strings.Join(ns, "/")
	}
	return ""
}

func (s *Server) namespaceExists(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	ns, err := s.lookupNamespace(r)
	if err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:GetDatabase", databaseARN(ns)); err != nil {
		return nil, err
	}
	ok, err := s.cat.CheckNamespaceExists(ctx, ns)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &restError{http.StatusNotFound, "NoSuchNamespaceException", errNoSuchNamespace(ns)}
	}
	return nil, nil
}

func (s *Server) dropNamespace(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	ns, err := s.lookupNamespace(r)
	if err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:DeleteDatabase", databaseARN(ns)); err != nil {
		return nil, err
	}
	return nil, s.cat.DropNamespace(ctx, ns)
}

func (s *Server) updateNamespaceProperties(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	ns, err := s.lookupNamespace(r)
	if err != nil {
		return nil, err
	}
	var in struct {
		Removals []string           `json:"removals"`
		Updates  iceberg.Properties `json:"updates"`
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	for _, k := range in.Removals {
		if _, ok := in.Updates[k]; ok {
			return nil, &restError{http.StatusUnprocessableEntity, "UnprocessableEntityException", errf("property %q is both removed and updated", k)}
		}
	}
	if err := p.Authorize("glue:UpdateDatabase", databaseARN(ns)); err != nil {
		return nil, err
	}
	if loc := in.Updates["location"]; loc != "" {
		if err := s.authorizeLocation(p, loc); err != nil {
			return nil, err
		}
	}
	if in.Updates == nil {
		in.Updates = iceberg.Properties{}
	}
	sum, err := s.cat.UpdateNamespaceProperties(ctx, ns, in.Removals, maps.Clone(in.Updates))
	if err != nil {
		return nil, err
	}
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return map[string][]string{"updated": nonNil(sum.Updated), "removed": nonNil(sum.Removed), "missing": nonNil(sum.Missing)}, nil
}

func (s *Server) listViews(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	ns, err := s.lookupNamespace(r)
	if err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:GetTables", databaseARN(ns)); err != nil {
		return nil, err
	}
	if ok, err := s.cat.CheckNamespaceExists(ctx, ns); err != nil {
		return nil, err
	} else if !ok {
		return nil, &restError{http.StatusNotFound, "NoSuchNamespaceException", errNoSuchNamespace(ns)}
	}
	return map[string]any{"identifiers": []any{}}, nil
}

func (s *Server) noSuchView(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	return nil, &restError{http.StatusNotFound, "NoSuchViewException", errf("view %q does not exist: tarn's Iceberg catalog keeps no views", r.PathValue("view"))}
}

func (s *Server) viewsNotImplemented(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	return nil, &restError{http.StatusNotImplemented, "NotImplementedException", errf("tarn's Iceberg catalog keeps no views")}
}
