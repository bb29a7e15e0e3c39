//! PostgreSQL for tests: a scratch database on the shared server, and a private server a test may
//! stop and start.

use crate::waiting::free_port;
use anyhow::{Context, bail};
use std::path::PathBuf;
use vms_store::{create_database, drop_database, with_database};

/// The PostgreSQL server tests use (`VMS_TEST_POSTGRES` overrides).
pub fn test_postgres() -> String {
    std::env::var("VMS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A scratch database, dropped with the value.
pub struct TestDatabase {
    admin: String,
    name: String,
    /// Connection URL of the database.
    pub url: String,
}

impl TestDatabase {
    /// Creates `vms_t_<random>` on the test server.
    pub async fn create() -> anyhow::Result<Self> {
        Self::create_on(&test_postgres()).await
    }

    /// Creates `vms_t_<random>` on the server at `admin` (a URL of its `postgres` database).
    pub async fn create_on(admin: &str) -> anyhow::Result<Self> {
        let admin = admin.to_string();
        let name = format!("vms_t_{}", uuid::Uuid::now_v7().simple());
        create_database(&admin, &name)
            .await
            .with_context(|| format!("cannot create database on {admin}"))?;
        let url = with_database(&admin, &name);
        Ok(Self { admin, name, url })
    }

    /// The database's name (`vms_t_<random>`), as its server's backends show it.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs outside any async context guarantee: use a private runtime on a private thread.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(drop_database(&admin, &name));
            }
        })
        .join();
    }
}

/// A PostgreSQL server of this test alone (`initdb` + `pg_ctl` on a free port), for stopping and
/// starting without touching the shared one. Needs root (it runs the server as `postgres`).
pub struct PrivatePostgres {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
}

impl PrivatePostgres {
    /// Creates and starts a server.
    pub fn start() -> anyhow::Result<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .context("PostgreSQL server binaries not found in /usr/lib/postgresql")?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|p| p.join("initdb").is_file())
            .context("initdb not found")?;
        let dir = std::env::temp_dir().join(format!("vms-pg-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir)?;
        run("chown", &["postgres:postgres", &dir.to_string_lossy()])?;
        let data = dir.join("data");
        run(
            "runuser",
            &[
                "-u",
                "postgres",
                "--",
                &bin.join("initdb").to_string_lossy(),
                "-D",
                &data.to_string_lossy(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        )?;
        let pg = Self {
            dir,
            port: free_port()?,
            bin,
        };
        pg.resume()?;
        Ok(pg)
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        let data = self.dir.join("data");
        let mut all = vec!["-u", "postgres", "--"];
        let pg_ctl = self.bin.join("pg_ctl");
        let pg_ctl = pg_ctl.to_string_lossy();
        let data = data.to_string_lossy();
        all.extend([pg_ctl.as_ref(), "-D", data.as_ref(), "-w"]);
        all.extend(args);
        run("runuser", &all)
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn pause(&self) -> anyhow::Result<()> {
        self.ctl(&["-m", "fast", "stop"])
    }

    /// Gives the server a certificate for 127.0.0.1 signed by a CA made here, turns TLS on and
    /// restarts it; answers the CA's PEM file (for `postgres.tls_ca_file`).
    pub fn enable_tls(&self) -> anyhow::Result<PathBuf> {
        let tls = self.dir.join("tls");
        std::fs::create_dir_all(&tls)?;
        let p = |name: &str| tls.join(name).to_string_lossy().into_owned();
        let (ca_key, ca, key, csr, cert, ext) = (
            p("ca.key"),
            p("ca.pem"),
            p("server.key"),
            p("server.csr"),
            p("server.pem"),
            p("ext.cnf"),
        );
        std::fs::write(&ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n")?;
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &ca_key,
                "-out",
                &ca,
                "-days",
                "2",
                "-subj",
                "/CN=vms test CA",
            ],
        )?;
        run(
            "openssl",
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                "/CN=127.0.0.1",
            ],
        )?;
        run(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        )?;
        run(
            "chown",
            &["-R", "postgres:postgres", &tls.to_string_lossy()],
        )?;
        run("chmod", &["600", &key])?;
        let conf = self.dir.join("data").join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)?;
        text.push_str(&format!(
            "\nssl = on\nssl_cert_file = '{cert}'\nssl_key_file = '{key}'\n"
        ));
        std::fs::write(&conf, text)?;
        self.pause()?;
        self.resume()?;
        Ok(PathBuf::from(ca))
    }

    /// Starts the server again.
    pub fn resume(&self) -> anyhow::Result<()> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        self.ctl(&["-o", &opts, "-l", &log.to_string_lossy(), "start"])
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.pause();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
