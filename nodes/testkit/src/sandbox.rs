//! A builder-style harness for tests and chaos scenarios: a scratch PostgreSQL database, the camera
//! simulator and `vms node` processes on free ports, an HTTP client for the API, and a deadline-based
//! `wait_for`. Setup noise lives here, not in each test.

use anyhow::{Context, bail};
use serde_json::Value;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use vms_messages::{Segment, SegmentPage};
use vms_node::process::{SimOptions, SimProcess};
use vms_store::{create_database, drop_database, with_database};

/// The PostgreSQL server tests use (`VMS_TEST_POSTGRES` overrides).
pub fn test_postgres() -> String {
    std::env::var("VMS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Ports [`free_port`] hands out: below Linux's ephemeral range (32768–60999), so the port cannot
/// be taken in the meantime as the local end of some process's outgoing connection (a node's own
/// PostgreSQL or NATS connection, made before it binds its listener).
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A TCP port on 127.0.0.1 that was free a moment ago, never the same twice in this process.
pub fn free_port() -> anyhow::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = u32::from(TEST_PORTS.end - TEST_PORTS.start);
    // Each test process starts at its own place in the range, so parallel runs rarely meet.
    let offset = std::process::id().wrapping_mul(7919);
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = TEST_PORTS.start + u16::try_from(offset.wrapping_add(n) % span).unwrap_or(0);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port in {TEST_PORTS:?}")
}

/// Polls `check` every 200 ms until it returns `Some` or `deadline` passes.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let started = Instant::now();
    let mut last_err = None;
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if started.elapsed() > deadline {
            match last_err {
                Some(e) => {
                    bail!("timed out after {deadline:?} waiting for {what}; last error: {e:#}")
                }
                None => bail!("timed out after {deadline:?} waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A scratch database, dropped with the value.
pub struct TestDatabase {
    admin: String,
    name: String,
    /// Connection URL of the database.
    pub url: String,
}

impl TestDatabase {
    /// Creates `vms_t_<random>` on the test server.
    pub async fn create() -> anyhow::Result<Self> {
        Self::create_on(&test_postgres()).await
    }

    /// Creates `vms_t_<random>` on the server at `admin` (a URL of its `postgres` database).
    pub async fn create_on(admin: &str) -> anyhow::Result<Self> {
        let admin = admin.to_string();
        let name = format!("vms_t_{}", uuid::Uuid::now_v7().simple());
        create_database(&admin, &name)
            .await
            .with_context(|| format!("cannot create database on {admin}"))?;
        let url = with_database(&admin, &name);
        Ok(Self { admin, name, url })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs outside any async context guarantee: use a private runtime on a private thread.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(drop_database(&admin, &name));
            }
        })
        .join();
    }
}

/// A `vms node` child process.
pub struct NodeProcess {
    child: Child,
    /// Base URL of its API, `http://127.0.0.1:<port>`.
    pub api: String,
    /// Its data folder.
    pub data_dir: PathBuf,
    /// Its log (stderr), beside its data folder.
    log: PathBuf,
}

impl NodeProcess {
    /// Waits for it to exit (at most `deadline`); its exit status, if it did.
    pub async fn exited(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(deadline, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Kills it with SIGKILL (a crash) and waits.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Stops it with SIGTERM and waits.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            vms_node::process::terminate(pid);
        }
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Builds a [`Sandbox`].
pub struct SandboxBuilder {
    exe: PathBuf,
    cameras: usize,
    env: Vec<(String, String)>,
    data_tmpfs_mib: Option<u32>,
    scene: String,
    postgres: Option<String>,
}

impl SandboxBuilder {
    /// Simulated cameras to serve (default 1).
    pub fn cameras(mut self, n: usize) -> Self {
        self.cameras = n;
        self
    }

    /// Uses the PostgreSQL server at `admin_url` (e.g. a [`PrivatePostgres`]) instead of the shared one.
    pub fn postgres_server(mut self, admin_url: &str) -> Self {
        self.postgres = Some(admin_url.into());
        self
    }

    /// What the simulated cameras see: `plain` (default) or `person`.
    pub fn scene(mut self, scene: &str) -> Self {
        self.scene = scene.into();
        self
    }

    /// A `VMS_*` override for the node.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Puts the node's data folder on a private tmpfs of this size (needs root), to fill the disk.
    pub fn data_on_tmpfs(mut self, mib: u32) -> Self {
        self.data_tmpfs_mib = Some(mib);
        self
    }

    /// Starts the database, the simulator and one node, and waits until the node is ready.
    pub async fn start(self) -> anyhow::Result<Sandbox> {
        let db = match &self.postgres {
            Some(server) => TestDatabase::create_on(server).await?,
            None => TestDatabase::create().await?,
        };
        let sim = SimProcess::start_exe(
            &self.exe,
            &SimOptions {
                cameras: self.cameras,
                port: free_port()?,
                resolution: "720p".into(),
                scene: self.scene.clone(),
                aligned: false,
            },
        )
        .await?;
        let dir =
            std::env::temp_dir().join(format!("vms-sandbox-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(dir.join("data"))?;
        let tmpfs = match self.data_tmpfs_mib {
            Some(mib) => Some(Tmpfs::mount(&dir.join("data"), mib)?),
            None => None,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let mut sandbox = Sandbox {
            exe: self.exe,
            db,
            sim,
            node: None,
            dir,
            anonymous: http.clone(),
            http,
            admin_key: String::new(),
            node_id: format!(
                "test-{}-{}",
                std::process::id(),
                SANDBOXES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
            env: self.env,
            tmpfs,
        };
        sandbox.start_node().await?;
        sandbox.become_admin().await?;
        Ok(sandbox)
    }
}

/// Sandboxes made by this process, for unique node ids.
static SANDBOXES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Database, simulator and a node for one test.
pub struct Sandbox {
    // Fields drop in order: the node stops before the simulator and the database go.
    /// The node, while running.
    pub node: Option<NodeProcess>,
    /// Camera simulator.
    pub sim: SimProcess,
    /// Scratch database.
    pub db: TestDatabase,
    /// A platform admin's API key, sent by [`Sandbox::request`] and [`Sandbox::http`].
    pub admin_key: String,
    /// The node's id, unique to this sandbox (nodes of every test share NATS).
    pub node_id: String,
    exe: PathBuf,
    dir: PathBuf,
    http: reqwest::Client,
    anonymous: reqwest::Client,
    env: Vec<(String, String)>,
    tmpfs: Option<Tmpfs>,
}

/// A private tmpfs mount, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, mib: u32) -> anyhow::Result<Self> {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(path)
            .status()
            .context("cannot run mount")?;
        if !status.success() {
            bail!("cannot mount a tmpfs at {} (root needed)", path.display());
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

impl Sandbox {
    /// A builder running `exe` (in tests: `env!("CARGO_BIN_EXE_vms")`).
    pub fn builder(exe: impl AsRef<Path>) -> SandboxBuilder {
        SandboxBuilder {
            exe: exe.as_ref().to_path_buf(),
            cameras: 1,
            env: Vec::new(),
            data_tmpfs_mib: None,
            scene: "plain".into(),
            postgres: None,
        }
    }

    /// Starts a node (again) on a fresh port and waits for `/readyz`.
    pub async fn start_node(&mut self) -> anyhow::Result<()> {
        let mut node = self.spawn_node(&self.node_id.clone(), "data")?;
        let ready = self.wait_ready(&mut node).await;
        self.node = Some(node);
        ready
    }

    /// Starts another node process on this sandbox's database and simulator, with id `node_id` and
    /// its own data folder `data_name` and port; it is not waited for.
    pub fn spawn_node(&self, node_id: &str, data_name: &str) -> anyhow::Result<NodeProcess> {
        self.spawn_node_with(node_id, data_name, &[])
    }

    /// [`Sandbox::spawn_node`] with environment overrides of its own (after the sandbox's).
    pub fn spawn_node_with(
        &self,
        node_id: &str,
        data_name: &str,
        env: &[(String, String)],
    ) -> anyhow::Result<NodeProcess> {
        let port = free_port()?;
        let data_dir = self.dir.join(data_name);
        let mut cmd = Command::new(&self.exe);
        cmd.arg("node")
            .env(
                vms_node::bootstrap::ADMIN_PASSWORD_ENV,
                SANDBOX_ADMIN_PASSWORD,
            )
            .env("VMS_NODE_ID", node_id)
            // Nodes of every test share NATS: each sandbox is a cluster of its own.
            .env("VMS_CLUSTER__NAME", &self.node_id)
            .env("VMS_CLUSTER__LINK_PORT", free_port()?.to_string())
            .env("VMS_DATA_DIR", &data_dir)
            .env("VMS_API__LISTEN", format!("127.0.0.1:{port}"))
            .env("VMS_POSTGRES__URL", &self.db.url)
            .env(
                "VMS_LOG",
                std::env::var("VMS_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in self.env.iter().chain(env) {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().context("cannot start vms node")?;
        // Keep the node's log (stderr) in its data folder's sibling, and pass it on to ours.
        let log = self.log_file(data_name);
        if let Some(mut err) = child.stderr.take() {
            let log = log.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let mut buf = vec![0u8; 8192];
                let mut file = tokio::fs::File::create(&log).await.ok();
                while let Ok(n) = tokio::io::AsyncReadExt::read(&mut err, &mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let _ = tokio::io::stderr().write_all(&buf[..n]).await;
                    if let Some(f) = file.as_mut() {
                        let _ = f.write_all(&buf[..n]).await;
                    }
                }
            });
        }
        Ok(NodeProcess {
            child,
            api: format!("http://127.0.0.1:{port}"),
            data_dir,
            log,
        })
    }

    /// The data folder of the node started with data folder name `data_name`.
    pub fn node_dir(&self, data_name: &str) -> PathBuf {
        self.dir.join(data_name)
    }

    /// Waits until `node`'s `/readyz` answers 2xx; fails at once, with the end of its log, if the
    /// process exits first, and with the end of its log if it is not ready within 60 s.
    pub async fn wait_ready(&self, node: &mut NodeProcess) -> anyhow::Result<()> {
        let url = format!("{}/readyz", node.api);
        let started = Instant::now();
        loop {
            let ready = self
                .http
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(());
            }
            let exited = node.child.try_wait().ok().flatten();
            if exited.is_some() || started.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(&node.log).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(40)..].join("\n");
                match exited {
                    Some(status) => bail!(
                        "node {} exited before it was ready ({status}); its log ends:\n{tail}",
                        node.api
                    ),
                    None => bail!(
                        "node {} not ready after 60 s; its log ends:\n{tail}",
                        node.api
                    ),
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The log (stderr) of the node started with data folder `data_name`.
    pub fn node_log(&self, data_name: &str) -> String {
        std::fs::read_to_string(self.log_file(data_name)).unwrap_or_default()
    }

    /// Where the node started with data folder `data_name` keeps its log.
    fn log_file(&self, data_name: &str) -> PathBuf {
        self.dir.join(format!("{data_name}.log"))
    }

    /// Logs in as the bootstrap admin, makes a platform-admin API key, and sends it from then on.
    async fn become_admin(&mut self) -> anyhow::Result<()> {
        let token = self
            .login(SANDBOX_ADMIN_EMAIL, SANDBOX_ADMIN_PASSWORD)
            .await?;
        let (status, key) = self
            .request_as(
                Some(&token),
                reqwest::Method::POST,
                "/api-keys",
                Some(&serde_json::json!({"name": "sandbox"})),
            )
            .await?;
        if status != 201 {
            bail!("create admin api key: {status} {key}");
        }
        self.admin_key = key["key"].as_str().context("api key")?.to_string();
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", self.admin_key).parse()?,
        );
        self.http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .default_headers(headers)
            .build()?;
        Ok(())
    }

    /// The status `GET /auth/me` answers with `token`: 200 while the credential works.
    pub async fn me_status(&self, token: &str) -> anyhow::Result<u16> {
        Ok(self
            .request_as(Some(token), reqwest::Method::GET, "/auth/me", None)
            .await?
            .0)
    }

    /// `POST /api-keys` with `token` and `body`.
    pub async fn new_api_key(&self, token: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        self.request_as(Some(token), reqwest::Method::POST, "/api-keys", Some(body))
            .await
    }

    /// `POST /auth/refresh` with `refresh_token`.
    pub async fn refresh(&self, refresh_token: &str) -> anyhow::Result<(u16, Value)> {
        self.request_as(
            None,
            reqwest::Method::POST,
            "/auth/refresh",
            Some(&serde_json::json!({"refresh_token": refresh_token})),
        )
        .await
    }

    /// Logs in; returns the access token.
    pub async fn login(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let (status, body) = self
            .request_as(
                None,
                reqwest::Method::POST,
                "/auth/login",
                Some(&serde_json::json!({"email": email, "password": password})),
            )
            .await?;
        if status != 200 {
            bail!("login {email}: {status} {body}");
        }
        Ok(body["access_token"]
            .as_str()
            .context("access token")?
            .to_string())
    }

    /// Sends a request with the given bearer token (none: anonymous); returns status and JSON body.
    pub async fn request_as(
        &self,
        token: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let url = self.url(path)?;
        let mut req = self.anonymous.request(method, &url);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("request to {url}"))?;
        json_response(resp).await
    }

    fn url(&self, path: &str) -> anyhow::Result<String> {
        Ok(if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.api()?)
        })
    }

    /// The running node.
    pub fn node(&self) -> anyhow::Result<&NodeProcess> {
        self.node.as_ref().context("node not running")
    }

    /// `http://127.0.0.1:<port>/api/v1`.
    pub fn api(&self) -> anyhow::Result<String> {
        Ok(format!("{}/api/v1", self.node()?.api))
    }

    /// The HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends a request as the platform admin with an optional JSON body; returns status and JSON body
    /// (`Null` when empty).
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        self.request_as(Some(&self.admin_key), method, path, body)
            .await
    }

    /// GET returning JSON.
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        self.request(reqwest::Method::GET, path, None).await
    }

    /// POST a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }

    /// The node's Prometheus metrics, as text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let url = format!("{}/metrics", self.node()?.api);
        Ok(self.http.get(url).send().await?.text().await?)
    }

    /// Waits until some series of the metric `name` is above zero.
    pub async fn wait_metric_positive(&self, name: &str, deadline: Duration) -> anyhow::Result<()> {
        wait_for(&format!("{name} above zero"), deadline, || async move {
            Ok(metric_positive(&self.metrics().await?, name).then_some(()))
        })
        .await
    }

    /// Creates a tenant, failing unless 201.
    pub async fn create_tenant(&self, name: &str, max_cameras: u32) -> anyhow::Result<String> {
        self.create_tenant_from(&serde_json::json!({"name": name, "max_cameras": max_cameras}))
            .await
    }

    /// Creates a tenant whose licence allows the person detector, failing unless 201; returns its id.
    pub async fn create_watched_tenant(&self, name: &str) -> anyhow::Result<String> {
        self.create_tenant_from(&serde_json::json!({"name": name, "allowed_detectors": ["person"]}))
            .await
    }

    /// Creates a tenant from a request body, failing unless 201; returns its id.
    pub async fn create_tenant_from(&self, body: &Value) -> anyhow::Result<String> {
        let (status, answer) = self.post("/tenants", body).await?;
        if status != 201 {
            bail!("create tenant {body}: {status} {answer}");
        }
        Ok(answer["id"].as_str().context("tenant id")?.to_string())
    }

    /// Creates a user as the platform admin, failing unless 201; returns its id.
    pub async fn create_user(
        &self,
        email: &str,
        password: &str,
        role: &str,
        tenant: Option<&str>,
    ) -> anyhow::Result<String> {
        let (status, body) = self
            .post(
                "/users",
                &serde_json::json!({"email": email, "password": password, "role": role, "tenant_id": tenant}),
            )
            .await?;
        if status != 201 {
            bail!("create user {email}: {status} {body}");
        }
        Ok(body["id"].as_str().context("user id")?.to_string())
    }

    /// Creates a camera, failing unless 201; returns its id.
    pub async fn create_camera(
        &self,
        tenant: &str,
        name: &str,
        url: &str,
    ) -> anyhow::Result<String> {
        let (status, body) = self
            .post(
                "/cameras",
                &serde_json::json!({"tenant_id": tenant, "name": name, "url": url}),
            )
            .await?;
        if status != 201 {
            bail!("create camera: {status} {body}");
        }
        Ok(body["id"].as_str().context("camera id")?.to_string())
    }

    /// Waits until the camera's status state is `state`; returns the whole camera view.
    pub async fn wait_state(
        &self,
        camera: &str,
        state: &str,
        deadline: Duration,
    ) -> anyhow::Result<Value> {
        let path = format!("/cameras/{camera}");
        wait_for(&format!("camera {camera} {state}"), deadline, || {
            let path = path.clone();
            async move {
                let (_, v) = self.get(&path).await?;
                Ok((v["status"]["state"] == state).then_some(v))
            }
        })
        .await
    }

    /// Every segment of a camera (following cursors).
    pub async fn segments(&self, camera: &str) -> anyhow::Result<Vec<Segment>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/cameras/{camera}/segments?limit=100&cursor={c}"),
                None => format!("/cameras/{camera}/segments?limit=100"),
            };
            let page: SegmentPage = self.get_typed(&path).await?;
            out.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// `GET` of the API path `path` (under `/api/v1`), its 200 answer read as `T`.
    pub async fn get_typed<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let (status, body) = self.get(path).await?;
        if status != 200 {
            bail!("GET {path}: {status} {body}");
        }
        serde_json::from_value(body).with_context(|| format!("GET {path}: unexpected answer"))
    }

    /// Waits until a camera has at least `n` segments.
    pub async fn wait_segments(
        &self,
        camera: &str,
        n: usize,
        deadline: Duration,
    ) -> anyhow::Result<Vec<Segment>> {
        wait_for(
            &format!("{n} segments of camera {camera}"),
            deadline,
            || async move {
                let segs = self.segments(camera).await?;
                Ok((segs.len() >= n).then_some(segs))
            },
        )
        .await
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.node = None;
        self.tmpfs = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every message on the JetStream events stream (shared NATS at 127.0.0.1:4222) for `subject`, as
/// (`Nats-Msg-Id`, JSON body), oldest first.
pub async fn jetstream_events(subject: &str) -> anyhow::Result<Vec<(Option<String>, Value)>> {
    use async_nats::jetstream;
    use futures_util::StreamExt;
    let client = async_nats::connect("nats://127.0.0.1:4222").await?;
    let stream = jetstream::new(client)
        .get_stream(vms_messages::subjects::EVENTS_STREAM)
        .await?;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            filter_subject: subject.to_string(),
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await?;
    let mut batch = consumer
        .fetch()
        .max_messages(1000)
        .expires(Duration::from_secs(1))
        .messages()
        .await?;
    let mut out = Vec::new();
    while let Some(Ok(msg)) = batch.next().await {
        let id = msg
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.as_str().to_string());
        out.push((id, serde_json::from_slice(&msg.payload).unwrap_or_default()));
    }
    Ok(out)
}

/// E-mail of the sandbox node's first platform admin (the default `auth.admin_email`).
pub const SANDBOX_ADMIN_EMAIL: &str = "admin@vms.local";
/// Password the sandbox gives that admin.
pub const SANDBOX_ADMIN_PASSWORD: &str = "sandbox-admin-password";

pub use vms_node::ctl::json_response;

/// Sum of the series of metric `name` whose labels mention `label` (0 when there is none).
pub fn metric_value(text: &str, name: &str, label: &str) -> f64 {
    vms_bench::node::metric_sum(text, name, Some(label))
}

/// Asserts an API error answer's status and the field it names.
pub fn assert_refused(status: u16, body: &Value, want: u16, field: &str) {
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (want, Some(field)),
        "{body}"
    );
}

/// Whether some series of metric `name` in a Prometheus text exposition has a value above zero.
pub fn metric_positive(text: &str, name: &str) -> bool {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .any(|v| v > 0.0)
}

/// Duration of a media file as `ffprobe` reads it, in seconds.
pub fn ffprobe_duration(path: &Path) -> anyhow::Result<f64> {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name",
            "-of",
            "default=nw=1",
        ])
        .arg(path)
        .output()
        .context("cannot run ffprobe (install ffmpeg)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !text.contains("codec_name=h264") {
        bail!(
            "ffprobe cannot read {}: {text} {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    text.lines()
        .find_map(|l| l.strip_prefix("duration="))
        .context("no duration")?
        .trim()
        .parse()
        .context("bad duration")
}

/// A PostgreSQL server of this test alone (`initdb` + `pg_ctl` on a free port), for stopping and
/// starting without touching the shared one. Needs root (it runs the server as `postgres`).
pub struct PrivatePostgres {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
}

impl PrivatePostgres {
    /// Creates and starts a server.
    pub fn start() -> anyhow::Result<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .context("PostgreSQL server binaries not found in /usr/lib/postgresql")?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|p| p.join("initdb").is_file())
            .context("initdb not found")?;
        let dir = std::env::temp_dir().join(format!("vms-pg-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir)?;
        run("chown", &["postgres:postgres", &dir.to_string_lossy()])?;
        let data = dir.join("data");
        run(
            "runuser",
            &[
                "-u",
                "postgres",
                "--",
                &bin.join("initdb").to_string_lossy(),
                "-D",
                &data.to_string_lossy(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        )?;
        let pg = Self {
            dir,
            port: free_port()?,
            bin,
        };
        pg.resume()?;
        Ok(pg)
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        let data = self.dir.join("data");
        let mut all = vec!["-u", "postgres", "--"];
        let pg_ctl = self.bin.join("pg_ctl");
        let pg_ctl = pg_ctl.to_string_lossy();
        let data = data.to_string_lossy();
        all.extend([pg_ctl.as_ref(), "-D", data.as_ref(), "-w"]);
        all.extend(args);
        run("runuser", &all)
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn pause(&self) -> anyhow::Result<()> {
        self.ctl(&["-m", "fast", "stop"])
    }

    /// Gives the server a certificate for 127.0.0.1 signed by a CA made here, turns TLS on and
    /// restarts it; answers the CA's PEM file (for `postgres.tls_ca_file`).
    pub fn enable_tls(&self) -> anyhow::Result<PathBuf> {
        let tls = self.dir.join("tls");
        std::fs::create_dir_all(&tls)?;
        let p = |name: &str| tls.join(name).to_string_lossy().into_owned();
        let (ca_key, ca, key, csr, cert, ext) = (
            p("ca.key"),
            p("ca.pem"),
            p("server.key"),
            p("server.csr"),
            p("server.pem"),
            p("ext.cnf"),
        );
        std::fs::write(&ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n")?;
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &ca_key,
                "-out",
                &ca,
                "-days",
                "2",
                "-subj",
                "/CN=vms test CA",
            ],
        )?;
        run(
            "openssl",
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                "/CN=127.0.0.1",
            ],
        )?;
        run(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        )?;
        run(
            "chown",
            &["-R", "postgres:postgres", &tls.to_string_lossy()],
        )?;
        run("chmod", &["600", &key])?;
        let conf = self.dir.join("data").join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)?;
        text.push_str(&format!(
            "\nssl = on\nssl_cert_file = '{cert}'\nssl_key_file = '{key}'\n"
        ));
        std::fs::write(&conf, text)?;
        self.pause()?;
        self.resume()?;
        Ok(PathBuf::from(ca))
    }

    /// Starts the server again.
    pub fn resume(&self) -> anyhow::Result<()> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        self.ctl(&["-o", &opts, "-l", &log.to_string_lossy(), "start"])
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.pause();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_values_are_read_by_name() {
        let text = "# HELP x\nvms_a_total{camera=\"c\"} 0\nvms_a_total_other 5\nvms_b_total 2\n";
        assert!(!metric_positive(text, "vms_a_total"));
        assert!(metric_positive(text, "vms_b_total"));
        assert!(!metric_positive(text, "vms_c_total"));
    }
}
