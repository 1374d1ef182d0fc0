// How a message leaves: nodemailer over SMTP when SMTP_URL is set (a connection per message, with timeouts
// well inside the sender's lease); otherwise no transport at all, and the message stays in the outbox.
import { createTransport } from 'nodemailer';

export type OutgoingMail = { to: string; subject: string; text: string; html: string | null; signal?: AbortSignal };

export type MailTransport = {
  /** Where mail goes, without credentials: for the log. */
  target: string;
  /** Resolves with the SMTP Message-ID once the server accepted the message; rejects otherwise (or when `signal` aborts). */
  send(mail: OutgoingMail): Promise<{ messageId: string }>;
  close(): void;
};

/** The longest a send may take before it is given up (and retried later); the lease must be longer. */
export const SEND_TIMEOUT_MS = 60_000;

/** `smtp://user:secret@host:587` -> `smtp://host:587`. */
export function describeSmtpUrl(smtpUrl: string): string {
  try {
    const u = new URL(smtpUrl);
    return `${u.protocol}//${u.host}`;
  } catch {
    return 'the server in SMTP_URL';
  }
}

/** The SMTP transport of `smtpUrl`, or null when it is unset (the outbox keeps every message). */
export function createMailTransport(input: { smtpUrl: string | undefined; from: string }): MailTransport | null {
  if (!input.smtpUrl) return null;
  const transporter = createTransport({
    url: input.smtpUrl,
    connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000, dnsTimeout: 10_000,
    disableFileAccess: true, disableUrlAccess: true,
  }, { from: input.from });
  return {
    target: describeSmtpUrl(input.smtpUrl),
    async send(mail) {
      const info = await transporter.sendMail({
        to: mail.to, subject: mail.subject, text: mail.text, ...(mail.html ? { html: mail.html } : {}),
        signal: mail.signal ? AbortSignal.any([mail.signal, AbortSignal.timeout(SEND_TIMEOUT_MS)]) : AbortSignal.timeout(SEND_TIMEOUT_MS),
      });
      return { messageId: info.messageId };
    },
    close: () => transporter.close(),
  };
}

/** The server refused the recipient for good (a 5xx reply to the envelope): trying again cannot help. */
export function isPermanentFailure(err: unknown): boolean {
  const e = err as { code?: string; responseCode?: number } | null;
  return e?.code === 'EENVELOPE' && typeof e.responseCode === 'number' && e.responseCode >= 500 && e.responseCode < 600;
}

/** One line about a failed send, without the stack. */
export function describeSendError(err: unknown): string {
  const e = err as { code?: string; responseCode?: number; message?: string } | null;
  return [e?.code, e?.responseCode, e?.message ?? String(err)].filter((x) => x !== undefined && x !== '').join(': ');
}
