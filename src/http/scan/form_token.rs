//! Form tokens: `{expiry}.{mac}` with the MAC over the unit path and expiry,
//! so a token is good for one unit's form, for a while, from our page only.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::FORM_TTL;

fn mac(key: &[u8], unit: &str, expiry: i64) -> Option<Hmac<Sha256>> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).ok()?;
    m.update(b"suyuan/feedback-form\n");
    m.update(unit.as_bytes());
    m.update(b"\n");
    m.update(expiry.to_string().as_bytes());
    Some(m)
}

/// A token for `unit` valid until `now + FORM_TTL`.
pub fn issue(key: &[u8], unit: &str, now: i64) -> String {
    let expiry = now + FORM_TTL;
    match mac(key, unit, expiry) {
        Some(m) => format!(
            "{expiry}.{}",
            crate::formats::sign::b64(&m.finalize().into_bytes())
        ),
        None => String::new(),
    }
}

/// Whether `token` was issued for `unit` and has not expired at `now`.
pub fn check(key: &[u8], unit: &str, token: &str, now: i64) -> bool {
    let Some((exp, tag)) = token.split_once('.') else {
        return false;
    };
    let Ok(expiry) = exp.parse::<i64>() else {
        return false;
    };
    if expiry < now || expiry > now + FORM_TTL + 60 {
        return false;
    }
    let Ok(tag) = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, tag)
    else {
        return false;
    };
    mac(key, unit, expiry).is_some_and(|m| m.verify_slice(&tag).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_tokens_are_bound_to_unit_and_time() {
        let key = b"k".repeat(32);
        let unit = "01/06901234567892/10/L1/21/0";
        let t = issue(&key, unit, 1_000_000);
        assert!(check(&key, unit, &t, 1_000_000));
        assert!(check(&key, unit, &t, 1_000_000 + FORM_TTL));
        assert!(!check(&key, unit, &t, 1_000_000 + FORM_TTL + 1));
        assert!(!check(&key, "01/06901234567892/10/L1/21/1", &t, 1_000_000));
        assert!(!check(b"other", unit, &t, 1_000_000));
        // An expiry moved forward breaks the MAC.
        let (_, tag) = t.split_once('.').unwrap();
        let forged = format!("{}.{tag}", 1_000_000 + FORM_TTL + 10);
        assert!(!check(&key, unit, &forged, 1_000_000));
        for junk in ["", ".", "x.y", "1.", "99999999999999999999.abc"] {
            assert!(!check(&key, unit, junk, 1_000_000), "{junk}");
        }
    }
}
