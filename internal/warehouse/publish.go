package warehouse

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/tarn-lake/tarn/internal/catalog"
	"github.com/tarn-lake/tarn/internal/engine"
)

// Write-audit-publish: a writer (a dbt step with publish: on_tests_pass)
// builds its relations in staging schemas readers do not look at, audits
// them there, and then Publish moves them into their real schemas in ONE
// DuckDB transaction: a reader sees every relation of the publish old or
// every one new, never a mix, and a failed publish changes nothing.

// Publish says what to publish.
type Publish struct {
	// Schemas maps each staging schema to the real schema its relations
	// are published into.
	Schemas map[string]string
	// Order lists staging relations as "schema.name" in the order they
	// must be created (a view after what it reads: dbt's DAG order).
	// Relations of a staging schema that are not listed follow: tables,
	// then views, by name.
	Order []string
	// Authorize, if set, is asked for redshift:CreateTable on every
	// published name, redshift:DropTable on every name it replaces and
	// redshift:CreateSchema for a real schema that does not exist yet.
	Authorize func(action, schema, name, location string) error
	// KeepStaging leaves the (now published) staging schemas in place; by
	// default they are dropped in the same transaction.
	KeepStaging bool
}

// Published is one relation a publish made.
type Published struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
	// Kind is "table", "view", "late_view" (a view over lake tables) or
	// "materialized_view".
	Kind string `json:"kind"`
	// Rows of a table or materialized view.
	Rows int64 `json:"rows"`
}

// Publish replaces, in one transaction, each real relation by its staging
// one: tables (and materialized views) are copied, views are created again
// with every name of a staging schema in their SQL pointing at its real
// schema; then the staging schemas are dropped. Names in the real schemas
// that the staging schemas do not hold are left alone.
func (w *Service) Publish(ctx context.Context, p Publish) ([]Published, error) {
	if w.err != nil {
		return nil, w.err
	}
	if len(p.Schemas) == 0 {
		return nil, nil
	}
	for st, real := range p.Schemas {
		if reserved[strings.ToLower(st)] || reserved[strings.ToLower(real)] || strings.EqualFold(st, real) || st == "" || real == "" {
			return nil, fmt.Errorf("cannot publish schema %q into %q: %w", st, real, ErrPermission)
		}
	}
	sess, err := w.eng.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	x := &execution{w: w, ctx: ctx, sess: sess, conn: sess.Conn(), env: Env{Authorize: p.Authorize}}
	var out []Published
	err = x.tx(func() error {
		var err error
		out, err = x.publish(p)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cannot publish %s: %w", schemaList(p.Schemas), err)
	}
	return out, nil
}

func schemaList(m map[string]string) string {
	var parts []string
	for st, real := range m {
		parts = append(parts, st+" → "+real)
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

type stagedRel struct {
	schema, name string
	kind         engine.RelationKind
	mv           bool
}

func (x *execution) publish(p Publish) ([]Published, error) {
	rels, err := x.rels()
	if err != nil {
		return nil, err
	}
	mvs, err := x.matViews()
	if err != nil {
		return nil, err
	}
	// The staging relations, in the order they are created.
	lower := map[string]string{} // staging schema (lower case) → real
	for st, real := range p.Schemas {
		lower[strings.ToLower(st)] = real
	}
	var all []stagedRel
	for key, kind := range rels.Rels {
		sch, name, _ := strings.Cut(key, ".")
		if _, ok := lower[sch]; ok {
			all = append(all, stagedRel{schema: sch, name: name, kind: kind, mv: mvs[key]})
		}
	}
	pos := map[string]int{}
	for i, n := range p.Order {
		if _, ok := pos[strings.ToLower(n)]; !ok {
			pos[strings.ToLower(n)] = i
		}
	}
	rank := func(r stagedRel) (int, int) {
		if i, ok := pos[r.schema+"."+r.name]; ok {
			return 0, i
		}
		if r.kind == engine.KindTable {
			return 1, 0
		}
		return 2, 0
	}
	slices.SortFunc(all, func(a, b stagedRel) int {
		ga, ia := rank(a)
		gb, ib := rank(b)
		if ga != gb {
			return ga - gb
		}
		if ia != ib {
			return ia - ib
		}
		return strings.Compare(a.schema+"."+a.name, b.schema+"."+b.name)
	})
	// Real schemas that do not exist yet are created.
	var reals []string
	for _, real := range p.Schemas {
		reals = append(reals, real)
	}
	slices.Sort(reals)
	for _, real := range slices.Compact(reals) {
		if rels.Schemas[strings.ToLower(real)] {
			continue
		}
		if rels.External[strings.ToLower(real)] != "" {
			return nil, fmt.Errorf("%w: %s is an external schema", ErrUnsupported, real)
		}
		if err := x.env.allow(ActionCreateSchema, real, "", ""); err != nil {
			return nil, err
		}
		if _, err := x.exec("CREATE SCHEMA " + engine.WarehouseCatalog + "." + quoteIdent(real)); err != nil {
			return nil, wrapDuck(err)
		}
	}
	var out []Published
	for _, r := range all {
		real := lower[r.schema]
		from, to := name{Schema: r.schema, Name: r.name}, name{Schema: real, Name: r.name}
		if err := x.env.allow(ActionCreateTable, to.Schema, to.Name, ""); err != nil {
			return nil, err
		}
		if old := rels.Kind(to.Schema, to.Name); old != "" {
			if err := x.env.allow(ActionDropTable, to.Schema, to.Name, ""); err != nil {
				return nil, err
			}
			if err := x.dropAny(to, old, mvs[strings.ToLower(to.Schema+"."+to.Name)]); err != nil {
				return nil, err
			}
		}
		pub := Published{Schema: to.Schema, Name: to.Name}
		switch r.kind {
		case engine.KindTable:
			pub.Kind = "table"
			if r.mv {
				pub.Kind = "materialized_view"
			}
			if _, err := x.exec("CREATE TABLE " + sqlName(to) + " AS SELECT * FROM " + sqlName(from)); err != nil {
				return nil, wrapDuck(err)
			}
			if err := x.conn.QueryRowContext(x.ctx, "SELECT count(*) FROM "+sqlName(to)).Scan(&pub.Rows); err != nil {
				return nil, err
			}
			// tarn's bookkeeping follows (sort and dist keys; a copy has
			// no identity sequences).
			if _, err := x.exec(`INSERT INTO warehouse.tarn.tables (schema_name, table_name, sort_key, dist_key, sequences, ignored)
				SELECT ?, table_name, sort_key, dist_key, []::VARCHAR[], ignored FROM warehouse.tarn.tables WHERE schema_name = ? AND table_name = ?`,
				to.Schema, from.Schema, from.Name); err != nil {
				return nil, err
			}
			if r.mv {
				if err := x.publishMatView(from, to, lower); err != nil {
					return nil, err
				}
			}
		case engine.KindView:
			pub.Kind = "view"
			var text string
			if err := x.conn.QueryRowContext(x.ctx, `SELECT sql FROM duckdb_views() WHERE database_name = ? AND lower(schema_name) = ? AND lower(view_name) = ?`,
				engine.WarehouseCatalog, r.schema, r.name).Scan(&text); err != nil {
				return nil, fmt.Errorf("cannot read view %s: %w", from, err)
			}
			q, err := republishView(text, to, lower)
			if err != nil {
				return nil, fmt.Errorf("cannot publish view %s: %w", from, err)
			}
			if _, err := x.exec(q); err != nil {
				return nil, fmt.Errorf("cannot publish view %s: %w", from, wrapDuck(err))
			}
		case engine.KindLateView:
			pub.Kind = "late_view"
			def := rels.Late[r.schema+"."+r.name]
			text, err := RenameSchemas(def[0], lower)
			if err != nil {
				return nil, fmt.Errorf("cannot publish view %s: %w", from, err)
			}
			if _, err := x.exec(`INSERT INTO warehouse.tarn.late_views (schema_name, view_name, definition, database_name) VALUES (?, ?, ?, ?)`,
				to.Schema, to.Name, text, def[1]); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: cannot publish %s (%s)", ErrUnsupported, from, r.kind)
		}
		out = append(out, pub)
	}
	if !p.KeepStaging {
		var sts []string
		for st := range p.Schemas {
			sts = append(sts, st)
		}
		slices.Sort(sts)
		for _, st := range sts {
			if err := x.dropSchemaAll(st); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// matViews returns the materialized views by "schema.name" (lower case).
func (x *execution) matViews() (map[string]bool, error) {
	rows, err := x.conn.QueryContext(x.ctx, `SELECT lower(schema_name || '.' || view_name) FROM warehouse.tarn.materialized_views`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out[k] = true
	}
	return out, rows.Err()
}

// dropAny drops a relation of any kind with tarn's bookkeeping of it.
func (x *execution) dropAny(t name, kind engine.RelationKind, mv bool) error {
	switch kind {
	case engine.KindLateView:
		_, err := x.exec(`DELETE FROM warehouse.tarn.late_views WHERE schema_name = ? AND view_name = ?`, t.Schema, t.Name)
		return err
	case engine.KindView:
		_, err := x.exec("DROP VIEW " + sqlName(t))
		return wrapDuck(err)
	}
	var seqs []string
	rows, err := x.conn.QueryContext(x.ctx, `SELECT unnest(sequences) FROM warehouse.tarn.tables WHERE schema_name = ? AND table_name = ?`, t.Schema, t.Name)
	if err != nil {
		return err
	}
	for rows.Next() {
		var q string
		if err := rows.Scan(&q); err != nil {
			rows.Close()
			return err
		}
		seqs = append(seqs, q)
	}
	rows.Close()
	if _, err := x.exec("DROP TABLE " + sqlName(t)); err != nil {
		return wrapDuck(err)
	}
	for _, q := range seqs {
		if _, err := x.exec("DROP SEQUENCE IF EXISTS " + q); err != nil {
			return wrapDuck(err)
		}
	}
	if _, err := x.exec(`DELETE FROM warehouse.tarn.tables WHERE schema_name = ? AND table_name = ?`, t.Schema, t.Name); err != nil {
		return err
	}
	if mv {
		_, err := x.exec(`DELETE FROM warehouse.tarn.materialized_views WHERE schema_name = ? AND view_name = ?`, t.Schema, t.Name)
		return err
	}
	return nil
}

// publishMatView copies a materialized view's definition, its names of
// staging schemas pointing at the real ones.
func (x *execution) publishMatView(from, to name, schemas map[string]string) error {
	var def, db string
	var auto bool
	var bases, sortKey []any
	var refreshed sql.NullTime
	var rows sql.NullInt64
	if err := x.conn.QueryRowContext(x.ctx, `SELECT definition, coalesce(database_name, ''), auto_refresh, coalesce(base_tables, []::VARCHAR[]), coalesce(sort_key, []::VARCHAR[]), refreshed_at, refresh_rows
		FROM warehouse.tarn.materialized_views WHERE schema_name = ? AND view_name = ?`, from.Schema, from.Name).Scan(&def, &db, &auto, &bases, &sortKey, &refreshed, &rows); err != nil {
		return fmt.Errorf("cannot read materialized view %s: %w", from, err)
	}
	def, err := RenameSchemas(def, schemas)
	if err != nil {
		return err
	}
	var bs, sk []string
	for _, b := range bases {
		parts := strings.Split(fmt.Sprint(b), ".")
		for i, p := range parts {
			if real, ok := schemas[strings.ToLower(p)]; ok {
				parts[i] = real
			}
		}
		bs = append(bs, strings.Join(parts, "."))
	}
	for _, k := range sortKey {
		sk = append(sk, fmt.Sprint(k))
	}
	_, err = x.exec(`INSERT INTO warehouse.tarn.materialized_views (schema_name, view_name, definition, database_name, auto_refresh, sort_key, base_tables, refreshed_at, refresh_rows)
		VALUES (?, ?, ?, ?, ?, `+listLiteral(sk)+`, `+listLiteral(bs)+`, ?, ?)`, to.Schema, to.Name, def, db, auto, refreshed, rows)
	return err
}

// dropSchemaAll drops a schema with everything in it and tarn's
// bookkeeping of it.
func (x *execution) dropSchemaAll(schema string) error {
	for _, tbl := range []string{"tables", "materialized_views", "late_views"} {
		if _, err := x.exec(`DELETE FROM warehouse.tarn.`+tbl+` WHERE lower(schema_name) = lower(?)`, schema); err != nil {
			return err
		}
	}
	_, err := x.exec("DROP SCHEMA IF EXISTS " + engine.WarehouseCatalog + "." + quoteIdent(schema) + " CASCADE")
	return wrapDuck(err)
}

// republishView turns DuckDB's CREATE VIEW statement of a staging view into
// the one that creates it as to, with names of staging schemas pointing at
// their real schemas.
func republishView(text string, to name, schemas map[string]string) (string, error) {
	toks, err := lex(text)
	if err != nil {
		return "", err
	}
	// CREATE VIEW [catalog.][schema.]name [(cols)] AS ...: the name is
	// replaced whole.
	if len(toks) < 4 || !toks[0].is("CREATE") || !toks[1].is("VIEW") {
		return "", fmt.Errorf("%w: unexpected view definition %q", ErrUnsupported, text)
	}
	i := 2
	for i+1 < len(toks) && toks[i+1].punct(".") {
		i += 2
	}
	head := "CREATE VIEW " + sqlName(to)
	rest, err := RenameSchemas(text[toks[i].end:], schemas)
	if err != nil {
		return "", err
	}
	return head + rest, nil
}

// RenameSchemas rewrites the names of schemas in SQL text: every
// identifier, quoted or not, that is a key of schemas (lower case) becomes
// its value, quoted. String literals and comments are left as they are.
func RenameSchemas(text string, schemas map[string]string) (string, error) {
	toks, err := lex(text)
	if err != nil {
		return "", err
	}
	var edits []edit
	for _, t := range toks {
		if t.kind != tIdent && t.kind != tQuoted {
			continue
		}
		if real, ok := schemas[strings.ToLower(t.val)]; ok {
			edits = append(edits, edit{t.pos, t.end, quoteIdent(real)})
		}
	}
	return apply(text, edits), nil
}

// StageTables copies the real tables names of schema real into schema
// staging (created if needed), so that incremental models built there
// start from the published rows. Names that are not tables of real are
// skipped; the copies are returned. Authorize, if set, is asked for
// redshift:ReadData on the real table and redshift:CreateTable on the copy.
func (w *Service) StageTables(ctx context.Context, real, staging string, names []string, authorize func(action, schema, name, location string) error) ([]string, error) {
	if w.err != nil {
		return nil, w.err
	}
	if reserved[strings.ToLower(staging)] || strings.EqualFold(real, staging) {
		return nil, fmt.Errorf("cannot stage into schema %q: %w", staging, ErrPermission)
	}
	sess, err := w.eng.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	x := &execution{w: w, ctx: ctx, sess: sess, conn: sess.Conn(), env: Env{Authorize: authorize}}
	var copied []string
	err = x.tx(func() error {
		rels, err := x.rels()
		if err != nil {
			return err
		}
		mvs, err := x.matViews()
		if err != nil {
			return err
		}
		if !rels.Schemas[strings.ToLower(staging)] {
			if err := x.env.allow(ActionCreateSchema, staging, "", ""); err != nil {
				return err
			}
			if _, err := x.exec("CREATE SCHEMA " + engine.WarehouseCatalog + "." + quoteIdent(staging)); err != nil {
				return wrapDuck(err)
			}
		}
		for _, n := range names {
			from, to := name{Schema: real, Name: n}, name{Schema: staging, Name: n}
			if rels.Kind(real, n) != engine.KindTable || mvs[strings.ToLower(real+"."+n)] {
				continue
			}
			if err := x.env.allow(ActionReadData, real, n, ""); err != nil {
				return err
			}
			if err := x.env.allow(ActionCreateTable, staging, n, ""); err != nil {
				return err
			}
			if rels.Kind(staging, n) != "" {
				if err := x.dropAny(to, rels.Kind(staging, n), false); err != nil {
					return err
				}
			}
			if _, err := x.exec("CREATE TABLE " + sqlName(to) + " AS SELECT * FROM " + sqlName(from)); err != nil {
				return wrapDuck(err)
			}
			if _, err := x.exec(`INSERT INTO warehouse.tarn.tables (schema_name, table_name, sort_key, dist_key, sequences, ignored)
				SELECT ?, table_name, sort_key, dist_key, []::VARCHAR[], ignored FROM warehouse.tarn.tables WHERE schema_name = ? AND table_name = ?`,
				staging, real, n); err != nil {
				return err
			}
			copied = append(copied, n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot stage tables of %s into %s: %w", real, staging, err)
	}
	return copied, nil
}

// DropSchemas drops warehouse schemas with everything in them and tarn's
// bookkeeping of them (staging schemas of write-audit-publish), in one
// transaction. Missing schemas are skipped.
func (w *Service) DropSchemas(ctx context.Context, schemas []string) error {
	if w.err != nil {
		return w.err
	}
	for _, s := range schemas {
		if reserved[strings.ToLower(s)] || strings.EqualFold(s, engine.PublicSchema) {
			return fmt.Errorf("cannot drop schema %q: %w", s, ErrPermission)
		}
	}
	sess, err := w.eng.Acquire(ctx)
	if err != nil {
		return err
	}
	defer sess.Release()
	x := &execution{w: w, ctx: ctx, sess: sess, conn: sess.Conn()}
	return x.tx(func() error {
		for _, s := range schemas {
			if err := x.dropSchemaAll(s); err != nil {
				return err
			}
		}
		return nil
	})
}

// Schemas lists the warehouse's schemas whose names start with prefix
// (case-insensitive).
func (w *Service) Schemas(ctx context.Context, prefix string) ([]string, error) {
	if w.err != nil {
		return nil, w.err
	}
	sess, err := w.eng.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	rows, err := sess.Conn().QueryContext(ctx, `SELECT schema_name FROM duckdb_schemas() WHERE database_name = ? AND NOT internal
		AND starts_with(lower(schema_name), lower(?)) ORDER BY schema_name`, engine.WarehouseCatalog, prefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ExternalSchemas returns the external schemas (Redshift Spectrum's) by
// name (lower case), each with the catalog database it maps to.
func (w *Service) ExternalSchemas(ctx context.Context) (map[string]string, error) {
	if w.err != nil {
		return nil, w.err
	}
	sess, err := w.eng.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	rels, err := sess.WarehouseRelations(ctx)
	if err != nil {
		return nil, err
	}
	return rels.External, nil
}

// Catalog returns the catalog the warehouse's external schemas map to.
func (w *Service) Catalog() *catalog.Catalog { return w.cat }
