//! Key trust rules: which key may sign what, when.

use serde::{Deserialize, Serialize};

use super::party::{Role, Slug};
use super::statement::{KeyAction, KeyStatement};
use super::time::Timestamp;

/// A public key on record with its certification and revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Short key id.
    pub key_id: String,
    /// Owning party.
    pub party: Slug,
    /// base64url public key.
    pub public_key: String,
    /// What it may sign.
    pub role: Role,
    /// Start of validity (none for root keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
    /// End of validity (none for root keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Timestamp>,
    /// Revocation time, once revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Timestamp>,
}

/// Why a key may not sign a statement.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The key belongs to someone else.
    #[error("key {key} belongs to {owner}, not {party}")]
    OtherParty {
        /// Key id.
        key: String,
        /// Its owner.
        owner: String,
        /// The party named in the statement.
        party: String,
    },
    /// The key's role does not cover the statement.
    #[error("key {key} is certified for {role}; this statement needs {needed}")]
    Role {
        /// Key id.
        key: String,
        /// Its role.
        role: &'static str,
        /// Roles that would do.
        needed: String,
    },
    /// The statement time is outside the certificate's window.
    #[error("key {key} is valid from {from} to {to}; the statement is dated {at}")]
    Window {
        /// Key id.
        key: String,
        /// Start.
        from: String,
        /// End.
        to: String,
        /// Statement time.
        at: Timestamp,
    },
    /// The key was revoked.
    #[error("key {key} was revoked at {at}")]
    Revoked {
        /// Key id.
        key: String,
        /// Revocation time.
        at: Timestamp,
    },
    /// Only root keys sign key statements.
    #[error("key statements must be signed with the party's root key")]
    NotRoot,
    /// A certification without role or window, or with a bad one.
    #[error("certification {0}")]
    BadCertification(String),
    /// Revoking a key that is not a station key of the party.
    #[error("key {0} is not a certified station key of this party")]
    NotStationKey(String),
}

/// Checks that `key` may sign, for `party`, a statement needing one of `needed` at time `at`.
///
/// `now` is when the server receives it: a revoked key stops at once, even for
/// statements dated before the revocation.
pub fn may_sign(
    key: &KeyRecord,
    party: &Slug,
    needed: &[Role],
    at: Timestamp,
    now: Option<Timestamp>,
) -> Result<(), KeyError> {
    if key.party != *party {
        return Err(KeyError::OtherParty {
            key: key.key_id.clone(),
            owner: key.party.to_string(),
            party: party.to_string(),
        });
    }
    if let Some(revoked) = key.revoked {
        if at >= revoked || now.is_some() {
            return Err(KeyError::Revoked {
                key: key.key_id.clone(),
                at: revoked,
            });
        }
    }
    if key.role != Role::Root && !needed.contains(&key.role) {
        let names: Vec<&str> = needed.iter().map(|r| r.as_str()).collect();
        return Err(KeyError::Role {
            key: key.key_id.clone(),
            role: key.role.as_str(),
            needed: names.join(" or "),
        });
    }
    let after_start = key.not_before.is_none_or(|nb| at >= nb);
    let before_end = key.not_after.is_none_or(|na| at <= na);
    if !(after_start && before_end) {
        let show = |t: Option<Timestamp>| t.map(|t| t.to_string()).unwrap_or_else(|| "-".into());
        return Err(KeyError::Window {
            key: key.key_id.clone(),
            from: show(key.not_before),
            to: show(key.not_after),
            at,
        });
    }
    Ok(())
}

/// Checks a key statement's own shape, given the record of the key that signed it.
pub fn check_key_statement(stmt: &KeyStatement, signer: &KeyRecord) -> Result<(), KeyError> {
    if signer.role != Role::Root {
        return Err(KeyError::NotRoot);
    }
    match stmt.action {
        KeyAction::Certify => {
            let (Some(role), Some(nb), Some(na)) = (stmt.role, stmt.not_before, stmt.not_after)
            else {
                return Err(KeyError::BadCertification(
                    "needs \"role\", \"not_before\" and \"not_after\"".into(),
                ));
            };
            if role == Role::Root {
                return Err(KeyError::BadCertification(
                    "cannot grant the root role; root keys are registered by the operator".into(),
                ));
            }
            if na <= nb {
                return Err(KeyError::BadCertification(
                    "\"not_after\" must be later than \"not_before\"".into(),
                ));
            }
        }
        KeyAction::Revoke => {
            if stmt.role.is_some() || stmt.not_before.is_some() || stmt.not_after.is_some() {
                return Err(KeyError::BadCertification(
                    "a revocation takes only \"subject\" and \"reason\"".into(),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    fn station() -> KeyRecord {
        KeyRecord {
            key_id: "k1".into(),
            party: Slug::parse("b1-north").unwrap(),
            public_key: "x".into(),
            role: Role::Dock,
            not_before: Some(t("2026-01-01T00:00:00Z")),
            not_after: Some(t("2027-01-01T00:00:00Z")),
            revoked: None,
        }
    }

    #[test]
    fn role_window_party_and_revocation() {
        let k = station();
        let p = k.party.clone();
        let mid = t("2026-06-01T00:00:00Z");
        assert!(may_sign(&k, &p, &[Role::Dock], mid, Some(mid)).is_ok());
        assert!(matches!(
            may_sign(&k, &p, &[Role::Retail], mid, None),
            Err(KeyError::Role { .. })
        ));
        assert!(matches!(
            may_sign(&k, &p, &[Role::Dock], t("2027-01-01T00:00:01Z"), None),
            Err(KeyError::Window { .. })
        ));
        let other = Slug::parse("b2-east").unwrap();
        assert!(matches!(
            may_sign(&k, &other, &[Role::Dock], mid, None),
            Err(KeyError::OtherParty { .. })
        ));
        let mut revoked = k.clone();
        revoked.revoked = Some(t("2026-07-01T00:00:00Z"));
        // An audit accepts what was signed before the revocation...
        assert!(may_sign(&revoked, &p, &[Role::Dock], mid, None).is_ok());
        // ...but a server refuses anything new from a revoked key.
        assert!(matches!(
            may_sign(&revoked, &p, &[Role::Dock], mid, Some(mid)),
            Err(KeyError::Revoked { .. })
        ));
        assert!(may_sign(&revoked, &p, &[Role::Dock], t("2026-08-01T00:00:00Z"), None).is_err());
    }

    #[test]
    fn only_root_certifies_and_windows_must_be_sane() {
        let mut root = station();
        root.role = Role::Root;
        let mut stmt = KeyStatement {
            v: 1,
            party: root.party.clone(),
            key: "root".into(),
            time: t("2026-01-01T00:00:00Z"),
            action: KeyAction::Certify,
            subject: "pk".into(),
            role: Some(Role::Dock),
            not_before: Some(t("2026-01-01T00:00:00Z")),
            not_after: Some(t("2027-01-01T00:00:00Z")),
            reason: None,
        };
        assert!(check_key_statement(&stmt, &root).is_ok());
        assert_eq!(
            check_key_statement(&stmt, &station()),
            Err(KeyError::NotRoot)
        );
        stmt.role = Some(Role::Root);
        assert!(check_key_statement(&stmt, &root).is_err());
        stmt.role = Some(Role::Dock);
        stmt.not_after = stmt.not_before;
        assert!(check_key_statement(&stmt, &root).is_err());
    }
}
