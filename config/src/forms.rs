//! How values written as environment text fit typed fields: a comma-separated list, and an empty
//! path meaning none. A file gives the same fields in their TOML form.

use serde::{Deserialize, Deserializer};
use std::path::PathBuf;

/// A list of strings, from an array or from comma-separated text (`ingest,inference`).
pub(crate) fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Items(Vec<String>),
        Text(String),
    }
    Ok(match Form::deserialize(d)? {
        Form::Items(items) => items,
        Form::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// A path, where an empty one (`VMS_AUTH__ADMIN_PASSWORD_FILE=`) means none.
pub(crate) fn optional_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let path = Option::<PathBuf>::deserialize(d)?;
    Ok(path.filter(|p| !p.as_os_str().is_empty()))
}
