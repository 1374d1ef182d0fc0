// Validates a resource document against its schemas and brings it to canonical form: canonical attribute names,
// booleans from "True"/"False" (Entra), nulls and empty values dropped, read-only attributes ignored
// (RFC 7643 section 2.2: clients may send them back), wrong types refused with 400 invalidValue.
import { invalidValue } from './errors.ts';
import { isExtensionUrn, splitUrn } from './attribute-path.ts';
import { isStorableDate } from './filter.ts';
import { type Attribute, findAttribute } from './schemas/model.ts';
import { commonAttributes, type ResourceType } from './schemas/resource-types.ts';

export type Doc = Record<string, unknown>;

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function coerceBoolean(value: unknown, where: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const l = value.trim().toLowerCase();
    if (l === 'true') return true;
    if (l === 'false') return false;
  }
  throw invalidValue(`${where} must be a boolean, not ${JSON.stringify(value)}`);
}

function normalizeSimple(attribute: Attribute, value: unknown, where: string): unknown {
  switch (attribute.type) {
    case 'boolean':
      return coerceBoolean(value, where);
    case 'integer':
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      throw invalidValue(`${where} must be an integer, not ${JSON.stringify(value)}`);
    case 'decimal':
      if (typeof value === 'number' && Number.isFinite(value)) return value;
      throw invalidValue(`${where} must be a number, not ${JSON.stringify(value)}`);
    case 'dateTime':
      if (isStorableDate(value)) return value;
      throw invalidValue(`${where} must be an ISO 8601 date-time string, not ${JSON.stringify(value)}`);
    default:
      if (typeof value === 'string') {
        if (value.length > 4096) throw invalidValue(`${where} is longer than 4096 characters`);
        if (value.includes('\u0000')) throw invalidValue(`${where} cannot contain a NUL character`);
        if (!value.isWellFormed()) throw invalidValue(`${where} is not well-formed Unicode (a lone surrogate)`);
        return value;
      }
      throw invalidValue(`${where} must be a string, not ${JSON.stringify(value)}`);
  }
}

function normalizeComplex(attribute: Attribute, value: unknown, where: string): Doc | undefined {
  if (!isPlainObject(value)) throw invalidValue(`${where} must be an object, not ${JSON.stringify(value)}`);
  const out: Doc = {};
  for (const [key, v] of Object.entries(value)) {
    const sub = findAttribute(attribute.subAttributes, key);
    if (!sub || sub.mutability === 'readOnly') continue;
    const n = normalizeSingle(sub, v, `${where}.${sub.name}`);
    if (n !== undefined) out[sub.name] = n;
  }
  return Object.keys(out).length ? out : undefined;
}

function normalizeSingle(attribute: Attribute, value: unknown, where: string): unknown {
  if (value === null || value === undefined) return undefined;
  if (attribute.type === 'complex') return normalizeComplex(attribute, value, where);
  if (attribute.type !== 'boolean' && value === '') return undefined;
  return normalizeSimple(attribute, value, where);
}

/** Normalises one attribute's value; undefined means "unassigned". */
export function normalizeAttribute(attribute: Attribute, value: unknown, where = attribute.name): unknown {
  if (value === null || value === undefined) return undefined;
  if (!attribute.multiValued) return normalizeSingle(attribute, value, where);
  if (!Array.isArray(value)) throw invalidValue(`${where} is multi-valued and must be an array`);
  const items = value.map((v, i) => normalizeSingle(attribute, v, `${where}[${i}]`)).filter((v) => v !== undefined);
  // At most one primary (RFC 7643 section 2.4): the first one marked primary keeps it.
  let seenPrimary = false;
  for (const item of items) {
    if (isPlainObject(item) && item.primary === true) {
      if (seenPrimary) item.primary = false;
      seenPrimary = true;
    }
  }
  return items.length ? items : undefined;
}

/** Manager arrives as a plain id string, as {value}, or as a legacy one-element array; "" removes it. */
export function normalizeManager(value: unknown): unknown {
  if (typeof value === 'string') return value === '' ? null : { value };
  if (Array.isArray(value)) return value.length ? normalizeManager(value[0]) : null;
  if (isPlainObject(value) && (value.value === '' || value.value === null)) return null;
  return value;
}

function normalizeAttributes(attributes: Attribute[], source: Doc, where: string): Doc {
  const out: Doc = {};
  for (const [key, value] of Object.entries(source)) {
    const attribute = findAttribute(attributes, key);
    if (!attribute || attribute.mutability === 'readOnly') continue;
    const v = normalizeAttribute(attribute, attribute.name === 'manager' ? normalizeManager(value) : value, where ? `${where}:${attribute.name}` : attribute.name);
    if (v !== undefined) out[attribute.name] = v;
  }
  return out;
}

/** `schemas` must name the resource's core schema; other URNs in it (Entra adds some) are ignored. */
export function checkSchemas(type: ResourceType, body: Doc): void {
  const schemas = body.schemas;
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === type.schema.id.toLowerCase())) {
    throw invalidValue(`"schemas" must contain "${type.schema.id}"`);
  }
}

/**
 * Normalises a whole resource document (POST or PUT body, or the result of a PATCH).
 * Unknown attributes are ignored, as clients send extras the server must not reject.
 */
export function normalizeResource(type: ResourceType, body: unknown): Doc {
  if (!isPlainObject(body)) throw invalidValue('the request body must be a JSON object');
  checkSchemas(type, body);
  const out: Doc = {};
  const coreAttrs = [...type.schema.attributes, ...commonAttributes.filter((a) => a.name === 'externalId')];
  const core: Doc = {};
  for (const [key, value] of Object.entries(body)) {
    const ext = isExtensionUrn(type, key);
    if (ext) {
      if (value === null) continue;
      if (!isPlainObject(value)) throw invalidValue(`${ext} must be an object`);
      const attrs = normalizeAttributes(type.extensions.find((s) => s.id === ext)!.attributes, value, ext);
      if (Object.keys(attrs).length) out[ext] = attrs;
      continue;
    }
    const { urn, rest } = splitUrn(type, key);
    if (urn === type.schema.id && rest) core[rest] = value;
    else if (!urn) core[key] = value;
  }
  Object.assign(out, normalizeAttributes(coreAttrs, core, ''));
  for (const a of type.schema.attributes) {
    if (a.required && out[a.name] === undefined) throw invalidValue(`${a.name} is required`);
  }
  return out;
}
