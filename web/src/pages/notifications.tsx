// Notification channels, their deliveries and dead letters, with retry.

import { useState } from 'preact/hooks';
import { client, session } from '../app';
import type { Channel, Delivery } from '../api/types';
import { Badge, Field, FormError, Header, Show, Table } from '../ui/components';
import { time } from '../ui/format';
import { useAction, useResource, useStore, useFields } from '../ui/hooks';

/** The notifications page. */
export function NotificationsPage() {
  const s = useStore(session.state);
  const channels = useResource(() => client.all<Channel>('/notification-channels'), [s.tenant], 15_000);
  const [open, setOpen] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  return (
    <div>
      <Header title="Notifications">
        {session.can('notifications:write') && (
          <button type="button" class="primary" aria-expanded={adding} onClick={() => setAdding(!adding)}>
            Add channel
          </button>
        )}
      </Header>
      {adding && <AddChannel done={() => (setAdding(false), channels.reload())} />}
      <Show r={channels} what="channels">
        {(list) => (
          <ul class="channels">
            {list.map((c) => (
              <li key={c.id} class="panel">
                <button type="button" class="link" aria-expanded={open === c.id} onClick={() => setOpen(open === c.id ? null : c.id)}>
                  {c.name}
                </button>{' '}
                <Badge state={c.enabled ? 'enabled' : 'disabled'} /> <span class="muted">{c.kind} · {c.kind === 'webhook' ? c.url : c.to.join(', ')} · {c.kinds.length ? c.kinds.join(', ') : 'every kind'}</span>
                {open === c.id && <Deliveries channel={c.id} />}
              </li>
            ))}
            {list.length === 0 && <li>No channels: events notify nobody.</li>}
          </ul>
        )}
      </Show>
    </div>
  );
}

function Deliveries({ channel }: { channel: string }) {
  const deliveries = useResource(() => client.get<{ items: Delivery[] }>(`/notification-channels/${channel}/deliveries`, { limit: 50 }), [channel], 10_000);
  const retry = useAction(async (id: string) => {
    await client.post(`/notification-deliveries/${id}/retry`);
    deliveries.reload();
  });
  return (
    <Show r={deliveries} what="deliveries">
      {(page) => (
        <Table caption="Recent deliveries" columns={['When', 'Kind', 'State', 'Attempts', 'Last error', '']} shown>
          {page.items.map((d) => (
            <tr key={d.id}>
              <td>{time(d.created_at)}</td>
              <td>{d.kind}</td>
              <td>
                <Badge state={d.state} />
              </td>
              <td>{d.attempts}</td>
              <td>{d.last_error ?? ''}</td>
              <td>
                {d.state === 'dead' && session.can('notifications:write') && (
                  <button type="button" onClick={() => retry.run(d.id)} disabled={retry.busy}>
                    Retry
                  </button>
                )}
              </td>
            </tr>
          ))}
          {page.items.length === 0 && (
            <tr>
              <td colSpan={6}>Nothing delivered yet.</td>
            </tr>
          )}
        </Table>
      )}
    </Show>
  );
}

function AddChannel({ done }: { done: () => void }) {
  const s = useStore(session.state);
  const [f, set] = useFields({ name: '', kind: 'webhook', url: '', secret: '', to: '', kinds: '' });
  const [secret, setSecret] = useState<string | null>(null);
  const split = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);
  const add = useAction(async () => {
    const body: Record<string, unknown> = { name: f.name, kind: f.kind, kinds: split(f.kinds), to: f.kind === 'email' ? split(f.to) : [] };
    if (f.kind === 'webhook') body.url = f.url;
    if (f.secret) body.secret = f.secret;
    if (session.platformAdmin) body.tenant_id = s.tenant ?? undefined;
    const made = await client.post<{ secret?: string | null }>('/notification-channels', body);
    if (made.secret) setSecret(made.secret);
    else done();
  });
  if (secret) {
    return (
      <div class="panel" role="status">
        <p>
          The webhook's signing secret, shown this once: <code class="secret">{secret}</code>
        </p>
        <button type="button" onClick={done}>
          Done
        </button>
      </div>
    );
  }
  return (
    <form class="panel" aria-label="Add channel" onSubmit={(e) => (e.preventDefault(), add.run())}>
      <Field label="Name">
        <input name="name" required value={f.name} onInput={set('name')} />
      </Field>
      <Field label="Kind">
        <select name="kind" value={f.kind} onChange={set('kind')}>
          <option value="webhook">webhook</option>
          <option value="email">e-mail</option>
        </select>
      </Field>
      {f.kind === 'webhook' ? (
        <>
          <Field label="URL">
            <input name="url" type="url" required value={f.url} onInput={set('url')} />
          </Field>
          <Field label="Signing secret" hint="Empty: one is made and shown once">
            <input name="secret" type="password" autoComplete="new-password" value={f.secret} onInput={set('secret')} />
          </Field>
        </>
      ) : (
        <Field label="To" hint="Addresses, comma separated">
          <input name="to" required value={f.to} onInput={set('to')} />
        </Field>
      )}
      <Field label="Event kinds" hint="Comma separated; empty: every kind">
        <input name="kinds" value={f.kinds} onInput={set('kinds')} />
      </Field>
      <FormError error={add.error} />
      <button type="submit" class="primary" disabled={add.busy}>
        Add
      </button>
    </form>
  );
}
