// The HTTP client underneath the black-box suites (conformance/scim, conformance/admin): a fetch with a
// per-request timeout and no redirect followed, whose every call resolves to {status, headers, body} (body =
// parsed JSON when the answer has a JSON body, otherwise undefined; `text` keeps the raw text). A suite's
// client extends JsonClient with where its paths lead and what it sends by default (suite/client.ts).

export interface Res {
  method: string;
  /** The path as the case gave it (under the suite's base URL), or an absolute URL, with its query. */
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
  /** Content-Type of the request body; defaults to the client's (JsonClient's `contentType`). */
  contentType?: string;
  headers?: Record<string, string>;
}

export const DEFAULT_TIMEOUT_MS = 15_000;

/** What a suite's requests carry unless a call says otherwise, and how its error messages name an answer. */
export interface Defaults {
  /** The Accept header. */
  accept: string;
  /** The Content-Type of a request body. */
  contentType: string;
  /** The word for what comes back, in "<method> <path>: reading <answer> failed". */
  answer: string;
}

/** A path is a URL of its own when it starts with http:// or https://. */
export const isAbsolute = (path: string): boolean => /^https?:\/\//.test(path);

export abstract class JsonClient {
  readonly token: string | null;
  readonly timeoutMs: number;
  private readonly defaults: Defaults;

  constructor(token: string | null, timeoutMs: number, defaults: Defaults) {
    this.token = token;
    this.timeoutMs = timeoutMs;
    this.defaults = defaults;
  }

  /** The URL a (non-absolute) path of the suite's stands for. */
  protected abstract urlOf(path: string): string;

  /** Told of every request that timed out. */
  protected timedOut(): void {}

  async req(method: string, path: string, opts: ReqOpts = {}): Promise<Res> {
    const url = isAbsolute(path) ? path : this.urlOf(path);
    const headers: Record<string, string> = { Accept: this.defaults.accept };
    if (this.token !== null) headers.Authorization = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (opts.raw !== undefined) payload = opts.raw;
    else if (opts.body !== undefined) payload = JSON.stringify(opts.body);
    if (payload !== undefined) headers['Content-Type'] = opts.contentType ?? this.defaults.contentType;
    Object.assign(headers, opts.headers ?? {});

    let r: Response;
    try {
      r = await fetch(url, { method, headers, body: payload, redirect: 'manual', signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      if ((err as { name?: string })?.name === 'TimeoutError') this.timedOut();
      throw new Error(`${method} ${path}: request failed: ${describeFetchError(err)}`);
    }
    let text: string;
    try {
      text = await r.text();
    } catch (err) {
      throw new Error(`${method} ${path}: reading ${this.defaults.answer} failed: ${describeFetchError(err)}`);
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
}

function describeFetchError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'timed out';
  const cause = e?.cause?.code ?? e?.cause?.message;
  return cause ? `${e?.message ?? String(err)} (${cause})` : (e?.message ?? String(err));
}

/** Query string from a record, skipping undefined values: qs({filter: 'a eq "b"', count: 2}) is "?filter=a%20eq%20%22b%22&count=2". */
export function qs(params: Record<string, string | number | boolean | undefined>): string {
  // encodeURIComponent (spaces as %20, like Okta and Entra send them), not URLSearchParams ('+').
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}
