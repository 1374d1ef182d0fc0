// A protocol-neutral query predicate, compiled here into one parameterised SQL condition.
// The doors build a Predicate (a filter of theirs, a search); only this file turns it into SQL.
import type { Knex } from 'knex';
import { Invalid } from './errors.ts';

export type ValueType = 'string' | 'boolean' | 'number' | 'datetime' | 'uuid';
export type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';
export type Scalar = string | number | boolean | null;

/**
 * Where a value lives. `column` names are the entity's field names, not SQL; `document` names one of its
 * structured (jsonb) fields, and `path` a place inside it ([] for the document itself).
 */
export type Field =
  | { kind: 'column'; name: string; type: ValueType; caseExact: boolean }
  | { kind: 'document'; document: string; path: string[]; type: ValueType; caseExact: boolean }
  | { kind: 'element'; sub: string | null; type: ValueType; caseExact: boolean }
  | { kind: 'relation'; name: string };

export type Predicate =
  | { op: 'and' | 'or'; items: Predicate[] }
  | { op: 'not'; item: Predicate }
  | { op: CompareOp; field: Field; value: Scalar }
  | { op: 'pr'; field: Field }
  /** Some element of the array at `path` in `document` satisfies `where` (whose fields are `element`s). */
  | { op: 'any'; document: string; path: string[]; where: Predicate | null }
  /** Some related row (e.g. a group's member) has this id. */
  | { op: 'related'; relation: string; id: string | null };

export type Sort =
  | { field: Field; descending: boolean }
  /** By a sub-field of the primary (else the first) element of an array. */
  | { primaryOf: { document: string; path: string[] }; sub: string; descending: boolean };

/** How one table exposes its fields: SQL column per field name, jsonb column per document, related-row lookups. */
export type TableMap = {
  alias: string;
  columns: Record<string, string>;
  /** Column fields whose SQL truth is `status = 'active'` rather than a boolean column. */
  statusBoolean?: Record<string, string>;
  documents?: Record<string, string>;
  relations?: Record<string, (id: string) => Knex.Raw>;
  relationPresent?: Record<string, () => Knex.Raw>;
};

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: unknown): s is string => typeof s === 'string' && uuidPattern.test(s);

type Sql = { sql: string; bindings: Knex.Value[] };

/** Compiling inside a value filter: `element` is the alias of the array element being tested. */
type Scope = { map: TableMap; element: string | null };

export function compilePredicate(map: TableMap, p: Predicate, knex: Knex): Knex.Raw {
  const { sql, bindings } = compile({ map, element: null }, p);
  return knex.raw(sql, bindings);
}

function compile(scope: Scope, p: Predicate): Sql {
  const { map, element } = scope;
  switch (p.op) {
    case 'and':
    case 'or': {
      const parts = p.items.map((i) => compile(scope, i));
      return {
        sql: '(' + parts.map((x) => x.sql).join(p.op === 'and' ? ' and ' : ' or ') + ')',
        bindings: parts.flatMap((x) => x.bindings),
      };
    }
    case 'not': {
      const inner = compile(scope, p.item);
      return { sql: `(not coalesce(${inner.sql}, false))`, bindings: inner.bindings };
    }
    case 'any': {
      const arr = jsonPath(map, p.document, p.path);
      const alias = 'e' + (element ? element.length : 0);
      const where = p.where ? compile({ map, element: alias }, p.where) : { sql: 'true', bindings: [] };
      return {
        sql: `exists (select 1 from jsonb_array_elements(case when jsonb_typeof(${arr.sql}) = 'array' then ${arr.sql} else '[]'::jsonb end) as ${alias}(v) where ${where.sql})`,
        bindings: [...arr.bindings, ...arr.bindings, ...where.bindings],
      };
    }
    case 'related': {
      const fn = map.relations?.[p.relation];
      if (!fn) throw new Invalid(`unknown relation ${p.relation}`);
      if (!isUuid(p.id)) return { sql: 'false', bindings: [] };
      const raw = fn(p.id).toSQL();
      return { sql: raw.sql, bindings: [...raw.bindings] as Knex.Value[] };
    }
    case 'pr':
      return present(scope, p.field);
    default:
      return compare(scope, p);
  }
}

function documentColumn(map: TableMap, document: string): string {
  const col = map.documents?.[document];
  if (!col) throw new Invalid(`unknown field ${document}`);
  return `${map.alias}.${col}`;
}

/** The jsonb value at `path` in a document. */
function jsonPath(map: TableMap, document: string, path: string[]): Sql {
  const col = documentColumn(map, document);
  return path.length ? { sql: `(${col} #> ?::text[])`, bindings: [toPgArray(path)] } : { sql: col, bindings: [] };
}

function toPgArray(path: string[]): string {
  return '{' + path.map((s) => '"' + s.replace(/["\\]/g, (c) => '\\' + c) + '"').join(',') + '}';
}

/** The SQL expression of a scalar field, as text (document, element) or native (column). */
function expression(scope: Scope, field: Field): Sql & { native: boolean } {
  const { map, element } = scope;
  switch (field.kind) {
    case 'column': {
      const status = map.statusBoolean?.[field.name];
      if (status) return { sql: `(${map.alias}.${status} = 'active')`, bindings: [], native: true };
      const col = map.columns[field.name];
      if (!col) throw new Invalid(`unknown field ${field.name}`);
      return { sql: `${map.alias}.${col}`, bindings: [], native: true };
    }
    case 'document': {
      const col = documentColumn(map, field.document);
      if (!field.path.length) return { sql: `(${col} #>> '{}')`, bindings: [], native: false };
      return { sql: `(${col} #>> ?::text[])`, bindings: [toPgArray(field.path)], native: false };
    }
    case 'element': {
      if (!element) throw new Invalid('element field outside of a value filter');
      if (field.sub === null) return { sql: `(${element}.v #>> '{}')`, bindings: [], native: false };
      return { sql: `(${element}.v ->> ?)`, bindings: [field.sub], native: false };
    }
    case 'relation':
      throw new Invalid('a relation is not a scalar');
  }
}

function present(scope: Scope, field: Field): Sql {
  const { map } = scope;
  if (field.kind === 'relation') {
    const fn = map.relationPresent?.[field.name];
    if (!fn) throw new Invalid(`unknown relation ${field.name}`);
    const raw = fn().toSQL();
    return { sql: raw.sql, bindings: [...raw.bindings] as Knex.Value[] };
  }
  if (field.kind === 'document') {
    // Present: not null, not an empty string, not an empty array or object.
    const v = jsonPath(map, field.document, field.path);
    return {
      sql: `(coalesce(${v.sql} not in ('null'::jsonb, '""'::jsonb, '[]'::jsonb, '{}'::jsonb), false))`,
      bindings: v.bindings,
    };
  }
  const e = expression(scope, field);
  const notEmpty = field.type === 'string' ? ` and ${e.sql}::text <> ''` : '';
  return { sql: `(${e.sql} is not null${notEmpty})`, bindings: [...e.bindings, ...(notEmpty ? e.bindings : [])] };
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => '\\' + c);
}

function compare(scope: Scope, p: { op: CompareOp; field: Field; value: Scalar }): Sql {
  const { op, field, value } = p;
  const e = expression(scope, field);
  if (value === null) {
    if (op === 'eq') return { sql: `(${e.sql} is null)`, bindings: e.bindings };
    if (op === 'ne') return { sql: `(${e.sql} is not null)`, bindings: e.bindings };
    throw new Invalid(`operator ${op} cannot compare with null`);
  }
  const type = field.kind === 'relation' ? 'string' : field.type;
  const ordering = op === 'gt' || op === 'ge' || op === 'lt' || op === 'le';
  const substring = op === 'co' || op === 'sw' || op === 'ew';
  // `ne` is compiled as the negation of `eq`, so that it also matches where the attribute is absent.
  const sqlOp = { eq: '=', ne: '=', gt: '>', ge: '>=', lt: '<', le: '<=', co: 'like', sw: 'like', ew: 'like' }[op];

  if (type === 'boolean') {
    if (typeof value !== 'boolean') throw new Invalid(`a boolean attribute compares with true or false, not ${JSON.stringify(value)}`);
    if (op !== 'eq' && op !== 'ne') throw new Invalid(`operator ${op} does not apply to a boolean attribute`);
    const lhs = e.native ? e.sql : `(${e.sql})::boolean`;
    return finish(op, { sql: `(${lhs} = ?)`, bindings: [...e.bindings, value] });
  }
  if (type === 'number') {
    if (typeof value !== 'number') throw new Invalid(`a numeric attribute compares with a number`);
    if (substring) throw new Invalid(`operator ${op} does not apply to a number`);
    const lhs = e.native ? e.sql : `(${e.sql})::numeric`;
    return finish(op, { sql: `(${lhs} ${sqlOp} ?)`, bindings: [...e.bindings, value] });
  }
  if (type === 'datetime' && !substring) {
    const at = typeof value === 'string' ? new Date(value) : null;
    const year = at ? at.getUTCFullYear() : NaN;
    if (!at || !(year >= 1 && year <= 9999)) throw new Invalid('a dateTime attribute compares with an ISO 8601 date-time string between the years 1 and 9999');
    const lhs = e.native ? e.sql : `(${e.sql})::timestamptz`;
    return finish(op, { sql: `(${lhs} ${sqlOp} ?::timestamptz)`, bindings: [...e.bindings, at.toISOString()] });
  }
  if (typeof value !== 'string') throw new Invalid(`a string attribute compares with a string, not ${JSON.stringify(value)}`);
  if (type === 'uuid' && (op === 'eq' || op === 'ne') && e.native) {
    // An id that is not a UUID matches nothing (and must not reach PostgreSQL as a uuid cast).
    if (!isUuid(value)) return { sql: op === 'eq' ? 'false' : 'true', bindings: [] };
    return finish(op, { sql: `(${e.sql} = ?::uuid)`, bindings: [...e.bindings, value.toLowerCase()] });
  }
  const text = type === 'uuid' || type === 'datetime' ? `${e.sql}::text` : e.sql;
  const ci = field.kind === 'relation' || !field.caseExact || type === 'uuid';
  const lhs = ci ? `lower(${text})` : text;
  let rhs = value;
  if (op === 'co') rhs = `%${escapeLike(value)}%`;
  if (op === 'sw') rhs = `${escapeLike(value)}%`;
  if (op === 'ew') rhs = `%${escapeLike(value)}`;
  if (ordering && ci) rhs = value.toLowerCase();
  const rhsSql = ci ? 'lower(?)' : '?';
  return finish(op, { sql: `(${lhs} ${sqlOp} ${rhsSql}${substring ? " escape '\\'" : ''})`, bindings: [...e.bindings, rhs] });
}

function finish(op: CompareOp, s: Sql): Sql {
  return op === 'ne' ? { sql: `(not coalesce(${s.sql}, false))`, bindings: s.bindings } : s;
}

/** ORDER BY expression for a sort; ties are broken by the caller (created, id) so pages are stable. */
export function compileSort(map: TableMap, sort: Sort, knex: Knex): Knex.Raw {
  const dir = sort.descending ? 'desc nulls last' : 'asc nulls last';
  if ('primaryOf' in sort) {
    const arr = jsonPath(map, sort.primaryOf.document, sort.primaryOf.path);
    return knex.raw(
      `(select lower(e.v ->> ?) from jsonb_array_elements(case when jsonb_typeof(${arr.sql}) = 'array' then ${arr.sql} else '[]'::jsonb end) as e(v) order by (e.v ->> 'primary') = 'true' desc limit 1) ${dir}`,
      [sort.sub, ...arr.bindings, ...arr.bindings],
    );
  }
  const e = expression({ map, element: null }, sort.field);
  const ci = sort.field.kind !== 'relation' && !sort.field.caseExact && sort.field.type === 'string';
  return knex.raw(`${ci ? `lower(${e.sql})` : e.sql} ${dir}`, e.bindings);
}

/**
 * The exact total of a filtered list from one page of it: a page that is not full ends the list, so it tells
 * the total; only a full page (or one past the end) needs `count`, a query of its own.
 */
export async function totalOf(rows: number, page: { offset: number; limit: number }, count: () => Promise<number>): Promise<number> {
  return rows < page.limit && (rows > 0 || page.offset === 0) ? page.offset + rows : count();
}

/** One comparison (the shape of every lookup Okta and Entra make): a bounded set of statement texts. */
export function isSingleComparison(p: Predicate): boolean {
  return p.op !== 'and' && p.op !== 'or' && p.op !== 'not' && p.op !== 'any';
}

/**
 * Marks a statement to be prepared once per connection on PostgreSQL (see db.ts). Only for statements whose
 * text comes from a bounded set: no filter, or one comparison, and a sort from the schema.
 */
export function reuse<T extends Knex.QueryBuilder | Knex.Raw>(q: T): T {
  return q.options({ prepare: true }) as T;
}
