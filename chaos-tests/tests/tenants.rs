//! Leased tenant actors (issue 18): every tenant is led by exactly one `TenantActor` in the cluster,
//! the one holding the tenant's lease, on the tenant's home node; only that node exports the
//! tenant's usage. Retention sweeps only every 600 s here, so when the tenant's storage quota is
//! lowered below what it keeps, only its actor's hint can bring the footage within the quota in
//! time. Then the node leading the cameras' tenant is SIGKILLed: each tenant it led is taken over by
//! a survivor within seconds at a higher epoch, the new leader exports the usage, writes the
//! storage samples at its epoch, and goes on enforcing the quota.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use vms_chaos_tests::{Cluster, ClusterOptions};
use vms_testkit::wait_for;

/// Tenants in the cluster: the cameras' tenant and these many more.
const MORE_TENANTS: usize = 11;
/// How soon a dead node's tenants must be led again.
const TAKEOVER_WITHIN: Duration = Duration::from_secs(10);
/// How soon a lowered quota must be enforced (retention alone sweeps every 600 s here).
const ENFORCED_WITHIN: Duration = Duration::from_secs(20);

/// Tenant id → (leading node id, epoch), as node `on` reports it.
async fn leaders(cluster: &Cluster, on: &str) -> anyhow::Result<HashMap<String, (String, i64)>> {
    let (status, page) = cluster
        .call(reqwest::Method::GET, "/placement?limit=1", Some(on))
        .await?;
    anyhow::ensure!(status == 200, "GET /placement: {status} {page}");
    Ok(page["tenants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t["tenant_id"].as_str()?.to_string(),
                (t["node_id"].as_str()?.to_string(), t["epoch"].as_i64()?),
            ))
        })
        .collect())
}

/// `vms_tenant_usage` of `tenant` and `measure` on node `name`, if it exports it.
async fn usage_metric(
    cluster: &Cluster,
    name: &str,
    tenant: &str,
    measure: &str,
) -> anyhow::Result<Option<f64>> {
    let api = cluster
        .api(name)
        .ok_or_else(|| anyhow::anyhow!("{name} is not running"))?;
    let text = cluster
        .sb
        .http()
        .get(format!("{api}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let (t, m) = (
        format!("tenant=\"{tenant}\""),
        format!("measure=\"{measure}\""),
    );
    Ok(text
        .lines()
        .filter(|l| l.starts_with("vms_tenant_usage{") && l.contains(&t) && l.contains(&m))
        .find_map(|l| l.rsplit_once(' ')?.1.parse().ok()))
}

/// Bytes of the cameras' tenant's segments numbered up to `max_id` (all with `i64::MAX`), and
/// their count.
async fn footage(cluster: &Cluster, max_id: i64) -> anyhow::Result<(i64, i64)> {
    let tenant: uuid::Uuid = cluster.tenant.parse()?;
    let row = cluster
        .db()
        .query_one(
            "SELECT coalesce(sum(bytes), 0)::int8, count(*) FROM segments WHERE tenant_id = $1 AND id <= $2",
            &[&tenant, &max_id],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_has_one_leader_that_enforces_its_quota_and_fails_over() -> anyhow::Result<()> {
    let (mut cluster, _) = Cluster::start_recording(ClusterOptions {
        nodes: 3,
        cameras: 2,
        analytics: false,
        env: vec![("VMS_RETENTION__INTERVAL_SECONDS".into(), "600".into())],
        ..Default::default()
    })
    .await?;
    for i in 0..MORE_TENANTS {
        let (status, body) = cluster
            .send(
                reqwest::Method::POST,
                "/tenants",
                Some(serde_json::json!({ "name": format!("leased{i}") })),
                None,
            )
            .await?;
        anyhow::ensure!(status == 201, "POST /tenants: {status} {body}");
    }
    let all = 1 + MORE_TENANTS;
    let led = wait_for(
        "every tenant led by a node",
        Duration::from_secs(30),
        || async {
            let l = leaders(&cluster, "a").await?;
            Ok((l.len() == all).then_some(l))
        },
    )
    .await?;
    // One leader per tenant, spread over the nodes; each node's count of leases agrees.
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for (node, _) in led.values() {
        *per_node.entry(node.clone()).or_default() += 1;
    }
    println!("tenants led per node: {per_node:?}");
    // Each by its home: the best of the nodes by rendezvous hashing on the tenant's id.
    let ids: Vec<String> = cluster.running().iter().map(|n| cluster.id(n)).collect();
    for (tenant, (node, _)) in &led {
        let home = vms_actors::tenant_home(tenant.parse()?, &ids);
        assert_eq!(
            home,
            Some(node),
            "tenant {tenant} led by {node}, not its home"
        );
    }
    // The tenants made once every node was up were led by their home from the first: epoch 1.
    for (tenant, (node, epoch)) in led.iter().filter(|(t, _)| **t != cluster.tenant) {
        assert_eq!(*epoch, 1, "tenant {tenant} (led by {node}) changed leader");
    }
    assert!(
        per_node.len() >= 2,
        "{all} tenants all led by one node: {per_node:?}"
    );
    for name in cluster.running() {
        let id = cluster.id(&name);
        let leases = cluster.metric(&name, "vms_tenant_leases").await?;
        assert_eq!(
            leases as usize,
            per_node.get(&id).copied().unwrap_or(0),
            "{name}'s vms_tenant_leases"
        );
    }
    // Only the leader exports a tenant's usage.
    let chaos = cluster.tenant.clone();
    for name in cluster.running() {
        let leads = led[&chaos].0 == cluster.id(&name);
        let cameras = wait_for("the leader's usage", Duration::from_secs(10), || async {
            let got = usage_metric(&cluster, &name, &chaos, "cameras").await?;
            Ok((got.is_some() == leads).then_some(got))
        })
        .await?;
        if leads {
            assert_eq!(cameras, Some(2.0), "the cameras' tenant has 2 cameras");
        }
    }

    // The quota, lowered below what the tenant keeps, is enforced by its actor's hint.
    let (bytes, segments) = wait_for("six segments indexed", Duration::from_secs(60), || async {
        let (bytes, n) = footage(&cluster, i64::MAX).await?;
        Ok((n >= 6).then_some((bytes, n)))
    })
    .await?;
    let max_id: i64 = cluster
        .db()
        .query_one("SELECT coalesce(max(id), 0) FROM segments", &[])
        .await?
        .get(0);
    let quota = bytes / 2;
    let (status, body) = cluster
        .send(
            reqwest::Method::PATCH,
            &format!("/tenants/{chaos}"),
            Some(serde_json::json!({ "storage_quota_bytes": quota })),
            None,
        )
        .await?;
    anyhow::ensure!(status == 200, "PATCH quota: {status} {body}");
    let set = Instant::now();
    let (left, kept) = wait_for(
        "the footage recorded before the quota cut to it",
        ENFORCED_WITHIN,
        || async {
            let (b, n) = footage(&cluster, max_id).await?;
            Ok((b <= quota).then_some((b, n)))
        },
    )
    .await?;
    println!(
        "quota {quota} B set with {bytes} B in {segments} segments: cut to {left} B in {kept} segments after {:.1} s",
        set.elapsed().as_secs_f64()
    );

    // Kill the leader of the cameras' tenant: each tenant it led is led again elsewhere, higher.
    let (victim_id, _) = led[&chaos].clone();
    let victim = cluster
        .name_of(&victim_id)
        .expect("the leader is a node of the cluster");
    let survivor = cluster
        .running()
        .into_iter()
        .find(|n| *n != victim)
        .expect("a survivor");
    let before = leaders(&cluster, &survivor).await?;
    // Leadership held still while the quota was enforced: no lease changed hands.
    assert_eq!(before, led, "a tenant changed leader with every node up");
    let theirs: HashSet<String> = before
        .iter()
        .filter(|(_, (node, _))| *node == victim_id)
        .map(|(t, _)| t.clone())
        .collect();
    let killed = Instant::now();
    cluster.kill(&victim).await;
    let after = wait_for(
        "the victim's tenants led again",
        TAKEOVER_WITHIN,
        || async {
            let now = leaders(&cluster, &survivor).await?;
            let moved = theirs.iter().all(|t| {
                now.get(t)
                    .is_some_and(|(node, epoch)| *node != victim_id && *epoch > before[t].1)
            });
            Ok(moved.then_some(now))
        },
    )
    .await?;
    let took = killed.elapsed();
    println!(
        "{} tenants of the killed leader led again after {:.2} s",
        theirs.len(),
        took.as_secs_f64()
    );
    for t in led.keys() {
        assert!(after.contains_key(t), "tenant {t} lost its leader");
    }
    let (leader_id, epoch) = after[&chaos].clone();
    let leader = cluster.name_of(&leader_id).expect("a node of the cluster");
    // The new leader exports the usage at its epoch and writes the storage sample at it.
    wait_for(
        "the new leader's usage",
        Duration::from_secs(10),
        || async {
            let e = usage_metric(&cluster, &leader, &chaos, "lease_epoch").await?;
            Ok((e == Some(epoch as f64)).then_some(()))
        },
    )
    .await?;
    let tenant: uuid::Uuid = chaos.parse()?;
    wait_for("a storage sample at the new epoch", Duration::from_secs(10), || async {
        let row = cluster
            .db()
            .query_opt(
                "SELECT node, epoch FROM tenant_storage_hours WHERE tenant_id = $1 ORDER BY hour DESC LIMIT 1",
                &[&tenant],
            )
            .await?;
        Ok(row
            .filter(|r| r.get::<_, String>(0) == leader_id && r.get::<_, i64>(1) == epoch)
            .map(|_| ()))
    })
    .await?;
    for name in cluster.running().into_iter().filter(|n| *n != leader) {
        assert_eq!(
            usage_metric(&cluster, &name, &chaos, "cameras").await?,
            None,
            "{name} is not the leader"
        );
    }
    // And it goes on enforcing the quota: recording goes on, so the tenant is over it again.
    wait_for(
        "the new leader enforcing the quota",
        ENFORCED_WITHIN,
        || async {
            let n = cluster
                .metric_where(
                    &leader,
                    "vms_tenant_over_quota_total",
                    Some(&format!("tenant=\"{chaos}\"")),
                )
                .await?;
            Ok((n >= 1.0).then_some(()))
        },
    )
    .await?;
    Ok(())
}
