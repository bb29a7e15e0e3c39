//! Footage a node left on its own disk without an index row: the segment a crash cut off, the ones a
//! node frozen or cut off wrote (or could not index) before it fenced itself. Whoever records the
//! camera next cannot see these files; the node that wrote them indexes them when it is back (its
//! retention actor sweeps right after the node starts, then every `retention.interval_seconds`; a
//! camera actor starting here first indexes what its predecessor left), each at the ownership epoch
//! its number says, marked `recovered` when it ends before that epoch
//! passed on and `fenced` when it runs past it. Files no row holds are deleted once their day is past
//! the camera's retention, so nothing stays on disk unaccounted for.

use crate::clock::Clock;
use crate::context::NodeContext;
use crate::media::layout::{remove_path, seq_of};
use crate::media::recovery::recover_file;
use crate::ownership::Ownership;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use vms_messages::{CameraId, SegmentOrigin, TenantId};
use vms_store::{NewSegment, SEQ_BLOCK, StoreError};

/// A file of a camera this node does not record, untouched this long, is neither being written nor
/// waiting to be indexed by a segmenter here: a node handing a camera over writes its open file
/// once a second (a fragment), and indexes a closed one within a second unless the database is
/// away (and then this sweep cannot run either).
pub const ORPHAN_AGE: Duration = Duration::from_secs(20);

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrphanSweep {
    /// Files indexed as `recovered` (recorded while the camera was this node's).
    pub recovered: u64,
    /// Files indexed as `fenced` (recorded after the camera had moved on).
    pub fenced: u64,
    /// Files deleted: unreadable ones, and ones past retention that no row holds.
    pub removed: u64,
}

/// The folder of one camera's segments on this node: `<segments>/<tenant>/<camera>`.
pub(crate) struct CameraFolder {
    pub(crate) tenant: TenantId,
    pub(crate) camera: CameraId,
    pub(crate) path: PathBuf,
}

/// Sub-folders of `dir` whose names parse with `parse`, with their paths.
fn folders<T>(dir: &Path, parse: impl Fn(&str) -> Option<T>) -> Vec<(T, PathBuf)> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name();
            parse(name.to_str()?).map(|v| (v, e.path()))
        })
        .collect()
}

/// Every camera folder under the segments folder `root`.
pub(crate) fn camera_folders(root: &Path) -> Vec<CameraFolder> {
    let parse_id = |s: &str| uuid::Uuid::parse_str(s).ok();
    folders(root, parse_id)
        .into_iter()
        .flat_map(|(tenant, dir)| {
            folders(&dir, parse_id)
                .into_iter()
                .map(move |(camera, path)| CameraFolder {
                    tenant: TenantId(tenant),
                    camera: CameraId(camera),
                    path,
                })
        })
        .collect()
}

/// A camera's day folders (`YYYY-MM-DD`), oldest first.
pub(crate) fn day_folders(camera_dir: &Path) -> Vec<(NaiveDate, PathBuf)> {
    let mut days = folders(camera_dir, |s| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
    });
    days.sort();
    days
}

/// Segment files in `day` (named by their number), with their modification times.
pub(crate) fn segment_files(day: &Path) -> Vec<(i64, PathBuf, SystemTime)> {
    std::fs::read_dir(day)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let seq = seq_of(&path)?;
            let modified = e.metadata().ok()?.modified().ok()?;
            Some((seq, path, modified))
        })
        .collect()
}

/// The time range a day folder's segments can have: they start that day, and may start just before
/// midnight in the next day's folder's view of the clock.
fn day_range(day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    (
        start - chrono::Duration::hours(1),
        start + chrono::Duration::hours(25),
    )
}

/// The ownership epoch a segment numbered `seq` was recorded under: numbering starts at
/// `epoch * SEQ_BLOCK` with placement; none without (or for numbers from before placement).
fn epoch_of(placed: bool, seq: i64) -> Option<i64> {
    (placed && seq >= SEQ_BLOCK).then_some(seq / SEQ_BLOCK)
}

/// Sweeps this node's disk for orphaned segment files; see the module docs. The first sweep looks
/// at every camera's recent files modified before the node started. Later ones look only at cameras
/// that record elsewhere now (one recording here indexes its own when its actor starts), and skip a
/// camera whose folders have not changed since a sweep found every file there settled, so that a
/// sweep costs a folder listing per camera, not a look at every file.
pub struct OrphanSweeper {
    /// The cameras this node records.
    ownership: Arc<Ownership>,
    /// When this node started: older files are nothing this process writes.
    started: SystemTime,
    /// A sweep has completed since the node started.
    swept_once: bool,
    /// Per camera, the newest modification time of its recent day folders when a sweep last found
    /// all their files settled.
    quiet: HashMap<CameraId, SystemTime>,
    /// Where the sweep reads the time that files' ages and days' retention are judged against.
    clock: Arc<dyn Clock>,
}

impl OrphanSweeper {
    /// A sweeper for a node that started at `started` and records what `ownership` grants, reading
    /// time from `clock`.
    pub fn new(started: SystemTime, ownership: Arc<Ownership>, clock: Arc<dyn Clock>) -> Self {
        Self {
            ownership,
            started,
            swept_once: false,
            quiet: HashMap::new(),
            clock,
        }
    }

    /// Indexes this node's orphaned segment files and deletes the ones past retention.
    pub async fn sweep(&mut self, ctx: &NodeContext) -> Result<OrphanSweep, StoreError> {
        let root = ctx.config.segments_dir();
        let cameras = tokio::task::spawn_blocking(move || camera_folders(&root))
            .await
            .unwrap_or_default();
        if cameras.is_empty() {
            self.swept_once = true;
            return Ok(OrphanSweep::default());
        }
        let ids: Vec<CameraId> = cameras.iter().map(|c| c.camera).collect();
        let retention = ctx.store.retention_days(&ids).await?;
        let longest = ctx.store.longest_retention_days().await?;
        let now = self.clock.now();
        let settled = settled_before(self.started, now.into());
        let mut done = OrphanSweep::default();
        for folder in cameras {
            let path = folder.path.clone();
            let days = tokio::task::spawn_blocking(move || day_folders(&path))
                .await
                .unwrap_or_default();
            // A camera the database does not know (deleted, or this is the wrong database) is never
            // indexed; its files go only once past the longest retention any licence allows.
            let Some(keep) = retention.get(&folder.camera).copied().or(longest) else {
                continue;
            };
            for (day, dir) in &days {
                if day_expired(*day, keep, now) {
                    done.removed += delete_unindexed(ctx, &folder, *day, dir).await?;
                }
            }
            if !retention.contains_key(&folder.camera) {
                continue;
            }
            let owned = self.ownership.owns(folder.camera);
            if owned && self.swept_once {
                continue;
            }
            let changed = newest_change(&days);
            if !owned && changed.is_some() && self.quiet.get(&folder.camera) == changed.as_ref() {
                continue;
            }
            let before = if owned { self.started } else { settled };
            let placed = self.ownership.is_placed();
            let unsettled = index_recent(ctx, placed, &folder, &days, before, &mut done).await?;
            match changed {
                Some(at) if !unsettled && !owned => {
                    self.quiet.insert(folder.camera, at);
                }
                _ => {
                    self.quiet.remove(&folder.camera);
                }
            }
        }
        self.swept_once = true;
        if done != OrphanSweep::default() {
            tracing::info!(
                recovered = done.recovered,
                fenced = done.fenced,
                removed = done.removed,
                "orphaned segment files swept"
            );
        }
        Ok(done)
    }
}

/// Files modified before this are settled: neither written by this process (older than its start)
/// nor by a node handing the camera over (untouched for [`ORPHAN_AGE`]).
fn settled_before(started: SystemTime, now: SystemTime) -> SystemTime {
    started.max(now - ORPHAN_AGE)
}

/// Whether the day folder `day` is a whole day past a retention of `keep` days at `now`, with a
/// day's margin for segments ending after midnight.
pub(crate) fn day_expired(day: NaiveDate, keep: i32, now: DateTime<Utc>) -> bool {
    day + chrono::Days::new(u64::from(keep.unsigned_abs()) + 1) < now.date_naive()
}

/// The newest modification time of a camera's two newest day folders (a file created or deleted
/// there changes it).
fn newest_change(days: &[(NaiveDate, PathBuf)]) -> Option<SystemTime> {
    days.iter()
        .rev()
        .take(2)
        .filter_map(|(_, dir)| std::fs::metadata(dir).ok()?.modified().ok())
        .max()
}

/// Indexes the orphaned files of one camera, modified before `before`, when its actor starts here:
/// what its last actor on this node left (killed, or the node crashed) is indexed before it records.
pub async fn index_camera(
    ctx: &NodeContext,
    ownership: &Ownership,
    tenant: TenantId,
    camera: CameraId,
    before: SystemTime,
) -> Result<OrphanSweep, StoreError> {
    let folder = CameraFolder {
        tenant,
        camera,
        path: ctx.camera_dir(tenant, camera),
    };
    let path = folder.path.clone();
    let days = tokio::task::spawn_blocking(move || day_folders(&path))
        .await
        .unwrap_or_default();
    let mut done = OrphanSweep::default();
    index_recent(
        ctx,
        ownership.is_placed(),
        &folder,
        &days,
        before,
        &mut done,
    )
    .await?;
    Ok(done)
}

/// Orphans are recent: indexes the unindexed files of the two newest day folders. Whether a file
/// there was too recent to judge.
async fn index_recent(
    ctx: &NodeContext,
    placed: bool,
    folder: &CameraFolder,
    days: &[(NaiveDate, PathBuf)],
    before: SystemTime,
    done: &mut OrphanSweep,
) -> Result<bool, StoreError> {
    let mut unsettled = false;
    for (day, dir) in days.iter().rev().take(2) {
        unsettled |= index_unindexed(ctx, placed, folder, *day, dir, before, done).await?;
    }
    Ok(unsettled)
}

/// The files of `dir` (among `files`) that have no row of this node.
async fn unindexed(
    ctx: &NodeContext,
    folder: &CameraFolder,
    day: NaiveDate,
    files: Vec<(i64, PathBuf, SystemTime)>,
) -> Result<Vec<(i64, PathBuf, SystemTime)>, StoreError> {
    let (from, to) = day_range(day);
    let paths: Vec<String> = files
        .iter()
        .map(|(_, p, _)| p.to_string_lossy().into_owned())
        .collect();
    let indexed: HashSet<String> = ctx
        .store
        .indexed_paths(folder.camera, ctx.node_id(), from, to, &paths)
        .await?;
    Ok(files
        .into_iter()
        .filter(|(_, p, _)| !indexed.contains(p.to_string_lossy().as_ref()))
        .collect())
}

/// Deletes the files of a day past retention that no row holds (rows go with their files through
/// the retention sweep), and the folder once empty.
pub(crate) async fn delete_unindexed(
    ctx: &NodeContext,
    folder: &CameraFolder,
    day: NaiveDate,
    dir: &Path,
) -> Result<u64, StoreError> {
    let d = dir.to_path_buf();
    let files = tokio::task::spawn_blocking(move || segment_files(&d))
        .await
        .unwrap_or_default();
    let orphans = unindexed(ctx, folder, day, files).await?;
    let n = u64::try_from(orphans.len()).unwrap_or(u64::MAX);
    let dir = dir.to_path_buf();
    let camera = folder.camera;
    tokio::task::spawn_blocking(move || {
        for (_, path, _) in orphans {
            tracing::info!(camera_id = %camera, path = %path.display(), "segment file past retention with no index row; deleted");
            remove_path(&path);
        }
        // Gone only when empty.
        let _ = std::fs::remove_dir(&dir);
    })
    .await
    .unwrap_or_default();
    Ok(n)
}

/// Indexes the files of a recent day folder, modified before `before`, that have no row; whether a
/// file there was modified later (too recent to judge).
async fn index_unindexed(
    ctx: &NodeContext,
    placed: bool,
    folder: &CameraFolder,
    day: NaiveDate,
    dir: &Path,
    before: SystemTime,
    done: &mut OrphanSweep,
) -> Result<bool, StoreError> {
    let d = dir.to_path_buf();
    let (files, recent): (Vec<_>, Vec<_>) = tokio::task::spawn_blocking(move || segment_files(&d))
        .await
        .unwrap_or_default()
        .into_iter()
        .partition(|(_, _, modified)| *modified < before);
    let unsettled = !recent.is_empty();
    if files.is_empty() {
        return Ok(unsettled);
    }
    for (seq, path, modified) in unindexed(ctx, folder, day, files).await? {
        let Some(seg) = recovered_row(folder, seq, &path, modified).await else {
            tracing::warn!(path = %path.display(), "unreadable segment file left behind; removed");
            remove_path(&path);
            done.removed += 1;
            continue;
        };
        let epoch = epoch_of(placed, seq);
        match ctx
            .store
            .insert_recovered_segment(&seg, ctx.node_id(), epoch)
            .await
        {
            Ok((segment, _)) => {
                tracing::info!(camera_id = %folder.camera, seq = segment.seq, ?epoch, origin = segment.origin.as_str(), path = %path.display(), "orphaned segment file indexed");
                match segment.origin {
                    SegmentOrigin::Fenced => done.fenced += 1,
                    _ => done.recovered += 1,
                }
            }
            Err(e) if e.is_unavailable() => return Err(e),
            Err(e) => {
                // Never given that epoch, or the camera is gone: the file stays until retention.
                tracing::warn!(camera_id = %folder.camera, seq, path = %path.display(), error = %e, "orphaned segment file not indexed");
            }
        }
    }
    Ok(unsettled)
}

/// The row of `folder`'s file `path` (numbered `seq`, last modified at `modified`) left without one:
/// the file read back and cut at its last whole fragment; `None` when it cannot be read.
pub(crate) async fn recovered_row(
    folder: &CameraFolder,
    seq: i64,
    path: &Path,
    modified: SystemTime,
) -> Option<NewSegment> {
    let p = path.to_path_buf();
    let file = tokio::task::spawn_blocking(move || {
        let meta = std::fs::metadata(&p).ok()?;
        recover_file(&p, modified, meta.created().ok())
    })
    .await
    .unwrap_or(None)?;
    Some(NewSegment {
        camera_id: folder.camera,
        tenant_id: folder.tenant,
        seq,
        start: file.start,
        end: file.end,
        bytes: i64::try_from(file.bytes).unwrap_or(i64::MAX),
        path: path.to_path_buf(),
        media: file.media,
    })
}

/// The highest segment number among a camera's files in its two newest day folders (0 when none):
/// a camera actor numbers on after it, so a new segment never overwrites a file not yet indexed.
pub fn highest_seq_on_disk(camera_dir: &Path) -> i64 {
    day_folders(camera_dir)
        .iter()
        .rev()
        .take(2)
        .flat_map(|(_, dir)| segment_files(dir))
        .map(|(seq, _, _)| seq)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimulatedClock;

    #[test]
    fn a_file_settles_once_untouched_for_the_orphan_age_in_simulated_time() {
        let clock = SimulatedClock::default();
        let started = SystemTime::from(clock.now()) - Duration::from_secs(3600);
        let written = SystemTime::from(clock.now());
        let settled =
            |clock: &SimulatedClock| written < settled_before(started, clock.now().into());
        assert!(!settled(&clock), "a file just written is not settled");
        clock.advance(ORPHAN_AGE - Duration::from_secs(1));
        assert!(!settled(&clock), "nor one second before the orphan age");
        clock.advance(Duration::from_secs(2));
        assert!(settled(&clock), "it is once untouched for the orphan age");
    }

    #[test]
    fn nothing_this_process_wrote_settles_before_the_orphan_age_in_simulated_time() {
        let clock = SimulatedClock::default();
        let started = SystemTime::from(clock.now());
        clock.advance(Duration::from_secs(5));
        let before_start = started - Duration::from_secs(1);
        let after_start = started + Duration::from_secs(1);
        let cut = settled_before(started, clock.now().into());
        assert!(
            before_start < cut,
            "files older than the process are settled"
        );
        assert!(after_start >= cut, "its own recent files are not");
        clock.advance(ORPHAN_AGE);
        assert!(after_start < settled_before(started, clock.now().into()));
    }

    #[test]
    fn a_day_folder_expires_a_whole_day_past_retention_in_simulated_time() {
        let clock = SimulatedClock::default();
        let day = clock.now().date_naive();
        const DAY: Duration = Duration::from_secs(86_400);
        clock.advance(2 * DAY);
        assert!(
            !day_expired(day, 1, clock.now()),
            "a day's margin after retention"
        );
        clock.advance(DAY);
        assert!(day_expired(day, 1, clock.now()));
        assert!(
            !day_expired(day, 7, clock.now()),
            "a longer retention keeps it"
        );
    }
}
