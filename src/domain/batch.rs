//! Batch records: the rules a record must meet beyond its field types, the
//! serial printed on each unit, and which parties handled a batch. No I/O.

use super::party::{PartyKind, Slug};
use super::statement::{BatchStatement, EventStatement, MAX_QUANTITY};
use super::time::Date;
use crate::formats::gs1;

/// A batch-record rule the record breaks; the message says which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Only factories mint.
    #[error("only a factory mints batches; {slug} is a {}", .kind.as_str())]
    NotFactory {
        /// The signing party.
        slug: Slug,
        /// What it is instead.
        kind: PartyKind,
    },
    /// Zero units, or more than [`MAX_QUANTITY`].
    #[error("quantity must be 1 to {MAX_QUANTITY}, got {0}")]
    Quantity(u64),
    /// The product has no name.
    #[error("product name is empty")]
    NoProduct,
    /// Expiry before production.
    #[error("expiry {expires} is before production date {produced}")]
    ExpiresFirst {
        /// The expiry date.
        expires: Date,
        /// The production date.
        produced: Date,
    },
    /// With this prefix the longest serial is not a valid AI 21 value.
    #[error("serial_prefix gives serials like \"{longest}\": {why}")]
    SerialPrefix {
        /// The serial of the last unit.
        longest: String,
        /// Why GS1 refuses it.
        why: gs1::Gs1Error,
    },
    /// A certificate hash that is not lowercase hex SHA-256.
    #[error("certificate \"{0}\": sha256 must be 64 lowercase hex digits")]
    Certificate(String),
    /// An input with an empty field.
    #[error("each input needs material, supplier, supplier_lot and origin")]
    Input,
}

/// Checks a batch record signed by `signer`, a party of kind `kind`.
pub fn check(b: &BatchStatement, signer: &Slug, kind: PartyKind) -> Result<(), BatchError> {
    if kind != PartyKind::Factory {
        return Err(BatchError::NotFactory {
            slug: signer.clone(),
            kind,
        });
    }
    if b.quantity == 0 || b.quantity > MAX_QUANTITY {
        return Err(BatchError::Quantity(b.quantity));
    }
    if b.product.trim().is_empty() {
        return Err(BatchError::NoProduct);
    }
    if let Some(e) = b.expires {
        if e < b.produced {
            return Err(BatchError::ExpiresFirst {
                expires: e,
                produced: b.produced,
            });
        }
    }
    // The longest serial must still be a valid AI 21 value.
    let longest = serial_for(b.quantity - 1, b.serial_prefix.as_deref());
    if let Err(why) = gs1::Serial::parse(&longest) {
        return Err(BatchError::SerialPrefix { longest, why });
    }
    for c in &b.certificates {
        let ok = c.sha256.len() == 64
            && c.sha256
                .bytes()
                .all(|x| matches!(x, b'0'..=b'9' | b'a'..=b'f'));
        if !ok {
            return Err(BatchError::Certificate(c.name.clone()));
        }
    }
    for i in &b.inputs {
        if [&i.material, &i.supplier, &i.supplier_lot, &i.origin]
            .iter()
            .any(|s| s.trim().is_empty())
        {
            return Err(BatchError::Input);
        }
    }
    Ok(())
}

/// The serial printed for a unit index: `{prefix}{index}` in base 10.
pub fn serial_for(index: u64, prefix: Option<&str>) -> String {
    format!("{}{index}", prefix.unwrap_or(""))
}

/// Index of a unit from its serial, the inverse of [`serial_for`]: only the
/// canonical spelling (no leading zeros) of an index below `quantity` counts,
/// so one unit has exactly one serial.
pub fn unit_index(serial: &str, prefix: Option<&str>, quantity: u64) -> Option<u64> {
    let digits = serial.strip_prefix(prefix.unwrap_or(""))?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    let index: u64 = digits.parse().ok().filter(|_| canonical)?;
    (index < quantity).then_some(index)
}

/// Whether `party` handled a batch: it is the batch's factory, or signed one
/// of the batch's events, or was named as the receiver of one. Such a party
/// may export the batch and read its report.
pub fn handled_by<'a>(
    party: &Slug,
    factory: &Slug,
    events: impl IntoIterator<Item = &'a EventStatement>,
) -> bool {
    party == factory
        || events
            .into_iter()
            .any(|e| e.party == *party || e.to.as_ref() == Some(party))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::statement::{Certificate, EventType, Input, VERSION};
    use crate::domain::time::Timestamp;

    fn s(x: &str) -> Slug {
        Slug::parse(x).unwrap()
    }

    fn record() -> BatchStatement {
        BatchStatement {
            v: VERSION,
            party: s("acme-dairy"),
            key: "k".into(),
            time: Timestamp::parse("2026-10-01T08:00:00Z").unwrap(),
            gtin: gs1::Gtin::parse("09506000134352").unwrap(),
            product: "婴儿配方奶粉 900g".into(),
            lot: gs1::Lot::parse("L1").unwrap(),
            quantity: 100,
            produced: Date::parse("2026-10-01").unwrap(),
            expires: Some(Date::parse("2028-09-30").unwrap()),
            line: None,
            serial_prefix: None,
            inputs: vec![Input {
                material: "raw milk".into(),
                supplier: "Pasture 3".into(),
                supplier_lot: "P3-1".into(),
                origin: "Hulunbuir".into(),
            }],
            steps: Vec::new(),
            certificates: Vec::new(),
        }
    }

    fn refused(b: &BatchStatement) -> String {
        check(b, &b.party, PartyKind::Factory)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_sound_record_from_a_factory_passes() {
        let b = record();
        assert_eq!(check(&b, &b.party, PartyKind::Factory), Ok(()));
        let e = check(&b, &s("corner-shop"), PartyKind::B2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "only a factory mints batches; corner-shop is a b2"
        );
    }

    #[test]
    fn each_rule_refuses_with_its_message() {
        let mut b = record();
        b.quantity = 0;
        assert_eq!(refused(&b), "quantity must be 1 to 1000000000, got 0");
        b.quantity = MAX_QUANTITY + 1;
        assert!(refused(&b).starts_with("quantity must be 1 to"));
        b.quantity = MAX_QUANTITY;
        assert_eq!(check(&b, &b.party, PartyKind::Factory), Ok(()));

        let mut b = record();
        b.product = "  ".into();
        assert_eq!(refused(&b), "product name is empty");

        let mut b = record();
        b.expires = Some(Date::parse("2026-09-30").unwrap());
        assert_eq!(
            refused(&b),
            "expiry 2026-09-30 is before production date 2026-10-01"
        );
        b.expires = Some(b.produced);
        assert_eq!(check(&b, &b.party, PartyKind::Factory), Ok(()));

        let mut b = record();
        b.serial_prefix = Some("ABCDEFGHIJKLMNOPQRS".into());
        assert!(
            refused(&b).starts_with("serial_prefix gives serials like \"ABCDEFGHIJKLMNOPQRS99\"")
        );
        b.serial_prefix = Some("A B".into());
        assert!(refused(&b).contains("A B99"));
        b.serial_prefix = Some("ABCDEFGHIJKLMNOPQR".into());
        assert_eq!(check(&b, &b.party, PartyKind::Factory), Ok(()));

        let mut b = record();
        b.certificates = vec![Certificate {
            name: "GB 10765".into(),
            sha256: "AB".repeat(32),
        }];
        assert_eq!(
            refused(&b),
            "certificate \"GB 10765\": sha256 must be 64 lowercase hex digits"
        );
        b.certificates[0].sha256 = "ab".repeat(32);
        assert_eq!(check(&b, &b.party, PartyKind::Factory), Ok(()));

        let mut b = record();
        b.inputs[0].origin = String::new();
        assert_eq!(
            refused(&b),
            "each input needs material, supplier, supplier_lot and origin"
        );
    }

    #[test]
    fn serials_map_to_indexes_only_in_canonical_form() {
        assert_eq!(unit_index("0", None, 10), Some(0));
        assert_eq!(unit_index("9", None, 10), Some(9));
        assert_eq!(unit_index("10", None, 10), None);
        assert_eq!(unit_index("07", None, 10), None);
        assert_eq!(unit_index("A7", Some("A"), 10), Some(7));
        assert_eq!(unit_index("7", Some("A"), 10), None);
        assert_eq!(unit_index("", None, 10), None);
        assert_eq!(unit_index("+1", None, 10), None);
        assert_eq!(serial_for(7, Some("A")), "A7");
        assert_eq!(serial_for(0, None), "0");
        for i in [0, 1, 9, 10, 99, 12345] {
            assert_eq!(
                unit_index(&serial_for(i, Some("X-")), Some("X-"), 20_000),
                Some(i)
            );
        }
    }

    #[test]
    fn a_batch_was_handled_by_its_factory_signers_and_receivers() {
        let factory = s("acme-dairy");
        let mut ship = crate::domain::statement::EventStatement {
            to: Some(s("north-wholesale")),
            ..crate::domain::statement::EventStatement::new(
                factory.clone(),
                "k".into(),
                Timestamp::parse("2026-10-02T08:00:00Z").unwrap(),
                EventType::Shipping,
                Vec::new(),
            )
        };
        let none: [&EventStatement; 0] = [];
        assert!(handled_by(&factory, &factory, none));
        assert!(!handled_by(&s("north-wholesale"), &factory, none));
        assert!(handled_by(&s("north-wholesale"), &factory, [&ship]));
        assert!(!handled_by(&s("corner-shop"), &factory, [&ship]));
        ship.party = s("corner-shop");
        ship.to = None;
        assert!(handled_by(&s("corner-shop"), &factory, [&ship]));
        assert!(!handled_by(&s("north-wholesale"), &factory, [&ship]));
    }
}
