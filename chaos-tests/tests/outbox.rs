//! The event outbox against a real PostgreSQL and a private NATS server:
//! - an event that can never be stored (its camera is gone: a foreign-key violation) becomes a dead
//!   letter with its reason and a metric, and the events behind it are stored;
//! - with NATS down, events are still stored in PostgreSQL at once, and published once NATS is back;
//! - the JetStream stream carries the configured age and size limits, also when it existed before.
//!
//! Before storing and publishing had cursors of their own, both runs wedged: the first at the poison
//! event, the second at the first unpublished event.

use std::time::Duration;
use vms_actors::EVENTS_DEAD_LETTERS;
use vms_actors::Outbox;
use vms_chaos_tests::PrivateNats;
use vms_messages::{CameraId, Event, TenantCreate, TenantId, TenantScope};
use vms_store::Store;
use vms_store::{detection, tenant_with_camera};
use vms_testkit::{TestDatabase, wait_for};

async fn stored(store: &Store, tenant: TenantId, ids: &[uuid::Uuid]) -> anyhow::Result<usize> {
    let mut n = 0;
    for id in ids {
        n += usize::from(store.event(TenantScope::Tenant(tenant), *id).await.is_ok());
    }
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_is_a_dead_letter_and_a_nats_outage_does_not_hold_back_storing()
-> anyhow::Result<()> {
    let db = TestDatabase::create().await?;
    let store = Store::connect(&db.url, 4)?;
    store.migrate().await?;
    let (tenant, camera) = tenant_with_camera(
        &store,
        TenantCreate {
            name: "acme".into(),
            ..Default::default()
        },
    )
    .await?;
    let dir = std::env::temp_dir().join(format!("vms-outbox-{}", uuid::Uuid::now_v7().simple()));

    // 1. A poison event ahead of a good one, nothing publishing.
    let outbox = Outbox::open(&dir.join("a"))?;
    let dead_before = EVENTS_DEAD_LETTERS.with_label_values(&["constraint"]).get();
    let poison = Event {
        camera_id: CameraId::new(),
        ..detection(&camera, "door", 0)
    };
    outbox.push(&poison, b"", None, None).await?;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let good = detection(&camera, "door", 0);
    outbox.push(&good, b"", None, None).await?;
    let drainer = outbox.spawn_drainer(store.clone(), None);
    wait_for(
        "the good event behind the poison one",
        Duration::from_secs(10),
        || async { Ok((stored(&store, tenant.id, &[good.id]).await? == 1).then_some(())) },
    )
    .await?;
    let dead = outbox.dead_letters();
    assert_eq!(dead.len(), 1, "the poison event is a dead letter: {dead:?}");
    let reason = std::fs::read_to_string(dead[0].with_extension("reason"))?;
    assert!(
        reason.starts_with("constraint:") && reason.contains("foreign key"),
        "the dead letter says why: {reason}"
    );
    assert!(outbox.to_store().is_empty());
    assert_eq!(
        EVENTS_DEAD_LETTERS.with_label_values(&["constraint"]).get(),
        dead_before + 1
    );
    drainer.abort();

    // 2. NATS goes down: events are stored at once and published when it is back.
    let mut nats = PrivateNats::start().await?;
    let client = async_nats::connect(nats.url()).await?;
    // The stream gets the configured limits, and an existing stream is brought to new ones.
    let js = async_nats::jetstream::new(client.clone());
    for (days, bytes) in [(7u32, 1u64 << 30), (2, 64 << 20)] {
        let limits = vms_config::NatsConfig {
            events_max_age_days: days,
            events_max_bytes: bytes,
            ..Default::default()
        };
        vms_actors::ensure_stream(&client, &limits)
            .await
            .map_err(anyhow::Error::msg)?;
        let mut stream = js.get_stream(vms_messages::subjects::EVENTS_STREAM).await?;
        let config = &stream.info().await?.config;
        assert_eq!(
            config.max_age,
            Duration::from_secs(u64::from(days) * 86_400)
        );
        assert_eq!(u64::try_from(config.max_bytes).ok(), Some(bytes));
    }

    let outbox = Outbox::open(&dir.join("b"))?;
    let drainer = outbox.spawn_drainer(store.clone(), Some(client.clone()));
    nats.pause();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let e = detection(&camera, "door", 0);
        ids.push(e.id);
        outbox.push(&e, b"", None, None).await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    wait_for(
        "every event stored while NATS is down",
        Duration::from_secs(3),
        || async { Ok((stored(&store, tenant.id, &ids).await? == ids.len()).then_some(())) },
    )
    .await?;
    assert_eq!(outbox.to_publish().len(), 3, "all three wait for JetStream");
    nats.resume().await?;
    wait_for(
        "every event published once NATS is back",
        Duration::from_secs(30),
        || async { Ok(outbox.to_publish().is_empty().then_some(())) },
    )
    .await?;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await?);
    let mut stream = js.get_stream(vms_messages::subjects::EVENTS_STREAM).await?;
    assert_eq!(stream.info().await?.state.messages, 3);
    drainer.abort();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
