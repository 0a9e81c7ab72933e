import { useEffect, useMemo, useState } from "preact/hooks";
import {
  getWorkflow, listTriggers, listWorkflows, startWorkflow, stopWorkflowRun, TriggerState, watchRunURL, when, Workflow, WorkflowRun,
  workflowRuns, WorkflowStep,
} from "./api";

const enc = encodeURIComponent;
const DONE = new Set(["SUCCEEDED", "FAILED", "STOPPED", "CANCELLED", "TIMEOUT"]);

export function Workflows({ route }: { route: string[] }) {
  const name = route[1] ?? "";
  const [list, setList] = useState<Workflow[] | null>(null);
  const [err, setErr] = useState("");
  useEffect(() => {
    listWorkflows().then(setList, (e) => setErr(e.message));
  }, []);
  return (
    <div class="catalog">
      <aside class="side" aria-label="Workflows">
        <h2 class="label">Workflows</h2>
        {err && <p class="error" role="alert">{err}</p>}
        {!list && !err && <p class="muted" role="status">Loading…</p>}
        {list && list.length === 0 && <p class="muted">No workflows yet (define them in tarn.yaml: tarn apply).</p>}
        <ul class="tree">
          {(list ?? []).map((w) => (
            <li key={w.name}>
              <a href={`#/workflows/${enc(w.name)}`} aria-current={name === w.name ? "page" : undefined}>{w.name}</a>
            </li>
          ))}
        </ul>
      </aside>
      <section class="content">
        {name ? <WorkflowView key={name} name={name} runId={route[2]} /> : <h1>Workflows</h1>}
      </section>
    </div>
  );
}

// useRun follows a run: its server-sent events until it ends.
function useRun(id: string, initial: WorkflowRun | undefined): [WorkflowRun | undefined, boolean] {
  const [run, setRun] = useState<WorkflowRun | undefined>(initial);
  const [live, setLive] = useState(false);
  useEffect(() => {
    setRun(initial);
    if (!id) return;
    const es = new EventSource(watchRunURL(id));
    es.addEventListener("open", () => setLive(true));
    es.addEventListener("run", (e) => setRun(JSON.parse((e as MessageEvent).data)));
    es.addEventListener("end", () => {
      es.close();
      setLive(false);
    });
    es.onerror = () => {
      // EventSource retries by itself; a closed stream stays closed.
      if (es.readyState === EventSource.CLOSED) setLive(false);
    };
    return () => {
      es.close();
      setLive(false);
    };
  }, [id]);
  return [run, live];
}

function WorkflowView({ name, runId }: { name: string; runId?: string }) {
  const [wf, setWf] = useState<Workflow | null>(null);
  const [runs, setRuns] = useState<WorkflowRun[]>([]);
  const [triggers, setTriggers] = useState<TriggerState[]>([]);
  const [err, setErr] = useState("");
  const [picked, setPicked] = useState(runId ?? "");
  const refresh = () => workflowRuns(name).then(setRuns, (e) => setErr(e.message));
  useEffect(() => {
    getWorkflow(name).then(setWf, (e) => setErr(e.message));
    listTriggers().then((ts) => setTriggers(ts.filter((t) => t.workflow === name)), () => {});
    refresh();
    // New runs (a trigger's, another user's) show up within seconds.
    const t = setInterval(() => {
      if (document.visibilityState === "visible") refresh();
    }, 3000);
    return () => clearInterval(t);
  }, [name]);
  const selected = picked || runs[0]?.id || "";
  const [run, live] = useRun(selected, runs.find((r) => r.id === selected));
  const start = async () => {
    try {
      const r = await startWorkflow(name);
      setPicked(r.id);
      await refresh();
    } catch (e) {
      setErr(e instanceof Error ? e.message : String(e));
    }
  };
  const stop = async () => {
    if (!run) return;
    try {
      await stopWorkflowRun(run.id);
    } catch (e) {
      setErr(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <>
      <h1>Workflow {name}</h1>
      {wf?.description && <p>{wf.description}</p>}
      {err && <p class="error" role="alert" id="wf-error">{err}</p>}
      <div class="row">
        <button type="button" class="primary" id="wf-start" onClick={start}>Start a run</button>
        {run && !DONE.has(run.state) && <button type="button" id="wf-stop" onClick={stop}>Stop the run</button>}
        {run && (
          <span role="status" id="wf-state">
            Run <span class="mono">{run.id}</span>: <span class={`state ${run.state}`}>{run.state}</span>
            {live && <span class="muted small"> (live)</span>}
          </span>
        )}
      </div>
      {wf && <Dag steps={wf.steps} run={run} />}
      {run?.error && <p class="error">{run.error}</p>}
      <h2>Runs</h2>
      <table class="data" id="wf-runs">
        <caption class="sr">Runs of {name}</caption>
        <thead><tr><th scope="col">Run</th><th scope="col">State</th><th scope="col">Trigger</th><th scope="col">Queued</th><th scope="col">Ended</th></tr></thead>
        <tbody>
          {runs.map((listed) => {
            // The run followed live is newer than the list.
            const r = listed.id === run?.id ? run : listed;
            return (
              <tr key={r.id} class={r.id === selected ? "picked" : ""}>
                <td><button type="button" class="link mono" onClick={() => setPicked(r.id)} aria-pressed={r.id === selected}>{r.id}</button></td>
                <td><span class={`state ${r.state}`}>{r.state}</span></td>
                <td>{r.trigger || "by hand"}</td>
                <td>{when(r.queued_at)}</td>
                <td>{when(r.ended_at)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {runs.length === 0 && <p class="muted">No runs yet.</p>}
      {triggers.length > 0 && (
        <>
          <h2>Triggers</h2>
          <table class="data">
            <caption class="sr">Triggers of {name}</caption>
            <thead><tr><th scope="col">Trigger</th><th scope="col">Type</th><th scope="col">On</th><th scope="col">Enabled</th><th scope="col">Last fired</th><th scope="col">Next fire</th></tr></thead>
            <tbody>
              {triggers.map((t) => (
                <tr key={t.name}>
                  <td>{t.name}</td>
                  <td>{t.type}</td>
                  <td class="mono">{t.schedule || [t.prefix, t.suffix && `*${t.suffix}`].filter(Boolean).join(" ")}</td>
                  <td>{t.enabled ? "yes" : "no"}</td>
                  <td>{when(t.last_fired)}</td>
                  <td>{when(t.next_fire ?? "")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}

const W = 190;
const H = 58;
const GX = 70;
const GY = 22;

const target = (s: WorkflowStep) =>
  s.job ? `job ${s.job}` : s.crawler ? `crawler ${s.crawler}` : s.dbt ? `dbt ${s.dbt.project}` : s.sql ? "SQL" : "";

// Dag draws the steps left to right by depth (the longest path of
// depends_on from a step without one), each node coloured by its state in
// the run, with its attempt and error.
function Dag({ steps, run }: { steps: WorkflowStep[]; run?: WorkflowRun }) {
  const layout = useMemo(() => {
    const by = new Map(steps.map((s) => [s.name, s]));
    const depth = new Map<string, number>();
    const d = (n: string, seen: Set<string>): number => {
      if (depth.has(n)) return depth.get(n)!;
      if (seen.has(n)) return 0;
      seen.add(n);
      const deps = by.get(n)?.depends_on ?? [];
      const v = deps.length ? Math.max(...deps.map((x) => d(x, seen) + 1)) : 0;
      depth.set(n, v);
      return v;
    };
    steps.forEach((s) => d(s.name, new Set()));
    const cols: string[][] = [];
    for (const s of steps) (cols[depth.get(s.name)!] ??= []).push(s.name);
    const pos = new Map<string, [number, number]>();
    cols.forEach((c, i) => c.forEach((n, j) => pos.set(n, [10 + i * (W + GX), 10 + j * (H + GY)])));
    const width = 20 + cols.length * (W + GX) - GX;
    const height = 20 + Math.max(1, ...cols.map((c) => c.length)) * (H + GY) - GY;
    return { pos, width, height };
  }, [steps]);
  const state = new Map((run?.steps ?? []).map((s) => [s.name, s]));
  const summary = steps.map((s) => `${s.name}: ${state.get(s.name)?.state ?? "not run"}`).join(", ");
  return (
    <figure class="dag">
      <svg width={layout.width} height={layout.height} viewBox={`0 0 ${layout.width} ${layout.height}`} role="img"
        aria-label={`Steps of the workflow${run ? ` in run ${run.id}` : ""}: ${summary}`} id="wf-dag">
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" fill="#5b6670" />
          </marker>
        </defs>
        {steps.flatMap((s) =>
          (s.depends_on ?? []).map((dep) => {
            const a = layout.pos.get(dep);
            const b = layout.pos.get(s.name);
            if (!a || !b) return null;
            const x1 = a[0] + W, y1 = a[1] + H / 2, x2 = b[0], y2 = b[1] + H / 2;
            return <path key={`${dep}>${s.name}`} d={`M ${x1} ${y1} C ${x1 + GX / 2} ${y1}, ${x2 - GX / 2} ${y2}, ${x2} ${y2}`}
              fill="none" stroke="#5b6670" stroke-width="1.5" marker-end="url(#arrow)" />;
          }),
        )}
        {steps.map((s) => {
          const [x, y] = layout.pos.get(s.name)!;
          const st = state.get(s.name);
          const label = st?.state ?? "—";
          return (
            <g key={s.name} class={`node ${st ? st.state : "none"}`} transform={`translate(${x} ${y})`} data-step={s.name} data-state={st?.state ?? ""}>
              <title>{`${s.name} (${target(s)}): ${label}${st && st.attempt > 1 ? `, attempt ${st.attempt}` : ""}${st?.error ? ` — ${st.error}` : ""}`}</title>
              <rect width={W} height={H} rx="6" />
              <text x="10" y="20" class="name">{s.name.length > 24 ? s.name.slice(0, 23) + "…" : s.name}</text>
              <text x="10" y="36" class="sub">{target(s).slice(0, 28)}</text>
              <text x="10" y="51" class="st">{label}{st && st.attempt > 1 ? ` · attempt ${st.attempt}` : ""}{st?.error ? " · error" : ""}</text>
            </g>
          );
        })}
      </svg>
      <figcaption>
        <table class="data small" id="wf-steps">
          <caption class="sr">Step states</caption>
          <thead><tr><th scope="col">Step</th><th scope="col">Runs</th><th scope="col">State</th><th scope="col">Attempt</th><th scope="col">Error</th></tr></thead>
          <tbody>
            {steps.map((s) => {
              const st = state.get(s.name);
              return (
                <tr key={s.name}>
                  <td>{s.name}</td>
                  <td>{target(s)}</td>
                  <td><span class={`state ${st?.state ?? ""}`}>{st?.state ?? ""}</span></td>
                  <td>{st?.attempt || ""}</td>
                  <td>{st?.error}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </figcaption>
    </figure>
  );
}
