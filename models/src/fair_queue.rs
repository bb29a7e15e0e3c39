//! [`FairQueue`]: a bounded queue shared by flows (tenants) in proportion to their weights, by
//! self-clocked fair queueing (SCFQ, Golestani 1994).
//!
//! Each item gets a finish tag when it arrives: `max(V, the flow's last tag) + 1 / weight`, where
//! `V`, the queue's virtual time, is the tag of the item served last. The item served next is the
//! flow head with the smallest tag, so a flow of weight 2 is served twice as often as one of weight
//! 1 while both wait, and a flow that was idle starts level with the others instead of cashing in
//! credit. When the queue is full, the oldest item of the flow most over its share (the most items
//! queued per unit of weight) is shed: a tenant with 200 busy cameras loses its own stale frames,
//! not a small tenant's fresh ones.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// One flow's queued items and its last finish tag.
struct Flow<T> {
    weight: f64,
    last_finish: f64,
    items: VecDeque<(f64, T)>,
}

/// A bounded weighted fair queue; see the module docs.
pub struct FairQueue<T> {
    flows: HashMap<Arc<str>, Flow<T>>,
    virtual_time: f64,
    len: usize,
    capacity: usize,
    /// Test-only switch: serve and shed in arrival order (one FIFO), to show the tests fail
    /// without fairness.
    fifo: bool,
    arrivals: u64,
}

impl<T> FairQueue<T> {
    /// An empty queue holding at most `capacity` items (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            flows: HashMap::new(),
            virtual_time: 0.0,
            len: 0,
            capacity: capacity.max(1),
            fifo: false,
            arrivals: 0,
        }
    }

    /// The same queue serving in plain arrival order and shedding the oldest item of all: the
    /// baseline the fairness benchmark and tests compare against.
    pub fn fifo(capacity: usize) -> Self {
        Self {
            fifo: true,
            ..Self::new(capacity)
        }
    }

    /// Items queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Items of `flow` queued.
    pub fn flow_len(&self, flow: &str) -> usize {
        self.flows.get(flow).map_or(0, |f| f.items.len())
    }

    /// Queues `item` for `flow` with `weight` (1 or more; the latest weight given counts). When the
    /// queue was full, returns the item shed to make room, with its flow.
    pub fn push(&mut self, flow: &Arc<str>, weight: u32, item: T) -> Option<(Arc<str>, T)> {
        let weight = f64::from(weight.max(1));
        self.arrivals += 1;
        let virtual_time = self.virtual_time;
        let entry = self.flows.entry(Arc::clone(flow)).or_insert(Flow {
            weight,
            last_finish: virtual_time,
            items: VecDeque::new(),
        });
        entry.weight = weight;
        let tag = if self.fifo {
            // Arrival order: every flow's tags share one clock.
            self.arrivals as f64
        } else {
            entry.last_finish.max(virtual_time) + 1.0 / weight
        };
        entry.last_finish = tag;
        entry.items.push_back((tag, item));
        self.len += 1;
        if self.len > self.capacity {
            return self.shed();
        }
        None
    }

    /// Takes the next item to serve, with its flow.
    pub fn pop(&mut self) -> Option<(Arc<str>, T)> {
        let flow = self
            .flows
            .iter()
            .filter_map(|(name, f)| f.items.front().map(|(tag, _)| (*tag, name)))
            .min_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)))
            .map(|(_, name)| Arc::clone(name))?;
        let (tag, item) = self.take_front(&flow)?;
        if !self.fifo {
            self.virtual_time = self.virtual_time.max(tag);
        }
        self.forget_idle();
        Some((flow, item))
    }

    /// Drops the oldest item of the flow with the most items queued per unit of weight (in FIFO
    /// mode: the oldest item of all).
    fn shed(&mut self) -> Option<(Arc<str>, T)> {
        let flow = if self.fifo {
            self.flows
                .iter()
                .filter_map(|(name, f)| f.items.front().map(|(tag, _)| (*tag, name)))
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, name)| Arc::clone(name))?
        } else {
            self.flows
                .iter()
                .filter(|(_, f)| !f.items.is_empty())
                .map(|(name, f)| (f.items.len() as f64 / f.weight, name))
                .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
                .map(|(_, name)| Arc::clone(name))?
        };
        let (_, item) = self.take_front(&flow)?;
        if !self.fifo
            && let Some(f) = self.flows.get_mut(&flow)
        {
            // The shed item is refunded: the flow's later items move up a place, as if it had never
            // arrived. Otherwise a flow that sheds much runs its tags far ahead and is served less
            // than its share.
            let step = 1.0 / f.weight;
            for (tag, _) in &mut f.items {
                *tag -= step;
            }
            f.last_finish -= step;
        }
        Some((flow, item))
    }

    fn take_front(&mut self, flow: &Arc<str>) -> Option<(f64, T)> {
        let taken = self.flows.get_mut(flow)?.items.pop_front()?;
        self.len -= 1;
        Some(taken)
    }

    /// Forgets empty flows whose last tag the virtual time has passed: they would start level anyway.
    fn forget_idle(&mut self) {
        if self.flows.len() > 64 {
            let now = self.virtual_time;
            self.flows
                .retain(|_, f| !f.items.is_empty() || f.last_finish > now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(name: &str) -> Arc<str> {
        Arc::from(name)
    }

    /// Serves `rounds` items while `flows` each keep the queue topped up; counts who was served.
    fn served_while_backlogged(
        queue: &mut FairQueue<()>,
        flows: &[(&str, u32)],
        rounds: usize,
    ) -> HashMap<String, usize> {
        let mut served = HashMap::new();
        for _ in 0..rounds {
            for (name, weight) in flows {
                while queue.flow_len(name) < 4 {
                    queue.push(&flow(name), *weight, ());
                }
            }
            let (f, ()) = queue.pop().expect("an item");
            *served.entry(f.to_string()).or_insert(0) += 1;
        }
        served
    }

    #[test]
    fn backlogged_flows_are_served_in_proportion_to_their_weights() {
        let mut q = FairQueue::new(64);
        let served = served_while_backlogged(&mut q, &[("a", 1), ("b", 3)], 400);
        assert_eq!(served["a"], 100);
        assert_eq!(served["b"], 300);
    }

    #[test]
    fn overloaded_flows_that_shed_keep_their_shares() {
        let mut q = FairQueue::new(16);
        let mut served = HashMap::new();
        for _ in 0..400 {
            // Four arrivals per flow for each item served: most are shed.
            for _ in 0..4 {
                q.push(&flow("a"), 1, ());
                q.push(&flow("b"), 3, ());
            }
            let (f, ()) = q.pop().expect("an item");
            *served.entry(f.to_string()).or_insert(0usize) += 1;
        }
        assert!(
            served["a"].abs_diff(100) <= 2 && served["b"].abs_diff(300) <= 2,
            "1:3 while shedding: {served:?}"
        );
    }

    #[test]
    fn a_flow_idle_for_a_while_does_not_cash_in_credit() {
        let mut q = FairQueue::new(64);
        served_while_backlogged(&mut q, &[("a", 1)], 100);
        let served = served_while_backlogged(&mut q, &[("a", 1), ("b", 1)], 100);
        assert!(
            served["b"].abs_diff(50) <= 1,
            "b gets half, not a burst: {served:?}"
        );
    }

    #[test]
    fn a_full_queue_sheds_the_oldest_item_of_the_flow_most_over_its_share() {
        let mut q = FairQueue::new(6);
        for i in 0..5 {
            assert!(q.push(&flow("big"), 1, i).is_none());
        }
        assert!(q.push(&flow("small"), 1, 100).is_none());
        let shed = q.push(&flow("small"), 1, 101).expect("full");
        assert_eq!((&*shed.0, shed.1), ("big", 0), "the big flow's oldest goes");
        assert_eq!(q.len(), 6);
        assert_eq!(q.flow_len("small"), 2);
    }

    #[test]
    fn the_fifo_baseline_serves_and_sheds_in_arrival_order() {
        let mut q = FairQueue::fifo(3);
        q.push(&flow("big"), 1, 1);
        q.push(&flow("big"), 1, 2);
        q.push(&flow("small"), 1, 3);
        let shed = q.push(&flow("big"), 1, 4).expect("full");
        assert_eq!(shed.1, 1);
        let order: Vec<i32> = std::iter::from_fn(|| q.pop().map(|(_, i)| i)).collect();
        assert_eq!(order, vec![2, 3, 4]);
    }

    /// The fairness target in small: 32 cameras of tenant A and 2 of tenant B (equal weights), a
    /// queue that serves fewer frames than arrive. B's cameras lose no more frames than A's, per
    /// camera; through the FIFO baseline (fairness switched off) this fails, since B loses as
    /// many per camera as A does.
    #[test]
    fn a_small_tenant_loses_no_more_frames_per_camera_than_a_big_one() {
        fn lost_per_camera(mut q: FairQueue<usize>) -> (f64, f64) {
            let cameras: Vec<(&str, usize)> = (0..34)
                .map(|c| (if c < 32 { "a" } else { "b" }, c))
                .collect();
            let mut lost = [0usize; 34];
            for _tick in 0..200 {
                for (tenant, camera) in &cameras {
                    if let Some((_, shed)) = q.push(&flow(tenant), 1, *camera) {
                        lost[shed] += 1;
                    }
                }
                for _ in 0..8 {
                    q.pop();
                }
            }
            let a = lost[..32].iter().sum::<usize>() as f64 / 32.0;
            let b = lost[32..].iter().sum::<usize>() as f64 / 2.0;
            (a, b)
        }
        let (a, b) = lost_per_camera(FairQueue::new(64));
        assert!(b <= a, "fair: B lost {b} per camera, A {a}");
        assert_eq!(b, 0.0, "B's 2 cameras are within half the capacity");
        let (a, b) = lost_per_camera(FairQueue::fifo(64));
        assert!(
            b > a * 0.9,
            "the FIFO baseline loses B's frames alike: B {b}, A {a}"
        );
    }
}
