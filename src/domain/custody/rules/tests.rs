//! Inspection fields and damaged-range cuts.

use super::*;
use crate::domain::party::Slug;
use crate::domain::time::Timestamp;

fn inspecting() -> EventStatement {
    let batch = BatchId([1; 32]);
    EventStatement {
        prev: [(batch, batch)].into_iter().collect(),
        result: Some("pass".into()),
        method: Some("GB 4789.4-2016".into()),
        certificate_sha256: Some("ab".repeat(32)),
        ..EventStatement::new(
            Slug::parse("county-qa").unwrap(),
            "k".into(),
            Timestamp::from_unix(0),
            EventType::Inspecting,
            vec![UnitRange {
                batch,
                first: 0,
                last: 9,
            }],
        )
    }
}

fn field_of(e: CustodyError) -> &'static str {
    match e {
        CustodyError::BadField { field, .. } => field,
        CustodyError::Missing { field, .. } | CustodyError::Unexpected { field, .. } => field,
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn inspections_need_a_result_and_well_formed_new_fields() {
    assert_eq!(check_shape(&inspecting()), Ok(()));
    // Signed before method and certificate existed: still valid.
    let mut old = inspecting();
    old.method = None;
    old.certificate_sha256 = None;
    assert_eq!(check_shape(&old), Ok(()));
    for (edit, field) in [
        (
            (|e: &mut EventStatement| e.certificate_sha256 = Some("AB".repeat(32)))
                as fn(&mut EventStatement),
            "certificate_sha256",
        ),
        (
            |e| e.certificate_sha256 = Some("ab".repeat(31)),
            "certificate_sha256",
        ),
        (
            |e| e.certificate_sha256 = Some("zz".repeat(32)),
            "certificate_sha256",
        ),
        (|e| e.method = Some("  ".into()), "method"),
        (|e| e.result = Some(String::new()), "result"),
        (|e| e.result = None, "result"),
    ] {
        let mut ev = inspecting();
        edit(&mut ev);
        let err = check_shape(&ev).unwrap_err();
        let text = err.to_string();
        assert_eq!(field_of(err), field, "{text}");
        assert!(text.contains(field), "{text}");
    }
    let mut ship = inspecting();
    ship.event_type = EventType::Shipping;
    ship.to = Some(Slug::parse("b1").unwrap());
    ship.result = None;
    assert_eq!(field_of(check_shape(&ship).unwrap_err()), "method");
}

#[test]
fn damaged_ranges_cut_a_received_piece_at_their_edges() {
    let batch = BatchId([1; 32]);
    let other = BatchId([2; 32]);
    let mut ev = inspecting();
    ev.event_type = EventType::Receiving;
    let damaged = |b, first, last| crate::domain::statement::Exception {
        kind: ExceptionType::Damaged,
        objects: vec![UnitRange {
            batch: b,
            first,
            last,
        }],
        note: None,
    };
    ev.exceptions = vec![
        damaged(batch, 5, 7),
        damaged(batch, 20, 30),
        damaged(other, 1, 2),
    ];
    assert_eq!(
        damage_cuts(&ev, batch, 0, 23),
        vec![(0, 4), (5, 7), (8, 19), (20, 23)]
    );
    assert_eq!(damage_cuts(&ev, batch, 5, 7), vec![(5, 7)]);
    assert_eq!(damage_cuts(&ev, other, 0, 9), vec![(0, 0), (1, 2), (3, 9)]);
    ev.event_type = EventType::Shipping;
    assert_eq!(damage_cuts(&ev, batch, 0, 23), vec![(0, 23)]);
}
