//! An escalation queued while its ticket was overdue, and stored after an operator acknowledged it,
//! must not be stored (nor notified): the store refuses it as superseded. The same escalation for a
//! ticket still open is stored. And a ticket escalates once its SLA has passed on the escalation's
//! clock, tested in simulated time. Against a real PostgreSQL.

use chrono::Utc;
use std::time::Duration;
use vms_actors::SimulatedClock;
use vms_actors::{escalate_overdue, escalation_event};
use vms_messages::NewUser;
use vms_messages::{CameraCreate, Role, TenantCreate, TenantScope, TicketAction};
use vms_store::StoreError;
use vms_store::{ScratchDatabase, detection, test_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_stored_after_its_ticket_was_acknowledged_is_refused() -> anyhow::Result<()> {
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let result = async {
        let store = db.store(4).await?;
        let tenant = store
            .create_tenant(&TenantCreate {
                name: "acme".into(),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_escalates_once_its_sla_has_passed_in_simulated_time() -> anyhow::Result<()> {
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let outbox_dir =
        std::env::temp_dir().join(format!("vms-esc-{}", uuid::Uuid::now_v7().simple()));
    let result = async {
        let store = db.store(4).await?;
        let tenant = store
            .create_tenant(&TenantCreate {
                name: "acme".into(),
                ack_sla_seconds: Some(30),
                ..Default::default()
            })
            .await?;
        let camera = store
            .create_camera(
                TenantScope::All,
                tenant.id,
                &CameraCreate::new(tenant.id, "door", "rtsp://127.0.0.1:1/x"),
            )
            .await?;
        let stored = store
            .insert_event(&detection(&camera, "door", 0), None, None, None)
            .await?;
        let ticket = stored.ticket_id.expect("the event opened a ticket");
        let outbox = vms_actors::Outbox::open(&outbox_dir)?;
        let clock = SimulatedClock::default();
        let escalate = || escalate_overdue(&store, &outbox, &clock, "n");
        assert_eq!(escalate().await?, 0, "a new ticket is not overdue");
        clock.advance(Duration::from_secs(28));
        assert_eq!(escalate().await?, 0, "nor two seconds before its SLA");
        clock.advance(Duration::from_secs(4));
        assert_eq!(escalate().await?, 1, "it escalates once its SLA has passed");
        let escalated = store.ticket(TenantScope::All, ticket).await?.ticket;
        assert!(escalated.escalated_at.is_some(), "{escalated:?}");
        clock.advance(Duration::from_secs(60));
        assert_eq!(escalate().await?, 0, "and only once");
        anyhow::Ok(())
    }
    .await;
    db.drop_now().await;
    let _ = std::fs::remove_dir_all(&outbox_dir);
    result
}
