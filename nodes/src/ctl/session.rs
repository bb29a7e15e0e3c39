//! The session `vms ctl login` saves, and secrets read from the environment or the terminal.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// A saved login.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Session {
    pub(super) url: String,
    pub(super) access_token: String,
    pub(super) refresh_token: String,
}

pub(super) fn session_path() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("vms").join("session.json")
}

pub(super) fn save_session(session: &Session) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = session_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(serde_json::to_string_pretty(session)?.as_bytes())?;
    Ok(())
}

/// Reads a secret from `env`, else from the terminal without echo (or a line of standard input).
pub(super) fn read_secret(env: &str, prompt: &str) -> anyhow::Result<String> {
    if let Ok(v) = std::env::var(env) {
        return Ok(v);
    }
    eprint!("{prompt}");
    let stdin = std::io::stdin();
    let tty = rustix::termios::isatty(&stdin);
    let saved = if tty {
        rustix::termios::tcgetattr(&stdin).ok()
    } else {
        None
    };
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(t) = &saved {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, t);
        eprintln!();
    }
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
