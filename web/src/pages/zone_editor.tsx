// Draws a zone polygon or a crossing line over the camera's snapshot. Points are fractions of
// the picture (0-1). Each point can also be typed, so the editor works from the keyboard.

import { useEffect, useRef, useState } from 'preact/hooks';
import { client } from '../app';
import { Field } from '../ui/components';

/** A point as fractions of the picture's width and height. */
export type Point = [number, number];

/** `0.1,0.2; 0.5,0.6` as points; throws naming the bad entry. */
export function parsePoints(text: string): Point[] {
  return text
    .split(';')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const [x, y] = p.split(',').map((v) => Number(v.trim()));
      if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) throw new Error(`"${p}" is not x,y with both between 0 and 1`);
      return [x, y] as Point;
    });
}

/** Points written as `parsePoints` reads them. */
export function formatPoints(points: Point[]): string {
  return points.map(([x, y]) => `${x.toFixed(3)},${y.toFixed(3)}`).join('; ');
}

/** The editor; `max` is 2 for a line. */
export function ZoneEditor({ camera, points, onChange, max }: { camera: string; points: Point[]; onChange: (p: Point[]) => void; max?: number }) {
  const [src, setSrc] = useState<string | null>(null);
  const [text, setText] = useState(formatPoints(points));
  const [bad, setBad] = useState<string | null>(null);
  const svg = useRef<SVGSVGElement>(null);
  useEffect(() => {
    client.streamToken(camera).then(
      (t) => setSrc(`/api/v1/cameras/${camera}/snapshot?token=${t.token}`),
      () => setSrc(null),
    );
  }, [camera]);
  useEffect(() => setText(formatPoints(points)), [points]);
  const add = (e: MouseEvent) => {
    const r = svg.current!.getBoundingClientRect();
    const p: Point = [Number(((e.clientX - r.left) / r.width).toFixed(3)), Number(((e.clientY - r.top) / r.height).toFixed(3))];
    const next = max && points.length >= max ? [p] : [...points, p];
    onChange(next);
  };
  const shape = points.map(([x, y]) => `${x * 100},${y * 100}`).join(' ');
  return (
    <div class="zone-editor">
      <div class="zone-canvas">
        {src ? <img src={src} alt="The camera's latest picture" /> : <div class="no-snapshot">No picture yet</div>}
        <svg ref={svg} viewBox="0 0 100 100" preserveAspectRatio="none" onClick={add} aria-hidden="true" data-zone-canvas="">
          {max === 2 ? <polyline points={shape} class="line" /> : <polygon points={shape} class="zone" />}
          {points.map(([x, y], i) => (
            <circle key={i} cx={x * 100} cy={y * 100} r={1.2} />
          ))}
        </svg>
      </div>
      <Field label={max === 2 ? 'Line (two points, x,y; x,y)' : 'Zone (three or more points, x,y; x,y; …)'} hint="Click the picture, or type fractions 0-1">
        <input
          name="points"
          value={text}
          onInput={(e) => setText((e.target as HTMLInputElement).value)}
          onBlur={() => {
            try {
              onChange(parsePoints(text));
              setBad(null);
            } catch (err) {
              setBad((err as Error).message);
            }
          }}
        />
      </Field>
      {bad && <p class="error" role="alert">{bad}</p>}
      <button type="button" onClick={() => onChange([])}>
        Clear
      </button>
    </div>
  );
}
