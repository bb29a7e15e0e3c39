//! Tickets group a camera's events by the rule that raised them, by the rule's id: a rule deleted and
//! created again under the same name is another rule, and its events open a ticket of their own
//! instead of joining the old rule's. Against a real PostgreSQL.

use vms_actors::store::scratch::{ScratchDatabase, test_server};
use vms_messages::{CameraCreate, Event, Rule, RuleCreate, TenantCreate, TenantScope};

fn raised_by(rule: &Rule) -> Event {
    Event {
        id: uuid::Uuid::now_v7(),
        tenant_id: rule.tenant_id,
        camera_id: rule.camera_id,
        kind: "intrusion".into(),
        rule: rule.name.clone(),
        rule_id: Some(rule.id),
        label: "person".into(),
        score: 0.9,
        bbox: vec![0.1, 0.1, 0.5, 0.9],
        at: chrono::Utc::now(),
        node: "n".into(),
        has_snapshot: false,
        ticket_id: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_recreated_under_its_name_opens_its_own_ticket() -> anyhow::Result<()> {
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let result = async {
        let store = db.store(4).await?;
        let tenant = store
            .create_tenant(&TenantCreate {
                name: "acme".into(),
                allowed_detectors: vec!["person".into()],
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
        let door = RuleCreate {
            name: "door".into(),
            detector: "person".into(),
            ..RuleCreate::default()
        };
        let first = store
            .create_rule(TenantScope::All, camera.id, &door)
            .await?;
        let a = store
            .insert_event(&raised_by(&first), None, None, None)
            .await?;
        let b = store
            .insert_event(&raised_by(&first), None, None, None)
            .await?;
        assert_eq!(a.ticket_id, b.ticket_id, "one rule's events share a ticket");

        store.delete_rule(TenantScope::All, first.id).await?;
        let second = store
            .create_rule(TenantScope::All, camera.id, &door)
            .await?;
        assert_ne!(first.id, second.id);
        let c = store
            .insert_event(&raised_by(&second), None, None, None)
            .await?;
        assert!(c.opened_ticket, "the new rule opens its own ticket");
        assert_ne!(
            c.ticket_id, a.ticket_id,
            "it does not join the old rule's ticket"
        );
        anyhow::Ok(())
    }
    .await;
    db.drop_now().await;
    result
}
