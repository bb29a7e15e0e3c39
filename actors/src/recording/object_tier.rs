//! `ObjectTier`: the S3-compatible object store segments move to once they are a few minutes old
//! (`[storage]` in the config), through Apache Arrow's `object_store` client. Keys are
//! `<tenant>/<camera>/<yyyy>/<mm>/<dd>/<seq>.<ext>`: derived from the index row, so an upload
//! repeated after a crash writes the same object again instead of a second one.

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;
use vms_config::ObjectStoreSettings;
use vms_store::SegmentFile;

/// How long one request may take before it fails (and the segment waits for the next round).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Retries of one request, within [`RETRY_TIMEOUT`]: an unreachable store fails a round quickly;
/// the uploader's own rounds are the long-term retry.
const RETRIES: usize = 2;
const RETRY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the object store refused or failed a request.
pub type ObjectTierError = object_store::Error;

/// A handle on the object store; cheap to share.
#[derive(Clone, Debug)]
pub struct ObjectTier {
    store: Arc<dyn ObjectStore>,
    endpoint: String,
    bucket: String,
}

impl ObjectTier {
    /// A client for the store `settings` name (no request is made yet).
    pub fn connect(settings: &ObjectStoreSettings) -> Result<Self, ObjectTierError> {
        let retry = RetryConfig {
            max_retries: RETRIES,
            retry_timeout: RETRY_TIMEOUT,
            ..RetryConfig::default()
        };
        let store = AmazonS3Builder::new()
            .with_endpoint(&settings.endpoint)
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(&settings.secret_access_key)
            .with_virtual_hosted_style_request(false)
            .with_retry(retry)
            // The client options carry `allow_http` too: set as a whole, here.
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(settings.endpoint.starts_with("http://"))
                    .with_timeout(REQUEST_TIMEOUT)
                    .with_connect_timeout(Duration::from_secs(5)),
            )
            .build()?;
        Ok(Self {
            store: Arc::new(store),
            endpoint: settings.endpoint.clone(),
            bucket: settings.bucket.clone(),
        })
    }

    /// `endpoint/bucket`, for logs.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.endpoint, self.bucket)
    }

    /// The key segment `file` is stored under.
    pub fn key_for(file: &SegmentFile) -> String {
        let s = &file.segment;
        let ext = file
            .path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("mp4");
        format!(
            "{}/{}/{}/{}.{ext}",
            s.tenant_id,
            s.camera_id,
            s.start.format("%Y/%m/%d"),
            s.seq
        )
    }

    /// Stores `body` under `key` (replacing what a crashed earlier upload left there).
    pub async fn put(&self, key: &str, body: Bytes) -> Result<(), ObjectTierError> {
        self.store
            .put(&ObjectPath::from(key), PutPayload::from_bytes(body))
            .await
            .map(|_| ())
    }

    /// Bytes `range` of object `key`.
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, ObjectTierError> {
        self.store.get_range(&ObjectPath::from(key), range).await
    }

    /// The size of object `key`.
    pub async fn size(&self, key: &str) -> Result<u64, ObjectTierError> {
        Ok(self.store.head(&ObjectPath::from(key)).await?.size)
    }

    /// Whether object `key` exists.
    pub async fn exists(&self, key: &str) -> Result<bool, ObjectTierError> {
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes object `key`; one already gone counts as deleted.
    pub async fn delete(&self, key: &str) -> Result<(), ObjectTierError> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every key under `prefix` with when it was stored (for benchmarks and audits).
    pub async fn stored_at(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, chrono::DateTime<chrono::Utc>)>, ObjectTierError> {
        use futures_util::TryStreamExt;
        let prefix = ObjectPath::from(prefix);
        self.store
            .list(Some(&prefix))
            .map_ok(|m| (m.location.to_string(), m.last_modified))
            .try_collect()
            .await
    }

    /// Every key under `prefix` with its size (for tests and audits).
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, ObjectTierError> {
        use futures_util::TryStreamExt;
        let prefix = ObjectPath::from(prefix);
        self.store
            .list(Some(&prefix))
            .map_ok(|m| (m.location.to_string(), m.size))
            .try_collect()
            .await
    }
}
