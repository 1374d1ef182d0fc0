// The SCIM conformance suite's client: conformance/lib/http.ts's JsonClient on the SCIM base URL (paths
// such as /Users are under it), sending and accepting application/scim+json.
import { DEFAULT_TIMEOUT_MS, JsonClient } from '../lib/http.ts';

export { DEFAULT_TIMEOUT_MS, qs, type ReqOpts, type Res } from '../lib/http.ts';

export class Client extends JsonClient {
  readonly base: string;

  constructor(base: string, token: string | null, timeoutMs: number = DEFAULT_TIMEOUT_MS) {
    super(token, timeoutMs, { accept: 'application/scim+json, application/json', contentType: 'application/scim+json', answer: 'response' });
    this.base = base.replace(/\/+$/, '');
  }

  protected urlOf(path: string): string {
    return this.base + path;
  }

  /** Same server, another credential (null = no Authorization header at all). */
  withToken(token: string | null): Client {
    return new Client(this.base, token, this.timeoutMs);
  }
}
