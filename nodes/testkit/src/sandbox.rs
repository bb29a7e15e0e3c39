//! A builder-style harness for tests and chaos scenarios: a scratch PostgreSQL database, the camera
//! simulator and `vms node` processes on free ports, an HTTP client for the API, and a deadline-based
//! `wait_for`. Setup noise lives here, not in each test.

use crate::databases::TestDatabase;
use crate::node_process::NodeProcess;
use crate::probes::{metric_positive, typed};
use crate::waiting::{free_port, wait_for};
use anyhow::{Context, bail};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Command;
use vms_messages::{ApiKeyCreated, Export, ExportState, StreamToken, TokenPair, User};
use vms_messages::{CameraView, Segment, SegmentPage, Tenant};
use vms_node::json_response;
use vms_node::{SimOptions, SimProcess};

/// Builds a [`Sandbox`].
pub struct SandboxBuilder {
    exe: PathBuf,
    cameras: usize,
    env: Vec<(String, String)>,
    data_tmpfs_mib: Option<u32>,
    scene: String,
    postgres: Option<String>,
    audio: Option<String>,
    video_codec: String,
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

    /// The simulated cameras send audio too: `opus`, `pcmu`, `pcma` or `aac` (default none).
    pub fn audio(mut self, codec: &str) -> Self {
        self.audio = Some(codec.into());
        self
    }

    /// The simulator's video codec: `h264` (the default) or `h265`.
    pub fn video_codec(mut self, codec: &str) -> Self {
        self.video_codec = codec.into();
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
                codec: self.video_codec.clone(),
                audio: self.audio.clone(),
                tls_cert: None,
                extra_args: Vec::new(),
                cpus: None,
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
            audio: None,
            video_codec: "h264".into(),
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
            .env(vms_node::ADMIN_PASSWORD_ENV, SANDBOX_ADMIN_PASSWORD)
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
        let key: ApiKeyCreated = typed(status, key).context("create admin api key")?;
        self.admin_key = key.key;
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
        let pair: TokenPair = typed(status, body).with_context(|| format!("login {email}"))?;
        Ok(pair.access_token)
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
        let tenant: Tenant = self
            .post_typed("/tenants", body)
            .await
            .with_context(|| format!("create tenant {body}"))?;
        Ok(tenant.id.to_string())
    }

    /// Creates a user as the platform admin, failing unless 201; returns its id.
    pub async fn create_user(
        &self,
        email: &str,
        password: &str,
        role: &str,
        tenant: Option<&str>,
    ) -> anyhow::Result<String> {
        let user: User = self
            .post_typed(
                "/users",
                &serde_json::json!({"email": email, "password": password, "role": role, "tenant_id": tenant}),
            )
            .await
            .with_context(|| format!("create user {email}"))?;
        Ok(user.id.to_string())
    }

    /// Creates a camera, failing unless 201; returns its id.
    pub async fn create_camera(
        &self,
        tenant: &str,
        name: &str,
        url: &str,
    ) -> anyhow::Result<String> {
        let camera: CameraView = self
            .post_typed(
                "/cameras",
                &serde_json::json!({"tenant_id": tenant, "name": name, "url": url}),
            )
            .await
            .context("create camera")?;
        Ok(camera.camera.id.to_string())
    }

    /// Waits until the camera's status state is `state`; returns the whole camera view.
    pub async fn wait_state(
        &self,
        camera: &str,
        state: &str,
        deadline: Duration,
    ) -> anyhow::Result<CameraView> {
        let path = format!("/cameras/{camera}");
        wait_for(&format!("camera {camera} {state}"), deadline, || {
            let path = path.clone();
            async move {
                let view: CameraView = self.get_typed(&path).await?;
                Ok((view.status.state.as_str() == state).then_some(view))
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
    pub async fn get_typed<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.request_typed(reqwest::Method::GET, path, None).await
    }

    /// `POST` of `body` to the API path `path`, its 2xx answer read as `T`.
    pub async fn post_typed<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<T> {
        self.request_typed(reqwest::Method::POST, path, Some(body))
            .await
    }

    /// A stream token for `camera`, valid for `ttl_seconds`.
    pub async fn stream_token(&self, camera: &str, ttl_seconds: u32) -> anyhow::Result<String> {
        let token: StreamToken = self
            .post_typed(
                &format!("/cameras/{camera}/stream-token"),
                &serde_json::json!({ "ttl_seconds": ttl_seconds }),
            )
            .await?;
        Ok(token.token)
    }

    /// Asks for the export `body` describes and waits (up to a minute) until it is done; an
    /// error when it fails.
    pub async fn export_done(&self, body: &Value) -> anyhow::Result<Export> {
        let export: Export = self.post_typed("/exports", body).await?;
        wait_for("export done", Duration::from_secs(60), || async {
            let e: Export = self.get_typed(&format!("/exports/{}", export.id)).await?;
            anyhow::ensure!(e.state != ExportState::Failed, "export failed: {e:?}");
            Ok((e.state == ExportState::Done).then_some(e))
        })
        .await
    }

    /// A request as the platform admin, its 2xx answer read as `T`.
    pub async fn request_typed<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<T> {
        let (status, answer) = self.request(method.clone(), path, body).await?;
        typed(status, answer).with_context(|| format!("{method} {path}"))
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

/// E-mail of the sandbox node's first platform admin (the default `auth.admin_email`).
pub const SANDBOX_ADMIN_EMAIL: &str = "admin@vms.local";
/// Password the sandbox gives that admin.
pub const SANDBOX_ADMIN_PASSWORD: &str = "sandbox-admin-password";
