// One camera: live view, timeline with recorded playback, export, and settings.

import { useEffect, useRef, useState } from 'preact/hooks';
import { client, session } from '../app';
import type { Camera } from '../api/types';
import { go, href } from '../stores/router';
import { Badge, FormError, Header, Show } from '../ui/components';
import { ago, time } from '../ui/format';
import { useAction, useResource, useFields } from '../ui/hooks';
import { playRecorded } from '../video/live';
import { LiveTile } from '../video/tile';
import { ExportPanel } from './export_panel';
import { CameraFields, parseLabels } from './cameras';
import { TimelineBar } from './timeline';

/** The camera page. */
export function CameraPage({ id }: { id: string }) {
  const camera = useResource(() => client.get<Camera>(`/cameras/${id}`), [id], 5000);
  const [range, setRange] = useState<[Date, Date] | null>(null);
  return (
    <Show r={camera} what="the camera">
      {(c) => (
        <div>
          <Header title={c.name}>
            <Badge state={c.status.state} title={c.status.reason ?? undefined} />
            {session.can('rules:read') && <a href={href('rules', c.id)}>Rules</a>}
          </Header>
          <p class="muted">
            {c.status.reason ? `${c.status.reason} · ` : ''}
            {c.status.node ? `on ${c.status.node} · ` : ''}
            {c.status.fps.toFixed(1)} fps · last frame {ago(c.status.last_frame_at)}
          </p>
          <div class="two">
            {session.can('video:live') && (
              <section aria-label="Live">
                <LiveTile camera={c} big />
              </section>
            )}
            {range && <Recorded camera={c.id} range={range} />}
          </div>
          {session.can('video:playback') && <TimelineBar camera={c.id} onPick={(a, b) => setRange([a, b])} />}
          {session.can('video:export') && <ExportPanel camera={c.id} range={range} />}
          {session.can('cameras:write') && <Settings camera={c} saved={camera.reload} />}
        </div>
      )}
    </Show>
  );
}

function Recorded({ camera, range }: { camera: string; range: [Date, Date] }) {
  const video = useRef<HTMLVideoElement>(null);
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    let stop: (() => void) | undefined;
    let gone = false;
    setErr(null);
    playRecorded(video.current!, camera, range[0], range[1]).then(
      (s) => (gone ? s() : (stop = s)),
      (e) => setErr(String(e.message ?? e)),
    );
    return () => {
      gone = true;
      stop?.();
    };
  }, [camera, range[0].getTime(), range[1].getTime()]);
  return (
    <section aria-label="Recorded video" class="recorded">
      <video ref={video} id="recorded" controls muted playsInline />
      <p class="muted">
        Recorded {time(range[0].toISOString())} – {time(range[1].toISOString())}
      </p>
      {err && <p class="error">{err}</p>}
    </section>
  );
}

function Settings({ camera, saved }: { camera: Camera; saved: () => void }) {
  const [f, set, setF] = useFields({
    url: camera.url,
    username: '',
    password: '',
    sample_fps: camera.sample_fps?.toString() ?? '',
    retention_days: camera.retention_days?.toString() ?? '',
    labels: Object.entries(camera.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(', '),
    enabled: camera.enabled,
  });
  const save = useAction(async () => {
    const body: Record<string, unknown> = {
      url: f.url,
      labels: parseLabels(f.labels),
      enabled: f.enabled,
      sample_fps: f.sample_fps ? Number(f.sample_fps) : null,
    };
    if (f.retention_days) body.retention_days = Number(f.retention_days);
    if (f.username) body.username = f.username;
    if (f.password) body.password = f.password;
    await client.patch(`/cameras/${camera.id}`, body);
    setF({ ...f, username: '', password: '' });
    saved();
  });
  const remove = useAction(async () => {
    if (!confirm(`Delete camera ${camera.name}? Its recordings are deleted by retention.`)) return;
    await client.del(`/cameras/${camera.id}`);
    go(href('cameras'));
  });
  return (
    <details class="panel">
      <summary>Settings</summary>
      <form onSubmit={(e) => (e.preventDefault(), save.run())}>
        <CameraFields f={f} set={set} credentialsSet={camera.has_credentials} />
        <label class="check">
          <input type="checkbox" checked={f.enabled} onChange={(e) => setF({ ...f, enabled: (e.target as HTMLInputElement).checked })} /> Enabled
        </label>
        <FormError error={save.error ?? remove.error} />
        <button type="submit" class="primary" disabled={save.busy}>
          Save
        </button>{' '}
        <button type="button" class="danger" onClick={() => remove.run()}>
          Delete camera
        </button>
      </form>
    </details>
  );
}
