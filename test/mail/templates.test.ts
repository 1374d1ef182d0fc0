import assert from 'node:assert/strict';
import { emailCodeMessage, passwordResetMessage, verifyEmailMessage } from '../../src/mail/templates.ts';

const hostile = `Acme <script>alert("x")</script> & 'Co'`;

describe('mail templates', () => {
  it('an e-mail code names the organisation, shows the code in text and HTML, and says it lasts ten minutes', () => {
    const m = emailCodeMessage({ orgName: 'Acme', code: '042917' });
    assert.equal(m.subject, 'Your sign-in code for Acme');
    for (const part of [m.text, m.html]) {
      assert.match(part, /042917/);
      assert.match(part, /Acme/);
      assert.match(part, /10 minutes/);
    }
    assert.match(m.html, /^<!doctype html>/);
  });

  it('a verification code names the organisation and its validity', () => {
    const m = verifyEmailMessage({ orgName: 'Acme', code: '123456', minutes: 15 });
    assert.equal(m.subject, 'Confirm your e-mail address for Acme');
    for (const part of [m.text, m.html]) {
      assert.match(part, /123456/);
      assert.match(part, /15 minutes/);
    }
  });

  it('a password reset carries the link (under ISSUER) in text and HTML, valid one hour', () => {
    const link = 'https://id.example.com/account/reset-password?token=abc_DEF-123&x=1';
    const m = passwordResetMessage({ orgName: 'Acme', link });
    assert.equal(m.subject, 'Reset your password for Acme');
    assert.ok(m.text.includes(link), m.text);
    assert.ok(m.html.includes('href="https://id.example.com/account/reset-password?token=abc_DEF-123&#38;x=1"'), m.html);
    assert.match(m.text, /1 hour/);
    assert.throws(() => passwordResetMessage({ orgName: 'Acme', link: 'javascript:alert(1)' }), /absolute http/);
  });

  it('escapes everything in the HTML and keeps the subject on one line, whatever the organisation is called', () => {
    for (const m of [
      emailCodeMessage({ orgName: `${hostile}\r\nBcc: victim@example.com`, code: '<b>1</b>' }),
      verifyEmailMessage({ orgName: hostile, code: '"1"' }),
      passwordResetMessage({ orgName: hostile, link: 'https://id.example.com/r?token="><script>' }),
    ]) {
      if (m.subject.startsWith('Reset')) assert.ok(m.html.includes('href="https://id.example.com/r?token=&#34;&#62;&#60;script&#62;"'), m.html);
      assert.doesNotMatch(m.html, /<script|<b>|token="/);
      assert.match(m.html, /Acme &#60;script&#62;alert\(&#34;x&#34;\)&#60;\/script&#62; &#38; &#39;Co&#39;/);
      assert.doesNotMatch(m.subject, /[\r\n]/);
      assert.match(m.text, /Acme <script>/, 'the plain text is text: shown as typed');
    }
  });

  it('speaks for Roster when the message belongs to no organisation', () => {
    const m = passwordResetMessage({ orgName: null, link: 'https://id.example.com/r?token=t' });
    assert.equal(m.subject, 'Reset your password for Roster');
    assert.equal(emailCodeMessage({ orgName: '  ', code: '000000' }).subject, 'Your sign-in code for Roster');
  });
});
