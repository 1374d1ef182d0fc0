// The SSO connection, as far as a black-box suite can go without an identity provider and DNS of its own:
// none at first, the DNS record that proves a domain, a connection for a domain not proven refused.
import assert from 'node:assert/strict';
import { qs } from './client.ts';
import { expectBadRequest, expectJson, expectProblem } from './admin.ts';
import { test } from './runner.ts';

test('sso-connection: none at first (GET 404 naming the redirect URI to register, DELETE 404); the DNS record that proves a domain; a PUT for a domain not proven is 400 domain_not_verified naming that record, and sets nothing; bad input 400', async (ctx) => {
  const { api } = ctx;
  const before = expectJson(await api.get(api.org()));
  const first = await api.get(api.org('/sso-connection'));
  if (first.status === 200) ctx.skip('the organisation has an SSO connection already; this case needs one without');
  const none = expectProblem(first, 404, 'not_found');
  assert.ok(typeof none.redirectUri === 'string' && URL.canParse(none.redirectUri), `the 404 names the redirect URI to register: ${first.text}`);

  const domain = `${ctx.scope}.invalid`;
  const record = expectJson(await api.get(api.org(`/sso-connection/domain-verification${qs({ domain: ` ${domain.toUpperCase()}. ` })}`)));
  assert.equal(record.type, 'TXT');
  assert.equal(record.name, `_roster-verification.${domain}`, 'the record sits under the normalised domain');
  assert.ok(typeof record.value === 'string' && record.value.length >= 16, JSON.stringify(record));
  assert.deepEqual(expectJson(await api.get(api.org(`/sso-connection/domain-verification${qs({ domain })}`))), record, 'the same record each time');
  for (const bad of [{}, { domain: 'not a domain' }, { domain: 'localhost' }, { domain: 'a@b.example' }, { domain, extra: 'x' }]) {
    expectBadRequest(await api.get(api.org(`/sso-connection/domain-verification${qs(bad)}`)));
  }

  const put = { issuer: 'https://idp.conformance.invalid', clientId: 'conformance', clientSecret: 'not-a-real-secret', domains: [domain] };
  const refused = expectProblem(await api.put(api.org('/sso-connection'), put), 400, 'domain_not_verified');
  assert.ok(Array.isArray(refused.records) && refused.records.some((r: any) => r.name === record.name && r.value === record.value), `the refusal names the record to publish: ${JSON.stringify(refused)}`);
  for (const body of [{}, { ...put, domains: [] }, { ...put, domains: ['not a domain'] }, { ...put, issuer: '' }, { ...put, clientId: undefined }, { ...put, extra: 1 }]) {
    expectBadRequest(await api.put(api.org('/sso-connection'), body));
  }
  expectProblem(await api.get(api.org('/sso-connection')), 404, 'not_found');
  expectProblem(await api.del(api.org('/sso-connection')), 404, 'not_found');
  assert.deepEqual(expectJson(await api.get(api.org())).loginConfiguration, before.loginConfiguration, 'the login configuration changed');
});
