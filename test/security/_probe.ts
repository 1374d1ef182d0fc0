import { createUser, createGroup, newOrg, unique, userBody, PATCH_OP, testApp } from '../helpers.ts';
import { testDb } from '../setup.ts';
import supertest from 'supertest';

const show = (label: string, r: any) => console.log(label, r.status, JSON.stringify(r.body).slice(0, 300));

describe('probe', () => {
  it('probes', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const q = (f: string) => org.scim.get(`/Users?filter=${encodeURIComponent(f)}`);
    show('bs', await q('userName eq "\\\\"'));
    show('bs1', await q('userName eq "a\\"b"'));
    show('nul', await q('userName eq "a\u0000b"'));
    show('not-deep-500', await q('not ('.repeat(500) + 'userName eq "x"' + ')'.repeat(500)));
    show('not-deep-1600', await q('not ('.repeat(1600) + 'userName eq "x"' + ')'.repeat(1600)));
    show('paren-4000', await q('('.repeat(4900) + 'userName eq "x"' + ')'.repeat(4900)));
    show('and-deep', await q('(userName eq "a" and '.repeat(450) + 'userName eq "x"' + ')'.repeat(450)));
    show('or-chain', await q(Array.from({ length: 400 }, (_, i) => `userName eq "a${i}"`).join(' or ')));
    show('date-far', await q('meta.created gt "+275760-09-13T00:00:00.000Z"'));
    show('date-neg', await q('meta.created gt "-000001-01-01T00:00:00Z"'));
    show('regex', await q('userName regex ".*"'));
    show('long-user', await org.scim.post('/Users', userBody(`${'x'.repeat(300)}`, { emails: [{ value: `${unique()}@example.test`, primary: true }] })));
    show('nul-user', await org.scim.post('/Users', userBody(`a\u0000b@example.test`)));
    show('nul-name', await org.scim.patch(`/Users/${u.id}`, [{ op: 'replace', path: 'name.givenName', value: 'a\u0000b' }]));
    const { randomBytes } = await import('node:crypto');
    show('ext-long', await org.scim.post('/Users', userBody(`${unique()}@example.test`, { externalId: randomBytes(3000).toString('base64').slice(0, 4000) })));
    show('group-long', await org.scim.post('/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'g'.repeat(300) }));
    show('sort', await org.scim.get('/Users?sortBy=password'));
    show('sort2', await org.scim.get('/Users?sortBy=nope'));
    show('count', await org.scim.get('/Users?count=abc'));
    show('emailsbad', await org.scim.patch(`/Users/${u.id}`, [{ op: 'replace', path: 'emails[type eq]', value: 'x' }]));
    show('name[', await org.scim.patch(`/Users/${u.id}`, [{ op: 'replace', path: 'name[', value: 'x' }]));
    show('proto', await org.scim.patch(`/Users/${u.id}`, [{ op: 'replace', path: '__proto__.polluted', value: 'x' }]));
    show('proto2', await org.scim.patch(`/Users/${u.id}`, [{ op: 'replace', value: JSON.parse('{"__proto__": {"polluted": "yes"}, "name": {"__proto__": {"x":1}}}') }]));
    console.log('polluted?', ({} as any).polluted);
    const unauth = await supertest(testApp()).post('/scim/v2/Users').set('Content-Type', 'application/scim+json').send('{"bad');
    show('unauth-bad-json', unauth);
    const big = await supertest(testApp()).get('/scim/v2/Users').set('Authorization', 'Bearer rst_scim_' + 'A'.repeat(20000));
    show('huge header', big);
  });
});
