import { useEffect, useRef, useState } from "preact/hooks";
import { bytes, when } from "./api";
import { Bucket, deleteObject, listBuckets, Listing, listObjects, objectURL, upload } from "./s3";

const enc = encodeURIComponent;
// href of a bucket's prefix: #/objects/BUCKET/a/b/
const prefixHref = (bucket: string, prefix: string) => `#/objects/${enc(bucket)}/${prefix.split("/").map(enc).join("/")}`;

interface Upload {
  name: string;
  key: string;
  size: number;
  loaded: number;
  state: "uploading" | "done" | "failed";
  error?: string;
}

export function Objects({ route }: { route: string[] }) {
  const bucket = route[1] ?? "";
  const prefix = route.slice(2).join("/");
  const [buckets, setBuckets] = useState<Bucket[] | null>(null);
  const [err, setErr] = useState("");
  useEffect(() => {
    listBuckets().then(setBuckets, (e) => setErr(e.message));
  }, []);
  return (
    <div class="catalog">
      <aside class="side" aria-label="Buckets">
        <h2 class="label">Buckets</h2>
        {err && <p class="error" role="alert">{err}</p>}
        {!buckets && !err && <p class="muted" role="status">Loading…</p>}
        <ul class="tree">
          {(buckets ?? []).map((b) => (
            <li key={b.name}>
              <a href={prefixHref(b.name, "")} aria-current={bucket === b.name && !prefix ? "page" : undefined}>{b.name}</a>
            </li>
          ))}
        </ul>
      </aside>
      <section class="content">
        {bucket ? <Folder key={`${bucket}/${prefix}`} bucket={bucket} prefix={prefix} /> : (
          <>
            <h1>Objects</h1>
            <p class="muted">Choose a bucket. Every request here is an S3 request of your key: its policy and the bucket's policy apply.</p>
          </>
        )}
      </section>
    </div>
  );
}

function Folder({ bucket, prefix }: { bucket: string; prefix: string }) {
  const [list, setList] = useState<Listing | null>(null);
  const [err, setErr] = useState("");
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [drag, setDrag] = useState(false);
  const [note, setNote] = useState("");
  const input = useRef<HTMLInputElement>(null);

  const load = async (token = "") => {
    try {
      const l = await listObjects(bucket, prefix, token);
      setList((old) => (token && old ? { prefixes: [...old.prefixes, ...l.prefixes], objects: [...old.objects, ...l.objects], next: l.next } : l));
      setErr("");
    } catch (e) {
      setErr(e instanceof Error ? e.message : String(e));
    }
  };
  useEffect(() => {
    load();
  }, [bucket, prefix]);

  const start = async (files: File[]) => {
    const ups: Upload[] = files.map((f) => ({ name: f.name, key: prefix + f.name, size: f.size, loaded: 0, state: "uploading" }));
    setUploads((u) => [...ups, ...u]);
    const set = (key: string, ch: Partial<Upload>) => setUploads((u) => u.map((x) => (x.key === key ? { ...x, ...ch } : x)));
    await Promise.all(
      files.map(async (f, i) => {
        const key = ups[i].key;
        try {
          await upload(bucket, key, f, (loaded) => set(key, { loaded }));
          set(key, { loaded: f.size, state: "done" });
        } catch (e) {
          set(key, { state: "failed", error: e instanceof Error ? e.message : String(e) });
        }
      }),
    );
    load();
  };

  const remove = async (key: string) => {
    if (!confirm(`Delete s3://${bucket}/${key}?`)) return;
    try {
      await deleteObject(bucket, key);
      setNote(`Deleted ${key}.`);
      load();
    } catch (e) {
      setNote("");
      setErr(e instanceof Error ? e.message : String(e));
    }
  };

  const parts = prefix.split("/").filter(Boolean);
  return (
    <div
      class={`dropzone${drag ? " dragging" : ""}`}
      onDragOver={(e) => {
        e.preventDefault();
        setDrag(true);
      }}
      onDragLeave={() => setDrag(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDrag(false);
        const files = [...(e.dataTransfer?.files ?? [])];
        if (files.length) start(files);
      }}
    >
      <nav aria-label="Folder" class="crumbs">
        <a href={prefixHref(bucket, "")}>{bucket}</a>
        {parts.map((p, i) => (
          <span key={i}> / <a href={prefixHref(bucket, parts.slice(0, i + 1).join("/") + "/")}>{p}</a></span>
        ))}
      </nav>
      <h1 class="sr">Objects in s3://{bucket}/{prefix}</h1>
      <div class="row">
        <label for="upload-input">Upload files to s3://{bucket}/{prefix}</label>
        <input id="upload-input" ref={input} type="file" multiple onChange={(e) => {
          const t = e.target as HTMLInputElement;
          const files = [...(t.files ?? [])];
          t.value = "";
          if (files.length) start(files);
        }} />
        <span class="muted">or drop files here</span>
      </div>
      {uploads.length > 0 && (
        <ul class="uploads" aria-label="Uploads">
          {uploads.map((u) => (
            <li key={u.key} class={u.state}>
              <span class="mono">{u.name}</span>
              <progress max={u.size || 1} value={u.state === "done" ? u.size || 1 : u.loaded} aria-label={`Upload of ${u.name}`} />
              <span class="small">
                {u.state === "uploading" ? `${bytes(u.loaded)} of ${bytes(u.size)}` : u.state === "done" ? `uploaded, ${bytes(u.size)}` : ""}
              </span>
              {u.error && <span class="error small" role="alert">{u.error}</span>}
            </li>
          ))}
        </ul>
      )}
      {note && <p class="notice" role="status">{note}</p>}
      {err && <p class="error" role="alert" id="objects-error">{err}</p>}
      {list && (
        <table class="data" id="objects">
          <caption class="sr">Objects and folders in s3://{bucket}/{prefix}</caption>
          <thead><tr><th scope="col">Name</th><th scope="col">Size</th><th scope="col">Last modified</th><th scope="col">Actions</th></tr></thead>
          <tbody>
            {list.prefixes.map((p) => (
              <tr key={p}>
                <td><a href={prefixHref(bucket, p)}>{p.slice(prefix.length)}</a></td>
                <td>folder</td>
                <td></td>
                <td></td>
              </tr>
            ))}
            {list.objects.map((o) => {
              const name = o.key.slice(prefix.length) || o.key;
              const fname = o.key.split("/").pop() || "download";
              return (
                <tr key={o.key}>
                  <td class="mono">{name}</td>
                  <td class="num">{bytes(o.size)}</td>
                  <td>{when(o.modified)}</td>
                  <td>
                    <a href={`${objectURL(bucket, o.key)}?response-content-disposition=${enc(`attachment; filename="${fname.replace(/"/g, "")}"`)}`}
                      download={fname} aria-label={`Download ${name}`}>Download</a>{" "}
                    <button type="button" class="link" onClick={() => remove(o.key)} aria-label={`Delete ${name}`}>Delete</button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {list && list.prefixes.length === 0 && list.objects.length === 0 && <p class="muted">This folder is empty.</p>}
      {list?.next && <button type="button" onClick={() => load(list.next)}>Load more</button>}
    </div>
  );
}
