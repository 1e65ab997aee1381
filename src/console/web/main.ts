// The console's entry: the session, the navigation and a hash router. Each page renders into
// <main> and gets the focus on its heading, so keyboard and screen-reader users land on it.

import { ApiError, call, useCsrfToken } from './api.js';
import { h, replace } from './dom.js';
import { auditPage } from './pages/audit-page.js';
import { plansPage } from './pages/plans-page.js';
import { policyPage } from './pages/policy-page.js';
import { signInPage } from './pages/sign-in-page.js';
import { tenantPage } from './pages/tenant-page.js';
import { tenantsPage } from './pages/tenants-page.js';
import { webhooksPage } from './pages/webhooks-page.js';
import type { PageContext, Session } from './page.js';

const main = document.getElementById('main') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const status = document.getElementById('status') as HTMLElement;

let session: Session | undefined;
let checked = false;

function announce(text: string): void {
  status.textContent = '';
  // A fresh text node each time: screen readers announce a repeat too.
  window.setTimeout(() => (status.textContent = text), 50);
}

function setSession(next: Session | undefined): void {
  session = next;
  useCsrfToken(next?.csrfToken);
}

function renderNav(section: string): void {
  if (!session) {
    replace(nav);
    return;
  }
  const link = (href: string, label: string, name: string) =>
    h('li', {}, h('a', { href, 'aria-current': section === name ? 'page' : undefined }, label));
  replace(
    nav,
    h(
      'ul',
      {},
      link('#/tenants', 'Tenants', 'tenants'),
      link('#/plans', 'Plans', 'plans'),
      link('#/policy', 'Policy', 'policy'),
      link('#/audit', 'Audit', 'audit'),
      link('#/webhooks', 'Webhooks', 'webhooks'),
      h('li', {}, h('span', {}, `Signed in as ${session.actor}`)),
      h('li', {}, h('button', { type: 'button', class: 'link', onclick: () => void signOut() }, 'Sign out')),
    ),
  );
}

async function signOut(): Promise<void> {
  try {
    await call('DELETE', '/console/session');
  } catch {
    // Signed out either way: the page forgets the session.
  }
  setSession(undefined);
  location.hash = '#/signed-out';
}

async function route(): Promise<void> {
  const [pathText = '', queryText = ''] = location.hash.replace(/^#/, '').split('?');
  const path = pathText.split('/').filter(Boolean).map(decodeURIComponent);
  if (!checked) {
    checked = true;
    try {
      // 204: this browser holds no session (a fresh load), nothing to log as an error.
      const answer = await call<Session>('GET', '/console/session');
      setSession(answer.status === 204 ? undefined : answer.body);
    } catch {
      setSession(undefined);
    }
  }
  const section = path[0] ?? 'tenants';
  renderNav(section);
  const context: PageContext = {
    main,
    path,
    params: new URLSearchParams(queryText),
    announce,
    navigate: (hash) => {
      location.hash = hash;
    },
    signedIn: (next) => {
      setSession(next);
      void route();
    },
  };
  try {
    if (!session) await signInPage(context, section === 'signed-out' ? 'You are signed out.' : undefined);
    else if (section === 'tenants' && path[1]) await tenantPage(context, path[1]);
    else if (section === 'plans') await plansPage(context);
    else if (section === 'policy') await policyPage(context);
    else if (section === 'audit') await auditPage(context);
    else if (section === 'webhooks') await webhooksPage(context, path[1]);
    else await tenantsPage(context);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      setSession(undefined);
      renderNav('');
      await signInPage(context, 'Your session has ended: sign in again.');
    } else {
      replace(
        main,
        h('h1', { tabindex: -1 }, 'Something went wrong'),
        h('p', { class: 'alert', role: 'alert' }, error instanceof Error ? error.message : String(error)),
      );
    }
  }
  const heading = main.querySelector('h1');
  document.title = `${heading?.textContent ?? 'Console'} · Entitle`;
  heading?.focus();
}

window.addEventListener('hashchange', () => void route());
void route();
