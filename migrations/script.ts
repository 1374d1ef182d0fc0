// A migration's SQL as one script: PGlite prepares each statement, so the script runs statement by
// statement (split at a semicolon that ends a line; a function body holding semicolons is run on its own).
import type { Knex } from 'knex';

export async function runScript(knex: Knex, script: string): Promise<void> {
  for (const statement of script.split(/;\s*\n/).map((s) => s.trim()).filter(Boolean)) {
    await knex.raw(statement);
  }
}
