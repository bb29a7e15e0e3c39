//! A detector withdrawn from a tenant's licence stops running on its cameras within seconds, though
//! the camera's rule on it stays (it was allowed when it was made), and runs again when the licence
//! gives it back. The same run with the check switched off (`VMS_TEST_LICENCE_CHECK=off`, test only)
//! keeps detecting, so the check can fail.

use serde_json::json;
use std::time::Duration;
use vms_testkit::{Sandbox, metric_value, wait_for};

const VMS: &str = env!("CARGO_BIN_EXE_vms");
/// How long the licence change may take to reach the camera's rule task.
const APPLIES_WITHIN: Duration = Duration::from_secs(2);
/// How long a withdrawn detector is watched for frames.
const WATCH: Duration = Duration::from_secs(6);

/// Frames the camera's detectors answered so far.
async fn detected(sb: &Sandbox, camera: &str) -> anyhow::Result<f64> {
    Ok(metric_value(
        &sb.metrics().await?,
        "vms_frames_detected_total",
        &format!("camera=\"{camera}\""),
    ))
}

/// Runs a person rule, withdraws `person` from the licence, and returns the frames detected while
/// it was withdrawn; the licence check is on unless `check_off`.
async fn frames_while_withdrawn(check_off: bool) -> anyhow::Result<f64> {
    let mut builder = Sandbox::builder(VMS).cameras(1).scene("person");
    if check_off {
        builder = builder.env("VMS_TEST_LICENCE_CHECK", "off");
    }
    let sb = builder.start().await?;
    let tenant = sb
        .create_tenant_from(&json!({"name": "narrowed", "allowed_detectors": ["person", "motion"]}))
        .await?;
    let cam = sb.create_camera(&tenant, "hall", &sb.sim.url(0)).await?;
    let (s, b) = sb
        .post(
            &format!("/cameras/{cam}/rules"),
            &json!({"name": "p", "detector": "person"}),
        )
        .await?;
    anyhow::ensure!(s == 201, "rule: {s} {b}");
    let licence = |detectors: serde_json::Value| {
        let (sb, tenant) = (&sb, tenant.clone());
        async move {
            let (s, b) = sb
                .request(
                    reqwest::Method::PATCH,
                    &format!("/tenants/{tenant}"),
                    Some(&json!({ "allowed_detectors": detectors })),
                )
                .await?;
            anyhow::ensure!(s == 200, "PATCH licence: {s} {b}");
            anyhow::Ok(())
        }
    };
    wait_for("frames detected", Duration::from_secs(60), || async {
        Ok((detected(&sb, &cam).await? > 0.0).then_some(()))
    })
    .await?;
    licence(json!(["motion"])).await?;
    tokio::time::sleep(APPLIES_WITHIN).await;
    let before = detected(&sb, &cam).await?;
    tokio::time::sleep(WATCH).await;
    let withdrawn = detected(&sb, &cam).await? - before;
    // Given back, it runs again.
    licence(json!(["person", "motion"])).await?;
    let again = detected(&sb, &cam).await?;
    wait_for("frames detected again", Duration::from_secs(20), || async {
        Ok((detected(&sb, &cam).await? > again).then_some(()))
    })
    .await?;
    Ok(withdrawn)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detector_withdrawn_from_the_licence_stops_running() -> anyhow::Result<()> {
    let frames = frames_while_withdrawn(false).await?;
    assert_eq!(frames, 0.0, "frames detected by a withdrawn detector");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_licence_check_a_withdrawn_detector_runs_on() -> anyhow::Result<()> {
    let frames = frames_while_withdrawn(true).await?;
    assert!(
        frames > 0.0,
        "the check switched off must let the detector run on"
    );
    Ok(())
}
