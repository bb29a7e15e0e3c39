//! Garage, the S3-compatible object store of the object-storage tier: the machine's shared instance
//! (started by `scripts/setup.sh`) or a private one a test may stop and start, both driven by
//! `scripts/garage.sh`.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::Command;
use vms_actors::ObjectTier;
use vms_config::ObjectStoreSettings;

/// Where `scripts/setup.sh` keeps the shared instance (`VMS_GARAGE_DIR` overrides).
fn shared_dir() -> PathBuf {
    std::env::var_os("VMS_GARAGE_DIR")
        .map_or_else(|| PathBuf::from("/var/lib/vms-garage"), PathBuf::from)
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/garage.sh")
}

/// A Garage instance and the bucket key of its `vms` bucket.
pub struct Garage {
    /// Its S3 port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    private: bool,
}

impl Garage {
    /// The machine's shared instance.
    pub fn shared() -> anyhow::Result<Self> {
        let dir = shared_dir();
        anyhow::ensure!(
            dir.join("secret_access_key").exists(),
            "no shared Garage in {} (scripts/setup.sh starts it)",
            dir.display()
        );
        Ok(Self {
            port: 3900,
            dir,
            private: false,
        })
    }

    /// A private instance on a free port, with a store of its own.
    pub fn private() -> anyhow::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("vms-garage-{}", uuid::Uuid::now_v7().simple()));
        let garage = Self {
            port: crate::free_port()?,
            dir,
            private: true,
        };
        garage.start()?;
        Ok(garage)
    }

    /// Starts the private instance (again, with what it stored).
    pub fn start(&self) -> anyhow::Result<()> {
        let status = Command::new("bash")
            .arg(script())
            .args(["start", &self.dir.to_string_lossy(), &self.port.to_string()])
            .status()
            .context("cannot run scripts/garage.sh")?;
        anyhow::ensure!(status.success(), "garage.sh start failed: {status}");
        Ok(())
    }

    /// Stops the private instance (its store stays).
    pub fn stop(&self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.dir.to_string_lossy()])
            .status();
    }

    fn read(&self, file: &str) -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(self.dir.join(file))
            .with_context(|| format!("{} of garage {}", file, self.dir.display()))?
            .trim()
            .to_string())
    }

    /// `VMS_STORAGE__*` variables pointing a node at it.
    pub fn node_env(&self) -> anyhow::Result<Vec<(String, String)>> {
        Ok(vec![
            (
                "VMS_STORAGE__S3_ENDPOINT".into(),
                format!("http://127.0.0.1:{}", self.port),
            ),
            (
                "VMS_STORAGE__S3_ACCESS_KEY_ID".into(),
                self.read("access_key_id")?,
            ),
            (
                "VMS_STORAGE__S3_SECRET_ACCESS_KEY_FILE".into(),
                self.dir
                    .join("secret_access_key")
                    .to_string_lossy()
                    .into_owned(),
            ),
        ])
    }

    /// A client of its `vms` bucket, to read what the nodes stored.
    pub fn client(&self) -> anyhow::Result<ObjectTier> {
        Ok(ObjectTier::connect(&ObjectStoreSettings {
            endpoint: format!("http://127.0.0.1:{}", self.port),
            bucket: "vms".into(),
            region: "garage".into(),
            access_key_id: self.read("access_key_id")?,
            secret_access_key: self.read("secret_access_key")?,
        })?)
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        if self.private {
            self.stop();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
