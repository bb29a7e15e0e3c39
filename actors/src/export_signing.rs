//! Signatures of export manifests. The cluster's Ed25519 export key is derived from the cluster
//! cookie (HMAC-SHA256 of a fixed label), so every node signs with the same key and no private
//! key is stored anywhere; a new cookie means a new key (earlier manifests still verify against
//! the public key they carry, and a verifier that pinned the old one sees the change).
//!
//! What is signed is the manifest's canonical JSON: compact, object keys sorted at every level,
//! so the bytes do not depend on how the manifest was stored (PostgreSQL `jsonb` reorders keys)
//! or printed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Read;
use vms_messages::{ExportManifest, MANIFEST_FORMAT, SignedManifest};

/// The label the key is derived under.
const KEY_LABEL: &[u8] = b"vms export signing key v1";
/// The algorithm named in signed manifests.
pub const ALGORITHM: &str = "ed25519";

/// Signs export manifests with the cluster's key.
pub struct ExportSigner {
    key: SigningKey,
}

impl std::fmt::Debug for ExportSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportSigner")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl ExportSigner {
    /// The cluster's signer, derived from its cookie.
    pub fn from_cookie(cookie: &str) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(cookie.as_bytes())
            .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new_from_slice(b"-").expect("hmac key"));
        mac.update(KEY_LABEL);
        let seed: [u8; 32] = mac.finalize().into_bytes().into();
        Self {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The public half, base64.
    pub fn public_key(&self) -> String {
        STANDARD.encode(self.key.verifying_key().as_bytes())
    }

    /// `manifest` with its signature.
    pub fn sign(&self, manifest: ExportManifest) -> SignedManifest {
        let bytes = canonical(&serde_json::to_value(&manifest).unwrap_or(Value::Null));
        SignedManifest {
            manifest,
            algorithm: ALGORITHM.into(),
            public_key: self.public_key(),
            signature: STANDARD.encode(self.key.sign(&bytes).to_bytes()),
        }
    }
}

/// Canonical JSON of `value`: compact, object keys sorted at every level.
pub fn canonical(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(key).unwrap_or_default());
                out.push(b':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        scalar => out.extend(serde_json::to_vec(scalar).unwrap_or_default()),
    }
}

/// Why an export does not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// The manifest is not a signed manifest of a format this build knows.
    #[error("the manifest cannot be read: {0}")]
    Manifest(String),
    /// The signature does not verify: the manifest was changed or not signed by this key.
    #[error("the manifest's signature does not verify")]
    Signature,
    /// The manifest was signed by another key than the one pinned.
    #[error("the manifest was signed by key {found}, not the pinned {pinned}")]
    Key {
        /// The key in the manifest.
        found: String,
        /// The key the verifier trusts.
        pinned: String,
    },
    /// The file is not the one the manifest describes.
    #[error("the file does not match the manifest: {0}")]
    File(String),
}

/// What a verified export states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The manifest.
    pub manifest: ExportManifest,
    /// The key that signed it (base64).
    pub public_key: String,
}

/// Checks a signed manifest (its JSON) and that `file` is the file it describes: the signature
/// under the key it carries (and that key is `pinned`, when given), then the file's size and
/// SHA-256.
pub fn verify(
    manifest_json: &[u8],
    file: impl Read,
    pinned: Option<&str>,
) -> Result<Verified, VerifyError> {
    let bad = |e: &dyn std::fmt::Display| VerifyError::Manifest(e.to_string());
    let signed: Value = serde_json::from_slice(manifest_json).map_err(|e| bad(&e))?;
    let field = |name: &str| {
        signed
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| VerifyError::Manifest(format!("no {name}")))
    };
    if field("algorithm")? != ALGORITHM {
        return Err(VerifyError::Manifest("not an ed25519 signature".into()));
    }
    let public_key = field("public_key")?.to_string();
    if let Some(pinned) = pinned
        && pinned.trim() != public_key
    {
        return Err(VerifyError::Key {
            found: public_key,
            pinned: pinned.trim().to_string(),
        });
    }
    let key_bytes: [u8; 32] = STANDARD
        .decode(&public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| VerifyError::Manifest("the public key is not 32 bytes of base64".into()))?;
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|e| bad(&e))?;
    let signature: [u8; 64] = STANDARD
        .decode(field("signature")?)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(VerifyError::Signature)?;
    let body = signed
        .get("manifest")
        .ok_or_else(|| VerifyError::Manifest("no manifest".into()))?;
    key.verify(&canonical(body), &Signature::from_bytes(&signature))
        .map_err(|_| VerifyError::Signature)?;
    let manifest: ExportManifest = serde_json::from_value(body.clone()).map_err(|e| bad(&e))?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(VerifyError::Manifest(format!(
            "format {} is not {MANIFEST_FORMAT}",
            manifest.format
        )));
    }
    let (bytes, sha256) = digest(file).map_err(|e| VerifyError::File(e.to_string()))?;
    if bytes != manifest.file.bytes {
        return Err(VerifyError::File(format!(
            "{bytes} bytes, the manifest says {}",
            manifest.file.bytes
        )));
    }
    if sha256 != manifest.file.sha256 {
        return Err(VerifyError::File(format!(
            "SHA-256 {sha256}, the manifest says {}",
            manifest.file.sha256
        )));
    }
    Ok(Verified {
        manifest,
        public_key,
    })
}

/// Length and SHA-256 (hex) of everything `reader` reads.
pub fn digest(mut reader: impl Read) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += u64::try_from(n).unwrap_or(0);
    }
    Ok((total, hex(&hasher.finalize())))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use vms_messages::{CameraId, ManifestFile, TenantId};

    fn manifest(file: &[u8]) -> ExportManifest {
        let (bytes, sha256) = digest(file).expect("digest");
        let at = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
        ExportManifest {
            format: MANIFEST_FORMAT.into(),
            export_id: uuid::Uuid::nil(),
            tenant_id: TenantId::new(),
            camera_id: CameraId::new(),
            camera_name: "gate \"north\"".into(),
            from: at,
            to: at,
            file: ManifestFile {
                name: "x.mp4".into(),
                bytes,
                sha256,
            },
            segments: Vec::new(),
            exported_by: "a@b".into(),
            exported_at: at,
            reason: "case 1".into(),
        }
    }

    #[test]
    fn a_signed_export_verifies_and_one_changed_byte_fails_it() {
        let signer = ExportSigner::from_cookie("cluster cookie");
        assert_eq!(
            signer.public_key(),
            ExportSigner::from_cookie("cluster cookie").public_key(),
            "every node derives the same key"
        );
        let file = b"an exported mp4".to_vec();
        let signed = signer.sign(manifest(&file));
        // Stored as jsonb and read back: keys reordered, printed pretty.
        let json = serde_json::to_vec_pretty(&signed).expect("json");
        let ok = verify(&json, file.as_slice(), Some(&signer.public_key())).expect("verifies");
        assert_eq!(ok.manifest, signed.manifest);
        let mut tampered = file.clone();
        tampered[3] ^= 1;
        assert!(matches!(
            verify(&json, tampered.as_slice(), None),
            Err(VerifyError::File(_))
        ));
        let forged = String::from_utf8(json.clone())
            .expect("utf8")
            .replace("case 1", "case 2");
        assert_eq!(
            verify(forged.as_bytes(), file.as_slice(), None),
            Err(VerifyError::Signature)
        );
        let other = ExportSigner::from_cookie("another cookie").public_key();
        assert!(matches!(
            verify(&json, file.as_slice(), Some(&other)),
            Err(VerifyError::Key { .. })
        ));
    }
}
