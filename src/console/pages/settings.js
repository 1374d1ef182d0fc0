// What an admin configures once: SCIM tokens (and the base URL to paste into Okta or Entra ID), API keys,
// OIDC clients, the SSO connection (with the redirect URI to register upstream). A secret is shown once.
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { Confirm, Field, fieldError, html, ListState, Notice, SecretDialog, useLoad, when } from '../ui.js';

export function Settings({ me }) {
  return html`<h1>Settings</h1>
    <${Credentials} me=${me} kind="scim-tokens" title="SCIM tokens" intro=${html`Your identity provider provisions people with one. Base URL to paste into Okta or Entra ID: <code>${location.origin}/scim/v2</code>`} />
    <${Credentials} me=${me} kind="api-keys" title="API keys" intro="For scripts and integrations calling the admin API; each carries a role. A key never does more than the member who made it can do, and stops working when they leave the organisation or are deactivated." />
    <${Clients} me=${me} />
    <${Sso} me=${me} />`;
}

function Credentials({ me, kind, title, intro }) {
  const list = useLoad(() => api(me.orgId, 'GET', `/${kind}`), []);
  const [name, setName] = useState('');
  const [role, setRole] = useState('admin');
  const [secret, setSecret] = useState(null);
  const [revoking, setRevoking] = useState(null);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState(null);
  const id = kind.replace(/\W/g, '');
  const live = (list.data?.items ?? []).filter((c) => !c.revokedAt);
  return html`<section aria-labelledby=${`${id}-h`}><h2 id=${`${id}-h`}>${title}</h2><p class="muted">${intro}</p>
    <form class="toolbar" onSubmit=${async (e) => {
      e.preventDefault(); setError(null);
      try { const r = await api(me.orgId, 'POST', `/${kind}`, { name, ...(kind === 'api-keys' ? { role } : {}) }); setSecret(r); setName(''); list.reload(); } catch (err) { setError(err); }
    }}>
      <div class="field inline"><label for=${`${id}-name`}>Name</label><input id=${`${id}-name`} value=${name} required maxlength="200" onInput=${(e) => setName(e.target.value)} /></div>
      ${kind === 'api-keys' ? html`<div class="field inline"><label for=${`${id}-role`}>Role</label><select id=${`${id}-role`} value=${role} onChange=${(e) => setRole(e.target.value)}>
        <option value="admin">Admin</option><option value="member">Member</option><option value="billing">Billing</option><option value="owner">Owner</option></select></div>` : null}
      <button type="submit" class="primary">Create ${kind === 'api-keys' ? 'API key' : 'SCIM token'}</button>
    </form>
    ${error ? html`<p class="error" role="alert">${fieldError(error, 'name') ?? error.message}</p>` : null}
    <${Notice} message=${notice} />
    <${ListState} state=${{ ...list, data: list.data && { items: live } }} empty="None yet.">
      <ul class="plain list">${live.map((c) => html`<li key=${c.id}><strong>${c.name}</strong>${c.role ? ` (${c.role})` : ''}
        <span class="muted"> created ${when(c.createdAt)} by ${c.madeBy ? c.madeBy.email ?? 'a former member' : 'the operator'}, last used ${when(c.lastUsedAt)}</span>
        <button type="button" onClick=${() => setRevoking(c)} aria-label=${`Revoke ${c.name}`}>Revoke</button></li>`)}</ul>
    <//>
    ${secret ? html`<${SecretDialog} title=${`${kind === 'api-keys' ? 'API key' : 'SCIM token'} created`} label=${secret.name} value=${secret.secret} onClose=${() => setSecret(null)} />` : null}
    ${revoking ? html`<${Confirm} open=${true} title=${`Revoke ${revoking.name}?`} danger=${true} action="Revoke" message="Anything using it is refused from now on."
      onConfirm=${() => api(me.orgId, 'DELETE', `/${kind}/${revoking.id}`).then(() => { setNotice(`${revoking.name} is revoked.`); list.reload(); })} onClose=${() => setRevoking(null)} />` : null}
  </section>`;
}

function Clients({ me }) {
  const list = useLoad(() => api(me.orgId, 'GET', '/clients'), []);
  const [form, setForm] = useState({ name: '', redirect: '', public: false });
  const [created, setCreated] = useState(null);
  const [error, setError] = useState(null);
  const [revoking, setRevoking] = useState(null);
  const live = (list.data?.items ?? []).filter((c) => !c.revokedAt);
  return html`<section aria-labelledby="clients-h"><h2 id="clients-h">Applications (OIDC clients)</h2>
    <p class="muted">Issuer: <code>${location.origin}</code>; discovery at <code>${location.origin}/.well-known/openid-configuration</code>.</p>
    <form onSubmit=${async (e) => {
      e.preventDefault(); setError(null);
      try { setCreated(await api(me.orgId, 'POST', '/clients', { name: form.name || undefined, redirectUris: [form.redirect], public: form.public })); list.reload(); } catch (err) { setError(err); }
    }}>
      <div class="toolbar">
        <div class="field inline"><label for="c-name">Name</label><input id="c-name" value=${form.name} onInput=${(e) => setForm({ ...form, name: e.target.value })} /></div>
        <div class="field inline"><label for="c-redirect">Redirect URI</label><input id="c-redirect" type="url" required value=${form.redirect} onInput=${(e) => setForm({ ...form, redirect: e.target.value })} placeholder="https://app.example/callback" /></div>
        <div class="check"><input type="checkbox" id="c-public" checked=${form.public} onChange=${(e) => setForm({ ...form, public: e.target.checked })} /><label for="c-public">Public (no secret, PKCE)</label></div>
        <button type="submit" class="primary">Register application</button></div>
      ${error ? html`<p class="error" role="alert">${error.message}</p>` : null}
    </form>
    <${ListState} state=${{ ...list, data: list.data && { items: live } }} empty="No applications yet.">
      <ul class="plain list">${live.map((c) => html`<li key=${c.clientId}><strong>${c.name}</strong> <code>${c.clientId}</code>${c.builtIn ? html` <span class="muted">(built in)</span>` : html` <button type="button" onClick=${() => setRevoking(c)} aria-label=${`Revoke ${c.name}`}>Revoke</button>`}</li>`)}</ul>
    <//>
    ${created ? html`<${SecretDialog} title="Application registered" text=${html`Client id: <code>${created.client_id}</code>`}
      label="Client secret" value=${created.client_secret} onClose=${() => setCreated(null)} />` : null}
    ${revoking ? html`<${Confirm} open=${true} title=${`Revoke ${revoking.name}?`} danger=${true} action="Revoke" message="Its tokens stop working at once and nobody can sign in to it."
      onConfirm=${() => api(me.orgId, 'DELETE', `/clients/${revoking.clientId}`).then(list.reload)} onClose=${() => setRevoking(null)} />` : null}
  </section>`;
}

function Sso({ me }) {
  const current = useLoad(() => api(me.orgId, 'GET', '/sso-connection').catch((e) => (e.status === 404 ? { none: true, redirectUri: e.body?.redirectUri } : Promise.reject(e))), []);
  const [form, setForm] = useState(null);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState(null);
  const c = current.data;
  if (current.loading && !c) return html`<section aria-labelledby="sso-h"><h2 id="sso-h">SSO connection</h2><p class="muted" role="status">Loading…</p></section>`;
  if (current.error) return html`<section aria-labelledby="sso-h"><h2 id="sso-h">SSO connection</h2><p class="error" role="alert">${current.error.message}</p></section>`;
  const f = form ?? { issuer: c.issuer ?? '', clientId: c.clientId ?? '', clientSecret: '', domains: (c.domains ?? []).join(', '), jitProvisioning: c.jitProvisioning ?? true };
  const set = (k) => (e) => setForm({ ...f, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
  return html`<section aria-labelledby="sso-h"><h2 id="sso-h">SSO connection</h2>
    <p>Register this redirect URI at your identity provider: <code>${c.redirectUri}</code></p>
    <form onSubmit=${async (e) => {
      e.preventDefault(); setError(null); setNotice(null);
      try {
        await api(me.orgId, 'PUT', '/sso-connection', { issuer: f.issuer, clientId: f.clientId, ...(f.clientSecret ? { clientSecret: f.clientSecret } : {}), domains: f.domains.split(/[\s,]+/).filter(Boolean), jitProvisioning: f.jitProvisioning });
        setForm(null); setNotice('The SSO connection is saved.'); current.reload();
      } catch (err) { setError(err); }
    }}>
      <${Field} id="sso-issuer" label="Issuer URL"><input id="sso-issuer" type="url" value=${f.issuer} required onInput=${set('issuer')} /><//>
      <${Field} id="sso-client" label="Client id"><input id="sso-client" value=${f.clientId} required onInput=${set('clientId')} /><//>
      <${Field} id="sso-secret" label="Client secret" hint=${c.none ? undefined : 'Leave empty to keep the current one (it is never shown).'}><input id="sso-secret" type="password" autocomplete="off" value=${f.clientSecret} onInput=${set('clientSecret')} /><//>
      <${Field} id="sso-domains" label="E-mail domains" hint="Each new domain needs a DNS TXT record that proves you control it: saving tells you which."><input id="sso-domains" value=${f.domains} required onInput=${set('domains')} /><//>
      <div class="check"><input type="checkbox" id="sso-jit" checked=${f.jitProvisioning} onChange=${set('jitProvisioning')} /><label for="sso-jit">Add people at their first SSO sign-in</label></div>
      ${error ? html`<div class="error" role="alert"><p>${error.code === 'domain_not_verified' ? 'Publish these DNS records, then save again:' : error.message}</p>
        ${error.body?.records ? html`<ul>${error.body.records.map((r) => html`<li><code>${r.name} TXT "${r.value}"</code></li>`)}</ul>` : null}</div>` : null}
      <div class="actions"><button type="submit" class="primary">Save SSO connection</button>
        ${c.none ? null : html`<button type="button" class="danger" onClick=${async () => { await api(me.orgId, 'DELETE', '/sso-connection'); setNotice('The SSO connection is removed: people sign in with passwords again.'); setForm(null); current.reload(); }}>Remove</button>`}</div>
      <${Notice} message=${notice} />
    </form></section>`;
}
