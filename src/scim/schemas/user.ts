// urn:ietf:params:scim:schemas:core:2.0:User (RFC 7643 section 4.1, 8.7.1) and the enterprise extension (4.3).
import { attr, multi, type Schema, str } from './model.ts';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

export const userSchema: Schema = {
  id: USER_SCHEMA,
  name: 'User',
  description: 'User Account',
  attributes: [
    str('userName', 'Unique identifier for the User, typically used to sign in. Unique per organisation, case-insensitively.', { required: true, uniqueness: 'server' }),
    attr('name', 'complex', "The components of the user's real name.", {
      subAttributes: [
        str('formatted', 'The full name, formatted for display.'),
        str('familyName', 'The family name.'),
        str('givenName', 'The given name.'),
        str('middleName', 'The middle name(s).'),
        str('honorificPrefix', 'The honorific prefix(es).'),
        str('honorificSuffix', 'The honorific suffix(es).'),
      ],
    }),
    str('displayName', 'The name of the User, suitable for display to end-users.'),
    str('nickName', 'The casual way to address the user.'),
    attr('profileUrl', 'reference', "A URI pointing to the user's online profile.", { referenceTypes: ['external'] }),
    str('title', "The user's title, such as \"Vice President\"."),
    str('userType', 'The relationship between the organisation and the user.'),
    str('preferredLanguage', "The user's preferred written or spoken language (RFC 7231 Accept-Language)."),
    str('locale', "The user's default location for localisation (e.g. en-US)."),
    str('timezone', "The user's time zone in IANA format (e.g. Europe/Paris)."),
    attr('active', 'boolean', "The user's administrative status in this organisation. false deactivates the membership and revokes its sessions."),
    str('password', 'The password, write-only: stored as an argon2id hash and never returned. Accepted only for accounts this organisation manages.', { mutability: 'writeOnly', returned: 'never' }),
    multi('emails', 'E-mail addresses. The primary (else the first) is the sign-in e-mail of a new account.', { types: ['work', 'home', 'other'] }),
    multi('phoneNumbers', 'Phone numbers.', { types: ['work', 'home', 'mobile', 'fax', 'pager', 'other'] }),
    multi('ims', 'Instant messaging addresses.', { types: ['aim', 'gtalk', 'icq', 'xmpp', 'msn', 'skype', 'qq', 'yahoo'] }),
    multi('photos', 'URLs of photos of the user.', { types: ['photo', 'thumbnail'], valueType: 'reference' }),
    attr('addresses', 'complex', 'Physical mailing addresses.', {
      multiValued: true,
      subAttributes: [
        str('formatted', 'The full mailing address, formatted for display.'),
        str('streetAddress', 'The full street address component.'),
        str('locality', 'The city or locality component.'),
        str('region', 'The state or region component.'),
        str('postalCode', 'The zip code or postal code component.'),
        str('country', 'The country name component (ISO 3166-1 alpha-2).'),
        str('type', 'A label indicating the function of the address.', { canonicalValues: ['work', 'home', 'other'] }),
        attr('primary', 'boolean', 'Indicates the preferred address.'),
      ],
    }),
    attr('groups', 'complex', 'The groups the user belongs to in this organisation. Read-only: change membership through /Groups.', {
      multiValued: true, mutability: 'readOnly',
      subAttributes: [
        str('value', 'The id of the group.', { mutability: 'readOnly' }),
        attr('$ref', 'reference', 'The URI of the group.', { mutability: 'readOnly', referenceTypes: ['Group'] }),
        str('display', 'The displayName of the group.', { mutability: 'readOnly' }),
        str('type', 'direct', { mutability: 'readOnly', canonicalValues: ['direct'] }),
      ],
    }),
    multi('entitlements', 'Entitlements of the user.', { types: [] }),
    multi('roles', 'Roles of the user, as told by the identity provider.', { types: [] }),
    multi('x509Certificates', 'X.509 certificates (DER, base64).', { types: [], valueType: 'binary' }),
  ],
};

export const enterpriseUserSchema: Schema = {
  id: ENTERPRISE_SCHEMA,
  name: 'EnterpriseUser',
  description: 'Enterprise User',
  attributes: [
    str('employeeNumber', 'A string identifier, typically numeric or alphanumeric, assigned to a person.'),
    str('costCenter', 'Identifies the name of a cost center.'),
    str('organization', 'Identifies the name of an organization.'),
    str('division', 'Identifies the name of a division.'),
    str('department', 'Identifies the name of a department.'),
    attr('manager', 'complex', "The user's manager: `value` is the manager's id in this organisation.", {
      subAttributes: [
        str('value', 'The id of the SCIM resource representing the manager.'),
        attr('$ref', 'reference', 'The URI of the manager.', { referenceTypes: ['User'], mutability: 'readOnly' }),
        str('displayName', "The manager's displayName.", { mutability: 'readOnly' }),
      ],
    }),
  ],
};
