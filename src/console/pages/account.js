// My account, for every member whatever their role: my password, my authenticator app and recovery codes,
// my sessions in this organisation.
import { useState } from 'preact/hooks';
import { api, signIn } from '../api.js';
import { Confirm, Field, fieldError, html, ListState, Notice, useLoad, when } from '../ui.js';

export function MyAccount({ me }) {
  const account = useLoad(() => api(me.orgId, 'GET', '/me'), []);
  const a = account.data ?? me;
  return html`<h1>My account</h1>
    <p>${a.email}${a.name ? ` (${a.name})` : ''}</p>
    <${PasswordForm} me=${me} />
    <${Totp} me=${me} account=${a} reload=${account.reload} />
    <${MySessions} me=${me} />`;
}

function PasswordForm({ me }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [error, setError] = useState(null);
  const [done, setDone] = useState(false);
  if (done) return html`<section aria-labelledby="pw-h"><h2 id="pw-h">Password</h2><p role="status">Your password is changed. You were signed out everywhere.</p>
    <button type="button" class="primary" onClick=${() => signIn()}>Sign in again</button></section>`;
  return html`<section aria-labelledby="pw-h"><h2 id="pw-h">Password</h2><form onSubmit=${async (e) => {
    e.preventDefault(); setError(null);
    try { await api(me.orgId, 'POST', '/me/password', { currentPassword: current, newPassword: next }); setDone(true); } catch (err) { setError(err); }
  }}>
    <input type="hidden" autocomplete="username" value=${me.email} />
    <${Field} id="pw-current" label="Current password" error=${fieldError(error, 'currentPassword')}>
      <input id="pw-current" type="password" autocomplete="current-password" required value=${current} onInput=${(e) => setCurrent(e.target.value)} /><//>
    <${Field} id="pw-new" label="New password" hint="At least 10 characters; a few words work well." error=${fieldError(error, 'password')}>
      <input id="pw-new" type="password" autocomplete="new-password" required value=${next} onInput=${(e) => setNext(e.target.value)} aria-describedby="pw-new-hint" /><//>
    ${error && !fieldError(error, 'currentPassword') && !fieldError(error, 'password') ? html`<p class="error" role="alert">${error.message}</p>` : null}
    <button type="submit" class="primary">Change password</button>
  </form></section>`;
}

function Totp({ me, account, reload }) {
  const [enrolment, setEnrolment] = useState(null);
  const [code, setCode] = useState('');
  const [codes, setCodes] = useState(null);
  const [error, setError] = useState(null);
  const [mode, setMode] = useState(null);
  const act = async (f) => { setError(null); try { await f(); } catch (err) { setError(err); } };
  if (codes) return html`<section aria-labelledby="mfa-h"><h2 id="mfa-h">Authenticator app</h2>
    <p role="status">Your recovery codes, shown only now. Each works once, if you lose your phone. Keep them somewhere safe.</p>
    <ol class="codes">${codes.map((c) => html`<li><code>${c}</code></li>`)}</ol>
    <button type="button" class="primary" onClick=${() => { setCodes(null); setMode(null); reload(); }}>I have saved them</button></section>`;
  if (enrolment) return html`<section aria-labelledby="mfa-h"><h2 id="mfa-h">Set up an authenticator app</h2>
    <p>Scan this code with your app, or type the key.</p>
    <div class="qr" role="img" aria-label="QR code of the key" dangerouslySetInnerHTML=${{ __html: enrolment.qrSvg }}></div>
    <p>Key: <code>${enrolment.secret}</code></p>
    <form onSubmit=${(e) => { e.preventDefault(); act(async () => { const r = await api(me.orgId, 'POST', '/me/totp/confirm', { code }); setEnrolment(null); setCode(''); setCodes(r.recoveryCodes); }); }}>
      <${Field} id="totp-code" label="The 6-digit code your app shows" error=${error?.message}><input id="totp-code" inputmode="numeric" autocomplete="one-time-code" required value=${code} onInput=${(e) => setCode(e.target.value)} /><//>
      <div class="actions"><button type="submit" class="primary">Confirm</button><button type="button" onClick=${() => setEnrolment(null)}>Cancel</button></div>
    </form></section>`;
  return html`<section aria-labelledby="mfa-h"><h2 id="mfa-h">Authenticator app</h2>
    ${account.hasTotp ? html`<p>Set up. ${account.recoveryCodesLeft} recovery codes left.</p>
      ${mode ? html`<form onSubmit=${(e) => { e.preventDefault(); act(async () => {
          if (mode === 'remove') { await api(me.orgId, 'POST', '/me/totp/remove', { code }); setMode(null); setCode(''); reload(); }
          else { const r = await api(me.orgId, 'POST', '/me/recovery-codes', { code }); setCode(''); setCodes(r.recoveryCodes); }
        }); }}>
        <${Field} id="totp-proof" label="A current code from your app" error=${error?.message}><input id="totp-proof" inputmode="numeric" autocomplete="one-time-code" required value=${code} onInput=${(e) => setCode(e.target.value)} /><//>
        <div class="actions"><button type="submit" class=${mode === 'remove' ? 'danger' : 'primary'}>${mode === 'remove' ? 'Remove the app' : 'Make new recovery codes'}</button>
          <button type="button" onClick=${() => setMode(null)}>Cancel</button></div></form>`
        : html`<div class="actions"><button type="button" onClick=${() => setMode('codes')}>New recovery codes</button><button type="button" onClick=${() => setMode('remove')}>Remove the app</button></div>`}`
      : html`<p>Not set up. An app on your phone (such as an authenticator app) gives a second factor when you sign in.</p>
        <button type="button" class="primary" onClick=${() => act(async () => setEnrolment(await api(me.orgId, 'POST', '/me/totp', {})))}>Set up an authenticator app</button>
        ${error ? html`<p class="error" role="alert">${error.message}</p>` : null}`}
  </section>`;
}

function MySessions({ me }) {
  const list = useLoad(() => api(me.orgId, 'GET', '/me/sessions'), []);
  const [ending, setEnding] = useState(null);
  const [notice, setNotice] = useState(null);
  return html`<section aria-labelledby="ms-h"><h2 id="ms-h">My sessions</h2><${Notice} message=${notice} />
    <${ListState} state=${list} empty="No other sessions.">
      <ul class="plain list">${(list.data?.items ?? []).map((s) => html`<li key=${s.id}>${s.device ?? 'A device'} <span class="muted">from ${s.ip ?? '?'}, since ${when(s.createdAt)}</span>
        <button type="button" onClick=${() => setEnding(s)}>End</button></li>`)}</ul>
    <//>
    ${ending ? html`<${Confirm} open=${true} title="End this session?" action="End session" message="That device is signed out of this organisation's applications."
      onConfirm=${() => api(me.orgId, 'DELETE', `/me/sessions/${ending.id}`).then(() => { setNotice('The session has ended.'); list.reload(); })} onClose=${() => setEnding(null)} />` : null}
  </section>`;
}
