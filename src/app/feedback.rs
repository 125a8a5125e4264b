//! Consumer feedback from the scan page: take a submission about a unit, or
//! refuse it with the reason; list what a party may read.

use std::net::IpAddr;

use super::ledger::Ledger;
use crate::domain::feedback::{
    self, Feedback, FeedbackError, FeedbackKind, NewFeedback, RawFeedback,
};
use crate::domain::party::Slug;
use crate::domain::sale;
use crate::domain::statement::EventType;
use crate::domain::time::Timestamp;
use crate::formats::gs1::Key;
use crate::store::StoreError;

/// A submission from the page's form, whose form token the caller checked.
#[derive(Debug, Clone)]
pub struct FeedbackRequest<'a> {
    /// The unit's label.
    pub key: &'a Key,
    /// The label signature the page was opened with.
    pub sig: Option<&'a str>,
    /// The form fields.
    pub form: RawFeedback<'a>,
    /// The client's address, for the device hash only.
    pub ip: Option<IpAddr>,
    /// The client's user agent, for the device hash only.
    pub agent: &'a str,
    /// Unix seconds it was received.
    pub now: i64,
}

/// A submission that was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackSent {
    /// What it was.
    pub kind: FeedbackKind,
    /// The comment as typed (trimmed), to show back.
    pub comment: String,
}

/// Why a submission was not stored.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackRefused {
    /// The fields are not a valid submission.
    #[error(transparent)]
    Invalid(#[from] FeedbackError),
    /// A return or exchange of a unit that is not the consumer's to return.
    #[error("only a unit sold to a consumer, with a verified label, can be returned or exchanged")]
    NotReturnable,
    /// Over the day's limits for the unit.
    #[error("too many submissions about this unit today")]
    TooMany,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Ledger {
    /// Takes a consumer's feedback or return request about a unit: validated,
    /// allowed for the unit's state, within the day's limits, and addressed to
    /// the parties that may read it (see [`feedback::recipients`]).
    pub async fn send_feedback(
        &self,
        req: FeedbackRequest<'_>,
    ) -> Result<FeedbackSent, FeedbackRefused> {
        let valid = feedback::validate(&req.form)?;
        let today = Timestamp::now().date();
        let report = self.scan(req.key, req.sig, today).await?;
        let custody: Vec<(EventType, Slug)> = report
            .events
            .iter()
            .map(|e| (e.event_type, e.party.clone()))
            .collect();
        let seller = sale::seller(&custody).cloned();
        let returnable = sale::returnable(
            report.signature_ok,
            report.holding.as_ref().map(|h| h.disposition),
        );
        if !feedback::may_send(valid.kind, returnable, seller.as_ref()) {
            return Err(FeedbackRefused::NotReturnable);
        }
        let scanner = self.scanner(req.ip, req.agent).await?;
        let crate::store::FeedbackToday { mine, all } = self
            .store
            .feedback_count(&report.path, scanner.day, &scanner.hash)
            .await?;
        if !feedback::within_daily_limits(mine, all) {
            return Err(FeedbackRefused::TooMany);
        }
        let recipients = match &report.batch {
            Some(b) => feedback::recipients(valid.kind, &b.record.party, &custody, seller.as_ref()),
            None => Vec::new(),
        };
        let fb = NewFeedback {
            unit: report.path.clone(),
            batch: report.batch.as_ref().map(|b| b.id.clone()),
            unit_index: report.unit_index,
            time: req.now,
            day: scanner.day,
            scanner: scanner.hash,
            kind: valid.kind,
            rating: valid.rating,
            category: valid.category,
            comment: feedback::escape_html(&valid.comment),
            contact: valid.contact.as_deref().map(feedback::escape_html),
            signature_ok: report.signature_ok,
        };
        self.store.add_feedback(&fb, &recipients).await?;
        Ok(FeedbackSent {
            kind: valid.kind,
            comment: valid.comment,
        })
    }

    /// The newest `limit` submissions a party may read.
    pub async fn feedback_for(
        &self,
        party: &Slug,
        limit: i64,
    ) -> Result<Vec<Feedback>, StoreError> {
        self.store.feedback_for_party(party, limit).await
    }

    /// The key of the scan page's form tokens: made once by whichever server
    /// asks first and shared by all through the store.
    pub async fn form_key(&self) -> Result<&[u8], StoreError> {
        let key = self
            .form_key
            .get_or_try_init(|| async {
                let candidate = hex::encode(rand::random::<[u8; 32]>());
                let stored = self
                    .store
                    .server_secret("feedback-form", &candidate)
                    .await?;
                Ok::<_, StoreError>(stored.into_bytes())
            })
            .await?;
        Ok(key)
    }
}
