// The Objects page's S3 client: every request goes to /console/s3/…, which
// the server signs as the session's key and hands to its S3 endpoint, so
// S3's answers (XML) and rules (key and bucket policies, object locks)
// apply as they do to any S3 client.
import { csrfToken } from "./api";

export const S3 = "/console/s3";

export class S3Error extends Error {
  status: number;
  code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// keyPath encodes a key for a URL path, keeping its slashes.
export const keyPath = (key: string) => key.split("/").map(encodeURIComponent).join("/");
export const objectURL = (bucket: string, key: string) => `${S3}/${encodeURIComponent(bucket)}/${keyPath(key)}`;

function parseError(status: number, text: string): S3Error {
  if (text.startsWith("{")) {
    try {
      const e = JSON.parse(text).error;
      return new S3Error(status, e.code, e.message);
    } catch {
      // fall through
    }
  }
  const doc = new DOMParser().parseFromString(text, "application/xml");
  const code = doc.querySelector("Error > Code")?.textContent ?? String(status);
  const msg = doc.querySelector("Error > Message")?.textContent ?? text.slice(0, 200);
  return new S3Error(status, code, `${code}: ${msg}`);
}

async function s3(method: string, path: string, body?: BodyInit, headers: Record<string, string> = {}): Promise<Response> {
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken();
  const resp = await fetch(path, { method, body, headers, credentials: "same-origin" });
  if (!resp.ok) throw parseError(resp.status, await resp.text());
  return resp;
}

const xml = async (resp: Response) => new DOMParser().parseFromString(await resp.text(), "application/xml");
const text = (el: Element, sel: string) => el.querySelector(sel)?.textContent ?? "";

export interface Bucket {
  name: string;
  created: string;
}

export async function listBuckets(): Promise<Bucket[]> {
  const doc = await xml(await s3("GET", `${S3}/`));
  return [...doc.querySelectorAll("Buckets > Bucket")].map((b) => ({ name: text(b, "Name"), created: text(b, "CreationDate") }));
}

export interface Listing {
  prefixes: string[];
  objects: { key: string; size: number; modified: string }[];
  next: string;
}

export async function listObjects(bucket: string, prefix: string, token: string): Promise<Listing> {
  const q = new URLSearchParams({ "list-type": "2", delimiter: "/", prefix });
  if (token) q.set("continuation-token", token);
  const doc = await xml(await s3("GET", `${S3}/${encodeURIComponent(bucket)}?${q}`));
  return {
    prefixes: [...doc.querySelectorAll("CommonPrefixes > Prefix")].map((p) => p.textContent ?? ""),
    objects: [...doc.querySelectorAll("Contents")].map((c) => ({ key: text(c, "Key"), size: Number(text(c, "Size")), modified: text(c, "LastModified") })),
    next: text(doc.documentElement, "NextContinuationToken"),
  };
}

export const deleteObject = (bucket: string, key: string) => s3("DELETE", objectURL(bucket, key));

// Files above MULTIPART go up in PART_SIZE parts (S3's minimum is 5 MiB),
// two at a time, each with its progress.
export const MULTIPART = 16 << 20;
export const PART_SIZE = 8 << 20;

// send PUTs or POSTs a body with XMLHttpRequest, for its upload progress.
function send(method: string, url: string, body: Blob | string, onProgress: (loaded: number) => void, contentType = ""): Promise<XMLHttpRequest> {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open(method, url);
    x.setRequestHeader("X-CSRF-Token", csrfToken());
    if (contentType) x.setRequestHeader("Content-Type", contentType);
    x.upload.onprogress = (e) => onProgress(e.loaded);
    x.onload = () => (x.status >= 200 && x.status < 300 ? resolve(x) : reject(parseError(x.status, x.responseText)));
    x.onerror = () => reject(new S3Error(0, "NetworkError", `the upload of ${url} failed (network)`));
    x.send(body);
  });
}

export async function upload(bucket: string, key: string, file: File, onProgress: (loaded: number) => void): Promise<void> {
  const url = objectURL(bucket, key);
  const type = file.type || "application/octet-stream";
  if (file.size <= MULTIPART) {
    await send("PUT", url, file, onProgress, type);
    onProgress(file.size);
    return;
  }
  const created = await xml(await s3("POST", `${url}?uploads`, undefined, { "Content-Type": type }));
  const uploadId = text(created.documentElement, "UploadId");
  const n = Math.ceil(file.size / PART_SIZE);
  const loaded = new Array<number>(n).fill(0);
  const etags = new Array<string>(n);
  const report = () => onProgress(loaded.reduce((a, b) => a + b, 0));
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const part = file.slice(i * PART_SIZE, Math.min(file.size, (i + 1) * PART_SIZE));
      const x = await send("PUT", `${url}?partNumber=${i + 1}&uploadId=${encodeURIComponent(uploadId)}`, part, (l) => {
        loaded[i] = l;
        report();
      });
      loaded[i] = part.size;
      etags[i] = x.getResponseHeader("ETag") ?? "";
      report();
    }
  };
  try {
    await Promise.all([worker(), worker()]);
    const body = `<CompleteMultipartUpload>${etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e.replace(/[<>&]/g, "")}</ETag></Part>`).join("")}</CompleteMultipartUpload>`;
    const done = await s3("POST", `${url}?uploadId=${encodeURIComponent(uploadId)}`, body, { "Content-Type": "application/xml" });
    // S3 can answer 200 with an error in the body.
    const doc = await xml(done);
    if (doc.documentElement.nodeName === "Error") throw parseError(500, new XMLSerializer().serializeToString(doc));
  } catch (e) {
    await s3("DELETE", `${url}?uploadId=${encodeURIComponent(uploadId)}`).catch(() => {});
    throw e;
  }
}
