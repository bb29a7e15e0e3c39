//! The heartbeat bucket: opening it, claiming a node id, signed puts, checking a joining node's
//! cookie against the live members, admitting heartbeats, and following the bucket.

use super::*;

/// The heartbeat bucket, created if missing. The stream is made as a key-value bucket's stream is
/// made (`create_key_value` first queries the account, which NATS 2.9 answers in a shape this client
/// does not read).
pub(super) async fn open_bucket(
    nats: &async_nats::Client,
) -> Result<async_nats::jetstream::kv::Store, MembershipError> {
    use async_nats::jetstream::stream;
    let js = async_nats::jetstream::new(nats.clone());
    if let Ok(kv) = js.get_key_value(NODES_BUCKET).await {
        return Ok(kv);
    }
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{NODES_BUCKET}"),
        description: Some("vms node heartbeats".into()),
        subjects: vec![format!("$KV.{NODES_BUCKET}.>")],
        max_messages_per_subject: 1,
        max_age: Duration::from_secs(24 * 3600),
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    })
    .await
    .map_err(nats_error)?;
    js.get_key_value(NODES_BUCKET).await.map_err(nats_error)
}

/// Key of a node's heartbeat: `<cluster>.<node id>`.
pub(super) fn member_key(cluster: &str, node_id: &str) -> String {
    format!("{cluster}.{node_id}")
}

/// How long one listing of the bucket's keys may take before it is tried again.
const LIST_PATIENCE: Duration = Duration::from_secs(5);
/// How many times the listing is tried.
const LIST_TRIES: u32 = 6;

/// The keys of `cluster`'s members. They are read from the bucket stream's subjects, a paged
/// request that the client's request timeout bounds, not with `keys()`: that is an ordered
/// consumer which ends only when the server says nothing is pending, and lists every cluster
/// sharing the NATS account. A listing that still does not finish within [`LIST_PATIENCE`] is
/// made again (a node once hung at start with nothing logged, through a TCP proxy in CI).
async fn member_keys(
    kv: &async_nats::jetstream::kv::Store,
    cluster: &str,
) -> Result<Vec<String>, MembershipError> {
    let subject_prefix = format!("$KV.{NODES_BUCKET}.");
    let mut last = String::new();
    for attempt in 1..=LIST_TRIES {
        let listing = async {
            let mut subjects = kv
                .stream
                .info_with_subjects(format!("{subject_prefix}{}", member_key(cluster, ">")))
                .await
                .map_err(nats_error)?;
            let mut keys = Vec::new();
            while let Some(subject) = subjects.next().await {
                let (subject, _) = subject.map_err(nats_error)?;
                if let Some(key) = subject.strip_prefix(&subject_prefix) {
                    keys.push(key.to_string());
                }
            }
            Ok::<_, MembershipError>(keys)
        };
        match tokio::time::timeout(LIST_PATIENCE, listing).await {
            Ok(Ok(keys)) => return Ok(keys),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = format!("listing not finished within {LIST_PATIENCE:?}"),
        }
        tracing::warn!(attempt, error = %last, "cannot list the cluster's members yet; trying again");
    }
    Err(MembershipError::Nats(format!(
        "cannot list the cluster's members: {last}"
    )))
}

/// Refuses to join when the cluster has live members and none carries this node's cookie.
pub(super) async fn check_cookie(
    kv: &async_nats::jetstream::kv::Store,
    cluster: &str,
    cookie: &str,
    fresh: Duration,
) -> Result<(), MembershipError> {
    let keys = member_keys(kv, cluster).await?;
    let (mut good, mut bad) = (0, Vec::new());
    for key in keys {
        let Some(entry) = kv.entry(&key).await.map_err(nats_error)? else {
            continue;
        };
        let Ok(hb) = serde_json::from_slice::<Heartbeat>(&entry.value) else {
            continue;
        };
        let age_ms = Utc::now().timestamp_millis() as i128
            - entry.created.unix_timestamp_nanos() / 1_000_000;
        if hb.leaving || age_ms > fresh.as_millis() as i128 {
            continue;
        }
        if cluster_auth::verified(&hb, cookie) {
            good += 1;
        } else {
            bad.push(hb.node_id);
        }
    }
    if good == 0 && !bad.is_empty() {
        bad.truncate(5);
        return Err(MembershipError::WrongCookie {
            cluster: cluster.into(),
            members: bad.join(", "),
        });
    }
    Ok(())
}

pub(super) async fn put(
    kv: &async_nats::jetstream::kv::Store,
    hb: &Heartbeat,
    cookie: &str,
) -> Result<(), String> {
    let mut hb = hb.clone();
    cluster_auth::sign(&mut hb, cookie);
    let bytes = serde_json::to_vec(&hb).map_err(|e| e.to_string())?;
    kv.put(member_key(&hb.cluster, &hb.node_id), bytes.into())
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Refuses `id` while another instance heartbeats under it; waits out a stale entry of a crashed run.
pub(super) async fn claim(
    kv: &async_nats::jetstream::kv::Store,
    key: &str,
    (instance, cookie): (Uuid, &str),
    patience: Duration,
) -> Result<(), MembershipError> {
    let entry = kv.entry(key).await.map_err(nats_error)?;
    let Some(first) = entry else { return Ok(()) };
    let Ok(other) = serde_json::from_slice::<Heartbeat>(&first.value) else {
        return Ok(());
    };
    if !cluster_auth::verified(&other, cookie) {
        // Not a member's entry: it cannot hold the id (nor keep a real node out).
        Refusal::BadSignature.count("claim");
        tracing::warn!(key = %key, "an entry not signed with the cluster cookie holds this node id; ignored");
        return Ok(());
    }
    if other.leaving || other.instance == instance {
        return Ok(());
    }
    // Alive or not? An alive node puts a new revision within its heartbeat interval.
    let started = Instant::now();
    while started.elapsed() < patience {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = kv.entry(key).await.map_err(nats_error)?;
        if let Some(e) = now
            && e.revision != first.revision
        {
            let hb: Option<Heartbeat> = serde_json::from_slice(&e.value)
                .ok()
                .filter(|h| cluster_auth::verified(h, cookie));
            let Some(hb) = hb else {
                Refusal::BadSignature.count("claim");
                continue;
            };
            if hb.leaving {
                return Ok(());
            }
            return Err(MembershipError::DuplicateId {
                id: other.node_id,
                api: other.api,
                started: other.started_at.to_rfc3339(),
            });
        }
    }
    tracing::info!(key = %key, "the previous run of this node id is gone; taking it over");
    Ok(())
}

/// Refuses a heartbeat that is not new: sent more than [`cluster_auth::MESSAGE_WINDOW`] before the
/// NATS server stored it (a recording put back), not after the last one of its run, or of an older
/// run than the one already seen.
pub(super) fn admit_heartbeat(
    hb: &Heartbeat,
    entry: &async_nats::jetstream::kv::Entry,
    seen: &RwLock<HashMap<String, Seen>>,
) -> Result<(), Refusal> {
    let stored_ms = i64::try_from(entry.created.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let stored = chrono::DateTime::from_timestamp_millis(stored_ms).unwrap_or_else(Utc::now);
    if !cluster_auth::fresh(hb.sent_at, stored) {
        return Err(Refusal::Stale);
    }
    let seen = seen.read().unwrap_or_else(PoisonError::into_inner);
    if let Some(last) = seen.get(&hb.node_id).map(|s| &s.heartbeat) {
        let replayed = if last.instance == hb.instance {
            hb.seq <= last.seq
        } else {
            hb.started_at < last.started_at
        };
        if replayed {
            return Err(Refusal::Replayed);
        }
    }
    Ok(())
}

/// Follows the bucket, recording when each node was last heard by this node's monotonic clock.
pub(super) async fn follow(
    kv: &async_nats::jetstream::kv::Store,
    seen: &RwLock<HashMap<String, Seen>>,
    (cluster, cookie): (&str, &str),
    (my_id, my_instance): (&str, Uuid),
    refused: &mut std::collections::HashSet<Uuid>,
    down_after: Duration,
    clock: &dyn Clock,
) -> Result<(), String> {
    let prefix = format!("{cluster}.");
    let mut watch = kv
        .watch(format!("{prefix}*"))
        .await
        .map_err(|e| e.to_string())?;
    while let Some(entry) = watch.next().await {
        let entry = entry.map_err(|e| e.to_string())?;
        let Some(node_id) = entry.key.strip_prefix(&prefix) else {
            continue;
        };
        if entry.operation != async_nats::jetstream::kv::Operation::Put {
            // Delete markers carry no signature: one may only drop a node already down (as an
            // admin's `DELETE /nodes/{id}` of a stopped node does), never hide a live one.
            let mut seen = seen.write().unwrap_or_else(PoisonError::into_inner);
            if seen
                .get(node_id)
                .is_some_and(|s| s.heartbeat.leaving || clock.since(s.at) >= down_after)
            {
                seen.remove(node_id);
            } else if seen.contains_key(node_id) {
                Refusal::BadSignature.count("heartbeat");
                tracing::warn!(node_id = %node_id, "delete marker for a live node ignored");
            }
            continue;
        }
        let Ok(hb) = serde_json::from_slice::<Heartbeat>(&entry.value) else {
            continue;
        };
        if hb.cluster != cluster {
            continue;
        }
        if !cluster_auth::verified(&hb, cookie) {
            Refusal::BadSignature.count("heartbeat");
            if refused.insert(hb.instance) {
                tracing::warn!(node_id = %hb.node_id, api = %hb.api, "heartbeat refused: the node does not carry this cluster's cookie; it is not a member");
            }
            continue;
        }
        if let Err(why) = admit_heartbeat(&hb, &entry, seen) {
            why.count("heartbeat");
            tracing::warn!(node_id = %hb.node_id, seq = hb.seq, reason = why.as_str(), "heartbeat refused");
            continue;
        }
        if hb.node_id == my_id && hb.instance != my_instance && !hb.leaving {
            tracing::error!(node_id = %my_id, other_api = %hb.api, "another process heartbeats under this node id");
        }
        // Skew against the NATS server's clock when it stored the heartbeat, so a heartbeat read
        // late (this node was frozen, or busy) does not look skewed.
        let stored_ms =
            i64::try_from(entry.created.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        let skew_ms = hb.sent_at.timestamp_millis().saturating_sub(stored_ms);
        let previous_skew = seen
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&hb.node_id)
            .map(|s| s.skew_ms);
        if skew_ms.abs() > MAX_CLOCK_SKEW_MS
            && previous_skew.is_none_or(|p| p.abs() <= MAX_CLOCK_SKEW_MS)
        {
            tracing::warn!(node_id = %hb.node_id, skew_ms, "node's clock is off; its wall-clock times are not to be trusted");
        }
        // A replayed old entry (at watch start) must not look fresh: judge it by its server age.
        let age = {
            let created = entry.created.unix_timestamp_nanos() / 1_000_000;
            let now = clock.now().timestamp_millis() as i128;
            Duration::from_millis(u64::try_from((now - created).max(0)).unwrap_or(0))
        };
        let now = clock.instant();
        let at = if entry.seen_current {
            now
        } else {
            now.checked_sub(age).unwrap_or(now)
        };
        seen.write().unwrap_or_else(PoisonError::into_inner).insert(
            hb.node_id.clone(),
            Seen {
                heartbeat: hb,
                at,
                skew_ms,
                suspected: false,
            },
        );
    }
    Ok(())
}
