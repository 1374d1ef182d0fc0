// POST /.search at the service provider root (RFC 7644 section 3.4.3): Users, then Groups, paged as one list.
// A filter that names an attribute one type does not have simply matches nothing of that type.
import type { ScimContext, ScimResult } from './context.ts';
import { ScimError } from './errors.ts';
import { listScimGroups } from './groups.ts';
import { type ListParams, listResponse } from './list-params.ts';
import { listUsers } from './users.ts';

type List = { totalResults: number; Resources: unknown[] };

async function orEmpty(run: (p: ListParams) => Promise<ScimResult>, p: ListParams): Promise<{ list: List | null; error: ScimError | null }> {
  try {
    return { list: (await run(p)).body as List, error: null };
  } catch (err) {
    if (err instanceof ScimError && err.scimType === 'invalidFilter') return { list: null, error: err };
    throw err;
  }
}

export async function rootSearch(ctx: ScimContext, params: ListParams): Promise<ScimResult> {
  const offset = params.startIndex - 1;
  const users = await orEmpty((p) => listUsers(ctx, p), params);
  const userTotal = users.list?.totalResults ?? 0;
  // The groups page starts where the users run out.
  const groupOffset = Math.max(0, offset - userTotal);
  const groupCount = Math.max(0, params.count - (users.list?.Resources.length ?? 0));
  const groups = await orEmpty((p) => listScimGroups(ctx, p), { ...params, startIndex: groupOffset + 1, count: groupCount });
  if (!users.list && !groups.list) throw users.error!;
  const total = userTotal + (groups.list?.totalResults ?? 0);
  return { status: 200, body: listResponse(total, params.startIndex, [...(users.list?.Resources ?? []), ...(groups.list?.Resources ?? [])]) };
}
