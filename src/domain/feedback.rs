//! Consumer feedback, problem reports and return/exchange requests: what a
//! valid submission is, how its text is stored, and who upstream may read it.
//! No I/O.

use serde::Serialize;

use super::party::Slug;
use super::statement::EventType;

/// Longest comment accepted, in characters.
pub const MAX_COMMENT: usize = 2000;
/// Longest contact (phone or e-mail) accepted, in characters.
pub const MAX_CONTACT: usize = 100;
/// Submissions about one unit from one device in one day.
pub const PER_DEVICE_DAY: i64 = 5;
/// Submissions about one unit from everyone in one day.
pub const PER_UNIT_DAY: i64 = 100;

/// What the consumer is sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackKind {
    /// A rating and/or comment, or a problem report.
    Feedback,
    /// A request to return the unit (to the selling shop).
    Return,
    /// A request to exchange the unit (at the selling shop).
    Exchange,
}

impl FeedbackKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Feedback => "feedback",
            FeedbackKind::Return => "return",
            FeedbackKind::Exchange => "exchange",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "feedback" => Some(FeedbackKind::Feedback),
            "return" => Some(FeedbackKind::Return),
            "exchange" => Some(FeedbackKind::Exchange),
            _ => None,
        }
    }
}

/// The problem categories a consumer can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Taste, texture, contents.
    Quality,
    /// Damaged or opened packaging.
    Packaging,
    /// The consumer thinks it is fake.
    SuspectedCounterfeit,
    /// Illness or allergy after use.
    AdverseReaction,
    /// Anything else.
    Other,
}

impl Category {
    /// Every category, in form order.
    pub const ALL: [Category; 5] = [
        Category::Quality,
        Category::Packaging,
        Category::SuspectedCounterfeit,
        Category::AdverseReaction,
        Category::Other,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Quality => "quality",
            Category::Packaging => "packaging",
            Category::SuspectedCounterfeit => "suspected_counterfeit",
            Category::AdverseReaction => "adverse_reaction",
            Category::Other => "other",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(s: &str) -> Option<Self> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Why a submission is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedbackError {
    /// Unknown `kind`.
    #[error("unknown request kind")]
    Kind,
    /// Rating outside 1–5 or not a number.
    #[error("rating must be a whole number from 1 to 5")]
    Rating,
    /// Unknown problem category.
    #[error("unknown problem category")]
    Category,
    /// Comment over [`MAX_COMMENT`].
    #[error("comment is longer than {MAX_COMMENT} characters")]
    CommentTooLong,
    /// Contact over [`MAX_CONTACT`].
    #[error("contact is longer than {MAX_CONTACT} characters")]
    ContactTooLong,
    /// Nothing to send: no rating, no category, no comment.
    #[error("give a rating, choose a problem or write a comment")]
    Empty,
    /// Control characters other than newline and tab.
    #[error("text contains control characters")]
    Control,
}

/// The form fields as submitted (all optional text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawFeedback<'a> {
    /// `feedback`, `return` or `exchange` (default `feedback`).
    pub kind: Option<&'a str>,
    /// "1".."5".
    pub rating: Option<&'a str>,
    /// A [`Category`] name.
    pub category: Option<&'a str>,
    /// Free text.
    pub comment: Option<&'a str>,
    /// Optional phone or e-mail.
    pub contact: Option<&'a str>,
}

/// A submission that passed validation; text is still as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidFeedback {
    /// What it is.
    pub kind: FeedbackKind,
    /// 1–5.
    pub rating: Option<u8>,
    /// Problem reported.
    pub category: Option<Category>,
    /// Comment, trimmed.
    pub comment: String,
    /// Contact, trimmed.
    pub contact: Option<String>,
}

fn text(s: Option<&str>, max: usize, too_long: FeedbackError) -> Result<String, FeedbackError> {
    // Browsers send CRLF for textarea newlines; keep one form.
    let t = s.unwrap_or("").trim().replace("\r\n", "\n");
    if t.chars().count() > max {
        return Err(too_long);
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(FeedbackError::Control);
    }
    Ok(t)
}

fn present(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Checks a submission. Empty fields count as absent (HTML forms send them empty).
pub fn validate(raw: &RawFeedback) -> Result<ValidFeedback, FeedbackError> {
    let kind = match present(raw.kind) {
        None => FeedbackKind::Feedback,
        Some(k) => FeedbackKind::parse(k).ok_or(FeedbackError::Kind)?,
    };
    let rating = match present(raw.rating) {
        None => None,
        Some(r) => match r.parse::<u8>() {
            Ok(n @ 1..=5) => Some(n),
            _ => return Err(FeedbackError::Rating),
        },
    };
    let category = match present(raw.category) {
        None => None,
        Some(c) => Some(Category::parse(c).ok_or(FeedbackError::Category)?),
    };
    let comment = text(raw.comment, MAX_COMMENT, FeedbackError::CommentTooLong)?;
    let contact = text(raw.contact, MAX_CONTACT, FeedbackError::ContactTooLong)?;
    let contact = (!contact.is_empty()).then_some(contact);
    if kind == FeedbackKind::Feedback
        && rating.is_none()
        && category.is_none()
        && comment.is_empty()
    {
        return Err(FeedbackError::Empty);
    }
    Ok(ValidFeedback {
        kind,
        rating,
        category,
        comment,
        contact,
    })
}

/// HTML-escapes text for storage, so that whatever dashboard shows it later
/// (a party's own tools read it through the API) cannot be scripted by it.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Who may read a submission about a unit.
///
/// Feedback goes to the factory and to every party that held the unit on its
/// way (shippers, receivers, the seller), the seed's "B2 collects feedback and
/// forwards it upstream"; inspectors and recall notices do not make a party a
/// holder. A return or exchange request goes to the shop that sold the unit
/// only, and there is none if it was never sold.
pub fn recipients(
    kind: FeedbackKind,
    factory: &Slug,
    custody: &[(EventType, Slug)],
    seller: Option<&Slug>,
) -> Vec<Slug> {
    if kind != FeedbackKind::Feedback {
        return seller.cloned().into_iter().collect();
    }
    let mut out = vec![factory.clone()];
    for (t, p) in custody {
        let holder = !matches!(t, EventType::Inspecting | EventType::Recalling);
        if holder && !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

/// Whether one more submission about a unit is taken, given how many came
/// today from this device (`mine`) and from everyone (`all`): a flood from
/// one phone, or from many, must not bury the others.
pub fn within_daily_limits(mine: i64, all: i64) -> bool {
    mine < PER_DEVICE_DAY && all < PER_UNIT_DAY
}

/// Whether a submission of this kind may be sent about the unit: feedback
/// always, a return or exchange request only for a returnable unit (see
/// [`super::sale::returnable`]) that a shop sold.
pub fn may_send(kind: FeedbackKind, returnable: bool, seller: Option<&Slug>) -> bool {
    kind == FeedbackKind::Feedback || (returnable && seller.is_some())
}

/// Feedback as a party reads it (no device hash, text as stored: HTML-escaped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feedback {
    /// Row id.
    pub id: i64,
    /// Canonical Digital Link path of the unit.
    pub unit: String,
    /// Batch id, when the lot is on record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    /// Unit index in the batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_index: Option<u64>,
    /// RFC 3339 time received.
    pub time: String,
    /// feedback, return or exchange.
    pub kind: String,
    /// 1–5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
    /// Problem category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Comment, HTML-escaped.
    pub comment: String,
    /// Contact the consumer chose to give, HTML-escaped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// Whether the label signature verified when it was sent.
    pub signature_ok: bool,
}

/// A submission to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFeedback {
    /// Canonical Digital Link path of the unit.
    pub unit: String,
    /// Batch id, when the lot is on record.
    pub batch: Option<String>,
    /// Unit index in the batch.
    pub unit_index: Option<u64>,
    /// Unix seconds.
    pub time: i64,
    /// Unix day of the scanner hash's salt.
    pub day: i64,
    /// Salted device hash, for flood limits only.
    pub scanner: String,
    /// What it is.
    pub kind: FeedbackKind,
    /// 1–5.
    pub rating: Option<u8>,
    /// Problem category.
    pub category: Option<Category>,
    /// Comment, HTML-escaped.
    pub comment: String,
    /// Contact, HTML-escaped.
    pub contact: Option<String>,
    /// Whether the label signature verified.
    pub signature_ok: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Slug {
        Slug::parse(x).unwrap()
    }

    #[test]
    fn validation() {
        let ok = validate(&RawFeedback {
            rating: Some("5"),
            comment: Some("  good\r\nmilk "),
            contact: Some(""),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.rating, Some(5));
        assert_eq!(ok.comment, "good\nmilk");
        assert_eq!(ok.contact, None);
        assert_eq!(ok.kind, FeedbackKind::Feedback);
        for bad in ["0", "6", "x", "-1", "3.5"] {
            let r = RawFeedback {
                rating: Some(bad),
                ..Default::default()
            };
            assert_eq!(validate(&r), Err(FeedbackError::Rating), "{bad}");
        }
        assert_eq!(validate(&RawFeedback::default()), Err(FeedbackError::Empty));
        let long = "字".repeat(MAX_COMMENT + 1);
        let r = RawFeedback {
            comment: Some(&long),
            ..Default::default()
        };
        assert_eq!(validate(&r), Err(FeedbackError::CommentTooLong));
        let r = RawFeedback {
            category: Some("nonsense"),
            ..Default::default()
        };
        assert_eq!(validate(&r), Err(FeedbackError::Category));
        let r = RawFeedback {
            comment: Some("a\u{0}b"),
            ..Default::default()
        };
        assert_eq!(validate(&r), Err(FeedbackError::Control));
        let r = RawFeedback {
            kind: Some("return"),
            ..Default::default()
        };
        assert_eq!(validate(&r).unwrap().kind, FeedbackKind::Return);
        let r = RawFeedback {
            kind: Some("steal"),
            ..Default::default()
        };
        assert_eq!(validate(&r), Err(FeedbackError::Kind));
        let r = RawFeedback {
            category: Some("adverse_reaction"),
            ..Default::default()
        };
        assert_eq!(
            validate(&r).unwrap().category,
            Some(Category::AdverseReaction)
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape_html("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(escape_html("奶粉很好"), "奶粉很好");
    }

    #[test]
    fn floods_are_cut_per_device_and_per_unit() {
        assert!(within_daily_limits(0, 0));
        assert!(within_daily_limits(PER_DEVICE_DAY - 1, PER_UNIT_DAY - 1));
        assert!(!within_daily_limits(PER_DEVICE_DAY, 0));
        assert!(!within_daily_limits(0, PER_UNIT_DAY));
    }

    #[test]
    fn returns_need_a_returnable_unit_and_its_seller() {
        let shop = s("shop-b2");
        for kind in [FeedbackKind::Return, FeedbackKind::Exchange] {
            assert!(may_send(kind, true, Some(&shop)));
            assert!(!may_send(kind, false, Some(&shop)));
            assert!(!may_send(kind, true, None));
        }
        assert!(may_send(FeedbackKind::Feedback, false, None));
    }

    #[test]
    fn feedback_goes_up_the_chain_and_returns_to_the_seller() {
        let custody = vec![
            (EventType::Shipping, s("factory-a")),
            (EventType::Receiving, s("whole-b1")),
            (EventType::Inspecting, s("city-qa")),
            (EventType::Shipping, s("whole-b1")),
            (EventType::Receiving, s("shop-b2")),
            (EventType::RetailSelling, s("shop-b2")),
        ];
        let seller = s("shop-b2");
        let all = recipients(
            FeedbackKind::Feedback,
            &s("factory-a"),
            &custody,
            Some(&seller),
        );
        assert_eq!(all, vec![s("factory-a"), s("whole-b1"), s("shop-b2")]);
        let ret = recipients(
            FeedbackKind::Return,
            &s("factory-a"),
            &custody,
            Some(&seller),
        );
        assert_eq!(ret, vec![s("shop-b2")]);
        assert!(recipients(FeedbackKind::Exchange, &s("factory-a"), &custody, None).is_empty());
    }
}
