//! The scan log, its salts and secrets, and consumer feedback.

use suyuan::domain::feedback::{Category, Feedback, FeedbackKind, NewFeedback};
use suyuan::domain::party::{PartyKind, Slug};
use suyuan::domain::scanlog::{ScanRecord, ScanStats};
use suyuan::domain::time::Timestamp;
use suyuan::store::{FeedbackTally, FeedbackToday};

use crate::fixtures::*;
use crate::Db;

const UNIT: &str = "01/06901234567892/10/L1/21/";

fn scan(unit: &str, time: i64, day: i64, scanner: u32) -> ScanRecord {
    ScanRecord {
        unit: unit.to_owned(),
        time,
        day,
        scanner: format!("{scanner:032x}"),
    }
}

fn stats(count: u64, first: Option<i64>, per_day_since: &[u32]) -> ScanStats {
    ScanStats {
        count,
        first,
        per_day_since: per_day_since.to_vec(),
    }
}

pub async fn scans_and_stats(db: Db) {
    let store = db.open().await;
    let (u1, u2) = (format!("{UNIT}1"), format!("{UNIT}2"));
    assert_eq!(
        store.scan_stats(&u1, None).await.unwrap(),
        ScanStats::default()
    );

    store.record_scan(&scan(&u1, 1_000, 0, 1)).await.unwrap();
    assert_eq!(
        store.scan_stats(&u1, Some(0)).await.unwrap(),
        stats(1, Some(1_000), &[1])
    );
    // A group answers each scan with its unit's statistics, its own scan counted.
    let got = store
        .record_scans(&[
            (scan(&u1, 1_100, 0, 2), Some(1_050)),
            (scan(&u2, 1_200, 0, 1), None),
            (scan(&u2, 90_000, 1, 1), Some(0)),
        ])
        .await
        .unwrap();
    // Since 1050: one scanner on day 0 (the other scanned before).
    assert_eq!(got[0], stats(2, Some(1_000), &[1]));
    // Nothing is "since" no time. A unit named twice in one group counts its
    // own scan in each answer and both by the last one (whether the first
    // answer also counts the second scan differs between stores).
    assert!((1..=2).contains(&got[1].count), "{:?}", got[1]);
    assert_eq!((got[1].first, got[1].per_day_since.len()), (Some(1_200), 0));
    assert_eq!(got[2], stats(2, Some(1_200), &[1, 1]));
    assert_eq!(got[2], store.scan_stats(&u2, Some(0)).await.unwrap());
    // Statistics read afterwards agree, for any starting time.
    let more = (0..6).map(|i| (scan(&u1, 2_000 + i, 0, 3 + (i % 3) as u32), None));
    let more: Vec<_> = more.collect();
    store.record_scans(&more).await.unwrap();
    assert_eq!(
        store.scan_stats(&u1, Some(1_050)).await.unwrap(),
        stats(8, Some(1_000), &[4])
    );
    assert_eq!(
        store.scan_stats(&u1, None).await.unwrap(),
        stats(8, Some(1_000), &[])
    );
    assert_eq!(
        store.scan_stats(&u1, Some(3_000)).await.unwrap(),
        stats(8, Some(1_000), &[])
    );
    assert!(store.record_scans(&[]).await.unwrap().is_empty());

    // Scans by unit prefix, oldest first: `%` and `_` match themselves only.
    let odd = [
        "01/06901234567892/10/L_1/21/1",
        "01/06901234567892/10/LX1/21/1",
        "01/06901234567892/10/L%251/21/1",
        "01/06901234567892/10/L%2511/21/1",
        "01/06901234567892/10/%E6%89%B9/21/1",
    ];
    for (i, u) in odd.iter().enumerate() {
        store
            .record_scan(&scan(u, 5_000 - i as i64, 0, 9))
            .await
            .unwrap();
    }
    let units = |prefix: &'static str| {
        let store = store.clone();
        async move {
            store
                .scans_with_prefix(prefix)
                .await
                .unwrap()
                .into_iter()
                .map(|s| {
                    assert_eq!((s.day, s.scanner), (0, format!("{:032x}", 9)));
                    (s.unit, s.time)
                })
                .collect::<Vec<_>>()
        }
    };
    let own = |i: usize| (odd[i].to_owned(), 5_000 - i as i64);
    assert_eq!(units("01/06901234567892/10/L_1/").await, [own(0)]);
    assert_eq!(units("01/06901234567892/10/L%251").await, [own(3), own(2)]);
    assert_eq!(units("01/06901234567892/10/L%251/").await, [own(2)]);
    assert_eq!(units("01/06901234567892/10/%E6%89%B9/").await, [own(4)]);
    let all = store.scans_with_prefix(UNIT).await.unwrap();
    assert_eq!(all.len(), 10);
    let times: Vec<i64> = all.iter().map(|s| s.time).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "oldest first");
    assert!(units("02/").await.is_empty());
}

pub async fn salts_and_secrets(db: Db) {
    let store = db.open().await;
    // The first candidate of a day is the day's salt, whoever asks later.
    assert_eq!(store.day_salt(10, "a").await.unwrap(), "a");
    assert_eq!(store.day_salt(10, "b").await.unwrap(), "a");
    // A new day's salt deletes the old ones.
    assert_eq!(store.day_salt(11, "c").await.unwrap(), "c");
    assert_eq!(store.day_salt(10, "d").await.unwrap(), "d");
    assert_eq!(store.day_salt(11, "e").await.unwrap(), "c");
    assert_eq!(store.day_salt(12, "f").await.unwrap(), "f");
    assert_eq!(store.day_salt(11, "g").await.unwrap(), "g");

    assert_eq!(store.server_secret("form", "v1").await.unwrap(), "v1");
    assert_eq!(store.server_secret("form", "v2").await.unwrap(), "v1");
    assert_eq!(store.server_secret("other", "w").await.unwrap(), "w");
    // Another server process on the same database agrees.
    let again = db.open().await;
    assert_eq!(again.server_secret("form", "v3").await.unwrap(), "v1");
}

fn new_feedback(
    scanner: &str,
    kind: FeedbackKind,
    category: Option<Category>,
    time: i64,
) -> NewFeedback {
    NewFeedback {
        unit: format!("{UNIT}7"),
        batch: Some("ab".repeat(32)),
        unit_index: Some(7),
        time,
        day: 20_000,
        scanner: scanner.into(),
        kind,
        rating: if category.is_none() { Some(5) } else { None },
        category,
        comment: "&lt;good&gt; 好".into(),
        contact: if kind == FeedbackKind::Return {
            Some("138 0000".into())
        } else {
            None
        },
        signature_ok: kind != FeedbackKind::Exchange,
    }
}

fn as_read(id: i64, fb: &NewFeedback) -> Feedback {
    Feedback {
        id,
        unit: fb.unit.clone(),
        batch: fb.batch.clone(),
        unit_index: fb.unit_index,
        time: Timestamp::from_unix(fb.time).to_string(),
        kind: fb.kind.as_str().into(),
        rating: fb.rating,
        category: fb.category.map(|c| c.as_str().to_owned()),
        comment: fb.comment.clone(),
        contact: fb.contact.clone(),
        signature_ok: fb.signature_ok,
    }
}

pub async fn feedback(db: Db) {
    let store = db.open().await;
    let factory = Actor::new("acme-foods", PartyKind::Factory, 1);
    let b1 = Actor::new("north-b1", PartyKind::B1, 2);
    for a in [&factory, &b1] {
        a.register(&store).await;
    }
    let f1 = new_feedback("s1", FeedbackKind::Feedback, None, 1_800_000_000);
    let f2 = new_feedback(
        "s1",
        FeedbackKind::Return,
        Some(Category::Quality),
        1_800_000_100,
    );
    let f3 = new_feedback(
        "s2",
        FeedbackKind::Feedback,
        Some(Category::Packaging),
        1_800_000_200,
    );
    let mut f4 = new_feedback("s1", FeedbackKind::Exchange, None, 1_800_090_000);
    f4.day = 20_001;
    f4.batch = None;
    f4.unit_index = None;
    let both = [factory.slug.clone(), b1.slug.clone()];
    let id1 = store.add_feedback(&f1, &both).await.unwrap();
    let id2 = store.add_feedback(&f2, &both[..1]).await.unwrap();
    let id3 = store.add_feedback(&f3, &both[1..]).await.unwrap();
    let id4 = store.add_feedback(&f4, &both).await.unwrap();
    assert!(
        id1 < id2 && id2 < id3 && id3 < id4,
        "{id1} {id2} {id3} {id4}"
    );

    // Each party reads what it was given, newest first, as stored.
    assert_eq!(
        store.feedback_for_party(&factory.slug, 10).await.unwrap(),
        [as_read(id4, &f4), as_read(id2, &f2), as_read(id1, &f1)]
    );
    assert_eq!(
        store.feedback_for_party(&b1.slug, 2).await.unwrap(),
        [as_read(id4, &f4), as_read(id3, &f3)]
    );
    let nobody = Slug::parse("nobody-here").unwrap();
    assert!(store
        .feedback_for_party(&nobody, 10)
        .await
        .unwrap()
        .is_empty());

    // Per unit and day: (from this scanner, from anyone).
    let unit = f1.unit.as_str();
    assert_eq!(
        store.feedback_count(unit, 20_000, "s1").await.unwrap(),
        FeedbackToday { mine: 2, all: 3 }
    );
    assert_eq!(
        store.feedback_count(unit, 20_000, "s2").await.unwrap(),
        FeedbackToday { mine: 1, all: 3 }
    );
    assert_eq!(
        store.feedback_count(unit, 20_000, "s9").await.unwrap(),
        FeedbackToday { mine: 0, all: 3 }
    );
    assert_eq!(
        store.feedback_count(unit, 20_001, "s1").await.unwrap(),
        FeedbackToday { mine: 1, all: 1 }
    );
    assert_eq!(
        store.feedback_count("other", 20_000, "s1").await.unwrap(),
        FeedbackToday { mine: 0, all: 0 }
    );

    // Per batch: (kind, category, how many), no category first.
    let tally = |kind: &str, category: Option<&str>, count| FeedbackTally {
        kind: kind.into(),
        category: category.map(Into::into),
        count,
    };
    let f5 = new_feedback("s3", FeedbackKind::Feedback, None, 1_800_000_300);
    store.add_feedback(&f5, &both).await.unwrap();
    assert_eq!(
        store.feedback_counts(&bid(&"ab".repeat(32))).await.unwrap(),
        [
            tally("feedback", None, 2),
            tally("feedback", Some("packaging"), 1),
            tally("return", Some("quality"), 1),
        ]
    );
    assert!(store
        .feedback_counts(&bid(&"cd".repeat(32)))
        .await
        .unwrap()
        .is_empty());
}
