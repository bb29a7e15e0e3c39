// The ticket queue by state, oldest first, with its actions; one ticket with its history.

import { useState } from 'preact/hooks';
import { client, session } from '../app';
import type { Tenant, Ticket, TicketState, TicketView } from '../api/types';
import { href } from '../stores/router';
import { Badge, Field, FormError, Header, Show, Table } from '../ui/components';
import { ago, time } from '../ui/format';
import { useAction, useResource, useStore } from '../ui/hooks';
import { loadCameras, namesOf } from './data';

const STATES: TicketState[] = ['open', 'acknowledged', 'resolved', 'closed'];

/** The actions a ticket in `state` offers. */
export function actionsFor(state: TicketState): ('acknowledge' | 'resolve' | 'close')[] {
  switch (state) {
    case 'open':
      return ['acknowledge', 'resolve', 'close'];
    case 'acknowledged':
      return ['resolve', 'close'];
    case 'resolved':
      return ['close'];
    default:
      return [];
  }
}

/** Escalated first, then oldest first: the order work is taken in. */
export function queueOrder(tickets: Ticket[]): Ticket[] {
  return [...tickets].sort((a, b) => Number(!!b.escalated_at) - Number(!!a.escalated_at) || Date.parse(a.opened_at) - Date.parse(b.opened_at));
}

/** What the SLA says of an open ticket: `due in 4 min`, `overdue 2 min`, or nothing without one. */
export function slaText(ticket: Ticket, slaSeconds: number | null | undefined, now = Date.now()): string {
  if (!slaSeconds || ticket.state !== 'open') return '';
  const left = Math.round((Date.parse(ticket.opened_at) + slaSeconds * 1000 - now) / 1000);
  const say = (s: number) => (s < 120 ? `${s} s` : `${Math.round(s / 60)} min`);
  return left >= 0 ? `due in ${say(left)}` : `overdue ${say(-left)}`;
}

/** Each tenant's acknowledgement limit, by tenant id. */
async function loadSlas(): Promise<Record<string, number | null | undefined>> {
  const s = session.state.get();
  if (s.me?.tenant_id) {
    const t = await client.get<Tenant>(`/tenants/${s.me.tenant_id}`);
    return { [t.id]: t.ack_sla_seconds };
  }
  return Object.fromEntries(s.tenants.map((t) => [t.id, t.ack_sla_seconds]));
}

/** The ticket queue. */
export function TicketsPage() {
  const s = useStore(session.state);
  const [state, setState] = useState<TicketState>('open');
  const tickets = useResource(() => client.all<Ticket>('/tickets', { state }), [state, s.tenant], 5000);
  const cameras = useResource(loadCameras, [s.tenant]);
  const names = namesOf(cameras.data);
  const slas = useResource(() => loadSlas().catch(() => ({}) as Record<string, number>), [s.tenant]);
  return (
    <div>
      <Header title="Tickets">
        <div class="seg" role="group" aria-label="State">
          {STATES.map((st) => (
            <button key={st} type="button" aria-pressed={state === st} onClick={() => setState(st)}>
              {st}
            </button>
          ))}
        </div>
      </Header>
      <Show r={tickets} what="tickets">
        {(list) => (
          <Table caption={`${state} tickets`} columns={['Opened', 'Camera', 'Rule', 'Events', 'SLA', '']}>
            {queueOrder(list).map((t) => (
              <tr key={t.id} data-ticket={t.id}>
                <td>
                  <a href={href('ticket', t.id)}>{ago(t.opened_at)}</a>
                </td>
                <td>{names[t.camera_id] ?? t.camera_id.slice(0, 8)}</td>
                <td>
                  {t.rule} <span class="muted">({t.kind.replace(/_/g, ' ')})</span>
                </td>
                <td>{t.events}</td>
                <td>
                  {t.escalated_at ? <Badge state="escalated" title={time(t.escalated_at)} /> : <Badge state={t.state} />} <span class="muted">{slaText(t, slas.data?.[t.tenant_id])}</span>
                </td>
                <td>{session.can('tickets:write') && <Actions ticket={t} done={tickets.reload} />}</td>
              </tr>
            ))}
            {list.length === 0 && (
              <tr>
                <td colSpan={6}>No {state} tickets.</td>
              </tr>
            )}
          </Table>
        )}
      </Show>
    </div>
  );
}

function Actions({ ticket, done }: { ticket: Ticket; done: () => void }) {
  const act = useAction(async (action: string) => {
    await client.post(`/tickets/${ticket.id}/${action}`);
    done();
  });
  return (
    <span class="actions">
      {actionsFor(ticket.state).map((a) => (
        <button key={a} type="button" disabled={act.busy} onClick={() => act.run(a)} data-action={a}>
          {a[0].toUpperCase() + a.slice(1)}
        </button>
      ))}
      {act.error && <span class="error" role="alert">{act.error.message}</span>}
    </span>
  );
}

/** One ticket and its history. */
export function TicketPage({ id }: { id: string }) {
  const ticket = useResource(() => client.get<TicketView>(`/tickets/${id}`), [id], 5000);
  const [text, setText] = useState('');
  const comment = useAction(async () => {
    await client.post(`/tickets/${id}/comments`, { text });
    setText('');
    ticket.reload();
  });
  return (
    <Show r={ticket} what="the ticket">
      {(t) => (
        <div>
          <Header title={`Ticket · ${t.rule}`}>
            <Badge state={t.state} />
            {t.escalated_at && <Badge state="escalated" />}
            {session.can('tickets:write') && <Actions ticket={t} done={ticket.reload} />}
          </Header>
          <p class="muted">
            Opened {time(t.opened_at)} · {t.events} events · <a href={href('camera', t.camera_id)}>camera</a> · <a href={href('events', undefined, { camera_id: t.camera_id })}>its events</a>
          </p>
          <h2>History</h2>
          <ol class="history">
            {t.history.map((h, i) => (
              <li key={i}>
                {time(h.at)} · <strong>{h.action}</strong> by {h.actor} → {h.state}
                {h.comment && <blockquote>{h.comment}</blockquote>}
              </li>
            ))}
          </ol>
          {session.can('tickets:write') && (
            <form class="panel" onSubmit={(e) => (e.preventDefault(), comment.run())}>
              <Field label="Comment">
                <textarea name="comment" required maxLength={4000} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
              </Field>
              <FormError error={comment.error} />
              <button type="submit" disabled={comment.busy}>
                Add comment
              </button>
            </form>
          )}
        </div>
      )}
    </Show>
  );
}
