//! A node honours `sslmode=require` in `postgres.url`: against a private PostgreSQL with a
//! certificate from a CA of the test's own, its connections are TLS when it is given that CA
//! (`postgres.tls_ca_file`), and it refuses the server (saying why) when it is not.

use std::time::Duration;
use vms_testkit::{PrivatePostgres, Sandbox, wait_for};

const VMS: &str = env!("CARGO_BIN_EXE_vms");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_is_tls_with_a_verified_server() -> anyhow::Result<()> {
    let pg = PrivatePostgres::start()?;
    let ca = pg.enable_tls()?;
    let sb = Sandbox::builder(VMS)
        .cameras(0)
        .postgres_server(&pg.url())
        .start()
        .await?;
    let tls_url = format!("{}?sslmode=require", sb.db.url);
    let env = |ca: Option<&std::path::Path>| {
        let mut env = vec![("VMS_POSTGRES__URL".to_string(), tls_url.clone())];
        if let Some(ca) = ca {
            env.push((
                "VMS_POSTGRES__TLS_CA_FILE".into(),
                ca.to_string_lossy().into_owned(),
            ));
        }
        env
    };

    // With the CA: ready, and its connections are encrypted.
    let mut node = sb.spawn_node_with(&format!("{}-tls", sb.node_id), "tls", &env(Some(&ca)))?;
    sb.wait_ready(&mut node).await?;
    let (db, conn) = tokio_postgres::connect(&sb.db.url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let encrypted: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE s.ssl AND a.datname = current_database() AND a.pid <> pg_backend_pid()",
            &[],
        )
        .await?
        .get(0);
    assert!(encrypted > 0, "no TLS connection from the node");
    node.stop().await;

    // Without it the server's certificate is not trusted: the node does not use the database.
    let refused = sb.spawn_node_with(
        &format!("{}-untrusted", sb.node_id),
        "untrusted",
        &env(None),
    )?;
    let log = wait_for(
        "a certificate error in the log",
        Duration::from_secs(20),
        || async {
            let log = sb.node_log("untrusted");
            Ok(log.to_lowercase().contains("certificate").then_some(log))
        },
    )
    .await?;
    println!(
        "untrusted server: {}",
        log.lines()
            .find(|l| l.to_lowercase().contains("certificate"))
            .unwrap_or_default()
    );
    refused.kill().await;
    Ok(())
}
