//! Escaping text for XML (SVG labels and report charts).

/// Escapes text for XML content and attributes: markup and quotes become
/// entities, line breaks and tabs become spaces, and characters XML 1.0
/// forbids are dropped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || matches!(c, '\u{fffe}' | '\u{ffff}') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_quotes_and_forbidden_characters() {
        assert_eq!(
            escape("A<&>\"'\u{1}\u{ffff}\n小"),
            "A&lt;&amp;&gt;&quot;&#39; 小"
        );
    }
}
