//! Replaying one statement of each kind over the record, and comparing the
//! record with what a store kept.

use super::*;

impl Auditor {
    /// Compares what a store recorded after the same leaves (every batch's
    /// chain head, and every holding row ordered by batch and first unit) with
    /// the replay: the server applied each event as the engine plans it, or
    /// each batch where it did not is a finding. Returns the batches compared.
    pub fn check_recorded(
        &mut self,
        heads: &BTreeMap<BatchId, StatementId>,
        rows: &[Holding],
    ) -> usize {
        let mut stored: BTreeMap<BatchId, &[Holding]> = BTreeMap::new();
        for run in rows.chunk_by(|a, b| a.range.batch == b.range.batch) {
            stored.insert(run[0].range.batch, run);
        }
        let mut batches: Vec<BatchId> = self.record.heads.keys().copied().collect();
        batches.extend(heads.keys().filter(|b| !self.record.heads.contains_key(b)));
        batches.sort();
        for batch in &batches {
            let head = heads.get(batch).copied();
            let replayed_head = self.record.heads.get(batch).copied();
            if head != replayed_head {
                let name = |h: Option<StatementId>| h.map_or("none".into(), |h| h.hex());
                self.find(
                    None,
                    None,
                    "recorded",
                    format!(
                        "the stored chain head of batch {} is {}, the replay ends at {}",
                        batch.hex(),
                        name(head),
                        name(replayed_head)
                    ),
                );
            }
            let replayed = self
                .record
                .holdings
                .get(batch)
                .map(|runs| runs.all())
                .unwrap_or_default();
            let mine = stored.get(batch).copied().unwrap_or_default();
            if !mine.iter().eq(replayed.iter().copied()) {
                let near = mine
                    .iter()
                    .zip(&replayed)
                    .find(|(a, b)| a != *b)
                    .map_or(mine.len().min(replayed.len()), |(a, _)| {
                        a.range.first as usize
                    });
                self.find(None, None, "recorded", format!(
                    "the stored holdings of batch {} differ from the replay ({} rows stored, {} replayed, first difference near unit {near}): the server recorded an event other than as the custody rules plan it",
                    batch.hex(), mine.len(), replayed.len()
                ));
            }
        }
        batches.len()
    }

    pub(super) fn replay_batch(
        &mut self,
        seq: i64,
        id: &str,
        bid: BatchId,
        b: &BatchStatement,
        party: &Party,
    ) {
        if let Err(e) = crate::domain::batch::check(b, &party.slug, party.kind) {
            self.find(Some(seq), Some(id), "batch", e.to_string());
        }
        let lot = (b.gtin.as_str().to_owned(), b.lot.as_str().to_owned());
        if let Some(other) = self.lots.get(&lot) {
            self.find(
                Some(seq),
                Some(id),
                "batch",
                format!(
                    "lot {} of GTIN {} was already minted as batch {}",
                    lot.1,
                    lot.0,
                    other.hex()
                ),
            );
            return;
        }
        self.lots.insert(lot, bid);
        self.record.heads.insert(bid, bid);
        self.record.facts.insert(
            bid,
            BatchFacts {
                party: party.slug.clone(),
                quantity: b.quantity,
            },
        );
        self.record
            .holdings
            .entry(bid)
            .or_default()
            .insert(Holding {
                range: crate::domain::statement::UnitRange {
                    batch: bid,
                    first: 0,
                    last: b.quantity.saturating_sub(1),
                },
                holder: party.slug.clone(),
                disposition: custody::Disposition::Active,
                shipment: None,
                dest: None,
                recall: None,
            });
    }

    pub(super) fn replay_event(
        &mut self,
        seq: i64,
        id: &str,
        eid: StatementId,
        ev: EventStatement,
        party: &Party,
    ) {
        // Chain links in log order: each prev must be the head at this point.
        let mut linked = true;
        for (batch, prev) in &ev.prev {
            match self.record.heads.get(batch) {
                Some(head) if head == prev => {}
                Some(head) => {
                    linked = false;
                    self.find(
                        Some(seq),
                        Some(id),
                        "chain",
                        format!(
                        "prev of batch {} is {} but the chain head at this point of the log is {}",
                        batch.hex(), prev.hex(), head.hex()
                    ),
                    );
                }
                None if self.partial => {}
                None => {
                    linked = false;
                    self.find(
                        Some(seq),
                        Some(id),
                        "chain",
                        format!("batch {} is not minted before this event", batch.hex()),
                    );
                }
            }
        }
        if linked && !self.partial {
            self.replay_custody(seq, id, eid, &ev, party);
        }
        // The chain advances even past a broken rule, so one bad event is one finding.
        for batch in ev.prev.keys() {
            if self.record.heads.contains_key(batch) {
                self.record.heads.insert(*batch, eid);
            }
        }
        if matches!(ev.event_type, EventType::Shipping | EventType::Returning) {
            self.record
                .shipments
                .insert(eid, custody::ShipmentFacts::of(&ev));
        }
    }

    fn replay_custody(
        &mut self,
        seq: i64,
        id: &str,
        eid: StatementId,
        ev: &EventStatement,
        party: &Party,
    ) {
        // The stores' own engine, over the record replayed so far.
        let planned = custody::plan::ready(custody::plan(eid, ev, party.kind, &mut self.record));
        match planned {
            Some(Ok(Ok(plan))) => self.record.apply(plan),
            Some(Ok(Err(custody::Refusal::Custody(e)))) => {
                self.find(Some(seq), Some(id), "custody", e.to_string());
            }
            Some(Ok(Err(custody::Refusal::Conflict(_)))) => {
                // Chain links were checked (and reported) before the replay.
                self.find(
                    Some(seq),
                    Some(id),
                    "chain",
                    "prev is not the chain head".into(),
                );
            }
            Some(Err(never)) => match never {},
            None => self.find(
                Some(seq),
                Some(id),
                "custody",
                "the replay could not read its record".into(),
            ),
        }
    }

    pub(super) fn replay_key(&mut self, seq: i64, id: &str, k: &KeyStatement, signer: &KeyRecord) {
        if let Err(e) = keys::check_key_statement(k, signer) {
            self.find(Some(seq), Some(id), "key", e.to_string());
            return;
        }
        let subject = match sign::parse_public_key(&k.subject) {
            Ok(s) => s,
            Err(e) => {
                self.find(Some(seq), Some(id), "key", format!("subject: {e}"));
                return;
            }
        };
        let key_id = sign::key_id(&subject);
        match k.action {
            KeyAction::Certify => {
                if self.keys.contains_key(&key_id) {
                    self.find(
                        Some(seq),
                        Some(id),
                        "key",
                        format!("key {key_id} is certified twice"),
                    );
                    return;
                }
                self.keys.insert(
                    key_id.clone(),
                    KeyRecord {
                        key_id,
                        party: k.party.clone(),
                        public_key: sign::b64(subject.as_bytes()),
                        role: k.role.unwrap_or(Role::Dock),
                        not_before: k.not_before,
                        not_after: k.not_after,
                        revoked: None,
                    },
                );
            }
            KeyAction::Revoke => {
                let Some(rec) = self
                    .keys
                    .get_mut(&key_id)
                    .filter(|r| r.party == k.party && r.role != Role::Root)
                else {
                    self.find(
                        Some(seq),
                        Some(id),
                        "key",
                        format!("key {key_id} is not a station key of {}", k.party),
                    );
                    return;
                };
                if rec.revoked.is_some() {
                    self.find(
                        Some(seq),
                        Some(id),
                        "key",
                        format!("key {key_id} is revoked twice"),
                    );
                    return;
                }
                rec.revoked = Some(k.time);
                if let Some((t, s, sid)) = self.last_use.get(&key_id).copied() {
                    // Same second as the revocation but logged before it: the log order
                    // shows it came first (times have whole-second resolution).
                    if t > k.time {
                        self.find(Some(s), Some(&sid.hex()), "key", format!(
                            "signed at {t} by key {key_id}, which is revoked from {} (leaf {seq})", k.time
                        ));
                    }
                }
            }
        }
    }
}
