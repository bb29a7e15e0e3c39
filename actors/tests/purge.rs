//! Events, tickets and audit rows expire with the tenant's licence, against a real PostgreSQL: an old
//! event of a closed ticket goes with its ticket, an old event of a ticket still open stays, recent
//! events stay, and the audit log is kept longest (at least `audit_days`, whatever the licence). An
//! event marked as held stays, with its closed ticket, until the hold is released.

use tokio_postgres::NoTls;
use vms_messages::{TenantCreate, TenantScope, TicketAction, UserId};
use vms_store::{ScratchDatabase, detection, tenant_with_camera, test_server};

/// An event of `rule` three days old whose ticket was closed as long ago.
async fn closed_long_ago(
    store: &vms_store::Store,
    sql: &tokio_postgres::Client,
    camera: &vms_messages::Camera,
    rule: &str,
) -> anyhow::Result<vms_messages::Event> {
    let event = detection(camera, rule, 3);
    let ticket = store
        .insert_event(&event, None, None, None)
        .await?
        .ticket_id
        .expect("a ticket");
    store
        .move_ticket(
            TenantScope::All,
            ticket,
            TicketAction::Close,
            ("operator", UserId::new()),
            None,
        )
        .await?;
    sql.execute(
        "UPDATE tickets SET updated_at = now() - interval '3 days' WHERE id = $1",
        &[&ticket],
    )
    .await?;
    Ok(event)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_expire_with_the_licence_and_the_audit_log_is_kept_longest() -> anyhow::Result<()> {
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let result = async {
        let store = db.store(4).await?;
        let (sql, conn) = tokio_postgres::connect(&db.url, NoTls).await?;
        tokio::spawn(conn);
        let (tenant, camera) = tenant_with_camera(
            &store,
            TenantCreate {
                name: "acme".into(),
                retention_days: Some(1),
                ..Default::default()
            },
        )
        .await?;
        // An old event whose ticket was closed long ago, and the same marked as held.
        let old_closed = closed_long_ago(&store, &sql, &camera, "door").await?;
        let old_held = closed_long_ago(&store, &sql, &camera, "vault").await?;
        let (hold, created) = store
            .hold_event(TenantScope::Tenant(tenant.id), old_held.id, "operator")
            .await?;
        assert!(created);
        assert_eq!(
            store
                .hold_event(TenantScope::Tenant(tenant.id), old_held.id, "operator")
                .await?,
            (hold.clone(), false),
            "marking it again answers the same hold"
        );
        assert_eq!(hold.to - hold.from, chrono::Duration::seconds(60));
        // An old event whose ticket is still open, and a recent one.
        let old_open = detection(&camera, "yard", 3);
        store.insert_event(&old_open, None, None, None).await?;
        let recent = detection(&camera, "gate", 0);
        store.insert_event(&recent, None, None, None).await?;
        // Audit rows of the tenant and of the platform, 400 and 100 days old.
        for (tenant_id, days) in [
            (Some(tenant.id.0), 400),
            (Some(tenant.id.0), 100),
            (None, 400),
            (None, 100),
        ] {
            sql.execute(
                "INSERT INTO audit_log (at, tenant_id, actor, action, request, status)
                 VALUES (now() - make_interval(days => $2), $1, 'test', 'read', 'GET /', 200)",
                &[&tenant_id, &days],
            )
            .await?;
        }

        let purged = store.purge_expired_records(365, 100).await?;
        assert_eq!(
            (purged.events, purged.tickets, purged.audit),
            (1, 1, 2),
            "{purged:?}"
        );
        let kept = |id| {
            let store = store.clone();
            async move { store.event(TenantScope::All, id).await.is_ok() }
        };
        assert!(
            !kept(old_closed.id).await,
            "the closed ticket's old event is gone"
        );
        assert!(kept(old_open.id).await, "an open ticket keeps its events");
        assert!(kept(recent.id).await, "recent events stay");
        assert!(kept(old_held.id).await, "a held event stays");
        let audit: i64 = sql
            .query_one("SELECT count(*) FROM audit_log WHERE actor = 'test'", &[])
            .await?
            .get(0);
        assert_eq!(
            audit, 2,
            "audit rows within audit_days stay past the licence"
        );
        // Outside the purge the audit log stays append-only, and even the purge cannot delete a row
        // younger than 30 days.
        assert!(
            sql.execute("DELETE FROM audit_log WHERE actor = 'test'", &[])
                .await
                .is_err(),
            "a plain delete is refused"
        );
        sql.execute(
            "INSERT INTO audit_log (at, actor, action, request, status)
             VALUES (now() - interval '10 days', 'young', 'read', 'GET /', 200)",
            &[],
        )
        .await?;
        let young = sql
            .batch_execute(
                "BEGIN; SET LOCAL vms.audit_purge = 'on';
                 DELETE FROM audit_log WHERE actor = 'young'; COMMIT;",
            )
            .await;
        assert!(
            young.is_err(),
            "a row younger than 30 days cannot be purged"
        );
        let _ = sql.batch_execute("ROLLBACK").await;
        // A second purge finds nothing more.
        assert_eq!(
            store.purge_expired_records(365, 100).await?,
            Default::default()
        );
        // Released, the held event and its ticket go.
        store.release_hold(TenantScope::All, hold.id).await?;
        let purged = store.purge_expired_records(365, 100).await?;
        assert_eq!((purged.events, purged.tickets), (1, 1), "{purged:?}");
        assert!(!kept(old_held.id).await);
        anyhow::Ok(())
    }
    .await;
    db.drop_now().await;
    result
}
