// What a sign-in through an organisation's connection does in the directory: link the upstream identity to
// the person's account, provision a newcomer just in time (or refuse), the one-identity rule, the licence.
import assert from 'node:assert/strict';
import type { DirectoryError } from '../../src/directory/errors.ts';
import { createMember } from '../../src/directory/members.ts';
import { createOrganization } from '../../src/directory/organizations.ts';
import { newPerson } from '../../src/directory/person.ts';
import { createSealer } from '../../src/directory/sealing.ts';
import { setSsoConnection } from '../../src/directory/sso.ts';
import { findIdentity, linkIdentity, listIdentities, provisionFromSso, resolveSsoAccount } from '../../src/directory/sso-identities.ts';
import { unique } from '../helpers.ts';
import { testDb } from '../setup.ts';

const actor = { type: 'system', id: 'test' } as const;
const sealer = createSealer('the SECRET of this test run, 32+ characters long');
const ISSUER = 'https://idp.example/oauth2/default';

/** An organisation with a connection claiming a domain of its own. */
async function orgWithConnection(opts: { jitProvisioning?: boolean; allowIdentityLinking?: boolean; licenseLimit?: number } = {}) {
  const name = unique('ident-');
  const created = await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
  const domain = `${name}.test`;
  await setSsoConnection(testDb(), sealer, { orgId: created.org.id, actor, issuer: ISSUER, clientId: 'c', clientSecret: 's', domains: [domain], jitProvisioning: opts.jitProvisioning });
  await testDb()('organizations').where({ id: created.org.id }).update({ allow_identity_linking: opts.allowIdentityLinking ?? true, license_limit: opts.licenseLimit ?? null });
  return { org: created.org, domain, owner: created.owner };
}

const upstream = (email: string, extra: { provider?: string; subject?: string } = {}) => ({
  provider: extra.provider ?? ISSUER, subject: extra.subject ?? unique('sub-'), email, givenName: 'Grace', familyName: 'Hopper',
});

async function refused(p: Promise<unknown>): Promise<DirectoryError> {
  const err = await p.then(() => null, (e: unknown) => e);
  assert.ok(err instanceof Error && 'rule' in err, `expected a directory error, got ${String(err)}`);
  return err as DirectoryError;
}

const account = (email: string) => testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).first();
const memberships = (orgId: string, accountId: string) => testDb()('memberships').where({ org_id: orgId, account_id: accountId });
const events = (orgId: string) => testDb()('auth_events').where({ org_id: orgId }).orderBy('id').select('type', 'outcome', 'account_id', 'ip');

describe('SSO identities: linking and just-in-time provisioning (directory)', () => {
  it('a newcomer is provisioned as a member with a verified e-mail and the identity linked; the next sign-in is a returning one', async () => {
    const { org, domain } = await orgWithConnection();
    const person = upstream(`grace@${domain}`);
    const first = await resolveSsoAccount(testDb(), { orgId: org.id, ...person, context: { ip: '203.0.113.7' } });
    assert.equal(first.outcome, 'provisioned');
    const a = await account(person.email);
    assert.deepEqual([a.id, a.email_verified, a.managed_by_org_id, a.given_name, a.family_name, a.password_hash, a.status], [first.accountId, true, org.id, 'Grace', 'Hopper', null, 'active']);
    const [m] = await memberships(org.id, a.id);
    assert.deepEqual([m.role, m.status, m.user_name, m.given_name, m.family_name], ['member', 'active', person.email, 'Grace', 'Hopper']);
    const identity = await findIdentity(testDb(), { provider: ISSUER, subject: person.subject });
    assert.deepEqual([identity?.accountId, identity?.orgId], [a.id, org.id]);
    assert.deepEqual(await events(org.id), [
      { type: 'jit_provisioned', outcome: 'success', account_id: a.id, ip: '203.0.113.7' },
      { type: 'identity_linked', outcome: 'success', account_id: a.id, ip: '203.0.113.7' },
    ]);
    const audit = await testDb()('audit_events').where({ org_id: org.id, action: 'member.created' }).first();
    assert.deepEqual([audit.actor_type, audit.actor_id, audit.details.via], ['system', 'sso', 'sso_jit']);
    const again = await resolveSsoAccount(testDb(), { orgId: org.id, ...person });
    assert.deepEqual(again, { accountId: a.id, outcome: 'returning' });
    assert.equal((await memberships(org.id, a.id)).length, 1);
    assert.equal((await listIdentities(testDb(), { accountId: a.id })).length, 1);
    assert.ok((await findIdentity(testDb(), { provider: ISSUER, subject: person.subject }))?.lastUsedAt);
  });

  it('with just-in-time provisioning off, a newcomer is refused and nothing is written', async () => {
    const { org, domain } = await orgWithConnection({ jitProvisioning: false });
    const person = upstream(`newcomer@${domain}`);
    const err = await refused(resolveSsoAccount(testDb(), { orgId: org.id, ...person }));
    assert.deepEqual([err.code, err.rule], ['forbidden', 'jit_disabled']);
    assert.equal(await account(person.email), undefined);
    assert.equal(await findIdentity(testDb(), person), undefined);
    assert.deepEqual(await events(org.id), []);
    assert.equal((await refused(provisionFromSso(testDb(), { orgId: org.id, ...person }))).rule, 'jit_disabled');
  });

  it('an existing member is linked (no new membership) and their e-mail becomes verified, with jit off too', async () => {
    const { org, domain } = await orgWithConnection({ jitProvisioning: false });
    const email = `member@${domain}`;
    const member = await createMember(testDb(), { orgId: org.id, actor, member: { ...newPerson(email, email), active: true }, password: 'a long enough password' });
    assert.equal((await account(email)).email_verified, false);
    const r = await resolveSsoAccount(testDb(), { orgId: org.id, ...upstream(email.toUpperCase()) });
    assert.deepEqual(r, { accountId: member.accountId, outcome: 'linked' });
    assert.equal((await account(email)).email_verified, true);
    assert.equal((await memberships(org.id, member.accountId)).length, 1);
    assert.deepEqual((await events(org.id)).map((e) => e.type), ['identity_linked']);
  });

  it("a person whose account belongs to another organisation is not attached to this one by its identity provider's word (a domain claim proves nothing)", async () => {
    const other = await createOrganization(testDb(), { name: unique('other-'), ownerEmail: `${unique('o')}@elsewhere.test` });
    const { org, domain } = await orgWithConnection();
    const email = `shared@${domain}`;
    const elsewhere = await createMember(testDb(), { orgId: other.org.id, actor, member: { ...newPerson(email, email), active: true } });
    const err = await refused(resolveSsoAccount(testDb(), { orgId: org.id, ...upstream(email) }));
    assert.deepEqual([err.code, err.rule], ['forbidden', 'account_elsewhere']);
    const a = await account(email);
    assert.deepEqual([a.id, a.managed_by_org_id, a.email_verified], [elsewhere.accountId, other.org.id, false], 'not verified by this provider');
    assert.equal((await memberships(org.id, a.id)).length, 0, 'not provisioned here');
    assert.equal((await listIdentities(testDb(), { accountId: a.id })).length, 0, 'no identity linked');

    // Once this organisation has added the person itself (SCIM, say), its identity provider signs them in:
    // linked, but the address is not verified for the other organisation's sake.
    await createMember(testDb(), { orgId: org.id, actor, member: { ...newPerson(email, email), active: true } });
    const r = await resolveSsoAccount(testDb(), { orgId: org.id, ...upstream(email) });
    assert.deepEqual(r, { accountId: elsewhere.accountId, outcome: 'linked' });
    assert.equal((await account(email)).email_verified, false);
  });

  it('linking off: an account with an identity is refused a second one (another provider or subject); linking on allows it', async () => {
    for (const allowIdentityLinking of [false, true]) {
      const { org, domain } = await orgWithConnection({ allowIdentityLinking });
      const email = `linker@${domain}`;
      const [subject1, subject2] = [unique('first-'), unique('second-')];
      const first = await resolveSsoAccount(testDb(), { orgId: org.id, ...upstream(email, { subject: subject1 }) });
      const second = resolveSsoAccount(testDb(), { orgId: org.id, ...upstream(email, { provider: 'https://login.microsoftonline.com/t/v2.0', subject: subject2 }) });
      if (!allowIdentityLinking) {
        const err = await refused(second);
        assert.deepEqual([err.code, err.rule], ['forbidden', 'identity_linking_off']);
        assert.equal((await listIdentities(testDb(), { accountId: first.accountId })).length, 1);
        assert.equal((await refused(resolveSsoAccount(testDb(), { orgId: org.id, ...upstream(email, { subject: unique('recreated-') }) }))).rule, 'identity_linking_off', 'another subject of the same provider too');
      } else {
        assert.deepEqual(await second, { accountId: first.accountId, outcome: 'linked' });
        assert.deepEqual((await listIdentities(testDb(), { accountId: first.accountId })).map((i) => i.subject), [subject1, subject2]);
      }
      assert.deepEqual(await resolveSsoAccount(testDb(), { orgId: org.id, ...upstream(email, { subject: subject1 }) }), { accountId: first.accountId, outcome: 'returning' }, 'the first identity still signs in');
    }
  });

  it('an identity linked to one account cannot be linked to another', async () => {
    const { org, domain } = await orgWithConnection();
    const taken = unique('taken-');
    const a = await resolveSsoAccount(testDb(), { orgId: org.id, ...upstream(`a@${domain}`, { subject: taken }) });
    const b = await resolveSsoAccount(testDb(), { orgId: org.id, ...upstream(`b@${domain}`) });
    const err = await refused(linkIdentity(testDb(), { orgId: org.id, accountId: b.accountId, provider: ISSUER, subject: taken }));
    assert.deepEqual([err.code, err.rule], ['conflict', 'identity_taken']);
    assert.equal((await findIdentity(testDb(), { provider: ISSUER, subject: taken }))?.accountId, a.accountId);
  });

  it('linkIdentity needs a membership in the organisation whose connection it came through', async () => {
    const { org } = await orgWithConnection();
    const stranger = await createOrganization(testDb(), { name: unique('stranger-'), ownerEmail: `${unique('s')}@stranger.test` });
    const err = await refused(linkIdentity(testDb(), { orgId: org.id, accountId: stranger.owner.accountId, provider: ISSUER, subject: unique() }));
    assert.deepEqual([err.code, err.rule], ['forbidden', 'not_a_member']);
  });

  it('refuses an e-mail outside the connection\'s domains, and an organisation with no connection', async () => {
    const { org } = await orgWithConnection();
    const err = await refused(resolveSsoAccount(testDb(), { orgId: org.id, ...upstream(`eve@${unique('evil')}.test`) }));
    assert.deepEqual([err.code, err.rule], ['forbidden', 'email_outside_domains']);
    const bare = await createOrganization(testDb(), { name: unique('bare-'), ownerEmail: `${unique('o')}@bare.test` });
    assert.deepEqual(await refused(resolveSsoAccount(testDb(), { orgId: bare.org.id, ...upstream(`x@bare.test`) })).then((e) => [e.code, e.rule]), ['not_found', 'no_sso_connection']);
  });

  it('just-in-time provisioning respects the licence limit: refused, nothing written', async () => {
    const { org, domain } = await orgWithConnection({ licenseLimit: 1 }); // the owner takes the only seat
    const person = upstream(`seat@${domain}`);
    const err = await refused(resolveSsoAccount(testDb(), { orgId: org.id, ...person }));
    assert.deepEqual([err.code, err.rule], ['limit_reached', 'licence_limit_reached']);
    assert.equal(await account(person.email), undefined);
    assert.equal(await findIdentity(testDb(), person), undefined);
  });

  it('provisionFromSso adds a member and links the identity; a person already a member is a Conflict', async () => {
    const { org, domain } = await orgWithConnection();
    const person = upstream(`direct@${domain}`);
    const added = await provisionFromSso(testDb(), { orgId: org.id, ...person });
    assert.equal(added.accountCreated, true);
    assert.equal((await account(person.email)).email_verified, true);
    assert.equal((await findIdentity(testDb(), person))?.accountId, added.accountId);
    const err = await refused(provisionFromSso(testDb(), { orgId: org.id, ...upstream(person.email) }));
    assert.deepEqual([err.code, err.rule], ['conflict', 'already_member']);
  });
});
