// Operator commands: `npm run --silent cli -- <command>`. With --json, one JSON object on stdout.
// On PostgreSQL the CLI opens the database itself. The embedded database belongs to one process: the CLI
// takes DATA_DIR's lock before opening it (src/data-lock.ts); when a server holds it, the command goes to
// that server over its operator socket (DATA_DIR/roster.sock), waiting for the server if it is still starting.
// Nothing heavy (Knex, pg, PGlite, the directory) is loaded unless the CLI opens the database itself.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { type Config, ConfigError, loadConfig, loadDotEnv } from './config.ts';
import { ensurePrivateDir } from './private-dir.ts';
import { acquireWaitingForCli, BIND_GRACE_MS, checkSocketPath, DataLockError, describeCliWait, describeHolder } from './data-lock.ts';
import { DirectoryError, type DirectoryErrorCode } from './directory/errors.ts';
import type { OperatorCommand } from './operations.ts';

const usage = `usage: npm run --silent cli -- <command>

commands:
  migrate                                          apply database migrations
  org create --name NAME --owner-email EMAIL [--json]
                                                   create an organisation, its owner, a SCIM token and an API key
  scim-token create --org ORG_ID [--name NAME] [--json]
                                                   issue another SCIM bearer token (shown once)
  scim-token list --org ORG_ID [--json]            the organisation's SCIM tokens (ids, names, dates; never secrets)
  scim-token revoke --org ORG_ID --id TOKEN_ID [--json]
                                                   revoke a SCIM token at once
  client create --org ORG_ID --redirect-uri URI [--redirect-uri URI ...] [--public] [--name NAME] [--json]
                                                   register an OpenID Connect client; prints client_id and (not
                                                   for --public) client_secret, shown once
  client list --org ORG_ID [--json]                the organisation's OIDC clients (never secrets)
  client revoke --org ORG_ID --id CLIENT_ID [--json]
                                                   revoke a client and its secret at once
  keys list [--json]                               the OpenID Connect signing keys that are published
  keys rotate [--json]                             add a signing key that signs from now on; the old one stays
                                                   published for a day, until the tokens it signed have expired
  outbox list [--org ORG_ID] [--json]              the newest 50 messages of the outbox (all, or one organisation's)
  outbox show ID [--json]                          one message: its status, attempts, last error, and text
  sso set --org ORG_ID --issuer URL --client-id ID --client-secret SECRET|- --domain DOMAIN [--domain ...] [--no-jit] [--json]
                                                   connect the organisation to its OpenID Connect identity provider
                                                   (its discovery document is checked first); people with an e-mail
                                                   in these domains sign in there; --no-jit: only existing members;
                                                   --client-secret - reads the secret from standard input
  sso show --org ORG_ID [--json]                   the connection (never its secret) and the redirect URI to register
  org login --org ORG_ID [--require-mfa true|false] [--mfa-methods totp,email] [--login-providers password,sso]
            [--sso-enforced true|false] [--allow-identity-linking true|false] [--json]
                                                   show or change how the organisation's people sign in
  sso remove --org ORG_ID [--json]                 remove the connection; its members sign in with passwords again
`;

class UsageError extends Error {}
/** A problem with a one-line message of its own (the database, the lock, the running server). */
class CliProblem extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

function need(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v.trim() === '') throw new UsageError(`--${name} is required`);
  return v;
}

/** `-` reads the secret from standard input (its first line), keeping it out of the process list and shell history. */
function secretArgument(value: string): string {
  if (value !== '-') return value;
  const line = readFileSync(0, 'utf8').split(/\r?\n/)[0];
  if (!line) throw new UsageError('--client-secret -: nothing on standard input');
  return line;
}

function toCommand(command: string, values: Record<string, unknown>): OperatorCommand | 'migrate' {
  if (command === 'migrate') return 'migrate';
  if (command === 'org create') return { command, name: need(values, 'name'), ownerEmail: need(values, 'owner-email') };
  if (command === 'scim-token create') return { command, orgId: need(values, 'org'), name: typeof values.name === 'string' ? values.name : 'cli' };
  if (command === 'scim-token list') return { command, orgId: need(values, 'org') };
  if (command === 'scim-token revoke') return { command, orgId: need(values, 'org'), tokenId: need(values, 'id') };
  if (command === 'keys rotate' || command === 'keys list') return { command };
  if (command === 'client create') {
    const uris = values['redirect-uri'];
    if (!Array.isArray(uris) || uris.length === 0) throw new UsageError('--redirect-uri is required');
    return { command, orgId: need(values, 'org'), redirectUris: uris as string[], public: values.public === true, ...(typeof values.name === 'string' ? { name: values.name } : {}) };
  }
  if (command === 'client list') return { command, orgId: need(values, 'org') };
  if (command === 'client revoke') return { command, orgId: need(values, 'org'), clientId: need(values, 'id') };
  if (command === 'sso set') {
    const domains = values.domain;
    if (!Array.isArray(domains) || domains.length === 0) throw new UsageError('--domain is required');
    return {
      command, orgId: need(values, 'org'), issuer: need(values, 'issuer'), clientId: need(values, 'client-id'), clientSecret: secretArgument(need(values, 'client-secret')),
      domains: domains as string[], jitProvisioning: values['no-jit'] !== true,
    };
  }
  if (command === 'sso show' || command === 'sso remove') return { command, orgId: need(values, 'org') };
  if (command === 'org login') {
    const list = (v: unknown) => (typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter(Boolean) : undefined);
    const flag = (name: string) => {
      const v = values[name];
      if (v === undefined) return undefined;
      if (v === 'true' || v === 'false') return v === 'true';
      throw new UsageError(`--${name} is true or false`);
    };
    const change = {
      requireMfa: flag('require-mfa'), mfaMethods: list(values['mfa-methods']), loginProviders: list(values['login-providers']),
      ssoEnforced: flag('sso-enforced'), allowIdentityLinking: flag('allow-identity-linking'),
    };
    return { command, orgId: need(values, 'org'), ...Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined)) } as OperatorCommand;
  }
  if (command === 'outbox list') return { command, ...(values.org === undefined ? {} : { orgId: need(values, 'org') }) };
  const shown = /^outbox show (\S+)$/.exec(command);
  if (shown) return { command: 'outbox show', id: shown[1] };
  if (command === 'outbox show') {
    if (typeof values.id !== 'string') throw new UsageError('the message id is required: outbox show ID');
    return { command, id: values.id };
  }
  throw new UsageError(`unknown command "${command}"`);
}

/** The server's socket does not accept connections (yet): nothing was sent. */
class NotListening extends Error {
  readonly code: string;
  constructor(code: string) { super(code); this.code = code; }
}
/** The server answered that it is still starting (it binds its socket before opening the database). */
class Starting extends Error {}

/** One request to the running server's operator socket. */
function callServer(socketPath: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    // A connection of its own per request (agent: false): a kept-alive one could be closed by the server's idle
    // timeout just as the next request goes out (the server may have been busy opening the database for
    // seconds), which fails that request with ECONNRESET, not knowing whether the command ran.
    const req = request({ socketPath, agent: false, method, path, headers: payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
        } catch {
          reject(new CliProblem(`roster: the running server answered ${res.statusCode} with something that is not JSON`));
        }
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new NotListening(err.code));
      else if (err.code === 'EACCES') reject(new CliProblem(`roster: no permission to use the running server's operator socket ${socketPath}; run the CLI as the user that runs the server`));
      else reject(new CliProblem(`roster: the running server's operator socket ${socketPath} failed (${err.code ?? err.message}); the command may or may not have run: check before running it again`));
    });
    req.end(payload);
  });
}

/** Runs a command in the running server that holds the embedded database. */
async function viaServer(socketPath: string, command: OperatorCommand | 'migrate'): Promise<Record<string, unknown>> {
  const { status, body } = command === 'migrate' ? await callServer(socketPath, 'GET', '/ready') : await callServer(socketPath, 'POST', '/commands', command);
  if (status === 503 && body.status === 'starting') throw new Starting();
  if (command === 'migrate' && status === 200) return { applied: [], note: `the running server (pid ${body.pid}) migrated the database at start` };
  if (status === 400) throw new DirectoryError(body.code as DirectoryErrorCode, String(body.detail));
  if (status !== 200) throw new CliProblem(`roster: the running server answered ${status}: ${String(body.detail ?? body.status ?? '')}`);
  return body;
}

/** Opens the database itself (PostgreSQL, or the embedded one whose lock this process holds), migrating if needed. */
async function locally(config: Config, command: OperatorCommand | 'migrate'): Promise<Record<string, unknown>> {
  const { describePending, migrateIfNeeded, openDb } = await import('./db.ts');
  const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, statementTimeoutMs: config.statementTimeoutMs, preparedStatements: config.preparedStatements });
  try {
    const applied = await migrateIfNeeded(db, (pending) => process.stderr.write(`roster: migrating: ${describePending(pending)}\n`));
    if (command === 'migrate') return { applied };
    const { runOperatorCommand } = await import('./operations.ts');
    const { createSealer } = await import('./directory/sealing.ts');
    const { createPasswordHasher } = await import('./directory/passwords.ts');
    return await runOperatorCommand({ db, sealer: createSealer(config.secret), passwords: createPasswordHasher(config.passwordCost), issuer: config.issuer }, command);
  } finally {
    await db.destroy();
  }
}

async function execute(config: Config, name: string, command: OperatorCommand | 'migrate'): Promise<Record<string, unknown>> {
  if (config.databaseUrl) return locally(config, command);
  const socketPath = checkSocketPath(config.dataDir);
  ensurePrivateDir(config.dataDir);
  const said = new Set<string>();
  const say = (key: string, line: string) => { if (!said.has(key)) process.stderr.write(line + '\n'); said.add(key); };
  for (;;) {
    const got = await acquireWaitingForCli(config.dataDir, { kind: 'cli', command: name }, { onWait: (h) => say('cli', `roster: ${describeCliWait(h)}`) });
    if ('lock' in got) {
      // Bound at once: it tells other processes that this one is alive (and busy).
      const [{ listenOperatorSocket }, { pino }] = await Promise.all([import('./http/operator.ts'), import('pino')]);
      const busy = await listenOperatorSocket(socketPath, { logger: pino({ level: 'silent' }), holder: { kind: 'cli', command: name } });
      try {
        return await locally(config, command);
      } finally {
        await new Promise((resolve) => busy.server.close(resolve));
        got.lock.release();
      }
    }
    const holder = got.heldBy;
    if (holder.kind === 'cli') throw new DataLockError(describeHolder(holder, config.dataDir)); // still running after the wait
    try {
      return await viaServer(socketPath, command);
    } catch (err) {
      const fresh = Date.now() - Date.parse(holder.since) < BIND_GRACE_MS;
      if (err instanceof NotListening && !fresh) {
        throw new CliProblem(err.code === 'ENOENT'
          ? `roster: the server (pid ${holder.pid}) holds the embedded database but its operator socket ${socketPath} is missing; restart the server`
          : `roster: the server (pid ${holder.pid}) holds the embedded database but does not answer on ${socketPath}; is it still running?`);
      }
      if (!(err instanceof Starting) && !(err instanceof NotListening)) throw err;
    }
    // The server holds the database and is opening or migrating it.
    say('server', `roster: the server (pid ${holder.pid}) is still starting (opening and migrating the embedded database in ${config.dataDir}); waiting for it to be ready (Ctrl-C to give up)`);
    await sleep(200);
  }
}

function describe(command: OperatorCommand | 'migrate', out: Record<string, unknown>): string {
  if (command === 'migrate') {
    const applied = out.applied as string[];
    return (out.note as string | undefined) ?? (applied.length ? `applied: ${applied.join(', ')}` : 'the database is up to date');
  }
  if (command.command === 'scim-token create') return `SCIM token ${out.id} (the secret is shown once): ${out.scimToken}`;
  if (command.command === 'scim-token revoke') return `revoked SCIM token ${out.revoked}`;
  if (command.command === 'client create') {
    return [`client_id:     ${out.client_id}`, out.client_secret ? `client_secret: ${out.client_secret}\nThe secret is shown once and stored only as a hash: keep it now.` : 'a public client: no secret; it must use PKCE'].join('\n');
  }
  if (command.command === 'client revoke') return `revoked client ${out.revoked}`;
  if (command.command === 'org login') {
    const l = out.login as { requireMfa: boolean; mfaMethods: string[]; loginProviders: string[]; ssoEnforced: boolean; allowIdentityLinking: boolean };
    return [`require MFA:        ${l.requireMfa ? 'yes' : 'no'}`, `MFA methods:        ${l.mfaMethods.join(', ')}`, `sign in with:       ${l.loginProviders.join(', ')}`,
      `SSO enforced:       ${l.ssoEnforced ? 'yes' : 'no'}`, `identity linking:   ${l.allowIdentityLinking ? 'allowed' : 'one identity per account'}`].join('\n');
  }
  if (command.command === 'outbox list') return describeOutbox(out.messages as OutboxLine[]);
  if (command.command === 'outbox show') return describeMessage(out as unknown as OutboxLine & { orgId: string | null; text: string; html: string | null });
  if (command.command === 'sso remove') return `removed the SSO connection of ${out.removed}; its members sign in with passwords again`;
  if (command.command === 'sso set' || command.command === 'sso show') {
    const c = out as { issuer: string; clientId: string; domains: string[]; jitProvisioning: boolean; redirectUri: string; updatedAt: string };
    return [
      ...(command.command === 'sso set' ? ['SSO connection saved (the client secret is stored encrypted and never shown again)'] : []),
      `issuer:        ${c.issuer}`,
      `client id:     ${c.clientId}`,
      `domains:       ${c.domains.join(', ')}`,
      `provisioning:  ${c.jitProvisioning ? 'just in time (a new person becomes a member at first sign-in)' : 'existing members only'}`,
      `redirect URI:  ${c.redirectUri}  (register it at the identity provider)`,
    ].join('\n');
  }
  if (command.command === 'client list') {
    const clients = out.clients as { clientId: string; name: string; public: boolean; redirectUris: string[]; revokedAt: string | null }[];
    return clients.map((c) => `${c.clientId}  ${c.revokedAt ? 'revoked' : 'active '}  ${c.public ? 'public      ' : 'confidential'}  ${c.redirectUris.join(' ')}  ${c.name}`).join('\n') || 'no clients';
  }
  if (command.command === 'keys rotate') {
    const retired = out.retired as string[];
    return `signing key ${out.kid} signs from now on${retired.length ? `; ${retired.join(', ')} stay${retired.length === 1 ? 's' : ''} published for a day` : ''}`;
  }
  if (command.command === 'keys list') {
    const keys = out.keys as { kid: string; alg: string; active: boolean; createdAt: string; unpublishAt: string | null }[];
    return keys.map((k) => `${k.kid}  ${k.alg}  ${k.active ? 'signing' : `published until ${new Date(k.unpublishAt!).toISOString()}`}  created ${new Date(k.createdAt).toISOString()}`).join('\n')
      || 'no signing keys yet (the server creates the first at start)';
  }
  if (command.command === 'scim-token list') {
    const tokens = out.tokens as { id: string; name: string; createdAt: string; lastUsedAt: string | null; revokedAt: string | null }[];
    const at = (d: string | null) => (d ? new Date(d).toISOString() : 'never');
    return tokens.map((t) => `${t.id}  ${t.revokedAt ? 'revoked ' + at(t.revokedAt) : 'active '}  created ${at(t.createdAt)}  last used ${at(t.lastUsedAt)} (to the minute)  ${t.name}`)
      .join('\n') || 'no SCIM tokens';
  }
  const owner = out.owner as { email: string; temporaryPassword: string | null; id: string };
  return [
    `organisation created: ${out.orgId}`,
    `owner:       ${owner.email} (SCIM user ${owner.id})`,
    owner.temporaryPassword ? `temporary password (must be changed at first sign-in): ${owner.temporaryPassword}` : 'the owner already had an account; its password is unchanged',
    `SCIM token:  ${out.scimToken}`,
    `API key:     ${out.apiKey}`,
    'These secrets are shown once and stored only as hashes: keep them now.',
  ].join('\n');
}

type OutboxLine = {
  id: string; to: string; subject: string; status: string; attempts: number; inFlight: boolean;
  nextAttemptAt: string | null; lastError: string | null; createdAt: string; sentAt: string | null;
};

/** queued (2 attempts, next at ...), sending, sent, logged (no SMTP_URL), failed (after 25 attempts). */
function outboxState(m: OutboxLine): string {
  const at = (d: string | null) => (d ? new Date(d).toISOString() : '-');
  if (m.status === 'queued' && m.inFlight) return `sending (attempt ${m.attempts})`;
  if (m.status === 'queued') return m.attempts ? `queued (${m.attempts} attempt${m.attempts === 1 ? '' : 's'} failed; next at ${at(m.nextAttemptAt)})` : 'queued';
  if (m.status === 'sent') return `sent ${at(m.sentAt)}`;
  if (m.status === 'logged') return 'logged (no SMTP_URL: kept here only)';
  return `failed (after ${m.attempts} attempt${m.attempts === 1 ? '' : 's'})`;
}

function describeOutbox(messages: OutboxLine[]): string {
  if (messages.length === 0) return 'the outbox is empty';
  return [
    ...messages.map((m) => `${m.id}  ${new Date(m.createdAt).toISOString()}  ${m.to}  ${m.subject}  [${outboxState(m)}]`),
    'read one with: npm run --silent cli -- outbox show ID',
  ].join('\n');
}

function describeMessage(m: OutboxLine & { orgId: string | null; text: string; html: string | null }): string {
  return [
    `id:           ${m.id}`,
    `status:       ${outboxState(m)}`,
    ...(m.lastError ? [`last error:   ${m.lastError}`] : []),
    `created:      ${new Date(m.createdAt).toISOString()}`,
    `organisation: ${m.orgId ?? '-'}`,
    `to:           ${m.to}`,
    `subject:      ${m.subject}`,
    '',
    m.text.trimEnd(),
    ...(m.html ? ['', '(an HTML version too: --json shows it)'] : []),
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' }, 'owner-email': { type: 'string' }, org: { type: 'string' }, id: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true }, public: { type: 'boolean', default: false },
      issuer: { type: 'string' }, 'client-id': { type: 'string' }, 'client-secret': { type: 'string' }, domain: { type: 'string', multiple: true },
      'no-jit': { type: 'boolean', default: false },
      'require-mfa': { type: 'string' }, 'mfa-methods': { type: 'string' }, 'login-providers': { type: 'string' }, 'sso-enforced': { type: 'string' },
      'allow-identity-linking': { type: 'string' },
      json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const name = positionals.join(' ');
  if (values.help || name === '' || name === 'help') { process.stdout.write(usage); return; }
  const command = toCommand(name, values);
  loadDotEnv();
  config = loadConfig();
  const out = await execute(config, name, command);
  process.stdout.write((values.json ? JSON.stringify(out) : describe(command, out)) + '\n');
}

let config: Config | undefined;

main(process.argv.slice(2)).catch(async (err) => {
  if (err instanceof CliProblem || err instanceof DataLockError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(err instanceof CliProblem ? err.exitCode : 2);
  }
  if (config?.databaseUrl) {
    const { databaseProblem } = await import('./db.ts');
    const line = databaseProblem(err, config.databaseUrl);
    if (line) {
      process.stderr.write(`${line}\n`);
      process.exit(1);
    }
  }
  const known = err instanceof UsageError || err instanceof ConfigError || err instanceof DirectoryError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  if (known) {
    process.stderr.write(`error: ${(err as Error).message}\n${err instanceof UsageError && /unknown command|required/.test((err as Error).message) ? '\n' + usage : ''}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
