//! A `vms node` child process a benchmark drives over its HTTP API: started on a free port against a
//! scratch database, signed in as the bootstrap admin, and read through `/metrics`.

use anyhow::{Context, bail};
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use vms_node::{terminate, vms_exe};

/// The bootstrap admin of a benchmark node.
pub const ADMIN_EMAIL: &str = "admin@vms.local";
/// Its password.
pub const ADMIN_PASSWORD: &str = "bench admin password";

/// A running benchmark node.
pub struct BenchNode {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl BenchNode {
    /// Starts a node on a free port against `db_url`, with `env` overrides added.
    pub fn spawn(data_dir: &Path, db_url: &str, env: &[(&str, String)]) -> anyhow::Result<Self> {
        Self::spawn_on(data_dir, db_url, env, None)
    }

    /// Starts a node as [`BenchNode::spawn`] does, on the CPUs `cpus` lists only (`taskset -c`
    /// syntax) when given: its runtime then has as many workers as it has CPUs.
    pub fn spawn_on(
        data_dir: &Path,
        db_url: &str,
        env: &[(&str, String)],
        cpus: Option<&str>,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut cmd = match cpus {
            Some(cpus) => {
                let mut taskset = Command::new("taskset");
                taskset.args(["-c", cpus]).arg(vms_exe()?);
                taskset
            }
            None => Command::new(vms_exe()?),
        };
        cmd.arg("node")
            .env("VMS_NODE_ID", "bench")
            .env("VMS_DATA_DIR", data_dir)
            .env("VMS_API__LISTEN", format!("127.0.0.1:{port}"))
            .env("VMS_POSTGRES__URL", db_url)
            .env("VMS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("VMS_LOG", "warn")
            .stdout(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Ok(Self {
            child: cmd.spawn().context("cannot start the benchmark node")?,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        })
    }

    /// Process id (none once it exited).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The HTTP client its requests go through.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Waits until `/readyz` answers 200.
    pub async fn ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the benchmark node exited: {status}");
            }
            let answer = self.http.get(format!("{}/readyz", self.base)).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the benchmark node was not ready within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Signs in as the bootstrap admin; returns the login answer (tokens).
    pub async fn login(&self) -> anyhow::Result<Value> {
        let answer = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&serde_json::json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            .send()
            .await?;
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or_default();
        if !status.is_success() {
            bail!("login refused: {status} {body}");
        }
        Ok(body)
    }

    /// The admin's access token.
    pub async fn admin_token(&self) -> anyhow::Result<String> {
        let body = self.login().await?;
        body["access_token"]
            .as_str()
            .map(str::to_string)
            .context("login answer without an access token")
    }

    /// `POST /api/v1{path}` with a JSON body as `token`'s caller; the answer, which must be 2xx.
    pub async fn post(&self, token: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        let answer = self
            .http
            .post(format!("{}/api/v1{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or_default();
        if !status.is_success() {
            bail!("POST {path}: {status} {body}");
        }
        Ok(body)
    }

    /// `/metrics` in the text format.
    pub async fn metrics(&self, token: &str) -> anyhow::Result<String> {
        let answer = self
            .http
            .get(format!("{}/metrics", self.base))
            .bearer_auth(token)
            .send()
            .await?;
        if !answer.status().is_success() {
            bail!("/metrics answered {}", answer.status());
        }
        Ok(answer.text().await?)
    }

    /// Stops it (SIGTERM, then a kill after 20 s).
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            terminate(pid);
        }
        if tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Sum of every sample of metric `name` in a text exposition whose labels contain `label` (all samples
/// when `None`).
pub fn metric_sum(text: &str, name: &str, label: Option<&str>) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let bare = series.split('{').next()?;
            (bare == name && label.is_none_or(|want| series.contains(want)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// A TCP port free on 127.0.0.1 now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_sums_add_the_matching_series_only() {
        let text = "# HELP x y\nvms_x{camera=\"a\",stage=\"queue\"} 2\nvms_x{camera=\"b\",stage=\"handoff\"} 3\nvms_xy 9\nvms_y 1\n";
        assert_eq!(metric_sum(text, "vms_x", None), 5.0);
        assert_eq!(metric_sum(text, "vms_x", Some("stage=\"queue\"")), 2.0);
        assert_eq!(metric_sum(text, "vms_y", None), 1.0);
        assert_eq!(metric_sum(text, "vms_z", None), 0.0);
    }
}
