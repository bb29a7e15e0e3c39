//! `vms ctl` against a real node: every command with an API key, and login/whoami/logout with a saved
//! session.

use anyhow::Context;
use std::process::Output;
use vms_messages::ApiKeyPage;
use vms_messages::{ChannelPage, Tenant};
use vms_testkit::{SANDBOX_ADMIN_EMAIL, SANDBOX_ADMIN_PASSWORD, Sandbox};

const VMS: &str = env!("CARGO_BIN_EXE_vms");

struct Ctl<'a> {
    url: String,
    key: Option<&'a str>,
    home: std::path::PathBuf,
}

impl Ctl<'_> {
    async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<(bool, String)> {
        let mut cmd = tokio::process::Command::new(VMS);
        cmd.arg("ctl")
            .arg("--url")
            .arg(&self.url)
            .args(args)
            .env_remove("VMS_API_KEY")
            .env("XDG_CONFIG_HOME", &self.home)
            .stdin(std::process::Stdio::null());
        if let Some(k) = self.key {
            cmd.env("VMS_API_KEY", k);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let Output {
            status,
            stdout,
            stderr,
        } = cmd.output().await?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
        Ok((status.success(), text))
    }

    async fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<String> {
        let (ok, out) = self.run(args, env).await?;
        anyhow::ensure!(ok, "vms ctl {args:?} failed:\n{out}");
        Ok(out)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ctl_command_works_with_an_api_key_and_a_login() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS).cameras(1).start().await?;
    let home = std::env::temp_dir().join(format!("vms-ctl-{}", std::process::id()));
    let ctl = Ctl {
        url: sb.node()?.api.clone(),
        key: Some(&sb.admin_key),
        home: home.clone(),
    };

    assert!(ctl.ok(&["whoami"], &[]).await?.contains("platform_admin"));
    let out = ctl
        .ok(
            &[
                "--json",
                "tenants",
                "create",
                "--name",
                "acme",
                "--max-cameras",
                "3",
            ],
            &[],
        )
        .await?;
    let tenant: Tenant = serde_json::from_str(&out)?;
    let tenant = tenant.id.to_string();
    assert!(ctl.ok(&["tenants", "list"], &[]).await?.contains("acme"));
    let url = sb.sim.url(0);
    assert!(
        ctl.ok(
            &[
                "cameras", "add", "--name", "door", "--url", &url, "--tenant", &tenant
            ],
            &[]
        )
        .await?
        .contains("door")
    );
    let list = ctl
        .ok(&["cameras", "list", "--tenant", &tenant], &[])
        .await?;
    assert!(list.starts_with("ID") && list.contains("door"), "{list}");
    let (ok, err) = ctl
        .run(
            &[
                "cameras",
                "add",
                "--name",
                "x",
                "--url",
                "http://nope",
                "--tenant",
                &tenant,
            ],
            &[],
        )
        .await?;
    assert!(!ok && err.contains("field url"), "{err}");
    // Notification channels, and the (still empty) event and ticket lists.
    let secret = ctl
        .ok(
            &[
                "channels",
                "add-webhook",
                "--name",
                "hook",
                "--url",
                "http://127.0.0.1:9/hook",
                "--kinds",
                "intrusion,escalation",
                "--tenant",
                &tenant,
            ],
            &[],
        )
        .await?;
    assert!(secret.starts_with("whsec_"), "{secret}");
    ctl.ok(
        &[
            "channels",
            "add-email",
            "--name",
            "desk",
            "--to",
            "desk@acme.test,night@acme.test",
            "--tenant",
            &tenant,
        ],
        &[],
    )
    .await?;
    let channels = ctl.ok(&["channels", "list"], &[]).await?;
    assert!(
        channels.contains("hook") && channels.contains("night@acme.test"),
        "{channels}"
    );
    let listed: ChannelPage =
        serde_json::from_str(&ctl.ok(&["--json", "channels", "list"], &[]).await?)?;
    let hook = listed
        .items
        .iter()
        .find(|c| c.name == "hook")
        .context("the hook is listed")?
        .id
        .to_string();
    let log = ctl
        .ok(&["channels", "deliveries", &hook, "--dead"], &[])
        .await?;
    assert!(log.starts_with("CREATED_AT"), "a table, empty: {log}");
    let (ok, err) = ctl
        .run(
            &[
                "channels",
                "add-email",
                "--name",
                "x",
                "--to",
                "not an address",
                "--tenant",
                &tenant,
            ],
            &[],
        )
        .await?;
    assert!(!ok && err.contains("field to"), "{err}");
    ctl.ok(&["events", "--kind", "intrusion"], &[]).await?;
    let nodes = ctl.ok(&["nodes"], &[]).await?;
    assert!(
        nodes.contains(&sb.node_id) && nodes.contains("up"),
        "{nodes}"
    );
    ctl.ok(&["tickets", "--state", "open"], &[]).await?;
    ctl.ok(&["channels", "delete", &hook], &[]).await?;
    ctl.ok(
        &[
            "users",
            "add",
            "--email",
            "boss@acme.test",
            "--role",
            "tenant_admin",
            "--tenant",
            &tenant,
        ],
        &[("VMS_NEW_PASSWORD", "boss password long")],
    )
    .await?;
    assert!(
        ctl.ok(&["users", "list"], &[])
            .await?
            .contains("boss@acme.test")
    );
    // Keys are made from a password login, never with a key.
    let (ok, err) = ctl
        .run(
            &["api-keys", "create", "--name", "ci", "--role", "viewer"],
            &[],
        )
        .await?;
    assert!(!ok && err.contains("403"), "{err}");

    // A saved login instead of a key.
    let session = Ctl {
        url: ctl.url.clone(),
        key: None,
        home: home.clone(),
    };
    let (ok, err) = session.run(&["whoami"], &[]).await?;
    assert!(!ok && err.contains("not logged in"), "{err}");
    session
        .ok(
            &["login", "--email", SANDBOX_ADMIN_EMAIL],
            &[("VMS_PASSWORD", SANDBOX_ADMIN_PASSWORD)],
        )
        .await?;
    assert!(session.ok(&["whoami"], &[]).await?.contains("session"));
    let key = session
        .ok(
            &["api-keys", "create", "--name", "ci", "--role", "viewer"],
            &[],
        )
        .await?;
    let key = key.lines().next().unwrap_or_default().to_string();
    assert!(key.starts_with("vms_"), "{key}");
    let keys = ctl.ok(&["--json", "api-keys", "list"], &[]).await?;
    let keys: ApiKeyPage = serde_json::from_str(&keys)?;
    let ci = keys
        .items
        .iter()
        .find(|k| k.name == "ci")
        .context("the key is listed")?
        .id
        .to_string();
    let viewer = Ctl {
        url: ctl.url.clone(),
        key: Some(&key),
        home: home.clone(),
    };
    assert!(viewer.ok(&["whoami"], &[]).await?.contains("viewer"));
    let (ok, err) = viewer
        .run(&["tenants", "create", "--name", "nope"], &[])
        .await?;
    assert!(!ok && err.contains("403"), "{err}");
    ctl.ok(&["api-keys", "revoke", &ci], &[]).await?;
    let (ok, err) = viewer.run(&["whoami"], &[]).await?;
    assert!(!ok && err.contains("401"), "{err}");
    let audit = ctl.ok(&["audit", "--limit", "100"], &[]).await?;
    assert!(
        audit.contains("create_camera") && audit.contains("revoke_api_key"),
        "{audit}"
    );
    session.ok(&["logout"], &[]).await?;
    let (ok, _) = session.run(&["whoami"], &[]).await?;
    assert!(!ok, "logged out");
    let _ = std::fs::remove_dir_all(home);
    Ok(())
}
