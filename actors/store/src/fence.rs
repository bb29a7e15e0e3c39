//! The SQL fence on a camera's writes: a segment or event written with an ownership epoch lands only
//! while that epoch is still the camera's (or, during a make-before-break handover, the one just before
//! it, until the handover ends).
//!
//! The check locks the camera's placement row (`FOR SHARE`). Without the lock a write whose snapshot
//! predates a committed move would still see the old row and land at the old epoch. With it, a write
//! that meets a move in progress waits for the move and then re-checks the row as the move left it
//! (PostgreSQL re-evaluates a locked row's condition on its newest version), so it is refused. A move
//! that meets a write in progress waits for the write, which then happened before the move.
//! `actors/tests/fence.rs` shows the difference.
//!
//! Tests can weaken the fence to show that their checks fail without it: [`set_test_mode`], or the
//! environment variable `VMS_TEST_FENCE` (`unlocked` or `off`) for a node process. Nothing else may.

use std::sync::atomic::{AtomicU8, Ordering};

/// How the fence checks a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FenceMode {
    /// The epoch is checked on the locked placement row (the only mode for production).
    Locked,
    /// Test only: the epoch is checked without the lock, so a write can race a move.
    Unlocked,
    /// Test only: every write lands whatever its epoch.
    Off,
}

const UNSET: u8 = u8::MAX;
static MODE: AtomicU8 = AtomicU8::new(UNSET);

fn encode(mode: FenceMode) -> u8 {
    match mode {
        FenceMode::Locked => 0,
        FenceMode::Unlocked => 1,
        FenceMode::Off => 2,
    }
}

/// Test only: weakens (or restores) the fence for this process.
pub fn set_test_mode(mode: FenceMode) {
    MODE.store(encode(mode), Ordering::SeqCst);
}

/// The fence in force: [`FenceMode::Locked`] unless a test weakened it.
pub fn mode() -> FenceMode {
    match MODE.load(Ordering::SeqCst) {
        0 => FenceMode::Locked,
        1 => FenceMode::Unlocked,
        2 => FenceMode::Off,
        _ => {
            let mode = match std::env::var("VMS_TEST_FENCE").as_deref() {
                Ok("unlocked") => FenceMode::Unlocked,
                Ok("off") => FenceMode::Off,
                _ => FenceMode::Locked,
            };
            if mode != FenceMode::Locked {
                tracing::warn!(
                    ?mode,
                    "VMS_TEST_FENCE weakens the ownership fence: for tests only"
                );
            }
            // A test's own choice, made meanwhile, wins.
            let _ = MODE.compare_exchange(UNSET, encode(mode), Ordering::SeqCst, Ordering::SeqCst);
            self::mode()
        }
    }
}

/// SQL condition: camera `camera` may be written by node `node` at ownership epoch `epoch` (all
/// three placeholders, e.g. `$1`); always when the epoch is null (cameras are not placed). The owner
/// writes at the camera's generation; the node handing it over writes at the generation before, until
/// its handover time ends.
pub(crate) fn owner_at_epoch(camera: &str, node: &str, epoch: &str) -> String {
    let lock = match mode() {
        FenceMode::Locked => " FOR SHARE OF p",
        FenceMode::Unlocked => "",
        FenceMode::Off => return "true".into(),
    };
    format!(
        "({epoch}::bigint IS NULL OR EXISTS (
            SELECT 1 FROM placement p WHERE p.camera_id = {camera} AND (
                (p.node_id = {node} AND p.generation = {epoch})
                OR (p.previous_node = {node} AND p.generation = {epoch} + 1 AND p.handover_until > now())){lock}))"
    )
}
