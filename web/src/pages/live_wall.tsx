// The live wall: 1×1 to 4×4 cameras, with event badges as events arrive over SSE.

import { useEffect, useState } from 'preact/hooks';
import { client, session } from '../app';
import { follow } from '../api/client';
import { addLiveEvent, liveEvents } from '../stores/live_events';
import { Header, Show } from '../ui/components';
import { useResource, useStore } from '../ui/hooks';
import { LiveTile } from '../video/tile';
import { loadCameras } from './data';

const SIZES = [1, 2, 3, 4];

/** The live wall. */
export function LiveWall() {
  const s = useStore(session.state);
  const cameras = useResource(loadCameras, [s.tenant], 15_000);
  const events = useStore(liveEvents);
  const [size, setSize] = useState(() => Number(localStorage.getItem('vms.wall') ?? 2) || 2);
  const [page, setPage] = useState(0);
  useEffect(() => {
    localStorage.setItem('vms.wall', String(size));
  }, [size]);
  useEffect(() => {
    if (!session.can('events:read')) return;
    const stop = new AbortController();
    follow(client, '/events/stream', {}, addLiveEvent, stop.signal);
    return () => stop.abort();
  }, []);
  return (
    <div>
      <Header title="Live">
        <div role="group" aria-label="Grid size" class="seg">
          {SIZES.map((n) => (
            <button key={n} type="button" aria-pressed={size === n} onClick={() => (setSize(n), setPage(0))}>
              {n}×{n}
            </button>
          ))}
        </div>
      </Header>
      <Show r={cameras} what="cameras">
        {(list) => {
          const per = size * size;
          const pages = Math.max(1, Math.ceil(list.length / per));
          const shown = list.slice(page * per, page * per + per);
          return (
            <>
              {list.length === 0 && <p>No cameras to show.</p>}
              <div class={`wall g${size}`}>
                {shown.map((c) => (
                  <LiveTile key={c.id} camera={c} events={events[c.id]} />
                ))}
              </div>
              {pages > 1 && (
                <nav class="pager" aria-label="Wall pages">
                  <button type="button" disabled={page === 0} onClick={() => setPage(page - 1)}>
                    Previous
                  </button>
                  <span>
                    {page + 1} / {pages}
                  </span>
                  <button type="button" disabled={page + 1 >= pages} onClick={() => setPage(page + 1)}>
                    Next
                  </button>
                </nav>
              )}
            </>
          );
        }}
      </Show>
    </div>
  );
}
