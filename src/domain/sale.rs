//! A unit at and after its retail sale: when it counts as sold, whether its
//! buyer may ask for a return, who sold it, and where its sale stands now.
//! No I/O.

use super::custody::Disposition;
use super::party::Slug;
use super::statement::{EventStatement, EventType};
use super::time::Timestamp;

/// Whether a unit in this state is a consumer's: sold at retail, or brought
/// back to the counter and not yet taken back into the shop's stock.
pub fn is_sold(d: Disposition) -> bool {
    matches!(d, Disposition::RetailSold | Disposition::Returned)
}

/// Whether the buyer may ask for a return or exchange: a label that verifies,
/// of a unit that is sold and not already brought back.
pub fn returnable(signature_ok: bool, d: Option<Disposition>) -> bool {
    signature_ok && d == Some(Disposition::RetailSold)
}

/// The party that signed the unit's last retail sale, from its custody
/// history (event type and signer, oldest first).
pub fn seller(custody: &[(EventType, Slug)]) -> Option<&Slug> {
    custody
        .iter()
        .rev()
        .find(|(t, _)| *t == EventType::RetailSelling)
        .map(|(_, p)| p)
}

/// Where a unit stands with its retail sale.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Sale {
    /// Never sold at retail.
    #[default]
    NotSold,
    /// Sold, and not taken back since: its last sale.
    Sold {
        /// When.
        time: Timestamp,
        /// The shop that signed the sale.
        seller: Slug,
        /// Where, as the shop signed it.
        place: Option<String>,
    },
    /// Sold, then taken back by the shop: no longer anyone's purchase.
    Returned {
        /// When it was last sold.
        sold: Timestamp,
        /// When the buyer brought it back (failing a record of that, when
        /// the shop next did anything with it).
        time: Timestamp,
    },
}

impl Sale {
    /// When the unit was last sold, whether or not it was taken back since.
    pub fn last_sold(&self) -> Option<Timestamp> {
        match self {
            Sale::NotSold => None,
            Sale::Sold { time, .. } => Some(*time),
            Sale::Returned { sold, .. } => Some(*sold),
        }
    }
}

/// Where the sale of a unit stands, from its events (oldest first) and its
/// state now. A sale ends when the shop accepts the buyer's return (whatever
/// it then does with the unit: restock, quarantine, destroy) or when the unit
/// otherwise leaves the sold states; a later sale starts a new one.
pub fn sale(events: &[EventStatement], disposition: Option<Disposition>) -> Sale {
    let Some(at) = events
        .iter()
        .rposition(|e| e.event_type == EventType::RetailSelling)
    else {
        return Sale::NotSold;
    };
    let last = &events[at];
    let after = &events[at + 1..];
    // An acceptance that names no shipment takes back what a buyer returned
    // at the counter; one that names a shipment receives stock sent upstream.
    let taken_back = after
        .iter()
        .any(|e| e.event_type == EventType::AcceptingReturn && e.shipment.is_none());
    if !taken_back && disposition.is_none_or(is_sold) {
        return Sale::Sold {
            time: last.time,
            seller: last.party.clone(),
            place: last.place.clone(),
        };
    }
    let brought_back = after
        .iter()
        .find(|e| e.event_type == EventType::Returning && e.to.is_none())
        .or_else(|| after.first());
    Sale::Returned {
        sold: last.time,
        time: brought_back.map_or(last.time, |e| e.time),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::statement::{Resolution, StatementId};
    use Disposition as D;

    fn ev(t: EventType, party: &str, at: &str) -> EventStatement {
        EventStatement::new(
            Slug::parse(party).unwrap(),
            "k".into(),
            Timestamp::parse(at).unwrap(),
            t,
            Vec::new(),
        )
    }

    #[test]
    fn sold_means_the_consumer_has_it() {
        for d in [
            D::Active,
            D::InTransit,
            D::SellableNotAccessible,
            D::RetailSold,
            D::Returned,
            D::Destroyed,
        ] {
            assert_eq!(
                is_sold(d),
                matches!(d, D::RetailSold | D::Returned),
                "{d:?}"
            );
            assert_eq!(returnable(true, Some(d)), d == D::RetailSold, "{d:?}");
            assert!(!returnable(false, Some(d)));
        }
        assert!(!returnable(true, None));
    }

    #[test]
    fn the_seller_is_the_last_to_sell() {
        let s = |x: &str| Slug::parse(x).unwrap();
        let custody = vec![
            (EventType::Receiving, s("shop-a")),
            (EventType::RetailSelling, s("shop-a")),
            (EventType::AcceptingReturn, s("shop-a")),
            (EventType::Shipping, s("shop-a")),
            (EventType::Receiving, s("shop-b")),
            (EventType::RetailSelling, s("shop-b")),
            (EventType::Inspecting, s("city-qa")),
        ];
        assert_eq!(seller(&custody), Some(&s("shop-b")));
        assert_eq!(seller(&custody[..1]), None);
    }

    #[test]
    fn a_sale_lasts_until_the_shop_takes_the_unit_back() {
        let received = ev(EventType::Receiving, "corner-shop", "2026-10-05T08:00:00Z");
        let mut sold = ev(
            EventType::RetailSelling,
            "corner-shop",
            "2026-10-06T09:00:00Z",
        );
        sold.place = Some("Chaoyang".into());
        let brought = ev(EventType::Returning, "corner-shop", "2026-10-07T10:00:00Z");
        let mut accepted = ev(
            EventType::AcceptingReturn,
            "corner-shop",
            "2026-10-08T11:00:00Z",
        );
        accepted.resolution = Some(Resolution::Restock);

        assert_eq!(sale(&[], None), Sale::NotSold);
        assert_eq!(
            sale(std::slice::from_ref(&received), Some(D::Active)),
            Sale::NotSold
        );
        assert_eq!(Sale::NotSold.last_sold(), None);
        let sold_now = Sale::Sold {
            time: sold.time,
            seller: sold.party.clone(),
            place: Some("Chaoyang".into()),
        };
        let mut history = vec![received.clone(), sold.clone()];
        assert_eq!(sale(&history, Some(D::RetailSold)), sold_now);
        assert_eq!(sold_now.last_sold(), Some(sold.time));
        // Brought back to the counter: still the buyer's until the shop accepts it.
        history.push(brought.clone());
        assert_eq!(sale(&history, Some(D::Returned)), sold_now);
        history.push(accepted.clone());
        let returned = Sale::Returned {
            sold: sold.time,
            time: brought.time,
        };
        // Restocked, destroyed, or quarantined (which stays `returned`).
        for d in [D::Active, D::Destroyed, D::Returned] {
            assert_eq!(sale(&history, Some(d)), returned, "{d:?}");
        }
        assert_eq!(returned.last_sold(), Some(sold.time));
        // Without the counter return on record, the acceptance dates it.
        let short = vec![received.clone(), sold.clone(), accepted.clone()];
        assert_eq!(
            sale(&short, Some(D::Active)),
            Sale::Returned {
                sold: sold.time,
                time: accepted.time
            }
        );
        // Sent back upstream without an acceptance at the counter: no longer sold either.
        let mut upstream = brought.clone();
        upstream.to = Some(Slug::parse("north-wholesale").unwrap());
        let shipped = vec![received.clone(), sold.clone(), upstream.clone()];
        assert_eq!(
            sale(&shipped, Some(D::InTransit)),
            Sale::Returned {
                sold: sold.time,
                time: upstream.time
            }
        );
        // An acceptance of a shipment is a receipt upstream, not a counter return.
        let mut receipt = accepted.clone();
        receipt.shipment = Some(StatementId::parse(&"07".repeat(32)).unwrap());
        let odd = vec![received.clone(), sold.clone(), receipt];
        assert_eq!(sale(&odd, Some(D::RetailSold)), sold_now);
        // Sold again: the new sale is the one that counts.
        let again = ev(
            EventType::RetailSelling,
            "corner-shop",
            "2026-10-09T12:00:00Z",
        );
        history.push(again.clone());
        assert_eq!(
            sale(&history, Some(D::RetailSold)),
            Sale::Sold {
                time: again.time,
                seller: again.party.clone(),
                place: None,
            }
        );
    }
}
