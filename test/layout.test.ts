// The layout rules of DESIGN.md, checked on the source: arrows point one way, and SQL lives in one place.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const SRC = join(import.meta.dirname, '../src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const files = sources(SRC).map((p) => ({ path: relative(SRC, p), text: readFileSync(p, 'utf8') }));

describe('layout', () => {
  it('finds the sources it checks', () => {
    assert.ok(files.some((f) => f.path === 'directory/members.ts') && files.some((f) => f.path === 'scim/router.ts'));
  });

  it('writes SQL only in src/directory/ and src/db.ts (no query builder, raw SQL or pool query elsewhere)', () => {
    const sql = [/\b(db|trx|knex)\s*\(\s*['"`]/, /\.raw\s*\(/, /\.query\s*\(/, /\b(select|insert|update|delete)\s+.*\b(from|into|set)\b/i];
    for (const f of files.filter((x) => !x.path.startsWith('directory/') && x.path !== 'db.ts')) {
      for (const pattern of sql) assert.equal(pattern.test(f.text), false, `${f.path} matches ${pattern}`);
    }
  });

  it('keeps the directory free of the doors: it imports no protocol layer, express or oidc-provider', () => {
    for (const f of files.filter((x) => x.path.startsWith('directory/'))) {
      assert.equal(/from '\.\.\/(scim|http|oidc|admin|mail|console)\//.test(f.text), false, `${f.path} imports a door`);
      assert.equal(/from '(express|oidc-provider|pino-http)'/.test(f.text), false, `${f.path} imports a web framework`);
    }
  });

  it('keeps the protocol layers apart: scim never imports http or another door', () => {
    for (const f of files.filter((x) => x.path.startsWith('scim/'))) {
      assert.equal(/from '\.\.\/(http|oidc|admin)\//.test(f.text), false, `${f.path} reaches into another layer`);
    }
  });
});
