//! Local receivers for notification tests and demos: a webhook endpoint (HTTP/1.1 on 127.0.0.1) and
//! an SMTP server, each recording what reached it. Either can be told to refuse, to exercise retries
//! and dead letters.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One request a [`WebhookReceiver`] took.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    /// Request line, e.g. `POST /hook HTTP/1.1`.
    pub request_line: String,
    /// Headers, names in lower case.
    pub headers: BTreeMap<String, String>,
    /// Body.
    pub body: Vec<u8>,
}

type Log<T> = Arc<Mutex<Vec<T>>>;

fn snapshot<T: Clone>(log: &Log<T>) -> Vec<T> {
    log.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// An HTTP endpoint on 127.0.0.1 that answers every request with one status and records it.
pub struct WebhookReceiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    received: Log<ReceivedRequest>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WebhookReceiver {
    /// Listens on a free port, answering `status` to every request.
    pub async fn start(status: u16) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let received: Log<ReceivedRequest> = Arc::default();
        let log = Arc::clone(&received);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let mut reader = BufReader::new(stream);
                    let Ok(Some(req)) = read_request(&mut reader).await else {
                        return;
                    };
                    log.lock().unwrap_or_else(PoisonError::into_inner).push(req);
                    let answer = format!(
                        "HTTP/1.1 {status} Test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = reader.get_mut().write_all(answer.as_bytes()).await;
                    let _ = reader.get_mut().shutdown().await;
                });
            }
        });
        Ok(Self {
            url,
            received,
            task,
        })
    }

    /// The requests taken so far.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        snapshot(&self.received)
    }
}

async fn read_request(
    reader: &mut BufReader<tokio::net::TcpStream>,
) -> std::io::Result<Option<ReceivedRequest>> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).await? == 0 {
        return Ok(None);
    }
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len.min(16 * 1024 * 1024)];
    reader.read_exact(&mut body).await?;
    Ok(Some(ReceivedRequest {
        request_line: request_line.trim_end().to_string(),
        headers,
        body,
    }))
}

/// An SMTP server on 127.0.0.1 that takes every message, refusing (554) recipients whose address
/// contains a given word, and records the messages' text.
pub struct SmtpReceiver {
    /// Port it listens on.
    pub port: u16,
    messages: Log<String>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpReceiver {
    /// Listens on a free port; a `RCPT TO` naming an address that contains `refuse` is answered
    /// `554 5.7.1 relaying denied`.
    pub async fn start(refuse: &str) -> anyhow::Result<Self> {
        let refuse = refuse.to_ascii_lowercase();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let messages: Log<String> = Arc::default();
        let log = Arc::clone(&messages);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, refuse) = (Arc::clone(&log), refuse.clone());
                tokio::spawn(async move {
                    let _ = smtp_session(stream, &refuse, &log).await;
                });
            }
        });
        Ok(Self {
            port,
            messages,
            task,
        })
    }

    /// The messages taken so far (headers and body, as sent).
    pub fn messages(&self) -> Vec<String> {
        snapshot(&self.messages)
    }
}

async fn smtp_session(
    stream: tokio::net::TcpStream,
    refuse: &str,
    log: &Log<String>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    reader
        .get_mut()
        .write_all(b"220 receiver.test ESMTP\r\n")
        .await?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 receiver.test\r\n",
            "RCPT" if !refuse.is_empty() && line.to_ascii_lowercase().contains(refuse) => {
                b"554 5.7.1 relaying denied\r\n"
            }
            "DATA" => {
                reader.get_mut().write_all(b"354 go ahead\r\n").await?;
                let mut message = String::new();
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l).await? == 0 {
                        return Ok(());
                    }
                    if l == ".\r\n" || l == ".\n" {
                        break;
                    }
                    message.push_str(&l);
                }
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(message);
                b"250 2.0.0 queued\r\n"
            }
            "QUIT" => {
                reader.get_mut().write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"250 ok\r\n",
        };
        reader.get_mut().write_all(answer).await?;
    }
}
