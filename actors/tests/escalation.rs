//! An escalation queued while its ticket was overdue, and stored after an operator acknowledged it,
//! must not be stored (nor notified): the store refuses it as superseded. The same escalation for a
//! ticket still open is stored. Ticket actors escalate each unacknowledged ticket once, on time, and
//! lose every race with an acknowledgement. Against a real PostgreSQL and NATS.

use chrono::Utc;
use ractor::Actor;
use std::sync::Arc;
use std::time::Duration;
use vms_actors::{
    KeeperArgs, NodeContext, Outbox, Ownership, SystemClock, TicketKeeper, due_in,
    escalation_event, ticket_actor_name,
};
use vms_messages::NewUser;
use vms_messages::{CameraCreate, Role, TenantCreate, TenantScope, TicketAction};
use vms_store::StoreError;
use vms_store::{ScratchDatabase, detection, test_server};

/// Tenant `acme` (acknowledgement limit `sla`) with an operator; the operator's id.
async fn tenant_with_operator(
    store: &vms_store::Store,
    sla: Option<u32>,
) -> anyhow::Result<(vms_messages::Tenant, vms_messages::UserId)> {
    let tenant = store
        .create_tenant(&TenantCreate {
            name: "acme".into(),
            ack_sla_seconds: sla,
            ..Default::default()
        })
        .await?;
    let operator = store
        .create_user(
            TenantScope::All,
            &NewUser {
                email: "op@acme.test".into(),
                password_hash: "x".into(),
                role: Role::Operator,
                tenant_id: Some(tenant.id),
            },
        )
        .await?
        .id;
    Ok((tenant, operator))
}

/// Polls `check` every 50 ms until it gives a value, for at most `within`.
async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let until = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < until,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_stored_after_its_ticket_was_acknowledged_is_refused() -> anyhow::Result<()> {
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let result = async {
        let store = db.store(4).await?;
        let (tenant, operator) = tenant_with_operator(&store, None).await?;
        let mut tickets = Vec::new();
        for cam in ["door", "yard"] {
            let camera = store
                .create_camera(
                    TenantScope::All,
                    tenant.id,
                    &CameraCreate::new(tenant.id, cam, "rtsp://127.0.0.1:1/x"),
                )
                .await?;
            let stored = store
                .insert_event(&detection(&camera, "door", 0), None, None, None)
                .await?;
            let ticket = stored.ticket_id.expect("the event opened a ticket");
            tickets.push(store.ticket(TenantScope::All, ticket).await?.ticket);
        }
        // Both tickets were overdue when the escalations were queued; the door's was acknowledged
        // before its escalation reached the store.
        let (door, yard) = (&tickets[0], &tickets[1]);
        let (door_escalation, yard_escalation) = (
            escalation_event(door, 30, "n", Utc::now()),
            escalation_event(yard, 30, "n", Utc::now()),
        );
        store
            .move_ticket(
                TenantScope::All,
                door.id,
                TicketAction::Acknowledge,
                ("operator", operator),
                None,
            )
            .await?;
        let refused = store.insert_event(&door_escalation, None, None, None).await;
        assert!(
            matches!(refused, Err(StoreError::Superseded(_))),
            "{refused:?}"
        );
        assert!(
            store
                .event(TenantScope::All, door_escalation.id)
                .await
                .is_err(),
            "no escalation stored for the acknowledged ticket"
        );
        let stored = store
            .insert_event(&yard_escalation, None, None, None)
            .await?;
        assert!(stored.new, "the open ticket's escalation is stored");
        // A retry of a stored escalation is a duplicate, not a refusal, whatever the ticket did since.
        store
            .move_ticket(
                TenantScope::All,
                yard.id,
                TicketAction::Acknowledge,
                ("operator", operator),
                None,
            )
            .await?;
        let again = store
            .insert_event(&yard_escalation, None, None, None)
            .await?;
        assert!(!again.new);
        anyhow::Ok(())
    }
    .await;
    db.drop_now().await;
    result
}

#[test]
fn a_ticket_is_due_once_its_sla_has_passed() {
    let opened = Utc::now();
    let ticket = vms_messages::Ticket {
        id: uuid::Uuid::now_v7(),
        tenant_id: vms_messages::TenantId::new(),
        camera_id: vms_messages::CameraId::new(),
        rule: "door".into(),
        kind: "intrusion".into(),
        state: vms_messages::TicketState::Open,
        assignee: None,
        events: 1,
        first_event: uuid::Uuid::now_v7(),
        last_event: uuid::Uuid::now_v7(),
        opened_at: opened,
        updated_at: opened,
        escalated_at: None,
    };
    let at = |s: i64| opened + chrono::Duration::seconds(s);
    assert_eq!(due_in(&ticket, 30, at(0)), Duration::from_secs(30));
    assert_eq!(due_in(&ticket, 30, at(28)), Duration::from_secs(2));
    assert_eq!(due_in(&ticket, 30, at(30)), Duration::ZERO);
    assert_eq!(due_in(&ticket, 30, at(90)), Duration::ZERO);
}

/// Ticket actors against a real PostgreSQL and NATS: events stored through the outbox open
/// tickets, whose actors the keeper starts on demand; each unacknowledged ticket escalates once,
/// on time, and its actor passivates. Half the tickets are acknowledged right around their
/// deadline, racing the escalation: none is escalated after its acknowledgement, and none has two
/// escalation events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_actors_escalate_once_on_time_and_an_acknowledgement_wins_the_race()
-> anyhow::Result<()> {
    const SLA: u32 = 2;
    const TICKETS: usize = 12;
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let dir = std::env::temp_dir().join(format!("vms-tickets-{}", uuid::Uuid::now_v7().simple()));
    let result = async {
        let store = db.store(8).await?;
        let (sql, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        let sql = Arc::new(sql);
        let (tenant, operator) = tenant_with_operator(&store, Some(SLA)).await?;
        let config = vms_config::NodeConfig {
            data_dir: dir.clone(),
            ..vms_config::NodeConfig::default()
        };
        let nats = async_nats::connect(&config.nats.url).await?;
        let ctx = Arc::new(NodeContext {
            config,
            store: store.clone(),
            nats,
        });
        let outbox = Outbox::open(&dir.join("outbox"))?;
        let drainer = outbox.spawn_drainer(store.clone(), None);
        let (keeper, keeper_task) = Actor::spawn(
            None,
            TicketKeeper,
            KeeperArgs {
                ctx,
                outbox: Arc::clone(&outbox),
                ownership: Arc::new(Ownership::unplaced()),
                clock: Arc::new(SystemClock),
            },
        )
        .await?;
        let mut cameras = Vec::new();
        for i in 0..TICKETS {
            let camera = store
                .create_camera(
                    TenantScope::All,
                    tenant.id,
                    &CameraCreate::new(tenant.id, format!("cam{i}"), "rtsp://127.0.0.1:1/x"),
                )
                .await?;
            outbox
                .push(&detection(&camera, "door", 0), b"", None, None)
                .await?;
            cameras.push(camera);
        }
        let mut tickets = Vec::new();
        for camera in &cameras {
            let camera_id = camera.id.0;
            let ticket = wait_for("the event's ticket", Duration::from_secs(10), || {
                let sql = Arc::clone(&sql);
                async move {
                    let row = sql
                        .query_opt("SELECT id FROM tickets WHERE camera_id = $1", &[&camera_id])
                        .await?;
                    Ok(row.map(|r| r.get::<_, uuid::Uuid>(0)))
                }
            })
            .await?;
            tickets.push(store.ticket(TenantScope::All, ticket).await?.ticket);
        }
        // Every other ticket is acknowledged right around its deadline (-30 ms to +25 ms).
        let mut acks = Vec::new();
        for (i, ticket) in tickets.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
            let offset = chrono::Duration::milliseconds(i as i64 * 5 - 30);
            let at = ticket.opened_at + chrono::Duration::seconds(i64::from(SLA)) + offset;
            let wait = (at - Utc::now()).to_std().unwrap_or_default();
            let (store, id) = (store.clone(), ticket.id);
            acks.push(tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                store
                    .move_ticket(
                        TenantScope::All,
                        id,
                        TicketAction::Acknowledge,
                        ("operator", operator),
                        None,
                    )
                    .await
            }));
        }
        for ack in acks {
            ack.await??;
        }
        let unacknowledged: Vec<_> = tickets.iter().skip(1).step_by(2).collect();
        wait_for("every unacknowledged ticket escalated", Duration::from_secs(15), || {
            let sql = Arc::clone(&sql);
            let ids: Vec<uuid::Uuid> = unacknowledged.iter().map(|t| t.id).collect();
            async move {
                let n: i64 = sql
                    .query_one(
                        "SELECT count(*) FROM tickets WHERE id = ANY($1) AND escalated_at IS NOT NULL",
                        &[&ids],
                    )
                    .await?
                    .get(0);
                Ok((n == ids.len() as i64).then_some(()))
            }
        })
        .await?;
        // Let the outbox store what it holds.
        wait_for("the outbox drained", Duration::from_secs(10), || {
            let empty = outbox.to_store().is_empty();
            async move { Ok(empty.then_some(())) }
        })
        .await?;
        for (i, ticket) in tickets.iter().enumerate() {
            let view = store.ticket(TenantScope::All, ticket.id).await?;
            let actions: Vec<&str> = view.history.iter().map(|h| h.action.as_str()).collect();
            let escalations = actions.iter().filter(|a| **a == "escalate").count();
            let events: i64 = sql
                .query_one(
                    "SELECT count(*) FROM events WHERE kind = 'escalation' AND ticket_id = $1",
                    &[&ticket.id],
                )
                .await?
                .get(0);
            assert!(escalations <= 1 && events <= 1, "ticket {i}: {actions:?}, {events} events");
            if i % 2 == 0 {
                let acked = actions.iter().position(|a| *a == "acknowledge");
                let escalated = actions.iter().position(|a| *a == "escalate");
                assert!(
                    escalated.is_none_or(|e| acked.is_some_and(|a| e < a)),
                    "ticket {i} was escalated after its acknowledgement: {actions:?}"
                );
            } else {
                assert_eq!((escalations, events), (1, 1), "ticket {i}: {actions:?}");
                let late = view.ticket.escalated_at.expect("escalated")
                    - (view.ticket.opened_at + chrono::Duration::seconds(i64::from(SLA)));
                assert!(
                    (0..1000).contains(&late.num_milliseconds()),
                    "ticket {i} escalated {} ms after its deadline",
                    late.num_milliseconds()
                );
            }
            assert!(
                ractor::registry::where_is(ticket_actor_name(ticket.id)).is_none(),
                "ticket {i}'s actor passivated"
            );
        }
        keeper.stop(None);
        let _ = keeper_task.await;
        drainer.abort();
        anyhow::Ok(())
    }
    .await;
    db.drop_now().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}
