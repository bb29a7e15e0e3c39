// The frame around every page: navigation by permission, the tenant switcher, sign out.

import type { ComponentChildren } from 'preact';
import { session } from '../app';
import { go, href, type Route } from '../stores/router';
import { useStore } from './hooks';

/** A navigation entry and the permission it needs. */
interface NavItem {
  page: string;
  label: string;
  needs?: string;
  platformOnly?: boolean;
}

const NAV: NavItem[] = [
  { page: 'dashboard', label: 'Dashboard' },
  { page: 'live', label: 'Live', needs: 'video:live' },
  { page: 'cameras', label: 'Cameras', needs: 'cameras:read' },
  { page: 'events', label: 'Events', needs: 'events:read' },
  { page: 'tickets', label: 'Tickets', needs: 'tickets:read' },
  { page: 'notifications', label: 'Notifications', needs: 'notifications:read' },
  { page: 'admin', label: 'Administration', needs: 'users:read' },
  { page: 'cluster', label: 'Cluster', platformOnly: true },
];

/** The page frame. */
export function Layout({ route, children }: { route: Route; children: ComponentChildren }) {
  const s = useStore(session.state);
  const me = s.me;
  const items = NAV.filter((n) => (n.platformOnly ? me?.role === 'platform_admin' : !n.needs || me?.permissions.includes(n.needs)));
  const current = route.page === 'camera' || route.page === 'rules' ? 'cameras' : route.page === 'ticket' ? 'tickets' : route.page === 'event' ? 'events' : route.page;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href('dashboard')}>
          vms
        </a>
        <nav aria-label="Main">
          <ul>
            {items.map((n) => (
              <li key={n.page}>
                <a href={href(n.page)} aria-current={current === n.page ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          {me?.role === 'platform_admin' && (
            <label class="tenant-pick">
              <span class="sr-only">Tenant shown</span>
              <select value={s.tenant ?? ''} onChange={(e) => session.selectTenant((e.target as HTMLSelectElement).value || null)}>
                <option value="">All tenants</option>
                {s.tenants.map((t) => (
                  <option key={t.id} value={t.id}>
                    {t.name}
                  </option>
                ))}
              </select>
            </label>
          )}
          <span class="email" title={me?.role}>
            {me?.email}
          </span>
          <button type="button" onClick={() => session.signOut().then(() => go(href('login')))}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}
