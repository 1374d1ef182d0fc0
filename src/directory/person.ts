// A person as an organisation knows them: typed fields that every door reads and writes (SCIM maps its
// attributes to them, the admin API and the OIDC claims read them). The rules about a person live here:
// which e-mail signs in, what the account's profile claims are, what is too long or malformed.
import { checkLength, checkName, Invalid, limits } from './errors.ts';

/** An e-mail address or phone number with its label; `primary` marks the preferred one (at most one). */
export type ContactPoint = { value?: string; type?: string; primary?: boolean; display?: string };

export type PostalAddress = {
  formatted?: string; streetAddress?: string; locality?: string; region?: string; postalCode?: string; country?: string;
  type?: string; primary?: boolean;
};

export type PersonName = {
  formatted?: string; givenName?: string; familyName?: string; middleName?: string; honorificPrefix?: string; honorificSuffix?: string;
};

export type Person = {
  /** Unique in the organisation, case-insensitively; the name the person is known by there. */
  userName: string;
  /** The identifier the organisation's own identity provider uses for the person. */
  externalId: string | null;
  displayName: string | null;
  name: PersonName;
  nickName: string | null;
  title: string | null;
  userType: string | null;
  preferredLanguage: string | null;
  locale: string | null;
  timezone: string | null;
  profileUrl: string | null;
  emails: ContactPoint[];
  phoneNumbers: ContactPoint[];
  addresses: PostalAddress[];
  employeeNumber: string | null;
  costCenter: string | null;
  organization: string | null;
  division: string | null;
  department: string | null;
  /** The member id of the person's manager in the same organisation (not checked: it may be provisioned later). */
  managerId: string | null;
};

/** A person with nothing but a user name (and, usually, a work e-mail). */
export function newPerson(userName: string, email?: string): Person {
  return {
    userName, externalId: null, displayName: null, name: {}, nickName: null, title: null, userType: null,
    preferredLanguage: null, locale: null, timezone: null, profileUrl: null,
    emails: email ? [{ value: email, type: 'work', primary: true }] : [], phoneNumbers: [], addresses: [],
    employeeNumber: null, costCenter: null, organization: null, division: null, department: null, managerId: null,
  };
}

const emailPattern = /^[^\s@]+@[^\s@]+$/;
export const looksLikeEmail = (s: string): boolean => emailPattern.test(s) && s.length <= 320;

function preferred(list: ContactPoint[]): string | null {
  const pick = list.find((e) => e.primary === true) ?? list[0];
  return typeof pick?.value === 'string' && pick.value !== '' ? pick.value : null;
}

/** The e-mail a person signs in with: the primary e-mail, else the first, else a user name that is an e-mail address. */
export function loginEmailOf(p: Person): string {
  const email = preferred(p.emails) ?? (p.userName.includes('@') ? p.userName : null);
  if (!email) throw new Invalid('a member needs an e-mail address: an e-mail, or a user name that is an e-mail address', { field: 'emails', rule: 'email_required' });
  return email;
}

/** What the global account takes from the managing organisation's view of a person. */
export type AccountProfile = {
  email: string;
  givenName: string | null;
  familyName: string | null;
  displayName: string | null;
  phone: string | null;
};

export function accountProfileOf(p: Person): AccountProfile {
  return {
    email: loginEmailOf(p),
    givenName: p.name.givenName ?? null,
    familyName: p.name.familyName ?? null,
    displayName: p.displayName ?? p.name.formatted ?? null,
    phone: preferred(p.phoneNumbers),
  };
}

const scalarFields = ['nickName', 'title', 'userType', 'preferredLanguage', 'locale', 'timezone', 'profileUrl',
  'employeeNumber', 'costCenter', 'organization', 'division', 'department', 'managerId'] as const;

function checkText(field: string, value: unknown, max: number = limits.text): void {
  if (value === null || value === undefined) return;
  if (typeof value !== 'string') throw new Invalid(`${field} must be text`, { field, rule: 'type' });
  if (value.includes('\u0000')) throw new Invalid(`${field} cannot contain a NUL character`, { field, rule: 'nul' });
  if (!value.isWellFormed()) throw new Invalid(`${field} is not well-formed Unicode`, { field, rule: 'unicode' });
  checkLength(field, value, max);
}

/** `before`: the list's current length, on an update; a list already past the cap (older data) may stay or shrink. */
function checkList(field: string, list: object[], before = 0): void {
  if (list.length > limits.listItems && list.length > before) throw new Invalid(`${field} holds at most ${limits.listItems} entries`, { field, rule: 'too_many' });
  let primaries = 0;
  for (const item of list) {
    for (const [k, v] of Object.entries(item)) {
      if (k === 'primary') { if (typeof v !== 'boolean') throw new Invalid(`${field}.primary must be true or false`, { field, rule: 'type' }); }
      else checkText(`${field}.${k}`, v);
    }
    if ((item as { primary?: boolean }).primary === true) primaries++;
  }
  if (primaries > 1) throw new Invalid(`at most one of ${field} is primary`, { field, rule: 'one_primary' });
}

/**
 * Everything the directory refuses in a person, whatever the door. On an update, `current` is the stored
 * person: rules added since it was stored must not keep it from being changed (or deactivated).
 */
export function checkPerson(p: Person, current?: Person): void {
  checkName('userName', p.userName);
  checkText('userName', p.userName, limits.userName);
  checkText('externalId', p.externalId, limits.externalId);
  checkText('displayName', p.displayName);
  for (const [k, v] of Object.entries(p.name)) checkText(`name.${k}`, v);
  for (const f of scalarFields) checkText(f, p[f]);
  checkList('emails', p.emails, current?.emails.length);
  checkList('phoneNumbers', p.phoneNumbers, current?.phoneNumbers.length);
  checkList('addresses', p.addresses, current?.addresses.length);
}

/** The person's columns in `memberships`. */
export function personRow(p: Person): Record<string, unknown> {
  return {
    user_name: p.userName, external_id: p.externalId, display_name: p.displayName,
    name_formatted: p.name.formatted ?? null, given_name: p.name.givenName ?? null, family_name: p.name.familyName ?? null,
    middle_name: p.name.middleName ?? null, honorific_prefix: p.name.honorificPrefix ?? null, honorific_suffix: p.name.honorificSuffix ?? null,
    nick_name: p.nickName, title: p.title, user_type: p.userType, preferred_language: p.preferredLanguage, locale: p.locale,
    timezone: p.timezone, profile_url: p.profileUrl,
    emails: JSON.stringify(p.emails), phone_numbers: JSON.stringify(p.phoneNumbers), addresses: JSON.stringify(p.addresses),
    employee_number: p.employeeNumber, cost_center: p.costCenter, organization: p.organization, division: p.division,
    department: p.department, manager_id: p.managerId,
  };
}

/** Drops unset parts, so that a person reads back exactly as it was written. */
function compact<T extends object>(o: Record<string, unknown>): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined)) as T;
}

export function personOf(r: Record<string, unknown>): Person {
  const text = (k: string) => (r[k] as string | null) ?? null;
  return {
    userName: r.user_name as string, externalId: text('external_id'), displayName: text('display_name'),
    name: compact<PersonName>({
      formatted: r.name_formatted, givenName: r.given_name, familyName: r.family_name, middleName: r.middle_name,
      honorificPrefix: r.honorific_prefix, honorificSuffix: r.honorific_suffix,
    }),
    nickName: text('nick_name'), title: text('title'), userType: text('user_type'), preferredLanguage: text('preferred_language'),
    locale: text('locale'), timezone: text('timezone'), profileUrl: text('profile_url'),
    emails: (r.emails as ContactPoint[] | null) ?? [], phoneNumbers: (r.phone_numbers as ContactPoint[] | null) ?? [],
    addresses: (r.addresses as PostalAddress[] | null) ?? [],
    employeeNumber: text('employee_number'), costCenter: text('cost_center'), organization: text('organization'),
    division: text('division'), department: text('department'), managerId: text('manager_id'),
  };
}

/** Field -> column, for filters and sorts over members (see predicate.ts). */
export const personFieldColumns: Record<string, string> = {
  userName: 'user_name', externalId: 'external_id', displayName: 'display_name',
  nameFormatted: 'name_formatted', givenName: 'given_name', familyName: 'family_name', middleName: 'middle_name',
  honorificPrefix: 'honorific_prefix', honorificSuffix: 'honorific_suffix', nickName: 'nick_name', title: 'title',
  userType: 'user_type', preferredLanguage: 'preferred_language', locale: 'locale', timezone: 'timezone', profileUrl: 'profile_url',
  employeeNumber: 'employee_number', costCenter: 'cost_center', organization: 'organization', division: 'division',
  department: 'department', managerId: 'manager_id',
};

/** The person's list-valued fields, each a jsonb array column. */
export const personDocuments: Record<string, string> = { emails: 'emails', phoneNumbers: 'phone_numbers', addresses: 'addresses' };

/** Every column of a person in `memberships`: its fields' and its lists'. */
export const personColumns = [...Object.values(personFieldColumns), ...Object.values(personDocuments)];
