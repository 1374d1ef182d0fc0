// Black-box conformance suite for Roster's admin REST API (/api/v1).
//
//   node conformance/admin/run.ts --url http://127.0.0.1:3000 --key rst_key_... --org <orgId> [--grep <substring>]
//
// --url is the server's base URL (the API is under /api/v1), --key an owner API key of the organisation
// --org (what `cli org create --json` prints as apiKey and orgId). Runs every case sequentially over HTTP,
// prints "ok - name" / "not ok - name: reason" per case, then "N passed, N failed", and exits 1 when anything
// failed. Each case makes its own data under a per-run prefix ("conf-admin-<random>-<n>-...", e-mail
// addresses at example.com) and undoes it afterwards: members removed, invitations cancelled, roles and
// groups deleted, keys, tokens and clients revoked, settings and ownership put back. The organisation stays
// usable and the suite can run again against it (its audit log keeps what the runs did, and revoked
// credentials stay listed as revoked).
//
// The sessions case signs a member in through the deployment's OpenID Connect pages (a client it registers
// through the API, redirect URI https://conformance.invalid/callback, never fetched), so that there is a
// session to list and to end.
import { COMMON_USAGE, commandLine, exitWith } from '../lib/cli.ts';
import { run } from './runner.ts';

import './cases-access.ts';
import './cases-org.ts';
import './cases-members.ts';
import './cases-invitations.ts';
import './cases-roles.ts';
import './cases-groups.ts';
import './cases-credentials.ts';
import './cases-activity.ts';
import './cases-sso.ts';
import './cases-openapi.ts';

const usage = `usage: node conformance/admin/run.ts --url <server base URL, e.g. http://127.0.0.1:3000> --key <owner API key, rst_key_...> --org <organisation id>
       ${COMMON_USAGE}
The key may also be given as ADMIN_API_KEY in the environment.`;

const { values, required, requestTimeoutMs, caseTimeoutMs } = commandLine(usage, ['key', 'org'], ({ url: given, key = process.env.ADMIN_API_KEY, org: orgId }) => {
  // The base URL of the server; one given with the API's own path (/api/v1) is taken as the server's.
  const url = given?.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
  return url && /^https?:\/\//.test(url) && key && orgId ? { url, key, orgId } : null;
});

exitWith(await run({
  ...required,
  grep: values.grep,
  requestTimeoutMs,
  caseTimeoutMs,
  verbose: values.verbose ?? false,
  log: (line) => console.log(line),
}));
