//! Mask choice for QR symbols, bit-packed: the same choice and the same
//! modules as the `qrcode` crate, several times faster.
//!
//! The crate scores all eight masks of every symbol (ISO/IEC 18004 §7.8.3,
//! N1–N4) one module at a time through an enum per module, which was most of
//! a label's render time. Here the crate still does everything that decides
//! a module (data bits, error correction, function patterns, format and
//! version information); only the scoring is ours, on rows of 64-bit words.
//! It reproduces the crate's scoring exactly, including where the crate
//! departs from the standard (N4 in 1% steps, the N3 side check), so the
//! symbols are identical and scanners see what they saw before
//! (tests/labels/mask.rs checks both over many payloads, versions and levels).
//!
//! Masking is a XOR: for a masked data module the crate turns `Unmasked(c)`
//! into `c ^ m` and an empty (remainder) module into `m`; function modules
//! keep their colour, and the format information of the mask is drawn over
//! its reserved modules. So the crate's masked symbol for pattern `p` is
//! `layer[p] ^ data`, where `layer[p]` is the crate's own masking of a canvas
//! with only the function patterns drawn (its data modules then hold exactly
//! the mask bits) and `data` holds the dark data modules. The eight layers
//! depend only on the version and level, so they are made once per process.

use std::sync::OnceLock;

use qrcode::canvas::{Canvas, MaskPattern, Module};
use qrcode::{Color, EcLevel, Version};

/// The masks in the crate's order, which decides ties (the first lowest score wins).
pub const PATTERNS: [MaskPattern; 8] = [
    MaskPattern::Checkerboard,
    MaskPattern::HorizontalLines,
    MaskPattern::VerticalLines,
    MaskPattern::DiagonalLines,
    MaskPattern::LargeCheckerboard,
    MaskPattern::Fields,
    MaskPattern::Diamonds,
    MaskPattern::Meadow,
];

/// Rows of modules, `words` 64-bit words each, bit `x % 64` of word `x / 64` is column `x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// Modules across.
    pub width: usize,
    /// Words per row.
    pub words: usize,
    /// The rows, one after the other; bits past the width are zero.
    pub bits: Vec<u64>,
}

impl Packed {
    fn zero(width: usize) -> Self {
        let words = width.div_ceil(64);
        Packed {
            width,
            words,
            bits: vec![0; words * width],
        }
    }

    fn from_fn(width: usize, dark: impl Fn(usize, usize) -> bool) -> Self {
        let mut p = Packed::zero(width);
        for y in 0..width {
            for x in 0..width {
                if dark(x, y) {
                    p.bits[y * p.words + x / 64] |= 1 << (x % 64);
                }
            }
        }
        p
    }

    /// Whether the module at column `x`, row `y` is dark.
    pub fn get(&self, x: usize, y: usize) -> bool {
        self.bits[y * self.words + x / 64] >> (x % 64) & 1 == 1
    }
}

/// What is the same for every symbol of one version and level.
struct Template {
    /// Function patterns drawn, data modules empty: each symbol starts as a copy.
    canvas: Canvas,
    /// The crate's masking of `canvas` by each pattern, format information included.
    layers: Vec<Packed>,
}

fn template(version: i16, level: EcLevel) -> &'static Template {
    static TEMPLATES: [[OnceLock<Template>; 4]; 40] =
        [const { [const { OnceLock::new() }; 4] }; 40];
    TEMPLATES[(version - 1) as usize][level as usize].get_or_init(|| {
        let mut canvas = Canvas::new(Version::Normal(version), level);
        canvas.draw_all_functional_patterns();
        let width = Version::Normal(version).width() as usize;
        let layers = PATTERNS
            .iter()
            .map(|&p| {
                let mut c = canvas.clone();
                c.apply_mask(p);
                let colors = c.into_colors();
                Packed::from_fn(width, |x, y| colors[y * width + x] == Color::Dark)
            })
            .collect();
        Template { canvas, layers }
    })
}

/// The masked symbol the `qrcode` crate would make from these data and error
/// correction codewords (a normal QR version, 1–40).
pub fn best_masked(version: i16, level: EcLevel, data: &[u8], ec: &[u8]) -> Packed {
    let t = template(version, level);
    let mut canvas = t.canvas.clone();
    canvas.draw_data(data, ec);
    let width = t.layers[0].width;
    let mut unmasked = Packed::zero(width);
    for y in 0..width {
        for x in 0..width {
            // Coordinates are at most 176, well inside i16.
            if canvas.get(x as i16, y as i16) == Module::Unmasked(Color::Dark) {
                unmasked.bits[y * unmasked.words + x / 64] |= 1 << (x % 64);
            }
        }
    }
    let mut best: Option<(u16, Packed)> = None;
    for layer in &t.layers {
        let mut m = unmasked.clone();
        for (b, l) in m.bits.iter_mut().zip(&layer.bits) {
            *b ^= l;
        }
        let score = penalty(&m);
        // Strictly lower only: on a tie the earlier pattern stays, as in the crate.
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((score, m));
        }
    }
    best.expect("eight patterns").1
}

/// The crate's total penalty of a masked symbol: N1 + N2 + N3 + N4, in u16
/// with the crate's wrapping (its N3 subtracts the 360 points the three
/// finder patterns score themselves).
pub fn penalty(m: &Packed) -> u16 {
    match m.words {
        1 => penalty_n::<1>(m),
        2 => penalty_n::<2>(m),
        _ => penalty_n::<3>(m),
    }
}

type Row<const N: usize> = [u64; N];

// Bit i of the result is bit i + k of `r` (k in 1..64): looks k modules to the right.
fn shr<const N: usize>(r: Row<N>, k: u32) -> Row<N> {
    let mut o = [0; N];
    for j in 0..N {
        o[j] = r[j] >> k;
        if j + 1 < N {
            o[j] |= r[j + 1] << (64 - k);
        }
    }
    o
}

// Bit i of the result is bit i - k of `r` (k in 1..64): looks k modules to the left.
fn shl<const N: usize>(r: Row<N>, k: u32) -> Row<N> {
    let mut o = [0; N];
    for j in 0..N {
        o[j] = r[j] << k;
        if j > 0 {
            o[j] |= r[j - 1] >> (64 - k);
        }
    }
    o
}

fn and<const N: usize>(a: Row<N>, b: Row<N>) -> Row<N> {
    std::array::from_fn(|j| a[j] & b[j])
}

fn or<const N: usize>(a: Row<N>, b: Row<N>) -> Row<N> {
    std::array::from_fn(|j| a[j] | b[j])
}

// `a` and not `b`.
fn andn<const N: usize>(a: Row<N>, b: Row<N>) -> Row<N> {
    std::array::from_fn(|j| a[j] & !b[j])
}

fn ones<const N: usize>(r: Row<N>) -> u32 {
    r.iter().map(|w| w.count_ones()).sum()
}

// N1 from the windows of five equal modules starting at each bit and the
// colour of the module before each (`prev`): a run of length L >= 5 has
// L - 4 windows, one of them where the module before differs, and the crate
// scores it L - 2.
fn run_score<const N: usize>(five: Row<N>, prev: Row<N>) -> u32 {
    ones(five) + 2 * ones(andn(five, prev))
}

fn penalty_n<const N: usize>(m: &Packed) -> u16 {
    let w = m.width;
    let mut full = [0u64; N];
    for (j, f) in full.iter_mut().enumerate() {
        let bits = w.saturating_sub(j * 64).min(64);
        *f = if bits == 64 { !0 } else { (1u64 << bits) - 1 };
    }
    let dark: Vec<Row<N>> = m
        .bits
        .chunks_exact(m.words)
        .map(|r| std::array::from_fn(|j| r[j]))
        .collect();
    let light: Vec<Row<N>> = dark.iter().map(|&d| andn(full, d)).collect();
    let zero = [0u64; N];
    let (mut n1, mut n2, mut n3, mut n4) = (0u32, 0u32, 0u32, 0u32);

    for y in 0..w {
        let (d, l) = (dark[y], light[y]);
        n4 += ones(d);
        // N1 along the row: a run starts where the module to its left differs.
        for c in [d, l] {
            let five = and(and(and(c, shr(c, 1)), and(shr(c, 2), shr(c, 3))), shr(c, 4));
            n1 += run_score(five, shl(c, 1));
        }
        // N3 along the row: dark-light-dark-dark-dark-light-dark at bit j,
        // scored unless both four-module sides hold a dark one (outside is light).
        let pat = and(
            and(and(d, shr(l, 1)), and(shr(d, 2), shr(d, 3))),
            and(and(shr(d, 4), shr(l, 5)), shr(d, 6)),
        );
        let before = or(or(shl(d, 1), shl(d, 2)), or(shl(d, 3), shl(d, 4)));
        let after = or(or(shr(d, 7), shr(d, 8)), or(shr(d, 9), shr(d, 10)));
        n3 += ones(andn(pat, and(before, after)));
        if y + 1 < w {
            // N2: 2×2 blocks of one colour, with their top-left module at bit x.
            for rows in [&dark, &light] {
                let both = and(rows[y], rows[y + 1]);
                n2 += ones(and(both, shr(both, 1)));
            }
        }
        if y + 5 <= w {
            // N1 down the columns, the same way with rows for bits.
            for rows in [&dark, &light] {
                let five = (y..y + 5).fold(full, |a, k| and(a, rows[k]));
                let prev = if y > 0 { rows[y - 1] } else { zero };
                n1 += run_score(five, prev);
            }
        }
        if y + 7 <= w {
            // N3 down the columns.
            let pat = [
                dark[y],
                light[y + 1],
                dark[y + 2],
                dark[y + 3],
                dark[y + 4],
                light[y + 5],
                dark[y + 6],
            ]
            .into_iter()
            .fold(full, and);
            let before = (y.saturating_sub(4)..y).fold(zero, |a, k| or(a, dark[k]));
            let after = (y + 7..(y + 11).min(w)).fold(zero, |a, k| or(a, dark[k]));
            n3 += ones(andn(pat, and(before, after)));
        }
    }
    n2 *= 3;
    // N4 in whole percent of deviation from half dark, as the crate rounds it.
    let ratio = (n4 as usize * 200 / (w * w)) as i64;
    let n4 = (ratio - 100).abs();
    let total = i64::from(n1) + i64::from(n2) + 40 * i64::from(n3) - 720 + n4;
    total.rem_euclid(1 << 16) as u16
}
