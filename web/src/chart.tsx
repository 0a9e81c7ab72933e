// The result's automatic chart (Chart.js): the first text or date column
// is the x axis, the numeric columns the series; a date or time x axis
// draws lines, a text one bars. The kind and the columns can be changed.
import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip,
} from "chart.js";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { ResultColumn } from "./api";
import { fmtCell, isNumericType, isTemporalType } from "./cells";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Tooltip, Legend);

// MAX_POINTS bounds the rows drawn: a chart of more is unreadable.
export const MAX_POINTS = 5000;
const COLORS = ["#0b6e99", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0f766e"];

export interface ChartPlan {
  kind: "bar" | "line";
  x: number; // column index, -1 for the row number
  ys: number[];
}

// autoChart picks a chart for the columns, or null when nothing is numeric.
export function autoChart(columns: ResultColumn[]): ChartPlan | null {
  const numeric = columns.map((c, i) => (isNumericType(c.type) ? i : -1)).filter((i) => i >= 0);
  const temporal = columns.findIndex((c) => isTemporalType(c.type));
  const text = columns.findIndex((c) => !isNumericType(c.type) && !isTemporalType(c.type));
  let x = temporal >= 0 ? temporal : text;
  let ys = numeric.filter((i) => i !== x);
  if (x < 0 && numeric.length > 1) {
    x = numeric[0];
    ys = numeric.slice(1);
  }
  if (ys.length === 0) return null;
  return { kind: x >= 0 && isTemporalType(columns[x].type) ? "line" : x >= 0 && isNumericType(columns[x].type) ? "line" : "bar", x, ys: ys.slice(0, 6) };
}

export function ResultChart({ columns, rows }: { columns: ResultColumn[]; rows: unknown[][] }) {
  const auto = useMemo(() => autoChart(columns), [columns]);
  const [plan, setPlan] = useState<ChartPlan | null>(auto);
  useEffect(() => setPlan(auto), [auto]);
  const canvas = useRef<HTMLCanvasElement>(null);
  const n = Math.min(rows.length, MAX_POINTS);
  useEffect(() => {
    if (!plan || !canvas.current) return;
    const data = rows.slice(0, n);
    const labels = data.map((r, i) => (plan.x < 0 ? String(i + 1) : fmtCell(r[plan.x])));
    // A series ten times smaller or larger than the first gets the right
    // axis, so that both can be read.
    const series = plan.ys.map((j) => data.map((r) => (r[j] === null ? null : Number(r[j]))));
    const peak = (v: (number | null)[]) => v.reduce<number>((m, x) => Math.max(m, Math.abs(x ?? 0)), 0) || 1;
    const p0 = peak(series[0] ?? []);
    const axis = series.map((v) => (p0 / peak(v) > 10 || peak(v) / p0 > 10 ? "y1" : "y"));
    const twoAxes = axis.includes("y1");
    const chart = new Chart(canvas.current, {
      type: plan.kind,
      data: {
        labels,
        datasets: plan.ys.map((j, k) => ({
          label: columns[j].name,
          data: series[k],
          yAxisID: axis[k],
          backgroundColor: COLORS[k % COLORS.length],
          borderColor: COLORS[k % COLORS.length],
          pointRadius: n > 200 ? 0 : 2,
          borderWidth: plan.kind === "line" ? 2 : 0,
        })),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        normalized: true,
        scales: {
          x: { ticks: { maxRotation: 45, autoSkip: true } },
          y: { beginAtZero: plan.kind === "bar", position: "left" },
          ...(twoAxes ? { y1: { beginAtZero: plan.kind === "bar", position: "right" as const, grid: { drawOnChartArea: false } } } : {}),
        },
        plugins: { legend: { display: true } },
      },
    });
    return () => chart.destroy();
  }, [plan, rows, n, columns]);
  if (!auto || !plan) return <p class="muted" id="chart-none">No chart: the result has no numeric column to draw.</p>;
  const desc = `${plan.kind === "bar" ? "Bar" : "Line"} chart of ${plan.ys.map((j) => columns[j].name).join(", ")} by ${plan.x < 0 ? "row" : columns[plan.x].name}, ${n} rows`;
  const numericCols = columns.map((c, i) => [c, i] as const).filter(([c]) => isNumericType(c.type));
  return (
    <div class="chartbox">
      <div class="row controls">
        <span>
          <label for="chart-kind">Chart </label>
          <select id="chart-kind" value={plan.kind} onChange={(e) => setPlan({ ...plan, kind: (e.target as HTMLSelectElement).value as "bar" | "line" })}>
            <option value="bar">bar</option>
            <option value="line">line</option>
          </select>
        </span>
        <span>
          <label for="chart-x">x axis </label>
          <select id="chart-x" value={plan.x} onChange={(e) => setPlan({ ...plan, x: Number((e.target as HTMLSelectElement).value) })}>
            <option value={-1}>row number</option>
            {columns.map((c, i) => <option key={i} value={i}>{c.name}</option>)}
          </select>
        </span>
        <span>
          <label for="chart-y">series </label>
          <select id="chart-y" value={plan.ys.length === 1 ? plan.ys[0] : -1}
            onChange={(e) => {
              const v = Number((e.target as HTMLSelectElement).value);
              setPlan({ ...plan, ys: v < 0 ? (auto.ys.length ? auto.ys : numericCols.map(([, i]) => i)) : [v] });
            }}>
            <option value={-1}>all numeric columns</option>
            {numericCols.map(([c, i]) => <option key={i} value={i}>{c.name}</option>)}
          </select>
        </span>
        {rows.length > MAX_POINTS && <span class="muted">The first {MAX_POINTS.toLocaleString()} rows are drawn.</span>}
      </div>
      <div class="chartwrap">
        <canvas ref={canvas} role="img" aria-label={desc} id="result-chart">{desc}</canvas>
      </div>
    </div>
  );
}
