//! Exports: fragmented MP4 segments remuxed, never transcoded, into one progressive MP4 with its
//! `moov` first (faststart). Two passes so an hour of video never sits in memory: [`scan_segment`]
//! reads each segment's sample table (sizes, durations, sync flags, composition offsets and where
//! the bytes are), [`Mp4Builder`] collects them and writes the header (`ftyp`, `moov`, the `mdat`
//! header); then the caller copies each segment's sample runs after it, in order.
//!
//! Each fragment's video samples lie together in its `mdat`, and so do its audio samples, so each
//! run becomes one chunk of its track, in the order they lie in. A change of decoder
//! configuration adds a sample entry. A gap between segments lengthens the last frame (and audio
//! frame) before it, so the file's timeline follows the wall clock. Opus and AAC audio is carried
//! as a second track; G.711 (QuickTime `ulaw`/`alaw` entries) is left out.

use crate::media::fmp4_scan::boxes;
use crate::media::fmp4_trak::{TrackKind, trak};
use mp4_atom::{
    Co64, Codec, CttsEntry, Decode, Edts, Elst, ElstEntry, Encode, FourCC, Ftyp, Moof, Moov, Mvhd,
    Stbl, Stsc, StscEntry, Stsd, Stss, Stsz, StszSamples, Stts, SttsEntry, Tkhd,
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
pub(super) struct ExportSample {
    pub(super) size: u32,
    pub(super) duration: u32,
    pub(super) sync: bool,
    cts: i64,
}

/// Where a run of samples lies in its segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleRun {
    /// Offset of its first byte.
    pub offset: u64,
    /// Its length.
    pub len: u64,
    pub(super) samples: u32,
    /// Whether its samples are audio (else video).
    pub(super) audio: bool,
}

/// One track's samples in a segment.
#[derive(Clone, Debug)]
pub(super) struct ScannedTrack {
    entry: Codec,
    pub(super) timescale: u32,
    pub(super) samples: Vec<ExportSample>,
    /// Decode time of its first sample in the segment, in `timescale`.
    pub(super) start: u64,
}

/// A segment's samples as an export needs them.
#[derive(Clone, Debug)]
pub struct ScannedSegment {
    pub(super) video: ScannedTrack,
    width: u16,
    height: u16,
    /// Its audio, when it is Opus or AAC (G.711's QuickTime entries are not carried over).
    pub(super) audio: Option<ScannedTrack>,
    /// Its runs of sample bytes of both tracks, in file order: what the caller copies into the
    /// `mdat`.
    pub runs: Vec<SampleRun>,
}

fn not_fmp4(why: &str) -> ExportError {
    ExportError::NotFmp4(why.to_string())
}

/// Reads the video and audio samples of a whole fMP4 segment.
pub fn scan_segment(bytes: &[u8]) -> Result<ScannedSegment, ExportError> {
    let top = boxes(bytes);
    let &(_, moov_at, moov_len) = top
        .iter()
        .find(|(kind, _, _)| kind == b"moov")
        .ok_or_else(|| not_fmp4("no moov"))?;
    let moov = Moov::decode(&mut &bytes[moov_at..moov_at + moov_len])
        .map_err(|e| not_fmp4(&e.to_string()))?;
    let handled = |handler: &[u8; 4]| {
        moov.trak
            .iter()
            .find(|t| t.mdia.hdlr.handler == FourCC::new(handler))
    };
    let video = handled(b"vide").ok_or_else(|| not_fmp4("no video track"))?;
    let entry = first_entry(video).ok_or_else(|| not_fmp4("no sample entry"))?;
    let (width, height) = match &entry {
        Codec::Avc1(a) => (a.visual.width, a.visual.height),
        Codec::Hvc1(h) => (h.visual.width, h.visual.height),
        _ => (0, 0),
    };
    let mut moofs = Vec::new();
    for &(kind, at, len) in &top {
        if &kind == b"moof" {
            let moof =
                Moof::decode(&mut &bytes[at..at + len]).map_err(|e| not_fmp4(&e.to_string()))?;
            moofs.push((moof, u64::try_from(at).unwrap_or(0)));
        }
    }
    let file_len = u64::try_from(bytes.len()).unwrap_or(0);
    let (video, mut runs) = scan_track(&moov, video, entry, &moofs, file_len, false)?;
    let mut audio = None;
    if let Some(trak) = handled(b"soun")
        && let Some(entry) =
            first_entry(trak).filter(|e| matches!(e, Codec::Opus(_) | Codec::Mp4a(_)))
    {
        let (track, audio_runs) = scan_track(&moov, trak, entry, &moofs, file_len, true)?;
        if !track.samples.is_empty() {
            runs.extend(audio_runs);
            runs.sort_by_key(|r| r.offset);
            audio = Some(track);
        }
    }
    Ok(ScannedSegment {
        video,
        width,
        height,
        audio,
        runs,
    })
}

fn first_entry(trak: &mp4_atom::Trak) -> Option<Codec> {
    trak.mdia.minf.stbl.stsd.codecs.first().cloned()
}

/// The samples and runs of track `trak` in `moofs` (each with its offset in a file of
/// `file_len` bytes).
fn scan_track(
    moov: &Moov,
    trak: &mp4_atom::Trak,
    entry: Codec,
    moofs: &[(Moof, u64)],
    file_len: u64,
    audio: bool,
) -> Result<(ScannedTrack, Vec<SampleRun>), ExportError> {
    let track_id = trak.tkhd.track_id;
    let trex = moov
        .mvex
        .as_ref()
        .and_then(|m| m.trex.iter().find(|t| t.track_id == track_id));
    let mut samples = Vec::new();
    let mut runs = Vec::new();
    let mut start = None;
    for (moof, moof_at) in moofs {
        for traf in moof.traf.iter().filter(|t| t.tfhd.track_id == track_id) {
            let tfhd = &traf.tfhd;
            if start.is_none() {
                start = traf.tfdt.as_ref().map(|t| t.base_media_decode_time);
            }
            let base = tfhd.base_data_offset.unwrap_or(*moof_at);
            for trun in &traf.trun {
                let offset = base
                    .checked_add_signed(i64::from(trun.data_offset.unwrap_or(0)))
                    .ok_or_else(|| not_fmp4("data offset outside the file"))?;
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
                let end = offset
                    .checked_add(len)
                    .ok_or_else(|| not_fmp4("run too long"))?;
                if end > file_len {
                    return Err(not_fmp4("a run of samples ends past the file"));
                }
                if count > 0 {
                    runs.push(SampleRun {
                        offset,
                        len,
                        samples: count,
                        audio,
                    });
                }
            }
        }
    }
    let track = ScannedTrack {
        entry,
        timescale: trak.mdia.mdhd.timescale.max(1),
        samples,
        start: start.unwrap_or(0),
    };
    Ok((track, runs))
}

/// One track's sample table, built segment by segment.
#[derive(Debug, Default)]
struct TrackTable {
    timescale: u32,
    entries: Vec<Codec>,
    sizes: Vec<u32>,
    durations: Vec<u32>,
    cts: Vec<i64>,
    sync: Vec<u32>,
    /// (samples, sample description index) per chunk.
    chunks: Vec<(u32, u32)>,
    /// Ticks of `timescale` its samples cover.
    decoded: u64,
}

impl TrackTable {
    fn new(timescale: u32) -> Self {
        Self {
            timescale,
            ..Self::default()
        }
    }

    /// Adds `track`'s samples, the first due at `due` (in this table's timescale): a gap before
    /// lengthens the sample before it, so the track keeps to the wall clock. The sample
    /// description index of its entry.
    fn push(&mut self, track: &ScannedTrack, due: u64) -> u32 {
        if due > self.decoded
            && let Some(last) = self.durations.last_mut()
        {
            let gap = u32::try_from(due - self.decoded).unwrap_or(u32::MAX);
            *last = last.saturating_add(gap);
            self.decoded = due;
        }
        let index = match self.entries.iter().position(|e| *e == track.entry) {
            Some(i) => i,
            None => {
                self.entries.push(track.entry.clone());
                self.entries.len() - 1
            }
        };
        let rescale = |v: i64| v * i64::from(self.timescale) / i64::from(track.timescale.max(1));
        for s in &track.samples {
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
        u32::try_from(index + 1).unwrap_or(1)
    }

    /// The table with its chunks at `offsets`.
    fn stbl(&self, offsets: Vec<u64>) -> Stbl {
        let mut stsc: Vec<StscEntry> = Vec::new();
        for (i, &(samples, description)) in self.chunks.iter().enumerate() {
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

/// The sample tables of an export (video, and audio when the segments have Opus or AAC), built
/// segment by segment.
#[derive(Debug)]
pub struct Mp4Builder {
    video: TrackTable,
    audio: Option<TrackTable>,
    /// When the audio's first sample is due after the video's first (its timescale).
    audio_delay: u64,
    size: (u16, u16),
    /// (bytes, whether audio) per chunk, in `mdat` order.
    chunks: Vec<(u64, bool)>,
    first_start: Option<i64>,
}

impl Default for Mp4Builder {
    fn default() -> Self {
        Self {
            video: TrackTable::new(EXPORT_TIMESCALE),
            audio: None,
            audio_delay: 0,
            size: (0, 0),
            chunks: Vec::new(),
            first_start: None,
        }
    }
}

/// Ticks of `timescale` in `micros` microseconds (none before zero, at most `u64::MAX`).
pub(super) fn ticks(micros: i64, timescale: u32) -> u64 {
    u64::try_from(i128::from(micros.max(0)) * i128::from(timescale) / 1_000_000).unwrap_or(u64::MAX)
}

impl Mp4Builder {
    /// Adds `segment`, whose first frame was recorded at `start_micros` (since the Unix epoch).
    pub fn push(&mut self, segment: &ScannedSegment, start_micros: i64) {
        let since = start_micros - *self.first_start.get_or_insert(start_micros);
        let video = self
            .video
            .push(&segment.video, ticks(since, EXPORT_TIMESCALE));
        if self.size == (0, 0) {
            self.size = (segment.width, segment.height);
        }
        let mut audio = None;
        if let Some(track) = &segment.audio {
            let table = self
                .audio
                .get_or_insert_with(|| TrackTable::new(track.timescale));
            // The audio's decode times count from the segment's first video frame.
            let due = ticks(since, table.timescale)
                + track.start * u64::from(table.timescale) / u64::from(track.timescale.max(1));
            if table.sizes.is_empty() {
                self.audio_delay = due;
                table.decoded = due;
            }
            audio = Some(table.push(track, due));
        }
        for run in &segment.runs {
            self.chunks.push((run.len, run.audio));
            match (run.audio, audio, self.audio.as_mut()) {
                (true, Some(description), Some(table)) => {
                    table.chunks.push((run.samples, description));
                }
                _ => self.video.chunks.push((run.samples, video)),
            }
        }
    }

    /// Frames added so far.
    pub fn samples(&self) -> usize {
        self.video.sizes.len()
    }

    /// Audio frames added so far.
    pub fn audio_samples(&self) -> usize {
        self.audio.as_ref().map_or(0, |a| a.sizes.len())
    }

    /// Bytes of sample data the `mdat` holds.
    pub fn media_len(&self) -> u64 {
        self.chunks.iter().map(|c| c.0).sum()
    }

    /// Duration in [`EXPORT_TIMESCALE`] ticks.
    pub fn duration(&self) -> u64 {
        self.video.decoded
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
            .video
            .entries
            .first()
            .cloned()
            .ok_or_else(|| ExportError::Encode("no samples".into()))?;
        let (mut video_offsets, mut audio_offsets) = (Vec::new(), Vec::new());
        let mut at = first_chunk_at;
        for &(len, audio) in &self.chunks {
            if audio && self.audio.is_some() {
                audio_offsets.push(at);
            } else {
                video_offsets.push(at);
            }
            at += len;
        }
        let ms = self.video.decoded * 1000 / u64::from(EXPORT_TIMESCALE);
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
        track.mdia.mdhd.duration = self.video.decoded;
        track.mdia.minf.stbl = self.video.stbl(video_offsets);
        let mut traks = vec![track];
        if let Some(audio) = &self.audio
            && let Some(entry) = audio.entries.first().cloned()
        {
            traks.push(self.audio_trak(audio, entry, audio_offsets));
        }
        let moov = Moov {
            mvhd: Mvhd {
                timescale: 1000,
                duration: ms,
                next_track_id: u32::try_from(traks.len() + 1).unwrap_or(3),
                ..Mvhd::default()
            },
            trak: traks,
            ..Moov::default()
        };
        let mut out = Vec::new();
        encode(&moov, &mut out)?;
        Ok(out)
    }

    /// The audio track: its samples from `audio_delay` on (an empty edit before them).
    fn audio_trak(&self, audio: &TrackTable, entry: Codec, offsets: Vec<u64>) -> mp4_atom::Trak {
        let ts = u64::from(audio.timescale.max(1));
        let ms = audio.decoded * 1000 / ts;
        let mut track = trak(
            Tkhd {
                track_id: 2,
                duration: ms,
                enabled: true,
                in_movie: true,
                volume: 1.into(),
                ..Tkhd::default()
            },
            TrackKind::Sound,
            audio.timescale,
            entry,
        );
        let media = audio.decoded.saturating_sub(self.audio_delay);
        track.mdia.mdhd.duration = media;
        track.mdia.minf.stbl = audio.stbl(offsets);
        if self.audio_delay > 0 {
            track.edts = Some(Edts {
                elst: Some(Elst {
                    entries: vec![
                        ElstEntry {
                            segment_duration: self.audio_delay * 1000 / ts,
                            media_time: None,
                            media_rate: 1.into(),
                        },
                        ElstEntry {
                            segment_duration: media * 1000 / ts,
                            media_time: Some(0),
                            media_rate: 1.into(),
                        },
                    ],
                }),
            });
        }
        track
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
    use crate::media::export_test_segments::{segment, segment_with_audio};
    use mp4_atom::Mdat;

    #[test]
    fn segments_become_one_progressive_mp4_with_gaps_kept_on_the_clock() {
        let (a, b, c) = (
            [0, 0, 0, 2, 0x65, 1],
            [0, 0, 0, 2, 0x41, 2],
            [0, 0, 0, 2, 0x41, 3],
        );
        let first = segment(&[&a, &b, &c], &[0]);
        let second = segment(&[&c, &a, &b], &[0]);
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

    #[test]
    fn opus_becomes_a_second_track_interleaved_with_the_video_and_kept_on_the_clock() {
        let (first, second) = (segment_with_audio(480), segment_with_audio(0));
        let scanned = [&first, &second].map(|f| scan_segment(f).expect("scan"));
        assert_eq!(
            scanned[0].runs.len(),
            4,
            "a video and an audio run per fragment"
        );
        let mut builder = Mp4Builder::default();
        builder.push(&scanned[0], 0);
        builder.push(&scanned[1], 1_000_000);
        assert_eq!((builder.samples(), builder.audio_samples()), (8, 8));
        let mut out = builder.header().expect("header");
        for (s, file) in scanned.iter().zip([&first, &second]) {
            for run in &s.runs {
                let at = usize::try_from(run.offset).expect("offset");
                out.extend_from_slice(&file[at..at + usize::try_from(run.len).expect("len")]);
            }
        }
        let cursor = &mut out.as_slice();
        Ftyp::decode(cursor).expect("ftyp");
        let moov = Moov::decode(cursor).expect("moov");
        assert_eq!(moov.trak.len(), 2);
        let audio = &moov.trak[1];
        assert_eq!(audio.mdia.hdlr.handler, FourCC::new(b"soun"));
        assert!(matches!(
            audio.mdia.minf.stbl.stsd.codecs[0],
            Codec::Opus(_)
        ));
        assert_eq!(audio.mdia.mdhd.timescale, 48_000);
        // Four frames of 20 ms, then a gap to the second segment at 1 s: the last frame before
        // it lasts until then (the first started 10 ms in, behind an empty edit).
        let durations: Vec<(u32, u32)> = audio
            .mdia
            .minf
            .stbl
            .stts
            .entries
            .iter()
            .map(|e| (e.sample_delta, e.sample_count))
            .collect();
        assert_eq!(durations, [(960, 3), (48_000 - 480 - 3 * 960, 1), (960, 4)]);
        let edits = audio
            .edts
            .as_ref()
            .and_then(|e| e.elst.as_ref())
            .expect("an edit list");
        assert_eq!(edits.entries[0].media_time, None);
        assert_eq!(edits.entries[0].segment_duration, 10);
        // Each chunk's offset points at its own bytes.
        let offsets = &audio.mdia.minf.stbl.co64.as_ref().expect("co64").entries;
        assert_eq!(offsets.len(), 4);
        for at in offsets {
            let at = usize::try_from(*at).expect("offset");
            assert_eq!(&out[at..at + 3], [0xA0, 0xA1, 0xA2]);
        }
        let video = &moov.trak[0]
            .mdia
            .minf
            .stbl
            .co64
            .as_ref()
            .expect("co64")
            .entries;
        let at = usize::try_from(video[0]).expect("offset");
        assert_eq!(&out[at..at + 6], [0, 0, 0, 2, 0x65, 1]);
    }
}
