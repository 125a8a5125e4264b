//! Dwell time at each hop: from commissioning (the factory) or receipt to the
//! next shipment, or to the sale at the B2. The batch's events are replayed over
//! unit ranges, so a million-unit batch costs a handful of segments.

use serde::Serialize;
use std::collections::BTreeMap;

use super::{name_of, BatchInput, Directory};
use crate::domain::party::{PartyKind, Slug};
use crate::domain::statement::{EventType, UnitRange};

/// How a stay at a holder ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Until {
    /// The units were shipped (or sent back upstream).
    Shipment,
    /// The units were sold to a consumer.
    Sale,
}

impl Until {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Until::Shipment => "shipment",
            Until::Sale => "sale",
        }
    }
}

/// One finished stay of some units at a holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The holder.
    pub holder: Slug,
    /// How the stay ended.
    pub until: Until,
    /// Length in seconds.
    pub secs: i64,
    /// Units that stayed that long.
    pub units: u64,
}

/// A run of units with one history, as the replay sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// First unit index.
    pub first: u64,
    /// Last unit index (inclusive).
    pub last: u64,
    /// Who has the units in hand; None in transit, sold or destroyed.
    holder: Option<Slug>,
    /// Since when the holder has them.
    since: i64,
    /// When the units first reached a B2 (received there).
    pub retail_at: Option<i64>,
    /// When the units were sold.
    pub sold_at: Option<i64>,
}

/// Each unit's final replayed history, as sorted, non-overlapping segments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline(pub Vec<Segment>);

impl Timeline {
    /// The segment holding a unit.
    pub fn unit(&self, index: u64) -> Option<&Segment> {
        let i = self.0.partition_point(|s| s.last < index);
        self.0.get(i).filter(|s| s.first <= index)
    }
}

/// What a replay yields.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// Finished stays.
    pub samples: Vec<Sample>,
    /// Where each unit ended up.
    pub timeline: Timeline,
}

/// Splits the segments at `r` and applies `f` to each piece inside it.
fn touch(segs: &mut Vec<Segment>, r: &UnitRange, mut f: impl FnMut(&mut Segment)) {
    let mut out = Vec::with_capacity(segs.len() + 2);
    for s in segs.drain(..) {
        if s.last < r.first || s.first > r.last {
            out.push(s);
            continue;
        }
        if s.first < r.first {
            out.push(Segment {
                last: r.first - 1,
                ..s.clone()
            });
        }
        let mut mid = Segment {
            first: s.first.max(r.first),
            last: s.last.min(r.last),
            ..s.clone()
        };
        f(&mut mid);
        out.push(mid);
        if s.last > r.last {
            out.push(Segment {
                first: r.last + 1,
                ..s
            });
        }
    }
    *segs = out;
}

/// Replays a batch's events from commissioning on.
pub fn replay(b: &BatchInput, dir: &Directory) -> Replay {
    let mut segs = Vec::new();
    if b.record.quantity > 0 {
        segs.push(Segment {
            first: 0,
            last: b.record.quantity - 1,
            holder: Some(b.record.party.clone()),
            since: b.record.time.unix(),
            retail_at: None,
            sold_at: None,
        });
    }
    let mut samples = Vec::new();
    for ce in &b.events {
        let ev = &ce.event;
        let t = ev.time.unix();
        let is_b2 = dir.get(&ev.party).map(|p| p.kind) == Some(PartyKind::B2);
        for r in &ce.units {
            touch(&mut segs, r, |s| {
                let n = s.last - s.first + 1;
                let mut leave = |s: &mut Segment, until| {
                    if let Some(h) = s.holder.take() {
                        samples.push(Sample {
                            holder: h,
                            until,
                            secs: (t - s.since).max(0),
                            units: n,
                        });
                    }
                };
                match ev.event_type {
                    EventType::Shipping => leave(s, Until::Shipment),
                    EventType::Returning if ev.to.is_some() => leave(s, Until::Shipment),
                    EventType::RetailSelling => {
                        leave(s, Until::Sale);
                        s.sold_at.get_or_insert(t);
                    }
                    // Back in someone's hands: a new stay starts.
                    EventType::Receiving | EventType::Returning | EventType::AcceptingReturn => {
                        if ev.event_type != EventType::AcceptingReturn || ev.shipment.is_some() {
                            s.holder = Some(ev.party.clone());
                            s.since = t;
                        }
                        if is_b2 && ev.event_type == EventType::Receiving {
                            s.retail_at.get_or_insert(t);
                        }
                    }
                    EventType::Destroying => s.holder = None,
                    EventType::Recalling
                    | EventType::Inspecting
                    | EventType::Packing
                    | EventType::Unpacking => {}
                }
            });
        }
    }
    Replay {
        samples,
        timeline: Timeline(segs),
    }
}

/// Dwell statistics of one hop: a holder and how its stays ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HopDwell {
    /// Holder slug.
    pub holder: String,
    /// Display name.
    pub name: String,
    /// Kind, if registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<PartyKind>,
    /// How the stays ended.
    pub until: Until,
    /// Units measured.
    pub units: u64,
    /// Median, seconds (by unit).
    pub p50_secs: i64,
    /// 90th percentile, seconds (by unit).
    pub p90_secs: i64,
    /// Longest, seconds.
    pub max_secs: i64,
}

/// Nearest-rank percentile over weighted values sorted ascending: the least value
/// with at least `p`% of the weight at or below it.
pub fn percentile(sorted: &[(i64, u64)], p: u64) -> i64 {
    let total: u64 = sorted.iter().map(|(_, w)| w).sum();
    // ceil(total * p / 100), at least 1 so p0 is the minimum.
    let rank = (total.saturating_mul(p).div_ceil(100)).max(1);
    let mut seen = 0u64;
    for &(v, w) in sorted {
        seen += w;
        if seen >= rank {
            return v;
        }
    }
    sorted.last().map(|(v, _)| *v).unwrap_or(0)
}

/// Per-hop statistics, factory first then by kind down the chain.
pub fn stats(samples: &[Sample], dir: &Directory) -> Vec<HopDwell> {
    let mut by: BTreeMap<(&Slug, Until), Vec<(i64, u64)>> = BTreeMap::new();
    for s in samples {
        by.entry((&s.holder, s.until))
            .or_default()
            .push((s.secs, s.units));
    }
    let mut out: Vec<HopDwell> = by
        .into_iter()
        .map(|((holder, until), mut v)| {
            v.sort_unstable();
            HopDwell {
                holder: holder.to_string(),
                name: name_of(dir, holder),
                kind: dir.get(holder).map(|p| p.kind),
                until,
                units: v.iter().map(|(_, w)| w).sum(),
                p50_secs: percentile(&v, 50),
                p90_secs: percentile(&v, 90),
                max_secs: v.last().map(|(s, _)| *s).unwrap_or(0),
            }
        })
        .collect();
    let rank = |k: Option<PartyKind>| match k {
        Some(PartyKind::Factory) => 0,
        Some(PartyKind::B1) => 1,
        Some(PartyKind::B2) => 2,
        _ => 3,
    };
    out.sort_by(|a, b| (rank(a.kind), &a.holder, a.until).cmp(&(rank(b.kind), &b.holder, b.until)));
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;

    #[test]
    fn percentiles_weigh_units() {
        let v = [(10, 1), (20, 8), (100, 1)];
        assert_eq!(percentile(&v, 50), 20);
        assert_eq!(percentile(&v, 90), 20);
        assert_eq!(percentile(&v, 91), 100);
        assert_eq!(percentile(&v, 0), 10);
        assert_eq!(percentile(&[], 50), 0);
    }

    #[test]
    fn stays_run_from_commissioning_or_receipt_to_shipment_or_sale() {
        let b = id(1);
        let mut s1 = ev(
            10,
            EventType::Shipping,
            "acme",
            10 * H,
            vec![range(b, 0, 59)],
        );
        s1.event.to = Some(slug("north"));
        // Units 40..59 ship a day later than 0..39.
        let r1 = ev(
            11,
            EventType::Receiving,
            "north",
            12 * H,
            vec![range(b, 0, 59)],
        );
        let mut s2 = ev(
            12,
            EventType::Shipping,
            "north",
            20 * H,
            vec![range(b, 0, 39)],
        );
        s2.event.to = Some(slug("shop"));
        let mut s3 = ev(
            13,
            EventType::Shipping,
            "north",
            44 * H,
            vec![range(b, 40, 59)],
        );
        s3.event.to = Some(slug("shop"));
        let r2 = ev(
            14,
            EventType::Receiving,
            "shop",
            21 * H,
            vec![range(b, 0, 39)],
        );
        let sale = ev(
            15,
            EventType::RetailSelling,
            "shop",
            25 * H,
            vec![range(b, 3, 3)],
        );
        let input = input(100, vec![s1, r1, s2, s3, r2, sale]);
        let replay = replay(&input, &dir());
        let st = stats(&replay.samples, &dir());
        let row = |h: &str, u: Until| {
            st.iter()
                .find(|d| d.holder == h && d.until == u)
                .map(|d| (d.units, d.p50_secs / H, d.p90_secs / H, d.max_secs / H))
        };
        assert_eq!(row("acme", Until::Shipment), Some((60, 10, 10, 10)));
        assert_eq!(row("north", Until::Shipment), Some((60, 8, 32, 32)));
        assert_eq!(row("shop", Until::Sale), Some((1, 4, 4, 4)));
        assert_eq!(row("shop", Until::Shipment), None);
        assert_eq!(st[0].holder, "acme");
        assert_eq!(st[0].name, "Acme <&> 工厂");
        // The timeline knows when unit 3 reached retail and was sold.
        let u3 = replay.timeline.unit(3).unwrap();
        assert_eq!(
            (u3.retail_at, u3.sold_at),
            (Some(T0 + 21 * H), Some(T0 + 25 * H))
        );
        let u50 = replay.timeline.unit(50).unwrap();
        assert_eq!((u50.retail_at, u50.sold_at), (None, None));
        assert!(replay.timeline.unit(100).is_none());
        // Segments cover every unit once, in order.
        let segs = &replay.timeline.0;
        assert_eq!(segs[0].first, 0);
        assert_eq!(segs.last().unwrap().last, 99);
        assert!(segs.windows(2).all(|w| w[0].last + 1 == w[1].first));
    }

    #[test]
    fn consumer_returns_start_a_new_stay_and_upstream_returns_end_one() {
        let b = id(1);
        let mut s1 = ev(10, EventType::Shipping, "acme", H, vec![range(b, 0, 0)]);
        s1.event.to = Some(slug("shop"));
        let r1 = ev(
            11,
            EventType::Receiving,
            "shop",
            2 * H,
            vec![range(b, 0, 0)],
        );
        let sale = ev(
            12,
            EventType::RetailSelling,
            "shop",
            5 * H,
            vec![range(b, 0, 0)],
        );
        let back = ev(
            13,
            EventType::Returning,
            "shop",
            6 * H,
            vec![range(b, 0, 0)],
        );
        let mut up = ev(
            14,
            EventType::Returning,
            "shop",
            9 * H,
            vec![range(b, 0, 0)],
        );
        up.event.to = Some(slug("acme"));
        let input = input(1, vec![s1, r1, sale, back, up]);
        let st = stats(&replay(&input, &dir()).samples, &dir());
        let shop: Vec<(Until, i64)> = st
            .iter()
            .filter(|d| d.holder == "shop")
            .map(|d| (d.until, d.max_secs / H))
            .collect();
        assert_eq!(shop, [(Until::Shipment, 3), (Until::Sale, 3)]);
    }
}
