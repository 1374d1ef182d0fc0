// SSO connections in the directory: one per organisation, its secret sealed at rest, each domain claimed by
// one organisation at most, the login providers following the connection.
import assert from 'node:assert/strict';
import { Conflict, type DirectoryError, Invalid } from '../../src/directory/errors.ts';
import { createOrganization } from '../../src/directory/organizations.ts';
import { createSealer } from '../../src/directory/sealing.ts';
import {
  connectionForEmail, getSsoConnection, getSsoConnectionForSignIn, normalizeDomain, removeSsoConnection, setSsoConnection, type SsoConnectionInput,
} from '../../src/directory/sso.ts';
import { TEST_SECRET, unique } from '../helpers.ts';
import { testDb } from '../setup.ts';

const actor = { type: 'system', id: 'test' } as const;
const sealer = createSealer(TEST_SECRET);

async function newOrg() {
  const name = unique('sso-');
  return (await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` })).org;
}

/** A connection's input with domains of its own, unique to the test. */
function input(orgId: string, extra: Partial<SsoConnectionInput> = {}): SsoConnectionInput {
  return { orgId, actor, issuer: 'https://idp.example/oauth2/default', clientId: 'client-1', clientSecret: `secret-${unique()}`, domains: [`${unique('d')}.test`], ...extra };
}

async function refused(p: Promise<unknown>): Promise<DirectoryError> {
  const err = await p.then(() => null, (e: unknown) => e);
  assert.ok(err instanceof Error && 'code' in err, `expected a directory error, got ${String(err)}`);
  return err as DirectoryError;
}

const row = (orgId: string) => testDb()('sso_connections').where({ org_id: orgId }).first();
const orgRow = (orgId: string) => testDb()('organizations').where({ id: orgId }).first('login_providers', 'sso_enforced');
const audits = (orgId: string) => testDb()('audit_events').where({ org_id: orgId, target_type: 'sso_connection' }).orderBy('id').pluck('action');

describe('SSO connections (directory)', () => {
  it('sets a connection: domains normalised, jit on by default, sso becomes a login provider, audited; shown without its secret', async () => {
    const org = await newOrg();
    const domain = `${unique('acme')}.test`;
    const saved = await setSsoConnection(testDb(), sealer, input(org.id, { domains: [` ${domain.toUpperCase()}. `, domain, `b-${domain}`] }));
    assert.deepEqual([saved.orgId, saved.issuer, saved.clientId, saved.domains, saved.jitProvisioning], [org.id, 'https://idp.example/oauth2/default', 'client-1', [domain, `b-${domain}`].sort(), true]);
    assert.equal('clientSecret' in saved, false);
    assert.equal(JSON.stringify(await getSsoConnection(testDb(), { orgId: org.id })).includes('secret-'), false, 'the public view never holds the secret');
    assert.deepEqual((await orgRow(org.id)).login_providers, ['password', 'sso']);
    assert.deepEqual(await audits(org.id), ['sso_connection.created']);
    const [audit] = await testDb()('audit_events').where({ org_id: org.id, action: 'sso_connection.created' });
    assert.equal(JSON.stringify(audit.details).includes('secret-'), false, 'the audit trail never holds the secret');
  });

  it('keeps the client secret sealed at rest, bound to its organisation: the column does not contain it, a copy in another organisation does not open', async () => {
    const [a, b] = [await newOrg(), await newOrg()];
    const secret = `a-very-secret-value-${unique()}`;
    await setSsoConnection(testDb(), sealer, input(a.id, { clientSecret: secret }));
    await setSsoConnection(testDb(), sealer, input(b.id));
    const stored = (await row(a.id)).client_secret_sealed as string;
    assert.match(stored, /^v1\./);
    assert.equal(stored.includes(secret), false);
    assert.equal(Buffer.from(stored.slice(3), 'base64url').includes(Buffer.from(secret)), false);
    assert.equal((await getSsoConnectionForSignIn(testDb(), sealer, { orgId: a.id }))?.clientSecret, secret);
    await testDb()('sso_connections').where({ org_id: b.id }).update({ client_secret_sealed: stored });
    await assert.rejects(getSsoConnectionForSignIn(testDb(), sealer, { orgId: b.id }), /unable to authenticate|auth/i);
    await assert.rejects(getSsoConnectionForSignIn(testDb(), createSealer('another SECRET of at least 32 characters'), { orgId: a.id }));
  });

  it('replaces the configuration of the organisation; the secret may be kept only for the same issuer and client', async () => {
    const org = await newOrg();
    const first = input(org.id, { jitProvisioning: true });
    await setSsoConnection(testDb(), sealer, first);
    const [d1, d2] = [`${unique('n')}.test`, `${unique('n')}.test`];
    const replaced = await setSsoConnection(testDb(), sealer, { ...first, clientSecret: undefined, domains: [d1, d2], jitProvisioning: false });
    assert.deepEqual([replaced.domains, replaced.jitProvisioning], [[d1, d2].sort(), false]);
    assert.equal((await getSsoConnectionForSignIn(testDb(), sealer, { orgId: org.id }))?.clientSecret, first.clientSecret, 'the secret is kept');
    assert.deepEqual(await testDb()('sso_domains').where({ org_id: org.id }).orderBy('domain').pluck('domain'), [d1, d2].sort(), 'the old domain is released');
    assert.equal((await connectionForEmail(testDb(), `x@${first.domains[0]}`)), undefined);
    const err = await refused(setSsoConnection(testDb(), sealer, { ...first, issuer: 'https://other-idp.example', clientSecret: undefined }));
    assert.deepEqual([err.code, err.field, err.rule], ['invalid', 'clientSecret', 'required']);
    const none = await newOrg();
    assert.equal((await refused(setSsoConnection(testDb(), sealer, input(none.id, { clientSecret: undefined })))).rule, 'required');
    assert.deepEqual(await audits(org.id), ['sso_connection.created', 'sso_connection.updated']);
    assert.equal(await testDb()('sso_connections').where({ org_id: org.id }).count({ n: '*' }).then((r) => Number(r[0].n)), 1, 'one connection per organisation');
  });

  it('a domain is claimed by one organisation at most: the second gets a clear Conflict, and nothing of its own changes', async () => {
    const [a, b] = [await newOrg(), await newOrg()];
    const shared = `${unique('shared')}.test`;
    await setSsoConnection(testDb(), sealer, input(a.id, { domains: [shared] }));
    const own = `${unique('own')}.test`;
    await setSsoConnection(testDb(), sealer, input(b.id, { domains: [own] }));
    const err = await refused(setSsoConnection(testDb(), sealer, input(b.id, { issuer: 'https://b-idp.example', domains: [own, shared.toUpperCase()] })));
    assert.ok(err instanceof Conflict);
    assert.deepEqual([err.field, err.rule], ['domains', 'domain_claimed']);
    assert.equal(err.message, `the domain ${shared} is already claimed by another organisation; a domain belongs to one organisation's connection at most`);
    assert.equal(err.message.includes(a.id) || err.message.includes(a.name), false, 'which organisation is not said');
    const b2 = await getSsoConnection(testDb(), { orgId: b.id });
    assert.deepEqual([b2?.issuer, b2?.domains], ['https://idp.example/oauth2/default', [own]]);
    assert.equal((await connectionForEmail(testDb(), `someone@${shared}`))?.orgId, a.id);
  });

  it('two organisations claiming one domain at once: one wins, the other gets the Conflict', async () => {
    const [a, b] = [await newOrg(), await newOrg()];
    const contested = `${unique('race')}.test`;
    const results = await Promise.allSettled([a, b].map((o) => setSsoConnection(testDb(), sealer, input(o.id, { domains: [contested] }))));
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    const loser = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.equal((loser.reason as DirectoryError).rule, 'domain_claimed');
    assert.equal(await testDb()('sso_domains').where({ domain: contested }).count({ n: '*' }).then((r) => Number(r[0].n)), 1);
  });

  it('validates: https issuer (http only to the loopback), 1 to 20 domains that look like domains, a client id', async () => {
    const org = await newOrg();
    const cases: [Partial<SsoConnectionInput>, string, string][] = [
      [{ issuer: 'http://idp.example' }, 'issuer', 'not_https'],
      [{ issuer: 'https://idp.example/?tenant=1' }, 'issuer', 'malformed'],
      [{ issuer: 'idp.example' }, 'issuer', 'not_absolute'],
      [{ domains: [] }, 'domains', 'count'],
      [{ domains: Array.from({ length: 21 }, (_, i) => `d${i}.test`) }, 'domains', 'count'],
      [{ domains: ['localhost'] }, 'domains', 'malformed'],
      [{ domains: ['user@acme.test'] }, 'domains', 'malformed'],
      [{ domains: ['-acme.test'] }, 'domains', 'malformed'],
      [{ domains: ['acme.123'] }, 'domains', 'malformed'],
      [{ domains: ['https://acme.test'] }, 'domains', 'malformed'],
      [{ clientId: ' ' }, 'clientId', 'required'],
    ];
    for (const [change, field, rule] of cases) {
      const err = await refused(setSsoConnection(testDb(), sealer, input(org.id, change)));
      assert.ok(err instanceof Invalid, JSON.stringify(change));
      assert.deepEqual([err.field, err.rule], [field, rule], JSON.stringify(change));
    }
    assert.equal(await row(org.id), undefined, 'nothing stored');
    await setSsoConnection(testDb(), sealer, input(org.id, { issuer: 'http://127.0.0.1:8080/realms/acme' }));
    assert.equal(normalizeDomain('Bücher.Example'), 'xn--bcher-kva.example', 'international domains are stored in their ASCII form');
  });

  it('connectionForEmail finds the organisation whose claimed domain is exactly the e-mail domain', async () => {
    const org = await newOrg();
    const domain = `${unique('find')}.test`;
    await setSsoConnection(testDb(), sealer, input(org.id, { domains: [domain] }));
    assert.equal((await connectionForEmail(testDb(), `Ada@${domain.toUpperCase()}`))?.orgId, org.id);
    assert.equal(JSON.stringify(await connectionForEmail(testDb(), `ada@${domain}`)).includes('secret'), false);
    for (const email of [`ada@eu.${domain}`, `ada@${domain}.evil`, 'not-an-email', `@${domain}`]) {
      assert.equal(await connectionForEmail(testDb(), email), undefined, email);
    }
  });

  it('removes a connection with its domains and identities; sso leaves the login providers (passwords come back) and SSO is no longer enforced', async () => {
    const org = await newOrg();
    const conn = input(org.id);
    await setSsoConnection(testDb(), sealer, conn);
    await testDb()('organizations').where({ id: org.id }).update({ login_providers: ['sso'], sso_enforced: true });
    const owner = await testDb()('memberships').where({ org_id: org.id }).first('account_id');
    await testDb()('identities').insert({ account_id: owner.account_id, provider: conn.issuer, subject: unique('s'), org_id: org.id });
    assert.equal(await removeSsoConnection(testDb(), { orgId: org.id, actor }), true);
    assert.equal(await getSsoConnection(testDb(), { orgId: org.id }), undefined);
    assert.deepEqual(await testDb()('sso_domains').where({ org_id: org.id }), []);
    assert.deepEqual(await testDb()('identities').where({ org_id: org.id }), []);
    assert.deepEqual(await orgRow(org.id), { login_providers: ['password'], sso_enforced: false });
    assert.equal((await connectionForEmail(testDb(), `x@${conn.domains[0]}`)), undefined);
    assert.equal(await removeSsoConnection(testDb(), { orgId: org.id, actor }), false, 'nothing left to remove');
    assert.deepEqual(await audits(org.id), ['sso_connection.created', 'sso_connection.removed']);
  });

  it('a new issuer unlinks the identities of the previous one', async () => {
    const org = await newOrg();
    const conn = input(org.id);
    await setSsoConnection(testDb(), sealer, conn);
    const owner = await testDb()('memberships').where({ org_id: org.id }).first('account_id');
    await testDb()('identities').insert({ account_id: owner.account_id, provider: conn.issuer, subject: unique('s'), org_id: org.id });
    await setSsoConnection(testDb(), sealer, { ...conn }); // same issuer: kept
    assert.equal((await testDb()('identities').where({ org_id: org.id })).length, 1);
    await setSsoConnection(testDb(), sealer, { ...conn, issuer: 'https://login.microsoftonline.com/tenant/v2.0' });
    assert.deepEqual(await testDb()('identities').where({ org_id: org.id }), []);
  });
});
