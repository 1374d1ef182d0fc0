// NIST SP 800-63B rules for a password a person chooses: length, not the e-mail, not a common one; no
// composition rules.
import assert from 'node:assert/strict';
import { checkChosenPassword } from '../../src/directory/passwords.ts';
import type { DirectoryError } from '../../src/directory/errors.ts';

const refused = (rule: string) => (e: DirectoryError) => e.code === 'invalid' && e.field === 'password' && e.rule === rule;
const email = 'Ada.Lovelace@Example.test';

describe('directory: chosen passwords (NIST SP 800-63B)', () => {
  it('needs 10 characters by default (or the configured minimum), counting each character once, emoji included', async () => {
    await assert.rejects(checkChosenPassword('ninechars', { email }), refused('too_short'));
    await checkChosenPassword('tencharsok', { email });
    await checkChosenPassword('🦊🦊🦊🦊🦊🦊🦊🦊🦊🦊', { email }); // 10 characters, 20 UTF-16 units
    await assert.rejects(checkChosenPassword('🦊🦊🦊🦊🦊', { email }), refused('too_short'));
    await assert.rejects(checkChosenPassword('tencharsok', { email, minLength: 12 }), refused('too_short'));
    await assert.rejects(checkChosenPassword('x'.repeat(257), { email }), refused('too_long'));
  });

  it('has no composition rules: a long passphrase of lower-case words is fine', async () => {
    await checkChosenPassword('correct horse battery staple', { email });
  });

  it('refuses the e-mail address and its local part, whatever the case', async () => {
    await assert.rejects(checkChosenPassword('ada.lovelace@example.test', { email }), refused('is_email'));
    await assert.rejects(checkChosenPassword('ADA.LOVELACE', { email }), refused('is_email'));
  });

  it('refuses the most common passwords, whatever the case', async () => {
    for (const p of ['qwertyuiop', '1234567890', 'Password123', 'Q1W2E3R4T5']) await assert.rejects(checkChosenPassword(p, { email }), refused('too_common'), p);
  });
});
