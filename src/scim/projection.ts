// `attributes` and `excludedAttributes` (RFC 7644 section 3.9), applied to a resource already built.
import { isExtensionUrn, resolvePath } from './attribute-path.ts';
import type { ResourceType } from './schemas/resource-types.ts';

type Path = string[];
export type Projection = { include: Path[] | null; exclude: Path[] };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function toPaths(type: ResourceType, list: string | undefined): Path[] {
  if (!list) return [];
  const out: Path[] = [];
  for (const raw of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    const extension = isExtensionUrn(type, raw);
    if (extension) { out.push([extension]); continue; } // the whole extension
    const r = resolvePath(type, raw);
    if (r) out.push(r.sub ? [...r.key, r.sub.name] : r.key); // unknown names are ignored, as RFC 7644 allows
  }
  return out;
}

export function parseProjection(type: ResourceType, attributes: string | undefined, excluded: string | undefined): Projection {
  const include = attributes ? toPaths(type, attributes) : null;
  return { include, exclude: include ? [] : toPaths(type, excluded) };
}

/** Whether the top-level attribute `key` (e.g. "members", "groups") is wanted: costly ones are loaded only then. */
export function wants(p: Projection, key: string): boolean {
  if (p.include) return p.include.some((path) => path[0] === key);
  return !p.exclude.some((path) => path.length === 1 && path[0] === key);
}

const alwaysReturned = new Set(['schemas', 'id']);

export function project(resource: Record<string, unknown>, p: Projection): Record<string, unknown> {
  if (p.include) {
    const out: Record<string, unknown> = {};
    for (const key of alwaysReturned) if (key in resource) out[key] = resource[key];
    for (const path of p.include) copyPath(resource, out, path);
    return out;
  }
  if (p.exclude.length === 0) return resource;
  const out = structuredClone(resource);
  for (const path of p.exclude) if (!alwaysReturned.has(path[0])) deletePath(out, path);
  return out;
}

function copyPath(from: Record<string, unknown>, to: Record<string, unknown>, path: Path): void {
  const [head, ...rest] = path;
  if (!(head in from)) return;
  const value = from[head];
  if (rest.length === 0) { to[head] = value; return; }
  if (Array.isArray(value)) {
    const existing = Array.isArray(to[head]) ? (to[head] as Record<string, unknown>[]) : value.map(() => ({}));
    value.forEach((v, i) => { if (isObject(v)) copyPath(v, existing[i], rest); });
    to[head] = existing;
  } else if (isObject(value)) {
    const existing = isObject(to[head]) ? to[head] : {};
    copyPath(value, existing, rest);
    to[head] = existing;
  }
}

function deletePath(obj: Record<string, unknown>, path: Path): void {
  const [head, ...rest] = path;
  if (rest.length === 0) { delete obj[head]; return; }
  const value = obj[head];
  if (Array.isArray(value)) value.forEach((v) => isObject(v) && deletePath(v, rest));
  else if (isObject(value)) deletePath(value, rest);
}
