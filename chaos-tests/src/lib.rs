//! Multi-process cluster scenarios with faults injected, and the oracles that judge them.
//!
//! [`Cluster`] starts N `vms node` processes with `cluster.placement` on, over one scratch database,
//! the shared NATS (a cluster name of their own) and the camera simulator; it kills, freezes, cuts
//! off (through a [`Proxy`]), adds, drains and stops nodes. The [`oracle`] module reads the store:
//! writes with a stale ownership epoch, overlapping ownership, recording gaps, duplicates.
//!
//! Scenarios live in `tests/`; their sizes come from `VMS_CHAOS_*` variables so that CI runs them
//! small and a long run (`VMS_CHAOS_KILLS=20`) runs them large.

use anyhow::{Context, bail};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use vms_messages::{NodeList, NodeState};
use vms_testkit::{NodeProcess, Sandbox, wait_for};

pub mod garage;
pub mod nats;
pub mod oracle;
pub mod proxy;

pub use garage::Garage;
pub use nats::PrivateNats;
pub use proxy::Proxy;
pub use vms_testkit::free_port;

/// A size from the environment (`VMS_CHAOS_<NAME>`), or `default`.
pub fn size(name: &str, default: usize) -> usize {
    std::env::var(format!("VMS_CHAOS_{name}"))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `vms` binary cargo built beside this test (`target/<profile>/vms`).
pub fn vms_exe() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test binary has no parent folder")?;
    let vms = dir.join("vms");
    if !vms.is_file() {
        bail!(
            "{} not found: build it first (cargo build -p vms-node)",
            vms.display()
        );
    }
    Ok(vms)
}

/// The `p`-th percentile (0-100) of `values`, nearest rank.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// How a cluster starts.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Node processes.
    pub nodes: usize,
    /// Simulated cameras (each added to the cluster's tenant).
    pub cameras: usize,
    /// Environment of every node (after the harness's own).
    pub env: Vec<(String, String)>,
    /// A PostgreSQL server of the test's own (admin URL), instead of the shared one.
    pub postgres: Option<String>,
    /// The simulator shows a person walking, the tenant's licence allows the person detector and
    /// every camera has a rule on it, so nodes detect and raise events, fenced like segments, for
    /// the oracles to judge (default). Off: recording only.
    pub analytics: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            nodes: 3,
            cameras: 6,
            env: Vec::new(),
            postgres: None,
            analytics: true,
        }
    }
}

struct Member {
    id: String,
    process: Option<NodeProcess>,
    env: Vec<(String, String)>,
}

/// N node processes over one database, the simulator and NATS. Nodes are named `a`, `b`, … in
/// the harness; their node ids are `<sandbox id>-<name>` (`a` is the sandbox's own id).
pub struct Cluster {
    // Fields drop in order: the nodes stop before the sandbox (simulator, database) goes.
    members: BTreeMap<String, Member>,
    /// Database, simulator, admin key.
    pub sb: Sandbox,
    /// The cameras' tenant.
    pub tenant: String,
    /// Camera ids, in simulator order.
    pub cameras: Vec<String>,
    db: tokio_postgres::Client,
}

/// The newest segment file of each (node, camera) at a moment, to tell new recordings from old.
pub struct Snapshot {
    files: HashMap<(String, String), Option<PathBuf>>,
    /// When it was taken.
    pub at: Instant,
}

impl Snapshot {
    /// The newest file of `camera` on `name` then.
    pub fn file(&self, name: &str, camera: &str) -> Option<&PathBuf> {
        self.files
            .get(&(name.to_string(), camera.to_string()))
            .and_then(Option::as_ref)
    }
}

/// Names of nodes: `a`, `b`, …, `z`, then `n26`, ….
pub fn node_name(i: usize) -> String {
    match u8::try_from(i) {
        Ok(i) if i < 26 => char::from(b'a' + i).to_string(),
        _ => format!("n{i}"),
    }
}

/// The data folder name of node `name` (the sandbox's own node keeps `data`).
fn data_name(name: &str) -> &str {
    if name == "a" { "data" } else { name }
}

impl Cluster {
    /// Starts the cluster, adds the cameras, and waits until every camera is placed.
    pub async fn start(opts: ClusterOptions) -> anyhow::Result<Self> {
        let mut builder = Sandbox::builder(vms_exe()?)
            .cameras(opts.cameras.max(1))
            .env("VMS_CLUSTER__PLACEMENT", "true")
            .env("VMS_CLUSTER__COOKIE", "chaos cluster cookie 5d1e8a")
            // Orphaned segment files are swept within ORPHAN_AGE + 5 s of being left.
            .env("VMS_RETENTION__INTERVAL_SECONDS", "5");
        builder = if opts.analytics {
            builder.scene("person")
        } else {
            builder.env("VMS_ANALYTICS__ENABLED", "false")
        };
        for (k, v) in &opts.env {
            builder = builder.env(k, v);
        }
        if let Some(pg) = &opts.postgres {
            builder = builder.postgres_server(pg);
        }
        let mut sb = builder.start().await?;
        let detectors: &[&str] = if opts.analytics { &["person"] } else { &[] };
        let tenant = sb
            .create_tenant_from(&serde_json::json!({
                "name": "chaos",
                "max_cameras": opts.cameras.max(16),
                "allowed_detectors": detectors,
            }))
            .await?;
        let mut cameras = Vec::new();
        for i in 0..opts.cameras {
            let camera = sb
                .create_camera(&tenant, &format!("cam{i}"), &sb.sim.url(i))
                .await?;
            if opts.analytics {
                let rule = serde_json::json!({"name": "person", "detector": "person", "cooldown_seconds": 2});
                let (status, body) = sb.post(&format!("/cameras/{camera}/rules"), &rule).await?;
                anyhow::ensure!(status == 201, "rule on {camera}: {status} {body}");
            }
            cameras.push(camera);
        }
        let (db, conn) = tokio_postgres::connect(&sb.db.url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        let first = sb.node.take().context("sandbox node")?;
        let mut members = BTreeMap::new();
        members.insert(
            "a".to_string(),
            Member {
                id: sb.node_id.clone(),
                process: Some(first),
                env: Vec::new(),
            },
        );
        let mut cluster = Self {
            members,
            sb,
            tenant,
            cameras,
            db,
        };
        for i in 1..opts.nodes {
            cluster.add_node(&node_name(i), Vec::new()).await?;
        }
        Ok(cluster)
    }

    /// Waits until node `name` is up in the view of every running node, then for the leader to have
    /// had two rounds with it.
    pub async fn wait_member_up(&self, name: &str) -> anyhow::Result<()> {
        let id = self.id(name);
        for n in self.running() {
            let id = id.clone();
            wait_for(
                &format!("node {id} up as {n} sees it"),
                Duration::from_secs(20),
                || {
                    let (id, n) = (id.clone(), n.clone());
                    async move {
                        let nodes: NodeList = self.get_typed("/nodes", Some(&n)).await?;
                        let up = nodes
                            .items
                            .iter()
                            .any(|i| i.id == id && i.state == NodeState::Up);
                        Ok(up.then_some(()))
                    }
                },
            )
            .await?;
        }
        tokio::time::sleep(Duration::from_millis(1200)).await;
        Ok(())
    }

    /// [`Cluster::start`], then waits until every node is up for every other, every camera is placed
    /// and each records on its node; the placement then.
    pub async fn start_recording(
        opts: ClusterOptions,
    ) -> anyhow::Result<(Self, HashMap<String, Option<String>>)> {
        let cluster = Self::start(opts).await?;
        for n in cluster.running() {
            cluster.wait_member_up(&n).await?;
        }
        let map = cluster.wait_settled(None, Duration::from_secs(30)).await?;
        cluster.wait_recording(Duration::from_secs(30)).await?;
        Ok((cluster, map))
    }

    /// The store, for oracles.
    pub fn db(&self) -> &tokio_postgres::Client {
        &self.db
    }

    /// Connects to the store again (after its server restarted).
    pub async fn reconnect(&mut self) -> anyhow::Result<()> {
        let (db, conn) = tokio_postgres::connect(&self.sb.db.url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        self.db = db;
        Ok(())
    }

    /// Every segment file of every camera in `name`'s data folder: (path, modified).
    pub fn segment_files(&self, name: &str) -> Vec<(PathBuf, SystemTime)> {
        let root = self.data_dir(name).join("segments").join(&self.tenant);
        let mut out = Vec::new();
        for cam in std::fs::read_dir(root).into_iter().flatten().flatten() {
            for day in std::fs::read_dir(cam.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                for f in std::fs::read_dir(day.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    if let Ok(m) = f.metadata().and_then(|m| m.modified()) {
                        out.push((f.path(), m));
                    }
                }
            }
        }
        out
    }

    /// Node id of `name`.
    pub fn id(&self, name: &str) -> String {
        self.members
            .get(name)
            .map(|m| m.id.clone())
            .unwrap_or_else(|| format!("{}-{name}", self.sb.node_id))
    }

    /// Name of node id `id`.
    pub fn name_of(&self, id: &str) -> Option<String> {
        self.members
            .iter()
            .find(|(_, m)| m.id == id)
            .map(|(n, _)| n.clone())
    }

    /// Names of the running nodes.
    pub fn running(&self) -> Vec<String> {
        self.members
            .iter()
            .filter(|(_, m)| m.process.is_some())
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// API base URL of `name`, while it runs.
    pub fn api(&self, name: &str) -> Option<String> {
        self.members
            .get(name)
            .and_then(|m| m.process.as_ref())
            .map(|p| p.api.clone())
    }

    /// The log (stderr) of node `name`, every run of it.
    pub fn log(&self, name: &str) -> String {
        self.sb.node_log(data_name(name))
    }

    /// Data folder of `name` (kept across restarts).
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.sb.node_dir(data_name(name))
    }

    /// Starts node `name` (again, with its id and data folder) with `env` of its own, and waits until
    /// it is ready.
    pub async fn add_node(&mut self, name: &str, env: Vec<(String, String)>) -> anyhow::Result<()> {
        let id = self.id(name);
        let env = if env.is_empty() {
            self.members
                .get(name)
                .map(|m| m.env.clone())
                .unwrap_or_default()
        } else {
            env
        };
        let mut process = self.sb.spawn_node_with(&id, data_name(name), &env)?;
        let ready = self.sb.wait_ready(&mut process).await;
        self.members.insert(
            name.to_string(),
            Member {
                id,
                process: Some(process),
                env,
            },
        );
        ready
    }

    /// SIGKILLs `name` and waits for it to go.
    pub async fn kill(&mut self, name: &str) {
        if let Some(p) = self.members.get_mut(name).and_then(|m| m.process.take()) {
            p.kill().await;
        }
    }

    /// Stops `name` cleanly (SIGTERM) and waits.
    pub async fn stop(&mut self, name: &str) {
        if let Some(p) = self.members.get_mut(name).and_then(|m| m.process.take()) {
            p.stop().await;
        }
    }

    /// Process id of node `name`, while it runs.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.members
            .get(name)
            .and_then(|m| m.process.as_ref())
            .and_then(NodeProcess::pid)
    }

    fn signal(&self, name: &str, sig: rustix::process::Signal) {
        if let Some(pid) = self.pid(name) {
            vms_node::signal(pid, sig);
        }
    }

    /// Freezes `name` (SIGSTOP).
    pub fn freeze(&self, name: &str) {
        self.signal(name, rustix::process::Signal::STOP);
    }

    /// Resumes `name` (SIGCONT).
    pub fn thaw(&self, name: &str) {
        self.signal(name, rustix::process::Signal::CONT);
    }

    /// A running node's API, `name` first if given and running.
    fn some_api(&self, prefer: Option<&str>) -> anyhow::Result<String> {
        prefer
            .and_then(|n| self.api(n))
            .or_else(|| self.running().iter().find_map(|n| self.api(n)))
            .context("no node is running")
    }

    /// An API call without a body as the platform admin, on node `on` (or any running node).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        on: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        self.send(method, path, None, on).await
    }

    /// A `GET` as the platform admin on node `on` (or any running node), its 2xx answer read as `T`.
    pub async fn get_typed<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        on: Option<&str>,
    ) -> anyhow::Result<T> {
        let (status, answer) = self.call(reqwest::Method::GET, path, on).await?;
        vms_testkit::typed(status, answer).with_context(|| format!("GET {path}"))
    }

    /// An API call with an optional JSON body as the platform admin, on node `on` (or any running
    /// node).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        on: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}/api/v1{path}", self.some_api(on)?);
        let mut req = self.sb.http().request(method, url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        vms_testkit::json_response(req.send().await?).await
    }

    /// Asserts that `victim` stopped writing the segment files it had open at `snap` (of `cameras`)
    /// within `limit` of `since` (the fault or its end).
    pub fn assert_stopped_writing(
        &self,
        victim: &str,
        cameras: &[String],
        snap: &Snapshot,
        since: SystemTime,
        limit: Duration,
    ) -> anyhow::Result<()> {
        for cam in cameras {
            let Some(open) = snap.file(victim, cam) else {
                continue;
            };
            let modified = std::fs::metadata(open)?.modified()?;
            let after = modified.duration_since(since).unwrap_or_default();
            println!(
                "camera {cam}: node {victim}'s last write to its open segment {after:?} after"
            );
            anyhow::ensure!(
                after <= limit,
                "node {victim} still wrote {} {after:?} after",
                open.display()
            );
        }
        Ok(())
    }

    /// Camera → node id, as the placement map has it.
    pub async fn placement(&self) -> anyhow::Result<HashMap<String, Option<String>>> {
        let rows = self
            .db
            .query(
                "SELECT c.id::text, p.node_id FROM cameras c LEFT JOIN placement p ON p.camera_id = c.id",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Waits until every camera is placed on a running node (`among`, if given) and no handover is
    /// under way; the placement then.
    pub async fn wait_settled(
        &self,
        among: Option<&[String]>,
        deadline: Duration,
    ) -> anyhow::Result<HashMap<String, Option<String>>> {
        let names = among
            .map(<[String]>::to_vec)
            .unwrap_or_else(|| self.running());
        let ids: Vec<String> = names.iter().map(|n| self.id(n)).collect();
        wait_for("placement settled", deadline, || {
            let ids = ids.clone();
            async move {
                let busy: i64 = self
                    .db
                    .query_one(
                        "SELECT count(*) FROM placement WHERE previous_node IS NOT NULL AND NOT handed_over",
                        &[],
                    )
                    .await?
                    .get(0);
                let map = self.placement().await?;
                let placed = map
                    .values()
                    .all(|n| n.as_ref().is_some_and(|n| ids.contains(n)));
                Ok((busy == 0 && placed && !map.is_empty()).then_some(map))
            }
        })
        .await
    }

    /// The newest segment file of `camera` in `name`'s data folder: (path, modified, bytes).
    pub fn newest_file(&self, name: &str, camera: &str) -> Option<(PathBuf, SystemTime, u64)> {
        let dir = self
            .data_dir(name)
            .join("segments")
            .join(&self.tenant)
            .join(camera);
        let mut newest: Option<(PathBuf, SystemTime, u64)> = None;
        for day in std::fs::read_dir(dir).ok()?.flatten() {
            for f in std::fs::read_dir(day.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let Ok(meta) = f.metadata() else { continue };
                let Ok(modified) = meta.modified() else {
                    continue;
                };
                if newest.as_ref().is_none_or(|(_, m, _)| modified > *m) {
                    newest = Some((f.path(), modified, meta.len()));
                }
            }
        }
        newest
    }

    /// Whether `name` wrote bytes of `camera` after `since`.
    pub fn wrote_since(&self, name: &str, camera: &str, since: SystemTime) -> bool {
        self.newest_file(name, camera)
            .is_some_and(|(_, m, len)| m > since && len > 0)
    }

    /// Waits until every camera records on the node the placement map puts it on (bytes in the last
    /// 2 s).
    pub async fn wait_recording(&self, deadline: Duration) -> anyhow::Result<()> {
        wait_for(
            "every camera recording on its owner",
            deadline,
            || async move {
                let map = self.placement().await?;
                let recent = SystemTime::now() - Duration::from_secs(2);
                for (cam, node) in &map {
                    let Some(name) = node.as_deref().and_then(|n| self.name_of(n)) else {
                        return Ok(None);
                    };
                    if !self.wrote_since(&name, cam, recent) {
                        return Ok(None);
                    }
                }
                Ok(Some(()))
            },
        )
        .await
    }

    /// The newest segment file of every camera on every running node, before a fault.
    pub fn snapshot(&self) -> Snapshot {
        let mut files = HashMap::new();
        for n in self.running() {
            for cam in &self.cameras {
                files.insert(
                    (n.clone(), cam.clone()),
                    self.newest_file(&n, cam).map(|f| f.0),
                );
            }
        }
        Snapshot {
            files,
            at: Instant::now(),
        }
    }

    /// Whether `name` started a new segment file of `camera`, with bytes, since `snap`.
    fn started_since(&self, name: &str, camera: &str, snap: &Snapshot) -> bool {
        let before = snap
            .files
            .get(&(name.to_string(), camera.to_string()))
            .cloned()
            .flatten();
        self.newest_file(name, camera)
            .is_some_and(|(path, _, len)| len > 0 && Some(&path) != before.as_ref())
    }

    /// For each of `cameras`, how long after `snap` (taken just before a fault) a running node other
    /// than `not_on` started recording it (a new segment file with bytes); waits at most `deadline`.
    pub async fn takeover_times(
        &self,
        cameras: &[String],
        not_on: &str,
        snap: &Snapshot,
        deadline: Duration,
    ) -> anyhow::Result<Vec<f64>> {
        let mut times: HashMap<String, f64> = HashMap::new();
        let others: Vec<String> = self.running().into_iter().filter(|n| n != not_on).collect();
        while times.len() < cameras.len() {
            if snap.at.elapsed() > deadline {
                let missing: Vec<&String> =
                    cameras.iter().filter(|c| !times.contains_key(*c)).collect();
                bail!("cameras {missing:?} not recorded elsewhere within {deadline:?}");
            }
            for cam in cameras {
                if times.contains_key(cam) {
                    continue;
                }
                if others.iter().any(|n| self.started_since(n, cam, snap)) {
                    times.insert(cam.clone(), snap.at.elapsed().as_secs_f64());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(cameras.iter().map(|c| times[c]).collect())
    }

    /// The cameras placed on node `name`.
    pub async fn cameras_on(&self, name: &str) -> anyhow::Result<Vec<String>> {
        let id = self.id(name);
        Ok(self
            .placement()
            .await?
            .into_iter()
            .filter(|(_, n)| n.as_deref() == Some(id.as_str()))
            .map(|(c, _)| c)
            .collect())
    }

    /// Waits until node `name` has indexed a segment of each of `cameras` since the camera's last
    /// move (so that a fault's recording gap starts at the last segment it indexed).
    pub async fn wait_indexed(
        &self,
        name: &str,
        cameras: &[String],
        deadline: Duration,
    ) -> anyhow::Result<()> {
        let id = self.id(name);
        wait_for("a segment of each camera indexed", deadline, || {
            let id = id.clone();
            async move {
                let done: i64 = self
                    .db
                    .query_one(
                        "SELECT count(DISTINCT s.camera_id) FROM segments s
                         WHERE s.node = $1 AND s.camera_id::text = ANY($2)
                           AND s.start_ts >= (SELECT max(m.at) FROM placement_moves m
                                              WHERE m.camera_id = s.camera_id)",
                        &[&id, &cameras],
                    )
                    .await?
                    .get(0);
                Ok((usize::try_from(done).unwrap_or(0) >= cameras.len()).then_some(()))
            }
        })
        .await
    }

    /// Sleeps a different part of a segment in each `round` (0.8 s, 2.5 s, 4.2 s, 0.9 s, …), so that
    /// faults land anywhere within the segments being written rather than just after one closed.
    pub async fn into_segment(round: usize) {
        let ms = (u64::try_from(round).unwrap_or(0) * 1700 + 800) % 5000;
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    /// Waits until every node's orphan sweep has run over what the faults so far left on its disk.
    pub async fn wait_swept() {
        tokio::time::sleep(vms_actors::ORPHAN_AGE + Duration::from_secs(11)).await;
    }

    /// The running node holding the most cameras.
    pub async fn busiest(&self) -> anyhow::Result<String> {
        let mut best = (String::new(), 0);
        for n in self.running() {
            let k = self.cameras_on(&n).await?.len();
            if k > best.1 {
                best = (n, k);
            }
        }
        if best.1 == 0 {
            bail!("no node holds a camera");
        }
        Ok(best.0)
    }

    /// Segment `id`'s media as node `on`'s API serves it.
    pub async fn segment_media(&self, id: i64, on: &str) -> anyhow::Result<Vec<u8>> {
        let api = self.api(on).context("node not running")?;
        let media = self
            .sb
            .http()
            .get(format!("{api}/api/v1/segments/{id}/media"))
            .send()
            .await?;
        anyhow::ensure!(
            media.status() == 200,
            "segment {id} through {on}: {}",
            media.status()
        );
        Ok(media.bytes().await?.to_vec())
    }

    /// Segment `id` played through node `on`'s API: the codec and seconds ffprobe reads.
    pub async fn play_segment(&self, id: i64, on: &str) -> anyhow::Result<(String, f64)> {
        let body = self.segment_media(id, on).await?;
        let file = std::env::temp_dir().join(format!(
            "vms-play-{id}-{}.mp4",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::write(&file, &body)?;
        let played = vms_testkit::ffprobe_video(&file);
        let _ = std::fs::remove_file(&file);
        played
    }

    /// Segment `id` of `camera` played through node `on`'s HLS playlist (a stream token from that
    /// node, the playlist over the segment's time): the codec and seconds ffprobe reads.
    pub async fn play_hls(&self, camera: &str, id: i64, on: &str) -> anyhow::Result<(String, f64)> {
        let row = self
            .db()
            .query_one(
                "SELECT start_ts, end_ts FROM segments WHERE id = $1",
                &[&id],
            )
            .await?;
        let margin = chrono::Duration::milliseconds(100);
        let (start, end): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
            (row.get(0), row.get(1));
        let at = |t: chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        let (status, token) = self
            .send(
                reqwest::Method::POST,
                &format!("/cameras/{camera}/stream-token"),
                None,
                Some(on),
            )
            .await?;
        anyhow::ensure!(status == 201, "stream token through {on}: {status} {token}");
        let api = self.api(on).context("node not running")?;
        let url = format!(
            "{api}/api/v1/cameras/{camera}/playlist.m3u8?from={}&to={}&token={}",
            at(start + margin),
            at(end - margin),
            token["token"].as_str().unwrap_or_default()
        );
        vms_testkit::ffprobe_video(std::path::Path::new(&url))
    }

    /// A metric of node `name` (sum over its labels).
    pub async fn metric(&self, name: &str, metric: &str) -> anyhow::Result<f64> {
        self.metric_where(name, metric, None).await
    }

    /// A metric of node `name`, summed over the series whose labels contain `label` (all: `None`).
    pub async fn metric_where(
        &self,
        name: &str,
        metric: &str,
        label: Option<&str>,
    ) -> anyhow::Result<f64> {
        let api = self.api(name).context("node not running")?;
        let text = self
            .sb
            .http()
            .get(format!("{api}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        Ok(vms_bench::node::metric_sum(&text, metric, label) + 0.0)
    }
}

/// The figures of a series of faults: times to recording elsewhere, and recording gaps per moved
/// camera, reported as p50/p99 under `label`.
pub struct Series {
    label: String,
    times: Vec<f64>,
    gaps: Vec<f64>,
    faults: Vec<oracle::Fault>,
}

impl Series {
    /// An empty series named `label` in what it prints.
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            times: Vec::new(),
            gaps: Vec::new(),
            faults: Vec::new(),
        }
    }

    /// Records a fault on `victim` at `fault` (the database's clock) that moved `cameras` after
    /// `moved` seconds: waits for and prints each moved camera's recording gap.
    pub async fn record(
        &mut self,
        cluster: &Cluster,
        victim: &str,
        cameras: &[String],
        fault: f64,
        moved: &[f64],
    ) -> anyhow::Result<()> {
        let node = cluster.id(victim);
        let wait = Duration::from_secs(20);
        let gaps = oracle::recording_gaps(cluster.db(), cameras, &node, fault, wait).await?;
        println!(
            "{}: recording gap per moved camera {gaps:.2?} s",
            self.label
        );
        self.times.extend(moved);
        self.gaps.extend(gaps);
        self.faults.push(oracle::Fault {
            node,
            cameras: cameras.to_vec(),
            at: fault,
        });
        Ok(())
    }

    /// Prints the series' percentiles, then, once every victim's orphan sweep has run, the gaps
    /// as the store has them then.
    pub async fn report(&self, cluster: &Cluster) -> anyhow::Result<()> {
        let p = |v: &[f64], q| percentile(v, q);
        println!(
            "{}: {} takeovers over {} faults: p50 {:.2} s, p99 {:.2} s; recording gap per moved camera p50 {:.2} s, p99 {:.2} s",
            self.label,
            self.times.len(),
            self.faults.len(),
            p(&self.times, 50.0),
            p(&self.times, 99.0),
            p(&self.gaps, 50.0),
            p(&self.gaps, 99.0)
        );
        Cluster::wait_swept().await;
        let swept = oracle::gaps_now(cluster.db(), &self.faults).await?;
        println!(
            "{}: recording gap per moved camera once the victims swept their orphans: p50 {:.2} s, p99 {:.2} s",
            self.label,
            p(&swept, 50.0),
            p(&swept, 99.0)
        );
        Ok(())
    }
}
