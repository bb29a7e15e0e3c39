//! A simple multi-object tracker: detections of one class in consecutive frames are linked by box
//! overlap (IoU) and, for sparse sampling (one keyframe a second, where a walking person's boxes
//! overlap little), by the distance between box centres relative to the box size. Each track keeps when
//! it was first seen and its centre history, which dwell-time (loitering) and line-crossing rules read.

use crate::Detection;
use crate::postprocess::iou;
use chrono::{DateTime, Utc};

/// Tuning of a [`Tracker`].
#[derive(Clone, Copy, Debug)]
pub struct TrackerConfig {
    /// Lowest IoU that links a detection to a track.
    pub min_iou: f32,
    /// Farthest centre distance, in box diagonals, that still links when boxes do not overlap enough.
    pub max_centre_distance: f32,
    /// A track unseen for this long is dropped.
    pub max_age_seconds: f64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            min_iou: 0.2,
            max_centre_distance: 1.0,
            max_age_seconds: 3.0,
        }
    }
}

/// One tracked object.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    /// Id, unique within this tracker.
    pub id: u64,
    /// Class label.
    pub label: String,
    /// Latest box.
    pub bbox: [f32; 4],
    /// Latest score.
    pub score: f32,
    /// When it was first seen.
    pub first_seen: DateTime<Utc>,
    /// When it was last seen.
    pub last_seen: DateTime<Utc>,
    /// Foot point (bottom centre) before the latest update, if any.
    pub previous_foot: Option<[f32; 2]>,
}

impl Track {
    /// Bottom centre of the latest box, where the object stands.
    pub fn foot(&self) -> [f32; 2] {
        foot(self.bbox)
    }

    /// How long it has been seen, in seconds.
    pub fn age_seconds(&self) -> f64 {
        (self.last_seen - self.first_seen).num_milliseconds() as f64 / 1000.0
    }
}

/// Bottom centre of a box.
pub fn foot(b: [f32; 4]) -> [f32; 2] {
    [(b[0] + b[2]) / 2.0, b[3]]
}

fn centre(b: [f32; 4]) -> [f32; 2] {
    [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0]
}

/// Links detections across frames; see the module docs.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
}

impl Tracker {
    /// An empty tracker.
    pub fn new(config: TrackerConfig) -> Self {
        Self {
            config,
            tracks: Vec::new(),
            next_id: 1,
        }
    }

    /// Feeds one frame's detections seen at `at`; returns the tracks seen in this frame.
    pub fn update(&mut self, detections: &[Detection], at: DateTime<Utc>) -> Vec<Track> {
        let max_age = self.config.max_age_seconds;
        self.tracks
            .retain(|t| (at - t.last_seen).num_milliseconds() as f64 / 1000.0 <= max_age);
        // Greedy matching, best pairs first.
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, t) in self.tracks.iter().enumerate() {
            for (di, d) in detections.iter().enumerate() {
                if d.label != t.label {
                    continue;
                }
                if let Some(cost) = self.link_cost(t.bbox, d.bbox) {
                    pairs.push((cost, ti, di));
                }
            }
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut track_taken = vec![false; self.tracks.len()];
        let mut det_track: Vec<Option<usize>> = vec![None; detections.len()];
        for (_, ti, di) in pairs {
            if !track_taken[ti] && det_track[di].is_none() {
                track_taken[ti] = true;
                det_track[di] = Some(ti);
            }
        }
        let mut seen = Vec::with_capacity(detections.len());
        for (di, d) in detections.iter().enumerate() {
            let track = match det_track[di] {
                Some(ti) => {
                    let t = &mut self.tracks[ti];
                    t.previous_foot = Some(t.foot());
                    t.bbox = d.bbox;
                    t.score = d.score;
                    t.last_seen = at;
                    t.clone()
                }
                None => {
                    let t = Track {
                        id: self.next_id,
                        label: d.label.clone(),
                        bbox: d.bbox,
                        score: d.score,
                        first_seen: at,
                        last_seen: at,
                        previous_foot: None,
                    };
                    self.next_id += 1;
                    self.tracks.push(t.clone());
                    t
                }
            };
            seen.push(track);
        }
        seen
    }

    /// Lower is a better link; `None`: these boxes are not the same object.
    fn link_cost(&self, a: [f32; 4], b: [f32; 4]) -> Option<f32> {
        let overlap = iou(a, b);
        if overlap >= self.config.min_iou {
            return Some(1.0 - overlap);
        }
        let (ca, cb) = (centre(a), centre(b));
        let diag = ((a[2] - a[0]).powi(2) + (a[3] - a[1]).powi(2))
            .sqrt()
            .max(1e-3);
        let dist = ((ca[0] - cb[0]).powi(2) + (ca[1] - cb[1]).powi(2)).sqrt() / diag;
        (dist <= self.config.max_centre_distance).then_some(1.0 + dist)
    }

    /// Tracks alive now.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }
}

/// Which way something crossed a line drawn from its first point `a` to its second `b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crossing {
    /// The way `b - a` points after a quarter turn counter-clockwise on screen: for a line drawn top
    /// to bottom, left to right; for a line drawn left to right, bottom to top.
    Forward,
    /// The other way.
    Backward,
}

/// Whether the step `from → to` crosses the segment `line`, and which way.
pub fn crossing(line: [[f32; 2]; 2], from: [f32; 2], to: [f32; 2]) -> Option<Crossing> {
    let [a, b] = line;
    let side = |p: [f32; 2]| (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]);
    let (s1, s2) = (side(from), side(to));
    if s1 == 0.0 || s2 == 0.0 || s1.signum() == s2.signum() {
        return None;
    }
    // The step must cross the segment itself, not its extension.
    let step =
        |p: [f32; 2]| (to[0] - from[0]) * (p[1] - from[1]) - (to[1] - from[1]) * (p[0] - from[0]);
    if step(a).signum() == step(b).signum() {
        return None;
    }
    Some(if s1 > 0.0 {
        Crossing::Forward
    } else {
        Crossing::Backward
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(x: f32) -> Detection {
        Detection {
            label: "person".into(),
            score: 0.9,
            bbox: [x, 0.2, x + 0.3, 0.9],
        }
    }

    #[test]
    fn a_walker_keeps_one_track_at_one_frame_a_second() {
        let mut t = Tracker::new(TrackerConfig::default());
        let t0 = Utc::now();
        let mut ids = Vec::new();
        for (i, x) in [0.0, 0.2, 0.4, 0.6].into_iter().enumerate() {
            let seen = t.update(&[person(x)], t0 + chrono::Duration::seconds(i as i64));
            ids.push(seen[0].id);
        }
        assert_eq!(ids, [1, 1, 1, 1]);
        let last = &t.tracks()[0];
        assert!((last.age_seconds() - 3.0).abs() < 1e-6);
        assert_eq!(last.previous_foot, Some(foot(person(0.4).bbox)));
    }

    #[test]
    fn far_apart_objects_get_their_own_tracks_and_old_ones_expire() {
        let mut t = Tracker::new(TrackerConfig::default());
        let t0 = Utc::now();
        let seen = t.update(&[person(0.0), person(0.7)], t0);
        assert_ne!(seen[0].id, seen[1].id);
        let later = t.update(&[person(0.0)], t0 + chrono::Duration::seconds(10));
        assert_eq!(later[0].id, 3, "expired tracks are not resumed");
        assert_eq!(t.tracks().len(), 1);
    }

    #[test]
    fn line_crossings_have_a_direction() {
        let down = [[0.5, 0.0], [0.5, 1.0]]; // a vertical line, drawn top to bottom
        assert_eq!(
            crossing(down, [0.3, 0.8], [0.7, 0.8]),
            Some(Crossing::Forward)
        );
        assert_eq!(
            crossing(down, [0.7, 0.8], [0.3, 0.8]),
            Some(Crossing::Backward)
        );
        let across = [[0.0, 0.5], [1.0, 0.5]]; // drawn left to right
        assert_eq!(
            crossing(across, [0.5, 0.7], [0.5, 0.3]),
            Some(Crossing::Forward),
            "upwards"
        );
        assert_eq!(crossing(down, [0.1, 0.8], [0.4, 0.8]), None);
        let short = [[0.5, 0.0], [0.5, 0.3]];
        assert_eq!(
            crossing(short, [0.3, 0.8], [0.7, 0.8]),
            None,
            "below the segment"
        );
    }
}
