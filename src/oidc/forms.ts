// What every page with a form shares: an express app that reads only UTF-8 forms, the page headers (a CSP
// that allows nothing but the page's own styles, by nonce; no caching; no referrer), CSRF tokens bound to a
// cookie of their own and to what the form acts on, and the error pages.
import { isUtf8 } from 'node:buffer';
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { escapeHtml, page } from './pages.ts';

/** A page to show instead of what was asked: its status, heading and one sentence. */
export class PageError extends Error {
  readonly status: number;
  readonly detail: string;
  constructor(status: number, message: string, detail: string) {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}

/** An express app for form pages: `trust proxy` as configured, UTF-8 forms only (anything else is a 400). */
export function formApp(trustProxy: boolean | number | string): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', trustProxy);
  // A form is UTF-8 (the pages say so); anything else is refused before it can change anything, rather than
  // read with replacement characters.
  app.use(express.urlencoded({
    extended: false, limit: '16kb', parameterLimit: 20,
    verify: (req, _res, buf) => {
      const charset = /charset=([^;]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.trim().toLowerCase();
      if ((charset && charset !== 'utf-8' && charset !== 'utf8') || !isUtf8(buf)) throw Object.assign(new Error('the form is not UTF-8'), { status: 400 });
    },
  }));
  return app;
}

/** A directory message as a sentence for a page: "a password has..." -> "A password has...". */
export const asSentence = (message: string) => `${message.charAt(0).toUpperCase()}${message.slice(1)}.`;

/** The headers of every page (here, the provider's own pages, the SSO callback's), its styles under `nonce`. */
export function pageHeaderValues(nonce: string): Record<string, string> {
  return {
    'Cache-Control': 'no-store',
    'Content-Security-Policy': `default-src 'none'; style-src 'nonce-${nonce}'; frame-ancestors 'none'; base-uri 'none'`,
    'Referrer-Policy': 'no-referrer',
  };
}

export const newNonce = () => randomBytes(16).toString('base64url');

/** Sets the headers of a page and returns the nonce its styles carry. */
export function pageHeaders(res: Response): string {
  const nonce = newNonce();
  res.set(pageHeaderValues(nonce));
  return nonce;
}

export function sendPage(res: Response, status: number, title: string, detail: string): void {
  if (res.headersSent) return;
  const nonce = pageHeaders(res);
  res.status(status).type('html').send(page({ title, nonce, body: `<p role="alert">${escapeHtml(detail)}</p>` }));
}

/** A form field's value when it was sent once as a string, else ''. */
export const formValue = (req: Request, name: string) => (typeof req.body?.[name] === 'string' ? (req.body[name] as string) : '');

export type CsrfGuard = {
  /** The token for forms acting on `binding` (an interaction, a reset link), setting the cookie when missing. */
  token(req: Request, res: Response, binding: string): string;
  /** Throws a 403 page unless the form carries the token for `binding`. */
  check(req: Request, binding: string): void;
};

/**
 * Double-submit CSRF tokens: a random cookie (HttpOnly, SameSite=Lax, Secure behind TLS) and, in each form, an
 * HMAC of that cookie and of what the form acts on, keyed from SECRET, so a token is good for one browser and
 * one interaction (or link) only.
 */
export function csrfGuard(secret: string, opts: { cookie: string; path: string }): CsrfGuard {
  const key = Buffer.from(hkdfSync('sha256', secret, 'roster', 'roster sign-in csrf v1', 32));
  const mac = (cookie: string, binding: string) => createHmac('sha256', key).update(`${binding}.${cookie}`).digest('base64url');
  const cookieOf = (req: Request) => {
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const [k, ...v] = part.trim().split('=');
      if (k === opts.cookie) return v.join('=');
    }
    return undefined;
  };
  return {
    token(req, res, binding) {
      let cookie = cookieOf(req);
      if (!cookie || !/^[\w-]{32,64}$/.test(cookie)) {
        cookie = randomBytes(24).toString('base64url');
        res.append('Set-Cookie', `${opts.cookie}=${cookie}; Path=${opts.path}; HttpOnly; SameSite=Lax${req.secure ? '; Secure' : ''}`);
        (req.headers as Record<string, string>).cookie = `${req.headers.cookie ? `${req.headers.cookie}; ` : ''}${opts.cookie}=${cookie}`;
      }
      return mac(cookie, binding);
    },
    check(req, binding) {
      const cookie = cookieOf(req);
      const given = Buffer.from(formValue(req, '_csrf'));
      const want = Buffer.from(cookie ? mac(cookie, binding) : '');
      if (!cookie || given.length !== want.length || !timingSafeEqual(given, want)) {
        throw new PageError(403, 'This form has expired', 'Go back to the application and start again.');
      }
    },
  };
}

/** The last handlers of a form app: a 404 page, and every error as a page (never a stack trace). */
export function pageErrors(app: express.Express, logger: Logger, known: (err: unknown) => PageError | undefined = () => undefined): void {
  app.use((_req: Request, res: Response) => { sendPage(res, 404, 'Page not found', 'There is no page here. Return to the application and start again.'); });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const page = err instanceof PageError ? err : known(err);
    if (page) return sendPage(res, page.status, page.message, page.detail);
    const status = (err as { status?: number }).status;
    if (status && status >= 400 && status < 500) return sendPage(res, status, 'This request could not be read', 'Return to the application and start again.');
    ((req as { log?: Logger }).log ?? logger).error({ err }, 'unexpected error on a sign-in page');
    sendPage(res, 500, 'Something went wrong', 'This failed on our side. Try again in a moment.');
  });
}

/** What a throttled person is told: how long to wait, never more. */
export const waitMessage = (seconds: number) => `Too many attempts. For your security, wait ${Math.ceil(seconds / 60)} minute${seconds > 60 ? 's' : ''} and try again.`;
