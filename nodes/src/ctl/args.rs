//! The commands and options of `vms ctl` (clap).

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
