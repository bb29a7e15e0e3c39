//! Tickets group a camera's events by the rule that raised them, by the rule's id: a rule deleted and
//! created again under the same name is another rule, and its events open a ticket of their own
//! instead of joining the old rule's. Against a real PostgreSQL.

use vms_messages::{Camera, Event, Rule, RuleCreate, TenantCreate, TenantScope};
use vms_store::{ScratchDatabase, detection, tenant_with_camera, test_server};

fn raised_by(camera: &Camera, rule: &Rule) -> Event {
    Event {
        rule_id: Some(rule.id),
        ..detection(camera, &rule.name, 0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_recreated_under_its_name_opens_its_own_ticket() -> anyhow::Result<()> {
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let result = async {
        let store = db.store(4).await?;
        let (_, camera) = tenant_with_camera(
            &store,
            TenantCreate {
                name: "acme".into(),
                allowed_detectors: vec!["person".into()],
                ..Default::default()
            },
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
            .insert_event(&raised_by(&camera, &first), None, None, None)
            .await?;
        let b = store
            .insert_event(&raised_by(&camera, &first), None, None, None)
            .await?;
        assert_eq!(a.ticket_id, b.ticket_id, "one rule's events share a ticket");

        store.delete_rule(TenantScope::All, first.id).await?;
        let second = store
            .create_rule(TenantScope::All, camera.id, &door)
            .await?;
        assert_ne!(first.id, second.id);
        let c = store
            .insert_event(&raised_by(&camera, &second), None, None, None)
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
