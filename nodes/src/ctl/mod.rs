//! `vms ctl`: the API from the command line, with readable tables. Authenticates with an API key
//! (`--api-key` or `VMS_API_KEY`) or with the session `vms ctl login` saved (refreshed when it expires).

use anyhow::{Context, bail};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// Options of `vms ctl`.
#[derive(Debug, clap::Args)]
pub struct CtlArgs {
    /// API base URL.
    #[arg(long, env = "VMS_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// API key (instead of a saved login).
    #[arg(long, env = "VMS_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Print raw JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// The subcommand.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// What `vms ctl` does.
#[derive(Debug, clap::Subcommand)]
pub enum CtlCommand {
    /// Log in and save the session (password from `VMS_PASSWORD` or a prompt).
    Login {
        /// E-mail.
        #[arg(long)]
        email: String,
    },
    /// End the saved session.
    Logout,
    /// Who the credentials belong to.
    Whoami,
    /// Tenants and licences.
    Tenants {
        /// The subcommand.
        #[command(subcommand)]
        command: TenantsCommand,
    },
    /// Cameras.
    Cameras {
        /// The subcommand.
        #[command(subcommand)]
        command: CamerasCommand,
    },
    /// Users.
    Users {
        /// The subcommand.
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// API keys.
    ApiKeys {
        /// The subcommand.
        #[command(subcommand)]
        command: ApiKeysCommand,
    },
    /// Events, newest first.
    Events {
        /// Only this camera.
        #[arg(long)]
        camera: Option<String>,
        /// Only this kind (`intrusion`, `loitering`, `line_crossing`, `crowd`, `escalation`).
        #[arg(long)]
        kind: Option<String>,
        /// Events.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Tickets, newest first.
    Tickets {
        /// Only this state (`open`, `acknowledged`, `resolved`, `closed`).
        #[arg(long)]
        state: Option<String>,
        /// Tickets.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// The cluster's nodes and their state; drain, undrain and remove them.
    Nodes {
        /// The subcommand (default: list).
        #[command(subcommand)]
        command: Option<NodesCommand>,
    },
    /// Where every camera is placed, at which ownership epoch; the leader and its epoch.
    Placement {
        /// Only this node's cameras.
        #[arg(long)]
        node: Option<String>,
        /// Cameras.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Notification channels and their delivery log.
    Channels {
        /// The subcommand.
        #[command(subcommand)]
        command: ChannelsCommand,
    },
    /// The audit log, newest first.
    Audit {
        /// Only this tenant (platform admins).
        #[arg(long)]
        tenant: Option<String>,
        /// Lines.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

/// `vms ctl nodes …`
#[derive(Debug, clap::Subcommand)]
pub enum NodesCommand {
    /// List the nodes.
    List,
    /// Hand a node's cameras over to the others (make-before-break) and place none on it.
    Drain {
        /// Node id.
        id: String,
    },
    /// Place cameras on a drained node again.
    Undrain {
        /// Node id.
        id: String,
    },
    /// Remove a drained, stopped node that holds no camera.
    Remove {
        /// Node id.
        id: String,
    },
}

/// `vms ctl tenants …`
#[derive(Debug, clap::Subcommand)]
pub enum TenantsCommand {
    /// List tenants.
    List,
    /// Create a tenant.
    Create {
        /// Name.
        #[arg(long)]
        name: String,
        /// Licence: most cameras.
        #[arg(long)]
        max_cameras: Option<u32>,
        /// Licence: retention days.
        #[arg(long)]
        retention_days: Option<u32>,
        /// Licence: end (RFC 3339).
        #[arg(long)]
        expires_at: Option<String>,
    },
}

/// `vms ctl cameras …`
#[derive(Debug, clap::Subcommand)]
pub enum CamerasCommand {
    /// List cameras with their state.
    List {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// One camera with its live status.
    Get {
        /// Camera id.
        id: String,
    },
    /// Add a camera.
    Add {
        /// Name.
        #[arg(long)]
        name: String,
        /// RTSP URL.
        #[arg(long)]
        url: String,
        /// Tenant (platform admins).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Delete a camera and its recordings.
    Delete {
        /// Camera id.
        id: String,
    },
}

/// `vms ctl users …`
#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// List users.
    List,
    /// Create a user (password from `VMS_NEW_PASSWORD` or a prompt).
    Add {
        /// E-mail.
        #[arg(long)]
        email: String,
        /// Role: platform_admin, tenant_admin, operator or viewer.
        #[arg(long)]
        role: String,
        /// Tenant (platform admins creating tenant users).
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// `vms ctl api-keys …`
#[derive(Debug, clap::Subcommand)]
pub enum ApiKeysCommand {
    /// List API keys.
    List,
    /// Create an API key acting as you (printed once).
    Create {
        /// Name.
        #[arg(long)]
        name: String,
        /// Role (default: yours).
        #[arg(long)]
        role: Option<String>,
        /// Expiry (RFC 3339).
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// Revoke an API key.
    Revoke {
        /// Key id.
        id: String,
    },
}

/// `vms ctl channels …`
#[derive(Debug, clap::Subcommand)]
pub enum ChannelsCommand {
    /// List channels.
    List,
    /// Add a webhook; its signing secret is printed once.
    AddWebhook {
        /// Name.
        #[arg(long)]
        name: String,
        /// URL (`http://` or `https://`).
        #[arg(long)]
        url: String,
        /// Only these event kinds (comma-separated; default every kind).
        #[arg(long, value_delimiter = ',')]
        kinds: Vec<String>,
        /// Tenant (platform admins).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Add e-mail recipients.
    AddEmail {
        /// Name.
        #[arg(long)]
        name: String,
        /// Recipients (comma-separated).
        #[arg(long, value_delimiter = ',', required = true)]
        to: Vec<String>,
        /// Only these event kinds (comma-separated; default every kind).
        #[arg(long, value_delimiter = ',')]
        kinds: Vec<String>,
        /// Tenant (platform admins).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// A channel's delivery log, newest first.
    Deliveries {
        /// Channel id.
        id: String,
        /// Only dead letters.
        #[arg(long)]
        dead: bool,
    },
    /// Queue a dead letter again.
    Retry {
        /// Delivery id.
        id: String,
    },
    /// Delete a channel.
    Delete {
        /// Channel id.
        id: String,
    },
}

/// A saved login.
#[derive(Debug, Serialize, Deserialize)]
struct Session {
    url: String,
    access_token: String,
    refresh_token: String,
}

fn session_path() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("vms").join("session.json")
}

fn save_session(session: &Session) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = session_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(serde_json::to_string_pretty(session)?.as_bytes())?;
    Ok(())
}

/// Reads a secret from `env`, else from the terminal without echo (or a line of standard input).
fn read_secret(env: &str, prompt: &str) -> anyhow::Result<String> {
    if let Ok(v) = std::env::var(env) {
        return Ok(v);
    }
    eprint!("{prompt}");
    let stdin = std::io::stdin();
    let tty = rustix::termios::isatty(&stdin);
    let saved = if tty {
        rustix::termios::tcgetattr(&stdin).ok()
    } else {
        None
    };
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(t) = &saved {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, t);
        eprintln!();
    }
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

struct Client {
    http: reqwest::Client,
    url: String,
    api_key: Option<String>,
    session: Option<Session>,
}

impl Client {
    fn token(&self) -> Option<&str> {
        self.api_key
            .as_deref()
            .or(self.session.as_ref().map(|s| s.access_token.as_str()))
    }

    async fn send(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}/api/v1{path}", self.url.trim_end_matches('/'));
        let mut req = self.http.request(method.clone(), &url);
        if let Some(t) = self.token() {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        json_response(resp).await
    }

    /// Sends a request; a 401 on a saved session refreshes it once and retries.
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (mut status, mut answer) = self.send(&method, path, body.as_ref()).await?;
        if status == 401 && self.api_key.is_none() && self.refresh().await? {
            (status, answer) = self.send(&method, path, body.as_ref()).await?;
        }
        if status == 401 && self.token().is_none() {
            bail!("not logged in: run `vms ctl login --email …` or set VMS_API_KEY");
        }
        if !(200..300).contains(&status) {
            let e = &answer["error"];
            let field = e["field"]
                .as_str()
                .map(|f| format!(" (field {f})"))
                .unwrap_or_default();
            bail!(
                "{status} {}: {}{field}",
                e["code"].as_str().unwrap_or("error"),
                e["message"].as_str().unwrap_or("")
            );
        }
        Ok(answer)
    }

    async fn refresh(&mut self) -> anyhow::Result<bool> {
        let Some(session) = &self.session else {
            return Ok(false);
        };
        let body = json!({"refresh_token": session.refresh_token});
        let url = format!("{}/api/v1/auth/refresh", self.url.trim_end_matches('/'));
        let resp = self.http.post(url).json(&body).send().await?;
        let (status, pair) = json_response(resp).await?;
        if status != 200 {
            return Ok(false);
        }
        let fresh = Session {
            url: self.url.clone(),
            access_token: pair["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            refresh_token: pair["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        };
        save_session(&fresh)?;
        self.session = Some(fresh);
        Ok(true)
    }
}

/// Columns of node tables.
const NODE_COLUMNS: &[&str] = &[
    "id",
    "state",
    "leader",
    "drained",
    "api",
    "cameras",
    "placed",
    "max_cameras",
    "roles",
    "last_seen_ms",
    "clock_skew_ms",
];

/// Creates a notification channel from `body`.
async fn add_channel(c: &mut Client, body: Value) -> anyhow::Result<Value> {
    c.call(Method::POST, "/notification-channels", Some(body))
        .await
}

/// Prints `items` as a table of `columns` (dotted paths into each item).
fn table(items: &[Value], columns: &[&str]) {
    let cell = |item: &Value, col: &str| {
        let v = col.split('.').fold(item, |v, k| &v[k]);
        match v {
            Value::Null => "-".to_string(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    };
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| columns.iter().map(|c| cell(i, c)).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(n, c)| {
            rows.iter()
                .map(|r| r[n].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!(
        "{}",
        line(columns.iter().map(|c| c.to_uppercase()).collect())
    );
    for r in rows {
        println!("{}", line(r));
    }
}

/// Runs `vms ctl`.
pub async fn run(args: CtlArgs) -> anyhow::Result<()> {
    let session = std::fs::read(session_path())
        .ok()
        .and_then(|b| serde_json::from_slice::<Session>(&b).ok())
        .filter(|s| s.url == args.url);
    let mut c = Client {
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?,
        url: args.url.clone(),
        api_key: args.api_key.clone(),
        session,
    };
    let show = |value: &Value, columns: &[&str]| {
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else if let Some(items) = value["items"].as_array() {
            table(items, columns);
        } else {
            table(std::slice::from_ref(value), columns);
        }
    };
    match args.command {
        CtlCommand::Login { email } => {
            let password = read_secret("VMS_PASSWORD", &format!("password for {email}: "))?;
            c.api_key = None;
            c.session = None;
            let pair = c
                .call(
                    Method::POST,
                    "/auth/login",
                    Some(json!({"email": email, "password": password})),
                )
                .await?;
            save_session(&Session {
                url: args.url.clone(),
                access_token: pair["access_token"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                refresh_token: pair["refresh_token"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            })?;
            println!(
                "logged in to {} as {email}; session saved in {}",
                args.url,
                session_path().display()
            );
        }
        CtlCommand::Logout => {
            c.call(Method::POST, "/auth/logout", None).await?;
            let _ = std::fs::remove_file(session_path());
            println!("logged out");
        }
        CtlCommand::Whoami => {
            let me = c.call(Method::GET, "/auth/me", None).await?;
            show(&me, &["email", "role", "tenant_id", "credential"]);
        }
        CtlCommand::Tenants { command } => match command {
            TenantsCommand::List => {
                let page = c.call(Method::GET, "/tenants?limit=1000", None).await?;
                show(
                    &page,
                    &["id", "name", "max_cameras", "retention_days", "expires_at"],
                );
            }
            TenantsCommand::Create {
                name,
                max_cameras,
                retention_days,
                expires_at,
            } => {
                let t = c
                    .call(Method::POST, "/tenants", Some(json!({"name": name, "max_cameras": max_cameras, "retention_days": retention_days, "expires_at": expires_at})))
                    .await?;
                show(
                    &t,
                    &["id", "name", "max_cameras", "retention_days", "expires_at"],
                );
            }
        },
        CtlCommand::Cameras { command } => {
            let columns = [
                "id",
                "name",
                "tenant_id",
                "status.state",
                "status.fps",
                "status.reason",
            ];
            match command {
                CamerasCommand::List { tenant } => {
                    let q = tenant
                        .map(|t| format!("&tenant_id={t}"))
                        .unwrap_or_default();
                    let page = c
                        .call(Method::GET, &format!("/cameras?limit=1000{q}"), None)
                        .await?;
                    show(&page, &columns);
                }
                CamerasCommand::Get { id } => {
                    let cam = c.call(Method::GET, &format!("/cameras/{id}"), None).await?;
                    show(&cam, &columns);
                }
                CamerasCommand::Add { name, url, tenant } => {
                    let cam = c
                        .call(
                            Method::POST,
                            "/cameras",
                            Some(json!({"name": name, "url": url, "tenant_id": tenant})),
                        )
                        .await?;
                    show(&cam, &columns);
                }
                CamerasCommand::Delete { id } => {
                    c.call(Method::DELETE, &format!("/cameras/{id}"), None)
                        .await?;
                    println!("deleted camera {id}");
                }
            }
        }
        CtlCommand::Users { command } => match command {
            UsersCommand::List => {
                let page = c.call(Method::GET, "/users?limit=1000", None).await?;
                show(&page, &["id", "email", "role", "tenant_id", "disabled"]);
            }
            UsersCommand::Add {
                email,
                role,
                tenant,
            } => {
                let password = read_secret("VMS_NEW_PASSWORD", &format!("password for {email}: "))?;
                let u = c
                    .call(Method::POST, "/users", Some(json!({"email": email, "password": password, "role": role, "tenant_id": tenant})))
                    .await?;
                show(&u, &["id", "email", "role", "tenant_id"]);
            }
        },
        CtlCommand::ApiKeys { command } => match command {
            ApiKeysCommand::List => {
                let page = c.call(Method::GET, "/api-keys?limit=1000", None).await?;
                show(
                    &page,
                    &["id", "name", "prefix", "role", "expires_at", "revoked_at"],
                );
            }
            ApiKeysCommand::Create {
                name,
                role,
                expires_at,
            } => {
                let k = c
                    .call(
                        Method::POST,
                        "/api-keys",
                        Some(json!({"name": name, "role": role, "expires_at": expires_at})),
                    )
                    .await?;
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&k)?);
                } else {
                    println!("{}", k["key"].as_str().unwrap_or_default());
                    eprintln!(
                        "(shown once: store it now; id {})",
                        k["api_key"]["id"].as_str().unwrap_or_default()
                    );
                }
            }
            ApiKeysCommand::Revoke { id } => {
                c.call(Method::DELETE, &format!("/api-keys/{id}"), None)
                    .await?;
                println!("revoked api key {id}");
            }
        },
        CtlCommand::Events {
            camera,
            kind,
            limit,
        } => {
            let mut q = format!("/events?limit={limit}");
            for (key, value) in [("camera_id", camera), ("kind", kind)] {
                if let Some(v) = value {
                    q.push_str(&format!("&{key}={v}"));
                }
            }
            let page = c.call(Method::GET, &q, None).await?;
            show(
                &page,
                &[
                    "at",
                    "kind",
                    "rule",
                    "label",
                    "score",
                    "camera_id",
                    "ticket_id",
                    "id",
                ],
            );
        }
        CtlCommand::Tickets { state, limit } => {
            let q = state.map(|s| format!("&state={s}")).unwrap_or_default();
            let page = c
                .call(Method::GET, &format!("/tickets?limit={limit}{q}"), None)
                .await?;
            show(
                &page,
                &[
                    "opened_at",
                    "state",
                    "kind",
                    "rule",
                    "events",
                    "escalated_at",
                    "id",
                ],
            );
        }
        CtlCommand::Nodes { command } => match command.unwrap_or(NodesCommand::List) {
            NodesCommand::List => {
                let page = c.call(Method::GET, "/nodes", None).await?;
                show(&page, NODE_COLUMNS);
            }
            NodesCommand::Drain { id } => {
                let node = c
                    .call(Method::POST, &format!("/nodes/{id}/drain"), None)
                    .await?;
                show(&node, NODE_COLUMNS);
                eprintln!(
                    "node {id} drained: its cameras are handed over to the other nodes (watch `vms ctl placement --node {id}`)"
                );
            }
            NodesCommand::Undrain { id } => {
                let node = c
                    .call(Method::POST, &format!("/nodes/{id}/undrain"), None)
                    .await?;
                show(&node, NODE_COLUMNS);
            }
            NodesCommand::Remove { id } => {
                c.call(Method::DELETE, &format!("/nodes/{id}"), None)
                    .await?;
                eprintln!("node {id} removed");
            }
        },
        CtlCommand::Placement { node, limit } => {
            let q = node.map(|n| format!("&node={n}")).unwrap_or_default();
            let page = c
                .call(Method::GET, &format!("/placement?limit={limit}{q}"), None)
                .await?;
            if !args.json {
                println!(
                    "leader {} (epoch {}), {} moves, {} unplaced, {} handovers",
                    page["leader"].as_str().unwrap_or("-"),
                    page["leader_epoch"],
                    page["moves"],
                    page["unplaced"],
                    page["handovers"]
                );
            }
            show(
                &page,
                &[
                    "camera_name",
                    "node_id",
                    "epoch",
                    "previous_node",
                    "assigned_at",
                    "unplaced_reason",
                    "camera_id",
                ],
            );
        }
        CtlCommand::Channels { command } => match command {
            ChannelsCommand::List => {
                let page = c
                    .call(Method::GET, "/notification-channels?limit=1000", None)
                    .await?;
                show(
                    &page,
                    &["id", "name", "kind", "url", "to", "kinds", "enabled"],
                );
            }
            ChannelsCommand::AddWebhook {
                name,
                url,
                kinds,
                tenant,
            } => {
                let made = add_channel(
                    &mut c,
                    json!({"name": name, "kind": "webhook", "url": url, "kinds": kinds, "tenant_id": tenant}),
                )
                .await?;
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&made)?);
                } else {
                    println!("{}", made["secret"].as_str().unwrap_or_default());
                    eprintln!(
                        "(the webhook's signing secret, shown once; channel id {})",
                        made["channel"]["id"].as_str().unwrap_or_default()
                    );
                }
            }
            ChannelsCommand::AddEmail {
                name,
                to,
                kinds,
                tenant,
            } => {
                let made = add_channel(
                    &mut c,
                    json!({"name": name, "kind": "email", "to": to, "kinds": kinds, "tenant_id": tenant}),
                )
                .await?;
                show(
                    &made["channel"],
                    &["id", "name", "kind", "to", "kinds", "enabled"],
                );
            }
            ChannelsCommand::Deliveries { id, dead } => {
                let q = if dead { "&state=dead" } else { "" };
                let page = c
                    .call(
                        Method::GET,
                        &format!("/notification-channels/{id}/deliveries?limit=100{q}"),
                        None,
                    )
                    .await?;
                show(
                    &page,
                    &[
                        "created_at",
                        "state",
                        "attempts",
                        "kind",
                        "last_error",
                        "event_id",
                        "id",
                    ],
                );
            }
            ChannelsCommand::Retry { id } => {
                let d = c
                    .call(
                        Method::POST,
                        &format!("/notification-deliveries/{id}/retry"),
                        None,
                    )
                    .await?;
                show(&d, &["id", "state", "attempts", "next_attempt_at"]);
            }
            ChannelsCommand::Delete { id } => {
                c.call(
                    Method::DELETE,
                    &format!("/notification-channels/{id}"),
                    None,
                )
                .await?;
                println!("deleted channel {id}");
            }
        },
        CtlCommand::Audit { tenant, limit } => {
            let q = tenant
                .map(|t| format!("&tenant_id={t}"))
                .unwrap_or_default();
            let page = c
                .call(Method::GET, &format!("/audit?limit={limit}{q}"), None)
                .await?;
            show(
                &page,
                &[
                    "at",
                    "actor",
                    "action",
                    "object_kind",
                    "object_id",
                    "status",
                    "ip",
                ],
            );
        }
    }
    Ok(())
}

/// Status and JSON body (`Null` when empty or not JSON) of a response.
pub async fn json_response(resp: reqwest::Response) -> anyhow::Result<(u16, serde_json::Value)> {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await?;
    let json = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
    };
    Ok((status, json))
}
