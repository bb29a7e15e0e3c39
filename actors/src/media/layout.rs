//! Where a camera's segment files live: `<data>/segments/<tenant>/<camera>/<YYYY-MM-DD>/<seq>.<ext>`,
//! named by their sequence number, and how they are deleted.

use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// Where segments of one camera go and how they are numbered.
#[derive(Clone, Debug)]
pub struct SegmentLayout {
    /// `<data>/segments/<tenant>/<camera>`.
    pub camera_dir: PathBuf,
    /// Sequence number of the first segment written.
    pub first_seq: i64,
}

impl SegmentLayout {
    /// `<camera_dir>/<YYYY-MM-DD>/<seq>.<ext>`.
    pub fn path_with_ext(&self, seq: i64, at: DateTime<Utc>, ext: &str) -> PathBuf {
        self.camera_dir
            .join(at.format("%Y-%m-%d").to_string())
            .join(format!("{seq:010}.{ext}"))
    }
}

/// Deletes a file or a whole folder; a path already gone is not an error, anything else is logged.
pub fn remove_path(path: &Path) {
    let result = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    if let Err(e) = result
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot delete recording");
    }
}

/// Whether `path` lies inside `dir`, with no `..` on the way (a path read from the index is served
/// or read only then).
pub fn is_within(path: &Path, dir: &Path) -> bool {
    path.starts_with(dir)
        && !path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
}

/// Reads bytes `range` of the file at `path`, off the async runtime.
pub(crate) async fn read_range(
    path: PathBuf,
    range: std::ops::Range<u64>,
) -> std::io::Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::FileExt;
        let file = std::fs::File::open(&path)?;
        let mut buf = vec![0; usize::try_from(range.end - range.start).unwrap_or(0)];
        file.read_exact_at(&mut buf, range.start)?;
        Ok(buf)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Sequence number of a segment file, from its name (`0000000042.ts`).
pub(crate) fn seq_of(path: &Path) -> Option<i64> {
    path.file_stem()?.to_str()?.parse().ok()
}
