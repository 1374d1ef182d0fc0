// Changing the login configuration through the admin API: sessions that no longer meet the new policy end at
// once (one factor where MFA is now required, a password where only SSO is allowed), those that still meet it
// stay, the person making the change keeps theirs until their next sign-in, and other organisations'
// sessions are untouched.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import supertest from 'supertest';
import { createOrganization } from '../../src/directory/organizations.ts';
import { addMember } from '../../src/directory/team.ts';
import { permissionsOf } from '../../src/directory/roles.ts';
import { testApp, unique } from '../helpers.ts';
import { testDb } from '../setup.ts';

async function liveSession(orgId: string, accountId: string, factors: string[], provider = 'password'): Promise<string> {
  const [row] = await testDb()('sessions').insert({
    org_id: orgId, account_id: accountId, provider, factors: testDb().raw('?::text[]', [`{${factors.join(',')}}`]),
    expires_at: testDb().raw("now() + interval '1 day'"), oidc_session_uid: randomUUID(),
  }).returning('id');
  return row.id;
}

const revokedReason = async (id: string) => (await testDb()('sessions').where({ id }).first('revoked_at', 'revoked_reason'));

describe('admin API: login configuration changes end sessions that no longer comply', () => {
  it('requiring MFA ends one-factor sessions and keeps two-factor ones, in this organisation only; one audit event says how many', async () => {
    const name = unique('lc-');
    const org = await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
    const other = await createOrganization(testDb(), { name: `${name}-b`, ownerEmail: `owner@${name}-b.test` });
    const caller = { orgId: org.org.id, actor: { type: 'system', id: 'test' } as const, permissions: permissionsOf('owner') };
    const a = await addMember(testDb(), { caller, email: `a@${name}.test`, role: 'member' });
    const b = await addMember(testDb(), { caller, email: `b@${name}.test`, role: 'member' });
    const accountOf = async (memberId: string) => (await testDb()('memberships').where({ id: memberId }).first('account_id')).account_id as string;
    const [accA, accB] = [await accountOf(a.memberId), await accountOf(b.memberId)];
    // Both have signed in since and changed their temporary passwords.
    await testDb()('accounts').whereIn('id', [accA, accB]).update({ must_change_password: false, temporary_password_expires_at: null });
    await testDb()('memberships').insert({ org_id: other.org.id, account_id: accA, user_name: `a@${name}.test`, role: 'member' });

    const onePassword = await liveSession(org.org.id, accA, ['pwd']);
    const withTotp = await liveSession(org.org.id, accB, ['pwd', 'otp']);
    const elsewhere = await liveSession(other.org.id, accA, ['pwd']);

    const res = await supertest(testApp()).patch(`/api/v1/orgs/${org.org.id}`).set('authorization', `Bearer ${org.apiKey}`).send({ loginConfiguration: { requireMfa: true } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal((await revokedReason(onePassword)).revoked_reason, 'policy_changed');
    assert.equal((await revokedReason(withTotp)).revoked_at, null, 'a session with a second factor still complies');
    assert.equal((await revokedReason(elsewhere)).revoked_at, null, "another organisation's session is untouched");
    const [audit] = await testDb()('audit_events').where({ org_id: org.org.id, action: 'organization.login_config_changed' });
    assert.equal(audit.details.sessionsRevoked, 1);
  });

  it('the member making the change keeps their own session until their next sign-in', async () => {
    const name = unique('lc-');
    const org = await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
    const mine = await liveSession(org.org.id, org.owner.accountId, ['pwd']);
    const { updateLoginConfig } = await import('../../src/directory/organizations.ts');
    await updateLoginConfig(testDb(), { orgId: org.org.id, actor: { type: 'user', id: org.owner.accountId }, change: { requireMfa: true } });
    assert.equal((await revokedReason(mine)).revoked_at, null);
  });
});
