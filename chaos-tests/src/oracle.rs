//! Oracles over the store: what must never be found after a scenario, whatever the faults were.

use std::time::Duration;

/// SQL expression over row `w` of `table`: the node that recorded it (a segment a standby indexed
/// from its copy names the node that recorded it in `recorded_by`).
fn recorder(table: &str) -> &'static str {
    if table == "segments" {
        "coalesce(w.recorded_by, w.node)"
    } else {
        "w.node"
    }
}

/// Rows of `table` (`segments` or `events`) written with an ownership epoch the node that recorded
/// them was never given for that camera (a stale owner's write that got through).
async fn stale_epoch_rows(db: &tokio_postgres::Client, table: &str) -> anyhow::Result<i64> {
    let who = recorder(table);
    Ok(db
        .query_one(
            &format!(
                "SELECT count(*) FROM {table} w WHERE w.epoch IS NOT NULL AND NOT EXISTS (
                   SELECT 1 FROM placement_moves m
                   WHERE m.camera_id = w.camera_id AND m.generation = w.epoch AND m.to_node = {who})"
            ),
            &[],
        )
        .await?
        .get(0))
}

/// Segments written with an ownership epoch their node was never given. Must be 0.
pub async fn stale_epoch_segments(db: &tokio_postgres::Client) -> anyhow::Result<i64> {
    stale_epoch_rows(db, "segments").await
}

/// Events written with an ownership epoch their node was never given. Must be 0.
pub async fn stale_epoch_events(db: &tokio_postgres::Client) -> anyhow::Result<i64> {
    stale_epoch_rows(db, "events").await
}

/// Rows of `table` (those matching `which`) written at `written` (an SQL expression: the database's
/// clock for a live write) outside the time their epoch was their node's: before the move that gave
/// it, or after the camera's next move, allowing
/// `slack` for a write racing the move and, when that move was a make-before-break handover from this
/// node, the handover's time limit. Writes at an epoch the node *was* given, but landing after it had
/// passed on, are exactly what the SQL fence refuses; the never-given check above cannot see them.
async fn rows_outside_their_epoch(
    db: &tokio_postgres::Client,
    table: &str,
    written: &str,
    which: &str,
    slack: Duration,
) -> anyhow::Result<Vec<String>> {
    let who = recorder(table);
    let rows = db
        .query(
            &format!(
                "SELECT w.camera_id::text, {who}, w.epoch, ({written})::text, given.at::text,
                        next.at::text, next.reason
                 FROM {table} w
                 JOIN LATERAL (SELECT m.at FROM placement_moves m
                               WHERE m.camera_id = w.camera_id AND m.generation = w.epoch
                                 AND m.to_node = {who} ORDER BY m.id LIMIT 1) given ON true
                 LEFT JOIN LATERAL (SELECT m.at, m.reason, m.from_node FROM placement_moves m
                                    WHERE m.camera_id = w.camera_id AND m.generation > w.epoch
                                    ORDER BY m.generation, m.id LIMIT 1) next ON true
                 WHERE w.epoch IS NOT NULL AND {which} AND (
                   {written} < given.at - make_interval(secs => $1)
                   OR {written} > next.at + make_interval(secs => CASE
                        WHEN next.reason IN ('rebalance', 'drain') AND next.from_node = {who}
                        THEN $2 ELSE $1 END))"
            ),
            &[
                &slack.as_secs_f64(),
                &vms_store::HANDOVER_LIMIT.as_secs_f64(),
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            format!(
                "{table} of camera {} by {} at epoch {:?} written {}; epoch given {}, next move {:?} ({:?})",
                r.get::<_, String>(0),
                r.get::<_, String>(1),
                r.get::<_, Option<i64>>(2),
                r.get::<_, String>(3),
                r.get::<_, String>(4),
                r.get::<_, Option<String>>(5),
                r.get::<_, Option<String>>(6),
            )
        })
        .collect())
}

/// Segments and events written while their epoch was not their node's, described. Must be empty.
/// A live segment is judged by when it was indexed; one recovered later from a file its node left
/// behind, by when that file ends (it must have been recorded within its epoch); one marked fenced
/// (recorded past its epoch, and labelled so) is not judged.
pub async fn writes_outside_their_epoch(
    db: &tokio_postgres::Client,
) -> anyhow::Result<Vec<String>> {
    let mut found = rows_outside_their_epoch(
        db,
        "segments",
        "CASE WHEN w.origin = 'live' THEN w.indexed_at ELSE w.end_ts END",
        "w.origin <> 'fenced'",
        WRITE_SLACK,
    )
    .await?;
    found
        .extend(rows_outside_their_epoch(db, "events", "w.created_at", "true", WRITE_SLACK).await?);
    Ok(found)
}

/// How far a write may land from the move that ends its epoch: a write racing a move in the same
/// instant (the move waits for its lock).
pub const WRITE_SLACK: Duration = Duration::from_secs(1);

/// Pairs of segments of one camera, indexed by two nodes, that overlap by more than `slack` in time
/// without a make-before-break handover (a rebalance or drain move) explaining it, described. Must be
/// empty: a camera is recorded by two nodes only while it is handed over (segments marked fenced,
/// recorded by a node after its camera moved on, overlap by definition and are not counted).
pub async fn overlapping_ownership(
    db: &tokio_postgres::Client,
    slack: Duration,
) -> anyhow::Result<Vec<String>> {
    let rows = db
        .query(
            "SELECT a.camera_id::text, a.node, a.epoch, a.start_ts::text, a.end_ts::text,
                    b.node, b.epoch, b.start_ts::text, b.end_ts::text,
                    (SELECT string_agg(m.generation || ':' || coalesce(m.from_node, '-') || '>' || m.to_node
                                       || ' ' || m.reason || ' ' || m.at::text, '; ' ORDER BY m.id)
                     FROM placement_moves m WHERE m.camera_id = a.camera_id)
             FROM segments a JOIN segments b
               ON a.camera_id = b.camera_id AND a.node < b.node
              AND a.start_ts < b.end_ts - make_interval(secs => $1)
              AND b.start_ts < a.end_ts - make_interval(secs => $1)
             WHERE a.origin <> 'fenced' AND b.origin <> 'fenced' AND NOT EXISTS (
               SELECT 1 FROM placement_moves m
               WHERE m.camera_id = a.camera_id AND m.reason IN ('rebalance', 'drain')
                 AND m.at BETWEEN least(a.start_ts, b.start_ts) - interval '40 seconds'
                              AND greatest(a.end_ts, b.end_ts))",
            &[&slack.as_secs_f64()],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            format!(
                "camera {}: {} (epoch {:?}) {}..{} and {} (epoch {:?}) {}..{}; moves: {}",
                r.get::<_, String>(0),
                r.get::<_, String>(1),
                r.get::<_, Option<i64>>(2),
                r.get::<_, String>(3),
                r.get::<_, String>(4),
                r.get::<_, String>(5),
                r.get::<_, Option<i64>>(6),
                r.get::<_, String>(7),
                r.get::<_, String>(8),
                r.get::<_, Option<String>>(9).unwrap_or_default()
            )
        })
        .collect())
}

/// The longest time of `camera` between `from` and `to` (seconds since the epoch) that no indexed
/// segment covers, whichever node recorded it.
pub async fn longest_gap(
    db: &tokio_postgres::Client,
    camera: &str,
    from: f64,
    to: f64,
) -> anyhow::Result<f64> {
    let rows = db
        .query(
            "SELECT extract(epoch FROM start_ts)::float8, extract(epoch FROM end_ts)::float8
             FROM segments WHERE camera_id = $1::text::uuid
               AND end_ts >= to_timestamp($2) AND start_ts <= to_timestamp($3)
             ORDER BY start_ts",
            &[&camera, &from, &to],
        )
        .await?;
    let mut covered = from;
    let mut gap: f64 = 0.0;
    for r in rows {
        let (start, end): (f64, f64) = (r.get(0), r.get(1));
        gap = gap.max(start - covered);
        covered = covered.max(end);
    }
    Ok(gap.max(to - covered))
}

/// The gap a fault at `fault` (seconds since the Unix epoch) left in `camera`: from the end of the
/// last segment that began before the fault (of `node` only, when given) to the start of the first
/// segment of the camera's new owner (the node the first move after the fault gave it to). `None`
/// until both exist.
async fn gap_after(
    db: &tokio_postgres::Client,
    camera: &str,
    node: Option<&str>,
    fault: f64,
) -> anyhow::Result<Option<f64>> {
    Ok(db
        .query_one(
            "SELECT extract(epoch FROM
               (SELECT min(s.start_ts) FROM segments s
                WHERE s.camera_id = $1::text::uuid AND s.start_ts > to_timestamp($3) - interval '1 second'
                  AND s.node = (SELECT m.to_node FROM placement_moves m
                                WHERE m.camera_id = $1::text::uuid AND m.at > to_timestamp($3)
                                ORDER BY m.id LIMIT 1))
               - (SELECT max(end_ts) FROM segments WHERE camera_id = $1::text::uuid
                  AND ($2::text IS NULL OR node = $2) AND start_ts < to_timestamp($3)))::float8",
            &[&camera, &node, &fault],
        )
        .await?
        .get(0))
}

/// The recording gap a fault on `node` left in `camera` ([`gap_after`] from `node`'s segments).
/// This is what a user loses while `node`'s unindexed footage is nowhere else.
pub async fn recording_gap(
    db: &tokio_postgres::Client,
    camera: &str,
    node: &str,
    fault: f64,
) -> anyhow::Result<Option<f64>> {
    gap_after(db, camera, Some(node), fault).await
}

/// The footage gap a fault left in `camera`, whoever holds the footage: [`gap_after`] from any
/// node's segments (the faulty node's, or its standby's copies of them).
pub async fn footage_gap(
    db: &tokio_postgres::Client,
    camera: &str,
    fault: f64,
) -> anyhow::Result<Option<f64>> {
    gap_after(db, camera, None, fault).await
}

/// Waits (at most `deadline`) for [`recording_gap`] of each of `cameras`.
pub async fn recording_gaps(
    db: &tokio_postgres::Client,
    cameras: &[String],
    node: &str,
    fault: f64,
    deadline: Duration,
) -> anyhow::Result<Vec<f64>> {
    let mut gaps = Vec::new();
    for cam in cameras {
        let gap = vms_testkit::wait_for(
            &format!("camera {cam} recorded on both sides of the fault"),
            deadline,
            || async move { recording_gap(db, cam, node, fault).await },
        )
        .await?;
        gaps.push(gap);
    }
    Ok(gaps)
}

/// A fault on one node, for measuring the recording gaps it left later on.
#[derive(Clone, Debug)]
pub struct Fault {
    /// The node's id.
    pub node: String,
    /// Its cameras when the fault came.
    pub cameras: Vec<String>,
    /// When (seconds since the Unix epoch, the database's clock).
    pub at: f64,
}

/// The recording gap of every moved camera of every fault, as the store has it now.
pub async fn gaps_now(db: &tokio_postgres::Client, faults: &[Fault]) -> anyhow::Result<Vec<f64>> {
    let mut gaps = Vec::new();
    for f in faults {
        for cam in &f.cameras {
            if let Some(g) = recording_gap(db, cam, &f.node, f.at).await? {
                gaps.push(g);
            }
        }
    }
    Ok(gaps)
}

/// Segments indexed twice: two rows of one camera starting within 100 ms of each other from the same
/// node. Must be 0.
pub async fn duplicate_segments(db: &tokio_postgres::Client) -> anyhow::Result<i64> {
    Ok(db
        .query_one(
            "SELECT count(*) FROM segments a JOIN segments b
               ON a.camera_id = b.camera_id AND a.node = b.node AND a.id < b.id
              AND abs(extract(epoch FROM a.start_ts - b.start_ts)) < 0.1",
            &[],
        )
        .await?
        .get(0))
}

/// Events written under an ownership epoch, and how many nodes wrote them: what the events oracles
/// judge. A scenario that means them to judge something asserts it is not nothing.
pub async fn judged_events(db: &tokio_postgres::Client) -> anyhow::Result<(i64, i64)> {
    let row = db
        .query_one(
            "SELECT count(*), count(DISTINCT node) FROM events WHERE epoch IS NOT NULL",
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// Seconds since the Unix epoch, now, by the database's clock.
pub async fn db_now(db: &tokio_postgres::Client) -> anyhow::Result<f64> {
    Ok(db
        .query_one("SELECT extract(epoch FROM now())::float8", &[])
        .await?
        .get(0))
}

/// Segments of one camera from two nodes may overlap by this much without a handover: segments are
/// cut on keyframes, and a released camera's last segment ends when its pipeline stops.
pub const OVERLAP_SLACK: Duration = Duration::from_millis(1500);

/// Fails unless the store is clean whatever the faults were: no segment or event written with a stale
/// epoch, no camera recorded by two nodes outside a handover, no segment indexed twice.
pub async fn assert_clean(db: &tokio_postgres::Client) -> anyhow::Result<()> {
    anyhow::ensure!(
        stale_epoch_segments(db).await? == 0,
        "segments indexed with a stale epoch"
    );
    anyhow::ensure!(
        stale_epoch_events(db).await? == 0,
        "events stored with a stale epoch"
    );
    let late = writes_outside_their_epoch(db).await?;
    anyhow::ensure!(
        late.is_empty(),
        "writes landed outside their epoch's time: {late:#?}"
    );
    let overlap = overlapping_ownership(db, OVERLAP_SLACK).await?;
    anyhow::ensure!(
        overlap.is_empty(),
        "segments of one camera from two nodes outside a handover: {overlap:#?}"
    );
    anyhow::ensure!(duplicate_segments(db).await? == 0, "segments indexed twice");
    Ok(())
}
