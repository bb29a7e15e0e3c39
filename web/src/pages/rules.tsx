// A camera's rules: kind, detector (those the licence allows), classes, score, dwell or count,
// schedule and cooldown, with the zone or line drawn on the camera's picture.

import { useState } from 'preact/hooks';
import { client, session } from '../app';
import type { Camera, Detector, Rule, Tenant } from '../api/types';
import { href } from '../stores/router';
import { Badge, Field, FormError, Header, Show, Table } from '../ui/components';
import { useAction, useResource, useFields } from '../ui/hooks';
import { ZoneEditor, type Point } from './zone_editor';

const KINDS = ['intrusion', 'loitering', 'line_crossing', 'crowd'];
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

interface Context {
  camera: Camera;
  rules: Rule[];
  detectors: Detector[];
  allowed: string[] | null;
}

async function loadContext(id: string): Promise<Context> {
  const camera = await client.get<Camera>(`/cameras/${id}`);
  const [rules, detectors, tenant] = await Promise.all([
    client.get<{ items: Rule[] }>(`/cameras/${id}/rules`),
    client.get<{ items: Detector[] }>('/detectors'),
    client.get<Tenant>(`/tenants/${camera.tenant_id}`).catch(() => null),
  ]);
  return { camera, rules: rules.items, detectors: detectors.items, allowed: tenant?.allowed_detectors ?? null };
}

/** The rules page. */
export function RulesPage({ id }: { id: string }) {
  const ctx = useResource(() => loadContext(id), [id]);
  const [editing, setEditing] = useState<Rule | 'new' | null>(null);
  return (
    <Show r={ctx} what="rules">
      {(c) => (
        <div>
          <Header title={`Rules · ${c.camera.name}`}>
            <a href={href('camera', id)}>Back to camera</a>
            {session.can('rules:write') && (
              <button type="button" class="primary" onClick={() => setEditing('new')}>
                New rule
              </button>
            )}
          </Header>
          <section aria-labelledby="lic">
            <h2 id="lic">Detectors</h2>
            <ul class="detectors">
              {c.detectors.map((d) => {
                const ok = c.allowed === null || c.allowed.includes(d.name);
                return (
                  <li key={d.name}>
                    <strong>{d.name}</strong> <Badge state={ok ? 'allowed' : 'not_licensed'} /> <span class="muted">{d.family} · {d.labels.slice(0, 6).join(', ')}{d.labels.length > 6 ? '…' : ''}</span>
                  </li>
                );
              })}
            </ul>
          </section>
          {editing && <RuleForm ctx={c} rule={editing === 'new' ? null : editing} done={() => (setEditing(null), ctx.reload())} />}
          <Table caption="Rules" columns={['Name', 'Kind', 'Detector', 'Classes', 'Score', 'Enabled', '']}>
            {c.rules.map((r) => (
              <tr key={r.id}>
                <td>{r.name}</td>
                <td>{r.kind.replace(/_/g, ' ')}</td>
                <td>{r.detector}</td>
                <td>{r.classes.join(', ')}</td>
                <td>{r.min_score}</td>
                <td>{r.enabled ? 'yes' : 'no'}</td>
                <td>
                  {session.can('rules:write') && (
                    <>
                      <button type="button" onClick={() => setEditing(r)}>
                        Edit
                      </button>{' '}
                      <DeleteRule rule={r} done={ctx.reload} />
                    </>
                  )}
                </td>
              </tr>
            ))}
            {c.rules.length === 0 && (
              <tr>
                <td colSpan={7}>No rules: this camera raises no events.</td>
              </tr>
            )}
          </Table>
        </div>
      )}
    </Show>
  );
}

function DeleteRule({ rule, done }: { rule: Rule; done: () => void }) {
  const del = useAction(async () => {
    if (!confirm(`Delete rule ${rule.name}?`)) return;
    await client.del(`/rules/${rule.id}`);
    done();
  });
  return (
    <button type="button" class="danger" onClick={() => del.run()} title={del.error?.message}>
      Delete
    </button>
  );
}

/** The body a rule form sends, from its fields. */
export function ruleBody(f: RuleFields, creating: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {
    classes: f.classes,
    min_score: Number(f.min_score),
    cooldown_seconds: Number(f.cooldown_seconds),
    enabled: f.enabled,
    zone: f.kind !== 'line_crossing' && f.zone.length >= 3 ? f.zone : null,
    line: f.kind === 'line_crossing' && f.line.length === 2 ? f.line : null,
    direction: f.kind === 'line_crossing' ? f.direction : null,
    dwell_seconds: f.kind === 'loitering' ? Number(f.dwell_seconds) : null,
    min_count: f.kind === 'crowd' ? Number(f.min_count) : null,
    schedule: f.days.length ? [{ days: f.days, start: f.start, end: f.end }] : null,
    priority: f.priority || null,
  };
  if (creating) {
    for (const k of Object.keys(body)) if (body[k] === null) delete body[k];
    Object.assign(body, { name: f.name, kind: f.kind, detector: f.detector });
  }
  return body;
}

/** The fields of a rule form. */
export interface RuleFields {
  name: string;
  kind: string;
  detector: string;
  classes: string[];
  min_score: string;
  cooldown_seconds: string;
  dwell_seconds: string;
  min_count: string;
  direction: string;
  /** `high`, `standard`, or empty for the server's default (high for intrusion and fire). */
  priority: string;
  enabled: boolean;
  zone: Point[];
  line: Point[];
  days: string[];
  start: string;
  end: string;
}

function RuleForm({ ctx, rule, done }: { ctx: Context; rule: Rule | null; done: () => void }) {
  const usable = ctx.detectors.filter((d) => ctx.allowed === null || ctx.allowed.includes(d.name));
  const [f, set, setF] = useFields<RuleFields>({
    name: rule?.name ?? '',
    kind: rule?.kind ?? 'intrusion',
    detector: rule?.detector ?? usable[0]?.name ?? '',
    classes: rule?.classes ?? ['person'],
    min_score: String(rule?.min_score ?? 0.5),
    cooldown_seconds: String(rule?.cooldown_seconds ?? 30),
    dwell_seconds: String(rule?.dwell_seconds ?? 10),
    min_count: String(rule?.min_count ?? 3),
    direction: rule?.direction ?? 'any',
    priority: rule?.priority ?? '',
    enabled: rule?.enabled ?? true,
    zone: rule?.zone ?? [],
    line: rule?.line ?? [],
    days: rule?.schedule?.[0]?.days ?? [],
    start: rule?.schedule?.[0]?.start ?? '00:00',
    end: rule?.schedule?.[0]?.end ?? '23:59',
  });
  const labels = ctx.detectors.find((d) => d.name === f.detector)?.labels ?? [];
  const save = useAction(async () => {
    const body = ruleBody(f, !rule);
    if (rule) await client.patch(`/rules/${rule.id}`, body);
    else await client.post(`/cameras/${ctx.camera.id}/rules`, body);
    done();
  });
  const toggle = (list: string[], v: string) => (list.includes(v) ? list.filter((x) => x !== v) : [...list, v]);
  return (
    <form class="panel rule-form" aria-label={rule ? `Edit rule ${rule.name}` : 'New rule'} onSubmit={(e) => (e.preventDefault(), save.run())}>
      <div class="two">
        <div>
          <Field label="Name">
            <input name="name" required maxLength={100} disabled={!!rule} value={f.name} onInput={set('name')} />
          </Field>
          <Field label="Kind">
            <select name="kind" disabled={!!rule} value={f.kind} onChange={set('kind')}>
              {KINDS.map((k) => (
                <option key={k} value={k}>
                  {k.replace(/_/g, ' ')}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Detector" hint="Only those the licence allows">
            <select name="detector" disabled={!!rule} value={f.detector} onChange={set('detector')}>
              {usable.map((d) => (
                <option key={d.name} value={d.name}>
                  {d.name}
                </option>
              ))}
            </select>
          </Field>
          <fieldset>
            <legend>Classes</legend>
            <div class="checks">
              {labels.slice(0, 24).map((l) => (
                <label key={l} class="check">
                  <input type="checkbox" checked={f.classes.includes(l)} onChange={() => setF({ ...f, classes: toggle(f.classes, l) })} /> {l}
                </label>
              ))}
            </div>
          </fieldset>
          <Field label="Lowest score (0-1)">
            <input name="min_score" type="number" min={0} max={1} step={0.05} value={f.min_score} onInput={set('min_score')} />
          </Field>
          {f.kind === 'loitering' && (
            <Field label="Dwell (seconds)">
              <input name="dwell_seconds" type="number" min={1} value={f.dwell_seconds} onInput={set('dwell_seconds')} />
            </Field>
          )}
          {f.kind === 'crowd' && (
            <Field label="Count at least">
              <input name="min_count" type="number" min={2} value={f.min_count} onInput={set('min_count')} />
            </Field>
          )}
          {f.kind === 'line_crossing' && (
            <Field label="Direction">
              <select name="direction" value={f.direction} onChange={set('direction')}>
                <option value="any">any</option>
                <option value="forward">forward</option>
                <option value="backward">backward</option>
              </select>
            </Field>
          )}
          <Field label="Priority" hint="High frames go to the detector before all others">
            <select name="priority" value={f.priority} onChange={set('priority')}>
              {!rule && <option value="">default (high for intrusion and fire)</option>}
              <option value="high">high</option>
              <option value="standard">standard</option>
            </select>
          </Field>
          <Field label="Cooldown (seconds)">
            <input name="cooldown_seconds" type="number" min={0} value={f.cooldown_seconds} onInput={set('cooldown_seconds')} />
          </Field>
          <fieldset>
            <legend>Schedule (none: always)</legend>
            <div class="checks">
              {DAYS.map((d) => (
                <label key={d} class="check">
                  <input type="checkbox" checked={f.days.includes(d)} onChange={() => setF({ ...f, days: toggle(f.days, d) })} /> {d}
                </label>
              ))}
            </div>
            <div class="row">
              <Field label="From">
                <input name="start" type="time" value={f.start} onInput={set('start')} />
              </Field>
              <Field label="To">
                <input name="end" type="time" value={f.end} onInput={set('end')} />
              </Field>
            </div>
          </fieldset>
          <label class="check">
            <input type="checkbox" checked={f.enabled} onChange={(e) => setF({ ...f, enabled: (e.target as HTMLInputElement).checked })} /> Enabled
          </label>
        </div>
        <ZoneEditor
          camera={ctx.camera.id}
          points={f.kind === 'line_crossing' ? f.line : f.zone}
          max={f.kind === 'line_crossing' ? 2 : undefined}
          onChange={(p) => setF(f.kind === 'line_crossing' ? { ...f, line: p } : { ...f, zone: p })}
        />
      </div>
      <FormError error={save.error} />
      <button type="submit" class="primary" disabled={save.busy}>
        {rule ? 'Save rule' : 'Create rule'}
      </button>{' '}
      <button type="button" onClick={done}>
        Cancel
      </button>
    </form>
  );
}
