//! A unit at and after its retail sale: when it counts as sold, whether its
//! buyer may ask for a return, and who sold it. No I/O.

use super::custody::Disposition;
use super::party::Slug;
use super::statement::EventType;

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

#[cfg(test)]
mod tests {
    use super::*;
    use Disposition as D;

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
}
