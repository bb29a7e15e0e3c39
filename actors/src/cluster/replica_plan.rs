//! Where a model's worker replicas run, as a pure function of the nodes: among the nodes that are
//! up, take the `inference` role, are not drained and carry the labels the model needs
//! (`analytics.replica_labels`), the `analytics.replicas` best by rendezvous hashing on the model's
//! name (every one of them when the count is 0). Each node evaluates it on its own view of the
//! membership and runs the replicas that fall on it; a replica holds no state, so two views that
//! differ for a heartbeat cost at most one replica too many or too few for that long.

use std::collections::BTreeMap;

/// The role a node needs to run replicas.
pub const INFERENCE_ROLE: &str = "inference";

/// A node that may run replicas.
#[derive(Clone, Debug, PartialEq)]
pub struct InferenceNode {
    /// Node id.
    pub id: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

/// Rendezvous score of `node` for `model`.
fn score(model: &str, node: &str) -> u64 {
    crate::cluster::plan::fnv1a(model.bytes().chain(std::iter::once(0)).chain(node.bytes()))
}

/// The nodes among `nodes` that run `model`'s replicas: those with every label of `needs`, the
/// `count` best-scored (all when `count` is 0), best first.
pub fn replica_nodes(
    model: &str,
    count: u32,
    needs: &[(String, String)],
    nodes: &[InferenceNode],
) -> Vec<String> {
    let mut fit: Vec<&InferenceNode> = nodes
        .iter()
        .filter(|n| needs.iter().all(|(k, v)| n.labels.get(k) == Some(v)))
        .collect();
    fit.sort_by_key(|n| std::cmp::Reverse(score(model, &n.id)));
    let take = if count == 0 {
        fit.len()
    } else {
        count as usize
    };
    fit.into_iter().take(take).map(|n| n.id.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, labels: &[(&str, &str)]) -> InferenceNode {
        InferenceNode {
            id: id.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_count_of_zero_runs_everywhere_and_a_count_picks_that_many() {
        let nodes: Vec<InferenceNode> = (0..5).map(|i| node(&format!("n{i}"), &[])).collect();
        assert_eq!(replica_nodes("person", 0, &[], &nodes).len(), 5);
        let two = replica_nodes("person", 2, &[], &nodes);
        assert_eq!(two.len(), 2);
        // Adding a node moves at most the replicas it wins.
        let mut more = nodes.clone();
        more.push(node("n5", &[]));
        let after = replica_nodes("person", 2, &[], &more);
        let kept = two.iter().filter(|n| after.contains(n)).count();
        assert!(kept >= 1, "{two:?} -> {after:?}");
        // Removing a node that does not run one moves nothing.
        let spare = nodes
            .iter()
            .find(|n| !two.contains(&n.id))
            .expect("a spare");
        let fewer: Vec<InferenceNode> = nodes.iter().filter(|n| n != &spare).cloned().collect();
        assert_eq!(replica_nodes("person", 2, &[], &fewer), two);
    }

    #[test]
    fn labels_limit_the_nodes_and_models_spread() {
        let nodes = vec![
            node("cpu-1", &[]),
            node("gpu-1", &[("accelerator", "cuda")]),
            node("gpu-2", &[("accelerator", "cuda")]),
        ];
        let needs = vec![("accelerator".to_string(), "cuda".to_string())];
        let mut got = replica_nodes("person", 0, &needs, &nodes);
        got.sort();
        assert_eq!(got, ["gpu-1", "gpu-2"]);
        assert!(replica_nodes("person", 1, &[("site".into(), "x".into())], &nodes).is_empty());
        // Different models do not all pick the same first node.
        let many: Vec<InferenceNode> = (0..8).map(|i| node(&format!("n{i}"), &[])).collect();
        let firsts: std::collections::BTreeSet<String> = ["person", "face", "plate", "fire", "car"]
            .iter()
            .map(|m| replica_nodes(m, 1, &[], &many)[0].clone())
            .collect();
        assert!(firsts.len() > 1, "{firsts:?}");
    }
}
