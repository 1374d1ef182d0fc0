// The SSO connection through the admin API: a domain is claimed only once the organisation has published
// the TXT record that proves it controls it (read from a real DNS server on 127.0.0.1 through Node's
// resolver), the issuer's discovery document is checked (a real oidc-provider upstream), the secret is never
// returned, and GET shows the redirect URI to register upstream.
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { createOrganization } from '../../src/directory/organizations.ts';
import { type Srv, startServer, stopServer } from '../oidc-server.ts';
import { startUpstreamIdp, type UpstreamIdp } from '../sso/upstream-idp.ts';
import { unique } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { adminApi } from './support.ts';

/** A DNS server that answers TXT queries from a map (name -> values), NXDOMAIN otherwise. Enough of RFC 1035 for Node's resolver. */
async function startTxtServer(records: Map<string, string[]>): Promise<{ port: number; socket: Socket }> {
  const socket = createSocket('udp4');
  socket.on('message', (query, from) => {
    let offset = 12;
    const labels: string[] = [];
    while (query[offset] !== 0) {
      labels.push(query.subarray(offset + 1, offset + 1 + query[offset]).toString());
      offset += query[offset] + 1;
    }
    const question = query.subarray(12, offset + 5);
    const qtype = query.readUInt16BE(offset + 1);
    const values = qtype === 16 ? records.get(labels.join('.').toLowerCase()) ?? [] : [];
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    header.writeUInt16BE(values.length ? 0x8180 : 0x8183, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(values.length, 6);
    const answers = values.map((v) => {
      const text = Buffer.from(v);
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0);
      rr.writeUInt16BE(16, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(text.length + 1, 10);
      return Buffer.concat([rr, Buffer.from([text.length]), text]);
    });
    socket.send(Buffer.concat([header, question, ...answers]), from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: (socket.address() as AddressInfo).port, socket };
}

describe('admin API: the SSO connection', function () {
  this.timeout(60_000);
  let srv: Srv;
  let upstream: UpstreamIdp;
  let dns: { port: number; socket: Socket };
  const records = new Map<string, string[]>();

  before(async () => {
    dns = await startTxtServer(records);
    const resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([`127.0.0.1:${dns.port}`]);
    srv = await startServer({ resolveTxt: (name) => resolver.resolveTxt(name) });
    upstream = await startUpstreamIdp({ redirectUri: `${srv.issuer}/sso/callback` });
  });
  after(async () => {
    await stopServer(srv);
    await upstream?.stop();
    dns?.socket.close();
  });

  const api = adminApi(() => srv.issuer);

  async function newOrg() {
    const name = unique('ssoapi-');
    const org = await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
    return { id: org.org.id, key: org.apiKey };
  }

  it('refuses a domain until its TXT record is published, then claims it; the secret is never shown; GET names the redirect URI', async () => {
    const org = await newOrg();
    const domain = `${unique('corp')}.test`;
    const put = { issuer: upstream.issuer, clientId: upstream.clientId, clientSecret: upstream.clientSecret, domains: [domain] };

    const none = await api('GET', `/orgs/${org.id}/sso-connection`, org.key);
    assert.equal(none.status, 404);
    assert.equal(none.body.redirectUri, `${srv.issuer}/sso/callback`, 'the redirect URI is known before there is a connection');

    const refused = await api('PUT', `/orgs/${org.id}/sso-connection`, org.key, put);
    assert.equal(refused.status, 400);
    assert.equal(refused.body.code, 'domain_not_verified');
    const [record] = refused.body.records as { name: string; type: string; value: string }[];
    assert.equal(record.name, `_roster-verification.${domain}`);
    assert.equal(record.type, 'TXT');
    assert.equal(await testDb()('sso_connections').where({ org_id: org.id }).first(), undefined, 'nothing saved');

    const asked = await api('GET', `/orgs/${org.id}/sso-connection/domain-verification?domain=${domain.toUpperCase()}`, org.key);
    assert.deepEqual(asked.body, record, 'the record can be read before trying');

    // Another organisation's record for the same domain does not prove it for this one.
    const other = await newOrg();
    const othersRecord = (await api('GET', `/orgs/${other.id}/sso-connection/domain-verification?domain=${domain}`, other.key)).body;
    assert.notEqual(othersRecord.value, record.value);
    records.set(record.name, ['v=spf1 -all', othersRecord.value]);
    assert.equal((await api('PUT', `/orgs/${org.id}/sso-connection`, org.key, put)).body.code, 'domain_not_verified');

    records.set(record.name, ['unrelated', record.value]);
    const saved = await api('PUT', `/orgs/${org.id}/sso-connection`, org.key, put);
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
    assert.deepEqual([saved.body.issuer, saved.body.domains, saved.body.jitProvisioning, saved.body.redirectUri], [upstream.issuer, [domain], true, `${srv.issuer}/sso/callback`]);
    const shown = await api('GET', `/orgs/${org.id}/sso-connection`, org.key);
    assert.equal(JSON.stringify(shown.body).includes(upstream.clientSecret), false, 'the secret is never returned');
    assert.equal(shown.body.clientSecret, undefined);

    // A domain already claimed stays without asking again (the record may be gone); the secret is kept when not given.
    records.delete(record.name);
    const kept = await api('PUT', `/orgs/${org.id}/sso-connection`, org.key, { issuer: upstream.issuer, clientId: upstream.clientId, domains: [domain], jitProvisioning: false });
    assert.equal(kept.status, 200, JSON.stringify(kept.body));
    assert.equal(kept.body.jitProvisioning, false);

    // The other organisation cannot claim it, even with its own record published.
    records.set(record.name, [othersRecord.value]);
    const taken = await api('PUT', `/orgs/${other.id}/sso-connection`, other.key, { ...put, domains: [domain] });
    assert.equal(taken.status, 409);
    assert.equal(taken.body.code, 'domain_claimed');
  });

  it('checks the issuer (discovery), validates the body, needs org.manage; DELETE removes it and SSO stops being enforced', async () => {
    const org = await newOrg();
    const domain = `${unique('corp')}.test`;
    const record = (await api('GET', `/orgs/${org.id}/sso-connection/domain-verification?domain=${domain}`, org.key)).body;
    records.set(record.name, [record.value]);

    const notAnIssuer = await api('PUT', `/orgs/${org.id}/sso-connection`, org.key, { issuer: `${srv.issuer}/nothing-here`, clientId: 'x', clientSecret: 'y', domains: [domain] });
    assert.equal(notAnIssuer.status, 400);
    assert.equal(notAnIssuer.body.code, 'discovery_failed');
    for (const bad of [{}, { issuer: upstream.issuer, clientId: 'x', domains: [] }, { issuer: upstream.issuer, clientId: 'x', clientSecret: 'y', domains: ['not a domain'] }, { issuer: upstream.issuer, clientId: 'x', clientSecret: 'y', domains: [domain], extra: 1 }]) {
      const res = await api('PUT', `/orgs/${org.id}/sso-connection`, org.key, bad);
      assert.equal(res.status, 400, JSON.stringify(bad));
    }
    assert.equal(await testDb()('sso_connections').where({ org_id: org.id }).first(), undefined, 'nothing saved by refused requests');

    const member = await api('POST', `/orgs/${org.id}/api-keys`, org.key, { name: 'reader', role: 'member' });
    assert.equal((await api('GET', `/orgs/${org.id}/sso-connection`, member.body.secret)).status, 403);

    assert.equal((await api('PUT', `/orgs/${org.id}/sso-connection`, org.key, { issuer: upstream.issuer, clientId: upstream.clientId, clientSecret: upstream.clientSecret, domains: [domain] })).status, 200);
    const enforced = await api('PATCH', `/orgs/${org.id}`, org.key, { loginConfiguration: { ssoEnforced: true } });
    assert.equal(enforced.status, 200, JSON.stringify(enforced.body));
    assert.equal((await api('DELETE', `/orgs/${org.id}/sso-connection`, org.key)).status, 204);
    const after = await api('GET', `/orgs/${org.id}`, org.key);
    assert.deepEqual([after.body.loginConfiguration.ssoEnforced, after.body.loginConfiguration.loginProviders], [false, ['password']]);
    assert.equal((await api('DELETE', `/orgs/${org.id}/sso-connection`, org.key)).status, 404);
    const actions = await testDb()('audit_events').where({ org_id: org.id, target_type: 'sso_connection' }).orderBy('id').pluck('action');
    assert.deepEqual(actions, ['sso_connection.created', 'sso_connection.removed']);
  });
});
