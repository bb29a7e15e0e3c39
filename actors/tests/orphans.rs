//! Footage a node left without an index row, against a real PostgreSQL: a crash's tail is indexed by
//! the orphan sweep (once), at the epoch it was recorded under and marked `recovered` or `fenced`
//! by the placement history; a node never given that epoch cannot index it; files past retention
//! that no row holds are deleted; rows of a removed node expire with their retention.

use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_postgres::NoTls;
use vms_actors::NodeContext;
use vms_actors::Ownership;
use vms_actors::{FragmentRecorder, SegmentLayout, VideoCodec, VideoTrack, avc_record};
use vms_actors::{OrphanSweep, OrphanSweeper, highest_seq_on_disk};
use vms_config::NodeConfig;
use vms_messages::{Camera, SegmentContainer, SegmentOrigin, TenantCreate};
use vms_store::{NewSegment, Store, StoreError};
use vms_store::{ScratchDatabase, tenant_with_camera, test_server};

/// One H.264 access unit in length-prefixed form: an IDR slice or a P slice of 1000 bytes.
fn access_unit(keyframe: bool) -> Vec<u8> {
    let mut v = 1000u32.to_be_bytes().to_vec();
    v.push(if keyframe { 0x65 } else { 0x41 });
    v.resize(4 + 1000, 0x11);
    v
}

/// A 320x240 constrained-baseline H.264 track.
fn track() -> anyhow::Result<VideoTrack> {
    let sps = [
        0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00,
    ];
    let pps = [0x68, 0xcb, 0x83, 0xcb];
    Ok(VideoTrack {
        codec: VideoCodec::H264(avc_record(&sps, &pps)?),
        width: 320,
        height: 240,
    })
}

async fn context(store: Store, data_dir: std::path::PathBuf) -> anyhow::Result<Arc<NodeContext>> {
    Ok(Arc::new(NodeContext {
        config: NodeConfig {
            data_dir,
            node_id: "node-a".into(),
            ..NodeConfig::default()
        },
        store,
        nats: async_nats::connect(NodeConfig::default().nats.url).await?,
    }))
}

/// A node without placement: it records every camera.
fn unplaced() -> Arc<Ownership> {
    Arc::new(Ownership::unplaced())
}

/// A 5 s segment of `camera` numbered `seq` that ended `age_days` ago, in `path`.
fn row(camera: &Camera, seq: i64, age_days: i64, path: &str) -> NewSegment {
    ended(camera, seq, chrono::Duration::days(age_days), path)
}

/// A 5 s segment of `camera` numbered `seq` that ended `ago`, in `path`.
fn ended(camera: &Camera, seq: i64, ago: chrono::Duration, path: &str) -> NewSegment {
    vms_store::ended_segment(camera, seq, ago, std::path::Path::new(path), 100)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_tail_is_indexed_and_what_no_row_holds_goes_after_retention() -> anyhow::Result<()>
{
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let data_dir =
        std::env::temp_dir().join(format!("vms-orphans-{}", uuid::Uuid::now_v7().simple()));
    let result = async {
        let store = db.store(4).await?;
        let (sql, conn) = tokio_postgres::connect(&db.url, NoTls).await?;
        tokio::spawn(conn);
        let (_, camera) = tenant_with_camera(
            &store,
            TenantCreate {
                name: "acme".into(),
                retention_days: Some(1),
                ..Default::default()
            },
        )
        .await?;
        let ctx = context(store.clone(), data_dir.clone()).await?;
        let camera_dir = ctx.camera_dir(camera.tenant_id, camera.id);

        // A segment being written when the process died: two 1 s fragments durable, never indexed,
        // and the start of a third torn by the kill.
        let mut rec = FragmentRecorder::new(
            SegmentLayout {
                camera_dir: camera_dir.clone(),
                first_seq: 7,
            },
            Duration::from_secs(5),
            Duration::from_secs(1),
        );
        rec.set_track(track()?, None)?;
        for i in 0..60u64 {
            let key = i % 25 == 0;
            rec.push(access_unit(key), 3600 * i, key, chrono::Utc::now())?;
        }
        drop(rec);
        let file =
            std::fs::read_dir(camera_dir.join(chrono::Utc::now().format("%Y-%m-%d").to_string()))?
                .next()
                .ok_or_else(|| anyhow::anyhow!("no segment file"))??
                .path();
        let whole = std::fs::metadata(&file)?.len();
        let mut torn = std::fs::OpenOptions::new().append(true).open(&file)?;
        std::io::Write::write_all(&mut torn, &[0, 0, 2, 0, b'm', b'o', b'o', b'f', 0, 0])?;
        drop(torn);
        // A file this process may be writing (modified after it started) is left alone.
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        let busy = OrphanSweeper::new(an_hour_ago, unplaced(), vms_actors::system_clock())
            .sweep(&ctx)
            .await?;
        assert_eq!(busy, OrphanSweep::default());
        let mut sweeper =
            OrphanSweeper::new(SystemTime::now(), unplaced(), vms_actors::system_clock());
        let swept = sweeper.sweep(&ctx).await?;
        assert_eq!(swept.recovered, 1, "{swept:?}");
        let (page, _) = store
            .segments(
                vms_messages::TenantScope::All,
                camera.id,
                None,
                None,
                None,
                10,
            )
            .await?;
        assert_eq!(page.len(), 1);
        let tail = &page[0];
        assert_eq!(
            (tail.seq, tail.origin, tail.node.as_str(), tail.duration_ms),
            (7, SegmentOrigin::Recovered, "node-a", 2000)
        );
        // The torn fragment is cut off; the index has the file's track and its two fragments.
        assert_eq!(std::fs::metadata(&file)?.len(), whole);
        assert_eq!(u64::try_from(tail.bytes)?, whole);
        assert_eq!(
            (
                tail.media.container,
                tail.media.codec.as_deref(),
                tail.media.width
            ),
            (SegmentContainer::Fmp4, Some("avc1.42c01e"), Some(320))
        );
        let starts: Vec<(u32, bool)> = tail
            .media
            .fragments
            .iter()
            .map(|f| (f.start_ms, f.keyframe))
            .collect();
        assert_eq!(starts, [(0, true), (1000, true)]);
        // Once only, by this sweeper or after another restart.
        assert_eq!(sweeper.sweep(&ctx).await?, OrphanSweep::default());
        let restarted =
            OrphanSweeper::new(SystemTime::now(), unplaced(), vms_actors::system_clock())
                .sweep(&ctx)
                .await?;
        assert_eq!(restarted, OrphanSweep::default());

        // A day folder past the 1-day retention: the file no row holds goes, the indexed one
        // stays (its row and file go together through the retention sweep), as does a recent day.
        let old = camera_dir.join("2020-01-01");
        std::fs::create_dir_all(&old)?;
        let (orphan, indexed) = (old.join("0000000001.ts"), old.join("0000000002.ts"));
        std::fs::write(&orphan, b"orphan")?;
        std::fs::write(&indexed, b"indexed")?;
        let mut kept = row(&camera, 2, 0, &indexed.to_string_lossy());
        kept.start = "2020-01-01T10:00:00Z".parse()?;
        kept.end = kept.start + chrono::Duration::seconds(5);
        store.insert_segment(&kept, "node-a", None).await?;
        let swept = sweeper.sweep(&ctx).await?;
        assert_eq!(swept.removed, 1, "{swept:?}");
        assert!(!orphan.exists() && indexed.exists() && tail_exists(&camera_dir));

        // Rows of a node an admin removed expire with their retention; a member's are the
        // retention sweep's to delete with their files, and a rejoined node is a member again.
        store
            .insert_segment(&row(&camera, 10, 3, "/gone/10.ts"), "node-gone", None)
            .await?;
        store
            .insert_segment(&row(&camera, 11, 0, "/gone/11.ts"), "node-gone", None)
            .await?;
        store
            .insert_segment(&row(&camera, 12, 3, "/b/12.ts"), "node-b", None)
            .await?;
        assert_eq!(
            store
                .delete_expired_segments_of_removed_nodes(100)
                .await?
                .len(),
            0
        );
        store.forget_node("node-gone").await?;
        assert_eq!(
            store.delete_expired_segments_of_removed_nodes(100).await?,
            vec![None]
        );
        let left: Vec<i64> = sql
            .query("SELECT seq FROM segments WHERE seq >= 10 ORDER BY seq", &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(left, vec![11, 12]);
        store.node_started("node-gone").await?;
        let removed: i64 = sql
            .query_one(
                "SELECT count(*) FROM cluster_nodes WHERE removed_at IS NOT NULL",
                &[],
            )
            .await?
            .get(0);
        assert_eq!(removed, 0);
        anyhow::Ok(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&data_dir);
    db.drop_now().await;
    result
}

/// Whether the crash tail indexed earlier is still on disk.
fn tail_exists(camera_dir: &std::path::Path) -> bool {
    highest_seq_on_disk(camera_dir) == 7
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovered_file_is_judged_by_the_epoch_it_was_recorded_under() -> anyhow::Result<()> {
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let result = async {
        let store = db.store(4).await?;
        let (sql, conn) = tokio_postgres::connect(&db.url, NoTls).await?;
        tokio::spawn(conn);
        let (_, camera) = tenant_with_camera(&store, TenantCreate::default()).await?;
        // Node a was given the camera at epoch 1 a minute ago; it moved to node b 30 s ago (a
        // failover, not a handover).
        sql.execute(
            "INSERT INTO placement_moves (camera_id, generation, from_node, to_node, reason, epoch, at)
             VALUES ($1, 1, NULL, 'node-a', 'placed', 1, now() - interval '60 seconds'),
                    ($1, 2, 'node-a', 'node-b', 'node down', 1, now() - interval '30 seconds')",
            &[&camera.id.0],
        )
        .await?;
        let block = vms_store::SEQ_BLOCK;
        let file = |seq: i64, ended_secs_ago: i64| {
            let ago = chrono::Duration::seconds(ended_secs_ago);
            ended(&camera, seq, ago, &format!("/a/{seq}.ts"))
        };
        // Ended before the move: recorded while the camera was node a's.
        let (tail, _) = store
            .insert_recovered_segment(&file(block + 3, 40), "node-a", Some(1))
            .await?;
        assert_eq!(tail.origin, SegmentOrigin::Recovered);
        // Ended well after it: node a went on recording a camera no longer its own.
        let (late, _) = store
            .insert_recovered_segment(&file(block + 4, 10), "node-a", Some(1))
            .await?;
        assert_eq!(late.origin, SegmentOrigin::Fenced);
        // The same file again: the same row, not a second one.
        let (again, inserted) = store
            .insert_recovered_segment(&file(block + 4, 10), "node-a", Some(1))
            .await?;
        assert_eq!((again.id, inserted), (late.id, false));
        // Node c was never given epoch 1: refused, whatever the file says.
        let refused = store
            .insert_recovered_segment(&file(block + 5, 40), "node-c", Some(1))
            .await;
        assert!(
            matches!(refused, Err(StoreError::Fenced { .. })),
            "{refused:?}"
        );
        let epochs: Vec<(i64, Option<i64>, String)> = sql
            .query("SELECT seq, epoch, origin FROM segments ORDER BY seq", &[])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        assert_eq!(
            epochs,
            vec![
                (block + 3, Some(1), "recovered".to_string()),
                (block + 4, Some(1), "fenced".to_string())
            ]
        );
        anyhow::Ok(())
    }
    .await;
    db.drop_now().await;
    result
}
