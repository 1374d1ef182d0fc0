// PATCH paths (RFC 7644 section 3.5.2): attrPath, or valuePath "attr[filter]" optionally followed by ".subAttr".
// Also the in-memory evaluation of a value filter against the elements of one resource's own array.
import type { AttrExp, Filter } from 'scim2-parse-filter';
import { parseFilter } from './filter.ts';
import { resolvePath, type ResolvedPath } from './attribute-path.ts';
import { invalidFilter, invalidPath } from './errors.ts';
import { type Attribute, findAttribute } from './schemas/model.ts';
import type { ResourceType } from './schemas/resource-types.ts';

export type PatchPath = ResolvedPath & { filter: Filter | null };

export function parsePatchPath(type: ResourceType, text: string): PatchPath {
  const open = text.indexOf('[');
  if (open < 0) {
    const r = resolvePath(type, text.trim());
    if (!r) throw invalidPath(`unknown attribute path ${JSON.stringify(text)}`);
    return { ...r, filter: null };
  }
  const close = text.lastIndexOf(']');
  if (close < open) throw invalidPath(`malformed path ${JSON.stringify(text)}`);
  const r = resolvePath(type, text.slice(0, open).trim());
  if (!r || r.sub || !r.attribute.multiValued || r.attribute.type !== 'complex') {
    throw invalidPath(`${JSON.stringify(text)} does not name a multi-valued complex attribute`);
  }
  const filter = parseFilter(text.slice(open + 1, close));
  const tail = text.slice(close + 1);
  let sub: Attribute | null = null;
  if (tail !== '') {
    if (!tail.startsWith('.')) throw invalidPath(`malformed path ${JSON.stringify(text)}`);
    sub = findAttribute(r.attribute.subAttributes, tail.slice(1)) ?? null;
    if (!sub) throw invalidPath(`unknown sub-attribute in ${JSON.stringify(text)}`);
  }
  checkFilterAttributes(r.attribute, filter);
  return { ...r, sub, filter };
}

function checkFilterAttributes(attribute: Attribute, f: Filter): void {
  if (f.op === 'and' || f.op === 'or') return f.filters.forEach((x) => checkFilterAttributes(attribute, x));
  if (f.op === 'not') return checkFilterAttributes(attribute, f.filter);
  if (f.op === '[]') throw invalidFilter('value filters cannot be nested');
  const { attrPath } = f as AttrExp;
  if (!findAttribute(attribute.subAttributes, attrPath)) throw invalidFilter(`unknown sub-attribute ${JSON.stringify(attrPath)} of ${attribute.name}`);
}

function compareValues(sub: Attribute | undefined, c: { actual: unknown; op: string; expected: unknown }): boolean {
  const { actual: a, op, expected: b } = c;
  if (a === undefined || a === null) return op === 'ne' ? b !== null : b === null && op === 'eq';
  let x: unknown = a;
  let y: unknown = b;
  if (typeof x === 'string' && typeof y === 'string' && !sub?.caseExact) { x = x.toLowerCase(); y = y.toLowerCase(); }
  if (typeof x === 'boolean' && typeof y === 'string') y = y.toLowerCase() === 'true';
  switch (op) {
    case 'eq': return x === y;
    case 'ne': return x !== y;
    case 'co': return typeof x === 'string' && typeof y === 'string' && x.includes(y);
    case 'sw': return typeof x === 'string' && typeof y === 'string' && x.startsWith(y);
    case 'ew': return typeof x === 'string' && typeof y === 'string' && x.endsWith(y);
    case 'gt': return (x as number) > (y as number);
    case 'ge': return (x as number) >= (y as number);
    case 'lt': return (x as number) < (y as number);
    case 'le': return (x as number) <= (y as number);
    default: throw invalidFilter(`unknown operator ${op}`);
  }
}

/** Does one element of a multi-valued attribute match the value filter? */
export function matchesElement(attribute: Attribute, f: Filter, element: unknown): boolean {
  if (f.op === 'and') return f.filters.every((x) => matchesElement(attribute, x, element));
  if (f.op === 'or') return f.filters.some((x) => matchesElement(attribute, x, element));
  if (f.op === 'not') return !matchesElement(attribute, f.filter, element);
  if (f.op === '[]') return false;
  const { attrPath } = f as AttrExp;
  const sub = findAttribute(attribute.subAttributes, attrPath);
  const value = element && typeof element === 'object' ? (element as Record<string, unknown>)[sub?.name ?? attrPath] : undefined;
  const op = String(f.op).toLowerCase();
  if (op === 'pr') return value !== undefined && value !== null && value !== '';
  return compareValues(sub, { actual: value, op, expected: (f as { compValue: unknown }).compValue });
}

/** The sub-attribute values a filter pins with `eq` (joined by `and`): what a new matching element starts with. */
export function seedFromFilter(attribute: Attribute, f: Filter): Record<string, unknown> {
  if (f.op === 'and') return Object.assign({}, ...f.filters.map((x) => seedFromFilter(attribute, x)));
  if (f.op === 'eq') {
    const sub = findAttribute(attribute.subAttributes, f.attrPath);
    if (sub) return { [sub.name]: f.compValue };
  }
  return {};
}
