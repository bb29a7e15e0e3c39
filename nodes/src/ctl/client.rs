//! The HTTP client of `vms ctl`: API key or session, refreshed when it expires.

use super::session::{Session, save_session};
use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Value, json};

pub(super) struct Client {
    pub(super) http: reqwest::Client,
    pub(super) url: String,
    pub(super) api_key: Option<String>,
    pub(super) session: Option<Session>,
}

impl Client {
    pub(super) fn token(&self) -> Option<&str> {
        self.api_key
            .as_deref()
            .or(self.session.as_ref().map(|s| s.access_token.as_str()))
    }

    pub(super) async fn send(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}/api/v1{path}", self.url.trim_end_matches('/'));
        let mut req = self.http.request(method.clone(), &url);
        if let Some(t) = self.token() {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        json_response(resp).await
    }

    /// Sends a request; a 401 on a saved session refreshes it once and retries.
    pub(super) async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (mut status, mut answer) = self.send(&method, path, body.as_ref()).await?;
        if status == 401 && self.api_key.is_none() && self.refresh().await? {
            (status, answer) = self.send(&method, path, body.as_ref()).await?;
        }
        if status == 401 && self.token().is_none() {
            bail!("not logged in: run `vms ctl login --email …` or set VMS_API_KEY");
        }
        if !(200..300).contains(&status) {
            let e = &answer["error"];
            let field = e["field"]
                .as_str()
                .map(|f| format!(" (field {f})"))
                .unwrap_or_default();
            bail!(
                "{status} {}: {}{field}",
                e["code"].as_str().unwrap_or("error"),
                e["message"].as_str().unwrap_or("")
            );
        }
        Ok(answer)
    }

    pub(super) async fn refresh(&mut self) -> anyhow::Result<bool> {
        let Some(session) = &self.session else {
            return Ok(false);
        };
        let body = json!({"refresh_token": session.refresh_token});
        let url = format!("{}/api/v1/auth/refresh", self.url.trim_end_matches('/'));
        let resp = self.http.post(url).json(&body).send().await?;
        let (status, pair) = json_response(resp).await?;
        if status != 200 {
            return Ok(false);
        }
        let fresh = Session {
            url: self.url.clone(),
            access_token: pair["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            refresh_token: pair["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        };
        save_session(&fresh)?;
        self.session = Some(fresh);
        Ok(true)
    }
}

/// Status and JSON body (`Null` when empty or not JSON) of a response.
pub async fn json_response(resp: reqwest::Response) -> anyhow::Result<(u16, serde_json::Value)> {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await?;
    let json = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
    };
    Ok((status, json))
}
