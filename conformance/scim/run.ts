// Black-box SCIM 2.0 conformance suite for Roster.
//
//   node conformance/scim/run.ts --url http://127.0.0.1:3000/scim/v2 --token <bearer> [--grep <substring>]
//
// Runs every case sequentially against a live deployment, prints "ok - name" / "not ok - name: reason" per
// case, then "N passed, N failed", and exits 1 when anything failed. Each case creates its own data under a
// per-run prefix ("conf-<random>-<n>-...") and deletes it afterwards, so the suite can run repeatedly.
import { COMMON_USAGE, commandLine, exitWith } from '../lib/cli.ts';
import { run } from './runner.ts';

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
       ${COMMON_USAGE}
The token may also be given as SCIM_TOKEN in the environment.`;

const { values, required, requestTimeoutMs, caseTimeoutMs } = commandLine(usage, ['token'], ({ url, token = process.env.SCIM_TOKEN }) =>
  url && /^https?:\/\//.test(url) && token ? { url, token } : null);

exitWith(await run({
  url: required.url.replace(/\/+$/, ''),
  token: required.token,
  grep: values.grep,
  requestTimeoutMs,
  caseTimeoutMs,
  verbose: values.verbose ?? false,
  log: (line) => console.log(line),
}));
