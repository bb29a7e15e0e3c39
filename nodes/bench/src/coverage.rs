//! Whether recorded segments cover a time window: the spans of the window no segment covers.

use chrono::{DateTime, TimeDelta, Utc};

/// The parts of `[from, to)` that no span of `spans` covers, longer than `tolerance` each.
pub fn gaps(
    spans: &[(DateTime<Utc>, DateTime<Utc>)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tolerance: TimeDelta,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut sorted = spans.to_vec();
    sorted.sort();
    let mut out = Vec::new();
    let mut covered_to = from;
    for (start, end) in sorted {
        if start >= to {
            break;
        }
        if start > covered_to && start - covered_to > tolerance {
            out.push((covered_to, start));
        }
        covered_to = covered_to.max(end);
    }
    if covered_to < to && to - covered_to > tolerance {
        out.push((covered_to, to));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default()
    }

    #[test]
    fn uncovered_parts_longer_than_the_tolerance_are_gaps() {
        let tol = TimeDelta::milliseconds(500);
        let whole = [(at(-3), at(2)), (at(2), at(7)), (at(7), at(12))];
        assert!(gaps(&whole, at(0), at(10), tol).is_empty());
        // A missing middle segment, and a recording that stopped before the end.
        let holes = [(at(-3), at(2)), (at(7), at(8))];
        assert_eq!(
            gaps(&holes, at(0), at(10), tol),
            vec![(at(2), at(7)), (at(8), at(10))]
        );
        // Nothing recorded at all.
        assert_eq!(gaps(&[], at(0), at(10), tol), vec![(at(0), at(10))]);
        // A late start.
        assert_eq!(
            gaps(&[(at(1), at(10))], at(0), at(10), tol),
            vec![(at(0), at(1))]
        );
        // Within the tolerance: no gap.
        let close = [
            (at(0), at(5)),
            (at(5) + TimeDelta::milliseconds(300), at(10)),
        ];
        assert!(gaps(&close, at(0), at(10), tol).is_empty());
    }
}
