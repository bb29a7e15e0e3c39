// Events with filters; one event with its snapshot and box, its clip, and look-alikes.

import { useEffect, useRef, useState } from 'preact/hooks';
import { client, session } from '../app';
import type { Event } from '../api/types';
import { go, href } from '../stores/router';
import { Field, Header, Show } from '../ui/components';
import { time, toLocalInput } from '../ui/format';
import { useResource, useStore } from '../ui/hooks';
import { playRecorded } from '../video/live';
import { loadCameras, namesOf } from './data';

/** The query the filter form writes into the page's hash. */
export function eventQuery(q: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['camera_id', 'kind', 'min_score']) {
    const v = q.get(k);
    if (v) out[k] = v;
  }
  for (const k of ['from', 'to']) {
    const v = q.get(k);
    if (v && !Number.isNaN(Date.parse(v))) out[k] = new Date(v).toISOString();
  }
  return out;
}

/** The events page. */
export function EventsPage({ query }: { query: URLSearchParams }) {
  const s = useStore(session.state);
  const filters = eventQuery(query);
  const cameras = useResource(loadCameras, [s.tenant]);
  const events = useResource(() => client.get<{ items: Event[] }>('/events', { ...filters, limit: 100 }), [query.toString()], 15_000);
  const names = namesOf(cameras.data);
  const apply = (e: SubmitEvent) => {
    e.preventDefault();
    const form = new FormData(e.target as HTMLFormElement);
    const q: Record<string, string> = {};
    form.forEach((v, k) => {
      if (typeof v === 'string' && v) q[k] = v;
    });
    go(href('events', undefined, q));
  };
  return (
    <div>
      <Header title="Events" />
      <form class="row panel" aria-label="Filters" onSubmit={apply}>
        <Field label="Camera">
          <select name="camera_id" value={query.get('camera_id') ?? ''}>
            <option value="">All</option>
            {(cameras.data ?? []).map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Kind">
          <input name="kind" value={query.get('kind') ?? ''} placeholder="intrusion" />
        </Field>
        <Field label="From">
          <input name="from" type="datetime-local" step={1} value={query.get('from') ? toLocalInput(Date.parse(query.get('from')!)) : ''} />
        </Field>
        <Field label="To">
          <input name="to" type="datetime-local" step={1} value={query.get('to') ? toLocalInput(Date.parse(query.get('to')!)) : ''} />
        </Field>
        <Field label="Lowest score">
          <input name="min_score" type="number" min={0} max={1} step={0.05} value={query.get('min_score') ?? ''} />
        </Field>
        <button type="submit">Filter</button>
      </form>
      <Show r={events} what="events">
        {(page) => (
          <ul class="event-list">
            {page.items.map((e) => (
              <li key={e.id}>
                <a href={href('event', e.id)}>
                  <strong>{e.kind.replace(/_/g, ' ')}</strong> · {e.label} {Math.round(e.score * 100)}% · {names[e.camera_id] ?? e.camera_id.slice(0, 8)} · {time(e.at)}
                </a>
                {e.ticket_id && (
                  <>
                    {' '}
                    · <a href={href('ticket', e.ticket_id)}>ticket</a>
                  </>
                )}
              </li>
            ))}
            {page.items.length === 0 && <li>No events match.</li>}
          </ul>
        )}
      </Show>
    </div>
  );
}

/** One event. */
export function EventPage({ id }: { id: string }) {
  const ev = useResource(() => client.get<Event & { segments?: unknown[] }>(`/events/${id}`), [id]);
  const similar = useResource(
    () => client.get<{ items: { event: Event; similarity: number }[] }>(`/events/${id}/similar`, { limit: 8 }).catch(() => ({ items: [] })),
    [id],
  );
  return (
    <Show r={ev} what="the event">
      {(e) => (
        <div>
          <Header title={`${e.kind.replace(/_/g, ' ')} · ${e.label}`}>
            <a href={href('camera', e.camera_id)}>Camera</a>
            {e.ticket_id && <a href={href('ticket', e.ticket_id)}>Ticket</a>}
          </Header>
          <p class="muted">
            {time(e.at)} · score {Math.round(e.score * 100)}% · rule {e.rule} · node {e.node}
          </p>
          <div class="two">
            {e.has_snapshot ? <Snapshot event={e} /> : <p>No snapshot was kept for this event.</p>}
            {session.can('video:playback') && <Clip event={e} />}
          </div>
          <section aria-labelledby="sim">
            <h2 id="sim">Similar-looking events</h2>
            <Show r={similar} what="similar events">
              {(s) =>
                s.items.length ? (
                  <ul class="event-list">
                    {s.items.map((x) => (
                      <li key={x.event.id}>
                        <a href={href('event', x.event.id)}>
                          {x.event.label} · {time(x.event.at)} · similarity {Math.round(x.similarity * 100)}%
                        </a>
                      </li>
                    ))}
                  </ul>
                ) : (
                  <p>None found.</p>
                )
              }
            </Show>
          </section>
        </div>
      )}
    </Show>
  );
}

function Snapshot({ event }: { event: Event }) {
  const [src, setSrc] = useState<string | null>(null);
  useEffect(() => {
    let url: string | null = null;
    client
      .stream(`/events/${event.id}/snapshot`)
      .then((r) => r.blob())
      .then((b) => setSrc((url = URL.createObjectURL(b))), () => setSrc(null));
    return () => url && URL.revokeObjectURL(url);
  }, [event.id]);
  const [x0, y0, x1, y1] = event.bbox;
  return (
    <figure class="snapshot">
      <div class="zone-canvas">
        {src ? <img src={src} alt={`Snapshot of the ${event.label} detected`} /> : <div class="no-snapshot">Loading snapshot…</div>}
        {event.bbox.length === 4 && (
          <svg viewBox="0 0 100 100" preserveAspectRatio="none" aria-hidden="true">
            <rect class="box" x={x0 * 100} y={y0 * 100} width={(x1 - x0) * 100} height={(y1 - y0) * 100} />
          </svg>
        )}
      </div>
      <figcaption>
        {event.label} at {Math.round(event.score * 100)}%
      </figcaption>
    </figure>
  );
}

function Clip({ event }: { event: Event }) {
  const video = useRef<HTMLVideoElement>(null);
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    const at = Date.parse(event.at);
    let stop: (() => void) | undefined;
    playRecorded(video.current!, event.camera_id, new Date(at - 10_000), new Date(Math.min(Date.now(), at + 10_000))).then(
      (s) => (stop = s),
      (e) => setErr(String(e.message ?? e)),
    );
    return () => stop?.();
  }, [event.id]);
  return (
    <section aria-label="Clip around the event">
      <video ref={video} controls muted playsInline />
      {err && <p class="error">{err}</p>}
    </section>
  );
}
