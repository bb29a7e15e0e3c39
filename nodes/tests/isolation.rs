//! Tenant isolation and role permissions over every route of the OpenAPI document, against a real
//! node, PostgreSQL and recorded segments:
//! - anonymous callers get 401 on every non-public route;
//! - every role gets exactly what its permissions allow (403 otherwise), on its own tenant's objects;
//! - every credential of tenant A, on every route naming an object of tenant B, is refused (404 when the
//!   role holds the permission, so existence does not leak), lists never show B's objects, and B's
//!   objects are unchanged afterwards.
//!
//! A route added without a permission fails here (and in `vms-api`'s guard test); a route added with a
//! request body needs an example in [`example_body`].

use anyhow::Context;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use vms_api::CameraPage;
use vms_messages::{ApiKeyCreated, ApiKeyPage, AuditEntry, AuditPage, User};
use vms_messages::{CameraView, ChannelCreated, Permission, Role, Rule};
use vms_testkit::{Sandbox, api_error, typed};

/// A list answer of any resource, read for its item count only.
#[derive(serde::Deserialize)]
struct ItemsOnly {
    items: Vec<serde::de::IgnoredAny>,
}

/// The code of an API error answer, if it is one.
fn code_of(answer: &Value) -> Option<String> {
    api_error(answer).ok().map(|e| e.code)
}

const VMS: &str = env!("CARGO_BIN_EXE_vms");
const PASSWORD: &str = "isolation test password";

static UNIQUE: AtomicU32 = AtomicU32::new(0);

/// A documented operation.
#[derive(Clone, Debug)]
struct Op {
    method: Method,
    path: String,
    id: String,
    /// `None`: public.
    permission: Option<Permission>,
}

impl Op {
    fn label(&self) -> String {
        format!("{} {} ({})", self.method, self.path, self.id)
    }
    /// Runs last: it ends the caller's session or deletes.
    fn order(&self) -> u8 {
        match (&self.method, self.id.as_str()) {
            (_, "logout") => 3,
            (&Method::DELETE, _) => 2,
            _ => 1,
        }
    }
}

fn operations(doc: &Value) -> Vec<Op> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let security = op["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path} declares no security"));
            let permission = match security.as_slice() {
                [one] if one.as_object().is_some_and(|o| o.is_empty()) => None,
                [one] => {
                    let scope = one["bearer"][0]
                        .as_str()
                        .unwrap_or_else(|| panic!("{method} {path}: no bearer scope"));
                    Some(
                        scope
                            .parse::<Permission>()
                            .unwrap_or_else(|e| panic!("{method} {path}: {e}")),
                    )
                }
                other => panic!("{method} {path}: unexpected security {other:?}"),
            };
            ops.push(Op {
                method: method.to_uppercase().parse().expect("method"),
                path: path.clone(),
                id: op["operationId"].as_str().unwrap_or_default().to_string(),
                permission,
            });
        }
    }
    ops.sort_by_key(Op::order);
    ops
}

/// A valid body for each operation that takes one (unique names each call), naming `objects`'
/// camera where it names one.
fn example_body(op: &Op, objects: &Objects) -> Option<Value> {
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    let body = match op.id.as_str() {
        "login" => json!({"email": "nobody@example.test", "password": "not the password"}),
        "refresh" => json!({"refresh_token": "vmsr_not-a-token"}),
        "create_user" => {
            json!({"email": format!("u{n}@example.test"), "password": PASSWORD, "role": "viewer"})
        }
        "update_user" => json!({"role": "viewer"}),
        "create_api_key" => json!({"name": format!("key {n}")}),
        "create_tenant" => json!({"name": format!("tenant {n}")}),
        "update_tenant" => json!({"max_cameras": 8}),
        "create_camera" => {
            json!({"name": format!("cam {n}"), "url": "rtsp://127.0.0.1:1/x", "enabled": false})
        }
        "update_camera" => json!({"labels": {"touched": "yes"}}),
        "create_rule" => json!({"name": format!("rule {n}"), "detector": "person"}),
        "update_rule" => json!({"min_score": 0.7}),
        "comment_ticket" => json!({"text": "on my way"}),
        "create_channel" => {
            json!({"name": format!("hook {n}"), "kind": "webhook", "url": "http://127.0.0.1:9/hook"})
        }
        "update_channel" => json!({"enabled": false}),
        "create_hold" => json!({"camera_id": objects.camera, "reason": format!("case {n}"),
            "from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:05:00Z"}),
        "create_export" => json!({"camera_id": objects.camera, "reason": format!("case {n}"),
            "from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:05:00Z"}),
        "stream_token" => json!({"ttl_seconds": 60}),
        // Not a real offer: the check is the permission and the tenant, not WebRTC.
        "whep_offer" => json!("v=0"),
        _ => {
            assert!(
                !matches!(op.method, Method::POST | Method::PATCH | Method::PUT)
                    || [
                        "logout",
                        "rotate_signing_key",
                        "acknowledge_ticket",
                        "resolve_ticket",
                        "close_ticket",
                        "retry_delivery",
                        "drain_node",
                        "undrain_node",
                        "hold_event",
                    ]
                    .contains(&op.id.as_str()),
                "{}: add an example body to example_body()",
                op.label()
            );
            return None;
        }
    };
    Some(body)
}

/// One tenant's objects, by the kind a path names.
#[derive(Clone, Debug, Default)]
struct Objects {
    tenant: String,
    camera: String,
    segment: String,
    user: String,
    api_key: String,
    event: String,
    rule: String,
    ticket: String,
    channel: String,
    delivery: String,
    hold: String,
    export: String,
    /// A node of the cluster (not a tenant's: only platform admins may touch it).
    node: String,
    /// Strings that must never appear in another tenant's answers.
    secrets: Vec<String>,
}

impl Objects {
    fn path(&self, template: &str) -> String {
        let id = if template.starts_with("/api/v1/tenants/") {
            &self.tenant
        } else if template.starts_with("/api/v1/cameras/") {
            &self.camera
        } else if template.starts_with("/api/v1/segments/") {
            &self.segment
        } else if template.starts_with("/api/v1/users/") {
            &self.user
        } else if template.starts_with("/api/v1/api-keys/") {
            &self.api_key
        } else if template.starts_with("/api/v1/events/") {
            &self.event
        } else if template.starts_with("/api/v1/rules/") {
            &self.rule
        } else if template.starts_with("/api/v1/tickets/") {
            &self.ticket
        } else if template.starts_with("/api/v1/notification-channels/") {
            &self.channel
        } else if template.starts_with("/api/v1/notification-deliveries/") {
            &self.delivery
        } else if template.starts_with("/api/v1/nodes/") {
            &self.node
        } else if template.starts_with("/api/v1/holds/") {
            &self.hold
        } else if template.starts_with("/api/v1/exports/") {
            &self.export
        } else {
            assert!(
                !template.contains('{'),
                "{template}: which object does this path name?"
            );
            ""
        };
        template
            .replace("{id}", id)
            .replace("{segment}", &self.segment)
            .replace("{camera}", &self.camera)
            .replace("{session}", "01a23ed0-0000-7000-8000-000000000000")
            .replace("{msn}", "0")
            .replace("{part}", "0")
    }
}

struct Credential {
    label: String,
    token: String,
    role: Role,
}

async fn send(
    sb: &Sandbox,
    token: Option<&str>,
    op: &Op,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut url = format!("{}{path}", sb.node().expect("node").api);
    if op.id == "stream_events" {
        url.push_str("?seconds=1"); // the stream stays open until the client leaves otherwise
    }
    sb.request_as(token, op.method.clone(), &url, body.as_ref())
        .await
        .unwrap_or_else(|e| panic!("{}: {e:#}", op.label()))
}

async fn make_user(
    sb: &Sandbox,
    tenant: &str,
    role: Role,
    tag: &str,
) -> anyhow::Result<(String, String)> {
    let email = format!("{}-{tag}@example.test", role.as_str());
    let id = sb
        .create_user(&email, PASSWORD, role.as_str(), Some(tenant))
        .await?;
    Ok((id, sb.login(&email, PASSWORD).await?))
}

/// A tenant with a recording camera (and its first segment), a spare user and a spare API key.
async fn tenant_objects(
    sb: &Sandbox,
    tag: &str,
    sim_index: usize,
) -> anyhow::Result<(Objects, Vec<Credential>)> {
    let tenant = sb.create_tenant(&format!("tenant {tag}"), 8).await?;
    let (s, t) = sb
        .request(
            Method::PATCH,
            &format!("/tenants/{tenant}"),
            Some(&json!({"allowed_detectors": ["person"]})),
        )
        .await?;
    anyhow::ensure!(s == 200, "licence: {s} {t}");
    let camera = sb
        .create_camera(&tenant, &format!("camera {tag}"), &sb.sim.url(sim_index))
        .await?;
    let mut creds = Vec::new();
    for role in [Role::TenantAdmin, Role::Operator, Role::Viewer] {
        let (_, token) = make_user(sb, &tenant, role, tag).await?;
        creds.push(Credential {
            label: format!("{} of {tag}", role.as_str()),
            token,
            role,
        });
    }
    // An API key of the tenant admin: keys must be scoped like sessions.
    let (s, key) = sb
        .request_as(
            Some(&creds[0].token),
            Method::POST,
            "/api-keys",
            Some(&json!({"name": "admin key"})),
        )
        .await?;
    let key: ApiKeyCreated = typed(s, key).context("create key")?;
    creds.push(Credential {
        label: format!("tenant admin API key of {tag}"),
        token: key.key,
        role: Role::TenantAdmin,
    });
    let (spare_user, _) = make_user(sb, &tenant, Role::Viewer, &format!("{tag}-spare")).await?;
    let (s, spare_key) = sb
        .request_as(
            Some(&creds[2].token),
            Method::POST,
            "/api-keys",
            Some(&json!({"name": "spare"})),
        )
        .await?;
    let spare_key: ApiKeyCreated = typed(s, spare_key).context("create spare key")?;
    let segs = sb
        .wait_segments(&camera, 1, Duration::from_secs(30))
        .await?;
    let segment = segs[0].id.to_string();
    let rule: Rule = sb
        .post_typed(
            &format!("/cameras/{camera}/rules"),
            &json!({"name": "door", "detector": "person"}),
        )
        .await?;
    // An event with a snapshot, as the analytics would store it.
    let event = uuid::Uuid::now_v7();
    let (client, conn) = tokio_postgres::connect(&sb.db.url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    client
        .execute(
            "INSERT INTO events (id, tenant_id, camera_id, kind, rule, label, score, bbox, at, snapshot, node)
             VALUES ($1, $2::text::uuid, $3::text::uuid, 'intrusion', 'intrusion', 'person', 0.9, '{0,0,1,1}', now(), '\\xffd8ffd9', 'test')",
            &[&event, &tenant, &camera],
        )
        .await?;
    let ticket = uuid::Uuid::now_v7();
    client
        .execute(
            "INSERT INTO tickets (id, tenant_id, camera_id, rule, kind, state, first_event, last_event)
             VALUES ($1, $2::text::uuid, $3::text::uuid, 'door', 'intrusion', 'open', $4, $4)",
            &[&ticket, &tenant, &camera, &event],
        )
        .await?;
    // A notification channel with a dead delivery (of the event above) in its log.
    let channel: ChannelCreated = sb
        .post_typed(
            "/notification-channels",
            &json!({"tenant_id": tenant, "name": "ops", "kind": "email", "to": ["ops@example.test"]}),
        )
        .await?;
    let channel = channel.channel.id.to_string();
    let delivery = uuid::Uuid::now_v7();
    client
        .execute(
            "INSERT INTO notification_deliveries (id, tenant_id, channel_id, event_id, kind, payload, state, attempts, last_error)
             VALUES ($1, $2::text::uuid, $3::text::uuid, $4, 'intrusion', '{}', 'dead', 6, 'smtp: refused')",
            &[&delivery, &tenant, &channel, &event],
        )
        .await?;
    let hold: vms_messages::Hold = sb
        .post_typed(
            "/holds",
            &json!({"camera_id": camera, "reason": format!("case {tag}"),
                "from": "2026-01-01T00:00:00Z", "to": "2026-01-01T01:00:00Z"}),
        )
        .await?;
    let export: vms_messages::Export = sb
        .post_typed(
            "/exports",
            &json!({"camera_id": camera, "reason": format!("case {tag}"),
                "from": segs[0].start, "to": segs[0].end}),
        )
        .await?;
    let objects = Objects {
        hold: hold.id.to_string(),
        export: export.id.to_string(),
        channel: channel.clone(),
        delivery: delivery.to_string(),
        secrets: vec![
            hold.id.to_string(),
            export.id.to_string(),
            channel,
            tenant.clone(),
            camera.clone(),
            spare_user.clone(),
            event.to_string(),
            ticket.to_string(),
            format!("tenant {tag}"),
            format!("camera {tag}"),
        ],
        tenant,
        camera,
        segment,
        user: spare_user,
        api_key: spare_key.api_key.id.to_string(),
        event: event.to_string(),
        rule: rule.id.to_string(),
        ticket: ticket.to_string(),
        node: sb.node_id.clone(),
    };
    Ok((objects, creds))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_keeps_tenants_apart_and_roles_to_their_permissions() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS)
        .cameras(2)
        .env("VMS_API__RATE_LIMIT_PER_SECOND", "100000")
        .env("VMS_API__RATE_LIMIT_BURST", "100000")
        .env("VMS_API__IP_RATE_LIMIT_PER_SECOND", "100000")
        .env("VMS_API__IP_RATE_LIMIT_BURST", "100000")
        .env("VMS_API__LOGIN_PER_MINUTE", "1000")
        .start()
        .await?;
    let (_, doc) = sb
        .request_as(None, Method::GET, "/openapi.json", None)
        .await?;
    let ops = operations(&doc);
    assert!(ops.len() >= 28, "{} operations in the document", ops.len());
    let (a, a_creds) = tenant_objects(&sb, "a", 0).await?;
    let (b, _) = tenant_objects(&sb, "b", 1).await?;
    let mut failures: Vec<String> = Vec::new();
    let mut checked = 0usize;

    // 1. Anonymous callers.
    for op in ops.iter().filter(|o| o.permission.is_some()) {
        let (s, body) = send(&sb, None, op, &a.path(&op.path), example_body(op, &a)).await;
        checked += 1;
        if s != 401 || code_of(&body) != Some("unauthenticated".into()) {
            failures.push(format!("anonymous {}: {s} {body}", op.label()));
        }
    }

    // 2. Tenant A's credentials against tenant B's objects (before anything of A's is deleted).
    for cred in &a_creds {
        for op in ops
            .iter()
            .filter(|o| o.permission.is_some() && o.id != "logout")
        {
            let permitted = op.permission.is_some_and(|p| cred.role.permits(p));
            let names_object = op.path.contains("{id}");
            // A body naming a camera names B's.
            let mut body = example_body(op, &b);
            if (["create_camera", "create_user", "create_channel"].contains(&op.id.as_str()))
                && let Some(b_obj) = body.as_mut().and_then(Value::as_object_mut)
            {
                b_obj.insert("tenant_id".into(), json!(b.tenant));
            }
            let path = if names_object {
                b.path(&op.path)
            } else {
                op.path.clone()
            };
            let (s, answer) = send(&sb, Some(&cred.token), op, &path, body).await;
            checked += 1;
            let text = answer.to_string();
            if op.id == "list_audit" {
                // The log holds A's own requests (paths naming B's ids included): only A's lines.
                let own = |e: &AuditEntry| e.record.tenant_id.map(|t| t.to_string());
                let foreign = typed::<AuditPage>(s, answer.clone()).map_or(0, |page| {
                    page.items
                        .iter()
                        .filter(|e| own(e) != Some(a.tenant.clone()))
                        .count()
                });
                if foreign > 0 {
                    failures.push(format!(
                        "LEAK {} {}: {foreign} lines of other tenants",
                        cred.label,
                        op.label()
                    ));
                }
            } else if let Some(secret) = b.secrets.iter().find(|s| text.contains(s.as_str())) {
                failures.push(format!(
                    "LEAK {} {}: answer holds {secret}: {text}",
                    cred.label,
                    op.label()
                ));
            }
            let ok = if !permitted {
                s == 403
            } else if names_object || ["create_hold", "create_export"].contains(&op.id.as_str()) {
                s == 404
            } else if ["create_camera", "create_user", "create_channel"].contains(&op.id.as_str()) {
                s == 400
                    && api_error(&answer).ok().and_then(|e| e.field) == Some("tenant_id".into())
            } else {
                (200..300).contains(&s) || s == 403
            };
            if !ok {
                failures.push(format!("{} on B: {}: {s} {text}", cred.label, op.label()));
            }
        }
        // Filters naming tenant B return nothing of B's.
        for path in [
            format!("/api/v1/cameras?tenant_id={}", b.tenant),
            format!("/api/v1/audit?tenant_id={}", b.tenant),
        ] {
            let url = format!("{}{path}", sb.node()?.api);
            let (s, answer) = sb
                .request_as(Some(&cred.token), Method::GET, &url, None)
                .await?;
            checked += 1;
            let text = answer.to_string();
            // Either list: only whether it holds any item matters here.
            let listed = serde_json::from_value::<ItemsOnly>(answer.clone())
                .map(|page| page.items.len())
                .unwrap_or(0);
            if (200..300).contains(&s) && listed > 0 {
                failures.push(format!("LEAK {} {path}: {s} {text}", cred.label));
            }
        }
    }

    // 3. Every role on its own tenant's objects: allowed exactly where its permissions say.
    let mut by_role: BTreeMap<&str, Vec<&Credential>> = BTreeMap::new();
    for c in &a_creds {
        by_role.entry(c.role.as_str()).or_default().push(c);
    }
    let admin = Credential {
        label: "platform admin".into(),
        token: sb.admin_key.clone(),
        role: Role::PlatformAdmin,
    };
    let mut everyone: Vec<&Credential> = a_creds.iter().rev().collect(); // least privileged first
    everyone.push(&admin);
    for op in ops.iter().filter(|o| o.permission.is_some()) {
        for cred in &everyone {
            let Some(permission) = op.permission else {
                continue;
            };
            let permitted = cred.role.permits(permission);
            let (s, answer) = send(
                &sb,
                Some(&cred.token),
                op,
                &a.path(&op.path),
                example_body(op, &a),
            )
            .await;
            checked += 1;
            let ok = if permitted {
                let refused_for_a_field = api_error(&answer).ok().and_then(|e| e.field).is_some();
                s != 401 && (s != 403 || refused_for_a_field) && s < 500
            } else {
                s == 403 && code_of(&answer) == Some("forbidden".into())
            };
            if !ok {
                failures.push(format!(
                    "WRONG GRANT {} {} (permitted: {permitted}): {s} {answer}",
                    cred.label,
                    op.label()
                ));
            }
        }
    }

    // 4. Tenant B's objects are untouched.
    let cam: CameraView = sb.get_typed(&format!("/cameras/{}", b.camera)).await?;
    assert_eq!(cam.camera.name, "camera b");
    assert!(!cam.camera.labels.contains_key("touched"), "{cam:?}");
    let user: User = sb.get_typed(&format!("/users/{}", b.user)).await?;
    assert!(!user.disabled, "{user:?}");
    let keys: ApiKeyPage = sb.get_typed("/api-keys").await?;
    let spare = keys
        .items
        .iter()
        .find(|k| k.id.to_string() == b.api_key)
        .context("B's key is listed")?;
    assert!(spare.revoked_at.is_none(), "B's key was revoked: {spare:?}");
    let b_cams: CameraPage = sb
        .get_typed(&format!("/cameras?tenant_id={}", b.tenant))
        .await?;
    assert_eq!(b_cams.items.len(), 1, "{b_cams:?}");

    println!(
        "isolation: {} operations, {checked} requests, {} failures",
        ops.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}
