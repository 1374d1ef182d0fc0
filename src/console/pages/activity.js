// Who is signed in where (end one), sign-in activity, and the audit log (filter by actor, action, time).
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { Confirm, html, ListState, Notice, useCursorList, useLoad, when } from '../ui.js';

const words = {
  sign_in: 'Sign-in', mfa_enrolment: 'Set up a second factor', mfa_verification: 'Second factor', recovery_code_used: 'Recovery code', password_changed: 'Password changed',
  logout: 'Signed out', session_revoked: 'Session ended', sso_redirect: 'Sent to the identity provider', sso_sign_in: 'Signed in with SSO', identity_linked: 'Identity linked',
  jit_provisioned: 'Joined through SSO',
};
export const describeEvent = (e) => words[e.type] ?? e.type.replace(/_/g, ' ');

export function Sessions({ me }) {
  const list = useLoad(() => api(me.orgId, 'GET', '/sessions?limit=200'), []);
  const members = useLoad(() => api(me.orgId, 'GET', '/members?limit=200&status=active'), []);
  const [confirm, setConfirm] = useState(null);
  const [notice, setNotice] = useState(null);
  const who = (accountId) => (members.data?.items ?? []).find((m) => m.accountId === accountId)?.email ?? accountId;
  return html`<h1>Sessions</h1><p class="muted">Who is signed in to this organisation's applications, newest first.</p>
    <${Notice} message=${notice} />
    <${ListState} state=${list} empty="Nobody is signed in right now.">
      <div class="table-wrap"><table><caption class="sr-only">Live sessions</caption>
        <thead><tr><th scope="col">Person</th><th scope="col">Device</th><th scope="col">Address</th><th scope="col">Signed in</th><th scope="col">Last active</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>${(list.data?.items ?? []).map((s) => html`<tr key=${s.id}><td>${who(s.accountId)}<div class="muted">${s.provider}, ${s.factors.join(' + ')}</div></td>
          <td>${s.device ?? '—'}</td><td>${s.ip ?? '—'}</td><td>${when(s.createdAt)}</td><td>${when(s.lastActiveAt)}</td>
          <td><button type="button" onClick=${() => setConfirm(s)} aria-label=${`End session of ${who(s.accountId)} on ${s.device ?? 'this device'}`}>End session</button></td></tr>`)}</tbody></table></div>
    <//>
    ${confirm ? html`<${Confirm} open=${true} title="End this session?" danger=${true} action="End session"
      message=${`${who(confirm.accountId)} is signed out of this organisation's applications on that device at once.`}
      onConfirm=${() => api(me.orgId, 'DELETE', `/sessions/${confirm.id}`).then(() => { setNotice('The session has ended.'); list.reload(); })}
      onClose=${() => setConfirm(null)} />` : null}`;
}

export function AuthActivity({ me }) {
  const [outcome, setOutcome] = useState('');
  const { state, pager, reset } = useCursorList((cursor) => api(me.orgId, 'GET', `/auth-events?limit=50${outcome ? `&outcome=${outcome}` : ''}${cursor ? `&cursor=${cursor}` : ''}`), [outcome]);
  return html`<h1>Sign-in activity</h1>
    <div class="toolbar"><div class="field inline"><label for="outcome">Outcome</label>
      <select id="outcome" value=${outcome} onChange=${(e) => { setOutcome(e.target.value); reset(); }}><option value="">All</option><option value="success">Success</option><option value="failure">Failure</option></select></div></div>
    <${ListState} state=${state} empty="No sign-in activity matches.">
      <div class="table-wrap"><table><caption class="sr-only">Sign-in activity</caption>
        <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Outcome</th><th scope="col">From</th></tr></thead>
        <tbody>${(state.data?.items ?? []).map((e) => html`<tr key=${e.id}><td>${when(e.createdAt)}</td><td>${e.email ?? e.accountId ?? '—'}</td><td>${describeEvent(e)}</td>
          <td><span class=${`badge ${e.outcome}`}>${e.outcome}</span>${e.reason ? html`<div class="muted">${e.reason.replace(/_/g, ' ')}</div>` : null}</td>
          <td>${e.ip ?? '—'}<div class="muted">${e.device ?? ''}</div></td></tr>`)}</tbody></table></div>
    <//>${pager}`;
}

export function AuditLog({ me }) {
  const [filters, setFilters] = useState({ actor: '', action: '', since: '' });
  const [applied, setApplied] = useState(filters);
  const q = () => {
    const p = new URLSearchParams({ limit: '50' });
    if (applied.actor.trim()) p.set('actor', applied.actor.trim());
    if (applied.action.trim()) p.set('action', applied.action.trim());
    if (applied.since) p.set('since', new Date(applied.since).toISOString());
    return p;
  };
  const { state, pager, reset } = useCursorList((cursor) => { const p = q(); if (cursor) p.set('cursor', cursor); return api(me.orgId, 'GET', `/audit-events?${p}`); }, [applied]);
  const set = (k) => (e) => setFilters({ ...filters, [k]: e.target.value });
  return html`<h1>Audit log</h1><p class="muted">Every change, by whom and from where. Nothing can edit or delete it.</p>
    <form class="toolbar" onSubmit=${(e) => { e.preventDefault(); setApplied(filters); reset(); }}>
      <div class="field inline"><label for="a-actor">Actor id</label><input id="a-actor" value=${filters.actor} onInput=${set('actor')} /></div>
      <div class="field inline"><label for="a-action">Action</label><input id="a-action" value=${filters.action} onInput=${set('action')} placeholder="member.deactivated" /></div>
      <div class="field inline"><label for="a-since">Since</label><input id="a-since" type="datetime-local" value=${filters.since} onInput=${set('since')} /></div>
      <button type="submit">Filter</button>
    </form>
    <${ListState} state=${state} empty="No change matches.">
      <div class="table-wrap"><table><caption class="sr-only">Audit log</caption>
        <thead><tr><th scope="col">When</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Details</th></tr></thead>
        <tbody>${(state.data?.items ?? []).map((e) => html`<tr key=${e.id}><td>${when(e.createdAt)}</td>
          <td>${e.actor.type.replace('_', ' ')}<div class="muted">${e.actor.id ?? ''}${e.actor.ip ? ` from ${e.actor.ip}` : ''}</div></td>
          <td><code>${e.action}</code></td><td>${e.targetType ?? ''}<div class="muted">${e.targetId ?? ''}</div></td>
          <td><code class="details">${JSON.stringify(e.details)}</code></td></tr>`)}</tbody></table></div>
    <//>${pager}`;
}
