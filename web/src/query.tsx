import { useEffect, useRef, useState } from "preact/hooks";
import {
  ApiError, bytes, cancelQuery, Execution, isDone, listDatabases, listQueries, listTables, listWorkgroups, queryResults,
  ResultColumn, Session, startQuery, Table, waitQuery, when,
} from "./api";
import { errorRange, lineCol, toCSV } from "./cells";
import { ResultChart } from "./chart";
import { createEditor, namespace, SQLEditor } from "./editor";
import { Grid } from "./grid";

// ROW_CAP bounds the rows loaded into the page; the whole result stays in
// the workgroup's result location.
export const ROW_CAP = 100_000;
const PAGE = 1000;

const DEFAULT_SQL = `SELECT region, count(*) AS transactions, round(sum(quantity * unit_price), 2) AS revenue
FROM etl_pipeline_db.sales
GROUP BY region
ORDER BY revenue DESC`;

const secs = (ns: number) => `${(ns / 1e9).toFixed(2)} s`;

interface Result {
  id: string;
  columns: ResultColumn[];
  rows: unknown[][];
  count: number;
  complete: boolean;
}

export function QueryPage({ session }: { session: Session }) {
  const host = useRef<HTMLDivElement>(null);
  const ed = useRef<SQLEditor | null>(null);
  const runRef = useRef<() => void>(() => {});
  const [dbs, setDbs] = useState<string[]>([]);
  const [tables, setTables] = useState<Table[]>([]);
  const [database, setDatabase] = useState(() => localStorage.getItem("tarn.database") ?? "");
  const [workgroups, setWorkgroups] = useState<string[]>(["primary"]);
  const [wgNote, setWgNote] = useState("");
  const [workgroup, setWorkgroup] = useState(() => localStorage.getItem("tarn.workgroup") ?? "primary");
  const [ex, setEx] = useState<Execution | null>(null);
  const [running, setRunning] = useState<string>(""); // the id while it runs
  const [started, setStarted] = useState(0);
  const [now, setNow] = useState(0);
  const [err, setErr] = useState("");
  const [errAt, setErrAt] = useState("");
  const [result, setResult] = useState<Result | null>(null);
  const [tab, setTab] = useState<"results" | "chart">("results");
  const [history, setHistory] = useState<Execution[]>([]);
  const loading = useRef<AbortController | null>(null);

  // The editor.
  useEffect(() => {
    const initial = sessionStorage.getItem("tarn.sql") ?? localStorage.getItem("tarn.draft") ?? DEFAULT_SQL;
    sessionStorage.removeItem("tarn.sql");
    ed.current = createEditor(host.current!, initial, () => runRef.current(), (s) => localStorage.setItem("tarn.draft", s));
    return () => ed.current?.view.destroy();
  }, []);

  // The catalog for completion and the database choice; workgroups.
  useEffect(() => {
    (async () => {
      try {
        const ds = await listDatabases();
        setDbs(ds.map((d) => d.Name));
        const all: Table[] = [];
        await Promise.all(ds.map((d) => listTables(d.Name).then((ts) => all.push(...ts), () => {})));
        setTables(all);
      } catch {
        // A key that may not list the catalog still writes SQL.
      }
    })();
    listWorkgroups().then(
      (ws) => setWorkgroups(ws.map((w) => w.name)),
      (e) => setWgNote(e instanceof ApiError && e.status === 403 ? "This key may not list workgroups: type one" : e.message),
    );
    refreshHistory();
  }, []);
  useEffect(() => {
    ed.current?.setSchema(namespace(tables), database);
    localStorage.setItem("tarn.database", database);
  }, [tables, database]);
  useEffect(() => localStorage.setItem("tarn.workgroup", workgroup), [workgroup]);
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setNow(Date.now()), 100);
    return () => clearInterval(t);
  }, [running]);

  const refreshHistory = () =>
    listQueries(200).then((xs) => setHistory(xs.filter((x) => x.access_key === session.access_key_id).slice(0, 50)), () => {});

  // load fetches a finished query's rows page by page (up to ROW_CAP),
  // showing them as they come.
  const load = async (id: string) => {
    loading.current?.abort();
    const ctl = new AbortController();
    loading.current = ctl;
    let token = "";
    const r: Result = { id, columns: [], rows: [], count: 0, complete: false };
    for (;;) {
      const page = await queryResults(id, token, PAGE, ctl.signal);
      if (ctl.signal.aborted) return;
      if (r.columns.length === 0) r.columns = page.columns ?? [];
      for (const row of page.rows ?? []) r.rows.push(row);
      r.count = r.rows.length;
      token = page.next_token ?? "";
      r.complete = !token;
      setResult({ ...r });
      if (!token || r.rows.length >= ROW_CAP) break;
    }
    loading.current = null;
  };

  const showFailure = (sql: string, offset: number, message: string) => {
    setErr(message);
    const range = errorRange(sql, message);
    if (range) {
      const abs: [number, number] = [range[0] + offset, range[1] + offset];
      ed.current?.markError(abs);
      const [line, col] = lineCol(ed.current!.text(), abs[0]);
      setErrAt(`line ${line}, column ${col}`);
    } else {
      setErrAt("");
    }
  };

  const run = async () => {
    if (running) return;
    const e = ed.current!;
    const sel = e.selected();
    const sql = sel || e.text();
    const offset = sel ? e.view.state.selection.main.from : 0;
    if (!sql.trim()) return;
    e.markError(null);
    setErr("");
    setErrAt("");
    setResult(null);
    setEx(null);
    loading.current?.abort();
    try {
      const { id } = await startQuery(sql, database, workgroup.trim() || "primary");
      setRunning(id);
      setStarted(Date.now());
      setNow(Date.now());
      const done = await waitQuery(id);
      setEx(done);
      setRunning("");
      if (done.state === "FAILED") showFailure(sql, offset, done.error || "the query failed");
      else if (done.state === "SUCCEEDED") await load(id);
    } catch (x) {
      setRunning("");
      setErr(x instanceof Error ? x.message : String(x));
    }
    refreshHistory();
  };
  runRef.current = run;

  const cancel = async () => {
    if (!running) return;
    try {
      setEx(await cancelQuery(running));
    } catch (x) {
      setErr(x instanceof Error ? x.message : String(x));
    }
  };

  const open = async (x: Execution) => {
    ed.current?.setText(x.sql);
    ed.current?.markError(null);
    setErr("");
    setErrAt("");
    setResult(null);
    setEx(x);
    if (x.database) setDatabase(x.database);
    if (x.state === "FAILED") showFailure(x.sql, 0, x.error || "the query failed");
    if (x.state === "SUCCEEDED") await load(x.id).catch((e) => setErr(e.message));
  };

  const download = () => {
    if (!result) return;
    const blob = new Blob([toCSV(result.columns.map((c) => c.name), result.rows)], { type: "text/csv" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `${result.id}.csv`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  };

  const st = ex?.stats;
  const total = st?.rows ?? 0;
  return (
    <div class="query">
      <section class="editor-col" aria-label="Query">
        <h1 class="sr">Query editor</h1>
        <div class="row controls">
          <span>
            <label for="q-database">Database </label>
            <select id="q-database" value={database} onChange={(e) => setDatabase((e.target as HTMLSelectElement).value)}>
              <option value="">(none: qualify table names)</option>
              {dbs.map((d) => <option key={d} value={d}>{d}</option>)}
            </select>
          </span>
          <span>
            <label for="q-workgroup">Workgroup </label>
            {wgNote ? (
              <input id="q-workgroup" value={workgroup} size={12} title={wgNote} onInput={(e) => setWorkgroup((e.target as HTMLInputElement).value)} />
            ) : (
              <select id="q-workgroup" value={workgroup} onChange={(e) => setWorkgroup((e.target as HTMLSelectElement).value)}>
                {!workgroups.includes(workgroup) && <option value={workgroup}>{workgroup}</option>}
                {workgroups.map((w) => <option key={w} value={w}>{w}</option>)}
              </select>
            )}
          </span>
          <button type="button" class="primary" id="run" onClick={run} disabled={!!running} aria-keyshortcuts="Control+Enter">
            Run <span class="kbd">Ctrl+Enter</span>
          </button>
          <button type="button" id="cancel" onClick={cancel} disabled={!running}>Cancel</button>
          <span class="status" role="status" id="q-status">
            {running ? `Running… ${((now - started) / 1000).toFixed(1)} s` : ex ? <span class={`state ${ex.state}`}>{ex.state}</span> : ""}
          </span>
        </div>
        <div class="cm-host" ref={host} />
        {err && (
          <div class="error" role="alert" id="q-error">
            {errAt && <strong>Error at {errAt}: </strong>}
            <pre>{err}</pre>
          </div>
        )}
        {ex && isDone(ex.state) && st && (
          <dl class="facts stats" id="q-stats">
            <div><dt>Rows</dt><dd>{st.rows.toLocaleString()}</dd></div>
            <div><dt>Data scanned</dt><dd id="q-scanned">{bytes(st.data_scanned_bytes)}</dd></div>
            <div><dt>Files</dt><dd>{st.files_scanned}</dd></div>
            {st.partitions_total > 0 && <div><dt>Partitions</dt><dd>{st.partitions_scanned} of {st.partitions_total} (pruned {st.partitions_total - st.partitions_scanned})</dd></div>}
            <div><dt>Run time</dt><dd>{secs(st.elapsed_ns)}</dd></div>
            <div><dt>Cost</dt><dd>${st.cost_usd.toFixed(6)}</dd></div>
            {ex.reused_from && <div><dt>Reused</dt><dd>{ex.reused_from}</dd></div>}
          </dl>
        )}
        {result && (
          <section class="results" aria-label="Result">
            <div class="row">
              <div role="tablist" aria-label="Result views" class="tabs">
                <button type="button" role="tab" id="tab-results" aria-selected={tab === "results"} aria-controls="result-panel" onClick={() => setTab("results")}>Results</button>
                <button type="button" role="tab" id="tab-chart" aria-selected={tab === "chart"} aria-controls="result-panel" onClick={() => setTab("chart")}>Chart</button>
              </div>
              <span class="muted" id="q-loaded">
                {result.count.toLocaleString()} {result.count === 1 ? "row" : "rows"}
                {!result.complete && (result.count >= ROW_CAP ? ` of ${total.toLocaleString()} (the first ${ROW_CAP.toLocaleString()} are loaded)` : " (loading…)")}
              </span>
              <button type="button" id="download" onClick={download} disabled={result.count === 0 && result.columns.length === 0}>Download CSV</button>
              <a class="button" id="download-parquet" href={`/api/v1/queries/${encodeURIComponent(result.id)}/download?format=parquet`} download={`${result.id}.parquet`}>
                Download Parquet
              </a>
            </div>
            <div role="tabpanel" id="result-panel" aria-labelledby={`tab-${tab}`}>
              {tab === "results" ? (
                <Grid columns={result.columns} rows={result.rows} count={result.count} label={`Result of query ${result.id}`} />
              ) : (
                <ResultChart columns={result.columns} rows={result.rows} />
              )}
            </div>
          </section>
        )}
      </section>
      <aside class="history" aria-label="Your query history">
        <h2>History</h2>
        <ul>
          {history.map((x) => (
            <li key={x.id}>
              <button type="button" class="hist" onClick={() => open(x)} title={x.sql}>
                <span class={`state ${x.state}`}>{x.state}</span> <span class="muted small">{when(x.submitted_at)}</span>
                <code>{x.sql.length > 200 ? x.sql.slice(0, 200) + "…" : x.sql}</code>
              </button>
            </li>
          ))}
        </ul>
        {history.length === 0 && <p class="muted">No queries yet.</p>}
      </aside>
    </div>
  );
}
