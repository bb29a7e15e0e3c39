//! The actors of a VMS node and what they drive: RTSP ingest into fragmented MP4 segments, keyframe
//! sampling for analytics, and the NATS publisher, over the PostgreSQL store of the `vms-store`
//! crate.
//!
//! Supervision tree: [`NodeSupervisor`] → [`TenantCameras`] per tenant → [`CameraActor`] per camera →
//! its segmenter; plus the singletons retention, notifier and the ticket keeper (with a ticket actor per
//! open ticket).
//! Beside it, the tenant keeper runs a leased [`TenantActor`] for each tenant whose home this node
//! is (one in the cluster per tenant), and the replica keeper this node's model worker replicas.
//! Every actor builds its state from its arguments in `pre_start`, so a restart starts clean.

mod analytics;
mod backoff;
mod children;
mod clock;
mod cluster;
mod cluster_auth;
mod context;
mod export_signing;
mod media;
mod metrics;
mod notify;
mod ownership;
mod recording;
mod signing;
mod supervisor;
mod tenancy;

// The modules are private: what other crates use is re-exported here, by folder. The layer order
// and what each folder may import are in `docs/architecture.md` and checked by `tests/layers.rs`.

// Base: shared context, time, ownership, metrics.
pub use clock::{Clock, SimulatedClock, SystemClock, system as system_clock};
pub use context::NodeContext;
pub use metrics::EVENTS_DEAD_LETTERS;
pub use ownership::Ownership;

// Media: pure muxing and recording, no actors.
pub use export_signing::{
    ExportSigner, Verified, VerifyError, canonical, digest, hex, verify as verify_export,
};
pub use media::export_mp4::{
    EXPORT_TIMESCALE, ExportError, Mp4Builder, SampleRun, ScannedSegment, scan_segment,
};
pub use media::fmp4::{
    Fmp4Error, Sample, VIDEO_TIMESCALE, VideoCodec, VideoTrack, avc_record, fragment, init_segment,
};
pub use media::fmp4_scan::{ScannedFragments, scan as scan_fragments};
pub use media::fragmenter::{ClosedFragments, FMP4_EXT, FragmentError, FragmentRecorder};
pub use media::ingest::FailureKind;
pub use media::layout::{SegmentLayout, is_within};
pub use media::live::{LIVE_QUEUE, LiveChannel, LiveHub, LivePublisher};
pub use media::mirror::{MirrorChunk, MirrorSink};
pub use media::nal::{annex_b_units, append_length_prefixed};
pub use media::recovery::{RecoveredFile, recover_file};
pub use media::rtsp::{
    IngestEnd, IngestError, IngestEvent, IngestOptions, record as record_rtsp,
    record_for as record_rtsp_for,
};
pub use media::snapshot::{SnapshotError, first_frame_jpeg};
pub use media::vod::{VodError, rebase as rebase_decode_times};

// Recording: tenants, cameras, their segmenters, retention.
pub use recording::analysis::KeyframeAnalysis;
pub use recording::camera::{CameraActor, CameraArgs, CameraMsg, camera_actor_name};
pub use recording::export::{ExportInput, WrittenExport, write_export};
pub use recording::object_tier::{ObjectTier, ObjectTierError};
pub use recording::orphans::{ORPHAN_AGE, OrphanSweep, OrphanSweeper, highest_seq_on_disk};
pub use recording::retention::{RetentionActor, RetentionArgs};
pub use recording::tenant_cameras::{TenantCameras, TenantCamerasArgs};
pub use recording::uploader::{
    UploaderActor, UploaderArgs, set_size_check as set_upload_size_check,
};

// Analytics: detection, the event outbox and feed.
pub use analytics::feed::spawn_event_feed;
pub use analytics::inference::{Inference, Routed};
pub use analytics::outbox::Outbox;
pub use analytics::usage::spawn_usage_reporter;
pub use analytics::{Analytics, Detection, ensure_stream};

// Notify: ticket escalation.
pub use notify::escalation::{EscalateError, escalate, escalation_event};
pub use notify::ticket_actor::{TicketActor, TicketArgs, TicketMsg, due_in, ticket_actor_name};
pub use notify::ticket_keeper::{KeeperArgs, KeeperMsg, RESYNC_EVERY, TICKET_KEEPER, TicketKeeper};

// Cluster: membership, placement, links, change hints and their signatures.
pub use cluster::changes::{publish as publish_change, remote_status, spawn as spawn_changes};
pub use cluster::links::Links;
pub use cluster::live_relay::subscribe as subscribe_live_relay;
pub use cluster::membership::Membership;
pub use cluster::mirror::{
    StandbyState, StreamMirror, receive as receive_mirrored, serve as serve_mirror,
};
pub use cluster::mirror_stream::{MirrorServer, MirroredWrite};
pub use cluster::placement::{LEASE as PLACEMENT_LEASE, spawn as spawn_placement};
pub use cluster::plan::rendezvous;
pub use cluster::replica::{LocalReplicas, ModelReplica, model_group, replica_group};
pub use cluster::replica_keeper::{
    REPLICA_KEEPER, ReplicaKeeper, ReplicaKeeperArgs, ReplicaKeeperMsg,
};
pub use cluster::replica_plan::{INFERENCE_ROLE, InferenceNode, replica_nodes};
pub use cluster::router::InferenceRouter;
pub use cluster::segment_read::{
    LinkObject, MAX_READ as MAX_LINK_READ, linked, read_remote as read_over_link,
};
pub use cluster_auth::{ClusterAuth, sign as sign_change, unsigned_change};
pub use recording::mirrored::{drop_uploaded_days, index_mirrored};

// Tenancy: one leased tenant actor per tenant in the cluster.
pub use tenancy::home::tenant_home;
pub use tenancy::tenant_actor::{TenantActor, TenantActorArgs, TenantActorMsg, tenant_actor_name};
pub use tenancy::tenant_keeper::{TENANT_KEEPER, TenantKeeper, TenantKeeperArgs, TenantKeeperMsg};

// The node supervisor.
pub use supervisor::{NODE_SUPERVISOR, NodeArgs, NodeMsg, NodeSupervisor};
