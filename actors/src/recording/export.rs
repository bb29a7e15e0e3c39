//! Writing one export file: pass 1 reads each segment's sample table, trimmed to the range
//! (`media::export_trim`), into an [`Mp4Builder`]; pass 2 writes the header and then each segment's sample runs, hashing as it writes, and makes
//! the file durable. Segments are read one at a time through `read` (any copy the caller reaches),
//! so memory stays at one segment whatever the range. The node's export jobs and the export
//! benchmark both write through here.

use crate::export_signing::hex;
use crate::media::export_mp4::{Mp4Builder, SampleRun, scan_segment};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::path::Path;
use tokio::io::AsyncWriteExt;

/// A segment to export: its id (what `read` is given) and when its first frame was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportInput {
    /// Segment id.
    pub id: i64,
    /// Its first frame, in microseconds since the Unix epoch.
    pub start_micros: i64,
}

/// A written export file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenExport {
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// Writes the MP4 of `segments` (in order) to `out`, trimmed to `range` (microseconds since the
/// Unix epoch, from and to) when given: from the last keyframe at or before its start to the last
/// frame before its end. `read` gives a segment's whole file; `progress` is told how many of the
/// `2 × segments` steps are done now and then. The error says why, for the user.
pub async fn write_export<R, RF, P, PF>(
    segments: &[ExportInput],
    range: Option<(i64, i64)>,
    read: R,
    mut progress: P,
    out: &Path,
) -> Result<WrittenExport, String>
where
    R: Fn(i64) -> RF,
    RF: Future<Output = Result<bytes::Bytes, String>>,
    P: FnMut(usize) -> PF,
    PF: Future<Output = ()>,
{
    const PROGRESS_EVERY: usize = 10;
    let mut builder = Mp4Builder::default();
    let mut runs: Vec<Vec<SampleRun>> = Vec::with_capacity(segments.len());
    for (i, s) in segments.iter().enumerate() {
        let bytes = read(s.id).await?;
        let mut scanned = tokio::task::spawn_blocking(move || scan_segment(&bytes))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("segment {}: {e}", s.id))?;
        let skipped = match range {
            Some((from, to)) => scanned.trim(from - s.start_micros, to - s.start_micros),
            None => Some(0),
        };
        match skipped {
            Some(skipped) => {
                builder.push(&scanned, s.start_micros + skipped);
                runs.push(scanned.runs);
            }
            // Only its edge touches the range: nothing of it goes in.
            None => runs.push(Vec::new()),
        }
        if i % PROGRESS_EVERY == 0 {
            progress(i).await;
        }
    }
    if builder.samples() == 0 {
        return Err("no recorded frames in the range".into());
    }
    let header = builder.header().map_err(|e| e.to_string())?;
    let mut file = tokio::fs::File::create(out)
        .await
        .map_err(|e| format!("cannot create the export file: {e}"))?;
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    let mut write = async |chunk: &[u8]| -> Result<(), String> {
        hasher.update(chunk);
        written += u64::try_from(chunk.len()).unwrap_or(0);
        file.write_all(chunk)
            .await
            .map_err(|e| format!("cannot write the export file: {e}"))
    };
    write(&header).await?;
    for (i, (s, runs)) in segments.iter().zip(&runs).enumerate() {
        if runs.is_empty() {
            continue;
        }
        let bytes = read(s.id).await?;
        for run in runs {
            let range = usize::try_from(run.offset).unwrap_or(usize::MAX)
                ..usize::try_from(run.offset + run.len).unwrap_or(usize::MAX);
            let chunk = bytes
                .get(range)
                .ok_or_else(|| format!("segment {} changed while it was exported", s.id))?;
            write(chunk).await?;
        }
        if i % PROGRESS_EVERY == 0 {
            progress(segments.len() + i).await;
        }
    }
    file.sync_all()
        .await
        .map_err(|e| format!("cannot write the export file: {e}"))?;
    Ok(WrittenExport {
        bytes: written,
        sha256: hex(&hasher.finalize()),
    })
}
