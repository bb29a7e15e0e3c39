//! A `vms node` child process and its log.

use std::path::PathBuf;
use std::time::Duration;
use tokio::process::Child;

/// A `vms node` child process.
pub struct NodeProcess {
    pub(crate) child: Child,
    /// Base URL of its API, `http://127.0.0.1:<port>`.
    pub api: String,
    /// Its data folder.
    pub data_dir: PathBuf,
    /// Its log (stderr), beside its data folder.
    pub(crate) log: PathBuf,
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
            vms_node::terminate(pid);
        }
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
