//! Recorded segments, their index entries, and the jobs they produce for analytics.

use crate::ids::{CameraId, TenantId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One recorded segment (about 5 s of video in a fragmented MP4 file, or an MPEG-TS file recorded
/// before ingest v2), as indexed in PostgreSQL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Segment {
    /// Segment id.
    pub id: i64,
    /// Camera recorded.
    pub camera_id: CameraId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Per-camera sequence number, increasing.
    pub seq: i64,
    /// Wall-clock time of the first frame.
    pub start: DateTime<Utc>,
    /// Wall-clock time just after the last frame.
    pub end: DateTime<Utc>,
    /// `end - start` in milliseconds.
    pub duration_ms: i64,
    /// File size in bytes.
    pub bytes: i64,
    /// Node that recorded it.
    pub node: String,
    /// Relative URL of the media (`/api/v1/segments/{id}/media`, supports HTTP Range). The API
    /// fills it in its answers; the store and NATS messages leave it empty.
    #[serde(default)]
    pub media_url: String,
    /// How it came to be indexed (`live` unless recovered after a crash or a cut-off).
    #[serde(default)]
    pub origin: SegmentOrigin,
    /// What the file holds and where its fragments are.
    #[serde(default)]
    pub media: SegmentMedia,
    /// Where copies of it are held.
    #[serde(default)]
    pub copies: SegmentCopies,
}

/// Where a segment's copies are held. Each fragment's `copies` counts those that hold it whole.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SegmentCopies {
    /// The recording node still keeps its file (false once the object store holds it and the local
    /// copy was dropped).
    pub on_disk: bool,
    /// The standby node holding a copy, if any.
    pub standby_node: Option<String>,
    /// Bytes from the start of the file the standby acknowledged as durable: fragments wholly
    /// within them are copied there, the rest are not (nothing counts without an acknowledgement).
    pub standby_bytes: u64,
    /// The object store holds it whole.
    pub object_store: bool,
}

impl SegmentCopies {
    /// How many of these copies hold the `len` bytes at `offset` of the file.
    pub fn holding(&self, offset: u64, len: u64) -> u8 {
        u8::from(self.on_disk)
            + u8::from(self.standby_node.is_some() && offset + len <= self.standby_bytes)
            + u8::from(self.object_store)
    }
}

/// The container of a segment file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SegmentContainer {
    /// MPEG-TS (`video/mp2t`), as recorded before ingest v2.
    #[default]
    Ts,
    /// Fragmented MP4 (CMAF, `video/mp4`): an init section and fragments of about 1 s.
    Fmp4,
}

impl SegmentContainer {
    /// The name stored in PostgreSQL and sent over the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ts => "ts",
            Self::Fmp4 => "fmp4",
        }
    }

    /// The container named `name` (`ts` for anything unknown).
    pub fn from_name(name: &str) -> Self {
        match name {
            "fmp4" => Self::Fmp4,
            _ => Self::Ts,
        }
    }

    /// The media type its files are served as.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Ts => "video/mp2t",
            Self::Fmp4 => "video/mp4",
        }
    }
}

/// What a segment file holds and how it is laid out, so players seek, and live view starts from a
/// keyframe, without reading the whole file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SegmentMedia {
    /// Its container.
    pub container: SegmentContainer,
    /// Video codec as RFC 6381 names it (`avc1.64001f`, `hvc1.1.6.L93.B0`); absent for MPEG-TS.
    pub codec: Option<String>,
    /// Picture width in pixels.
    pub width: Option<u32>,
    /// Picture height in pixels.
    pub height: Option<u32>,
    /// Audio codec (RFC 6381) when the file has an audio track.
    pub audio: Option<String>,
    /// Length of the init section (fMP4): the first fragment starts here.
    pub init_len: Option<u64>,
    /// Its fragments in order (fMP4).
    #[serde(default)]
    pub fragments: Vec<SegmentFragment>,
}

/// One fragment (`moof` + `mdat`) of a fragmented MP4 segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SegmentFragment {
    /// Byte offset of its `moof` in the file.
    pub offset: u64,
    /// Its length in bytes (`moof` and `mdat`).
    pub len: u64,
    /// Milliseconds from the segment's start to its first sample.
    pub start_ms: u32,
    /// Its duration in milliseconds.
    pub duration_ms: u32,
    /// It starts on a keyframe: decoding (and live view) may start here.
    pub keyframe: bool,
    /// How many copies hold it whole: the recording node's file, the standby's acknowledged copy,
    /// the object store (see the segment's `copies`).
    #[serde(default)]
    pub copies: u8,
}

/// How a segment came to be indexed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SegmentOrigin {
    /// By the node recording it, as it recorded (the camera was its own).
    #[default]
    Live,
    /// Later, from a file its node left unindexed when it crashed or was cut off, recorded while the
    /// camera was still that node's.
    Recovered,
    /// Later, from a file its node wrote after the camera had moved to another node (while it was
    /// frozen or cut off): the new owner's recording covers the same time.
    Fenced,
}

impl SegmentOrigin {
    /// The name stored in PostgreSQL and sent over the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Recovered => "recovered",
            Self::Fenced => "fenced",
        }
    }

    /// The origin named `name` (`live` for anything unknown).
    pub fn from_name(name: &str) -> Self {
        match name {
            "recovered" => Self::Recovered,
            "fenced" => Self::Fenced,
            _ => Self::Live,
        }
    }
}

/// A page of segments with the cursor of the next page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SegmentPage {
    /// Segments, oldest first.
    pub items: Vec<Segment>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Published on NATS when a segment is on disk and indexed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentReady {
    /// Wire version ([`crate::WIRE_VERSION`]).
    pub v: u32,
    /// The indexed segment.
    pub segment: Segment,
}

/// How urgently analytics should look at a piece of video.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobPriority {
    /// Live video: analyse now.
    High,
    /// Backfill or re-analysis.
    Standard,
}

/// A piece of recorded video for analytics: the segment's range widened by the overlap, so an event at
/// a segment boundary is seen whole (the neighbouring segment supplies the overlap).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VideoJob {
    /// Wire version ([`crate::WIRE_VERSION`]).
    pub v: u32,
    /// Segment the job is for.
    pub segment_id: i64,
    /// Camera.
    pub camera_id: CameraId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Start of the range to analyse (segment start minus overlap).
    pub from: DateTime<Utc>,
    /// End of the range to analyse.
    pub to: DateTime<Utc>,
    /// Queue to put it on.
    pub priority: JobPriority,
}

/// Where a camera's footage is kept: bytes and oldest footage per tier (`GET
/// /api/v1/cameras/{id}/storage`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CameraStorage {
    /// Camera.
    pub camera_id: CameraId,
    /// Segments indexed.
    pub segments: i64,
    /// Bytes of all its indexed segments, each counted once.
    pub bytes: i64,
    /// Bytes on the disks of the nodes that recorded them (or of the standby that indexed them).
    pub local_bytes: i64,
    /// Bytes in the object store.
    pub object_bytes: i64,
    /// Bytes recorded but not yet in the object store (all of them when no object store is set).
    pub pending_upload_bytes: i64,
    /// Start of the oldest footage kept, in any tier.
    pub oldest: Option<DateTime<Utc>>,
    /// Start of the oldest footage still on a node's disk.
    pub oldest_local: Option<DateTime<Utc>>,
    /// The node recording the camera now, if placement placed it.
    pub owner_node: Option<String>,
    /// The camera's standby node (it holds a copy of the recent fragments), if placement chose one.
    pub standby_node: Option<String>,
}
