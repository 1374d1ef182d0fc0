// The sign-in pages: server-rendered HTML, no scripts, no third-party assets. Plain and accessible: one
// heading, every field labelled and described, errors announced (role="alert") and linked to their field,
// focus starting on the first field, usable on a phone (viewport, large targets), the organisation's name
// on every page. Styles are inline under a per-response nonce (the Content-Security-Policy allows nothing else).

import { escapeHtml } from '../html.ts';

export { escapeHtml };

export type PageFrame = { title: string; orgName?: string; nonce: string; body: string };

const css = `
  :root { color-scheme: light dark; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5; }
  body { margin: 0; padding: 1rem; display: flex; justify-content: center; }
  main { width: 100%; max-width: 26rem; }
  .org { margin: 0 0 .25rem; font-size: .95rem; color: light-dark(#595959, #b3b3b3); }
  h1 { font-size: 1.5rem; margin: 0 0 1rem; }
  label { display: block; font-weight: 600; margin: 1rem 0 .25rem; }
  input[type=email], input[type=password], input[type=text] { box-sizing: border-box; width: 100%; font-size: 1.1rem; padding: .6rem; border: 1px solid #767676; border-radius: 4px; }
  input:focus, button:focus { outline: 3px solid #1a73e8; outline-offset: 2px; }
  button { margin-top: 1.25rem; width: 100%; min-height: 2.75rem; font-size: 1.05rem; font-weight: 600; border: 0; border-radius: 4px; background: #1d4ed8; color: #fff; cursor: pointer; }
  button.secondary { background: transparent; color: inherit; border: 1px solid #767676; font-weight: 400; }
  .hint { font-size: .9rem; margin: .25rem 0 0; }
  .error { border-left: 4px solid #b91c1c; padding: .5rem .75rem; margin: 1rem 0; background: rgba(185, 28, 28, .08); }
  .notice { border-left: 4px solid #1d4ed8; padding: .5rem .75rem; margin: 1rem 0; background: rgba(29, 78, 216, .08); }
  .qr svg { width: 12rem; height: 12rem; background: #fff; padding: .5rem; }
  code, .codes { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 1.05rem; overflow-wrap: anywhere; }
  .codes { columns: 2; padding-left: 1.25rem; }
  details { margin-top: 1.5rem; }
`;

export function page(p: PageFrame): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(p.title)}${p.orgName ? ` · ${escapeHtml(p.orgName)}` : ''}</title>
<style nonce="${escapeHtml(p.nonce)}">${css}</style>
</head>
<body>
<main>
${p.orgName ? `<p class="org">${escapeHtml(p.orgName)}</p>` : ''}
<h1>${escapeHtml(p.title)}</h1>
${p.body}
</main>
</body>
</html>`;
}

/** An error message, announced to screen readers, linked to the field it is about (aria-describedby). */
export const errorBox = (message: string | undefined, id = 'error') => (message ? `<div class="error" role="alert" id="${id}">${escapeHtml(message)}</div>` : '');

export type Form = { action: string; csrf: string; body: string; submit: string; secondary?: boolean };

export const form = (f: Form) => `<form method="post" action="${escapeHtml(f.action)}" novalidate>
<input type="hidden" name="_csrf" value="${escapeHtml(f.csrf)}">
${f.body}
<button type="submit"${f.secondary ? ' class="secondary"' : ''}>${escapeHtml(f.submit)}</button>
</form>`;

/** A labelled input; `error` marks it invalid and points to the message. */
export function field(f: { name: string; label: string; type: string; value?: string; autocomplete?: string; hint?: string; error?: boolean; autofocus?: boolean; inputmode?: string; extra?: string }): string {
  const described = [f.hint ? `${f.name}-hint` : '', f.error ? 'error' : ''].filter(Boolean).join(' ');
  return `<label for="${f.name}">${escapeHtml(f.label)}</label>
<input id="${f.name}" name="${f.name}" type="${f.type}"${f.value !== undefined ? ` value="${escapeHtml(f.value)}"` : ''}${f.autocomplete ? ` autocomplete="${f.autocomplete}"` : ''}${f.inputmode ? ` inputmode="${f.inputmode}"` : ''} required${f.autofocus ? ' autofocus' : ''}${f.error ? ' aria-invalid="true"' : ''}${described ? ` aria-describedby="${described}"` : ''}${f.extra ? ` ${f.extra}` : ''}>
${f.hint ? `<p class="hint" id="${f.name}-hint">${escapeHtml(f.hint)}</p>` : ''}`;
}
