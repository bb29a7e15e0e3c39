//! NATS carries hints; PostgreSQL holds the truth. Forged, re-signed and replayed cluster changes
//! published straight onto NATS (as anyone who can reach it could) change nothing on a real node:
//! the camera's files stay, it goes on recording, and each refusal is counted.

use chrono::Utc;
use std::time::Duration;
use vms_actors::{ClusterAuth, sign_change, unsigned_change};
use vms_messages::{CameraId, Change, ClusterChange, TenantId, subjects};
use vms_testkit::{Sandbox, metric_value, wait_for};

const VMS: &str = env!("CARGO_BIN_EXE_vms");
const COOKIE: &str = "forged changes test cookie 7f3a9c";

/// A change from `origin`, signed with `cookie` (`None`: unsigned).
fn change(origin: &ClusterAuth, cookie: Option<&str>, what: Change) -> ClusterChange {
    let mut c = unsigned_change(origin.next_stamp(), what);
    if let Some(cookie) = cookie {
        sign_change(&mut c, cookie);
    }
    c
}

fn files_in(dir: &std::path::Path) -> usize {
    walk(dir).len()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_replayed_changes_delete_nothing() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS)
        .cameras(1)
        .env("VMS_CLUSTER__COOKIE", COOKIE)
        .start()
        .await?;
    let tenant = sb.create_tenant("acme", 4).await?;
    let camera = sb.create_camera(&tenant, "door", &sb.sim.url(0)).await?;
    let before = sb
        .wait_segments(&camera, 1, Duration::from_secs(30))
        .await?;
    let dir = sb
        .node()?
        .data_dir
        .join("segments")
        .join(&tenant)
        .join(&camera);
    let files_before = files_in(&dir);
    assert!(files_before > 0, "no files in {}", dir.display());

    let (camera_id, tenant_id): (CameraId, TenantId) = (camera.parse()?, tenant.parse()?);
    let nats = async_nats::connect("nats://127.0.0.1:4222").await?;
    let subject = subjects::cluster_changes(&sb.node_id);
    let publish = |c: ClusterChange| {
        let nats = nats.clone();
        let subject = subject.clone();
        async move {
            nats.publish(subject, serde_json::to_vec(&c)?.into())
                .await?;
            anyhow::Ok(())
        }
    };
    let intruder = ClusterAuth::new(String::new(), "intruder".into());
    let member = ClusterAuth::new(COOKIE.into(), "another-member".into());
    let removed = Change::CameraRemoved {
        camera_id,
        tenant_id,
    };
    let tenant_removed = Change::TenantRemoved { tenant_id };
    // Unsigned, and signed with the wrong cookie.
    publish(change(&intruder, None, removed)).await?;
    publish(change(&intruder, Some("not the cookie"), removed)).await?;
    publish(change(&intruder, Some("not the cookie"), tenant_removed)).await?;
    publish(change(
        &intruder,
        Some("not the cookie"),
        Change::Camera { camera_id },
    ))
    .await?;
    // Signed with the cookie but stale (sent a minute ago).
    let mut stale = change(&member, None, removed);
    stale.sent_at = Utc::now() - chrono::Duration::seconds(60);
    sign_change(&mut stale, COOKIE);
    publish(stale).await?;
    // Signed by a member, but the rows are still there: hints checked against the store.
    publish(change(&member, Some(COOKIE), removed)).await?;
    publish(change(&member, Some(COOKIE), tenant_removed)).await?;
    // A member's camera change, then the same message replayed.
    let update = change(&member, Some(COOKIE), Change::Camera { camera_id });
    publish(update.clone()).await?;
    publish(update).await?;
    nats.flush().await?;

    let sb = &sb;
    let counted = |reason: &'static str| async move {
        let text = sb.metrics().await?;
        anyhow::Ok(metric_value(
            &text,
            "vms_cluster_messages_refused_total",
            &format!("kind=\"change\",reason=\"{reason}\""),
        ))
    };
    wait_for(
        "the replay refused",
        Duration::from_secs(10),
        || async move { Ok((counted("replayed").await? >= 1.0).then_some(())) },
    )
    .await?;
    assert!(counted("bad_signature").await? >= 4.0);
    assert!(counted("stale").await? >= 1.0);

    // Recording goes on, nothing was deleted, the camera is still there.
    let later = sb
        .wait_segments(&camera, before.len() + 2, Duration::from_secs(30))
        .await?;
    assert!(later.len() >= before.len() + 2);
    assert!(
        files_in(&dir) >= files_before,
        "files were deleted from {}",
        dir.display()
    );
    let (s, cam) = sb.get(&format!("/cameras/{camera}")).await?;
    assert_eq!(s, 200, "{cam}");
    let (s, t) = sb.get(&format!("/tenants/{tenant}")).await?;
    assert_eq!(s, 200, "{t}");
    // A real removal through the API still works (and is applied by the node that made it).
    let (s, _) = sb
        .request(reqwest::Method::DELETE, &format!("/cameras/{camera}"), None)
        .await?;
    assert_eq!(s, 204);
    Ok(())
}
