//! Returns by kind and reason: consumer returns at the counter, stock sent back
//! upstream, and what was done with returns once taken back.

use serde::Serialize;
use std::collections::BTreeMap;

use super::BatchInput;
use crate::domain::statement::{EventType, Resolution};

/// Units returned one way for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReturnCount {
    /// consumer, upstream, or accepted_{restock,quarantine,destroy}.
    pub kind: String,
    /// The signed reason, or "(none given)".
    pub reason: String,
    /// Units.
    pub units: u64,
}

fn kind(ev: &crate::domain::statement::EventStatement) -> Option<&'static str> {
    Some(match (ev.event_type, ev.to.is_some(), ev.resolution) {
        (EventType::Returning, false, _) => "consumer",
        (EventType::Returning, true, _) => "upstream",
        (EventType::AcceptingReturn, _, Some(Resolution::Restock)) => "accepted_restock",
        (EventType::AcceptingReturn, _, Some(Resolution::Destroy)) => "accepted_destroy",
        (EventType::AcceptingReturn, _, _) => "accepted_quarantine",
        _ => return None,
    })
}

/// Returned units by kind and reason over every batch.
pub fn count(inputs: &[BatchInput]) -> Vec<ReturnCount> {
    let mut by: BTreeMap<(&'static str, String), u64> = BTreeMap::new();
    for ce in inputs.iter().flat_map(|b| &b.events) {
        let Some(k) = kind(&ce.event) else { continue };
        let reason = ce
            .event
            .reason
            .clone()
            .unwrap_or_else(|| "(none given)".into());
        *by.entry((k, reason)).or_default() += ce.units.iter().map(|r| r.len()).sum::<u64>();
    }
    by.into_iter()
        .map(|((kind, reason), units)| ReturnCount {
            kind: kind.into(),
            reason,
            units,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;

    #[test]
    fn returns_are_counted_by_kind_and_reason() {
        let b = id(1);
        let mut a = ev(1, EventType::Returning, "shop", H, vec![range(b, 0, 1)]);
        a.event.reason = Some("sour".into());
        let mut c = ev(2, EventType::Returning, "shop", H, vec![range(b, 5, 5)]);
        c.event.reason = Some("sour".into());
        let mut up = ev(3, EventType::Returning, "shop", H, vec![range(b, 0, 9)]);
        up.event.to = Some(slug("north"));
        let mut acc = ev(
            4,
            EventType::AcceptingReturn,
            "north",
            H,
            vec![range(b, 0, 9)],
        );
        acc.event.resolution = Some(Resolution::Destroy);
        let sale = ev(5, EventType::RetailSelling, "shop", H, vec![range(b, 0, 9)]);
        let got = count(&[input(10, vec![a, c, up, acc, sale])]);
        let rows: Vec<(&str, &str, u64)> = got
            .iter()
            .map(|r| (r.kind.as_str(), r.reason.as_str(), r.units))
            .collect();
        assert_eq!(
            rows,
            [
                ("accepted_destroy", "(none given)", 10),
                ("consumer", "sour", 3),
                ("upstream", "(none given)", 10)
            ]
        );
    }
}
