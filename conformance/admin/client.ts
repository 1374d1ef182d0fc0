// Tiny fetch wrapper for the admin API conformance suite. Every call resolves to {status, headers, body}
// (body = parsed JSON when the answer has a JSON body, otherwise undefined; `text` keeps the raw text).
// Every call to /api/v1 is written to a shared log: which operations the suite called (the OpenAPI case
// checks the document lists each of them) and every error answer (the error-shape case checks them all).

export interface Res {
  method: string;
  /** The path under /api/v1 (or the absolute URL for a call elsewhere), with its query. */
  path: string;
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export interface ReqOpts {
  /** JSON-serialised request body. */
  body?: unknown;
  /** Raw request body (sent as is; wins over `body`). */
  raw?: string;
  /** Content-Type of the request body; defaults to application/json. */
  contentType?: string;
  headers?: Record<string, string>;
  /** A deliberate call of a route the API does not have: not one of the operations the suite checks the document for. */
  probe?: boolean;
}

/** What the run called and what it got: shared by every client of one run. */
export interface CallLog {
  /** Each /api/v1 call: method and path without the query (and whether it was a deliberate call of a route that does not exist). */
  calls: { method: string; path: string; probe: boolean }[];
  /** Each /api/v1 answer with a status of 400 or more. */
  errors: { method: string; path: string; status: number; contentType: string; body: any; text: string }[];
  /** How many requests timed out. */
  timeouts: number;
}

export const DEFAULT_TIMEOUT_MS = 15_000;

export class Api {
  /** The server's base URL (e.g. http://127.0.0.1:3000). */
  readonly server: string;
  readonly orgId: string;
  readonly key: string | null;
  readonly timeoutMs: number;
  readonly log: CallLog;

  constructor(server: string, orgId: string, key: string | null, log: CallLog, timeoutMs: number = DEFAULT_TIMEOUT_MS) {
    this.server = server.replace(/\/+$/, '');
    this.orgId = orgId;
    this.key = key;
    this.log = log;
    this.timeoutMs = timeoutMs;
  }

  /** Same server and organisation, another credential (null = no Authorization header at all). */
  withKey(key: string | null): Api {
    return new Api(this.server, this.orgId, key, this.log, this.timeoutMs);
  }

  /** A path under the organisation: org('/members') is /orgs/<orgId>/members. */
  org(path = ''): string {
    return `/orgs/${encodeURIComponent(this.orgId)}${path}`;
  }

  async req(method: string, path: string, opts: ReqOpts = {}): Promise<Res> {
    const absolute = /^https?:\/\//.test(path);
    const url = absolute ? path : `${this.server}/api/v1${path}`;
    const headers: Record<string, string> = { Accept: 'application/json, application/problem+json' };
    if (this.key !== null) headers.Authorization = `Bearer ${this.key}`;
    let payload: string | undefined;
    if (opts.raw !== undefined) payload = opts.raw;
    else if (opts.body !== undefined) payload = JSON.stringify(opts.body);
    if (payload !== undefined) headers['Content-Type'] = opts.contentType ?? 'application/json';
    Object.assign(headers, opts.headers ?? {});

    let r: Response;
    try {
      r = await fetch(url, { method, headers, body: payload, redirect: 'manual', signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      if ((err as { name?: string })?.name === 'TimeoutError') this.log.timeouts += 1;
      throw new Error(`${method} ${path}: request failed: ${describeFetchError(err)}`);
    }
    let text: string;
    try {
      text = await r.text();
    } catch (err) {
      throw new Error(`${method} ${path}: reading the answer failed: ${describeFetchError(err)}`);
    }
    let body: any;
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    }
    if (!absolute) {
      const bare = path.split('?')[0];
      this.log.calls.push({ method, path: bare, probe: opts.probe === true });
      if (r.status >= 400) this.log.errors.push({ method, path: bare, status: r.status, contentType: r.headers.get('content-type') ?? '', body, text: text.slice(0, 300) });
    }
    return { method, path, status: r.status, headers: r.headers, body, text };
  }

  get(path: string, headers?: Record<string, string>): Promise<Res> {
    return this.req('GET', path, { headers });
  }
  post(path: string, body?: unknown, opts: Omit<ReqOpts, 'body'> = {}): Promise<Res> {
    return this.req('POST', path, { ...opts, body });
  }
  put(path: string, body?: unknown, opts: Omit<ReqOpts, 'body'> = {}): Promise<Res> {
    return this.req('PUT', path, { ...opts, body });
  }
  patch(path: string, body?: unknown, opts: Omit<ReqOpts, 'body'> = {}): Promise<Res> {
    return this.req('PATCH', path, { ...opts, body });
  }
  del(path: string, headers?: Record<string, string>): Promise<Res> {
    return this.req('DELETE', path, { headers });
  }
  /** A deliberate call of a route the API does not have (see ReqOpts.probe). */
  probe(method: string, path: string, body?: unknown): Promise<Res> {
    return this.req(method, path, { body, probe: true });
  }
}

function describeFetchError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'timed out';
  const cause = e?.cause?.code ?? e?.cause?.message;
  return cause ? `${e?.message ?? String(err)} (${cause})` : (e?.message ?? String(err));
}

/** Query string from a record, skipping undefined values: qs({search: 'a b', limit: 2}) is "?search=a%20b&limit=2". */
export function qs(params: Record<string, string | number | boolean | undefined>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}
