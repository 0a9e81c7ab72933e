// Jobs and crawlers: their definitions, runs, start and stop; a run in
// progress is read again every second; a job run's figures, log and dead
// letters (the rejected rows, read from its rejected.jsonl through S3 as
// the key, so only a key that may read them sees them).
import { useEffect, useState } from "preact/hooks";
import {
  bytes, CrawlerRun, CrawlerSpec, crawlerRuns, getCrawlerRun, getJob, getJobRun, JobRun, jobRuns, JobSpec, listCrawlers, listJobs,
  runEnded, startCrawler, startJob, stopCrawler, stopJobRun, when,
} from "./api";
import { objectURL } from "./s3";

const enc = encodeURIComponent;
const msg = (e: unknown) => (e instanceof Error ? e.message : String(e));

// useFollow reads a run again every second until it has ended.
function useFollow<T extends { state: string }>(id: string, get: (id: string) => Promise<T>): [T | null, string] {
  const [run, setRun] = useState<T | null>(null);
  const [err, setErr] = useState("");
  useEffect(() => {
    setRun(null);
    setErr("");
    if (!id) return;
    let stop = false;
    let timer = 0;
    const tick = async () => {
      try {
        const r = await get(id);
        if (stop) return;
        setRun(r);
        if (!runEnded(r.state)) timer = window.setTimeout(tick, 1000);
      } catch (e) {
        if (!stop) setErr(msg(e));
      }
    };
    tick();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [id]);
  return [run, err];
}

function Side<T>({ title, items, name, href, label }: { title: string; items: T[] | null; name: string; href: (x: T) => string; label: (x: T) => string }) {
  return (
    <aside class="side" aria-label={title}>
      <h2 class="label">{title}</h2>
      {!items && <p class="muted" role="status">Loading…</p>}
      {items && items.length === 0 && <p class="muted">None yet.</p>}
      <ul class="tree">
        {(items ?? []).map((x) => (
          <li key={label(x)}>
            <a href={href(x)} aria-current={name === label(x) ? "page" : undefined}>{label(x)}</a>
          </li>
        ))}
      </ul>
    </aside>
  );
}

export function Jobs({ route }: { route: string[] }) {
  const name = route[1] ?? "";
  const [jobs, setJobs] = useState<JobSpec[] | null>(null);
  const [err, setErr] = useState("");
  useEffect(() => {
    listJobs().then(setJobs, (e) => {
      setErr(msg(e));
      setJobs([]);
    });
  }, []);
  return (
    <div class="catalog">
      <Side title="Jobs" items={jobs} name={name} href={(j) => `#/jobs/${enc(j.name)}`} label={(j) => j.name} />
      <section class="content">
        {err && <p class="error" role="alert">{err}</p>}
        {name ? <JobView key={name} name={name} runId={route[2]} /> : <h1>Jobs</h1>}
      </section>
    </div>
  );
}

function JobView({ name, runId }: { name: string; runId?: string }) {
  const [job, setJob] = useState<JobSpec | null>(null);
  const [runs, setRuns] = useState<JobRun[]>([]);
  const [picked, setPicked] = useState(runId ?? "");
  const [err, setErr] = useState("");
  const refresh = () => jobRuns(name).then(setRuns, (e) => setErr(msg(e)));
  useEffect(() => {
    getJob(name).then(setJob, (e) => setErr(msg(e)));
    refresh();
  }, [name]);
  const selected = picked || runs[0]?.id || "";
  const [run, runErr] = useFollow(selected, getJobRun);
  useEffect(() => {
    if (run && runEnded(run.state)) refresh();
  }, [run?.state]);
  const start = async () => {
    try {
      const r = await startJob(name);
      setPicked(r.id);
      refresh();
    } catch (e) {
      setErr(msg(e));
    }
  };
  return (
    <>
      <h1>Job {name}</h1>
      {err && <p class="error" role="alert" id="job-error">{err}</p>}
      {job && (
        <>
          {job.description && <p>{job.description}</p>}
          <dl class="facts">
            <div><dt>Target</dt><dd class="mono">{job.target}</dd></div>
            {job.table && <div><dt>Table</dt><dd class="mono">{job.table}</dd></div>}
            <div><dt>Mode</dt><dd>{job.mode}</dd></div>
            <div><dt>Format</dt><dd>{job.format}</dd></div>
            {job.partition_by?.length ? <div><dt>Partitioned by</dt><dd>{job.partition_by.join(", ")}</dd></div> : null}
            <div><dt>Bookmarks</dt><dd>{job.bookmarks ? "yes" : "no"}</dd></div>
            {job.max_rejected && <div><dt>Max rejected</dt><dd>{job.max_rejected}</dd></div>}
          </dl>
          <details>
            <summary>SQL</summary>
            <pre class="sql">{job.sql}</pre>
          </details>
        </>
      )}
      <div class="row">
        <button type="button" class="primary" id="job-start" onClick={start}>Start a run</button>
        {run && !runEnded(run.state) && <button type="button" id="job-stop" onClick={() => stopJobRun(run.id).catch((e) => setErr(msg(e)))}>Stop the run</button>}
      </div>
      {runErr && <p class="error" role="alert">{runErr}</p>}
      {run && <JobRunView run={run} />}
      <h2>Runs</h2>
      <table class="data" id="job-runs">
        <caption class="sr">Runs of {name}</caption>
        <thead><tr><th scope="col">Run</th><th scope="col">State</th><th scope="col">Started</th><th scope="col">Rows written</th><th scope="col">Rejected</th></tr></thead>
        <tbody>
          {runs.map((listed) => {
            const r = listed.id === run?.id ? run : listed;
            return (
              <tr key={r.id} class={r.id === selected ? "picked" : ""}>
                <td><button type="button" class="link mono" onClick={() => setPicked(r.id)} aria-pressed={r.id === selected}>{r.id}</button></td>
                <td><span class={`state ${r.state}`}>{r.state}</span></td>
                <td>{when(r.started_at)}</td>
                <td class="num">{r.stats.rows_written.toLocaleString()}</td>
                <td class="num">{r.stats.rows_rejected.toLocaleString()}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {runs.length === 0 && <p class="muted">No runs yet.</p>}
    </>
  );
}

function JobRunView({ run }: { run: JobRun }) {
  const s = run.stats;
  return (
    <section aria-label={`Run ${run.id}`} id="job-run">
      <h2>
        Run <span class="mono">{run.id}</span>: <span class={`state ${run.state}`} id="job-run-state">{run.state}</span>
        {run.attempt > 1 && <span class="muted"> (attempt {run.attempt})</span>}
      </h2>
      {run.progress && !runEnded(run.state) && <p role="status" class="muted">{run.progress}</p>}
      {run.error && <p class="error">{run.error}</p>}
      <dl class="facts" id="job-figures">
        <div><dt>Rows read</dt><dd>{s.rows_read.toLocaleString()}</dd></div>
        <div><dt>Written</dt><dd>{s.rows_written.toLocaleString()}</dd></div>
        <div><dt>Rejected</dt><dd>{s.rows_rejected.toLocaleString()}</dd></div>
        <div><dt>Removed by the SQL</dt><dd>{s.rows_filtered.toLocaleString()}</dd></div>
        {s.rows_discarded ? <div><dt>Discarded (not published)</dt><dd>{s.rows_discarded.toLocaleString()}</dd></div> : null}
        <div><dt>Read</dt><dd>{bytes(s.bytes_read)} in {s.files_read} files</dd></div>
        <div><dt>Wrote</dt><dd>{bytes(s.bytes_written)} in {s.files_written} files</dd></div>
        {s.partitions?.length ? <div><dt>Partitions</dt><dd>{s.partitions.length}</dd></div> : null}
      </dl>
      {s.rejected_uri && <DeadLetters uri={s.rejected_uri} />}
      {run.log && run.log.length > 0 && (
        <>
          <h3>Log</h3>
          <pre class="log" tabIndex={0} aria-label="Run log" id="job-log">{run.log.join("\n")}</pre>
        </>
      )}
    </section>
  );
}

interface Rejected {
  file?: string;
  line?: number;
  column?: string;
  error?: string;
  original?: string;
}

function DeadLetters({ uri }: { uri: string }) {
  const [rows, setRows] = useState<Rejected[] | null>(null);
  const [err, setErr] = useState("");
  useEffect(() => {
    const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
    if (!m) return;
    fetch(objectURL(m[1], m[2]), { credentials: "same-origin", headers: { Range: "bytes=0-1048575" } })
      .then(async (r) => {
        if (!r.ok) throw new Error(`cannot read ${uri}: ${r.status} ${(await r.text()).match(/<Code>([^<]+)/)?.[1] ?? ""}`);
        const text = await r.text();
        setRows(text.split("\n").filter(Boolean).slice(0, 200).map((l) => {
          try {
            return JSON.parse(l) as Rejected;
          } catch {
            return { original: l };
          }
        }));
      })
      .catch((e) => setErr(msg(e)));
  }, [uri]);
  return (
    <>
      <h3>Dead letters</h3>
      <p class="muted">The rejected rows, kept in <span class="mono">{uri}</span>.</p>
      {err && <p class="error" role="alert">{err}</p>}
      {rows && (
        <div class="scroll" tabIndex={0} role="region" aria-label="Rejected rows">
          <table class="data" id="dead-letters">
            <caption class="sr">Rejected rows</caption>
            <thead><tr><th scope="col">File</th><th scope="col">Line</th><th scope="col">Column</th><th scope="col">Error</th><th scope="col">Row as read</th></tr></thead>
            <tbody>
              {rows.map((r, i) => (
                <tr key={i}>
                  <td class="mono">{r.file}</td>
                  <td class="num">{r.line}</td>
                  <td class="mono">{r.column}</td>
                  <td>{r.error}</td>
                  <td class="mono">{r.original}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

export function Crawlers({ route }: { route: string[] }) {
  const name = route[1] ?? "";
  const [list, setList] = useState<CrawlerSpec[] | null>(null);
  const [err, setErr] = useState("");
  useEffect(() => {
    listCrawlers().then(setList, (e) => {
      setErr(msg(e));
      setList([]);
    });
  }, []);
  return (
    <div class="catalog">
      <Side title="Crawlers" items={list} name={name} href={(c) => `#/crawlers/${enc(c.Name)}`} label={(c) => c.Name} />
      <section class="content">
        {err && <p class="error" role="alert">{err}</p>}
        {name ? <CrawlerView key={name} name={name} spec={list?.find((c) => c.Name === name)} /> : <h1>Crawlers</h1>}
      </section>
    </div>
  );
}

function CrawlerView({ name, spec }: { name: string; spec?: CrawlerSpec }) {
  const [runs, setRuns] = useState<CrawlerRun[]>([]);
  const [picked, setPicked] = useState("");
  const [err, setErr] = useState("");
  const refresh = () => crawlerRuns(name).then(setRuns, (e) => setErr(msg(e)));
  useEffect(() => {
    refresh();
  }, [name]);
  const selected = picked || runs[0]?.id || "";
  const [run] = useFollow(selected, getCrawlerRun);
  useEffect(() => {
    if (run && runEnded(run.state)) refresh();
  }, [run?.state]);
  const start = async () => {
    try {
      const r = await startCrawler(name);
      setPicked(r.id);
      refresh();
    } catch (e) {
      setErr(msg(e));
    }
  };
  return (
    <>
      <h1>Crawler {name}</h1>
      {spec && (
        <dl class="facts">
          <div><dt>Database</dt><dd>{spec.Database}</dd></div>
          <div><dt>Targets</dt><dd class="mono">{spec.Targets.join(", ")}</dd></div>
        </dl>
      )}
      {err && <p class="error" role="alert" id="crawler-error">{err}</p>}
      <div class="row">
        <button type="button" class="primary" id="crawler-start" onClick={start}>Start a crawl</button>
        {run && !runEnded(run.state) && <button type="button" id="crawler-stop" onClick={() => stopCrawler(name).catch((e) => setErr(msg(e)))}>Stop</button>}
      </div>
      {run && (
        <section aria-label={`Crawl ${run.id}`} id="crawl">
          <h2>Crawl <span class="mono">{run.id}</span>: <span class={`state ${run.state}`} id="crawl-state">{run.state}</span></h2>
          {run.progress && !runEnded(run.state) && (
            <p role="status">
              <progress max={run.progress.files_total || 1} value={run.progress.files_done} aria-label="Files crawled" />{" "}
              {run.progress.files_done} of {run.progress.files_total} files, {bytes(run.progress.bytes_done)}
            </p>
          )}
          {run.error && <p class="error">{run.error}</p>}
          <p>{run.files_scanned} files, {bytes(run.bytes_scanned)} read; partitions +{run.partitions_added}/−{run.partitions_removed}.</p>
          <table class="data" id="crawl-tables">
            <caption class="sr">What the crawl did to each table</caption>
            <thead><tr><th scope="col">Table</th><th scope="col">Action</th><th scope="col">Schema changes</th><th scope="col">Partitions</th></tr></thead>
            <tbody>
              {(run.tables ?? []).map((t) => (
                <tr key={t.table}>
                  <td><a href={`#/catalog/${enc(spec?.Database ?? "")}/${enc(t.table)}`}>{t.table}</a></td>
                  <td>{t.action}</td>
                  <td>{(t.changes ?? []).map((c) => `${c.kind.replaceAll("_", " ")} ${c.column ?? ""}${c.from ? ` ${c.from} →` : ""} ${c.to ?? ""}`).join("; ")}</td>
                  <td>+{t.partitions_added}/−{t.partitions_removed}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {run.file_errors && run.file_errors.length > 0 && (
            <>
              <h3>Files it could not read</h3>
              <ul>{run.file_errors.map((f) => <li key={f.uri}><span class="mono">{f.uri}</span>: {f.error}</li>)}</ul>
            </>
          )}
        </section>
      )}
      <h2>Crawls</h2>
      <table class="data" id="crawler-runs">
        <caption class="sr">Crawls of {name}</caption>
        <thead><tr><th scope="col">Crawl</th><th scope="col">State</th><th scope="col">Started</th><th scope="col">Files</th></tr></thead>
        <tbody>
          {runs.map((listed) => {
            const r = listed.id === run?.id ? run : listed;
            return (
              <tr key={r.id} class={r.id === selected ? "picked" : ""}>
                <td><button type="button" class="link mono" onClick={() => setPicked(r.id)} aria-pressed={r.id === selected}>{r.id}</button></td>
                <td><span class={`state ${r.state}`}>{r.state}</span></td>
                <td>{when(r.started_at)}</td>
                <td class="num">{r.files_scanned}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </>
  );
}
