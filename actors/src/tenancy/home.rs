//! Which node is a tenant's home, as a pure function of the nodes: the best by rendezvous hashing
//! on the tenant's id, so a node that joins takes only the tenants it wins and one that leaves gives
//! up only its own.

use vms_messages::TenantId;

/// Rendezvous score of `node` for `tenant`.
fn score(tenant: TenantId, node: &str) -> u64 {
    crate::cluster::plan::fnv1a(
        tenant
            .0
            .as_bytes()
            .iter()
            .copied()
            .chain(std::iter::once(0xff))
            .chain(node.bytes()),
    )
}

/// The node among `nodes` whose `TenantActor` leads `tenant`; `None` without nodes.
pub fn tenant_home(tenant: TenantId, nodes: &[String]) -> Option<&String> {
    nodes.iter().max_by_key(|n| (score(tenant, n), n.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("n{i}")).collect()
    }

    #[test]
    fn a_joining_node_takes_only_the_tenants_it_wins_and_spreads_them() {
        let tenants: Vec<TenantId> = (0..400).map(|_| TenantId::new()).collect();
        let three = nodes(3);
        let four = nodes(4);
        let mut per_node = std::collections::HashMap::<&String, usize>::new();
        for t in &tenants {
            let before = tenant_home(*t, &three).expect("a home");
            let after = tenant_home(*t, &four).expect("a home");
            assert!(after == before || after == "n3", "{t}: {before} -> {after}");
            *per_node.entry(after).or_default() += 1;
        }
        // Each of four nodes leads about a quarter of the tenants.
        for n in &four {
            let got = per_node.get(n).copied().unwrap_or(0);
            assert!((50..=150).contains(&got), "{n} leads {got} of 400");
        }
    }

    #[test]
    fn a_leaving_node_gives_up_only_its_own_tenants_and_none_is_homeless() {
        let three = nodes(3);
        let two: Vec<String> = three.iter().filter(|n| *n != "n1").cloned().collect();
        for _ in 0..200 {
            let t = TenantId::new();
            let before = tenant_home(t, &three).expect("a home");
            let after = tenant_home(t, &two).expect("a home");
            if before != "n1" {
                assert_eq!(before, after);
            }
        }
        assert_eq!(tenant_home(TenantId::new(), &[]), None);
    }
}
