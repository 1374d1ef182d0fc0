import assert from 'node:assert/strict';
import supertest from 'supertest';
import { pino } from 'pino';
import { createApp, createMetricsApp } from '../src/http/app.ts';
import { createMetrics } from '../src/http/metrics.ts';
import { openDb } from '../src/db.ts';
import { testApp } from './helpers.ts';
import { testDb } from './setup.ts';

describe('HTTP service endpoints', () => {
  it('answers /healthz and /readyz while the database is reachable', async () => {
    const app = supertest(testApp());
    assert.deepEqual((await app.get('/healthz').expect(200)).body, { status: 'ok' });
    assert.equal((await app.get('/readyz').expect(200)).body.database, 'reachable');
  });

  it('answers /readyz with 503 when the database is not reachable', async () => {
    const broken = await openDb({ databaseUrl: 'postgres://nobody@127.0.0.1:1/none' });
    const app = supertest(createApp({ db: broken, logger: pino({ level: 'silent' }), issuer: 'http://x.test' }));
    const res = await app.get('/readyz');
    assert.equal(res.status, 503);
    assert.equal(res.body.database, 'unreachable');
    await broken.destroy();
  });

  it('exposes Prometheus metrics on the metrics app only (never the public one), labelled by route pattern rather than by id', async () => {
    const metrics = createMetrics();
    const app = supertest(createApp({ db: testDb(), logger: pino({ level: 'silent' }), issuer: 'http://x.test', metrics }));
    await app.get('/scim/v2/ServiceProviderConfig').expect(200);
    await app.get('/metrics').expect(404);
    const res = await supertest(createMetricsApp(metrics)).get('/metrics').expect(200);
    assert.match(res.text, /http_request_duration_seconds_count\{method="GET",route="\/scim\/v2\/ServiceProviderConfig",status="200"\} \d+/);
    assert.match(res.text, /process_resident_memory_bytes/);
    // The public app's own 404 for /metrics was recorded too, under no route.
    assert.match(res.text, /route="unmatched",status="404"/);
  });

  it('gives every response a request id, keeping a sane one from the caller', async () => {
    const app = supertest(testApp());
    const mine = await app.get('/healthz').set('X-Request-Id', 'abc-123');
    assert.equal(mine.headers['x-request-id'], 'abc-123');
    const generated = await app.get('/healthz').set('X-Request-Id', 'bad id with spaces <script>');
    assert.match(generated.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  });

  it('sends security headers fit for an API: a CSP that allows nothing, no framing, no sniffing, HSTS', async () => {
    const res = await supertest(testApp()).get('/healthz');
    assert.equal(res.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'");
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN');
    assert.match(res.headers['strict-transport-security'], /max-age=\d+/);
    assert.equal(res.headers['x-powered-by'], undefined);
  });

  it('answers unknown routes with problem+json 404', async () => {
    const res = await supertest(testApp()).get('/nope');
    assert.equal(res.status, 404);
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  });
});
