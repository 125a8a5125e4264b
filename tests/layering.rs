//! The layering of ARCHITECTURE.md, checked on the source text: the pure layers
//! (`src/domain`, `src/formats`) use no async runtime, web framework or
//! database, and reach no layer above them; SQL (`sqlx`) stays in `src/store`.
//!
//! Comments and string literals are blanked out first, so a doc comment that
//! says "no sqlx here" passes and `use sqlx::Row;` does not. Test modules
//! (`#[cfg(test)] mod … { … }`) may reach other layers for fixtures, but never
//! the runtime, the framework or the database.

use std::path::{Path, PathBuf};

/// Crates the pure layers must not use.
const IMPURE_CRATES: [&str; 3] = ["sqlx", "axum", "tokio"];

/// Layers above `domain` and `formats`, which those must not import.
const UPPER_LAYERS: [&str; 8] = [
    "store", "http", "app", "client", "cli", "tlog", "verify", "label",
];

/// The `.rs` files under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Whether `c[i]` starts a token: nothing of an identifier before it, bar the
/// `b` of a raw byte string (`br"…"`).
fn starts_word(c: &[char], i: usize) -> bool {
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    match i {
        0 => true,
        1 => !ident(c[0]) || c[0] == 'b',
        _ => !ident(c[i - 1]) || (c[i - 1] == 'b' && !ident(c[i - 2])),
    }
}

/// The source with comments and the contents of string and char literals
/// replaced by spaces (newlines kept, so line numbers still hold).
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '/' if c.get(i + 1) == Some(&'/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                    out.push(' ');
                }
            }
            '/' if c.get(i + 1) == Some(&'*') => {
                let mut depth = 0;
                while i < c.len() {
                    if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                        depth += 1;
                        out.push_str("  ");
                        i += 2;
                    } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        out.push_str("  ");
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        blank(&mut out, c[i]);
                        i += 1;
                    }
                }
            }
            'r' if matches!(c.get(i + 1), Some('"') | Some('#')) && starts_word(&c, i) => {
                // A raw string r"…" or r#"…"#; anything else starting with r# is an identifier.
                let mut j = i + 1;
                let mut hashes = 0;
                while c.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if c.get(j) != Some(&'"') {
                    out.push(c[i]);
                    i += 1;
                    continue;
                }
                out.push('"');
                j += 1;
                loop {
                    if j >= c.len() {
                        break;
                    }
                    if c[j] == '"' && (0..hashes).all(|k| c.get(j + 1 + k) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    blank(&mut out, c[j]);
                    j += 1;
                }
                out.push('"');
                i = j;
            }
            '"' => {
                out.push('"');
                i += 1;
                while i < c.len() && c[i] != '"' {
                    if c[i] == '\\' {
                        out.push(' ');
                        i += 1;
                    }
                    if i < c.len() {
                        blank(&mut out, c[i]);
                        i += 1;
                    }
                }
                out.push('"');
                i += 1;
            }
            // A char literal ('x', '\n', '\u{1F600}'); a lifetime ('a) has no closing quote.
            '\'' if c.get(i + 1) == Some(&'\\') || c.get(i + 2) == Some(&'\'') => {
                out.push('\'');
                i += 1;
                while i < c.len() && c[i] != '\'' {
                    if c[i] == '\\' {
                        out.push(' ');
                        i += 1;
                    }
                    if i < c.len() {
                        out.push(' ');
                        i += 1;
                    }
                }
                out.push('\'');
                i += 1;
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// The code with every `#[cfg(test)] mod name { … }` blanked out.
fn without_test_modules(code: &str) -> String {
    let mut out = code.to_owned();
    let mut from = 0;
    while let Some(at) = out[from..].find("#[cfg(test)]").map(|k| k + from) {
        let after = &out[at + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        let is_mod = trimmed.starts_with("mod ") || trimmed.starts_with("pub mod ");
        let open = after
            .find(['{', ';'])
            .map(|k| k + at + "#[cfg(test)]".len());
        match (is_mod, open) {
            (true, Some(o)) if out.as_bytes()[o] == b'{' => {
                let mut depth = 0usize;
                let mut end = out.len();
                for (k, b) in out.bytes().enumerate().skip(o) {
                    match b {
                        b'{' => depth += 1,
                        b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let blanked: String = out[at..end]
                    .chars()
                    .map(|ch| if ch == '\n' { '\n' } else { ' ' })
                    .collect();
                out.replace_range(at..end, &blanked);
                from = end;
            }
            _ => from = at + 1,
        }
    }
    out
}

/// Whether `word` occurs in `code` as a whole identifier (not inside `my_sqlx` or `tokios`).
fn has_word(code: &str, word: &str) -> bool {
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    code.match_indices(word).any(|(at, _)| {
        let before = code.as_bytes().get(at.wrapping_sub(1)).copied();
        let after = code.as_bytes().get(at + word.len()).copied();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

/// `code` with whitespace runs made one space, and none around `: { } , ;`,
/// so that paths and groups read the same however they are wrapped.
fn compact(code: &str) -> String {
    let spaced: Vec<&str> = code.split_whitespace().collect();
    let joined = spaced.join(" ");
    let mut out = String::with_capacity(joined.len());
    let punct = |c: char| matches!(c, ':' | '{' | '}' | ',' | ';');
    let chars: Vec<char> = joined.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let before = i.checked_sub(1).map(|k| chars[k]);
            let after = chars.get(i + 1).copied();
            if before.is_some_and(punct) || after.is_some_and(punct) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Whether compacted `code` (see [`compact`]) names `crate::{layer}`, directly
/// (`crate::store::X`, `crate::store;`) or in a group (`crate::{app, store::X}`).
fn reaches(code: &str, layer: &str) -> bool {
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let direct = format!("crate::{layer}");
    let named = code.match_indices(&direct).any(|(at, _)| {
        let before = code.as_bytes().get(at.wrapping_sub(1)).copied();
        let after = code.as_bytes().get(at + direct.len()).copied();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    });
    let grouped = code.match_indices("crate::{").any(|(at, _)| {
        let group = &code[at + "crate::{".len()..];
        let mut depth = 1;
        let mut item_start = true;
        for (k, b) in group.bytes().enumerate() {
            if depth == 1 && item_start && group[k..].starts_with(layer) {
                let after = group.as_bytes().get(k + layer.len()).copied();
                if !after.is_some_and(ident) {
                    return true;
                }
            }
            item_start = false;
            match b {
                b'{' => depth += 1,
                b'}' if depth == 1 => return false,
                b'}' => depth -= 1,
                b',' if depth == 1 => item_start = true,
                _ => {}
            }
        }
        false
    });
    named || grouped
}

/// Every way a file in a pure layer breaks the layering, one line each.
fn pure_layer_violations(src: &str) -> Vec<String> {
    let code = code_only(src);
    let mut found = Vec::new();
    for krate in IMPURE_CRATES {
        for (n, line) in code.lines().enumerate() {
            if has_word(line, krate) {
                found.push(format!("line {}: uses {krate}", n + 1));
            }
        }
    }
    let outside_tests = without_test_modules(&code);
    let compact = compact(&outside_tests);
    for layer in UPPER_LAYERS {
        if reaches(&compact, layer) {
            found.push(format!("imports crate::{layer}"));
        }
    }
    if compact.contains("super::super") {
        found.push("climbs out of its layer with super::super".into());
    }
    found
}

fn src_dir(layer: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(layer)
}

#[test]
fn domain_and_formats_import_no_runtime_framework_database_or_upper_layer() {
    let mut report = Vec::new();
    let mut files = 0;
    for layer in ["domain", "formats"] {
        for path in rust_files(&src_dir(layer)) {
            files += 1;
            let src = std::fs::read_to_string(&path).unwrap();
            for v in pure_layer_violations(&src) {
                report.push(format!("{}: {v}", path.display()));
            }
        }
    }
    assert!(
        files >= 10,
        "only {files} files found under src/domain and src/formats"
    );
    assert!(report.is_empty(), "layering broken:\n{}", report.join("\n"));
}

#[test]
fn sql_stays_in_the_store() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let store = root.join("store");
    let mut report = Vec::new();
    for path in rust_files(&root) {
        if path.starts_with(&store) {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&path).unwrap());
        for (n, line) in code.lines().enumerate() {
            if has_word(line, "sqlx") {
                report.push(format!("{}: line {}: uses sqlx", path.display(), n + 1));
            }
        }
    }
    assert!(
        report.is_empty(),
        "sqlx outside src/store:\n{}",
        report.join("\n")
    );
}

#[test]
fn the_checks_catch_what_they_should_and_only_that() {
    let bad = [
        "use sqlx::Row;",
        "async fn f() { tokio::spawn(async {}); }",
        "fn h() -> axum::response::Response { todo!() }",
        "use crate::store::StoredStatement;",
        "use crate::{app, domain};",
        "use crate::{\n    domain::x,\n    store::{self, Party},\n};",
        "use crate::http ;",
        "use crate::store::{self, Party};",
        "let s = \"https://x\"; use crate::app::ledger::serial_for;",
        "use super::super::store::Party;",
        "let c = '\"'; use crate::store::Party;",
        "let b = br\"\\\"; use sqlx::Row;",
    ];
    for src in bad {
        assert!(!pure_layer_violations(src).is_empty(), "not caught: {src}");
    }
    let good = [
        "//! Pure: nothing here imports axum, sqlx or tokio.",
        "/* tokio /* nested */ sqlx */ fn f() {}",
        "let s = \"sqlx=warn,tokio=info\";",
        "let s = r#\"crate::store::X \"quoted\" \"#;",
        "fn f<'a>(x: &'a str) -> &'a str { x } // axum",
        "let my_tokio_like = 1; let storehouse = crate::domain::x;",
        "use crate::{domain::{store_like, appx}, formats};",
        "use crate::formats::gs1::Sscc;\nuse super::party::Slug;",
        "fn f() {}\n#[cfg(test)]\nmod tests {\n    use crate::client::draft_event;\n    fn g() { let _ = \"}\"; }\n}\n",
    ];
    for src in good {
        assert_eq!(
            pure_layer_violations(src),
            Vec::<String>::new(),
            "flagged: {src}"
        );
    }
    // Test modules may reach other layers, but not the runtime.
    let test_tokio = "#[cfg(test)]\nmod tests {\n    #[tokio::test]\n    async fn t() {}\n}\n";
    assert!(!pure_layer_violations(test_tokio).is_empty());
    // Code after a test module is checked again.
    let after = "#[cfg(test)]\nmod tests {}\nuse crate::http::AppState;\n";
    assert!(!pure_layer_violations(after).is_empty());
}
