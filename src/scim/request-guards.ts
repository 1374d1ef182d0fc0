// Checks every SCIM request passes before a handler sees it: a URL that decodes, a body that is UTF-8 and no
// deeper than any SCIM document needs. Handlers and the helpers under them (normalisation, PATCH, bulkId
// references) walk bodies recursively; bounding the depth here keeps a hostile body from overflowing the stack.
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { invalidSyntax, invalidValue } from './errors.ts';

/** A SCIM resource needs fewer than 10 levels (an enterprise manager in a PATCH value: 6); a Bulk adds 3. */
export const MAX_BODY_DEPTH = 32;

/** True when `value` has containers nested more than `max` levels deep. Iterative: any depth is safe to measure. */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: { v: unknown; depth: number }[] = [{ v: value, depth: 1 }];
  for (let top = stack.pop(); top; top = stack.pop()) {
    if (typeof top.v !== 'object' || top.v === null) continue;
    if (top.depth > max) return true;
    for (const child of Array.isArray(top.v) ? top.v : Object.values(top.v)) {
      if (typeof child === 'object' && child !== null) stack.push({ v: child, depth: top.depth + 1 });
    }
  }
  return false;
}

/** True when every %XX sequence in `uri` is complete and they spell well-formed UTF-8. */
export function isDecodableUri(uri: string): boolean {
  try {
    decodeURIComponent(uri);
    return true;
  } catch (err) {
    if (err instanceof URIError) return false;
    throw err;
  }
}

/** A URL with a broken %-sequence (`/Users/%FF%FE`, `/Groups/%`) is refused before routing; the router would throw. */
export function refuseUndecodableUrl(req: Request, _res: Response, next: NextFunction): void {
  next(isDecodableUri(req.url) ? undefined : invalidValue('the request URL is not valid percent-encoded UTF-8'));
}

/**
 * express.json's `verify` hook: the raw body must be UTF-8 (RFC 8259 section 8.1). Without it, invalid bytes
 * would be decoded to U+FFFD and stored. A thrown error with a 4xx status reaches the error handler as it is.
 */
export function verifyUtf8Body(_req: IncomingMessage, _res: ServerResponse, body: Buffer, encoding: string | null): void {
  if (encoding !== null && encoding !== 'utf-8') { // body-parser lets any utf-* through (utf-16, utf-32)
    throw invalidSyntax(`the request body must be UTF-8, not ${encoding}`);
  }
  if (!isUtf8(body)) throw invalidSyntax('the request body is not valid UTF-8');
}

/** After the body is parsed: anything nested deeper than MAX_BODY_DEPTH is refused. */
export function refuseDeepBody(req: Request, _res: Response, next: NextFunction): void {
  next(nestedDeeperThan(req.body, MAX_BODY_DEPTH) ? invalidSyntax(`the request body is nested more than ${MAX_BODY_DEPTH} levels deep`) : undefined);
}
