// What needs attention: cameras by status, events per hour, tickets, nodes and their disks.

import { client, session } from '../app';
import type { Camera, NodeView, Ticket } from '../api/types';
import { href } from '../stores/router';
import { Badge, Header, Show } from '../ui/components';
import { bytes } from '../ui/format';
import { useResource, useStore } from '../ui/hooks';
import { loadCameras, perHour, recentEvents } from './data';

/** The dashboard. */
export function Dashboard() {
  const s = useStore(session.state);
  const cameras = useResource(loadCameras, [s.tenant], 10_000);
  const events = useResource(() => (session.can('events:read') ? recentEvents(24) : Promise.resolve([])), [s.tenant], 30_000);
  const tickets = useResource(
    () => (session.can('tickets:read') ? client.all<Ticket>('/tickets', { state: 'open' }) : Promise.resolve([])),
    [s.tenant],
    15_000,
  );
  const nodes = useResource(
    () => (session.platformAdmin ? client.get<{ items: NodeView[] }>('/nodes').then((n) => n.items) : Promise.resolve(null)),
    [],
    10_000,
  );
  return (
    <div>
      <Header title="Dashboard" />
      <div class="cards">
        <section class="card" aria-labelledby="d-cameras">
          <h2 id="d-cameras">Cameras</h2>
          <Show r={cameras} what="cameras">
            {(list) => <CameraSummary cameras={list} />}
          </Show>
        </section>
        <section class="card" aria-labelledby="d-events">
          <h2 id="d-events">Events per hour (24 h)</h2>
          <Show r={events} what="events">
            {(list) => <Bars counts={perHour(list, 24)} total={list.length} />}
          </Show>
        </section>
        <section class="card" aria-labelledby="d-tickets">
          <h2 id="d-tickets">Tickets</h2>
          <Show r={tickets} what="tickets">
            {(list) => (
              <p class="big">
                <a href={href('tickets')}>{list.length} open</a>
                <span class={list.some((t) => t.escalated_at) ? 'warn' : ''}> · {list.filter((t) => t.escalated_at).length} escalated</span>
              </p>
            )}
          </Show>
        </section>
        {nodes.data !== null && (
          <section class="card" aria-labelledby="d-nodes">
            <h2 id="d-nodes">Nodes</h2>
            <Show r={nodes} what="nodes">
              {(list) => <NodeSummary nodes={list ?? []} />}
            </Show>
          </section>
        )}
      </div>
    </div>
  );
}

function CameraSummary({ cameras }: { cameras: Camera[] }) {
  const by: Record<string, Camera[]> = {};
  for (const c of cameras) (by[c.status.state] ??= []).push(c);
  const troubled = cameras.filter((c) => ['backoff', 'failed', 'suspended'].includes(c.status.state));
  return (
    <>
      <ul class="counts">
        {Object.entries(by).map(([state, list]) => (
          <li key={state}>
            <Badge state={state} /> {list.length}
          </li>
        ))}
        {cameras.length === 0 && <li>No cameras yet. <a href={href('cameras')}>Add one</a>.</li>}
      </ul>
      {troubled.length > 0 && (
        <ul class="troubled">
          {troubled.map((c) => (
            <li key={c.id}>
              <a href={href('camera', c.id)}>{c.name}</a> <Badge state={c.status.state} />{' '}
              <span class="muted">{c.status.reason ?? ''}</span>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

/** A bar chart of counts, with the numbers for screen readers. */
export function Bars({ counts, total }: { counts: number[]; total: number }) {
  const max = Math.max(1, ...counts);
  return (
    <figure class="bars">
      <div class="bar-row" aria-hidden="true">
        {counts.map((n, i) => (
          <span key={i} class="bar" style={{ height: `${(100 * n) / max}%` }} title={`${n}`} />
        ))}
      </div>
      <figcaption>
        {total} events in the last 24 hours; most in one hour: {Math.max(0, ...counts)}.
      </figcaption>
    </figure>
  );
}

function NodeSummary({ nodes }: { nodes: NodeView[] }) {
  const up = nodes.filter((n) => n.state === 'up').length;
  return (
    <>
      <p class="big">
        {up} up · <span class={nodes.length - up ? 'warn' : ''}>{nodes.length - up} down</span>
      </p>
      <table>
        <caption class="sr-only">Disk use per node</caption>
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">State</th>
            <th scope="col">Disk used</th>
          </tr>
        </thead>
        <tbody>
          {nodes.map((n) => (
            <tr key={n.id}>
              <td>{n.id}</td>
              <td>
                <Badge state={n.state} />
              </td>
              <td>{n.disk ? `${bytes(n.disk.total_bytes - n.disk.free_bytes)} of ${bytes(n.disk.total_bytes)}` : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
