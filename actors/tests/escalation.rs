//! An escalation queued while its ticket was overdue, and stored after an operator acknowledged it,
//! must not be stored (nor notified): the store refuses it as superseded. The same escalation for a
//! ticket still open is stored. Against a real PostgreSQL.

use vms_actors::notify::escalation::escalation_event;
use vms_messages::auth::NewUser;
use vms_messages::{CameraCreate, Role, TenantCreate, TenantScope, TicketAction};
use vms_store::StoreError;
use vms_store::scratch::{ScratchDatabase, detection, test_server};

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
            escalation_event(door, 30, "n"),
            escalation_event(yard, 30, "n"),
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
