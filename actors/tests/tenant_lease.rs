//! A tenant's lease against a real PostgreSQL: the storage sample its `TenantActor` writes is fenced
//! by the lease's epoch, so a holder that lost the lease to another node writes nothing. The same
//! stale write with the fence switched off (a test-only switch) lands, so the check can fail.

use std::time::Duration;
use vms_messages::{TenantCreate, TenantScope};
use vms_store::{
    ScratchDatabase, ended_segment, set_tenant_lease_fence, tenant_lease, tenant_with_camera,
    test_server,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_lost_the_tenant_lease_writes_nothing() -> anyhow::Result<()> {
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let result = async {
        let store = db.store(4).await?;
        let (tenant, _) = tenant_with_camera(
            &store,
            TenantCreate {
                name: "leased".into(),
                ..Default::default()
            },
        )
        .await?;
        let lease = tenant_lease(tenant.id);
        let ttl = Duration::from_secs(1);
        let hour_at_start = chrono::Utc::now().format("%Y%m%d%H").to_string();
        assert_eq!(store.acquire_lease(&lease, "a", ttl, &[]).await?, Some(1));
        assert!(store.record_storage_hour(tenant.id, 100, "a", 1).await?);
        // The keeper's batch renewal: only the holder's leases, with their epochs.
        let names = vec![lease.clone(), "tenant:not-held".to_string()];
        assert_eq!(
            store.renew_leases(&names, "a", ttl).await?,
            vec![(lease.clone(), 1)]
        );
        assert!(store.renew_leases(&names, "b", ttl).await?.is_empty());
        // a stops renewing; once the lease has expired, b takes it at the next epoch.
        tokio::time::sleep(ttl + Duration::from_millis(300)).await;
        assert!(
            store.renew_leases(&names, "a", ttl).await?.is_empty(),
            "an expired lease is not renewed"
        );
        assert_eq!(
            store
                .acquire_lease(&lease, "b", Duration::from_secs(30), &[])
                .await?,
            Some(2)
        );
        let leases = store.tenant_leases().await?;
        assert_eq!(leases.len(), 1);
        assert_eq!(
            (
                leases[0].tenant_id,
                leases[0].node.as_str(),
                leases[0].epoch
            ),
            (tenant.id, "b", 2)
        );
        // a, still thinking it leads at epoch 1, is refused; b writes.
        assert!(
            !store.record_storage_hour(tenant.id, 999, "a", 1).await?,
            "the stale holder's sample must not land"
        );
        assert!(store.record_storage_hour(tenant.id, 200, "b", 2).await?);
        let usage = |store: vms_store::Store| async move {
            let now = chrono::Utc::now();
            let u = store
                .tenant_usage(
                    TenantScope::All,
                    tenant.id,
                    now - chrono::Duration::hours(2),
                    now + chrono::Duration::hours(1),
                )
                .await?;
            anyhow::Ok(u.stored_byte_hours)
        };
        let same_hour = chrono::Utc::now().format("%Y%m%d%H").to_string() == hour_at_start;
        if same_hour {
            assert_eq!(
                usage(store.clone()).await?,
                200.0,
                "the hour keeps the most its holder saw"
            );
        }
        // With the fence switched off the same stale write lands: the fence is what refused it.
        set_tenant_lease_fence(false);
        let unfenced = store.record_storage_hour(tenant.id, 999, "a", 1).await;
        set_tenant_lease_fence(true);
        assert!(
            unfenced?,
            "without the fence the stale holder's sample lands"
        );
        if same_hour && chrono::Utc::now().format("%Y%m%d%H").to_string() == hour_at_start {
            assert_eq!(usage(store.clone()).await?, 999.0);
        }
        // Giving the lease up: only its holder can, and then no one holds it.
        store.release_lease(&lease, "a").await?;
        assert_eq!(store.tenant_leases().await?.len(), 1, "a does not hold it");
        store.release_lease(&lease, "b").await?;
        assert!(store.tenant_leases().await?.is_empty());
        assert_eq!(store.acquire_lease(&lease, "c", ttl, &[]).await?, Some(3));
        anyhow::Ok(())
    }
    .await;
    db.drop_now().await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_standing_counts_its_cameras_and_footage() -> anyhow::Result<()> {
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let result = async {
        let store = db.store(4).await?;
        let (tenant, camera) = tenant_with_camera(
            &store,
            TenantCreate {
                name: "standing".into(),
                max_cameras: Some(3),
                storage_quota_bytes: Some(50),
                ..Default::default()
            },
        )
        .await?;
        let standing = store.tenant_standing(tenant.id).await?.expect("the tenant");
        assert_eq!(standing.cameras, 1);
        assert_eq!(standing.tenant.max_cameras, 3);
        assert_eq!(standing.tenant.storage_quota_bytes, Some(50));
        assert_eq!(standing.bytes_stored, 0);
        assert!(!standing.expired);
        // The bytes kept follow the segments indexed and deleted (the triggers' running total).
        let mut ids = Vec::new();
        for seq in 1..=3 {
            let seg = ended_segment(
                &camera,
                seq,
                chrono::Duration::seconds(60 - seq),
                std::path::Path::new("/x"),
                1000 * seq,
            );
            ids.push(store.insert_segment(&seg, "n", None).await?.0.id);
        }
        let kept = |store: vms_store::Store| async move {
            let standing = store.tenant_standing(tenant.id).await?.expect("the tenant");
            assert_eq!(
                standing.bytes_stored,
                store.tenant_stored_bytes(tenant.id).await?
            );
            anyhow::Ok(standing.bytes_stored)
        };
        assert_eq!(kept(store.clone()).await?, 6000);
        store.delete_segments(&ids[..1]).await?;
        assert_eq!(kept(store.clone()).await?, 5000);
        let month = store.month_usage(tenant.id).await?;
        assert!(
            (month.camera_hours - 10.0 / 3600.0).abs() < 1e-9,
            "{month:?}"
        );
        assert_eq!(store.tenant_ids().await?, vec![tenant.id]);
        assert!(
            store
                .tenant_standing(vms_messages::TenantId::new())
                .await?
                .is_none()
        );
        anyhow::Ok(())
    }
    .await;
    db.drop_now().await;
    result
}
