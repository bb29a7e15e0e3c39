// Loaders several pages share.

import { client, session } from '../app';
import type { Camera, Event } from '../api/types';

/** The cameras of the tenant shown (every camera for a platform admin showing all tenants). */
export function loadCameras(): Promise<Camera[]> {
  const tenant = session.state.get().tenant;
  return client.all<Camera>('/cameras', { tenant_id: session.platformAdmin ? tenant : undefined });
}

/** Camera names by id. */
export function namesOf(cameras: Camera[] | undefined): Record<string, string> {
  return Object.fromEntries((cameras ?? []).map((c) => [c.id, c.name]));
}

/** Events of the last `hours`, newest first (at most 1000). */
export async function recentEvents(hours: number, query: Record<string, string> = {}): Promise<Event[]> {
  const from = new Date(Date.now() - hours * 3600_000).toISOString();
  const page = await client.get<{ items: Event[] }>('/events', { ...query, from, limit: 1000 });
  return page.items;
}

/** Counts of events per hour over the last `hours`, oldest first. */
export function perHour(events: Event[], hours: number, now = Date.now()): number[] {
  const counts = new Array<number>(hours).fill(0);
  for (const e of events) {
    const age = Math.floor((now - Date.parse(e.at)) / 3600_000);
    if (age >= 0 && age < hours) counts[hours - 1 - age]++;
  }
  return counts;
}
