// Tiny fetch wrapper for the SCIM conformance suite. Every call resolves to {status, headers, body}
// (body = parsed JSON when the response has a JSON body, otherwise undefined; `text` keeps the raw text).

export interface Res {
  method: string;
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
  /** Content-Type of the request body; defaults to application/scim+json. */
  contentType?: string;
  headers?: Record<string, string>;
}

export const DEFAULT_TIMEOUT_MS = 15_000;

export class Client {
  readonly base: string;
  readonly token: string | null;
  readonly timeoutMs: number;

  constructor(base: string, token: string | null, timeoutMs: number = DEFAULT_TIMEOUT_MS) {
    this.base = base.replace(/\/+$/, '');
    this.token = token;
    this.timeoutMs = timeoutMs;
  }

  /** Same server, another credential (null = no Authorization header at all). */
  withToken(token: string | null): Client {
    return new Client(this.base, token, this.timeoutMs);
  }

  async req(method: string, path: string, opts: ReqOpts = {}): Promise<Res> {
    const url = /^https?:\/\//.test(path) ? path : this.base + path;
    const headers: Record<string, string> = { Accept: 'application/scim+json, application/json' };
    if (this.token !== null) headers.Authorization = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (opts.raw !== undefined) payload = opts.raw;
    else if (opts.body !== undefined) payload = JSON.stringify(opts.body);
    if (payload !== undefined) headers['Content-Type'] = opts.contentType ?? 'application/scim+json';
    Object.assign(headers, opts.headers ?? {});

    let r: Response;
    try {
      r = await fetch(url, {
        method,
        headers,
        body: payload,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new Error(`${method} ${path}: request failed: ${describeFetchError(err)}`);
    }
    let text: string;
    try {
      text = await r.text();
    } catch (err) {
      throw new Error(`${method} ${path}: reading response failed: ${describeFetchError(err)}`);
    }
    let body: any = undefined;
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    }
    return { method, path, status: r.status, headers: r.headers, body, text };
  }

  get(path: string, headers?: Record<string, string>): Promise<Res> {
    return this.req('GET', path, { headers });
  }
  post(path: string, body: unknown, opts: Omit<ReqOpts, 'body'> = {}): Promise<Res> {
    return this.req('POST', path, { ...opts, body });
  }
  put(path: string, body: unknown, opts: Omit<ReqOpts, 'body'> = {}): Promise<Res> {
    return this.req('PUT', path, { ...opts, body });
  }
  patch(path: string, body: unknown, opts: Omit<ReqOpts, 'body'> = {}): Promise<Res> {
    return this.req('PATCH', path, { ...opts, body });
  }
  del(path: string, headers?: Record<string, string>): Promise<Res> {
    return this.req('DELETE', path, { headers });
  }
}

function describeFetchError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'timed out';
  const cause = e?.cause?.code ?? e?.cause?.message;
  return cause ? `${e?.message ?? String(err)} (${cause})` : (e?.message ?? String(err));
}

/** Query string from a record, skipping undefined values: qs({filter: 'a eq "b"', count: 2}). */
export function qs(params: Record<string, string | number | undefined>): string {
  // encodeURIComponent (spaces as %20, like Okta and Entra send them), not URLSearchParams ('+').
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}
