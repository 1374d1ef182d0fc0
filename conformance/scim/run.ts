// Black-box SCIM 2.0 conformance suite for Roster.
//
//   node conformance/scim/run.ts --url http://127.0.0.1:3000/scim/v2 --token <bearer> [--grep <substring>]
//
// Runs every case sequentially against a live deployment, prints "ok - name" / "not ok - name: reason" per
// case, then "N passed, N failed", and exits 1 when anything failed. Each case creates its own data under a
// per-run prefix ("conf-<random>-<n>-...") and deletes it afterwards, so the suite can run repeatedly.
import { parseArgs } from 'node:util';
import { run } from './runner.ts';
import { DEFAULT_TIMEOUT_MS } from './client.ts';

import './cases-discovery.ts';
import './cases-rfc7644.ts';
import './cases-query.ts';
import './cases-filter.ts';
import './cases-patch.ts';
import './cases-bulk.ts';
import './cases-okta.ts';
import './cases-entra.ts';
import './cases-errors.ts';

const usage = `usage: node conformance/scim/run.ts --url <base, e.g. http://127.0.0.1:3000/scim/v2> --token <bearer>
       [--grep <substring of case names>] [--timeout <ms per request, default ${DEFAULT_TIMEOUT_MS}>] [--verbose]
The token may also be given as SCIM_TOKEN in the environment.`;

let values;
try {
  ({ values } = parseArgs({
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      grep: { type: 'string' },
      timeout: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  console.error((err as Error).message);
  console.error(usage);
  process.exit(2);
}

if (values.help) {
  console.log(usage);
  process.exit(0);
}

const url = values.url;
const token = values.token ?? process.env.SCIM_TOKEN;
if (!url || !/^https?:\/\//.test(url) || !token) {
  console.error(usage);
  process.exit(2);
}
const requestTimeoutMs = values.timeout ? Number(values.timeout) : DEFAULT_TIMEOUT_MS;
if (!Number.isFinite(requestTimeoutMs) || requestTimeoutMs <= 0) {
  console.error(`--timeout must be a positive number of milliseconds\n${usage}`);
  process.exit(2);
}

const { failed } = await run({
  url: url.replace(/\/+$/, ''),
  token,
  grep: values.grep,
  requestTimeoutMs,
  caseTimeoutMs: Math.max(120_000, requestTimeoutMs * 8),
  verbose: values.verbose ?? false,
  log: (line) => console.log(line),
});
process.exitCode = failed > 0 ? 1 : 0;
