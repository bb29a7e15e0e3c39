//! Ticket actors fail over (issue 18): the node recording the cameras whose open tickets have a
//! short acknowledgement limit is SIGKILLed before they are due. A survivor gains the cameras,
//! reactivates the tickets' actors from PostgreSQL, and each ticket, the victim's and the
//! survivor's, escalates exactly once (one `escalate` line in its history, one escalation event)
//! and on time: within 2 s of its deadline.

use std::collections::HashMap;
use std::time::Duration;
use vms_chaos_tests::{Cluster, ClusterOptions};
use vms_testkit::wait_for;

/// The tenant's acknowledgement limit, seconds.
const SLA: i64 = 25;
/// A victim's ticket must be due this long after the kill, to leave time for the failover.
const FAILOVER_ROOM: Duration = Duration::from_secs(8);
/// How far from its deadline a ticket may escalate, seconds.
const ON_TIME: f64 = 2.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_of_a_killed_node_escalate_once_on_time_on_a_survivor() -> anyhow::Result<()> {
    let (mut cluster, _) = Cluster::start_recording(ClusterOptions {
        nodes: 2,
        cameras: 4,
        ..Default::default()
    })
    .await?;
    let (status, body) = cluster
        .send(
            reqwest::Method::PATCH,
            &format!("/tenants/{}", cluster.tenant),
            Some(serde_json::json!({ "ack_sla_seconds": SLA })),
            None,
        )
        .await?;
    anyhow::ensure!(status == 200, "PATCH tenant: {status} {body}");
    let victim = cluster.busiest().await?;
    let victim_id = cluster.id(&victim);
    let cameras = cluster.cameras_on(&victim).await?;
    wait_for(
        "an open ticket on each of the victim's cameras",
        Duration::from_secs(60),
        || async {
            let n: i64 = cluster
                .db()
                .query_one(
                    "SELECT count(DISTINCT camera_id) FROM tickets
                     WHERE camera_id::text = ANY($1) AND state = 'open' AND escalated_at IS NULL",
                    &[&cameras],
                )
                .await?
                .get(0);
            Ok((usize::try_from(n).unwrap_or(0) == cameras.len()).then_some(()))
        },
    )
    .await?;
    // The tickets open now, with the seconds until each is due by the database's clock.
    let rows = cluster
        .db()
        .query(
            "SELECT id, camera_id::text,
                    extract(epoch FROM opened_at + make_interval(secs => $1) - now())::float8
             FROM tickets WHERE state = 'open' AND escalated_at IS NULL",
            &[&(SLA as f64)],
        )
        .await?;
    let watched: Vec<(uuid::Uuid, String, f64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .filter(|(_, _, due)| *due >= FAILOVER_ROOM.as_secs_f64())
        .collect();
    let on_victim = watched
        .iter()
        .filter(|(_, cam, _)| cameras.contains(cam))
        .count();
    anyhow::ensure!(
        on_victim > 0,
        "no ticket of the victim's is due far enough ahead: {rows:?}"
    );
    cluster.kill(&victim).await;
    println!(
        "tickets: killed node {victim} holding {} cameras and {on_victim} of {} watched tickets",
        cameras.len(),
        watched.len()
    );
    let ids: Vec<uuid::Uuid> = watched.iter().map(|w| w.0).collect();
    let latest = watched.iter().map(|w| w.2).fold(0.0, f64::max);
    wait_for(
        "every watched ticket escalated",
        Duration::from_secs_f64(latest + 20.0),
        || async {
            let n: i64 = cluster
                .db()
                .query_one(
                    "SELECT count(*) FROM tickets WHERE id = ANY($1) AND escalated_at IS NOT NULL",
                    &[&ids],
                )
                .await?
                .get(0);
            Ok((usize::try_from(n).unwrap_or(0) == ids.len()).then_some(()))
        },
    )
    .await?;
    // The escalation events reach PostgreSQL through the outboxes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rows = cluster
        .db()
        .query(
            "SELECT t.id, extract(epoch FROM t.escalated_at - t.opened_at)::float8 - $2,
                    (SELECT count(*) FROM ticket_history h WHERE h.ticket_id = t.id AND h.action = 'escalate'),
                    (SELECT count(*) FROM events e WHERE e.ticket_id = t.id AND e.kind = 'escalation'),
                    (SELECT min(e.node) FROM events e WHERE e.ticket_id = t.id AND e.kind = 'escalation')
             FROM tickets t WHERE t.id = ANY($1)",
            &[&ids, &(SLA as f64)],
        )
        .await?;
    let by_ticket: HashMap<uuid::Uuid, &str> = watched
        .iter()
        .map(|(id, cam, _)| {
            (
                *id,
                if cameras.contains(cam) {
                    "victim's"
                } else {
                    "survivor's"
                },
            )
        })
        .collect();
    let mut worst: f64 = 0.0;
    for r in &rows {
        let (id, late, lines, events, node): (uuid::Uuid, f64, i64, i64, Option<String>) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        let whose = by_ticket[&id];
        println!(
            "tickets: {whose} ticket {id} escalated {late:+.2} s from its deadline by {node:?}; \
             {lines} escalate line(s), {events} escalation event(s)"
        );
        anyhow::ensure!(
            lines == 1 && events == 1,
            "ticket {id} escalated {lines} times with {events} events"
        );
        anyhow::ensure!(
            late.abs() <= ON_TIME,
            "{whose} ticket {id} escalated {late:+.2} s from its deadline"
        );
        if whose == "victim's" {
            anyhow::ensure!(
                node.as_deref() != Some(victim_id.as_str()),
                "the victim's ticket {id} was escalated by the dead node"
            );
        }
        worst = worst.max(late.abs());
    }
    println!(
        "tickets: {} tickets escalated once each, at most {worst:.2} s from their deadlines (goal <= {ON_TIME} s)",
        rows.len()
    );
    Ok(())
}
