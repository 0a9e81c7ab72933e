// Alarms with their state history, and charts of the lake's activity over
// time: queries and data scanned per workgroup, job run durations, object
// events. Each chart is drawn from what the REST API lets the key read
// (its own queries, or every key's if its policy allows); one it may not
// read says so.
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from "chart.js";
import { useEffect, useRef, useState } from "preact/hooks";
import { alarmHistory, AlarmStatus, AlarmTransition, bytes, jobRuns, listAlarms, listEvents, listJobs, listQueries, when } from "./api";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip, Legend);

const COLORS = ["#0b6e99", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0f766e", "#a16207"];
const msg = (e: unknown) => (e instanceof Error ? e.message : String(e));

interface Series {
  label: string;
  points: [number, number][]; // time (ms), value
}

const STEPS = [60e3, 5 * 60e3, 15 * 60e3, 3600e3, 6 * 3600e3, 86400e3, 7 * 86400e3];

// buckets picks a bucket width that gives at most ~40 bars over the span.
function buckets(series: Series[]): { start: number; step: number; n: number } | null {
  const ts = series.flatMap((s) => s.points.map((p) => p[0]));
  if (ts.length === 0) return null;
  const lo = Math.min(...ts);
  const hi = Math.max(...ts);
  const step = STEPS.find((s) => (hi - lo) / s <= 40) ?? STEPS[STEPS.length - 1];
  const start = Math.floor(lo / step) * step;
  return { start, step, n: Math.floor((hi - start) / step) + 1 };
}

function label(t: number, step: number): string {
  const d = new Date(t);
  return step >= 86400e3 ? d.toLocaleDateString() : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function TimeBars({ id, title, series, agg, fmt, err }: { id: string; title: string; series: Series[] | null; agg: "sum" | "avg"; fmt: (v: number) => string; err: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const b = series ? buckets(series) : null;
  useEffect(() => {
    if (!series || !b || !canvas.current) return;
    const labels = Array.from({ length: b.n }, (_, i) => label(b.start + i * b.step, b.step));
    const datasets = series.map((s, k) => {
      const sum = new Array<number>(b.n).fill(0);
      const cnt = new Array<number>(b.n).fill(0);
      for (const [t, v] of s.points) {
        const i = Math.floor((t - b.start) / b.step);
        sum[i] += v;
        cnt[i]++;
      }
      return { label: s.label, data: sum.map((v, i) => (agg === "avg" ? (cnt[i] ? v / cnt[i] : null) : v)), backgroundColor: COLORS[k % COLORS.length] };
    });
    const chart = new Chart(canvas.current, {
      type: "bar",
      data: { labels, datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: { x: { stacked: agg === "sum" }, y: { stacked: agg === "sum", beginAtZero: true, ticks: { callback: (v) => fmt(Number(v)) } } },
        plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${fmt(Number(c.raw))}` } } },
      },
    });
    return () => chart.destroy();
  }, [series]);
  const total = (series ?? []).reduce((n, s) => n + s.points.length, 0);
  const desc = series
    ? `${title}: ${series.map((s) => `${s.label} ${fmt(s.points.reduce((a, p) => a + p[1], 0) / (agg === "avg" ? Math.max(1, s.points.length) : 1))}${agg === "avg" ? " on average" : ""}`).join(", ")}, ${b ? `in bars of ${b.step >= 3600e3 ? b.step / 3600e3 + " h" : b.step / 60e3 + " min"}` : ""}`
    : title;
  return (
    <section class="metric" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{title}</h2>
      {err ? <p class="muted">{err}</p> : !series ? <p class="muted" role="status">Loading…</p> : total === 0 ? <p class="muted">Nothing yet.</p> : (
        <div class="metricwrap"><canvas ref={canvas} id={id} role="img" aria-label={desc}>{desc}</canvas></div>
      )}
    </section>
  );
}

function useData<T>(load: () => Promise<T>): [T | null, string] {
  const [v, setV] = useState<T | null>(null);
  const [err, setErr] = useState("");
  useEffect(() => {
    load().then(setV, (e) => setErr(msg(e)));
  }, []);
  return [v, err];
}

const group = <T,>(xs: T[], key: (x: T) => string, point: (x: T) => [number, number] | null): Series[] => {
  const m = new Map<string, [number, number][]>();
  for (const x of xs) {
    const p = point(x);
    if (!p) continue;
    const k = key(x);
    if (!m.has(k)) m.set(k, []);
    m.get(k)!.push(p);
  }
  return [...m.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([label, points]) => ({ label, points }));
};

const t = (s: string) => (s && !s.startsWith("0001-") ? new Date(s).getTime() : NaN);

export function Monitoring() {
  // Alarms are read again every 5 s (the evaluator's pace).
  const [alarms, setAlarms] = useState<AlarmStatus[] | null>(null);
  const [alarmsErr, setAlarmsErr] = useState("");
  useEffect(() => {
    const load = () => listAlarms().then(setAlarms, (e) => setAlarmsErr(msg(e)));
    load();
    const t = setInterval(() => document.visibilityState === "visible" && load(), 5000);
    return () => clearInterval(t);
  }, []);
  const [picked, setPicked] = useState("");
  const [queries, qErr] = useData(() => listQueries(2000));
  const [jobDur, jErr] = useData(async () => {
    const jobs = await listJobs();
    const runs = (await Promise.all(jobs.map((j) => jobRuns(j.name).catch(() => [])))).flat();
    return group(runs, (r) => r.job, (r) => {
      const a = t(r.started_at), b = t(r.ended_at);
      return Number.isFinite(a) && Number.isFinite(b) ? [a, (b - a) / 1000] : null;
    });
  });
  const [events, eErr] = useData(() => listEvents(2000));
  const qVolume = queries ? group(queries, (q) => q.workgroup, (q) => (Number.isFinite(t(q.submitted_at)) ? [t(q.submitted_at), 1] : null)) : null;
  const qScanned = queries ? group(queries, (q) => q.workgroup, (q) => (Number.isFinite(t(q.submitted_at)) ? [t(q.submitted_at), q.stats.data_scanned_bytes] : null)) : null;
  const ev = events ? group(events, (e) => e.bucket, (e) => (Number.isFinite(t(e.recorded_at)) ? [t(e.recorded_at), 1] : null)) : null;
  return (
    <div class="content monitoring">
      <h1>Alarms and metrics</h1>
      <section aria-labelledby="alarms-title">
        <h2 id="alarms-title">Alarms</h2>
        {alarmsErr && <p class="muted">{alarmsErr}</p>}
        {alarms && alarms.length === 0 && <p class="muted">No alarms (define them in tarn.yaml: tarn apply).</p>}
        {alarms && alarms.length > 0 && (
          <table class="data" id="alarms">
            <caption class="sr">Alarms</caption>
            <thead><tr><th scope="col">Alarm</th><th scope="col">State</th><th scope="col">Rule</th><th scope="col">Target</th><th scope="col">Reason</th><th scope="col">Since</th></tr></thead>
            <tbody>
              {alarms.map((a: AlarmStatus) => (
                <tr key={a.name} class={a.name === picked ? "picked" : ""}>
                  <td><button type="button" class="link" onClick={() => setPicked(a.name)} aria-pressed={a.name === picked}>{a.name}</button></td>
                  <td><span class={`alarm ${a.state}`}>{a.state}</span></td>
                  <td>{a.rule}{a.threshold ? ` > ${a.threshold}` : ""}</td>
                  <td class="mono">{a.target}</td>
                  <td>{a.reason}</td>
                  <td>{when(a.state_changed_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {picked && <History key={`${picked}/${alarms?.find((a) => a.name === picked)?.state_changed_at}`} name={picked} />}
      </section>
      <div class="metrics">
        <TimeBars id="m-queries" title="Queries per workgroup" series={qVolume} agg="sum" fmt={(v) => String(Math.round(v))} err={qErr} />
        <TimeBars id="m-scanned" title="Data scanned per workgroup" series={qScanned} agg="sum" fmt={bytes} err={qErr} />
        <TimeBars id="m-jobs" title="Job run time (average, seconds)" series={jobDur} agg="avg" fmt={(v) => `${v.toFixed(v < 10 ? 2 : 0)} s`} err={jErr} />
        <TimeBars id="m-events" title="Object events per bucket" series={ev} agg="sum" fmt={(v) => String(Math.round(v))} err={eErr} />
      </div>
    </div>
  );
}

function History({ name }: { name: string }) {
  const [h, err] = useData<AlarmTransition[]>(() => alarmHistory(name));
  return (
    <>
      <h3>History of {name}</h3>
      {err && <p class="error">{err}</p>}
      {h && (
        <table class="data" id="alarm-history">
          <caption class="sr">State history of {name}</caption>
          <thead><tr><th scope="col">At</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Reason</th><th scope="col">Notified</th></tr></thead>
          <tbody>
            {h.map((x, i) => (
              <tr key={i}><td>{when(x.at)}</td><td>{x.old_state}</td><td><span class={`alarm ${x.new_state}`}>{x.new_state}</span></td><td>{x.reason}</td><td>{x.notified}</td></tr>
            ))}
          </tbody>
        </table>
      )}
      {h && h.length === 0 && <p class="muted">No changes yet.</p>}
    </>
  );
}
