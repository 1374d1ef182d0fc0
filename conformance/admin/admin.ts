// Assertion helpers shared by the case files: statuses, JSON and problem+json answers, lists.
import assert from 'node:assert/strict';
import type { Res } from './client.ts';

/** The permissions of the built-in roles, as the API documents them. */
export const PERMISSIONS = ['roster.view', 'members.manage', 'roles.manage', 'org.manage', 'activity.view', 'billing.manage', 'org.own'] as const;

/** One-line summary of an answer for assertion messages. */
export function describe(res: Res): string {
  const body = res.text.length > 300 ? `${res.text.slice(0, 300)}…` : res.text;
  return `${res.method} ${res.path} -> ${res.status} ${body}`;
}

export function expectStatus(res: Res, ...expected: number[]): void {
  if (!expected.includes(res.status)) assert.fail(`expected HTTP ${expected.join(' or ')}, got ${describe(res)}`);
}

/** `status` (200 unless given) with an application/json object body; returns the body. */
export function expectJson(res: Res, status = 200): any {
  expectStatus(res, status);
  const ct = res.headers.get('content-type') ?? '';
  assert.ok(/^application\/json\b/i.test(ct), `Content-Type should be application/json, got "${ct}" (${res.method} ${res.path})`);
  assert.ok(res.body !== null && typeof res.body === 'object', `the body should be a JSON object: ${describe(res)}`);
  return res.body;
}

/** 204 with no body. */
export function expectNoContent(res: Res): void {
  expectStatus(res, 204);
  assert.equal(res.text, '', `a 204 has no body: ${describe(res)}`);
}

/**
 * An RFC 9457 problem: the status, Content-Type application/problem+json, `type`, `title`, `status` equal to
 * the HTTP status, and a `code` (one of `codes` when given). Returns the body.
 */
export function expectProblem(res: Res, status: number, codes?: string | string[]): any {
  expectStatus(res, status);
  const ct = res.headers.get('content-type') ?? '';
  assert.ok(/^application\/problem\+json\b/i.test(ct), `Content-Type should be application/problem+json, got "${ct}": ${describe(res)}`);
  const b = res.body;
  assert.ok(b !== null && typeof b === 'object' && !Array.isArray(b), `a problem is a JSON object: ${describe(res)}`);
  assert.equal(typeof b.type, 'string', `a problem has a "type": ${describe(res)}`);
  assert.equal(typeof b.title, 'string', `a problem has a "title": ${describe(res)}`);
  assert.equal(b.status, status, `the problem's "status" should be ${status}: ${describe(res)}`);
  assert.ok(typeof b.code === 'string' && b.code.length > 0, `a problem has a "code": ${describe(res)}`);
  if (codes !== undefined) {
    const allowed = Array.isArray(codes) ? codes : [codes];
    assert.ok(allowed.includes(b.code), `code should be ${allowed.join(' or ')}, got ${JSON.stringify(b.code)}: ${describe(res)}`);
  }
  if (status === 400 && b.errors !== undefined) {
    assert.ok(Array.isArray(b.errors) && b.errors.every((e: any) => typeof e?.field === 'string' && typeof e?.message === 'string'),
      `a 400's "errors" is a list of {field, message}: ${describe(res)}`);
  }
  return b;
}

/** A refused request for bad input: 400 with invalid_request (schema) or invalid_value (a rule), naming what is wrong. */
export function expectBadRequest(res: Res, codes: string | string[] = ['invalid_request', 'invalid_value']): any {
  const b = expectProblem(res, 400, codes);
  assert.ok(Array.isArray(b.errors) && b.errors.length > 0, `a 400 lists what is wrong in "errors": ${describe(res)}`);
  return b;
}

/** 200 and a list: {items: [...], total: number | null, nextCursor: string | null}. Returns the items. */
export function expectList(res: Res): any[] {
  const b = expectJson(res, 200);
  assert.ok(Array.isArray(b.items), `a list has "items": ${describe(res)}`);
  assert.ok(b.total === null || (Number.isInteger(b.total) && b.total >= b.items.length), `a list's "total" is null or a count >= items: ${describe(res)}`);
  assert.ok(b.nextCursor === null || (typeof b.nextCursor === 'string' && b.nextCursor.length > 0), `a list's "nextCursor" is null or a string: ${describe(res)}`);
  return b.items;
}

export function isDate(v: unknown): boolean {
  return typeof v === 'string' && !Number.isNaN(Date.parse(v));
}

export const ids = (items: { id: string }[]): string[] => items.map((i) => i.id).sort();
