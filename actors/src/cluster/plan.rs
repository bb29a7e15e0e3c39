//! Where cameras should record, as pure functions of the cameras and the nodes: weighted
//! rendezvous hashing with label constraints and capacities, and the moves from where they are
//! (at once off a dead node, by bounded handovers otherwise). The placement leader applies them.

use std::collections::{BTreeMap, HashMap};
use vms_messages::{CameraId, NodeState, NodeView};
use vms_store::{Move, PlacedCamera, StandbyChange};

/// Weight of a node without `max_cameras`.
const DEFAULT_WEIGHT: f64 = 64.0;
/// Camera labels with this prefix are placement constraints: `placement.site = north` needs a node
/// labelled `site = north`.
pub const CONSTRAINT_PREFIX: &str = "placement.";
/// The node label naming its zone: a camera's standby is chosen in another zone than its owner's
/// when a node there can hold it.
pub const ZONE_LABEL: &str = "zone";

/// FNV-1a with a 64-bit finaliser (MurmurHash3's), stable across processes and builds: FNV alone
/// scores nodes whose names differ in one last byte too much alike.
pub(crate) fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h = bytes.into_iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Weighted rendezvous score of `node` (weight `weight`) for `camera`: `-weight / ln(u)` with `u`
/// uniform in (0, 1) from the hash, so each node wins a share of cameras proportional to its weight
/// and adding or removing a node moves only the cameras it wins or held.
fn score(camera: CameraId, node: &str, weight: f64) -> f64 {
    let h = fnv1a(camera.0.as_bytes().iter().copied().chain(node.bytes()));
    let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -weight / u.ln()
}

/// A node placement may use.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Node id.
    pub id: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Most cameras (0: no limit).
    pub max_cameras: u32,
}

impl Candidate {
    fn weight(&self) -> f64 {
        if self.max_cameras > 0 {
            f64::from(self.max_cameras)
        } else {
            DEFAULT_WEIGHT
        }
    }
}

/// The node that should record `camera` among `nodes` (unweighted, unconstrained rendezvous).
pub fn rendezvous(camera: CameraId, nodes: &[String]) -> Option<&String> {
    nodes.iter().max_by(|a, b| {
        score(camera, a, 1.0)
            .partial_cmp(&score(camera, b, 1.0))
            .unwrap_or(std::cmp::Ordering::Equal)
    })
}

/// The constraints of a camera: `placement.<key> = <value>` labels.
fn constraints(labels: &BTreeMap<String, String>) -> impl Iterator<Item = (&str, &str)> {
    labels
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(CONSTRAINT_PREFIX).map(|k| (k, v.as_str())))
}

/// The standby of a camera placed on `owner`: among `ranked` (the nodes that may take the camera,
/// best first), the first other node in another zone than the owner's, or else the first other node
/// (the rendezvous runner-up). Capacity does not limit standbys: a standby records nothing until it
/// takes the camera over.
fn standby<'a>(ranked: &[(&'a Candidate, f64)], owner: &str) -> Option<&'a Candidate> {
    let zone = |n: &Candidate| n.labels.get(ZONE_LABEL).cloned();
    let owner_zone = ranked
        .iter()
        .find(|(n, _)| n.id == owner)
        .and_then(|(n, _)| zone(n));
    let mut others = ranked.iter().map(|(n, _)| *n).filter(|n| n.id != owner);
    let first = others.clone().next();
    owner_zone
        .and_then(|z| others.find(|n| zone(n).is_some_and(|o| o != z)))
        .or(first)
}

/// What the leader decides in one round.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Changes to write.
    pub moves: Vec<Move>,
    /// Standby changes to write.
    pub standbys: Vec<StandbyChange>,
    /// Cameras placed after the plan without a standby.
    pub without_standby: usize,
    /// Cameras per node after the plan.
    pub load: HashMap<String, usize>,
}

/// Plans a round: where every camera of `cameras` goes among `candidates` (up, ingest, not drained),
/// given the nodes that are up at all (`up`: a camera on an up but drained node is handed over, one
/// on a node not up moves at once). At most `max_handovers` handovers are started.
pub fn plan(
    cameras: &[PlacedCamera],
    candidates: &[Candidate],
    up: &[String],
    max_handovers: usize,
) -> Plan {
    let mut load: HashMap<String, usize> = candidates.iter().map(|c| (c.id.clone(), 0)).collect();
    let mut moves = Vec::new();
    let mut standbys = Vec::new();
    let mut without_standby = 0;
    let mut handovers = 0;
    for cam in cameras {
        let wanted: Vec<(&str, &str)> = constraints(&cam.labels).collect();
        let mut ranked: Vec<(&Candidate, f64)> = candidates
            .iter()
            .filter(|n| {
                wanted
                    .iter()
                    .all(|(k, v)| n.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|n| (n, score(cam.camera_id, &n.id, n.weight())))
            .collect();
        let matching = ranked.len();
        ranked.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
        let has_room = |n: &Candidate| {
            n.max_cameras == 0
                || load.get(&n.id).copied().unwrap_or(0) < n.max_cameras as usize
                || cam.node_id.as_deref() == Some(n.id.as_str())
        };
        let best = ranked.iter().map(|(n, _)| *n).find(|n| has_room(n));
        let current = cam.node_id.as_deref();
        let current_up = current.is_some_and(|c| up.iter().any(|u| u == c));
        let Some(best) = best else {
            let reason = if candidates.is_empty() {
                "no node can take cameras: none is up with the ingest role and undrained"
                    .to_string()
            } else if matching == 0 {
                let want: Vec<String> = wanted.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(
                    "no up, undrained ingest node has the labels {}",
                    want.join(", ")
                )
            } else {
                format!("all {matching} nodes that match are full (max_cameras)")
            };
            if cam.unplaced_reason.as_deref() != Some(reason.as_str()) || current.is_some() {
                moves.push(Move {
                    camera_id: cam.camera_id,
                    from: cam.node_id.clone(),
                    to: None,
                    handover: false,
                    reason,
                });
            }
            if cam.standby_node.is_some() {
                standbys.push(StandbyChange {
                    camera_id: cam.camera_id,
                    standby: None,
                });
            }
            continue;
        };
        let stays = current == Some(best.id.as_str());
        let target = if stays || cam.handing_over {
            // A handover under way completes before the camera moves again.
            cam.node_id.clone().filter(|c| load.contains_key(c))
        } else if !current_up {
            // A camera whose node is gone goes to its standby when the standby may take it: the
            // node that holds a copy of its recent footage.
            let to = cam
                .standby_node
                .as_deref()
                .filter(|_| current.is_some())
                .and_then(|s| ranked.iter().map(|(n, _)| *n).find(|n| n.id == s))
                .filter(|n| has_room(n))
                .unwrap_or(best);
            moves.push(Move {
                camera_id: cam.camera_id,
                from: cam.node_id.clone(),
                to: Some(to.id.clone()),
                handover: false,
                reason: if current.is_some() {
                    "node down".into()
                } else {
                    "placed".into()
                },
            });
            Some(to.id.clone())
        } else if handovers < max_handovers {
            handovers += 1;
            let drained = current.is_some_and(|c| !load.contains_key(c));
            moves.push(Move {
                camera_id: cam.camera_id,
                from: cam.node_id.clone(),
                to: Some(best.id.clone()),
                handover: true,
                reason: if drained { "drain" } else { "rebalance" }.into(),
            });
            Some(best.id.clone())
        } else {
            cam.node_id.clone()
        };
        let standby_node = target
            .as_deref()
            .and_then(|t| standby(&ranked, t))
            .map(|n| n.id.clone());
        if target.is_some() && standby_node.is_none() {
            without_standby += 1;
        }
        if standby_node != cam.standby_node {
            standbys.push(StandbyChange {
                camera_id: cam.camera_id,
                standby: standby_node,
            });
        }
        if let Some(t) = target {
            *load.entry(t).or_default() += 1;
        }
    }
    Plan {
        moves,
        standbys,
        without_standby,
        load,
    }
}

/// The nodes placement may use now: up, with the ingest role, not drained; and the ids of all up nodes.
pub fn candidates(
    nodes: &[NodeView],
    drained: &std::collections::HashSet<String>,
) -> (Vec<Candidate>, Vec<String>) {
    let up: Vec<&NodeView> = nodes.iter().filter(|n| n.state == NodeState::Up).collect();
    let mut candidates: Vec<Candidate> = up
        .iter()
        .filter(|n| n.roles.iter().any(|r| r == "ingest") && !drained.contains(&n.id))
        .map(|n| Candidate {
            id: n.id.clone(),
            labels: n.labels.clone(),
            max_cameras: n.max_cameras,
        })
        .collect();
    candidates.sort_by(|a, b| a.id.cmp(&b.id));
    (candidates, up.iter().map(|n| n.id.clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cams(n: usize) -> Vec<PlacedCamera> {
        (0..n)
            .map(|_| PlacedCamera {
                camera_id: CameraId::new(),
                labels: BTreeMap::new(),
                node_id: None,
                unplaced_reason: None,
                handing_over: false,
                standby_node: None,
            })
            .collect()
    }

    fn nodes(ids: &[&str]) -> Vec<Candidate> {
        ids.iter()
            .map(|id| Candidate {
                id: (*id).into(),
                labels: BTreeMap::new(),
                max_cameras: 0,
            })
            .collect()
    }

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| (*s).to_string()).collect()
    }

    /// Applies a plan's moves to the cameras, as the store would.
    fn apply(cameras: &mut [PlacedCamera], plan: &Plan) {
        for m in &plan.moves {
            let cam = cameras
                .iter_mut()
                .find(|c| c.camera_id == m.camera_id)
                .expect("camera");
            cam.node_id = m.to.clone();
            cam.unplaced_reason = m.to.is_none().then(|| m.reason.clone());
        }
        for change in &plan.standbys {
            let cam = cameras
                .iter_mut()
                .find(|c| c.camera_id == change.camera_id)
                .expect("camera");
            cam.standby_node = change.standby.clone();
        }
    }

    #[test]
    fn a_standby_is_the_runner_up_never_the_owner_and_stays_put() {
        let mut cameras = cams(300);
        let candidates = nodes(&["a", "b", "c"]);
        let first = plan(&cameras, &candidates, &ids(&["a", "b", "c"]), 100);
        apply(&mut cameras, &first);
        for cam in &cameras {
            let owner = cam.node_id.clone().expect("placed");
            let standby = cam.standby_node.clone().expect("a standby");
            assert_ne!(owner, standby);
            // The runner-up: the best of the others by score.
            let runner_up = ["a", "b", "c"]
                .into_iter()
                .filter(|n| *n != owner)
                .max_by(|x, y| {
                    score(cam.camera_id, x, DEFAULT_WEIGHT).total_cmp(&score(
                        cam.camera_id,
                        y,
                        DEFAULT_WEIGHT,
                    ))
                })
                .expect("others");
            assert_eq!(standby, runner_up);
        }
        let again = plan(&cameras, &candidates, &ids(&["a", "b", "c"]), 100);
        assert!(again.standbys.is_empty(), "a second round changes nothing");
    }

    #[test]
    fn a_dead_nodes_cameras_go_to_their_standbys() {
        let mut candidates = nodes(&["a", "b", "c"]);
        for (node, zone) in candidates.iter_mut().zip(["x", "x", "y"]) {
            node.labels.insert(ZONE_LABEL.into(), zone.into());
        }
        let all = ids(&["a", "b", "c"]);
        let mut cameras = cams(200);
        let placed = plan(&cameras, &candidates, &all, 100);
        apply(&mut cameras, &placed);
        let on_a: Vec<(CameraId, Option<String>)> = cameras
            .iter()
            .filter(|c| c.node_id.as_deref() == Some("a"))
            .map(|c| (c.camera_id, c.standby_node.clone()))
            .collect();
        assert!(!on_a.is_empty());
        // a dies: its cameras go to their standby, c (zone y), though b (zone x) would score
        // higher for some of them.
        let survivors: Vec<Candidate> =
            candidates.iter().filter(|n| n.id != "a").cloned().collect();
        let failover = plan(&cameras, &survivors, &ids(&["b", "c"]), 100);
        for (camera, standby) in &on_a {
            let m = failover
                .moves
                .iter()
                .find(|m| m.camera_id == *camera)
                .expect("moved");
            assert_eq!(m.to, *standby, "to its standby");
            assert_eq!(m.reason, "node down");
        }
    }

    #[test]
    fn a_standby_is_chosen_in_another_zone_and_none_without_another_node() {
        let mut candidates = nodes(&["a", "b", "c"]);
        for (node, zone) in candidates.iter_mut().zip(["x", "x", "y"]) {
            node.labels.insert(ZONE_LABEL.into(), zone.into());
        }
        let mut cameras = cams(200);
        let placed = plan(&cameras, &candidates, &ids(&["a", "b", "c"]), 100);
        apply(&mut cameras, &placed);
        for cam in &cameras {
            let (owner, standby) = (cam.node_id.as_deref(), cam.standby_node.as_deref());
            match owner {
                Some("a" | "b") => assert_eq!(standby, Some("c"), "zone x's cameras to zone y"),
                Some("c") => assert!(matches!(standby, Some("a" | "b"))),
                other => panic!("placed on {other:?}"),
            }
        }
        let mut alone = cams(10);
        let one = nodes(&["a"]);
        let placed = plan(&alone, &one, &ids(&["a"]), 100);
        apply(&mut alone, &placed);
        assert!(alone.iter().all(|c| c.standby_node.is_none()));
        // A second node gives them one; losing it takes it away again.
        let two = plan(&alone, &nodes(&["a", "b"]), &ids(&["a", "b"]), 0);
        apply(&mut alone, &two);
        assert!(alone.iter().all(|c| c.standby_node.is_some()));
        let lost = plan(&alone, &one, &ids(&["a"]), 100);
        assert!(
            alone
                .iter()
                .filter(|c| c.node_id.as_deref() == Some("a"))
                .all(|c| lost
                    .standbys
                    .iter()
                    .any(|s| s.camera_id == c.camera_id && s.standby.is_none()))
        );
    }

    #[test]
    fn rendezvous_moves_about_a_quarter_when_a_fourth_node_joins() {
        let three: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let mut four = three.clone();
        four.push("d".into());
        let cameras: Vec<CameraId> = (0..1000).map(|_| CameraId::new()).collect();
        let moved = cameras
            .iter()
            .filter(|c| rendezvous(**c, &three) != rendezvous(**c, &four))
            .count();
        assert!((150..=350).contains(&moved), "{moved} of 1000 moved");
        assert!(
            cameras
                .iter()
                .filter(|c| rendezvous(**c, &three) != rendezvous(**c, &four))
                .all(|c| rendezvous(*c, &four).map(String::as_str) == Some("d"))
        );
    }

    #[test]
    fn plan_places_everything_then_hands_over_a_quarter_at_a_bounded_rate() {
        let mut cameras = cams(1000);
        let three = nodes(&["a", "b", "c"]);
        let first = plan(&cameras, &three, &ids(&["a", "b", "c"]), 16);
        assert_eq!(first.moves.len(), 1000, "all placed at once");
        assert!(
            first
                .moves
                .iter()
                .all(|m| !m.handover && m.reason == "placed")
        );
        apply(&mut cameras, &first);
        let max = *first.load.values().max().expect("load");
        assert!(max < 400, "{:?}", first.load);
        // Stable: nothing moves again.
        assert!(
            plan(&cameras, &three, &ids(&["a", "b", "c"]), 16)
                .moves
                .is_empty()
        );
        // A fourth node: handovers to it only, at most 16 a round, about a quarter in all.
        let four = nodes(&["a", "b", "c", "d"]);
        let up = ids(&["a", "b", "c", "d"]);
        let mut moved = 0;
        for _ in 0..100 {
            let p = plan(&cameras, &four, &up, 16);
            if p.moves.is_empty() {
                break;
            }
            assert!(p.moves.len() <= 16);
            assert!(
                p.moves
                    .iter()
                    .all(|m| m.handover && m.to.as_deref() == Some("d"))
            );
            moved += p.moves.len();
            apply(&mut cameras, &p);
        }
        assert!((150..=350).contains(&moved), "{moved} moved");
    }

    #[test]
    fn plan_moves_a_dead_nodes_cameras_at_once_and_drains_by_handover() {
        let mut cameras = cams(200);
        let abc = nodes(&["a", "b", "c"]);
        let p = plan(&cameras, &abc, &ids(&["a", "b", "c"]), 16);
        apply(&mut cameras, &p);
        let on_c = cameras
            .iter()
            .filter(|c| c.node_id.as_deref() == Some("c"))
            .count();
        // c is down: every one of its cameras moves in one round, none as a handover.
        let p = plan(&cameras, &nodes(&["a", "b"]), &ids(&["a", "b"]), 16);
        assert_eq!(p.moves.len(), on_c);
        assert!(
            p.moves
                .iter()
                .all(|m| !m.handover && m.reason == "node down")
        );
        apply(&mut cameras, &p);
        // b is drained (up, not a candidate): its cameras are handed over, 16 a round.
        let p = plan(&cameras, &nodes(&["a"]), &ids(&["a", "b"]), 16);
        assert_eq!(p.moves.len(), 16);
        assert!(p.moves.iter().all(|m| m.handover && m.reason == "drain"));
    }

    #[test]
    fn plan_honours_labels_and_capacity_and_says_why_not() {
        let mut cameras = cams(10);
        cameras[0]
            .labels
            .insert("placement.site".into(), "north".into());
        cameras[1]
            .labels
            .insert("placement.gpu".into(), "true".into());
        let mut n = nodes(&["a", "b"]);
        n[0].labels.insert("site".into(), "north".into());
        n[1].max_cameras = 3;
        let p = plan(&cameras, &n, &ids(&["a", "b"]), 16);
        let to = |i: usize| {
            p.moves
                .iter()
                .find(|m| m.camera_id == cameras[i].camera_id)
                .expect("move")
        };
        assert_eq!(to(0).to.as_deref(), Some("a"));
        assert_eq!(to(1).to, None);
        assert!(to(1).reason.contains("gpu=true"), "{}", to(1).reason);
        assert!(p.load["b"] <= 3, "{:?}", p.load);
        // Nothing can be placed with no candidates, and the reason says so.
        let p = plan(&cams(1), &[], &ids(&["a"]), 16);
        assert!(p.moves[0].reason.contains("undrained"), "{:?}", p.moves);
    }

    #[test]
    fn weights_follow_capacity() {
        let mut n = nodes(&["small", "big"]);
        n[0].max_cameras = 100;
        n[1].max_cameras = 300;
        let p = plan(&cams(200), &n, &ids(&["small", "big"]), 16);
        let (small, big) = (p.load["small"], p.load["big"]);
        assert!(big > 2 * small, "small {small}, big {big}");
    }
}
