// The members table: name and e-mail, identities, MFA, role, status, last sign-in, joined; search, filters
// and cursor paging (one indexed query per page, however many members); a menu on each row with what applies
// to that row; the invite and create-member dialogs.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { Confirm, Dialog, Field, fieldError, html, Link, ListState, Notice, Secret, SecretDialog, useCursorList, useLoad, when } from '../ui.js';

export const PAGE = 25;

/** Roles by id, for names; `grantable`: the roles this caller may hand out (never owner). */
export function useRoles(me) {
  const roles = useLoad(() => api(me.orgId, 'GET', '/roles'), []);
  const items = roles.data?.items ?? [];
  const name = (id) => items.find((r) => r.id === id)?.name ?? id;
  return { items, name, grantable: items.filter((r) => r.id !== 'owner') };
}

export function Members({ me, permissions }) {
  const [search, setSearch] = useState('');
  const [typed, setTyped] = useState('');
  const [status, setStatus] = useState('');
  const [role, setRole] = useState('');
  const [dialog, setDialog] = useState(null);
  const [notice, setNotice] = useState(null);
  const roles = useRoles(me);
  const { state: list, pager, page, reset } = useCursorList((cursor) => {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (search.trim()) q.set('search', search.trim());
    if (status) q.set('status', status);
    if (role) q.set('role', role);
    if (cursor) q.set('cursor', cursor);
    return api(me.orgId, 'GET', `/members?${q}`);
  }, [search, status, role], { previous: 'Previous page', next: 'Next page' });
  useEffect(() => { const t = setTimeout(() => { setSearch(typed); reset(); }, 250); return () => clearTimeout(t); }, [typed]);
  const canManage = permissions.has('members.manage');
  const done = (message) => { setNotice(message); list.reload(); };
  const total = list.data?.total ?? 0;
  return html`<h1>Members</h1>
    <div class="toolbar">
      <div class="field inline"><label for="search">Search by name or e-mail</label>
        <input id="search" type="search" value=${typed} onInput=${(e) => setTyped(e.target.value)} autocomplete="off" /></div>
      <div class="field inline"><label for="status">Status</label>
        <select id="status" value=${status} onChange=${(e) => { setStatus(e.target.value); reset(); }}>
          <option value="">All</option><option value="active">Active</option><option value="deactivated">Deactivated</option><option value="invited">Invited</option>
        </select></div>
      <div class="field inline"><label for="role">Role</label>
        <select id="role" value=${role} onChange=${(e) => { setRole(e.target.value); reset(); }}>
          <option value="">All</option>${roles.items.map((r) => html`<option value=${r.id}>${r.name}</option>`)}
        </select></div>
      ${canManage ? html`<div class="actions push">
        <button type="button" class="primary" onClick=${() => setDialog({ kind: 'invite' })}>Invite people</button>
        <button type="button" onClick=${() => setDialog({ kind: 'create' })}>Create member</button></div>` : null}
    </div>
    <${Notice} message=${notice} />
    <${ListState} state=${list} empty=${search || status || role ? 'No member matches. Change the search or the filters.' : canManage ? 'Nobody here yet: invite people, or connect your identity provider (Settings).' : 'Nobody here yet.'}>
      <p class="muted" aria-live="polite">${total} ${total === 1 ? 'person' : 'people'}${list.loading ? ' (loading…)' : ''}</p>
      <div class="table-wrap"><table>
        <caption class="sr-only">Members, page ${page}</caption>
        <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Status</th><th scope="col">SSO and MFA</th><th scope="col">Last sign-in</th><th scope="col">Joined</th>${canManage ? html`<th scope="col"><span class="sr-only">Actions</span></th>` : null}</tr></thead>
        <tbody>${(list.data?.items ?? []).map((m) => html`<tr key=${m.id}>
          <td>${m.kind === 'member' ? html`<${Link} to=${`/members/${m.id}`}>${m.name ?? m.email}<//>` : html`<span>${m.email}</span>`}
            ${m.name ? html`<div class="muted">${m.email}</div>` : null}</td>
          <td>${roles.name(m.role)}${m.grantedRoles.length ? html`<div class="muted">+ ${m.grantedRoles.map((g) => `${roles.name(g.role)} (via ${g.groupName})`).join(', ')}</div>` : null}</td>
          <td><span class=${`badge ${m.status}`}>${m.status}</span>${m.kind === 'invitation' ? html`<div class="muted">until ${when(m.expiresAt)}</div>` : null}</td>
          <td>${[...m.identities.map((i) => new URL(i.provider).host), ...m.mfaMethods.map((f) => (f === 'totp' ? 'authenticator app' : f))].join(', ') || '—'}</td>
          <td>${when(m.lastSignInAt)}</td>
          <td>${when(m.joinedAt)}</td>
          ${canManage ? html`<td><${RowMenu} row=${m} me=${me} permissions=${permissions} roles=${roles} open=${setDialog} onDone=${done} /></td>` : null}
        </tr>`)}</tbody>
      </table></div>
    <//>
    ${pager}
    ${dialog?.kind === 'invite' ? html`<${InviteDialog} me=${me} roles=${roles} onClose=${() => setDialog(null)} onDone=${done} />` : null}
    ${dialog?.kind === 'create' ? html`<${CreateDialog} me=${me} roles=${roles} onClose=${() => setDialog(null)} onDone=${done} />` : null}
    ${dialog?.kind === 'confirm' ? html`<${Confirm} open=${true} ...${dialog.props} onClose=${() => setDialog((d) => (d?.kind === 'confirm' ? null : d))} />` : null}
    ${dialog?.kind === 'role' ? html`<${RoleDialog} me=${me} roles=${roles} row=${dialog.row} onClose=${() => setDialog(null)} onDone=${done} />` : null}
    ${dialog?.kind === 'secret' ? html`<${SecretDialog} title=${dialog.title} text=${dialog.text} label=${dialog.label} value=${dialog.value} onClose=${() => setDialog(null)} />` : null}`;
}

/** What applies to this row: nothing the rules forbid (the owner's row offers none of it). */
export function RowMenu({ row, me, permissions, roles, open, onDone }) {
  const path = `/members/${row.id}`;
  const self = row.accountId === me.accountId;
  const items = [];
  const confirm = (props) => open({ kind: 'confirm', props });
  if (row.kind === 'invitation') {
    items.push(['Resend invitation', () => api(me.orgId, 'POST', `/invitations/${row.id}/resend`, {}).then(() => onDone(`A new invitation went to ${row.email}; the old link no longer works.`))]);
    items.push(['Cancel invitation', () => confirm({ title: 'Cancel the invitation?', message: `The link sent to ${row.email} will stop working.`, action: 'Cancel invitation', danger: true,
      onConfirm: () => api(me.orgId, 'DELETE', `/invitations/${row.id}`).then(() => onDone(`The invitation to ${row.email} is cancelled.`)) })]);
  } else if (row.role !== 'owner') {
    if (permissions.has('roles.manage')) items.push(['Change role', () => open({ kind: 'role', row })]);
    if (!self && row.status === 'active') {
      items.push(['Deactivate', () => confirm({ title: `Deactivate ${row.name ?? row.email}?`, danger: true, action: 'Deactivate',
        message: 'They are signed out of this organisation\'s applications at once and cannot sign in here until reactivated; the API keys they made and the invitations they sent stop working until then. Their data and their other organisations are kept as they are.',
        onConfirm: () => api(me.orgId, 'POST', `${path}/deactivate`, {}).then(() => onDone(`${row.email} is deactivated; their sessions have ended.`)) })]);
    }
    if (!self && row.status === 'deactivated') {
      items.push(['Reactivate', () => confirm({ title: `Reactivate ${row.name ?? row.email}?`, action: 'Reactivate', message: 'They can sign in again. This takes a licence.',
        onConfirm: () => api(me.orgId, 'POST', `${path}/reactivate`, {}).then(() => onDone(`${row.email} is active again.`)) })]);
    }
    if (!self && row.managed) {
      items.push(['Reset password', () => confirm({ title: 'Reset the password?', action: 'Reset password', danger: true,
        message: `${row.email} gets a new temporary password, to change at the next sign-in; they are signed out everywhere.`,
        onConfirm: () => api(me.orgId, 'POST', `${path}/reset-password`, {}).then((r) => open({ kind: 'secret', title: 'New temporary password', text: `Give it to ${row.email} through a channel you trust.`, label: 'Temporary password', value: r.temporaryPassword })) })]);
      if (row.mfaMethods.length) {
        items.push(['Reset MFA', () => confirm({ title: 'Reset their second factor?', action: 'Reset MFA', danger: true,
          message: 'Their authenticator app and recovery codes are removed and their sessions here end. They set up a new one at their next sign-in.',
          onConfirm: () => api(me.orgId, 'POST', `${path}/reset-mfa`, {}).then(() => onDone(`The second factor of ${row.email} is reset.`)) })]);
      }
    }
    if (!self) {
      items.push(['Remove from organisation', () => confirm({ title: `Remove ${row.name ?? row.email}?`, action: 'Remove', danger: true,
        message: 'They leave this organisation and its groups and are signed out of its applications; the API keys they made and the invitations they sent stop working. SCIM tokens they made keep working: revoke them in Settings if they should not. Their audit history stays.',
        onConfirm: () => api(me.orgId, 'DELETE', path).then(() => onDone(`${row.email} was removed.`)) })]);
    }
    if (permissions.has('org.own') && row.role === 'admin' && row.status === 'active') {
      items.push(['Transfer ownership', () => confirm({ title: 'Transfer ownership?', action: 'Make them the owner', danger: true,
        message: `${row.email} becomes the owner; you become an admin. Only the owner can transfer it back.`,
        onConfirm: () => api(me.orgId, 'POST', '/transfer-ownership', { memberId: row.id }).then(() => location.reload()) })]);
    }
  }
  if (items.length === 0) return html`<span class="muted">—</span>`;
  return html`<details class="menu row-menu"><summary aria-label=${`Actions for ${row.name ?? row.email}`}>Actions</summary>
    <ul>${items.map(([label, act]) => html`<li><button type="button" onClick=${(e) => { e.target.closest('details').open = false; Promise.resolve(act()).catch((err) => onDone(err.message)); }}>${label}</button></li>`)}</ul>
  </details>`;
}

function RoleDialog({ me, roles, row, onClose, onDone }) {
  const [role, setRole] = useState(row.role);
  const [error, setError] = useState(null);
  return html`<${Dialog} open=${true} title=${`Role of ${row.name ?? row.email}`} onClose=${onClose}>
    <form onSubmit=${async (e) => {
      e.preventDefault();
      try { await api(me.orgId, 'PATCH', `/members/${row.id}`, { role }); onClose(); onDone(`${row.email} is now ${roles.name(role)}. It applies to their next request.`); } catch (err) { setError(err.message); }
    }}>
      <${Field} id="new-role" label="Role"><select id="new-role" value=${role} onChange=${(e) => setRole(e.target.value)}>
        ${roles.grantable.map((r) => html`<option value=${r.id}>${r.name}</option>`)}</select><//>
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
      <div class="actions"><button type="submit" class="primary">Save role</button><button type="button" onClick=${onClose}>Cancel</button></div>
    </form><//>`;
}

function GroupPicker({ me, value, onChange }) {
  const groups = useLoad(() => api(me.orgId, 'GET', '/groups?limit=200'), []);
  const editable = (groups.data?.items ?? []).filter((g) => g.managedBy === 'admin');
  if (!editable.length) return null;
  return html`<fieldset><legend>Groups (optional)</legend>${editable.map((g) => html`<div class="check">
    <input type="checkbox" id=${`g-${g.id}`} checked=${value.includes(g.id)} onChange=${() => onChange(value.includes(g.id) ? value.filter((x) => x !== g.id) : [...value, g.id])} />
    <label for=${`g-${g.id}`}>${g.name}</label></div>`)}</fieldset>`;
}

function InviteDialog({ me, roles, onClose, onDone }) {
  const [emails, setEmails] = useState('');
  const [role, setRole] = useState('member');
  const [message, setMessage] = useState('');
  const [groupIds, setGroupIds] = useState([]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const list = emails.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
  const length = [...message].length;
  return html`<${Dialog} open=${true} title="Invite people" onClose=${onClose}>
    <form onSubmit=${async (e) => {
      e.preventDefault(); setBusy(true); setError(null);
      try {
        const r = await api(me.orgId, 'POST', '/invitations', { emails: list, role, ...(message.trim() ? { message } : {}), ...(groupIds.length ? { groupIds } : {}) });
        onClose(); onDone(`${r.items.length} ${r.items.length === 1 ? 'invitation' : 'invitations'} sent.`);
      } catch (err) { setError(err); } finally { setBusy(false); }
    }}>
      <${Field} id="invite-emails" label="E-mail addresses" hint="One or more, separated by commas, spaces or new lines." error=${fieldError(error, 'emails')}>
        <textarea id="invite-emails" rows="3" value=${emails} onInput=${(e) => setEmails(e.target.value)} aria-describedby="invite-emails-hint" required></textarea><//>
      <${Field} id="invite-role" label="Role"><select id="invite-role" value=${role} onChange=${(e) => setRole(e.target.value)}>
        ${roles.grantable.map((r) => html`<option value=${r.id}>${r.name}</option>`)}</select><//>
      <${GroupPicker} me=${me} value=${groupIds} onChange=${setGroupIds} />
      <${Field} id="invite-message" label="Message (optional)" error=${fieldError(error, 'message')}>
        <textarea id="invite-message" rows="4" maxlength="2500" value=${message} onInput=${(e) => setMessage(e.target.value)} aria-describedby="invite-count"></textarea>
        <p class="hint" id="invite-count" aria-live="polite">${length} of 2,500 characters</p><//>
      ${error && !fieldError(error, 'emails') && !fieldError(error, 'message') ? html`<p class="error" role="alert">${error.message}</p>` : null}
      <div class="actions"><button type="submit" class="primary" disabled=${busy || list.length === 0}>${busy ? 'Sending…' : `Send ${list.length > 1 ? `${list.length} invitations` : 'invitation'}`}</button>
        <button type="button" onClick=${onClose}>Cancel</button></div>
    </form><//>`;
}

function CreateDialog({ me, roles, onClose, onDone }) {
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('member');
  const [error, setError] = useState(null);
  const [created, setCreated] = useState(null);
  if (created) {
    return html`<${Dialog} open=${true} title="Member created" onClose=${() => { onClose(); onDone(`${created.member.email} was added.`); }}>
      ${created.temporaryPassword
        ? html`<p>Give ${created.member.email} this temporary password through a channel you trust. They choose their own at their first sign-in.</p>
          <${Secret} label="Temporary password" value=${created.temporaryPassword} />`
        : html`<p>${created.member.email} already had an account: they sign in with it.</p>`}
      <div class="actions"><button type="button" class="primary" onClick=${() => { onClose(); onDone(`${created.member.email} was added.`); }}>Done</button></div><//>`;
  }
  return html`<${Dialog} open=${true} title="Create a member" onClose=${onClose}>
    <form onSubmit=${async (e) => {
      e.preventDefault(); setError(null);
      try { setCreated(await api(me.orgId, 'POST', '/members', { ...(name.trim() ? { name } : {}), email, role })); } catch (err) { setError(err); }
    }}>
      <${Field} id="create-name" label="Name"><input id="create-name" value=${name} onInput=${(e) => setName(e.target.value)} autocomplete="off" /><//>
      <${Field} id="create-email" label="E-mail address" error=${fieldError(error, 'email')}><input id="create-email" type="email" value=${email} onInput=${(e) => setEmail(e.target.value)} required autocomplete="off" /><//>
      <${Field} id="create-role" label="Role"><select id="create-role" value=${role} onChange=${(e) => setRole(e.target.value)}>
        ${roles.grantable.map((r) => html`<option value=${r.id}>${r.name}</option>`)}</select><//>
      ${error && !fieldError(error, 'email') ? html`<p class="error" role="alert">${error.message}</p>` : null}
      <div class="actions"><button type="submit" class="primary">Create member</button><button type="button" onClick=${onClose}>Cancel</button></div>
    </form><//>`;
}
