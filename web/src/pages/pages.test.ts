import { describe, expect, it } from 'vitest';
import { perHour } from './data';
import { movesBetween } from './cluster';
import { actionsFor, queueOrder, slaText } from './tickets';
import { parseLabels } from './cameras';
import { formatPoints, parsePoints } from './zone_editor';
import { place, timeAt } from './timeline';
import { ruleBody, type RuleFields } from './rules';
import { eventQuery } from './events';
import type { Event, PlacementEntry, Ticket } from '../api/types';
import { ago, bytes } from '../ui/format';

describe('page helpers', () => {
  it('counts events per hour, oldest first', () => {
    const now = Date.parse('2026-12-04T12:00:00Z');
    const at = (h: number) => ({ at: new Date(now - h * 3600_000 + 1).toISOString() }) as Event;
    expect(perHour([at(0.5), at(0.2), at(2.5), at(30)], 3, now)).toEqual([1, 0, 2]);
  });

  it('finds the cameras that moved', () => {
    const e = (id: string, node: string | null) => ({ camera_id: id, camera_name: id, node_id: node }) as PlacementEntry;
    const moves = movesBetween([e('a', 'n1'), e('b', 'n1')], [e('a', 'n2'), e('b', 'n1'), e('c', 'n3')], 't');
    expect(moves).toEqual([{ at: 't', camera: 'a', from: 'n1', to: 'n2' }]);
  });

  it('offers the ticket actions each state allows, escalated and oldest first', () => {
    expect(actionsFor('open')).toEqual(['acknowledge', 'resolve', 'close']);
    expect(actionsFor('closed')).toEqual([]);
    const t = (id: string, opened: string, escalated?: string) => ({ id, opened_at: opened, escalated_at: escalated }) as Ticket;
    expect(queueOrder([t('new', '2026-12-04T10:00:00Z'), t('old', '2026-12-04T09:00:00Z'), t('esc', '2026-12-04T11:00:00Z', 'x')]).map((x) => x.id)).toEqual(['esc', 'old', 'new']);
  });

  it('says how long an open ticket has before its SLA', () => {
    const t = { state: 'open', opened_at: '2026-12-04T10:00:00Z' } as Ticket;
    const at = (s: number) => Date.parse('2026-12-04T10:00:00Z') + s * 1000;
    expect(slaText(t, 300, at(60))).toBe('due in 4 min');
    expect(slaText(t, 300, at(330))).toBe('overdue 30 s');
    expect(slaText(t, null, at(0))).toBe('');
    expect(slaText({ ...t, state: 'acknowledged' }, 300, at(0))).toBe('');
  });

  it('reads labels and refuses an entry without =', () => {
    expect(parseLabels(' site = hq, floor=2 ,')).toEqual({ site: 'hq', floor: '2' });
    expect(() => parseLabels('site')).toThrow(/key=value/);
  });

  it('reads typed zone points and refuses ones off the picture', () => {
    expect(parsePoints('0.1,0.2; 0.5, 0.6;')).toEqual([[0.1, 0.2], [0.5, 0.6]]);
    expect(() => parsePoints('1.5,0')).toThrow(/between 0 and 1/);
    expect(parsePoints(formatPoints([[0.25, 0.75]]))).toEqual([[0.25, 0.75]]);
  });

  it('maps timeline positions to times and back, clamped', () => {
    expect(timeAt(0, 100, 0.25)).toBe(25);
    expect(timeAt(0, 100, 2)).toBe(100);
    expect(place(0, 100, -5)).toBe(0);
    expect(place(0, 100, 50)).toBe(0.5);
  });

  it('sends only what a rule kind uses', () => {
    const f: RuleFields = { name: 'door', kind: 'intrusion', detector: 'person', classes: ['person'], min_score: '0.5', cooldown_seconds: '30', dwell_seconds: '10', min_count: '3', direction: 'any', priority: '', enabled: true, zone: [[0, 0], [1, 0], [1, 1]], line: [], days: [], start: '00:00', end: '23:59' };
    const made = ruleBody(f, true);
    expect(made).toMatchObject({ name: 'door', kind: 'intrusion', detector: 'person', zone: f.zone, min_score: 0.5 });
    expect(made).not.toHaveProperty('line');
    expect(made).not.toHaveProperty('dwell_seconds');
    expect(made).not.toHaveProperty('priority'); // the server's default: high for intrusion
    expect(ruleBody({ ...f, priority: 'standard' }, true)).toMatchObject({ priority: 'standard' });
    const line = ruleBody({ ...f, kind: 'line_crossing', line: [[0, 0.5], [1, 0.5]] }, false);
    expect(line).toMatchObject({ zone: null, direction: 'any', line: [[0, 0.5], [1, 0.5]] });
    expect(line).not.toHaveProperty('name');
  });

  it('keeps only known event filters, times as RFC 3339', () => {
    const q = eventQuery(new URLSearchParams('kind=intrusion&from=2026-12-04T10:00&evil=1&to=nonsense'));
    expect(Object.keys(q).sort()).toEqual(['from', 'kind']);
    expect(q.from).toMatch(/Z$/);
  });

  it('writes sizes and ages', () => {
    expect(bytes(1536)).toBe('1.5 KiB');
    expect(bytes(undefined)).toBe('—');
    expect(ago(new Date(Date.now() - 90_000).toISOString())).toBe('1 min ago');
  });
});
