// The console's client of tarn's REST API. Requests carry the session
// cookie (same origin) and, when they change something, the CSRF token the
// sign-in gave. Every answer is the REST API's own: a page shows what the
// key's policy lets the API answer, no more.

export interface Session {
  access_key_id: string;
  name: string;
  admin: boolean;
  csrf_token: string;
  expires_at: string;
}

export class ApiError extends Error {
  status: number;
  code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let csrf = "";
let onSignedOut: () => void = () => {};

export function setCSRF(token: string) {
  csrf = token;
}

export const csrfToken = () => csrf;

// whenSignedOut is told when the server says the session is gone.
export function whenSignedOut(fn: () => void) {
  onSignedOut = fn;
}

export async function request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrf) headers["X-CSRF-Token"] = csrf;
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    signal,
  });
  const text = await resp.text();
  let data: any = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      throw new ApiError(resp.status, "BadResponse", `${method} ${path}: ${resp.status} ${text.slice(0, 200)}`);
    }
  }
  if (!resp.ok) {
    const code = data?.error?.code ?? "Error";
    const msg = data?.error?.message ?? `${resp.status} ${resp.statusText}`;
    if (resp.status === 401 && code === "SessionRequired" && path !== SESSION) onSignedOut();
    throw new ApiError(resp.status, code, msg);
  }
  return data as T;
}

export const SESSION = "/console/api/session";

export const signIn = (access_key_id: string, secret_access_key: string) =>
  request<Session>("POST", SESSION, { access_key_id, secret_access_key });
export const getSession = () => request<Session>("GET", SESSION);
export const signOut = () => request<unknown>("DELETE", SESSION);

// Catalog (the API's catalog types are Go-cased).
export interface Column {
  Name: string;
  Type: string;
  Comment: string;
}
export interface Database {
  Name: string;
  Description: string;
  Location: string;
  Properties: Record<string, string>;
  CreatedAt: string;
}
export interface Table {
  Database: string;
  Name: string;
  Description: string;
  Location: string;
  Format: string;
  FormatOptions: Record<string, string> | null;
  Columns: Column[] | null;
  PartitionKeys: Column[] | null;
  TableType: string;
  Properties: Record<string, string> | null;
  CreatedAt: string;
  UpdatedAt: string;
  Version: number;
}
export interface Partition {
  Values: string[];
  Location: string;
  FileCount: number;
  Bytes: number;
  AddedAt: string;
}
export interface SchemaChange {
  kind: string;
  column?: string;
  from?: string;
  to?: string;
}
export interface SchemaVersion {
  Version: number;
  Columns: Column[] | null;
  PartitionKeys: Column[] | null;
  Format: string;
  FormatOptions: Record<string, string> | null;
  Location: string;
  Changes: SchemaChange[] | null;
  Reason: string;
  CreatedAt: string;
}

const enc = encodeURIComponent;
export const listDatabases = () => request<Database[]>("GET", "/api/v1/databases");
export const listTables = (db: string) => request<Table[]>("GET", `/api/v1/databases/${enc(db)}/tables`);
export const getTable = (db: string, t: string) => request<Table>("GET", `/api/v1/databases/${enc(db)}/tables/${enc(t)}`);
export const listPartitions = (db: string, t: string) =>
  request<Partition[]>("GET", `/api/v1/databases/${enc(db)}/tables/${enc(t)}/partitions`);
export const tableVersions = (db: string, t: string) =>
  request<SchemaVersion[]>("GET", `/api/v1/databases/${enc(db)}/tables/${enc(t)}/versions`);

// Queries.
export interface QueryStats {
  rows: number;
  data_scanned_bytes: number;
  files_scanned: number;
  partitions_scanned: number;
  partitions_total: number;
  planning_ns: number;
  engine_ns: number;
  elapsed_ns: number;
  cost_usd: number;
}
export interface Execution {
  id: string;
  sql: string;
  database: string;
  workgroup: string;
  access_key?: string;
  statement_type: string;
  state: "QUEUED" | "RUNNING" | "SUCCEEDED" | "FAILED" | "CANCELLED";
  error?: string;
  submitted_at: string;
  ended_at: string;
  stats: QueryStats;
  reused_from?: string;
}
export interface ResultColumn {
  name: string;
  type: string;
  athena_type?: string;
}
export interface ResultPage {
  columns: ResultColumn[];
  rows: unknown[][];
  next_token?: string;
}
export interface Workgroup {
  name: string;
  description?: string;
}

export const startQuery = (sql: string, database: string, workgroup: string) =>
  request<{ id: string }>("POST", "/api/v1/queries", { sql, database, workgroup });
export const getQuery = (id: string, wait: number, signal?: AbortSignal) =>
  request<Execution>("GET", `/api/v1/queries/${enc(id)}${wait > 0 ? `?wait=${wait}` : ""}`, undefined, signal);
export const cancelQuery = (id: string) => request<Execution>("DELETE", `/api/v1/queries/${enc(id)}`);
export const queryResults = (id: string, token: string, max = 1000, signal?: AbortSignal) =>
  request<ResultPage>(
    "GET",
    `/api/v1/queries/${enc(id)}/results?max_results=${max}${token ? `&next_token=${enc(token)}` : ""}`,
    undefined,
    signal,
  );
export const listQueries = (limit = 100) => request<Execution[]>("GET", `/api/v1/queries?limit=${limit}`);
export const listWorkgroups = () => request<Workgroup[]>("GET", "/api/v1/workgroups");

export const isDone = (s: Execution["state"]) => s === "SUCCEEDED" || s === "FAILED" || s === "CANCELLED";

// runToEnd long-polls an execution until it has ended.
export async function waitQuery(id: string, signal?: AbortSignal): Promise<Execution> {
  for (;;) {
    const ex = await getQuery(id, 20, signal);
    if (isDone(ex.state)) return ex;
  }
}

// Formatting helpers shared by the pages.
export function bytes(n: number): string {
  if (!Number.isFinite(n)) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function when(s: string): string {
  if (!s || s.startsWith("0001-")) return "";
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toLocaleString();
}

// quoteIdent quotes a name for SQL ("a""b").
export const quoteIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;

// Workflows.
export interface WorkflowStep {
  name: string;
  crawler?: string;
  job?: string;
  sql?: string;
  dbt?: { project: string };
  depends_on?: string[];
  condition?: string;
  retries?: number;
}
export interface Workflow {
  name: string;
  description?: string;
  steps: WorkflowStep[];
  created_at: string;
}
export interface StepRun {
  name: string;
  target: string;
  state: string;
  attempt: number;
  next_attempt_at: string;
  child_id?: string;
  started_at: string;
  ended_at: string;
  error?: string;
}
export interface WorkflowRun {
  id: string;
  workflow: string;
  trigger?: string;
  state: string;
  properties?: Record<string, string>;
  queued_at: string;
  started_at: string;
  ended_at: string;
  error?: string;
  steps: StepRun[];
}
export interface TriggerState {
  name: string;
  type: string;
  workflow?: string;
  job?: string;
  crawler?: string;
  schedule?: string;
  prefix?: string;
  suffix?: string;
  enabled: boolean;
  last_fired: string;
  next_fire?: string;
}
export const listWorkflows = () => request<Workflow[]>("GET", "/api/v1/workflows");
export const getWorkflow = (name: string) => request<Workflow>("GET", `/api/v1/workflows/${enc(name)}`);
export const workflowRuns = (name: string, limit = 20) => request<WorkflowRun[]>("GET", `/api/v1/workflows/${enc(name)}/runs?limit=${limit}`);
export const startWorkflow = (name: string) => request<WorkflowRun>("POST", `/api/v1/workflows/${enc(name)}/start`, { properties: {} });
export const stopWorkflowRun = (id: string) => request<WorkflowRun>("POST", `/api/v1/workflow-runs/${enc(id)}/stop`);
export const listTriggers = () => request<TriggerState[]>("GET", "/api/v1/triggers");
export const watchRunURL = (id: string) => `/api/v1/workflow-runs/${enc(id)}/events`;

// Jobs and crawlers.
export interface JobSpec {
  name: string;
  description?: string;
  sql: string;
  target: string;
  format: string;
  mode: string;
  partition_by?: string[];
  table?: string;
  bookmarks: boolean;
  max_rejected?: string;
  run_as?: string;
}
export interface JobStats {
  rows_read: number;
  rows_written: number;
  rows_rejected: number;
  rows_filtered: number;
  rows_discarded?: number;
  bytes_read: number;
  bytes_written: number;
  files_read: number;
  files_written: number;
  partitions?: string[];
  rejected_uri?: string;
}
export interface JobRun {
  id: string;
  job: string;
  attempt: number;
  state: string;
  started_at: string;
  ended_at: string;
  stats: JobStats;
  error?: string;
  log?: string[];
  progress?: string;
  next_attempt?: string;
  retrying?: boolean;
}
export interface CrawlerSpec {
  Name: string;
  Database: string;
  Description: string;
  Targets: string[];
}
export interface CrawlTableResult {
  table: string;
  action: string;
  location: string;
  changes?: SchemaChange[];
  partitions_added: number;
  partitions_removed: number;
}
export interface CrawlerRun {
  id: string;
  crawler: string;
  state: string;
  started_at: string;
  ended_at: string;
  files_scanned: number;
  bytes_scanned: number;
  partitions_added: number;
  partitions_removed: number;
  tables?: CrawlTableResult[];
  file_errors?: { uri: string; error: string }[];
  error?: string;
  progress?: { files_done: number; files_total: number; bytes_done: number; current: string };
}
export const listJobs = () => request<JobSpec[]>("GET", "/api/v1/jobs");
export const getJob = (name: string) => request<JobSpec>("GET", `/api/v1/jobs/${enc(name)}`);
export const jobRuns = (name: string) => request<JobRun[]>("GET", `/api/v1/jobs/${enc(name)}/runs`);
export const getJobRun = (id: string) => request<JobRun>("GET", `/api/v1/job-runs/${enc(id)}`);
export const startJob = (name: string) => request<{ id: string }>("POST", `/api/v1/jobs/${enc(name)}/start`, { args: {} });
export const stopJobRun = (id: string) => request<unknown>("POST", `/api/v1/job-runs/${enc(id)}/stop`);
export const listCrawlers = () => request<CrawlerSpec[]>("GET", "/api/v1/crawlers");
export const crawlerRuns = (name: string) => request<CrawlerRun[]>("GET", `/api/v1/crawlers/${enc(name)}/runs`);
export const getCrawlerRun = (id: string) => request<CrawlerRun>("GET", `/api/v1/crawler-runs/${enc(id)}`);
export const startCrawler = (name: string) => request<{ id: string }>("POST", `/api/v1/crawlers/${enc(name)}/start`, { dry_run: false });
export const stopCrawler = (name: string) => request<unknown>("POST", `/api/v1/crawlers/${enc(name)}/stop`);
export const runEnded = (s: string) => ["SUCCEEDED", "FAILED", "STOPPED", "CANCELLED", "TIMEOUT"].includes(s);

// Alarms and events.
export interface AlarmStatus {
  name: string;
  description?: string;
  rule: string;
  target: string;
  threshold?: number;
  state: string;
  reason?: string;
  state_changed_at: string;
  checked_at: string;
}
export interface AlarmTransition {
  at: string;
  old_state: string;
  new_state: string;
  reason: string;
  notified?: string;
}
export interface LakeEvent {
  id: number;
  bucket: string;
  key: string;
  size: number;
  via: string;
  recorded_at: string;
}
export const listAlarms = () => request<AlarmStatus[]>("GET", "/api/v1/alarms");
export const alarmHistory = (name: string) => request<AlarmTransition[]>("GET", `/api/v1/alarms/${enc(name)}/history`);
export const listEvents = (limit = 1000) => request<LakeEvent[]>("GET", `/api/v1/events?limit=${limit}`);

// Lineage (docs/lineage.md).
export interface DatasetRef {
  namespace: string;
  name: string;
}
export interface LineageNode {
  dataset: DatasetRef;
  depth: number;
  hidden?: boolean;
  write?: { job_name: string; job_type?: string; run_id: string; event_time: string; rows: number };
}
export interface LineageEdge {
  input: DatasetRef;
  output: DatasetRef;
  job_name: string;
  run_id: string;
  event_time: string;
  rows: number;
}
export interface LineageGraph {
  root: DatasetRef;
  nodes: LineageNode[];
  edges: LineageEdge[];
  truncated?: boolean;
}
export const tableLineage = (db: string, t: string) =>
  request<LineageGraph>("GET", `/api/v1/lineage?table=${enc(db + "." + t)}&events=0&depth=5`);

// The warehouse.
export interface WarehouseRelation {
  schema: string;
  name: string;
  kind: string;
  columns: { name: string; type: string }[];
  estimated_rows?: number;
  definition?: string;
  database?: string;
  auto_refresh?: boolean;
  base_tables?: string[];
  refreshed_at?: string;
  refresh_rows?: number;
}
export const getWarehouse = () => request<{ schemas: string[]; relations: WarehouseRelation[] }>("GET", "/api/v1/warehouse");
