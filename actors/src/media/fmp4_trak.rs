//! The `trak` of a fragmented MP4 init section: no samples of its own (they come in fragments),
//! one sample entry, a media header for video or sound.

use mp4_atom::{
    Codec, Dinf, Dref, FourCC, Hdlr, Mdhd, Mdia, Minf, Smhd, Stbl, Stco, Stsd, Tkhd, Trak, Url,
    Vmhd,
};

/// What kind of media a track holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackKind {
    /// Video (`vide`, with a `vmhd`).
    Video,
    /// Sound (`soun`, with an `smhd`).
    Sound,
}

/// A track with header `tkhd`, counting time in `timescale`, holding `entry`'s samples.
pub fn trak(tkhd: Tkhd, kind: TrackKind, timescale: u32, entry: Codec) -> Trak {
    let (handler, name) = match kind {
        TrackKind::Video => (b"vide", "vms video"),
        TrackKind::Sound => (b"soun", "vms audio"),
    };
    Trak {
        tkhd,
        mdia: Mdia {
            mdhd: Mdhd {
                timescale,
                language: "und".into(),
                ..Mdhd::default()
            },
            hdlr: Hdlr {
                handler: FourCC::new(handler),
                name: name.into(),
            },
            minf: Minf {
                vmhd: (kind == TrackKind::Video).then(Vmhd::default),
                smhd: (kind == TrackKind::Sound).then(Smhd::default),
                dinf: Dinf {
                    dref: Dref {
                        entries: vec![Url::default().into()],
                    },
                },
                stbl: Stbl {
                    stsd: Stsd {
                        codecs: vec![entry],
                    },
                    stco: Some(Stco::default()),
                    ..Stbl::default()
                },
                ..Minf::default()
            },
        },
        ..Trak::default()
    }
}
