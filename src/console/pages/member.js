// One member: profile (editable where this organisation manages the account), security (role, second
// factor, password reset: the row menu's actions), and their recent sign-in activity.
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { Confirm, Dialog, fieldError, html, Link, ListState, Notice, SecretDialog, useLoad, when } from '../ui.js';
import { RowMenu, useRoles } from './members.js';
import { describeEvent } from './activity.js';

export function MemberDetail({ me, permissions, path }) {
  const id = path.split('/')[2];
  const member = useLoad(() => api(me.orgId, 'GET', `/members/${id}`), [id]);
  const roles = useRoles(me);
  const [dialog, setDialog] = useState(null);
  const [notice, setNotice] = useState(null);
  if (member.loading && !member.data) return html`<h1>Member</h1><p class="muted" role="status">Loading…</p>`;
  if (member.error) return html`<h1>Member</h1><p class="error" role="alert">${member.error.message}</p><p><${Link} to="/members">Back to members<//></p>`;
  const m = member.data;
  const canEdit = permissions.has('members.manage') && m.managed && (m.role !== 'owner' || m.accountId === me.accountId);
  const done = (message) => { setNotice(message); member.reload(); };
  return html`<p><${Link} to="/members">← Members<//></p>
    <h1>${m.name ?? m.email}</h1>
    <${Notice} message=${notice} />
    <section aria-labelledby="profile-h"><h2 id="profile-h">Profile</h2>
      ${canEdit ? html`<${ProfileForm} me=${me} m=${m} onSaved=${done} />` : html`<dl class="facts">
        <dt>Name</dt><dd>${m.name ?? '—'}</dd><dt>E-mail</dt><dd>${m.email}</dd><dt>Phone</dt><dd>${m.phone ?? '—'}</dd></dl>
        ${!m.managed ? html`<p class="muted">Another organisation manages this person's account: only its admins can change the profile, password or second factor.</p>` : null}`}
    </section>
    <section aria-labelledby="security-h"><h2 id="security-h">Security</h2>
      <dl class="facts">
        <dt>Role</dt><dd>${roles.name(m.role)}${m.grantedRoles.map((g) => html`<div class="muted">+ ${roles.name(g.role)} via ${g.groupName}</div>`)}</dd>
        <dt>Status</dt><dd><span class=${`badge ${m.status}`}>${m.status}</span>${m.deactivatedAt ? ` since ${when(m.deactivatedAt)}` : ''}</dd>
        <dt>Second factor</dt><dd>${m.mfaMethods.length ? m.mfaMethods.map((f) => (f === 'totp' ? 'Authenticator app' : f)).join(', ') : 'None'}</dd>
        <dt>Identity providers</dt><dd>${m.identities.length ? m.identities.map((i) => i.provider).join(', ') : '—'}</dd>
        <dt>Groups</dt><dd>${m.groups.length ? m.groups.map((g) => g.name).join(', ') : '—'}</dd>
        <dt>Joined</dt><dd>${when(m.joinedAt)}</dd><dt>Last sign-in</dt><dd>${when(m.lastSignInAt)}</dd>
      </dl>
      ${permissions.has('members.manage') ? html`<${RowMenu} row=${m} me=${me} permissions=${permissions} roles=${roles} open=${setDialog} onDone=${done} />` : null}
    </section>
    ${permissions.has('activity.view') ? html`<${RecentActivity} me=${me} id=${id} />` : null}
    ${dialog?.kind === 'secret' ? html`<${SecretDialog} title=${dialog.title} text=${dialog.text} label=${dialog.label} value=${dialog.value} onClose=${() => setDialog(null)} />` : null}
    ${dialog?.kind === 'confirm' ? html`<${ConfirmHost} dialog=${dialog} onClose=${() => setDialog((d) => (d?.kind === 'confirm' ? null : d))} />` : null}
    ${dialog?.kind === 'role' ? html`<${RoleHost} me=${me} roles=${roles} row=${m} onClose=${() => setDialog(null)} onDone=${done} />` : null}`;
}

const ConfirmHost = ({ dialog, onClose }) => html`<${Confirm} open=${true} ...${dialog.props} onClose=${onClose} />`;

function RoleHost({ me, roles, row, onClose, onDone }) {
  const [role, setRole] = useState(row.role);
  const [error, setError] = useState(null);
  return html`<${Dialog} open=${true} title="Change role" onClose=${onClose}><form onSubmit=${async (e) => {
    e.preventDefault();
    try { await api(me.orgId, 'PATCH', `/members/${row.id}`, { role }); onClose(); onDone(`The role is now ${roles.name(role)}.`); } catch (err) { setError(err.message); }
  }}>
    <div class="field"><label for="detail-role">Role</label><select id="detail-role" value=${role} onChange=${(e) => setRole(e.target.value)}>
      ${roles.grantable.map((r) => html`<option value=${r.id}>${r.name}</option>`)}</select></div>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    <div class="actions"><button type="submit" class="primary">Save role</button><button type="button" onClick=${onClose}>Cancel</button></div>
  </form><//>`;
}

function ProfileForm({ me, m, onSaved }) {
  const [form, setForm] = useState({ name: m.name ?? '', email: m.email, phone: m.phone ?? '' });
  const [error, setError] = useState(null);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  return html`<form onSubmit=${async (e) => {
    e.preventDefault(); setError(null);
    try { await api(me.orgId, 'PATCH', `/members/${m.id}`, { name: form.name.trim() || null, email: form.email, phone: form.phone.trim() || null }); onSaved('Profile saved.'); } catch (err) { setError(err); }
  }}>
    <div class="field"><label for="p-name">Name</label><input id="p-name" value=${form.name} onInput=${set('name')} /></div>
    <div class="field"><label for="p-email">E-mail</label><input id="p-email" type="email" value=${form.email} onInput=${set('email')} aria-invalid=${fieldError(error, 'email') ? 'true' : undefined} />
      ${fieldError(error, 'email') ? html`<p class="field-error" role="alert">${fieldError(error, 'email')}</p>` : null}</div>
    <div class="field"><label for="p-phone">Phone</label><input id="p-phone" type="tel" value=${form.phone} onInput=${set('phone')} /></div>
    ${error && !fieldError(error, 'email') ? html`<p class="error" role="alert">${error.message}</p>` : null}
    <button type="submit" class="primary">Save profile</button>
  </form>`;
}

function RecentActivity({ me, id }) {
  const events = useLoad(() => api(me.orgId, 'GET', `/auth-events?memberId=${id}&limit=20`), [id]);
  return html`<section aria-labelledby="recent-h"><h2 id="recent-h">Recent sign-in activity</h2>
    <${ListState} state=${events} empty="No sign-in activity yet.">
      <div class="table-wrap"><table><caption class="sr-only">Recent sign-in activity</caption>
        <thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Outcome</th><th scope="col">From</th></tr></thead>
        <tbody>${(events.data?.items ?? []).map((e) => html`<tr key=${e.id}><td>${when(e.createdAt)}</td><td>${describeEvent(e)}</td>
          <td><span class=${`badge ${e.outcome}`}>${e.outcome}</span>${e.reason ? html`<div class="muted">${e.reason.replace(/_/g, ' ')}</div>` : null}</td>
          <td>${e.ip ?? '—'}<div class="muted">${e.device ?? ''}</div></td></tr>`)}</tbody></table></div>
    <//></section>`;
}
