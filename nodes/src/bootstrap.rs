//! The first platform admin, created when a node starts on a database that has none. Its password
//! comes from `auth.admin_password_file`, else `VMS_ADMIN_PASSWORD`, else it is generated and printed
//! once on standard output (never logged).

use anyhow::Context;
use base64::Engine;
use rand::RngCore;
use vms_config::NodeConfig;
use vms_messages::{validate_email, validate_password};
use vms_store::Store;

/// Environment variable holding the first admin's password.
pub const ADMIN_PASSWORD_ENV: &str = "VMS_ADMIN_PASSWORD";

/// A random 24-character password.
pub fn random_password() -> String {
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Creates the first platform admin if there is none.
pub async fn ensure_admin(config: &NodeConfig, store: &Store) -> anyhow::Result<()> {
    if store.platform_admin_exists().await? {
        return Ok(());
    }
    let email = config.auth.admin_email.clone();
    validate_email("auth.admin_email", &email)?;
    let (password, generated) = match (
        &config.auth.admin_password_file,
        std::env::var(ADMIN_PASSWORD_ENV),
    ) {
        (Some(path), _) => (
            std::fs::read_to_string(path)
                .with_context(|| {
                    format!("cannot read auth.admin_password_file {}", path.display())
                })?
                .trim()
                .to_string(),
            false,
        ),
        (None, Ok(p)) => (p, false),
        (None, Err(_)) => (random_password(), true),
    };
    validate_password("admin password", &password)?;
    let hash = tokio::task::spawn_blocking(move || {
        vms_api::hash_password_blocking(&password).map(|h| (h, password))
    })
    .await?
    .map_err(|e| anyhow::anyhow!("cannot hash the admin password: {e}"))?;
    let (hash, password) = hash;
    if let Some(user) = store.bootstrap_admin(&email, &hash).await? {
        tracing::info!(user_id = %user.id, email = %user.email, "platform admin created");
        if generated {
            // Standard output, not the log: shown once to whoever started the node.
            println!(
                "created platform admin {email} with password {password}\n\
                 (shown once; set {ADMIN_PASSWORD_ENV} or auth.admin_password_file to choose it)"
            );
        }
    }
    Ok(())
}
