// The cluster (platform admins): nodes with roles, labels, load, model replicas, leader and state; where each
// camera records; drain, undrain and remove; and moves as they happen.

import { useEffect, useRef, useState } from 'preact/hooks';
import { client } from '../app';
import type { NodeView, PlacementEntry, PlacementView } from '../api/types';
import { Badge, ErrorBox, Header, Show, Table } from '../ui/components';
import { bytes, time } from '../ui/format';
import { useAction, useResource } from '../ui/hooks';

/** A camera that changed node between two looks at the placement map. */
export interface Move {
  at: string;
  camera: string;
  from: string | null;
  to: string | null;
}

/** The moves between `before` and `after`. */
export function movesBetween(before: PlacementEntry[], after: PlacementEntry[], at: string): Move[] {
  const was = new Map(before.map((e) => [e.camera_id, e.node_id ?? null]));
  return after
    .filter((e) => was.has(e.camera_id) && was.get(e.camera_id) !== (e.node_id ?? null))
    .map((e) => ({ at, camera: e.camera_name, from: was.get(e.camera_id) ?? null, to: e.node_id ?? null }));
}

/** The cluster page. */
export function ClusterPage() {
  const nodes = useResource(() => client.get<{ items: NodeView[] }>('/nodes').then((n) => n.items), [], 2000);
  const placement = useResource(() => client.get<PlacementView>('/placement', { limit: 1000 }), [], 2000);
  const [moves, setMoves] = useState<Move[]>([]);
  const last = useRef<PlacementEntry[] | null>(null);
  useEffect(() => {
    const now = placement.data?.items;
    if (!now) return;
    if (last.current) {
      const seen = movesBetween(last.current, now, new Date().toISOString());
      if (seen.length) setMoves((m) => [...seen, ...m].slice(0, 50));
    }
    last.current = now;
  }, [placement.data]);
  const act = useAction(async (node: string, what: 'drain' | 'undrain' | 'remove') => {
    const say = {
      drain: `Drain ${node}? Its cameras move to other nodes, make-before-break.`,
      undrain: `Take ${node} back into placement?`,
      remove: `Remove ${node} from the cluster? Only a drained node with no cameras can be removed.`,
    }[what];
    if (!confirm(say)) return;
    if (what === 'remove') await client.del(`/nodes/${node}`);
    else await client.post(`/nodes/${node}/${what}`);
    nodes.reload();
  });
  return (
    <div>
      <Header title="Cluster" />
      {act.error && <ErrorBox error={act.error} />}
      <Show r={nodes} what="nodes">
        {(list) => (
          <Table caption="Nodes" columns={['Node', 'State', 'Roles', 'Labels', 'Cameras', 'Model replicas', 'Disk used', 'Started', '']}>
            {list.map((n) => (
              <tr key={n.id} data-node={n.id}>
                <td>
                  {n.id} {n.leader && <Badge state="leader" />}
                </td>
                <td>
                  <Badge state={n.state} /> {n.drained && <Badge state="drained" />}
                </td>
                <td>{n.roles.join(', ')}</td>
                <td>
                  {Object.entries(n.labels)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(', ')}
                </td>
                <td>
                  {n.cameras} / {n.max_cameras || '∞'}
                </td>
                <td>
                  {n.replicas?.length
                    ? n.replicas.map((r) => `${r.model} (${r.queued} queued, ${Math.round(r.service_us / 1000)} ms)`).join(', ')
                    : '—'}
                </td>
                <td>{n.disk ? `${bytes(n.disk.total_bytes - n.disk.free_bytes)} / ${bytes(n.disk.total_bytes)}` : '—'}</td>
                <td>{time(n.started_at)}</td>
                <td class="actions">
                  {n.drained ? (
                    <button type="button" onClick={() => act.run(n.id, 'undrain')}>
                      Undrain
                    </button>
                  ) : (
                    <button type="button" onClick={() => act.run(n.id, 'drain')} data-action="drain">
                      Drain
                    </button>
                  )}{' '}
                  <button type="button" class="danger" disabled={!n.drained} onClick={() => act.run(n.id, 'remove')}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Show>
      <div class="two">
        <section aria-labelledby="c-map">
          <h2 id="c-map">Placement</h2>
          <Show r={placement} what="placement">
            {(p) => (
              <>
                <p class="muted">
                  Leader {p.leader ?? 'none'} · {p.moves} moves · {p.unplaced} unplaced
                </p>
                <Table caption="Where each camera records" columns={['Camera', 'Node', 'Standby']}>
                  {p.items.map((e) => (
                    <tr key={e.camera_id} data-placed={e.camera_id} data-node={e.node_id ?? ''}>
                      <td>{e.camera_name}</td>
                      <td>{e.node_id ?? <span class="warn">{e.unplaced_reason ?? 'unplaced'}</span>}</td>
                      <td>{e.standby_node ?? '—'}</td>
                    </tr>
                  ))}
                </Table>
              </>
            )}
          </Show>
        </section>
        <section aria-labelledby="c-moves">
          <h2 id="c-moves">Moves</h2>
          <ol class="moves" aria-live="polite">
            {moves.map((m, i) => (
              <li key={i}>
                {time(m.at)} · {m.camera}: {m.from ?? 'none'} → {m.to ?? 'none'}
              </li>
            ))}
            {moves.length === 0 && <li class="muted">No moves since this page opened.</li>}
          </ol>
        </section>
      </div>
    </div>
  );
}
