//! SVG: the QR symbol as one path of whole-dot rectangles in a viewBox of
//! printer dots, sized in mm; text names a CJK font family and embeds none.
//! Everything but the serial line and the symbol is serialised once per run.

use std::fmt::Write as _;

use super::canvas::symbol_origin;
use super::layout::Layout;
use super::qr::Matrix;
use super::text::Placed;
use crate::formats::xml::escape;

/// Font families asked for, CJK first; viewers fall back down the list.
pub const FONT_FAMILY: &str =
    "'Noto Sans CJK SC', 'Source Han Sans SC', 'WenQuanYi Micro Hei', 'Microsoft YaHei', sans-serif";

/// The opening of every label of a layout: root element and white background.
pub fn head(layout: &Layout, width_mm: f64, height_mm: f64) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{width_mm}mm\" height=\"{height_mm}mm\" viewBox=\"0 0 {w} {h}\" \
         shape-rendering=\"crispEdges\">\n<rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>\n",
        w = layout.width,
        h = layout.height
    )
}

/// `<text>` elements for placed lines.
pub fn text(lines: &[Placed]) -> String {
    let mut s = String::new();
    for l in lines {
        // SVG positions text by its baseline; 0.88 em below the top is
        // where CJK fonts put it.
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" font-size=\"{:.1}\" font-family=\"{FONT_FAMILY}\">{}</text>",
            l.x,
            f64::from(l.y) + f64::from(l.px) * 0.88,
            l.px,
            escape(&l.text)
        );
    }
    s
}

/// The QR symbol as one `<path>` of horizontal runs.
///
/// Coordinates are in modules, scaled by the whole number of dots per module,
/// so every edge still falls on a printer dot; each run is a relative
/// `m dx dy h len v1 h-len z`, which keeps a label's SVG small and quick to write.
pub fn symbol(m: &Matrix, layout: &Layout) -> String {
    let (x0, y0) = symbol_origin(m, layout);
    let mut s = String::with_capacity(m.width() as usize * 160);
    s.push_str("<path fill=\"#000\" transform=\"translate(");
    push_num(&mut s, i64::from(x0));
    s.push(' ');
    push_num(&mut s, i64::from(y0));
    s.push_str(") scale(");
    push_num(&mut s, i64::from(layout.module));
    s.push_str(")\" d=\"");
    // `z` returns to the start of the run just drawn, so each move is relative to it.
    let (mut px, mut py) = (0i64, 0i64);
    let mut runs = Vec::new();
    for y in 0..m.width() {
        m.runs_into(y, &mut runs);
        for &(x, len) in &runs {
            let (x, y, len) = (i64::from(x), i64::from(y), i64::from(len));
            s.push('m');
            push_num(&mut s, x - px);
            s.push(' ');
            push_num(&mut s, y - py);
            s.push('h');
            push_num(&mut s, len);
            s.push_str("v1h-");
            push_num(&mut s, len);
            s.push('z');
            (px, py) = (x, y);
        }
    }
    s.push_str("\"/>\n");
    s
}

// Appends a decimal integer; `write!` costs more than the rest of a run.
fn push_num(s: &mut String, n: i64) {
    if n < 0 {
        s.push('-');
    }
    let mut v = n.unsigned_abs();
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        s.push(char::from(b));
    }
}

/// The closing tag.
pub const TAIL: &str = "</svg>\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_decimal() {
        for n in [0, 7, -3, 10, 177, -1024, i64::from(u32::MAX)] {
            let mut s = String::new();
            push_num(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }
}
