import { useEffect, useMemo, useState } from "preact/hooks";
import {
  ApiError, bytes, Column, Database, getTable, LineageGraph, listDatabases, listPartitions, listTables, Partition, queryResults,
  quoteIdent, ResultPage, SchemaChange, SchemaVersion, startQuery, Table, tableLineage, tableVersions, waitQuery, when,
} from "./api";
import { fmtCell } from "./cells";

const enc = encodeURIComponent;
const tableHref = (db: string, t: string, tab?: string) => `#/catalog/${enc(db)}/${enc(t)}${tab ? "/" + tab : ""}`;

interface Loaded {
  dbs: Database[];
  tables: Record<string, Table[]>;
  denied: Record<string, string>; // database -> why its tables are not listed
}

function useCatalog(): [Loaded | null, string] {
  const [data, setData] = useState<Loaded | null>(null);
  const [err, setErr] = useState("");
  useEffect(() => {
    (async () => {
      try {
        const dbs = await listDatabases();
        const tables: Record<string, Table[]> = {};
        const denied: Record<string, string> = {};
        await Promise.all(
          dbs.map(async (d) => {
            try {
              tables[d.Name] = await listTables(d.Name);
            } catch (e) {
              denied[d.Name] = e instanceof Error ? e.message : String(e);
            }
          }),
        );
        setData({ dbs, tables, denied });
      } catch (e) {
        setErr(e instanceof Error ? e.message : String(e));
      }
    })();
  }, []);
  return [data, err];
}

interface Hit {
  db: string;
  table?: string;
  column?: string;
  type?: string;
}

function search(data: Loaded, q: string): Hit[] {
  const s = q.trim().toLowerCase();
  if (!s) return [];
  const hits: Hit[] = [];
  for (const d of data.dbs) {
    if (d.Name.toLowerCase().includes(s)) hits.push({ db: d.Name });
    for (const t of data.tables[d.Name] ?? []) {
      if (t.Name.toLowerCase().includes(s)) hits.push({ db: d.Name, table: t.Name });
      for (const c of [...(t.Columns ?? []), ...(t.PartitionKeys ?? [])]) {
        if (c.Name.toLowerCase().includes(s)) hits.push({ db: d.Name, table: t.Name, column: c.Name, type: c.Type });
      }
    }
  }
  return hits.slice(0, 200);
}

export function Catalog({ db, table, tab }: { db?: string; table?: string; tab?: string }) {
  const [data, err] = useCatalog();
  const [q, setQ] = useState("");
  const hits = useMemo(() => (data ? search(data, q) : []), [data, q]);
  return (
    <div class="catalog">
      <aside class="side" aria-label="Databases and tables">
        <label for="catalog-search" class="label">Search names</label>
        <input id="catalog-search" type="search" placeholder="database, table or column" value={q}
          onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        {err && <p class="error" role="alert">{err}</p>}
        {!data && !err && <p class="muted" role="status">Loading the catalog…</p>}
        {data && q.trim() !== "" && (
          <section aria-label="Search results">
            <p class="muted" role="status">{hits.length} match{hits.length === 1 ? "" : "es"}</p>
            <ul class="hits">
              {hits.map((h) => (
                <li key={`${h.db}/${h.table}/${h.column}`}>
                  <a href={h.table ? tableHref(h.db, h.table) : `#/catalog/${enc(h.db)}`}>
                    {h.db}{h.table && "." + h.table}
                    {h.column && <span class="col"> · {h.column} <span class="type">{h.type}</span></span>}
                  </a>
                </li>
              ))}
            </ul>
          </section>
        )}
        {data && q.trim() === "" && (
          <ul class="tree">
            {data.dbs.map((d) => (
              <li key={d.Name}>
                <a href={`#/catalog/${enc(d.Name)}`} class="dbname" aria-current={db === d.Name && !table ? "page" : undefined}>{d.Name}</a>
                {data.denied[d.Name] ? (
                  <p class="muted small">tables not allowed</p>
                ) : (
                  <ul>
                    {(data.tables[d.Name] ?? []).map((t) => (
                      <li key={t.Name}>
                        <a href={tableHref(d.Name, t.Name)} aria-current={db === d.Name && table === t.Name ? "page" : undefined}>{t.Name}</a>
                      </li>
                    ))}
                  </ul>
                )}
              </li>
            ))}
          </ul>
        )}
      </aside>
      <section class="content">
        {db && table ? (
          <TableView key={`${db}.${table}`} db={db} name={table} tab={tab || "columns"} />
        ) : db ? (
          <DatabaseView db={db} data={data} />
        ) : (
          <Overview data={data} />
        )}
      </section>
    </div>
  );
}

function Overview({ data }: { data: Loaded | null }) {
  if (!data) return <h1>Catalog</h1>;
  const nTables = Object.values(data.tables).reduce((n, ts) => n + ts.length, 0);
  return (
    <>
      <h1>Catalog</h1>
      <p class="muted">{data.dbs.length} databases, {nTables} tables you may see.</p>
      <table class="data">
        <caption class="sr">Databases</caption>
        <thead><tr><th scope="col">Database</th><th scope="col">Tables</th><th scope="col">Description</th><th scope="col">Created</th></tr></thead>
        <tbody>
          {data.dbs.map((d) => (
            <tr key={d.Name}>
              <td><a href={`#/catalog/${enc(d.Name)}`}>{d.Name}</a></td>
              <td>{data.denied[d.Name] ? "not allowed" : (data.tables[d.Name] ?? []).length}</td>
              <td>{d.Description}</td>
              <td>{when(d.CreatedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function DatabaseView({ db, data }: { db: string; data: Loaded | null }) {
  const d = data?.dbs.find((x) => x.Name === db);
  return (
    <>
      <h1>Database {db}</h1>
      {d?.Description && <p>{d.Description}</p>}
      {data?.denied[db] && <p class="error" role="alert">{data.denied[db]}</p>}
      {data?.tables[db] && (
        <table class="data">
          <caption class="sr">Tables of {db}</caption>
          <thead><tr><th scope="col">Table</th><th scope="col">Format</th><th scope="col">Columns</th><th scope="col">Partition keys</th><th scope="col">Location</th><th scope="col">Updated</th></tr></thead>
          <tbody>
            {data.tables[db].map((t) => (
              <tr key={t.Name}>
                <td><a href={tableHref(db, t.Name)}>{t.Name}</a></td>
                <td>{t.Format}</td>
                <td>{t.Columns?.length ?? 0}</td>
                <td>{(t.PartitionKeys ?? []).map((c) => c.Name).join(", ")}</td>
                <td class="mono">{t.Location}</td>
                <td>{when(t.UpdatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

const TABS: [string, string][] = [
  ["columns", "Columns"],
  ["partitions", "Partitions"],
  ["properties", "Properties"],
  ["versions", "Schema versions"],
  ["preview", "Data preview"],
  ["lineage", "Lineage"],
];

function TableView({ db, name, tab }: { db: string; name: string; tab: string }) {
  const [t, setT] = useState<Table | null>(null);
  const [err, setErr] = useState<ApiError | Error | null>(null);
  useEffect(() => {
    getTable(db, name).then(setT, setErr);
  }, [db, name]);
  const onKey = (e: KeyboardEvent) => {
    const i = TABS.findIndex(([k]) => k === tab);
    let j = -1;
    if (e.key === "ArrowRight") j = (i + 1) % TABS.length;
    else if (e.key === "ArrowLeft") j = (i + TABS.length - 1) % TABS.length;
    else if (e.key === "Home") j = 0;
    else if (e.key === "End") j = TABS.length - 1;
    if (j < 0) return;
    e.preventDefault();
    location.hash = tableHref(db, name, TABS[j][0]);
    requestAnimationFrame(() => document.getElementById(`tab-${TABS[j][0]}`)?.focus());
  };
  return (
    <>
      <h1>
        <span class="muted">{db}.</span>{name}
      </h1>
      {err && (
        <p class="error" role="alert" id="table-error">
          {err instanceof ApiError && err.status === 403 ? "Access denied: " : ""}{err.message}
        </p>
      )}
      {t && (
        <>
          <dl class="facts">
            <div><dt>Format</dt><dd>{t.Format || "—"}</dd></div>
            <div><dt>Type</dt><dd>{t.TableType}</dd></div>
            <div><dt>Location</dt><dd class="mono">{t.Location}</dd></div>
            <div><dt>Schema version</dt><dd>{t.Version}</dd></div>
            <div><dt>Updated</dt><dd>{when(t.UpdatedAt)}</dd></div>
          </dl>
          {t.Description && <p>{t.Description}</p>}
          <div role="tablist" aria-label="Table details" class="tabs" onKeyDown={onKey}>
            {TABS.map(([k, label]) => (
              <a key={k} role="tab" id={`tab-${k}`} href={tableHref(db, name, k)} aria-selected={tab === k}
                aria-controls="tabpanel" tabIndex={tab === k ? 0 : -1}>{label}</a>
            ))}
          </div>
          <div role="tabpanel" id="tabpanel" aria-labelledby={`tab-${tab}`} class="panel">
            {tab === "columns" && <Columns t={t} />}
            {tab === "partitions" && <Partitions db={db} name={name} keys={t.PartitionKeys ?? []} />}
            {tab === "properties" && <Properties t={t} />}
            {tab === "versions" && <Versions db={db} name={name} />}
            {tab === "preview" && <Preview db={db} name={name} />}
            {tab === "lineage" && <Lineage db={db} name={name} />}
          </div>
        </>
      )}
    </>
  );
}

function Columns({ t }: { t: Table }) {
  const rows: [Column, boolean][] = [...(t.Columns ?? []).map((c): [Column, boolean] => [c, false]), ...(t.PartitionKeys ?? []).map((c): [Column, boolean] => [c, true])];
  return (
    <table class="data" id="columns">
      <caption class="sr">Columns of {t.Database}.{t.Name}</caption>
      <thead><tr><th scope="col">#</th><th scope="col">Column</th><th scope="col">Type</th><th scope="col">Partition key</th><th scope="col">Comment</th></tr></thead>
      <tbody>
        {rows.map(([c, pk], i) => (
          <tr key={c.Name}>
            <td>{i + 1}</td>
            <td class="mono">{c.Name}</td>
            <td class="mono type">{c.Type}</td>
            <td>{pk ? "yes" : ""}</td>
            <td>{c.Comment}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Partitions({ db, name, keys }: { db: string; name: string; keys: Column[] }) {
  const [ps, setPs] = useState<Partition[] | null>(null);
  const [err, setErr] = useState("");
  useEffect(() => {
    listPartitions(db, name).then(setPs, (e) => setErr(e.message));
  }, [db, name]);
  if (err) return <p class="error" role="alert">{err}</p>;
  if (!ps) return <p role="status">Loading partitions…</p>;
  if (keys.length === 0) return <p>The table is not partitioned.</p>;
  const files = ps.reduce((n, p) => n + p.FileCount, 0);
  const size = ps.reduce((n, p) => n + p.Bytes, 0);
  return (
    <>
      <p>{ps.length} partitions, {files} files, {bytes(size)}.</p>
      <div class="scroll" tabIndex={0} role="region" aria-label="Partitions">
        <table class="data">
          <caption class="sr">Partitions</caption>
          <thead>
            <tr>
              {keys.map((k) => <th scope="col" key={k.Name}>{k.Name}</th>)}
              <th scope="col">Files</th><th scope="col">Size</th><th scope="col">Location</th><th scope="col">Added</th>
            </tr>
          </thead>
          <tbody>
            {ps.map((p) => (
              <tr key={p.Location}>
                {p.Values.map((v, i) => <td key={i}>{v}</td>)}
                <td class="num">{p.FileCount}</td>
                <td class="num">{bytes(p.Bytes)}</td>
                <td class="mono">{p.Location}</td>
                <td>{when(p.AddedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function KV({ title, m }: { title: string; m: Record<string, string> | null }) {
  const entries = Object.entries(m ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return (
    <>
      <h2>{title}</h2>
      {entries.length === 0 ? (
        <p class="muted">None.</p>
      ) : (
        <table class="data">
          <caption class="sr">{title}</caption>
          <thead><tr><th scope="col">Key</th><th scope="col">Value</th></tr></thead>
          <tbody>
            {entries.map(([k, v]) => (
              <tr key={k}><td class="mono">{k}</td><td class="mono">{v}</td></tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function Properties({ t }: { t: Table }) {
  return (
    <>
      <KV title="Table properties" m={t.Properties} />
      <KV title="Format options" m={t.FormatOptions} />
    </>
  );
}

interface DiffRow {
  name: string;
  left?: string;
  right?: string;
  kind: "same" | "added" | "removed" | "changed";
}

// diffColumns lines two versions' columns up by name, in the newer
// version's order, with removed columns where they stood.
export function diffColumns(a: Column[], b: Column[]): DiffRow[] {
  const left = new Map(a.map((c) => [c.Name, c.Type]));
  const out: DiffRow[] = [];
  const seen = new Set<string>();
  for (const c of b) {
    seen.add(c.Name);
    const l = left.get(c.Name);
    out.push({ name: c.Name, left: l, right: c.Type, kind: l === undefined ? "added" : l === c.Type ? "same" : "changed" });
  }
  a.forEach((c, i) => {
    if (seen.has(c.Name)) return;
    out.splice(Math.min(i, out.length), 0, { name: c.Name, left: c.Type, kind: "removed" });
  });
  return out;
}

// fmtChange says one schema change: "amount: bigint → double",
// "discount double added".
function fmtChange(c: SchemaChange): string {
  const kind = c.kind.replaceAll("_", " ");
  if (c.from && c.to) return `${kind}: ${c.column ?? ""} ${c.from} → ${c.to}`;
  return `${kind}: ${c.column ?? ""} ${c.to ?? c.from ?? ""}`.trim();
}

function Versions({ db, name }: { db: string; name: string }) {
  const [vs, setVs] = useState<SchemaVersion[] | null>(null);
  const [err, setErr] = useState("");
  const [from, setFrom] = useState(0);
  const [to, setTo] = useState(0);
  useEffect(() => {
    tableVersions(db, name).then((v) => {
      const sorted = [...v].sort((x, y) => x.Version - y.Version);
      setVs(sorted);
      const last = sorted[sorted.length - 1]?.Version ?? 0;
      setTo(last);
      setFrom(sorted.length > 1 ? sorted[sorted.length - 2].Version : last);
    }, (e) => setErr(e.message));
  }, [db, name]);
  if (err) return <p class="error" role="alert">{err}</p>;
  if (!vs) return <p role="status">Loading versions…</p>;
  const a = vs.find((v) => v.Version === from);
  const b = vs.find((v) => v.Version === to);
  const cols = (v?: SchemaVersion) => [...(v?.Columns ?? []), ...(v?.PartitionKeys ?? [])];
  const rows = a && b ? diffColumns(cols(a), cols(b)) : [];
  const pick = (label: string, id: string, v: number, set: (n: number) => void) => (
    <span>
      <label for={id}>{label} </label>
      <select id={id} value={v} onChange={(e) => set(Number((e.target as HTMLSelectElement).value))}>
        {vs.map((x) => <option key={x.Version} value={x.Version}>version {x.Version} ({when(x.CreatedAt)})</option>)}
      </select>
    </span>
  );
  return (
    <>
      <table class="data">
        <caption class="sr">Schema versions</caption>
        <thead><tr><th scope="col">Version</th><th scope="col">Reason</th><th scope="col">Changes</th><th scope="col">Created</th></tr></thead>
        <tbody>
          {[...vs].reverse().map((v) => (
            <tr key={v.Version}>
              <td>{v.Version}</td>
              <td>{v.Reason}</td>
              <td>{(v.Changes ?? []).map(fmtChange).join("; ")}</td>
              <td>{when(v.CreatedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Compare</h2>
      <div class="row">{pick("From", "diff-from", from, setFrom)} {pick("to", "diff-to", to, setTo)}</div>
      <table class="data diff" id="schema-diff">
        <caption class="sr">Columns of version {from} beside version {to}</caption>
        <thead>
          <tr><th scope="col">Column</th><th scope="col">Version {from}</th><th scope="col">Version {to}</th><th scope="col">Change</th></tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.name} class={r.kind}>
              <td class="mono">{r.name}</td>
              <td class="mono type">{r.left ?? ""}</td>
              <td class="mono type">{r.right ?? ""}</td>
              <td>{r.kind === "same" ? "" : r.kind}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {a && b && a.Location !== b.Location && <p>Location: <span class="mono">{a.Location}</span> → <span class="mono">{b.Location}</span></p>}
      {a && b && a.Format !== b.Format && <p>Format: {a.Format} → {b.Format}</p>}
    </>
  );
}

function Preview({ db, name }: { db: string; name: string }) {
  const [page, setPage] = useState<ResultPage | null>(null);
  const [err, setErr] = useState("");
  const [info, setInfo] = useState("");
  useEffect(() => {
    const ctl = new AbortController();
    (async () => {
      try {
        const sql = `SELECT * FROM ${quoteIdent(db)}.${quoteIdent(name)} LIMIT 100`;
        const { id } = await startQuery(sql, db, "primary");
        const ex = await waitQuery(id, ctl.signal);
        if (ex.state !== "SUCCEEDED") throw new Error(ex.error || `the preview query ended ${ex.state}`);
        setInfo(`${ex.stats.rows} rows, ${bytes(ex.stats.data_scanned_bytes)} scanned`);
        setPage(await queryResults(id, "", 100, ctl.signal));
      } catch (e) {
        if (!ctl.signal.aborted) setErr(e instanceof Error ? e.message : String(e));
      }
    })();
    return () => ctl.abort();
  }, [db, name]);
  if (err) return <p class="error" role="alert">{err}</p>;
  if (!page) return <p role="status">Running the preview query…</p>;
  return (
    <>
      <p class="muted">
        The first 100 rows ({info}). <a href={`#/query`} onClick={() => sessionStorage.setItem("tarn.sql", `SELECT * FROM ${quoteIdent(db)}.${quoteIdent(name)} LIMIT 100`)}>Open in the query editor</a>
      </p>
      <div class="scroll" tabIndex={0} role="region" aria-label="Preview rows">
        <table class="data" id="preview">
          <caption class="sr">The first rows of {db}.{name}</caption>
          <thead><tr>{page.columns.map((c) => <th scope="col" key={c.name} title={c.type}>{c.name}</th>)}</tr></thead>
          <tbody>
            {page.rows.map((r, i) => (
              <tr key={i}>
                {r.map((v, j) => {
                  const s = fmtCell(v);
                  return <td key={j} class={v === null ? "null" : ""} title={s.length > 40 ? s : undefined}>{s}</td>;
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

const NW = 220;
const NH = 46;
const NGX = 160;
const NGY = 18;
const dsKey = (d: { namespace: string; name: string }) => `${d.namespace}|${d.name}`;

// Lineage draws the datasets upstream (left) and downstream (right) of the
// table, each edge labelled with the job, crawler or model that wrote it;
// datasets the key may not read are hidden by the API.
function Lineage({ db, name }: { db: string; name: string }) {
  const [g, setG] = useState<LineageGraph | null>(null);
  const [err, setErr] = useState("");
  useEffect(() => {
    tableLineage(db, name).then(setG, (e) => setErr(e.message));
  }, [db, name]);
  if (err) return <p class="error" role="alert">{err}</p>;
  if (!g) return <p role="status">Loading lineage…</p>;
  if (g.edges.length === 0) return <p>No lineage recorded for this table yet (a crawler, job, query or dbt model that writes it records it).</p>;
  const depths = [...new Set(g.nodes.map((n) => n.depth))].sort((a, b) => a - b);
  const pos = new Map<string, [number, number]>();
  const rows = new Map<number, number>();
  for (const n of g.nodes) {
    const col = depths.indexOf(n.depth);
    const row = rows.get(n.depth) ?? 0;
    rows.set(n.depth, row + 1);
    pos.set(dsKey(n.dataset), [10 + col * (NW + NGX), 10 + row * (NH + NGY)]);
  }
  const width = 20 + depths.length * (NW + NGX) - NGX;
  const height = 20 + Math.max(...rows.values()) * (NH + NGY) - NGY;
  const short = (j: string) => j.replace(/^(job|crawler|query|dbt)\./, "$1 ");
  const rootKey = dsKey(g.root);
  return (
    <>
      <figure class="dag">
        <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" id="lineage"
          aria-label={`Lineage of ${db}.${name}: ${g.edges.map((e) => `${e.input.name} to ${e.output.name} by ${short(e.job_name)}`).join("; ")}`}>
          <defs>
            <marker id="larrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M 0 0 L 10 5 L 0 10 z" fill="#5b6670" />
            </marker>
          </defs>
          {g.edges.map((e, i) => {
            const a = pos.get(dsKey(e.input));
            const b = pos.get(dsKey(e.output));
            if (!a || !b) return null;
            const x1 = a[0] + NW, y1 = a[1] + NH / 2, x2 = b[0], y2 = b[1] + NH / 2;
            return (
              <g key={i}>
                <path d={`M ${x1} ${y1} C ${x1 + NGX / 2} ${y1}, ${x2 - NGX / 2} ${y2}, ${x2} ${y2}`} fill="none" stroke="#5b6670" stroke-width="1.5" marker-end="url(#larrow)" />
                <text x={(x1 + x2) / 2} y={(y1 + y2) / 2 - 4} text-anchor="middle" class="edge">{short(e.job_name).slice(0, 24)}</text>
              </g>
            );
          })}
          {g.nodes.map((n) => {
            const [x, y] = pos.get(dsKey(n.dataset))!;
            const k = dsKey(n.dataset);
            return (
              <g key={k} transform={`translate(${x} ${y})`} class={`node ${k === rootKey ? "SUCCEEDED" : n.hidden ? "SKIPPED" : "none"}`}>
                <title>{`${n.dataset.namespace} ${n.dataset.name}${n.write ? ` — written by ${n.write.job_name} ${when(n.write.event_time)}` : ""}`}</title>
                <rect width={NW} height={NH} rx="6" />
                <text x="10" y="19" class="name">{n.hidden ? "(hidden)" : n.dataset.name.slice(0, 28)}</text>
                <text x="10" y="36" class="sub">{n.dataset.namespace}</text>
              </g>
            );
          })}
        </svg>
      </figure>
      <table class="data small" id="lineage-edges">
        <caption class="sr">Lineage edges</caption>
        <thead><tr><th scope="col">From</th><th scope="col">To</th><th scope="col">Written by</th><th scope="col">Rows</th><th scope="col">When</th></tr></thead>
        <tbody>
          {g.edges.map((e, i) => (
            <tr key={i}>
              <td class="mono">{e.input.name}</td>
              <td class="mono">{e.output.name}</td>
              <td>{short(e.job_name)}</td>
              <td class="num">{e.rows >= 0 ? e.rows.toLocaleString() : ""}</td>
              <td>{when(e.event_time)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
