//! A 1-bit label bitmap in printer dots, and drawing a QR symbol onto it.
//!
//! Thermal heads print dots on or off, so the bitmap is 1-bit from the start:
//! nothing is anti-aliased and nothing has to be thresholded later. It is
//! stored packed, 8 dots per byte, as PNG and ZPL want it: copying the
//! per-run template for each label and encoding it then moves an eighth of
//! the bytes a byte-per-dot bitmap would.

use super::layout::Layout;
use super::qr::Matrix;

/// A black-on-white bitmap; rows packed 8 dots per byte, most significant bit
/// first, 1 = black, each row padded to whole bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canvas {
    width: u32,
    height: u32,
    bpr: usize,
    bits: Vec<u8>,
}

impl Canvas {
    /// A white canvas.
    pub fn new(width: u32, height: u32) -> Self {
        let bpr = (width as usize).div_ceil(8);
        Canvas {
            width,
            height,
            bpr,
            bits: vec![0; bpr * height as usize],
        }
    }

    /// Width in dots.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in dots.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Whether dot (x, y) is black (false outside).
    pub fn get(&self, x: u32, y: u32) -> bool {
        x < self.width && y < self.height && self.bits[self.byte(x, y)] & (0x80 >> (x % 8)) != 0
    }

    fn byte(&self, x: u32, y: u32) -> usize {
        (y as usize) * self.bpr + (x / 8) as usize
    }

    /// Blackens one dot; outside the canvas is ignored.
    pub fn set(&mut self, x: u32, y: u32) {
        if x < self.width && y < self.height {
            let i = self.byte(x, y);
            self.bits[i] |= 0x80 >> (x % 8);
        }
    }

    /// Blackens a rectangle, clipped to the canvas.
    pub fn fill(&mut self, x: u32, y: u32, w: u32, h: u32) {
        let x1 = x.saturating_add(w).min(self.width) as usize;
        let y1 = y.saturating_add(h).min(self.height);
        let x0 = (x as usize).min(x1);
        if x0 == x1 {
            return;
        }
        // Bit masks for the first and last byte of the span; whole bytes between.
        let (b0, b1) = (x0 / 8, (x1 - 1) / 8);
        let head = 0xffu8 >> (x0 % 8);
        let tail = 0xffu8 << (7 - (x1 - 1) % 8);
        for yy in y.min(y1)..y1 {
            let row = &mut self.bits[(yy as usize) * self.bpr..][..self.bpr];
            if b0 == b1 {
                row[b0] |= head & tail;
            } else {
                row[b0] |= head;
                row[b0 + 1..b1].fill(0xff);
                row[b1] |= tail;
            }
        }
    }

    /// Draws `m` at the layout's symbol position, centred if it is smaller
    /// than the symbol the layout was made for.
    pub fn draw_qr(&mut self, m: &Matrix, layout: &Layout) {
        let (x0, y0) = symbol_origin(m, layout);
        let d = layout.module;
        let mut runs = Vec::new();
        for y in 0..m.width() {
            m.runs_into(y, &mut runs);
            for &(x, len) in &runs {
                self.fill(x0 + x * d, y0 + y * d, len * d, d);
            }
        }
    }

    /// Rows packed 8 dots per byte, most significant bit first, padded to
    /// whole bytes; `black_is_one` picks ZPL's polarity (1 = burn) or PNG's
    /// grey (1 = white, padding white too).
    pub fn packed_rows(&self, black_is_one: bool) -> (usize, Vec<u8>) {
        if black_is_one {
            return (self.bpr, self.bits.clone());
        }
        let mut out: Vec<u8> = self.bits.iter().map(|b| !b).collect();
        // Padding dots past the width were never drawn; keep them white.
        let pad = self.bpr * 8 - self.width as usize;
        if pad > 0 {
            let keep = 0xffu8 >> (8 - pad);
            for row in out.chunks_mut(self.bpr) {
                if let Some(last) = row.last_mut() {
                    *last |= keep;
                }
            }
        }
        (self.bpr, out)
    }

    /// The packed rows themselves (1 = black), without copying.
    pub fn rows(&self) -> (usize, &[u8]) {
        (self.bpr, &self.bits)
    }
}

/// Top-left dot of matrix `m` on a label laid out by `layout`.
pub fn symbol_origin(m: &Matrix, layout: &Layout) -> (u32, u32) {
    let pad = layout.modules.saturating_sub(m.width()) / 2 * layout.module;
    (layout.symbol_x + pad, layout.symbol_y + pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_clips_and_packs() {
        let mut c = Canvas::new(10, 3);
        c.fill(8, 1, 5, 5);
        assert!(c.get(9, 2) && !c.get(7, 1) && !c.get(9, 0));
        let (bpr, ones) = c.packed_rows(true);
        assert_eq!(bpr, 2);
        assert_eq!(ones, vec![0, 0, 0, 0b1100_0000, 0, 0b1100_0000]);
        let (_, grey) = c.packed_rows(false);
        assert_eq!(grey[3], 0b0011_1111);
    }

    #[test]
    fn fill_matches_dot_by_dot() {
        for (x, w) in [
            (0, 1),
            (3, 2),
            (7, 1),
            (7, 2),
            (5, 12),
            (0, 21),
            (9, 30),
            (20, 1),
        ] {
            let mut a = Canvas::new(21, 2);
            a.fill(x, 0, w, 2);
            let mut b = Canvas::new(21, 2);
            for xx in x..x + w {
                b.set(xx, 0);
                b.set(xx, 1);
            }
            assert_eq!(a, b, "{x}+{w}");
        }
    }
}
