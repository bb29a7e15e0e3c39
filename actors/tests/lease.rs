//! The placement lease against a real PostgreSQL: a node whose view says the leader is gone may take
//! the lease ahead of its expiry only once the leader has stopped renewing it, never from a leader
//! that renewed it just now (that view may be the stale one of a node cut off itself).

use std::time::Duration;
use vms_store::LEASE_TAKEOVER_SILENCE;
use vms_store::{ScratchDatabase, test_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewing_leader_keeps_its_lease_whatever_another_node_sees() -> anyhow::Result<()> {
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let result = async {
        let store = db.store(4).await?;
        let ttl = Duration::from_secs(2);
        let gone = vec!["a".to_string()];
        let epoch = store.acquire_lease("placement", "a", ttl, &[]).await?;
        assert_eq!(epoch, Some(1));
        // b sees a gone, but a renewed the lease just now: b does not get it.
        assert_eq!(
            store.acquire_lease("placement", "b", ttl, &gone).await?,
            None
        );
        assert_eq!(
            store.acquire_lease("placement", "a", ttl, &[]).await?,
            Some(1),
            "a renews at the same epoch"
        );
        // a stops renewing: once it has been silent long enough, b takes over before the expiry.
        tokio::time::sleep(LEASE_TAKEOVER_SILENCE + Duration::from_millis(200)).await;
        assert_eq!(
            store.acquire_lease("placement", "b", ttl, &gone).await?,
            Some(2)
        );
        // And a, back, cannot take it from b while b renews.
        assert_eq!(store.acquire_lease("placement", "a", ttl, &[]).await?, None);
        anyhow::Ok(())
    }
    .await;
    db.drop_now().await;
    result
}
