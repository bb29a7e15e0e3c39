//! Who may watch the simulator's cameras: anyone, or only the `--auth` user (digest or basic),
//! over plain RTSP or `rtsps://` (`--tls-cert`).

use crate::sim::SimArgs;
use anyhow::Context;
use gstreamer as gst;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

/// Role of the simulator's clients: anyone's without `--auth`, its one user's with it.
const VIEWER: &str = "viewer";

/// The authenticator the server needs when it serves TLS (`--tls-cert`: its certificate and key)
/// or asks for credentials (`--auth USER:PASS`, basic or digest); `None` when it needs none. Without
/// `--auth` anyone may watch (gst-rtsp-server's authenticator grants nothing by default).
pub(crate) fn authenticator(args: &SimArgs) -> anyhow::Result<Option<rtsp::RTSPAuth>> {
    if args.tls_cert.is_none() && args.auth.is_none() {
        return Ok(None);
    }
    let auth = rtsp::RTSPAuth::new();
    if let Some(cert) = &args.tls_cert {
        let certificate = rtsp::gio::TlsCertificate::from_file(cert).with_context(|| {
            format!("cannot read the certificate and key in {}", cert.display())
        })?;
        auth.set_tls_certificate(Some(&certificate));
    }
    let mut token = rtsp::RTSPToken::builder()
        .field("media.factory.role", VIEWER)
        .build();
    match &args.auth {
        None => auth.set_default_token(Some(&mut token)),
        Some(credentials) => {
            let (user, password) = credentials
                .split_once(':')
                .context("--auth takes USER:PASSWORD")?;
            if args.auth_method == "basic" {
                auth.add_basic(&rtsp::RTSPAuth::make_basic(user, password), &token);
                auth.set_supported_methods(rtsp::gst_rtsp::RTSPAuthMethod::Basic);
            } else {
                auth.add_digest(user, password, &token);
                auth.set_supported_methods(rtsp::gst_rtsp::RTSPAuthMethod::Digest);
            }
        }
    }
    Ok(Some(auth))
}

/// Lets the viewers of [`authenticator`] watch and start `factory`'s media.
pub(crate) fn viewable(factory: &rtsp::RTSPMediaFactory) {
    factory.add_role_from_structure(
        &gst::Structure::builder(VIEWER)
            .field("media.factory.access", true)
            .field("media.factory.construct", true)
            .build(),
    );
}
