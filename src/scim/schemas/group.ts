// urn:ietf:params:scim:schemas:core:2.0:Group (RFC 7643 section 4.2).
import { attr, type Schema, str } from './model.ts';

export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';

export const groupSchema: Schema = {
  id: GROUP_SCHEMA,
  name: 'Group',
  description: 'Group',
  attributes: [
    str('displayName', 'A human-readable name for the Group. Unique per organisation, case-insensitively.', { required: true, uniqueness: 'server' }),
    attr('members', 'complex', 'A list of members of the Group. Members are Users of this organisation (nested groups are not supported).', {
      multiValued: true,
      subAttributes: [
        str('value', 'The id of the member.', { mutability: 'immutable' }),
        attr('$ref', 'reference', 'The URI of the member.', { mutability: 'immutable', referenceTypes: ['User'] }),
        str('display', "The member's displayName.", { mutability: 'readOnly' }),
        str('type', 'The type of the member.', { mutability: 'immutable', canonicalValues: ['User'] }),
      ],
    }),
  ],
};
