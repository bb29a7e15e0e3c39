//! One file per config section: its struct, its defaults and its validation. Sections import only
//! the crate root's error helpers, the value forms and the secret readers.

mod analytics;
mod api;
mod auth;
mod cluster;
mod exports;
mod live;
mod nats;
mod notifications;
mod postgres;
mod recording;
mod storage;

pub use analytics::AnalyticsConfig;
pub use api::ApiConfig;
pub use auth::AuthConfig;
pub use cluster::{ClusterConfig, NODE_ROLES};
pub use exports::ExportsConfig;
pub use live::LiveConfig;
pub use nats::{NatsAuth, NatsConfig};
pub use notifications::{NotificationsConfig, SmtpConfig, SmtpTls};
pub use postgres::PostgresConfig;
pub use recording::{RecordingConfig, RetentionConfig};
pub use storage::{ObjectStoreSettings, StorageConfig};
