// The baseline of the admin benchmark, run as its own process (`node bench/admin-baseline-child.ts`): a bare
// express app on one `pg.Pool` (10 connections, as Roster's pool) doing the work that a correct members search
// cannot skip, written as plain pg code is (unnamed statements, no query builder, no logging, no validation
// library):
//   GET /api/v1/orgs/:orgId/members?search=<term>&limit=<n>, Authorization: Bearer <API key>
//   1. the key: sha256 of the bearer token, one indexed lookup of an active API key in `credentials`
//      (401 without one), and its organisation must be the path's (404 otherwise);
//   2. one statement for the page: the members of that organisation whose `search_text` contains the term
//      (LIKE '%term%', its wildcards escaped as Roster escapes them), joined to `accounts` for the e-mail,
//      ordered by (created_at, id), limit n + 1 (to know whether there is a next page);
//   3. one statement for the total: count(*) with the same condition.
// Three round trips, as Roster makes. The answer has the roster's outline ({ items, total, nextCursor }, each item
// the member's id, account, name, e-mail, role, status and joinedAt). It listens on an ephemeral loopback port
// and sends { url } over the IPC channel once it listens.
// Env: BENCH_DATABASE_URL.
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';
import pg from 'pg';

const databaseUrl = process.env.BENCH_DATABASE_URL;
if (!databaseUrl || !process.send) throw new Error('start me from bench/admin.ts (BENCH_DATABASE_URL, an IPC channel)');

// Roster's pool: 10 connections, idle ones closed after 30 s (tarn's default), JIT off (src/db.ts).
const pool = new pg.Pool({ connectionString: databaseUrl, max: 10, idleTimeoutMillis: 30_000, options: '-c jit=off' });
// An idle connection closed under the pool (the bench database is dropped with `force` at the end) must not crash it.
pool.on('error', () => {});

const bearer = /^Bearer\s+(\S+)\s*$/i;
const containing = (term: string) => `%${term.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

const app = express();
app.disable('x-powered-by');
app.get('/api/v1/orgs/:orgId/members', async (req, res, next) => {
  try {
    const token = bearer.exec(req.headers.authorization ?? '')?.[1];
    const hash = token ? createHash('sha256').update(token).digest('hex') : undefined;
    const key = hash
      ? (await pool.query(`select org_id, role from credentials where secret_hash = $1 and kind = 'api_key' and revoked_at is null`, [hash])).rows[0]
      : undefined;
    if (!key) {
      res.status(401).json({ error: 'unauthenticated' });
      return;
    }
    if (key.org_id !== req.params.orgId) {
      res.status(404).json({ error: 'not found' });
      return;
    }
    const limit = Math.min(200, Math.max(1, Number(req.query.limit ?? 50) || 50));
    const term = typeof req.query.search === 'string' ? req.query.search.trim() : '';
    const pattern = containing(term);
    const { rows } = await pool.query(
      `select m.id, m.account_id, coalesce(m.display_name, m.name_formatted, nullif(trim(concat_ws(' ', m.given_name, m.family_name)), '')) as name,
         a.email, m.role, m.status, m.created_at
       from memberships m join accounts a on a.id = m.account_id
       where m.org_id = $1 and m.search_text like $2 escape '\\'
       order by m.created_at, m.id limit $3`,
      [key.org_id, pattern, limit + 1]);
    const counted = await pool.query(`select count(*)::int as n from memberships where org_id = $1 and search_text like $2 escape '\\'`, [key.org_id, pattern]);
    const items = rows.slice(0, limit).map((r) => ({
      id: r.id, kind: 'member', accountId: r.account_id, name: r.name, email: r.email, role: r.role, status: r.status, joinedAt: r.created_at,
    }));
    const last = items[items.length - 1];
    const nextCursor = rows.length > limit && last ? Buffer.from(`${last.joinedAt.toISOString()}|${last.id}`).toString('base64url') : null;
    res.json({ items, total: counted.rows[0].n, nextCursor });
  } catch (err) {
    next(err);
  }
});

const server = app.listen(0, '127.0.0.1', () => {
  process.send!({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
});
// The IPC channel must not keep the process alive: SIGTERM ends it.
process.channel?.unref();
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => { void pool.end().finally(() => process.exit(0)); });
});
