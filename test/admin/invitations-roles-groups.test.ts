// The admin API's invitations, roles and groups, end to end on a real database, through the HTTP server
// (with Roster's own OIDC provider, so members call the API with the access tokens they get by signing in).
//
// What this file proves:
// - POST /invitations invites a batch all or nothing: each pending, expiring after the organisation's
//   invitation lifetime, one e-mail each (organisation, inviter, role as people read it, message, the link
//   ISSUER/account/invitation?token=rst_inv_..., expiry) in the organisation's outbox,
//   the token stored only as its SHA-256; every refusal (too long a message, a malformed address, the owner
//   role, an unknown role, a role past the caller, a member, a pending invitation, the licence limit, SSO
//   enforced, a SCIM group) is a 400/403/409 problem that writes nothing: no invitation, mail or audit event.
// - The e-mail reaches a real SMTP server (smtp-server) through the mail sender, with the link.
// - Listing: newest first, status, inviter, expiry, total, cursor paging, the status filter (pending,
//   cancelled, expired); resend gives a new token (the old one stops matching), a fresh expiry, a second
//   e-mail; cancel; pending invitations in the roster as `invited`.
// - Accepting and declining through the directory functions the invitation page calls, with the token
//   from the e-mail: a new person's own password, the invited role and groups; a used, expired, cancelled or
//   declined link changes nothing.
// - Roles: built-in and custom, the refusals (name taken, bad colour, unknown or owner-only permission,
//   escalation, built-in roles fixed, a role in use), and a custom role's new permissions taking effect on
//   the holder's very next request.
// - Groups: the admin API's own groups are edited here; SCIM's are read-only here except for the role they
//   grant, and that role (and its removal) takes effect on the members' very next request.
// - Every successful write adds exactly one audit event with the right action; every refused one none.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { acceptInvitation, declineInvitation, viewInvitation } from '../../src/directory/invitations.ts';
import { createPasswordHasher } from '../../src/directory/passwords.ts';
import { startMailSender } from '../../src/mail/sender.ts';
import { createGroup as scimCreateGroup, unique } from '../helpers.ts';
import { eventually, startSmtpReceiver } from '../mail/support.ts';
import { testDb } from '../setup.ts';
import { adminServer, type ApiResponse as Res, type Team } from './support.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
const hasher = createPasswordHasher();

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const address = (label = 'inv-') => `${unique(label)}@example.test`;

describe('admin API: invitations, roles and groups', function () {
  this.timeout(120_000);
  /** newTeam(): an organisation, and a caller of its admin API: paths relative to /api/v1/orgs/{orgId}, the owner's API key unless told. */
  const { issuer, newTeam, signIn } = adminServer();

  // -------------------------------------------------------------------------------------------------------
  // Helpers

  const ok = (res: Res, status: number, what = '') => assert.equal(res.status, status, `${what} ${JSON.stringify(res.body)}`);

  /** A problem+json answer with this status and code. */
  function problem(res: Res, status: number, code: string, what = ''): void {
    assert.equal(res.status, status, `${what} ${JSON.stringify(res.body)}`);
    assert.match(res.type, /application\/problem\+json/, what);
    assert.equal(res.body.code, code, `${what} ${JSON.stringify(res.body)}`);
  }

  /** The organisation's audit events after `mark` (an event id), oldest first. */
  const auditMark = async (orgId: string) => Number((await testDb()('audit_events').where({ org_id: orgId }).max({ m: 'id' }).first())?.m ?? 0);
  const auditSince = (orgId: string, mark: number) => testDb()('audit_events').where({ org_id: orgId }).where('id', '>', mark).orderBy('id')
    .select('action', 'actor_type', 'actor_id', 'target_id', 'details');

  /** Runs `fn` and checks it added exactly the audit events `actions` (none: a refusal). */
  async function audited<T>(orgId: string, actions: string[], fn: () => Promise<T>): Promise<{ result: T; events: any[] }> {
    const mark = await auditMark(orgId);
    const result = await fn();
    const events = await auditSince(orgId, mark);
    assert.deepEqual(events.map((e) => e.action), actions, 'audit events');
    return { result, events };
  }

  /** A successful write: `status`, and exactly one audit event `action`. */
  async function write(team: Team, action: string, status: number, method: string, path: string, body?: unknown, token?: string) {
    const { result, events } = await audited(team.id, [action], () => team.call(method, path, body, token));
    ok(result, status, `${method} ${path}`);
    return { res: result, event: events[0] };
  }

  const invitationRows = (orgId: string) => testDb()('invitations').where({ org_id: orgId }).orderBy('created_at');
  const mailsTo = (to: string) => testDb()('outbox').whereRaw('lower(to_address) = lower(?)', [to]).orderBy('seq').select('id', 'org_id', 'to_address', 'subject', 'text_body', 'html_body', 'status');
  const mailCount = async (addresses: string[]) => Number((await testDb()('outbox').whereRaw('lower(to_address) = any(?::text[])', [addresses.map((a) => a.toLowerCase())]).count({ n: '*' }))[0].n);

  /** The invitation link of a message, and its token. */
  function linkIn(text: string): { link: string; token: string } {
    const m = new RegExp(`^(${issuer().replace(/[.]/g, '\\.')}/account/invitation\\?token=(rst_inv_[A-Za-z0-9_-]{43}))$`, 'm').exec(text);
    assert.ok(m, `no invitation link under ${issuer()} in: ${text}`);
    return { link: m[1], token: m[2] };
  }

  /** The token of the newest invitation e-mail to this address. */
  async function tokenSentTo(to: string): Promise<string> {
    const mails = await mailsTo(to);
    assert.ok(mails.length > 0, `no mail to ${to}`);
    return linkIn(mails[mails.length - 1].text_body).token;
  }

  /** A refused request: the problem, and nothing written (no invitation, no mail to `addresses`, no audit event). */
  async function refused(team: Team, addresses: string[], status: number, code: string, method: string, path: string, body: unknown, token?: string): Promise<Res> {
    const invitations = (await invitationRows(team.id)).length;
    const mails = await mailCount(addresses);
    const { result } = await audited(team.id, [], () => team.call(method, path, body, token));
    problem(result, status, code, `${method} ${path} ${String(JSON.stringify(body)).slice(0, 200)}`);
    assert.equal((await invitationRows(team.id)).length, invitations, 'no invitation written');
    assert.equal(await mailCount(addresses), mails, 'no mail queued');
    return result;
  }

  /** Waits until the clock is past `t` (so the next row gets a later created_at): no assumption about speed. */
  async function clockPast(t: Date | string): Promise<void> {
    const after = new Date(t).getTime() + 2;
    while (Date.now() <= after) await sleep(2);
  }

  /** A member added with POST members: their id, account and temporary password. */
  async function addMember(team: Team, opts: { role?: string; name?: string } = {}) {
    const email = address('member-');
    const { res } = await write(team, 'member.created', 201, 'POST', '/members', { email, role: opts.role ?? 'member', ...(opts.name ? { name: opts.name } : {}) });
    return { email, memberId: res.body.member.id as string, accountId: res.body.member.accountId as string, temporaryPassword: res.body.temporaryPassword as string };
  }

  /** A member with role `member` (or `role`), signed in: their access token. */
  async function signedInMember(team: Team, opts: { role?: string; name?: string } = {}) {
    const m = await addMember(team, opts);
    return { ...m, token: await signIn(team.id, m.email, m.temporaryPassword) };
  }

  const apiKeyId = async (team: Team) => (await testDb()('credentials').where({ org_id: team.id, kind: 'api_key' }).first('id')).id as string;
  const expiryText = (d: Date | string) => new Date(d).toUTCString().replace(/:\d\d GMT$/, ' UTC');

  // -------------------------------------------------------------------------------------------------------
  // Creating invitations

  describe('POST invitations', () => {
    it("invites a batch of three: 201, each pending with the organisation's lifetime; one e-mail each naming the organisation, inviter, role, message, link and expiry; the token only as a hash; one audit event", async () => {
      const team = await newTeam();
      await write(team, 'organization.updated', 200, 'PATCH', '', { invitationLifetimeDays: 3 });
      const emails = [address(), address(), address()];
      const message = 'Welcome aboard: the stand-up is at 9:30, see you Monday.';
      const before = Date.now();
      const { res, event } = await write(team, 'invitation.created', 201, 'POST', '/invitations', { emails, role: 'member', message });
      const after = Date.now();

      assert.equal(res.body.items.length, 3);
      assert.deepEqual(res.body.items.map((i: any) => i.email), emails);
      assert.doesNotMatch(JSON.stringify(res.body), /rst_inv_/, 'the answer never shows a token');
      const keyId = await apiKeyId(team);
      for (const item of res.body.items) {
        assert.equal(item.status, 'pending');
        assert.equal(item.role, 'member');
        assert.equal(item.message, message);
        assert.equal(item.timesSent, 1);
        assert.deepEqual(item.invitedBy, { type: 'api_key', id: keyId, name: null });
        const expires = Date.parse(item.expiresAt);
        // Set in one statement with the send time: exactly the lifetime apart (no clock of this process involved) ...
        assert.equal(expires - Date.parse(item.lastSentAt), 3 * DAY_MS, 'expiresAt = sent + invitationLifetimeDays');
        // ... and that is now (a second either way for the database's clock and rounding).
        assert.ok(expires >= before + 3 * DAY_MS - 1000 && expires <= after + 3 * DAY_MS + 1000, `expiresAt ${item.expiresAt} is now + 3 days`);
      }
      assert.equal(event.actor_type, 'api_key');
      assert.deepEqual(event.target_id.split(',').sort(), res.body.items.map((i: any) => i.id).sort());

      const rows = await invitationRows(team.id);
      assert.equal(rows.length, 3);
      const links = new Set<string>();
      for (const item of res.body.items) {
        const mails = await mailsTo(item.email);
        assert.equal(mails.length, 1, `one message to ${item.email}`);
        const [mail] = mails;
        const { link, token } = linkIn(mail.text_body);
        links.add(link);
        assert.equal(mail.subject, `You are invited to join ${team.org.name}`);
        assert.ok(mail.text_body.includes(`An administrator invited you to join ${team.org.name} on Roster, with the role Member.`), mail.text_body);
        assert.equal(mail.org_id, team.id, "the organisation's outbox");
        assert.ok(mail.text_body.includes(`Their message: ${message}`), mail.text_body);
        assert.ok(mail.text_body.includes(`The link works until ${expiryText(item.expiresAt)}.`), mail.text_body);
        assert.ok(mail.html_body.includes(link), 'the HTML has the link too');
        const row = rows.find((r) => r.id === item.id)!;
        assert.match(row.token_hash, /^[0-9a-f]{64}$/);
        assert.equal(row.token_hash, sha256(token), 'the stored hash is the SHA-256 of the mailed token');
        assert.ok(!JSON.stringify(row).includes(token), 'the token is not in the row');
        assert.ok(!JSON.stringify(row).includes(token.slice('rst_inv_'.length)), 'nor its random part');
      }
      assert.equal(links.size, 3, 'each address its own link');
    });

    it('a message of 2,500 characters is taken; 2,501 is a 400 that writes nothing', async () => {
      const team = await newTeam();
      const to = address();
      const res = await refused(team, [to], 400, 'invalid_request', 'POST', '/invitations', { emails: [to], role: 'member', message: 'x'.repeat(2501) });
      assert.ok(res.body.errors.some((e: any) => e.field === 'message'), JSON.stringify(res.body));
      const { res: taken } = await write(team, 'invitation.created', 201, 'POST', '/invitations', { emails: [to], role: 'member', message: 'y'.repeat(2500) });
      assert.equal(taken.body.items[0].message.length, 2500);
    });

    it('a malformed address anywhere in the batch is a 400 naming emails[i], and no invitation of the batch is written', async () => {
      const team = await newTeam();
      for (const bad of ['not an e-mail', 'no-at-sign.example.test', 'two@@example.test', 'trailing@']) {
        const good = [address(), address()];
        const res = await refused(team, good, 400, 'invalid_value', 'POST', '/invitations', { emails: [good[0], bad, good[1]], role: 'member' });
        assert.equal(res.body.field, 'emails[1]', `${bad}: ${JSON.stringify(res.body)}`);
        assert.deepEqual(res.body.errors.map((e: any) => e.field), ['emails[1]'], bad);
      }
    });

    it('an address mail cannot carry (a comma, a quoted local part) is refused like any malformed one: 400 naming emails[i], nothing written', async () => {
      const team = await newTeam();
      for (const bad of ['a,b@example.test', '"quoted"@example.test', 'x<y>@example.test']) {
        const good = [address(), address()];
        const res = await refused(team, good, 400, 'invalid_value', 'POST', '/invitations', { emails: [good[0], bad, good[1]], role: 'member' });
        assert.equal(res.body.field, 'emails[1]', `${bad}: ${JSON.stringify(res.body)}`);
      }
    });

    it('the owner role or an unknown role is a 400, a role past the caller a 403; nothing written', async () => {
      const team = await newTeam();
      const to = address();
      for (const role of ['owner', 'emperor', '00000000-0000-4000-8000-000000000000', '']) {
        const code = role === '' ? 'invalid_request' : 'invalid_value';
        await refused(team, [to], 400, code, 'POST', '/invitations', { emails: [to], role });
      }
      // An admin key cannot invite someone as billing (billing.manage is not the admin's).
      const { res: admin } = await write(team, 'api_key.created', 201, 'POST', '/api-keys', { name: 'admin key', role: 'admin' });
      const res = await refused(team, [to], 403, 'escalation', 'POST', '/invitations', { emails: [to], role: 'billing' }, admin.body.secret);
      assert.equal(res.body.field, 'role');
    });

    it('an address that is already a member is 409 already_member; one already invited (any case) 409 already_invited; the rest of the batch is not written', async () => {
      const team = await newTeam();
      const fresh = address();
      const res = await refused(team, [fresh], 409, 'already_member', 'POST', '/invitations', { emails: [fresh, team.owner.email.toUpperCase()], role: 'member' });
      assert.ok(res.body.detail.includes(team.owner.email), res.body.detail);

      const invited = address();
      await write(team, 'invitation.created', 201, 'POST', '/invitations', { emails: [invited], role: 'member' });
      for (const again of [invited, invited.toUpperCase()]) {
        await refused(team, [fresh, invited], 409, 'already_invited', 'POST', '/invitations', { emails: [fresh, again], role: 'admin' });
      }
      assert.equal((await mailsTo(invited)).length, 1, 'the first invitation only');
      const rows = await invitationRows(team.id);
      assert.deepEqual(rows.map((r) => [r.email, r.role, r.status]), [[invited, 'member', 'pending']]);
    });

    it('a batch that would pass the licence limit is 409 licence_limit_reached and writes none of it; one that fits is taken; billing takes no seat', async () => {
      const team = await newTeam();
      // In use: the owner and one pending invitation. The limit leaves room for two more.
      await write(team, 'invitation.created', 201, 'POST', '/invitations', { emails: [address()], role: 'member' });
      await write(team, 'organization.updated', 200, 'PATCH', '', { licenceLimit: 4 });
      assert.equal((await team.call('GET', '')).body.licencesUsed, 2);
      const three = [address(), address(), address()];
      await refused(team, three, 409, 'licence_limit_reached', 'POST', '/invitations', { emails: three, role: 'member' });
      await write(team, 'invitation.created', 201, 'POST', '/invitations', { emails: three.slice(0, 2), role: 'member' });
      assert.equal((await team.call('GET', '')).body.licencesUsed, 4);
      await refused(team, [three[2]], 409, 'licence_limit_reached', 'POST', '/invitations', { emails: [three[2]], role: 'admin' });
      await write(team, 'invitation.created', 201, 'POST', '/invitations', { emails: [three[2]], role: 'billing' });
    });

    it('with SSO enforced, 409 sso_enforced; naming a group SCIM provisioned, 409 managed_by_scim; nothing written', async () => {
      const team = await newTeam();
      const scimGroup = await scimCreateGroup(team.scim);
      const to = address();
      await refused(team, [to], 409, 'managed_by_scim', 'POST', '/invitations', { emails: [to], role: 'member', groupIds: [scimGroup.id] });
      const { res: own } = await write(team, 'group.created', 201, 'POST', '/groups', { name: unique('own-') });
      const missing = '00000000-0000-4000-8000-000000000000';
      await refused(team, [to], 400, 'invalid_value', 'POST', '/invitations', { emails: [to], role: 'member', groupIds: [own.body.id, missing] });

      await testDb()('organizations').where({ id: team.id }).update({ sso_enforced: true });
      await refused(team, [to], 409, 'sso_enforced', 'POST', '/invitations', { emails: [to], role: 'member' });
      await testDb()('organizations').where({ id: team.id }).update({ sso_enforced: false });
      const { res } = await write(team, 'invitation.created', 201, 'POST', '/invitations', { emails: [to], role: 'member', groupIds: [own.body.id] });
      assert.deepEqual(res.body.items[0].groupIds, [own.body.id]);
    });

    it('the invitation e-mail is delivered to a real SMTP server, with the link', async () => {
      const receiver = await startSmtpReceiver();
      const sender = startMailSender({ db: testDb(), logger: pino({ level: 'silent' }), smtpUrl: receiver.url, from: 'Roster <mail@roster.test>', everyMs: 100 });
      try {
        const team = await newTeam();
        const to = address();
        await write(team, 'invitation.created', 201, 'POST', '/invitations', { emails: [to], role: 'admin', message: 'Come and help.' });
        sender.wake();
        const [got] = await eventually('the invitation e-mail', () => (receiver.to(to).length ? receiver.to(to) : undefined));
        const [queued] = await mailsTo(to);
        const { link } = linkIn(queued.text_body);
        assert.deepEqual(got.envelope, { from: 'mail@roster.test', to: [to] });
        assert.equal(got.headers.get('subject'), `You are invited to join ${team.org.name}`);
        assert.equal(linkIn(got.text).link, link, 'the delivered text carries the link');
        assert.ok(got.text.includes('with the role Admin') && got.text.includes('Their message: Come and help.'), got.text);
        assert.ok(got.html.includes(`href="${link}"`), 'the delivered HTML links to it');
        await eventually('the message marked sent', async () => (await mailsTo(to))[0].status === 'sent');
        assert.equal(receiver.to(to).length, 1, 'delivered once');
      } finally {
        await sender.stop();
        await receiver.close();
      }
    });
  });

  // -------------------------------------------------------------------------------------------------------
  // Listing, resending, cancelling

  describe('GET, resend and cancel invitations', () => {
    it('lists newest first with status, inviter, expiry and total; pages by cursor; filters by status (pending, expired, cancelled); pending ones are in the roster as invited', async () => {
      const team = await newTeam();
      const invite = async (emails: string[]) => (await write(team, 'invitation.created', 201, 'POST', '/invitations', { emails, role: 'member' })).res.body.items as any[];
      const [a] = await invite([address()]);
      await clockPast(a.createdAt);
      const batch = await invite([address(), address(), address()]);
      await clockPast(batch[0].createdAt);
      const [c] = await invite([address()]);

      const all = await team.call('GET', '/invitations');
      ok(all, 200);
      assert.equal(all.body.total, 5);
      assert.equal(all.body.nextCursor, null);
      const ids = all.body.items.map((i: any) => i.id);
      const batchNewestFirst = batch.map((i) => i.id).sort().reverse(); // one statement: one created_at, then by id
      assert.deepEqual(ids, [c.id, ...batchNewestFirst, a.id], 'newest first');
      const keyId = await apiKeyId(team);
      for (const item of all.body.items) {
        assert.equal(item.status, 'pending');
        assert.deepEqual(item.invitedBy, { type: 'api_key', id: keyId, name: null });
        assert.ok(Date.parse(item.expiresAt) > Date.parse(item.createdAt));
      }

      // Cursor paging: 2 + 2 + 1, the same order, the same total on every page.
      const paged: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: Res = await team.call('GET', `/invitations?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        ok(page, 200);
        assert.equal(page.body.total, 5);
        paged.push(...page.body.items.map((i: any) => i.id));
        cursor = page.body.nextCursor;
        pages += 1;
      } while (cursor && pages < 10);
      assert.equal(pages, 3);
      assert.deepEqual(paged, ids);
      for (const bad of ['?cursor=nonsense', '?limit=0', '?status=lost']) problem(await team.call('GET', `/invitations${bad}`), 400, 'invalid_request', bad);

      // One lapses, one is cancelled.
      await testDb()('invitations').where({ org_id: team.id, id: a.id }).update({ expires_at: testDb().raw("now() - interval '1 minute'") });
      await write(team, 'invitation.cancelled', 204, 'DELETE', `/invitations/${c.id}`);
      const byStatus = async (status: string) => {
        const res = await team.call('GET', `/invitations?status=${status}`);
        ok(res, 200, status);
        assert.equal(res.body.total, res.body.items.length);
        return res.body.items.map((i: any) => [i.id, i.status]);
      };
      assert.deepEqual(await byStatus('pending'), batchNewestFirst.map((id) => [id, 'pending']));
      assert.deepEqual(await byStatus('expired'), [[a.id, 'expired']]);
      assert.deepEqual(await byStatus('cancelled'), [[c.id, 'cancelled']]);
      assert.deepEqual(await byStatus('accepted'), []);
      const one = await team.call('GET', `/invitations/${a.id}`);
      ok(one, 200);
      assert.equal(one.body.status, 'expired');

      // The roster: pending invitations that have not lapsed, as invited.
      const invited = await team.call('GET', '/members?status=invited');
      ok(invited, 200);
      assert.deepEqual(invited.body.items.map((i: any) => [i.id, i.kind, i.status, i.email]).sort(), batch.map((i) => [i.id, 'invitation', 'invited', i.email]).sort());
      assert.equal(invited.body.total, 3);
      const everyone = await team.call('GET', '/members');
      assert.equal(everyone.body.total, 4, 'the owner and three invitations');
    });

    it('resend: a new link (the old token no longer matches), a fresh expiry, timesSent 2, a second e-mail; cancel, then resend is 409 invitation_not_pending', async () => {
      const team = await newTeam();
      const to = address();
      const { res } = await write(team, 'invitation.created', 201, 'POST', '/invitations', { emails: [to], role: 'member' });
      const id = res.body.items[0].id;
      const oldToken = await tokenSentTo(to);
      // An expiry close at hand, so that the fresh one is plainly later.
      await testDb()('invitations').where({ org_id: team.id, id }).update({ expires_at: testDb().raw("now() + interval '1 hour'") });
      const before = await testDb()('invitations').where({ org_id: team.id, id }).first();

      const { res: resent, event } = await write(team, 'invitation.resent', 200, 'POST', `/invitations/${id}/resend`, {});
      assert.equal(event.target_id, id);
      assert.equal(resent.body.id, id);
      assert.equal(resent.body.status, 'pending');
      assert.equal(resent.body.timesSent, 2);
      assert.ok(Date.parse(resent.body.expiresAt) > new Date(before.expires_at).getTime() + DAY_MS, 'a fresh expiry');
      assert.equal(Date.parse(resent.body.expiresAt) - Date.parse(resent.body.lastSentAt), 7 * DAY_MS);
      assert.doesNotMatch(JSON.stringify(resent.body), /rst_inv_/);

      const afterRow = await testDb()('invitations').where({ org_id: team.id, id }).first();
      assert.notEqual(afterRow.token_hash, before.token_hash);
      assert.notEqual(afterRow.token_hash, sha256(oldToken), 'the old token no longer matches');
      const mails = await mailsTo(to);
      assert.equal(mails.length, 2, 'a second e-mail');
      const newToken = linkIn(mails[1].text_body).token;
      assert.notEqual(newToken, oldToken);
      assert.equal(afterRow.token_hash, sha256(newToken));
      assert.ok(mails[1].text_body.includes(expiryText(resent.body.expiresAt)), mails[1].text_body);
      assert.equal((await viewInvitation(testDb(), oldToken)).state, 'unknown');
      assert.equal((await viewInvitation(testDb(), newToken)).state, 'pending');
      await assert.rejects(acceptInvitation(testDb(), { token: oldToken, newPasswordHash: 'unused' }), /expired, was cancelled or has been used/);

      await write(team, 'invitation.cancelled', 204, 'DELETE', `/invitations/${id}`);
      assert.equal((await team.call('GET', `/invitations/${id}`)).body.status, 'cancelled');
      await refused(team, [to], 409, 'invitation_not_pending', 'POST', `/invitations/${id}/resend`, {});
      await refused(team, [to], 409, 'invitation_not_pending', 'DELETE', `/invitations/${id}`, undefined);
      assert.equal((await viewInvitation(testDb(), newToken)).state, 'used');
      problem(await team.call('POST', '/invitations/00000000-0000-4000-8000-000000000000/resend', {}), 404, 'not_found');
    });

    it('an invitation that lapsed can be sent again, and is pending again', async () => {
      const team = await newTeam();
      const to = address();
      const { res } = await write(team, 'invitation.created', 201, 'POST', '/invitations', { emails: [to], role: 'member' });
      const id = res.body.items[0].id;
      await testDb()('invitations').where({ org_id: team.id, id }).update({ expires_at: testDb().raw("now() - interval '1 day'") });
      assert.equal((await team.call('GET', `/invitations/${id}`)).body.status, 'expired');
      const { res: resent } = await write(team, 'invitation.resent', 200, 'POST', `/invitations/${id}/resend`, {});
      assert.equal(resent.body.status, 'pending');
      assert.equal((await viewInvitation(testDb(), await tokenSentTo(to))).state, 'pending');
    });
  });

  // -------------------------------------------------------------------------------------------------------
  // Accepting and declining (the directory functions the invitation page calls)

  describe('accepting and declining an invitation', () => {
    it("a new address gets an account with the person's own password (not the organisation's), verified, and a membership with the invited role and groups; a second accept changes nothing", async () => {
      const team = await newTeam();
      const { res: group } = await write(team, 'group.created', 201, 'POST', '/groups', { name: unique('eng-') });
      const to = address('new-');
      const { res } = await write(team, 'invitation.created', 201, 'POST', '/invitations', { emails: [to], role: 'admin', groupIds: [group.body.id] });
      const token = await tokenSentTo(to);

      const view = await viewInvitation(testDb(), token);
      assert.equal(view.state, 'pending');
      assert.deepEqual([view.orgId, view.orgName, view.email, view.roleName, view.account?.exists], [team.id, team.org.name, to, 'Admin', false]);

      // A new person must choose a password.
      await audited(team.id, [], () => assert.rejects(acceptInvitation(testDb(), { token }), /choose a password/));
      assert.equal(await testDb()('accounts').whereRaw('lower(email) = lower(?)', [to]).first(), undefined);
      // A name the directory refuses (a NUL character, too long) is a clear refusal, and nothing is written.
      for (const name of ['Ada\u0000Lovelace', 'x'.repeat(257)]) {
        await audited(team.id, [], () => assert.rejects(acceptInvitation(testDb(), { token, name, newPasswordHash: 'unused' }), (err: { code?: string }) => err.code === 'invalid'));
      }
      assert.equal(await testDb()('accounts').whereRaw('lower(email) = lower(?)', [to]).first(), undefined);

      const password = 'the invitee chose this passphrase';
      const { result: joined, events } = await audited(team.id, ['invitation.accepted'], async () =>
        acceptInvitation(testDb(), { token, name: 'Ada Lovelace', newPasswordHash: await hasher.hash(password) }));
      assert.equal(joined.orgId, team.id);
      assert.equal(events[0].target_id, joined.memberId);
      const account = await testDb()('accounts').where({ id: joined.accountId }).first();
      assert.equal(account.email, to);
      assert.equal(account.password_set_by_org_id, null, 'the password is the person\'s own');
      assert.equal(account.email_verified, true);
      assert.equal(account.must_change_password, false);
      assert.equal(account.managed_by_org_id, team.id, 'an invitation sign-up is managed by the organisation');
      assert.ok(await hasher.verify(account.password_hash, password));
      const member = await team.call('GET', `/members/${joined.memberId}`);
      ok(member, 200);
      assert.deepEqual([member.body.role, member.body.status, member.body.name, member.body.accountId], ['admin', 'active', 'Ada Lovelace', joined.accountId]);
      assert.deepEqual(member.body.groups.map((g: any) => g.id), [group.body.id]);
      const inv = await team.call('GET', `/invitations/${res.body.items[0].id}`);
      assert.deepEqual([inv.body.status, inv.body.memberId], ['accepted', joined.memberId]);
      assert.ok(inv.body.respondedAt);

      const members = await testDb()('memberships').where({ org_id: team.id }).count({ n: '*' });
      await audited(team.id, [], () => assert.rejects(acceptInvitation(testDb(), { token, newPasswordHash: 'x' }), /expired, was cancelled or has been used/));
      await audited(team.id, [], () => assert.rejects(declineInvitation(testDb(), { token }), /expired, was cancelled or has been used/));
      assert.deepEqual(await testDb()('memberships').where({ org_id: team.id }).count({ n: '*' }), members);
      assert.equal((await testDb()('accounts').where({ id: joined.accountId }).first()).password_hash, account.password_hash);
      assert.equal((await viewInvitation(testDb(), token)).state, 'used');
      assert.equal((await team.call('GET', `/invitations/${res.body.items[0].id}`)).body.status, 'accepted');
    });

    it('a person who already has an account (in another organisation) joins with it as it is', async () => {
      const team = await newTeam();
      const other = await newTeam();
      const theirs = await testDb()('accounts').where({ id: other.owner.accountId }).first();
      await write(team, 'invitation.created', 201, 'POST', '/invitations', { emails: [other.owner.email], role: 'member' });
      const token = await tokenSentTo(other.owner.email);
      const view = await viewInvitation(testDb(), token);
      assert.deepEqual(view.account, { exists: true, hasPassword: true, email: other.owner.email });
      const { result: joined } = await audited(team.id, ['invitation.accepted'], () => acceptInvitation(testDb(), { token }));
      assert.equal(joined.accountId, other.owner.accountId);
      const now = await testDb()('accounts').where({ id: other.owner.accountId }).first();
      assert.deepEqual([now.password_hash, now.managed_by_org_id, now.email_verified], [theirs.password_hash, other.id, true]);
      assert.equal((await testDb()('memberships').where({ org_id: team.id, account_id: other.owner.accountId }).first()).role, 'member');
    });

    it('an expired or cancelled invitation cannot be accepted or declined and changes nothing; declining marks it declined', async () => {
      const team = await newTeam();
      const [expired, cancelled, declined] = [address(), address(), address()];
      const { res } = await write(team, 'invitation.created', 201, 'POST', '/invitations', { emails: [expired, cancelled, declined], role: 'member' });
      const idOf = (email: string) => res.body.items.find((i: any) => i.email === email).id as string;
      await testDb()('invitations').where({ org_id: team.id, id: idOf(expired) }).update({ expires_at: testDb().raw("now() - interval '1 second'") });
      await write(team, 'invitation.cancelled', 204, 'DELETE', `/invitations/${idOf(cancelled)}`);
      const hash = await hasher.hash('never used for anything');

      for (const email of [expired, cancelled]) {
        const token = await tokenSentTo(email);
        const before = await testDb()('invitations').where({ org_id: team.id, id: idOf(email) }).first('status', 'responded_at');
        await audited(team.id, [], () => assert.rejects(acceptInvitation(testDb(), { token, newPasswordHash: hash }), /expired, was cancelled or has been used/));
        await audited(team.id, [], () => assert.rejects(declineInvitation(testDb(), { token }), /expired, was cancelled or has been used/));
        assert.deepEqual(await testDb()('invitations').where({ org_id: team.id, id: idOf(email) }).first('status', 'responded_at'), before, email);
        assert.equal(await testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).first(), undefined, 'no account');
      }
      assert.equal((await viewInvitation(testDb(), await tokenSentTo(expired))).state, 'expired');

      const token = await tokenSentTo(declined);
      const { events } = await audited(team.id, ['invitation.declined'], () => declineInvitation(testDb(), { token }));
      assert.equal(events[0].target_id, idOf(declined));
      const row = await team.call('GET', `/invitations/${idOf(declined)}`);
      assert.equal(row.body.status, 'declined');
      assert.ok(row.body.respondedAt);
      assert.deepEqual((await team.call('GET', '/invitations?status=declined')).body.items.map((i: any) => i.id), [idOf(declined)]);
      await audited(team.id, [], () => assert.rejects(acceptInvitation(testDb(), { token, newPasswordHash: hash }), /expired, was cancelled or has been used/));
      assert.equal(await testDb()('accounts').whereRaw('lower(email) = lower(?)', [declined]).first(), undefined);
      assert.equal(Number((await testDb()('memberships').where({ org_id: team.id }).count({ n: '*' }))[0].n), 1, 'the owner only');
    });
  });

  // -------------------------------------------------------------------------------------------------------
  // Roles

  describe('roles', () => {
    it('lists the built-in roles and custom ones; creates a custom role; refuses a taken or built-in name, a bad colour, an unknown or owner-only permission, and writes nothing then', async () => {
      const team = await newTeam();
      const listed = await team.call('GET', '/roles');
      ok(listed, 200);
      assert.deepEqual(listed.body.items.map((r: any) => [r.id, r.builtIn]), [['owner', true], ['admin', true], ['member', true], ['billing', true]]);
      assert.deepEqual(listed.body.items[0].memberCount, 1);
      assert.deepEqual(listed.body.items[3].permissions, ['billing.manage']);

      const input = { name: 'Support', description: 'Helps people in', color: '#12ab34', permissions: ['roster.view', 'members.manage'] };
      const { res: made, event } = await write(team, 'role.created', 201, 'POST', '/roles', input);
      assert.match(made.body.id, /^[0-9a-f-]{36}$/);
      assert.deepEqual({ ...made.body, id: undefined }, { ...input, id: undefined, builtIn: false, memberCount: 0 });
      assert.equal(event.target_id, made.body.id);
      const again = await team.call('GET', '/roles');
      assert.equal(again.body.total, 5);
      assert.deepEqual(again.body.items[4], { ...input, id: made.body.id, builtIn: false, memberCount: 0 });

      const roleCount = async () => Number((await testDb()('roles').where({ org_id: team.id }).count({ n: '*' }))[0].n);
      const refuse = async (body: unknown, status: number, code: string | null) => {
        const { result } = await audited(team.id, [], () => team.call('POST', '/roles', body));
        if (code) problem(result, status, code, JSON.stringify(body));
        else assert.equal(result.status, status, `${JSON.stringify(body)}: ${JSON.stringify(result.body)}`);
        assert.equal(await roleCount(), 1, `${JSON.stringify(body)}: nothing written`);
        return result;
      };
      await refuse({ ...input, name: 'support' }, 409, 'role_name_taken');
      for (const name of ['Admin', 'owner', 'BILLING']) await refuse({ ...input, name }, 409, 'role_name_taken');
      for (const color of ['#12AB34', 'green', '#12ab3', '12ab34']) await refuse({ ...input, name: unique('c-'), color }, 400, 'invalid_request');
      for (const permissions of [['everything'], ['roster.view', 'root']]) await refuse({ ...input, name: unique('p-'), permissions }, 400, 'invalid_request');
      await refuse({ name: unique('x-'), permissions: ['roster.view'], extra: true }, 400, 'invalid_request');
      // org.own belongs to the owner alone: invalid input, a 400 (the directory throws Invalid), not a 403.
      const own = await refuse({ ...input, name: unique('own-'), permissions: ['roster.view', 'org.own'] }, 400, null);
      assert.equal(own.body.field, 'permissions');
    });

    it('an admin API key cannot create (or widen) a role past its own permissions: 403 escalation; built-in roles cannot be changed or deleted: 403 built_in_role', async () => {
      const team = await newTeam();
      const { res: key } = await write(team, 'api_key.created', 201, 'POST', '/api-keys', { name: 'admin key', role: 'admin' });
      const admin = key.body.secret;
      const refuse = async (method: string, path: string, body: unknown, code: string, token?: string) => {
        const { result } = await audited(team.id, [], () => team.call(method, path, body, token));
        problem(result, 403, code, `${method} ${path}`);
      };
      await refuse('POST', '/roles', { name: 'Payer', permissions: ['billing.manage'] }, 'escalation', admin);
      assert.equal((await testDb()('roles').where({ org_id: team.id })).length, 0);
      const { res: mine } = await write(team, 'role.created', 201, 'POST', '/roles', { name: 'Viewer', permissions: ['roster.view'] }, admin);
      await refuse('PATCH', `/roles/${mine.body.id}`, { permissions: ['roster.view', 'billing.manage'] }, 'escalation', admin);
      const { res: owners } = await write(team, 'role.created', 201, 'POST', '/roles', { name: 'Finance', permissions: ['billing.manage'] });
      await refuse('DELETE', `/roles/${owners.body.id}`, undefined, 'escalation', admin);
      for (const id of ['owner', 'admin', 'member', 'billing']) {
        await refuse('PATCH', `/roles/${id}`, { description: 'changed' }, 'built_in_role');
        await refuse('DELETE', `/roles/${id}`, undefined, 'built_in_role');
      }
      problem(await team.call('PATCH', '/roles/00000000-0000-4000-8000-000000000000', { name: 'x' }), 404, 'not_found');
    });

    it("PATCH changes a custom role, and its holder gets the new permissions on the very next request; a role in use cannot be deleted (409 role_in_use), an unused one can (204)", async () => {
      const team = await newTeam();
      const { res: role } = await write(team, 'role.created', 201, 'POST', '/roles', { name: 'Helper', permissions: ['roster.view'] });
      const helper = await signedInMember(team, { name: 'Grace Hopper' });
      const { event } = await write(team, 'member.role_changed', 200, 'PATCH', `/members/${helper.memberId}`, { role: role.body.id });
      assert.equal(event.target_id, helper.memberId);
      assert.equal((await team.call('GET', '/roles')).body.items.find((r: any) => r.id === role.body.id).memberCount, 1);

      const invite = (to: string) => team.call('POST', '/invitations', { emails: [to], role: 'member' }, helper.token);
      ok(await team.call('GET', '/members', undefined, helper.token), 200, 'roster.view');
      const first = address();
      await refused(team, [first], 403, 'forbidden', 'POST', '/invitations', { emails: [first], role: 'member' }, helper.token);

      const { res: widened } = await write(team, 'role.updated', 200, 'PATCH', `/roles/${role.body.id}`, { permissions: ['roster.view', 'members.manage'], color: '#0000ff' });
      assert.deepEqual([widened.body.permissions, widened.body.color, widened.body.name], [['roster.view', 'members.manage'], '#0000ff', 'Helper']);
      const { result: invited } = await audited(team.id, ['invitation.created'], () => invite(first));
      ok(invited, 201, 'the next request has the new permission');
      assert.deepEqual(invited.body.items[0].invitedBy, { type: 'user', id: helper.accountId, name: 'Grace Hopper' });
      const [mail] = await mailsTo(first);
      assert.equal(mail.subject, `Grace Hopper invited you to join ${team.org.name}`);
      assert.ok(mail.text_body.includes(`Grace Hopper invited you to join ${team.org.name} on Roster, with the role Member.`), mail.text_body);

      // An invitation to a custom role names it as people read it.
      const third = address();
      await write(team, 'invitation.created', 201, 'POST', '/invitations', { emails: [third], role: role.body.id });
      assert.ok((await mailsTo(third))[0].text_body.includes(', with the role Helper.'), 'the custom role by its name');

      await write(team, 'role.updated', 200, 'PATCH', `/roles/${role.body.id}`, { permissions: ['roster.view'] });
      const second = address();
      await refused(team, [second], 403, 'forbidden', 'POST', '/invitations', { emails: [second], role: 'member' }, helper.token);

      const inUse = await audited(team.id, [], () => team.call('DELETE', `/roles/${role.body.id}`));
      problem(inUse.result, 409, 'role_in_use');
      const { res: unused } = await write(team, 'role.created', 201, 'POST', '/roles', { name: 'Spare', permissions: [] });
      await write(team, 'role.deleted', 204, 'DELETE', `/roles/${unused.body.id}`);
      assert.deepEqual((await team.call('GET', '/roles')).body.items.map((r: any) => r.name), ['Owner', 'Admin', 'Member', 'Billing', 'Helper']);
      problem(await team.call('DELETE', `/roles/${unused.body.id}`), 404, 'not_found');
    });
  });

  // -------------------------------------------------------------------------------------------------------
  // Groups

  describe('groups', () => {
    it('a group made here is edited here: create (managedBy admin), rename, add and remove members, delete; one audit event each', async () => {
      const team = await newTeam();
      const [m1, m2] = [await addMember(team), await addMember(team)];
      const { res: made, event } = await write(team, 'group.created', 201, 'POST', '/groups', { name: 'Engineering' });
      assert.deepEqual([made.body.name, made.body.managedBy, made.body.role, made.body.members], ['Engineering', 'admin', null, []]);
      assert.equal(event.target_id, made.body.id);
      const id = made.body.id;
      problem(await team.call('POST', '/groups', { name: 'engineering' }), 409, 'group_name_taken');

      const { res: renamed } = await write(team, 'group.updated', 200, 'PATCH', `/groups/${id}`, { name: 'Platform' });
      assert.equal(renamed.body.name, 'Platform');
      await write(team, 'group.updated', 200, 'POST', `/groups/${id}/members`, { memberIds: [m1.memberId, m2.memberId] });
      const members = async () => (await team.call('GET', `/groups/${id}`)).body.members.map((m: any) => m.id).sort();
      assert.deepEqual(await members(), [m1.memberId, m2.memberId].sort());
      const listed = await team.call('GET', '/groups');
      assert.deepEqual(listed.body.items.map((g: any) => [g.name, g.managedBy, g.memberCount]), [['Platform', 'admin', 2]]);
      const stranger = '00000000-0000-4000-8000-000000000000';
      await audited(team.id, [], async () => problem(await team.call('POST', `/groups/${id}/members`, { memberIds: [stranger] }), 400, 'invalid_value'));

      await write(team, 'group.updated', 204, 'DELETE', `/groups/${id}/members/${m1.memberId}`);
      assert.deepEqual(await members(), [m2.memberId]);
      await write(team, 'group.deleted', 204, 'DELETE', `/groups/${id}`);
      problem(await team.call('GET', `/groups/${id}`), 404, 'not_found');
      assert.equal((await team.call('GET', `/members/${m2.memberId}`)).body.groups.length, 0);
    });

    it("a SCIM group is read-only here (409 managed_by_scim) but its role can be set; the role reaches its members on their very next request, and leaves with PUT role null", async () => {
      const team = await newTeam();
      const person = await signedInMember(team, { name: 'Katherine Johnson' });
      const other = await addMember(team);
      const scimGroup = await scimCreateGroup(team.scim, unique('okta-'), [person.memberId]);
      const id = scimGroup.id;
      const view = await team.call('GET', `/groups/${id}`);
      assert.deepEqual([view.body.managedBy, view.body.role, view.body.members.map((m: any) => m.id)], ['scim', null, [person.memberId]]);

      const readOnly = async (method: string, path: string, body?: unknown) => {
        const { result } = await audited(team.id, [], () => team.call(method, path, body));
        problem(result, 409, 'managed_by_scim', `${method} ${path}`);
      };
      await readOnly('PATCH', `/groups/${id}`, { name: 'Renamed here' });
      await readOnly('DELETE', `/groups/${id}`);
      await readOnly('POST', `/groups/${id}/members`, { memberIds: [other.memberId] });
      await readOnly('DELETE', `/groups/${id}/members/${person.memberId}`);
      const unchanged = await team.call('GET', `/groups/${id}`);
      assert.deepEqual([unchanged.body.name, unchanged.body.members.map((m: any) => m.id)], [scimGroup.displayName, [person.memberId]]);

      for (const role of ['owner', 'emperor']) {
        const { result } = await audited(team.id, [], () => team.call('PUT', `/groups/${id}/role`, { role }));
        problem(result, 400, 'invalid_value', role);
      }
      const { res: admin } = await write(team, 'api_key.created', 201, 'POST', '/api-keys', { name: 'admin key', role: 'admin' });
      await audited(team.id, [], async () => problem(await team.call('PUT', `/groups/${id}/role`, { role: 'billing' }, admin.body.secret), 403, 'escalation'));

      // Before: a plain member may not invite.
      const first = address();
      await refused(team, [first], 403, 'forbidden', 'POST', '/invitations', { emails: [first], role: 'member' }, person.token);

      const { res: granted, event } = await write(team, 'group.role_changed', 200, 'PUT', `/groups/${id}/role`, { role: 'admin' });
      assert.deepEqual([granted.body.role, granted.body.managedBy], ['admin', 'scim']);
      assert.deepEqual(event.details, { from: null, to: 'admin' });
      const { result: invited } = await audited(team.id, ['invitation.created'], () => team.call('POST', '/invitations', { emails: [first], role: 'member' }, person.token));
      ok(invited, 201, 'the group\'s role on the very next request');
      assert.equal(invited.body.items[0].invitedBy.name, 'Katherine Johnson');

      const roster = await team.call('GET', '/members?status=active');
      const entry = roster.body.items.find((m: any) => m.id === person.memberId);
      assert.equal(entry.role, 'member', 'their own role is unchanged');
      assert.deepEqual(entry.grantedRoles, [{ role: 'admin', groupId: id, groupName: scimGroup.displayName }]);
      assert.deepEqual(roster.body.items.find((m: any) => m.id === other.memberId).grantedRoles, []);
      assert.deepEqual((await team.call('GET', `/members/${person.memberId}`)).body.grantedRoles, entry.grantedRoles);

      await write(team, 'group.role_changed', 200, 'PUT', `/groups/${id}/role`, { role: null });
      const second = address();
      await refused(team, [second], 403, 'forbidden', 'POST', '/invitations', { emails: [second], role: 'member' }, person.token);
      assert.deepEqual((await team.call('GET', `/members/${person.memberId}`)).body.grantedRoles, []);

      // Taken out of the group by the identity provider, the person no longer gets what it grants.
      await write(team, 'group.role_changed', 200, 'PUT', `/groups/${id}/role`, { role: 'admin' });
      ok(await team.call('GET', '/api-keys', undefined, person.token), 200, 'org.manage through the group');
      const removed = await team.scim.patch(`/Groups/${id}`, [{ op: 'remove', path: `members[value eq "${person.memberId}"]` }]);
      assert.ok([200, 204].includes(removed.status), JSON.stringify(removed.body));
      problem(await team.call('GET', '/api-keys', undefined, person.token), 403, 'forbidden');
    });
  });
});
