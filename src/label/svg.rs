//! SVG: the QR symbol as one path of whole-dot rectangles in a viewBox of
//! printer dots, sized in mm; text names a CJK font family and embeds none.

use std::fmt::Write as _;

use super::canvas::symbol_origin;
use super::layout::Layout;
use super::qr::Matrix;
use super::text::Placed;

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

/// The QR symbol as one `<path>` of horizontal runs, each a whole number of dots.
pub fn symbol(m: &Matrix, layout: &Layout) -> String {
    let (x0, y0) = symbol_origin(m, layout);
    let d = layout.module;
    let mut s = String::with_capacity(m.width() as usize * 120);
    s.push_str("<path fill=\"#000\" d=\"");
    for y in 0..m.width() {
        for (x, len) in m.runs(y) {
            let _ = write!(
                s,
                "M{} {}h{}v{}h-{}z",
                x0 + x * d,
                y0 + y * d,
                len * d,
                d,
                len * d
            );
        }
    }
    s.push_str("\"/>\n");
    s
}

/// The closing tag.
pub const TAIL: &str = "</svg>\n";

/// Escapes text for XML character data and attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters outright.
            c if (c as u32) < 0x20 => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot; ");
    }
}
