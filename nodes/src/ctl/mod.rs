//! `vms ctl`: the API from the command line, with readable tables. Authenticates with an API key
//! (`--api-key` or `VMS_API_KEY`) or with the session `vms ctl login` saved (refreshed when it expires).

mod args;
mod client;
mod session;
mod table;

pub use args::*;
pub use client::json_response;

use client::Client;
use reqwest::Method;
use serde_json::{Value, json};
use session::{Session, read_secret, save_session, session_path};
use table::{NODE_COLUMNS, add_channel, table};

/// Runs `vms ctl`.
pub async fn run(args: CtlArgs) -> anyhow::Result<()> {
    let session = std::fs::read(session_path())
        .ok()
        .and_then(|b| serde_json::from_slice::<Session>(&b).ok())
        .filter(|s| s.url == args.url);
    let mut c = Client {
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?,
        url: args.url.clone(),
        api_key: args.api_key.clone(),
        session,
    };
    let show = |value: &Value, columns: &[&str]| {
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else if let Some(items) = value["items"].as_array() {
            table(items, columns);
        } else {
            table(std::slice::from_ref(value), columns);
        }
    };
    match args.command {
        CtlCommand::Login { email } => {
            let password = read_secret("VMS_PASSWORD", &format!("password for {email}: "))?;
            c.api_key = None;
            c.session = None;
            let pair = c
                .call(
                    Method::POST,
                    "/auth/login",
                    Some(json!({"email": email, "password": password})),
                )
                .await?;
            save_session(&Session {
                url: args.url.clone(),
                access_token: pair["access_token"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                refresh_token: pair["refresh_token"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            })?;
            println!(
                "logged in to {} as {email}; session saved in {}",
                args.url,
                session_path().display()
            );
        }
        CtlCommand::Logout => {
            c.call(Method::POST, "/auth/logout", None).await?;
            let _ = std::fs::remove_file(session_path());
            println!("logged out");
        }
        CtlCommand::Whoami => {
            let me = c.call(Method::GET, "/auth/me", None).await?;
            show(&me, &["email", "role", "tenant_id", "credential"]);
        }
        CtlCommand::Tenants { command } => match command {
            TenantsCommand::List => {
                let page = c.call(Method::GET, "/tenants?limit=1000", None).await?;
                show(
                    &page,
                    &["id", "name", "max_cameras", "retention_days", "expires_at"],
                );
            }
            TenantsCommand::Create {
                name,
                max_cameras,
                retention_days,
                expires_at,
            } => {
                let t = c
                    .call(Method::POST, "/tenants", Some(json!({"name": name, "max_cameras": max_cameras, "retention_days": retention_days, "expires_at": expires_at})))
                    .await?;
                show(
                    &t,
                    &["id", "name", "max_cameras", "retention_days", "expires_at"],
                );
            }
        },
        CtlCommand::Cameras { command } => {
            let columns = [
                "id",
                "name",
                "tenant_id",
                "status.state",
                "status.fps",
                "status.reason",
            ];
            match command {
                CamerasCommand::List { tenant } => {
                    let q = tenant
                        .map(|t| format!("&tenant_id={t}"))
                        .unwrap_or_default();
                    let page = c
                        .call(Method::GET, &format!("/cameras?limit=1000{q}"), None)
                        .await?;
                    show(&page, &columns);
                }
                CamerasCommand::Get { id } => {
                    let cam = c.call(Method::GET, &format!("/cameras/{id}"), None).await?;
                    show(&cam, &columns);
                }
                CamerasCommand::Add { name, url, tenant } => {
                    let cam = c
                        .call(
                            Method::POST,
                            "/cameras",
                            Some(json!({"name": name, "url": url, "tenant_id": tenant})),
                        )
                        .await?;
                    show(&cam, &columns);
                }
                CamerasCommand::Delete { id } => {
                    c.call(Method::DELETE, &format!("/cameras/{id}"), None)
                        .await?;
                    println!("deleted camera {id}");
                }
            }
        }
        CtlCommand::Users { command } => match command {
            UsersCommand::List => {
                let page = c.call(Method::GET, "/users?limit=1000", None).await?;
                show(&page, &["id", "email", "role", "tenant_id", "disabled"]);
            }
            UsersCommand::Add {
                email,
                role,
                tenant,
            } => {
                let password = read_secret("VMS_NEW_PASSWORD", &format!("password for {email}: "))?;
                let u = c
                    .call(Method::POST, "/users", Some(json!({"email": email, "password": password, "role": role, "tenant_id": tenant})))
                    .await?;
                show(&u, &["id", "email", "role", "tenant_id"]);
            }
        },
        CtlCommand::ApiKeys { command } => match command {
            ApiKeysCommand::List => {
                let page = c.call(Method::GET, "/api-keys?limit=1000", None).await?;
                show(
                    &page,
                    &["id", "name", "prefix", "role", "expires_at", "revoked_at"],
                );
            }
            ApiKeysCommand::Create {
                name,
                role,
                expires_at,
            } => {
                let k = c
                    .call(
                        Method::POST,
                        "/api-keys",
                        Some(json!({"name": name, "role": role, "expires_at": expires_at})),
                    )
                    .await?;
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&k)?);
                } else {
                    println!("{}", k["key"].as_str().unwrap_or_default());
                    eprintln!(
                        "(shown once: store it now; id {})",
                        k["api_key"]["id"].as_str().unwrap_or_default()
                    );
                }
            }
            ApiKeysCommand::Revoke { id } => {
                c.call(Method::DELETE, &format!("/api-keys/{id}"), None)
                    .await?;
                println!("revoked api key {id}");
            }
        },
        CtlCommand::Events {
            camera,
            kind,
            limit,
        } => {
            let mut q = format!("/events?limit={limit}");
            for (key, value) in [("camera_id", camera), ("kind", kind)] {
                if let Some(v) = value {
                    q.push_str(&format!("&{key}={v}"));
                }
            }
            let page = c.call(Method::GET, &q, None).await?;
            show(
                &page,
                &[
                    "at",
                    "kind",
                    "rule",
                    "label",
                    "score",
                    "camera_id",
                    "ticket_id",
                    "id",
                ],
            );
        }
        CtlCommand::Tickets { state, limit } => {
            let q = state.map(|s| format!("&state={s}")).unwrap_or_default();
            let page = c
                .call(Method::GET, &format!("/tickets?limit={limit}{q}"), None)
                .await?;
            show(
                &page,
                &[
                    "opened_at",
                    "state",
                    "kind",
                    "rule",
                    "events",
                    "escalated_at",
                    "id",
                ],
            );
        }
        CtlCommand::Nodes { command } => match command.unwrap_or(NodesCommand::List) {
            NodesCommand::List => {
                let page = c.call(Method::GET, "/nodes", None).await?;
                show(&page, NODE_COLUMNS);
            }
            NodesCommand::Drain { id } => {
                let node = c
                    .call(Method::POST, &format!("/nodes/{id}/drain"), None)
                    .await?;
                show(&node, NODE_COLUMNS);
                eprintln!(
                    "node {id} drained: its cameras are handed over to the other nodes (watch `vms ctl placement --node {id}`)"
                );
            }
            NodesCommand::Undrain { id } => {
                let node = c
                    .call(Method::POST, &format!("/nodes/{id}/undrain"), None)
                    .await?;
                show(&node, NODE_COLUMNS);
            }
            NodesCommand::Remove { id } => {
                c.call(Method::DELETE, &format!("/nodes/{id}"), None)
                    .await?;
                eprintln!("node {id} removed");
            }
        },
        CtlCommand::Placement { node, limit } => {
            let q = node.map(|n| format!("&node={n}")).unwrap_or_default();
            let page = c
                .call(Method::GET, &format!("/placement?limit={limit}{q}"), None)
                .await?;
            if !args.json {
                println!(
                    "leader {} (epoch {}), {} moves, {} unplaced, {} handovers",
                    page["leader"].as_str().unwrap_or("-"),
                    page["leader_epoch"],
                    page["moves"],
                    page["unplaced"],
                    page["handovers"]
                );
            }
            show(
                &page,
                &[
                    "camera_name",
                    "node_id",
                    "standby_node",
                    "epoch",
                    "previous_node",
                    "assigned_at",
                    "unplaced_reason",
                    "camera_id",
                ],
            );
            if !args.json {
                print_model_replicas(&page["models"]);
                print_tenant_leases(&page["tenants"]);
            }
        }
        CtlCommand::Channels { command } => match command {
            ChannelsCommand::List => {
                let page = c
                    .call(Method::GET, "/notification-channels?limit=1000", None)
                    .await?;
                show(
                    &page,
                    &["id", "name", "kind", "url", "to", "kinds", "enabled"],
                );
            }
            ChannelsCommand::AddWebhook {
                name,
                url,
                kinds,
                tenant,
            } => {
                let made = add_channel(
                    &mut c,
                    json!({"name": name, "kind": "webhook", "url": url, "kinds": kinds, "tenant_id": tenant}),
                )
                .await?;
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&made)?);
                } else {
                    println!("{}", made["secret"].as_str().unwrap_or_default());
                    eprintln!(
                        "(the webhook's signing secret, shown once; channel id {})",
                        made["channel"]["id"].as_str().unwrap_or_default()
                    );
                }
            }
            ChannelsCommand::AddEmail {
                name,
                to,
                kinds,
                tenant,
            } => {
                let made = add_channel(
                    &mut c,
                    json!({"name": name, "kind": "email", "to": to, "kinds": kinds, "tenant_id": tenant}),
                )
                .await?;
                show(
                    &made["channel"],
                    &["id", "name", "kind", "to", "kinds", "enabled"],
                );
            }
            ChannelsCommand::Deliveries { id, dead } => {
                let q = if dead { "&state=dead" } else { "" };
                let page = c
                    .call(
                        Method::GET,
                        &format!("/notification-channels/{id}/deliveries?limit=100{q}"),
                        None,
                    )
                    .await?;
                show(
                    &page,
                    &[
                        "created_at",
                        "state",
                        "attempts",
                        "kind",
                        "last_error",
                        "event_id",
                        "id",
                    ],
                );
            }
            ChannelsCommand::Retry { id } => {
                let d = c
                    .call(
                        Method::POST,
                        &format!("/notification-deliveries/{id}/retry"),
                        None,
                    )
                    .await?;
                show(&d, &["id", "state", "attempts", "next_attempt_at"]);
            }
            ChannelsCommand::Delete { id } => {
                c.call(
                    Method::DELETE,
                    &format!("/notification-channels/{id}"),
                    None,
                )
                .await?;
                println!("deleted channel {id}");
            }
        },
        CtlCommand::Audit { tenant, limit } => {
            let q = tenant
                .map(|t| format!("&tenant_id={t}"))
                .unwrap_or_default();
            let page = c
                .call(Method::GET, &format!("/audit?limit={limit}{q}"), None)
                .await?;
            show(
                &page,
                &[
                    "at",
                    "actor",
                    "action",
                    "object_kind",
                    "object_id",
                    "status",
                    "ip",
                ],
            );
        }
    }
    Ok(())
}

/// Prints which node leads each tenant (`vms ctl placement`).
fn print_tenant_leases(tenants: &serde_json::Value) {
    let Some(tenants) = tenants.as_array() else {
        return;
    };
    if tenants.is_empty() {
        println!("tenant actors: none leading");
        return;
    }
    println!("tenant actors:");
    for t in tenants {
        println!(
            "  {}: {} (epoch {})",
            t["tenant_id"].as_str().unwrap_or("-"),
            t["node_id"].as_str().unwrap_or("-"),
            t["epoch"]
        );
    }
}

/// Prints where each model's worker replicas run (`vms ctl placement`).
fn print_model_replicas(models: &serde_json::Value) {
    let Some(models) = models.as_array() else {
        return;
    };
    if models.is_empty() {
        println!("model replicas: none running");
        return;
    }
    println!("model replicas:");
    for m in models {
        let replicas: Vec<String> = m["replicas"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                format!(
                    "{} (queued {}, {} ms/frame)",
                    r["node_id"].as_str().unwrap_or("-"),
                    r["queued"],
                    r["service_us"].as_u64().unwrap_or(0) / 1000
                )
            })
            .collect();
        println!(
            "  {}: {}",
            m["model"].as_str().unwrap_or("-"),
            replicas.join(", ")
        );
    }
}
