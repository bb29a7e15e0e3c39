//! A node cut off from NATS and PostgreSQL while its process runs, two ways: through proxies that drop
//! every connection, and through proxies that silently stop forwarding and close nothing (a black
//! hole: its calls hang instead of failing). Either way the others stop hearing it and take its
//! cameras within 5 s; it stops them by itself (self-fencing) within the lease time, so no camera is
//! recorded by two nodes past it; when the link comes back (after a black hole, with the held bytes
//! delivered late) nothing it wrote meanwhile is indexed with a stale epoch.

use std::time::{Duration, SystemTime};
use vms_chaos_tests::{Cluster, ClusterOptions, Proxy, node_name, oracle};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_off_node_fences_itself_and_its_cameras_move() -> anyhow::Result<()> {
    partition(Partition::Closed).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn black_holed_node_fences_itself_and_its_cameras_move() -> anyhow::Result<()> {
    partition(Partition::BlackHole).await
}

/// How the node is cut off.
#[derive(Clone, Copy, Debug)]
enum Partition {
    /// Connections dropped, new ones refused.
    Closed,
    /// Nothing forwarded, nothing closed.
    BlackHole,
}

async fn partition(how: Partition) -> anyhow::Result<()> {
    let mut cluster = Cluster::start(ClusterOptions {
        nodes: 1,
        cameras: 8,
        ..Default::default()
    })
    .await?;
    // Nodes b, c and d reach NATS and PostgreSQL through proxies of their own.
    let pg_port = cluster
        .sb
        .db
        .url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or("5432")
        .to_string();
    let mut proxies = std::collections::HashMap::new();
    for i in 1..4 {
        let name = node_name(i);
        let nats = Proxy::start("127.0.0.1:4222").await?;
        let pg = Proxy::start(&format!("127.0.0.1:{pg_port}")).await?;
        let env = vec![
            (
                "VMS_NATS__URL".to_string(),
                format!("nats://127.0.0.1:{}", nats.port),
            ),
            (
                "VMS_POSTGRES__URL".to_string(),
                cluster
                    .sb
                    .db
                    .url
                    .replace(&format!(":{pg_port}/"), &format!(":{}/", pg.port)),
            ),
        ];
        cluster.add_node(&name, env).await?;
        proxies.insert(name, (nats, pg));
    }
    for i in 1..4 {
        cluster.wait_member_up(&node_name(i)).await?;
    }
    cluster.wait_settled(None, Duration::from_secs(40)).await?;
    cluster.wait_recording(Duration::from_secs(30)).await?;
    let mut victim = String::new();
    let mut most = 0;
    for n in ["b", "c", "d"] {
        let k = cluster.cameras_on(n).await?.len();
        if k > most {
            (victim, most) = (n.to_string(), k);
        }
    }
    anyhow::ensure!(most > 0, "no proxied node holds a camera");
    let cameras = cluster.cameras_on(&victim).await?;
    let snap = cluster.snapshot();
    let cut = SystemTime::now();
    let (nats, pg) = &proxies[&victim];
    for proxy in [nats, pg] {
        match how {
            Partition::Closed => proxy.cut(),
            Partition::BlackHole => proxy.black_hole(),
        }
    }
    let moved = cluster
        .takeover_times(&cameras, &victim, &snap, Duration::from_secs(15))
        .await?;
    println!(
        "partition ({how:?}): {} cameras of cut-off node {victim} recording elsewhere after {moved:?} s",
        cameras.len()
    );
    assert!(moved.iter().all(|t| *t <= 5.0), "{moved:?}");
    // It fenced itself: its open segments stopped growing within the lease time (2 s).
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.assert_stopped_writing(&victim, &cameras, &snap, cut, Duration::from_millis(2500))?;
    // A segment may roll over into a new file before the node fences itself; nothing it wrote,
    // in any file, is later than the lease time after the cut.
    let fenced_by = cut + Duration::from_millis(2500);
    for cam in &cameras {
        if let Some((file, modified, _)) = cluster.newest_file(&victim, cam) {
            assert!(
                modified <= fenced_by,
                "the cut-off node still wrote {} {:?} after the cut",
                file.display(),
                modified.duration_since(cut).unwrap_or_default()
            );
        }
    }
    // (Its API cannot authenticate without the database: its log says it.)
    assert!(
        cluster
            .log(&victim)
            .contains("cut off from NATS and PostgreSQL; stopping this node's cameras"),
        "the cut-off node logged no self-fencing"
    );
    // The link comes back: what it wrote while cut off is refused, and it takes cameras again.
    tokio::time::sleep(Duration::from_secs(4)).await;
    nats.restore();
    pg.restore();
    cluster.wait_member_up(&victim).await?;
    cluster.wait_settled(None, Duration::from_secs(45)).await?;
    let fenced = cluster.metric(&victim, "vms_fenced_writes_total").await?;
    println!(
        "partition ({how:?}): link restored; {fenced} writes of the cut-off node refused as stale"
    );
    oracle::assert_clean(cluster.db()).await
}
