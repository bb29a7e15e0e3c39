//! Exports: fragmented MP4 segments remuxed, never transcoded, into one progressive MP4 with its
//! `moov` first (faststart). Two passes so an hour of video never sits in memory: [`scan_segment`]
//! reads each segment's sample table (sizes, durations, sync flags, composition offsets and where
//! the bytes are), [`Mp4Builder`] collects them and writes the header (`ftyp`, `moov`, the `mdat`
//! header); then the caller copies each segment's sample runs after it, in order.
//!
//! Each fragment's video samples lie together in its `mdat`, so each becomes one chunk. A change
//! of decoder configuration adds a sample entry. A gap between segments lengthens the last frame
//! before it, so the file's timeline follows the wall clock. Video only: audio is not exported.

use crate::media::fmp4_scan::boxes;
use crate::media::fmp4_trak::{TrackKind, trak};
use mp4_atom::{
    Co64, Codec, CttsEntry, Decode, Encode, FourCC, Ftyp, Moof, Moov, Mvhd, Stbl, Stsc, StscEntry,
    Stsd, Stss, Stsz, StszSamples, Stts, SttsEntry, Tkhd,
};

/// Timescale of the exported track.
pub const EXPORT_TIMESCALE: u32 = 90_000;
/// `sample_flags` bit of a sample that is not a sync sample.
const NON_SYNC_FLAG: u32 = 0x0001_0000;

/// Why a segment cannot be exported.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExportError {
    /// Not a fragmented MP4 segment with a video track.
    #[error("not a fragmented MP4 segment with a video track: {0}")]
    NotFmp4(String),
    /// The MP4 writer refused (a bug in what this module builds).
    #[error("cannot encode the export's boxes: {0}")]
    Encode(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ExportSample {
    size: u32,
    duration: u32,
    sync: bool,
    cts: i64,
}

/// Where a run of samples lies in its segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleRun {
    /// Offset of its first byte.
    pub offset: u64,
    /// Its length.
    pub len: u64,
    samples: u32,
}

/// A segment's video samples as an export needs them.
#[derive(Clone, Debug)]
pub struct ScannedSegment {
    entry: Codec,
    width: u16,
    height: u16,
    timescale: u32,
    samples: Vec<ExportSample>,
    /// Its runs of sample bytes, in order: what the caller copies into the `mdat`.
    pub runs: Vec<SampleRun>,
}

/// Reads the video samples of a whole fMP4 segment.
pub fn scan_segment(bytes: &[u8]) -> Result<ScannedSegment, ExportError> {
    let bad = |why: &str| ExportError::NotFmp4(why.to_string());
    let top = boxes(bytes);
    let &(_, moov_at, moov_len) = top
        .iter()
        .find(|(kind, _, _)| kind == b"moov")
        .ok_or_else(|| bad("no moov"))?;
    let moov =
        Moov::decode(&mut &bytes[moov_at..moov_at + moov_len]).map_err(|e| bad(&e.to_string()))?;
    let video = moov
        .trak
        .iter()
        .find(|t| t.mdia.hdlr.handler == FourCC::new(b"vide"))
        .ok_or_else(|| bad("no video track"))?;
    let entry = video
        .mdia
        .minf
        .stbl
        .stsd
        .codecs
        .first()
        .cloned()
        .ok_or_else(|| bad("no sample entry"))?;
    let (width, height) = match &entry {
        Codec::Avc1(a) => (a.visual.width, a.visual.height),
        Codec::Hvc1(h) => (h.visual.width, h.visual.height),
        _ => (0, 0),
    };
    let track_id = video.tkhd.track_id;
    let trex = moov
        .mvex
        .as_ref()
        .and_then(|m| m.trex.iter().find(|t| t.track_id == track_id));
    let mut samples = Vec::new();
    let mut runs = Vec::new();
    for &(kind, moof_at, moof_len) in &top {
        if &kind != b"moof" {
            continue;
        }
        let moof = Moof::decode(&mut &bytes[moof_at..moof_at + moof_len])
            .map_err(|e| bad(&e.to_string()))?;
        for traf in moof.traf.iter().filter(|t| t.tfhd.track_id == track_id) {
            let tfhd = &traf.tfhd;
            let base = tfhd
                .base_data_offset
                .unwrap_or(u64::try_from(moof_at).unwrap_or(0));
            for trun in &traf.trun {
                let offset = base
                    .checked_add_signed(i64::from(trun.data_offset.unwrap_or(0)))
                    .ok_or_else(|| bad("data offset outside the file"))?;
                let mut len = 0u64;
                let mut count = 0u32;
                for (i, e) in trun.samples.iter().enumerate() {
                    let size = e
                        .size
                        .or(tfhd.default_sample_size)
                        .or(trex.map(|t| t.default_sample_size))
                        .unwrap_or(0);
                    let duration = e
                        .duration
                        .or(tfhd.default_sample_duration)
                        .or(trex.map(|t| t.default_sample_duration))
                        .unwrap_or(0);
                    let flags = e
                        .flags
                        .or(tfhd.default_sample_flags)
                        .or(trex.map(|t| t.default_sample_flags));
                    samples.push(ExportSample {
                        size,
                        duration,
                        sync: flags.map_or(i == 0, |f| f & NON_SYNC_FLAG == 0),
                        cts: e.cts.unwrap_or(0),
                    });
                    len += u64::from(size);
                    count += 1;
                }
                let end = offset.checked_add(len).ok_or_else(|| bad("run too long"))?;
                if end > u64::try_from(bytes.len()).unwrap_or(0) {
                    return Err(bad("a run of samples ends past the file"));
                }
                if count > 0 {
                    runs.push(SampleRun {
                        offset,
                        len,
                        samples: count,
                    });
                }
            }
        }
    }
    Ok(ScannedSegment {
        entry,
        width,
        height,
        timescale: video.mdia.mdhd.timescale.max(1),
        samples,
        runs,
    })
}

/// The sample table of an export, built segment by segment.
#[derive(Debug, Default)]
pub struct Mp4Builder {
    entries: Vec<Codec>,
    size: (u16, u16),
    sizes: Vec<u32>,
    durations: Vec<u32>,
    cts: Vec<i64>,
    sync: Vec<u32>,
    /// (bytes, samples, sample description index) per chunk.
    chunks: Vec<(u64, u32, u32)>,
    first_start: Option<i64>,
    decoded: u64,
}

impl Mp4Builder {
    /// Adds `segment`, whose first frame was recorded at `start_micros` (since the Unix epoch).
    pub fn push(&mut self, segment: &ScannedSegment, start_micros: i64) {
        let first = *self.first_start.get_or_insert(start_micros);
        let rescale = |v: i64| v * i64::from(EXPORT_TIMESCALE) / i64::from(segment.timescale);
        let due = u64::try_from(
            i128::from(start_micros - first) * i128::from(EXPORT_TIMESCALE) / 1_000_000,
        )
        .unwrap_or(0);
        if due > self.decoded
            && let Some(last) = self.durations.last_mut()
        {
            // A gap: the last frame before it stays on screen until the next one was recorded.
            let gap = u32::try_from(due - self.decoded).unwrap_or(u32::MAX);
            *last = last.saturating_add(gap);
            self.decoded = due;
        }
        let index = match self.entries.iter().position(|e| *e == segment.entry) {
            Some(i) => i,
            None => {
                self.entries.push(segment.entry.clone());
                self.entries.len() - 1
            }
        };
        if self.size == (0, 0) {
            self.size = (segment.width, segment.height);
        }
        for s in &segment.samples {
            let duration = u32::try_from(rescale(i64::from(s.duration))).unwrap_or(u32::MAX);
            self.sizes.push(s.size);
            self.durations.push(duration);
            self.cts.push(rescale(s.cts));
            if s.sync {
                self.sync
                    .push(u32::try_from(self.sizes.len()).unwrap_or(u32::MAX));
            }
            self.decoded += u64::from(duration);
        }
        let description = u32::try_from(index + 1).unwrap_or(1);
        self.chunks
            .extend(segment.runs.iter().map(|r| (r.len, r.samples, description)));
    }

    /// Frames added so far.
    pub fn samples(&self) -> usize {
        self.sizes.len()
    }

    /// Bytes of sample data the `mdat` holds.
    pub fn media_len(&self) -> u64 {
        self.chunks.iter().map(|c| c.0).sum()
    }

    /// Duration in [`EXPORT_TIMESCALE`] ticks.
    pub fn duration(&self) -> u64 {
        self.decoded
    }

    /// `ftyp`, `moov` and the `mdat` header: what goes before the sample runs.
    pub fn header(&self) -> Result<Vec<u8>, ExportError> {
        let ftyp = Ftyp {
            major_brand: FourCC::new(b"isom"),
            minor_version: 512,
            compatible_brands: [b"isom", b"iso2", b"avc1", b"mp41"]
                .into_iter()
                .map(FourCC::new)
                .collect(),
        };
        let media = self.media_len();
        let mdat_header: Vec<u8> = match u32::try_from(media + 8) {
            Ok(size) => [size.to_be_bytes().as_slice(), b"mdat"].concat(),
            Err(_) => [
                1u32.to_be_bytes().as_slice(),
                b"mdat",
                (media + 16).to_be_bytes().as_slice(),
            ]
            .concat(),
        };
        // Offsets do not change the size of a `co64`: measure once, then place the chunks.
        let mut head = Vec::new();
        encode(&ftyp, &mut head)?;
        let ftyp_len = head.len();
        let probe = self.moov(0)?;
        let first = u64::try_from(ftyp_len + probe.len() + mdat_header.len()).unwrap_or(0);
        head.extend(self.moov(first)?);
        head.extend(mdat_header);
        Ok(head)
    }

    fn moov(&self, first_chunk_at: u64) -> Result<Vec<u8>, ExportError> {
        let entry = self
            .entries
            .first()
            .cloned()
            .ok_or_else(|| ExportError::Encode("no samples".into()))?;
        let ms = self.decoded * 1000 / u64::from(EXPORT_TIMESCALE);
        let mut track = trak(
            Tkhd {
                track_id: 1,
                duration: ms,
                enabled: true,
                in_movie: true,
                width: self.size.0.into(),
                height: self.size.1.into(),
                ..Tkhd::default()
            },
            TrackKind::Video,
            EXPORT_TIMESCALE,
            entry,
        );
        track.mdia.mdhd.duration = self.decoded;
        track.mdia.minf.stbl = self.stbl(first_chunk_at);
        let moov = Moov {
            mvhd: Mvhd {
                timescale: 1000,
                duration: ms,
                next_track_id: 2,
                ..Mvhd::default()
            },
            trak: vec![track],
            ..Moov::default()
        };
        let mut out = Vec::new();
        encode(&moov, &mut out)?;
        Ok(out)
    }

    fn stbl(&self, first_chunk_at: u64) -> Stbl {
        let mut offsets = Vec::with_capacity(self.chunks.len());
        let mut at = first_chunk_at;
        for (len, _, _) in &self.chunks {
            offsets.push(at);
            at += len;
        }
        let mut stsc: Vec<StscEntry> = Vec::new();
        for (i, &(_, samples, description)) in self.chunks.iter().enumerate() {
            let same = stsc.last().is_some_and(|e| {
                e.samples_per_chunk == samples && e.sample_description_index == description
            });
            if !same {
                stsc.push(StscEntry {
                    first_chunk: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    samples_per_chunk: samples,
                    sample_description_index: description,
                });
            }
        }
        let ctts = self.cts.iter().any(|c| *c != 0).then(|| mp4_atom::Ctts {
            entries: run_lengths(&self.cts)
                .into_iter()
                .map(|(sample_offset, sample_count)| CttsEntry {
                    sample_count,
                    sample_offset,
                })
                .collect(),
        });
        Stbl {
            stsd: Stsd {
                codecs: self.entries.clone(),
            },
            stts: Stts {
                entries: run_lengths(&self.durations)
                    .into_iter()
                    .map(|(sample_delta, sample_count)| SttsEntry {
                        sample_count,
                        sample_delta,
                    })
                    .collect(),
            },
            ctts,
            stss: (self.sync.len() != self.sizes.len()).then(|| Stss {
                entries: self.sync.clone(),
            }),
            stsc: Stsc { entries: stsc },
            stsz: Stsz {
                samples: StszSamples::Different {
                    sizes: self.sizes.clone(),
                },
            },
            stco: None,
            co64: Some(Co64 { entries: offsets }),
            ..Stbl::default()
        }
    }
}

/// `values` as (value, how many times in a row).
fn run_lengths<T: Copy + PartialEq>(values: &[T]) -> Vec<(T, u32)> {
    let mut out: Vec<(T, u32)> = Vec::new();
    for v in values {
        match out.last_mut() {
            Some((last, n)) if last == v => *n += 1,
            _ => out.push((*v, 1)),
        }
    }
    out
}

fn encode(atom: &impl Encode, out: &mut Vec<u8>) -> Result<(), ExportError> {
    atom.encode(out)
        .map_err(|e| ExportError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::fmp4::test_support::h264_track;
    use crate::media::fmp4::{Sample, fragment, init_segment};
    use mp4_atom::Mdat;

    fn segment(frames: &[&[u8]]) -> Vec<u8> {
        let samples: Vec<Sample<'_>> = frames
            .iter()
            .enumerate()
            .map(|(i, data)| Sample {
                data,
                duration: 3600,
                keyframe: i == 0,
            })
            .collect();
        let mut out = init_segment(&h264_track(320), None).expect("init");
        out.extend(fragment(1, 0, &samples[..2]).expect("fragment"));
        out.extend(fragment(2, 7200, &samples[2..]).expect("fragment"));
        out
    }

    #[test]
    fn segments_become_one_progressive_mp4_with_gaps_kept_on_the_clock() {
        let (a, b, c) = (
            [0, 0, 0, 2, 0x65, 1],
            [0, 0, 0, 2, 0x41, 2],
            [0, 0, 0, 2, 0x41, 3],
        );
        let first = segment(&[&a, &b, &c]);
        let second = segment(&[&c, &a, &b]);
        let mut builder = Mp4Builder::default();
        let files = [(&first, 0i64), (&second, 1_000_000)];
        let scanned: Vec<ScannedSegment> = files
            .iter()
            .map(|(f, _)| scan_segment(f).expect("scan"))
            .collect();
        for (s, (_, start)) in scanned.iter().zip(files) {
            builder.push(s, start);
        }
        assert_eq!(builder.samples(), 6);
        // 3 frames of 40 ms, a gap to 1 s, then 3 more frames.
        assert_eq!(builder.duration(), 90_000 + 3 * 3600);
        let mut out = builder.header().expect("header");
        for (s, (file, _)) in scanned.iter().zip(files) {
            for run in &s.runs {
                let at = usize::try_from(run.offset).expect("offset");
                out.extend_from_slice(&file[at..at + usize::try_from(run.len).expect("len")]);
            }
        }
        let cursor = &mut out.as_slice();
        let ftyp = Ftyp::decode(cursor).expect("ftyp");
        assert_eq!(ftyp.major_brand, FourCC::new(b"isom"));
        let moov = Moov::decode(cursor).expect("moov first");
        let mdat = Mdat::decode(cursor).expect("mdat");
        assert_eq!(mdat.data, [a, b, c, c, a, b].concat());
        let stbl = &moov.trak[0].mdia.minf.stbl;
        assert_eq!(stbl.stsd.codecs.len(), 1, "one configuration, one entry");
        assert_eq!(
            stbl.stss.as_ref().map(|s| s.entries.clone()),
            Some(vec![1, 4])
        );
        let durations: Vec<(u32, u32)> = stbl
            .stts
            .entries
            .iter()
            .map(|e| (e.sample_delta, e.sample_count))
            .collect();
        assert_eq!(durations, [(3600, 2), (90_000 - 7200, 1), (3600, 3)]);
        let offsets = &stbl.co64.as_ref().expect("co64").entries;
        let first_at = usize::try_from(offsets[0]).expect("offset");
        assert_eq!(&out[first_at..first_at + 6], a.as_slice());
        assert!(scan_segment(b"not an mp4").is_err());
    }
}
