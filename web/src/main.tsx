import { render } from "preact";
import { lazy, Suspense } from "preact/compat";
import { useEffect, useState } from "preact/hooks";
import { ApiError, getSession, Session, setCSRF, signIn, signOut, whenSignedOut } from "./api";
import { Catalog } from "./catalog";
import "./styles.css";

// The query editor (CodeMirror, the grid and Chart.js) loads when its page
// first opens, so sign-in and the catalog come up with a small script.
const QueryPage = lazy(() => import("./query").then((m) => ({ default: m.QueryPage })));
const WorkflowsPage = lazy(() => import("./workflows").then((m) => ({ default: m.Workflows })));
const JobsPage = lazy(() => import("./runs").then((m) => ({ default: m.Jobs })));
const CrawlersPage = lazy(() => import("./runs").then((m) => ({ default: m.Crawlers })));
const MonitoringPage = lazy(() => import("./monitoring").then((m) => ({ default: m.Monitoring })));
const WarehousePage = lazy(() => import("./warehouse").then((m) => ({ default: m.Warehouse })));
const ObjectsPage = lazy(() => import("./objects").then((m) => ({ default: m.Objects })));

// Routes live in the URL's hash: #/catalog/DB/TABLE, #/query.
function useRoute(): string[] {
  const parse = () =>
    (location.hash.replace(/^#\/?/, "") || "catalog").split("/").map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  const [route, setRoute] = useState(parse);
  useEffect(() => {
    const on = () => setRoute(parse());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

function SignIn({ onDone, notice }: { onDone: (s: Session) => void; notice: string }) {
  const [id, setId] = useState("");
  const [secret, setSecret] = useState("");
  const [err, setErr] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErr("");
    try {
      onDone(await signIn(id.trim(), secret));
    } catch (x) {
      setErr(x instanceof Error ? x.message : String(x));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">
          <img src="/favicon.svg" alt="" width={28} height={28} /> Sign in to tarn
        </h1>
        <p class="muted">Use an access key: its policy decides what you can see and do.</p>
        {notice && <p class="notice" role="status">{notice}</p>}
        <label for="akid">Access key ID</label>
        <input id="akid" name="access_key_id" autocomplete="username" spellcheck={false} required value={id}
          onInput={(e) => setId((e.target as HTMLInputElement).value)} />
        <label for="secret">Secret access key</label>
        <input id="secret" name="secret_access_key" type="password" autocomplete="current-password" required value={secret}
          onInput={(e) => setSecret((e.target as HTMLInputElement).value)} />
        {err && <p class="error" role="alert" id="signin-error">{err}</p>}
        <button type="submit" class="primary" disabled={busy}>{busy ? "Signing in…" : "Sign in"}</button>
      </form>
    </main>
  );
}

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [notice, setNotice] = useState("");
  const route = useRoute();
  useEffect(() => {
    whenSignedOut(() => {
      setCSRF("");
      setSession(null);
      setNotice("Your session has ended: sign in again.");
    });
    getSession()
      .then((s) => {
        setCSRF(s.csrf_token);
        setSession(s);
      })
      .catch(() => setSession(null));
  }, []);
  if (session === undefined) return <p class="loading" role="status">Loading…</p>;
  if (session === null) {
    return (
      <SignIn notice={notice} onDone={(s) => {
        setCSRF(s.csrf_token);
        setNotice("");
        setSession(s);
      }} />
    );
  }
  const out = async () => {
    try {
      await signOut();
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) throw e;
    }
    setCSRF("");
    setNotice("You have signed out.");
    setSession(null);
  };
  const page = route[0];
  return (
    <div class="shell">
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <span class="brand"><img src="/favicon.svg" alt="" width={22} height={22} /> tarn</span>
        <nav aria-label="Pages">
          <a href="#/catalog" aria-current={page === "catalog" ? "page" : undefined}>Catalog</a>
          <a href="#/query" aria-current={page === "query" ? "page" : undefined}>Query editor</a>
          <a href="#/objects" aria-current={page === "objects" ? "page" : undefined}>Objects</a>
          <a href="#/crawlers" aria-current={page === "crawlers" ? "page" : undefined}>Crawlers</a>
          <a href="#/jobs" aria-current={page === "jobs" ? "page" : undefined}>Jobs</a>
          <a href="#/workflows" aria-current={page === "workflows" ? "page" : undefined}>Workflows</a>
          <a href="#/warehouse" aria-current={page === "warehouse" ? "page" : undefined}>Warehouse</a>
          <a href="#/monitoring" aria-current={page === "monitoring" ? "page" : undefined}>Alarms and metrics</a>
        </nav>
        <span class="who" title={session.access_key_id}>
          {session.name}
          {session.admin && <span class="badge">admin</span>}
        </span>
        <button type="button" onClick={out} id="signout">Sign out</button>
      </header>
      <main id="main" tabIndex={-1}>
        {page === "query" ? (
          <Suspense fallback={<p class="loading" role="status">Loading the editor…</p>}>
            <QueryPage session={session} />
          </Suspense>
        ) : page === "objects" ? (
          <Suspense fallback={<p class="loading" role="status">Loading…</p>}>
            <ObjectsPage route={route} />
          </Suspense>
        ) : page === "jobs" || page === "crawlers" ? (
          <Suspense fallback={<p class="loading" role="status">Loading…</p>}>
            {page === "jobs" ? <JobsPage route={route} /> : <CrawlersPage route={route} />}
          </Suspense>
        ) : page === "warehouse" ? (
          <Suspense fallback={<p class="loading" role="status">Loading…</p>}>
            <WarehousePage route={route} />
          </Suspense>
        ) : page === "monitoring" ? (
          <Suspense fallback={<p class="loading" role="status">Loading…</p>}>
            <MonitoringPage />
          </Suspense>
        ) : page === "workflows" ? (
          <Suspense fallback={<p class="loading" role="status">Loading…</p>}>
            <WorkflowsPage route={route} />
          </Suspense>
        ) : page === "catalog" ? (
          <Catalog db={route[1]} table={route[2]} tab={route[3]} />
        ) : (
          <p>No such page. <a href="#/catalog">Go to the catalog</a>.</p>
        )}
      </main>
    </div>
  );
}

render(<App />, document.getElementById("app")!);
