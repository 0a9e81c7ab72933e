// Values of query results as the REST API gives them (sql.md#results):
// numbers as JSON numbers, decimals exact, dates and timestamps as text,
// structs as objects, lists as arrays, NULL as null.

export function fmtCell(v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

const NUMERIC = /^(TINYINT|SMALLINT|INTEGER|INT|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|REAL|DOUBLE|DECIMAL|NUMERIC)\b/i;
const TEMPORAL = /^(DATE|TIMESTAMP|TIMESTAMP WITH TIME ZONE|TIMESTAMPTZ|TIMESTAMP_S|TIMESTAMP_MS|TIMESTAMP_NS|TIME)\b/i;

export const isNumericType = (t: string) => NUMERIC.test(t.trim());
export const isTemporalType = (t: string) => TEMPORAL.test(t.trim());

// csvField quotes a field as RFC 4180 has it; NULL is an empty field.
function csvField(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function toCSV(columns: string[], rows: unknown[][]): string {
  const out = [columns.map(csvField).join(",")];
  for (const r of rows) out.push(r.map(csvField).join(","));
  return out.join("\r\n") + "\r\n";
}

// errorRange finds where in the SQL an engine error points: "at position
// N", or else the first name the message quotes that the SQL contains (the
// engine reports positions in the statement as tarn rewrote it, so a quoted
// name is the reliable anchor).
export function errorRange(sql: string, message: string): [number, number] | null {
  const pos = /at position (\d+)/.exec(message);
  if (pos) {
    const from = Math.min(Math.max(0, Number(pos[1]) - 1), sql.length);
    const m = /^[\w.]+|^\S/.exec(sql.slice(from));
    return [from, from + (m ? m[0].length : 0)];
  }
  const lower = sql.toLowerCase();
  for (const m of message.matchAll(/"([^"\n]{1,200})"/g)) {
    for (const cand of [m[1], m[1].split(".").pop() ?? ""]) {
      if (!cand) continue;
      const re = new RegExp(`(^|[^\\w])(${cand.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").toLowerCase()})(?![\\w])`);
      const hit = re.exec(lower);
      if (hit) {
        const from = hit.index + hit[1].length;
        return [from, from + cand.length];
      }
    }
  }
  return null;
}

// lineCol turns an offset into a 1-based line and column.
export function lineCol(sql: string, offset: number): [number, number] {
  const before = sql.slice(0, offset).split("\n");
  return [before.length, before[before.length - 1].length + 1];
}
