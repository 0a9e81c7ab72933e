// The warehouse (Redshift's role): schemas, tables, views and materialized
// views with their columns and refresh state — those the key may read.
import { useEffect, useState } from "preact/hooks";
import { getWarehouse, quoteIdent, WarehouseRelation, when } from "./api";

const enc = encodeURIComponent;

export function Warehouse({ route }: { route: string[] }) {
  const schema = route[1] ?? "";
  const rel = route[2] ?? "";
  const [data, setData] = useState<{ schemas: string[]; relations: WarehouseRelation[] } | null>(null);
  const [err, setErr] = useState("");
  useEffect(() => {
    getWarehouse().then(setData, (e) => setErr(e.message));
  }, []);
  const shown = (data?.relations ?? []).filter((r) => !schema || r.schema === schema);
  const picked = data?.relations.find((r) => r.schema === schema && r.name === rel);
  return (
    <div class="catalog">
      <aside class="side" aria-label="Warehouse schemas">
        <h2 class="label">Schemas</h2>
        {!data && !err && <p class="muted" role="status">Loading…</p>}
        <ul class="tree">
          {(data?.schemas ?? []).map((s) => (
            <li key={s}>
              <a href={`#/warehouse/${enc(s)}`} class="dbname" aria-current={schema === s && !rel ? "page" : undefined}>{s}</a>
              <ul>
                {data!.relations.filter((r) => r.schema === s).map((r) => (
                  <li key={r.name}>
                    <a href={`#/warehouse/${enc(s)}/${enc(r.name)}`} aria-current={schema === s && rel === r.name ? "page" : undefined}>{r.name}</a>
                  </li>
                ))}
              </ul>
            </li>
          ))}
        </ul>
      </aside>
      <section class="content">
        <h1>{picked ? `${picked.schema}.${picked.name}` : schema ? `Warehouse schema ${schema}` : "Warehouse"}</h1>
        {err && <p class="error" role="alert">{err}</p>}
        {data && data.relations.length === 0 && <p class="muted">No warehouse relations this key may read (CREATE SCHEMA, CREATE TABLE … in the query editor or psql).</p>}
        {picked ? <Relation r={picked} /> : data && data.relations.length > 0 && (
          <table class="data" id="warehouse">
            <caption class="sr">Warehouse relations</caption>
            <thead><tr><th scope="col">Relation</th><th scope="col">Kind</th><th scope="col">Columns</th><th scope="col">Rows (estimated)</th><th scope="col">Last refresh</th></tr></thead>
            <tbody>
              {shown.map((r) => (
                <tr key={`${r.schema}.${r.name}`}>
                  <td><a href={`#/warehouse/${enc(r.schema)}/${enc(r.name)}`}>{r.schema}.{r.name}</a></td>
                  <td>{r.kind}{r.auto_refresh ? " (auto refresh)" : ""}</td>
                  <td class="num">{r.columns.length}</td>
                  <td class="num">{r.kind === "table" || r.kind === "materialized view" ? (r.estimated_rows ?? 0).toLocaleString() : ""}</td>
                  <td>{r.refreshed_at ? `${when(r.refreshed_at)}, ${(r.refresh_rows ?? 0).toLocaleString()} rows` : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}

function Relation({ r }: { r: WarehouseRelation }) {
  const sql = `SELECT * FROM ${quoteIdent(r.schema)}.${quoteIdent(r.name)} LIMIT 100`;
  return (
    <>
      <dl class="facts" id="warehouse-facts">
        <div><dt>Kind</dt><dd>{r.kind}</dd></div>
        {r.estimated_rows ? <div><dt>Rows (estimated)</dt><dd>{r.estimated_rows.toLocaleString()}</dd></div> : null}
        {r.kind === "materialized view" && (
          <>
            <div><dt>Auto refresh</dt><dd>{r.auto_refresh ? "yes" : "no"}</dd></div>
            <div><dt>Last refresh</dt><dd>{r.refreshed_at ? `${when(r.refreshed_at)} (${(r.refresh_rows ?? 0).toLocaleString()} rows)` : "never"}</dd></div>
            {r.base_tables?.length ? <div><dt>Reads</dt><dd class="mono">{r.base_tables.join(", ")}</dd></div> : null}
          </>
        )}
      </dl>
      <p><a href="#/query" onClick={() => sessionStorage.setItem("tarn.sql", sql)}>Query it in the editor</a></p>
      <table class="data" id="warehouse-columns">
        <caption class="sr">Columns of {r.schema}.{r.name}</caption>
        <thead><tr><th scope="col">#</th><th scope="col">Column</th><th scope="col">Type</th></tr></thead>
        <tbody>
          {r.columns.map((c, i) => (
            <tr key={c.name}><td>{i + 1}</td><td class="mono">{c.name}</td><td class="mono type">{c.type}</td></tr>
          ))}
        </tbody>
      </table>
      {r.definition && (
        <>
          <h2>Definition</h2>
          <pre class="sql">{r.definition}</pre>
        </>
      )}
    </>
  );
}
