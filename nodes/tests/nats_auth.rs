//! A node authenticates to a NATS server that demands it (a private `nats-server --auth`, never the
//! shared one): with the token from `nats.token_file` it joins and serves; without, it cannot.

use std::process::Stdio;
use std::time::Duration;
use vms_testkit::{Sandbox, free_port};

const VMS: &str = env!("CARGO_BIN_EXE_vms");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joins_a_nats_server_that_needs_a_token() -> anyhow::Result<()> {
    let port = free_port()?;
    let dir = std::env::temp_dir().join(format!("vms-nats-auth-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    let token = "nats token for the auth test 4c1f";
    let _server = tokio::process::Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir.join("js"))
        .args(["--auth", token])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let url = format!("nats://127.0.0.1:{port}");
    // Anonymous clients are refused by this server.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        async_nats::connect(&url).await.is_err(),
        "the private server should refuse a client without the token"
    );
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{token}\n"))?;
    let sb = Sandbox::builder(VMS)
        .cameras(0)
        .env("VMS_NATS__URL", &url)
        .env("VMS_NATS__TOKEN_FILE", &token_file.to_string_lossy())
        .start()
        .await?;
    let nodes: vms_messages::NodeList = sb.get_typed("/nodes").await?;
    assert_eq!(nodes.items[0].id, sb.node_id, "{nodes:?}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
