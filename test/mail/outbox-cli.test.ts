// The outbox as a local user meets it: a server with no SMTP_URL logs one line per message saying how to read
// it, and `cli outbox list|show` prints the messages, on PostgreSQL (the CLI opens the database) and on the
// embedded database (through the running server's operator socket).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createOrganization } from '../../src/directory/organizations.ts';
import { enqueueMail } from '../../src/directory/outbox.ts';
import { emailCodeMessage, passwordResetMessage } from '../../src/mail/templates.ts';
import { unique } from '../helpers.ts';
import { killAll, runCli, type Server, startServer } from '../operator/processes.ts';
import { serverDatabase } from './support.ts';

describe('outbox CLI', function () {
  // Real processes on a busy machine: generous, never tight.
  this.timeout(5 * 60_000);
  let server: Server | undefined;
  let dataDir: string | undefined;
  let env: Record<string, string>;
  let orgA: string;
  let orgB: string;
  let code: { id: string; to: string };
  let reset: { id: string; to: string };
  let other: string;

  before(async () => {
    const target = await serverDatabase();
    ({ env, dataDir } = target);
    // Queued before the server starts, as messages are after a restart.
    await target.use(async (db) => {
      const org = async () => (await createOrganization(db, { name: unique('Outbox '), ownerEmail: `${unique('owner')}@example.test` })).org.id;
      [orgA, orgB] = [await org(), await org()];
      const to = () => `${unique('person')}@example.test`;
      const codeTo = to();
      code = { id: await enqueueMail(db, { orgId: orgA, to: codeTo, ...emailCodeMessage({ orgName: 'Outbox A', code: '271828' }) }), to: codeTo };
      const resetTo = to();
      reset = { id: await enqueueMail(db, { orgId: orgA, to: resetTo, ...passwordResetMessage({ orgName: 'Outbox A', link: 'http://localhost:3000/account/reset-password?token=t0k3n' }) }), to: resetTo };
      other = await enqueueMail(db, { orgId: orgB, to: to(), subject: 'for B', text: 'B only' });
    });
    server = await startServer(env);
  });

  after(async () => {
    if (server) assert.equal(await server.stop(), 0, server.output().stderr);
    await killAll();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('the server with no SMTP_URL logs one line per message, with the command that shows it', async () => {
    for (const id of [code.id, reset.id, other]) await server!.waitFor(new RegExp(`outbox show ${id}`));
    const lines = server!.output().stdout.split('\n').filter((l) => l.includes(code.id));
    assert.equal(lines.length, 1, lines.join('\n'));
    const line = JSON.parse(lines[0]) as { msg: string; to: string };
    assert.equal(line.to, code.to);
    assert.match(line.msg, /no SMTP_URL/);
    assert.doesNotMatch(server!.output().stdout, /271828/, 'the code itself is never logged');
  });

  it('outbox list --org lists that organisation\'s messages, newest first, without their bodies', async () => {
    await server!.waitFor(new RegExp(`outbox show ${other}`));
    const r = await runCli(['outbox', 'list', '--org', orgA, '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const { messages } = JSON.parse(r.stdout) as { messages: { id: string; to: string; subject: string; status: string; attempts: number; orgId: string }[] };
    assert.deepEqual(messages.map((m) => m.id), [reset.id, code.id]);
    assert.deepEqual(messages.map((m) => [m.status, m.attempts, m.orgId]), [['logged', 1, orgA], ['logged', 1, orgA]]);
    assert.equal(messages[1].subject, 'Your sign-in code for Outbox A');
    assert.doesNotMatch(r.stdout, /271828|t0k3n/, 'a listing carries no bodies');

    const all = JSON.parse((await runCli(['outbox', 'list', '--json'], env)).stdout) as { messages: { id: string }[] };
    for (const id of [code.id, reset.id, other]) assert.ok(all.messages.some((m) => m.id === id), `${id} among all organisations' messages`);

    const human = await runCli(['outbox', 'list', '--org', orgA], env);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`${code.id} .* ${code.to}  Your sign-in code for Outbox A  \\[logged`));
    assert.match(human.stdout, /read one with: npm run --silent cli -- outbox show ID/);
  });

  it('outbox show ID prints the message and its text; --json adds the HTML', async () => {
    const human = await runCli(['outbox', 'show', code.id], env);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`^id: +${code.id}$`, 'm'));
    assert.match(human.stdout, new RegExp(`^to: +${code.to}$`, 'm'));
    assert.match(human.stdout, /^status: +logged/m);
    assert.match(human.stdout, /^ {4}271828$/m, 'the code, as the person would read it');
    const json = await runCli(['outbox', 'show', reset.id, '--json'], env);
    assert.equal(json.code, 0, json.stderr);
    const m = JSON.parse(json.stdout) as { id: string; text: string; html: string; status: string };
    assert.equal(m.id, reset.id);
    assert.ok(m.text.includes('http://localhost:3000/account/reset-password?token=t0k3n'));
    assert.ok(m.html.includes('href="http://localhost:3000/account/reset-password?token=t0k3n"'));
  });

  it('says what is wrong with an id or an organisation, with exit code 2', async () => {
    const malformed = await runCli(['outbox', 'show', 'nope'], env);
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /not a message id/);
    const missing = await runCli(['outbox', 'show', randomUUID()], env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no message/);
    const badOrg = await runCli(['outbox', 'list', '--org', 'nope'], env);
    assert.equal(badOrg.code, 2);
    assert.match(badOrg.stderr, /UUID/);
    const noId = await runCli(['outbox', 'show'], env);
    assert.equal(noId.code, 2);
    assert.match(noId.stderr, /the message id is required: outbox show ID/);
  });
});
