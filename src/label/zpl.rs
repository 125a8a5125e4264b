//! ZPL II for Zebra-compatible printers: native `^BQ` QR (the printer builds
//! the symbol; fast, tiny streams) or the whole label as a `^GFA` graphic
//! (every dot decided here, Chinese text included).
//!
//! Graphic data uses ZPL's ASCII compression: `G`–`Y` repeat the next hex
//! digit 1–19 times, `g`–`z` 20–400 times, `,` fills the row with zeros,
//! `!` with ones, `:` repeats the previous row. QR rows repeat once per dot
//! of module height, so `:` alone shrinks a label several times.

use std::fmt::Write as _;

use super::canvas::{symbol_origin, Canvas};
use super::layout::{Ecc, Layout};
use super::qr::Matrix;
use super::text::Placed;
use super::LabelError;

/// Largest `^BQ` magnification (dots per module) printers accept.
pub const MAX_MAGNIFICATION: u32 = 10;
/// Name of the downloaded graphic holding a run's fixed text.
pub const TEXT_GRAPHIC: &str = "R:SUYUANTX.GRF";

/// How the QR code is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// `^BQ`: the printer encodes the URL itself.
    #[default]
    Native,
    /// `^GFA`: the whole label as a bitmap.
    Graphic,
}

impl Mode {
    /// Parses `bq` or `gfa`.
    pub fn parse(s: &str) -> Result<Self, LabelError> {
        match s.to_ascii_lowercase().as_str() {
            "bq" | "native" => Ok(Mode::Native),
            "gfa" | "graphic" => Ok(Mode::Graphic),
            _ => Err(LabelError::BadOption(format!(
                "ZPL mode {s:?}: expected bq (native QR) or gfa (bitmap)"
            ))),
        }
    }
}

/// Refuses field data that would be read as a ZPL command (`^`, `~`).
pub fn check_field(data: &str) -> Result<(), LabelError> {
    if data.contains(['^', '~']) {
        return Err(LabelError::BadOption(format!(
            "{data:?} contains ^ or ~, which ZPL reads as commands; use a base URL without them"
        )));
    }
    Ok(())
}

/// Compresses packed rows (`bpr` bytes each, 1 = black) into ZPL ASCII graphic data.
pub fn compress(rows: &[u8], bpr: usize) -> String {
    let mut out = String::with_capacity(rows.len() / 4);
    let mut prev: Option<&[u8]> = None;
    let mut hex = String::with_capacity(bpr * 2);
    for row in rows.chunks(bpr) {
        if prev == Some(row) {
            out.push(':');
            continue;
        }
        prev = Some(row);
        hex.clear();
        for b in row {
            let _ = write!(hex, "{b:02X}");
        }
        let trimmed = hex.trim_end_matches('0');
        let tail_zero = trimmed.len() < hex.len();
        let bytes = trimmed.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            let mut n = 1;
            while i + n < bytes.len() && bytes[i + n] == c {
                n += 1;
            }
            if c == b'F' && i + n == bytes.len() && !tail_zero {
                out.push('!');
            } else {
                push_run(&mut out, c as char, n);
            }
            i += n;
        }
        if tail_zero {
            out.push(',');
        }
    }
    out
}

// A run of `n` copies of hex digit `c`, as repeat-count letters plus the digit.
fn push_run(out: &mut String, c: char, mut n: usize) {
    while n > 0 {
        if n <= 2 {
            for _ in 0..n {
                out.push(c);
            }
            return;
        }
        let k = n.min(419);
        if k >= 20 {
            out.push((b'g' + (k / 20 - 1) as u8) as char);
        }
        if !k.is_multiple_of(20) {
            out.push((b'G' + (k % 20 - 1) as u8) as char);
        }
        out.push(c);
        n -= k;
    }
}

/// Expands ZPL ASCII graphic data back into packed rows (for tests and tools).
pub fn decompress(data: &str, bpr: usize, total: usize) -> Result<Vec<u8>, LabelError> {
    let bad = |m: &str| LabelError::Encode {
        format: "zpl graphic",
        message: m.to_owned(),
    };
    let mut out: Vec<u8> = Vec::with_capacity(total);
    let mut row = String::with_capacity(bpr * 2);
    let mut last_row: Vec<u8> = vec![0; bpr];
    let mut count = 0usize;
    let flush =
        |row: &mut String, out: &mut Vec<u8>, last: &mut Vec<u8>| -> Result<(), LabelError> {
            let bytes = hex::decode(&row[..]).map_err(|_| bad("bad hex"))?;
            out.extend_from_slice(&bytes);
            *last = bytes;
            row.clear();
            Ok(())
        };
    for c in data.chars() {
        match c {
            'G'..='Y' => count += (c as usize) - ('G' as usize) + 1,
            'g'..='z' => count += ((c as usize) - ('g' as usize) + 1) * 20,
            '0'..='9' | 'A'..='F' => {
                for _ in 0..count.max(1) {
                    row.push(c);
                }
                count = 0;
            }
            ',' | '!' => {
                let fill = if c == ',' { '0' } else { 'F' };
                while row.len() < bpr * 2 {
                    row.push(fill);
                }
            }
            ':' => {
                if !row.is_empty() {
                    return Err(bad("':' inside a row"));
                }
                out.extend_from_slice(&last_row);
            }
            '\r' | '\n' => {}
            _ => return Err(bad("unexpected character")),
        }
        if row.len() > bpr * 2 {
            return Err(bad("row longer than bytes per row"));
        }
        if row.len() == bpr * 2 {
            flush(&mut row, &mut out, &mut last_row)?;
        }
    }
    if !row.is_empty() || out.len() != total {
        return Err(bad("data does not add up to the declared size"));
    }
    Ok(out)
}

/// `~DG` that stores the run's fixed text on the printer once, recalled per label.
pub fn download_text(canvas: &Canvas) -> String {
    let (bpr, rows) = canvas.packed_rows(true);
    format!(
        "~DG{TEXT_GRAPHIC},{},{bpr},{}\n",
        rows.len(),
        compress(&rows, bpr)
    )
}

/// Label setup shared by both modes: UTF-8, print width, label length, home.
fn open(layout: &Layout) -> String {
    format!(
        "^XA\n^CI28\n^PW{}\n^LL{}\n^LH0,0\n",
        layout.width, layout.height
    )
}

/// A label with a native `^BQ` QR code, the fixed text graphic and the
/// variable lines in the printer's scalable font 0.
pub fn native(
    layout: &Layout,
    url: &str,
    ecc: Ecc,
    text_at: Option<(u32, u32)>,
    variable: &[Placed],
) -> String {
    let mut s = String::new();
    Native::new(layout, ecc, text_at, variable).push(
        &mut s,
        url,
        variable.iter().map(|l| l.text.as_str()),
    );
    s
}

/// A run's native labels serialised up to what changes per label (the URL
/// and the variable lines' text): ZPL labels are mostly the same bytes, and
/// formatting them anew for every label cost more than writing them.
#[derive(Debug, Clone)]
pub struct Native {
    // Label setup and the `^BQ` field up to its data.
    head: String,
    // From the end of the URL to the first variable line.
    after_url: String,
    // Each variable line's field up to its text.
    lines: Vec<String>,
}

impl Native {
    /// The fixed parts for labels laid out by `layout`, with variable lines in `slots`.
    pub fn new(layout: &Layout, ecc: Ecc, text_at: Option<(u32, u32)>, slots: &[Placed]) -> Self {
        let mut head = open(layout);
        let mag = layout.module.min(MAX_MAGNIFICATION);
        // Model 2 is the only model current scanners expect. The level goes both
        // in ^BQ's fourth parameter (its default is Q when empty) and in the
        // field data's switches, so firmware reading either gets M (or as asked).
        let _ = write!(
            head,
            "^FO{},{}^BQN,2,{mag},{}^FD{}A,",
            layout.symbol_x,
            layout.symbol_y,
            ecc.letter(),
            ecc.letter()
        );
        let mut after_url = String::from("^FS\n");
        if let Some((x, y)) = text_at {
            let _ = writeln!(after_url, "^FO{x},{y}^XG{TEXT_GRAPHIC},1,1^FS");
        }
        let lines = slots
            .iter()
            .map(|l| {
                let h = l.px.round() as u32;
                format!("^FO{},{}^A0N,{h},{h}^FH\\^FD", l.x, l.y)
            })
            .collect();
        Native {
            head,
            after_url,
            lines,
        }
    }

    /// Appends one label: its URL and the text of each variable line, in
    /// slot order (missing ones print empty).
    pub fn push<'a>(&self, out: &mut String, url: &str, mut texts: impl Iterator<Item = &'a str>) {
        out.push_str(&self.head);
        out.push_str(url);
        out.push_str(&self.after_url);
        for line in &self.lines {
            out.push_str(line);
            push_field_text(out, texts.next().unwrap_or_default());
            out.push_str("^FS\n");
        }
        out.push_str("^XZ\n");
    }

    /// Bytes of a label without its URL and text: a capacity hint.
    pub fn fixed_len(&self) -> usize {
        self.head.len()
            + self.after_url.len()
            + self.lines.iter().map(|l| l.len() + 5).sum::<usize>()
            + 4
    }
}

/// A label sent as one `^GFA` bitmap.
pub fn graphic(layout: &Layout, canvas: &Canvas) -> String {
    let (bpr, rows) = canvas.packed_rows(true);
    let mut s = open(layout);
    let _ = writeln!(
        s,
        "^FO0,0^GFA,{n},{n},{bpr},{}^FS",
        compress(&rows, bpr),
        n = rows.len()
    );
    s.push_str("^XZ\n");
    s
}

// Text after ^FH\ : the command characters and the escape itself as hex.
fn push_field_text(out: &mut String, t: &str) {
    for c in t.chars() {
        match c {
            '\\' => out.push_str("\\5C"),
            '^' => out.push_str("\\5E"),
            '~' => out.push_str("\\7E"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
fn field_text(t: &str) -> String {
    let mut s = String::new();
    push_field_text(&mut s, t);
    s
}

/// Where the symbol of `m` starts (for tools checking `^FO`).
pub fn symbol_at(m: &Matrix, layout: &Layout) -> (u32, u32) {
    symbol_origin(m, layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_round_trips() {
        let bpr = 30;
        let mut rows = vec![0u8; bpr * 6];
        rows[3] = 0xAB;
        let first = rows[..bpr].to_vec();
        rows[bpr..2 * bpr].copy_from_slice(&first);
        for b in &mut rows[2 * bpr..3 * bpr] {
            *b = 0xFF;
        }
        rows[4 * bpr + 29] = 0x01;
        for (i, b) in rows[5 * bpr..].iter_mut().enumerate() {
            *b = if i < 25 { 0xF0 } else { 0x0F };
        }
        let data = compress(&rows, bpr);
        assert!(
            data.contains(':') && data.contains('!') && data.contains(','),
            "{data}"
        );
        assert_eq!(decompress(&data, bpr, rows.len()).unwrap(), rows);
    }

    #[test]
    fn long_runs_use_count_letters() {
        let mut s = String::new();
        push_run(&mut s, 'A', 45);
        assert_eq!(s, "hKA"); // 40 + 5
        let mut s = String::new();
        push_run(&mut s, '0', 500);
        assert_eq!(s, "zY0jG0"); // 419 + 81
        assert_eq!(decompress(&s, 250, 250).unwrap(), vec![0; 250]);
    }

    #[test]
    fn bad_graphic_data_is_an_error() {
        assert!(decompress("FFZ", 2, 2).is_err());
        assert!(decompress("FF", 2, 2).is_err());
    }

    #[test]
    fn command_characters_are_refused_or_escaped() {
        assert!(check_field("https://x.example/~a").is_err());
        assert_eq!(field_text("a^b~c\\"), "a\\5Eb\\7Ec\\5C");
        assert!(Mode::parse("gfa").is_ok() && Mode::parse("x").is_err());
    }
}
