package icebergrest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/tarn-lake/tarn/internal/auth"
)

func errf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func errNoSuchNamespace(ns table.Identifier) error {
	return fmt.Errorf("namespace %q does not exist: %w", dbName(ns), catalog.ErrNoSuchNamespace)
}

func errNoSuchTable(ident table.Identifier) error {
	return fmt.Errorf("table %q does not exist: %w", dbName(ident), catalog.ErrNoSuchTable)
}

// writePathProperties are the table properties that send a writer's files
// somewhere else than under the table's location.
var writePathProperties = []string{"write.data.path", "write.metadata.path", "write.object-storage.path", "write.folder-storage.path"}

type restIdentifier struct {
	Namespace []string `json:"namespace"`
	Name      string   `json:"name"`
}

func (id *restIdentifier) ident() (table.Identifier, error) {
	if id == nil {
		return nil, badRequest("the table identifier is missing")
	}
	ns, err := checkNamespace(id.Namespace)
	if err != nil {
		return nil, err
	}
	if err := validName("table name", id.Name); err != nil {
		return nil, err
	}
	return append(slices.Clone(ns), id.Name), nil
}

// loadTableResult is the spec's LoadTableResult.
type loadTableResult struct {
	MetadataLocation string             `json:"metadata-location,omitempty"`
	Metadata         json.RawMessage    `json:"metadata"`
	Config           iceberg.Properties `json:"config"`
}

func (s *Server) tableResult(metadataLocation string, meta table.Metadata, refsOnly bool) (loadTableResult, error) {
	data, err := json.Marshal(meta)
	if err != nil {
		return loadTableResult{}, fmt.Errorf("cannot encode table metadata: %w", err)
	}
	if refsOnly {
		if data, err = onlyReferencedSnapshots(data); err != nil {
			return loadTableResult{}, err
		}
	}
	// No per-table config: clients let it override their own properties,
	// and an s3.endpoint set by the client (one reaching tarn from another
	// machine) must win over the server's default.
	return loadTableResult{MetadataLocation: metadataLocation, Metadata: data, Config: iceberg.Properties{}}, nil
}

// onlyReferencedSnapshots drops from metadata JSON the snapshots no branch
// or tag references (loadTable's snapshots=refs).
func onlyReferencedSnapshots(data []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("cannot filter table metadata: %w", err)
	}
	var refs map[string]struct {
		SnapshotID int64 `json:"snapshot-id"`
	}
	if raw, ok := m["refs"]; ok {
		if err := json.Unmarshal(raw, &refs); err != nil {
			return nil, fmt.Errorf("cannot filter table metadata: %w", err)
		}
	}
	var snaps []json.RawMessage
	if raw, ok := m["snapshots"]; ok {
		if err := json.Unmarshal(raw, &snaps); err != nil {
			return nil, fmt.Errorf("cannot filter table metadata: %w", err)
		}
	}
	keep := map[int64]bool{}
	for _, r := range refs {
		keep[r.SnapshotID] = true
	}
	kept := []json.RawMessage{}
	for _, raw := range snaps {
		var id struct {
			SnapshotID int64 `json:"snapshot-id"`
		}
		if err := json.Unmarshal(raw, &id); err == nil && keep[id.SnapshotID] {
			kept = append(kept, raw)
		}
	}
	b, err := json.Marshal(kept)
	if err != nil {
		return nil, err
	}
	m["snapshots"] = b
	return json.Marshal(m)
}

func (s *Server) listTables(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	ns, err := s.lookupNamespace(r)
	if err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:GetTables", databaseARN(ns)); err != nil {
		return nil, err
	}
	pg, err := parsePage(r)
	if err != nil {
		return nil, err
	}
	var names []string
	for ident, err := range s.cat.ListTables(ctx, ns) {
		if err != nil {
			return nil, err
		}
		full := append(slices.Clone(ns), catalog.TableNameFromIdent(ident))
		// As Glue's GetTables does, a listing shows only the tables the
		// key may read.
		if p.Authorize("glue:GetTable", tableARN(full)) == nil {
			names = append(names, catalog.TableNameFromIdent(ident))
		}
	}
	names, next := pg.apply(names)
	out := struct {
		Identifiers []restIdentifier `json:"identifiers"`
		Next        string           `json:"next-page-token,omitempty"`
	}{Identifiers: []restIdentifier{}, Next: next}
	for _, n := range names {
		out.Identifiers = append(out.Identifiers, restIdentifier{Namespace: ns, Name: n})
	}
	return out, nil
}

// newTableLocation is where a new table goes: where its creator says, else
// where the catalog puts it, else under its namespace's location, else
// under the configured warehouse.
func (s *Server) newTableLocation(ctx context.Context, ident table.Identifier, given string) (string, error) {
	if given != "" {
		return strings.TrimRight(given, "/"), nil
	}
	if tl, ok := s.cat.(TableLocator); ok {
		return tl.DefaultTableLocation(ctx, ident)
	}
	ns, name := catalog.NamespaceFromIdent(ident), catalog.TableNameFromIdent(ident)
	props, err := s.cat.LoadNamespaceProperties(ctx, ns)
	if err != nil {
		return "", err
	}
	if loc := props["location"]; loc != "" {
		return strings.TrimRight(loc, "/") + "/" + name, nil
	}
	if s.cfg.Warehouse != "" {
		return strings.TrimRight(s.cfg.Warehouse, "/") + "/" + strings.Join(ns, "/") + "/" + name, nil
	}
	return "", badRequest("table %q has no location and its namespace none to put it under: give one", dbName(ident))
}

// authorizeWrites checks that p may write where a table with this location
// and these properties writes its files.
func (s *Server) authorizeWrites(p *auth.Principal, location string, props iceberg.Properties) error {
	if location != "" {
		if err := s.authorizeLocation(p, location); err != nil {
			return err
		}
	}
	for _, k := range writePathProperties {
		if v := props[k]; v != "" {
			if err := s.authorizeLocation(p, v); err != nil {
				return fmt.Errorf("table property %s: %w", k, err)
			}
		}
	}
	return nil
}

func (s *Server) createTable(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	ns, err := s.createNamespaceOf(r)
	if err != nil {
		return nil, err
	}
	var in struct {
		Name          string                        `json:"name"`
		Location      string                        `json:"location"`
		Schema        *iceberg.Schema               `json:"schema"`
		PartitionSpec *iceberg.UnboundPartitionSpec `json:"partition-spec"`
		WriteOrder    *table.UnboundSortOrder       `json:"write-order"`
		StageCreate   bool                          `json:"stage-create"`
		Properties    iceberg.Properties            `json:"properties"`
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	if err := validName("table name", in.Name); err != nil {
		return nil, err
	}
	if in.Schema == nil {
		return nil, badRequest("the table's schema is missing")
	}
	ident := append(slices.Clone(ns), in.Name)
	if err := p.Authorize("glue:CreateTable", tableARN(ident)); err != nil {
		return nil, err
	}
	loc, err := s.newTableLocation(ctx, ident, in.Location)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeWrites(p, loc, in.Properties); err != nil {
		return nil, err
	}
	var spec *iceberg.PartitionSpec
	if in.PartitionSpec != nil {
		spec = &in.PartitionSpec.PartitionSpec
	}
	order := table.UnsortedSortOrder
	if in.WriteOrder != nil {
		order = in.WriteOrder.SortOrder
	}
	if in.StageCreate {
		// Nothing is created: the client commits the table later with
		// assert-create (and then it is authorized again).
		if ok, err := s.cat.CheckNamespaceExists(ctx, ns); err != nil {
			return nil, err
		} else if !ok {
			return nil, errNoSuchNamespace(ns)
		}
		if ok, err := s.cat.CheckTableExists(ctx, ident); err != nil {
			return nil, err
		} else if ok {
			return nil, fmt.Errorf("table %q: %w", dbName(ident), catalog.ErrTableAlreadyExists)
		}
		meta, err := table.NewMetadata(in.Schema, spec, order, loc, in.Properties)
		if err != nil {
			return nil, badRequest("cannot stage table %q: %v", dbName(ident), err)
		}
		return s.tableResult("", meta, false)
	}
	opts := []catalog.CreateTableOpt{catalog.WithLocation(loc), catalog.WithSortOrder(order)}
	if spec != nil {
		opts = append(opts, catalog.WithPartitionSpec(spec))
	}
	if in.Properties != nil {
		opts = append(opts, catalog.WithProperties(in.Properties))
	}
	t, err := s.cat.CreateTable(ctx, ident, in.Schema, opts...)
	if err != nil {
		return nil, err
	}
	return s.tableResult(t.MetadataLocation(), t.Metadata(), false)
}

func (s *Server) loadTable(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	ident, err := s.lookupTable(r)
	if err != nil {
		return nil, err
	}
	refsOnly := false
	switch v := r.URL.Query().Get("snapshots"); v {
	case "", "all":
	case "refs":
		refsOnly = true
	default:
		return nil, badRequest("snapshots=%q: want all or refs", truncate(v, 32))
	}
	if err := p.Authorize("glue:GetTable", tableARN(ident)); err != nil {
		return nil, err
	}
	t, err := s.cat.LoadTable(ctx, ident)
	if err != nil {
		return nil, err
	}
	return s.tableResult(t.MetadataLocation(), t.Metadata(), refsOnly)
}

func (s *Server) tableExists(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	ident, err := s.lookupTable(r)
	if err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:GetTable", tableARN(ident)); err != nil {
		return nil, err
	}
	ok, err := s.cat.CheckTableExists(ctx, ident)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNoSuchTable(ident)
	}
	return nil, nil
}

// commitRequest is the spec's CommitTableRequest.
type commitRequest struct {
	Identifier   *restIdentifier    `json:"identifier"`
	Requirements table.Requirements `json:"requirements"`
	Updates      table.Updates      `json:"updates"`
}

// prepareCommit authorizes a commit and checks its requirements against
// the table as it is now: a failed requirement is a conflict (409), found
// before the catalog writes anything. The catalog checks them again as it
// swaps the metadata location. It returns the updates to commit.
func (s *Server) prepareCommit(ctx context.Context, p *auth.Principal, ident table.Identifier, reqs []table.Requirement, updates []table.Update) ([]table.Update, error) {
	create := false
	for _, rq := range reqs {
		if rq == nil {
			return nil, badRequest("a requirement is null")
		}
		if rq.GetType() == "assert-create" {
			create = true
		}
	}
	for _, u := range updates {
		if u == nil {
			return nil, badRequest("an update is null")
		}
	}
	if ns := ident[:len(ident)-1]; s.tooDeep(ns) {
		if create {
			return nil, s.cannotCreateDeep(ns)
		}
		return nil, s.noSuchDeepNamespace(ns, ident[len(ident)-1])
	}
	action := "glue:UpdateTable"
	if create {
		action = "glue:CreateTable"
	}
	if err := p.Authorize(action, tableARN(ident)); err != nil {
		return nil, err
	}
	var meta table.Metadata
	current, err := s.cat.LoadTable(ctx, ident)
	switch {
	case err == nil:
		meta = current.Metadata()
	case errors.Is(err, catalog.ErrNoSuchTable) && create:
	default:
		return nil, err
	}
	for _, rq := range reqs {
		if err := rq.Validate(meta); err != nil {
			return nil, commitFailed(fmt.Errorf("cannot commit to table %q: %w", dbName(ident), err))
		}
	}
	// Where the table writes after the commit: its location and write
	// paths as the updates leave them.
	var loc string
	props := iceberg.Properties{}
	if meta != nil {
		loc = meta.Location()
		maps.Copy(props, meta.Properties())
	}
	for _, u := range updates {
		switch u.Action() {
		case table.UpdateSetLocation, table.UpdateSetProperties, table.UpdateRemoveProperties:
		default:
			continue
		}
		data, err := json.Marshal(u)
		if err != nil {
			return nil, fmt.Errorf("cannot read update %s: %w", u.Action(), err)
		}
		var f struct {
			Location string             `json:"location"`
			Updates  iceberg.Properties `json:"updates"`
			Removals []string           `json:"removals"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			return nil, fmt.Errorf("cannot read update %s: %w", u.Action(), err)
		}
		switch u.Action() {
		case table.UpdateSetLocation:
			loc = f.Location
		case table.UpdateSetProperties:
			maps.Copy(props, f.Updates)
		case table.UpdateRemoveProperties:
			for _, k := range f.Removals {
				delete(props, k)
			}
		}
	}
	if create && loc == "" {
		if loc, err = s.newTableLocation(ctx, ident, ""); err != nil {
			return nil, err
		}
		updates = append(slices.Clone(updates), table.NewSetLocationUpdate(loc))
	}
	if err := s.authorizeWrites(p, loc, props); err != nil {
		return nil, err
	}
	return updates, nil
}

func (s *Server) commitTable(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	ident, err := pathTable(r)
	if err != nil {
		return nil, err
	}
	var in commitRequest
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	if in.Identifier != nil {
		id, err := in.Identifier.ident()
		if err != nil {
			return nil, err
		}
		if !slices.Equal(id, ident) {
			return nil, badRequest("the body's identifier %q is not the path's table %q", dbName(id), dbName(ident))
		}
	}
	updates, err := s.prepareCommit(ctx, p, ident, in.Requirements, in.Updates)
	if err != nil {
		return nil, err
	}
	meta, loc, err := s.cat.CommitTable(ctx, ident, in.Requirements, updates)
	if err != nil {
		if isRequirementFailure(err) {
			return nil, commitFailed(err)
		}
		return nil, err
	}
	res, err := s.tableResult(loc, meta, false)
	if err != nil {
		return nil, err
	}
	return struct {
		MetadataLocation string          `json:"metadata-location"`
		Metadata         json.RawMessage `json:"metadata"`
	}{loc, res.Metadata}, nil
}

func (s *Server) commitTransaction(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	tc, ok := s.cat.(catalog.TransactionalCatalog)
	if !ok {
		return nil, &restError{http.StatusNotImplemented, "NotImplementedException", errf("this catalog does not commit multi-table transactions")}
	}
	var in struct {
		TableChanges []commitRequest `json:"table-changes"`
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	if len(in.TableChanges) == 0 {
		return nil, badRequest("table-changes is empty")
	}
	commits := make([]table.TableCommit, 0, len(in.TableChanges))
	seen := map[string]bool{}
	for i := range in.TableChanges {
		c := &in.TableChanges[i]
		ident, err := c.Identifier.ident()
		if err != nil {
			return nil, err
		}
		key := strings.Join(ident, namespaceSep)
		if seen[key] {
			return nil, badRequest("table %q is changed twice in one transaction", dbName(ident))
		}
		seen[key] = true
		updates, err := s.prepareCommit(ctx, p, ident, c.Requirements, c.Updates)
		if err != nil {
			return nil, err
		}
		commits = append(commits, table.TableCommit{Identifier: ident, Requirements: c.Requirements, Updates: updates})
	}
	if err := tc.CommitTransaction(ctx, commits); err != nil {
		if isRequirementFailure(err) {
			return nil, commitFailed(err)
		}
		return nil, err
	}
	return nil, nil
}

func (s *Server) dropTable(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	ident, err := s.lookupTable(r)
	if err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:DeleteTable", tableARN(ident)); err != nil {
		return nil, err
	}
	if r.URL.Query().Get("purgeRequested") != "true" {
		return nil, s.cat.DropTable(ctx, ident)
	}
	pt, ok := s.cat.(catalog.PurgeableTable)
	if !ok {
		return nil, &restError{http.StatusNotImplemented, "NotImplementedException", errf("this catalog does not purge tables; drop without purgeRequested")}
	}
	// Purging deletes the table's files: the key must be allowed to.
	t, err := s.cat.LoadTable(ctx, ident)
	if err != nil {
		return nil, err
	}
	res, err := s.cfg.LocationResource(t.Location())
	if err != nil {
		return nil, badRequest("table location %q: %v", truncate(t.Location(), 200), err)
	}
	if err := p.Authorize("s3:DeleteObject", res); err != nil {
		return nil, err
	}
	return nil, pt.PurgeTable(ctx, ident)
}

func (s *Server) renameTable(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	var in struct {
		Source      *restIdentifier `json:"source"`
		Destination *restIdentifier `json:"destination"`
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	from, err := in.Source.ident()
	if err != nil {
		return nil, err
	}
	to, err := in.Destination.ident()
	if err != nil {
		return nil, err
	}
	if ns := from[:len(from)-1]; s.tooDeep(ns) {
		return nil, s.noSuchDeepNamespace(ns, from[len(from)-1])
	}
	if ns := to[:len(to)-1]; s.tooDeep(ns) {
		return nil, s.cannotCreateDeep(ns)
	}
	// A rename removes one name and creates another.
	if err := p.Authorize("glue:DeleteTable", tableARN(from)); err != nil {
		return nil, err
	}
	if err := p.Authorize("glue:CreateTable", tableARN(to)); err != nil {
		return nil, err
	}
	_, err = s.cat.RenameTable(ctx, from, to)
	return nil, err
}

func (s *Server) registerTable(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	ns, err := s.createNamespaceOf(r)
	if err != nil {
		return nil, err
	}
	var in struct {
		Name             string `json:"name"`
		MetadataLocation string `json:"metadata-location"`
		Overwrite        bool   `json:"overwrite"`
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	if err := validName("table name", in.Name); err != nil {
		return nil, err
	}
	if in.MetadataLocation == "" {
		return nil, badRequest("metadata-location is missing")
	}
	if in.Overwrite {
		return nil, badRequest("overwrite is not supported: drop the table first")
	}
	ident := append(slices.Clone(ns), in.Name)
	if err := p.Authorize("glue:CreateTable", tableARN(ident)); err != nil {
		return nil, err
	}
	// The metadata file is <location>/metadata/<file>: the table's later
	// commits write under <location>.
	loc := in.MetadataLocation
	if i := strings.LastIndexByte(loc, '/'); i >= 0 {
		loc = strings.TrimSuffix(loc[:i], "/metadata")
	}
	if err := s.authorizeLocation(p, loc); err != nil {
		return nil, err
	}
	reg, ok := s.cat.(TableRegistrar)
	if !ok {
		return nil, &restError{http.StatusNotImplemented, "NotImplementedException", errf("this catalog does not register tables")}
	}
	t, err := reg.RegisterTable(ctx, ident, in.MetadataLocation)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeWrites(p, t.Location(), t.Properties()); err != nil {
		// Registered where the key may not write: undone.
		if derr := s.cat.DropTable(ctx, ident); derr != nil {
			return nil, errors.Join(err, derr)
		}
		return nil, err
	}
	return s.tableResult(t.MetadataLocation(), t.Metadata(), false)
}

func (s *Server) reportMetrics(ctx context.Context, p *auth.Principal, r *http.Request) (any, error) {
	if _, err := pathTable(r); err != nil {
		return nil, err
	}
	// Accepted and not kept; read to its end so that a signed body is
	// verified.
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		return nil, badRequest("cannot read the metrics report: %v", err)
	}
	return nil, nil
}
