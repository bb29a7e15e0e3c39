//! A node cut off from NATS and PostgreSQL while its process runs, two ways: through proxies that drop
//! every connection, and through proxies that silently stop forwarding and close nothing (a black
//! hole: its calls hang instead of failing). Either way the others stop hearing it and take its
//! cameras within 5 s; it stops them by itself (self-fencing) within the lease time, so no camera is
//! recorded by two nodes past it; when the link comes back (after a black hole, with the held bytes
//! delivered late) nothing it wrote meanwhile is indexed with a stale epoch.
//!
//! `VMS_CHAOS_PARTITIONS` cuts of each kind (default 1; the long run uses 10), reported as p50/p99
//! time to recording elsewhere and recording gap per moved camera.

use std::time::{Duration, SystemTime};
use vms_chaos_tests::{Cluster, ClusterOptions, Proxy, Series, node_name, oracle, size};

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
    let rounds = size("PARTITIONS", 1);
    let mut series = Series::new(format!("partition ({how:?})"));
    for round in 0..rounds {
        println!("partition ({how:?}): round {}/{rounds}", round + 1);
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
        cluster
            .wait_indexed(&victim, &cameras, Duration::from_secs(15))
            .await?;
        Cluster::into_segment(round).await;
        let snap = cluster.snapshot();
        let fault = oracle::db_now(cluster.db()).await?;
        let cut = SystemTime::now();
        let (nats, pg) = &proxies[&victim];
        for proxy in [nats, pg] {
            match how {
                Partition::Closed => proxy.cut(),
                Partition::BlackHole => proxy.black_hole(),
            }
        }
        let moved = match cluster
            .takeover_times(&cameras, &victim, &snap, Duration::from_secs(15))
            .await
        {
            Ok(moved) => moved,
            Err(e) => {
                for n in cluster.running() {
                    let log = cluster.log(&n);
                    let tail: Vec<&str> = log.lines().rev().take(60).collect();
                    eprintln!("---- node {n} log tail:");
                    for line in tail.iter().rev() {
                        eprintln!("{line}");
                    }
                }
                let (_, nodes) = cluster
                    .call(reqwest::Method::GET, "/nodes", Some("a"))
                    .await?;
                eprintln!("---- nodes as a sees them: {nodes}");
                eprintln!("---- placement: {:?}", cluster.placement().await?);
                return Err(e);
            }
        };
        println!(
            "partition ({how:?}): {} cameras of cut-off node {victim} recording elsewhere after {moved:?} s",
            cameras.len()
        );
        assert!(moved.iter().all(|t| *t <= 5.0), "{moved:?}");
        // It fenced itself: its open segments stopped growing within the lease time (2 s).
        tokio::time::sleep(Duration::from_secs(3)).await;
        cluster.assert_stopped_writing(
            &victim,
            &cameras,
            &snap,
            cut,
            Duration::from_millis(2500),
        )?;
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
        series
            .record(&cluster, &victim, &cameras, fault, &moved)
            .await?;
        // The link comes back: what it wrote while cut off is refused, and it takes cameras again.
        tokio::time::sleep(Duration::from_secs(4)).await;
        nats.restore();
        pg.restore();
        cluster.wait_member_up(&victim).await?;
        cluster.wait_settled(None, Duration::from_secs(45)).await?;
        cluster.wait_recording(Duration::from_secs(30)).await?;
        let fenced = cluster.metric(&victim, "vms_fenced_writes_total").await?;
        println!(
            "partition ({how:?}): link restored; {fenced} writes of the cut-off node refused as stale"
        );
    }
    series.report(&cluster).await?;
    oracle::assert_clean(cluster.db()).await
}

/// A node cut off in the middle of a transaction must not hold its row locks for long (the fence
/// locks a camera's placement row, and the placement leader must move that camera). Through a
/// black-holed proxy, a store connection's transaction holding a row lock is ended by the server
/// within `IDLE_IN_TRANSACTION`, and another node's update of the row gets through. With a plain
/// connection (the server-side timeouts switched off) the lock is still held seconds after that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_cut_off_midway_releases_its_locks() -> anyhow::Result<()> {
    use vms_store::{IDLE_IN_TRANSACTION, connection_config};
    use vms_store::{ScratchDatabase, test_server};
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let result = async {
        let (admin, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        admin
            .batch_execute(
                "CREATE TABLE held (id int PRIMARY KEY, v int); INSERT INTO held VALUES (1, 0), (2, 0)",
            )
            .await?;
        let wait = IDLE_IN_TRANSACTION + Duration::from_secs(4);
        admin
            .batch_execute(&format!("SET lock_timeout = '{}ms'", wait.as_millis()))
            .await?;
        let pg_port = db
            .url
            .rsplit_once(':')
            .and_then(|(_, rest)| rest.split('/').next())
            .unwrap_or("5432")
            .to_string();
        for (row, guarded) in [(1, true), (2, false)] {
            let proxy = Proxy::start(&format!("127.0.0.1:{pg_port}")).await?;
            let url = db
                .url
                .replace(&format!(":{pg_port}/"), &format!(":{}/", proxy.port));
            let config = if guarded {
                connection_config(&url)?
            } else {
                url.parse()?
            };
            let (mut client, conn) = config.connect(tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            let tx = client.transaction().await?;
            tx.execute("SELECT v FROM held WHERE id = $1 FOR SHARE", &[&row])
                .await?;
            proxy.black_hole();
            let started = std::time::Instant::now();
            let updated = admin
                .execute("UPDATE held SET v = v + 1 WHERE id = $1", &[&row])
                .await;
            let waited = started.elapsed();
            println!("cut mid-transaction (server-side timeouts {guarded}): the row was free after {waited:?}: {updated:?}");
            if guarded {
                anyhow::ensure!(
                    updated.is_ok() && waited <= IDLE_IN_TRANSACTION + Duration::from_secs(1),
                    "the cut-off transaction held its lock {waited:?}: {updated:?}"
                );
            } else {
                anyhow::ensure!(
                    updated.is_err(),
                    "without the server-side timeouts the lock must still be held after {wait:?}"
                );
            }
            drop(tx);
        }
        anyhow::Ok(())
    }
    .await;
    db.drop_now().await;
    result
}
