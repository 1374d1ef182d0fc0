// Operator commands: `npm run --silent cli -- <command>`. With --json, one JSON object on stdout.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.ts';
import { migrate, openDb } from './db.ts';
import { issueScimToken } from './directory/credentials.ts';
import { DirectoryError } from './directory/errors.ts';
import { createOrganization } from './directory/organizations.ts';
import { isUuid } from './directory/predicate.ts';

const usage = `usage: npm run --silent cli -- <command>

commands:
  migrate                                          apply database migrations
  org create --name NAME --owner-email EMAIL [--json]
                                                   create an organisation, its owner, a SCIM token and an API key
  scim-token create --org ORG_ID [--name NAME] [--json]
                                                   issue another SCIM bearer token (shown once)
`;

class UsageError extends Error {}

function need(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v.trim() === '') throw new UsageError(`--${name} is required`);
  return v;
}

async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' }, 'owner-email': { type: 'string' }, org: { type: 'string' },
      json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const command = positionals.join(' ');
  if (values.help || command === '' || command === 'help') { process.stdout.write(usage); return; }
  if (!['migrate', 'org create', 'scim-token create'].includes(command)) throw new UsageError(`unknown command "${command}"`);

  const config = loadConfig();
  const db = openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    const applied = await migrate(db);
    if (command === 'migrate') {
      print(values.json, { applied }, applied.length ? `applied: ${applied.join(', ')}` : 'the database is up to date');
    } else if (command === 'org create') {
      const r = await createOrganization(db, { name: need(values, 'name'), ownerEmail: need(values, 'owner-email') });
      const out = { orgId: r.org.id, owner: { id: r.owner.id, email: r.owner.email, temporaryPassword: r.owner.temporaryPassword }, scimToken: r.scimToken, apiKey: r.apiKey };
      print(values.json, out, [
        `organisation ${r.org.name} (${r.org.slug}) created: ${r.org.id}`,
        `owner:       ${r.owner.email}`,
        r.owner.temporaryPassword ? `temporary password (must be changed at first sign-in): ${r.owner.temporaryPassword}` : 'the owner already had an account; its password is unchanged',
        `SCIM base URL: ${config.issuer}/scim/v2`,
        `SCIM token:  ${r.scimToken}`,
        `API key:     ${r.apiKey}`,
        'These secrets are shown once and stored only as hashes: keep them now.',
      ].join('\n'));
    } else {
      const org = need(values, 'org');
      if (!isUuid(org)) throw new UsageError('--org must be an organisation id (a UUID)');
      const exists = await db('organizations').where({ id: org }).first('id');
      if (!exists) throw new UsageError(`no organisation ${org}`);
      const t = await issueScimToken(db, org, typeof values.name === 'string' ? values.name : 'cli');
      print(values.json, { id: t.id, scimToken: t.secret }, `SCIM token (shown once): ${t.secret}`);
    }
  } finally {
    await db.destroy();
  }
}

function print(json: boolean | undefined, data: unknown, text: string): void {
  process.stdout.write(json ? JSON.stringify(data) + '\n' : text + '\n');
}

run(process.argv.slice(2)).catch((err) => {
  if (err instanceof UsageError || err instanceof ConfigError || err instanceof DirectoryError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`error: ${(err as Error).message}\n${err instanceof UsageError ? '\n' + usage : ''}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
