// The Roster admin console: signs the member in through Roster's own provider, reads what they may do
// (GET /orgs/{orgId}/me) and shows only that; the API enforces every rule whatever the console shows.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, base, completeSignIn, onSessionEnd, session, signIn, signOut, slug } from './api.js';
import { html, Link } from './ui.js';
import { Overview } from './pages/overview.js';
import { Members } from './pages/members.js';
import { MemberDetail } from './pages/member.js';
import { Sessions, AuthActivity, AuditLog } from './pages/activity.js';
import { Roles, Groups } from './pages/roles-groups.js';
import { Settings } from './pages/settings.js';
import { MyAccount } from './pages/account.js';

const pages = [
  { path: '/', title: 'Overview', component: Overview, show: (p) => p.has('org.manage') || p.has('billing.manage') || p.has('roster.view') },
  { path: '/members', title: 'Members', component: Members, show: (p) => p.has('roster.view') },
  { path: '/groups', title: 'Groups', component: Groups, show: (p) => p.has('roster.view') },
  { path: '/roles', title: 'Roles', component: Roles, show: (p) => p.has('roster.view') },
  { path: '/sessions', title: 'Sessions', component: Sessions, show: (p) => p.has('activity.view') },
  { path: '/activity', title: 'Sign-in activity', component: AuthActivity, show: (p) => p.has('activity.view') },
  { path: '/audit', title: 'Audit log', component: AuditLog, show: (p) => p.has('activity.view') },
  { path: '/settings', title: 'Settings', component: Settings, show: (p) => p.has('org.manage') },
  { path: '/account', title: 'My account', component: MyAccount, show: () => true },
];

const route = () => location.pathname.slice(base.length) || '/';

function Shell({ me }) {
  const [path, setPath] = useState(route());
  const [ended, setEnded] = useState(false);
  useEffect(() => {
    const on = () => setPath(route());
    addEventListener('popstate', on);
    const off = onSessionEnd(() => setEnded(true));
    return () => { removeEventListener('popstate', on); off(); };
  }, []);
  const permissions = new Set(me.permissions);
  const visible = pages.filter((p) => p.show(permissions));
  const memberMatch = /^\/members\/([0-9a-f-]{36})$/.exec(path);
  const page = memberMatch ? { title: 'Member', component: MemberDetail } : visible.find((p) => p.path === path) ?? visible[0];
  useEffect(() => { document.title = `${page.title} · ${me.org.name} · Roster`; }, [page, me.org.name]);
  const Page = page.component;
  const others = me.organizations.filter((o) => o.id !== me.org.id);
  return html`
    <a class="skip" href="#main">Skip to the content</a>
    <header class="top">
      <span class="brand">Roster</span>
      <span class="org-name">${me.org.name}</span>
      ${others.length ? html`<details class="menu switcher"><summary>Switch organisation</summary>
        <ul>${others.map((o) => html`<li><a href=${`/console/${o.slug}/`}>${o.name}</a></li>`)}</ul></details>` : null}
      <span class="who">${me.email}</span>
      <button type="button" class="link" onClick=${signOut}>Sign out</button>
    </header>
    <div class="layout">
      <nav aria-label="Console">
        <ul>${visible.map((p) => html`<li><${Link} to=${p.path} aria-current=${page === p ? 'page' : undefined}>${p.title}<//></li>`)}</ul>
      </nav>
      <main id="main" tabindex="-1">
        ${ended ? html`<div class="banner" role="alert">Your session has ended (you were signed out, or your access changed).
          <button type="button" class="primary" onClick=${() => signIn()}>Sign in again</button></div>` : null}
        <${Page} key=${path} me=${me} permissions=${permissions} path=${path} />
      </main>
    </div>`;
}

function Message({ title, text, action }) {
  return html`<main class="boot" id="main"><h1>${title}</h1><p>${text}</p>${action ?? null}</main>`;
}

async function start() {
  const root = document.getElementById('app');
  root.textContent = ''; // the boot message goes; preact renders into an empty container
  try {
    if (route() === '/callback') {
      const next = await completeSignIn();
      if (next === null) {
        render(html`<${Message} title="You are signed out" text="You signed out of Roster in this browser." action=${html`<button type="button" class="primary" onClick=${() => signIn(`${base}/`)}>Sign in</button>`} />`, root);
        return;
      }
      history.replaceState(null, '', next);
    }
    const s = session();
    if (!s) return signIn();
    if (!s.claims.org_id) throw new Error('the sign-in did not say which organisation this is');
    const me = await api(s.claims.org_id, 'GET', '/me');
    const org = await api(s.claims.org_id, 'GET', '');
    render(html`<${Shell} me=${{ ...me, org: { id: org.id, name: org.name, slug }, orgId: org.id }} />`, root);
  } catch (err) {
    render(html`<${Message} title="The console could not start" text=${err.message}
      action=${html`<button type="button" class="primary" onClick=${() => signIn(`${base}/`)}>Sign in again</button>`} />`, root);
  }
}

start();
