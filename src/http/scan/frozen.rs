//! Scan pages rendered once and kept with holes for what changes on every scan.
//!
//! Between two changes of a unit's ledger state, its page differs from one scan
//! to the next only in the scan count line and the feedback form's token. The
//! template is rendered once with a marker in each of those places; later
//! scans copy the pieces around the markers and fill in this scan's values.

/// What a hole is filled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hole {
    /// The "first verified on … · scanned N times" line.
    Scans,
    /// The feedback form's token.
    Token,
}

/// Markers rendered where the holes go: random per process, letters and
/// digits only (so escaping leaves them as they are), and too long for label
/// or ledger text to contain one by chance.
#[derive(Debug)]
pub struct Markers {
    scans: String,
    token: String,
}

impl Markers {
    /// Fresh random markers.
    pub fn new() -> Self {
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        Markers {
            scans: format!("S{nonce}s"),
            token: format!("T{nonce}t"),
        }
    }

    /// The text to render in place of the scans line.
    pub fn scans(&self) -> &str {
        &self.scans
    }

    /// The text to render in place of the form token.
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl Default for Markers {
    fn default() -> Self {
        Self::new()
    }
}

/// A rendered page cut at its holes: `pieces[0] hole[0] pieces[1] … pieces[n]`.
#[derive(Debug)]
pub struct Frozen {
    pieces: Vec<String>,
    holes: Vec<Hole>,
}

impl Frozen {
    /// Cuts `html` at every marker of `markers`.
    pub fn cut(html: &str, markers: &Markers) -> Frozen {
        let mut pieces = Vec::new();
        let mut holes = Vec::new();
        let mut rest = html;
        loop {
            let next = [
                (rest.find(&markers.scans), Hole::Scans, markers.scans.len()),
                (rest.find(&markers.token), Hole::Token, markers.token.len()),
            ]
            .into_iter()
            .filter_map(|(at, hole, len)| at.map(|at| (at, hole, len)))
            .min_by_key(|(at, _, _)| *at);
            match next {
                Some((at, hole, len)) => {
                    pieces.push(rest[..at].to_owned());
                    holes.push(hole);
                    rest = &rest[at + len..];
                }
                None => {
                    pieces.push(rest.to_owned());
                    return Frozen { pieces, holes };
                }
            }
        }
    }

    /// The page with its holes filled; `scans` and `token` are plain text and
    /// are escaped here.
    pub fn fill(&self, scans: &str, token: &str) -> String {
        let scans = crate::formats::xml::escape(scans);
        let token = crate::formats::xml::escape(token);
        let len = self.pieces.iter().map(String::len).sum::<usize>()
            + self
                .holes
                .iter()
                .map(|h| match h {
                    Hole::Scans => scans.len(),
                    Hole::Token => token.len(),
                })
                .sum::<usize>();
        let mut out = String::with_capacity(len);
        for (i, piece) in self.pieces.iter().enumerate() {
            out.push_str(piece);
            match self.holes.get(i) {
                Some(Hole::Scans) => out.push_str(&scans),
                Some(Hole::Token) => out.push_str(&token),
                None => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_are_filled_in_order_and_escaped() {
        let m = Markers::new();
        let html = format!(
            "<p>{}</p><input value=\"{}\"><input value=\"{}\">end",
            m.scans(),
            m.token(),
            m.token()
        );
        let f = Frozen::cut(&html, &m);
        assert_eq!(f.holes, vec![Hole::Scans, Hole::Token, Hole::Token]);
        assert_eq!(
            f.fill("1 < 2 · 3 次", "9.a\"b"),
            "<p>1 &lt; 2 · 3 次</p><input value=\"9.a&quot;b\"><input value=\"9.a&quot;b\">end"
        );
    }

    #[test]
    fn a_page_without_holes_is_one_piece() {
        let m = Markers::new();
        let f = Frozen::cut("<p>unknown</p>", &m);
        assert!(f.holes.is_empty());
        assert_eq!(f.fill("x", "y"), "<p>unknown</p>");
    }

    #[test]
    fn markers_differ_between_processes_and_survive_escaping() {
        let (a, b) = (Markers::new(), Markers::new());
        assert_ne!(a.scans(), b.scans());
        assert_eq!(crate::formats::xml::escape(a.scans()), a.scans());
        assert_eq!(crate::formats::xml::escape(a.token()), a.token());
    }
}
