//! Validation shared by every request type: names, ranges, labels and URLs.

use crate::error::FieldError;
use std::collections::BTreeMap;

/// Longest name accepted for tenants and cameras.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest camera URL accepted.
pub const MAX_URL_CHARS: usize = 2048;
/// Most labels on one camera.
pub const MAX_LABELS: usize = 32;

/// A name: 1-128 characters, not blank, no control characters.
pub fn validate_name(field: &'static str, name: &str) -> Result<(), FieldError> {
    let chars = name.chars().count();
    if name.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if chars > MAX_NAME_CHARS {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters, got {chars}"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// A number within `min..=max`.
pub fn validate_range<T: PartialOrd + std::fmt::Display>(
    field: &'static str,
    value: T,
    min: T,
    max: T,
) -> Result<(), FieldError> {
    if value < min || value > max {
        return Err(FieldError::new(
            field,
            format!("must be between {min} and {max}, got {value}"),
        ));
    }
    Ok(())
}

/// Labels: at most 32, keys `[a-z0-9_.-]{1,64}`, values up to 256 characters without control characters.
pub fn validate_labels(
    field: &'static str,
    labels: &BTreeMap<String, String>,
) -> Result<(), FieldError> {
    if labels.len() > MAX_LABELS {
        return Err(FieldError::new(
            field,
            format!("at most {MAX_LABELS} labels, got {}", labels.len()),
        ));
    }
    for (k, v) in labels {
        let key_ok = !k.is_empty()
            && k.len() <= 64
            && k.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
        if !key_ok {
            return Err(FieldError::new(
                field,
                format!("label key {k:?} must match [a-z0-9_.-]{{1,64}}"),
            ));
        }
        if v.chars().count() > 256 || v.chars().any(char::is_control) {
            return Err(FieldError::new(
                field,
                format!(
                    "label {k:?}: value must be at most 256 characters without control characters"
                ),
            ));
        }
    }
    Ok(())
}

/// An RTSP URL: `rtsp://` or `rtsps://`, optional `user:pass@`, a host, an optional numeric port, a path.
pub fn validate_rtsp_url(field: &'static str, url: &str) -> Result<(), FieldError> {
    validate_url(field, url, &["rtsp", "rtsps"])
}

/// `url` fit for a log or an answer: the password of its userinfo (`user:pass@`), or a
/// `password=` parameter (URL query or libpq key=value form), replaced with `***`.
pub fn redacted_url(url: &str) -> String {
    let mut out = match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..end].rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _)) => format!("{scheme}://{user}:***@{host}{}", &rest[end..]),
                    None => url.to_string(),
                },
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    };
    let lower = out.to_ascii_lowercase();
    if let Some(at) = lower.find("password=") {
        let start = at + "password=".len();
        let end = out[start..]
            .find(['&', ' '])
            .map_or(out.len(), |e| start + e);
        out.replace_range(start..end, "***");
    }
    out
}

/// A URL of one of `schemes`: optional `user:pass@`, a host, an optional numeric port, a path; the
/// error names the schemes and what is wrong.
pub fn validate_url(field: &'static str, url: &str, schemes: &[&str]) -> Result<(), FieldError> {
    let bad = |why: &str| {
        let wanted: Vec<String> = schemes.iter().map(|s| format!("{s}://")).collect();
        Err(FieldError::new(
            field,
            format!("must be an {} URL: {why}", wanted.join(" or ")),
        ))
    };
    if url.len() > MAX_URL_CHARS {
        return bad("too long");
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("contains whitespace or control characters");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return bad("missing scheme");
    };
    if !schemes.iter().any(|s| scheme.eq_ignore_ascii_case(s)) {
        return bad(&format!("unsupported scheme {scheme:?}"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return bad("unclosed IPv6 bracket"),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return bad("missing host");
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._:".contains(c))
    {
        return bad("invalid host");
    }
    if let Some(p) = port {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => {}
            _ => return bad(&format!("invalid port {p:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtsp_urls() {
        for ok in [
            "rtsp://127.0.0.1:8554/cam0",
            "rtsp://user:p%40ss@cam.example.com/stream1",
            "RTSPS://[::1]:322/x",
            "rtsp://host",
        ] {
            assert!(validate_rtsp_url("url", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://x/y",
            "rtsp://",
            "rtsp://:554/x",
            "rtsp://h:99999/x",
            "rtsp://h:abc/x",
            "not a url",
            "rtsp://h o/x",
            "",
        ] {
            let err = validate_rtsp_url("url", bad).unwrap_err();
            assert_eq!(err.field, "url", "{bad}");
        }
    }

    #[test]
    fn names_and_labels() {
        assert!(validate_name("name", "Front door").is_ok());
        assert!(validate_name("name", "  ").is_err());
        assert!(validate_name("name", &"x".repeat(129)).is_err());
        assert!(validate_name("name", "a\u{0}b").is_err());
        let mut labels = BTreeMap::new();
        labels.insert("site".to_string(), "hq".to_string());
        assert!(validate_labels("labels", &labels).is_ok());
        labels.insert("Bad Key".to_string(), "v".to_string());
        assert!(validate_labels("labels", &labels).is_err());
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::redacted_url;

    #[test]
    fn secrets_leave_urls() {
        assert_eq!(
            redacted_url("postgres://vms:hunter2@db:5432/vms?sslmode=require"),
            "postgres://vms:***@db:5432/vms?sslmode=require"
        );
        assert_eq!(
            redacted_url("host=db user=vms password=hunter2 dbname=vms"),
            "host=db user=vms password=*** dbname=vms"
        );
        assert_eq!(redacted_url("postgres://db/vms"), "postgres://db/vms");
        assert_eq!(
            redacted_url("postgres://postgres@db/vms"),
            "postgres://postgres@db/vms"
        );
    }
}
