//! Recorded video for players: playlists' segments, HLS media segments on the wall-clock
//! timeline, the timeline, snapshots. Segment bytes come from whichever copy this node reaches
//! (see `NodeBackend::source_of`), looked up from the index row already in hand.

use super::NodeBackend;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use vms_api::{ApiError, SegmentSource, VideoService};
use vms_messages::{CameraId, LiveFeed, Segment, SegmentContainer, TenantScope, Timeline};

impl NodeBackend {
    /// The whole file of the index row `file`, from whichever copy this node reaches.
    pub(super) async fn segment_bytes(
        &self,
        file: &vms_store::SegmentFile,
    ) -> Result<bytes::Bytes, ApiError> {
        match self.source_of(file.clone()).await? {
            SegmentSource::File(path) => {
                tokio::fs::read(&path).await.map(Into::into).map_err(|e| {
                    tracing::warn!(path = %path.display(), error = %e, "segment file unreadable");
                    ApiError::not_found("segment file")
                })
            }
            SegmentSource::Remote { len, reader, .. } => reader.read(0..len).await,
        }
    }
}

#[async_trait]
impl VideoService for NodeBackend {
    async fn playback_segments(
        &self,
        scope: TenantScope,
        camera: CameraId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Segment>, ApiError> {
        self.db(move |s| async move {
            Ok(s.playback_segments(scope, camera, from, to)
                .await?
                .into_iter()
                .map(|f| f.segment)
                .collect())
        })
        .await
    }

    async fn vod_segment(
        &self,
        scope: TenantScope,
        camera: CameraId,
        id: i64,
    ) -> Result<(bytes::Bytes, SegmentContainer), ApiError> {
        let file = self
            .db(move |s| async move { s.segment(scope, id).await })
            .await?;
        if file.segment.camera_id != camera {
            return Err(ApiError::not_found("segment"));
        }
        let bytes = self.segment_bytes(&file).await?;
        let container = file.segment.media.container;
        if container != SegmentContainer::Fmp4 {
            return Ok((bytes, container));
        }
        let start = file.segment.start.timestamp_micros();
        let rebased = tokio::task::spawn_blocking(move || {
            let mut owned = bytes.to_vec();
            vms_actors::rebase_decode_times(&mut owned, start).map(|()| owned)
        })
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| {
            tracing::warn!(segment = id, error = %e, "segment cannot be served as HLS");
            ApiError::unavailable("this segment's file cannot be read as fragmented MP4")
        })?;
        Ok((rebased.into(), container))
    }

    async fn timeline(
        &self,
        scope: TenantScope,
        camera: CameraId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        buckets: u32,
    ) -> Result<Timeline, ApiError> {
        self.db(move |s| async move { s.timeline(scope, camera, from, to, buckets).await })
            .await
    }

    async fn snapshot(
        &self,
        scope: TenantScope,
        camera: CameraId,
        at: Option<DateTime<Utc>>,
    ) -> Result<Vec<u8>, ApiError> {
        let file = self
            .db(move |s| async move { s.segment_at(scope, camera, at).await })
            .await?
            .ok_or_else(|| ApiError::not_found("recorded footage at that time"))?;
        let s = &file.segment;
        let into = at.map_or(i64::MAX, |at| (at - s.start).num_milliseconds());
        // The last fragment starting on a keyframe at or before the moment (the first one if the
        // moment is before them all).
        let fragment = s
            .media
            .fragments
            .iter()
            .filter(|f| f.keyframe)
            .take_while(|f| i64::from(f.start_ms) <= into)
            .last()
            .or_else(|| s.media.fragments.iter().find(|f| f.keyframe))
            .copied()
            .ok_or_else(|| ApiError::not_found("a keyframe at that time"))?;
        let init = usize::try_from(s.media.init_len.unwrap_or(0)).unwrap_or(0);
        let bytes = self.segment_bytes(&file).await?;
        let (start, end) = (
            usize::try_from(fragment.offset).unwrap_or(usize::MAX),
            usize::try_from(fragment.offset + fragment.len).unwrap_or(usize::MAX),
        );
        let (Some(head), Some(body)) = (bytes.get(..init), bytes.get(start..end)) else {
            return Err(ApiError::unavailable(
                "the segment's copy is shorter than its index",
            ));
        };
        let mp4 = [head, body].concat();
        tokio::task::spawn_blocking(move || vms_actors::first_frame_jpeg(mp4))
            .await
            .map_err(|_| ApiError::internal())?
            .map_err(|e| {
                tracing::warn!(segment = s.id, error = %e, "cannot decode a snapshot");
                ApiError::unavailable("the picture could not be decoded")
            })
    }

    async fn live(&self, scope: TenantScope, camera: CameraId) -> Result<LiveFeed, ApiError> {
        self.db(move |s| async move { s.camera(scope, camera).await })
            .await?;
        if self.ownership.owns(camera) {
            return Ok(self.live.channel(camera).subscribe());
        }
        let placed = self
            .db(move |s| async move { s.placement_of(camera).await })
            .await?;
        Err(ApiError::unavailable(match placed {
            // Relayed over the cluster link from the node that records it.
            Some((Some(node), _)) if vms_actors::linked(&node) => {
                return Ok(vms_actors::subscribe_live_relay(&self.live, camera, node));
            }
            Some((Some(node), _)) => {
                format!("camera {camera} is recorded by node {node}, which this node cannot reach")
            }
            Some((None, Some(why))) => format!("camera {camera} is not recorded anywhere: {why}"),
            _ => format!("camera {camera} is not recorded on this node"),
        }))
    }
}
