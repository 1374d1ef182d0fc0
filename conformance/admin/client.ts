// The admin API conformance suite's client: conformance/lib/http.ts's JsonClient on /api/v1 of the server
// (paths such as /orgs/... are under it), sending and accepting JSON, for one organisation.
// Every call to /api/v1 is written to a shared log: which operations the suite called (the OpenAPI case
// checks the document lists each of them) and every error answer (the error-shape case checks them all).
import { DEFAULT_TIMEOUT_MS, isAbsolute, JsonClient, type ReqOpts as BaseReqOpts, type Res } from '../lib/http.ts';

export { DEFAULT_TIMEOUT_MS, qs, type Res } from '../lib/http.ts';

export interface ReqOpts extends BaseReqOpts {
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

export class Api extends JsonClient {
  /** The server's base URL (e.g. http://127.0.0.1:3000). */
  readonly server: string;
  readonly orgId: string;
  readonly log: CallLog;

  constructor(server: string, orgId: string, key: string | null, log: CallLog, timeoutMs: number = DEFAULT_TIMEOUT_MS) {
    super(key, timeoutMs, { accept: 'application/json, application/problem+json', contentType: 'application/json', answer: 'the answer' });
    this.server = server.replace(/\/+$/, '');
    this.orgId = orgId;
    this.log = log;
  }

  /** The API key (or access token) sent, null for none. */
  get key(): string | null {
    return this.token;
  }

  protected urlOf(path: string): string {
    return `${this.server}/api/v1${path}`;
  }

  protected timedOut(): void {
    this.log.timeouts += 1;
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
    const res = await super.req(method, path, opts);
    if (!isAbsolute(path)) {
      const bare = path.split('?')[0];
      this.log.calls.push({ method, path: bare, probe: opts.probe === true });
      if (res.status >= 400) this.log.errors.push({ method, path: bare, status: res.status, contentType: res.headers.get('content-type') ?? '', body: res.body, text: res.text.slice(0, 300) });
    }
    return res;
  }

  /** A deliberate call of a route the API does not have (see ReqOpts.probe). */
  probe(method: string, path: string, body?: unknown): Promise<Res> {
    return this.req(method, path, { body, probe: true });
  }
}
