// SCIM filter text -> syntax tree (scim2-parse-filter) -> the directory's Predicate, checked against the schema.
// An unknown attribute, a malformed filter or a comparison the attribute's type cannot make is 400 invalidFilter.
import { type Filter, parse } from 'scim2-parse-filter';
import type { CompareOp, Field, Predicate, Scalar, Sort, ValueType } from '../directory/predicate.ts';
import { resolvePath, type ResolvedPath } from './attribute-path.ts';
import { invalidFilter, ScimError } from './errors.ts';
import type { Attribute } from './schemas/model.ts';
import type { ResourceType } from './schemas/resource-types.ts';
import type { ListParams } from './list-params.ts';
import { parseProjection } from './projection.ts';

/**
 * How a resource type's attributes are stored: the directory field of each single-valued attribute (keyed by
 * its path: "name.givenName", "<extension urn>:department"), the directory document of each multi-valued one,
 * a relation, and the document (if any) that keeps every other attribute under its SCIM key.
 */
export type StorageMap = {
  columns: Record<string, { name: string; type: ValueType }>;
  lists?: Record<string, string>;
  relation?: { attribute: string; name: string };
  rest?: string;
};

/** Where a multi-valued attribute's array is stored, or null if it is not. */
function arrayOf(storage: StorageMap, r: ResolvedPath): { document: string; path: string[] } | null {
  const list = r.extension ? undefined : storage.lists?.[r.attribute.name];
  if (list) return { document: list, path: [] };
  return storage.rest ? { document: storage.rest, path: r.key } : null;
}

const columnKey = (r: ResolvedPath, sub: Attribute | null = r.sub) =>
  (r.extension ? `${r.extension}:` : '') + r.attribute.name + (sub ? `.${sub.name}` : '');

const compareOps = new Set(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']);

export function valueType(a: Attribute): ValueType {
  if (a.type === 'boolean') return 'boolean';
  if (a.type === 'dateTime') return 'datetime';
  if (a.type === 'integer' || a.type === 'decimal') return 'number';
  return 'string';
}

/** An ISO 8601 date-time that PostgreSQL can hold (years 1 to 9999). */
export function isStorableDate(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return false;
  const year = new Date(t).getUTCFullYear();
  return year >= 1 && year <= 9999;
}

function describe(path: string): string {
  return JSON.stringify(path);
}

export const MAX_FILTER_DEPTH = 32;
/**
 * Comparisons (and value paths) in one filter. Each can cost a scan of the organisation's members, so this bounds
 * the database work one request causes. Okta and Entra send one comparison, at times a handful joined by and/or.
 */
export const MAX_FILTER_COMPARISONS = 20;

/** Deepest bracket nesting in filter text whose literals are masked; checked before the (recursive) parser runs. */
function bracketDepth(masked: string): number {
  let depth = 0;
  let deepest = 0;
  for (const c of masked) {
    if (c === '(' || c === '[') deepest = Math.max(deepest, ++depth);
    else if (c === ')' || c === ']') depth--;
  }
  return deepest;
}

/** Comparisons and value paths in a syntax tree, counted without recursion. */
function comparisonCount(root: Filter): number {
  let n = 0;
  const stack = [root];
  for (let f = stack.pop(); f; f = stack.pop()) {
    if (f.op === 'and' || f.op === 'or') stack.push(...f.filters);
    else if (f.op === 'not') stack.push(f.filter);
    else if (f.op === '[]') { n++; stack.push(f.valFilter); }
    else n++;
  }
  return n;
}

/**
 * Parses filter text into a syntax tree. String literals are JSON strings (RFC 7644 3.4.2.2), so `\\` is one
 * backslash and `\u0062` is "b"; a literal that is not valid JSON (Windows' `DOMAIN\user`) is taken as written.
 * scim2-parse-filter reads backslashes its own way, so literals are lifted out before it parses and put back after.
 */
export function parseFilter(text: string): Filter {
  if (text.length > 10_000) throw invalidFilter('the filter is too long');
  const literals: string[] = [];
  let masked = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '"') { masked += text[i]; continue; }
    let j = i + 1;
    while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
    if (j >= text.length) throw invalidFilter('the filter has an unterminated string');
    literals.push(decodeLiteral(text.slice(i, j + 1)));
    masked += `"s${literals.length - 1}"`;
    i = j;
  }
  if (bracketDepth(masked) > MAX_FILTER_DEPTH) throw invalidFilter(`the filter is nested more than ${MAX_FILTER_DEPTH} levels deep`);
  let ast: Filter;
  try {
    ast = parse(masked);
  } catch (err) {
    throw invalidFilter(`the filter could not be parsed: ${(err as Error).message}`);
  }
  if (comparisonCount(ast) > MAX_FILTER_COMPARISONS) {
    throw invalidFilter(`the filter has more than ${MAX_FILTER_COMPARISONS} comparisons; split it into several requests`);
  }
  return restoreLiterals(ast, literals, 0);
}

function decodeLiteral(quoted: string): string {
  let value: string;
  try {
    value = JSON.parse(quoted) as string;
  } catch {
    // Not JSON: the client meant the characters as written (only \" is an escape).
    value = quoted.slice(1, -1).replace(/\\"/g, '"');
  }
  if (value.includes('\u0000')) throw invalidFilter('a filter value cannot contain a NUL character');
  if (!value.isWellFormed()) throw invalidFilter('a filter value is not well-formed Unicode (a lone surrogate)');
  return value;
}

function restoreLiterals(f: Filter, literals: string[], depth: number): Filter {
  if (depth > MAX_FILTER_DEPTH) throw invalidFilter(`the filter is nested more than ${MAX_FILTER_DEPTH} levels deep`);
  switch (f.op) {
    case 'and':
    case 'or':
      return { ...f, filters: f.filters.map((x) => restoreLiterals(x, literals, depth + 1)) };
    case 'not':
      return { ...f, filter: restoreLiterals(f.filter, literals, depth + 1) };
    case '[]':
      return { ...f, valFilter: restoreLiterals(f.valFilter, literals, depth + 1) };
    case 'pr':
      return f;
    default: {
      const m = typeof f.compValue === 'string' ? /^s(\d+)$/.exec(f.compValue) : null;
      return m ? { ...f, compValue: literals[Number(m[1])] } : f;
    }
  }
}

/** Parses filter text into a Predicate; any failure is invalidFilter. */
export function compileFilter(type: ResourceType, storage: StorageMap, text: string): Predicate {
  return toPredicate(type, storage, parseFilter(text));
}

function toPredicate(type: ResourceType, storage: StorageMap, f: Filter): Predicate {
  switch (f.op) {
    case 'and':
    case 'or':
      return { op: f.op, items: f.filters.map((x) => toPredicate(type, storage, x)) };
    case 'not':
      return { op: 'not', item: toPredicate(type, storage, f.filter) };
    case '[]':
      return valuePath(type, storage, f);
    default: {
      const op = String(f.op).toLowerCase();
      if (op !== 'pr' && !compareOps.has(op)) throw invalidFilter(`unknown operator ${f.op}`);
      const resolved = resolvePath(type, f.attrPath);
      if (!resolved) throw invalidFilter(`unknown attribute ${describe(f.attrPath)}`);
      const value = op === 'pr' ? null : ((f as { compValue: Scalar }).compValue ?? null);
      return comparison(storage, { r: resolved, op: op as CompareOp | 'pr', value, path: f.attrPath });
    }
  }
}

/** One comparison of an attribute (as `path` named it) with a value, or a presence test. */
function comparison(storage: StorageMap, c: { r: ResolvedPath; op: CompareOp | 'pr'; value: Scalar; path: string }): Predicate {
  const { r, op, value, path } = c;
  const { attribute, sub } = r;
  if (attribute.returned === 'never') throw invalidFilter(`${describe(path)} cannot be filtered on`);
  if (storage.relation && attribute.name === storage.relation.attribute) {
    if (sub && sub.name !== 'value') throw invalidFilter(`only ${attribute.name}.value can be filtered on`);
    if (op === 'pr') return { op: 'pr', field: { kind: 'relation', name: storage.relation.name } };
    if (op !== 'eq') throw invalidFilter(`${attribute.name}.value supports only eq and pr`);
    return { op: 'related', relation: storage.relation.name, id: typeof value === 'string' ? value : null };
  }
  const column = storage.columns[columnKey(r)];
  if (column) {
    const field: Field = { kind: 'column', name: column.name, type: column.type, caseExact: (sub ?? attribute).caseExact };
    return op === 'pr' ? { op: 'pr', field } : checked({ op, field, value }, path);
  }
  const cannot = () => invalidFilter(`${describe(path)} cannot be filtered on`);
  if (attribute.name === 'meta') throw cannot();
  if (attribute.multiValued) {
    const array = arrayOf(storage, r);
    if (!array) throw cannot();
    if (op === 'pr' && !sub) return { op: 'pr', field: { kind: 'document', ...array, type: 'string', caseExact: false } };
    const target = sub ?? attribute.subAttributes?.find((s) => s.name === 'value') ?? (attribute.type === 'complex' ? null : attribute);
    if (!target) throw invalidFilter(`${describe(path)} needs a sub-attribute`);
    const field: Field = { kind: 'element', sub: attribute.type === 'complex' ? target.name : null, type: valueType(target), caseExact: target.caseExact };
    return { op: 'any', ...array, where: op === 'pr' ? { op: 'pr', field } : checked({ op, field, value }, path) };
  }
  if (attribute.type === 'complex' && !sub) {
    if (op !== 'pr') throw invalidFilter(`${describe(path)} is complex: filter on one of its sub-attributes`);
    // Present when any of its stored sub-attributes is.
    const stored = (attribute.subAttributes ?? []).map((s) => storage.columns[columnKey(r, s)]).filter((c) => c !== undefined);
    if (stored.length) return { op: 'or', items: stored.map((c) => ({ op: 'pr', field: { kind: 'column', name: c.name, type: c.type, caseExact: false } })) };
    if (!storage.rest) throw cannot();
    return { op: 'pr', field: { kind: 'document', document: storage.rest, path: r.key, type: 'string', caseExact: false } };
  }
  if (!storage.rest) throw cannot();
  const target = sub ?? attribute;
  const field: Field = { kind: 'document', document: storage.rest, path: sub ? [...r.key, sub.name] : r.key, type: valueType(target), caseExact: target.caseExact };
  return op === 'pr' ? { op: 'pr', field } : checked({ op, field, value }, path);
}

/** Type checks that the database would otherwise make late (or not at all). */
function checked(p: { op: CompareOp; field: Field; value: Scalar }, path: string): Predicate {
  if (p.field.kind === 'relation') return p;
  const t = p.field.type;
  const v = p.value;
  const fail = (why: string): never => { throw invalidFilter(`${describe(path)} ${why}`); };
  if (v === null && p.op !== 'eq' && p.op !== 'ne') fail(`cannot be compared with null by ${p.op}`);
  if (t === 'boolean' && v !== null) {
    if (p.op !== 'eq' && p.op !== 'ne') fail('is a boolean: only eq, ne and pr apply');
    if (typeof v === 'string' && /^(true|false)$/i.test(v)) return { ...p, value: v.toLowerCase() === 'true' };
    if (typeof v !== 'boolean') fail('is a boolean: compare with true or false');
  }
  if (t === 'datetime' && v !== null && !isStorableDate(v)) fail('is a dateTime: compare with an ISO 8601 string between the years 1 and 9999');
  if (t === 'number' && v !== null && typeof v !== 'number') fail('is a number: compare with a number');
  if ((t === 'string' || t === 'uuid') && v !== null && typeof v !== 'string') {
    if (typeof v === 'number') return { ...p, value: String(v) };
    fail('is a string: compare with a string');
  }
  return p;
}

/** attr[filter]: some element of a multi-valued attribute satisfies the inner filter. */
function valuePath(type: ResourceType, storage: StorageMap, f: { attrPath: string; valFilter: Filter }): Predicate {
  const { attrPath, valFilter: inner } = f;
  const r = resolvePath(type, attrPath);
  if (!r || r.sub) throw invalidFilter(`unknown multi-valued attribute ${describe(attrPath)}`);
  if (storage.relation && r.attribute.name === storage.relation.attribute) {
    return relationFilter(storage.relation.name, inner);
  }
  const array = r.attribute.multiValued && r.attribute.type === 'complex' ? arrayOf(storage, r) : null;
  if (!array) throw invalidFilter(`${describe(attrPath)} is not a multi-valued complex attribute`);
  return { op: 'any', ...array, where: elementPredicate(r.attribute, inner) };
}

function elementPredicate(attribute: Attribute, f: Filter): Predicate {
  switch (f.op) {
    case 'and':
    case 'or':
      return { op: f.op, items: f.filters.map((x) => elementPredicate(attribute, x)) };
    case 'not':
      return { op: 'not', item: elementPredicate(attribute, f.filter) };
    case '[]':
      throw invalidFilter('value filters cannot be nested');
    default: {
      const sub = attribute.subAttributes?.find((s) => s.name.toLowerCase() === f.attrPath.toLowerCase());
      if (!sub) throw invalidFilter(`unknown sub-attribute ${describe(f.attrPath)} of ${attribute.name}`);
      const field: Field = { kind: 'element', sub: sub.name, type: valueType(sub), caseExact: sub.caseExact };
      const op = String(f.op).toLowerCase();
      if (op === 'pr') return { op: 'pr', field };
      if (!compareOps.has(op)) throw invalidFilter(`unknown operator ${f.op}`);
      return checked({ op: op as CompareOp, field, value: (f as { compValue: Scalar }).compValue ?? null }, `${attribute.name}.${sub.name}`);
    }
  }
}

/** members[value eq "id" or value eq "id2"] and the like. */
function relationFilter(relation: string, f: Filter): Predicate {
  if (f.op === 'and' || f.op === 'or') return { op: f.op, items: f.filters.map((x) => relationFilter(relation, x)) };
  if (f.op === 'not') return { op: 'not', item: relationFilter(relation, f.filter) };
  if (f.op === 'eq' && f.attrPath.toLowerCase() === 'value') {
    return { op: 'related', relation, id: typeof f.compValue === 'string' ? f.compValue : null };
  }
  throw invalidFilter('members can be filtered only by value eq "<id>"');
}

/** sortBy -> Sort. Multi-valued attributes sort by their primary value (RFC 7644 section 3.4.2.3). */
export function compileSort(type: ResourceType, storage: StorageMap, by: { sortBy: string; descending: boolean }): Sort {
  const { sortBy, descending } = by;
  const r = resolvePath(type, sortBy);
  if (!r) throw new ScimError(400, 'invalidValue', `unknown sortBy attribute ${describe(sortBy)}`);
  const cannot = () => new ScimError(400, 'invalidValue', `cannot sort by ${describe(sortBy)}`);
  if (r.attribute.multiValued) {
    const array = r.attribute.type === 'complex' && !(storage.relation && r.attribute.name === storage.relation.attribute) ? arrayOf(storage, r) : null;
    if (!array) throw cannot();
    return { primaryOf: array, sub: r.sub?.name ?? 'value', descending };
  }
  if (r.attribute.type === 'complex' && !r.sub) throw cannot();
  let p: Predicate;
  try {
    p = comparison(storage, { r, op: 'pr', value: null, path: sortBy });
  } catch (err) {
    if (err instanceof ScimError && err.scimType === 'invalidFilter') throw cannot();
    throw err;
  }
  if (p.op !== 'pr' || p.field.kind === 'relation') throw cannot();
  return { field: p.field, descending };
}

/** List parameters -> the directory's query: filter, sort and page, plus the projection to answer with. */
export function listQueryOf(type: ResourceType, storage: StorageMap, params: ListParams) {
  return {
    projection: parseProjection(type, params.attributes, params.excludedAttributes),
    where: params.filter ? compileFilter(type, storage, params.filter) : undefined,
    sort: params.sortBy ? compileSort(type, storage, { sortBy: params.sortBy, descending: params.descending }) : undefined,
    offset: params.startIndex - 1,
    limit: params.count,
  };
}
