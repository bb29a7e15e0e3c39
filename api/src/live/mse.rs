//! `MseViewer`: one live viewer over a WebSocket, for Media Source Extensions. It sends a text
//! message describing the track (`{"codec", "video_codec", "audio_codec", "width", "height"}`;
//! `codec` is the MIME `codecs` value, audio included when the fragments carry it), the track's
//! fMP4 init section, then one binary message per frame (`moof` + `mdat`); a new track repeats the
//! first two. Each send waits for the socket's bounded queue, so a slow viewer backs up into its
//! feed and skips to the next keyframe there ([`FrameGate`]).

use crate::live::ViewerSlot;
use crate::live::gate::{self, FeedItem, FrameGate};
use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, StreamHandler, WrapFuture,
};
use std::sync::Arc;
use vms_messages::{LiveFeed, LiveTrack};

/// One WebSocket viewer of a camera; see the module docs.
pub(crate) struct MseViewer {
    session: actix_ws::Session,
    gate: FrameGate,
    track: Option<Arc<LiveTrack>>,
    slot: ViewerSlot,
}

impl MseViewer {
    /// Starts a viewer sending `feed` over `session`, reading the client's messages from
    /// `messages`; it stops when either side closes.
    pub(crate) fn start(
        session: actix_ws::Session,
        messages: actix_ws::MessageStream,
        mut feed: LiveFeed,
        slot: ViewerSlot,
    ) {
        gate::catch_up(&mut feed);
        MseViewer::create(|ctx| {
            ctx.add_stream(gate::stream(feed));
            ctx.add_stream(messages);
            MseViewer {
                session,
                gate: FrameGate::new(slot.labels().clone()),
                track: None,
                slot,
            }
        });
    }
}

impl Actor for MseViewer {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        let session = self.session.clone();
        actix::spawn(async move {
            let _ = session.close(None).await;
        });
    }
}

impl StreamHandler<FeedItem> for MseViewer {
    fn handle(&mut self, item: FeedItem, ctx: &mut Self::Context) {
        let Some(frame) = self.gate.admit(item) else {
            return;
        };
        let new_track = match &self.track {
            Some(t) if Arc::ptr_eq(t, &frame.track) => None,
            _ => Some(Arc::clone(&frame.track)),
        };
        if let Some(track) = &new_track {
            self.track = Some(Arc::clone(track));
        }
        let mut session = self.session.clone();
        let labels = self.slot.labels().clone();
        let sending = async move {
            let mut sent = 0;
            if let Some(track) = new_track {
                let describe = serde_json::json!({
                    "codec": track.codecs(),
                    "video_codec": track.codec,
                    "audio_codec": track.audio.as_ref().filter(|a| a.in_fmp4).map(|a| &a.rfc6381),
                    "width": track.width,
                    "height": track.height,
                });
                session.text(describe.to_string()).await?;
                session.binary(track.init.clone()).await?;
                sent += track.init.len();
            }
            sent += frame.fragment.len();
            session.binary(frame.fragment).await?;
            labels.sent(sent);
            Ok::<_, actix_ws::Closed>(())
        };
        // Waits for the socket before the next frame: back-pressure, see the module docs.
        ctx.wait(sending.into_actor(self).map(|sent, _, ctx| {
            if sent.is_err() {
                ctx.stop();
            }
        }));
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        // The camera's channel closed: it stopped, or records elsewhere now.
        ctx.stop();
    }
}

impl StreamHandler<Result<actix_ws::Message, actix_ws::ProtocolError>> for MseViewer {
    fn handle(
        &mut self,
        message: Result<actix_ws::Message, actix_ws::ProtocolError>,
        ctx: &mut Self::Context,
    ) {
        match message {
            Ok(actix_ws::Message::Ping(payload)) => {
                let mut session = self.session.clone();
                actix::spawn(async move {
                    let _ = session.pong(&payload).await;
                });
            }
            Ok(actix_ws::Message::Close(_)) | Err(_) => ctx.stop(),
            Ok(_) => {}
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
