//! Parties, their kinds and the roles a certified key may have.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A party's short name: 2–40 of `a-z 0-9 -`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    /// Validates a slug.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::check(text).map(|()| Slug(text.to_owned()))
    }

    fn check(text: &str) -> Result<(), String> {
        let ok_len = (2..=40).contains(&text.len());
        let ok_start = text.starts_with(|c: char| c.is_ascii_lowercase());
        let ok_chars = text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok_len && ok_start && ok_chars {
            Ok(())
        } else {
            Err(format!(
                "party \"{text}\" must be 2–40 characters of a-z, 0-9 and '-', starting with a letter"
            ))
        }
    }

    /// The slug text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        // Keeps the deserialised string (slugs are read millions of times by the audit).
        Slug::check(&s).map(|()| Slug(s))
    }
}

impl From<Slug> for String {
    fn from(s: Slug) -> String {
        s.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a party stands in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartyKind {
    /// Makes and mints batches.
    Factory,
    /// First-tier wholesaler.
    B1,
    /// Second-tier wholesaler or retailer.
    B2,
    /// Quality inspector or regulator.
    Inspector,
}

impl PartyKind {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            PartyKind::Factory => "factory",
            PartyKind::B1 => "b1",
            PartyKind::B2 => "b2",
            PartyKind::Inspector => "inspector",
        }
    }

    /// Parses the lowercase name.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "factory" => Ok(PartyKind::Factory),
            "b1" => Ok(PartyKind::B1),
            "b2" => Ok(PartyKind::B2),
            "inspector" => Ok(PartyKind::Inspector),
            _ => Err(format!(
                "party kind \"{text}\" must be factory, b1, b2 or inspector"
            )),
        }
    }
}

/// What a key may sign. The party's root key may sign everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The party's root key: certifies and revokes other keys, signs anything.
    Root,
    /// Factory line: batch records and labels.
    Mint,
    /// Warehouse dock: packing, shipping, receiving.
    Dock,
    /// Retail counter: sales and returns.
    Retail,
    /// Inspection results and recalls.
    Inspect,
}

impl Role {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Root => "root",
            Role::Mint => "mint",
            Role::Dock => "dock",
            Role::Retail => "retail",
            Role::Inspect => "inspect",
        }
    }

    /// Parses the lowercase name.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "root" => Ok(Role::Root),
            "mint" => Ok(Role::Mint),
            "dock" => Ok(Role::Dock),
            "retail" => Ok(Role::Retail),
            "inspect" => Ok(Role::Inspect),
            _ => Err(format!(
                "role \"{text}\" must be mint, dock, retail or inspect"
            )),
        }
    }
}

/// Checks a party's GLN-13 (GS1 Global Location Number): 13 digits, the
/// last the GS1 check digit of the other twelve.
pub fn check_gln(gln: &str) -> Result<(), String> {
    let digits = gln.len() == 13 && gln.bytes().all(|b| b.is_ascii_digit());
    if !digits {
        return Err(format!("gln \"{gln}\" must be 13 digits"));
    }
    let expected = crate::formats::gs1::check_digit(&gln[..12]);
    let found = gln.as_bytes()[12] - b'0';
    if expected != found {
        return Err(format!("GLN check digit is {expected}, given {found}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(Slug::parse("acme-dairy").is_ok());
        assert!(Slug::parse("b1").is_ok());
        for bad in ["A", "1abc", "acme_dairy", "x", "ACME", "酒厂"] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds_and_roles_round_trip() {
        for k in ["factory", "b1", "b2", "inspector"] {
            assert_eq!(PartyKind::parse(k).unwrap().as_str(), k);
        }
        for r in ["root", "mint", "dock", "retail", "inspect"] {
            assert_eq!(Role::parse(r).unwrap().as_str(), r);
        }
        assert!(Role::parse("admin").is_err());
    }

    #[test]
    fn glns_need_13_digits_and_their_check_digit() {
        // GS1's own example GLN.
        assert_eq!(check_gln("0614141000036"), Ok(()));
        assert_eq!(
            check_gln("0614141000037"),
            Err("GLN check digit is 6, given 7".into())
        );
        for bad in [
            "061414100003",
            "06141410000366",
            "061414100003x",
            "",
            "０614141000036",
        ] {
            assert_eq!(
                check_gln(bad),
                Err(format!("gln \"{bad}\" must be 13 digits")),
                "{bad}"
            );
        }
    }
}
