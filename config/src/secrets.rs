//! Secrets the config names by file, and the test of whether one is fit for production.

use crate::ConfigError;
use std::path::PathBuf;

/// Cookies that must never protect a production cluster.
const WEAK_COOKIES: &[&str] = &["vms", "cookie", "changeme", "secret", "password"];

/// A secret from a file (a mounted secret), without surrounding white space.
pub(crate) fn read_secret(path: &PathBuf) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map(|t| t.trim().to_string())
        .map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })
}

/// The password in a URL's userinfo (`scheme://user:password@host`), if any.
pub(crate) fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    userinfo
        .split_once(':')
        .map(|(_, p)| p.to_string())
        .filter(|p| !p.is_empty())
}

/// Whether a production secret is a placeholder or too plain to be one: a well-known default, a
/// `REPLACE…`/`CHANGE…`/`EXAMPLE` placeholder (as in the deploy files), or fewer than 10 distinct
/// characters.
pub fn weak_secret(secret: &str) -> bool {
    let lower = secret.to_ascii_lowercase();
    let distinct: std::collections::BTreeSet<char> = secret.chars().collect();
    WEAK_COOKIES.contains(&lower.as_str())
        || ["replace", "change", "example", "placeholder", "your-"]
            .iter()
            .any(|p| lower.contains(p))
        || distinct.len() < 10
}
