// Hash routes (`#/cameras/<id>`): every page is one file served at `/`, so a reload of any page
// needs nothing from the node but `/`.

import { store } from './store';

/** A parsed route. */
export interface Route {
  /** Page name: `dashboard`, `live`, `camera`, `rules`, `events`, `tickets`, `notifications`, `admin`, `cluster`, `login`. */
  page: string;
  /** Path parameters (`id`). */
  id?: string;
  /** The query after `?` in the hash. */
  query: URLSearchParams;
}

const PAGES: Record<string, string> = {
  '': 'dashboard',
  live: 'live',
  cameras: 'cameras',
  events: 'events',
  tickets: 'tickets',
  notifications: 'notifications',
  admin: 'admin',
  cluster: 'cluster',
  login: 'login',
};

/** Reads a location hash (`#/cameras/abc/rules?x=1`). Unknown pages read as `not_found`. */
export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#\/?/, '');
  const [path, search = ''] = raw.split('?', 2);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const query = new URLSearchParams(search);
  const first = parts[0] ?? '';
  if (first === 'cameras' && parts[1]) {
    return { page: parts[2] === 'rules' ? 'rules' : 'camera', id: parts[1], query };
  }
  if (first === 'tickets' && parts[1]) return { page: 'ticket', id: parts[1], query };
  if (first === 'events' && parts[1]) return { page: 'event', id: parts[1], query };
  const page = PAGES[first];
  return { page: page && parts.length <= 1 ? page : 'not_found', query };
}

/** The hash of a page: `href('camera', 'abc')` is `#/cameras/abc`. */
export function href(page: string, id?: string, query?: Record<string, string>): string {
  const paths: Record<string, string> = {
    dashboard: '',
    camera: `cameras/${encodeURIComponent(id ?? '')}`,
    rules: `cameras/${encodeURIComponent(id ?? '')}/rules`,
    ticket: `tickets/${encodeURIComponent(id ?? '')}`,
    event: `events/${encodeURIComponent(id ?? '')}`,
  };
  const path = paths[page] ?? page;
  const q = query ? new URLSearchParams(query).toString() : '';
  return `#/${path}${q ? `?${q}` : ''}`;
}

/** The sign-in page, remembering where to go back to. */
export function loginHref(returnTo: string): string {
  const back = returnTo.replace(/^#/, '');
  return back && !back.startsWith('/login') ? href('login', undefined, { next: back }) : href('login');
}

/** The current route, following `hashchange`. */
export const route = store<Route>(parseRoute(typeof location === 'undefined' ? '' : location.hash));

if (typeof window !== 'undefined') {
  window.addEventListener('hashchange', () => route.set(parseRoute(location.hash)));
}

/** Goes to `hash`. */
export function go(hash: string): void {
  if (location.hash === hash) route.set(parseRoute(hash));
  else location.hash = hash;
}
