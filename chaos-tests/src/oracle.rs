//! Oracles over the store: what must never be found after a scenario, whatever the faults were.

use std::time::Duration;

/// Segments written with an ownership epoch their node was never given for that camera (a stale
/// owner's write that got through). Must be 0.
pub async fn stale_epoch_segments(db: &tokio_postgres::Client) -> anyhow::Result<i64> {
    Ok(db
        .query_one(
            "SELECT count(*) FROM segments s WHERE s.epoch IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM placement_moves m
               WHERE m.camera_id = s.camera_id AND m.generation = s.epoch AND m.to_node = s.node)",
            &[],
        )
        .await?
        .get(0))
}

/// Events written with an ownership epoch their node was never given. Must be 0.
pub async fn stale_epoch_events(db: &tokio_postgres::Client) -> anyhow::Result<i64> {
    Ok(db
        .query_one(
            "SELECT count(*) FROM events e WHERE e.epoch IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM placement_moves m
               WHERE m.camera_id = e.camera_id AND m.generation = e.epoch AND m.to_node = e.node)",
            &[],
        )
        .await?
        .get(0))
}

/// Pairs of segments of one camera, indexed by two nodes, that overlap by more than `slack` in time
/// without a make-before-break handover (a rebalance or drain move) explaining it. Must be 0: a
/// camera is recorded by two nodes only while it is handed over.
pub async fn overlapping_ownership(
    db: &tokio_postgres::Client,
    slack: Duration,
) -> anyhow::Result<i64> {
    Ok(db
        .query_one(
            "SELECT count(*) FROM segments a JOIN segments b
               ON a.camera_id = b.camera_id AND a.node < b.node
              AND a.start_ts < b.end_ts - make_interval(secs => $1)
              AND b.start_ts < a.end_ts - make_interval(secs => $1)
             WHERE NOT EXISTS (
               SELECT 1 FROM placement_moves m
               WHERE m.camera_id = a.camera_id AND m.reason IN ('rebalance', 'drain')
                 AND m.at BETWEEN least(a.start_ts, b.start_ts) - interval '40 seconds'
                              AND greatest(a.end_ts, b.end_ts))",
            &[&slack.as_secs_f64()],
        )
        .await?
        .get(0))
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

/// Seconds since the Unix epoch, now, by the database's clock.
pub async fn db_now(db: &tokio_postgres::Client) -> anyhow::Result<f64> {
    Ok(db
        .query_one("SELECT extract(epoch FROM now())::float8", &[])
        .await?
        .get(0))
}
