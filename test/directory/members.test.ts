// The directory's member API, used with no door in between: typed fields in, typed fields out.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMember, getMember, listMembers, updateMember } from '../../src/directory/members.ts';
import { createOrganization } from '../../src/directory/organizations.ts';
import { newPerson, type Person } from '../../src/directory/person.ts';
import type { Actor } from '../../src/directory/audit.ts';
import { DirectoryError } from '../../src/directory/errors.ts';
import { createPasswordHasher } from '../../src/directory/passwords.ts';
import { unique } from '../helpers.ts';
import { testDb } from '../setup.ts';

const actor: Actor = { type: 'system', id: 'test' };

async function newOrgId(): Promise<string> {
  const name = unique('dir-');
  return (await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` })).org.id;
}

function ada(email: string): Person {
  return {
    ...newPerson(email),
    externalId: 'emp-1815',
    displayName: 'Ada Lovelace',
    name: { givenName: 'Ada', familyName: 'Lovelace', honorificPrefix: 'Countess' },
    title: 'Analyst',
    emails: [{ value: `home-${email}`, type: 'home' }, { value: email, type: 'work', primary: true }],
    phoneNumbers: [{ value: '+44 20 7946 0000', type: 'work' }],
    addresses: [{ locality: 'London', country: 'GB', type: 'work', primary: true }],
    department: 'Engines',
    employeeNumber: '1815',
    managerId: 'charles',
  };
}

describe('directory: members with typed fields', () => {
  it('creates and reads a member through the directory API alone; the account takes its e-mail and claims from the typed fields', async () => {
    const orgId = await newOrgId();
    const email = `${unique('ada')}@example.test`;
    const created = await createMember(testDb(), { orgId, actor, member: { ...ada(email), active: true } });
    const read = await getMember(testDb(), { orgId, id: created.id });
    const { id, orgId: o, accountId, role, active, protocolData, version, createdAt, updatedAt, groups, ...person } = read;
    assert.deepEqual(person, ada(email));
    assert.deepEqual([o, role, active, protocolData, version], [orgId, 'member', true, {}, 1]);
    assert.ok(id && accountId && createdAt <= updatedAt && groups === undefined);
    // The account's login e-mail is the primary e-mail (not the first), its claims the managing org's view.
    const account = await testDb()('accounts').where({ id: accountId }).first();
    assert.deepEqual([account.email, account.given_name, account.family_name, account.display_name, account.phone, account.managed_by_org_id],
      [email, 'Ada', 'Lovelace', 'Ada Lovelace', '+44 20 7946 0000', orgId]);
    // Stored as columns, not as a document.
    const row = await testDb()('memberships').where({ org_id: orgId, id }).first();
    assert.deepEqual([row.given_name, row.department, row.manager_id, row.title], ['Ada', 'Engines', 'charles', 'Analyst']);
  });

  it('filters members by a typed field and by an e-mail in one query each', async () => {
    const orgId = await newOrgId();
    const email = `${unique('ada')}@example.test`;
    const m = await createMember(testDb(), { orgId, actor, member: { ...ada(email), active: true } });
    const byDepartment = await listMembers(testDb(), {
      orgId, offset: 0, limit: 10,
      where: { op: 'eq', field: { kind: 'column', name: 'department', type: 'string', caseExact: false }, value: 'ENGINES' },
    });
    assert.deepEqual(byDepartment.members.map((x) => x.id), [m.id]);
    const byEmail = await listMembers(testDb(), {
      orgId, offset: 0, limit: 10,
      where: { op: 'any', document: 'emails', path: [], where: { op: 'eq', field: { kind: 'element', sub: 'value', type: 'string', caseExact: false }, value: `home-${email}` } },
    });
    assert.deepEqual([byEmail.total, byEmail.members[0]?.id], [1, m.id]);
  });

  it('takes the login e-mail from the primary e-mail, else the first, else an e-mail user name; refuses a person with none', async () => {
    const orgId = await newOrgId();
    const first = `${unique('first')}@example.test`;
    const a = await createMember(testDb(), { orgId, actor, member: { ...newPerson(unique('a')), emails: [{ value: first }, { value: `${unique('x')}@example.test` }], active: true } });
    const byName = `${unique('byname')}@example.test`;
    const b = await createMember(testDb(), { orgId, actor, member: { ...newPerson(byName), active: true } });
    const emails = await testDb()('accounts').whereIn('id', [a.accountId, b.accountId]).pluck('email');
    assert.deepEqual(emails.sort(), [first, byName].sort());
    const before = await testDb()('memberships').where({ org_id: orgId }).count({ n: '*' });
    await assert.rejects(createMember(testDb(), { orgId, actor, member: { ...newPerson(unique('noemail')), active: true } }),
      (e: DirectoryError) => e.code === 'invalid' && e.field === 'emails' && e.rule === 'email_required');
    assert.deepEqual(await testDb()('memberships').where({ org_id: orgId }).count({ n: '*' }), before);
  });

  it('refuses a stale version with a domain error (version numbers, no protocol words) and changes nothing', async () => {
    const orgId = await newOrgId();
    const m = await createMember(testDb(), { orgId, actor, member: { ...ada(`${unique('v')}@example.test`), active: true } });
    await assert.rejects(
      updateMember(testDb(), { orgId, actor, id: m.id, ifVersion: m.version + 1, change: (c) => ({ ...c, title: 'Changed' }) }),
      (e: DirectoryError) => e.code === 'precondition_failed' && e.rule === 'version_mismatch' && /version 1, not 2/.test(e.message),
    );
    assert.equal((await getMember(testDb(), { orgId, id: m.id })).title, 'Analyst');
    const updated = await updateMember(testDb(), { orgId, actor, id: m.id, ifVersion: m.version, change: (c) => ({ ...c, title: 'Changed' }) });
    assert.deepEqual([updated.title, updated.version], ['Changed', 2]);
  });

  it('refuses malformed typed fields whatever the door: two primary e-mails, a NUL, a field past its limit', async () => {
    const orgId = await newOrgId();
    const base = { ...newPerson(`${unique('bad')}@example.test`), active: true };
    const cases: [string, Person & { active: boolean }][] = [
      ['one_primary', { ...base, emails: [{ value: 'a@x.test', primary: true }, { value: 'b@x.test', primary: true }] }],
      ['nul', { ...base, title: 'a\u0000b' }],
      ['too_long', { ...base, department: 'd'.repeat(5000) }],
    ];
    for (const [rule, member] of cases) {
      await assert.rejects(createMember(testDb(), { orgId, actor, member }), (e: DirectoryError) => e.code === 'invalid' && e.rule === rule, rule);
    }
    assert.equal((await testDb()('memberships').where({ org_id: orgId }).count({ n: '*' }))[0].n, 1); // the owner only
  });

  it('a member stored with more entries than a list now allows (older data) can still be deactivated, and its list may shrink, not grow', async () => {
    const orgId = await newOrgId();
    const m = await createMember(testDb(), { orgId, actor, member: { ...newPerson(`${unique('many')}@example.test`), active: true } });
    const many = Array.from({ length: 120 }, (_, i) => ({ value: `alias${i}@example.test` }));
    await testDb()('memberships').where({ org_id: orgId, id: m.id }).update({ emails: JSON.stringify([{ value: m.userName, primary: true }, ...many]) });
    const off = await updateMember(testDb(), { orgId, actor, id: m.id, change: (c) => ({ ...c, active: false }) });
    assert.deepEqual([off.active, off.emails.length], [false, 121]);
    const fewer = await updateMember(testDb(), { orgId, actor, id: m.id, change: (c) => ({ ...c, emails: c.emails.slice(0, 110) }) });
    assert.equal(fewer.emails.length, 110);
    await assert.rejects(updateMember(testDb(), { orgId, actor, id: m.id, change: (c) => ({ ...c, emails: [...c.emails, { value: 'one-more@example.test' }] }) }),
      (e: DirectoryError) => e.rule === 'too_many');
  });

  it('hashes a password at the cost it is given (the configured one), before its transaction', async () => {
    const orgId = await newOrgId();
    const email = `${unique('cost')}@example.test`;
    const passwords = createPasswordHasher({ memoryKiB: 32_768, timeCost: 2, parallelism: 1 });
    const m = await createMember(testDb(), { orgId, actor, member: { ...newPerson(email), active: true }, password: 'a long enough password', passwords });
    const account = await testDb()('accounts').where({ id: m.accountId }).first();
    assert.match(account.password_hash, /^\$argon2id\$v=19\$m=32768,p=1,t=2\$/);
    assert.equal(account.password_set_by_org_id, orgId);
  });

  it('has no protocol vocabulary: nothing in src/directory imports a door or names SCIM wire concepts', () => {
    const dir = join(import.meta.dirname, '../../src/directory');
    const words = [/from '\.\.\/(scim|http|oidc|admin)\//, /from 'express'/, /from 'oidc-provider'/, /urn:ietf:params:scim/, /If-Match/i, /scimType/, /\bschemas\b/, /\bprofile\b.*jsonb/];
    for (const file of readdirSync(dir)) {
      const text = readFileSync(join(dir, file), 'utf8');
      for (const w of words) assert.equal(w.test(text), false, `${file} matches ${w}`);
    }
  });
});
