// The OpenAPI 3.1 document of the admin API, generated from the route table and the same zod schemas that
// validate the requests (zod's own JSON Schema output, draft 2020-12, which OpenAPI 3.1 uses), and a
// reference page rendered from it on the server (no scripts).
import { z } from 'zod';
import { escapeHtml } from '../html.ts';
import { problemCodes } from './problems.ts';
import { routes } from './routes.ts';

const problem = {
  description: 'An RFC 9457 problem: `code` is stable (see x-problem-codes)',
  content: {
    'application/problem+json': {
      schema: {
        type: 'object', required: ['type', 'title', 'status', 'code'],
        properties: {
          type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, code: { type: 'string', enum: Object.keys(problemCodes) },
          detail: { type: 'string' }, field: { type: 'string' }, rule: { type: 'string' },
          errors: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } } },
        },
      },
    },
  },
};

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output' = 'input') => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
};

const documents = new Map<string, Record<string, unknown>>();

/** The document for this issuer, built on first use and kept (the route table does not change while running). */
export function openApiDocument(issuer: string): Record<string, unknown> {
  let document = documents.get(issuer);
  if (!document) documents.set(issuer, (document = buildDocument(issuer)));
  return document;
}

function buildDocument(issuer: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const params = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const queryProps = r.query ? (jsonSchema(r.query).properties as Record<string, unknown> | undefined) ?? {} : {};
    const query = Object.entries(queryProps).map(([name, schema]) => ({ name, in: 'query', required: false, schema }));
    paths[r.path] ??= {};
    paths[r.path][r.method] = {
      summary: r.summary,
      tags: [r.tag],
      ...(r.permissions?.length ? { 'x-permissions': r.permissions, description: `Needs: ${r.permissions.join(', ')}.` } : {}),
      parameters: [...params, ...query],
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body) } } } } : {}),
      responses: {
        [r.status ?? (r.method === 'delete' ? 204 : 200)]: { description: r.method === 'delete' ? 'Done' : 'Success (JSON)' },
        400: { $ref: '#/components/responses/Problem' }, 401: { $ref: '#/components/responses/Problem' },
        403: { $ref: '#/components/responses/Problem' }, 404: { $ref: '#/components/responses/Problem' }, 409: { $ref: '#/components/responses/Problem' },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Roster admin API', version: '1',
      description: 'Team management for an organisation. Authenticate with `Authorization: Bearer` and an organisation API key, or an access token Roster issued to a member. Lists answer {items, total, nextCursor}.',
    },
    servers: [{ url: `${issuer}/api/v1` }],
    security: [{ bearer: [] }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, responses: { Problem: problem } },
    'x-problem-codes': problemCodes,
    paths,
  };
}

/** The reference page at /docs: every route with its permissions and request schema, from the same document. */
export function referencePage(issuer: string, nonce: string): string {
  const doc = openApiDocument(issuer) as { paths: Record<string, Record<string, { summary: string; tags: string[]; 'x-permissions'?: string[]; requestBody?: { content: Record<string, { schema: unknown }> }; parameters: { name: string; in: string }[] }>> };
  const byTag = new Map<string, string[]>();
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const query = op.parameters.filter((p) => p.in === 'query').map((p) => p.name);
      const body = op.requestBody?.content['application/json']?.schema;
      const html = `<section><h3><code>${method.toUpperCase()} /api/v1${escapeHtml(path)}</code></h3><p>${escapeHtml(op.summary)}</p>
${op['x-permissions'] ? `<p>Permission: ${op['x-permissions'].map((p) => `<code>${escapeHtml(p)}</code>`).join(', ')}</p>` : ''}
${query.length ? `<p>Query: ${query.map((q) => `<code>${escapeHtml(q)}</code>`).join(', ')}</p>` : ''}
${body ? `<details><summary>Request body</summary><pre>${escapeHtml(JSON.stringify(body, null, 2))}</pre></details>` : ''}</section>`;
      const tag = op.tags[0];
      byTag.set(tag, [...(byTag.get(tag) ?? []), html]);
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Roster admin API reference</title>
<style nonce="${nonce}">body{font-family:system-ui,sans-serif;max-width:960px;margin:0 auto;padding:16px;color:#1a1a1a;line-height:1.5}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace}pre{background:#f4f4f4;padding:12px;overflow:auto}section{border-top:1px solid #ddd;padding:8px 0}h3{font-size:1rem;margin:8px 0}</style></head>
<body><main><h1>Roster admin API</h1>
<p>Base URL <code>${escapeHtml(issuer)}/api/v1</code>. Authenticate with <code>Authorization: Bearer</code> and an organisation API key (or a member's access token). The machine-readable document: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a> (OpenAPI 3.1).</p>
<p>Errors are <code>application/problem+json</code> with a stable <code>code</code>: ${Object.keys(problemCodes).map((c) => `<code>${c}</code>`).join(', ')}.</p>
${[...byTag].map(([tag, items]) => `<h2>${escapeHtml(tag)}</h2>${items.join('\n')}`).join('\n')}
</main></body></html>`;
}
