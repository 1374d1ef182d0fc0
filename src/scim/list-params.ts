// List and search parameters (RFC 7644 sections 3.4.2 and 3.4.3), from a query string or a SearchRequest body.
import { invalidValue } from './errors.ts';

export const SEARCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
export const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';

/** Advertised in /ServiceProviderConfig as filter.maxResults and enforced here. */
export const MAX_RESULTS = 1000;
export const DEFAULT_COUNT = 100;

export type ListParams = {
  filter?: string;
  startIndex: number;
  count: number;
  sortBy?: string;
  descending: boolean;
  attributes?: string;
  excludedAttributes?: string;
};

function integer(name: string, raw: unknown, fallback: number): number {
  if (raw === undefined || raw === null || raw === '') return fallback;
  const n = typeof raw === 'number' ? raw : /^-?\d+$/.test(String(raw).trim()) ? Number(String(raw).trim()) : NaN;
  if (!Number.isSafeInteger(n)) throw invalidValue(`${name} must be an integer`);
  return n;
}

function text(name: string, raw: unknown): string | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (Array.isArray(raw) && raw.every((x) => typeof x === 'string')) return raw.join(','); // attributes as a JSON array
  if (typeof raw !== 'string') throw invalidValue(`${name} must be a string`);
  return raw;
}

/** Reads parameters case-insensitively (Entra and Okta agree on the names, not always on their case). */
export function parseListParams(source: Record<string, unknown>): ListParams {
  const get = (name: string) => {
    const key = Object.keys(source).find((k) => k.toLowerCase() === name.toLowerCase());
    return key === undefined ? undefined : source[key];
  };
  const sortOrder = text('sortOrder', get('sortOrder'));
  if (sortOrder && !/^(ascending|descending)$/i.test(sortOrder)) throw invalidValue('sortOrder must be "ascending" or "descending"');
  const startIndex = Math.max(1, integer('startIndex', get('startIndex'), 1)); // below 1 means 1 (RFC 7644 3.4.2.4)
  const count = Math.min(MAX_RESULTS, Math.max(0, integer('count', get('count'), DEFAULT_COUNT))); // negative means 0
  return {
    filter: text('filter', get('filter')),
    startIndex,
    count,
    sortBy: text('sortBy', get('sortBy')),
    descending: /^descending$/i.test(sortOrder ?? ''),
    attributes: text('attributes', get('attributes')),
    excludedAttributes: text('excludedAttributes', get('excludedAttributes')),
  };
}

export function listResponse(total: number, startIndex: number, resources: unknown[]) {
  return { schemas: [LIST_SCHEMA], totalResults: total, startIndex, itemsPerPage: resources.length, Resources: resources };
}
