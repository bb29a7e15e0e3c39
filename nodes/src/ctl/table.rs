//! Readable tables of API answers.

use super::client::Client;
use reqwest::Method;
use serde_json::Value;

/// Columns of node tables.
pub(super) const NODE_COLUMNS: &[&str] = &[
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
pub(super) async fn add_channel(c: &mut Client, body: Value) -> anyhow::Result<Value> {
    c.call(Method::POST, "/notification-channels", Some(body))
        .await
}

/// Prints `items` as a table of `columns` (dotted paths into each item).
pub(super) fn table(items: &[Value], columns: &[&str]) {
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
