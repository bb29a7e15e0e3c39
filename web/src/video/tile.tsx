// A camera's live video with its name, status and recent events over it.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { Camera, Event } from '../api/types';
import { Badge } from '../ui/components';
import { playLive, type LiveMode } from './live';

/** One live tile; double-click (or Enter) shows it full screen. */
export function LiveTile({ camera, events = [], big = false }: { camera: Camera; events?: Event[]; big?: boolean }) {
  const video = useRef<HTMLVideoElement>(null);
  const box = useRef<HTMLDivElement>(null);
  const [mode, setMode] = useState<LiveMode | 'connecting' | 'unavailable'>('connecting');
  useEffect(() => {
    let stop: (() => void) | undefined;
    let gone = false;
    setMode('connecting');
    playLive(video.current!, camera.id).then(
      (p) => (gone ? p.stop() : ((stop = p.stop), setMode(p.mode))),
      () => !gone && setMode('unavailable'),
    );
    return () => {
      gone = true;
      stop?.();
    };
  }, [camera.id]);
  const full = () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else box.current?.requestFullscreen().catch(() => {});
  };
  return (
    <div
      ref={box}
      class={`tile${big ? ' big' : ''}`}
      tabIndex={0}
      role="group"
      aria-label={`${camera.name} live${big ? '' : ', press Enter for full screen'}`}
      onDblClick={full}
      onKeyDown={(e) => e.key === 'Enter' && e.target === box.current && full()}
      data-camera={camera.id}
    >
      <video ref={video} autoplay muted playsInline data-mode={mode} />
      <div class="overlay">
        <span class="name">{camera.name}</span> <Badge state={camera.status.state} title={camera.status.reason ?? undefined} />
        <span class="mode">{mode}</span>
      </div>
      {events.length > 0 && (
        <ul class="event-badges" aria-label="Recent events">
          {events.slice(0, 3).map((e) => (
            <li key={e.id} class="event-badge">
              {e.kind}: {e.label} {Math.round(e.score * 100)}%
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
