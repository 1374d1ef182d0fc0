// Who made each API key and SCIM token. A key never does more than the member who made it can do now, and stops
// working when they are no longer an active member (the admin router reads their standing on every request); a
// SCIM token only says who made it (an identity provider's provisioning must not stop when an admin leaves).
// Those the operator made (`cli org create`) answer to nobody. Those made before this migration get their maker
// from the audit log (one made with an API key: that key's maker).
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table credentials add column made_by_account_id uuid');
  await backfillKeyMakers(knex);
}

/** Sets the maker of API keys and SCIM tokens that have none from their `*.created` audit events; the number set. */
export async function backfillKeyMakers(knex: Knex): Promise<number> {
  let total = 0;
  const byPeople = await knex.raw(`
    update credentials c set made_by_account_id = e.actor_id::uuid
    from audit_events e
    where c.kind in ('api_key', 'scim_token') and c.made_by_account_id is null
      and e.org_id = c.org_id and e.action = c.kind || '.created' and e.target_id = c.id::text and e.actor_type = 'user'`);
  total += byPeople.rowCount ?? 0;
  // A key made by a key: its maker's maker, one generation per pass.
  for (;;) {
    const byKeys = await knex.raw(`
      update credentials c set made_by_account_id = parent.made_by_account_id
      from audit_events e join credentials parent on parent.id::text = e.actor_id
      where c.kind in ('api_key', 'scim_token') and c.made_by_account_id is null and parent.made_by_account_id is not null
        and parent.kind = 'api_key' and parent.org_id = c.org_id
        and e.org_id = c.org_id and e.action = c.kind || '.created' and e.target_id = c.id::text and e.actor_type = 'api_key'`);
    if (!byKeys.rowCount) break;
    total += byKeys.rowCount;
  }
  return total;
}
