// The resource types this server serves, with their schemas and the attributes common to all (RFC 7643 section 3.1).
import { attr, type Attribute, type Schema, str } from './model.ts';
import { GROUP_SCHEMA, groupSchema } from './group.ts';
import { ENTERPRISE_SCHEMA, enterpriseUserSchema, USER_SCHEMA, userSchema } from './user.ts';

export type ResourceType = {
  name: 'User' | 'Group';
  endpoint: string;
  description: string;
  schema: Schema;
  extensions: Schema[];
};

export const userType: ResourceType = { name: 'User', endpoint: '/Users', description: 'User Account', schema: userSchema, extensions: [enterpriseUserSchema] };
export const groupType: ResourceType = { name: 'Group', endpoint: '/Groups', description: 'Group', schema: groupSchema, extensions: [] };
export const resourceTypes = [userType, groupType];
export const allSchemas: Schema[] = [userSchema, enterpriseUserSchema, groupSchema];

export const commonAttributes: Attribute[] = [
  str('id', 'Unique identifier assigned by the service provider.', { caseExact: true, mutability: 'readOnly', returned: 'always', uniqueness: 'server' }),
  str('externalId', "The identifier of the resource in the provisioning client's own system.", { caseExact: true }),
  attr('meta', 'complex', 'Resource metadata.', {
    mutability: 'readOnly',
    subAttributes: [
      str('resourceType', 'The name of the resource type.', { caseExact: true, mutability: 'readOnly' }),
      attr('created', 'dateTime', 'When the resource was added.', { mutability: 'readOnly' }),
      attr('lastModified', 'dateTime', 'When the resource was last changed.', { mutability: 'readOnly' }),
      attr('location', 'reference', 'The URI of the resource.', { mutability: 'readOnly', caseExact: true }),
      str('version', 'The version (ETag) of the resource.', { caseExact: true, mutability: 'readOnly' }),
    ],
  }),
];

export { ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA };
