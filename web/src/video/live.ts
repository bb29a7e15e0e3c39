// Live video in a <video>: WebRTC (WHEP) first, then fMP4 over a WebSocket into MSE, then
// LL-HLS with hls.js (loaded only then). Each way gives up after a few seconds without a frame.

import { client } from '../app';

/** How a player ended up playing. */
export type LiveMode = 'webrtc' | 'mse' | 'hls';

/** A running player. */
export interface Player {
  mode: LiveMode;
  stop(): void;
}

const API = '/api/v1/cameras/';
/** How long a way may take to show a first frame before the next is tried. */
const FIRST_FRAME_MS = 6000;

/** Plays `camera` live in `video`; resolves with the way that worked. */
export async function playLive(video: HTMLVideoElement, camera: string, order: LiveMode[] = ['webrtc', 'mse', 'hls']): Promise<Player> {
  let last: unknown = new Error('no way to play');
  for (const mode of order) {
    let stop: (() => void) | undefined;
    try {
      const { token } = await client.streamToken(camera);
      stop = await WAYS[mode](video, camera, token);
      await firstFrame(video, FIRST_FRAME_MS);
      return { mode, stop };
    } catch (e) {
      last = e;
      stop?.();
      video.removeAttribute('src');
      video.srcObject = null;
    }
  }
  throw last;
}

/** Recorded video from `from` to `to` through hls.js (or native HLS where the browser has it). */
export async function playRecorded(video: HTMLVideoElement, camera: string, from: Date, to: Date): Promise<() => void> {
  const { token } = await client.streamToken(camera);
  const url = `${API}${camera}/playlist.m3u8?from=${from.toISOString()}&to=${to.toISOString()}&token=${token}`;
  return hls(video, url, false);
}

const WAYS: Record<LiveMode, (v: HTMLVideoElement, camera: string, token: string) => Promise<() => void>> = {
  webrtc: whep,
  mse,
  hls: (v, camera, token) => hls(v, `${API}${camera}/live/index.m3u8?token=${token}`, true),
};

async function whep(video: HTMLVideoElement, camera: string, token: string): Promise<() => void> {
  if (typeof RTCPeerConnection === 'undefined') throw new Error('no WebRTC');
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const tracks = new MediaStream();
  pc.ontrack = (e) => {
    tracks.addTrack(e.track);
    video.srcObject = tracks;
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise<void>((done) => {
    if (pc.iceGatheringState === 'complete') return done();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && done());
    setTimeout(done, 2000);
  });
  const res = await fetch(`${API}${camera}/whep?token=${token}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp' },
    body: pc.localDescription!.sdp,
  });
  if (res.status !== 201) {
    pc.close();
    throw new Error(`whep ${res.status}`);
  }
  const session = res.headers.get('Location');
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  video.play().catch(() => {});
  return () => {
    pc.close();
    if (session) fetch(`${session}${session.includes('?') ? '&' : '?'}token=${token}`, { method: 'DELETE' }).catch(() => {});
  };
}

async function mse(video: HTMLVideoElement, camera: string, token: string): Promise<() => void> {
  if (typeof MediaSource === 'undefined') throw new Error('no MSE');
  const ms = new MediaSource();
  video.src = URL.createObjectURL(ms);
  await new Promise((r) => ms.addEventListener('sourceopen', r, { once: true }));
  const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}${API}${camera}/live.mp4?token=${token}`);
  ws.binaryType = 'arraybuffer';
  let sb: SourceBuffer | null = null;
  const queue: ArrayBuffer[] = [];
  const pump = () => {
    if (sb && !sb.updating && queue.length) sb.appendBuffer(queue.shift()!);
  };
  ws.onmessage = (m) => {
    if (typeof m.data === 'string') {
      const t = JSON.parse(m.data);
      if (!sb && t.codec) {
        sb = ms.addSourceBuffer(`video/mp4; codecs="${t.codec}"`);
        sb.addEventListener('updateend', () => {
          // Stay at the live edge: a little faster when behind, a jump when far behind.
          const b = video.buffered;
          const lag = b.length ? b.end(b.length - 1) - video.currentTime : 0;
          if (lag > 0.5) video.currentTime = b.end(b.length - 1) - 0.05;
          video.playbackRate = lag > 0.15 ? 1.1 : 1.0;
          pump();
        });
      }
      return;
    }
    queue.push(m.data);
    pump();
  };
  video.play().catch(() => {});
  return () => {
    ws.close();
    URL.revokeObjectURL(video.src);
  };
}

async function hls(video: HTMLVideoElement, url: string, live: boolean): Promise<() => void> {
  if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = url;
    video.play().catch(() => {});
    return () => video.removeAttribute('src');
  }
  const { default: Hls } = await import('hls.js');
  if (!Hls.isSupported()) throw new Error('no HLS');
  const player = new Hls({ lowLatencyMode: live });
  player.loadSource(url);
  player.attachMedia(video);
  video.play().catch(() => {});
  return () => player.destroy();
}

/** Resolves when `video` shows its first frame; rejects after `ms`. */
function firstFrame(video: HTMLVideoElement, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no frame in time')), ms);
    const check = () => {
      if (video.readyState >= 2 && video.videoWidth > 0) {
        clearTimeout(timer);
        resolve();
      } else setTimeout(check, 100);
    };
    check();
  });
}
