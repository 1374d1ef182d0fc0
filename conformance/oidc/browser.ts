// A minimal browser for walking sign-in pages from scripts: a cookie jar, manual redirects, and form
// submission as a browser would send it (the form's action, its hidden fields, the fields you fill in).
// Black-box: it knows only HTML and HTTP, so the conformance suite can drive any deployment with it.

export type PageResult = { status: number; url: string; html: string; location: string | null; headers: Headers };

type Cookie = { value: string; path: string };

export class Browser {
  readonly cookies = new Map<string, Map<string, Cookie>>(); // host -> name -> cookie
  readonly userAgent: string;
  readonly extraHeaders: Record<string, string>;

  constructor(opts: { userAgent?: string; headers?: Record<string, string> } = {}) {
    this.userAgent = opts.userAgent ?? 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
    this.extraHeaders = opts.headers ?? {};
  }

  private cookieHeader(url: URL): string {
    const jar = this.cookies.get(url.host);
    if (!jar) return '';
    return [...jar.entries()].filter(([, c]) => url.pathname.startsWith(c.path)).map(([k, c]) => `${k}=${c.value}`).join('; ');
  }

  private store(url: URL, headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const path = attrs.find((a) => a.toLowerCase().startsWith('path='))?.slice(5) || '/';
      const expired = attrs.some((a) => /^expires=/i.test(a) && new Date(a.slice(8)).getTime() < Date.now()) || attrs.some((a) => /^max-age=0$/i.test(a));
      const jar = this.cookies.get(url.host) ?? new Map<string, Cookie>();
      if (expired || value === '') jar.delete(name);
      else jar.set(name, { value, path });
      this.cookies.set(url.host, jar);
    }
  }

  /** One request, no redirect followed. */
  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<PageResult> {
    const u = new URL(url);
    const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: 'text/html', ...this.extraHeaders };
    const cookie = this.cookieHeader(u);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(u, { method: init.method ?? (init.form ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    this.store(u, res.headers);
    const location = res.headers.get('location');
    return { status: res.status, url: u.toString(), html: await res.text(), location: location ? new URL(location, u).toString() : null, headers: res.headers };
  }

  /**
   * Follows redirects (and the provider's auto-submitting form_post pages, as a browser would with script)
   * until a page answers or `stopAt` matches the next URL (a client's redirect URI: returned, not fetched).
   */
  async go(url: string, init: { method?: string; form?: Record<string, string>; stopAt?: (url: string) => boolean } = {}): Promise<PageResult> {
    let res = await this.request(url, init);
    for (let hops = 0; hops < 20; hops++) {
      if (res.status >= 300 && res.status < 400 && res.location) {
        if (init.stopAt?.(res.location)) return res;
        res = await this.request(res.location);
        continue;
      }
      // A self-submitting form (oidc-provider's form_post to itself, e.g. the logout confirmation).
      const auto = /<form[^>]*method="post"[^>]*action="([^"]+)"[^>]*>[\s\S]*?<\/form>[\s\S]*?<script/i.exec(res.html);
      if (res.status === 200 && auto && /document\.forms\[0\]\.submit|\.submit\(\)/.test(res.html)) {
        const action = new URL(decode(auto[1]), res.url).toString();
        res = await this.request(action, { form: hiddenFields(auto[0]) });
        continue;
      }
      return res;
    }
    throw new Error(`too many redirects from ${url}`);
  }

  /** Submits the form of `page` whose action ends with `actionSuffix`, with its hidden fields and `fields`. */
  async submit(page: PageResult, actionSuffix: string, fields: Record<string, string> = {}, opts: { stopAt?: (url: string) => boolean } = {}): Promise<PageResult> {
    const { action, fields: hidden } = formOf(page, actionSuffix);
    return this.go(action, { form: { ...hidden, ...fields }, stopAt: opts.stopAt });
  }
}

/** The form of `page` whose action ends with `actionSuffix`: its absolute action and its hidden fields (throws if none). */
export function formOf(page: PageResult, actionSuffix: string): { action: string; fields: Record<string, string> } {
  const forms = [...page.html.matchAll(/<form\b[^>]*>[\s\S]*?<\/form>/gi)].map((m) => m[0]);
  const match = forms.find((f) => {
    const action = /action="([^"]*)"/.exec(f)?.[1];
    return action !== undefined && decode(action).endsWith(actionSuffix);
  });
  if (!match) throw new Error(`no form with an action ending in ${actionSuffix} on ${page.url} (status ${page.status}): ${page.html.slice(0, 400)}`);
  return { action: new URL(decode(/action="([^"]*)"/.exec(match)![1]), page.url).toString(), fields: hiddenFields(match) };
}

const decode = (s: string) => s.replace(/&#(\d+);/g, (_m, n) => String.fromCharCode(Number(n))).replace(/&amp;/g, '&').replace(/&quot;/g, '"');

/** The hidden inputs of a form, by name. */
export function hiddenFields(formHtml: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of formHtml.matchAll(/<input\b[^>]*>/gi)) {
    const tag = m[0];
    if (!/type="hidden"/i.test(tag)) continue;
    const name = /name="([^"]*)"/.exec(tag)?.[1];
    const value = /value="([^"]*)"/.exec(tag)?.[1] ?? '';
    if (name) out[decode(name)] = decode(value);
  }
  return out;
}

/** The (decoded) actions of the page's forms, in order: which steps the page offers. */
export const formActions = (html: string) => [...html.matchAll(/<form\b[^>]*\baction="([^"]*)"/gi)].map((m) => decode(m[1]));

/** The text of the page's role="alert" messages (its errors), tags removed. */
export const alertsOf = (html: string) =>
  [...html.matchAll(/<(\w+)\b[^>]*role="alert"[^>]*>([\s\S]*?)<\/\1>/gi)].map((m) => decode(m[2].replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim()));

/** The text of the page's h1, for asserting where a flow stands. */
export const headingOf = (html: string) => decode(/<h1[^>]*>([\s\S]*?)<\/h1>/i.exec(html)?.[1]?.trim() ?? '');
