"""Plays a camera's live video in Debian's Chromium (headless, driven by Playwright) over WebRTC
(WHEP), MSE (fMP4 over a WebSocket) or LL-HLS (hls.js), and prints one JSON object: whether the video played
(`currentTime` advancing), whether its pixels were not black, and latency samples.

Latency: over MSE a frame's media time is its wall-clock arrival at the node (the node puts
90 kHz ticks since the epoch in `tfdt`), so `Date.now() - currentTime` is how long the node and
the browser held it. Over WebRTC the RTP timestamp of each shown frame (requestVideoFrameCallback)
is the same clock modulo 2^32, compared with the time it was shown.

Audio, when the camera sends it: over WebRTC the inbound audio RTP stream's packets and codec
(`getStats`), over MSE and LL-HLS the bytes of audio the element decoded
(`webkitAudioDecodedByteCount`).

Over LL-HLS, hls.js's `playingDate` (from `EXT-X-PROGRAM-DATE-TIME`) is compared with the clock.

With `clock` (a camera on the simulator's /clock0), each shown frame's painted time is read back
from the picture and compared with when it was shown: glass to glass (`glass_ms`).

Usage: live_view.py BASE CAMERA TOKEN webrtc|mse|hls|seek SECONDS [clock]
"""

import json
import pathlib
import sys
import time

from playwright.sync_api import sync_playwright

# hls.js from npm (nodes/tests/browser/package.json; `npm ci` there, which scripts/setup.sh runs).
HLS_JS = pathlib.Path(__file__).parent / "node_modules" / "hls.js" / "dist" / "hls.min.js"

PAGE = """<!doctype html><html><body>
<video id="v" autoplay muted playsinline width="320" height="180"></video>
<canvas id="c" width="64" height="36"></canvas>
</body></html>"""

SETUP = """
async ({camera, token, mode, clock}) => {
  const v = document.getElementById('v');
  window.__lat = [];
  window.__err = null;
  const api = `/api/v1/cameras/${camera}`;
  if (mode === 'mse') {
    const ms = new MediaSource();
    v.src = URL.createObjectURL(ms);
    await new Promise(r => ms.addEventListener('sourceopen', r, {once: true}));
    const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}${api}/live.mp4?token=${token}`);
    ws.binaryType = 'arraybuffer';
    let sb = null;
    const queue = [];
    const pump = () => { if (sb && !sb.updating && queue.length) sb.appendBuffer(queue.shift()); };
    ws.onmessage = (m) => {
      if (typeof m.data === 'string') {
        const t = JSON.parse(m.data);
        if (!sb) {
          sb = ms.addSourceBuffer(`video/mp4; codecs="${t.codec}"`);
          // Stay at the live edge: catch up a little by playing faster, a lot by jumping.
          sb.addEventListener('updateend', () => {
            const b = v.buffered;
            const lag = b.length ? b.end(b.length - 1) - v.currentTime : 0;
            if (lag > 0.5) v.currentTime = b.end(b.length - 1) - 0.05;
            v.playbackRate = lag > 0.15 ? 1.1 : 1.0;
            pump();
          });
        }
        return;
      }
      queue.push(m.data);
      pump();
    };
    let received = 0;
    ws.addEventListener('message', () => { received += 1; });
    ws.onclose = (e) => { window.__err = `websocket closed (${e.code} ${e.reason}) after ${received} messages`; };
    window.__ws = ws;
    const sample = () => {
      if (v.currentTime > 1e9) window.__lat.push(Date.now() - v.currentTime * 1000);
      setTimeout(sample, 100);
    };
    sample();
  } else if (mode === 'seek') {
    // Recorded video: the last 20 s but 3 as a VOD playlist; a seek every 1.5 s to a random
    // moment, timed from setting currentTime to the first frame shown after 'seeked'.
    const iso = (ms) => new Date(ms).toISOString();
    const range = `from=${iso(Date.now() - 20000)}&to=${iso(Date.now() - 3000)}`;
    const hls = new Hls();
    hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) window.__err = `hls.js ${d.type}: ${d.details}`; });
    hls.loadSource(`${api}/playlist.m3u8?${range}&token=${token}`);
    hls.attachMedia(v);
    window.__seek = [];
    await new Promise(r => v.addEventListener('canplay', r, {once: true}));
    const seekOnce = () => {
      const at = Math.random() * Math.max(0, v.duration - 1);
      const asked = performance.now();
      v.addEventListener('seeked', () => {
        v.requestVideoFrameCallback((now, md) => {
          window.__seek.push(md.expectedDisplayTime - asked);
          setTimeout(seekOnce, 1500);
        });
      }, {once: true});
      v.currentTime = at;
    };
    seekOnce();
  } else if (mode === 'hls') {
    const hls = new Hls({lowLatencyMode: true});
    hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) window.__err = `hls.js ${d.type}: ${d.details}`; });
    hls.loadSource(`${api}/live/index.m3u8?token=${token}`);
    hls.attachMedia(v);
    const sample = () => {
      if (hls.playingDate) window.__lat.push(Date.now() - hls.playingDate.getTime());
      setTimeout(sample, 100);
    };
    sample();
  } else {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', {direction: 'recvonly'});
    pc.addTransceiver('audio', {direction: 'recvonly'});
    const tracks = new MediaStream();
    pc.ontrack = (e) => { tracks.addTrack(e.track); v.srcObject = tracks; };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise(r => {
      if (pc.iceGatheringState === 'complete') return r();
      pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') r(); });
      setTimeout(r, 2000);
    });
    const resp = await fetch(`${api}/whep?token=${token}`, {
      method: 'POST', headers: {'Content-Type': 'application/sdp'}, body: pc.localDescription.sdp});
    if (resp.status !== 201) { window.__err = `whep ${resp.status}: ${await resp.text()}`; return; }
    await pc.setRemoteDescription({type: 'answer', sdp: await resp.text()});
    window.__pc = pc;
    const onFrame = (now, md) => {
      if (md.rtpTimestamp !== undefined) {
        const shown = performance.timeOrigin + md.presentationTime;
        const nowTicks = Math.floor(shown * 90) % 4294967296;
        let d = (nowTicks - md.rtpTimestamp) % 4294967296;
        if (d < 0) d += 4294967296;
        window.__lat.push(d / 90);
      }
      v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
  }
  if (clock) {
    // The simulator's /clock0 paints its clock's milliseconds as 32 blocks, and their inverse
    // below (sim_clock.rs); a frame counts when both rows agree.
    const c = document.createElement('canvas');
    c.width = 640; c.height = 360;
    const g = c.getContext('2d', {willReadFrequently: true});
    window.__g2g = [];
    const read = (top) => {
      const d = g.getImageData(0, top + 20, 640, 1).data;
      let bits = 0;
      for (let b = 0; b < 32; b++) bits = ((bits << 1) | (d[(b * 20 + 10) * 4] > 128 ? 1 : 0)) >>> 0;
      return bits;
    };
    const onClock = (now, md) => {
      g.drawImage(v, 0, 0, 640, 360);
      const t = read(40);
      if (((~read(100)) >>> 0) === t) {
        // When it is shown, on the wall clock the simulator painted with.
        const shown = Date.now() + (md.expectedDisplayTime - performance.now());
        let d = (Math.floor(shown) - t) % 4294967296;
        if (d > 2147483647) d -= 4294967296;
        if (d < -2147483648) d += 4294967296;
        window.__g2g.push(d);
      }
      v.requestVideoFrameCallback(onClock);
    };
    v.requestVideoFrameCallback(onClock);
  }
  v.play().catch(() => {});
}
"""

PROBE = """
() => {
  const v = document.getElementById('v');
  const c = document.getElementById('c');
  const g = c.getContext('2d');
  let luma = 0;
  if (v.videoWidth > 0) {
    g.drawImage(v, 0, 0, c.width, c.height);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 4) luma += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    luma /= d.length / 4;
  }
  return {t: v.currentTime, w: v.videoWidth, h: v.videoHeight, luma, err: window.__err};
}
"""

AUDIO = """
async () => {
  const v = document.getElementById('v');
  const out = {decoded_bytes: v.webkitAudioDecodedByteCount || 0, packets: 0, codec: null};
  if (window.__pc) {
    const stats = await window.__pc.getStats();
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        out.packets += s.packetsReceived || 0;
        const c = s.codecId && stats.get(s.codecId);
        if (c) out.codec = c.mimeType;
      }
    });
  }
  return out;
}
"""


def main():
    base, camera, token, mode, seconds = sys.argv[1:6]
    clock = len(sys.argv) > 6 and sys.argv[6] == "clock"
    seconds = float(seconds)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            # The test page is fulfilled by Playwright, not served by the node, so Chromium's
            # local-network checks would take it for a public page calling a loopback address.
            args=["--autoplay-policy=no-user-gesture-required", "--no-sandbox",
                  "--disable-features=LocalNetworkAccessChecks"],
        )
        page = browser.new_page()
        page.route(f"{base}/__live_view.html",
                   lambda route: route.fulfill(status=200, content_type="text/html", body=PAGE))
        page.goto(f"{base}/__live_view.html")
        if mode in ("hls", "seek"):
            page.add_script_tag(path=str(HLS_JS))
        started = time.time()
        page.evaluate(SETUP, {"camera": camera, "token": token, "mode": mode, "clock": clock})
        first_frame = None
        samples = []
        while time.time() - started < seconds:
            s = page.evaluate(PROBE)
            samples.append(s)
            if first_frame is None and s["w"] > 0 and s["t"] > 0:
                first_frame = time.time() - started
            if s["err"]:
                break
            time.sleep(0.25)
        audio = page.evaluate(AUDIO)
        latency = page.evaluate("() => window.__lat")
        glass = page.evaluate("() => window.__g2g || []")
        seeks = page.evaluate("() => window.__seek || []")
        browser.close()
    played = [s for s in samples if s["w"] > 0]
    advanced = len(played) >= 2 and played[-1]["t"] > played[0]["t"] + 0.5
    # Skip the first second: the first group of pictures plays out then.
    def percentiles(samples, skip_start=True):
        kept = sorted(samples[len(samples) // 5:] if skip_start else samples)
        pick = (lambda q: kept[min(len(kept) - 1, int(q * len(kept)))] if kept else None)
        return {"n": len(kept), "p50": pick(0.5), "p95": pick(0.95)}
    print(json.dumps({
        "mode": mode,
        "played": advanced,
        "first_frame_s": first_frame,
        "width": played[-1]["w"] if played else 0,
        "height": played[-1]["h"] if played else 0,
        "luma": max((s["luma"] for s in played), default=0),
        "error": next((s["err"] for s in samples if s["err"]), None),
        "latency_ms": percentiles(latency),
        "glass_ms": percentiles(glass),
        "seek_ms": percentiles(seeks, skip_start=False),
        "audio": audio,
    }))


if __name__ == "__main__":
    main()
