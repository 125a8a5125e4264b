//! Checks the signing-format vectors in `tests/vectors/` against the crate's own
//! implementation (`suyuan::formats::jcs`, `suyuan::formats::sign`), and checks that the files are
//! exactly what `examples/gen_vectors.rs` produces.

use std::collections::BTreeSet;
use std::fs;
use std::str::FromStr;

use serde_json::Value;
use suyuan::formats::jcs;
use suyuan::formats::sign::{self, Kind};

#[allow(dead_code)]
#[path = "../examples/gen_vectors.rs"]
mod gen_vectors;

/// (file name, parsed file) for every `*.json` in the vector directory, sorted by name.
fn load() -> Vec<(String, Value)> {
    let dir = gen_vectors::vector_dir();
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no vectors in {}; run `cargo run --example gen_vectors`",
        dir.display()
    );
    files
        .into_iter()
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap();
            let value: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), value)
        })
        .collect()
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a str, String> {
    v[name]
        .as_str()
        .ok_or_else(|| format!("field \"{name}\" missing or not a string"))
}

/// Ok(None) if the crate accepts the vector, Ok(Some(stage)) if it refuses it, Err if the vector
/// and the crate disagree on something that does not depend on validity (message, id, sig).
fn evaluate(v: &Value) -> Result<Option<String>, String> {
    let kind = match Kind::from_str(field(v, "kind")?) {
        Ok(k) => k,
        Err(e) => return Ok(Some(format!("kind: {e}"))),
    };
    let sig = field(v, "sig")?;
    let message_hex = field(v, "message_hex")?;
    let id = field(v, "id")?;

    // 1. The message, exactly as a receiver would rebuild it.
    let built = if kind == Kind::Label {
        let path = v["statement"]
            .as_str()
            .ok_or("label statement must be a string")?;
        gen_vectors::canonical_label_path(path)
            .map(|canonical| (sign::message(Kind::Label, &canonical), None))
            .ok_or_else(|| format!("label path {path:?} is not a Digital Link path"))
    } else {
        // Transmit it: the statement plus "sig", as JSON text, read back under the strict rules.
        let text = match (&v["statement"], &v["statement_text"]) {
            (Value::Object(body), Value::Null) => {
                if body.contains_key("sig") {
                    return Err("statement must not contain \"sig\"".into());
                }
                // Both paths must refuse the same values: canonicalising the value directly and
                // parsing its transmitted text.
                let direct = jcs::canonicalize(&v["statement"]);
                let mut full = body.clone();
                full.insert("sig".into(), Value::String(sig.to_owned()));
                let text = serde_json::to_string(&full).unwrap();
                let parsed = sign::parse_statement(kind, &text);
                if direct.is_ok() != parsed.is_ok() {
                    return Err(format!(
                        "canonicalize gives {direct:?}, parse_statement gives {:?}",
                        parsed.err()
                    ));
                }
                text
            }
            (Value::Null, Value::String(raw)) => {
                let open = raw.find('{').ok_or("statement_text is not an object")?;
                format!(
                    "{}{{\"sig\":{},{}",
                    &raw[..open],
                    Value::from(sig),
                    &raw[open + 1..]
                )
            }
            _ => {
                return Err(
                    "exactly one of statement (object) and statement_text must be present".into(),
                )
            }
        };
        sign::parse_statement(kind, &text)
            .map(|p| (p.message.clone(), Some(p)))
            .map_err(|e| format!("parse/canonicalise: {e}"))
    };
    let (message, parsed) = match built {
        Ok(b) => b,
        Err(stage) => {
            if !message_hex.is_empty() || !id.is_empty() {
                return Err(format!(
                    "refused ({stage}) but message_hex/id are not empty"
                ));
            }
            return Ok(Some(stage));
        }
    };
    if hex::encode(&message) != message_hex {
        return Err(format!(
            "message differs:\n  computed {}\n  vector   {message_hex}",
            hex::encode(&message)
        ));
    }
    if sign::id_of(&message) != id {
        return Err(format!("id differs: computed {}", sign::id_of(&message)));
    }

    // 2. The key.
    let key = match sign::parse_public_key(field(v, "public_key")?) {
        Ok(k) => k,
        Err(e) => return Ok(Some(format!("public key: {e}"))),
    };

    // 3. The signature.
    let verified = match &parsed {
        Some(p) => p.verify(&key),
        None => sign::verify_message(&key, &message, sig),
    };
    if let Err(e) = verified {
        return Ok(Some(format!("verify: {e}")));
    }

    // Accepted. Then the seed must reproduce the key and, Ed25519 being deterministic, the sig.
    let secret =
        sign::parse_secret_key(field(v, "secret_key")?).map_err(|e| format!("secret_key: {e}"))?;
    if secret.verifying_key() != key {
        return Err("secret_key does not match public_key".into());
    }
    let resigned = match &parsed {
        Some(p) => {
            let (full, rid) =
                sign::sign_value(kind, &p.body, &secret).map_err(|e| e.to_string())?;
            if rid != id {
                return Err("sign_value gives another id".into());
            }
            full["sig"].as_str().unwrap().to_owned()
        }
        None => {
            let canonical =
                gen_vectors::canonical_label_path(v["statement"].as_str().unwrap()).unwrap();
            sign::sign_label(&canonical, &secret)
        }
    };
    if resigned != sig {
        return Err(format!("re-signing gives another sig: {resigned}"));
    }
    if let Some(p) = &parsed {
        if let Some(kid) = p.body.get("key").and_then(Value::as_str) {
            if kid != sign::key_id(&key) {
                return Err(format!(
                    "\"key\" is {kid}, key_id of public_key is {}",
                    sign::key_id(&key)
                ));
            }
        }
    }
    Ok(None)
}

#[test]
fn every_vector_has_the_expected_outcome() {
    let mut failures = Vec::new();
    for (file, v) in load() {
        let expected = v["valid"].as_bool();
        match (evaluate(&v), expected) {
            (_, None) => failures.push(format!("{file}: \"valid\" is not a boolean")),
            (Err(e), _) => failures.push(format!("{file}: {e}")),
            (Ok(None), Some(true)) => println!("ok   {file}: accepted"),
            (Ok(Some(stage)), Some(false)) => println!("ok   {file}: refused at {stage}"),
            (Ok(None), Some(false)) => {
                failures.push(format!("{file}: accepted but marked invalid"))
            }
            (Ok(Some(stage)), Some(true)) => {
                failures.push(format!("{file}: refused at {stage} but marked valid"))
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} vector(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn vectors_cover_every_kind_and_enough_cases() {
    let vectors = load();
    let mut kinds = BTreeSet::new();
    let (mut valid, mut invalid) = (0, 0);
    for (file, v) in &vectors {
        assert_eq!(
            v["name"].as_str().map(|n| format!("{n}.json")).as_deref(),
            Some(file.as_str()),
            "name must be the file name"
        );
        let bytes = file.as_bytes();
        assert!(
            bytes.len() > 3 && bytes[..2].iter().all(u8::is_ascii_digit) && bytes[2] == b'-',
            "{file}: not named NN-short-name.json"
        );
        if v["valid"] == Value::Bool(true) {
            valid += 1;
            kinds.insert(v["kind"].as_str().unwrap().to_owned());
        } else {
            invalid += 1;
            assert!(
                v["error"].is_string(),
                "{file}: invalid vectors say why in \"error\""
            );
        }
    }
    assert!(valid >= 16, "only {valid} valid vectors");
    assert!(invalid >= 7, "only {invalid} invalid vectors");
    let all: BTreeSet<String> = ["batch", "event", "key", "label"].map(String::from).into();
    assert_eq!(kinds, all, "every kind needs a valid vector");
}

#[test]
fn files_are_what_the_generator_writes() {
    let on_disk: Vec<(String, String)> = load()
        .into_iter()
        .map(|(file, _)| {
            let text = fs::read_to_string(gen_vectors::vector_dir().join(&file)).unwrap();
            (file, text)
        })
        .collect();
    let mut built = gen_vectors::build();
    built.sort();
    let names = |files: &[(String, String)]| files.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&on_disk),
        names(&built),
        "run `cargo run --example gen_vectors`"
    );
    for ((file, disk), (_, fresh)) in on_disk.iter().zip(&built) {
        assert!(
            disk == fresh,
            "{file} differs from the generator's output; run `cargo run --example gen_vectors`"
        );
    }
}

#[test]
fn label_paths_are_rebuilt_canonically() {
    let c = gen_vectors::canonical_label_path;
    assert_eq!(
        c("01/09506000134352/10/LOT%2f1/21/4%32").as_deref(),
        Some("01/09506000134352/10/LOT%2F1/21/42")
    );
    assert_eq!(
        c("01/09506000134352/10/a b/21/批").as_deref(),
        Some("01/09506000134352/10/a%20b/21/%E6%89%B9")
    );
    assert_eq!(
        c("00/106141412345678908").as_deref(),
        Some("00/106141412345678908")
    );
    for bad in [
        "01/9506000134352/10/L/21/1",
        "01/09506000134352/10//21/1",
        "01/09506000134352/10/L%2/21/1",
        "01/09506000134352/10/L%+1/21/1",
        "01/09506000134352/21/1/10/L",
        "00/10614141234567890",
        "",
    ] {
        assert_eq!(c(bad), None, "{bad:?}");
    }
}
