//! The web console: the single-page app built from `web/` (`npm run build` writes `web/dist`),
//! embedded in the binary by rust-embed and served at `/` with a policy that allows no inline
//! script. The app's only back end is `/api/v1`; these files hold no data, so they are public.
//!
//! A node built before `web/dist` existed answers `/` with a page that says how to build it.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

/// The built app: `web/dist` of the checkout (read from disk by debug builds, embedded by release).
#[derive(rust_embed::Embed)]
#[folder = "../web/dist"]
#[allow_missing = true]
struct Dist;

/// What the console's pages may load: their own scripts, styles and API, images and video from
/// the node and from `blob:` (snapshots drawn, MSE), nothing inline and no frames.
pub const CONSOLE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; \
     worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The page a node built without the console answers at `/`.
const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>vms console not built</title></head><body><h1>The web console is not built into this node</h1>\
<p>Build it with <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code> (or run \
<code>scripts/setup.sh</code>), then rebuild the node with <code>cargo build</code>. \
The API is at <code>/api/v1</code>.</p></body></html>";

/// The file of the app that `path` names: `/` is `index.html`; anything else is looked up as is.
fn file_of(path: &str) -> &str {
    match path.trim_start_matches('/') {
        "" => "index.html",
        rest => rest,
    }
}

/// Whether `path` is the console's to answer (not the API's nor a health or metrics route).
pub fn owns(path: &str) -> bool {
    !(path.starts_with("/api/") || matches!(path, "/api" | "/metrics" | "/healthz" | "/readyz"))
}

/// Answers a GET or HEAD for a console file, or `None` when the app has no such file.
pub fn serve(req: &HttpRequest) -> Option<HttpResponse> {
    let name = file_of(req.path());
    let Some(file) = Dist::get(name) else {
        return (name == "index.html").then(|| page(NOT_BUILT.as_bytes().to_vec(), "text/html"));
    };
    let mime = mime_of(name);
    let mut response = page(file.data.into_owned(), mime);
    // Hashed asset names change with their content: cache them for good; the page itself never.
    if name.starts_with("assets/") {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
    }
    Some(response)
}

fn page(body: Vec<u8>, mime: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, mime))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONSOLE_CSP))
        .body(body)
}

/// The content type of a built file, by its extension.
fn mime_of(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_the_index_and_api_paths_are_not_the_consoles() {
        assert_eq!(file_of("/"), "index.html");
        assert_eq!(file_of("/assets/app.js"), "assets/app.js");
        assert!(owns("/"));
        assert!(owns("/assets/index-abc.js"));
        assert!(!owns("/api/v1/cameras"));
        assert!(!owns("/metrics"));
        assert!(!owns("/healthz"));
        assert!(!owns("/readyz"));
    }

    #[test]
    fn policy_allows_no_inline_script() {
        let script = CONSOLE_CSP
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap_or_default();
        assert!(!script.contains("unsafe-inline") && !script.contains("unsafe-eval"));
        assert!(CONSOLE_CSP.contains("frame-ancestors 'none'"));
    }
}
