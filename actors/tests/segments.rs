//! Segment indexing against a real PostgreSQL: with placement off, two nodes recording one camera
//! number its segments alike; the second node's file is indexed under the next free number instead of
//! being refused (and then deleted as if its camera were gone).

use vms_messages::TenantCreate;
use vms_store::NewSegment;
use vms_store::{ScratchDatabase, tenant_with_camera, test_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_number_taken_by_another_node_is_renumbered_not_lost() -> anyhow::Result<()> {
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let result = async {
        let store = db.store(4).await?;
        let (tenant, camera) = tenant_with_camera(
            &store,
            TenantCreate {
                name: "acme".into(),
                ..Default::default()
            },
        )
        .await?;
        let segment = |path: &str| NewSegment {
            camera_id: camera.id,
            tenant_id: tenant.id,
            seq: 5,
            start: chrono::Utc::now(),
            end: chrono::Utc::now() + chrono::Duration::seconds(5),
            bytes: 1000,
            path: path.into(),
            media: Default::default(),
        };
        let (on_a, new_a) = store.insert_segment(&segment("/a/5.ts"), "a", None).await?;
        let (on_b, new_b) = store.insert_segment(&segment("/b/5.ts"), "b", None).await?;
        assert!(new_a && new_b, "both indexed");
        assert_eq!(on_a.seq, 5);
        assert_eq!(on_b.seq, 6, "b's file takes the next free number");
        assert_eq!((on_a.node.as_str(), on_b.node.as_str()), ("a", "b"));
        // b's next file, numbered 6 by b itself, does not overwrite b's renumbered row either.
        let next = NewSegment {
            seq: 6,
            ..segment("/b/6.ts")
        };
        let (on_b_next, _) = store.insert_segment(&next, "b", None).await?;
        assert_eq!(on_b_next.seq, 7);
        // a's own retry is still idempotent.
        let (again, new) = store.insert_segment(&segment("/a/5.ts"), "a", None).await?;
        assert_eq!((again.seq, new), (5, false));
        anyhow::Ok(())
    }
    .await;
    db.drop_now().await;
    result
}
