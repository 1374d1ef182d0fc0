// /ServiceProviderConfig, /ResourceTypes, /Schemas (RFC 7643 sections 5-7): exactly what this server does.
import { notFound } from './errors.ts';
import { MAX_RESULTS } from './list-params.ts';
import type { Schema } from './schemas/model.ts';
import { allSchemas, type ResourceType, resourceTypes } from './schemas/resource-types.ts';

export const BULK_MAX_OPERATIONS = 1000;
export const MAX_PAYLOAD_BYTES = 1_048_576;

export function serviceProviderConfig(baseUrl: string) {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    patch: { supported: true },
    bulk: { supported: true, maxOperations: BULK_MAX_OPERATIONS, maxPayloadSize: MAX_PAYLOAD_BYTES },
    filter: { supported: true, maxResults: MAX_RESULTS },
    changePassword: { supported: true },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [{
      type: 'oauthbearertoken',
      name: 'OAuth Bearer Token',
      description: "Authentication with the organisation's SCIM bearer token (Authorization: Bearer rst_scim_...)",
      primary: true,
    }],
    meta: { resourceType: 'ServiceProviderConfig', location: `${baseUrl}/ServiceProviderConfig` },
  };
}

function resourceTypeBody(t: ResourceType, baseUrl: string) {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
    id: t.name,
    name: t.name,
    endpoint: t.endpoint,
    description: t.description,
    schema: t.schema.id,
    schemaExtensions: t.extensions.map((e) => ({ schema: e.id, required: false })),
    meta: { resourceType: 'ResourceType', location: `${baseUrl}/ResourceTypes/${t.name}` },
  };
}

function schemaBody(s: Schema, baseUrl: string) {
  return { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'], ...s, meta: { resourceType: 'Schema', location: `${baseUrl}/Schemas/${s.id}` } };
}

function listOf(items: unknown[]) {
  return { schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: items.length, startIndex: 1, itemsPerPage: items.length, Resources: items };
}

export const listResourceTypes = (baseUrl: string) => listOf(resourceTypes.map((t) => resourceTypeBody(t, baseUrl)));
export const listSchemas = (baseUrl: string) => listOf(allSchemas.map((s) => schemaBody(s, baseUrl)));

export function getResourceType(baseUrl: string, id: string) {
  const t = resourceTypes.find((x) => x.name.toLowerCase() === id.toLowerCase());
  if (!t) throw notFound(`resource type ${id} not found`);
  return resourceTypeBody(t, baseUrl);
}

export function getSchema(baseUrl: string, id: string) {
  const s = allSchemas.find((x) => x.id.toLowerCase() === id.toLowerCase());
  if (!s) throw notFound(`schema ${id} not found`);
  return schemaBody(s, baseUrl);
}
