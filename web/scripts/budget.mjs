// Fails when the console's own code, gzipped, is over its budget. The video player library
// (hls.js, loaded only for the LL-HLS fallback and recorded playback) is counted apart.
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const BUDGET_KIB = 300;
const dir = new URL('../dist/assets/', import.meta.url).pathname;
let app = 0;
let players = 0;
for (const name of readdirSync(dir)) {
  const size = gzipSync(readFileSync(join(dir, name))).length;
  if (/^hls/i.test(name)) players += size;
  else app += size;
  console.log(`${name}\t${(size / 1024).toFixed(1)} KiB gzipped`);
}
console.log(`app: ${(app / 1024).toFixed(1)} KiB gzipped (budget ${BUDGET_KIB} KiB); video player: ${(players / 1024).toFixed(1)} KiB`);
if (app > BUDGET_KIB * 1024) {
  console.error(`over budget by ${((app - BUDGET_KIB * 1024) / 1024).toFixed(1)} KiB`);
  process.exit(1);
}
