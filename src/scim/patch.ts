// PATCH (RFC 7644 section 3.5.2): every operation is applied to a copy of the resource document, which is
// then validated as a whole and persisted once by the caller: all or nothing.
import { isDeepStrictEqual } from 'node:util';
import { isExtensionUrn } from './attribute-path.ts';
import { invalidSyntax, invalidValue, mutability, ScimError } from './errors.ts';
import { type Doc, normalizeManager } from './normalize.ts';
import { matchesElement, parsePatchPath, type PatchPath, seedFromFilter } from './patch-path.ts';
import type { ResourceType } from './schemas/resource-types.ts';

export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export type PatchOp = { op: 'add' | 'replace' | 'remove'; path?: string; value?: unknown };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const ignoredKeys = new Set(['schemas', 'id', 'meta']);

/** Validates the PatchOp envelope; op names in any letter case (Entra sends "Replace"). */
export function parsePatchRequest(body: unknown, maxOperations = 1000): PatchOp[] {
  if (!isObject(body)) throw invalidSyntax('the request body must be a JSON object');
  const schemas = body.schemas;
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === PATCH_SCHEMA.toLowerCase())) {
    throw invalidValue(`"schemas" must contain "${PATCH_SCHEMA}"`);
  }
  const ops = body.Operations ?? body.operations;
  if (!Array.isArray(ops) || ops.length === 0) throw invalidValue('"Operations" must be a non-empty array');
  if (ops.length > maxOperations) throw invalidValue(`at most ${maxOperations} operations per PATCH`);
  return ops.map((o, i) => {
    if (!isObject(o)) throw invalidValue(`Operations[${i}] must be an object`);
    const op = typeof o.op === 'string' ? o.op.toLowerCase() : '';
    if (op !== 'add' && op !== 'replace' && op !== 'remove') throw invalidValue(`Operations[${i}].op must be add, replace or remove, not ${JSON.stringify(o.op)}`);
    if (o.path !== undefined && (typeof o.path !== 'string' || o.path.trim() === '')) throw invalidValue(`Operations[${i}].path must be a non-empty string`);
    if (op !== 'remove' && o.value === undefined) throw invalidValue(`Operations[${i}] (${op}) needs a value`);
    return { op, path: o.path as string | undefined, value: o.value };
  });
}

/** Splits a no-path value into one path per attribute: dotted and URN-qualified keys land nested. */
export function explodeValue(type: ResourceType, value: unknown): { path: string; value: unknown }[] {
  if (!isObject(value)) throw invalidValue('an operation without a path needs an object value');
  const out: { path: string; value: unknown }[] = [];
  for (const [key, v] of Object.entries(value)) {
    if (ignoredKeys.has(key.toLowerCase())) continue;
    const ext = isExtensionUrn(type, key);
    if (ext) {
      if (!isObject(v)) throw invalidValue(`${ext} must be an object`);
      for (const [k, inner] of Object.entries(v)) out.push({ path: `${ext}:${k}`, value: inner });
    } else {
      out.push({ path: key, value: v });
    }
  }
  return out;
}

function container(doc: Doc, p: PatchPath, create: boolean): Doc | undefined {
  if (!p.extension) return doc;
  if (!isObject(doc[p.extension])) {
    if (!create) return undefined;
    doc[p.extension] = {};
  }
  return doc[p.extension] as Doc;
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}

/** Applies operations to `doc` in place. Unknown paths in a no-path value are ignored like unknown POST attributes. */
export function applyPatch(type: ResourceType, doc: Doc, ops: PatchOp[]): void {
  for (const op of ops) {
    if (op.path === undefined) {
      if (op.op === 'remove') throw new ScimError(400, 'noTarget', 'remove needs a path');
      for (const part of explodeValue(type, op.value)) {
        let p: PatchPath;
        try {
          p = parsePatchPath(type, part.path);
        } catch (err) {
          if (err instanceof ScimError && err.scimType === 'invalidPath') continue;
          throw err;
        }
        if (p.attribute.mutability === 'readOnly' || p.sub?.mutability === 'readOnly') continue;
        applyAt(doc, p, { op: op.op, value: part.value });
      }
    } else {
      const p = parsePatchPath(type, op.path);
      if (p.attribute.mutability === 'readOnly' || p.sub?.mutability === 'readOnly') {
        throw mutability(`${op.path} is read-only`);
      }
      applyAt(doc, p, { op: op.op, value: op.value });
    }
  }
}

/** One operation's change at one path. */
type Change = { op: PatchOp['op']; value: unknown };

function applyAt(doc: Doc, p: PatchPath, change: Change): void {
  let { op, value } = change;
  const name = p.attribute.name;
  if (name === 'manager' && !p.sub && op !== 'remove') {
    value = normalizeManager(value);
    if (value === null) op = 'remove';
  }
  const target = container(doc, p, op !== 'remove');
  if (!target) return;
  if (p.filter) return applyFiltered(target, p, { op, value });
  if (p.attribute.multiValued) return applyMulti(target, p, { op, value });
  if (p.sub) {
    if (op === 'remove') {
      if (isObject(target[name])) delete (target[name] as Doc)[p.sub.name];
      return;
    }
    target[name] = { ...(isObject(target[name]) ? target[name] : {}), [p.sub.name]: value };
    return;
  }
  if (op === 'remove') {
    delete target[name];
  } else if (p.attribute.type === 'complex' && isObject(value) && isObject(target[name])) {
    target[name] = { ...target[name], ...value }; // sub-attributes not given are left unchanged
  } else {
    target[name] = value;
  }
}

function applyMulti(target: Doc, p: PatchPath, { op, value }: Change): void {
  const name = p.attribute.name;
  const current = Array.isArray(target[name]) ? (target[name] as unknown[]) : [];
  if (p.sub) {
    // "emails.value" without a filter addresses that sub-attribute of every element.
    const sub = p.sub.name;
    target[name] = current.map((e) => {
      if (!isObject(e)) return e;
      const copy = { ...e };
      if (op === 'remove') delete copy[sub];
      else copy[sub] = value;
      return copy;
    });
    return;
  }
  if (op === 'remove') {
    if (value === undefined) { delete target[name]; return; }
    const drop = asArray(value);
    target[name] = current.filter((e) => !drop.some((d) => sameElement(d, e)));
    return;
  }
  const incoming = asArray(value);
  if (op === 'replace') { target[name] = incoming; return; }
  const merged = [...current];
  for (const item of incoming) if (!merged.some((e) => isDeepStrictEqual(e, item))) merged.push(item);
  // A new primary takes the flag from the others (RFC 7644 section 3.5.2.1).
  if (incoming.some((i) => isObject(i) && (i.primary === true || i.primary === 'True' || i.primary === 'true'))) {
    for (const e of merged) if (isObject(e) && !incoming.includes(e)) e.primary = false;
  }
  target[name] = merged;
}

function sameElement(a: unknown, b: unknown): boolean {
  if (isObject(a) && isObject(b) && 'value' in a) return a.value === b.value;
  return isDeepStrictEqual(a, b);
}

/** emails[type eq "work"].value and friends: matching elements change in place; none matching creates one. */
function applyFiltered(target: Doc, p: PatchPath, { op, value }: Change): void {
  const name = p.attribute.name;
  const filter = p.filter!;
  const current = Array.isArray(target[name]) ? (target[name] as unknown[]).map((e) => (isObject(e) ? { ...e } : e)) : [];
  const matches = current.filter((e) => matchesElement(p.attribute, filter, e)) as Doc[];
  if (op === 'remove') {
    target[name] = p.sub ? current.map((e) => { if (matches.includes(e as Doc)) delete (e as Doc)[p.sub!.name]; return e; }) : current.filter((e) => !matches.includes(e as Doc));
    return;
  }
  if (!p.sub && !isObject(value)) throw invalidValue(`the value for ${name}[...] must be an object`);
  const patch = p.sub ? { [p.sub.name]: value } : (value as Doc);
  if (matches.length === 0) {
    current.push({ ...seedFromFilter(p.attribute, filter), ...patch });
  } else {
    for (const m of matches) Object.assign(m, patch);
  }
  target[name] = current;
}

/** The password a PATCH sets (the last one wins), validated like any string attribute; undefined when none. */
export function passwordIn(type: ResourceType, ops: PatchOp[]): string | undefined {
  let password: string | undefined;
  const take = (path: string, value: unknown) => {
    const p = parsePatchPath(type, path);
    if (p.attribute.name !== 'password' || p.extension) return;
    if (typeof value !== 'string' || value === '') throw invalidValue('password must be a non-empty string');
    password = value;
  };
  for (const op of ops) {
    if (op.op === 'remove') continue;
    if (op.path !== undefined) take(op.path, op.value);
    else for (const part of explodeValue(type, op.value)) {
      if (part.path.toLowerCase() === 'password') take(part.path, part.value);
    }
  }
  return password;
}
