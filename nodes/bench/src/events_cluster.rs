//! `vms bench events --ingest-nodes N --inference-nodes M [--compare]`: the events benchmark on a
//! cluster. N node processes take only the `ingest` role (they record the cameras and sample their
//! frames); M take only `inference` (each runs a replica of the person model and records nothing).
//! Every frame crosses a ractor_cluster link to a replica. With `--compare` it runs once with one
//! inference node and once with M, each on a fresh cluster over the same simulator and database,
//! and prints the ratio of detections per second (goal ≥ 1.8 for two).

use super::events::{EventsBenchArgs, measure, report};
use super::node::{BenchNode, free_port, metric_sum};
use std::path::Path;
use std::time::Duration;

/// Starts node `id` of cluster `cluster` with `roles`.
fn spawn(
    args: &EventsBenchArgs,
    (dir, db_url): (&Path, &str),
    (cluster, id, roles): (&str, &str, &str),
) -> anyhow::Result<BenchNode> {
    let link_port = free_port()?;
    BenchNode::spawn(
        &dir.join(id),
        db_url,
        &[
            ("VMS_NODE_ID", id.to_string()),
            ("VMS_CLUSTER__NAME", cluster.to_string()),
            ("VMS_CLUSTER__PLACEMENT", "true".to_string()),
            (
                "VMS_CLUSTER__COOKIE",
                "bench cluster cookie 41c7".to_string(),
            ),
            ("VMS_CLUSTER__LINK_PORT", link_port.to_string()),
            ("VMS_CLUSTER__ROLES", roles.to_string()),
            ("VMS_ANALYTICS__WORKERS", args.workers.to_string()),
            ("VMS_ANALYTICS__MODELS", "person".to_string()),
        ],
    )
}

/// Runs the cluster benchmark once per inference-node count and prints each run and the ratio.
pub(crate) async fn compare(
    args: &EventsBenchArgs,
    db_url: &str,
    dir: &Path,
    client: &tokio_postgres::Client,
) -> anyhow::Result<()> {
    let counts: Vec<usize> = if args.compare && args.inference_nodes > 1 {
        vec![1, args.inference_nodes]
    } else {
        vec![args.inference_nodes.max(1)]
    };
    let mut rates = Vec::new();
    for (run, inference) in counts.iter().enumerate() {
        let cluster = format!("bench-{}-{run}", std::process::id());
        let mut ingest = Vec::new();
        let mut workers = Vec::new();
        for i in 0..args.ingest_nodes {
            let id = format!("ingest-{run}-{i}");
            ingest.push(spawn(
                args,
                (dir, db_url),
                (&cluster, &id, "ingest,api,control"),
            )?);
        }
        for i in 0..*inference {
            let id = format!("inference-{run}-{i}");
            workers.push(spawn(
                args,
                (dir, db_url),
                (&cluster, &id, "inference,api,control"),
            )?);
        }
        for node in &mut workers {
            node.ready(Duration::from_secs(60)).await?;
        }
        eprintln!(
            "[bench] {} ingest node(s), {inference} inference node(s)",
            args.ingest_nodes
        );
        let measured = measure(args, &mut ingest).await;
        let crossing = mean_crossing(&ingest).await;
        for node in ingest.into_iter().chain(workers) {
            node.stop().await;
        }
        let (frames, started, ended) = measured?;
        println!(
            "--- {} ingest node(s), {inference} inference node(s), every frame across a link",
            args.ingest_nodes
        );
        report(args, client, frames, (started, ended)).await?;
        if let Some(c) = crossing {
            println!(
                "crossing         {:.2} ms a frame (round trip to the replica less its time there)",
                c * 1000.0
            );
        }
        rates.push(frames.detected() / args.seconds.max(1) as f64);
        // The next cluster's leader takes the cameras once this one's lease has lapsed.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let (codec, rgb, jpeg) = jpeg_cost()?;
    println!(
        "frame format     RGB {rgb} B as sent; as JPEG q80 {jpeg} B, but encoding and decoding it costs {:.2} ms a frame",
        codec * 1000.0
    );
    if let [one, many] = rates[..] {
        println!(
            "scale-out        {:.2}x detections/s with {} inference nodes against 1 (goal >= 1.8)",
            if one > 0.0 { many / one } else { 0.0 },
            args.inference_nodes
        );
    }
    Ok(())
}

/// The mean of `vms_inference_crossing_seconds` over `nodes`, in seconds.
async fn mean_crossing(nodes: &[BenchNode]) -> Option<f64> {
    let token = nodes.first()?.admin_token().await.ok()?;
    let (mut sum, mut count) = (0.0, 0.0);
    for node in nodes {
        let text = node.metrics(&token).await.ok()?;
        sum += metric_sum(&text, "vms_inference_crossing_seconds_sum", None);
        count += metric_sum(&text, "vms_inference_crossing_seconds_count", None);
    }
    (count > 0.0).then(|| sum / count)
}

/// What a sampled person-model frame (300x300) would cost as JPEG instead of RGB: seconds to encode
/// (quality 80, as event snapshots) and decode it, averaged over the person scene; and the bytes of
/// each form.
fn jpeg_cost() -> anyhow::Result<(f64, usize, usize)> {
    let (w, h) = (300, 300);
    let frames = vms_node::person_scene_frames(w, h, 2)?;
    let started = std::time::Instant::now();
    let mut jpeg_bytes = 0;
    for rgb in &frames {
        let mut out = std::io::Cursor::new(Vec::new());
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80).encode(
            rgb,
            w,
            h,
            image::ExtendedColorType::Rgb8,
        )?;
        let encoded = out.into_inner();
        jpeg_bytes += encoded.len();
        let decoded = image::load_from_memory_with_format(&encoded, image::ImageFormat::Jpeg)?;
        std::hint::black_box(decoded);
    }
    let n = frames.len().max(1);
    Ok((
        started.elapsed().as_secs_f64() / n as f64,
        (w * h * 3) as usize,
        jpeg_bytes / n,
    ))
}
