// Every camera with its status, and the form that adds one.

import { useState } from 'preact/hooks';
import { client, session } from '../app';
import type { Camera } from '../api/types';
import { href } from '../stores/router';
import { Badge, Field, FormError, Header, Show, Table } from '../ui/components';
import { ago } from '../ui/format';
import { useAction, useResource, useStore, useFields } from '../ui/hooks';
import { loadCameras } from './data';

/** The camera list. */
export function Cameras() {
  const s = useStore(session.state);
  const cameras = useResource(loadCameras, [s.tenant], 5000);
  const [adding, setAdding] = useState(false);
  return (
    <div>
      <Header title="Cameras">
        {session.can('cameras:write') && (
          <button type="button" class="primary" aria-expanded={adding} onClick={() => setAdding(!adding)}>
            Add camera
          </button>
        )}
      </Header>
      {adding && <AddCamera done={() => (setAdding(false), cameras.reload())} />}
      <Show r={cameras} what="cameras">
        {(list) => (
          <Table caption="Cameras" columns={['Name', 'Status', 'Node', 'Last frame', 'Labels']}>
            {list.map((c) => (
              <tr key={c.id} data-camera={c.id}>
                <td>
                  <a href={href('camera', c.id)}>{c.name}</a>
                </td>
                <td>
                  <Badge state={c.status.state} /> <span class="muted">{c.status.reason ?? ''}</span>
                </td>
                <td>{c.status.node ?? '—'}</td>
                <td>{ago(c.status.last_frame_at)}</td>
                <td>
                  {Object.entries(c.labels)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(', ')}
                </td>
              </tr>
            ))}
            {list.length === 0 && (
              <tr>
                <td colSpan={5}>No cameras yet.</td>
              </tr>
            )}
          </Table>
        )}
      </Show>
    </div>
  );
}

/** `a=b, c=d` as labels; an entry without `=` is refused. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`labels: "${part}" is not key=value`);
    labels[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return labels;
}

/** The text fields of a camera's settings, as the add and settings forms hold them. */
export interface CameraText {
  url: string;
  username: string;
  password: string;
  sample_fps: string;
  retention_days: string;
  labels: string;
}

/** The fields a camera is added and changed with (credentials write-only). */
export function CameraFields({ f, set, credentialsSet }: { f: CameraText; set: (k: keyof CameraText) => (e: Event) => void; credentialsSet?: boolean }) {
  return (
    <>
      <Field label="RTSP URL" hint="rtsp://host:554/path, without credentials">
        <input name="url" required type="url" value={f.url} onInput={set('url')} />
      </Field>
      <Field label="Username" hint={credentialsSet === undefined ? undefined : credentialsSet ? 'Credentials are set; fill both to change them' : 'No credentials set'}>
        <input name="username" autoComplete="off" value={f.username} onInput={set('username')} />
      </Field>
      <Field label="Password" hint="Write-only: it is never shown again">
        <input name="password" type="password" autoComplete="new-password" value={f.password} onInput={set('password')} />
      </Field>
      <Field label="Frames analysed per second" hint="Empty: keyframes only">
        <input name="sample_fps" type="number" min={1} max={30} value={f.sample_fps} onInput={set('sample_fps')} />
      </Field>
      <Field label="Retention (days)" hint="Empty: the licence's">
        <input name="retention_days" type="number" min={1} value={f.retention_days} onInput={set('retention_days')} />
      </Field>
      <Field label="Labels" hint="key=value, comma separated">
        <input name="labels" value={f.labels} onInput={set('labels')} />
      </Field>
    </>
  );
}

function AddCamera({ done }: { done: () => void }) {
  const s = useStore(session.state);
  const [f, set] = useFields({ name: '', url: '', username: '', password: '', sample_fps: '', retention_days: '', labels: '', tenant_id: s.tenant ?? '' });
  const add = useAction(async () => {
    const body: Record<string, unknown> = { name: f.name, url: f.url, labels: parseLabels(f.labels) };
    if (f.username) body.username = f.username;
    if (f.password) body.password = f.password;
    if (f.sample_fps) body.sample_fps = Number(f.sample_fps);
    if (f.retention_days) body.retention_days = Number(f.retention_days);
    if (session.platformAdmin) body.tenant_id = f.tenant_id || undefined;
    await client.post<Camera>('/cameras', body);
    done();
  });
  return (
    <form class="panel" aria-label="Add camera" onSubmit={(e) => (e.preventDefault(), add.run())}>
      {session.platformAdmin && (
        <Field label="Tenant">
          <select name="tenant_id" required value={f.tenant_id} onChange={set('tenant_id')}>
            <option value="">Choose…</option>
            {s.tenants.map((t) => (
              <option key={t.id} value={t.id}>
                {t.name}
              </option>
            ))}
          </select>
        </Field>
      )}
      <Field label="Name">
        <input name="name" required maxLength={200} value={f.name} onInput={set('name')} />
      </Field>
      <CameraFields f={f} set={set} />
      <FormError error={add.error} />
      <button type="submit" class="primary" disabled={add.busy}>
        Add
      </button>
    </form>
  );
}
