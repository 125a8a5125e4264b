//! Human-readable lines: wrapping to a width and placing them in the text box.
//! Pure: widths come from a `measure` function the caller supplies.

use super::layout::{Layout, TITLE_SCALE};

/// How a line is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// The product name (or "SSCC"): a little larger, may wrap.
    Title,
    /// Identifiers and dates.
    Body,
}

/// One logical line of text on a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextLine {
    /// What it says.
    pub text: String,
    /// How it is set.
    pub style: Style,
    /// How many printed lines it may wrap onto; the rest is cut with "…".
    pub max_lines: u32,
    /// Whether it is the same on every label of a run (so it is drawn once).
    pub fixed: bool,
}

/// A printed line: text, font size and top-left position, in dots.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// What is printed.
    pub text: String,
    /// Left edge.
    pub x: u32,
    /// Top of the line box.
    pub y: u32,
    /// Font size (em height) in dots.
    pub px: f32,
    /// Whether it comes from a fixed line.
    pub fixed: bool,
}

/// Font size as a share of the line height: leaves room for descenders.
const EM_SHARE: f32 = 0.82;

/// Smallest share of its normal size a body line is shrunk to before it is cut.
const MIN_SHRINK: f32 = 0.55;

/// Breaks `text` into at most `max_lines` lines no wider than `max_width`,
/// preferring spaces; the last line is cut with "…" if text remains.
pub fn wrap(
    text: &str,
    max_width: f32,
    max_lines: u32,
    measure: impl Fn(char) -> f32,
) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() && (lines.len() as u32) < max_lines {
        // Skip spaces at the start of a continuation line.
        while i < chars.len() && chars[i] == ' ' && !lines.is_empty() {
            i += 1;
        }
        let mut w = 0.0;
        let mut end = i;
        while end < chars.len() && w + measure(chars[end]) <= max_width {
            w += measure(chars[end]);
            end += 1;
        }
        if end == chars.len() {
            lines.push(chars[i..end].iter().collect());
            break;
        }
        let last = (lines.len() as u32) + 1 == max_lines;
        if last {
            // Make room for the ellipsis.
            let ell = measure('…');
            while end > i && w + ell > max_width {
                end -= 1;
                w -= measure(chars[end]);
            }
            let mut s: String = chars[i..end].iter().collect();
            s = s.trim_end().to_owned();
            s.push('…');
            lines.push(s);
            break;
        }
        // Break at the last space if there is one; CJK text breaks anywhere.
        let brk = (i + 1..end).rev().find(|&k| chars[k] == ' ').unwrap_or(end);
        let brk = if brk == i { end.max(i + 1) } else { brk };
        lines.push(
            chars[i..brk]
                .iter()
                .collect::<String>()
                .trim_end()
                .to_owned(),
        );
        i = brk;
    }
    lines
}

/// Places `lines` in the layout's text box, top to bottom.
pub fn place(
    lines: &[TextLine],
    layout: &Layout,
    measure: impl Fn(char, f32) -> f32,
) -> Vec<Placed> {
    let mut out = Vec::new();
    let mut y = layout.text.y;
    let bottom = layout.text.y + layout.text.h;
    for line in lines {
        let scale = if line.style == Style::Title {
            TITLE_SCALE
        } else {
            1.0
        };
        let h = (f64::from(layout.line) * scale) as u32;
        let mut px = h as f32 * EM_SHARE;
        // An identifier cut short is useless to a person reading it: set a
        // one-line body line smaller until it fits, down to a floor.
        if line.style == Style::Body && line.max_lines == 1 {
            let width: f32 = line.text.chars().map(|c| measure(c, px)).sum();
            if width > layout.text.w as f32 {
                px = (px * layout.text.w as f32 / width).max(px * MIN_SHRINK);
            }
        }
        let parts = wrap(&line.text, layout.text.w as f32, line.max_lines, |c| {
            measure(c, px)
        });
        for part in parts {
            if y + h > bottom {
                return out;
            }
            out.push(Placed {
                text: part,
                x: layout.text.x,
                y,
                px,
                fixed: line.fixed,
            });
            y += h;
        }
    }
    out
}

/// A width estimate for when no font is at hand (SVG): CJK is square, Latin about half.
pub fn approx_advance(c: char, px: f32) -> f32 {
    if is_wide(c) {
        px
    } else {
        px * 0.6
    }
}

/// Whether a character is set on a full em (CJK ideographs, kana, fullwidth forms).
pub fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::label::layout::{Ecc, LabelSize, Spec};

    fn one(_: char) -> f32 {
        1.0
    }

    #[test]
    fn wraps_at_spaces_and_cuts_with_ellipsis() {
        assert_eq!(wrap("abc def", 10.0, 2, one), vec!["abc def"]);
        assert_eq!(wrap("abc def ghi", 8.0, 2, one), vec!["abc def", "ghi"]);
        assert_eq!(
            wrap("abc def ghi jkl", 8.0, 2, one),
            vec!["abc def", "ghi jkl"]
        );
        assert_eq!(
            wrap("abc def ghi jkl mno", 8.0, 2, one),
            vec!["abc def", "ghi jkl…"]
        );
        // No spaces (Chinese): break anywhere.
        assert_eq!(wrap("婴儿配方奶粉", 4.0, 2, one), vec!["婴儿配方", "奶粉"]);
        assert_eq!(
            wrap("婴儿配方奶粉一段", 3.0, 2, one),
            vec!["婴儿配", "方奶…"]
        );
        assert!(wrap("", 3.0, 2, one).is_empty());
        // Narrower than one character: still progresses, never loops.
        assert_eq!(wrap("ab", 0.5, 3, one), vec!["a", "b"]);
    }

    #[test]
    fn lines_stay_in_the_box() {
        let spec = Spec::new(LabelSize::mm(50, 30), 300, Ecc::M).unwrap();
        let layout = Layout::compute(&spec, 53, 2, 4).unwrap();
        let lines: Vec<TextLine> = [
            "婴儿配方奶粉 1段 900g / Infant formula stage 1, 900 g",
            "GTIN (01) 06901234567892",
            "LOT (10) L1",
            "SN (21) 1",
            "EXP 2028-10-14",
        ]
        .iter()
        .enumerate()
        .map(|(i, t)| TextLine {
            text: (*t).into(),
            style: if i == 0 { Style::Title } else { Style::Body },
            max_lines: if i == 0 { 2 } else { 1 },
            fixed: i != 3,
        })
        .collect();
        let placed = place(&lines, &layout, approx_advance);
        assert_eq!(placed.len(), 6, "{placed:?}");
        for p in &placed {
            let w: f32 = p.text.chars().map(|c| approx_advance(c, p.px)).sum();
            assert!(w <= layout.text.w as f32 + 0.5, "{p:?}");
            assert!(p.y + (p.px / EM_SHARE) as u32 <= layout.text.y + layout.text.h);
            assert!(p.x >= layout.text.x);
        }
        assert!(placed[1].text.ends_with('…') || placed[1].text.ends_with("900 g"));
        assert!(!placed[4].fixed);
    }
}
