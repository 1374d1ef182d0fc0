// The messages Roster sends: each a plain-text and an HTML version, in the name of the organisation the
// person signs in to (Roster's own when there is none), with links the caller builds from ISSUER. Everything that comes
// from outside the template is escaped in the HTML, and kept on one line in the subject.
import { escapeHtml } from '../html.ts';

export type MailMessage = { subject: string; text: string; html: string };

const oneLine = (s: string) => s.replace(/[\r\n\t\v\f\u2028\u2029]+/g, ' ').trim();
const sender = (orgName: string | null | undefined) => oneLine(orgName ?? '') || 'Roster';
const spelled = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
const duration = (minutes: number) => (minutes % 60 === 0 ? spelled(minutes / 60, 'hour') : spelled(minutes, 'minute'));

/** One piece of a message: a paragraph, a code to type, or a link to follow. */
type Block = { p: string } | { code: string } | { link: string; label: string };

/** Builds the three parts from one list of blocks, so the text and the HTML always say the same. */
function compose(input: { subject: string; from: string; blocks: Block[] }): MailMessage {
  const footer = `Sent by ${input.from}. If you did not ask for this message, ignore it: nothing changes.`;
  const text = [...input.blocks.map((b) => ('p' in b ? b.p : 'code' in b ? `    ${b.code}` : `${b.label}:\n${b.link}`)), '--', footer].join('\n\n') + '\n';
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(input.subject)}</title></head>
<body style="margin:0;padding:24px;background:#f6f6f6;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1a1a1a;line-height:1.5">
<div style="max-width:560px;margin:0 auto;background:#ffffff;padding:24px;border-radius:8px">
<p style="margin:0 0 16px;font-weight:600">${escapeHtml(input.from)}</p>
${input.blocks.map((b) => ('p' in b
    ? `<p>${escapeHtml(b.p)}</p>`
    : 'code' in b
      ? `<p style="font-size:28px;font-weight:700;letter-spacing:6px;font-family:ui-monospace,Menlo,Consolas,monospace">${escapeHtml(b.code)}</p>`
      : `<p><a href="${escapeHtml(b.link)}" style="display:inline-block;padding:10px 16px;background:#1d4ed8;color:#ffffff;border-radius:6px;text-decoration:none">${escapeHtml(b.label)}</a></p>
<p style="font-size:13px;color:#555555">Or copy this address into your browser: ${escapeHtml(b.link)}</p>`)).join('\n')}
<p style="margin-top:24px;font-size:13px;color:#555555">${escapeHtml(footer)}</p>
</div>
</body></html>
`;
  return { subject: oneLine(input.subject), text, html };
}

/** A one-time sign-in code (a second factor): six digits, valid `minutes` (10 by default), usable once. */
export function emailCodeMessage(input: { orgName: string | null; code: string; minutes?: number }): MailMessage {
  const from = sender(input.orgName);
  return compose({
    subject: `Your sign-in code for ${from}`,
    from,
    blocks: [
      { p: `Enter this code to finish signing in to ${from}:` },
      { code: input.code },
      { p: `It works once, for ${duration(input.minutes ?? 10)}. Never give it to anyone: ${from} will not ask you for it.` },
    ],
  });
}

/** A code that proves the person controls the address, valid `minutes` (10 by default). */
export function verifyEmailMessage(input: { orgName: string | null; code: string; minutes?: number }): MailMessage {
  const from = sender(input.orgName);
  return compose({
    subject: `Confirm your e-mail address for ${from}`,
    from,
    blocks: [
      { p: `Enter this code to confirm that this e-mail address is yours:` },
      { code: input.code },
      { p: `It works once, for ${duration(input.minutes ?? 10)}.` },
    ],
  });
}

/**
 * A link that sets a new password, valid `minutes` (60 by default), usable once. `link` is the page's
 * absolute URL under ISSUER, token included.
 */
export function passwordResetMessage(input: { orgName: string | null; link: string; minutes?: number }): MailMessage {
  if (!/^https?:\/\//.test(input.link)) throw new Error(`a password-reset link must be an absolute http(s) URL, not "${input.link}"`);
  const from = sender(input.orgName);
  return compose({
    subject: `Reset your password for ${from}`,
    from,
    blocks: [
      { p: `Someone asked to reset the password of the account with this e-mail address. To choose a new password, follow this link:` },
      { link: input.link, label: 'Choose a new password' },
      { p: `The link works once, for ${duration(input.minutes ?? 60)}. Setting a new password signs you out everywhere.` },
    ],
  });
}

/**
 * An invitation to join an organisation: who invites, with which role, their message if any, the link and
 * when it expires. `link` is the invitation page's absolute URL under ISSUER, token included.
 */
export function invitationMessage(input: { orgName: string; inviterName: string | null; roleName: string; message: string | null; link: string; expiresAt: Date }): MailMessage {
  if (!/^https?:\/\//.test(input.link)) throw new Error(`an invitation link must be an absolute http(s) URL, not "${input.link}"`);
  const from = sender(input.orgName);
  const who = input.inviterName ? oneLine(input.inviterName) : null;
  const expires = input.expiresAt.toUTCString().replace(/:\d\d GMT$/, ' UTC');
  return compose({
    subject: who ? `${who} invited you to join ${from}` : `You are invited to join ${from}`,
    from,
    blocks: [
      { p: `${who ?? 'An administrator'} invited you to join ${from} on Roster, with the role ${oneLine(input.roleName)}.` },
      ...(input.message ? [{ p: `Their message: ${input.message}` }] : []),
      { link: input.link, label: `Join ${from}` },
      { p: `The link works until ${expires}. If you do not want to join, follow it and decline, or ignore this message.` },
    ],
  });
}
