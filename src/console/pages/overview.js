// Team overview: the organisation's name, licences used of the limit, and the login configuration, with the
// fields changed but not saved marked, and the API's refusal (at least one method, SSO needs a connection)
// in words.
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { fieldError, html, Notice, useLoad } from '../ui.js';

const methods = [['totp', 'Authenticator app (TOTP)'], ['email', 'Code by e-mail']];
const providers = [['password', 'Password'], ['sso', 'Your identity provider (SSO)']];

export function Overview({ me, permissions }) {
  const org = useLoad(() => api(me.orgId, 'GET', ''), []);
  if (org.loading && !org.data) return html`<h1>Overview</h1><p role="status" class="muted">Loading…</p>`;
  if (org.error) return html`<h1>Overview</h1><p class="error" role="alert">${org.error.message}</p>`;
  return html`<h1>Overview</h1>
    ${permissions.has('roster.view') || permissions.has('org.manage') ? html`<${NameForm} me=${me} org=${org.data} canEdit=${permissions.has('org.manage')} onSaved=${org.reload} />` : null}
    <${Licences} me=${me} org=${org.data} canEdit=${permissions.has('billing.manage')} onSaved=${org.reload} />
    ${permissions.has('org.manage') ? html`<${LoginForm} me=${me} org=${org.data} onSaved=${org.reload} />` : null}`;
}

function NameForm({ me, org, canEdit, onSaved }) {
  const [name, setName] = useState(org.name);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  if (!canEdit) return html`<section aria-labelledby="org-h"><h2 id="org-h">Organisation</h2><p>${org.name}</p></section>`;
  return html`<section aria-labelledby="org-h"><h2 id="org-h">Organisation</h2>
    <form onSubmit=${async (e) => {
      e.preventDefault(); setError(null); setDone(null);
      try { await api(me.orgId, 'PATCH', '', { name }); setDone('Name saved.'); onSaved(); } catch (err) { setError(err); }
    }}>
      <div class="field"><label for="org-name">Name${name !== org.name ? html` <span class="changed">(changed, not saved)</span>` : null}</label>
        <input id="org-name" value=${name} maxlength="200" onInput=${(e) => setName(e.target.value)} aria-invalid=${error ? 'true' : undefined} /></div>
      ${error ? html`<p class="error" role="alert">${fieldError(error, 'name') ?? error.message}</p>` : null}
      <button type="submit" class="primary" disabled=${name === org.name}>Save name</button>
      <${Notice} message=${done} />
    </form></section>`;
}

function Licences({ me, org, canEdit, onSaved }) {
  const current = org.licenceLimit === null ? '' : String(org.licenceLimit);
  const [limit, setLimit] = useState(current);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  return html`<section aria-labelledby="lic-h"><h2 id="lic-h">Licences</h2>
    <p class="big">${org.licencesUsed} used${org.licenceLimit === null ? ' (no limit)' : ` of ${org.licenceLimit}`}</p>
    <p class="muted">Active members and pending invitations take a licence; the billing role does not.</p>
    ${canEdit ? html`<form onSubmit=${async (e) => {
      e.preventDefault(); setError(null); setDone(null);
      try { await api(me.orgId, 'PATCH', '', { licenceLimit: limit.trim() === '' ? null : Number(limit) }); setDone('Licence limit saved.'); onSaved(); } catch (err) { setError(err); }
    }}>
      <div class="field"><label for="lic-limit">Licence limit${limit !== current ? html` <span class="changed">(changed, not saved)</span>` : null}</label>
        <input id="lic-limit" inputmode="numeric" value=${limit} onInput=${(e) => setLimit(e.target.value)} aria-describedby="lic-hint" />
        <p class="hint" id="lic-hint">Empty for no limit.</p></div>
      ${error ? html`<p class="error" role="alert">${error.message}</p>` : null}
      <button type="submit" class="primary" disabled=${limit === current}>Save limit</button>
      <${Notice} message=${done} />
    </form>` : null}
  </section>`;
}

function LoginForm({ me, org, onSaved }) {
  const saved = org.loginConfiguration;
  const [form, setForm] = useState(saved);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const changed = (k) => JSON.stringify([form[k]].flat().sort()) !== JSON.stringify([saved[k]].flat().sort());
  const mark = (k) => (changed(k) ? html` <span class="changed">(changed, not saved)</span>` : null);
  const toggle = (k, v) => setForm({ ...form, [k]: form[k].includes(v) ? form[k].filter((x) => x !== v) : [...form[k], v] });
  const dirty = Object.keys(saved).some(changed);
  return html`<section aria-labelledby="login-h"><h2 id="login-h">Sign-in rules</h2>
    <form onSubmit=${async (e) => {
      e.preventDefault(); setError(null); setDone(null);
      const change = Object.fromEntries(Object.keys(saved).filter(changed).map((k) => [k, form[k]]));
      try { await api(me.orgId, 'PATCH', '', { loginConfiguration: change }); setDone('Sign-in rules saved. Sessions that no longer meet them have ended (yours continues until you next sign in).'); onSaved(); } catch (err) { setError(err); }
    }}>
      <div class="check"><input type="checkbox" id="requireMfa" checked=${form.requireMfa} onChange=${(e) => setForm({ ...form, requireMfa: e.target.checked })} />
        <label for="requireMfa">Require a second factor${mark('requireMfa')}</label></div>
      <fieldset><legend>Second factors allowed${mark('mfaMethods')}</legend>
        ${methods.map(([v, label]) => html`<div class="check"><input type="checkbox" id=${`m-${v}`} checked=${form.mfaMethods.includes(v)} onChange=${() => toggle('mfaMethods', v)} /><label for=${`m-${v}`}>${label}</label></div>`)}
      </fieldset>
      <fieldset><legend>Ways to sign in${mark('loginProviders')}</legend>
        ${providers.map(([v, label]) => html`<div class="check"><input type="checkbox" id=${`p-${v}`} checked=${form.loginProviders.includes(v)} onChange=${() => toggle('loginProviders', v)} /><label for=${`p-${v}`}>${label}</label></div>`)}
      </fieldset>
      <div class="check"><input type="checkbox" id="ssoEnforced" checked=${form.ssoEnforced} onChange=${(e) => setForm({ ...form, ssoEnforced: e.target.checked })} />
        <label for="ssoEnforced">Enforce SSO (only the identity provider)${mark('ssoEnforced')}</label></div>
      <div class="check"><input type="checkbox" id="allowIdentityLinking" checked=${form.allowIdentityLinking} onChange=${(e) => setForm({ ...form, allowIdentityLinking: e.target.checked })} />
        <label for="allowIdentityLinking">Allow linking more identities to an account${mark('allowIdentityLinking')}</label></div>
      ${error ? html`<p class="error" role="alert">${error.message}</p>` : null}
      <div class="actions"><button type="submit" class="primary" disabled=${!dirty}>Save sign-in rules</button>
        <button type="button" disabled=${!dirty} onClick=${() => { setForm(saved); setError(null); }}>Discard changes</button></div>
      <${Notice} message=${done} />
    </form></section>`;
}
