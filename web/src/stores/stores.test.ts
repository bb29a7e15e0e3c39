import { describe, expect, it, vi } from 'vitest';
import { store } from './store';
import { addLiveEvent, liveEvents, KEPT_PER_CAMERA } from './live_events';
import { href, loginHref, parseRoute } from './router';
import { Session } from './session';
import { Client } from '../api/client';

describe('store', () => {
  it('tells watchers of changes but not of the same value', () => {
    const s = store(1);
    const seen: number[] = [];
    const stop = s.subscribe((v) => seen.push(v));
    s.set(2);
    s.set(2);
    s.update((v) => v + 1);
    stop();
    s.set(9);
    expect(seen).toEqual([2, 3]);
    expect(s.get()).toBe(9);
  });
});

describe('live events', () => {
  const ev = (id: string, camera = 'c1') => JSON.stringify({ id, camera_id: camera, kind: 'intrusion', label: 'person', score: 0.9, at: '2026-12-04T10:00:00Z' });
  it('keeps the newest few per camera, once each', () => {
    liveEvents.set({});
    for (let i = 0; i < KEPT_PER_CAMERA + 2; i++) addLiveEvent(ev(`e${i}`));
    addLiveEvent(ev('e6'));
    addLiveEvent(ev('x', 'c2'));
    const all = liveEvents.get();
    expect(all.c1.map((e) => e.id)).toEqual(['e6', 'e5', 'e4', 'e3', 'e2']);
    expect(all.c2.length).toBe(1);
  });
  it('ignores what is not an event', () => {
    liveEvents.set({});
    expect(addLiveEvent('not json')).toBeNull();
    expect(addLiveEvent('{"hello":1}')).toBeNull();
    expect(liveEvents.get()).toEqual({});
  });
});

describe('router', () => {
  it('reads pages, ids and queries', () => {
    expect(parseRoute('').page).toBe('dashboard');
    expect(parseRoute('#/').page).toBe('dashboard');
    expect(parseRoute('#/cameras/abc')).toMatchObject({ page: 'camera', id: 'abc' });
    expect(parseRoute('#/cameras/abc/rules')).toMatchObject({ page: 'rules', id: 'abc' });
    expect(parseRoute('#/tickets/t1')).toMatchObject({ page: 'ticket', id: 't1' });
    expect(parseRoute('#/events?kind=intrusion').query.get('kind')).toBe('intrusion');
    expect(parseRoute('#/nowhere').page).toBe('not_found');
    expect(parseRoute('#/live/extra').page).toBe('not_found');
  });
  it('writes hashes that read back', () => {
    expect(parseRoute(href('rules', 'x y'))).toMatchObject({ page: 'rules', id: 'x y' });
    expect(href('events', undefined, { camera_id: 'c' })).toBe('#/events?camera_id=c');
  });
  it('remembers the page a signed-out user was on', () => {
    expect(loginHref('#/cameras/abc')).toBe('#/login?next=%2Fcameras%2Fabc');
    expect(parseRoute(loginHref('#/cameras/abc')).query.get('next')).toBe('/cameras/abc');
    expect(loginHref('#/login?next=x')).toBe('#/login');
  });
});

describe('session', () => {
  const me = { user_id: 'u', email: 'op@x', tenant_id: 't1', role: 'operator', permissions: ['cameras:read'], credential: 'session' };
  it('restores from the refresh cookie and knows the permissions', async () => {
    const fn = vi.fn(async (url: RequestInfo | URL) => {
      if (String(url).endsWith('/auth/refresh')) return new Response(JSON.stringify({ access_token: 'A' }), { status: 200 });
      return new Response(JSON.stringify(me), { status: 200, headers: { 'content-type': 'application/json' } });
    }) as unknown as typeof fetch;
    const s = new Session(new Client({ fetch: fn }));
    expect(await s.restore()).toBe(true);
    expect(s.state.get()).toMatchObject({ status: 'signed_in', tenant: 't1' });
    expect(s.can('cameras:read')).toBe(true);
    expect(s.can('users:write')).toBe(false);
    s.selectTenant('t2');
    expect(s.state.get().tenant).toBe('t1');
  });
  it('is signed out when there is no cookie', async () => {
    const fn = (async () => new Response('{}', { status: 401 })) as typeof fetch;
    const s = new Session(new Client({ fetch: fn }));
    expect(await s.restore()).toBe(false);
    expect(s.state.get().status).toBe('signed_out');
  });
});
