//! Custody rules: who may do what to which units, and the holdings that result.
//!
//! Holdings are ranges of unit indexes with one holder and one state. An event
//! splits only the ranges it touches, so a million-unit batch stays a few rows.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::party::{PartyKind, Slug};
use super::statement::{BatchId, StatementId, UnitRange};

pub mod plan;
mod rules;
pub mod spans;

pub use plan::{plan, ContainerChange, Plan, Reads, Refusal, ShipmentFacts};
pub use rules::{batches_of, batches_touched, check_shape, stale_heads};

/// Movement state of held units (CBV dispositions; recall is tracked beside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// In the holder's stock.
    Active,
    /// Shipped, not yet received.
    InTransit,
    /// Held but set aside (received damaged).
    SellableNotAccessible,
    /// Sold to a consumer.
    RetailSold,
    /// Returned by a consumer or quarantined.
    Returned,
    /// Destroyed.
    Destroyed,
}

impl Disposition {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Active => "active",
            Disposition::InTransit => "in_transit",
            Disposition::SellableNotAccessible => "sellable_not_accessible",
            Disposition::RetailSold => "retail_sold",
            Disposition::Returned => "returned",
            Disposition::Destroyed => "destroyed",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "active" => Disposition::Active,
            "in_transit" => Disposition::InTransit,
            "sellable_not_accessible" => Disposition::SellableNotAccessible,
            "retail_sold" => Disposition::RetailSold,
            "returned" => Disposition::Returned,
            "destroyed" => Disposition::Destroyed,
            _ => return None,
        })
    }
}

/// A run of units with one holder and one state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    /// Batch and indexes.
    #[serde(flatten)]
    pub range: UnitRange,
    /// Who has custody.
    pub holder: Slug,
    /// Movement state.
    pub disposition: Disposition,
    /// The shipping/returning event while in transit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipment: Option<StatementId>,
    /// The named receiver while in transit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest: Option<Slug>,
    /// The recall event, once recalled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recall: Option<StatementId>,
}

impl Holding {
    fn piece(&self, first: u64, last: u64) -> Holding {
        let mut h = self.clone();
        h.range.first = first;
        h.range.last = last;
        h
    }
}

/// What the rules need to know about a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFacts {
    /// The factory that minted it.
    pub party: Slug,
    /// Units minted.
    pub quantity: u64,
}

/// Everything outside the event that the rules consult.
#[derive(Debug)]
pub(crate) struct Context<'a> {
    /// Id of the event being applied.
    pub id: StatementId,
    /// Kind of the signing party.
    pub signer_kind: PartyKind,
    /// Facts about every batch the event touches.
    pub batches: &'a HashMap<BatchId, BatchFacts>,
    /// Whether the `to` party exists.
    pub to_exists: bool,
    /// The event named in `shipment`, if any.
    pub shipment: Option<&'a ShipmentFacts>,
}

/// Why an event breaks a custody rule.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CustodyError {
    /// The event names no units.
    #[error("the event names no units (\"objects\" is empty)")]
    NoObjects,
    /// first > last.
    #[error("range {first}..{last} is backwards")]
    Backwards {
        /// First index.
        first: u64,
        /// Last index.
        last: u64,
    },
    /// Two object ranges overlap.
    #[error("units {first}..{last} of batch {batch} are named twice")]
    Overlap {
        /// Batch.
        batch: String,
        /// First index.
        first: u64,
        /// Last index.
        last: u64,
    },
    /// A batch that is not on record.
    #[error("batch {0} is not on record")]
    UnknownBatch(String),
    /// Indexes beyond the batch quantity.
    #[error("unit {last} of batch {batch} was never minted (the batch has {quantity} units, 0..{})", quantity.saturating_sub(1))]
    NotMinted {
        /// Batch.
        batch: String,
        /// Offending index.
        last: u64,
        /// Units in the batch.
        quantity: u64,
    },
    /// `prev` names other batches than the objects touch.
    #[error("\"prev\" must name exactly the batches the event touches: {0}")]
    PrevBatches(String),
    /// A field this event type needs.
    #[error("a {event} event needs \"{field}\"")]
    Missing {
        /// Event type.
        event: &'static str,
        /// Field name.
        field: &'static str,
    },
    /// A field this event type does not take.
    #[error("a {event} event does not take \"{field}\"")]
    Unexpected {
        /// Event type.
        event: &'static str,
        /// Field name.
        field: &'static str,
    },
    /// The signer does not hold the units.
    #[error("{signer} does not hold units {first}..{last} of batch {batch} ({holder} does)")]
    NotHolder {
        /// Who signed.
        signer: String,
        /// Who holds.
        holder: String,
        /// Batch.
        batch: String,
        /// First index.
        first: u64,
        /// Last index.
        last: u64,
    },
    /// The units are in the wrong state for this step.
    #[error("units {first}..{last} of batch {batch} are {is}; {event} needs them {needs}")]
    WrongState {
        /// Batch.
        batch: String,
        /// First index.
        first: u64,
        /// Last index.
        last: u64,
        /// Their state.
        is: &'static str,
        /// Event type.
        event: &'static str,
        /// The state needed.
        needs: &'static str,
    },
    /// Receiving something not in the named shipment, or not addressed to the signer.
    #[error("units {first}..{last} of batch {batch} are not in transit to {signer} in shipment {shipment}")]
    NotInShipment {
        /// Who signed.
        signer: String,
        /// Batch.
        batch: String,
        /// First index.
        first: u64,
        /// Last index.
        last: u64,
        /// The shipment named.
        shipment: String,
    },
    /// Recalled units may not be sold.
    #[error("units {first}..{last} of batch {batch} are recalled and may not be sold")]
    Recalled {
        /// Batch.
        batch: String,
        /// First index.
        first: u64,
        /// Last index.
        last: u64,
    },
    /// The party kind may not sign this event type.
    #[error("a {kind} party may not sign {event} events")]
    PartyKind {
        /// The signer's kind.
        kind: &'static str,
        /// Event type.
        event: &'static str,
    },
    /// Shipping to oneself or to nobody registered.
    #[error("receiver \"{0}\" is not a registered party other than the sender")]
    BadReceiver(String),
    /// The named shipment is not a shipping/returning event to the signer.
    #[error("shipment {0} is not a shipment addressed to the signer")]
    BadShipment(String),
    /// A container that cannot be used this way.
    #[error("container: {0}")]
    BadContainer(String),
    /// An exception that contradicts the objects.
    #[error("exception {0}")]
    BadException(String),
    /// A field whose value is malformed.
    #[error("\"{field}\" {why}")]
    BadField {
        /// Field name.
        field: &'static str,
        /// What is wrong with it.
        why: String,
    },
}
