// Events as they arrive over SSE, kept per camera for the live wall's badges.

import type { Event } from '../api/types';
import { store } from './store';

/** How many recent events are kept per camera. */
export const KEPT_PER_CAMERA = 5;

/** Recent events per camera, newest first. */
export const liveEvents = store<Record<string, Event[]>>({});

/** Adds one event (from a `data:` payload); ignores anything that is not an event. */
export function addLiveEvent(data: string): Event | null {
  let event: Event;
  try {
    event = JSON.parse(data);
  } catch {
    return null;
  }
  if (!event || typeof event.camera_id !== 'string' || typeof event.id !== 'string') return null;
  liveEvents.update((all) => {
    const mine = all[event.camera_id] ?? [];
    if (mine.some((e) => e.id === event.id)) return all;
    return { ...all, [event.camera_id]: [event, ...mine].slice(0, KEPT_PER_CAMERA) };
  });
  return event;
}
