// Export a range of one camera: progress while the node writes the MP4, then the file and its
// signed manifest.

import { useEffect, useState } from 'preact/hooks';
import { client } from '../app';
import type { Export } from '../api/types';
import { Field, FormError } from '../ui/components';
import { bytes, toLocalInput } from '../ui/format';
import { useAction } from '../ui/hooks';

/** Saves what `path` answers as a file named `name` (the request carries the access token). */
export async function download(path: string, name: string): Promise<void> {
  const res = await client.stream(path.replace(/^\/api\/v1/, ''));
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The export form and the export it made. */
export function ExportPanel({ camera, range }: { camera: string; range: [Date, Date] | null }) {
  const now = Date.now();
  const [from, setFrom] = useState(toLocalInput(now - 60_000));
  const [to, setTo] = useState(toLocalInput(now));
  const [reason, setReason] = useState('');
  const [job, setJob] = useState<Export | null>(null);
  useEffect(() => {
    if (range) {
      setFrom(toLocalInput(range[0].getTime()));
      setTo(toLocalInput(range[1].getTime()));
    }
  }, [range?.[0].getTime(), range?.[1].getTime()]);
  const start = useAction(async () => {
    const made = await client.post<Export>('/exports', {
      camera_id: camera,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      reason: reason || undefined,
    });
    setJob(made);
  });
  useEffect(() => {
    if (!job || job.state === 'done' || job.state === 'failed') return;
    const timer = setTimeout(() => client.get<Export>(`/exports/${job.id}`).then(setJob, () => {}), 1000);
    return () => clearTimeout(timer);
  }, [job]);
  const file = job?.files[0];
  return (
    <section class="panel" aria-labelledby="ex-title">
      <h2 id="ex-title">Export</h2>
      <form class="row" onSubmit={(e) => (e.preventDefault(), start.run())}>
        <Field label="From">
          <input name="from" type="datetime-local" step={1} required value={from} onInput={(e) => setFrom((e.target as HTMLInputElement).value)} />
        </Field>
        <Field label="To">
          <input name="to" type="datetime-local" step={1} required value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} />
        </Field>
        <Field label="Reason">
          <input name="reason" maxLength={500} value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
        </Field>
        <button type="submit" disabled={start.busy || (job !== null && job.state !== 'done' && job.state !== 'failed')}>
          Export
        </button>
      </form>
      <FormError error={start.error} />
      {job && (
        <div class="export-job" aria-live="polite">
          <progress max={100} value={job.progress_percent} aria-label="Export progress" /> {job.state} {job.progress_percent}%
          {file?.error && <p class="error">{file.error}</p>}
          {job.state === 'done' && file && (
            <p>
              <button type="button" class="primary" data-download="media" onClick={() => download(file.download_url, `export-${job.id}.mp4`)}>
                Download MP4 ({bytes(file.bytes)})
              </button>{' '}
              <button type="button" data-download="manifest" onClick={() => download(file.manifest_url, `export-${job.id}.manifest.json`)}>
                Signed manifest
              </button>
            </p>
          )}
        </div>
      )}
    </section>
  );
}
