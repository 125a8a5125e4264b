//! Our bit-packed mask choice against the `qrcode` crate's own: the same
//! penalty for every mask and the same symbol, module for module, over many
//! payloads, versions and error correction levels. Decoding behaviour
//! (zbarimg on the samples included) therefore cannot have changed.

use qrcode::canvas::Canvas;
use qrcode::{Color, EcLevel, QrCode, Version};
use suyuan::label::mask::{self, Packed, PATTERNS};
use suyuan::label::qr::Matrix;
use suyuan::label::Ecc;

const LEVELS: [(Ecc, EcLevel); 4] = [
    (Ecc::L, EcLevel::L),
    (Ecc::M, EcLevel::M),
    (Ecc::Q, EcLevel::Q),
    (Ecc::H, EcLevel::H),
];

// A deterministic pseudo-random payload: label-like URLs, digits, mixed bytes.
fn payload(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let alphabet: &[u8] = match seed % 3 {
        0 => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        1 => b"0123456789",
        _ => b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:",
    };
    let mut s = String::from(if seed.is_multiple_of(2) {
        "https://id.suyuan.example/01/06901234567892/10/L20261015A/21/"
    } else {
        ""
    });
    while s.len() < len {
        s.push(alphabet[(next() % alphabet.len() as u64) as usize] as char);
    }
    s.truncate(len);
    s
}

// The crate's penalty (qrcode 0.14 canvas.rs, `compute_total_penalty_scores`),
// ported module by module as plainly as it is written there.
fn crate_penalty(w: usize, dark: &[bool]) -> u16 {
    let get = |x: usize, y: usize| dark[y * w + x];
    let mut total: u16 = 0;
    for horizontal in [true, false] {
        let at = |i: usize, j: usize| if horizontal { get(j, i) } else { get(i, j) };
        for i in 0..w {
            let mut last: Option<bool> = None;
            let mut len = 1u16;
            for c in (0..w).map(|j| Some(at(i, j))).chain([None]) {
                if c == last && c.is_some() {
                    len += 1;
                } else {
                    last = c;
                    if len >= 5 {
                        total = total.wrapping_add(len - 2);
                    }
                    len = 1;
                }
            }
        }
    }
    for i in 0..w - 1 {
        for j in 0..w - 1 {
            let c = get(i, j);
            if get(i + 1, j) == c && get(i, j + 1) == c && get(i + 1, j + 1) == c {
                total = total.wrapping_add(3);
            }
        }
    }
    const PATTERN: [bool; 7] = [true, false, true, true, true, false, true];
    for horizontal in [true, false] {
        let at = |i: usize, k: usize| if horizontal { get(k, i) } else { get(i, k) };
        let mut score: u16 = 0;
        for i in 0..w {
            for j in 0..w - 6 {
                if (0..7).any(|k| at(i, j + k) != PATTERN[k]) {
                    continue;
                }
                let check = |k: isize| 0 <= k && (k as usize) < w && at(i, k as usize);
                let j = j as isize;
                if !((j - 4)..j).any(check) || !((j + 7)..(j + 11)).any(check) {
                    score = score.wrapping_add(40);
                }
            }
        }
        total = total.wrapping_add(score.wrapping_sub(360));
    }
    let ratio = dark.iter().filter(|&&d| d).count() * 200 / (w * w);
    total.wrapping_add(ratio.abs_diff(100) as u16)
}

fn packed(w: usize, colors: &[Color]) -> Packed {
    let words = w.div_ceil(64);
    let mut bits = vec![0u64; words * w];
    for (i, c) in colors.iter().enumerate() {
        if *c == Color::Dark {
            bits[(i / w) * words + (i % w) / 64] |= 1 << ((i % w) % 64);
        }
    }
    Packed {
        width: w,
        words,
        bits,
    }
}

fn matrix_bools(m: &Matrix) -> Vec<bool> {
    let w = m.width();
    (0..w * w).map(|i| m.dark(i % w, i / w)).collect()
}

#[test]
fn penalty_matches_the_crate_for_every_mask() {
    let mut checked = 0;
    // Versions 1, 4, …, 40: one, two and three words per row.
    for (seed, version) in (1..=40i16).step_by(3).enumerate() {
        for (i, &(_, level)) in LEVELS.iter().enumerate() {
            let v = Version::Normal(version);
            let seed = (seed * 4 + i) as u64;
            // Most of the capacity, so the data is not mostly padding:
            // start high and shorten until it fits.
            let mut len = (16 + 20 * version as usize * version as usize).min(3000);
            let (data, code) = loop {
                let data = payload(seed, len);
                if let Ok(code) = QrCode::with_version(data.as_bytes(), v, level) {
                    break (data, code);
                }
                len = len * 9 / 10;
            };
            let w = code.width();
            let mut bits = qrcode::bits::Bits::new(v);
            bits.push_optimal_data(data.as_bytes()).unwrap();
            bits.push_terminator(level).unwrap();
            let (d, ec) = qrcode::ec::construct_codewords(&bits.into_bytes(), v, level).unwrap();
            let mut canvas = Canvas::new(v, level);
            canvas.draw_all_functional_patterns();
            canvas.draw_data(&d, &ec);
            for p in PATTERNS {
                let mut c = canvas.clone();
                c.apply_mask(p);
                let colors = c.into_colors();
                let dark: Vec<bool> = colors.iter().map(|&c| c == Color::Dark).collect();
                assert_eq!(
                    mask::penalty(&packed(w, &colors)),
                    crate_penalty(w, &dark),
                    "version {version} {level:?} mask {p:?}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 14 * 4 * 8);
}

#[test]
fn symbols_are_the_crates_module_for_module() {
    let mut checked = 0;
    for seed in 0..400u64 {
        let (ecc, level) = LEVELS[(seed % 4) as usize];
        // Lengths from tiny to version ~25, label URLs among them.
        let len = 1 + (seed as usize * 37) % 700;
        let data = payload(seed, len);
        let Ok(code) = QrCode::with_error_correction_level(data.as_bytes(), level) else {
            assert!(Matrix::encode(&data, ecc).is_err());
            continue;
        };
        let ours = Matrix::encode(&data, ecc).unwrap();
        let theirs: Vec<bool> = code.to_colors().iter().map(|&c| c == Color::Dark).collect();
        assert_eq!(ours.width() as usize, code.width(), "{data}");
        assert_eq!(matrix_bools(&ours), theirs, "{ecc:?} {data}");

        // A fixed, larger version, as a run uses for all its labels.
        let Version::Normal(v) = code.version() else {
            unreachable!()
        };
        let bigger = Version::Normal((v + 2).min(40));
        let code = QrCode::with_version(data.as_bytes(), bigger, level).unwrap();
        let ours = Matrix::encode_width(&data, ecc, code.width() as u32).unwrap();
        let theirs: Vec<bool> = code.to_colors().iter().map(|&c| c == Color::Dark).collect();
        assert_eq!(matrix_bools(&ours), theirs, "{ecc:?} {bigger:?} {data}");
        checked += 1;
    }
    assert!(checked > 350, "{checked}");
}

#[test]
fn label_urls_match_the_crate() {
    // The URLs the renderer encodes: every level, the run widths it uses.
    let base = "https://id.suyuan.example/01/06901234567892/10/L20261015A/21/";
    for (ecc, level) in LEVELS {
        for serial in (0..1_000_000u64).step_by(9_973) {
            let url = format!("{base}{serial}?s={}", payload(serial, 86));
            let code = QrCode::with_error_correction_level(url.as_bytes(), level).unwrap();
            let theirs: Vec<bool> = code.to_colors().iter().map(|&c| c == Color::Dark).collect();
            let ours = Matrix::encode_width(&url, ecc, code.width() as u32).unwrap();
            assert_eq!(matrix_bools(&ours), theirs, "{ecc:?} {url}");
        }
    }
}
