//! The object-storage tier's rules, against a real PostgreSQL and the machine's Garage (started by
//! `scripts/setup.sh`): a segment is uploaded under its row's key only when its file matches its
//! row (a file still being written waits), and with that check switched off (a test-only switch)
//! the growing file is uploaded: the test can fail. Retention deletes an expired segment's object
//! with its row. A standby's copies of a past day go once the object store holds the whole day, and
//! stay while any of its segments waits for upload. Retention by days, by the tenant's storage
//! quota (oldest first) and evidence holds, each on real files and objects: held footage stays
//! until its hold is released, and with holds switched off (a test-only switch) it goes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use vms_actors::{
    NodeContext, ObjectTier, Ownership, RetentionActor, RetentionArgs, UploaderActor, UploaderArgs,
    drop_uploaded_days, set_upload_size_check,
};
use vms_config::{NodeConfig, ObjectStoreSettings};
use vms_messages::{Camera, TenantCreate};
use vms_store::{
    NewSegment, ScratchDatabase, Store, set_holds_honoured, tenant_with_camera, test_server,
};

/// The machine's Garage, as `scripts/setup.sh` left it.
fn garage() -> anyhow::Result<(ObjectStoreSettings, PathBuf)> {
    let dir = std::env::var_os("VMS_GARAGE_DIR")
        .map_or_else(|| PathBuf::from("/var/lib/vms-garage"), PathBuf::from);
    let key_id = std::fs::read_to_string(dir.join("access_key_id"))
        .map_err(|e| anyhow::anyhow!("no Garage in {} (scripts/setup.sh): {e}", dir.display()))?;
    let secret = std::fs::read_to_string(dir.join("secret_access_key"))?;
    Ok((
        ObjectStoreSettings {
            endpoint: "http://127.0.0.1:3900".into(),
            bucket: "vms".into(),
            region: "garage".into(),
            access_key_id: key_id.trim().into(),
            secret_access_key: secret.trim().into(),
        },
        dir.join("secret_access_key"),
    ))
}

async fn context(store: Store, data_dir: PathBuf) -> anyhow::Result<Arc<NodeContext>> {
    let (settings, secret_file) = garage()?;
    let mut config = NodeConfig {
        data_dir,
        node_id: "node-t".into(),
        ..NodeConfig::default()
    };
    config.storage.s3_endpoint = settings.endpoint;
    config.storage.s3_access_key_id = settings.access_key_id;
    config.storage.s3_secret_access_key_file = Some(secret_file);
    config.storage.tier_after_seconds = 1;
    config.storage.upload_interval_seconds = 1;
    config.validate()?;
    Ok(Arc::new(NodeContext {
        config,
        store,
        nats: async_nats::connect(NodeConfig::default().nats.url).await?,
    }))
}

/// A segment of `camera` numbered `seq` that ended `ago` seconds ago, in `path`, `bytes` long.
fn segment(camera: &Camera, seq: i64, ago: i64, path: &std::path::Path, bytes: i64) -> NewSegment {
    vms_store::ended_segment(camera, seq, chrono::Duration::seconds(ago), path, bytes)
}

/// The object key of segment `seq`, once uploaded.
async fn key_of(store: &Store, camera: &Camera, seq: i64) -> anyhow::Result<Option<String>> {
    let (rows, _) = store
        .segments(
            vms_messages::TenantScope::All,
            camera.id,
            None,
            None,
            None,
            100,
        )
        .await?;
    let Some(row) = rows.iter().find(|s| s.seq == seq) else {
        return Ok(None);
    };
    Ok(store
        .segment(vms_messages::TenantScope::All, row.id)
        .await?
        .object_key)
}

/// Uploads for `seconds` with the size check `on`; the keys of segments 1 (whole) and 2 (still
/// being written).
async fn upload_for(
    ctx: &Arc<NodeContext>,
    tier: &Arc<ObjectTier>,
    camera: &Camera,
    on: bool,
) -> anyhow::Result<(Option<String>, Option<String>)> {
    set_upload_size_check(on);
    let (actor, handle) = ractor::Actor::spawn(
        None,
        UploaderActor,
        UploaderArgs {
            ctx: Arc::clone(ctx),
            tier: Arc::clone(tier),
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    actor.stop(None);
    handle.await?;
    set_upload_size_check(true);
    Ok((
        key_of(&ctx.store, camera, 1).await?,
        key_of(&ctx.store, camera, 2).await?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_whole_segments_are_uploaded_and_retention_deletes_their_objects() -> anyhow::Result<()>
{
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let result = async {
        let store = db.store(4).await?;
        let (_, camera) = tenant_with_camera(&store, TenantCreate::default()).await?;
        let dir = std::env::temp_dir().join(format!("vms-tier-{}", uuid::Uuid::now_v7().simple()));
        let day = dir.join("segments").join("day");
        std::fs::create_dir_all(&day)?;
        let ctx = context(store.clone(), dir.clone()).await?;
        let settings = ctx.config.storage.object_store()?.expect("set");
        let tier = Arc::new(ObjectTier::connect(&settings)?);
        // Segment 1 is whole; segment 2's file holds 100 bytes more than its row says (a fragment
        // written after the row was read).
        let (whole, growing) = (day.join("1.mp4"), day.join("2.mp4"));
        std::fs::write(&whole, vec![1u8; 4000])?;
        std::fs::write(&growing, vec![2u8; 4100])?;
        store
            .insert_segment(&segment(&camera, 1, 10, &whole, 4000), "node-t", None)
            .await?;
        store
            .insert_segment(&segment(&camera, 2, 5, &growing, 4000), "node-t", None)
            .await?;
        let (one, two) = upload_for(&ctx, &tier, &camera, true).await?;
        let one = one.expect("the whole segment is uploaded");
        assert_eq!(two, None, "the segment still being written waits");
        assert_eq!(tier.size(&one).await?, 4000);
        assert_eq!(
            tier.get_range(&one, 0..4000).await?.as_ref(),
            &[1u8; 4000][..]
        );
        assert!(one.starts_with(&format!("{}/{}/", camera.tenant_id, camera.id)));
        // Mutation: without the check, the growing file is uploaded as it is.
        let (_, two) = upload_for(&ctx, &tier, &camera, false).await?;
        let two = two.expect("with the check off the growing file is uploaded");
        assert_eq!(tier.size(&two).await?, 4100);

        // Retention: segment 1 expires (its camera keeps 1 day; it ended 2 days ago).
        let sql = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await?;
        tokio::spawn(sql.1);
        sql.0
            .execute(
                "UPDATE segments SET start_ts = now() - interval '2 days',
                        end_ts = now() - interval '2 days' + interval '5 s' WHERE seq = 1",
                &[],
            )
            .await?;
        sql.0
            .execute("UPDATE cameras SET retention_days = 1", &[])
            .await?;
        let (actor, handle) = ractor::Actor::spawn(
            None,
            RetentionActor,
            RetentionArgs {
                ctx: Arc::clone(&ctx),
                ownership: Arc::new(Ownership::unplaced()),
                disk_full: Arc::new(tokio::sync::Notify::new()),
                clock: vms_actors::system_clock(),
                tier: Some(Arc::clone(&tier)),
            },
        )
        .await?;
        let gone = eventually(|| async { Ok(!tier.exists(&one).await?) }).await?;
        actor.stop(None);
        handle.await?;
        assert!(gone, "the expired segment's object is deleted with its row");
        assert_eq!(key_of(&store, &camera, 1).await?, None, "its row is gone");
        assert!(!whole.exists(), "its file is gone");
        let _ = tier.delete(&two).await;
        let _ = std::fs::remove_dir_all(&dir);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    db.drop_now().await;
    result
}

/// Polls `check` every 200 ms for up to 10 s; whether it came true.
async fn eventually<F, Fut>(check: F) -> anyhow::Result<bool>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    for _ in 0..50 {
        if check().await? {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_copies_of_a_day_go_once_the_object_store_holds_it_all() -> anyhow::Result<()> {
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let result = async {
        let store = db.store(4).await?;
        let (_, camera) = tenant_with_camera(&store, TenantCreate::default()).await?;
        let dir = std::env::temp_dir().join(format!("vms-tier-{}", uuid::Uuid::now_v7().simple()));
        let ctx = context(store.clone(), dir.clone()).await?;
        // The owner (node-a) recorded two segments three days ago; this node holds their copies.
        let ago = chrono::Duration::days(3);
        let day = (chrono::Utc::now() - ago).date_naive();
        let copies = ctx
            .mirror_dir(camera.tenant_id, camera.id)
            .join(day.format("%Y-%m-%d").to_string());
        std::fs::create_dir_all(&copies)?;
        std::fs::write(copies.join("0000000001.mp4"), b"one")?;
        std::fs::write(copies.join("0000000002.mp4"), b"two")?;
        let owner = std::path::Path::new("/elsewhere");
        for seq in [1, 2] {
            let row =
                vms_store::ended_segment(&camera, seq, ago, &owner.join(format!("{seq}.mp4")), 3);
            store.insert_segment(&row, "node-a", None).await?;
        }
        let sql = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await?;
        tokio::spawn(sql.1);
        sql.0
            .execute("UPDATE segments SET object_key = 'k1' WHERE seq = 1", &[])
            .await?;
        let now = chrono::Utc::now();
        assert_eq!(
            drop_uploaded_days(&ctx, now).await?,
            0,
            "segment 2 waits for upload"
        );
        assert!(copies.join("0000000002.mp4").exists());
        sql.0
            .execute("UPDATE segments SET object_key = 'k2' WHERE seq = 2", &[])
            .await?;
        // Not yet past `before`: kept.
        assert_eq!(
            drop_uploaded_days(&ctx, now - chrono::Duration::days(4)).await?,
            0
        );
        assert_eq!(drop_uploaded_days(&ctx, now).await?, 1);
        assert!(!copies.exists(), "the day's copies are gone");
        let _ = std::fs::remove_dir_all(&dir);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    db.drop_now().await;
    result
}

/// Runs one retention sweep (the one a retention actor makes as it starts) and waits for it.
async fn sweep_once(ctx: &Arc<NodeContext>, tier: &Arc<ObjectTier>) -> anyhow::Result<()> {
    let (actor, handle) = ractor::Actor::spawn(
        None,
        RetentionActor,
        RetentionArgs {
            ctx: Arc::clone(ctx),
            ownership: Arc::new(Ownership::unplaced()),
            disk_full: Arc::new(tokio::sync::Notify::new()),
            clock: vms_actors::system_clock(),
            tier: Some(Arc::clone(tier)),
        },
    )
    .await?;
    // The first sweep is the actor's first message; stopping waits for the handler under way.
    tokio::time::sleep(Duration::from_secs(2)).await;
    actor.stop(None);
    handle.await?;
    Ok(())
}

/// Which of the named segments still have their row, their file and their object.
async fn kept(
    store: &Store,
    tier: &ObjectTier,
    segments: &[(&str, i64, String, PathBuf)],
) -> anyhow::Result<Vec<&'static str>> {
    let mut out = Vec::new();
    for (name, id, key, path) in segments {
        let row = store
            .segment(vms_messages::TenantScope::All, *id)
            .await
            .is_ok();
        let (file, object) = (path.exists(), tier.exists(key).await?);
        anyhow::ensure!(
            row == file && row == object,
            "{name}: row {row}, file {file}, object {object}: they must go together"
        );
        if row {
            out.push(name.to_string().leak() as &'static str);
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_days_quota_and_holds_on_real_objects() -> anyhow::Result<()> {
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let result = async {
        let store = db.store(4).await?;
        let (tenant, camera) = tenant_with_camera(&store, TenantCreate::default()).await?;
        let dir = std::env::temp_dir().join(format!("vms-tier-{}", uuid::Uuid::now_v7().simple()));
        let day = dir.join("segments").join("day");
        std::fs::create_dir_all(&day)?;
        let ctx = context(store.clone(), dir.clone()).await?;
        let tier = Arc::new(ObjectTier::connect(
            &ctx.config.storage.object_store()?.expect("set"),
        )?);
        // Three days old (the camera keeps one): `held` and `evidence` under holds, `old` not.
        // Recent: `c`, `d`, `e`. Every segment is 4000 bytes, on disk and in the object store.
        let plan: [(&str, i64, i64); 6] = [
            ("held", 1, 3 * 86_400),
            ("evidence", 2, 3 * 86_400 - 60),
            ("old", 3, 3 * 86_400 - 120),
            ("c", 4, 3600),
            ("d", 5, 3000),
            ("e", 6, 2400),
        ];
        let mut segments = Vec::new();
        for (name, seq, ago) in plan {
            let path = day.join(format!("{seq}.mp4"));
            std::fs::write(&path, vec![seq as u8; 4000])?;
            let (row, _) = store
                .insert_segment(&segment(&camera, seq, ago, &path, 4000), "node-t", None)
                .await?;
            let file = store
                .segment(vms_messages::TenantScope::All, row.id)
                .await?;
            let key = ObjectTier::key_for(&file);
            tier.put(&key, bytes::Bytes::from(vec![seq as u8; 4000]))
                .await?;
            assert!(store.mark_uploaded(row.id, &key).await?);
            segments.push((name, row.id, key, path));
        }
        let sql = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await?;
        tokio::spawn(sql.1);
        sql.0
            .execute("UPDATE cameras SET retention_days = 1", &[])
            .await?;
        let scope = vms_messages::TenantScope::All;
        let hold_on = |seq: usize| vms_messages::HoldCreate {
            camera_id: camera.id,
            from: chrono::Utc::now() - chrono::Duration::seconds(plan[seq].2 + 2),
            to: chrono::Utc::now() - chrono::Duration::seconds(plan[seq].2 + 1),
            reason: format!("case {seq}"),
        };
        let held = store
            .create_hold(scope, &hold_on(0), "test@example.test")
            .await?;
        store
            .create_hold(scope, &hold_on(1), "test@example.test")
            .await?;
        // Quota: three segments' worth. With `old` gone by days, `held`, `evidence`, `c`, `d` and
        // `e` are 20 000 bytes: the oldest unheld, `c` and `d`, must go to bring it to 12 000.
        sql.0
            .execute(
                "UPDATE tenants SET storage_quota_bytes = 12000 WHERE id = $1",
                &[&tenant.id.0],
            )
            .await?;
        sweep_once(&ctx, &tier).await?;
        assert_eq!(
            kept(&store, &tier, &segments).await?,
            ["held", "evidence", "e"],
            "days delete `old`, the quota `c` and `d`; holds keep theirs"
        );
        assert_eq!(store.tenant_stored_bytes(tenant.id).await?, 12_000);

        // Released, a hold's footage goes at the next sweep; the other hold still keeps its own.
        store.release_hold(scope, held.id).await?;
        sweep_once(&ctx, &tier).await?;
        assert_eq!(kept(&store, &tier, &segments).await?, ["evidence", "e"]);

        // Mutation: with holds switched off, the held segment goes too.
        set_holds_honoured(false);
        let swept = sweep_once(&ctx, &tier).await;
        set_holds_honoured(true);
        swept?;
        assert_eq!(kept(&store, &tier, &segments).await?, ["e"]);
        let _ = std::fs::remove_dir_all(&dir);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    db.drop_now().await;
    result
}
