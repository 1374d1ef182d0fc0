// The building blocks chained as the sign-in pages will chain them, against a real upstream: the e-mail finds
// the connection, its issuer is checked, the person signs in upstream, and the directory links or provisions.
import assert from 'node:assert/strict';
import { Browser } from '../../conformance/oidc/browser.ts';
import { createOrganization } from '../../src/directory/organizations.ts';
import { createSealer } from '../../src/directory/sealing.ts';
import { connectionForEmail, getSsoConnectionForSignIn, setSsoConnection } from '../../src/directory/sso.ts';
import { resolveSsoAccount } from '../../src/directory/sso-identities.ts';
import { checkIssuer, clearDiscoveryCache, finishUpstreamLogin, startUpstreamLogin } from '../../src/oidc/upstream.ts';
import { TEST_SECRET, unique } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { SSO_CALLBACK, startUpstreamIdp, type UpstreamIdp } from './upstream-idp.ts';

const sealer = createSealer(TEST_SECRET);

describe('Upstream SSO: e-mail -> connection -> upstream -> directory', function () {
  this.timeout(30_000);
  let idp: UpstreamIdp;
  before(async () => { idp = await startUpstreamIdp(); });
  after(async () => {
    await idp.stop();
    clearDiscoveryCache();
  });

  it('a newcomer of a claimed domain is provisioned at the first sign-in, and recognised by the identity at the next', async () => {
    const name = unique('flow-');
    const { org } = await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
    const domain = `${name}.test`;
    const { issuer } = await checkIssuer(idp.issuer);
    await setSsoConnection(testDb(), sealer, { orgId: org.id, actor: { type: 'system', id: 'test' }, issuer, clientId: idp.clientId, clientSecret: idp.clientSecret, domains: [domain] });
    const person = idp.addAccount({ email: `lin@${domain}`, emailVerified: true, givenName: 'Lin', familyName: 'Chen', amr: ['mfa'] });

    const signIn = async () => {
      const found = await connectionForEmail(testDb(), person.email);
      assert.equal(found?.orgId, org.id);
      const connection = (await getSsoConnectionForSignIn(testDb(), sealer, { orgId: found!.orgId }))!;
      const started = await startUpstreamLogin({ connection, redirectUri: SSO_CALLBACK, loginHint: person.email });
      const back = await new Browser().go(started.url, { stopAt: (u) => u.startsWith(SSO_CALLBACK) });
      const login = await finishUpstreamLogin({ connection, callbackUrl: back.location!, expected: started });
      assert.deepEqual(login.amr, ['mfa']);
      return resolveSsoAccount(testDb(), { orgId: org.id, provider: login.issuer, subject: login.subject, email: login.email, givenName: login.givenName, familyName: login.familyName });
    };

    const first = await signIn();
    assert.equal(first.outcome, 'provisioned');
    const account = await testDb()('accounts').where({ id: first.accountId }).first();
    assert.deepEqual([account.email, account.email_verified, account.given_name], [person.email, true, 'Lin']);
    assert.deepEqual(await testDb()('identities').where({ account_id: first.accountId }).select('provider', 'subject', 'org_id'), [{ provider: idp.issuer, subject: person.sub, org_id: org.id }]);
    assert.deepEqual(await signIn(), { accountId: first.accountId, outcome: 'returning' });
  });
});
