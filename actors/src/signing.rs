//! The HMAC-SHA256 signature the node puts on what it sends: webhook deliveries, and the messages
//! nodes publish to each other. Base layer: it imports nothing of the crate.

use hmac::{Hmac, Mac};

/// `sha256=<hex>` of HMAC-SHA256 over `"<timestamp>.<body>"`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("hmac accepts any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hmac_hex(key: &[u8], message: &[u8]) -> String {
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("key");
        mac.update(message);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn signatures_match_a_known_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            hmac_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Our signature covers "<timestamp>.<body>".
        assert_eq!(
            signature(b"Jefe", 0, b"what do ya want for nothing?"),
            format!(
                "sha256={}",
                hmac_hex(b"Jefe", b"0.what do ya want for nothing?")
            )
        );
    }
}
