// Operator commands: `npm run --silent cli -- <command>`. With --json, one JSON object on stdout.
// On the embedded database, while a server runs on it, commands go to that server over loopback:
// the embedded database belongs to one process.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.ts';
import { migrate, openDb } from './db.ts';
import { DirectoryError } from './directory/errors.ts';
import { type OperatorCommand, runOperatorCommand } from './operations.ts';
import { readServerLock } from './server-lock.ts';

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
`;

class UsageError extends Error {}

function need(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v.trim() === '') throw new UsageError(`--${name} is required`);
  return v;
}

function toCommand(command: string, values: Record<string, unknown>): OperatorCommand | 'migrate' {
  if (command === 'migrate') return 'migrate';
  if (command === 'org create') return { command, name: need(values, 'name'), ownerEmail: need(values, 'owner-email') };
  if (command === 'scim-token create') return { command, orgId: need(values, 'org'), name: typeof values.name === 'string' ? values.name : 'cli' };
  if (command === 'scim-token list') return { command, orgId: need(values, 'org') };
  if (command === 'scim-token revoke') return { command, orgId: need(values, 'org'), tokenId: need(values, 'id') };
  throw new UsageError(`unknown command "${command}"`);
}

/** Runs a command in the running server that owns the embedded database. */
async function viaServer(port: number, token: string, command: OperatorCommand): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${port}/internal/operator/commands`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(command),
  });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status === 400) throw new UsageError(String(body.detail));
  if (!res.ok) throw new Error(`the running server answered ${res.status}`);
  return body;
}

async function execute(command: OperatorCommand | 'migrate'): Promise<Record<string, unknown>> {
  const config = loadConfig();
  const lock = config.databaseUrl ? null : readServerLock(config.dataDir);
  if (lock) {
    if (command === 'migrate') return { applied: [], note: `the running server (pid ${lock.pid}) migrated the database at start` };
    return viaServer(lock.port, lock.token, command);
  }
  const db = openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    const applied = await migrate(db);
    return command === 'migrate' ? { applied } : await runOperatorCommand(db, command);
  } finally {
    await db.destroy();
  }
}

function describe(command: OperatorCommand | 'migrate', out: Record<string, unknown>): string {
  if (command === 'migrate') {
    const applied = out.applied as string[];
    return (out.note as string | undefined) ?? (applied.length ? `applied: ${applied.join(', ')}` : 'the database is up to date');
  }
  if (command.command === 'scim-token create') return `SCIM token ${out.id} (the secret is shown once): ${out.scimToken}`;
  if (command.command === 'scim-token revoke') return `revoked SCIM token ${out.revoked}`;
  if (command.command === 'scim-token list') {
    const tokens = out.tokens as { id: string; name: string; createdAt: string; revokedAt: string | null }[];
    return tokens.map((t) => `${t.id}  ${t.revokedAt ? 'revoked ' + new Date(t.revokedAt).toISOString() : 'active '}  created ${new Date(t.createdAt).toISOString()}  ${t.name}`).join('\n') || 'no SCIM tokens';
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

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' }, 'owner-email': { type: 'string' }, org: { type: 'string' }, id: { type: 'string' },
      json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const name = positionals.join(' ');
  if (values.help || name === '' || name === 'help') { process.stdout.write(usage); return; }
  const command = toCommand(name, values);
  const out = await execute(command);
  process.stdout.write((values.json ? JSON.stringify(out) : describe(command, out)) + '\n');
}

main(process.argv.slice(2)).catch((err) => {
  const known = err instanceof UsageError || err instanceof ConfigError || err instanceof DirectoryError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  if (known) {
    process.stderr.write(`error: ${(err as Error).message}\n${err instanceof UsageError && /unknown command|required/.test((err as Error).message) ? '\n' + usage : ''}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
