//! A camera's Opus audio. retina 0.4 has no Opus depacketiser, and a session whose set-up streams
//! it cannot depacketise cannot be demuxed, so the Opus stream comes over a second RTSP session of
//! its own, read as raw RTP packets. RFC 7587 puts exactly one Opus packet in each RTP payload at a
//! 48 kHz clock, so depacketising is taking the payload; its duration comes from its TOC byte
//! (RFC 6716 §3.1).

use futures_util::StreamExt;
use retina::client::{
    InitialTimestampPolicy, PacketItem, PlayOptions, Playing, Session, SessionOptions,
    SetupOptions, Transport,
};
use std::pin::Pin;

/// Opus's RTP clock, whatever the encoder's input rate (RFC 7587 §4.1).
pub const OPUS_CLOCK: u32 = 48_000;

/// The longest an Opus packet may last, in 48 kHz samples (120 ms).
const MAX_PACKET_SAMPLES: u32 = 5_760;

/// The duration, in 48 kHz samples, of one Opus packet; `None` for an empty or malformed one.
pub fn packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame sizes by configuration: SILK-only 10/20/40/60 ms, hybrid 10/20 ms, CELT-only
    // 2.5/5/10/20 ms.
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0b11 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    let samples = frame * frames;
    (frames > 0 && samples <= MAX_PACKET_SAMPLES).then_some(samples)
}

/// One Opus packet as it arrived.
#[derive(Debug)]
pub struct OpusPacket {
    /// The packet, as the camera encoded it.
    pub data: Vec<u8>,
    /// Its RTP timestamp, in 48 kHz ticks since the session's first.
    pub at: u64,
    /// Its duration in 48 kHz samples.
    pub duration: u32,
}

/// The audio-only RTSP session of a camera's Opus stream.
pub struct OpusSession {
    session: Pin<Box<Session<Playing>>>,
}

impl OpusSession {
    /// Opens a session to `url` that sets up only stream `index` (the Opus one) and plays it.
    pub async fn open(
        url: &url::Url,
        options: SessionOptions,
        index: usize,
        transport: Transport,
    ) -> Result<Self, retina::Error> {
        let mut session = Session::describe(url.clone(), options).await?;
        session
            .setup(index, SetupOptions::default().transport(transport))
            .await?;
        let session = session
            .play(PlayOptions::default().initial_timestamp(InitialTimestampPolicy::Permissive))
            .await?;
        Ok(Self {
            session: Box::pin(session),
        })
    }

    /// The next Opus packet; `None` once the session has ended, `Err` when it failed. Malformed
    /// packets are skipped (a decoder would conceal them as lost).
    pub async fn next(&mut self) -> Option<Result<OpusPacket, retina::Error>> {
        loop {
            match self.session.next().await? {
                Err(e) => return Some(Err(e)),
                Ok(PacketItem::Rtp(packet)) => {
                    let Some(duration) = packet_samples(packet.payload()) else {
                        continue;
                    };
                    return Some(Ok(OpusPacket {
                        at: u64::try_from(packet.timestamp().elapsed()).unwrap_or(0),
                        data: packet.into_payload_bytes().to_vec(),
                        duration,
                    }));
                }
                Ok(_) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_lasts_as_its_toc_byte_says() {
        // CELT-only, 20 ms, one frame (what opusenc sends by default).
        assert_eq!(packet_samples(&[31 << 3, 0xaa]), Some(960));
        // SILK-only, 60 ms, one frame.
        assert_eq!(packet_samples(&[3 << 3]), Some(2880));
        // Hybrid, 10 ms, two frames of equal size.
        assert_eq!(packet_samples(&[(12 << 3) | 1]), Some(960));
        // CELT-only, 2.5 ms, code 3 with 6 frames.
        assert_eq!(packet_samples(&[(16 << 3) | 3, 6]), Some(720));
    }

    #[test]
    fn malformed_packets_have_no_duration() {
        assert_eq!(packet_samples(&[]), None);
        // Code 3 without its frame count byte, or with none, or over 120 ms.
        assert_eq!(packet_samples(&[(31 << 3) | 3]), None);
        assert_eq!(packet_samples(&[(31 << 3) | 3, 0]), None);
        assert_eq!(packet_samples(&[(3 << 3) | 3, 3]), None);
    }
}
