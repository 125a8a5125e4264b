//! A 1-bit label bitmap in printer dots, and drawing a QR symbol onto it.
//!
//! Thermal heads print dots on or off, so the bitmap is 1-bit from the start:
//! nothing is anti-aliased and nothing has to be thresholded later.

use super::layout::Layout;
use super::qr::Matrix;

/// A black-on-white bitmap; one byte per dot (1 = black) for simple drawing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canvas {
    width: u32,
    height: u32,
    dots: Vec<u8>,
}

impl Canvas {
    /// A white canvas.
    pub fn new(width: u32, height: u32) -> Self {
        Canvas {
            width,
            height,
            dots: vec![0; (width as usize) * (height as usize)],
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
        x < self.width && y < self.height && self.dots[self.idx(x, y)] != 0
    }

    fn idx(&self, x: u32, y: u32) -> usize {
        (y as usize) * (self.width as usize) + x as usize
    }

    /// Blackens one dot; outside the canvas is ignored.
    pub fn set(&mut self, x: u32, y: u32) {
        if x < self.width && y < self.height {
            let i = self.idx(x, y);
            self.dots[i] = 1;
        }
    }

    /// Blackens a rectangle, clipped to the canvas.
    pub fn fill(&mut self, x: u32, y: u32, w: u32, h: u32) {
        let x1 = x.saturating_add(w).min(self.width);
        let y1 = y.saturating_add(h).min(self.height);
        for yy in y.min(y1)..y1 {
            let row = (yy as usize) * (self.width as usize);
            self.dots[row + x.min(x1) as usize..row + x1 as usize].fill(1);
        }
    }

    /// Draws `m` at the layout's symbol position, centred if it is smaller
    /// than the symbol the layout was made for.
    pub fn draw_qr(&mut self, m: &Matrix, layout: &Layout) {
        let (x0, y0) = symbol_origin(m, layout);
        let d = layout.module;
        for y in 0..m.width() {
            for (x, len) in m.runs(y) {
                self.fill(x0 + x * d, y0 + y * d, len * d, d);
            }
        }
    }

    /// Rows packed 8 dots per byte, most significant bit first, padded to
    /// whole bytes; `black_is_one` picks ZPL's polarity (1 = burn) or PNG's
    /// grey (1 = white).
    pub fn packed_rows(&self, black_is_one: bool) -> (usize, Vec<u8>) {
        let bpr = (self.width as usize).div_ceil(8);
        let mut out = vec![if black_is_one { 0 } else { 0xff }; bpr * self.height as usize];
        for y in 0..self.height as usize {
            let row = &self.dots[y * self.width as usize..(y + 1) * self.width as usize];
            let dst = &mut out[y * bpr..(y + 1) * bpr];
            for (x, &d) in row.iter().enumerate() {
                if d != 0 {
                    let bit = 0x80u8 >> (x % 8);
                    if black_is_one {
                        dst[x / 8] |= bit;
                    } else {
                        dst[x / 8] &= !bit;
                    }
                }
            }
        }
        (bpr, out)
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
}
