// Administration, by role: tenants and licences, users and roles, API keys (the secret shown
// once), and the audit log.

import { useState } from 'preact/hooks';
import { client, session } from '../app';
import type { ApiKey, AuditEntry, Role, Tenant, User } from '../api/types';
import { ApiError } from '../api/client';
import { Badge, ErrorBox, Field, FormError, Header, Show, Table } from '../ui/components';
import { bytes, time } from '../ui/format';
import { useAction, useResource, useStore, useFields } from '../ui/hooks';

const ROLES: Role[] = ['tenant_admin', 'operator', 'viewer'];

/** The roles a user or key can be given here, as options. */
function RoleOptions() {
  return (
    <>
      {ROLES.map((r) => (
        <option key={r} value={r}>
          {r.replace(/_/g, ' ')}
        </option>
      ))}
    </>
  );
}

/** The administration page: each section shows when the role may read it. */
export function AdminPage() {
  const s = useStore(session.state);
  // Administration is for those who manage users: tenant and platform admins.
  if (!session.can('users:read')) {
    return (
      <div>
        <Header title="Administration" />
        <ErrorBox error={new ApiError(403, 'forbidden', 'this needs the permission users:read, which your role does not have')} />
      </div>
    );
  }
  return (
    <div>
      <Header title="Administration" />
      {session.can('tenants:read') && <Tenants key={'t' + s.tenant} />}
      {session.can('users:read') && <Users />}
      {session.can('api_keys:read') && <ApiKeys />}
      {session.can('audit:read') && <Audit />}
    </div>
  );
}

function Tenants() {
  const s = useStore(session.state);
  const tenants = useResource(
    () => (session.platformAdmin ? client.all<Tenant>('/tenants') : client.get<Tenant>(`/tenants/${s.me?.tenant_id}`).then((t) => [t])),
    [],
  );
  const [adding, setAdding] = useState(false);
  return (
    <section aria-labelledby="a-tenants" class="panel">
      <h2 id="a-tenants">{session.platformAdmin ? 'Tenants and licences' : 'Licence'}</h2>
      {session.can('tenants:write') && (
        <button type="button" aria-expanded={adding} onClick={() => setAdding(!adding)}>
          Add tenant
        </button>
      )}
      {adding && <AddTenant done={() => (setAdding(false), tenants.reload())} />}
      <Show r={tenants} what="tenants">
        {(list) => (
          <Table caption="Tenants" columns={['Name', 'Cameras', 'Retention', 'Detectors', 'Storage quota', 'Inference share', 'Ticket SLA', 'Expires']}>
            {list.map((t) => (
              <tr key={t.id}>
                <td>{t.name}</td>
                <td>{t.max_cameras}</td>
                <td>{t.retention_days} d</td>
                <td>{t.allowed_detectors.join(', ') || 'none'}</td>
                <td>{t.storage_quota_bytes ? bytes(t.storage_quota_bytes) : 'none'}</td>
                <td>{t.inference_share}</td>
                <td>{t.ack_sla_seconds ? `${t.ack_sla_seconds} s` : 'none'}</td>
                <td>{t.expires_at ? time(t.expires_at) : 'never'}</td>
              </tr>
            ))}
          </Table>
        )}
      </Show>
    </section>
  );
}

function AddTenant({ done }: { done: () => void }) {
  const [f, set] = useFields({ name: '', max_cameras: '16', retention_days: '30', allowed_detectors: 'person', ack_sla_seconds: '', inference_share: '1' });
  const add = useAction(async () => {
    await client.post('/tenants', {
      name: f.name,
      max_cameras: Number(f.max_cameras),
      retention_days: Number(f.retention_days),
      allowed_detectors: f.allowed_detectors.split(',').map((d) => d.trim()).filter(Boolean),
      ack_sla_seconds: f.ack_sla_seconds ? Number(f.ack_sla_seconds) : undefined,
      inference_share: Number(f.inference_share),
    });
    done();
  });
  return (
    <form class="row" aria-label="Add tenant" onSubmit={(e) => (e.preventDefault(), add.run())}>
      <Field label="Name">
        <input name="name" required value={f.name} onInput={set('name')} />
      </Field>
      <Field label="Most cameras">
        <input name="max_cameras" type="number" min={0} value={f.max_cameras} onInput={set('max_cameras')} />
      </Field>
      <Field label="Retention (days)">
        <input name="retention_days" type="number" min={1} value={f.retention_days} onInput={set('retention_days')} />
      </Field>
      <Field label="Detectors" hint="Comma separated">
        <input name="allowed_detectors" value={f.allowed_detectors} onInput={set('allowed_detectors')} />
      </Field>
      <Field label="Inference share" hint="Weight against other tenants when detectors are busy (1-1000)">
        <input name="inference_share" type="number" min={1} max={1000} value={f.inference_share} onInput={set('inference_share')} />
      </Field>
      <Field label="Ticket SLA (s)">
        <input name="ack_sla_seconds" type="number" min={1} value={f.ack_sla_seconds} onInput={set('ack_sla_seconds')} />
      </Field>
      <FormError error={add.error} />
      <button type="submit" class="primary" disabled={add.busy}>
        Add
      </button>
    </form>
  );
}

function Users() {
  const s = useStore(session.state);
  const users = useResource(() => client.all<User>('/users'), [s.tenant]);
  const [f, set, setF] = useFields({ email: '', password: '', role: 'operator' });
  const add = useAction(async () => {
    await client.post('/users', { ...f, tenant_id: session.platformAdmin ? s.tenant ?? undefined : undefined });
    setF({ email: '', password: '', role: 'operator' });
    users.reload();
  });
  const change = useAction(async (id: string, body: Record<string, unknown>) => {
    await client.patch(`/users/${id}`, body);
    users.reload();
  });
  return (
    <section aria-labelledby="a-users" class="panel">
      <h2 id="a-users">Users and roles</h2>
      <Show r={users} what="users">
        {(list) => (
          <Table caption="Users" columns={['E-mail', 'Role', 'State', '']}>
            {list.map((u) => (
              <tr key={u.id}>
                <td>{u.email}</td>
                <td>
                  {session.can('users:write') && u.role !== 'platform_admin' ? (
                    <select aria-label={`Role of ${u.email}`} value={u.role} onChange={(e) => change.run(u.id, { role: (e.target as HTMLSelectElement).value })}>
                      <RoleOptions />
                    </select>
                  ) : (
                    u.role.replace(/_/g, ' ')
                  )}
                </td>
                <td>
                  <Badge state={u.disabled ? 'disabled' : 'enabled'} />
                </td>
                <td>
                  {session.can('users:write') && u.id !== s.me?.user_id && (
                    <button type="button" onClick={() => change.run(u.id, { disabled: !u.disabled })}>
                      {u.disabled ? 'Enable' : 'Disable'}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Show>
      <FormError error={change.error} />
      {session.can('users:write') && (
        <form class="row" aria-label="Add user" onSubmit={(e) => (e.preventDefault(), add.run())}>
          <Field label="E-mail">
            <input name="email" type="email" required value={f.email} onInput={set('email')} />
          </Field>
          <Field label="Password" hint="At least 12 characters">
            <input name="password" type="password" autoComplete="new-password" required value={f.password} onInput={set('password')} />
          </Field>
          <Field label="Role">
            <select name="role" value={f.role} onChange={set('role')}>
              <RoleOptions />
            </select>
          </Field>
          <FormError error={add.error} />
          <button type="submit" disabled={add.busy}>
            Add user
          </button>
        </form>
      )}
    </section>
  );
}

function ApiKeys() {
  const keys = useResource(() => client.all<ApiKey>('/api-keys'), []);
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [secret, setSecret] = useState<string | null>(null);
  const make = useAction(async () => {
    const made = await client.post<{ key: string }>('/api-keys', { name, role });
    setSecret(made.key);
    setName('');
    keys.reload();
  });
  const revoke = useAction(async (id: string) => {
    if (!confirm('Revoke this key? Whatever uses it stops working at once.')) return;
    await client.del(`/api-keys/${id}`);
    keys.reload();
  });
  return (
    <section aria-labelledby="a-keys" class="panel">
      <h2 id="a-keys">API keys</h2>
      {secret && (
        <div role="status" class="secret-once">
          <p>
            The new key, shown this once; copy it now: <code class="secret">{secret}</code>
          </p>
          <button type="button" onClick={() => setSecret(null)}>
            I have copied it
          </button>
        </div>
      )}
      <Show r={keys} what="API keys">
        {(list) => (
          <Table caption="API keys" columns={['Name', 'Prefix', 'Role', 'Created', 'State', '']}>
            {list.map((k) => (
              <tr key={k.id}>
                <td>{k.name}</td>
                <td>
                  <code>{k.prefix}</code>
                </td>
                <td>{k.role.replace(/_/g, ' ')}</td>
                <td>{time(k.created_at)}</td>
                <td>
                  <Badge state={k.revoked_at ? 'revoked' : 'active'} />
                </td>
                <td>
                  {!k.revoked_at && session.can('api_keys:write') && (
                    <button type="button" class="danger" onClick={() => revoke.run(k.id)}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Show>
      {session.can('api_keys:write') && (
        <form class="row" aria-label="New API key" onSubmit={(e) => (e.preventDefault(), make.run())}>
          <Field label="Name">
            <input name="key_name" required value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          </Field>
          <Field label="Role">
            <select name="key_role" value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value as Role)}>
              <RoleOptions />
            </select>
          </Field>
          <FormError error={make.error ?? revoke.error} />
          <button type="submit" disabled={make.busy}>
            Create key
          </button>
        </form>
      )}
    </section>
  );
}

function Audit() {
  const [cursor, setCursor] = useState<string | undefined>();
  const audit = useResource(() => client.get<{ items: AuditEntry[]; next_cursor?: string | null }>('/audit', { limit: 50, cursor }), [cursor]);
  return (
    <section aria-labelledby="a-audit" class="panel">
      <h2 id="a-audit">Audit log</h2>
      <Show r={audit} what="the audit log">
        {(page) => (
          <>
            <Table caption="Audit log, newest first" columns={['When', 'Who', 'Action', 'Object', 'Outcome']}>
              {page.items.map((a) => (
                <tr key={a.id}>
                  <td>{time(a.at)}</td>
                  <td>{a.actor}</td>
                  <td>{a.action}</td>
                  <td>{[a.object_kind, a.object_id?.slice(0, 8)].filter(Boolean).join(' ')}</td>
                  <td>{a.status}</td>
                </tr>
              ))}
            </Table>
            <div class="pager">
              <button type="button" disabled={!cursor} onClick={() => setCursor(undefined)}>
                Newest
              </button>
              <button type="button" disabled={!page.next_cursor} onClick={() => setCursor(page.next_cursor ?? undefined)}>
                Older
              </button>
            </div>
          </>
        )}
      </Show>
    </section>
  );
}
