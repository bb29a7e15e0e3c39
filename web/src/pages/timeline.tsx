// A camera's recorded spans, gaps (with why) and events over a window from a day down to a
// minute. Click to play from a moment; drag to pick a range (played, and offered for export).

import { useRef, useState } from 'preact/hooks';
import { client } from '../app';
import type { Timeline } from '../api/types';
import { go } from '../stores/router';
import { Show } from '../ui/components';
import { time } from '../ui/format';
import { useResource } from '../ui/hooks';

/** Window widths, widest first (the API answers at most a day). */
export const ZOOMS = [
  { label: '1 day', ms: 24 * 3600_000 },
  { label: '6 h', ms: 6 * 3600_000 },
  { label: '1 h', ms: 3600_000 },
  { label: '15 min', ms: 15 * 60_000 },
  { label: '1 min', ms: 60_000 },
];

/** Where in [from, to] a fraction `x` (0-1) of the bar falls. */
export function timeAt(from: number, to: number, x: number): number {
  return from + Math.min(1, Math.max(0, x)) * (to - from);
}

/** The fraction of the bar where `t` falls, clamped to it. */
export function place(from: number, to: number, t: number): number {
  return Math.min(1, Math.max(0, (t - from) / (to - from)));
}

/** The timeline; `onPick(from, to)` plays and selects a range. */
export function TimelineBar({ camera, onPick }: { camera: string; onPick: (from: Date, to: Date) => void }) {
  const [zoom, setZoom] = useState(2);
  const [end, setEnd] = useState<number | null>(null); // null: follows now
  const width = ZOOMS[zoom].ms;
  const to = end ?? Date.now();
  const from = to - width;
  const tl = useResource(
    () => client.get<Timeline>(`/cameras/${camera}/timeline`, { from: new Date(from).toISOString(), to: new Date(to).toISOString(), buckets: 200 }),
    [camera, zoom, end],
    end === null ? 10_000 : undefined,
  );
  const bar = useRef<HTMLDivElement>(null);
  const drag = useRef<number | null>(null);
  const [sel, setSel] = useState<[number, number] | null>(null);
  const fraction = (e: MouseEvent) => {
    const r = bar.current!.getBoundingClientRect();
    return (e.clientX - r.left) / r.width;
  };
  const pick = (a: number, b: number) => {
    const [x, y] = a <= b ? [a, b] : [b, a];
    const t0 = timeAt(from, to, x);
    // A click plays from there to the window's end (at least 30 s); a drag plays its range.
    const t1 = y - x > 0.005 ? timeAt(from, to, y) : Math.min(Date.now(), Math.max(to, t0 + 30_000));
    setSel([t0, t1]);
    onPick(new Date(t0), new Date(t1));
  };
  const shift = (k: number) => setEnd(Math.min(Date.now(), to + k * width * 0.5));
  return (
    <section class="timeline" aria-labelledby="tl-title">
      <div class="tl-head">
        <h2 id="tl-title">Timeline</h2>
        <div class="seg" role="group" aria-label="Zoom">
          {ZOOMS.map((z, i) => (
            <button key={z.label} type="button" aria-pressed={zoom === i} onClick={() => setZoom(i)}>
              {z.label}
            </button>
          ))}
        </div>
        <div class="seg" role="group" aria-label="Move">
          <button type="button" onClick={() => shift(-1)}>
            Earlier
          </button>
          <button type="button" onClick={() => shift(1)} disabled={end === null}>
            Later
          </button>
          <button type="button" onClick={() => setEnd(null)} disabled={end === null}>
            Now
          </button>
        </div>
      </div>
      <Show r={tl} what="the timeline">
        {(t) => (
          <>
            <div
              ref={bar}
              class="tl-bar"
              role="slider"
              tabIndex={0}
              aria-label="Recorded video; click to play from a moment, drag to pick a range"
              aria-valuemin={from}
              aria-valuemax={to}
              aria-valuenow={sel ? sel[0] : to}
              aria-valuetext={sel ? `from ${time(new Date(sel[0]).toISOString())}` : 'live'}
              onMouseDown={(e) => (drag.current = fraction(e))}
              onMouseUp={(e) => {
                if (drag.current !== null) pick(drag.current, fraction(e));
                drag.current = null;
              }}
              onKeyDown={(e) => {
                if (e.key === 'Enter' || e.key === ' ') (e.preventDefault(), pick(0.5, 0.5));
              }}
            >
              {t.spans.map((s, i) => (
                <span key={'s' + i} class="span" style={{ left: `${100 * place(from, to, Date.parse(s.from))}%`, width: `${100 * (place(from, to, Date.parse(s.to)) - place(from, to, Date.parse(s.from)))}%` }} title={`recorded ${time(s.from)} – ${time(s.to)}`} />
              ))}
              {t.gaps.map((g, i) => (
                <span key={'g' + i} class={`gap r-${g.reason}`} style={{ left: `${100 * place(from, to, Date.parse(g.from))}%`, width: `${100 * (place(from, to, Date.parse(g.to)) - place(from, to, Date.parse(g.from)))}%` }} title={`${g.reason.replace(/_/g, ' ')}: ${time(g.from)} – ${time(g.to)}`} />
              ))}
              {t.events.map((ev) => (
                // Not links: the bar is one control; the event list (below) has the links.
                <span key={ev.id} class="marker" style={{ left: `${100 * place(from, to, Date.parse(ev.at))}%` }} title={`${ev.kind} at ${time(ev.at)}`} onMouseDown={(e) => e.stopPropagation()} onClick={() => go(`#/events/${ev.id}`)} />
              ))}
              {sel && <span class="sel" style={{ left: `${100 * place(from, to, sel[0])}%`, width: `${100 * (place(from, to, sel[1]) - place(from, to, sel[0]))}%` }} />}
            </div>
            <div class="tl-scale" aria-hidden="true">
              <span>{time(new Date(from).toISOString())}</span>
              <span>{time(new Date(to).toISOString())}</span>
            </div>
            <p class="muted">
              {t.spans.length} recorded spans, {t.gaps.length} gaps
              {t.gaps.length > 0 && ` (${[...new Set(t.gaps.map((g) => g.reason.replace(/_/g, ' ')))].join(', ')})`}, {t.events.length} events
              {t.events.length > 0 && (
                <>
                  : {t.events.slice(-5).map((ev, i) => (
                    <span key={ev.id}>
                      {i > 0 && ', '}
                      <a href={`#/events/${ev.id}`}>{ev.kind.replace(/_/g, ' ')} {time(ev.at)}</a>
                    </span>
                  ))}
                </>
              )}
              .
            </p>
          </>
        )}
      </Show>
    </section>
  );
}
