// Resolves an attribute path ("name.familyName", "emails", "urn:...:enterprise:2.0:User:manager.value",
// "meta.lastModified") against a resource type: case-insensitive, URN-qualified or not.
import { type Attribute, findAttribute } from './schemas/model.ts';
import { commonAttributes, type ResourceType } from './schemas/resource-types.ts';

export type ResolvedPath = {
  /** null for the core schema and the common attributes; else the extension URN. */
  extension: string | null;
  attribute: Attribute;
  sub: Attribute | null;
  /** Where the attribute sits in a resource document: [name] or [urn, name]. */
  key: string[];
};

/** Splits a URN prefix off a path: "urn:...:User:name.givenName" -> { urn, rest: "name.givenName" }. */
export function splitUrn(type: ResourceType, path: string): { urn: string | null; rest: string } {
  const lower = path.toLowerCase();
  for (const schema of [type.schema, ...type.extensions]) {
    const id = schema.id.toLowerCase();
    if (lower === id) return { urn: schema.id, rest: '' };
    if (lower.startsWith(id + ':')) return { urn: schema.id, rest: path.slice(id.length + 1) };
  }
  return { urn: null, rest: path };
}

export function isExtensionUrn(type: ResourceType, key: string): string | null {
  const lower = key.toLowerCase();
  return type.extensions.find((s) => s.id.toLowerCase() === lower)?.id ?? null;
}

/** Returns null when the path names nothing in this resource type. */
export function resolvePath(type: ResourceType, path: string): ResolvedPath | null {
  const { urn, rest } = splitUrn(type, path);
  if (rest === '') return null;
  const dot = rest.indexOf('.');
  const name = dot < 0 ? rest : rest.slice(0, dot);
  const subName = dot < 0 ? null : rest.slice(dot + 1);
  const extension = urn && urn !== type.schema.id ? urn : null;
  const attributes = extension
    ? type.extensions.find((s) => s.id === extension)!.attributes
    : [...type.schema.attributes, ...(urn ? [] : commonAttributes)];
  const attribute = findAttribute(attributes, name);
  if (!attribute) return null;
  let sub: Attribute | null = null;
  if (subName !== null) {
    sub = findAttribute(attribute.subAttributes, subName) ?? null;
    if (!sub) return null;
  }
  return { extension, attribute, sub, key: extension ? [extension, attribute.name] : [attribute.name] };
}
