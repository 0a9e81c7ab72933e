// A virtualized result grid: only the rows in view (and a few around) are
// in the DOM, so 100,000 rows scroll as smoothly as 100. Rows have one
// height; the scroll container is focusable and takes the arrow keys,
// Page Up/Down, Home and End.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { ResultColumn } from "./api";
import { fmtCell, isNumericType } from "./cells";

const ROW = 26;
const OVERSCAN = 8;

export function Grid({ columns, rows, count, label }: { columns: ResultColumn[]; rows: unknown[][]; count: number; label: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(400);
  useEffect(() => {
    const el = ref.current!;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  // Widths from the header and the first rows' text.
  const widths = useMemo(() => {
    const sample = rows.slice(0, 200);
    return columns.map((c, j) => {
      let n = Math.max(c.name.length + (c.athena_type || c.type).length * 0.8 + 1, 4);
      for (const r of sample) n = Math.max(n, fmtCell(r[j]).length);
      return Math.min(Math.max(n * 8 + 20, 72), 420);
    });
  }, [columns, rows.length > 0]);
  const numeric = useMemo(() => columns.map((c) => isNumericType(c.type)), [columns]);
  const numW = Math.max(String(count).length * 8 + 16, 48);
  const total = numW + widths.reduce((a, b) => a + b, 0);
  const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
  const last = Math.min(count, Math.ceil((top + height) / ROW) + OVERSCAN);
  const onKey = (e: KeyboardEvent) => {
    const el = ref.current!;
    const page = Math.max(ROW, el.clientHeight - 2 * ROW);
    const by: Record<string, number> = { ArrowDown: ROW, ArrowUp: -ROW, PageDown: page, PageUp: -page, ArrowRight: 80, ArrowLeft: -80 };
    if (e.key in by) {
      e.preventDefault();
      if (e.key === "ArrowRight" || e.key === "ArrowLeft") el.scrollLeft += by[e.key];
      else el.scrollTop += by[e.key];
    } else if (e.key === "Home" || e.key === "End") {
      e.preventDefault();
      el.scrollTop = e.key === "Home" ? 0 : el.scrollHeight;
    }
  };
  const visible = [];
  for (let i = first; i < last; i++) {
    const r = rows[i];
    if (!r) break;
    visible.push(
      <div role="row" aria-rowindex={i + 2} class={i % 2 ? "gr odd" : "gr"} style={{ transform: `translateY(${i * ROW}px)`, width: total }} key={i}>
        <div role="rowheader" class="gc rn" style={{ width: numW }}>{i + 1}</div>
        {columns.map((_, j) => {
          const v = r[j];
          const s = fmtCell(v);
          return (
            <div role="gridcell" class={`gc${v === null ? " null" : ""}${numeric[j] ? " num" : ""}`} style={{ width: widths[j] }} title={s.length > 40 ? s : undefined} key={j}>
              {s}
            </div>
          );
        })}
      </div>,
    );
  }
  return (
    <div class="grid" ref={ref} role="grid" aria-label={label} aria-rowcount={count + 1} aria-colcount={columns.length + 1}
      tabIndex={0} onScroll={(e) => setTop((e.target as HTMLDivElement).scrollTop)} onKeyDown={onKey}>
      <div role="rowgroup" class="ghead" style={{ width: total }}>
        <div role="row" aria-rowindex={1} class="gr head">
          <div role="columnheader" class="gc rn" style={{ width: numW }}>#</div>
          {columns.map((c, j) => (
            <div role="columnheader" class={`gc${numeric[j] ? " num" : ""}`} style={{ width: widths[j] }} title={c.athena_type || c.type} key={c.name + j}>
              {c.name} <span class="type">{(c.athena_type || c.type).toLowerCase()}</span>
            </div>
          ))}
        </div>
      </div>
      <div role="rowgroup" class="gbody" style={{ height: count * ROW, width: total }}>
        {visible}
      </div>
    </div>
  );
}
