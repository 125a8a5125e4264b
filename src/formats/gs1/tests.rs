//! GS1 identifiers, check digits and every scanner shape, against hand-checked codes.

use super::scan::*;
use super::*;
use serde::de::value::{Error as DeError, StringDeserializer};
use serde::de::IntoDeserializer;

const GTIN: &str = "09506000134352";
const SSCC: &str = "106141411234567897";

fn unit(gtin: &str, lot: &str, serial: &str) -> Key {
    Key::Unit {
        gtin: Gtin::parse(gtin).unwrap(),
        lot: Lot::parse(lot).unwrap(),
        serial: Serial::parse(serial).unwrap(),
    }
}

fn container(sscc: &str) -> Key {
    Key::Container {
        sscc: Sscc::parse(sscc).unwrap(),
    }
}

fn key_of(text: &str) -> Key {
    match parse_scan(text) {
        Ok(s) => s.key,
        Err(e) => panic!("{text:?} did not parse: {e}"),
    }
}

fn err_of(text: &str) -> Gs1Error {
    match parse_scan(text) {
        Ok(s) => panic!("{text:?} parsed unexpectedly: {s:?}"),
        Err(e) => e,
    }
}

// ---- check digits -------------------------------------------------

#[test]
fn check_digit_known_values() {
    assert_eq!(check_digit("0950600013435"), 2);
    assert_eq!(check_digit("10614141123456789"), 7);
    assert_eq!(check_digit("400638133393"), 1);
    assert_eq!(check_digit("9638507"), 4);
    assert_eq!(check_digit("03600029145"), 2);
    assert_eq!(check_digit(""), 0);
    assert_eq!(check_digit("0000000000000"), 0);
}

#[test]
fn check_digit_non_digit_does_not_panic() {
    // Treated as 0, keeping the weight positions.
    assert_eq!(check_digit("095060001343x"), check_digit("0950600013430"));
}

#[test]
fn gtin_valid_14() {
    let g = Gtin::parse(GTIN).unwrap();
    assert_eq!(g.as_str(), GTIN);
    assert_eq!(g.to_string(), GTIN);
    assert_eq!(GTIN.parse::<Gtin>().unwrap(), g);
}

#[test]
fn gtin_every_wrong_check_digit_is_reported() {
    for found in 0..=9u8 {
        if found == 2 {
            continue;
        }
        let s = format!("0950600013435{found}");
        assert_eq!(
            Gtin::parse(&s),
            Err(Gs1Error::GtinCheckDigit { expected: 2, found }),
            "{s}"
        );
    }
    assert_eq!(
        Gtin::parse("09506000134355").unwrap_err().to_string(),
        "GTIN check digit is 2, label says 5"
    );
}

#[test]
fn gtin_short_forms_are_padded() {
    assert_eq!(Gtin::parse("96385074").unwrap().as_str(), "00000096385074");
    assert_eq!(
        Gtin::parse("036000291452").unwrap().as_str(),
        "00036000291452"
    );
    assert_eq!(
        Gtin::parse("4006381333931").unwrap().as_str(),
        "04006381333931"
    );
    assert_eq!(Gtin::parse("9506000134352").unwrap().as_str(), GTIN);
    // A bad check digit is caught in the short form too.
    assert_eq!(
        Gtin::parse("96385075"),
        Err(Gs1Error::GtinCheckDigit {
            expected: 4,
            found: 5
        })
    );
}

#[test]
fn gtin_lengths_and_digits() {
    for n in [0usize, 1, 7, 9, 10, 11, 15, 18] {
        let s = "0".repeat(n);
        assert_eq!(Gtin::parse(&s), Err(Gs1Error::GtinLength(n)), "{n}");
    }
    assert_eq!(
        Gtin::parse("00000000000").unwrap_err().to_string(),
        "GTIN must have 8, 12, 13 or 14 digits, got 11"
    );
    assert_eq!(Gtin::parse("0950600013435A"), Err(Gs1Error::GtinNotDigits));
    assert_eq!(Gtin::parse(" 9506000134352"), Err(Gs1Error::GtinNotDigits));
    // Non-ASCII digits are not GS1 digits.
    assert_eq!(Gtin::parse("0950600013435٢"), Err(Gs1Error::GtinNotDigits));
}

#[test]
fn sscc_valid_and_invalid() {
    let s = Sscc::parse(SSCC).unwrap();
    assert_eq!(s.as_str(), SSCC);
    assert_eq!(s.to_string(), SSCC);
    for found in 0..=9u8 {
        if found == 7 {
            continue;
        }
        let text = format!("10614141123456789{found}");
        assert_eq!(
            Sscc::parse(&text),
            Err(Gs1Error::SsccCheckDigit { expected: 7, found })
        );
    }
    assert_eq!(
        Sscc::parse("10614141123456789"),
        Err(Gs1Error::SsccLength(17))
    );
    assert_eq!(
        Sscc::parse("1061414112345678970"),
        Err(Gs1Error::SsccLength(19))
    );
    assert_eq!(Sscc::parse(""), Err(Gs1Error::SsccLength(0)));
    assert_eq!(
        Sscc::parse("10614141123456789X"),
        Err(Gs1Error::SsccNotDigits)
    );
    assert_eq!(
        Sscc::parse("106141411234567898").unwrap_err().to_string(),
        "SSCC check digit is 7, label says 8"
    );
}

// ---- lot / serial ---------------------------------------------------

#[test]
fn set82_matches_the_published_list() {
    let from_fn: String = (0u8..=127)
        .map(char::from)
        .filter(|&c| is_set82(c))
        .collect();
    assert_eq!(from_fn, SET_82);
    assert_eq!(SET_82.len(), 82);
    assert!(!is_set82('é'));
    assert!(!is_set82('中'));
}

#[test]
fn set82_boundary_chars() {
    // Every allowed char works as a lot and a serial.
    for c in SET_82.chars() {
        assert!(Lot::parse(&c.to_string()).is_ok(), "{c:?}");
        assert!(Serial::parse(&c.to_string()).is_ok(), "{c:?}");
    }
    // Neighbours of the allowed ranges, and the usual suspects, are refused.
    for c in [
        ' ', '#', '$', '@', '[', '\\', ']', '^', '`', '{', '|', '}', '~', '\u{7f}', GS, '\n', 'é',
        '中',
    ] {
        assert_eq!(Lot::parse(&format!("A{c}B")), Err(Gs1Error::LotBadChar(c)));
        assert_eq!(
            Serial::parse(&format!("A{c}B")),
            Err(Gs1Error::SerialBadChar(c))
        );
    }
}

#[test]
fn lot_and_serial_lengths() {
    let twenty = "ABCDEFGHIJ0123456789";
    let twenty_one = "ABCDEFGHIJ0123456789X";
    assert_eq!(Lot::parse(twenty).unwrap().as_str(), twenty);
    assert_eq!(Serial::parse(twenty).unwrap().as_str(), twenty);
    assert_eq!(Lot::parse(twenty_one), Err(Gs1Error::LotTooLong(21)));
    assert_eq!(Serial::parse(twenty_one), Err(Gs1Error::SerialTooLong(21)));
    assert_eq!(Lot::parse(""), Err(Gs1Error::LotEmpty));
    assert_eq!(Serial::parse(""), Err(Gs1Error::SerialEmpty));
    assert_eq!(Lot::parse("1").unwrap().to_string(), "1");
    assert_eq!(
        Lot::parse("A B").unwrap_err().to_string(),
        "lot (10) contains ' '; GS1 set 82 allows only A-Z a-z 0-9 !\"%&'()*+,-./:;<=>?_"
    );
}

#[test]
fn serde_round_trip_validates() {
    fn de<T: for<'de> Deserialize<'de>>(s: &str) -> Result<T, DeError> {
        let d: StringDeserializer<DeError> = s.to_owned().into_deserializer();
        T::deserialize(d)
    }
    assert_eq!(de::<Gtin>("9506000134352").unwrap().as_str(), GTIN);
    assert!(de::<Gtin>("09506000134355").is_err());
    assert_eq!(de::<Sscc>(SSCC).unwrap().as_str(), SSCC);
    assert!(de::<Sscc>("106141411234567898").is_err());
    assert_eq!(de::<Lot>("A/B").unwrap().as_str(), "A/B");
    assert!(de::<Lot>("A B").is_err());
    assert_eq!(de::<Serial>("42").unwrap().as_str(), "42");
    assert!(de::<Serial>("").is_err());
    assert_eq!(String::from(Gtin::parse(GTIN).unwrap()), GTIN);
    assert_eq!(String::from(Lot::parse("L1").unwrap()), "L1");
    let err = de::<Gtin>("123").unwrap_err().to_string();
    assert!(err.contains("got 3"), "{err}");
}

// ---- building ---------------------------------------------------------

#[test]
fn canonical_path_plain() {
    assert_eq!(
        unit(GTIN, "ABC123", "42").canonical_path(),
        "01/09506000134352/10/ABC123/21/42"
    );
    assert_eq!(
        unit("96385074", "L", "0").canonical_path(),
        "01/00000096385074/10/L/21/0"
    );
    assert_eq!(container(SSCC).canonical_path(), "00/106141411234567897");
}

#[test]
fn canonical_path_escapes_with_uppercase_hex() {
    let k = unit(GTIN, "A/B%C&D", "x?y=z");
    assert_eq!(
        k.canonical_path(),
        "01/09506000134352/10/A%2FB%25C%26D/21/x%3Fy%3Dz"
    );
    // Unreserved punctuation in set 82 stays literal.
    assert_eq!(
        unit(GTIN, "a-b.c_d", "Zz9").canonical_path(),
        "01/09506000134352/10/a-b.c_d/21/Zz9"
    );
    // Every other set-82 punctuation char is escaped.
    let k = unit(GTIN, "!\"'()*+,:;<=>", "1");
    assert_eq!(
        k.canonical_path(),
        "01/09506000134352/10/%21%22%27%28%29%2A%2B%2C%3A%3B%3C%3D%3E/21/1"
    );
}

#[test]
fn url_building() {
    let k = unit(GTIN, "ABC123", "42");
    let want = "https://id.example.com/01/09506000134352/10/ABC123/21/42?s=SIG";
    assert_eq!(k.url("https://id.example.com", "SIG"), want);
    assert_eq!(k.url("https://id.example.com/", "SIG"), want);
    assert_eq!(
        container(SSCC).url("https://x.test/r", "abc_-"),
        "https://x.test/r/00/106141411234567897?s=abc_-"
    );
}

#[test]
fn hri_and_element_string() {
    let k = unit(GTIN, "ABC123", "42");
    assert_eq!(hri(&k), "(01)09506000134352(10)ABC123(21)42");
    assert_eq!(element_string(&k), "010950600013435210ABC123\u{1d}2142");
    let c = container(SSCC);
    assert_eq!(hri(&c), "(00)106141411234567897");
    assert_eq!(element_string(&c), "00106141411234567897");
}

// ---- parsing: the three shapes -----------------------------------------

#[test]
fn three_shapes_parse_equal() {
    let want = unit(GTIN, "ABC123", "42");
    let shapes = [
        "https://id.example.com/01/09506000134352/10/ABC123/21/42?s=SIG",
        "(01)09506000134352(10)ABC123(21)42",
        "010950600013435210ABC123\u{1d}2142",
    ];
    for shape in shapes {
        for prefix in ["", "]Q3", "]d2", "]C1", "]Q1", "]e0"] {
            for suffix in ["", "\r\n", "\n", "\r"] {
                let text = format!("{prefix}{shape}{suffix}");
                assert_eq!(key_of(&text), want, "{text:?}");
            }
        }
    }
}

#[test]
fn container_three_shapes() {
    let want = container(SSCC);
    for text in [
        "https://id.example.com/00/106141411234567897?s=S",
        "/00/106141411234567897",
        "00/106141411234567897",
        "(00)106141411234567897",
        "00106141411234567897",
        "]C100106141411234567897\r\n",
        "]d2\u{1d}00106141411234567897",
    ] {
        assert_eq!(key_of(text), want, "{text:?}");
    }
}

#[test]
fn url_signature_and_extra_query() {
    let s = parse_scan(
        "https://id.example.com:8443/shop/cn/01/09506000134352/10/ABC123/21/42?lang=zh&s=abc-DEF_123&linkType=all#top",
    )
    .unwrap();
    assert_eq!(s.key, unit(GTIN, "ABC123", "42"));
    assert_eq!(s.sig.as_deref(), Some("abc-DEF_123"));

    let s = parse_scan("https://id.example.com/01/09506000134352/10/A/21/1").unwrap();
    assert_eq!(s.sig, None);
    let s = parse_scan("https://id.example.com/01/09506000134352/10/A/21/1?s=").unwrap();
    assert_eq!(s.sig, None);
    // Non-signature parameters are ignored, as are date AIs in the query.
    let s = parse_scan("http://h/01/09506000134352/10/A/21/1?17=250101&x").unwrap();
    assert_eq!(s.sig, None);
    assert_eq!(s.key, unit(GTIN, "A", "1"));
    // HRI and element strings carry no signature.
    assert_eq!(parse_scan(&hri(&s.key)).unwrap().sig, None);
}

#[test]
fn url_variants() {
    let want = unit(GTIN, "ABC123", "42");
    for text in [
        "HTTPS://ID.EXAMPLE.COM/01/09506000134352/10/ABC123/21/42",
        "http://localhost:3000/01/09506000134352/10/ABC123/21/42/",
        "https://id.example.com/01/9506000134352/10/ABC123/21/42",
        "https://a.b/x/y/z/01/09506000134352/10/ABC123/21/42?s=1",
        "https://a.b/2024/01/01/09506000134352/10/ABC123/21/42",
        "/01/09506000134352/10/ABC123/21/42?s=1",
        "01/09506000134352/10/ABC123/21/42",
        "id.example.com/01/09506000134352/10/ABC123/21/42",
        "  https://id.example.com/01/09506000134352/10/ABC123/21/42  ",
    ] {
        assert_eq!(key_of(text), want, "{text:?}");
    }
    // GTIN-8 and GTIN-12 in the URL.
    assert_eq!(
        key_of("https://h/01/96385074/10/L/21/1"),
        unit("00000096385074", "L", "1")
    );
    assert_eq!(
        key_of("https://h/01/036000291452/10/L/21/1"),
        unit("00036000291452", "L", "1")
    );
}

#[test]
fn percent_encoding_round_trips() {
    for lot in [
        "A/B",
        "50%",
        "A&B",
        "x?y",
        "(1)",
        "a+b",
        "\"!'*,:;<=>",
        "%25",
    ] {
        let k = unit(GTIN, lot, "S/1");
        let url = k.url("https://id.example.com", "SIG");
        let s = parse_scan(&url).unwrap();
        assert_eq!(s.key, k, "{url}");
        assert_eq!(s.sig.as_deref(), Some("SIG"));
        assert_eq!(s.key.canonical_path(), k.canonical_path());
        // parse_path as axum hands it.
        let path = format!("/{}", k.canonical_path());
        assert_eq!(parse_path(&path, Some("s=SIG")).unwrap(), s);
    }
}

#[test]
fn other_spellings_canonicalise() {
    // Lowercase hex, needless escapes and literal set-82 chars all
    // rebuild the same canonical path (and so verify alike).
    let want = unit(GTIN, "A/B&C", "1");
    for text in [
        "/01/09506000134352/10/A%2fB%26C/21/1",
        "/01/09506000134352/10/%41%2FB&C/21/%31",
        "/01/9506000134352/10/A%2FB&C/21/1",
    ] {
        let k = key_of(text);
        assert_eq!(k, want, "{text}");
        assert_eq!(k.canonical_path(), "01/09506000134352/10/A%2FB%26C/21/1");
    }
    // "+" in a path is a literal plus, not a space.
    assert_eq!(
        key_of("/01/09506000134352/10/a+b/21/1"),
        unit(GTIN, "a+b", "1")
    );
}

#[test]
fn space_is_not_allowed_even_encoded() {
    assert_eq!(
        err_of("/01/09506000134352/10/A%20B/21/1"),
        Gs1Error::LotBadChar(' ')
    );
    assert_eq!(
        err_of("/01/09506000134352/10/AB/21/%20"),
        Gs1Error::SerialBadChar(' ')
    );
    assert_eq!(
        err_of("/01/09506000134352/10/%C3%A9/21/1"),
        Gs1Error::LotBadChar('é')
    );
}

#[test]
fn parse_path_forms() {
    let want = Scanned {
        key: unit(GTIN, "ABC123", "42"),
        sig: Some("SIG".to_owned()),
    };
    let p = "/01/09506000134352/10/ABC123/21/42";
    assert_eq!(parse_path(p, Some("s=SIG")).unwrap(), want);
    assert_eq!(parse_path(&p[1..], Some("s=SIG")).unwrap(), want);
    assert_eq!(parse_path(p, Some("?s=SIG&lang=en")).unwrap(), want);
    assert_eq!(parse_path(&format!("{p}?s=SIG"), None).unwrap(), want);
    assert_eq!(parse_path(p, None).unwrap().sig, None);
    assert_eq!(
        parse_path("/00/106141411234567897", Some("s=X")).unwrap(),
        Scanned {
            key: container(SSCC),
            sig: Some("X".to_owned())
        }
    );
    assert_eq!(parse_path("", None), Err(Gs1Error::Empty));
    assert_eq!(parse_path("/", None), Err(Gs1Error::Empty));
    assert_eq!(
        parse_path("/favicon.ico", None),
        Err(Gs1Error::Unrecognized)
    );
}

#[test]
fn hri_variants() {
    let want = unit(GTIN, "ABC123", "42");
    for text in [
        "(01)09506000134352(10)ABC123(21)42",
        "(21)42(10)ABC123(01)09506000134352",
        "(10)ABC123(01)09506000134352(21)42",
        "  (01) 09506000134352 (10) ABC123 (21) 42  ",
        "(01)09506000134352(17)250131(10)ABC123(21)42",
        "(11)240101(13)240102(15)251200(01)09506000134352(10)ABC123(21)42",
    ] {
        assert_eq!(key_of(text), want, "{text:?}");
    }
    // Parentheses that are not an AI tag stay part of the value.
    assert_eq!(
        key_of("(01)09506000134352(10)A(1)(21)(x)"),
        unit(GTIN, "A(1)", "(x)")
    );
}

#[test]
fn element_string_variants() {
    let want = unit(GTIN, "ABC123", "42");
    for text in [
        "010950600013435210ABC123\u{1d}2142",
        "\u{1d}010950600013435210ABC123\u{1d}2142",
        "01095060001343522142\u{1d}10ABC123",
        "01095060001343521725013110ABC123\u{1d}2142",
        "0109506000134352\u{1d}10ABC123\u{1d}2142\u{1d}",
        "10ABC123\u{1d}2142\u{1d}0109506000134352",
        "]d2010950600013435210ABC123\u{1d}2142\r\n",
    ] {
        assert_eq!(key_of(text), want, "{text:?}");
    }
    // A lot with "/" in an element string is not mistaken for a path.
    assert_eq!(
        key_of("010950600013435210A/B\u{1d}21X"),
        unit(GTIN, "A/B", "X")
    );
}

#[test]
fn generated_forms_round_trip() {
    let keys = [
        unit(GTIN, "ABC123", "42"),
        unit(GTIN, "A/B", "0"),
        unit("96385074", "50%&x", "ABCDEFGHIJ0123456789"),
        unit("4006381333931", "!\"%&'()*+,-./:;<=>?_", "z"),
        container(SSCC),
    ];
    for k in keys {
        let url = k.url("https://id.example.com/p", "SIG");
        assert_eq!(key_of(&url), k, "{url}");
        assert_eq!(key_of(&format!("]Q1{url}\r\n")), k, "{url}");
        assert_eq!(key_of(&hri(&k)), k, "{}", hri(&k));
        let es = element_string(&k);
        assert_eq!(key_of(&es), k, "{es:?}");
        assert_eq!(key_of(&format!("]C1{es}\r\n")), k, "{es:?}");
        let path = format!("/{}", k.canonical_path());
        assert_eq!(parse_path(&path, None).unwrap().key, k);
    }
}

// ---- errors -------------------------------------------------------------

#[test]
fn empty_and_unrecognized() {
    for text in ["", "   ", "\r\n", "]Q3", "]d2\r\n", "\u{1d}"] {
        assert_eq!(err_of(text), Gs1Error::Empty, "{text:?}");
    }
    for text in [
        "hello",
        "]",
        "(hello)",
        "(01",
        "https://example.com",
        "https://example.com/about/us",
        "ftp://example.com/01/09506000134352/10/A/21/1x",
    ] {
        assert_eq!(err_of(text), Gs1Error::Unrecognized, "{text:?}");
    }
}

#[test]
fn missing_ai_errors() {
    assert_eq!(
        err_of("(01)09506000134352(21)42"),
        Gs1Error::MissingAi("10")
    );
    assert_eq!(
        err_of("(01)09506000134352(21)42").to_string(),
        "the label has a GTIN (01) but no lot (10)"
    );
    assert_eq!(err_of("(01)09506000134352(10)A"), Gs1Error::MissingAi("21"));
    assert_eq!(
        err_of("(01)09506000134352(10)A").to_string(),
        "the label has a GTIN (01) but no serial (21)"
    );
    assert_eq!(err_of("(10)A(21)42"), Gs1Error::MissingAi("01"));
    assert_eq!(err_of("(17)250101"), Gs1Error::MissingAi("01"));
    assert_eq!(err_of("0109506000134352"), Gs1Error::MissingAi("10"));
    assert_eq!(
        err_of("https://h/01/09506000134352/21/42"),
        Gs1Error::MissingAi("10")
    );
    assert_eq!(
        err_of("https://h/01/09506000134352/10/A"),
        Gs1Error::MissingAi("21")
    );
    assert_eq!(err_of("https://h/10/A/21/42"), Gs1Error::MissingAi("01"));
    assert_eq!(
        err_of("https://h/01/09506000134352"),
        Gs1Error::MissingAi("10")
    );
}

#[test]
fn ai_order_in_digital_link() {
    for text in [
        "/01/09506000134352/21/42/10/A",
        "/10/A/01/09506000134352/21/42",
        "/21/42/10/A/01/09506000134352",
    ] {
        assert_eq!(err_of(text), Gs1Error::AiOrder, "{text}");
    }
}

#[test]
fn duplicate_ai() {
    assert_eq!(
        err_of("(01)09506000134352(10)A(10)B(21)1"),
        Gs1Error::DuplicateAi("10".to_owned())
    );
    assert_eq!(
        err_of("(01)09506000134352(10)A(10)B(21)1").to_string(),
        "application identifier (10) appears twice"
    );
    assert_eq!(
        err_of("010950600013435201095060001343521"),
        Gs1Error::DuplicateAi("01".to_owned())
    );
    assert_eq!(
        err_of("/01/09506000134352/10/A/21/1/10/B"),
        Gs1Error::DuplicateAi("10".to_owned())
    );
    assert_eq!(
        err_of("/01/09506000134352/01/09506000134352/10/A/21/1"),
        Gs1Error::DuplicateAi("01".to_owned())
    );
    assert_eq!(
        err_of("(17)250101(17)250102"),
        Gs1Error::DuplicateAi("17".to_owned())
    );
}

#[test]
fn mixed_keys() {
    for text in [
        "(00)106141411234567897(01)09506000134352(10)A(21)1",
        "(00)106141411234567897(10)A",
        "/00/106141411234567897/10/A",
        "/00/106141411234567897/01/09506000134352/10/A/21/1",
        "/10/A/00/106141411234567897",
    ] {
        assert_eq!(err_of(text), Gs1Error::MixedKeys, "{text}");
    }
}

#[test]
fn unknown_ai() {
    assert_eq!(
        err_of("(01)09506000134352(10)A(21)1(99)X"),
        Gs1Error::UnknownAi("99".to_owned())
    );
    assert!(err_of("(99)X")
        .to_string()
        .starts_with("unknown application identifier (99)"));
    assert_eq!(
        err_of("(02)09506000134352(37)10"),
        Gs1Error::UnknownAi("02".to_owned())
    );
    assert_eq!(
        err_of("0109506000134352991234"),
        Gs1Error::UnknownAi("99".to_owned())
    );
    assert_eq!(
        err_of("/01/09506000134352/10/A/21/1/22/X"),
        Gs1Error::UnknownAi("22".to_owned())
    );
    // One stray digit where the next AI should start.
    assert_eq!(
        err_of("01095060001343521"),
        Gs1Error::UnknownAi("1".to_owned())
    );
    assert_eq!(
        err_of("010950600013435210A\u{1d}X1"),
        Gs1Error::UnknownAi("X1".to_owned())
    );
}

#[test]
fn truncated() {
    assert_eq!(
        err_of("01095060001343"),
        Gs1Error::Truncated {
            ai: "01".to_owned(),
            need: 14,
            got: 12
        }
    );
    assert_eq!(
        err_of("01095060001343").to_string(),
        "(01) needs 14 characters but the scan ends after 12"
    );
    assert_eq!(
        err_of("0010614141123456789"),
        Gs1Error::Truncated {
            ai: "00".to_owned(),
            need: 18,
            got: 17
        }
    );
    assert_eq!(
        err_of("01095060001343521725"),
        Gs1Error::Truncated {
            ai: "17".to_owned(),
            need: 6,
            got: 2
        }
    );
}

#[test]
fn bad_dates() {
    for (text, value) in [
        ("(17)2501", "2501"),
        ("(17)251301", "251301"),
        ("(15)250132", "250132"),
        ("(11)25010A", "25010A"),
        ("(13)2501011", "2501011"),
    ] {
        let ai = &text[1..3];
        assert_eq!(
            err_of(text),
            Gs1Error::BadDate {
                ai: ai.to_owned(),
                value: value.to_owned()
            },
            "{text}"
        );
    }
    assert_eq!(
        err_of("01095060001343521725AB01"),
        Gs1Error::BadDate {
            ai: "17".to_owned(),
            value: "25AB01".to_owned()
        }
    );
    // Day 00 means end of month and is valid.
    assert_eq!(
        key_of("(17)251200(01)09506000134352(10)A(21)1"),
        unit(GTIN, "A", "1")
    );
}

#[test]
fn bad_percent_encoding() {
    for text in [
        "/01/09506000134352/10/A%2/21/1",
        "/01/09506000134352/10/A%/21/1",
        "/01/09506000134352/10/A%G1/21/1",
        "/01/09506000134352/10/A/21/%FF",
        "/01/09506000134352/10/A/21/%C3",
        "/01/09506000134352/10/A%é1/21/1",
    ] {
        assert_eq!(err_of(text), Gs1Error::BadPercentEncoding, "{text}");
    }
}

#[test]
fn value_errors_surface_from_every_shape() {
    assert_eq!(
        err_of("(01)09506000134355(10)A(21)1"),
        Gs1Error::GtinCheckDigit {
            expected: 2,
            found: 5
        }
    );
    assert_eq!(
        err_of("https://h/01/0950600013435/10/A/21/1"),
        Gs1Error::GtinCheckDigit {
            expected: 9,
            found: 5
        }
    );
    assert_eq!(
        err_of("https://h/01/09506000134/10/A/21/1"),
        Gs1Error::GtinLength(11)
    );
    assert_eq!(
        err_of("01095060001343X210A\u{1d}211"),
        Gs1Error::GtinNotDigits
    );
    assert_eq!(
        err_of("00106141411234567898"),
        Gs1Error::SsccCheckDigit {
            expected: 7,
            found: 8
        }
    );
    assert_eq!(err_of("/00/1061414112345678"), Gs1Error::SsccLength(16));
    assert_eq!(err_of("(00)10614141123456789X"), Gs1Error::SsccNotDigits);
    assert_eq!(err_of("010950600013435210\u{1d}211"), Gs1Error::LotEmpty);
    assert_eq!(err_of("/01/09506000134352/10//21/1"), Gs1Error::LotEmpty);
    assert_eq!(
        err_of("(01)09506000134352(10)ABCDEFGHIJ0123456789X(21)1"),
        Gs1Error::LotTooLong(21)
    );
    assert_eq!(
        err_of("(01)09506000134352(10)A B(21)1"),
        Gs1Error::LotBadChar(' ')
    );
    assert_eq!(err_of("010950600013435210A\u{1d}21"), Gs1Error::SerialEmpty);
    assert_eq!(
        err_of("010950600013435210A\u{1d}21ABCDEFGHIJ0123456789X"),
        Gs1Error::SerialTooLong(21)
    );
    assert_eq!(
        err_of("(01)09506000134352(10)A(21)1#"),
        Gs1Error::SerialBadChar('#')
    );
}

#[test]
fn error_messages_are_nonempty_and_single_line() {
    let errors = [
        Gs1Error::Empty,
        Gs1Error::Unrecognized,
        Gs1Error::GtinNotDigits,
        Gs1Error::GtinLength(3),
        Gs1Error::GtinCheckDigit {
            expected: 1,
            found: 2,
        },
        Gs1Error::SsccNotDigits,
        Gs1Error::SsccLength(3),
        Gs1Error::SsccCheckDigit {
            expected: 1,
            found: 2,
        },
        Gs1Error::LotEmpty,
        Gs1Error::LotTooLong(21),
        Gs1Error::LotBadChar('#'),
        Gs1Error::SerialEmpty,
        Gs1Error::SerialTooLong(21),
        Gs1Error::SerialBadChar('#'),
        Gs1Error::UnknownAi("99".to_owned()),
        Gs1Error::MissingAi("01"),
        Gs1Error::AiOrder,
        Gs1Error::DuplicateAi("10".to_owned()),
        Gs1Error::MixedKeys,
        Gs1Error::BadPercentEncoding,
        Gs1Error::Truncated {
            ai: "01".to_owned(),
            need: 14,
            got: 3,
        },
        Gs1Error::BadDate {
            ai: "17".to_owned(),
            value: "x".to_owned(),
        },
    ];
    for e in errors {
        let msg = e.to_string();
        assert!(!msg.is_empty() && !msg.contains('\n'), "{e:?}: {msg}");
    }
    assert_eq!(
        Gs1Error::MissingAi("01").to_string(),
        "the label has no GTIN (01) or SSCC (00)"
    );
    assert_eq!(
        Gs1Error::SerialBadChar(GS).to_string(),
        "serial (21) contains '\\u{1d}'; GS1 set 82 allows only A-Z a-z 0-9 !\"%&'()*+,-./:;<=>?_"
    );
}

#[test]
fn hostile_input_does_not_panic() {
    for text in [
        "]",
        "]é",
        "]éé01",
        "(",
        ")",
        "()",
        "(0)",
        "(01)",
        "(01)é",
        "0",
        "00",
        "01é",
        "01ééééééééééééééé",
        "17éééééé",
        "https://",
        "https://h/01",
        "https://h/01/",
        "//",
        "/01//10//21/",
        "%",
        "/%",
        "10\u{1d}\u{1d}\u{1d}",
        "中文/01/09506000134352/10/中/21/1",
    ] {
        let _ = parse_scan(text);
        let _ = parse_path(text, Some(text));
    }
}
