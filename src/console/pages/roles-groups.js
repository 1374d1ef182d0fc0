// Roles (custom roles with a colour and their permissions) and groups (those SCIM provisioned are read-only
// here; any group can grant a role).
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { Confirm, Dialog, Field, fieldError, html, ListState, Notice, useLoad } from '../ui.js';
import { useRoles } from './members.js';

const permissionWords = {
  'roster.view': 'See the roster (members and groups)', 'members.manage': 'Invite, add, edit, deactivate and remove members',
  'roles.manage': 'Change roles; manage custom roles and groups', 'org.manage': 'Settings, sign-in rules, SSO, SCIM tokens, API keys, clients',
  'activity.view': 'See sessions and activity; end sessions', 'billing.manage': 'Billing and licences', 'org.own': 'Transfer ownership (owner only)',
};
/** A role's colour (set through the CSSOM: the console's CSP allows no inline style attribute). */
function Swatch({ color }) {
  return html`<span class="swatch" aria-hidden="true" ref=${(el) => { if (el) el.style.background = color ?? 'transparent'; }}></span>`;
}

const assignable = Object.keys(permissionWords).filter((p) => p !== 'org.own');

export function Roles({ me, permissions }) {
  const list = useLoad(() => api(me.orgId, 'GET', '/roles'), []);
  const [editing, setEditing] = useState(null);
  const [removing, setRemoving] = useState(null);
  const [notice, setNotice] = useState(null);
  const canManage = permissions.has('roles.manage');
  return html`<h1>Roles</h1>
    ${canManage ? html`<p><button type="button" class="primary" onClick=${() => setEditing({ name: '', description: '', color: '#2563eb', permissions: ['roster.view'] })}>New role</button></p>` : null}
    <${Notice} message=${notice} />
    <${ListState} state=${list} empty="No roles.">
      <div class="table-wrap"><table><caption class="sr-only">Roles</caption>
        <thead><tr><th scope="col">Role</th><th scope="col">May</th><th scope="col">Members</th>${canManage ? html`<th scope="col"><span class="sr-only">Actions</span></th>` : null}</tr></thead>
        <tbody>${(list.data?.items ?? []).map((r) => html`<tr key=${r.id}>
          <td><${Swatch} color=${r.color} /><strong>${r.name}</strong>${r.builtIn ? html` <span class="muted">(built in)</span>` : null}<div class="muted">${r.description ?? ''}</div></td>
          <td><ul class="plain">${r.permissions.map((p) => html`<li>${permissionWords[p] ?? p}</li>`)}</ul></td>
          <td>${r.memberCount}</td>
          ${canManage ? html`<td>${r.builtIn ? html`<span class="muted">—</span>` : html`<button type="button" onClick=${() => setEditing(r)}>Edit</button> <button type="button" onClick=${() => setRemoving(r)}>Delete</button>`}</td>` : null}
        </tr>`)}</tbody></table></div>
    <//>
    ${editing ? html`<${RoleEditor} me=${me} role=${editing} onClose=${() => setEditing(null)} onDone=${(m) => { setNotice(m); list.reload(); }} />` : null}
    ${removing ? html`<${Confirm} open=${true} title=${`Delete the role ${removing.name}?`} danger=${true} action="Delete role" message="Only a role nobody holds can be deleted."
      onConfirm=${() => api(me.orgId, 'DELETE', `/roles/${removing.id}`).then(() => { setNotice('The role is deleted.'); list.reload(); })} onClose=${() => setRemoving(null)} />` : null}`;
}

function RoleEditor({ me, role, onClose, onDone }) {
  const [form, setForm] = useState({ name: role.name, description: role.description ?? '', color: role.color ?? '#2563eb', permissions: role.permissions });
  const [error, setError] = useState(null);
  const toggle = (p) => setForm({ ...form, permissions: form.permissions.includes(p) ? form.permissions.filter((x) => x !== p) : [...form.permissions, p] });
  return html`<${Dialog} open=${true} title=${role.id ? `Edit ${role.name}` : 'New role'} onClose=${onClose}><form onSubmit=${async (e) => {
    e.preventDefault(); setError(null);
    const body = { name: form.name, description: form.description.trim() || null, color: form.color, permissions: form.permissions };
    try { await (role.id ? api(me.orgId, 'PATCH', `/roles/${role.id}`, body) : api(me.orgId, 'POST', '/roles', body)); onClose(); onDone(`The role ${form.name} is saved.`); } catch (err) { setError(err); }
  }}>
    <${Field} id="r-name" label="Name" error=${fieldError(error, 'name')}><input id="r-name" value=${form.name} maxlength="100" required onInput=${(e) => setForm({ ...form, name: e.target.value })} /><//>
    <${Field} id="r-desc" label="Description"><input id="r-desc" value=${form.description} maxlength="500" onInput=${(e) => setForm({ ...form, description: e.target.value })} /><//>
    <${Field} id="r-color" label="Colour"><input id="r-color" type="color" value=${form.color} onInput=${(e) => setForm({ ...form, color: e.target.value.toLowerCase() })} /><//>
    <fieldset><legend>Permissions</legend>${assignable.map((p) => html`<div class="check"><input type="checkbox" id=${`perm-${p}`} checked=${form.permissions.includes(p)} onChange=${() => toggle(p)} />
      <label for=${`perm-${p}`}>${permissionWords[p]}</label></div>`)}</fieldset>
    ${error && !fieldError(error, 'name') ? html`<p class="error" role="alert">${error.message}</p>` : null}
    <div class="actions"><button type="submit" class="primary">Save role</button><button type="button" onClick=${onClose}>Cancel</button></div>
  </form><//>`;
}

export function Groups({ me, permissions }) {
  const list = useLoad(() => api(me.orgId, 'GET', '/groups?limit=200'), []);
  const roles = useRoles(me);
  const [dialog, setDialog] = useState(null);
  const [notice, setNotice] = useState(null);
  const canManage = permissions.has('roles.manage');
  const done = (m) => { setNotice(m); list.reload(); };
  return html`<h1>Groups</h1>
    <p class="muted">Groups from your identity provider (SCIM) are changed there; any group can give its members a role here.</p>
    ${canManage ? html`<p><button type="button" class="primary" onClick=${() => setDialog({ kind: 'new' })}>New group</button></p>` : null}
    <${Notice} message=${notice} />
    <${ListState} state=${list} empty=${canManage ? 'No groups yet: create one, or let your identity provider push its groups (SCIM).' : 'No groups yet.'}>
      <div class="table-wrap"><table><caption class="sr-only">Groups</caption>
        <thead><tr><th scope="col">Group</th><th scope="col">From</th><th scope="col">Members</th><th scope="col">Grants the role</th>${canManage ? html`<th scope="col"><span class="sr-only">Actions</span></th>` : null}</tr></thead>
        <tbody>${(list.data?.items ?? []).map((g) => html`<tr key=${g.id}><td>${g.name}</td><td>${g.managedBy === 'scim' ? 'Identity provider (read-only)' : 'This console'}</td>
          <td>${g.memberCount}</td><td>${g.role ? roles.name(g.role) : '—'}</td>
          ${canManage ? html`<td><button type="button" onClick=${() => setDialog({ kind: 'role', group: g })}>Set role</button>
            ${g.managedBy === 'admin' ? html` <button type="button" onClick=${() => setDialog({ kind: 'delete', group: g })}>Delete</button>` : null}</td>` : null}</tr>`)}</tbody></table></div>
    <//>
    ${dialog?.kind === 'new' ? html`<${NewGroup} me=${me} onClose=${() => setDialog(null)} onDone=${done} />` : null}
    ${dialog?.kind === 'role' ? html`<${GroupRole} me=${me} roles=${roles} group=${dialog.group} onClose=${() => setDialog(null)} onDone=${done} />` : null}
    ${dialog?.kind === 'delete' ? html`<${Confirm} open=${true} title=${`Delete ${dialog.group.name}?`} danger=${true} action="Delete group" message="Its members stay members; they lose the role the group gave them."
      onConfirm=${() => api(me.orgId, 'DELETE', `/groups/${dialog.group.id}`).then(() => done('The group is deleted.'))} onClose=${() => setDialog(null)} />` : null}`;
}

function NewGroup({ me, onClose, onDone }) {
  const [name, setName] = useState('');
  const [error, setError] = useState(null);
  return html`<${Dialog} open=${true} title="New group" onClose=${onClose}><form onSubmit=${async (e) => {
    e.preventDefault();
    try { await api(me.orgId, 'POST', '/groups', { name }); onClose(); onDone(`The group ${name} is created.`); } catch (err) { setError(err); }
  }}>
    <${Field} id="g-name" label="Name" error=${error?.message}><input id="g-name" value=${name} required maxlength="256" onInput=${(e) => setName(e.target.value)} /><//>
    <div class="actions"><button type="submit" class="primary">Create group</button><button type="button" onClick=${onClose}>Cancel</button></div>
  </form><//>`;
}

function GroupRole({ me, roles, group, onClose, onDone }) {
  const [role, setRole] = useState(group.role ?? '');
  const [error, setError] = useState(null);
  return html`<${Dialog} open=${true} title=${`Role given by ${group.name}`} onClose=${onClose}><form onSubmit=${async (e) => {
    e.preventDefault();
    try { await api(me.orgId, 'PUT', `/groups/${group.id}/role`, { role: role || null }); onClose(); onDone(`${group.name} now gives ${role ? roles.name(role) : 'no role'}.`); } catch (err) { setError(err.message); }
  }}>
    <div class="field"><label for="g-role">Its members also hold</label><select id="g-role" value=${role} onChange=${(e) => setRole(e.target.value)}>
      <option value="">No role</option>${roles.grantable.map((r) => html`<option value=${r.id}>${r.name}</option>`)}</select></div>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    <div class="actions"><button type="submit" class="primary">Save</button><button type="button" onClick=${onClose}>Cancel</button></div>
  </form><//>`;
}
